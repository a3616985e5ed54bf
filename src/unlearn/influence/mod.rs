//! The influence update of one request (docs/ARCHITECTURE.md): prune to the kept nodes P, build the
//! right-hand side g (direct + spillover), solve (H_PP + δI) x = g_P by conjugate gradient
//! on the GPU, and return x on P for the caller to add to θ_P.
//!
//! The pieces, one module each: [`options`] (settings and the `auto` damping), [`rhs`] (g),
//! [`hvp`] (the Hessian operator), [`mod@prune`] (which nodes move), `probe` (scoring a
//! candidate update), [`forgetting`] (the step length and the forgetting check), [`newton`]
//! (the next step from an updated θ), [`calibrate`] (the per-request damping search) and `adam` (the authors' solver).

mod adam;
pub mod calibrate;
pub mod forgetting;
pub mod hvp;
pub mod newton;
pub mod options;
pub(crate) mod probe;
pub mod prune;
pub mod rhs;
pub mod stationarity;

pub use options::{
    AUTO_DAMPING_PER_CURVATURE_FLIPPED, AUTO_DAMPING_PER_CURVATURE_GENUINE, HessianAt, IfruOptions,
    OnCheckFail, Precond, Pruning, Solver, Spillover, auto_damping,
};
pub(crate) use probe::Probe;

use serde::{Deserialize, Serialize};

use crate::data::Interactions;
use crate::error::{Error, Result};
use crate::gpu::LaterRead;
use crate::gpu::{Gpu, Record};
use crate::graph::Csr;
use crate::kernels::DeviceTable;
use crate::kernels::blas::{Scalar, clamp_factor, scale};
use crate::kernels::reduce::{dot_later, squared_norm};
use crate::model::{DeviceModel, ModelSpec};
use crate::solve::{CgOptions, CgOutcome, Preconditioner, Start, solve_from, solve_recording};
use crate::unlearn::request::ForgetRows;

use adam::adam_solve;
use hvp::{HessianInputs, HessianKind, HvpOperator};
pub use prune::PruneOptions;
use prune::{NodeSubset, prune, prune_on};
use rhs::{InfluenceRows, RhsOptions, SpilloverRule, right_hand_side_on};

/// Solver and pruning figures of one influence update.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InfluenceFigures {
    pub iterations: usize,
    pub kept_users: usize,
    pub kept_items: usize,
    /// ‖r‖ / ‖g‖ at the end.
    pub residual: f32,
    pub damping: f32,
    pub residual_trace: Vec<(usize, f32)>,
    pub hessian: Option<HessianKind>,
    pub local_nodes: u32,
    pub local_rows: usize,
    pub spillover_rows: usize,
    /// Mean diagonal of H_PP (Gauss–Newton terms and λ; without propagation for LightGCN):
    /// the curvature scale the `auto` damping follows.
    pub mean_curvature: f64,
    /// ‖x‖ after the clamp, and ‖θ̂_P‖: the step's size against the parameters it moves.
    pub step_norm: f32,
    pub theta_norm: f32,
    /// Wall seconds of each phase (pruning, right-hand side, operator, solve, checks).
    pub phase_seconds: std::collections::BTreeMap<String, f64>,
    /// Host passes over every training row (or node) a request still makes, in seconds
    /// each, inside the phases above: the work that grows with the whole training set, not
    /// with the request (`prune`: indexing the rows for the importance scores, and
    /// `hessian_rows`: finding the rows reaching P (for BCE, the operator's build), both
    /// where the caller keeps no row index;
    /// `spillover_rows`: LightGCN's remaining rows touching the changed region; the engine
    /// adds LightGCN's `graph_update` and, when it first draws them, `negatives`). Empty
    /// (and written so) for a request that read only its own neighbourhood.
    #[serde(default)]
    pub full_scan_seconds: std::collections::BTreeMap<String, f64>,
}

/// The update x on the kept nodes, with the nodes and figures.
pub struct InfluenceStep {
    pub kept: std::sync::Arc<NodeSubset>,
    pub x: DeviceTable,
    pub figures: InfluenceFigures,
    pub warnings: Vec<String>,
    /// ‖x‖² and the clamp's factor, read back with the next read-back, and the clamp's
    /// bound: until [`InfluenceStep::settle`], `figures.step_norm` is not yet known.
    pub(crate) unsettled: Option<(LaterRead, f32, f32)>,
}

