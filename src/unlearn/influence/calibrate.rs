//! The calibrated damping (`ifru_calibrated`; the default method calibrates the step's length
//! instead, [`super::forgetting`]): choose δ so that the forgotten rows look like rows the
//! model never saw — the AUC over the forget rows with their training labels equals the AUC
//! over validation rows carrying the same kind of labels (their own for genuine rows; flipped
//! for the IFRU protocol's flipped rows). The target is read once, on the model before the
//! update (θ̂ on the new graph).
//!
//! Honest evaluation: the statistic is fitted on the first half of the forget rows in file
//! order; the second half (`forget_auc_b`) is never looked at. A guard stops shrinking δ once
//! the validation AUC falls below the original model's.
//!
//! Search: δ moves by factors of 10 from the `auto` value until the sign of
//! f(δ) = forget_auc_a(δ) − target changes, then secant steps in log δ (about 4–5 solves).
//! Pruning, g, the Hessian operator and the preconditioner's blocks are built once
//! ([`PreparedStep`]); each evaluation is a solve and a scoring pass. Warm starts or a
//! multi-shift CG would be the next saving.

use serde::Serialize;

use crate::data::Interactions;
use crate::error::{Error, Result};
use crate::eval::{RankScorer, RowScorer, UserItems};
use crate::gpu::Gpu;
use crate::model::LossKind;

use crate::unlearn::request::ForgetRows;

use super::{IfruOptions, InfluenceStep, PreparedStep, Probe, RequestContext, influence_step};

/// Fewest forget rows in the fitting half for the statistic to mean anything.
pub const MIN_FIT_ROWS: usize = 20;
/// δ is searched within these bounds (sum units).
const DELTA_RANGE: (f32, f32) = (1e-4, 1e5);

/// One evaluated δ.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CalibrationPoint {
    pub damping: f32,
    /// BCE: the AUC of the fitting half with its training labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forget_auc_a: Option<f64>,
    /// BPR: the fitting half's mean place among its users' candidates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forget_rank_a: Option<f64>,
    /// What the statistic should equal: the validation AUC (flipped for flipped rows), or
    /// the held-out items' mean place for the same users.
    pub target: f64,
    /// BCE: the guard (validation AUC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_auc: Option<f64>,
    pub iterations: usize,
}

/// The membership statistic a calibration matches.
enum Membership {
    /// BCE: forget AUC of the fitting half against the validation AUC (flipped for flipped
    /// rows).
    Auc {
        fit: RowScorer,
        fit_labels: Vec<u8>,
        kind: ForgetRows,
    },
    /// BPR: the fitting half's items' mean place in their users' lists against the place of
    /// the same users' held-out (validation) items.
    Rank {
        fit: RankScorer,
        held_out: RankScorer,
    },
}

