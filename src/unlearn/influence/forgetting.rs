//! How well a request forgot, measured without a retrain, and the step length that makes it
//! forget as a retrain would (docs/DAMPING.md).
//!
//! The membership criterion: after a request, the forgotten rows should look like rows the
//! model never saw. For a BCE model the forget rows' AUC with their training labels should
//! equal the AUC of unseen rows of the same users and items (validation rows with their own
//! labels for genuine rows; with flipped labels for flipped rows, whose AUC is then one minus
//! theirs). For a BPR model a forgotten item's place in its user's list should equal the place
//! of the same users' held-out items. The targets are measured on the model **before** the
//! update (θ̂ on the new graph), so a step that damages the users' whole lists cannot move its
//! own target.
//!
//! Why a step length: the influence step x solves (H_PP + δI) x = g_P for one δ, and the
//! δ that makes the forget rows look unseen moved ~10× between datasets and training lengths.
//! Instead of searching δ with a solve per trial, the default keeps the one solved direction
//! and calibrates its length t. The final embeddings are linear in θ (LightGCN's propagation
//! is linear, MF's is the identity), so every score is a quadratic in t:
//! s(t) = a + b·t + c·t², recovered exactly from the scores at t = 0, 1 and −1. Three scoring
//! passes then give every statistic at every t on the host, and the search costs nothing
//! on the device.
//!
//! Honest evaluation: t is fitted on the first half of the forget rows in file order; the
//! check reads the second half, which the fit never saw. Rows of nodes the request leaves
//! without any row are set to zero, not moved by t: they are counted apart and take part in
//! neither the fit nor the check.

use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::data::Interactions;
use crate::error::Result;
use crate::eval::{RankScorer, RowScorer, UserItems, auc};
use crate::gpu::{Gpu, Record};
use crate::kernels::blas::take_field;
use crate::kernels::pair_loss::RECORD;
use crate::model::LossKind;

use crate::unlearn::request::ForgetRows;

use super::calibrate::MIN_FIT_ROWS;
use super::{InfluenceStep, Probe, RequestContext};

/// Unseen rows scored for a BCE target, at most (a deterministic sample of the request's
/// users' and items' validation rows): enough for a standard error near 0.01 on an AUC.
pub const MAX_REFERENCE_ROWS: usize = 2000;
/// Fewest forgotten positives in the fitting half for a BPR model's step length to be fitted
/// (fewer: the length of earlier requests, else the fixed rule).
pub const MIN_RANK_FIT_ROWS: usize = 5;
/// The step may be stretched to this many times the solved one, bounded too by
/// `max_step × ‖θ_P‖` (the clamp every step obeys) and by the guards. A first-order step
/// with the `auto` damping under-forgets a model that memorised its rows: on the demo's
/// synthetic data the δ that closes the gap is 30× below `auto`.
pub const MAX_STEP_LENGTH: f64 = 32.0;
/// The default re-solves with δ ÷ t when the fitted length t is beyond this factor of the
/// solved step either way (see `Unlearner`'s default step). The `auto` rule's δ ÷ curvature
/// ranged over 1.8–3.9 on the splits it was chosen on: a length beyond 4× says the rule's
/// premise failed for this model, and the second solve is worth its cost. Measured on a
/// held-out LightGCN K 2 setting (t ≈ 8): the stretched step cost 0.003 test AUC, the
/// re-solved one none.
pub const REFINE_LENGTH: f64 = 4.0;

/// Whether a fitted length says the damping it was fitted on was off by more than
/// [`REFINE_LENGTH`] either way (a length of 0, nothing to forget by a step, says nothing
/// about δ).
pub fn far_from_solved(t: f64) -> bool {
    t > REFINE_LENGTH || (t > 0.0 && t < 1.0 / REFINE_LENGTH)
}
/// Guards: the unseen rows' statistic may not get worse than before the update by more than
/// this (AUC points for BCE, places in [0, 1] for BPR). A retrain on less data loses a little
/// quality; a step that costs more is damage, not forgetting.
pub const GUARD_AUC: f64 = 0.01;
pub const GUARD_RANK: f64 = 0.02;
/// The check passes within this share of the distance the statistic had to travel (its
/// value before the update to the target), or within [`CHECK_STANDARD_ERRORS`] standard
/// errors of the rows' sampling noise when that is larger. The bench's bar on the gap error
/// is 0.15; a check on half the rows of one request is noisier than the bench's mean over
/// seeds.
pub const CHECK_GAP_SHARE: f64 = 0.25;
/// Standard errors (check rows and unseen rows combined) the check allows. Not 2: a forget
/// set is not a random sample of the unseen rows, and on a held-out ml-100k labelling
/// (threshold 4, 596 check rows) the retrain itself sat 2.2–2.5 standard errors from the
/// target in each of three seeds — a 2-SE check would have failed the retrain.
pub const CHECK_STANDARD_ERRORS: f64 = 3.0;

/// The membership statistic a forgetting check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    /// BCE: the AUC of the forget rows with their training labels.
    ForgetAuc,
    /// BPR: the forgotten items' mean place in their users' lists (0 = top).
    ForgetRank,
}

impl std::fmt::Display for Statistic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Statistic::ForgetAuc => "forget_auc",
            Statistic::ForgetRank => "forget_rank",
        })
    }
}