impl InfluenceStep {
    /// Reads the step's norm (with the next read-back, or now) into `figures.step_norm`, and
    /// refuses a step that is not finite. x was clamped on the device already. Every step
    /// a [`PreparedStep`] hands out publicly is settled; the engine settles its own after
    /// the forgetting check's scoring read-back, which the norm rides along with.
    pub(crate) fn settle(&mut self, gpu: &Gpu) -> Result<()> {
        let Some((later, bound, max_step)) = self.unsettled.take() else {
            return Ok(());
        };
        let read = gpu.values_of(&later)?;
        let x_norm = read.first().copied().unwrap_or(f32::NAN).sqrt();
        // Never write a non-finite or runaway step.
        if !x_norm.is_finite() {
            return Err(Error::SolveRefused(
                "the update is not finite; the model is unchanged".into(),
            ));
        }
        self.figures.step_norm = x_norm.min(bound);
        if x_norm > bound {
            self.warnings.push(format!(
                "the step ‖x‖ = {x_norm:.3e} exceeded {max_step} × ‖θ_P‖ = {bound:.3e}; scaled down"
            ));
        }
        Ok(())
    }
}

/// The graph and rows before and after the request, and θ̂ on the device.
pub struct RequestContext<'a> {
    pub spec: ModelSpec,
    pub n_users: u32,
    pub n_items: u32,
    /// θ̂ with Â (final embeddings current).
    pub model: &'a DeviceModel,
    /// The rows `forget` and every row list index: the model's rows before the request (D).
    /// With `resident_rows` given they may also hold rows forgotten by earlier requests,
    /// left in place and flagged in its index (a resident unlearner hands its whole training
    /// data, so positions are training ids); every pass then skips those rows.
    pub rows: &'a Interactions,
    /// The graph of `rows` and what the request does to it, when the caller keeps the graph
    /// resident and has computed the removal (built from `rows` otherwise).
    pub graph: Option<GraphUpdate<'a>>,
    /// D_r as positions in `rows`.
    pub forget: &'a [u32],
    /// Â and Â' (LightGCN).
    pub old_adjacency: Option<&'a Csr<f32>>,
    pub new_adjacency: Option<&'a Csr<f32>>,
    /// λ in sum units per row (`--reg`): λ = reg · n for the objective's n rows.
    pub reg_per_row: f64,
    /// Validation rows (the Adam solver's early stopping).
    pub valid: Option<&'a Interactions>,
    /// BPR: the negative (an item node) of every row of `rows`, when the caller drew them
    /// once and keeps them (a resident unlearner: [`crate::unlearn::engine::Unlearner`]);
    /// `None` draws them per request from the options' seed and each row's place in `rows`
    /// ([`rhs::bpr_negatives`]). Either way g and H see the same negatives; given
    /// ones also let the Hessian skip, without drawing, every triple that does not reach P.
    pub negatives: Option<&'a [u32]>,
    /// What kind of rows D_r holds (the `auto` damping depends on it).
    pub forget_rows: ForgetRows,
    /// The caller's resident row index over its training data and D_r as ids in that data
    /// (a resident unlearner): pruning then reads the request's neighbourhood through it
    /// instead of passing over every row of `rows` (`None`: it indexes `rows` itself).
    pub resident_rows: Option<ResidentRows<'a>>,
}

/// A resident unlearner's indexes over its training data, for the passes that would
/// otherwise read every row: pruning, and BPR's rows reaching P.
#[derive(Clone, Copy)]
pub struct ResidentRows<'a> {
    /// User/item → training rows, with the rows forgotten earlier flagged.
    pub index: &'a prune::RowsByNode<'a>,
    /// D_r as ids in the training data, ascending.
    pub forget: &'a [u32],
    /// Rows of the training data not forgotten earlier (the objective's rows before the
    /// request).
    pub live: usize,
    /// Rows of `rows` labelled 1 (BPR's objective counts only them).
    pub positives: usize,
    /// BPR: negative item (as an item id) → training rows whose negative it is, for the
    /// negatives of `RequestContext::negatives`.
    pub by_negative: Option<&'a crate::graph::RowIndex>,
}

impl<'a> ResidentRows<'a> {
    /// `resident` where it can stand in for a pass over every row: always for BCE; for BPR
    /// only with the rows' negatives handed in and their index (a row reaches P through its
    /// negative too).
    pub(crate) fn usable(
        resident: Option<Self>,
        loss: crate::model::LossKind,
        negatives: Option<&[u32]>,
    ) -> Option<Self> {
        resident.filter(|r| {
            loss == crate::model::LossKind::Bce || (negatives.is_some() && r.by_negative.is_some())
        })
    }
}

