//! Conjugate-gradient state kernels (`shaders/cg.wgsl`): α, β, convergence and failure
//! tests on a small device state buffer, the guarded `x += αp, r −= αq` update, and the
//! Jacobi preconditioner. The solver itself is [`crate::solve::cg`].
//!
//! The state latches: after a stop (converged, non-positive curvature, a non-finite value,
//! a breakdown) later updates are skipped, so the host can look at the state only every few
//! iterations and still find x at the last good iterate.

use bytemuck::{Pod, Zeroable};

use super::plan::Plan;
use super::shaders::CG;
use super::table::{WORKGROUP, element_binding, element_chunks, params};
use crate::gpu::{Gpu, GpuBuffer, GpuError, GpuResult, RowChunk};

/// Slots of the state buffer (`S_*` in `shaders/cg.wgsl`).
pub mod slot {
    /// r·z, alternating between the two slots from one iteration to the next.
    pub const RZ: [u32; 2] = [0, 1];
    /// pᵀ(H + δI)p of the current iteration.
    pub const PAP: u32 = 2;
    pub const ALPHA: u32 = 3;
    pub const BETA: u32 = 4;
    /// ‖r‖² after the last counted iteration (‖b‖² before the first).
    pub const RR: u32 = 5;
    /// ‖b‖².
    pub const BB: u32 = 6;
    /// A [`super::Status`] code.
    pub const STATUS: u32 = 7;
    /// Iterations counted so far (each one that updated x).
    pub const ITER: u32 = 8;
    /// Iteration (0-based) at which the solve stopped.
    pub const STOP: u32 = 9;
    /// The offending value of a failure stop (pᵀAp, r·z, α, ...).
    pub const BAD: u32 = 10;
    /// Scratch for the solver: the count of unusable Jacobi entries.
    pub const BAD_DIAG: u32 = 11;
    /// Scratch for the solver: ‖r‖² when no preconditioner makes it differ from r·z.
    pub const SPARE: u32 = 12;
    /// A warm start's xᵀb and xᵀ(H + δI)x, for the guess's scale (`solve::cg::Start::Guess`).
    pub const GUESS_XB: u32 = 13;
    pub const GUESS_XAX: u32 = 14;
}

/// Length of the state buffer.
pub const STATE_LEN: usize = 16;

/// The solver's status as the state kernels record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Running,
    /// ‖r‖ ≤ rtol · ‖b‖ (or b = 0).
    Converged,
    /// pᵀ(H + δI)p ≤ 0: the step was refused, x is the previous iterate.
    NonPositive,
    /// A non-finite value before the update: x is the previous iterate.
    NonFinite,
    /// A non-finite residual after the update: x may hold the bad step.
    NonFiniteAfterUpdate,
    /// r·M⁻¹r ≤ 0 with r ≠ 0: the preconditioner is not positive definite.
    Breakdown,
}

impl Status {
    /// The code stored in the state buffer.
    pub fn code(self) -> f32 {
        match self {
            Status::Running => 0.0,
            Status::Converged => 1.0,
            Status::NonPositive => 2.0,
            Status::NonFinite => 3.0,
            Status::NonFiniteAfterUpdate => 4.0,
            Status::Breakdown => 5.0,
        }
    }

    /// The status of a stored code, if it is one.
    pub fn from_code(code: f32) -> Option<Self> {
        [
            Status::Running,
            Status::Converged,
            Status::NonPositive,
            Status::NonFinite,
            Status::NonFiniteAfterUpdate,
            Status::Breakdown,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct CgParams {
    n: u32,
    rz_old: u32,
    rz_new: u32,
    rr: u32,
    rtol: f32,
    delta: f32,
    _pad: [u32; 2],
}

/// The state slots one iteration reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepSlots {
    /// r·z before the update.
    pub rz_old: u32,
    /// r·z after the update.
    pub rz_new: u32,
    /// ‖r‖² after the update.
    pub rr: u32,
}

impl StepSlots {
    /// The slots of iteration `k` (r·z alternates, so two recorded variants suffice).
    /// Without a preconditioner ‖r‖² is r·z itself.
    pub fn of_iteration(k: usize, preconditioned: bool) -> Self {
        let rz_old = slot::RZ[k % 2];
        let rz_new = slot::RZ[(k + 1) % 2];
        StepSlots {
            rz_old,
            rz_new,
            rr: if preconditioned { slot::SPARE } else { rz_new },
        }
    }
}

fn check_state(state: &GpuBuffer<f32>) -> GpuResult<()> {
    if state.len() < STATE_LEN {
        return Err(GpuError::Invalid(format!(
            "CG state buffer holds {} values, needs {STATE_LEN}",
            state.len()
        )));
    }
    Ok(())
}

fn check_slot(s: u32) -> GpuResult<()> {
    if s as usize >= STATE_LEN {
        return Err(GpuError::Invalid(format!(
            "CG state slot {s} outside 0..{STATE_LEN}"
        )));
    }
    Ok(())
}

fn check_rtol(rtol: f32) -> GpuResult<()> {
    if !(rtol.is_finite() && rtol >= 0.0) {
        return Err(GpuError::Invalid(format!(
            "relative tolerance {rtol} is not a finite non-negative number"
        )));
    }
    Ok(())
}

fn single<'a>(
    gpu: &Gpu,
    entry: &'static str,
    state: &'a GpuBuffer<f32>,
    slots: StepSlots,
    rtol: f32,
) -> GpuResult<Plan<'a>> {
    check_state(state)?;
    check_rtol(rtol)?;
    for s in [slots.rz_old, slots.rz_new, slots.rr] {
        check_slot(s)?;
    }
    let p = params(
        gpu,
        &CgParams {
            n: 1,
            rz_old: slots.rz_old,
            rz_new: slots.rz_new,
            rr: slots.rr,
            rtol,
            delta: 0.0,
            _pad: [0; 2],
        },
    )?;
    let launch = gpu.launch(
        &CG,
        entry,
        &[(0, p.as_entire_binding()), (1, state.binding())],
        1,
    )?;
    Ok(Plan::new(vec![launch]))
}