/// A request's forgetting check (`forgetting_check` in reports and audit entries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForgettingCheck {
    /// `forget_auc` (BCE) or `forget_rank` (BPR).
    pub statistic: Statistic,
    /// The statistic over the check rows after the update.
    pub value: Option<f64>,
    /// The same before the update.
    pub before: Option<f64>,
    /// What it should be: the unseen rows' statistic before the update.
    pub target: Option<f64>,
    pub tolerance: Option<f64>,
    /// Forget rows the check reads (the second half in file order, less isolated rows).
    pub rows: usize,
    /// `None` when the check could not be computed (see `note`).
    pub passed: Option<bool>,
    /// Forget rows of nodes the request left without any row (set to zero; not checked).
    pub isolated_rows: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ForgettingCheck {
    /// True when the check ran and failed.
    pub fn failed(&self) -> bool {
        self.passed == Some(false)
    }

    /// One line for a command's summary.
    pub fn summary(&self) -> String {
        match (self.passed, self.value, self.target, self.tolerance) {
            (Some(passed), Some(v), Some(t), Some(tol)) => format!(
                "forgetting check {}: {} {v:.4} against {t:.4} ± {tol:.4} over {} rows (before: {})",
                if passed { "passed" } else { "FAILED" },
                self.statistic,
                self.rows,
                self.before.map_or("-".into(), |b| format!("{b:.4}"))
            ),
            _ => format!(
                "forgetting check not computed: {}",
                self.note.as_deref().unwrap_or("no rows")
            ),
        }
    }
}

/// Where a request's step length came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LengthSource {
    /// Fitted on this request's first half.
    Fitted,
    /// Too few rows to fit: the median length fitted by earlier requests of the same kind
    /// through this unlearner.
    EarlierRequests,
    /// Too few rows to fit and no earlier request of the kind: the model's own length
    /// ([`crate::unlearn::model_length`]; genuine rows only).
    ModelLength,
    /// The solved step as it is (t = 1): a fixed method, or nothing to fit on.
    FixedRule,
}

/// The step length a request used (`step_length` in reports).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLength {
    pub t: f64,
    pub source: LengthSource,
    /// The largest t allowed.
    pub max: f64,
    /// Fitting rows, and their statistic at t against its target.
    pub fit_rows: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fit_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fit_target: Option<f64>,
    /// The unseen rows' statistic at t (the guard's), and before the update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unseen_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unseen_before: Option<f64>,
    /// Solves the length took: 2 when the first length was far from 1 and x was solved again
    /// with δ ÷ t.
    pub solves: usize,
    /// The first solve's fitted length, when a second solve was kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_length: Option<f64>,
    /// The model's own length that divided the `auto` damping before the first solve: set
    /// when that length was beyond [`REFINE_LENGTH`]× either way (the `auto` rule's premise
    /// failed for this model), so the request's one solve starts near the δ a second solve
    /// would have used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_scale: Option<f64>,
    /// The share of the fitting rows' distance to their target still left at this length
    /// (0: at the target; 1: not moved; negative: past it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap_left: Option<f64>,
    /// The lengths of the Newton continuation's steps, each re-linearised where the one
    /// before stopped (empty: one step was enough, or none could do better).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relinearised: Vec<f64>,
    /// The share left by the first step, when the continuation took it further.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_gap_left: Option<f64>,
}

impl StepLength {
    /// The length as a multiple of the step solved with the `auto` damping: `t`, or the
    /// first solve's length when a second solve (with δ ÷ that length) was kept. This is
    /// what a later request too small to fit applies to its own `auto` step (one solve), so
    /// it is what earlier requests hand on ([`LengthHistory`], the model's own length).
    /// `None` when no solve used the `auto` damping (the model's length scaled it,
    /// [`StepLength::model_scale`]): a length fitted on another δ is not a multiple of the
    /// `auto` step (a damped step is not linear in 1/δ), so such a request hands nothing on.
    pub fn of_auto_step(&self) -> Option<f64> {
        match self.model_scale {
            Some(_) => None,
            None => Some(self.first_length.unwrap_or(self.t)),
        }
    }
}

/// Scores that are a quadratic in the step length: s(t) = a + b·t + c·t².
struct Quadratic {
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

impl Quadratic {
    /// From the scores at t = 0, 1 and −1.
    fn from_samples(at0: Vec<f32>, at_plus: &[f32], at_minus: &[f32]) -> Self {
        let b = at_plus
            .iter()
            .zip(at_minus)
            .map(|(p, m)| 0.5 * (p - m))
            .collect();
        let c = at0
            .iter()
            .zip(at_plus.iter().zip(at_minus))
            .map(|(z, (p, m))| 0.5 * (p + m) - z)
            .collect();
        Quadratic { a: at0, b, c }
    }