impl<'a> RequestContext<'a> {
    /// The caller's row indexes, where they can stand in for a pass over every row
    /// ([`ResidentRows::usable`]).
    pub(crate) fn row_indexes(&self) -> Option<ResidentRows<'a>> {
        ResidentRows::usable(self.resident_rows, self.spec.loss, self.negatives)
    }

    /// Whether row `r` of `rows` was forgotten by an earlier request (flagged in the
    /// resident index; never without one).
    pub(crate) fn gone_before(&self, r: u32) -> bool {
        self.resident_rows
            .is_some_and(|resident| resident.index.is_gone(r))
    }

    /// The rows of `users` that remain after the request (every label), in row order: what
    /// a user's ranked list excludes. Read through the resident index where there is one,
    /// else by a pass over every row.
    pub(crate) fn remaining_rows_of(&self, users: &[u32]) -> Interactions {
        let ids: Vec<u32> = match self.resident_rows {
            Some(resident) => {
                let mut ids = Vec::new();
                for &u in users {
                    resident.index.for_each_row(u, |r| {
                        if resident.forget.binary_search(&r).is_err() {
                            ids.push(r);
                        }
                    });
                }
                ids.sort_unstable();
                ids.dedup();
                ids
            }
            None => {
                let forgotten = crate::data::id_mask(self.rows.len(), self.forget);
                let is_user = crate::data::id_mask(self.n_users as usize, users);
                (0..self.rows.len() as u32)
                    .filter(|&r| {
                        let u = self.rows.users[r as usize] as usize;
                        !forgotten[r as usize] && is_user.get(u).copied().unwrap_or(false)
                    })
                    .collect()
            }
        };
        self.rows.select(&ids)
    }
}

/// A resident graph and the request's removal from it, computed once by the caller (the
/// new graph, the nodes whose degree changed): the right-hand side's plan reuses them
/// instead of copying the whole graph again.
#[derive(Clone, Copy)]
pub struct GraphUpdate<'a> {
    pub before: &'a crate::graph::BipartiteGraph,
    pub removal: &'a crate::graph::Removal,
}

/// Computes the influence update of a request; θ is not changed.
pub fn influence_step(
    gpu: &Gpu,
    ctx: &RequestContext<'_>,
    opts: &IfruOptions,
) -> Result<InfluenceStep> {
    let mut prepared = PreparedStep::new(gpu, ctx, opts)?;
    let damping = prepared.damping();
    prepared.solve(gpu, ctx, damping)
}

/// A request made ready to solve: the kept nodes P, g on P and the Hessian operator, with
/// the preconditioner's data once built. Solves with different dampings reuse all of it
/// (the calibrated step tries 4–5 of them).
pub struct PreparedStep<'a> {
    opts: IfruOptions,
    kept: std::sync::Arc<NodeSubset>,
    g: DeviceTable,
    /// θ̂ with Â' when the Hessian is taken at the new state (`None`: the context's model).
    hessian_model: Option<DeviceModel>,
    rows: std::borrow::Cow<'a, Interactions>,
    negatives: Vec<u32>,
    lambda: f32,
    kind: HessianKind,
    op: HvpOperator,
    precond: Option<BuiltPrecond>,
    /// Nodes within the operator's reach of P (the rows touching them reach P).
    near: Vec<u32>,
    /// ‖θ_P‖², read back with the next read-back.
    theta_norm_sq: LaterRead,
    /// The kind of rows forgotten (the `auto` damping's factor).
    forget_rows: ForgetRows,
    figures: InfluenceFigures,
    warnings: Vec<String>,
    /// Whether the next solve from 0 keeps its search directions ([`Self::keep_directions`]).
    keep_directions: bool,
    /// The directions the last recording solve kept: a later solve from that solve's step
    /// starts from them ([`Start::Recycled`]).
    basis: Option<crate::solve::KrylovBasis>,
}

/// Wall-clock phases, each the time since the previous lap.
struct Laps {
    clock: std::time::Instant,
    phases: std::collections::BTreeMap<&'static str, f64>,
}

impl Laps {
    fn new() -> Self {
        Laps {
            clock: std::time::Instant::now(),
            phases: std::collections::BTreeMap::new(),
        }
    }

    /// Seconds since the last lap.
    fn since_lap(&self) -> f64 {
        self.clock.elapsed().as_secs_f64()
    }

    fn lap(&mut self, name: &'static str) {
        *self.phases.entry(name).or_insert(0.0) += self.clock.elapsed().as_secs_f64();
        self.clock = std::time::Instant::now();
    }
}

