//! A long-lived unlearner: device, pipelines, model, graph and rows stay resident while
//! requests are applied one after another, each moving the model and its graph to the
//! post-deletion state, so requests stack.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Interactions};
use crate::error::{Error, Result};
use crate::gpu::GpuHandle;
use crate::graph::{
    BipartiteGraph, Csr, Removal, csr_arrays, normalize, renormalize_after_removal,
};
use crate::loaded::LoadedModel;
use crate::model::store::{ModelLength, ModelState};
use crate::model::{DeviceModel, ModelSpec, Params};
use crate::train::{LastEpoch, TrainConfig, TrainData, train, train_from};

use super::backup::{RowBackup, union_sorted};
use super::influence::calibrate::{CalibrationPoint, calibrated_step};
use super::influence::forgetting::{
    ForgettingCheck, LengthHistory, LengthSource, MAX_STEP_LENGTH, Membership, Origin, StepLength,
    far_from_solved,
};
use super::influence::prune::RowsByNode;
use super::influence::{
    GraphUpdate, IfruOptions, InfluenceFigures, InfluenceStep, OnCheckFail, PreparedStep, Probe,
    RequestContext, ResidentRows,
};
use super::request::ForgetRows;

/// How a request is applied.
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MethodId {
    /// The influence-function update (this crate's method), the default: the step solved
    /// with the `auto` damping, its length calibrated so the forgotten rows look unseen
    /// ([`super::influence::forgetting`]).
    Ifru,
    /// The influence update with the fixed `auto` damping rule, applied as solved.
    #[serde(rename = "ifru_fixed")]
    #[cfg_attr(feature = "clap", value(name = "ifru-fixed"))]
    IfruFixed,
    /// The influence update with the damping calibrated on the first half of the forget rows.
    #[serde(rename = "ifru_calibrated")]
    #[cfg_attr(feature = "clap", value(name = "ifru-calibrated"))]
    IfruCalibrated,
    /// The original authors' configuration ([`IfruOptions::authors`]), for comparison.
    #[serde(rename = "ifru_adam")]
    #[cfg_attr(feature = "clap", value(name = "ifru-adam"))]
    IfruAdam,
    /// Training from scratch on the remaining rows with the model's recipe and seed.
    Retrain,
    /// A few epochs of the recipe on the remaining rows, from the current model.
    Finetune,
    /// Forget the rows in the bookkeeping and the graph only; parameters unchanged.
    None,
}

impl MethodId {
    /// Every method.
    pub const ALL: [MethodId; 7] = [
        MethodId::Ifru,
        MethodId::IfruFixed,
        MethodId::IfruCalibrated,
        MethodId::IfruAdam,
        MethodId::Retrain,
        MethodId::Finetune,
        MethodId::None,
    ];

    /// The method's name in reports (`ifru_calibrated`, `retrain`, ...).
    pub fn report_name(self) -> &'static str {
        match self {
            MethodId::Ifru => "ifru",
            MethodId::IfruFixed => "ifru_fixed",
            MethodId::IfruCalibrated => "ifru_calibrated",
            MethodId::IfruAdam => "ifru_adam",
            MethodId::Retrain => "retrain",
            MethodId::Finetune => "finetune",
            MethodId::None => "none",
        }
    }
}

/// How a request is carried out, with the parameters of that way.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// The influence update with its length fitted so the forgotten rows look unseen (the
    /// default).
    Ifru(IfruOptions),
    /// The influence update with the fixed `auto` damping, applied as solved.
    IfruFixed(IfruOptions),
    /// The influence update with the damping searched per request.
    IfruCalibrated(IfruOptions),
    /// The original authors' configuration ([`IfruOptions::authors`]), for comparison.
    IfruAdam,
    /// Training from scratch on the remaining rows with the model's recipe and seed.
    Retrain,
    /// `epochs` epochs of the recipe on the remaining rows, from the current model.
    Finetune { epochs: usize },
    /// Forget the rows in the bookkeeping and the graph only; parameters unchanged.
    None,
}

impl Default for Method {
    fn default() -> Self {
        Method::Ifru(IfruOptions::default())
    }
}

impl Method {
    /// The method's id (its name in reports).
    pub fn id(&self) -> MethodId {
        match self {
            Method::Ifru(_) => MethodId::Ifru,
            Method::IfruFixed(_) => MethodId::IfruFixed,
            Method::IfruCalibrated(_) => MethodId::IfruCalibrated,
            Method::IfruAdam => MethodId::IfruAdam,
            Method::Retrain => MethodId::Retrain,
            Method::Finetune { .. } => MethodId::Finetune,
            Method::None => MethodId::None,
        }
    }

    /// The method `id` names, with `options` for the influence methods (the authors' method
    /// sets its own) and `finetune_epochs` for a fine-tune: what a command line or a bench
    /// plan gives.
    pub fn from_id(id: MethodId, options: IfruOptions, finetune_epochs: usize) -> Method {
        match id {
            MethodId::Ifru => Method::Ifru(options),
            MethodId::IfruFixed => Method::IfruFixed(options),
            MethodId::IfruCalibrated => Method::IfruCalibrated(options),
            MethodId::IfruAdam => Method::IfruAdam,
            MethodId::Retrain => Method::Retrain,
            MethodId::Finetune => Method::Finetune {
                epochs: finetune_epochs,
            },
            MethodId::None => Method::None,
        }
    }
}

/// One forget request's settings: the method, and what kind of rows it forgets. The
/// default is the default method on rows whose kind is detected.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ForgetRequest {
    pub method: Method,
    /// `None`: [`ForgetRows::Flipped`] when every row is one of the dataset's flipped rows
    /// (an IFRU-protocol folder's poisoned rows), else [`ForgetRows::Genuine`].
    pub rows_kind: Option<ForgetRows>,
}

impl ForgetRequest {
    /// A request by `method`, the kind of rows detected.
    pub fn new(method: Method) -> Self {
        ForgetRequest {
            method,
            rows_kind: None,
        }
    }

    /// The same request with the kind of rows declared.
    pub fn rows_kind(mut self, kind: ForgetRows) -> Self {
        self.rows_kind = Some(kind);
        self
    }
}

