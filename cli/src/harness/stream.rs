//! A stream of small requests through one long-lived unlearner: each request forgets the
//! training rows of one user (all of them, or a share: a partial deletion), requests are
//! applied in sequence (or grouped), and the run is judged against a single retrain on the
//! rows that remain after the whole stream.
//!
//! This is the pipeline use ifru is built for: the device, pipelines, model and graph stay
//! resident, so a request pays for its own neighbourhood only.

use std::time::Instant;

use serde::Serialize;

use ifru::data::Dataset;
use ifru::data::rng::Rng;
use ifru::eval::{RankingOptions, RequestMetrics, request_metrics};
use ifru::gpu::Gpu;
use ifru::model::ModelSpec;
use ifru::model::adjacency_for;
use ifru::train::{LastEpoch, TrainConfig, TrainData, train};
use ifru::{Error, Result};

use crate::harness::bench::{metrics_of, train_original};
use ifru::unlearn::engine::{ForgetRequest, Method, MethodId, Unlearner};
use ifru::unlearn::influence::IfruOptions;
use ifru::unlearn::request::ForgetRows;

/// What to run.
#[derive(Debug, Clone)]
pub struct StreamPlan {
    pub spec: ModelSpec,
    pub recipe: TrainConfig,
    /// Number of users forgotten, one request each (or `group` per request).
    pub users: usize,
    /// Users per request (1: one user at a time).
    pub group: usize,
    pub method: MethodId,
    pub ifru: Option<IfruOptions>,
    pub forget_rows: ForgetRows,
    /// Seed of the choice of users.
    pub seed: u64,
    pub ranking: RankingOptions,
    /// BPR: users sampled for the validation recall of the original's training.
    pub valid_users: usize,
    /// Caps the reference retrain's epochs (it otherwise runs the original's epoch count).
    pub retrain_max_epochs: Option<usize>,
    /// The share of each user's training rows a request forgets (1: every row, the user
    /// removed whole; less: a partial deletion, the user keeps the rest). The rows are drawn
    /// in a seeded order per user, at least one.
    pub share: f64,
}

/// One request's figures.
#[derive(Debug, Clone, Serialize)]
pub struct StreamRequest {
    pub users: Vec<u32>,
    pub rows: usize,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iterations: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_nodes: Option<usize>,
    /// Wall seconds of the influence update's phases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase_seconds: Option<std::collections::BTreeMap<String, f64>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The request's own forgetting check (influence methods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forgetting_check: Option<ifru::unlearn::influence::forgetting::ForgettingCheck>,
    /// The step length applied (influence methods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_length: Option<ifru::unlearn::influence::forgetting::StepLength>,
    /// The request's device work (dispatches, submissions, read-backs, bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<ifru::gpu::DeviceCounts>,
    /// Its passes over every training row (seconds each).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_scan_seconds: Option<std::collections::BTreeMap<String, f64>>,
}

/// How many requests' forgetting checks passed, failed, or could not be computed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckCounts {
    pub passed: usize,
    pub failed: usize,
    pub not_computed: usize,
}

impl CheckCounts {
    fn of(requests: &[StreamRequest]) -> Self {
        let mut c = CheckCounts::default();
        for r in requests {
            match r.forgetting_check.as_ref().and_then(|k| k.passed) {
                Some(true) => c.passed += 1,
                Some(false) => c.failed += 1,
                None => c.not_computed += 1,
            }
        }
        c
    }
}

/// Quantiles and rates of the request times.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub mean_seconds: f64,
    pub p50_seconds: f64,
    pub p99_seconds: f64,
    pub max_seconds: f64,
    /// Requests per second over the summed request times.
    pub requests_per_second: f64,
}

impl Latency {
    pub(crate) fn of(seconds: &[f64]) -> Latency {
        let mut sorted = seconds.to_vec();
        sorted.sort_by(f64::total_cmp);
        let q = |p: f64| {
            if sorted.is_empty() {
                return f64::NAN;
            }
            // Nearest rank.
            let k = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            sorted[k - 1]
        };
        let total: f64 = sorted.iter().sum();
        Latency {
            mean_seconds: total / sorted.len().max(1) as f64,
            p50_seconds: q(0.5),
            p99_seconds: q(0.99),
            max_seconds: sorted.last().copied().unwrap_or(f64::NAN),
            requests_per_second: sorted.len() as f64 / total,
        }
    }
}

/// A reference model's metrics and training time.
#[derive(Debug, Clone, Serialize)]
pub struct Reference {
    #[serde(flatten)]
    pub metrics: RequestMetrics,
    /// Training without validation passes, on a warm device.
    pub seconds: f64,
    pub epochs: usize,
}

