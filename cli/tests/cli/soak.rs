//! The soak, small enough for CI: several sequential requests through one resident unlearner,
//! each committed to a model directory. After the first request the buffer pool holds no more
//! than the high-water mark that request reached, no request fails, the audit log has one
//! entry per request, and the directory's live version has every row forgotten.
//! (`ifru bench --soak 100` is the long run, on ml-100k.)

use crate::common;

use common::cli::write_ifru_folder;
use common::gpu;
use ifru::data::{Format, LoadOptions, Loaded, load};
use ifru::eval::RankingOptions;
use ifru::model::store::{DataSource, ModelDir};
use ifru::model::{LossKind, ModelKind, ModelSpec};
use ifru::train::TrainConfig;
use ifru::unlearn::engine::MethodId;
use ifru_cli::harness::soak::{SoakPlan, run};

#[test]
fn sequential_requests_commit_with_flat_memory_and_one_audit_entry_each() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("data");
    write_ifru_folder(&folder);
    let opts = LoadOptions::default();
    let Loaded::Split(data) = load(&folder, Format::Ifru, &opts).unwrap() else {
        panic!("an IFRU folder loads split");
    };
    let source = DataSource::new(&folder, Format::Ifru, &opts, None, &data).unwrap();
    for (kind, layers) in [(ModelKind::Mf, 0), (ModelKind::Lightgcn, 1)] {
        let spec = ModelSpec::new(kind, layers, 8, LossKind::Bce).unwrap();
        let model_dir = tmp.path().join(format!("model-{layers}"));
        let requests = 8;
        let plan = SoakPlan {
            spec,
            recipe: TrainConfig {
                max_epochs: 3,
                seed: 5,
                ..TrainConfig::default()
            },
            requests,
            fraction: 0.02,
            method: MethodId::Ifru,
            ifru: None,
            seed: 11,
            ranking: RankingOptions::default(),
            valid_users: 0,
            retrain_max_epochs: None,
            model_dir: model_dir.clone(),
            source: source.clone(),
        };
        let report = run(gpu(), &data, &plan, &mut |_| {}).unwrap();
        for (k, r) in report.requests.iter().enumerate() {
            eprintln!(
                "{kind:?} request {k}: {} rows, pool held {} high-water {}",
                r.rows,
                r.pool.held_bytes(),
                r.pool.high_water_bytes
            );
        }
        assert_eq!(report.failures, 0, "{:?}", report.requests);
        assert!(report.bars.no_request_failed);
        assert_eq!(report.requests.len(), requests);
        assert_eq!(report.audit_request_entries, requests);
        assert_eq!(
            report.audit_entries,
            requests + 1,
            "train + one per request"
        );
        assert!(report.bars.one_audit_entry_per_request);
        assert!(
            report.pool_most_held_after_later <= report.pool_high_water_after_first,
            "the pool grew: {} bytes held after a later request, high-water {} after the first",
            report.pool_most_held_after_later,
            report.pool_high_water_after_first
        );
        assert!(report.bars.pool_within_first_high_water);

        // The live version is the last request's and has every row forgotten.
        let dir = ModelDir::open(&model_dir).unwrap();
        assert_eq!(
            dir.current_version().name(),
            format!("v{:04}", requests + 1)
        );
        let state = dir.load().unwrap();
        assert_eq!(state.forgotten.len(), report.forgotten_rows);
        assert_eq!(report.forgotten_rows, requests * report.rows_per_request);
        assert!(state.params.is_finite());
        assert_eq!(dir.audit_log().unwrap().len(), requests + 1);

        // A second soak into the same (now full) folder is refused before any work.
        let again = run(gpu(), &data, &plan, &mut |_| {}).unwrap_err();
        assert!(again.to_string().contains("new or empty folder"), "{again}");
    }
}

#[test]
fn ifru_bench_soak_writes_its_report_and_model_directory() {
    use common::cli::{ifru, ok, s, stderr};
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("data");
    write_ifru_folder(&folder);
    let model = tmp.path().join("model");
    let report = tmp.path().join("soak.json");
    let base = [
        "bench",
        "--data",
        &s(&folder),
        "--model",
        "mf",
        "--dim",
        "8",
        "--epochs",
        "2",
    ];
    let missing_dir = ifru(&[&base[..], &["--soak", "3"]].concat());
    assert!(!missing_dir.status.success());
    assert!(
        stderr(&missing_dir).contains("--soak-dir"),
        "{}",
        stderr(&missing_dir)
    );
    let out = ok(&ifru(
        &[
            &base[..],
            &[
                "--soak",
                "3",
                "--soak-fraction",
                "0.02",
                "--soak-dir",
                &s(&model),
                "--report",
                &s(&report),
            ],
        ]
        .concat(),
    ));
    assert!(out.contains("3 requests of 4 rows (0 failed)"), "{out}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let soak = &json["soak"];
    assert_eq!(soak["requests"].as_array().unwrap().len(), 3);
    assert_eq!(soak["audit_request_entries"], 3);
    assert_eq!(soak["bars"]["no_request_failed"], true);
    assert_eq!(
        std::fs::read_to_string(model.join("CURRENT"))
            .unwrap()
            .trim(),
        "v0004"
    );
}