/// Timing and solver figures of one applied request (the `M` fields of a report, less the
/// metrics, which the caller adds).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MethodOutcome {
    /// From receiving the rows (model, graph, pipelines resident) to updated parameters on the
    /// device, measured after the device finished; for retrain: training without its
    /// validation passes.
    pub seconds: f64,
    /// Validation passes the method ran (retrain's early stopping), apart from `seconds`.
    pub eval_seconds: f64,
    pub warnings: Vec<String>,
    /// Training epochs (retrain, finetune).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    /// The settings of the influence update (influence methods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<IfruOptions>,
    /// The damping values the calibration tried (calibrated step).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Vec<CalibrationPoint>>,
    /// Solver and pruning figures (influence methods).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub influence: Option<InfluenceFigures>,
    /// The step length applied (influence methods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_length: Option<StepLength>,
    /// How well the request forgot, measured without a retrain (influence methods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forgetting_check: Option<ForgettingCheck>,
    /// What ran instead after a failed check (`--on-check-fail retrain`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<MethodId>,
    /// The device work of the request (dispatches, submissions, synchronous read-backs,
    /// bytes each way): what its time on a real GPU follows, whatever this adapter's speed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<crate::gpu::DeviceCounts>,
}

/// The resident state: a model's parameters and graph on the device, its data, and which
/// training rows are forgotten. [`Unlearner::forget_with`] forgets a request's rows by a
/// [`MethodId`] and leaves the model, graph and bookkeeping in the post-deletion state, so
/// requests stack; [`Unlearner::refresh`] brings the final embeddings up to date for
/// evaluation; [`Unlearner::state_after`] gives what to commit to a model directory.
///
/// Open it on a model directory with [`Unlearner::new`], or on parts in memory with
/// [`Unlearner::from_parts`] (the crate documentation and `examples/unlearn.rs` show a
/// whole run):
///
/// ```no_run
/// # fn demo(gpu: &ifru::gpu::Gpu, loaded: &ifru::loaded::LoadedModel, rows: &[u32])
/// # -> ifru::Result<()> {
/// use ifru::unlearn::Unlearner;
///
/// let mut unlearner = Unlearner::new(gpu, loaded)?;
/// let outcome = unlearner.forget(rows)?;
/// println!("{:.2} s, warnings: {:?}", outcome.seconds, outcome.warnings);
/// # Ok(())
/// # }
/// ```
pub struct Unlearner<'g> {
    gpu: GpuHandle<'g>,
    spec: ModelSpec,
    recipe: TrainConfig,
    data: Dataset,
    /// The graph of the remaining positive rows and its normalised adjacency Â: LightGCN
    /// only. An MF model's rows do not interact through a graph, so its requests neither
    /// read nor update one (on Gowalla that update was a 2 ms copy of the whole graph).
    graph: Option<BipartiteGraph>,
    adjacency: Option<Csr<f32>>,
    model: DeviceModel,
    /// Remaining training rows (any label) per node, users then items.
    rows_per_node: Vec<u32>,
    /// Which training rows are forgotten, by id in the model's data. The training rows stay
    /// in place (a request's rows are training ids throughout): forgetting sets flags here
    /// instead of filtering every remaining row into a new table.
    forgotten: Vec<bool>,
    /// Training rows not forgotten.
    remaining_count: usize,
    /// Remaining training rows labelled 1 (BPR's objective counts only them).
    remaining_positives: usize,
    /// User → training rows and item → training rows (all of them, forgotten ones included:
    /// `forgotten` says which still count), built once: a request's pruning reads its
    /// neighbourhood's rows through it instead of passing over every row.
    rows_by_node: (crate::graph::RowIndex, crate::graph::RowIndex),
    /// BPR models: every training row's negative for one seed, drawn once (see
    /// [`Unlearner::negatives_for`]).
    negatives: Option<SeededNegatives>,
    /// Why the unlearner refuses further use: a failed request whose device state could not
    /// be restored.
    broken: Option<String>,
    /// The θ rows the current request changes, as they were: what a failed request writes
    /// back. Taken just before θ is first written, so a request that fails earlier has
    /// nothing to restore.
    backup: Option<RowBackup>,
    /// Step lengths fitted by earlier requests: the length of a request too small to fit.
    lengths: LengthHistory,
    /// The model's own lengths, by kind of row ([`ForgetRows`] order: genuine, flipped),
    /// fitted on pseudo-requests: a small request's length when no earlier request fitted
    /// one, and what scales a far-off `auto` damping ([`Unlearner::model_scale`]).
    model_lengths: [Option<ModelLength>; 2],
}

/// The BPR negatives of every training row (by its id in the model's data) for `seed`.
struct SeededNegatives {
    seed: u64,
    by_row: Vec<u32>,
    /// Item → the training rows whose negative it is (what reaches an item through a
    /// negative).
    by_negative: crate::graph::RowIndex,
}

impl<'g> Unlearner<'g> {
    /// Uploads an opened model's θ and graph and keeps (a copy of) its data. `gpu` is a
    /// borrowed `&Gpu` or a shared `Arc<Gpu>` (then the unlearner is `'static`).
    pub fn new(gpu: impl Into<GpuHandle<'g>>, loaded: &LoadedModel) -> Result<Self> {
        let recipe: TrainConfig = serde_json::from_value(loaded.state.meta.training.clone())
            .map_err(|e| Error::Invalid(format!("model.json: the training recipe: {e}")))?;
        let forgotten = loaded.state.forgotten_mask(&loaded.data);
        let mut unlearner = Self::from_parts(
            gpu,
            loaded.state.meta.spec,
            recipe,
            loaded.data.clone(),
            &loaded.state.params,
            forgotten,
        )?;
        // Requests too small to fit their own step length take the median of the lengths
        // the directory's earlier requests fitted.
        unlearner.lengths = LengthHistory::from_audit(&loaded.dir.audit_log()?.entries());
        unlearner.model_lengths = [
            loaded.state.meta.step_length.clone(),
            loaded.state.meta.flipped_step_length.clone(),
        ];
        Ok(unlearner)
    }

