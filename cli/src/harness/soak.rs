//! Soak: many small requests through one resident unlearner, each committed to a model
//! directory with its audit entry, as a deployment would run them; then one retrain on the
//! rows that remain.
//!
//! What it checks (docs/BENCHMARKS.md, "Soak"): no request fails; the audit log holds one entry per
//! request; the device memory the buffer pool holds between requests stays within the
//! high-water mark the first request reached (a long-lived unlearner must not grow); and at
//! the end the forget-gap error over every forgotten row against the retrain, with the test
//! AUC against the original's.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use ifru::data::Dataset;
use ifru::data::rng::Rng;
use ifru::eval::{RankingOptions, RequestMetrics, request_metrics};
use ifru::gpu::{Gpu, PoolStats};
use ifru::model::ModelSpec;
use ifru::model::store::{
    AuditLog, AuditRecord, DataSource, ModelDir, ModelMeta, ModelState, Regularization, Seeds,
};
use ifru::train::TrainConfig;
use ifru::{Error, Result};

use crate::harness::stream::{
    Latency, Reference, gap_error, original_reference, retrain_reference,
};
use ifru::unlearn::engine::{ForgetRequest, Method, MethodId, MethodOutcome, Unlearner};
use ifru::unlearn::influence::IfruOptions;
use ifru::unlearn::request::ForgetRows;

/// The bar of the forget-gap error.
pub const GAP_ERROR_BAR: f64 = 0.25;
/// How far the test AUC may fall below the original's .
pub const TEST_AUC_SLACK: f64 = 0.002;

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakPlan {
    pub spec: ModelSpec,
    pub recipe: TrainConfig,
    /// Number of requests.
    pub requests: usize,
    /// Each request's size as a fraction of the original training rows (at least one row).
    pub fraction: f64,
    pub method: MethodId,
    pub ifru: Option<IfruOptions>,
    /// Seed of the choice of rows.
    pub seed: u64,
    pub ranking: RankingOptions,
    /// BPR: users sampled for the validation recall of the original's training.
    pub valid_users: usize,
    /// Caps the reference retrain's epochs (it otherwise runs the original's epoch count).
    pub retrain_max_epochs: Option<usize>,
    /// A new (missing or empty) folder: the original is written there, and each request
    /// commits a version to it.
    pub model_dir: PathBuf,
    /// Where the data came from, recorded in the model directory.
    pub source: DataSource,
}

/// One request's figures.
#[derive(Debug, Clone, Serialize)]
pub struct SoakRequest {
    pub rows: usize,
    pub seconds: f64,
    /// The version committed (`None` when the request failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iterations: Option<usize>,
    /// The buffer pool after the request and its commit.
    pub pool: PoolStats,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The pass/fail judgement of each bar.
#[derive(Debug, Clone, Serialize)]
pub struct SoakBars {
    pub no_request_failed: bool,
    pub one_audit_entry_per_request: bool,
    /// Every request after the first leaves the pool holding no more than the high-water
    /// mark the first request reached.
    pub pool_within_first_high_water: bool,
    /// `forget_gap_error ≤ 0.25` (false when the gap could not be judged).
    pub forget_gap: bool,
    /// Test AUC ≥ the original's − 0.002 (true for models without a test AUC).
    pub test_auc: bool,
}

/// The soak's report. Metrics are over every row the soak forgot.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    pub method: MethodId,
    pub rows_per_request: usize,
    pub requests: Vec<SoakRequest>,
    pub failures: usize,
    pub latency: Latency,
    pub forgotten_rows: usize,
    /// Entries of the model directory's audit log written by the requests (`unlearn`), and
    /// in all (with the original's `train` entry).
    pub audit_request_entries: usize,
    pub audit_entries: usize,
    pub model_dir: PathBuf,
    /// The pool's high-water mark after the first request, and the most it held after any
    /// later one.
    pub pool_high_water_after_first: u64,
    pub pool_most_held_after_later: u64,
    /// The high-water mark at the end (growth past the first request's shows here).
    pub pool_high_water_at_end: u64,
    pub original: Reference,
    pub after_soak: RequestMetrics,
    pub retrain: Reference,
    pub retrain_capped: bool,
    /// |after − retrain| ÷ |original − retrain| of `forget_auc` (BCE) or `forget_rank` (BPR)
    /// over every forgotten row; `None` when the gap is below 0.02.
    pub forget_gap_error: Option<f64>,
    /// After the soak minus the original.
    pub test_auc_change: Option<f64>,
    pub bars: SoakBars,
    pub setup_seconds: f64,
}

