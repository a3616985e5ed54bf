//! The `ifru` command line, as a library so its tests and benches can drive the harnesses:
//! the subcommands ([`commands`]), the experiment harnesses behind `ifru bench` and `ifru
//! demo` ([`harness`]) and their plots ([`plot`]). The engine itself is the `ifru` crate.

pub mod app;
pub mod commands;
pub mod harness;
pub mod plot;
pub mod report;
