//! `ifru unlearn` end to end on real data: the influence update commits a new version,
//! requests stack, and a refused request leaves the model directory byte-for-byte unchanged.

use crate::common;

use std::path::{Path, PathBuf};

use common::cli::{Fixture, ifru, ok, s, snapshot, training_rows};

/// A forget file with the first `n` rows of `train_random.csv` (flipped labels included).
fn forget_file(data: &Path, dir: &Path, name: &str, skip: usize, n: usize) -> PathBuf {
    let text = std::fs::read_to_string(data.join("train_random.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let body: Vec<&str> = lines.skip(skip).take(n).collect();
    let path = dir.join(name);
    std::fs::write(&path, format!("{header}\n{}\n", body.join("\n"))).unwrap();
    path
}

#[test]
fn influence_requests_stack_and_refusals_change_nothing() {
    let data = common::require_data!().join("ml-100k-ifru/0.02");
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    ok(&ifru(&[
        "train",
        "--data",
        &s(&data),
        "--model",
        "mf",
        "--dim",
        "16",
        "--epochs",
        "3",
        "--lr",
        "0.01",
        "--out",
        &s(&model),
    ]));

    // A refused request (a pair never in training) changes no byte.
    let before = snapshot(&model);
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "user,item\n0,0\n1,99999\n").unwrap();
    let refused = ifru(&["unlearn", "--model", &s(&model), "--forget", &s(&bad)]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("never in the training data") && err.contains("bad.csv:3"),
        "{err}"
    );
    assert_eq!(
        snapshot(&model),
        before,
        "a refused request leaves the model as it was"
    );

    // The influence update commits v0002 with a report of the solve.
    let first = forget_file(&data, dir.path(), "first.csv", 0, 60);
    let report = dir.path().join("u1.json");
    ok(&ifru(&[
        "unlearn",
        "--model",
        &s(&model),
        "--forget",
        &s(&first),
        "--report",
        &s(&report),
    ]));
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["version"], "v0002");
    assert_eq!(r["request"]["rows"], 60);
    assert!(r["iterations"].as_u64().unwrap() >= 1);
    assert!(r["residual"].as_f64().unwrap() <= 5e-2 + 1e-9);
    assert!(r["kept_users"].as_u64().unwrap() > 0 && r["kept_items"].as_u64().unwrap() > 0);
    assert!(r["forget_auc_b"].as_f64().is_some());
    let version = std::fs::read_to_string(model.join("CURRENT")).unwrap();
    assert_eq!(version.trim(), "v0002");
    let forgotten: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("v0002/forgotten.json")).unwrap())
            .unwrap();
    assert_eq!(forgotten["pairs"].as_array().unwrap().len(), 60);

    // A second request stacks; its overlap with the first is skipped, not re-applied.
    let second = forget_file(&data, dir.path(), "second.csv", 40, 50);
    let out = ifru(&[
        "unlearn",
        "--model",
        &s(&model),
        "--forget",
        &s(&second),
        "--method",
        "finetune",
        "--finetune-epochs",
        "1",
    ]);
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("30 matched") && err.contains("20 already forgotten"),
        "{err}"
    );
    let forgotten: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("v0003/forgotten.json")).unwrap())
            .unwrap();
    assert_eq!(forgotten["pairs"].as_array().unwrap().len(), 90);
    assert!(!model.join("v0002").exists(), "old versions are deleted");

    // Everything already forgotten: nothing changes, exit 0.
    let before = snapshot(&model);
    let again = ifru(&["unlearn", "--model", &s(&model), "--forget", &s(&first)]);
    assert!(ok(&again).contains("already forgotten"));
    assert_eq!(snapshot(&model), before);

    // --out writes elsewhere and leaves the source untouched.
    let third = forget_file(&data, dir.path(), "third.csv", 200, 10);
    let copy = dir.path().join("copy");
    ok(&ifru(&[
        "unlearn",
        "--model",
        &s(&model),
        "--forget",
        &s(&third),
        "--out",
        &s(&copy),
    ]));
    assert_eq!(snapshot(&model), before);
    assert!(copy.join("CURRENT").exists());
    ok(&ifru(&["eval", "--model", &s(&copy)]));
}

#[test]
fn calibrated_step_searches_damping_and_falls_back_for_tiny_requests() {
    let data = common::require_data!().join("ml-100k-ifru/0.02");
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    ok(&ifru(&[
        "train",
        "--data",
        &s(&data),
        "--model",
        "mf",
        "--dim",
        "16",
        "--epochs",
        "3",
        "--lr",
        "0.01",
        "--out",
        &s(&model),
    ]));

    let forget = forget_file(&data, dir.path(), "f.csv", 0, 200);
    let report = dir.path().join("c.json");
    ok(&ifru(&[
        "unlearn",
        "--model",
        &s(&model),
        "--forget",
        &s(&forget),
        "--method",
        "ifru-calibrated",
        "--report",
        &s(&report),
    ]));
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let points = r["calibration"]
        .as_array()
        .expect("the tried damping values");
    assert!(points.len() >= 2, "{r}");
    let chosen = r["damping"].as_f64().unwrap();
    assert!(
        points
            .iter()
            .any(|p| (p["damping"].as_f64().unwrap() - chosen).abs() < 1e-6 * chosen.max(1.0))
    );
    // The rows are flipped rows of an IFRU folder: the target is 1 − the validation AUC of
    // the model before the update, read once, so every tried δ has the same target and no
    // step can move it.
    let target = points[0]["target"].as_f64().unwrap();
    assert!(target > 0.0 && target < 0.5, "{r}");
    for p in points {
        assert_eq!(p["target"].as_f64().unwrap(), target, "{r}");
    }
    assert_eq!(r["forgetting_check"]["statistic"], "forget_auc", "{r}");

    // Ten rows: too few to calibrate on; the fixed rule is used and said.
    let tiny = forget_file(&data, dir.path(), "t.csv", 300, 10);
    let report = dir.path().join("t.json");
    ok(&ifru(&[
        "unlearn",
        "--model",
        &s(&model),
        "--forget",
        &s(&tiny),
        "--method",
        "ifru-calibrated",
        "--report",
        &s(&report),
    ]));
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let warnings = r["warnings"].to_string();
    assert!(warnings.contains("used the fixed rule"), "{warnings}");
}

