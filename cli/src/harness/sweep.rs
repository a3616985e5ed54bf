//! Scaling runs on the seeded synthetic generator: unlearning time as the graph grows with a
//! fixed forget set, and as the forget set grows on a fixed graph, each next to the retrain
//! it replaces.
//!
//! Every point trains its own original (which the influence update needs) with the recipe.
//! A retrain is measured up to `retrain_max_rows` training rows; above that its time is
//! estimated as the original's training time (the same recipe on 0.1–5% more rows, run to
//! its own early stop), and the point says so (`retrain_estimated`).

use serde::Serialize;

use ifru::data::forget::{ForgetKind, ForgetSpec, generate};
use ifru::data::synthetic::synthetic_dataset;
use ifru::eval::RankingOptions;
use ifru::gpu::Gpu;
use ifru::model::ModelSpec;
use ifru::train::TrainConfig;
use ifru::{Error, Result};

use crate::harness::bench::{BenchPlan, BenchProgress, run};
use ifru::unlearn::engine::MethodId;
use ifru::unlearn::influence::IfruOptions;
use ifru::unlearn::request::ForgetRows;

/// What to sweep.
#[derive(Debug, Clone)]
pub struct SweepPlan {
    pub spec: ModelSpec,
    pub recipe: TrainConfig,
    pub ifru: Option<IfruOptions>,
    /// Synthetic rows of the graph sweep (the forget set keeps `forget_rows` rows).
    pub graph_rows: Vec<usize>,
    pub forget_rows: usize,
    /// Synthetic rows of the forget sweep, and its forget fractions of the training rows.
    pub base_rows: usize,
    pub forget_fractions: Vec<f64>,
    /// Largest training set whose retrain is measured rather than estimated.
    pub retrain_max_rows: usize,
    pub seed: u64,
}

/// One point of a sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    pub synthetic_rows: usize,
    pub train_rows: usize,
    pub n_users: u32,
    pub n_items: u32,
    pub forget_rows: usize,
    pub ifru_seconds: f64,
    pub ifru_iterations: usize,
    /// Host seconds per phase of the request (docs/ARCHITECTURE.md, "Applying a request").
    pub ifru_phase_seconds: std::collections::BTreeMap<String, f64>,
    pub kept_nodes: usize,
    pub local_rows: usize,
    pub retrain_seconds: f64,
    /// True when `retrain_seconds` is the original's training time, not a measured retrain.
    pub retrain_estimated: bool,
    pub original_seconds: f64,
    pub original_epochs: usize,
    /// One training epoch: the original's time over its epochs (its per-epoch validation
    /// included), what the request is measured against when retrains get faster.
    pub epoch_seconds: f64,
    /// The request as a fraction of one training epoch on the same data.
    pub ifru_epochs: f64,
    /// The device memory pool's high-water mark over the point (the training data, the
    /// original's training state, the unlearner and the request), and the same per node.
    pub device_high_water_bytes: u64,
    pub device_bytes_per_node: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forget_auc_b_original: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forget_auc_b_ifru: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forget_auc_b_retrain: Option<f64>,
}

/// Both sweeps.
#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    pub by_graph: Vec<SweepPoint>,
    pub by_forget: Vec<SweepPoint>,
}

/// Runs the graph sweep, then the forget sweep.
pub fn sweep(gpu: &Gpu, plan: &SweepPlan, progress: &mut dyn FnMut(&str)) -> Result<SweepReport> {
    let mut by_graph = Vec::new();
    for &rows in &plan.graph_rows {
        progress(&format!("graph sweep: {rows} rows"));
        by_graph.push(point(gpu, plan, rows, Forget::Rows(plan.forget_rows))?);
    }
    let mut by_forget = Vec::new();
    for &fraction in &plan.forget_fractions {
        progress(&format!(
            "forget sweep: {fraction} of {} rows",
            plan.base_rows
        ));
        by_forget.push(point(
            gpu,
            plan,
            plan.base_rows,
            Forget::Fraction(fraction),
        )?);
    }
    Ok(SweepReport {
        by_graph,
        by_forget,
    })
}

enum Forget {
    Rows(usize),
    Fraction(f64),
}

fn point(gpu: &Gpu, plan: &SweepPlan, rows: usize, forget: Forget) -> Result<SweepPoint> {
    // No flipped rows: the forget set is a random sample of genuine training rows.
    let data = synthetic_dataset(rows, plan.seed, 0.0)?;
    let n = data.train.len();
    let fraction = match forget {
        Forget::Rows(k) => k as f64 / n.max(1) as f64,
        Forget::Fraction(f) => f,
    };
    let forget_set = generate(
        &data,
        &ForgetSpec::new(ForgetKind::Random, fraction, plan.seed),
    )?;
    if forget_set.is_empty() {
        return Err(Error::Invalid(format!(
            "a forget fraction of {fraction} of {n} training rows selects nothing"
        )));
    }
    let measured = n <= plan.retrain_max_rows;
    let mut methods = vec![("ifru".to_string(), MethodId::Ifru)];
    if measured {
        methods.push(("retrain".to_string(), MethodId::Retrain));
    }
    let bench = BenchPlan {
        spec: plan.spec,
        recipe: plan.recipe.clone(),
        forget: forget_set.clone(),
        methods,
        finetune_epochs: 0,
        forget_rows: ForgetRows::Genuine,
        ifru: plan.ifru.clone(),
        ranking: RankingOptions::default(),
        valid_users: 0,
        damping_sweep: Vec::new(),
        keep_params: false,
    };
    gpu.pool().trim();
    gpu.pool().reset_high_water();
    let result = run(gpu, &data, &bench, &mut |_: BenchProgress<'_>| {})?;
    let high_water = gpu.pool().stats().high_water_bytes;
    let get = |name: &str| {
        result
            .methods
            .get(name)
            .ok_or_else(|| Error::Invalid(format!("the sweep point lacks {name}")))
    };
    let (original, ifru) = (get("original")?, get("ifru")?);
    let figures = ifru.outcome.influence.clone().unwrap_or_default();
    let retrain = if measured {
        Some(get("retrain")?)
    } else {
        None
    };
    let epochs = original.outcome.epochs.unwrap_or(0);
    let epoch_seconds = original.outcome.seconds / epochs.max(1) as f64;
    let nodes = f64::from(data.n_users) + f64::from(data.n_items);
    Ok(SweepPoint {
        synthetic_rows: rows,
        train_rows: n,
        n_users: data.n_users,
        n_items: data.n_items,
        forget_rows: forget_set.len(),
        ifru_seconds: ifru.outcome.seconds,
        ifru_iterations: figures.iterations,
        ifru_phase_seconds: figures.phase_seconds.clone(),
        kept_nodes: figures.kept_users + figures.kept_items,
        local_rows: figures.local_rows,
        retrain_seconds: retrain.map_or(original.outcome.seconds, |r| r.outcome.seconds),
        retrain_estimated: !measured,
        original_seconds: original.outcome.seconds,
        original_epochs: epochs,
        epoch_seconds,
        ifru_epochs: ifru.outcome.seconds / epoch_seconds,
        device_high_water_bytes: high_water,
        device_bytes_per_node: high_water as f64 / nodes.max(1.0),
        forget_auc_b_original: original.metrics.forget_auc_b,
        forget_auc_b_ifru: ifru.metrics.forget_auc_b,
        forget_auc_b_retrain: retrain.and_then(|r| r.metrics.forget_auc_b),
    })
}
