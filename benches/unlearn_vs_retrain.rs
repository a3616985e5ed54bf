//! End to end: the influence update (`ifru`, default settings) against retraining from
//! scratch, on seeded synthetic data of three sizes (20,000, 50,000 and 100,000 rows before
//! the 5-core filter and the 60/20/20 split, × `IFRU_BENCH_SCALE`), forgetting the 1% of
//! training rows whose labels were flipped. LightGCN, 1 layer, d = 32, BCE; the recipe is the
//! demo's (Adam lr 2e-3, batch 2048) with a fixed 20 epochs, no early stopping.
//!
//! Per size: the original is trained once; the retrain (same recipe and epoch count, on the
//! remaining rows) is measured **once**; each criterion sample is one unlearning request on
//! a fresh resident unlearner (its set-up — upload, graph, pipelines — is not timed, as in
//! `ifru bench`: the request's `seconds` run from receiving the rows to updated parameters
//! on the device). It prints the retrain ÷ unlearn ratio and the forget AUC of both.
//!
//! `cargo bench --bench unlearn_vs_retrain` (about 3 minutes on lavapipe); larger:
//! `IFRU_BENCH_SCALE=10 cargo bench --bench unlearn_vs_retrain`.

mod common;

use std::time::Duration;

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use ifru::data::Dataset;
use ifru::data::synthetic::synthetic_dataset;
use ifru::eval::{RankingOptions, request_metrics};
use ifru::gpu::{Gpu, Record};
use ifru::kernels::adam::AdamConfig;
use ifru::model::adjacency_for;
use ifru::model::{DeviceModel, LossKind, ModelKind, ModelSpec, Params};
use ifru::train::{LastEpoch, TrainConfig, TrainData, train};
use ifru::unlearn::Unlearner;

const EPOCHS: usize = 20;

fn recipe() -> TrainConfig {
    TrainConfig {
        adam: AdamConfig {
            lr: 2e-3,
            ..AdamConfig::default()
        },
        init_std: 0.01,
        batch: 2048,
        max_epochs: EPOCHS,
        patience: EPOCHS + 1,
        loss_every: 0,
        ..TrainConfig::default()
    }
}

/// Trains on `rows` for the fixed epoch count; returns the parameters and the training
/// seconds (measured after the device finished).
fn train_on(
    gpu: &Gpu,
    spec: ModelSpec,
    data: &Dataset,
    rows: &ifru::data::Interactions,
) -> (Params, f64) {
    let adjacency = adjacency_for(&spec, data.n_users, data.n_items, rows).expect("graph");
    let out = train(
        gpu,
        spec,
        &recipe(),
        &TrainData {
            n_users: data.n_users,
            n_items: data.n_items,
            rows,
            adjacency: adjacency.as_ref(),
        },
        &mut LastEpoch(0),
        &mut |_| {},
    )
    .expect("training");
    (out.params, out.train_seconds)
}

/// Forget AUC of `params` predicting over the graph of `rows`.
fn forget_auc(
    gpu: &Gpu,
    spec: ModelSpec,
    data: &Dataset,
    params: &Params,
    rows: &ifru::data::Interactions,
    forget: &[u32],
) -> f64 {
    let adjacency = adjacency_for(&spec, data.n_users, data.n_items, rows).expect("graph");
    let model = DeviceModel::upload(gpu, spec, params, adjacency.as_ref()).expect("upload");
    let forward = model.forward(gpu).expect("forward");
    gpu.run("forward", |pass| forward.record(pass))
        .expect("forward run");
    let m = request_metrics(
        gpu,
        model.embeddings(),
        data,
        spec.loss,
        forget,
        &RankingOptions::default(),
    )
    .expect("metrics");
    m.metrics.forget_auc.unwrap_or(f64::NAN)
}

fn bench_size(c: &mut Criterion, gpu: &Gpu, base_rows: usize) {
    let spec = ModelSpec::new(ModelKind::Lightgcn, 1, 32, LossKind::Bce).expect("spec");
    let n_rows = common::scaled(base_rows);
    let data = synthetic_dataset(n_rows, 2023, 0.01).expect("synthetic data");
    let forget: Vec<u32> = data.flipped_rows().collect();
    let (original, original_s) = train_on(gpu, spec, &data, &data.train);
    let keep: Vec<u32> = (0..data.train.len() as u32)
        .filter(|r| !data.flipped_rows().contains(r))
        .collect();
    let remaining = data.train.select(&keep);
    let (retrained, retrain_s) = train_on(gpu, spec, &data, &remaining);
    eprintln!(
        "size {n_rows}: {} training rows, forgetting {}; original {original_s:.2} s, retrain {retrain_s:.2} s ({EPOCHS} epochs each)",
        data.train.len(),
        forget.len()
    );

    let mut unlearn_seconds = Vec::new();
    let mut last_params = None;
    let mut group = c.benchmark_group(format!("unlearn_vs_retrain/{n_rows}_rows"));
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    group.bench_function("ifru_request", |b| {
        b.iter_custom(|iters| {
            let mut total = 0.0;
            for _ in 0..iters {
                let mut unlearner = Unlearner::from_parts(
                    gpu,
                    spec,
                    recipe(),
                    data.clone(),
                    &original,
                    vec![false; data.train.len()],
                )
                .expect("unlearner");
                gpu.wait("setup").expect("setup");
                let outcome = unlearner.forget(&forget).expect("unlearning request");
                total += outcome.seconds;
                unlearn_seconds.push(outcome.seconds);
                last_params = Some(unlearner.params().expect("parameters"));
            }
            Duration::from_secs_f64(total)
        })
    });
    group.finish();

    let mean = unlearn_seconds.iter().sum::<f64>() / unlearn_seconds.len().max(1) as f64;
    let auc = |p: &Params, rows| forget_auc(gpu, spec, &data, p, rows, &forget);
    let unlearned = last_params.expect("at least one request ran");
    eprintln!(
        "summary: {n_rows} rows: ifru {:.3} s (mean of {}), retrain {retrain_s:.2} s, retrain/ifru {:.1}x; \
         forget AUC original {:.4}, ifru {:.4}, retrain {:.4}",
        mean,
        unlearn_seconds.len(),
        retrain_s / mean,
        auc(&original, &data.train),
        auc(&unlearned, &remaining),
        auc(&retrained, &remaining),
    );
}

fn unlearn_vs_retrain(c: &mut Criterion) {
    let gpu = common::open_gpu();
    for rows in [20_000, 50_000, 100_000] {
        bench_size(c, &gpu, rows);
    }
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = unlearn_vs_retrain
}
criterion_main!(benches);
