//! `ifru unlearn`: forget the rows of forget files and commit a new model version.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use ifru::eval::RankingOptions;
use ifru::gpu::Gpu;
use ifru::loaded::LoadedModel;
use ifru::model::ModelSpec;
use ifru::model::store::{DEFAULT_LOCK_TIMEOUT, StoreError};
use ifru::unlearn::commit::{Destination, MethodResult, forget_and_commit};
use ifru::unlearn::engine::{ForgetRequest, Method, MethodId};
use ifru::unlearn::request::ForgetRows;
use ifru::unlearn::request::{RequestCounts, accept};
use serde::{Deserialize, Serialize};

use super::CliResult;
use super::common::{
    IfruArgs, ReportAdapter, UNLEARNING_REPORT_SCHEMA, check_report_path, open_gpu, write_report,
};

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
    #[arg(long, value_enum, default_value_t = MethodId::Ifru)]
    method: MethodId,
    #[command(flatten)]
    ifru: IfruArgs,
    /// What the forgotten rows are (the `auto` damping and the calibrated step); default:
    /// `flipped` when they are all flipped rows of an IFRU-protocol folder, else `genuine`.
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
    /// Seconds to wait for another process writing the same model to finish.
    #[arg(long, default_value_t = DEFAULT_LOCK_TIMEOUT.as_secs_f64())]
    lock_timeout: f64,
    /// BPR: users sampled for the ranking metrics (0: all).
    #[arg(long, default_value_t = 0)]
    eval_users: usize,
    /// Write a JSON report here.
    #[arg(long)]
    report: Option<PathBuf>,
}

/// The report of `ifru unlearn --report` (schema [`UNLEARNING_REPORT_SCHEMA`]) for a request
/// that updated the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnlearnReport {
    pub schema: u32,
    pub command: String,
    pub model_dir: PathBuf,
    pub version: String,
    pub spec: ModelSpec,
    pub method: MethodId,
    pub adapter: ReportAdapter,
    pub request: RequestCounts,
    #[serde(flatten)]
    pub result: MethodResult,
}

pub fn run(cmd: UnlearnCommand) -> CliResult {
    run_on(cmd, None)
}

/// [`run`] on a device the caller keeps open (a resident unlearner serving a stream of
/// requests), or on one opened for the request when `gpu` is `None`.
pub fn run_on(cmd: UnlearnCommand, gpu: Option<&Gpu>) -> CliResult {
    check_report_path(cmd.report.as_deref())?;
    let loaded = open_model(&cmd)?;
    let matched = loaded.match_forget_files(&cmd.forget)?;
    let request = accept(&matched, cmd.skip_missing)?;
    for w in &request.warnings {
        eprintln!("warning: {w}");
    }
    let c = &request.counts;
    eprintln!(
        "request: {} lines; {} matched ({} rows), {} held out, {} already forgotten, {} duplicate, \
         {} skipped",
        c.lines, c.matched, c.rows, c.held_out, c.already_forgotten, c.duplicate, c.not_in_training
    );
    if request.rows.is_empty() && request.held_out.is_empty() {
        println!(
            "nothing to forget: of {} lines, {} name rows already forgotten and {} were skipped; \
             the model is unchanged",
            c.lines, c.already_forgotten, c.not_in_training
        );
        return Ok(());
    }
    let opened;
    let gpu = match gpu {
        Some(gpu) => gpu,
        None => {
            opened = open_gpu()?;
            &opened
        }
    };
    let ifru = cmd.ifru.options(&loaded.state.meta.spec)?;
    let how = ForgetRequest {
        method: Method::from_id(cmd.method, ifru, cmd.finetune_epochs),
        rows_kind: cmd.forget_rows,
    };
    let ranking = RankingOptions {
        sample_users: (cmd.eval_users > 0).then_some(cmd.eval_users),
        ..RankingOptions::default()
    };
    let destination = match &cmd.out {
        Some(out) => Destination::NewDirectory(out),
        None => Destination::InPlace,
    };
    let mut settings = serde_json::Map::new();
    settings.insert("skip_missing".into(), cmd.skip_missing.into());
    let spec = loaded.state.meta.spec;
    let committed =
        forget_and_commit(gpu, loaded, &request, &how, &ranking, destination, settings)?;
    let version = committed.version;
    let model_dir = committed.model_dir;
    let Some(mut result) = committed.result else {
        println!(
            "forgot {} held-out row(s) (no model update needed); model: {} ({version})",
            request.held_out.len(),
            model_dir.display()
        );
        let report = serde_json::json!({
            "schema": UNLEARNING_REPORT_SCHEMA,
            "command": "unlearn",
            "model_dir": model_dir,
            "version": version.to_string(),
            "method": MethodId::None,
            "request": request.counts,
            "held_out_rows": request.held_out.len(),
        });
        return write_report(cmd.report.as_deref(), &report);
    };
    // The report also says which lines were skipped or repeated; the audit log does not, since
    // those lines name rows in clear (its counts by class say how many).
    result
        .outcome
        .warnings
        .extend(request.warnings.iter().cloned());
    if let Some(check) = &result.outcome.forgetting_check {
        println!("{}", check.summary());
    }
    println!(
        "forgot {} rows by {:?} in {:.3} s; {}; model: {} ({version})",
        request.rows.len(),
        cmd.method,
        result.outcome.seconds,
        serde_json::to_string(&result.metrics)?,
        model_dir.display()
    );
    let report = UnlearnReport {
        schema: UNLEARNING_REPORT_SCHEMA,
        command: "unlearn".into(),
        model_dir: model_dir.clone(),
        version: version.to_string(),
        spec,
        method: cmd.method,
        adapter: gpu.adapter().into(),
        request: request.counts.clone(),
        result,
    };
    write_report(cmd.report.as_deref(), &report).map_err(|e| {
        format!(
            "the request was applied ({version} of {} is live), but the report could not be \
             written: {e}",
            model_dir.display()
        )
        .into()
    })
}

/// Opens the model: for writing (its lock held until the commit) when the new version goes
/// into it, for reading when `--out` writes elsewhere. Says so when it has to wait.
fn open_model(cmd: &UnlearnCommand) -> Result<LoadedModel, Box<dyn std::error::Error>> {
    if cmd.out.is_some() {
        return Ok(LoadedModel::open(&cmd.model, cmd.data.as_deref())?);
    }
    let timeout = Duration::try_from_secs_f64(cmd.lock_timeout).map_err(|_| {
        format!(
            "--lock-timeout {}: expected a number of seconds ≥ 0",
            cmd.lock_timeout
        )
    })?;
    let open = |t| LoadedModel::open_for_write(&cmd.model, cmd.data.as_deref(), t);
    match open(Duration::ZERO) {
        Err(ifru::Error::Store(StoreError::Locked { .. })) if !timeout.is_zero() => {
            eprintln!(
                "waiting up to {:.0} s for another process writing {} to finish",
                timeout.as_secs_f64(),
                cmd.model.display()
            );
            match open(timeout) {
                Err(e @ ifru::Error::Store(StoreError::Locked { .. })) => {
                    Err(format!("{e} (--lock-timeout sets how long to wait)").into())
                }
                other => Ok(other?),
            }
        }
        other => Ok(other?),
    }
}
