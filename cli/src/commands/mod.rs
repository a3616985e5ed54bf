//! Subcommands of the `ifru` binary, one module each.

pub mod bench;
pub mod common;
pub mod demo;
pub mod eval;
pub mod export;
pub mod import;
pub mod info;
pub mod recommend;
pub mod split;
pub mod train;
pub mod unlearn;

/// What a subcommand returns on failure.
pub type CliResult = Result<(), Box<dyn std::error::Error>>;
