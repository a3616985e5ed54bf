//! What a device has been asked to do, counted as it happens: the operations a real GPU
//! charges for whatever the work (≈ 5–10 µs a dispatch, 50–100 µs a synchronous read-back),
//! so a request's cost on a GPU can be estimated from any adapter, lavapipe included.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// The live counters of one device, shared by its buffers and launches.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    dispatches: AtomicU64,
    submissions: AtomicU64,
    readbacks: AtomicU64,
    waits: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
}

impl Counters {
    pub(crate) fn dispatch(&self) {
        self.dispatches.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn submission(&self) {
        self.submissions.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn readback(&self, bytes: u64) {
        self.readbacks.fetch_add(1, Ordering::Relaxed);
        self.bytes_down.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn wait(&self) {
        self.waits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn upload(&self, bytes: u64) {
        self.bytes_up.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> DeviceCounts {
        DeviceCounts {
            dispatches: self.dispatches.load(Ordering::Relaxed),
            submissions: self.submissions.load(Ordering::Relaxed),
            readbacks: self.readbacks.load(Ordering::Relaxed),
            waits: self.waits.load(Ordering::Relaxed),
            bytes_up: self.bytes_up.load(Ordering::Relaxed),
            bytes_down: self.bytes_down.load(Ordering::Relaxed),
        }
    }
}

/// Device operations: kernel dispatches recorded, command submissions, synchronous
/// read-backs (each a map-and-wait), the host's other waits for the device (`waits`: a
/// request ends with one), and bytes written to and read from the device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCounts {
    pub dispatches: u64,
    pub submissions: u64,
    pub readbacks: u64,
    #[serde(default)]
    pub waits: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
}

impl DeviceCounts {
    /// What happened between `earlier` and `self`.
    pub fn since(self, earlier: DeviceCounts) -> DeviceCounts {
        DeviceCounts {
            dispatches: self.dispatches.saturating_sub(earlier.dispatches),
            submissions: self.submissions.saturating_sub(earlier.submissions),
            readbacks: self.readbacks.saturating_sub(earlier.readbacks),
            waits: self.waits.saturating_sub(earlier.waits),
            bytes_up: self.bytes_up.saturating_sub(earlier.bytes_up),
            bytes_down: self.bytes_down.saturating_sub(earlier.bytes_down),
        }
    }
}
