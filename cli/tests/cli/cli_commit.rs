//! Nothing lost: `ifru unlearn` killed at every point of its commit leaves the old state or the
//! new one (never a mix) and the next writer cleans up; two writers at once both apply or one
//! is refused; every applied request is in the audit log.

use crate::common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::cli::{Fixture, ifru_env, ok, s, snapshot, stderr, training_rows};
use ifru::environment::FAULT_COMMIT_ENV as FAULT_ENV;
use ifru::model::store::fault::CommitPoint;
use ifru::model::store::{AuditLog, ModelDir, ModelState};
use serde_json::Value;

/// The root audit log's entries.
fn root_log(model: &Path) -> Vec<serde_json::Map<String, Value>> {
    let p = model.join("audit.jsonl");
    AuditLog::parse(&p, &fs::read(&p).unwrap())
        .unwrap()
        .entries()
}

/// The live state, read as any reader would, and the live version's own log.
fn live(model: &Path) -> (String, ModelState, AuditLog) {
    let dir = ModelDir::open(model).unwrap();
    let v = dir.current_version().name();
    (v, dir.load().unwrap(), dir.audit_log().unwrap())
}

/// Names in the model directory.
fn names(model: &Path) -> BTreeSet<String> {
    fs::read_dir(model)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

/// The first `n` training pairs of user `u`.
fn pairs(u: u32, n: usize) -> Vec<(u32, u32)> {
    training_rows()
        .iter()
        .filter(|r| r.0 == u)
        .take(n)
        .map(|r| (r.0, r.1))
        .collect()
}

#[test]
fn a_crash_at_any_point_of_a_commit_leaves_the_old_or_the_new_state() {
    let fx = Fixture::new("lightgcn");
    let before = snapshot(&fx.model);
    let (v1, old, old_log) = live(&fx.model);
    assert_eq!(v1, "v0001");
    assert_eq!(old_log.len(), 1);
    let f = fx.forget("f.csv", &pairs(2, 3));
    for commit_point in CommitPoint::ALL {
        let point = commit_point.name();
        // Start each crash from the same model.
        fs::remove_dir_all(&fx.model).unwrap();
        for (p, bytes) in &before {
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, bytes).unwrap();
        }
        let out = fx.unlearn_env(&["--forget", &s(&f)], &[(FAULT_ENV, point)]);
        assert!(!out.status.success(), "{point}: did not abort");
        assert!(stderr(&out).contains(point), "{point}: {}", stderr(&out));

        // What a reader finds right after the crash: a complete old or new state.
        let (v, state, log) = live(&fx.model);
        let new = state.forgotten.len() == 3;
        if new {
            assert_eq!(v, "v0002", "{point}");
            assert_ne!(state.params, old.params, "{point}");
            assert_eq!(log.len(), 2, "{point}: the new version carries its entry");
        } else {
            assert_eq!(v, "v0001", "{point}");
            assert_eq!(state, old, "{point}");
            assert_eq!(log, old_log, "{point}");
        }
        // The root log never lists a version beyond CURRENT.
        let root = root_log(&fx.model);
        assert!(
            root.len() <= log.len(),
            "{point}: {} > {}",
            root.len(),
            log.len()
        );
        assert_eq!(
            root.iter()
                .map(|e| e["version"].clone())
                .collect::<Vec<_>>(),
            log.entries()[..root.len()]
                .iter()
                .map(|e| e["version"].clone())
                .collect::<Vec<_>>(),
            "{point}"
        );
        // CommitPoint::ALL is in the order a commit reaches them.
        let expect_new = commit_point as usize >= CommitPoint::CurrentFlipped as usize;
        assert_eq!(new, expect_new, "{point}: the commit point is CURRENT");

        // The next writer cleans up and finds the same state; its own request then commits.
        let again = fx.forget("g.csv", &pairs(4, 2));
        ok(&fx.unlearn(&["--forget", &s(&again)]));
        let (v, state, log) = live(&fx.model);
        assert_eq!(state.forgotten.len(), if new { 5 } else { 2 }, "{point}");
        assert_eq!(v, if new { "v0003" } else { "v0002" }, "{point}");
        let expected: BTreeSet<String> = ["CURRENT", "LOCK", "audit.jsonl", v.as_str()]
            .iter()
            .map(|x| x.to_string())
            .collect();
        assert_eq!(names(&fx.model), expected, "{point}: leftovers");
        assert_eq!(
            fs::read(fx.model.join("audit.jsonl")).unwrap(),
            log.as_bytes(),
            "{point}: root log repaired"
        );
        assert_eq!(log.len(), if new { 3 } else { 2 }, "{point}");
    }
}

