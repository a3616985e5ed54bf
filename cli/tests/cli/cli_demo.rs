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
    let methods = [
        "original",
        "retrain",
        "finetune",
        "ifru",
        "ifru_calibrated",
        "ifru_fixed",
    ];
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
    assert_eq!(summary, 4, "stdout: {stdout}");
    // Progress lines, one per stage (plain lines when stderr is not a terminal).
    assert!(
        stderr.contains("[6/6] ifru_calibrated: applying"),
        "{stderr}"
    );

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["schema"], 2);
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
    // Every influence method reports its forgetting check; the default its fitted length.
    for m in ["ifru", "ifru_fixed", "ifru_calibrated"] {
        let check = &report["methods"][m]["forgetting_check"];
        assert_eq!(check["statistic"], "forget_auc", "{m}: {check}");
        assert!(check["passed"].is_boolean(), "{m}: {check}");
    }
    assert_eq!(report["methods"]["ifru"]["step_length"]["source"], "fitted");
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

/// `--keep-model`: the original and each method's model become model directories that
/// `ifru eval` and `ifru recommend` open, and they are the models the report measured.
#[test]
fn demo_keeps_models_for_the_other_commands() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("demo");
    let ifru = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ifru"))
            .args(args)
            .output()
            .expect("run ifru")
    };
    let demo = [
        "demo",
        "--rows",
        "20000",
        "--epochs",
        "2",
        "--dim",
        "16",
        "--methods",
        "ifru",
        "--keep-model",
        "--out",
        out_dir.to_str().unwrap(),
    ];
    let out = ifru(&demo);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).unwrap()).unwrap();
    for name in ["original", "ifru"] {
        let model = out_dir.join("models").join(name);
        assert!(
            model.join("CURRENT").exists(),
            "{} is not a model",
            model.display()
        );
        let eval = ifru(&["eval", "--model", model.to_str().unwrap()]);
        assert!(
            eval.status.success(),
            "eval {name}: {}",
            String::from_utf8_lossy(&eval.stderr)
        );
        let metrics: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
        // The same parameters on the same rows: the AUCs agree with the report's up to the
        // f32 rounding of a graph rebuilt from the remaining rows (the demo updated it in
        // place), far below the gap between the original and the unlearned model.
        for key in ["test_auc", "forget_auc"] {
            let (got, want) = (
                metrics[key].as_f64().unwrap(),
                report["methods"][name][key].as_f64().unwrap(),
            );
            assert!(
                (got - want).abs() < 1e-4,
                "{name} {key}: eval {got}, demo {want}"
            );
        }
    }
    // The unlearned model records its forgotten rows.
    let log = std::fs::read_to_string(out_dir.join("models/ifru/audit.jsonl")).unwrap();
    assert!(
        log.lines().count() >= 2 && log.contains("forgotten_rows"),
        "{log}"
    );
    // The demo names a user to try; recommend lists k items for it.
    let user = stdout
        .split("--user ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .expect("a user to try")
        .trim()
        .to_string();
    let model = out_dir.join("models/ifru");
    let rec = ifru(&[
        "recommend",
        "--model",
        model.to_str().unwrap(),
        "--user",
        &user,
        "--k",
        "5",
    ]);
    assert!(
        rec.status.success(),
        "{}",
        String::from_utf8_lossy(&rec.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&rec.stdout).lines().count(), 6);
    // A second run into the same folder refuses to overwrite the models.
    let again = ifru(&demo);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}
