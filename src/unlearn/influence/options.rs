//! The settings of the influence update ([`IfruOptions`]) and the `auto` damping rule.

use serde::{Deserialize, Serialize};

use crate::model::{ModelKind, ModelSpec};
use crate::unlearn::request::ForgetRows;

use super::hvp::HessianKind;
use super::prune::PruneOptions;

/// Where the Hessian is taken.
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HessianAt {
    /// On (D, Â) at θ̂: the influence function's choice.
    Old,
    /// On (D ∖ D_r, Â') at θ̂: Newton's.
    New,
}

/// Which spillover rows enter g.
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Spillover {
    /// Every remaining row whose gradient changes with Â (exact).
    Exact,
    /// The authors' rule: rows touching nodes that lost more than 1% of their degree.
    Authors,
    /// The direct influence alone.
    None,
}

/// The preconditioner of the solve.
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precond {
    None,
    Jacobi,
    BlockJacobi,
}

/// What a request does when its forgetting check fails.
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnCheckFail {
    /// Apply the update and warn (the default).
    #[default]
    Warn,
    /// Refuse the request: nothing changes, the command exits non-zero.
    Refuse,
    /// Retrain on the remaining rows instead.
    Retrain,
}

/// Settings of the influence update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IfruOptions {
    pub hessian: HessianKind,
    pub hessian_at: HessianAt,
    pub spillover: Spillover,
    pub prune: Pruning,
    pub precond: Precond,
    pub rtol: f32,
    pub max_iter: usize,
    /// δ in sum units; `None` is the `auto` rule ([`auto_damping`]).
    pub damping: Option<f32>,
    /// The update may change θ_P by at most this fraction of ‖θ_P‖ (a larger step is scaled
    /// down, with a warning).
    pub max_step: f32,
    /// Seed of BPR negatives (the same in g and H).
    pub negative_seed: u64,
    /// How (H_PP + δI) x = g_P is solved.
    pub solver: Solver,
    /// What a request does when its forgetting check fails.
    #[serde(default)]
    pub on_check_fail: OnCheckFail,
}

/// The solver of the influence system.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Solver {
    /// Preconditioned conjugate gradient on the GPU.
    Cg,
    /// The original authors' solver: Adam on ½xᵀ(H + δI)x − gᵀx from x = 0, kept at the
    /// iterate with the best validation AUC (patience in iterations). Needs validation rows.
    Adam {
        lr: f32,
        max_iter: usize,
        patience: usize,
    },
}

/// Which nodes' parameters an update may change (docs/ARCHITECTURE.md, "Pruning").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "PruningRepr", into = "PruningRepr")]
pub enum Pruning {
    /// The model family's default ([`PruneOptions::default_for`]): every node within one hop
    /// for MF, the most important 60% of them for LightGCN. A report shows it resolved.
    ModelDefault,
    /// Every node may move.
    Off,
    /// These settings.
    Keep(PruneOptions),
}

impl Pruning {
    /// [`Pruning::ModelDefault`] made explicit for a model family.
    pub fn resolved(self, kind: ModelKind) -> Pruning {
        match self {
            Pruning::ModelDefault => Pruning::Keep(PruneOptions::default_for(kind)),
            other => other,
        }
    }
}

/// How reports write pruning: its settings, `null` when off, `"model_default"` unresolved.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum PruningRepr {
    Keep(PruneOptions),
    Named(PruningName),
    Off,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum PruningName {
    ModelDefault,
}

impl From<PruningRepr> for Pruning {
    fn from(r: PruningRepr) -> Self {
        match r {
            PruningRepr::Keep(s) => Pruning::Keep(s),
            PruningRepr::Named(PruningName::ModelDefault) => Pruning::ModelDefault,
            PruningRepr::Off => Pruning::Off,
        }
    }
}

impl From<Pruning> for PruningRepr {
    fn from(p: Pruning) -> Self {
        match p {
            Pruning::Keep(s) => PruningRepr::Keep(s),
            Pruning::ModelDefault => PruningRepr::Named(PruningName::ModelDefault),
            Pruning::Off => PruningRepr::Off,
        }
    }
}

impl Default for IfruOptions {
    /// The defaults for any model: Gauss–Newton Hessian at the trained model, exact
    /// spillover, the model family's pruning, block-Jacobi CG to a relative residual of 5e-2,
    /// the `auto` damping.
    fn default() -> Self {
        IfruOptions {
            hessian: HessianKind::GaussNewton,
            hessian_at: HessianAt::Old,
            spillover: Spillover::Exact,
            prune: Pruning::ModelDefault,
            precond: Precond::BlockJacobi,
            rtol: 5e-2,
            max_iter: 100,
            damping: None,
            max_step: 1.0,
            negative_seed: 0,
            solver: Solver::Cg,
            on_check_fail: OnCheckFail::Warn,
        }
    }
}

