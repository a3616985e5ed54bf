//! ifru: recommendation unlearning with influence functions, on the GPU.
//!
//! The heavy numerical work runs in hand-written WGSL compute shaders through wgpu
//! (Vulkan, Metal, DX12; Mesa's lavapipe where there is no GPU). Every kernel has a
//! CPU reference in [`reference`] that the tests compare it with.

pub mod data;
mod error;
pub mod eval;
pub mod fsio;
pub mod gpu;
pub mod graph;
pub mod kernels;
pub mod model;
pub mod plot;
pub mod reference;
pub mod serve;
pub mod train;
pub mod unlearn;

pub use error::{Error, Result};