    /// A model given by its parts: spec, training recipe, data, parameters, and which
    /// training rows are already forgotten.
    pub fn from_parts(
        gpu: impl Into<GpuHandle<'g>>,
        spec: ModelSpec,
        recipe: TrainConfig,
        data: Dataset,
        params: &Params,
        forgotten: Vec<bool>,
    ) -> Result<Self> {
        let gpu: GpuHandle<'g> = gpu.into();
        if forgotten.len() != data.train.len() {
            return Err(Error::Invalid(format!(
                "a forgotten mask of {} rows for {} training rows",
                forgotten.len(),
                data.train.len()
            )));
        }
        if !params.is_finite() {
            return Err(Error::Invalid(
                "the parameters hold NaN or infinite values".into(),
            ));
        }
        let live: Vec<u32> = (0..data.train.len() as u32)
            .filter(|&r| !forgotten[r as usize])
            .collect();
        let rows = &data.train.select(&live);
        let graph = match spec.propagation_layers() {
            0 => None,
            _ => Some(BipartiteGraph::from_interactions(
                data.n_users,
                data.n_items,
                rows,
            )?),
        };
        let adjacency = graph.as_ref().map(normalize);
        let arrays = adjacency.as_ref().map(csr_arrays);
        let model = DeviceModel::upload(&gpu, spec, params, arrays.as_ref())?;
        let mut rows_per_node = vec![0u32; (data.n_users + data.n_items) as usize];
        for (&u, &i) in rows.users.iter().zip(&rows.items) {
            rows_per_node[u as usize] += 1;
            rows_per_node[(data.n_users + i) as usize] += 1;
        }
        let index = |keys: &[u32], n_keys: u32| {
            crate::graph::RowIndex::build(keys, n_keys).map_err(|e| Error::Invalid(e.to_string()))
        };
        let rows_by_node = (
            index(&data.train.users, data.n_users)?,
            index(&data.train.items, data.n_items)?,
        );
        let remaining_positives = rows.labels.iter().filter(|&&l| l == 1).count();
        let mut unlearner = Unlearner {
            gpu,
            spec,
            recipe,
            data,
            forgotten,
            remaining_count: live.len(),
            remaining_positives,
            rows_by_node,
            graph,
            adjacency,
            model,
            rows_per_node,
            negatives: None,
            broken: None,
            backup: None,
            lengths: LengthHistory::default(),
            model_lengths: [None, None],
        };
        if spec.loss == crate::model::LossKind::Bpr {
            // Drawn at set-up for the default seed, so requests pay only look-ups.
            unlearner.load_negatives(IfruOptions::default_for(&spec).negative_seed)?;
        }
        Ok(unlearner)
    }

    /// Draws the negatives of `seed` (BPR) unless held already. The negatives of
    /// every training row are drawn on first use of a seed: keyed by the row's id in the
    /// model's data and avoiding every item the user has a training row with, forgotten or
    /// not, they stay fixed from request to request. A request hands them to g and H
    /// ([`RequestContext::negatives`]), which then never draw over all rows. True when this
    /// call drew them (a pass over every training row, once per unlearner and seed).
    fn load_negatives(&mut self, seed: u64) -> Result<bool> {
        let draw = self.negatives.as_ref().is_none_or(|n| n.seed != seed);
        if draw {
            let all: Vec<u32> = (0..self.data.train.len() as u32).collect();
            let by_row = crate::unlearn::influence::rhs::bpr_negatives(
                self.data.n_users,
                self.data.n_items,
                &self.data.train,
                &all,
                seed,
            )?;
            // Negatives are item nodes; one that is not (never drawn so) wraps out of range
            // and the index refuses it.
            let items: Vec<u32> = by_row
                .iter()
                .map(|&j| j.wrapping_sub(self.data.n_users))
                .collect();
            let by_negative = crate::graph::RowIndex::build(&items, self.data.n_items)
                .map_err(|e| Error::Invalid(e.to_string()))?;
            self.negatives = Some(SeededNegatives {
                seed,
                by_row,
                by_negative,
            });
        }
        Ok(draw)
    }

    pub fn spec(&self) -> ModelSpec {
        self.spec
    }

    pub fn data(&self) -> &Dataset {
        &self.data
    }

    /// The model on the device (final embeddings current after [`Unlearner::refresh`]).
    pub fn model(&self) -> &DeviceModel {
        &self.model
    }

    /// Training rows not forgotten, ascending.
    pub fn remaining_row_ids(&self) -> Vec<u32> {
        (0..self.data.train.len() as u32)
            .filter(|&r| !self.forgotten[r as usize])
            .collect()
    }

    /// The remaining rows.
    pub fn remaining_rows(&self) -> Interactions {
        self.data.train.select(&self.remaining_row_ids())
    }

    /// Recomputes the final embeddings from θ on the current graph.
    pub fn refresh(&self) -> Result<()> {
        self.usable()?;
        let forward = self.model.forward(&self.gpu)?;
        self.gpu
            .run("forward", |pass| crate::gpu::Record::record(&forward, pass))?;
        Ok(())
    }

    /// The parameters, read back.
    pub fn params(&self) -> Result<Params> {
        self.usable()?;
        Ok(self.model.params(&self.gpu)?)
    }

    /// Forgets training rows `rows` (none already forgotten) by the default method, the kind
    /// of rows detected. Same as [`Unlearner::forget_with`] with [`ForgetRequest::default`].
    pub fn forget(&mut self, rows: &[u32]) -> Result<MethodOutcome> {
        self.forget_with(rows, &ForgetRequest::default())
    }

    /// Forgets training rows `rows` (none already forgotten; in the order the request gave
    /// them: the default method fits its step on the first half and checks it on the second)
    /// as `request` says. On success the model, graph and bookkeeping are in the
    /// post-deletion state.
    ///
    /// On error nothing changed: the new graph and bookkeeping are computed aside and adopted
    /// only once every device step succeeded, and θ and the adjacency on the device are put
    /// back from a copy kept at the start. If even that fails (a lost device), the unlearner
    /// refuses every later use with the reason ([`crate::ErrorKind::Unusable`]); the model
    /// directory is never touched here.
    pub fn forget_with(&mut self, rows: &[u32], request: &ForgetRequest) -> Result<MethodOutcome> {
        let file_order = rows;
        let method = &request.method;
        let forget_rows = request
            .rows_kind
            .unwrap_or_else(|| ForgetRows::detect(&self.data, file_order));
        self.usable()?;
        let mut sorted = file_order.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let rows = &sorted[..];
        if let Some(&r) = rows
            .iter()
            .find(|&&r| self.forgotten.get(r as usize).is_none_or(|&gone| gone))
        {
            return Err(Error::Invalid(format!(
                "training row {r} is unknown or already forgotten"
            )));
        }
        let start = Instant::now();
        let counts_before = self.gpu.counts();
        let (next, full_scans) = self.after_removal(rows)?;
        self.backup = None;
        let request = Request {
            rows,
            file_order,
            next: &next,
            method,
            forget_rows,
        };
        let result = self.update_device(&request);
        // A request's scratch buffers have its own sizes (its kept nodes, rows, blocks): cached
        // for reuse they would pile up request after request, each size seldom seen again
        // (measured: the pool held 2.7x the first request's high-water mark after eight).
        // Between requests the pool keeps only the resident model's buffers.
        self.gpu.pool().trim();
        let backup = self.backup.take();
        match result {
            Ok(mut outcome) => {
                self.adopt_removal(rows, next);
                if let Some(t) = outcome
                    .step_length
                    .as_ref()
                    .filter(|len| len.source == LengthSource::Fitted)
                    .and_then(StepLength::of_auto_step)
                {
                    self.lengths.record(forget_rows, t);
                }
                if method.id() != MethodId::Retrain {
                    outcome.seconds = start.elapsed().as_secs_f64();
                }
                if let Some(figures) = &mut outcome.influence {
                    figures.full_scan_seconds.extend(full_scans);
                }
                outcome.device = Some(self.gpu.counts().since(counts_before));
                Ok(outcome)
            }
            Err(cause) => Err(self.roll_back(cause, backup)),
        }
    }