    fn at(&self, t: f64) -> Vec<f32> {
        let t = t as f32;
        self.a
            .iter()
            .zip(self.b.iter().zip(&self.c))
            .map(|(a, (b, c))| a + t * (b + t * c))
            .collect()
    }
}

/// A statistic's rows, uploaded once.
enum Scored {
    /// BCE: rows with labels, the statistic their AUC.
    Auc { scorer: RowScorer, labels: Vec<u8> },
    /// BPR: (user, item) pairs, the statistic their mean place in the users' lists.
    Rank(RankScorer),
}

/// Something scored in one pass under the probe's embeddings: a set's rows, or (BPR) the
/// request's users' whole lists.
trait ScoringPass {
    /// The scoring kernels under `emb` (run them, then read [`ScoringPass::outputs`]).
    fn plan<'a>(
        &'a self,
        gpu: &Gpu,
        emb: &'a crate::kernels::DeviceTable,
    ) -> Result<crate::kernels::Plan<'a>>;

    /// The buffers the plan writes: [`RECORD`] values per row, in row order.
    fn outputs(&self) -> Vec<(&crate::gpu::GpuBuffer<f32>, usize)>;
}

impl ScoringPass for Scored {
    fn plan<'a>(
        &'a self,
        gpu: &Gpu,
        emb: &'a crate::kernels::DeviceTable,
    ) -> Result<crate::kernels::Plan<'a>> {
        Ok(match self {
            Scored::Auc { scorer, .. } => scorer.plan(gpu, emb)?,
            Scored::Rank(r) => r.plan(gpu, emb)?,
        })
    }

    fn outputs(&self) -> Vec<(&crate::gpu::GpuBuffer<f32>, usize)> {
        match self {
            Scored::Auc { scorer, .. } => scorer.outputs(),
            Scored::Rank(r) => r.outputs(),
        }
    }
}

impl ScoringPass for RankScorer {
    fn plan<'a>(
        &'a self,
        gpu: &Gpu,
        emb: &'a crate::kernels::DeviceTable,
    ) -> Result<crate::kernels::Plan<'a>> {
        Ok(RankScorer::plan(self, gpu, emb)?)
    }

    fn outputs(&self) -> Vec<(&crate::gpu::GpuBuffer<f32>, usize)> {
        RankScorer::outputs(self)
    }
}

impl Scored {
    /// The statistic and its standard error under `scores`.
    fn statistic(&self, scores: &[f32]) -> Option<(f64, f64)> {
        match self {
            Scored::Auc { labels, .. } => {
                let a = auc(scores, labels)?;
                let pos = labels.iter().filter(|&&l| l != 0).count();
                Some((a, auc_standard_error(a, pos, labels.len() - pos)))
            }
            Scored::Rank(r) => {
                let places = r.places_in(scores);
                let n = places.len() as f64;
                if places.is_empty() {
                    return None;
                }
                let mean = places.iter().sum::<f64>() / n;
                let var = places.iter().map(|p| (p - mean).powi(2)).sum::<f64>() / n;
                Some((mean, (var / n).sqrt()))
            }
        }
    }
}

/// The standard error of an AUC over `pos` positives and `neg` negatives (Hanley and McNeil,
/// 1982).
pub fn auc_standard_error(a: f64, pos: usize, neg: usize) -> f64 {
    let (p, n) = (pos as f64, neg as f64);
    if pos == 0 || neg == 0 {
        return f64::INFINITY;
    }
    let q1 = a / (2.0 - a);
    let q2 = 2.0 * a * a / (1.0 + a);
    let var = (a * (1.0 - a) + (p - 1.0) * (q1 - a * a) + (n - 1.0) * (q2 - a * a)) / (p * n);
    var.max(0.0).sqrt()
}

/// One set of rows whose statistic follows the step length.
struct Measured {
    scored: Scored,
    rows: usize,
}

/// A request's rows for the fit, the check and the target, ready to score.
pub struct Membership {
    loss: LossKind,
    kind: ForgetRows,
    fit: std::result::Result<Measured, String>,
    check: std::result::Result<Measured, String>,
    unseen: std::result::Result<Measured, String>,
    isolated_check_rows: usize,
    /// BPR: the request's users' lists, scored once for all three sets (each set's
    /// [`Scored::Rank`] reads them: [`RankScorer::for_pairs`]).
    lists: Option<RankScorer>,
}

/// The request's statistics as functions of the step length.
pub struct StepPath<'m> {
    membership: &'m Membership,
    /// Each set's scores along the step (BPR: the three share one, the users' lists).
    fit: Option<Rc<Quadratic>>,
    check: Option<Rc<Quadratic>>,
    unseen: Option<Rc<Quadratic>>,
    /// The statistics before the request, when the path starts from an updated θ.
    origin: Option<Origin>,
}

/// The statistics at θ̂ (before the request): a path continued from an updated θ keeps the
/// request's target and "before" values, not its own starting point's, so a continuation
/// cannot move the target it is fitted to.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    unseen_before: f64,
    target: f64,
    fit_before: Option<f64>,
    check_before: Option<f64>,
}