/// The stream's report. The metrics are over every row the stream forgot (`forget_rank`
/// and `forget_auc` with their second half, `_b`, in request order).
#[derive(Debug, Clone, Serialize)]
pub struct StreamReport {
    pub method: MethodId,
    pub users_per_request: usize,
    pub requests: Vec<StreamRequest>,
    pub latency: Latency,
    pub forgotten_rows: usize,
    pub original: Reference,
    pub after_stream: RequestMetrics,
    pub retrain: Reference,
    /// Whether the retrain's epochs were capped below the original's.
    pub retrain_capped: bool,
    /// One retrain's seconds ÷ the mean request's seconds.
    pub speedup_per_request: f64,
    /// |after − retrain| ÷ |original − retrain| of `forget_rank` (BPR) or `forget_auc`
    /// (BCE) over every forgotten row (no calibration fits on a stream's rows); `None` when
    /// the gap is below 0.02 (too small to judge).
    pub forget_gap_error: Option<f64>,
    /// The same over the second half of the rows (`_b`), for comparison with `ifru bench`.
    pub forget_gap_error_b: Option<f64>,
    /// The share of each user's rows forgotten (1: users removed whole, set by zeroing).
    pub share: f64,
    /// The requests' forgetting checks.
    pub checks: CheckCounts,
    pub setup_seconds: f64,
    /// The original's own step length for small requests, as `ifru train` fits it.
    pub model_length: super::bench::ModelLengthFit,
}

/// `count` distinct users with at least one training row, in a seeded random order.
pub fn pick_users(data: &Dataset, count: usize, seed: u64) -> Result<Vec<u32>> {
    let mut has_rows = vec![false; data.n_users as usize];
    for &u in &data.train.users {
        if let Some(h) = has_rows.get_mut(u as usize) {
            *h = true;
        }
    }
    let mut users: Vec<u32> = (0..data.n_users)
        .filter(|&u| has_rows[u as usize])
        .collect();
    if users.len() < count {
        return Err(Error::Invalid(format!(
            "{count} users requested, {} have training rows",
            users.len()
        )));
    }
    Rng::new(seed).shuffle(&mut users);
    users.truncate(count);
    Ok(users)
}

/// Trains the original, streams the requests through one unlearner, then retrains once on
/// what remains.
pub fn run(
    gpu: &Gpu,
    data: &Dataset,
    plan: &StreamPlan,
    progress: &mut dyn FnMut(&str),
) -> Result<StreamReport> {
    let spec = plan.spec;
    if plan.group == 0 {
        return Err(Error::Invalid("a request needs at least one user".into()));
    }
    if !(plan.share > 0.0 && plan.share <= 1.0) {
        return Err(Error::Invalid(format!(
            "a share of each user's rows in (0, 1], not {}",
            plan.share
        )));
    }
    let users = pick_users(data, plan.users, plan.seed)?;
    let mut rows_of: Vec<Vec<u32>> = vec![Vec::new(); data.n_users as usize];
    for (r, &u) in data.train.users.iter().enumerate() {
        rows_of[u as usize].push(r as u32);
    }
    if plan.share < 1.0 {
        for &u in &users {
            let rows = &mut rows_of[u as usize];
            let mut rng = Rng::derive(plan.seed, u64::from(u));
            for k in (1..rows.len()).rev() {
                rows.swap(k, rng.below(k as u64 + 1) as usize);
            }
            let keep = ((plan.share * rows.len() as f64).ceil() as usize).max(1);
            rows.truncate(keep);
        }
    }
    let forgotten: Vec<u32> = users
        .iter()
        .flat_map(|&u| rows_of[u as usize].iter().copied())
        .collect();

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

    let model_length =
        super::bench::ModelLengthFit::new(gpu, data, spec, &plan.recipe, &original.params)?;
    let start = Instant::now();
    let mut unlearner = Unlearner::from_parts(
        gpu,
        spec,
        plan.recipe.clone(),
        data.clone(),
        &original.params,
        vec![false; data.train.len()],
    )?;
    model_length.apply_to(&mut unlearner);
    gpu.wait("setup")?;
    let setup_seconds = start.elapsed().as_secs_f64();
    let mut requests = Vec::new();
    let request = ForgetRequest::new(Method::from_id(
        plan.method,
        plan.ifru.clone().unwrap_or_default(),
        0,
    ))
    .rows_kind(plan.forget_rows);
    for (k, group) in users.chunks(plan.group).enumerate() {
        progress(&format!(
            "request {} of {}",
            k + 1,
            users.len().div_ceil(plan.group)
        ));
        let rows: Vec<u32> = group
            .iter()
            .flat_map(|&u| rows_of[u as usize].iter().copied())
            .collect();
        let outcome = unlearner.forget_with(&rows, &request)?;
        requests.push(StreamRequest {
            users: group.to_vec(),
            rows: rows.len(),
            seconds: outcome.seconds,
            iterations: outcome.influence.as_ref().map(|f| f.iterations),
            kept_nodes: outcome
                .influence
                .as_ref()
                .map(|f| f.kept_users + f.kept_items),
            phase_seconds: outcome.influence.as_ref().map(|f| f.phase_seconds.clone()),
            warnings: outcome.warnings,
            forgetting_check: outcome.forgetting_check,
            step_length: outcome.step_length,
            device: outcome.device,
            full_scan_seconds: outcome
                .influence
                .as_ref()
                .map(|f| f.full_scan_seconds.clone()),
        });
    }
    unlearner.refresh()?;
    let after_stream = request_metrics(
        gpu,
        unlearner.model().embeddings(),
        data,
        spec.loss,
        &forgotten,
        &plan.ranking,
    )?;

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
    let seconds: Vec<f64> = requests.iter().map(|r| r.seconds).collect();
    let latency = Latency::of(&seconds);
    let forget_gap_error = gap_error(
        &original_ref.metrics,
        &after_stream,
        &retrain.metrics,
        &|m| m.forget_rank.or(m.metrics.forget_auc),
    );
    let forget_gap_error_b = gap_error(
        &original_ref.metrics,
        &after_stream,
        &retrain.metrics,
        &|m| m.forget_rank_b.or(m.forget_auc_b),
    );
    let checks = CheckCounts::of(&requests);
    Ok(StreamReport {
        method: plan.method,
        users_per_request: plan.group,
        speedup_per_request: retrain.seconds / latency.mean_seconds,
        latency,
        requests,
        forgotten_rows: forgotten.len(),
        original: original_ref,
        after_stream,
        retrain_capped,
        retrain,
        forget_gap_error,
        forget_gap_error_b,
        share: plan.share,
        checks,
        setup_seconds,
        model_length,
    })
}

