//! `ifru unlearn`: forget the rows of forget files and commit a new model version.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use ifru::eval::{RankingOptions, RequestMetrics, request_metrics};
use ifru::loaded::LoadedModel;
use ifru::model::ModelSpec;
use ifru::model::store::{AuditRecord, DEFAULT_LOCK_TIMEOUT, ModelDir, StoreError};
use ifru::unlearn::engine::{ForgetRequest, Method, MethodId, MethodOutcome, Unlearner};
use ifru::unlearn::request::ForgetRows;
use ifru::unlearn::request::{RequestCounts, accept};
use serde::Serialize;

use super::CliResult;
use super::common::{IfruArgs, ReportAdapter, check_report_path, open_gpu, write_report};

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

#[derive(Serialize)]
struct UnlearnReport {
    schema: u32,
    command: &'static str,
    model_dir: PathBuf,
    version: String,
    spec: ModelSpec,
    method: MethodId,
    adapter: ReportAdapter,
    request: RequestCounts,
    #[serde(flatten)]
    result: MethodResult,
}

/// The method's report fields: what the audit log records of a request too.
#[derive(Serialize)]
struct MethodResult {
    #[serde(flatten)]
    outcome: MethodOutcome,
    #[serde(flatten)]
    metrics: RequestMetrics,
}

pub fn run(cmd: UnlearnCommand) -> CliResult {
    check_report_path(cmd.report.as_deref())?;
    let mut loaded = open_model(&cmd)?;
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
    // Held-out rows the request names leave the data here, so no check reads them as unseen
    // rows; their pairs join the forgotten set with the commit.
    let held_out_pairs = loaded.data.held_out_pairs(&request.held_out);
    loaded.data.without_held_out(&request.held_out);
    if request.rows.is_empty() {
        return commit_held_out_only(&cmd, loaded, &request, &held_out_pairs);
    }
    let gpu = open_gpu()?;
    let mut unlearner = Unlearner::new(&gpu, &loaded)?;
    let ifru = cmd.ifru.options(&loaded.state.meta.spec)?;
    // Detected here rather than by the unlearner: the report records which kind it was.
    let kind = cmd
        .forget_rows
        .unwrap_or_else(|| ForgetRows::detect(&loaded.data, &request.rows));
    let how =
        ForgetRequest::new(Method::from_id(cmd.method, ifru, cmd.finetune_epochs)).rows_kind(kind);
    let outcome = unlearner.forget_with(&request.file_order, &how)?;
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
    let mut state = unlearner.state_after(&loaded.state, &request.rows)?;
    for (user, item) in &held_out_pairs {
        state.forgotten.insert(user, item);
    }
    // Nothing is written unless the result is a valid model (finite, right shapes).
    state.check().map_err(|e| {
        format!(
            "the {:?} update did not give a valid model ({e}); nothing was changed",
            cmd.method
        )
    })?;
    let mut report = UnlearnReport {
        schema: super::common::UNLEARNING_REPORT_SCHEMA,
        command: "unlearn",
        model_dir: cmd.out.clone().unwrap_or_else(|| cmd.model.clone()),
        version: String::new(),
        spec,
        method: cmd.method,
        adapter: gpu.adapter().into(),
        request: request.counts.clone(),
        result: MethodResult { outcome, metrics },
    };
    let (digest, pairs) = loaded
        .state
        .forgotten
        .digest_rows(&loaded.data, &request.rows);
    let mut record = AuditRecord::new("unlearn")
        .with("method", cmd.method)?
        .with(
            "settings",
            serde_json::json!({
                "forget_rows": kind,
                "skip_missing": cmd.skip_missing,
                "held_out_rows": request.held_out.len(),
                "finetune_epochs": (cmd.method == MethodId::Finetune).then_some(cmd.finetune_epochs),
            }),
        )?
        .with(
            "forget",
            serde_json::json!({
                "digest": digest,
                "pairs": pairs,
                "rows": request.rows.len(),
                "scheme": "sha256 over the sorted salted pair hashes of forgotten.json",
            }),
        )?
        .with("request", &report.request)?
        .with("adapter", &report.adapter)?
        .with("report", &report.result)?;
    // The report also says which lines were skipped or repeated; the audit log does not, since
    // those lines name rows in clear (its counts by class say how many).
    report
        .result
        .outcome
        .warnings
        .extend(request.warnings.iter().cloned());
    let version = match &cmd.out {
        Some(out) => {
            record = record.with(
                "source",
                serde_json::json!({
                    "model_dir": loaded.dir.path(),
                    "version": loaded.dir.current_version().name(),
                }),
            )?;
            let history = loaded.dir.audit_log()?;
            ModelDir::create_with(out, &state, &record, &history)?.current_version()
        }
        None => {
            let mut dir = loaded.dir;
            dir.commit_with(&state, &record)?
        }
    };
    report.version = version.to_string();
    if let Some(check) = &report.result.outcome.forgetting_check {
        println!("{}", check.summary());
    }
    println!(
        "forgot {} rows by {:?} in {:.3} s; {}; model: {} ({version})",
        request.rows.len(),
        cmd.method,
        report.result.outcome.seconds,
        serde_json::to_string(&report.result.metrics)?,
        report.model_dir.display()
    );
    write_report(cmd.report.as_deref(), &report).map_err(|e| {
        format!(
            "the request was applied ({version} of {} is live), but the report could not be \
             written: {e}",
            report.model_dir.display()
        )
        .into()
    })
}

/// A request that names held-out rows only: the model needs no update, so the new version
/// holds the same parameters with the pairs added to the forgotten set.
fn commit_held_out_only(
    cmd: &UnlearnCommand,
    loaded: LoadedModel,
    request: &ifru::unlearn::request::AcceptedRequest,
    pairs: &[(String, String)],
) -> CliResult {
    let mut state = loaded.state.clone();
    for (user, item) in pairs {
        state.forgotten.insert(user, item);
    }
    let record = AuditRecord::new("unlearn")
        .with("method", MethodId::None)?
        .with("request", &request.counts)?
        .with(
            "settings",
            serde_json::json!({ "held_out_rows": request.held_out.len() }),
        )?;
    let version = match &cmd.out {
        Some(out) => {
            let history = loaded.dir.audit_log()?;
            ModelDir::create_with(out, &state, &record, &history)?.current_version()
        }
        None => {
            let mut dir = loaded.dir;
            dir.commit_with(&state, &record)?
        }
    };
    let model_dir = cmd.out.as_ref().unwrap_or(&cmd.model);
    println!(
        "forgot {} held-out row(s) (no model update needed); model: {} ({version})",
        request.held_out.len(),
        model_dir.display()
    );
    let report = serde_json::json!({
        "schema": super::common::UNLEARNING_REPORT_SCHEMA,
        "command": "unlearn",
        "model_dir": model_dir,
        "version": version.to_string(),
        "method": MethodId::None,
        "request": request.counts,
        "held_out_rows": request.held_out.len(),
    });
    write_report(cmd.report.as_deref(), &report)
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