    /// The device half of a request: θ and the adjacency move to the post-deletion state,
    /// and the new θ is checked finite. The host state is not touched.
    fn update_device(&mut self, request: &Request<'_>) -> Result<MethodOutcome> {
        let Request {
            rows,
            file_order,
            next,
            method,
            forget_rows,
        } = *request;
        let mut outcome = MethodOutcome::default();
        let influence_options = match method {
            Method::None => None,
            Method::Retrain => {
                self.train_remaining(next, rows, MethodId::Retrain, 0, &mut outcome)?;
                None
            }
            Method::Finetune { epochs } => {
                self.train_remaining(next, rows, MethodId::Finetune, *epochs, &mut outcome)?;
                None
            }
            Method::IfruAdam => Some(IfruOptions::authors(&self.spec, self.recipe.adam.lr)),
            Method::Ifru(o) | Method::IfruFixed(o) | Method::IfruCalibrated(o) => {
                Some(o.resolved(&self.spec))
            }
        };
        let method = method.id();
        match influence_options {
            None => {}
            Some(opts) => {
                let drawing = Instant::now();
                let mut drawn = None;
                let negatives = match self.spec.loss {
                    crate::model::LossKind::Bce => None,
                    crate::model::LossKind::Bpr => {
                        if self.load_negatives(opts.negative_seed)? {
                            drawn = Some(drawing.elapsed().as_secs_f64());
                        }
                        self.negatives.as_ref().map(|n| &n.by_row[..])
                    }
                };
                self.refresh()?;
                let isolated = self.isolated_by(rows);
                let resident_rows = RowsByNode::resident(
                    &self.data.train,
                    self.data.n_users,
                    &self.rows_by_node.0,
                    &self.rows_by_node.1,
                    &self.forgotten,
                    &self.rows_per_node,
                );
                let ctx = RequestContext {
                    resident_rows: Some(ResidentRows {
                        index: &resident_rows,
                        forget: rows,
                        live: self.remaining_count,
                        positives: self.remaining_positives,
                        by_negative: self.negatives.as_ref().map(|n| &n.by_negative),
                    }),
                    spec: self.spec,
                    n_users: self.data.n_users,
                    n_items: self.data.n_items,
                    model: &self.model,
                    rows: &self.data.train,
                    graph: self
                        .graph
                        .as_ref()
                        .zip(next.removal.as_ref())
                        .map(|(before, removal)| GraphUpdate { before, removal }),
                    forget: rows,
                    old_adjacency: self.adjacency.as_ref(),
                    new_adjacency: next.adjacency.as_ref(),
                    reg_per_row: self.recipe.reg,
                    valid: Some(&self.data.valid),
                    negatives,
                    forget_rows,
                };
                // The forgetting check's rows and the probe's scratch model, set up once for
                // the request (the default's second solve reuses them).
                let setup = Instant::now();
                let membership = Membership::new(
                    &self.gpu,
                    &ctx,
                    &self.data.train,
                    file_order,
                    &self.data.valid,
                    forget_rows,
                    &isolated,
                )?;
                // A request whose rows give no statistic (users removed whole: every row's
                // node is zeroed) skips the scoring passes and the probe's copy of θ.
                let mut probe = match membership.is_empty() {
                    true => None,
                    false => Some(Probe::scoring_only(&self.gpu, &ctx)?),
                };
                let mut scoring = Scoring {
                    membership: &membership,
                    probe: probe.as_mut(),
                    isolated: &isolated,
                };
                let setup_seconds = setup.elapsed().as_secs_f64();
                let (mut step, length, check) = if method == MethodId::Ifru {
                    self.default_step(&ctx, &opts, &mut scoring)?
                } else {
                    let step = if method == MethodId::IfruCalibrated {
                        // The calibration's guard (validation AUC) exists for BCE models only;
                        // the calibration itself falls back to the fixed rule for BPR.
                        let floor = match self.spec.loss {
                            crate::model::LossKind::Bce => self.validation_auc()?,
                            crate::model::LossKind::Bpr => f64::NEG_INFINITY,
                        };
                        let half = &file_order[..file_order.len() / 2];
                        let fit = self.data.train.select(half);
                        let calibrated = calibrated_step(
                            &self.gpu,
                            &ctx,
                            &opts,
                            &fit,
                            &self.data.valid,
                            forget_rows,
                            floor,
                        )?;
                        outcome.warnings.extend(calibrated.warnings);
                        outcome.calibration = Some(calibrated.points);
                        calibrated.step
                    } else {
                        // Settled by the length's scoring read-back, as the default's steps.
                        let mut prepared = PreparedStep::new(&self.gpu, &ctx, &opts)?;
                        let damping = prepared.damping();
                        prepared.solve_unsettled(&self.gpu, &ctx, damping, None, None)?
                    };
                    let landed = self.step_length(step, false, &mut scoring, &opts, None)?;
                    (landed.step, landed.length, landed.check)
                };
                *step
                    .figures
                    .phase_seconds
                    .entry("forgetting".to_string())
                    .or_insert(0.0) += setup_seconds;
                outcome.warnings.extend(step.warnings.iter().cloned());
                if let Some(seconds) = drawn {
                    // Once per unlearner and seed: a resident unlearner's later requests
                    // reuse them.
                    step.figures
                        .full_scan_seconds
                        .insert("negatives".to_string(), seconds);
                }
                outcome.influence = Some(step.figures.clone());
                outcome.step_length = Some(length);
                outcome.options = Some(opts.clone());
                let failed = check.failed();
                if failed {
                    outcome.warnings.push(check.summary());
                }
                outcome.forgetting_check = Some(check);
                let policy = if failed {
                    opts.on_check_fail
                } else {
                    OnCheckFail::Warn
                };
                match policy {
                    OnCheckFail::Warn => {
                        self.apply_step(&step, &isolated, method, opts.max_step, &mut outcome)?
                    }
                    OnCheckFail::Refuse => {
                        return Err(Error::CheckFailed(format!(
                            "the request was refused (its forgetting check failed and it asked \
                             to be refused then): {}; the model is unchanged",
                            outcome
                                .forgetting_check
                                .as_ref()
                                .map_or(String::new(), ForgettingCheck::summary)
                        )));
                    }
                    OnCheckFail::Retrain => {
                        outcome
                            .warnings
                            .push("retrained on the remaining rows instead".into());
                        outcome.fallback = Some(MethodId::Retrain);
                        self.train_remaining(next, rows, MethodId::Retrain, 0, &mut outcome)?;
                    }
                }
            }
        }
        if let Some(a) = &next.adjacency {
            self.model.set_adjacency(&self.gpu, &csr_arrays(a))?;
        }
        self.gpu.wait("unlearning")?;
        Ok(outcome)
    }