/// Trains the original model (the stream's and the soak's starting point) and measures it
/// on the rows the run will forget.
pub(crate) fn original_reference(
    gpu: &Gpu,
    data: &Dataset,
    spec: ModelSpec,
    recipe: &TrainConfig,
    valid_users: usize,
    forgotten: &[u32],
    ranking: &RankingOptions,
) -> Result<(ifru::train::TrainOutcome, Reference)> {
    let original = train_original(gpu, data, spec, recipe, valid_users, &mut |_| {})?;
    let reference = Reference {
        metrics: metrics_of(
            gpu,
            data,
            spec,
            &original.params,
            &data.train,
            forgotten,
            ranking,
        )?,
        seconds: original.train_seconds,
        epochs: original.epochs,
    };
    Ok((original, reference))
}

/// The reference of a run of requests: one retrain on the rows that remain, with the recipe
/// for the original's epoch count (capped by `cap`; no early stopping, as the original's
/// epochs already chose it), evaluated on the forgotten rows. Also says whether the cap bit.
#[allow(clippy::too_many_arguments)]
pub(crate) fn retrain_reference(
    gpu: &Gpu,
    data: &Dataset,
    spec: ModelSpec,
    recipe: &TrainConfig,
    original_epochs: usize,
    cap: Option<usize>,
    remaining: &ifru::data::Interactions,
    forgotten: &[u32],
    ranking: &RankingOptions,
) -> Result<(Reference, bool)> {
    let epochs = cap.map_or(original_epochs, |cap| cap.min(original_epochs));
    let config = TrainConfig {
        max_epochs: epochs,
        patience: epochs + 1,
        ..recipe.clone()
    };
    let adjacency = adjacency_for(&spec, data.n_users, data.n_items, remaining)?;
    let retrained = train(
        gpu,
        spec,
        &config,
        &TrainData {
            n_users: data.n_users,
            n_items: data.n_items,
            rows: remaining,
            adjacency: adjacency.as_ref(),
        },
        &mut LastEpoch(0),
        &mut |_| {},
    )?;
    let reference = Reference {
        metrics: metrics_of(
            gpu,
            data,
            spec,
            &retrained.params,
            remaining,
            forgotten,
            ranking,
        )?,
        seconds: retrained.train_seconds,
        epochs: retrained.epochs,
    };
    Ok((reference, epochs < original_epochs))
}

/// The forget-gap error |after − retrain| ÷ |original − retrain| of the statistic `judged`
/// picks; `None` when it is missing or the gap is below 0.02 (too small to judge).
pub(crate) fn gap_error(
    original: &RequestMetrics,
    after: &RequestMetrics,
    retrain: &RequestMetrics,
    judged: &dyn Fn(&RequestMetrics) -> Option<f64>,
) -> Option<f64> {
    match (judged(original), judged(after), judged(retrain)) {
        (Some(o), Some(a), Some(r)) if (o - r).abs() >= 0.02 => Some((a - r).abs() / (o - r).abs()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_quantiles_use_nearest_rank() {
        let l = Latency::of(&[0.4, 0.1, 0.2, 0.3]);
        assert_eq!(l.p50_seconds, 0.2);
        assert_eq!(l.p99_seconds, 0.4);
        assert_eq!(l.max_seconds, 0.4);
        assert!((l.mean_seconds - 0.25).abs() < 1e-12);
        assert!((l.requests_per_second - 4.0).abs() < 1e-12);
    }
}