impl<'a> PreparedStep<'a> {
    /// Prunes, builds g on P and the Hessian operator (`opts.hessian`).
    pub fn new(gpu: &Gpu, ctx: &RequestContext<'a>, opts: &IfruOptions) -> Result<Self> {
        let spec = ctx.spec;
        let n = ctx.n_users + ctx.n_items;
        let mut laps = Laps::new();
        let mut full_scans = std::collections::BTreeMap::new();
        let nodes = match opts.prune.resolved(spec.kind) {
            Pruning::Keep(p) => match ctx.resident_rows {
                Some(resident) => prune_on(resident.index, resident.forget, p)?.nodes,
                None => prune(ctx.n_users, ctx.n_items, ctx.rows, ctx.forget, p)?.nodes,
            },
            Pruning::Off | Pruning::ModelDefault => (0..n).collect(),
        };
        if ctx.resident_rows.is_none() {
            // Indexing `rows` here is a pass over every one of them.
            full_scans.insert("prune".to_string(), laps.since_lap());
        }
        laps.lap("prune");
        let kept_users = nodes.partition_point(|&v| v < ctx.n_users);
        let kept = NodeSubset::new(gpu, n, &nodes)?;
        let mut figures = InfluenceFigures {
            kept_users,
            kept_items: nodes.len() - kept_users,
            ..InfluenceFigures::default()
        };

        let rhs_options = RhsOptions {
            spillover: match opts.spillover {
                Spillover::Exact => SpilloverRule::Exact,
                Spillover::Authors => SpilloverRule::AUTHORS,
                Spillover::None => SpilloverRule::DirectOnly,
            },
            negative_seed: opts.negative_seed,
        };
        let scan = std::time::Instant::now();
        let plan = InfluenceRows::plan_with(
            spec,
            ctx.n_users,
            ctx.n_items,
            ctx.rows,
            ctx.forget,
            rhs_options,
            rhs::Held {
                negatives: ctx.negatives,
                before: ctx.graph.map(|graph| graph.before),
                removal: ctx.graph.map(|graph| (graph.removal, ctx.new_adjacency)),
                rows: ctx.resident_rows,
            },
        )?;
        figures.spillover_rows = plan.spillover.len();
        if spec.propagation_layers() > 0 && ctx.row_indexes().is_none() {
            // Without the caller's indexes, the spillover's rows are found by a pass over
            // every remaining row.
            full_scans.insert("spillover_rows".to_string(), scan.elapsed().as_secs_f64());
        }
        let new_model = if plan.spillover.is_empty() {
            None
        } else {
            plan.new_model(gpu, ctx.model)?
        };
        let g = right_hand_side_on(gpu, ctx.model, new_model.as_ref(), &plan, &kept)?;
        laps.lap("rhs");

        // H at the old graph (θ̂, Â) or the new one (θ̂, Â'), whose final embeddings differ.
        // A model whose forward pass the right-hand side just ran is not propagated again.
        let (hessian_model, forward_current) = match (opts.hessian_at, new_model) {
            (HessianAt::Old, _) => (None, plan.runs_forward()),
            (HessianAt::New, Some(m)) => (Some(m), plan.runs_forward()),
            (HessianAt::New, None) => (plan.new_model(gpu, ctx.model)?, false),
        };
        if !forward_current {
            let forward = hessian_model.as_ref().unwrap_or(ctx.model).forward(gpu)?;
            gpu.run("forward for H", |pass| forward.record(pass))?;
        }
        let (_, hessian_graph) = hessian_state(ctx, hessian_model.as_ref());
        let (_, near) = hvp::reach(spec, opts.hessian, hessian_graph, &nodes)?;
        let scan = std::time::Instant::now();
        let objective = hessian_rows(ctx, opts.hessian_at, opts.negative_seed, &near)?;
        let indexed = ctx.row_indexes().is_some();
        if spec.loss == crate::model::LossKind::Bpr && !indexed {
            full_scans.insert("hessian_rows".to_string(), scan.elapsed().as_secs_f64());
        }
        let (rows, negatives) = (objective.rows, objective.negatives);
        let lambda = (ctx.reg_per_row * objective.count as f64) as f32;
        let theta_p = DeviceTable::zeros(gpu, nodes.len() as u32, spec.dim, "theta on P")?;
        let pick = kept.gather(gpu, ctx.model.theta(), &theta_p)?;
        gpu.run("theta on P", |pass| pick.record(pass))?;
        drop(pick);
        // Read with the preconditioner's read-back, not a round trip of its own.
        let theta_norm_sq = dot_later(gpu, theta_p.values(), theta_p.values())?;
        let building = std::time::Instant::now();
        let op = operator(
            gpu,
            ctx,
            hessian_model.as_ref(),
            &rows,
            &negatives,
            lambda,
            opts.hessian,
            &nodes,
        )?;
        if spec.loss == crate::model::LossKind::Bce && !indexed {
            // Handed every row, the operator passes over all of them for those reaching P.
            full_scans.insert("hessian_rows".to_string(), building.elapsed().as_secs_f64());
        }
        laps.lap("operator");
        figures.local_nodes = op.local_nodes();
        figures.local_rows = op.local_rows();
        // The preconditioner is built here: the auto damping needs the curvature it reads.
        let kind = match opts.solver {
            Solver::Cg => opts.precond,
            Solver::Adam { .. } => Precond::None,
        };
        let (precond, mean_curvature) = BuiltPrecond::new(gpu, &op, kind)?;
        figures.mean_curvature = mean_curvature;
        laps.lap("precond");
        figures.phase_seconds = laps
            .phases
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        figures.full_scan_seconds = full_scans;
        Ok(PreparedStep {
            opts: opts.clone(),
            kept: std::sync::Arc::new(kept),
            g,
            hessian_model,
            rows,
            negatives,
            lambda,
            kind: opts.hessian,
            op,
            precond: Some(precond),
            near,
            theta_norm_sq,
            forget_rows: ctx.forget_rows,
            figures,
            warnings: Vec::new(),
            keep_directions: false,
            basis: None,
        })
    }

