//! Models: what a model is (its spec and parameters), on the host and on the GPU.

mod adjacency;
pub mod device;
pub mod objective;
pub mod params;
pub mod spec;
pub mod store;

pub use adjacency::adjacency_for;
pub use device::DeviceModel;
pub use params::Params;
pub use spec::{LossKind, ModelKind, ModelSpec};
