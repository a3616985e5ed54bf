//! Helpers of the command-line tests: the engine tests' helpers (one device per binary, the
//! shared data folder) and [`cli`], which runs the `ifru` binary on small fixtures.
#![allow(dead_code, unused_imports)]

#[path = "../../../tests/common/mod.rs"]
mod engine;
pub use engine::*;

pub mod cli;