    /// Makes the next solve from 0 keep its search directions, so a solve at another δ from
    /// its step (the default's second solve) starts from them ([`Start::Recycled`]).
    pub(crate) fn keep_directions(&mut self) {
        self.keep_directions = true;
    }

    /// The damping of a fixed step: the options' δ, or the `auto` rule on this request's
    /// curvature.
    pub fn damping(&self) -> f32 {
        self.opts
            .damping
            .unwrap_or_else(|| auto_damping(self.figures.mean_curvature, self.forget_rows))
    }

    /// Solves (H_PP + δI) x = g_P with damping δ (the prepared options otherwise); falls back
    /// to Gauss–Newton for good on non-positive curvature. θ is not changed.
    pub fn solve(
        &mut self,
        gpu: &Gpu,
        ctx: &RequestContext<'_>,
        damping: f32,
    ) -> Result<InfluenceStep> {
        self.solve_for(gpu, ctx, damping, None)
    }

    /// ‖θ_P‖ (read back with the preconditioner's data, or now).
    fn theta_norm(&self, gpu: &Gpu) -> Result<f32> {
        let read = gpu.values_of(&self.theta_norm_sq)?;
        Ok(read.first().copied().unwrap_or(f32::NAN).sqrt())
    }

    /// g on P.
    pub fn rhs(&self) -> &DeviceTable {
        &self.g
    }

    /// The remaining objective's gradient on P at θ̂, ready to re-linearise at an updated θ
    /// ([`newton`]), with this operator's rows' reach and λ.
    pub fn relinearisation(
        &self,
        gpu: &Gpu,
        ctx: &RequestContext<'_>,
    ) -> Result<newton::Relinearisation> {
        newton::Relinearisation::new(
            gpu,
            ctx,
            &self.kept,
            &self.near,
            self.lambda,
            self.opts.negative_seed,
        )
    }

    /// [`PreparedStep::solve`] with right-hand side `rhs` (on P) instead of g: the operator,
    /// its preconditioner and the clamp as for g.
    pub fn solve_for(
        &mut self,
        gpu: &Gpu,
        ctx: &RequestContext<'_>,
        damping: f32,
        rhs: Option<&DeviceTable>,
    ) -> Result<InfluenceStep> {
        let mut step = self.solve_unsettled(gpu, ctx, damping, rhs, None)?;
        step.settle(gpu)?;
        Ok(step)
    }

