//! The GPU runtime: adapter choice, the device, typed pooled buffers, pipelines,
//! dispatch geometry, binding chunks, error capture, failure injection and timing.

mod adapter;
mod buffer;
mod chunk;
mod context;
mod counters;
mod dispatch;
mod error;
mod fault;
mod later;
mod pipeline;

pub use adapter::{AdapterRecord, AdapterSummary, choose_adapter, no_adapter_message};
pub use buffer::{BufferPool, GpuBuffer, PoolStats};
pub use chunk::{RowChunk, row_chunks};
pub use context::{Gpu, GpuHandle, GpuOptions, GrantedFeatures, KernelTime, KeyLimits, TimeSource};
pub use counters::DeviceCounts;
pub use dispatch::grid;
pub use error::{GpuError, GpuResult};
pub use fault::Fault;
#[cfg(feature = "testing")]
pub use fault::parse_fault_spec;
pub use later::LaterRead;
pub use pipeline::{Launch, Record, Shader, record_all};
