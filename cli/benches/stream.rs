//! Throughput, the pipeline use: a stream of 1,000 small requests — each forgets every
//! training row of one user — through one long-lived unlearner that keeps the device,
//! pipelines, model and graph resident; one user per request, then the same 1,000 users
//! grouped 10 and 100 to a request. For each grouping it prints requests per second, users
//! per second, p50/p99 request latency, and the test and forget AUC after the stream next
//! to a retrain on the same remaining rows (the original's epoch count).
//!
//! Data: seeded synthetic (`SyntheticConfig`), 5,000 users × 1,000 items, 50,000 rows
//! before the 5-core filter and the 60/20/20 split (× `IFRU_BENCH_SCALE` for rows and users;
//! the 1,000 users stay 1,000). Model: LightGCN, 1 layer, d = 32, BCE, the demo's recipe with
//! at most 20 epochs (early stopping on validation AUC, patience 5); the influence update
//! with its defaults except pruning: `--prune-hops 0 --prune-keep 1` (the request's user and
//! its items; with the default one hop, every request reaches most of this small dense graph
//! and the 1,000-request stream alone took over 7 minutes on lavapipe).
//! `ifru bench --stream 1000 --stream-batch B --prune-hops 0` runs the same on a real dataset.
//!
//! Not a criterion bench: a stream changes the model as it goes, so a request cannot be
//! repeated as a sample; the figures are the stream's own latency distribution.
//!
//! `cargo bench --bench stream`; progress every 100 requests goes to stderr.

#[path = "../../benches/common/mod.rs"]
mod common;

use ifru::data::synthetic::{SyntheticConfig, synthetic_dataset_from};
use ifru::eval::RankingOptions;
use ifru::kernels::adam::AdamConfig;
use ifru::model::{LossKind, ModelKind, ModelSpec};
use ifru::train::TrainConfig;
use ifru::unlearn::engine::MethodId;
use ifru::unlearn::influence::{IfruOptions, PruneOptions, Pruning};
use ifru::unlearn::request::ForgetRows;
use ifru_cli::harness::stream::{StreamPlan, run};

const REQUESTS: usize = 1000;

fn main() {
    // `cargo bench -- FILTER` passes arguments; `cargo test --benches` passes `--bench`-less
    // runs: only run when invoked as a bench.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("stream: run with `cargo bench --bench stream`");
        return;
    }
    let gpu = common::open_gpu();
    let cfg = SyntheticConfig {
        n_users: common::scaled(5_000) as u32,
        n_items: 1_000,
        ..SyntheticConfig::with_rows(common::scaled(50_000), 2024)
    };
    let data = synthetic_dataset_from(&cfg, 0.01).expect("synthetic data");
    let spec = ModelSpec::new(ModelKind::Lightgcn, 1, 32, LossKind::Bce).expect("spec");
    let recipe = TrainConfig {
        adam: AdamConfig {
            lr: 2e-3,
            ..AdamConfig::default()
        },
        init_std: 0.01,
        batch: 2048,
        max_epochs: 20,
        patience: 5,
        seed: 2024,
        loss_every: 0,
        ..TrainConfig::default()
    };
    eprintln!(
        "data: {} users, {} items, {} training rows; {REQUESTS} users forgotten",
        data.n_users,
        data.n_items,
        data.train.len()
    );
    println!(
        "| users per request | requests | requests/s | users/s | p50 | p99 | test AUC after stream | test AUC retrain | forget AUC original / after / retrain | retrain s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for group in [1, 10, 100] {
        let plan = StreamPlan {
            spec,
            recipe: recipe.clone(),
            users: REQUESTS,
            group,
            method: MethodId::Ifru,
            ifru: Some(IfruOptions {
                prune: Pruning::Keep(PruneOptions::unbounded(0, 1.0)),
                ..IfruOptions::default_for(&spec)
            }),
            forget_rows: ForgetRows::Genuine,
            seed: 7,
            ranking: RankingOptions::default(),
            valid_users: 0,
            retrain_max_epochs: None,
            share: 1.0,
        };
        let started = std::time::Instant::now();
        let report = run(&gpu, &data, &plan, &mut |step| {
            // "request k of n": one line per hundred requests, and each stage.
            let k: Option<usize> = step
                .strip_prefix("request ")
                .and_then(|r| r.split(' ').next())
                .and_then(|k| k.parse().ok());
            if k.is_none_or(|k| k % 100 == 0) {
                eprintln!(
                    "[{group} users per request] {step} ({:.0} s)",
                    started.elapsed().as_secs_f64()
                );
            }
        })
        .expect("stream");
        let l = &report.latency;
        let auc = |m: &ifru::eval::RequestMetrics| m.metrics.test_auc.unwrap_or(f64::NAN);
        let forget = |m: &ifru::eval::RequestMetrics| m.metrics.forget_auc.unwrap_or(f64::NAN);
        println!(
            "| {group} | {} | {:.2} | {:.1} | {:.3} s | {:.3} s | {:.4} | {:.4} | {:.4} / {:.4} / {:.4} | {:.1} |",
            report.requests.len(),
            l.requests_per_second,
            l.requests_per_second * group as f64,
            l.p50_seconds,
            l.p99_seconds,
            auc(&report.after_stream),
            auc(&report.retrain.metrics),
            forget(&report.original.metrics),
            forget(&report.after_stream),
            forget(&report.retrain.metrics),
            report.retrain.seconds,
        );
    }
}