/// The soak's requests: `requests` disjoint sets of `per_request` genuine training rows (not
/// an IFRU folder's flipped rows), drawn at random by `seed`.
pub fn pick_requests(
    data: &Dataset,
    requests: usize,
    per_request: usize,
    seed: u64,
) -> Result<Vec<Vec<u32>>> {
    let flipped = data.flipped_rows();
    let mut genuine: Vec<u32> = (0..data.train.len() as u32)
        .filter(|r| !flipped.contains(r))
        .collect();
    let needed = requests * per_request;
    if genuine.len() < needed {
        return Err(Error::Invalid(format!(
            "{requests} requests of {per_request} rows need {needed} genuine training rows; \
             the data has {}",
            genuine.len()
        )));
    }
    Rng::new(seed).shuffle(&mut genuine);
    Ok(genuine[..needed]
        .chunks(per_request)
        .map(<[u32]>::to_vec)
        .collect())
}

/// The model directory of the original: `dir` created holding `params`, with a `train`
/// entry in its audit log.
fn create_model_dir(
    dir: &Path,
    data: &Dataset,
    plan: &SoakPlan,
    params: &ifru::model::Params,
) -> Result<(ModelDir, ModelState)> {
    let meta = ModelMeta::new(
        plan.spec,
        Regularization::per_row(plan.recipe.reg, data.train.len()),
        Seeds {
            train: plan.recipe.seed,
            init: plan.recipe.seed,
        },
        serde_json::to_value(&plan.recipe)
            .map_err(|e| Error::Invalid(format!("the training recipe: {e}")))?,
        plan.source.clone(),
        data,
    );
    let state = ModelState::new(meta, params.clone(), data)?;
    let record = AuditRecord::new("train")
        .with("spec", plan.spec)?
        .with("settings", &plan.recipe)?
        .with("source", "ifru bench --soak")?;
    let handle = ModelDir::create_with(dir, &state, &record, &AuditLog::default())?;
    Ok((handle, state))
}

