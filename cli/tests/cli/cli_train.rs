//! `ifru split`, `ifru train` and `ifru eval` end to end on real data (a few epochs), and
//! their errors on bad input.

use crate::common;

use common::cli::{ifru, ok};
use std::path::Path;

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("report")).expect("JSON")
}

#[test]
fn train_then_eval_gives_the_same_metrics() {
    let data = common::require_data!().join("ml-100k-ifru/0.02");
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    let (train_json, eval_json) = (dir.path().join("train.json"), dir.path().join("eval.json"));
    let s = |p: &Path| p.to_str().unwrap().to_string();
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
        "--report",
        &s(&train_json),
    ]));
    let t = json(&train_json);
    assert_eq!(t["schema"], 1);
    assert_eq!(t["epochs"], 3);
    assert!(t["train_seconds"].as_f64().unwrap() > 0.0);
    assert!(t["adapter"]["name"].as_str().is_some());
    let test_auc = t["metrics"]["test_auc"].as_f64().unwrap();
    assert!(
        test_auc > 0.6,
        "three epochs at lr 0.01 learn something: {test_auc}"
    );
    assert!(
        t["metrics"]["forget_auc"].as_f64().is_some(),
        "an IFRU folder has a forget set"
    );
    assert!(model.join("CURRENT").exists());
    // The model's own step length for small requests, fitted at train time and stored.
    let own = &t["step_length"];
    assert!(own["t"].as_f64().unwrap() > 0.0, "{t}");
    assert!(t["calibration_seconds"].as_f64().unwrap() > 0.0, "{t}");
    let version = std::fs::read_to_string(model.join("CURRENT")).unwrap();
    let meta = json(&model.join(version.trim()).join("model.json"));
    assert_eq!(&meta["step_length"], own);

    ok(&ifru(&[
        "eval",
        "--model",
        &s(&model),
        "--report",
        &s(&eval_json),
    ]));
    let e = json(&eval_json);
    assert_eq!(
        e["metrics"], t["metrics"],
        "the stored model scores as trained"
    );
    assert_eq!(e["version"], "v0001");

    // Three genuine rows: too few to fit a length; the model's own is used and said.
    let normal = std::fs::read_to_string(data.join("train_normal.csv")).unwrap();
    let small: Vec<&str> = normal.lines().take(4).collect();
    let forget = dir.path().join("small.csv");
    std::fs::write(&forget, small.join("\n") + "\n").unwrap();
    let small_json = dir.path().join("small.json");
    ok(&ifru(&[
        "unlearn",
        "--model",
        &s(&model),
        "--forget",
        &s(&forget),
        "--report",
        &s(&small_json),
    ]));
    let u = json(&small_json);
    assert_eq!(u["step_length"]["source"], "model_length", "{u}");
    assert_eq!(u["step_length"]["t"], own["t"], "{u}");

    // Training into an existing model directory is refused.
    let again = ifru(&[
        "train",
        "--data",
        &s(&data),
        "--model",
        "mf",
        "--dim",
        "16",
        "--epochs",
        "1",
        "--out",
        &s(&model),
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a model"));
}

#[test]
fn raw_data_is_split_in_memory_and_recorded() {
    let data = common::require_data!().join("ml-100k/u.data");
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    ok(&ifru(&[
        "train",
        "--data",
        &s(&data),
        "--model",
        "lightgcn",
        "--layers",
        "1",
        "--dim",
        "8",
        "--epochs",
        "1",
        "--ratio",
        "0.01",
        "--out",
        &s(&model),
    ]));
    let version = std::fs::read_to_string(model.join("CURRENT")).unwrap();
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(model.join(version.trim()).join("model.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(meta["data"]["format"], "movielens");
    assert!(meta["data"]["split"]["kcore"].as_u64() == Some(5), "{meta}");
    // The model reloads its data through the recorded recipe.
    ok(&ifru(&["eval", "--model", &s(&model)]));
}

#[test]
fn bad_arguments_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let o = out.to_str().unwrap();
    let missing = ifru(&[
        "train",
        "--data",
        "/nonexistent/data",
        "--model",
        "mf",
        "--out",
        o,
    ]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/data"));

    let data = common::require_data!().join("ml-100k-ifru/0.02");
    let d = data.to_str().unwrap();
    let bad_dim = ifru(&[
        "train", "--data", d, "--model", "mf", "--dim", "6", "--out", o,
    ]);
    assert!(!bad_dim.status.success());
    assert!(String::from_utf8_lossy(&bad_dim.stderr).contains("embedding size 6"));
    assert!(!out.exists(), "nothing written on a refused request");

    let no_model = ifru(&["eval", "--model", o]);
    assert!(!no_model.status.success());
}
