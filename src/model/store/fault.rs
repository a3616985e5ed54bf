//! Crash injection for the commit path: `IFRU_FAULT_COMMIT=<point>` makes the process abort
//! (no unwinding, no destructors, as a power cut or `kill -9` would leave things) when a
//! commit reaches that point, so a test can check that a model directory is found in its old
//! state or its new one after a crash anywhere in a commit, never in a mix.

/// The environment variable naming the point.
pub const FAULT_ENV: &str = "IFRU_FAULT_COMMIT";

/// Every point of a commit (and of a create), in the order they are reached.
pub const COMMIT_POINTS: [&str; 7] = [
    // Nothing written yet.
    "start",
    // The new version's temporary folder holds model.safetensors only.
    "version-partial",
    // The temporary folder is complete and synced, not yet renamed.
    "version-written",
    // Renamed into place as vNNNN; CURRENT still names the old version.
    "version-renamed",
    // CURRENT names the new version; the root audit.jsonl and the old version are as before.
    "current-flipped",
    // The root audit.jsonl lists the new version; the old version is still there.
    "log-written",
    // Everything done (the old version removed).
    "done",
];

/// Aborts the process if `IFRU_FAULT_COMMIT` names `point`.
pub(crate) fn point(point: &str) {
    debug_assert!(
        COMMIT_POINTS.contains(&point),
        "unknown fault point {point}"
    );
    if std::env::var_os(FAULT_ENV).is_some_and(|v| v == point) {
        eprintln!("{FAULT_ENV}={point}: aborting the process");
        std::process::abort();
    }
}