    /// [`PreparedStep::solve_for`], started from (the best multiple of) `guess` when given,
    /// the step of a solve of this request at another damping ([`Start::Guess`]: the
    /// default's second solve; the result is the same system's solution to the same rtol,
    /// only the iterations change), with the step's norm not yet read
    /// ([`InfluenceStep::settle`]): the engine settles it with the forgetting check's
    /// read-back.
    pub(crate) fn solve_unsettled(
        &mut self,
        gpu: &Gpu,
        ctx: &RequestContext<'_>,
        damping: f32,
        rhs: Option<&DeviceTable>,
        guess: Option<&DeviceTable>,
    ) -> Result<InfluenceStep> {
        let spec = ctx.spec;
        let opts = self.opts.clone();
        let mut laps = Laps::new();
        let mut warnings = self.warnings.clone();
        let cg = CgOptions {
            rtol: opts.rtol,
            max_iter: opts.max_iter,
            damping,
            ..CgOptions::default()
        };
        let x = DeviceTable::zeros(gpu, self.kept.len() as u32, spec.dim, "x on P")?;
        let record = self.keep_directions && guess.is_none() && rhs.is_none();
        if record || rhs.is_some() {
            // Directions of another right-hand side (or about to be replaced) start nothing.
            self.basis = None;
        }
        let mut start = match guess {
            Some(guess) => {
                let copy = crate::kernels::blas::copy(gpu, guess.values(), x.values())?;
                gpu.run("x = guess", |pass| copy.record(pass))?;
                match &self.basis {
                    Some(basis) if !basis.is_empty() => Start::Recycled(basis),
                    _ => Start::Guess,
                }
            }
            None => Start::Zero,
        };
        let mut recorded = None;
        let report = loop {
            let report = match opts.solver {
                Solver::Cg => {
                    if self.precond.is_none() {
                        self.precond = Some(BuiltPrecond::new(gpu, &self.op, opts.precond)?.0);
                        laps.lap("precond");
                    }
                    let pre = self
                        .precond
                        .as_ref()
                        .map_or(Preconditioner::None, BuiltPrecond::preconditioner);
                    let b = rhs.unwrap_or(&self.g).values();
                    if record {
                        let (report, basis) =
                            solve_recording(gpu, &self.op, b, x.values(), start, &pre, &cg)?;
                        recorded = Some(basis);
                        report
                    } else {
                        solve_from(gpu, &self.op, b, x.values(), start, &pre, &cg)?
                    }
                }
                Solver::Adam {
                    lr,
                    max_iter,
                    patience,
                } => {
                    let valid = ctx.valid.ok_or_else(|| {
                        Error::Invalid("the Adam solver needs validation rows".into())
                    })?;
                    let mut probe = Probe::new(gpu, ctx, valid)?;
                    adam_solve(
                        gpu,
                        &self.op,
                        rhs.unwrap_or(&self.g),
                        &x,
                        &self.kept,
                        &mut probe,
                        damping,
                        lr,
                        max_iter,
                        patience,
                    )?
                }
            };
            match report.outcome {
                CgOutcome::NonPositiveCurvature { iteration }
                    if self.kind != HessianKind::GaussNewton =>
                {
                    let message = format!(
                        "the {:?} Hessian showed non-positive curvature at iteration {iteration}; fell back to Gauss-Newton",
                        self.kind
                    );
                    warnings.push(message.clone());
                    self.warnings.push(message);
                    self.kind = HessianKind::GaussNewton;
                    self.op = operator(
                        gpu,
                        ctx,
                        self.hessian_model.as_ref(),
                        &self.rows,
                        &self.negatives,
                        self.lambda,
                        self.kind,
                        self.kept.nodes(),
                    )?;
                    self.precond = None;
                    laps.lap("operator");
                    let fill = crate::kernels::blas::fill(gpu, x.values(), 0.0)?;
                    gpu.run("x = 0", |pass| fill.record(pass))?;
                    // The kept directions were the old operator's.
                    start = Start::Zero;
                    recorded = None;
                    continue;
                }
                _ => break report,
            }
        };
        if let Some(basis) = recorded {
            self.basis = Some(basis);
        }
        laps.lap("solve");
        let mut figures = self.figures.clone();
        figures.damping = damping;
        figures.hessian = Some(self.kind);
        figures.local_nodes = self.op.local_nodes();
        figures.local_rows = self.op.local_rows();
        figures.iterations = report.iterations;
        figures.residual = report.residual;
        figures.residual_trace = report.residual_trace.clone();
        warnings.extend(report.warnings.iter().cloned());
        // The outcomes (docs/ARCHITECTURE.md, "The solve"): a converged solve, or the iterate at --max-iter
        // with the solver's warning in `warnings`, is applied; non-positive curvature left
        // after the Gauss–Newton fallback (only a singular H_PP + δI: δ = 0 and λ = 0), a
        // non-finite value or a breakdown refuse the request before θ changes.
        match report.outcome {
            CgOutcome::Converged | CgOutcome::MaxIter => {}
            other => {
                let mut why = report.warnings.join("; ");
                if matches!(other, CgOutcome::NonPositiveCurvature { .. }) {
                    why.push_str(&format!(
                        "; this is the Gauss-Newton matrix, which is only positive \
                         semi-definite: singular here with δ = {damping} and λ = {}, so set \
                         a positive damping",
                        self.lambda
                    ));
                }
                return Err(Error::SolveRefused(format!(
                    "the influence solve was refused ({other:?}): {why}; the model is unchanged"
                )));
            }
        }
        // The clamp ‖x‖ ≤ max_step × ‖θ_P‖ on the device; the norm is read (and a
        // non-finite step refused) when the step is settled.
        let theta_norm = self.theta_norm(gpu)?;
        if !theta_norm.is_finite() {
            return Err(Error::SolveRefused(format!(
                "‖θ_P‖ is not finite ({theta_norm}); the model is unchanged"
            )));
        }
        let bound = opts.max_step * theta_norm.max(f32::MIN_POSITIVE);
        figures.theta_norm = theta_norm;
        let norms = gpu.zeros::<f32>(2, "‖x‖² and the clamp factor")?;
        let bound_for_kernel = if bound.is_finite() { bound } else { f32::MAX };
        let clamp = squared_norm(gpu, x.values(), &norms, 0)?
            .then(clamp_factor(gpu, &norms, 0, 1, bound_for_kernel)?)
            .then(scale(
                gpu,
                x.values(),
                Scalar::Device {
                    c: 1.0,
                    num: 1,
                    den: None,
                },
                Some(&norms),
            )?);
        gpu.run("clamp step", |pass| clamp.record(pass))?;
        drop(clamp);
        let unsettled = Some((gpu.read_later(&norms, 2)?, bound, opts.max_step));
        laps.lap("checks");
        for (name, seconds) in laps.phases {
            *figures.phase_seconds.entry(name.to_string()).or_insert(0.0) += seconds;
        }
        Ok(InfluenceStep {
            kept: self.kept.clone(),
            x,
            figures,
            warnings,
            unsettled,
        })
    }
}

