//! One benchmark run: train the original model, apply every method to the same forget set
//! on the same adapter, and measure each (the `ifru bench` report).

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use ifru::Result;
use ifru::data::Dataset;
use ifru::eval::{RankingOptions, RequestMetrics, ValidationScore, request_metrics};
use ifru::gpu::Gpu;
use ifru::model::adjacency_for;
use ifru::model::{DeviceModel, ModelSpec, Params};
use ifru::train::{EpochLog, Progress, TrainConfig, TrainData, TrainOutcome, train};

use ifru::model::store::ModelMeta;
use ifru::unlearn::engine::{ForgetRequest, Method, MethodId, MethodOutcome, Unlearner};
use ifru::unlearn::model_length::ModelLength;
use ifru::unlearn::request::ForgetRows;

/// One method's figures (`M` in the report schema).
#[derive(Debug, Clone, Serialize)]
pub struct MethodReport {
    #[serde(flatten)]
    pub metrics: RequestMetrics,
    #[serde(flatten)]
    pub outcome: MethodOutcome,
    /// Uploading the model and building the graph and pipelines, apart from `seconds`.
    pub setup_seconds: f64,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchPlan {
    pub spec: ModelSpec,
    pub recipe: TrainConfig,
    /// The forget set, as training row ids in file order.
    pub forget: Vec<u32>,
    /// Methods besides the original, by report name.
    pub methods: Vec<(String, MethodId)>,
    pub finetune_epochs: usize,
    /// What kind of rows are forgotten (for the calibrated step).
    pub forget_rows: ForgetRows,
    /// Settings of the influence method (its defaults when `None`).
    pub ifru: Option<ifru::unlearn::influence::IfruOptions>,
    pub ranking: RankingOptions,
    /// BPR: users sampled for the validation recall.
    pub valid_users: usize,
    /// Extra `ifru` runs with these fixed dampings, reported as `ifru_delta_<δ>` (the
    /// cross-dataset study behind `--damping auto`).
    pub damping_sweep: Vec<f32>,
    /// Keep each model's parameters in [`BenchRun::params`] (`ifru demo --keep-model`).
    pub keep_params: bool,
}

/// One seed's results.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRun {
    pub seed: u64,
    pub train_rows: usize,
    pub forget_rows: usize,
    pub methods: BTreeMap<String, MethodReport>,
    /// The original's own step length for small requests, as `ifru train` fits it, and the
    /// seconds that took (outside every method's `seconds`, as at `train`).
    pub model_length: ModelLengthFit,
    /// Each model's parameters after its method (and the original's), by report name; empty
    /// unless [`BenchPlan::keep_params`].
    #[serde(skip)]
    pub params: BTreeMap<String, Params>,
}

/// What [`run`] is doing, for display (`Display` gives a one-line message).
#[derive(Debug, Clone, Copy)]
pub enum BenchProgress<'a> {
    /// Stage `index` of `total` starts: 0 trains the original, the others apply
    /// `plan.methods` in order.
    Stage {
        index: usize,
        total: usize,
        name: &'a str,
    },
    /// An epoch of the original's training ended.
    Epoch(&'a EpochLog),
}

impl std::fmt::Display for BenchProgress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BenchProgress::Stage { index: 0, name, .. } => write!(f, "{name}: training"),
            BenchProgress::Stage { name, .. } => write!(f, "{name}: applying"),
            BenchProgress::Epoch(log) => write!(
                f,
                "original: epoch {} valid {:.4} ({:.1} s)",
                log.epoch, log.valid, log.train_seconds
            ),
        }
    }
}

/// Trains the original on every training row and applies each method to `plan.forget`.
pub fn run(
    gpu: &Gpu,
    data: &Dataset,
    plan: &BenchPlan,
    progress: &mut dyn FnMut(BenchProgress<'_>),
) -> Result<BenchRun> {
    let spec = plan.spec;
    let total = 1 + plan.methods.len() + plan.damping_sweep.len();
    progress(BenchProgress::Stage {
        index: 0,
        total,
        name: "original",
    });
    let original = train_original(
        gpu,
        data,
        spec,
        &plan.recipe,
        plan.valid_users,
        &mut |log| progress(BenchProgress::Epoch(log)),
    )?;
    let model_length = ModelLengthFit::new(gpu, data, spec, &plan.recipe, &original.params)?;
    let mut methods = BTreeMap::new();
    let mut params = BTreeMap::new();
    if plan.keep_params {
        params.insert("original".to_string(), original.params.clone());
    }
    let metrics = metrics_of(
        gpu,
        data,
        spec,
        &original.params,
        &data.train,
        &plan.forget,
        &plan.ranking,
    )?;
    methods.insert(
        "original".to_string(),
        MethodReport {
            metrics,
            outcome: MethodOutcome {
                seconds: original.train_seconds,
                eval_seconds: original.valid_seconds,
                epochs: Some(original.epochs),
                ..MethodOutcome::default()
            },
            setup_seconds: 0.0,
        },
    );
    let base = plan
        .ifru
        .clone()
        .unwrap_or_else(|| ifru::unlearn::influence::IfruOptions::default_for(&spec));
    let sweep: Vec<(
        String,
        MethodId,
        Option<ifru::unlearn::influence::IfruOptions>,
    )> = plan
        .damping_sweep
        .iter()
        .map(|&delta| {
            let opts = ifru::unlearn::influence::IfruOptions {
                damping: Some(delta),
                ..base.clone()
            };
            (format!("ifru_delta_{delta}"), MethodId::Ifru, Some(opts))
        })
        .collect();
    let runs = plan
        .methods
        .iter()
        .map(|(name, method)| (name.clone(), *method, plan.ifru.clone()))
        .chain(sweep);
    for (k, (name, method, ifru)) in runs.enumerate() {
        progress(BenchProgress::Stage {
            index: k + 1,
            total,
            name: &name,
        });
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
        let request = ForgetRequest::new(Method::from_id(
            method,
            ifru.unwrap_or_default(),
            plan.finetune_epochs,
        ))
        .rows_kind(plan.forget_rows);
        let outcome = unlearner.forget_with(&plan.forget, &request)?;
        unlearner.refresh()?;
        if plan.keep_params {
            params.insert(name.clone(), unlearner.params()?);
        }
        let metrics = request_metrics(
            gpu,
            unlearner.model().embeddings(),
            data,
            spec.loss,
            &plan.forget,
            &plan.ranking,
        )?;
        methods.insert(
            name,
            MethodReport {
                metrics,
                outcome,
                setup_seconds,
            },
        );
    }
    Ok(BenchRun {
        seed: plan.recipe.seed,
        train_rows: data.train.len(),
        forget_rows: plan.forget.len(),
        methods,
        model_length,
        params,
    })
}

/// A model's own step lengths for small requests, fitted as `ifru train` fits them
/// ([`ifru::unlearn::model_length`]): for genuine rows, and for flipped rows where the data
/// marks some (BCE); with the seconds both took and why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelLengthFit {
    pub length: Option<ModelLength>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why_none: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flipped: Option<ModelLength>,
    /// Why there is no flipped length where the data marks flipped rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flipped_why_none: Option<String>,
    pub calibration_seconds: f64,
}

