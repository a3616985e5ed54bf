//! The original authors' solver of the influence system, kept for comparison.

use crate::error::Result;
use crate::gpu::{Gpu, Record};
use crate::kernels::DeviceTable;
use crate::kernels::blas::{Scalar, axpby};
use crate::solve::{CgOutcome, CgReport, LinearOperator};

use super::hvp::HvpOperator;
use super::probe::Probe;
use super::prune::NodeSubset;

/// The authors' solver: Adam on q(x) = ½xᵀ(H + δI)x − gᵀx from x = 0 (gradient (H + δI)x − g),
/// validation AUC of θ + x after every step, keeping the best iterate; stops after
/// `patience` steps without improvement.
#[allow(clippy::too_many_arguments)]
pub(super) fn adam_solve(
    gpu: &Gpu,
    op: &HvpOperator,
    g: &DeviceTable,
    x: &DeviceTable,
    kept: &NodeSubset,
    probe: &mut Probe<'_>,
    damping: f32,
    lr: f32,
    max_iter: usize,
    patience: usize,
) -> Result<CgReport> {
    use crate::kernels::adam::{AdamConfig, AdamState, adam_step};
    let n = op.len();
    let hx = gpu.zeros::<f32>(n, "adam Hx")?;
    let grad = gpu.zeros::<f32>(n, "adam gradient")?;
    let best = gpu.zeros::<f32>(n, "adam best x")?;
    let state = AdamState::new(gpu, n)?;
    let step = op
        .apply(gpu, x.values(), &hx)?
        .then(axpby(
            gpu,
            Scalar::Host(damping),
            x.values(),
            Scalar::Host(1.0),
            &hx,
            None,
        )?)
        .then(axpby(
            gpu,
            Scalar::Host(1.0),
            &hx,
            Scalar::Host(0.0),
            &grad,
            None,
        )?)
        .then(axpby(
            gpu,
            Scalar::Host(-1.0),
            g.values(),
            Scalar::Host(1.0),
            &grad,
            None,
        )?)
        .then(adam_step(
            gpu,
            AdamConfig {
                lr,
                ..AdamConfig::default()
            },
            &grad,
            x.values(),
            &state,
        )?);
    let keep = crate::kernels::blas::copy(gpu, x.values(), &best)?;
    let restore = crate::kernels::blas::copy(gpu, &best, x.values())?;
    let fill = crate::kernels::blas::fill(gpu, x.values(), 0.0)?;
    gpu.run("x = 0", |pass| fill.record(pass))?;
    let mut best_auc = probe.valid_auc(kept, x)?;
    let (mut best_iter, mut iterations) = (0, 0);
    let mut trace = Vec::new();
    while iterations < max_iter && iterations - best_iter < patience {
        gpu.run("adam solver step", |pass| step.record(pass))?;
        iterations += 1;
        let v = probe.valid_auc(kept, x)?;
        trace.push((iterations, v as f32));
        if v > best_auc {
            best_auc = v;
            best_iter = iterations;
            gpu.run("keep best", |pass| keep.record(pass))?;
        }
    }
    gpu.run("best x", |pass| restore.record(pass))?;
    let mut report = CgReport {
        iterations,
        residual: f32::NAN,
        residual_trace: Vec::new(),
        converged: true,
        outcome: CgOutcome::Converged,
        warnings: Vec::new(),
        preconditioner: "none",
        damping,
    };
    report.residual_trace = trace;
    report.warnings.push(format!(
        "Adam solver: kept step {best_iter} of {iterations} (validation AUC {best_auc:.4}); \
         residual_trace holds the validation AUC per step"
    ));
    Ok(report)
}
