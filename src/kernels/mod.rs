//! Typed wrappers of the WGSL kernels, one module per shader family.
//!
//! A wrapper checks shapes, splits tables into binding-sized chunks, and returns a
//! [`Plan`]: launches bound once and replayable any number of times. Each kernel has a
//! CPU reference in [`crate::reference`] and tests comparing the two.

pub mod adam;
pub mod blas;
pub mod block;
pub mod cg;
pub mod half;
pub mod hvp;
pub mod pair_loss;
mod plan;
pub mod propagate;
pub mod reduce;
pub mod shaders;
pub mod spmm;
mod storage;
mod table;
pub mod topk;

pub use half::HalfTable;
pub use plan::Plan;
pub use storage::Storage;
pub use table::{DeviceTable, MAX_DIM, RowGeometry, TABLE_SLOTS, TableRef, TableView, WORKGROUP};