    /// Trains on the rows left after the request's `rows` (`Retrain`) or fine-tunes from θ
    /// (`Finetune`) and writes the result to θ, keeping θ as it was for a rollback.
    fn train_remaining(
        &mut self,
        next: &NextState,
        rows: &[u32],
        method: MethodId,
        finetune_epochs: usize,
        outcome: &mut MethodOutcome,
    ) -> Result<()> {
        // The one pass over every row a request may make: a retrain reads them all anyway.
        let live: Vec<u32> = self
            .remaining_row_ids()
            .into_iter()
            .filter(|r| rows.binary_search(r).is_err())
            .collect();
        let remaining = &self.data.train.select(&live);
        let arrays = next.adjacency.as_ref().map(csr_arrays);
        let data = TrainData {
            n_users: self.data.n_users,
            n_items: self.data.n_items,
            rows: remaining,
            adjacency: arrays.as_ref(),
        };
        // θ as it was: the fine-tune's start, and what a failure writes back.
        let before = RowBackup::read_all(&self.gpu, self.model.theta())?;
        let result = if method == MethodId::Retrain {
            let mut validator = crate::eval::ValidationScore::new(
                self.spec.loss,
                &self.data,
                remaining,
                2000,
                self.recipe.seed,
            )?;
            train(
                &self.gpu,
                self.spec,
                &self.recipe,
                &data,
                &mut validator,
                &mut |_| {},
            )?
        } else {
            let config = TrainConfig {
                max_epochs: finetune_epochs,
                patience: finetune_epochs + 1,
                ..self.recipe.clone()
            };
            train_from(
                &self.gpu,
                self.spec,
                &config,
                &data,
                &Params::from_nodes(
                    self.data.n_users,
                    self.data.n_items,
                    self.spec.dim,
                    before.values().unwrap_or_default(),
                )
                .map_err(Error::Invalid)?,
                &mut LastEpoch(0),
                &mut |_| {},
            )?
        };
        if !result.params.is_finite() {
            return Err(Error::Invalid(
                "training produced non-finite parameters; the model is unchanged".into(),
            ));
        }
        self.backup = Some(before);
        self.model.set_params(&self.gpu, &result.params)?;
        outcome.epochs = Some(result.epochs);
        outcome.eval_seconds = if method == MethodId::Retrain {
            result.valid_seconds
        } else {
            0.0
        };
        outcome.seconds = result.train_seconds;
        Ok(())
    }

    /// The default method's step: one solve with the `auto` damping and its length fitted.
    /// (See [`SECOND_SOLVE_MATCH`] for which of two steps is kept.)
    /// A length far from the solved one (beyond [`REFINE_LENGTH`]× either way) says δ was off
    /// by about that factor, and stretching a damped step stretches its stiff directions
    /// too (measured: LightGCN K 2 over-forgot and lost test AUC at t ≈ 8); then x is solved
    /// once more with δ ÷ t, reusing the pruning, g, the operator and the preconditioner, and
    /// its length fitted again. The second step is kept when its fitting rows are at least as
    /// close to their target.
    fn default_step(
        &self,
        ctx: &RequestContext<'_>,
        opts: &IfruOptions,
        scoring: &mut Scoring<'_, '_>,
    ) -> Result<(InfluenceStep, StepLength, ForgettingCheck)> {
        let mut prepared = PreparedStep::new(&self.gpu, ctx, opts)?;
        let landed = self.one_step(&mut prepared, ctx, opts, scoring)?;
        self.continue_newton(landed, &mut prepared, ctx, opts, scoring)
    }

    /// The default's first step: solved with the `auto` damping, its length fitted, and
    /// solved again with δ ÷ t when that length was far from 1.
    fn one_step(
        &self,
        prepared: &mut PreparedStep<'_>,
        ctx: &RequestContext<'_>,
        opts: &IfruOptions,
        scoring: &mut Scoring<'_, '_>,
    ) -> Result<Landed> {
        let fits = opts.damping.is_none() && scoring.membership.can_fit();
        let model_scale = self.model_scale(scoring.membership.kind()).filter(|_| fits);
        let delta = match model_scale {
            Some(scale) => (f64::from(prepared.damping()) / scale) as f32,
            None => prepared.damping(),
        };
        if fits {
            // A second solve at δ ÷ t may follow: it starts from this solve's directions.
            prepared.keep_directions();
        }
        let step = prepared.solve_unsettled(&self.gpu, ctx, delta, None, None)?;
        let mut first = self.step_length(step, true, scoring, opts, None)?;
        first.length.model_scale = model_scale;
        let t = first.length.t;
        if first.length.source != LengthSource::Fitted || !far_from_solved(t) || !fits {
            return Ok(first);
        }
        let refined_delta = (f64::from(delta) / t) as f32;
        // From the first solve's directions: the Galerkin solution in their span, which
        // holds the first step ([`Start::Recycled`]).
        let step =
            prepared.solve_unsettled(&self.gpu, ctx, refined_delta, None, Some(&first.step.x))?;
        let mut second = self.step_length(step, true, scoring, opts, None)?;
        second.length.model_scale = model_scale;
        let miss = |l: &StepLength| match (l.fit_value, l.fit_target) {
            (Some(v), Some(target)) => (v - target).abs(),
            _ => f64::INFINITY,
        };
        // Both fits usually meet their target to the fourth digit; the re-solved step wins
        // unless it misses by more than the first and more than a negligible 0.005 (AUC
        // points or places): its direction is the better one (measured on setting B of
        // docs/DAMPING.md, where the first step, kept for a fit closer by a hair, cost 0.003
        // test AUC in one seed).
        // Whichever is kept, its phases count both solves (the request paid for both).
        if second.length.source == LengthSource::Fitted
            && miss(&second.length) <= miss(&first.length).max(SECOND_SOLVE_MATCH)
        {
            add_solve_phases(&mut second.step.figures, &first.step.figures);
            second.length.solves = 2;
            second.length.first_length = Some(t);
            Ok(second)
        } else {
            add_solve_phases(&mut first.step.figures, &second.step.figures);
            first.length.solves = 2;
            Ok(first)
        }
    }