#[test]
fn a_crash_while_training_leaves_no_model_and_the_next_train_succeeds() {
    let fx = Fixture::new("mf");
    let out_dir = fx.tmp.path().join("second");
    let args = |d: &Path| {
        vec![
            "train".to_string(),
            "--data".into(),
            s(&fx.data),
            "--model".into(),
            "mf".into(),
            "--dim".into(),
            "8".into(),
            "--epochs".into(),
            "1".into(),
            "--out".into(),
            s(d),
        ]
    };
    let a = args(&out_dir);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    for commit_point in [CommitPoint::VersionWritten, CommitPoint::CurrentFlipped] {
        let point = commit_point.name();
        let out = ifru_env(&a, &[(FAULT_ENV, point)]);
        assert!(!out.status.success(), "{point}");
        if commit_point == CommitPoint::CurrentFlipped {
            // Live, with its root log repaired by the next writer.
            let dir = ModelDir::open_for_write(&out_dir, Duration::ZERO).unwrap();
            assert_eq!(dir.audit_log().unwrap().len(), 1);
            assert_eq!(root_log(&out_dir).len(), 1);
        } else {
            assert!(!out_dir.join("CURRENT").exists());
            ok(&ifru_env(&a, &[]));
            assert_eq!(root_log(&out_dir)[0]["command"], "train");
            fs::remove_dir_all(&out_dir).unwrap();
        }
    }
}