/// The model and graph the Hessian is taken at: the context's old ones, or `hessian_model`
/// with the new graph (`--hessian-at new`).
fn hessian_state<'m>(
    ctx: &RequestContext<'m>,
    hessian_model: Option<&'m DeviceModel>,
) -> (&'m DeviceModel, Option<&'m Csr<f32>>) {
    match hessian_model {
        None => (ctx.model, ctx.old_adjacency),
        Some(m) => (m, ctx.new_adjacency),
    }
}

/// The Hessian operator on `nodes` at the context's model (or `hessian_model`).
#[allow(clippy::too_many_arguments)]
fn operator(
    gpu: &Gpu,
    ctx: &RequestContext<'_>,
    hessian_model: Option<&DeviceModel>,
    rows: &Interactions,
    negatives: &[u32],
    lambda: f32,
    kind: HessianKind,
    nodes: &[u32],
) -> Result<HvpOperator> {
    let (emb_model, adjacency) = hessian_state(ctx, hessian_model);
    let inputs = HessianInputs {
        spec: ctx.spec,
        n_users: ctx.n_users,
        n_items: ctx.n_items,
        emb: emb_model.embeddings().view(),
        adjacency,
        rows,
        negatives,
        lambda,
    };
    HvpOperator::new(gpu, &inputs, kind, nodes)
}

/// The Hessian's rows: those the operator needs, and how many rows the objective has (its
/// λ is `reg · count`).
struct HessianRows<'a> {
    rows: std::borrow::Cow<'a, Interactions>,
    negatives: Vec<u32>,
    count: usize,
}

/// The Hessian's rows at the old or the new state: for BCE every row; for BPR the positive
/// rows, each with the negative g gives it (the same draw, so the Hessian at the new state
/// keeps the same negatives for the rows that remain). With negatives given
/// ([`RequestContext::negatives`]) only the triples with a node in `near` (the operator's
/// reach, [`hvp::reach`]) are kept, the others contributing nothing to `(Hv)_P`.
fn hessian_rows<'a>(
    ctx: &RequestContext<'a>,
    at: HessianAt,
    negative_seed: u64,
    near: &[u32],
) -> Result<HessianRows<'a>> {
    use std::borrow::Cow;
    let all = |rows: &'a Interactions| HessianRows {
        rows: Cow::Borrowed(rows),
        negatives: Vec::new(),
        count: rows.len(),
    };
    match (ctx.spec.loss, at, ctx.row_indexes()) {
        // Through the resident indexes: only the rows reaching `near`, the rows the
        // operator would keep of all of them, in the same order.
        (crate::model::LossKind::Bce, _, Some(resident)) => {
            let (ids, count) = rows_indexed(ctx, resident, at, near);
            Ok(HessianRows {
                rows: Cow::Owned(ctx.rows.select(&ids)),
                negatives: Vec::new(),
                count,
            })
        }
        (crate::model::LossKind::Bce, HessianAt::Old, None) => Ok(all(ctx.rows)),
        (crate::model::LossKind::Bce, HessianAt::New, None) => {
            let forgotten = crate::data::id_mask(ctx.rows.len(), ctx.forget);
            let ids: Vec<u32> = (0..ctx.rows.len() as u32)
                .filter(|&r| !forgotten[r as usize])
                .collect();
            Ok(HessianRows {
                count: ids.len(),
                rows: Cow::Owned(ctx.rows.select(&ids)),
                negatives: Vec::new(),
            })
        }
        (crate::model::LossKind::Bpr, _, indexes) => {
            let (ids, count) = match indexes {
                Some(resident) => rows_indexed(ctx, resident, at, near),
                None => bpr_rows_scanned(ctx, at, near),
            };
            let negatives = rhs::negatives_of(
                ctx.n_users,
                ctx.n_items,
                ctx.rows,
                &ids,
                negative_seed,
                ctx.negatives,
            )?;
            Ok(HessianRows {
                rows: Cow::Owned(ctx.rows.select(&ids)),
                negatives,
                count,
            })
        }
    }
}

/// The Hessian's rows (positions in `ctx.rows`) and the objective's row count (BCE: every
/// row; BPR: its positives), through the resident indexes.
fn rows_indexed(
    ctx: &RequestContext<'_>,
    resident: ResidentRows<'_>,
    at: HessianAt,
    near: &[u32],
) -> (Vec<u32>, usize) {
    let ids = rows_reaching(
        ctx.n_users,
        ctx.spec.loss,
        resident,
        at == HessianAt::New,
        near,
    );
    let (before, request) = match ctx.spec.loss {
        crate::model::LossKind::Bce => (resident.live, resident.forget.len()),
        crate::model::LossKind::Bpr => {
            let labels = &resident.index.train().labels;
            let positives = resident
                .forget
                .iter()
                .filter(|&&r| labels[r as usize] == 1)
                .count();
            (resident.positives, positives)
        }
    };
    let count = match at {
        HessianAt::Old => before,
        HessianAt::New => before - request,
    };
    (ids, count)
}