impl Membership {
    /// The statistic for the model (`Ok(Err(why))` when this request cannot have one: too
    /// few rows), its rows uploaded once.
    fn new(
        gpu: &Gpu,
        ctx: &RequestContext<'_>,
        fit_rows: &Interactions,
        valid: &Interactions,
        kind: ForgetRows,
    ) -> Result<std::result::Result<Self, String>> {
        match ctx.spec.loss {
            LossKind::Bce => {
                let one_label = fit_rows.labels.iter().all(|&l| l == fit_rows.labels[0]);
                if fit_rows.len() < MIN_FIT_ROWS || one_label {
                    return Ok(Err(format!(
                        "calibration needs at least {MIN_FIT_ROWS} fitting rows with both labels ({} rows here)",
                        fit_rows.len()
                    )));
                }
                Ok(Ok(Membership::Auc {
                    fit: RowScorer::new(gpu, ctx.n_users, ctx.n_users + ctx.n_items, fit_rows)?,
                    fit_labels: fit_rows.labels.clone(),
                    kind,
                }))
            }
            LossKind::Bpr => {
                let positives = |t: &Interactions, keep: &dyn Fn(u32) -> bool| {
                    let ids: Vec<u32> = (0..t.len() as u32)
                        .filter(|&r| t.labels[r as usize] == 1 && keep(t.users[r as usize]))
                        .collect();
                    t.select(&ids)
                };
                let fit = positives(fit_rows, &|_| true);
                let mut users = fit.users.clone();
                users.sort_unstable();
                users.dedup();
                let held_out = positives(valid, &|u| users.binary_search(&u).is_ok());
                if fit.len() < MIN_FIT_ROWS || held_out.len() < MIN_FIT_ROWS {
                    return Ok(Err(format!(
                        "calibration needs at least {MIN_FIT_ROWS} fitting rows and as many held-out \
                         rows of their users ({} and {} here)",
                        fit.len(),
                        held_out.len()
                    )));
                }
                let remaining = ctx.remaining_rows_of(&users);
                let seen = UserItems::build(ctx.n_users, ctx.n_items, &[&remaining], false)?;
                let scorer = |pairs: &Interactions| {
                    RankScorer::new(gpu, ctx.n_users, ctx.n_items, pairs, &seen)
                };
                Ok(Ok(Membership::Rank {
                    fit: scorer(&fit)?,
                    held_out: scorer(&held_out)?,
                }))
            }
        }
    }

    /// What the statistic should equal, read on the probe's model: the validation AUC
    /// (one minus it for flipped rows), or the held-out items' mean place. Read once, on the
    /// model before the update, so a step that damages every list cannot move its target.
    fn target(&self, probe: &Probe<'_>) -> Result<f64> {
        Ok(match self {
            Membership::Auc { kind, .. } => {
                let valid_auc = probe.current_valid_auc()?;
                match kind {
                    ForgetRows::Genuine => valid_auc,
                    ForgetRows::Flipped => 1.0 - valid_auc,
                }
            }
            Membership::Rank { held_out, .. } => probe.mean_rank(held_out)?,
        })
    }

    /// Evaluates the probe's model against `target`: the point's statistic fields, and f(δ),
    /// which is positive while the model still remembers the rows (shrinking δ lowers it).
    fn evaluate(
        &self,
        probe: &Probe<'_>,
        point: &mut CalibrationPoint,
        target: f64,
    ) -> Result<f64> {
        point.target = target;
        match self {
            Membership::Auc {
                fit, fit_labels, ..
            } => {
                let forget = probe.auc_of(fit, fit_labels)?;
                point.forget_auc_a = Some(forget);
                point.valid_auc = Some(probe.current_valid_auc()?);
                Ok(forget - target)
            }
            Membership::Rank { fit, .. } => {
                let rank = probe.mean_rank(fit)?;
                point.forget_rank_a = Some(rank);
                Ok(target - rank)
            }
        }
    }
}

/// The chosen step and how it was found.
pub struct Calibrated {
    pub step: InfluenceStep,
    pub points: Vec<CalibrationPoint>,
    pub warnings: Vec<String>,
}

