//! The environment variables the library honours, read in this module only. Everything else
//! in the library takes options; the command line and the tests call these readers.
//!
//! | variable | effect |
//! |---|---|
//! | `IFRU_ADAPTER` | pick the adapter whose name contains this (case-insensitive) |
//! | `IFRU_BINDING_CAP` | lower the storage binding cap (bytes), to force chunking |
//! | `IFRU_NO_SHADER_F16` | `1`: leave `SHADER_F16` unrequested (f16 tables use packed pairs) |
//! | `IFRU_BLOCK_JACOBI` | `host` or `device`: where block-Jacobi is built (default: by adapter) |
//! | `IFRU_FAULT_GPU` | feature `testing`: arm a device fault when a device opens |
//! | `IFRU_FAULT_COMMIT` | feature `testing`: abort the process at a commit point |

use crate::gpu::{GpuError, GpuOptions, GpuResult};

/// Picks an adapter by (case-insensitive) name substring.
pub const ADAPTER_ENV: &str = "IFRU_ADAPTER";
/// Lowers the storage binding cap (bytes), to force chunking in tests.
pub const BINDING_CAP_ENV: &str = "IFRU_BINDING_CAP";
/// Set to `1`, leaves `SHADER_F16` unrequested, so f16 tables take the packed-pair path every
/// device has.
pub const NO_SHADER_F16_ENV: &str = "IFRU_NO_SHADER_F16";
/// `host` or `device`: where block-Jacobi's blocks are built and inverted, whatever the
/// adapter ([`GpuOptions::host_block_jacobi`]); to compare the two on one machine.
pub const BLOCK_JACOBI_ENV: &str = "IFRU_BLOCK_JACOBI";
/// Arms a device fault when a device opens: `submit`, `map`, `wait` or `destroy`, optionally
/// `:N` to let N such operations pass first (`IFRU_FAULT_GPU=submit:40`). For tests of the
/// command line; the library's tests call `Gpu::inject_fault_after`.
#[cfg(feature = "testing")]
pub const FAULT_GPU_ENV: &str = "IFRU_FAULT_GPU";
/// Names the commit point at which a commit aborts the process
/// ([`crate::model::store::fault::CommitPoint::name`]).
#[cfg(feature = "testing")]
pub const FAULT_COMMIT_ENV: &str = "IFRU_FAULT_COMMIT";

impl GpuOptions {
    /// Defaults, with `IFRU_ADAPTER`, `IFRU_BINDING_CAP`, `IFRU_NO_SHADER_F16`,
    /// `IFRU_BLOCK_JACOBI` (and, with the `testing` feature, `IFRU_FAULT_GPU`) applied.
    pub fn from_env() -> GpuResult<Self> {
        let mut opts = GpuOptions {
            adapter_filter: std::env::var(ADAPTER_ENV).ok().filter(|s| !s.is_empty()),
            shader_f16: !std::env::var(NO_SHADER_F16_ENV).is_ok_and(|v| v.trim() == "1"),
            ..GpuOptions::default()
        };
        if let Ok(cap) = std::env::var(BINDING_CAP_ENV) {
            let cap = cap.trim().parse::<u64>().map_err(|_| {
                GpuError::Invalid(format!(
                    "{BINDING_CAP_ENV}={cap:?} is not a whole number of bytes"
                ))
            })?;
            opts.binding_cap = Some(cap);
        }
        if let Ok(place) = std::env::var(BLOCK_JACOBI_ENV) {
            opts.host_block_jacobi = match place.trim() {
                "host" => Some(true),
                "device" => Some(false),
                "" => None,
                other => {
                    return Err(GpuError::Invalid(format!(
                        "{BLOCK_JACOBI_ENV}={other:?}: expected host or device"
                    )));
                }
            };
        }
        #[cfg(feature = "testing")]
        if let Ok(spec) = std::env::var(FAULT_GPU_ENV) {
            opts.fault = Some(crate::gpu::parse_fault_spec(&spec).map_err(GpuError::Invalid)?);
        }
        Ok(opts)
    }
}

/// The commit point `IFRU_FAULT_COMMIT` names, if set.
#[cfg(feature = "testing")]
pub(crate) fn fault_commit_point() -> Option<std::ffi::OsString> {
    std::env::var_os(FAULT_COMMIT_ENV)
}