impl ModelLengthFit {
    /// Fits them for `params` trained on every training row of `data`, with the recipe's seed.
    pub(crate) fn new(
        gpu: &Gpu,
        data: &Dataset,
        spec: ModelSpec,
        recipe: &TrainConfig,
        params: &Params,
    ) -> Result<Self> {
        let start = Instant::now();
        let forgotten = vec![false; data.train.len()];
        let fit = |kind| {
            ifru::unlearn::model_length::fit(
                gpu,
                spec,
                recipe,
                data,
                params,
                &forgotten,
                kind,
                recipe.seed,
            )
        };
        let (length, why_none) = split(fit(ForgetRows::Genuine)?);
        let (flipped, flipped_why_none) = if data.flipped_rows().is_empty() {
            (None, None)
        } else {
            split(fit(ForgetRows::Flipped)?)
        };
        Ok(ModelLengthFit {
            length,
            why_none,
            flipped,
            flipped_why_none,
            calibration_seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// Keeps both lengths in a model directory's `model.json`.
    pub(crate) fn write_to(&self, meta: &mut ModelMeta) {
        meta.step_length = self.length.clone();
        meta.flipped_step_length = self.flipped.clone();
    }

    /// Hands both lengths to `unlearner`.
    pub(crate) fn apply_to(&self, unlearner: &mut Unlearner<'_>) {
        unlearner.set_model_length(ForgetRows::Genuine, self.length.clone());
        unlearner.set_model_length(ForgetRows::Flipped, self.flipped.clone());
    }
}

fn split(
    fitted: std::result::Result<ModelLength, String>,
) -> (Option<ModelLength>, Option<String>) {
    match fitted {
        Ok(length) => (Some(length), None),
        Err(why) => (None, Some(why)),
    }
}

/// Trains the original model on every training row of `data`, with validation early
/// stopping (`valid_users` sampled for a BPR model's recall); `on_epoch` sees each epoch.
pub(crate) fn train_original(
    gpu: &Gpu,
    data: &Dataset,
    spec: ModelSpec,
    recipe: &TrainConfig,
    valid_users: usize,
    on_epoch: &mut dyn FnMut(&EpochLog),
) -> Result<TrainOutcome> {
    let adjacency = adjacency_for(&spec, data.n_users, data.n_items, &data.train)?;
    let mut validator =
        ValidationScore::new(spec.loss, data, &data.train, valid_users, recipe.seed)?;
    Ok(train(
        gpu,
        spec,
        recipe,
        &TrainData {
            n_users: data.n_users,
            n_items: data.n_items,
            rows: &data.train,
            adjacency: adjacency.as_ref(),
        },
        &mut validator,
        &mut |p| {
            if let Progress::Epoch(log) = &p {
                on_epoch(log);
            }
        },
    )?)
}

/// The request metrics of `params` trained on `rows` (predicting over their graph), for the
/// forget set `forget` in file order.
pub(crate) fn metrics_of(
    gpu: &Gpu,
    data: &Dataset,
    spec: ModelSpec,
    params: &Params,
    rows: &ifru::data::Interactions,
    forget: &[u32],
    ranking: &RankingOptions,
) -> Result<RequestMetrics> {
    let adjacency = adjacency_for(&spec, data.n_users, data.n_items, rows)?;
    let model = DeviceModel::upload(gpu, spec, params, adjacency.as_ref())?;
    let forward = model.forward(gpu)?;
    gpu.run("forward", |pass| ifru::gpu::Record::record(&forward, pass))?;
    Ok(request_metrics(
        gpu,
        model.embeddings(),
        data,
        spec.loss,
        forget,
        ranking,
    )?)
}
