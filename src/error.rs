//! The crate-level error, for operations that span data, graph, model directory and GPU.

use thiserror::Error;

/// Any failure of a whole operation (train, evaluate, unlearn). Each variant keeps the
/// message of the layer that failed, which names the file, line, id or limit at fault.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Graph(#[from] crate::graph::GraphError),
    #[error(transparent)]
    Store(#[from] crate::model::store::StoreError),
    #[error(transparent)]
    Gpu(#[from] crate::gpu::GpuError),
    /// A request or setting that cannot be carried out as given.
    #[error("{0}")]
    Invalid(String),
}

/// Shorthand for crate-level results.
pub type Result<T> = std::result::Result<T, Error>;
