//! ifru: recommendation unlearning with influence functions, on the GPU.
//!
//! The heavy numerical work runs in hand-written WGSL compute shaders through wgpu
//! (Vulkan, Metal, DX12; Mesa's lavapipe where there is no GPU). Every kernel has a
//! CPU reference in [`mod@reference`] that the tests compare it with.
//!
//! # The pieces
//!
//! - [`gpu::Gpu`]: the device, its limits, buffers, pipelines and timing.
//! - [`data::Dataset`]: train / valid / test rows with dense ids, from the loaders in
//!   [`data`] or the seeded generator [`data::synthetic::synthetic_dataset`].
//! - [`model::ModelSpec`], [`model::Params`], [`model::DeviceModel`]: MF or LightGCN, its
//!   parameters on the host and on the device; [`model::store::ModelDir`] keeps them on disk.
//! - [`train::train`] with a [`train::TrainConfig`]: Adam with early stopping.
//! - [`unlearn::engine::Unlearner`]: a resident model that applies forget requests (the
//!   influence update, or retraining / fine-tuning for comparison), returning a
//!   [`unlearn::engine::MethodOutcome`].
//! - [`eval`]: AUCs and Recall/NDCG@K; the command line's bench and stream harnesses produce the
//!   reports of `ifru bench`.
//!
//! # Example
//!
//! Train a small LightGCN on synthetic data and forget its flipped rows
//! (`examples/unlearn.rs` is the same, with the AUCs printed):
//!
//! ```no_run
//! use ifru::data::synthetic::synthetic_dataset;
//! use ifru::gpu::Gpu;
//! use ifru::model::adjacency_for;
//! use ifru::model::{LossKind, ModelKind, ModelSpec};
//! use ifru::train::{LastEpoch, TrainConfig, TrainData, train};
//! use ifru::unlearn::Unlearner;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let data = synthetic_dataset(10_000, 7, 0.01)?;
//! let spec = ModelSpec::new(ModelKind::Lightgcn, 1, 16, LossKind::Bce)?;
//! let recipe = TrainConfig { max_epochs: 10, ..TrainConfig::default() };
//! let gpu = Gpu::from_env()?;
//! let adjacency = adjacency_for(&spec, data.n_users, data.n_items, &data.train)?;
//! let rows = TrainData {
//!     n_users: data.n_users,
//!     n_items: data.n_items,
//!     rows: &data.train,
//!     adjacency: adjacency.as_ref(),
//! };
//! let trained = train(&gpu, spec, &recipe, &rows, &mut LastEpoch(0), &mut |_| {})?;
//!
//! let mut unlearner = Unlearner::from_parts(
//!     &gpu, spec, recipe, data.clone(), &trained.params, vec![false; data.train.len()],
//! )?;
//! let forget: Vec<u32> = data.flipped_rows().collect();
//! let outcome = unlearner.forget(&forget)?;
//! println!("forgot {} rows in {:.2} s", forget.len(), outcome.seconds);
//! # Ok(())
//! # }
//! ```

pub mod data;
pub mod environment;
mod error;
pub mod eval;
pub mod fsio;
pub mod gpu;
pub mod graph;
pub mod import;
pub mod kernels;
pub mod loaded;
pub mod model;
pub mod reference;
pub mod serve;
pub mod solve;
pub mod train;
pub mod unlearn;

pub use error::{Error, ErrorKind, Result};