#[test]
fn concurrent_writers_both_apply_in_turn() {
    let fx = Fixture::new("mf");
    let files: Vec<_> = (0..4)
        .map(|k| fx.forget(&format!("f{k}.csv"), &pairs(10 + k, 2)))
        .collect();
    let children: Vec<_> = files
        .iter()
        .map(|f| {
            std::process::Command::new(env!("CARGO_BIN_EXE_ifru"))
                .args(["unlearn", "--model", &s(&fx.model), "--forget", &s(f)])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        ok(&c.wait_with_output().unwrap());
    }
    let (v, state, log) = live(&fx.model);
    assert_eq!(v, "v0005");
    assert_eq!(state.forgotten.len(), 8, "no request lost");
    let entries = log.entries();
    assert_eq!(entries.len(), 5);
    // Each entry continues from the one before.
    for w in entries.windows(2) {
        assert_eq!(w[1]["parent"], w[0]["version"]);
        assert_eq!(w[1]["model_before"], w[0]["model_after"]);
    }
    assert_eq!(root_log(&fx.model), entries);
}

#[test]
fn a_writer_that_cannot_get_the_lock_in_time_is_refused() {
    let fx = Fixture::new("mf");
    let f = fx.forget("f.csv", &pairs(1, 2));
    let held = ModelDir::open_for_write(&fx.model, Duration::ZERO).unwrap();
    let before = snapshot(&fx.model);
    let start = Instant::now();
    let out = fx.unlearn(&["--forget", &s(&f), "--lock-timeout", "1"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(start.elapsed() >= Duration::from_secs(1));
    assert!(
        err.contains("waiting up to 1 s")
            && err.contains(&format!(
                "{}: another process is writing this model",
                s(&fx.model)
            ))
            && err.contains("LOCK"),
        "{err}"
    );
    eprintln!("[lock timeout]\n{}", &err[err.find("error:").unwrap()..]);
    assert_eq!(snapshot(&fx.model), before);
    let out = fx.unlearn(&["--forget", &s(&f), "--lock-timeout=-1"]);
    assert!(
        stderr(&out).contains("--lock-timeout -1"),
        "{}",
        stderr(&out)
    );
    // Released: the same request applies (a reader never needed the lock).
    drop(held);
    ok(&fx.unlearn(&["--forget", &s(&f), "--lock-timeout", "0"]));
}

#[test]
fn the_audit_log_records_each_request_without_its_rows() {
    let fx = Fixture::new("lightgcn");
    let rows = pairs(6, 3);
    // First into another folder (the lines in another order), then in place.
    let reordered = fx.forget("g.csv", &[rows[2], rows[0], rows[1]]);
    let out = fx.tmp.path().join("copy");
    ok(&fx.unlearn(&["--forget", &s(&reordered), "--out", &s(&out)]));
    let f = fx.forget("f.csv", &rows);
    let report = fx.tmp.path().join("r.json");
    ok(&fx.unlearn(&["--forget", &s(&f), "--report", &s(&report)]));
    let entries = root_log(&fx.model);
    assert_eq!(entries.len(), 2);
    let (train, e) = (&entries[0], &entries[1]);
    assert_eq!(train["command"], "train");
    assert_eq!(train["model_before"], Value::Null);
    assert_eq!(train["settings"]["max_epochs"], 2);
    assert_eq!(e["command"], "unlearn");
    assert_eq!(e["method"], "ifru");
    assert_eq!(e["version"], "v0002");
    assert_eq!(e["parent"], "v0001");
    assert_eq!(e["model_before"], train["model_after"]);
    assert_ne!(e["model_after"], e["model_before"]);
    let t = e["time"].as_str().unwrap();
    assert!(
        t.len() == 24 && t.ends_with('Z') && t.as_bytes()[10] == b'T',
        "{t}"
    );
    assert_eq!(e["request"]["matched"], 3);
    assert_eq!(e["request"]["rows"], 3);
    assert_eq!(e["settings"]["skip_missing"], false);
    assert_eq!(e["report"]["options"]["hessian"], "gauss-newton");
    // The report's method fields are the entry's.
    let r: Value = serde_json::from_slice(&fs::read(&report).unwrap()).unwrap();
    for key in [
        "iterations",
        "residual",
        "damping",
        "valid_auc",
        "test_auc",
        "warnings",
    ] {
        assert_eq!(e["report"][key], r[key], "{key}");
    }
    // Nothing in clear: the entry holds these fields only, and the request as a digest.
    let keys: Vec<&str> = e.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "adapter",
            "command",
            "forget",
            "method",
            "model_after",
            "model_before",
            "parent",
            "report",
            "request",
            "settings",
            "time",
            "version"
        ]
    );
    let forget = e["forget"].as_object().unwrap();
    assert_eq!(
        forget.keys().map(String::as_str).collect::<Vec<_>>(),
        ["digest", "pairs", "rows", "scheme"]
    );
    assert_eq!(forget["pairs"], 3);
    assert!(forget["digest"].as_str().unwrap().starts_with("sha256:"));
    // A derived model carries the history, then its own entry; the digest does not depend on
    // the order of the lines (same salt, same pairs).
    let copied = root_log(&out);
    assert_eq!(copied.len(), 2);
    assert_eq!(copied[0], entries[0]);
    assert_eq!(copied[1]["version"], "v0001");
    assert_eq!(copied[1]["source"]["version"], "v0001");
    assert_eq!(copied[1]["model_before"], train["model_after"]);
    assert_eq!(copied[1]["forget"]["digest"], e["forget"]["digest"]);
}
