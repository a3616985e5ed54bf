//! The one error type of the GPU runtime.

use thiserror::Error;

/// Everything that can go wrong between the host and the device.
///
/// Validation errors, failed submissions, failed mappings and a lost device all
/// end up here, so a caller gets a `Result` and never a panic or a hang.
#[derive(Debug, Error)]
pub enum GpuError {
    /// No Vulkan, Metal or DX12 adapter could be found (or none matched `IFRU_ADAPTER`).
    #[error("{0}")]
    NoAdapter(String),
    /// The adapter refused to create a device with the requested limits and features.
    #[error("could not create a device on adapter '{adapter}': {source}")]
    RequestDevice {
        adapter: String,
        #[source]
        source: wgpu::RequestDeviceError,
    },
    /// wgpu reported a validation, out-of-memory or internal error.
    #[error("GPU {kind} error during {context}: {message}")]
    Device {
        kind: &'static str,
        context: String,
        message: String,
    },
    /// Reading a buffer back failed.
    #[error("mapping a buffer for read-back failed during {context}: {message}")]
    Map { context: String, message: String },
    /// The device was lost (driver reset, `Device::destroy`, ...). Nothing further can run on it.
    #[error("the GPU device was lost: {0}")]
    DeviceLost(String),
    /// Waiting for the device failed or timed out.
    #[error("waiting for the GPU failed during {context}: {message}")]
    Poll { context: String, message: String },
    /// A request exceeds what the device can take (buffer size, binding size, ...).
    #[error("{what} needs {needed} but the device allows at most {limit} ({limit_name}){hint}")]
    Limit {
        what: String,
        needed: u64,
        limit: u64,
        limit_name: &'static str,
        hint: &'static str,
    },
    /// Arguments that do not fit together (sizes, dimensions).
    #[error("{0}")]
    Invalid(String),
    /// A failure injected by a test through [`crate::gpu::Fault`].
    #[error("injected fault: {0}")]
    Injected(String),
}

/// Shorthand for results of the GPU runtime.
pub type GpuResult<T> = Result<T, GpuError>;
