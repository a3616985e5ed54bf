//! Reads that ride along: values copied aside on the device now and read back with the next
//! read-back of anything, so a value the host needs only later (a norm, a bound) costs no
//! round trip of its own. A real GPU charges ~50–100 µs per synchronous read-back whatever
//! its size; a request that needs a dozen small values should pay for a few.
//!
//! The copy is taken when [`crate::gpu::Gpu::read_later`] is called (ordered after the work
//! already submitted), so later writes to the source do not change what is read.

use std::sync::{Arc, Mutex};

use super::buffer::GpuBuffer;
use super::error::{GpuError, GpuResult};

/// What a pending read resolves to: the values, or why they could not be read.
type Slot = Arc<Mutex<Option<Result<Vec<f32>, String>>>>;

/// A copy waiting for the next read-back.
pub(crate) struct Pending {
    pub(crate) copy: GpuBuffer<f32>,
    pub(crate) len: usize,
    slot: Slot,
}

impl Pending {
    pub(crate) fn new(copy: GpuBuffer<f32>, len: usize) -> (Pending, LaterRead) {
        let slot: Slot = Arc::new(Mutex::new(None));
        let later = LaterRead { slot: slot.clone() };
        (Pending { copy, len, slot }, later)
    }

    /// Hands the read values (or the read's failure) to the [`LaterRead`].
    pub(crate) fn resolve(self, values: Result<Vec<f32>, String>) {
        *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(values);
    }
}

/// Values that will be read back with the next read-back ([`crate::gpu::Gpu::values_of`]
/// forces one if none has happened yet).
#[derive(Debug, Clone)]
pub struct LaterRead {
    slot: Slot,
}

impl LaterRead {
    /// Whether the values have been read back (without forcing a read).
    pub fn is_ready(&self) -> bool {
        self.ready().is_some()
    }

    /// The values once read back (`None` before; [`crate::gpu::Gpu::values_of`] forces
    /// the read).
    pub(crate) fn ready(&self) -> Option<Result<Vec<f32>, String>> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// [`LaterRead::ready`] as a result: the values, or why they are not there.
    pub(crate) fn values(&self) -> GpuResult<Vec<f32>> {
        match self.ready() {
            Some(Ok(values)) => Ok(values),
            Some(Err(message)) => Err(GpuError::Map {
                context: "a read that rode along".into(),
                message,
            }),
            None => Err(GpuError::Invalid(
                "a read that rode along was never read back".into(),
            )),
        }
    }
}