/// [`rows_indexed`] for BPR by a pass over every row of `ctx.rows`: with negatives given, only
/// the triples with a node in `near`.
fn bpr_rows_scanned(ctx: &RequestContext<'_>, at: HessianAt, near: &[u32]) -> (Vec<u32>, usize) {
    let forgotten = crate::data::id_mask(ctx.rows.len(), ctx.forget);
    let ids: Vec<u32> = (0..ctx.rows.len() as u32)
        .filter(|&r| {
            ctx.rows.labels[r as usize] == 1
                && !ctx.gone_before(r)
                && (at == HessianAt::Old || !forgotten[r as usize])
        })
        .collect();
    let count = ids.len();
    let ids = match ctx.negatives {
        None => ids,
        Some(given) => {
            let n = (ctx.n_users + ctx.n_items) as usize;
            let is_near = crate::data::id_mask(n, near);
            let reaches = |v: u32| is_near.get(v as usize).copied().unwrap_or(false);
            ids.into_iter()
                .filter(|&r| {
                    let r = r as usize;
                    reaches(ctx.rows.users[r])
                        || reaches(ctx.n_users + ctx.rows.items[r])
                        || given.get(r).is_some_and(|&j| reaches(j))
                })
                .collect()
        }
    };
    (ids, count)
}

/// The remaining rows reaching `nodes` (BCE: user or item there; BPR: the positive rows
/// whose user, positive or negative is there), as training ids (positions in
/// `RequestContext::rows`), ascending, less the request's own rows when `without_request`:
/// read through the resident indexes, the same set a scan over every row keeps.
pub(crate) fn rows_reaching(
    n_users: u32,
    loss: crate::model::LossKind,
    resident: ResidentRows<'_>,
    without_request: bool,
    nodes: &[u32],
) -> Vec<u32> {
    let train = resident.index.train();
    let bpr = loss == crate::model::LossKind::Bpr;
    let mut ids: Vec<u32> = Vec::new();
    for &v in nodes {
        resident.index.for_each_row(v, |r| ids.push(r));
        if let (true, Some(by_negative)) = (bpr && v >= n_users, resident.by_negative) {
            ids.extend_from_slice(by_negative.rows_of(v - n_users));
        }
    }
    ids.sort_unstable();
    ids.dedup();
    // Rows forgotten earlier are not remaining rows (the negative index lists them too).
    ids.retain(|&r| {
        !(resident.index.is_gone(r)
            || (bpr && train.labels[r as usize] != 1)
            || (without_request && resident.forget.binary_search(&r).is_ok()))
    });
    ids
}

/// A preconditioner's data, built once per operator.
enum BuiltPrecond {
    None,
    Jacobi(crate::gpu::GpuBuffer<f32>),
    BlockJacobi(crate::kernels::block::DeviceBlocks),
    /// Blocks on the host, where the adapter is the CPU itself ([`Gpu::host_block_jacobi`]).
    HostBlockJacobi(Vec<f64>, usize),
}

impl BuiltPrecond {
    /// The preconditioner of `kind`, and the mean of H_PP's diagonal (its Gauss–Newton terms
    /// and λ), which the `auto` damping scales with; read from the data the preconditioner
    /// holds on the host, or computed alone without one.
    fn new(gpu: &Gpu, op: &HvpOperator, kind: Precond) -> Result<(Self, f64)> {
        let mean = |diag: &[f32]| {
            diag.iter().map(|&v| f64::from(v)).sum::<f64>() / diag.len().max(1) as f64
        };
        Ok(match kind {
            Precond::None => (BuiltPrecond::None, mean(&op.diagonal(gpu)?)),
            Precond::Jacobi => {
                let diag = op.diagonal(gpu)?;
                let built = BuiltPrecond::Jacobi(gpu.upload(&diag, "jacobi diagonal")?);
                (built, mean(&diag))
            }
            Precond::BlockJacobi if gpu.host_block_jacobi() => {
                let (blocks, dim) = (op.diagonal_blocks(gpu)?, op.dim() as usize);
                let diag = crate::solve::precond::block_diagonal(&blocks, dim);
                (BuiltPrecond::HostBlockJacobi(blocks, dim), mean(&diag))
            }
            Precond::BlockJacobi => {
                let built = op.device_blocks(gpu)?;
                (BuiltPrecond::BlockJacobi(built.blocks), built.mean_diagonal)
            }
        })
    }

    fn preconditioner(&self) -> Preconditioner<'_> {
        match self {
            BuiltPrecond::None => Preconditioner::None,
            BuiltPrecond::Jacobi(diag) => Preconditioner::Jacobi { diag },
            BuiltPrecond::BlockJacobi(blocks) => Preconditioner::DeviceBlockJacobi { blocks },
            BuiltPrecond::HostBlockJacobi(blocks, dim) => {
                Preconditioner::BlockJacobi { blocks, dim: *dim }
            }
        }
    }
}
