//! Training, evaluation and unlearning on the device: the right-hand side, the influence step,
//! the resident unlearner, its forgetting check, solver failure modes and device faults.
//!
//! One test binary with a module per concern, sharing one device (`common::gpu`).

#[path = "../common/mod.rs"]
mod common;

mod engine;
mod eval;
mod f16_model;
mod forgetting_check;
mod influence;
mod request_faults;
mod request_solver;
mod stationarity;
mod train;
mod unlearn_rhs;
