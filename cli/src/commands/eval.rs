//! `ifru eval`: the metrics of a model directory's live version, on the rows and graph it
//! was left with.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use ifru::eval::{Metrics, MetricsPlan, RankingOptions, evaluate};
use ifru::kernels::Storage;
use ifru::loaded::LoadedModel;
use ifru::model::{LossKind, ModelSpec};
use ifru::serve::ServedEmbeddings;
use serde::Serialize;

use super::CliResult;
use super::common::{ReportAdapter, open_gpu, write_report};

#[derive(Args)]
pub struct EvalCommand {
    /// The model directory.
    #[arg(long)]
    model: PathBuf,
    /// The model's data, when it moved from where `model.json` says.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Forget files whose rows the forget metrics are computed over (default: an IFRU
    /// folder's flipped rows).
    #[arg(long)]
    forget: Vec<PathBuf>,
    /// BPR: users sampled for Recall/NDCG@20 (0: all).
    #[arg(long, default_value_t = 0)]
    eval_users: usize,
    /// Write a JSON report here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Storage of the final embeddings while scoring: `f32`, or `f16` (as `ifru recommend
    /// --storage f16` serves them: f16 tables, f32 sums).
    #[arg(long, value_enum, default_value = "f32")]
    storage: Storage,
}

#[derive(Serialize)]
struct EvalReport {
    schema: u32,
    command: &'static str,
    model_dir: PathBuf,
    version: String,
    spec: ModelSpec,
    storage: Storage,
    adapter: ReportAdapter,
    model_rows: usize,
    forgotten_pairs: usize,
    forget_rows: usize,
    eval_seconds: f64,
    metrics: Metrics,
}

pub fn run(cmd: EvalCommand) -> CliResult {
    let loaded = LoadedModel::open(&cmd.model, cmd.data.as_deref())?;
    let spec = loaded.state.meta.spec;
    let forget: Vec<u32> = if cmd.forget.is_empty() {
        loaded.data.flipped_rows().collect()
    } else {
        let request = loaded.match_forget_files(&cmd.forget)?;
        let s = &request.summary;
        eprintln!(
            "forget lines: {} matched, {} already forgotten, {} never in training, {} duplicate, {} label mismatch",
            s.matched, s.already_forgotten, s.not_in_training, s.duplicate, s.label_mismatch
        );
        request.named_rows()
    };
    let gpu = open_gpu()?;
    let start = Instant::now();
    let served = ServedEmbeddings::compute(&gpu, &loaded, cmd.storage)?;
    let plan = match spec.loss {
        LossKind::Bce => MetricsPlan::Auc {
            forget: (!forget.is_empty()).then_some(&forget[..]),
        },
        LossKind::Bpr => MetricsPlan::Ranking(RankingOptions {
            sample_users: (cmd.eval_users > 0).then_some(cmd.eval_users),
            ..RankingOptions::default()
        }),
    };
    let metrics = evaluate(&gpu, served.table(), &loaded.data, &plan)?;
    let eval_seconds = start.elapsed().as_secs_f64();
    println!("{}", serde_json::to_string(&metrics)?);
    let report = EvalReport {
        schema: 1,
        command: "eval",
        model_dir: cmd.model.clone(),
        version: loaded.dir.current_version().to_string(),
        spec,
        storage: cmd.storage,
        adapter: gpu.adapter().into(),
        model_rows: loaded.rows.len(),
        forgotten_pairs: loaded.state.forgotten.len(),
        forget_rows: forget.len(),
        eval_seconds,
        metrics,
    };
    write_report(cmd.report.as_deref(), &report)
}