    /// The Newton continuation ([`super::influence::newton`]): while the step ended at its
    /// longest allowed length (`max_step × ‖θ_P‖`, or [`MAX_STEP_LENGTH`]) with the fitting
    /// rows still more than [`NEWTON_GAP_LEFT`] of their way from the target, the remaining
    /// objective is re-linearised where the step ended, the next step solved with the same
    /// operator and δ, and its length fitted from there against the request's own target. A
    /// step is kept only when it brings the fitting rows closer; at most [`NEWTON_STEPS`].
    fn continue_newton(
        &self,
        mut landed: Landed,
        prepared: &mut PreparedStep<'_>,
        ctx: &RequestContext<'_>,
        opts: &IfruOptions,
        scoring: &mut Scoring<'_, '_>,
    ) -> Result<(InfluenceStep, StepLength, ForgettingCheck)> {
        let mut relinearisation = None;
        for _ in 0..NEWTON_STEPS {
            let short = |l: &StepLength| l.gap_left.filter(|g| g.is_finite()).unwrap_or(0.0);
            let (Some(origin), LengthSource::Fitted) = (landed.origin, landed.length.source) else {
                break;
            };
            // Stopped by the guard, a continuation has not helped: at the guard's edge every
            // step measured (three dampings, docs/DAMPING.md) cost the unseen rows more.
            let at_bound = landed.length.t >= landed.length.max;
            if short(&landed.length) <= NEWTON_GAP_LEFT || !at_bound {
                break;
            }
            let clock = Instant::now();
            let relin = match &mut relinearisation {
                Some(r) => r,
                None => relinearisation.insert(prepared.relinearisation(&self.gpu, ctx)?),
            };
            let rhs = relin.right_hand_side(
                &self.gpu,
                ctx,
                &landed.step.kept,
                prepared.rhs(),
                &landed.step.x,
            )?;
            let relinearise_seconds = clock.elapsed().as_secs_f64();
            let damping = landed.step.figures.damping;
            let next = prepared.solve_unsettled(&self.gpu, ctx, damping, Some(&rhs), None)?;
            let next =
                self.step_length(next, true, scoring, opts, Some((&landed.step.x, origin)))?;
            let closer = next.length.source == LengthSource::Fitted
                && short(&next.length).abs() + NEWTON_PROGRESS < short(&landed.length).abs();
            if !closer {
                break;
            }
            landed = landed.continued_by(&self.gpu, next, relinearise_seconds)?;
        }
        Ok((landed.step, landed.length, landed.check))
    }

    /// The step's length and the request's forgetting check: the rows are scored along the
    /// solved step, the length is fitted when `fit` (the default method) and the request has
    /// rows to fit on, and x is scaled to it. θ is not changed.
    fn step_length(
        &self,
        step: InfluenceStep,
        fit: bool,
        scoring: &mut Scoring<'_, '_>,
        opts: &IfruOptions,
        base: Option<(&crate::kernels::DeviceTable, Origin)>,
    ) -> Result<Landed> {
        let clock = Instant::now();
        let membership = scoring.membership;
        let kind = membership.kind();
        let path = match scoring.probe.as_deref_mut() {
            None => membership.unmeasured(),
            Some(probe) => membership.along(probe, &self.gpu, base, &step, scoring.isolated)?,
        };
        // The step's norm rode along with the scoring's read-back: a step that is not
        // finite is refused here, before any statistic of it is used.
        let mut step = step;
        step.settle(&self.gpu)?;
        let figures = &step.figures;
        let room = if figures.step_norm > 0.0 {
            f64::from(opts.max_step * figures.theta_norm) / f64::from(figures.step_norm)
        } else {
            1.0
        };
        let max = MAX_STEP_LENGTH.min(room);
        let mut warnings = Vec::new();
        let length = if !fit {
            path.length_at(1.0, LengthSource::FixedRule, max)
        } else if let Some(fitted) = path.fit_length(max) {
            fitted
        } else {
            let why = path.why_not_fitted().unwrap_or_default();
            let model_length = self.model_length(kind).map(|m| m.t);
            match (self.lengths.median(kind), model_length) {
                (Some(t), _) => {
                    warnings.push(format!(
                        "{why}: used the median step length of earlier requests ({t:.3})"
                    ));
                    path.length_at(t.min(max), LengthSource::EarlierRequests, max)
                }
                (None, Some(t)) => {
                    warnings.push(format!(
                        "{why}: used the model's own step length ({t:.3}, fitted on a \
                         pseudo-request when it was trained or imported)"
                    ));
                    path.length_at(t.min(max), LengthSource::ModelLength, max)
                }
                (None, None) => {
                    warnings.push(format!("{why}: applied the solved step as it is (t = 1)"));
                    path.length_at(1.0f64.min(max), LengthSource::FixedRule, max)
                }
            }
        };
        let check = path.check(length.t);
        if length.t != 1.0 {
            let scale = crate::kernels::blas::scale(
                &self.gpu,
                step.x.values(),
                crate::kernels::blas::Scalar::Host(length.t as f32),
                None,
            )?;
            self.gpu.run("step length", |pass| {
                crate::gpu::Record::record(&scale, pass)
            })?;
        }
        step.warnings.extend(warnings);
        // The scoring passes and the length search: what the check and the calibration cost.
        *step
            .figures
            .phase_seconds
            .entry("forgetting".to_string())
            .or_insert(0.0) += clock.elapsed().as_secs_f64();
        Ok(Landed {
            step,
            length,
            check,
            origin: path.origin(),
        })
    }

