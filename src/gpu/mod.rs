//! The GPU runtime: adapter choice, the device, typed pooled buffers, pipelines,
//! dispatch geometry, binding chunks, error capture, failure injection and timing.

mod adapter;
mod buffer;
mod chunk;
mod context;
mod dispatch;
mod error;
mod fault;
mod pipeline;

pub use adapter::{ADAPTER_ENV, AdapterSummary, choose_adapter, no_adapter_message};
pub use buffer::{BufferPool, GpuBuffer, PoolStats};
pub use chunk::{RowChunk, row_chunks};
pub use context::{
    BINDING_CAP_ENV, Gpu, GpuOptions, GrantedFeatures, KernelTime, KeyLimits, NO_SHADER_F16_ENV,
    TimeSource,
};
pub use dispatch::grid;
pub use error::{GpuError, GpuResult};
pub use fault::{FAULT_GPU_ENV, Fault, parse_fault_spec};
pub use pipeline::{Launch, Record, Shader, record_all};