impl Membership {
    /// Prepares the rows of a request: `forget_file_order` are the forgotten rows as ids of
    /// `train` in file order (the first half fits, the second checks), `valid` the unseen
    /// rows, `zeroed` the nodes the request leaves without any row.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Gpu,
        ctx: &RequestContext<'_>,
        train: &Interactions,
        forget_file_order: &[u32],
        valid: &Interactions,
        kind: ForgetRows,
        zeroed: &[u32],
    ) -> Result<Self> {
        let nu = ctx.n_users;
        let is_zeroed = |u: u32, i: u32| {
            zeroed.binary_search(&u).is_ok() || zeroed.binary_search(&(nu + i)).is_ok()
        };
        let live = |ids: &[u32]| -> (Interactions, usize) {
            let all = train.select(ids);
            let keep: Vec<u32> = (0..all.len() as u32)
                .filter(|&r| !is_zeroed(all.users[r as usize], all.items[r as usize]))
                .collect();
            let isolated = all.len() - keep.len();
            (all.select(&keep), isolated)
        };
        let half = forget_file_order.len() / 2;
        let (fit_rows, _) = live(&forget_file_order[..half]);
        let (check_rows, isolated_check_rows) = live(&forget_file_order[half..]);
        let n_nodes = ctx.n_users + ctx.n_items;
        let membership = match ctx.spec.loss {
            LossKind::Bce => {
                let auc_rows = |rows: &Interactions, min: usize, what: &str| {
                    let pos = rows.labels.iter().filter(|&&l| l != 0).count();
                    if rows.len() < min || pos == 0 || pos == rows.len() {
                        return Ok(Err(format!(
                            "{what}: {} rows ({pos} positive); an AUC needs at least {min} with \
                             both labels",
                            rows.len()
                        )));
                    }
                    Ok::<_, crate::error::Error>(Ok(Measured {
                        scored: Scored::Auc {
                            scorer: RowScorer::new(gpu, nu, n_nodes, rows)?,
                            labels: rows.labels.clone(),
                        },
                        rows: rows.len(),
                    }))
                };
                let mut request_nodes: Vec<u32> = fit_rows
                    .users
                    .iter()
                    .chain(&check_rows.users)
                    .copied()
                    .chain(
                        fit_rows
                            .items
                            .iter()
                            .chain(&check_rows.items)
                            .map(|&i| nu + i),
                    )
                    .collect();
                request_nodes.sort_unstable();
                request_nodes.dedup();
                let fit = auc_rows(&fit_rows, MIN_FIT_ROWS, "fitting half")?;
                let check = auc_rows(&check_rows, 2, "check half")?;
                // The unseen rows only set the others' target: with neither half measurable
                // (users removed whole) scoring them would cost three passes for nothing.
                let unseen = if fit.is_err() && check.is_err() {
                    Err(
                        "unseen rows: not scored, neither half of the forget rows is \
                         measurable"
                            .to_string(),
                    )
                } else {
                    let unseen = local_unseen_rows(valid, nu, &request_nodes, &is_zeroed);
                    auc_rows(&unseen, 2, "unseen rows")?
                };
                Membership {
                    loss: LossKind::Bce,
                    kind,
                    fit,
                    check,
                    unseen,
                    isolated_check_rows,
                    lists: None,
                }
            }
            LossKind::Bpr => {
                let positives = |rows: &Interactions| {
                    let ids: Vec<u32> = (0..rows.len() as u32)
                        .filter(|&r| rows.labels[r as usize] != 0)
                        .collect();
                    rows.select(&ids)
                };
                let (fit, check) = (positives(&fit_rows), positives(&check_rows));
                let mut users: Vec<u32> = fit.users.iter().chain(&check.users).copied().collect();
                users.sort_unstable();
                users.dedup();
                let ids: Vec<u32> = (0..valid.len() as u32)
                    .filter(|&r| {
                        let r = r as usize;
                        valid.labels[r] != 0
                            && users.binary_search(&valid.users[r]).is_ok()
                            && !is_zeroed(valid.users[r], valid.items[r])
                    })
                    .collect();
                let held_out = valid.select(&even_sample(ids));
                // Each user's remaining items, built only when some set will be scored (a
                // request removing whole users scores nothing).
                let scored = fit.len() >= MIN_RANK_FIT_ROWS || !check.is_empty();
                let seen = if scored && !held_out.is_empty() {
                    let remaining = ctx.remaining_rows_of(&users);
                    UserItems::build(ctx.n_users, ctx.n_items, &[&remaining], false)?
                } else {
                    UserItems::build(ctx.n_users, ctx.n_items, &[], false)?
                };
                // Every user's list is scored once; the three sets read it.
                let lists = match scored && !held_out.is_empty() {
                    false => None,
                    true => {
                        let mut all = fit.clone();
                        all.extend_from(&check);
                        all.extend_from(&held_out);
                        Some(RankScorer::new(gpu, ctx.n_users, ctx.n_items, &all, &seen)?)
                    }
                };
                let rank_rows = |rows: &Interactions, min: usize, what: &str| {
                    if !scored || held_out.is_empty() {
                        return Ok(Err(format!(
                            "{what}: nothing to compare (no forgotten positives or no held-out \
                             items of the request's users outside nodes left without rows)"
                        )));
                    }
                    if rows.len() < min.max(1) {
                        return Ok(Err(format!(
                            "{what}: {} positive rows; a place needs at least {}",
                            rows.len(),
                            min.max(1)
                        )));
                    }
                    let Some(lists) = &lists else {
                        return Ok(Err(format!("{what}: no lists to rank in")));
                    };
                    Ok::<_, crate::error::Error>(Ok(Measured {
                        scored: Scored::Rank(lists.for_pairs(rows)?),
                        rows: rows.len(),
                    }))
                };
                Membership {
                    loss: LossKind::Bpr,
                    kind,
                    fit: rank_rows(&fit, MIN_RANK_FIT_ROWS, "fitting half")?,
                    check: rank_rows(&check, 1, "check half")?,
                    unseen: rank_rows(&held_out, 1, "held-out rows of the request's users")?,
                    isolated_check_rows,
                    lists,
                }
            }
        };
        Ok(membership)
    }

    /// The kind of rows the request declared.
    pub fn kind(&self) -> ForgetRows {
        self.kind
    }

    /// True when no statistic can be computed (every row set too small or empty, e.g. a
    /// request removing whole users; the unseen rows are not scored without a forget half
    /// to compare them with): the scoring passes would measure nothing.
    pub fn is_empty(&self) -> bool {
        self.fit.is_err() && self.check.is_err() && self.unseen.is_err()
    }

    /// Whether a step length can be fitted on this request's rows (its fitting half and
    /// unseen rows are measurable): without that no length is fitted, so no second solve
    /// follows the first.
    pub(crate) fn can_fit(&self) -> bool {
        self.fit.is_ok() && self.unseen.is_ok()
    }

    /// A path with nothing measured, for a request whose rows give no statistic.
    pub(crate) fn unmeasured(&self) -> StepPath<'_> {
        StepPath {
            membership: self,
            fit: None,
            check: None,
            unseen: None,
            origin: None,
        }
    }

    /// Scores the rows at t = 0, 1 and −1 along `step` from θ̂ + `base` (with `zeroed` set
    /// to zero, as the request will leave them): three passes, after which every statistic
    /// is known at every t. A path from an updated θ (`base`) takes the request's `origin`.
    pub(crate) fn along<'m>(
        &'m self,
        probe: &mut Probe<'_>,
        gpu: &Gpu,
        base: Option<(&crate::kernels::DeviceTable, Origin)>,
        step: &InfluenceStep,
        zeroed: &[u32],
    ) -> Result<StepPath<'m>> {
        let sets = [&self.fit, &self.check, &self.unseen];
        let measured: Vec<usize> = (0..sets.len()).filter(|&k| sets[k].is_ok()).collect();
        // Where a set's scores come from: the shared lists (BPR, source 0) or its own rows.
        let source = |k: usize| if self.lists.is_some() { 0 } else { k };
        let scorers: Vec<(usize, &dyn ScoringPass)> = match &self.lists {
            // BPR: the users' lists once; every set ranks its pairs in them.
            Some(lists) => vec![(0, lists)],
            None => sets
                .iter()
                .enumerate()
                .filter_map(|(k, set)| {
                    let measured = set.as_ref().ok()?;
                    Some((k, &measured.scored as &dyn ScoringPass))
                })
                .collect(),
        };
        // Each pass's scores (field 0 of the scorers' records) are copied out compact, so
        // the three passes are read back together in one round trip.
        const LENGTHS: [f32; 3] = [0.0, 1.0, -1.0];
        let mut staged = Vec::new();
        for _ in LENGTHS {
            for (_, scored) in &scorers {
                for (out, _) in scored.outputs() {
                    let n = out.len() / RECORD as usize;
                    staged.push(gpu.alloc::<f32>(n, "scores of one step length")?);
                }
            }
        }
        let mut slots = staged.iter();
        for t in LENGTHS {
            probe.set_from(&step.kept, base.map(|(b, _)| b), &step.x, t, zeroed)?;
            let emb = probe.embeddings();
            let mut plan = crate::kernels::Plan::empty();
            for (_, scored) in &scorers {
                plan = plan.then(scored.plan(gpu, emb)?);
                for (out, _) in scored.outputs() {
                    let slot = slots.next().ok_or_else(|| {
                        crate::Error::Invalid("scoring outputs changed between passes".into())
                    })?;
                    plan = plan.then(take_field(gpu, out, RECORD, 0, slot)?);
                }
            }
            gpu.run("scoring the forgetting check's rows", |pass| {
                plan.record(pass)
            })?;
        }
        let read: Vec<(&crate::gpu::GpuBuffer<f32>, usize)> =
            staged.iter().map(|b| (b, b.len())).collect();
        let mut read = gpu.download_all(&read)?.into_iter();
        let mut samples: Vec<Vec<Vec<f32>>> = vec![Vec::new(); sets.len()];
        for _ in LENGTHS {
            for (k, scored) in &scorers {
                let scores: Vec<f32> = read
                    .by_ref()
                    .take(scored.outputs().len())
                    .flatten()
                    .collect();
                samples[*k].push(scores);
            }
        }
        let quadratics: Vec<Option<Rc<Quadratic>>> = samples
            .into_iter()
            .map(|mut s| {
                (s.len() == 3).then(|| {
                    let minus = s.pop().unwrap_or_default();
                    let plus = s.pop().unwrap_or_default();
                    let zero = s.pop().unwrap_or_default();
                    Rc::new(Quadratic::from_samples(zero, &plus, &minus))
                })
            })
            .collect();
        let of = |k: usize| {
            measured
                .contains(&k)
                .then(|| quadratics[source(k)].clone())
                .flatten()
        };
        Ok(StepPath {
            membership: self,
            fit: of(0),
            check: of(1),
            unseen: of(2),
            origin: base.map(|(_, o)| o),
        })
    }
}

