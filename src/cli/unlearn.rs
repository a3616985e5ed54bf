//! `ifru unlearn`: forget the rows of forget files and commit a new model version.

use std::path::PathBuf;

use clap::Args;
use ifru::eval::{RankingOptions, RequestMetrics, request_metrics};
use ifru::model::ModelSpec;
use ifru::model::loaded::LoadedModel;
use ifru::model::store::ModelDir;
use ifru::unlearn::calibrate::ForgetRows;
use ifru::unlearn::engine::{Method, MethodOutcome, Unlearner};
use ifru::unlearn::request::{RequestCounts, accept};
use serde::Serialize;

use super::CliResult;
use super::common::{IfruArgs, ReportAdapter, open_gpu, write_report};

#[derive(Args)]
pub struct UnlearnCommand {
    /// The model directory.
    #[arg(long)]
    model: PathBuf,
    /// Forget files (CSV `user,item[,label]`); several form one request.
    #[arg(long, required = true)]
    forget: Vec<PathBuf>,
    /// The model's data, when it moved from where `model.json` says.
    #[arg(long)]
    data: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Method::Ifru)]
    method: Method,
    #[command(flatten)]
    ifru: IfruArgs,
    /// What the forgotten rows are (calibrated step); default: `flipped` when they are all
    /// flipped rows of an IFRU-protocol folder, else `genuine`.
    #[arg(long, value_enum)]
    forget_rows: Option<ForgetRows>,
    /// Epochs of `--method finetune`.
    #[arg(long, default_value_t = 2)]
    finetune_epochs: usize,
    /// Apply a request whose lines partly name rows never in the training data.
    #[arg(long)]
    skip_missing: bool,
    /// Write the new model here instead of committing a new version in place.
    #[arg(long)]
    out: Option<PathBuf>,
    /// BPR: users sampled for the ranking metrics (0: all).
    #[arg(long, default_value_t = 0)]
    eval_users: usize,
    /// Write a JSON report here.
    #[arg(long)]
    report: Option<PathBuf>,
}

#[derive(Serialize)]
struct UnlearnReport {
    schema: u32,
    command: &'static str,
    model_dir: PathBuf,
    version: String,
    spec: ModelSpec,
    method: Method,
    adapter: ReportAdapter,
    request: RequestCounts,
    #[serde(flatten)]
    outcome: MethodOutcome,
    #[serde(flatten)]
    metrics: RequestMetrics,
}

pub fn run(cmd: UnlearnCommand) -> CliResult {
    let loaded = LoadedModel::open(&cmd.model, cmd.data.as_deref())?;
    let matched = loaded.match_forget_files(&cmd.forget)?;
    let request = accept(&matched, cmd.skip_missing)?;
    for w in &request.warnings {
        eprintln!("warning: {w}");
    }
    let c = &request.counts;
    eprintln!(
        "request: {} lines; {} matched ({} rows), {} already forgotten, {} duplicate, {} skipped",
        c.lines, c.matched, c.rows, c.already_forgotten, c.duplicate, c.not_in_training
    );
    if request.rows.is_empty() {
        println!(
            "nothing to forget: every row of the request is already forgotten; the model is unchanged"
        );
        return Ok(());
    }
    let gpu = open_gpu()?;
    let mut unlearner = Unlearner::new(&gpu, &loaded)?;
    let ifru = cmd.ifru.options(&loaded.state.meta.spec)?;
    let kind = cmd
        .forget_rows
        .unwrap_or_else(|| ForgetRows::detect(&loaded.data, &request.rows));
    let mut outcome = unlearner.apply(
        &request.file_order,
        cmd.method,
        cmd.finetune_epochs,
        Some(&ifru),
        kind,
    )?;
    outcome.warnings.extend(request.warnings.iter().cloned());
    unlearner.refresh()?;
    let ranking = RankingOptions {
        sample_users: (cmd.eval_users > 0).then_some(cmd.eval_users),
        ..RankingOptions::default()
    };
    let spec = unlearner.spec();
    let metrics = request_metrics(
        &gpu,
        unlearner.model().embeddings(),
        unlearner.data(),
        spec.loss,
        &request.file_order,
        &ranking,
    )?;
    let state = unlearner.state_after(&loaded.state, &request.rows)?;
    let (dir, version) = match &cmd.out {
        Some(out) => {
            let dir = ModelDir::create(out, &state)?;
            let v = dir.current_version();
            (out.clone(), v)
        }
        None => {
            let mut dir = loaded.dir;
            let v = dir.commit(&state)?;
            (cmd.model.clone(), v)
        }
    };
    println!(
        "forgot {} rows by {:?} in {:.3} s; {}; model: {} ({version})",
        request.rows.len(),
        cmd.method,
        outcome.seconds,
        serde_json::to_string(&metrics)?,
        dir.display()
    );
    let report = UnlearnReport {
        schema: 1,
        command: "unlearn",
        model_dir: dir,
        version: version.to_string(),
        spec,
        method: cmd.method,
        adapter: gpu.adapter().into(),
        request: request.counts,
        outcome,
        metrics,
    };
    write_report(cmd.report.as_deref(), &report)
}
