//! Failure injection, so tests can check that device faults surface as errors.

use std::sync::Mutex;

/// A point of the runtime where a test can make the next operation fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The next [`crate::gpu::Gpu::submit`] fails as if the queue rejected it.
    Submit,
    /// The next read-back mapping fails as if `map_async` reported an error.
    Map,
    /// The next wait for the device fails as if the device timed out.
    Wait,
}

/// Armed faults, each firing once.
#[derive(Default)]
pub(crate) struct FaultInjector {
    armed: Mutex<Vec<Fault>>,
}

impl FaultInjector {
    pub(crate) fn arm(&self, fault: Fault) {
        self.lock().push(fault);
    }

    /// True (once) when `fault` was armed.
    pub(crate) fn fire(&self, fault: Fault) -> bool {
        let mut armed = self.lock();
        match armed.iter().position(|f| *f == fault) {
            Some(i) => {
                armed.remove(i);
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Fault>> {
        self.armed.lock().unwrap_or_else(|p| p.into_inner())
    }
}
