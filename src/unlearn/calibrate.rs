//! The calibrated step (issue 5): choose the damping δ so that the forgotten rows look like
//! rows the model never saw — the AUC over the forget rows with their training labels equals
//! the AUC over validation rows carrying the same kind of labels (their own for genuine
//! rows; flipped for the IFRU protocol's flipped rows).
//!
//! Honest evaluation: the statistic is fitted on the first half of the forget rows in file
//! order; the second half (`forget_auc_b`) is never looked at. A guard stops shrinking δ once
//! the validation AUC falls below the original model's.
//!
//! Search: δ moves by factors of 10 from the `auto` value until the sign of
//! f(δ) = forget_auc_a(δ) − target(δ) changes, then secant steps in log δ (about 4–5 solves).
//! Pruning, g, the Hessian operator and the preconditioner's blocks are built once
//! ([`PreparedStep`]); each evaluation is a solve and a scoring pass. Warm starts or a
//! multi-shift CG would be the next saving.

use serde::{Deserialize, Serialize};

use crate::data::Interactions;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::model::LossKind;

use super::influence::{
    IfruOptions, InfluenceStep, PreparedStep, Probe, RequestContext, auto_damping, influence_step,
};

/// What kind of rows a request forgets (how a model that never saw them would score them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ForgetRows {
    /// Real interactions: an unseen row scores like a validation row with its own label.
    Genuine,
    /// Rows whose labels were flipped (poisoned): like a validation row with its label flipped.
    Flipped,
}

impl ForgetRows {
    /// `Flipped` when every row lies in the dataset's flipped rows (D_r of an IFRU-protocol
    /// folder, whose labels were flipped), else `Genuine`.
    pub fn detect(data: &crate::data::Dataset, rows: &[u32]) -> Self {
        let flipped = data.flipped_rows();
        if !rows.is_empty() && rows.iter().all(|r| flipped.contains(r)) {
            ForgetRows::Flipped
        } else {
            ForgetRows::Genuine
        }
    }
}

/// Fewest forget rows in the fitting half for the statistic to mean anything.
pub const MIN_FIT_ROWS: usize = 20;
/// δ is searched within these bounds (sum units).
const DELTA_RANGE: (f32, f32) = (1e-4, 1e5);

/// One evaluated δ.
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationPoint {
    pub damping: f32,
    pub forget_auc_a: f64,
    pub target: f64,
    pub valid_auc: f64,
    pub iterations: usize,
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
    let one_label = fit_rows.labels.iter().all(|&l| l == fit_rows.labels[0]);
    if ctx.spec.loss != LossKind::Bce || fit_rows.len() < MIN_FIT_ROWS || one_label {
        warnings.push(format!(
            "calibration needs a BCE model and at least {MIN_FIT_ROWS} fitting rows with both labels \
             ({} rows here); used the fixed rule (δ = {})",
            fit_rows.len(),
            opts.damping.unwrap_or_else(auto_damping)
        ));
        let step = influence_step(gpu, ctx, opts)?;
        return Ok(Calibrated {
            step,
            points: Vec::new(),
            warnings,
        });
    }
    let mut probe = Probe::new(gpu, ctx, valid)?;
    // Pruning, g, the operator and the preconditioner's blocks do not depend on δ: built once.
    let mut prepared = PreparedStep::new(gpu, ctx, opts)?;
    let mut tried: Vec<(CalibrationPoint, InfluenceStep)> = Vec::new();
    let mut run =
        |delta: f32, tried: &mut Vec<(CalibrationPoint, InfluenceStep)>| -> Result<(f64, f64)> {
            let step = prepared.solve(gpu, ctx, delta)?;
            probe.set(&step.kept, &step.x)?;
            let forget_auc_a = probe.auc_of(fit_rows)?;
            let valid_auc = probe.auc_of(valid)?;
            let target = match kind {
                ForgetRows::Genuine => valid_auc,
                ForgetRows::Flipped => 1.0 - valid_auc,
            };
            let point = CalibrationPoint {
                damping: delta,
                forget_auc_a,
                target,
                valid_auc,
                iterations: step.figures.iterations,
            };
            tried.push((point, step));
            Ok((forget_auc_a - target, valid_auc))
        };
    // Bracket the root: f decreases as δ shrinks (a larger step forgets more).
    let mut delta = opts.damping.unwrap_or_else(auto_damping);
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
    let gap = |p: &CalibrationPoint| (p.forget_auc_a - p.target).abs();
    let best = tried
        .iter()
        .enumerate()
        .filter(|(_, (p, _))| p.valid_auc >= floor)
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
