//! The GPU runtime and every kernel against its f64 reference: buffers, chunking, dispatch,
//! faults, the SpMM/propagation/scoring/Adam/HVP/CG kernels, f16 tables, and every shader
//! translated to SPIR-V, MSL and HLSL.
//!
//! One test binary with a module per concern, sharing one device (`common::gpu`).

#[path = "../common/mod.rs"]
mod common;

mod block_build;
mod cg;
mod f16;
mod hvp;
mod kernels;
mod objective;
mod runtime;
mod shader_portability;