#[test]
fn bpr_models_unlearn_by_influence_and_a_user_stream_reports_ranks() {
    let data = common::require_data!().join("ml-100k-ifru/0.02");
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    let bpr = [
        "--model", "mf", "--loss", "bpr", "--dim", "8", "--epochs", "2",
    ];
    let mut train = vec!["train", "--data"];
    let data_s = s(&data);
    let model_s = s(&model);
    train.extend([data_s.as_str()]);
    train.extend(bpr);
    train.extend(["--out", model_s.as_str()]);
    ok(&ifru(&train));
    let forget = forget_file(&data, dir.path(), "f.csv", 0, 30);
    let report = dir.path().join("u.json");
    ok(&ifru(&[
        "unlearn",
        "--model",
        &model_s,
        "--forget",
        &s(&forget),
        "--report",
        &s(&report),
    ]));
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["version"], "v0002");
    assert!(r["iterations"].as_u64().unwrap() >= 1, "{r}");
    let rank = r["forget_rank"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&rank), "{r}");

    // The calibrated step matches the fitting half's place in its users' lists to their
    // held-out items' place.
    let text = std::fs::read_to_string(data.join("train_normal.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let positives: Vec<&str> = lines.filter(|l| l.ends_with(",1")).take(200).collect();
    let genuine = dir.path().join("genuine.csv");
    std::fs::write(&genuine, format!("{header}\n{}\n", positives.join("\n"))).unwrap();
    let report = dir.path().join("c.json");
    ok(&ifru(&[
        "unlearn",
        "--model",
        &model_s,
        "--forget",
        &s(&genuine),
        "--method",
        "ifru-calibrated",
        "--report",
        &s(&report),
    ]));
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let points = r["calibration"].as_array().expect("calibration points");
    assert!(points.len() >= 2, "{r}");
    for p in points {
        let (rank, target) = (
            p["forget_rank_a"].as_f64().unwrap(),
            p["target"].as_f64().unwrap(),
        );
        assert!(
            (0.0..=1.0).contains(&rank) && (0.0..=1.0).contains(&target),
            "{p}"
        );
    }

    // A stream of three single-user requests through one unlearner, then one retrain.
    let stream = dir.path().join("stream.json");
    let mut bench = vec!["bench", "--data", data_s.as_str()];
    bench.extend(bpr);
    let stream_s = s(&stream);
    bench.extend([
        "--stream",
        "3",
        "--retrain-max-epochs",
        "1",
        "--report",
        stream_s.as_str(),
    ]);
    let printed = ok(&ifru(&bench));
    assert!(printed.contains("requests/s"), "{printed}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&stream).unwrap()).unwrap();
    let st = &r["stream"];
    assert_eq!(st["requests"].as_array().unwrap().len(), 3);
    assert!(
        st["latency"]["p99_seconds"].as_f64().unwrap()
            >= st["latency"]["p50_seconds"].as_f64().unwrap()
    );
    assert_eq!(st["retrain"]["epochs"], 1);
    assert_eq!(st["retrain_capped"], true);
    for which in ["original", "after_stream", "retrain"] {
        let rank = st[which]["forget_rank"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&rank), "{which}: {st}");
    }
    // Forgetting every row of a user leaves it isolated: still finite everywhere.
    assert!(st["speedup_per_request"].as_f64().unwrap().is_finite());
}

#[test]
fn ifru_unlearn_records_a_non_converged_solve_in_its_report_and_the_audit_log() {
    let fx = Fixture::new("mf");
    let rows: Vec<(u32, u32)> = training_rows()
        .iter()
        .filter(|r| r.0 % 5 == 1)
        .map(|r| (r.0, r.1))
        .collect();
    let forget = fx.forget("forget.csv", &rows);
    let report = fx.tmp.path().join("report.json");
    ok(&fx.unlearn(&[
        "--forget",
        &s(&forget),
        "--max-iter",
        "1",
        "--rtol",
        "1e-7",
        "--report",
        &s(&report),
    ]));
    let bytes = std::fs::read(&report).unwrap();
    // The report reads back into its type, and writes out as it was read.
    let typed: ifru_cli::commands::unlearn::UnlearnReport = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        typed
            .result
            .outcome
            .influence
            .as_ref()
            .map(|f| f.iterations),
        Some(1)
    );
    let report: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    // Through text, as the report was written (to_value would widen its f32 figures).
    let again: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&typed).unwrap()).unwrap();
    assert_eq!(again, report);
    let said = |warnings: &serde_json::Value| {
        warnings
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("stopped at max_iter 1"))
    };
    assert_eq!(report["iterations"], 1);
    assert!(said(&report["warnings"]), "{}", report["warnings"]);
    let log = std::fs::read_to_string(fx.model.join("audit.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert!(
        said(&last["report"]["warnings"]),
        "the audit entry: {}",
        last["report"]
    );
}
