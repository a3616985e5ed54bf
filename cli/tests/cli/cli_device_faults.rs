//! Device faults during `ifru unlearn` (`IFRU_FAULT_GPU`): a failed submission, mapping or
//! wait, or a real `Device::destroy`, at the first, middle and last such operation of the
//! command. Each run must exit with an error (no panic, no hang) and leave the model
//! directory byte-for-byte as it was; afterwards the same request applies normally.

use crate::common;

use common::cli::{Fixture, ok, s, snapshot, stderr, training_rows};

/// The operations a run made, from the note the device prints when an armed fault never
/// fired: `[submissions, mappings, waits]`.
fn operations(note: &str) -> [u64; 3] {
    let tail = &note[note
        .find("the device ran ")
        .unwrap_or_else(|| panic!("no operation counts in: {note}"))..];
    let numbers: Vec<u64> = tail
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .take(3)
        .map(|w| w.parse().unwrap())
        .collect();
    [numbers[0], numbers[1], numbers[2]]
}

#[test]
fn a_device_fault_during_unlearn_is_an_error_and_changes_nothing() {
    for kind in ["mf", "lightgcn"] {
        let fx = Fixture::new(kind);
        let rows: Vec<(u32, u32)> = training_rows()
            .iter()
            .filter(|r| r.0 % 7 == 2)
            .map(|r| (r.0, r.1))
            .collect();
        let forget = fx.forget("forget.csv", &rows);
        let args = ["--forget", &s(&forget)];

        // A dry run into another folder, with a fault that never fires, counts the operations.
        let out = fx.tmp.path().join("counted");
        let counted = fx.unlearn_env(
            &["--forget", &s(&forget), "--out", &s(&out)],
            &[("IFRU_FAULT_GPU", "submit:1000000000")],
        );
        ok(&counted);
        let [submits, maps, waits] = operations(&stderr(&counted));
        eprintln!("{kind}: unlearn runs {submits} submissions, {maps} mappings, {waits} waits");

        let before = snapshot(&fx.model);
        for (fault, n) in [
            ("submit", submits),
            ("map", maps),
            ("wait", waits),
            ("destroy", submits),
        ] {
            for k in [0, n / 2, n - 1] {
                let spec = format!("{fault}:{k}");
                let run = fx.unlearn_env(&args, &[("IFRU_FAULT_GPU", &spec)]);
                let err = stderr(&run);
                assert_eq!(run.status.code(), Some(1), "{kind} {spec}: {err}");
                assert!(!err.contains("panicked"), "{kind} {spec}: {err}");
                assert!(
                    err.contains("injected fault")
                        || err.contains("device was lost")
                        || err.contains("GPU"),
                    "{kind} {spec}: {err}"
                );
                assert!(
                    !err.contains("did not fire"),
                    "{kind} {spec}: the fault missed"
                );
                assert_eq!(
                    snapshot(&fx.model),
                    before,
                    "{kind} {spec}: the model directory changed"
                );
                eprintln!(
                    "[{kind} {spec}] {}",
                    err.lines().find(|l| l.contains("error")).unwrap_or("")
                );
            }
        }
        let version = fx.current();
        ok(&fx.unlearn(&args));
        assert_ne!(
            fx.current(),
            version,
            "{kind}: the request applies afterwards"
        );
    }
}