impl IfruOptions {
    /// The defaults with the pruning of a model family made explicit.
    pub fn default_for(spec: &ModelSpec) -> Self {
        IfruOptions::default().resolved(spec)
    }

    /// These options with the pruning made explicit for `spec` (what a report records).
    pub fn resolved(&self, spec: &ModelSpec) -> Self {
        IfruOptions {
            prune: self.prune.resolved(spec.kind),
            ..self.clone()
        }
    }
}

impl IfruOptions {
    /// The original authors' configuration (for comparison): the full Hessian for MF and
    /// their MF-style surrogate for LightGCN, their spillover rule and pruning, no damping,
    /// and Adam on the quadratic with validation early stopping (patience 10).
    pub fn authors(spec: &ModelSpec, lr: f32) -> Self {
        IfruOptions {
            hessian: match spec.kind {
                ModelKind::Mf => HessianKind::Full,
                ModelKind::Lightgcn => HessianKind::Surrogate,
            },
            spillover: Spillover::Authors,
            damping: Some(0.0),
            solver: Solver::Adam {
                lr,
                max_iter: 1000,
                patience: 10,
            },
            ..IfruOptions::default_for(spec)
        }
    }
}

/// δ of the `auto` rule per unit of mean curvature for flipped (poisoned) rows (see
/// [`auto_damping`]).
pub const AUTO_DAMPING_PER_CURVATURE_FLIPPED: f64 = 2.5;

/// δ of the `auto` rule per unit of mean curvature for genuine rows (see [`auto_damping`]).
pub const AUTO_DAMPING_PER_CURVATURE_GENUINE: f64 = 3.4;

/// The `auto` damping: δ = c × the mean diagonal of H_PP (its Gauss–Newton terms and λ),
/// with c = 2.5 for flipped rows and 3.4 for genuine ones.
///
/// δ acts as a step size, and the right fixed value moved ~10× between datasets: on MF d 48,
/// the δ that closes the forget gap of flipped rows exactly was ≈ 0.42 on a Last.fm split,
/// ≈ 0.16 on a Book-Crossing split and ≈ 2.0 on ml-100k-ifru/0.02, whose mean curvatures
/// are 0.148, 0.085 and 0.52: the ratio δ / curvature stays within 1.8–3.9. The factor 2.5
/// is the minimax (≈ 2.3) of the two non-MovieLens splits, rounded; ml-100k confirmed it.
/// Genuine rows want a larger ratio: forgetting a random 2% of genuine rows on the same
/// three splits, 2.5 forgot too much on two of them (signed gap errors −0.26 and −0.35),
/// and the gap closes at ratios 3.8 (ml-100k), 4.9 (Last.fm) and 2.4 (Book-Crossing, whose
/// seeds disagree); 3.4 is the minimax over the three (worst error 0.19). A row that agrees
/// with the rest of the data is partly re-supported by it after removal, so the first-order
/// step overshoots more than for a row the data contradicts. (README, "Choosing the `auto`
/// damping".) Falls back to δ = 1 when the curvature is not a positive number.
pub fn auto_damping(mean_curvature: f64, rows: ForgetRows) -> f32 {
    let per_curvature = match rows {
        ForgetRows::Flipped => AUTO_DAMPING_PER_CURVATURE_FLIPPED,
        ForgetRows::Genuine => AUTO_DAMPING_PER_CURVATURE_GENUINE,
    };
    let delta = per_curvature * mean_curvature;
    if delta.is_finite() && delta > 0.0 {
        delta as f32
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::auto_damping;
    use crate::unlearn::request::ForgetRows;

    #[test]
    fn auto_damping_scales_with_curvature_by_the_kind_of_rows() {
        assert_eq!(auto_damping(0.5, ForgetRows::Flipped), 1.25);
        assert_eq!(auto_damping(0.5, ForgetRows::Genuine), 1.7);
        // Genuine rows always get the larger δ (the smaller step).
        for c in [0.01, 0.1, 1.0, 10.0] {
            assert!(auto_damping(c, ForgetRows::Genuine) > auto_damping(c, ForgetRows::Flipped));
        }
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(auto_damping(bad, ForgetRows::Genuine), 1.0, "{bad}");
        }
    }
}
