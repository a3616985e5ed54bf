//! Failure injection, so tests can check that device faults surface as errors.
//!
//! A fault is armed to fire at the next matching operation, or after a number of them pass
//! (a countdown), so a test can break a long operation — an unlearning request — at any of
//! its submissions, mappings or waits. The injector also counts the operations it has seen,
//! which tells a test how many points a request has to break at.

use std::sync::Mutex;

/// A point of the runtime where a test can make an operation fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A [`crate::gpu::Gpu::submit`] fails as if the queue rejected it.
    Submit,
    /// A read-back mapping fails as if `map_async` reported an error.
    Map,
    /// A wait for the device fails as if the device timed out.
    Wait,
    /// A real [`crate::gpu::Gpu::destroy`] just before a submission, which then goes ahead
    /// on the destroyed device (counted in submissions, like [`Fault::Submit`]).
    Destroy,
}

impl Fault {
    /// The operation whose count a fault's countdown runs on.
    fn counted_as(self) -> Fault {
        match self {
            Fault::Destroy => Fault::Submit,
            other => other,
        }
    }

    fn slot(self) -> usize {
        match self.counted_as() {
            Fault::Submit | Fault::Destroy => 0,
            Fault::Map => 1,
            Fault::Wait => 2,
        }
    }
}

/// Parses a value of `IFRU_FAULT_GPU`: `submit`, `map`, `wait` or `destroy`, optionally `:N`
/// to let N such operations pass first (`submit:40`).
#[cfg(feature = "testing")]
pub fn parse_fault_spec(spec: &str) -> Result<(Fault, u64), String> {
    let (name, skip) = match spec.split_once(':') {
        Some((n, s)) => (
            n,
            s.trim().parse::<u64>().map_err(|_| {
                format!("IFRU_FAULT_GPU={spec:?}: '{s}' is not a whole number of operations")
            })?,
        ),
        None => (spec, 0),
    };
    let fault = match name.trim().to_ascii_lowercase().as_str() {
        "submit" => Fault::Submit,
        "map" => Fault::Map,
        "wait" => Fault::Wait,
        "destroy" => Fault::Destroy,
        other => {
            return Err(format!(
                "IFRU_FAULT_GPU={spec:?}: unknown fault '{other}' (submit, map, wait or destroy)"
            ));
        }
    };
    Ok((fault, skip))
}

#[derive(Default)]
struct Armed {
    /// Each armed fault with the matching operations still to let pass.
    faults: Vec<(Fault, u64)>,
    /// Operations seen so far: submissions, mappings, waits.
    seen: [u64; 3],
}

/// Armed faults, each firing once.
#[derive(Default)]
pub(crate) struct FaultInjector {
    armed: Mutex<Armed>,
}

impl FaultInjector {
    /// Arms `fault` to fire at the matching operation after `skip` of them pass.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn arm(&self, fault: Fault, skip: u64) {
        self.lock().faults.push((fault, skip));
    }

    /// Counts one operation of kind `op` (Submit, Map or Wait) and returns the armed faults
    /// that fire at it (each once).
    pub(crate) fn tick(&self, op: Fault) -> Vec<Fault> {
        let mut armed = self.lock();
        armed.seen[op.slot()] += 1;
        let mut fired = Vec::new();
        armed.faults.retain_mut(|(fault, skip)| {
            if fault.counted_as() != op {
                return true;
            }
            if *skip == 0 {
                fired.push(*fault);
                false
            } else {
                *skip -= 1;
                true
            }
        });
        fired
    }

    /// Operations of `op`'s kind seen so far.
    pub(crate) fn seen(&self, op: Fault) -> u64 {
        self.lock().seen[op.slot()]
    }

    /// True while an armed fault has not fired.
    pub(crate) fn pending(&self) -> bool {
        !self.lock().faults.is_empty()
    }

    /// Drops every armed fault that has not fired.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn disarm(&self) {
        self.lock().faults.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Armed> {
        self.armed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_countdown_lets_operations_pass_then_fires_once() {
        let f = FaultInjector::default();
        f.arm(Fault::Submit, 2);
        f.arm(Fault::Destroy, 1);
        assert!(f.tick(Fault::Wait).is_empty());
        assert!(f.tick(Fault::Submit).is_empty());
        assert_eq!(f.tick(Fault::Submit), vec![Fault::Destroy]);
        assert_eq!(f.tick(Fault::Submit), vec![Fault::Submit]);
        assert!(f.tick(Fault::Submit).is_empty());
        assert_eq!(f.seen(Fault::Submit), 4);
        assert_eq!(f.seen(Fault::Wait), 1);
        assert_eq!(f.seen(Fault::Map), 0);
    }

    #[cfg(feature = "testing")]
    #[test]
    fn fault_specs_parse_or_name_what_is_wrong() {
        assert_eq!(parse_fault_spec("submit"), Ok((Fault::Submit, 0)));
        assert_eq!(parse_fault_spec("Destroy:12"), Ok((Fault::Destroy, 12)));
        assert!(parse_fault_spec("map:x").unwrap_err().contains("'x'"));
        assert!(parse_fault_spec("boom").unwrap_err().contains("'boom'"));
    }
}