/// Trains the original, writes it to the model directory, applies and commits each request
/// through one unlearner, then retrains once on what remains.
pub fn run(
    gpu: &Gpu,
    data: &Dataset,
    plan: &SoakPlan,
    progress: &mut dyn FnMut(&str),
) -> Result<SoakReport> {
    let spec = plan.spec;
    if !(plan.fraction > 0.0 && plan.fraction <= 1.0) {
        return Err(Error::Invalid(format!(
            "a request's fraction of the rows must be in (0, 1], not {}",
            plan.fraction
        )));
    }
    // Refused before the training rather than after it.
    if let Ok(mut entries) = std::fs::read_dir(&plan.model_dir)
        && entries.next().is_some()
    {
        return Err(Error::Invalid(format!(
            "{}: the soak's model directory must be a new or empty folder",
            plan.model_dir.display()
        )));
    }
    let per_request = ((plan.fraction * data.train.len() as f64).round() as usize).max(1);
    let batches = pick_requests(data, plan.requests, per_request, plan.seed)?;
    let forgotten: Vec<u32> = batches.concat();

    progress("original: training");
    let (original, original_ref) = original_reference(
        gpu,
        data,
        spec,
        &plan.recipe,
        plan.valid_users,
        &forgotten,
        &plan.ranking,
    )?;

    let start = Instant::now();
    let (mut dir, mut state) = create_model_dir(&plan.model_dir, data, plan, &original.params)?;
    let mut unlearner = Unlearner::from_parts(
        gpu,
        spec,
        plan.recipe.clone(),
        data.clone(),
        &original.params,
        vec![false; data.train.len()],
    )?;
    gpu.wait("setup")?;
    // The pool's figures measure the requests: the original's training and the setup left
    // buffers and a high-water mark of their own.
    gpu.pool().trim();
    gpu.pool().reset_high_water();
    let setup_seconds = start.elapsed().as_secs_f64();

    let mut requests = Vec::with_capacity(batches.len());
    for (k, rows) in batches.iter().enumerate() {
        progress(&format!("request {} of {}", k + 1, batches.len()));
        let applied = unlearner
            .forget_with(
                rows,
                &ForgetRequest::new(Method::from_id(
                    plan.method,
                    plan.ifru.clone().unwrap_or_default(),
                    0,
                ))
                .rows_kind(ForgetRows::Genuine),
            )
            .and_then(|outcome| {
                let version = commit(&mut dir, &mut state, &unlearner, rows, plan, &outcome)?;
                Ok((outcome, version))
            });
        let pool = gpu.pool().stats();
        requests.push(match applied {
            Ok((outcome, version)) => SoakRequest {
                rows: rows.len(),
                seconds: outcome.seconds,
                version: Some(version),
                iterations: outcome.influence.as_ref().map(|f| f.iterations),
                pool,
                error: None,
                warnings: outcome.warnings,
            },
            Err(e) => SoakRequest {
                rows: rows.len(),
                seconds: f64::NAN,
                version: None,
                iterations: None,
                pool,
                error: Some(e.to_string()),
                warnings: Vec::new(),
            },
        });
    }
    let failures = requests.iter().filter(|r| r.error.is_some()).count();
    unlearner.refresh()?;
    let after_soak = request_metrics(
        gpu,
        unlearner.model().embeddings(),
        data,
        spec.loss,
        &forgotten,
        &plan.ranking,
    )?;
    let log = dir.audit_log()?;
    let audit_request_entries = log
        .entries()
        .iter()
        .filter(|e| e.get("command").and_then(|c| c.as_str()) == Some("unlearn"))
        .count();
    let audit_entries = log.len();
    drop(dir);

    progress("retrain: training");
    let remaining = unlearner.remaining_rows();
    let (retrain, retrain_capped) = retrain_reference(
        gpu,
        data,
        spec,
        &plan.recipe,
        original.epochs,
        plan.retrain_max_epochs,
        &remaining,
        &forgotten,
        &plan.ranking,
    )?;
    let forget_gap_error = gap_error(&original_ref.metrics, &after_soak, &retrain.metrics, &|m| {
        m.forget_rank.or(m.metrics.forget_auc)
    });
    let test_auc_change = match (
        after_soak.metrics.test_auc,
        original_ref.metrics.metrics.test_auc,
    ) {
        (Some(a), Some(o)) => Some(a - o),
        _ => None,
    };
    let first_high_water = requests.first().map_or(0, |r| r.pool.high_water_bytes);
    let most_held_later = requests
        .iter()
        .skip(1)
        .map(|r| r.pool.held_bytes())
        .max()
        .unwrap_or(0);
    let bars = SoakBars {
        no_request_failed: failures == 0,
        one_audit_entry_per_request: audit_request_entries == plan.requests,
        pool_within_first_high_water: most_held_later <= first_high_water,
        forget_gap: forget_gap_error.is_some_and(|e| e <= GAP_ERROR_BAR),
        test_auc: test_auc_change.is_none_or(|c| c >= -TEST_AUC_SLACK),
    };
    let seconds: Vec<f64> = requests
        .iter()
        .filter(|r| r.error.is_none())
        .map(|r| r.seconds)
        .collect();
    Ok(SoakReport {
        method: plan.method,
        rows_per_request: per_request,
        latency: Latency::of(&seconds),
        failures,
        forgotten_rows: forgotten.len(),
        audit_request_entries,
        audit_entries,
        model_dir: plan.model_dir.clone(),
        pool_high_water_after_first: first_high_water,
        pool_most_held_after_later: most_held_later,
        pool_high_water_at_end: gpu.pool().stats().high_water_bytes,
        requests,
        original: original_ref,
        after_soak,
        retrain,
        retrain_capped,
        forget_gap_error,
        test_auc_change,
        bars,
        setup_seconds,
    })
}

/// Commits the unlearner's state after `rows` as a new version, with an `unlearn` audit
/// entry (method, a salted digest of the rows, the outcome); returns the version's name.
fn commit(
    dir: &mut ModelDir,
    state: &mut ModelState,
    unlearner: &Unlearner<'_>,
    rows: &[u32],
    plan: &SoakPlan,
    outcome: &MethodOutcome,
) -> Result<String> {
    let next = unlearner.state_after(state, rows)?;
    let (digest, pairs) = state.forgotten.digest_rows(unlearner.data(), rows);
    let record = AuditRecord::new("unlearn")
        .with("method", plan.method)?
        .with(
            "settings",
            serde_json::json!({ "forget_rows": ForgetRows::Genuine, "source": "ifru bench --soak" }),
        )?
        .with(
            "forget",
            serde_json::json!({ "digest": digest, "pairs": pairs, "rows": rows.len() }),
        )?
        .with("report", outcome)?;
    let version = dir.commit_with(&next, &record)?;
    *state = next;
    Ok(version.name())
}
