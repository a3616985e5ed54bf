//! `ifru train`: a dataset in, a model directory out, trained on the GPU.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use ifru::eval::{Metrics, MetricsPlan, RankingOptions, ValidationScore, evaluate};
use ifru::model::adjacency_for;
use ifru::model::store::{
    AuditLog, AuditRecord, ModelDir, ModelMeta, ModelState, Regularization, Seeds,
};
use ifru::model::{DeviceModel, LossKind, ModelSpec};
use ifru::train::{EpochLog, Progress as TrainProgress, TrainConfig, TrainData, train};
use serde::Serialize;

use super::CliResult;
use super::common::{
    Progress, RawDataOptions, ReportAdapter, TrainingOptions, check_report_path, data_entry,
    fit_model_length, load_training_data, open_gpu, write_report,
};

#[derive(Args)]
pub struct TrainCommand {
    /// Data: an IFRU-protocol folder, a LightGCN folder, or raw data to split.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    raw: RawDataOptions,
    /// Seed of the split of raw data (numpy's legacy shuffle).
    #[arg(long, default_value_t = 1024)]
    split_seed: u64,
    #[command(flatten)]
    training: TrainingOptions,
    /// BPR: users sampled for the final test Recall/NDCG@20 (0: all).
    #[arg(long, default_value_t = 0)]
    eval_users: usize,
    /// The model directory to create.
    #[arg(long)]
    out: PathBuf,
    /// Write a JSON report here.
    #[arg(long)]
    report: Option<PathBuf>,
}

#[derive(Serialize)]
struct TrainReport {
    schema: u32,
    command: &'static str,
    data: PathBuf,
    model_dir: PathBuf,
    spec: ModelSpec,
    settings: TrainConfig,
    seeds: Seeds,
    adapter: ReportAdapter,
    users: u32,
    items: u32,
    train_rows: usize,
    epochs: usize,
    best_epoch: usize,
    best_valid: f64,
    /// Training to early stopping, without the validation passes.
    train_seconds: f64,
    /// The validation passes during training.
    eval_seconds: f64,
    /// The final evaluation below.
    metrics_seconds: f64,
    /// Fitting the model's own step length for small requests (`step_length`).
    calibration_seconds: f64,
    step_length: Option<ifru::unlearn::model_length::ModelLength>,
    metrics: Metrics,
    history: Vec<EpochLog>,
}

pub fn run(cmd: TrainCommand) -> CliResult {
    let spec = cmd.training.spec()?;
    check_report_path(cmd.report.as_deref())?;
    let (ds, source) = load_training_data(&cmd.data, &cmd.raw, Some(cmd.split_seed))?;
    eprintln!(
        "data: {} users, {} items, {} training rows ({} valid, {} test)",
        ds.n_users,
        ds.n_items,
        ds.train.len(),
        ds.valid.len(),
        ds.test.len()
    );
    let gpu = open_gpu()?;
    let config = cmd.training.config();
    let adjacency = adjacency_for(&spec, ds.n_users, ds.n_items, &ds.train)?;
    let data = TrainData {
        n_users: ds.n_users,
        n_items: ds.n_items,
        rows: &ds.train,
        adjacency: adjacency.as_ref(),
    };
    let mut validator = ValidationScore::new(
        spec.loss,
        &ds,
        &ds.train,
        cmd.training.valid_users,
        cmd.training.seed,
    )?;
    let bar = Progress::new(cmd.training.epochs as u64, "epoch");
    let outcome = train(
        &gpu,
        spec,
        &config,
        &data,
        &mut validator,
        &mut |p| match p {
            TrainProgress::Step {
                epoch,
                step,
                steps,
                loss,
            } => bar.message(format!("epoch {epoch} step {step}/{steps} loss {loss:.4}")),
            TrainProgress::Epoch(log) => bar.step(
                log.epoch as u64,
                format!(
                    "epoch {} loss {:.4} valid {:.4} ({:.1} s)",
                    log.epoch, log.loss, log.valid, log.train_seconds
                ),
            ),
        },
    )?;
    bar.finish();

    let start = Instant::now();
    let model = DeviceModel::upload(&gpu, spec, &outcome.params, adjacency.as_ref())?;
    let forward = model.forward(&gpu)?;
    gpu.run("forward", |pass| ifru::gpu::Record::record(&forward, pass))?;
    let flipped: Vec<u32> = ds.flipped_rows().collect();
    let plan = match spec.loss {
        LossKind::Bce => MetricsPlan::Auc {
            forget: (!flipped.is_empty()).then_some(&flipped[..]),
        },
        LossKind::Bpr => MetricsPlan::Ranking(RankingOptions {
            sample_users: (cmd.eval_users > 0).then_some(cmd.eval_users),
            ..RankingOptions::default()
        }),
    };
    let metrics = evaluate(&gpu, model.embeddings(), &ds, &plan)?;
    let metrics_seconds = start.elapsed().as_secs_f64();

    let seeds = Seeds {
        train: cmd.training.seed,
        init: cmd.training.seed,
    };
    let reg = Regularization::per_row(cmd.training.reg, ds.train.len());
    let training = serde_json::to_value(&config)?;
    let mut meta = ModelMeta::new(spec, reg, seeds, training, source, &ds);
    let fit = fit_model_length(&gpu, spec, &config, &ds, &outcome.params)?;
    let calibration_seconds = fit.calibration_seconds;
    fit.write_to(&mut meta);
    let state = ModelState::new(meta, outcome.params.clone(), &ds)?;
    let record = AuditRecord::new("train")
        .with("spec", spec)?
        .with("settings", &config)?
        .with("seeds", seeds)?
        .with("data", data_entry(&state, ds.train.len()))?
        .with("adapter", ReportAdapter::from(gpu.adapter()))?
        .with("epochs", outcome.epochs)?
        .with("train_seconds", outcome.train_seconds)?
        .with("step_length", &state.meta.step_length)?
        .with("calibration_seconds", calibration_seconds)?
        .with("metrics", &metrics)?;
    ModelDir::create_with(&cmd.out, &state, &record, &AuditLog::default())?;
    println!(
        "trained {:?} in {} epochs (best {}), {:.1} s; {}; model: {}",
        spec.kind,
        outcome.epochs,
        outcome.best_epoch,
        outcome.train_seconds,
        serde_json::to_string(&metrics)?,
        cmd.out.display()
    );
    let report = TrainReport {
        schema: 1,
        command: "train",
        data: state.meta.data.path.clone(),
        model_dir: cmd.out.clone(),
        spec,
        settings: config,
        seeds,
        adapter: gpu.adapter().into(),
        users: ds.n_users,
        items: ds.n_items,
        train_rows: ds.train.len(),
        epochs: outcome.epochs,
        best_epoch: outcome.best_epoch,
        best_valid: outcome.best_valid,
        train_seconds: outcome.train_seconds,
        eval_seconds: outcome.valid_seconds,
        metrics_seconds,
        calibration_seconds,
        step_length: state.meta.step_length,
        metrics,
        history: outcome.history,
    };
    write_report(cmd.report.as_deref(), &report)
}
