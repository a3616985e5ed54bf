//! `ifru demo`, reduced (fewer rows, two epochs): it prints the table, and writes a bench
//! report and the plot that parse.

use std::process::Command;

#[test]
fn reduced_demo_writes_report_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_ifru"))
        .args([
            "demo",
            "--rows",
            "20000",
            "--epochs",
            "2",
            "--dim",
            "16",
            "--out",
            out_dir.to_str().unwrap(),
        ])
        .output()
        .expect("run ifru");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let methods = ["original", "retrain", "finetune", "ifru", "ifru_calibrated"];
    // The table lists every method, references first.
    let rows: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("method"))
        .skip(1)
        .take(methods.len())
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(rows, methods, "stdout: {stdout}");
    // The summary in words: one line per method that is not a reference.
    let summary = stdout
        .matches("of the way from the original to retrain")
        .count();
    assert_eq!(summary, 3, "stdout: {stdout}");
    // Progress lines, one per stage (plain lines when stderr is not a terminal).
    assert!(
        stderr.contains("[5/5] ifru_calibrated: applying"),
        "{stderr}"
    );

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["schema"], 1);
    assert_eq!(report["model"], "lightgcn");
    assert_eq!(report["synthetic"]["n_rows"], 20000);
    let train_rows = report["train_rows"].as_u64().unwrap();
    let forget_rows = report["forget_rows"].as_u64().unwrap();
    assert!(forget_rows > 0 && forget_rows * 50 < train_rows);
    for m in methods {
        let fig = &report["methods"][m];
        for key in ["test_auc", "forget_auc", "seconds"] {
            let v = fig[key].as_f64();
            assert!(
                v.is_some_and(|v| v.is_finite() && v >= 0.0),
                "{m}.{key}: {fig}"
            );
        }
    }
    let trace = report["methods"]["ifru"]["residual_trace"]
        .as_array()
        .unwrap();
    assert!(!trace.is_empty());

    let svg = std::fs::read_to_string(out_dir.join("plot.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for text in ["Test AUC", "Forget AUC", "ifru_calibrated", "residual"] {
        assert!(svg.contains(text), "plot.svg lacks {text:?}");
    }
    let png = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(out_dir.join("plot.png")).unwrap(),
    ));
    let info = png.read_info().unwrap().info().clone();
    assert_eq!((info.width, info.height), (1400, 1000));
}

#[test]
fn demo_refuses_bad_settings() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ifru"))
            .arg("demo")
            .args(args)
            .args(["--out", dir.path().to_str().unwrap()])
            .output()
            .expect("run ifru")
    };
    let out = run(&["--dim", "30"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("30"));
    // Implicit data (every row a positive) has no AUC to compare.
    let implicit = dir.path().join("implicit.csv");
    let mut text = String::from("user,item\n");
    for u in 0..40 {
        for i in 0..12 {
            text.push_str(&format!("u{u},i{}\n", (u + i) % 30));
        }
    }
    std::fs::write(&implicit, text).unwrap();
    let out = run(&["--data", implicit.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("implicit.csv") && err.contains("implicit data"),
        "{err}"
    );
    let out = run(&["--data", "/nonexistent/data"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/data"));
}
