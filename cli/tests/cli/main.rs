//! The `ifru` command end to end: bad input, crash-safe commits, the demo, device faults,
//! held-out rows, serving, sweeps, training, unlearning and the soak.
//!
//! One test binary with a module per concern, sharing one device (`common::gpu`).

#[path = "../common/mod.rs"]
mod common;

mod cli_bad_input;
mod cli_commit;
mod cli_demo;
mod cli_device_faults;
mod cli_held_out;
mod cli_import;
mod cli_info;
mod cli_serve;
mod cli_sweep;
mod cli_train;
mod cli_unlearn;
mod soak;