/// Starts a solve once `state[rz]` holds r·z of the initial residual, `state[rr]` its ‖r‖²
/// and `state[BB]` ‖b‖² (`rr` = `BB` for a start from 0, where r = b): sets the counters and
/// the status (converged at once for b = 0 or a residual already within rtol, non-finite for
/// a non-finite b, ‖r‖² or r·z).
pub fn init<'a>(
    gpu: &Gpu,
    state: &'a GpuBuffer<f32>,
    rz: u32,
    rr: u32,
    rtol: f32,
) -> GpuResult<Plan<'a>> {
    let slots = StepSlots {
        rz_old: rz,
        rz_new: rz,
        rr,
    };
    single(gpu, "init", state, slots, rtol)
}

/// `α = state[rz_old] / state[PAP]`, or a stop (non-positive or non-finite curvature).
pub fn alpha<'a>(gpu: &Gpu, state: &'a GpuBuffer<f32>, slots: StepSlots) -> GpuResult<Plan<'a>> {
    single(gpu, "alpha", state, slots, 0.0)
}

/// Counts the iteration and tests the new residual: converged, non-finite, breakdown, or
/// `β = state[rz_new] / state[rz_old]`.
pub fn after<'a>(
    gpu: &Gpu,
    state: &'a GpuBuffer<f32>,
    slots: StepSlots,
    rtol: f32,
) -> GpuResult<Plan<'a>> {
    single(gpu, "after", state, slots, rtol)
}

fn same_len(what: &str, a: usize, b: usize) -> GpuResult<()> {
    if a != b {
        return Err(GpuError::Invalid(format!(
            "{what}: vector lengths differ ({a} and {b})"
        )));
    }
    Ok(())
}

/// One launch of element-wise entry `entry` per binding-sized chunk of `n` elements;
/// `bind` gives the chunk's bindings (besides the parameter block at 0).
fn per_chunk<'a>(
    gpu: &Gpu,
    entry: &'static str,
    n: usize,
    delta: f32,
    bind: impl Fn(RowChunk) -> Vec<(u32, wgpu::BindingResource<'a>)>,
) -> GpuResult<Plan<'a>> {
    let mut launches = Vec::new();
    for chunk in element_chunks(gpu, n)? {
        let u = params(
            gpu,
            &CgParams {
                n: chunk.count,
                rz_old: 0,
                rz_new: 0,
                rr: 0,
                rtol: 0.0,
                delta,
                _pad: [0; 2],
            },
        )?;
        let mut bindings = vec![(0, u.as_entire_binding())];
        bindings.extend(bind(chunk));
        launches.push(gpu.launch(&CG, entry, &bindings, chunk.count.div_ceil(WORKGROUP))?);
    }
    Ok(Plan::new(launches))
}

/// `x += α p` and `r −= α q` with `α = state[ALPHA]`, skipped unless the status is running.
pub fn update<'a>(
    gpu: &Gpu,
    state: &'a GpuBuffer<f32>,
    p: &'a GpuBuffer<f32>,
    q: &'a GpuBuffer<f32>,
    x: &'a GpuBuffer<f32>,
    r: &'a GpuBuffer<f32>,
) -> GpuResult<Plan<'a>> {
    check_state(state)?;
    for v in [q, x, r] {
        same_len("CG update", p.len(), v.len())?;
    }
    per_chunk(gpu, "update", p.len(), 0.0, |chunk| {
        vec![
            (2, state.binding()),
            (3, element_binding(p, chunk)),
            (4, element_binding(q, chunk)),
            (5, element_binding(x, chunk)),
            (6, element_binding(r, chunk)),
        ]
    })
}

/// `inv[i] = 1 / (diag[i] + δ)` where that is positive and finite, else 1; `flags[i]` is 1
/// where the fallback was taken and 0 elsewhere (sum it to count them).
pub fn jacobi_prepare<'a>(
    gpu: &Gpu,
    diag: &'a GpuBuffer<f32>,
    delta: f32,
    inv: &'a GpuBuffer<f32>,
    flags: &'a GpuBuffer<f32>,
) -> GpuResult<Plan<'a>> {
    same_len("Jacobi", diag.len(), inv.len())?;
    same_len("Jacobi", diag.len(), flags.len())?;
    per_chunk(gpu, "jacobi_prepare", diag.len(), delta, |chunk| {
        vec![
            (7, element_binding(diag, chunk)),
            (8, element_binding(inv, chunk)),
            (9, element_binding(flags, chunk)),
        ]
    })
}

/// `z[i] = inv[i] · r[i]`.
pub fn jacobi_apply<'a>(
    gpu: &Gpu,
    inv: &'a GpuBuffer<f32>,
    r: &'a GpuBuffer<f32>,
    z: &'a GpuBuffer<f32>,
) -> GpuResult<Plan<'a>> {
    same_len("Jacobi", inv.len(), r.len())?;
    same_len("Jacobi", inv.len(), z.len())?;
    per_chunk(gpu, "jacobi_apply", r.len(), 0.0, |chunk| {
        vec![
            (9, element_binding(z, chunk)),
            (10, element_binding(inv, chunk)),
            (11, element_binding(r, chunk)),
        ]
    })
}