    /// Adds the step to θ (backing up the rows it changes) and zeroes the isolated nodes.
    fn apply_step(
        &mut self,
        step: &InfluenceStep,
        isolated: &[u32],
        method: MethodId,
        max_step: f32,
        outcome: &mut MethodOutcome,
    ) -> Result<()> {
        let touched = union_sorted(step.kept.nodes(), isolated);
        self.backup = Some(RowBackup::take(&self.gpu, self.model.theta(), &touched)?);
        // The step was checked finite by the solve; θ changes from here on.
        step.kept.add_into(&self.gpu, &step.x, self.model.theta())?;
        // θ + x could still overflow; only the rows backed up change, and θ was finite
        // before (checked when the unlearner took it, and after every request since). Each
        // of the at most 1 + NEWTON_STEPS steps summed into x is at most max_step × ‖θ_P‖
        // long (the clamp and the length bound), so every changed value is bounded by
        // (1 + (1 + NEWTON_STEPS) × max_step) × ‖θ_P‖: far below f32's range, no value
        // needs reading back. Only past that bound are the rows read back and checked.
        let figures = &step.figures;
        let bound =
            (1.0 + (1 + NEWTON_STEPS) as f64 * f64::from(max_step)) * f64::from(figures.theta_norm);
        if !(bound.is_finite() && bound <= OVERFLOW_FREE) {
            let now = self.gpu.download_ranges(
                self.model.theta().values(),
                &super::backup::value_runs(&touched, self.spec.dim as usize),
            )?;
            if !now.iter().all(|v| v.is_finite()) {
                return Err(Error::SolveRefused(format!(
                    "the {} update left non-finite parameters; the model is unchanged",
                    method.report_name()
                )));
            }
        }
        if !isolated.is_empty() {
            self.reset_to_zero(isolated)?;
            outcome.warnings.push(format!(
                "{} node(s) lost every training row and were set to zero (the minimiser of \
                 what remains of their objective; a zero row scores every item alike)",
                isolated.len()
            ));
        }
        Ok(())
    }

    /// Puts θ and the adjacency on the device back as they were before a failed request, and
    /// returns the request's error. When that fails too, the unlearner is marked unusable.
    fn roll_back(&mut self, cause: Error, backup: Option<RowBackup>) -> Error {
        let restored = (|| -> Result<()> {
            if let Some(backup) = &backup {
                backup.restore(&self.gpu, self.model.theta())?;
            }
            if let Some(a) = &self.adjacency {
                self.model.set_adjacency(&self.gpu, &csr_arrays(a))?;
            }
            self.gpu
                .wait("restoring the model after a failed request")?;
            Ok(())
        })();
        match restored {
            Ok(()) => cause,
            Err(failed) => {
                let reason = format!(
                    "a request failed ({cause}) and the model on the device could not be \
                     restored ({failed})"
                );
                self.broken = Some(reason.clone());
                Error::Unusable(format!(
                    "{reason}; this unlearner refuses further use (the model directory is \
                     unchanged: open it again)"
                ))
            }
        }
    }

    /// Refuses use after a failed request whose state could not be restored.
    fn usable(&self) -> Result<()> {
        match &self.broken {
            None => Ok(()),
            Some(reason) => Err(Error::Unusable(format!(
                "this unlearner is unusable: {reason}; open the model again"
            ))),
        }
    }

    /// AUC of the current model over the validation rows.
    fn validation_auc(&self) -> Result<f64> {
        self.refresh()?;
        let scores = crate::eval::score_rows(
            &self.gpu,
            self.model.embeddings(),
            self.data.n_users,
            &self.data.valid,
        )?;
        crate::eval::auc(&scores, &self.data.valid.labels)
            .ok_or_else(|| Error::Invalid("the validation rows need both labels".into()))
    }

    /// The graph after removing `rows` (LightGCN; computed, not yet adopted), with the seconds
    /// of that pass over the whole graph (reported in `full_scan_seconds`: what a request
    /// still pays in proportion to the training set). An MF model has no graph: nothing here
    /// reads more than the request's rows.
    fn after_removal(&self, rows: &[u32]) -> Result<(NextState, Vec<(String, f64)>)> {
        let Some(graph) = &self.graph else {
            let next = NextState {
                removal: None,
                adjacency: None,
            };
            return Ok((next, Vec::new()));
        };
        let clock = Instant::now();
        let removed = self.data.train.select(rows);
        let removal = graph.remove_rows(&removed.users, &removed.items, &removed.labels)?;
        let adjacency = match &self.adjacency {
            Some(old) => Some(renormalize_after_removal(
                old,
                &removal.graph,
                &removal.changed,
            )?),
            None => None,
        };
        let scans = vec![("graph_update".to_string(), clock.elapsed().as_secs_f64())];
        let next = NextState {
            removal: Some(removal),
            adjacency,
        };
        Ok((next, scans))
    }

    /// Nodes whose every remaining training row is among `rows` (ascending).
    fn isolated_by(&self, rows: &[u32]) -> Vec<u32> {
        let nu = self.data.n_users;
        let mut touched: Vec<u32> = rows
            .iter()
            .flat_map(|&r| {
                let r = r as usize;
                [self.data.train.users[r], nu + self.data.train.items[r]]
            })
            .collect();
        touched.sort_unstable();
        touched
            .chunk_by(|a, b| a == b)
            .filter(|run| self.rows_per_node[run[0] as usize] as usize == run.len())
            .map(|run| run[0])
            .collect()
    }

    /// θ of `nodes` ← 0. A node without rows keeps only the regulariser in its objective,
    /// whose minimiser is 0 (the influence update cannot get there: the rows' gradients at an
    /// early-stopped model are small). Resetting to the node's initial value instead — what
    /// a retrain leaves it — was measured to leak: the items it co-trained with still rank
    /// high for that initial vector (Gowalla: forgotten items at 0.28 of the list against
    /// the retrain's 0.43), while a zero row scores every item alike.
    fn reset_to_zero(&self, nodes: &[u32]) -> Result<()> {
        let d = self.spec.dim as usize;
        let zeros = vec![0.0f32; d];
        let theta = self.model.theta().values();
        for &v in nodes {
            theta.write_at(self.gpu.queue(), v as usize * d, &zeros)?;
        }
        Ok(())
    }

    /// Adopts the post-deletion graph and bookkeeping (host only; the device already moved).
    fn adopt_removal(&mut self, rows: &[u32], next: NextState) {
        let nu = self.data.n_users;
        for &r in rows {
            self.forgotten[r as usize] = true;
            self.remaining_count -= 1;
            if self.data.train.labels[r as usize] == 1 {
                self.remaining_positives -= 1;
            }
            let r = r as usize;
            for v in [self.data.train.users[r], nu + self.data.train.items[r]] {
                let count = &mut self.rows_per_node[v as usize];
                *count = count.saturating_sub(1);
            }
        }
        if let Some(removal) = next.removal {
            self.graph = Some(removal.graph);
            self.adjacency = next.adjacency;
        }
    }

