//! Crash injection for the commit path (cargo feature `testing` only): with
//! `IFRU_FAULT_COMMIT=<point>` the process aborts (no unwinding, no destructors, as a power cut
//! or `kill -9` would leave things) when a commit reaches that point, so a test can check that
//! a model directory is found in its old state or its new one after a crash anywhere in a
//! commit, never in a mix. Without the feature, `point` does nothing.

/// Every point of a commit (and of a create), in the order they are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitPoint {
    /// Nothing written yet.
    Start,
    /// The new version's temporary folder holds model.safetensors only.
    VersionPartial,
    /// The temporary folder is complete and synced, not yet renamed.
    VersionWritten,
    /// Renamed into place as vNNNN; CURRENT still names the old version.
    VersionRenamed,
    /// CURRENT names the new version; the root audit.jsonl and the old version are as before.
    CurrentFlipped,
    /// The root audit.jsonl lists the new version; the old version is still there.
    LogWritten,
    /// Everything done (the old version removed).
    Done,
}

impl CommitPoint {
    /// In the order a commit reaches them.
    pub const ALL: [CommitPoint; 7] = [
        CommitPoint::Start,
        CommitPoint::VersionPartial,
        CommitPoint::VersionWritten,
        CommitPoint::VersionRenamed,
        CommitPoint::CurrentFlipped,
        CommitPoint::LogWritten,
        CommitPoint::Done,
    ];

    /// The value of `IFRU_FAULT_COMMIT` that names this point.
    pub fn name(self) -> &'static str {
        match self {
            CommitPoint::Start => "start",
            CommitPoint::VersionPartial => "version-partial",
            CommitPoint::VersionWritten => "version-written",
            CommitPoint::VersionRenamed => "version-renamed",
            CommitPoint::CurrentFlipped => "current-flipped",
            CommitPoint::LogWritten => "log-written",
            CommitPoint::Done => "done",
        }
    }
}

/// Aborts the process if `IFRU_FAULT_COMMIT` names `point`.
#[cfg(feature = "testing")]
pub(crate) fn point(point: CommitPoint) {
    if crate::environment::fault_commit_point().is_some_and(|v| v == point.name()) {
        eprintln!(
            "{}={}: aborting the process",
            crate::environment::FAULT_COMMIT_ENV,
            point.name()
        );
        std::process::abort();
    }
}

/// Crash injection is compiled out: nothing happens at a commit point.
#[cfg(not(feature = "testing"))]
#[inline(always)]
pub(crate) fn point(_point: CommitPoint) {}
