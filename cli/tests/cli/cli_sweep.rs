//! `ifru bench --sweep`: scaling points on synthetic data, with measured and estimated
//! retrains told apart, and the two scaling plots.

use std::process::Command;

#[test]
fn sweep_reports_every_point_and_draws_both_plots() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("sweep.json");
    let plot = dir.path().join("scaling");
    let out = Command::new(env!("CARGO_BIN_EXE_ifru"))
        .args([
            "bench",
            "--sweep",
            "--model",
            "mf",
            "--dim",
            "8",
            "--epochs",
            "2",
            "--sweep-rows",
            "4000,16000",
            "--sweep-forget-rows",
            "40",
            "--sweep-base-rows",
            "8000",
            "--sweep-forget",
            "0.01,0.04",
            "--sweep-retrain-max-rows",
            "5000",
            "--report",
            report.to_str().unwrap(),
            "--plot",
            plot.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let graph = r["sweep"]["by_graph"].as_array().unwrap();
    let forget = r["sweep"]["by_forget"].as_array().unwrap();
    assert_eq!((graph.len(), forget.len()), (2, 2));
    // The graph grows, the forget set stays (about) the same size.
    assert!(graph[1]["train_rows"].as_u64() > graph[0]["train_rows"].as_u64());
    assert_eq!(graph[0]["forget_rows"], graph[1]["forget_rows"]);
    // Small points measure their retrain; the large one stands in the original's time.
    assert_eq!(graph[0]["retrain_estimated"], false);
    assert_eq!(graph[1]["retrain_estimated"], true);
    assert!(forget[1]["forget_rows"].as_u64() > forget[0]["forget_rows"].as_u64());
    for p in graph.iter().chain(forget) {
        let f = |k: &str| p[k].as_f64().unwrap_or_else(|| panic!("{k} in {p}"));
        assert!(f("ifru_seconds") > 0.0, "{p}");
        assert!(p["kept_nodes"].as_u64().unwrap() > 0, "{p}");
        // The request against one epoch of the original's training on the same data.
        let epoch = f("original_seconds") / f("original_epochs");
        assert!((f("epoch_seconds") - epoch).abs() <= 1e-9 * epoch, "{p}");
        assert!((f("ifru_epochs") - f("ifru_seconds") / epoch).abs() <= 1e-9 * f("ifru_epochs"));
        // The device pool held at least the model's θ (users + items) × d floats.
        let nodes = f("n_users") + f("n_items");
        assert!(f("device_bytes_per_node") >= 8.0 * 4.0, "{p}");
        assert!((f("device_bytes_per_node") * nodes - f("device_high_water_bytes")).abs() <= 1.0);
    }
    for name in [
        "scaling-graph.svg",
        "scaling-graph.png",
        "scaling-forget.svg",
        "scaling-forget.png",
    ] {
        assert!(dir.path().join(name).is_file(), "{name}");
    }
}