/// The calibrated influence step for `ctx`: `fit_rows` are the first half of the forget rows
/// in file order (as rows of the dataset), `valid` the validation rows, `valid_floor` the
/// original model's validation AUC.
pub fn calibrated_step(
    gpu: &Gpu,
    ctx: &RequestContext<'_>,
    opts: &IfruOptions,
    fit_rows: &Interactions,
    valid: &Interactions,
    kind: ForgetRows,
    valid_floor: f64,
) -> Result<Calibrated> {
    let mut warnings = Vec::new();
    let membership = match Membership::new(gpu, ctx, fit_rows, valid, kind)? {
        Ok(m) => m,
        Err(why) => {
            let step = influence_step(gpu, ctx, opts)?;
            warnings.push(format!(
                "{why}; used the fixed rule (δ = {})",
                step.figures.damping
            ));
            return Ok(Calibrated {
                step,
                points: Vec::new(),
                warnings,
            });
        }
    };
    let mut probe = Probe::new(gpu, ctx, valid)?;
    // Pruning, g, the operator and the preconditioner's blocks do not depend on δ: built once.
    let mut prepared = PreparedStep::new(gpu, ctx, opts)?;
    let start = prepared.damping();
    let mut target_before: Option<f64> = None;
    let mut tried: Vec<(CalibrationPoint, InfluenceStep)> = Vec::new();
    let mut run =
        |delta: f32, tried: &mut Vec<(CalibrationPoint, InfluenceStep)>| -> Result<(f64, f64)> {
            let step = prepared.solve(gpu, ctx, delta)?;
            let target = match target_before {
                Some(t) => t,
                None => {
                    // θ̂ on the new graph: the step scaled to nothing.
                    probe.set_scaled(&step.kept, &step.x, 0.0, &[])?;
                    *target_before.insert(membership.target(&probe)?)
                }
            };
            probe.set(&step.kept, &step.x)?;
            let mut point = CalibrationPoint {
                damping: delta,
                forget_auc_a: None,
                forget_rank_a: None,
                target: f64::NAN,
                valid_auc: None,
                iterations: step.figures.iterations,
            };
            let f = membership.evaluate(&probe, &mut point, target)?;
            // No guard without a validation AUC (BPR): NaN never compares below the floor.
            let guard = point.valid_auc.unwrap_or(f64::NAN);
            tried.push((point, step));
            Ok((f, guard))
        };
    // Bracket the root: f decreases as δ shrinks (a larger step forgets more).
    let mut delta = start;
    let (mut f, mut v) = run(delta, &mut tried)?;
    let mut bracket = None;
    for _ in 0..6 {
        let next = if f > 0.0 { delta / 10.0 } else { delta * 10.0 };
        if !(DELTA_RANGE.0..=DELTA_RANGE.1).contains(&next) {
            break;
        }
        if f > 0.0 && v < valid_floor {
            warnings.push(format!(
                "validation AUC {v:.4} fell below the original's {valid_floor:.4} at δ = {delta}; \
                 not shrinking δ further"
            ));
            break;
        }
        let (f2, v2) = run(next, &mut tried)?;
        if (f2 > 0.0) != (f > 0.0) {
            bracket = Some(((delta, f), (next, f2)));
            break;
        }
        (f, v, delta) = (f2, v2, next);
    }
    // Regula falsi in log δ, keeping a sign change.
    match bracket {
        Some(((mut d0, mut f0), (mut d1, mut f1))) => {
            for _ in 0..3 {
                let (l0, l1) = ((d0 as f64).ln(), (d1 as f64).ln());
                let l = l1 - f1 * (l1 - l0) / (f1 - f0);
                let d = l.exp() as f32;
                let (f2, _) = run(d, &mut tried)?;
                if f2.abs() < 0.005 {
                    break;
                }
                if (f2 > 0.0) == (f0 > 0.0) {
                    (d0, f0) = (d, f2);
                } else {
                    (d1, f1) = (d, f2);
                }
            }
        }
        None => warnings
            .push("calibration found no sign change within its range; kept the closest δ".into()),
    }
    // The closest point whose validation AUC holds; else the mildest step tried.
    let floor = valid_floor - 1e-3;
    let gap = |p: &CalibrationPoint| {
        (p.forget_auc_a.or(p.forget_rank_a).unwrap_or(f64::INFINITY) - p.target).abs()
    };
    let best = tried
        .iter()
        .enumerate()
        .filter(|(_, (p, _))| p.valid_auc.is_none_or(|v| v >= floor))
        .min_by(|a, b| gap(&a.1.0).total_cmp(&gap(&b.1.0)))
        .or_else(|| {
            tried
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.0.damping.total_cmp(&b.1.0.damping))
        })
        .map(|(k, _)| k)
        .ok_or_else(|| Error::Invalid("calibration evaluated nothing".into()))?;
    let points = tried.iter().map(|(p, _)| p.clone()).collect();
    let (_, step) = tried.swap_remove(best);
    Ok(Calibrated {
        step,
        points,
        warnings,
    })
}