/// Validation rows of the request's users and items (neither end zeroed), a deterministic
/// sample of at most [`MAX_REFERENCE_ROWS`]; all validation rows' sample when the request's
/// own hold too few of both labels.
fn local_unseen_rows(
    valid: &Interactions,
    n_users: u32,
    request_nodes: &[u32],
    is_zeroed: &dyn Fn(u32, u32) -> bool,
) -> Interactions {
    let touches = |r: usize| {
        request_nodes.binary_search(&valid.users[r]).is_ok()
            || request_nodes
                .binary_search(&(n_users + valid.items[r]))
                .is_ok()
    };
    let pick = |keep: &dyn Fn(usize) -> bool| {
        let ids: Vec<u32> = (0..valid.len())
            .filter(|&r| keep(r) && !is_zeroed(valid.users[r], valid.items[r]))
            .map(|r| r as u32)
            .collect();
        valid.select(&even_sample(ids))
    };
    let local = pick(&touches);
    let pos = local.labels.iter().filter(|&&l| l != 0).count();
    if local.len() >= MIN_FIT_ROWS && pos > 0 && pos < local.len() {
        local
    } else {
        pick(&|_| true)
    }
}

/// At most [`MAX_REFERENCE_ROWS`] of `ids` at an even stride: deterministic, and spread over
/// the file rather than its first rows.
fn even_sample(ids: Vec<u32>) -> Vec<u32> {
    let stride = ids.len().div_ceil(MAX_REFERENCE_ROWS).max(1);
    ids.into_iter().step_by(stride).collect()
}