    /// What divides the `auto` damping before a request's first solve: the model's own
    /// length for the request's kind of rows (for flipped rows, the genuine rows' length
    /// where the data marked none to fit one on), where it says the `auto` rule is off for
    /// this model by more than a second solve would correct ([`far_from_solved`]). One solve
    /// then starts near the δ the second would have used, instead of paying for both
    /// (docs/DAMPING.md, "The model's own damping"). Within that factor the `auto` damping is
    /// kept: the request's own length corrects it at no further solve. A length under 1 ÷
    /// [`MAX_STEP_LENGTH`] (the fit's own bound the other way) says the pseudo-requests found
    /// next to nothing to forget by a step, not how far δ is off: it scales nothing
    /// (measured on a held-out BPR LightGCN setting whose pseudo-requests fitted 0.0005,
    /// which would have raised δ 2,000×).
    fn model_scale(&self, kind: ForgetRows) -> Option<f64> {
        let fittable = 1.0 / MAX_STEP_LENGTH..=MAX_STEP_LENGTH;
        self.model_length(kind)
            .or(self.model_length(ForgetRows::Genuine))
            .map(|m| m.t)
            .filter(|t| fittable.contains(t) && far_from_solved(*t))
    }

    /// The model's own step length for `kind` of rows, if it has one ([`ModelLength`]).
    pub fn model_length(&self, kind: ForgetRows) -> Option<&ModelLength> {
        self.model_lengths[kind.index()].as_ref()
    }

    /// Sets the model's own step length for `kind` of rows (one fitted elsewhere on the same
    /// model, or `None`).
    pub fn set_model_length(&mut self, kind: ForgetRows, length: Option<ModelLength>) {
        self.model_lengths[kind.index()] = length;
    }

    /// The state to commit to the model directory: `base` with the current parameters and
    /// `rows` added to the forgotten set.
    pub fn state_after(&self, base: &ModelState, rows: &[u32]) -> Result<ModelState> {
        let mut state = base.clone();
        state.params = self.params()?;
        state.forgotten.insert_rows(&self.data, rows);
        Ok(state)
    }
}

/// What a request's steps are scored with: its check rows, the probe's scratch model
/// (`None` when the rows give no statistic), and the nodes it leaves without rows.
struct Scoring<'m, 'p> {
    membership: &'m Membership,
    probe: Option<&'m mut Probe<'p>>,
    isolated: &'m [u32],
}

/// How close to its target (AUC points or places) a re-solved step's fitting rows must come
/// to be kept over the first step's (see `Unlearner::default_step`).
const SECOND_SOLVE_MATCH: f64 = 0.005;
/// The Newton continuation runs while more than this share of the fitting rows' way to
/// their target is left (the forgetting check's own tolerance is a quarter of the way).
const NEWTON_GAP_LEFT: f64 = 0.25;
/// A continued step is kept only when it takes at least this share of the way off what was
/// left (less is noise in a fit over half a request's rows).
const NEWTON_PROGRESS: f64 = 0.05;
/// Continuation steps at most (each: two gradient passes over the rows reaching P and one
/// solve).
const NEWTON_STEPS: usize = 2;

/// Values at most this large (f32's range is 3.4e38) are finite after the f32 additions of
/// a step, with room for any rounding of the norm they are bounded by.
const OVERFLOW_FREE: f64 = 1e30;

/// Adds the per-solve phases of `other` (another solve of the same prepared request) to
/// `figures`; the preparation's phases, which both carry, are counted once.
fn add_solve_phases(figures: &mut InfluenceFigures, other: &InfluenceFigures) {
    for phase in ["solve", "checks", "forgetting"] {
        if let Some(seconds) = other.phase_seconds.get(phase) {
            *figures
                .phase_seconds
                .entry(phase.to_string())
                .or_insert(0.0) += seconds;
        }
    }
}

/// A step with its fitted length and forgetting check, and the statistics before the
/// request that a continuation from it keeps.
struct Landed {
    step: InfluenceStep,
    length: StepLength,
    check: ForgettingCheck,
    origin: Option<Origin>,
}

impl Landed {
    /// This step followed by `next` (fitted from where this one ended): x = Δ + s·x₁, the
    /// next step's fit and check, the solves and phases of both.
    fn continued_by(
        self,
        gpu: &crate::gpu::Gpu,
        next: Landed,
        relinearise_seconds: f64,
    ) -> Result<Landed> {
        let add = crate::kernels::blas::axpby(
            gpu,
            crate::kernels::blas::Scalar::Host(1.0),
            self.step.x.values(),
            crate::kernels::blas::Scalar::Host(1.0),
            next.step.x.values(),
            None,
        )?;
        gpu.run("continued step", |pass| {
            crate::gpu::Record::record(&add, pass)
        })?;
        drop(add);
        let mut figures = self.step.figures;
        figures.iterations += next.step.figures.iterations;
        add_solve_phases(&mut figures, &next.step.figures);
        *figures
            .phase_seconds
            .entry("relinearise".to_string())
            .or_insert(0.0) += relinearise_seconds;
        let mut warnings = self.step.warnings;
        warnings.extend(next.step.warnings);
        let mut length = StepLength {
            solves: self.length.solves + 1,
            fit_value: next.length.fit_value,
            unseen_value: next.length.unseen_value,
            gap_left: next.length.gap_left,
            first_gap_left: self.length.first_gap_left.or(self.length.gap_left),
            ..self.length
        };
        length.relinearised.push(next.length.t);
        Ok(Landed {
            step: InfluenceStep {
                kept: next.step.kept,
                x: next.step.x,
                figures,
                warnings,
                // Both steps were settled when their lengths were fitted.
                unsettled: None,
            },
            length,
            check: next.check,
            origin: self.origin,
        })
    }
}

/// One request's inputs, as [`Unlearner::forget_with`] checked them.
#[derive(Clone, Copy)]
struct Request<'a> {
    /// Training row ids, ascending and distinct.
    rows: &'a [u32],
    file_order: &'a [u32],
    next: &'a NextState,
    method: &'a Method,
    forget_rows: ForgetRows,
}

/// The post-deletion graph of a request (LightGCN).
struct NextState {
    /// The graph after the request, and the nodes whose degree it changed (`None`: an MF
    /// model, which keeps no graph).
    removal: Option<Removal>,
    adjacency: Option<Csr<f32>>,
}