/// f(t) and the guard at one step length.
#[derive(Clone, Copy)]
struct Trial {
    t: f64,
    /// Positive while the fitting rows are still remembered.
    remembered: f64,
    fit_value: f64,
    unseen: f64,
    admissible: bool,
}

impl StepPath<'_> {
    /// The unseen rows' statistic before the update and the target it sets.
    fn target(&self) -> Option<(f64, f64)> {
        if let Some(o) = self.origin {
            return Some((o.unseen_before, o.target));
        }
        let unseen = self.unseen.as_ref()?;
        let m = self.membership.unseen.as_ref().ok()?;
        let (before, _) = m.scored.statistic(&unseen.at(0.0))?;
        let target = match (self.membership.loss, self.membership.kind) {
            (LossKind::Bce, ForgetRows::Flipped) => 1.0 - before,
            _ => before,
        };
        Some((before, target))
    }

    /// The statistics before the request: this path's at t = 0, or the origin it was given.
    pub fn origin(&self) -> Option<Origin> {
        if self.origin.is_some() {
            return self.origin;
        }
        let (unseen_before, target) = self.target()?;
        let value_at_zero =
            |q: &Option<Rc<Quadratic>>, m: &std::result::Result<Measured, String>| {
                Some(m.as_ref().ok()?.scored.statistic(&q.as_ref()?.at(0.0))?.0)
            };
        Some(Origin {
            unseen_before,
            target,
            fit_before: value_at_zero(&self.fit, &self.membership.fit),
            check_before: value_at_zero(&self.check, &self.membership.check),
        })
    }

    /// The share of the fitting rows' distance to the target left at `fit_value`.
    fn gap_left(&self, fit_value: f64, target: f64) -> Option<f64> {
        let before = self.origin()?.fit_before?;
        let start = self.remembered(before, target);
        (start.abs() > f64::EPSILON).then(|| self.remembered(fit_value, target) / start)
    }

    /// How far the fitting rows are from looking unseen at t (positive: still remembered).
    fn remembered(&self, value: f64, target: f64) -> f64 {
        match self.membership.loss {
            LossKind::Bce => value - target,
            LossKind::Bpr => target - value,
        }
    }

    fn trial(&self, t: f64, before: f64, target: f64) -> Option<Trial> {
        let fit = self.fit.as_ref()?;
        let m = self.membership.fit.as_ref().ok()?;
        let (fit_value, _) = m.scored.statistic(&fit.at(t))?;
        let unseen_m = self.membership.unseen.as_ref().ok()?;
        let (unseen, _) = unseen_m.scored.statistic(&self.unseen.as_ref()?.at(t))?;
        let admissible = match self.membership.loss {
            LossKind::Bce => unseen >= before - GUARD_AUC,
            LossKind::Bpr => unseen <= before + GUARD_RANK,
        };
        Some(Trial {
            t,
            remembered: self.remembered(fit_value, target),
            fit_value,
            unseen,
            admissible,
        })
    }

    /// The step length whose fitting rows look unseen: the root of f(t) = statistic − target
    /// on [0, `max`] among lengths the guard admits, else the admissible length closest to
    /// it. The search starts at the solved step (t = 1), doubles or halves t until f changes
    /// sign (down to `max` / 4096), then bisects; where the guard stops a doubling it bisects
    /// for the guard's edge instead. About 15–20 evaluations, each on the host. `None` when
    /// this request has too few rows to fit on.
    pub fn fit_length(&self, max: f64) -> Option<StepLength> {
        const BISECTIONS: usize = 12;
        let (before, target) = self.target()?;
        let m = self.membership.fit.as_ref().ok()?;
        let mut best: Option<Trial> = None;
        let mut eval = |t: f64| -> Option<Trial> {
            let trial = self.trial(t, before, target)?;
            if trial.admissible && best.is_none_or(|b| trial.remembered.abs() < b.remembered.abs())
            {
                best = Some(trial);
            }
            Some(trial)
        };
        let zero = eval(0.0)?;
        let first = eval(1.0f64.min(max))?;
        // (lo, hi): f(lo) > 0 ≥ f(hi), or hi past the guard.
        let mut bracket = None;
        if first.remembered > 0.0 && first.admissible {
            let mut lo = first;
            while lo.t < max {
                let hi = eval((2.0 * lo.t).min(max))?;
                if !hi.admissible || hi.remembered <= 0.0 {
                    bracket = Some((lo, hi));
                    break;
                }
                lo = hi;
            }
        } else {
            let mut hi = first;
            loop {
                let t = 0.5 * hi.t;
                if t < max / 4096.0 {
                    if zero.remembered > 0.0 {
                        bracket = Some((zero, hi));
                    }
                    break;
                }
                let lo = eval(t)?;
                if lo.admissible && lo.remembered > 0.0 {
                    bracket = Some((lo, hi));
                    break;
                }
                hi = lo;
            }
        }
        if let Some((mut lo, mut hi)) = bracket {
            for _ in 0..BISECTIONS {
                let mid = eval(0.5 * (lo.t + hi.t))?;
                if mid.admissible && mid.remembered > 0.0 {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
        }
        let chosen = best?;
        Some(StepLength {
            t: chosen.t,
            source: LengthSource::Fitted,
            max,
            fit_rows: m.rows,
            fit_value: Some(chosen.fit_value),
            fit_target: Some(target),
            unseen_value: Some(chosen.unseen),
            unseen_before: Some(before),
            solves: 1,
            first_length: None,
            model_scale: None,
            gap_left: self.gap_left(chosen.fit_value, target),
            relinearised: Vec::new(),
            first_gap_left: None,
        })
    }

    /// A length not fitted here (`source` says why), with its figures.
    pub fn length_at(&self, t: f64, source: LengthSource, max: f64) -> StepLength {
        let fit_rows = self.membership.fit.as_ref().map_or(0, |m| m.rows);
        let trial = self
            .target()
            .and_then(|(before, target)| Some((self.trial(t, before, target)?, before, target)));
        StepLength {
            t,
            source,
            max,
            fit_rows,
            fit_value: trial.map(|(tr, _, _)| tr.fit_value),
            fit_target: trial.map(|(_, _, target)| target),
            unseen_value: trial.map(|(tr, _, _)| tr.unseen),
            unseen_before: trial.map(|(_, before, _)| before),
            solves: 1,
            first_length: None,
            model_scale: None,
            gap_left: trial.and_then(|(tr, _, target)| self.gap_left(tr.fit_value, target)),
            relinearised: Vec::new(),
            first_gap_left: None,
        }
    }

    /// Why this request's length cannot be fitted, when it cannot.
    pub fn why_not_fitted(&self) -> Option<String> {
        [&self.membership.fit, &self.membership.unseen]
            .into_iter()
            .find_map(|m| m.as_ref().err().cloned())
    }

    /// The forgetting check at step length `t`, on the check rows.
    pub fn check(&self, t: f64) -> ForgettingCheck {
        let m = self.membership;
        let statistic = match m.loss {
            LossKind::Bce => Statistic::ForgetAuc,
            LossKind::Bpr => Statistic::ForgetRank,
        };
        let mut check = ForgettingCheck {
            statistic,
            value: None,
            before: None,
            target: None,
            tolerance: None,
            rows: m.check.as_ref().map_or(0, |c| c.rows),
            passed: None,
            isolated_rows: m.isolated_check_rows,
            note: None,
        };
        let computed = (|| {
            let c = m.check.as_ref().map_err(Clone::clone)?;
            let u = m.unseen.as_ref().map_err(Clone::clone)?;
            let missing = || "a statistic was undefined".to_string();
            let (q_check, q_unseen) = (
                self.check.as_ref().ok_or_else(missing)?,
                self.unseen.as_ref().ok_or_else(missing)?,
            );
            let (value, se) = c.scored.statistic(&q_check.at(t)).ok_or_else(missing)?;
            let before = match self.origin {
                Some(o) => o.check_before.ok_or_else(missing)?,
                None => c.scored.statistic(&q_check.at(0.0)).ok_or_else(missing)?.0,
            };
            let (_, se_unseen) = u.scored.statistic(&q_unseen.at(0.0)).ok_or_else(missing)?;
            let (_, target) = self.target().ok_or_else(missing)?;
            let tolerance = (CHECK_GAP_SHARE * (before - target).abs())
                .max(CHECK_STANDARD_ERRORS * (se * se + se_unseen * se_unseen).sqrt());
            Ok::<_, String>((value, before, target, tolerance))
        })();
        match computed {
            Ok((value, before, target, tolerance)) => {
                check.value = Some(value);
                check.before = Some(before);
                check.target = Some(target);
                check.tolerance = Some(tolerance);
                check.passed = Some((value - target).abs() <= tolerance);
            }
            Err(why) => check.note = Some(why),
        }
        check
    }
}

/// The median of earlier requests' fitted lengths, per kind of row (a resident unlearner's
/// memory for requests too small to fit their own).
#[derive(Debug, Clone, Default)]
pub struct LengthHistory {
    /// Fitted lengths, by kind of row ([`ForgetRows::index`]).
    lengths: [Vec<f64>; 2],
}

impl LengthHistory {
    /// The lengths fitted by the requests a model directory's audit log records (entries of
    /// `unlearn` whose `report.step_length.source` is `fitted`, by `settings.forget_rows`):
    /// a directory's later small requests take the median of its earlier ones.
    pub fn from_audit(entries: &[serde_json::Map<String, serde_json::Value>]) -> Self {
        let mut history = LengthHistory::default();
        for e in entries {
            let length = &e.get("report").unwrap_or(&serde_json::Value::Null)["step_length"];
            if length["source"] != "fitted" {
                continue;
            }
            let kind = e
                .get("settings")
                .and_then(|s| serde_json::from_value(s["forget_rows"].clone()).ok())
                .unwrap_or(ForgetRows::Genuine);
            let of_auto = serde_json::from_value::<StepLength>(length.clone())
                .ok()
                .and_then(|l| l.of_auto_step());
            if let Some(t) = of_auto.filter(|t| t.is_finite()) {
                history.record(kind, t);
            }
        }
        history
    }

    pub fn record(&mut self, kind: ForgetRows, t: f64) {
        self.lengths[kind.index()].push(t);
    }

    pub fn median(&self, kind: ForgetRows) -> Option<f64> {
        let mut v = self.lengths[kind.index()].clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quadratic_scores_are_recovered_from_three_samples() {
        let (a, b, c) = ([0.5f32, -1.0], [2.0f32, 0.25], [-0.75f32, 3.0]);
        let at = |t: f32| -> Vec<f32> { (0..2).map(|k| a[k] + b[k] * t + c[k] * t * t).collect() };
        let q = Quadratic::from_samples(at(0.0), &at(1.0), &at(-1.0));
        for t in [0.0, 0.3, 1.7, 4.0] {
            for (got, want) in q.at(t).iter().zip(at(t as f32)) {
                assert!((got - want).abs() < 1e-5, "t {t}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn auc_standard_error_shrinks_with_rows() {
        let small = auc_standard_error(0.7, 10, 10);
        let large = auc_standard_error(0.7, 1000, 1000);
        assert!(small > 5.0 * large && large > 0.0);
        assert!(auc_standard_error(0.7, 0, 10).is_infinite());
    }

    #[test]
    fn length_history_takes_the_median_per_kind() {
        let mut h = LengthHistory::default();
        assert_eq!(h.median(ForgetRows::Genuine), None);
        for t in [0.2, 3.0, 0.5] {
            h.record(ForgetRows::Genuine, t);
        }
        h.record(ForgetRows::Flipped, 1.5);
        assert_eq!(h.median(ForgetRows::Genuine), Some(0.5));
        assert_eq!(h.median(ForgetRows::Flipped), Some(1.5));
    }

    #[test]
    fn length_history_reads_fitted_lengths_from_audit_entries() {
        let length = |t: f64, source: LengthSource| StepLength {
            t,
            source,
            max: 32.0,
            fit_rows: 40,
            fit_value: None,
            fit_target: None,
            unseen_value: None,
            unseen_before: None,
            solves: 1,
            first_length: None,
            model_scale: None,
            gap_left: None,
            relinearised: Vec::new(),
            first_gap_left: None,
        };
        let logged = |length: StepLength, kind: &str| {
            serde_json::json!({
                "command": "unlearn",
                "settings": {"forget_rows": kind},
                "report": {"step_length": length},
            })
            .as_object()
            .cloned()
            .unwrap()
        };
        let entry = |t: f64, source: LengthSource, kind: &str| logged(length(t, source), kind);
        use LengthSource::{Fitted, FixedRule};
        // A request that kept a second solve hands on its first length (a multiple of the
        // `auto` step), not the second solve's.
        let second_solve = logged(
            StepLength {
                solves: 2,
                first_length: Some(0.2),
                ..length(0.9, Fitted)
            },
            "flipped",
        );
        // One whose damping the model's length scaled hands on nothing: its length is not
        // a multiple of the `auto` step.
        let scaled = logged(
            StepLength {
                model_scale: Some(6.0),
                ..length(1.0, Fitted)
            },
            "genuine",
        );
        let entries = [
            entry(2.0, Fitted, "genuine"),
            entry(9.0, FixedRule, "genuine"),
            entry(4.0, Fitted, "genuine"),
            scaled,
            entry(0.3, Fitted, "flipped"),
            second_solve,
            entry(0.4, Fitted, "flipped"),
            serde_json::json!({"command": "train"})
                .as_object()
                .cloned()
                .unwrap(),
        ];
        let h = LengthHistory::from_audit(&entries);
        assert_eq!(
            h.median(ForgetRows::Genuine),
            Some(4.0),
            "median of 2 and 4 (not 1)"
        );
        assert_eq!(
            h.median(ForgetRows::Flipped),
            Some(0.3),
            "median of 0.2, 0.3, 0.4"
        );
    }
}
