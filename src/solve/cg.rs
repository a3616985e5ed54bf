//! Damped preconditioned conjugate gradient on the GPU: `(H + δI) x = b` (docs/ARCHITECTURE.md, "The solve").
//!
//! The operator supplies `H p` ([`LinearOperator`]); the solver adds `δ p` itself. Vectors
//! (x, r, z, p, Ap) and scalars (r·z, pᵀAp, α, β, ‖r‖²) stay on the device: an iteration is
//! the operator's recorded plan, two or three deterministic reductions into slots of a small
//! state buffer, one-thread kernels computing α and β from those slots, and BLAS-1 updates
//! whose factors are read from the same buffer ([`crate::kernels::cg`]). r·z alternates
//! between two slots, so two recorded iteration variants replay without copying it.
//!
//! Iterations go into command buffers of at most `check_every`; after each, the host reads
//! the state (16 floats) once, keeps `(iteration, ‖r‖/‖b‖)` in `residual_trace` and decides.
//! The device latches its status, so iterations after a stop inside a command buffer change
//! nothing: the reported iteration count is exact, not rounded up to a batch. They still
//! cost their full work, though (an influence solve typically needs 2–4 iterations, each
//! one Hessian-vector product over the request's rows), so by default the batch size is
//! *predicted* ([`CheckSchedule::Predicted`]): [`FIRST_BATCH`] iterations first, then as
//! many as the residual's observed rate of decrease says are left, at most `check_every`.
//!
//! Outcomes, and what x holds (never a NaN or an infinity):
//! - [`CgOutcome::Converged`]: `‖r‖ ≤ rtol·‖b‖` (recursive residual, f32); b = 0 gives x = 0.
//! - [`CgOutcome::MaxIter`]: the iterate after `max_iter` iterations; a warning says so.
//! - [`CgOutcome::NonPositiveCurvature`]: `pᵀ(H + δI)p ≤ 0` at that iteration; the step was
//!   refused, x is the previous iterate. H + δI is not positive definite: **the caller**
//!   chooses the fallback (the Gauss–Newton matrix, or more damping) and solves again; the
//!   warning names both.
//! - [`CgOutcome::NonFinite`]: a NaN or infinity in the operator's output, r·z, α or the new
//!   residual. Found before the update, x is the previous iterate; found after it (an
//!   overflow of the update itself), x is restored from a device copy taken at the last read.
//! - [`CgOutcome::Breakdown`]: `r·M⁻¹r ≤ 0` with r ≠ 0 (a preconditioner that is not positive
//!   definite; the ones built here cannot be, barring underflow); x is the last iterate.

use serde::Serialize;

use super::operator::LinearOperator;
use super::precond::{Preconditioner, invert_blocks};
use super::recycle::{KEEP, KrylovBasis};
use crate::gpu::{Gpu, GpuBuffer, GpuError, GpuResult, Record};
use crate::kernels::Plan;
use crate::kernels::blas::{Scalar, axpby, copy, fill, scale};
use crate::kernels::block::{DeviceBlocks, block_invert, block_matvec};
use crate::kernels::cg::{self as state_kernels, STATE_LEN, Status, StepSlots, slot};
use crate::kernels::reduce::{dot, sum};

/// Largest `max_iter`: the device counts iterations in an f32 slot, exact up to 2²⁴.
pub const MAX_ITER_LIMIT: usize = 1 << 24;

/// Settings of a solve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CgOptions {
    /// Stop when `‖r‖ ≤ rtol · ‖b‖` (`--rtol`). Values below about 1e-6 are below what f32
    /// arithmetic can resolve on most systems and end at `max_iter`.
    pub rtol: f32,
    /// Most iterations (`--max-iter`).
    pub max_iter: usize,
    /// Most iterations per command buffer; the host reads the residual once per batch.
    pub check_every: usize,
    /// How many iterations each batch holds.
    pub schedule: CheckSchedule,
    /// δ: the solver solves `(H + δI) x = b` (sum units; ≥ 0).
    pub damping: f32,
}

impl Default for CgOptions {
    /// rtol 1e-4 (far below the influence approximation's own error), 100 iterations, a read
    /// every 5, and δ = 1 in sum units (the prototype's default; calibrate it per data).
    fn default() -> Self {
        CgOptions {
            rtol: 1e-4,
            max_iter: 100,
            check_every: 5,
            schedule: CheckSchedule::Predicted,
            damping: 1.0,
        }
    }
}

/// How the solver sizes its batches of iterations between two reads of the residual.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckSchedule {
    /// Always `check_every` iterations.
    Fixed,
    /// [`FIRST_BATCH`] iterations, then the number the residual's observed geometric rate
    /// predicts is needed to reach `rtol` (at least 1, at most `check_every`): a batch
    /// rarely runs iterations past convergence, and a read costs one device round trip.
    Predicted,
}

/// The predicted schedule's first batch. No influence solve measured here converged in
/// one iteration (2–5 at rtol 0.05 on every validation setting, the demo and Gowalla), and
/// a rate needs two residuals to be worth anything: starting with two saves a read-back
/// (~50–100 µs on a real GPU, about what one iteration's ten dispatches cost there) on
/// every solve, and changes no bit of x (the status latches at convergence).
pub const FIRST_BATCH: usize = 2;

/// Iterations of the next batch, after `done` iterations that left relative residual
/// `residual` (1 at iteration 0).
fn next_batch(opts: &CgOptions, done: usize, residual: f32) -> usize {
    let cap = opts.check_every;
    match opts.schedule {
        CheckSchedule::Fixed => cap,
        CheckSchedule::Predicted if done == 0 => FIRST_BATCH.min(cap),
        CheckSchedule::Predicted => {
            let residual = residual as f64;
            // Mean reduction per iteration so far; CG on these systems speeds up rather
            // than slows down, so this over- rather than under-estimates what is left.
            let rate = residual.powf(1.0 / done as f64);
            if !(residual > 0.0 && rate < 1.0 && rate.is_finite()) || opts.rtol <= 0.0 {
                return cap;
            }
            let left = ((opts.rtol as f64 / residual).ln() / rate.ln()).ceil();
            (left.max(1.0) as usize).min(cap)
        }
    }
}

/// The warning for block-Jacobi blocks that took their Jacobi fallback.
fn fallback_warning(fallbacks: usize, blocks: usize) -> String {
    format!(
        "{fallbacks} of {blocks} diagonal blocks of H + δI are not positive definite; \
         block-Jacobi uses their diagonal there"
    )
}

/// How a solve ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CgOutcome {
    Converged,
    MaxIter,
    /// `pᵀ(H + δI)p ≤ 0` in iteration `iteration` (0-based); x holds the `iteration`
    /// iterations before it.
    NonPositiveCurvature {
        iteration: usize,
    },
    /// A non-finite value in iteration `iteration` (0-based).
    NonFinite {
        iteration: usize,
    },
    /// `r·M⁻¹r ≤ 0` after `iteration` iterations.
    Breakdown {
        iteration: usize,
    },
}

/// What a solve did.
#[derive(Debug, Clone, Serialize)]
pub struct CgReport {
    /// Iterations whose result x holds.
    pub iterations: usize,
    /// `‖r‖ / ‖b‖` of that iterate, as last read (0 for b = 0).
    pub residual: f32,
    /// `(iterations, ‖r‖/‖b‖)` at each read-back of the device state.
    pub residual_trace: Vec<(usize, f32)>,
    pub converged: bool,
    pub outcome: CgOutcome,
    /// Fallbacks taken and outcomes short of convergence, in words.
    pub warnings: Vec<String>,
    pub preconditioner: &'static str,
    pub damping: f32,
}

/// What the host reads from the state buffer.
#[derive(Debug, Clone, Copy)]
struct Read {
    status: Status,
    iterations: usize,
    stop: usize,
    bad: f32,
    residual: f32,
    bad_diag: f32,
}

fn parse(s: &[f32]) -> GpuResult<Read> {
    let status = Status::from_code(s[slot::STATUS as usize]).ok_or_else(|| {
        GpuError::Invalid(format!(
            "CG state holds an unknown status code {}",
            s[slot::STATUS as usize]
        ))
    })?;
    let (rr, bb) = (s[slot::RR as usize] as f64, s[slot::BB as usize] as f64);
    let residual = if bb > 0.0 && bb.is_finite() {
        (rr / bb).sqrt() as f32
    } else if bb == 0.0 {
        0.0
    } else {
        f32::NAN
    };
    Ok(Read {
        status,
        iterations: s[slot::ITER as usize] as usize,
        stop: s[slot::STOP as usize] as usize,
        bad: s[slot::BAD as usize],
        residual,
        bad_diag: s[slot::BAD_DIAG as usize],
    })
}

fn check_options(opts: &CgOptions) -> GpuResult<()> {
    if !(opts.rtol.is_finite() && opts.rtol >= 0.0) {
        return Err(GpuError::Invalid(format!(
            "rtol {} must be a finite number >= 0",
            opts.rtol
        )));
    }
    if !(opts.damping.is_finite() && opts.damping >= 0.0) {
        return Err(GpuError::Invalid(format!(
            "damping {} must be a finite number >= 0",
            opts.damping
        )));
    }
    if opts.check_every == 0 {
        return Err(GpuError::Invalid("check_every must be at least 1".into()));
    }
    if opts.max_iter > MAX_ITER_LIMIT {
        return Err(GpuError::Invalid(format!(
            "max_iter {} exceeds {MAX_ITER_LIMIT}",
            opts.max_iter
        )));
    }
    Ok(())
}

/// `output += δ · input` (nothing for δ = 0): the damping's share of `(H + δI) input`.
fn damped<'a>(
    gpu: &Gpu,
    damping: f32,
    input: &'a GpuBuffer<f32>,
    output: &'a GpuBuffer<f32>,
) -> GpuResult<Plan<'a>> {
    if damping == 0.0 {
        return Ok(Plan::empty());
    }
    axpby(
        gpu,
        Scalar::Host(damping),
        input,
        Scalar::Host(1.0),
        output,
        None,
    )
}

/// The preconditioner's device pieces: setup work (once) and `z = M⁻¹ r` (every iteration).
struct Prepared<'a> {
    setup: Plan<'a>,
    apply: Plan<'a>,
}

/// Solves `(H + δI) x = b` with `H` = `op`, writing x (its old contents are ignored: the
/// solve starts from 0). Errors only for bad arguments or device failures; every numerical
/// outcome is an [`Ok`] report (see the module documentation).
pub fn solve<O: LinearOperator + ?Sized>(
    gpu: &Gpu,
    op: &O,
    b: &GpuBuffer<f32>,
    x: &GpuBuffer<f32>,
    precond: &Preconditioner<'_>,
    opts: &CgOptions,
) -> GpuResult<CgReport> {
    solve_from(gpu, op, b, x, Start::Zero, precond, opts)
}

/// Where a solve starts.
#[derive(Clone, Copy)]
pub enum Start<'a> {
    /// x₀ = 0 (x's contents are ignored).
    Zero,
    /// x₀ = c·x for x's contents (a guess: the solution of a nearby system), with
    /// c = xᵀb ÷ xᵀ(H + δI)x, the multiple of the guess closest to the solution in the
    /// energy norm. So a start from a guess is never further from the solution, in that
    /// norm, than a start from 0 (a guess of 0 or one orthogonal to b gives c = 0: the cold
    /// start). Costs one operator application more than [`Start::Zero`]. A guess that is
    /// not finite ends the solve at once as [`CgOutcome::NonFinite`] with x = 0.
    Guess,
    /// The Galerkin solution in the directions a solve of the same operator and b at
    /// another δ kept ([`solve_recording`], [`super::recycle`]): never further from the
    /// solution in the energy norm than [`Start::Guess`] from that solve's solution, and
    /// without its operator application. x holds that solution on entry: where the
    /// projected system is not numerically positive definite the solve starts as
    /// [`Start::Guess`] from it.
    Recycled(&'a KrylovBasis),
}

/// [`solve`] from `start`; with [`Start::Guess`], x holds the guess on entry.
pub fn solve_from<O: LinearOperator + ?Sized>(
    gpu: &Gpu,
    op: &O,
    b: &GpuBuffer<f32>,
    x: &GpuBuffer<f32>,
    start: Start<'_>,
    precond: &Preconditioner<'_>,
    opts: &CgOptions,
) -> GpuResult<CgReport> {
    solve_inner(gpu, op, b, x, start, precond, opts, None)
}

/// [`solve_from`], keeping the search directions and their images for a later solve at
/// another δ ([`Start::Recycled`]): those of a solve from 0 that took at most [`KEEP`]
/// iterations (else none). Costs two vector copies an iteration.
pub fn solve_recording<O: LinearOperator + ?Sized>(
    gpu: &Gpu,
    op: &O,
    b: &GpuBuffer<f32>,
    x: &GpuBuffer<f32>,
    start: Start<'_>,
    precond: &Preconditioner<'_>,
    opts: &CgOptions,
) -> GpuResult<(CgReport, KrylovBasis)> {
    let mut basis = KrylovBasis::new(gpu, op.len(), KEEP, opts.damping)?;
    // Only a start from 0 makes the solution a combination of the directions, and only
    // while every one of them was kept: otherwise a recycled start could be worse than the
    // guess, so none is offered (and none copied).
    let from_zero = matches!(start, Start::Zero);
    let report = solve_inner(
        gpu,
        op,
        b,
        x,
        start,
        precond,
        opts,
        from_zero.then_some(&basis),
    )?;
    let whole = from_zero && report.iterations <= KEEP;
    basis.set_used(if whole { report.iterations } else { 0 });
    Ok((report, basis))
}

#[allow(clippy::too_many_arguments)]
fn solve_inner<O: LinearOperator + ?Sized>(
    gpu: &Gpu,
    op: &O,
    b: &GpuBuffer<f32>,
    x: &GpuBuffer<f32>,
    start: Start<'_>,
    precond: &Preconditioner<'_>,
    opts: &CgOptions,
    record: Option<&KrylovBasis>,
) -> GpuResult<CgReport> {
    check_options(opts)?;
    let n = op.len();
    if b.len() != n || x.len() != n {
        return Err(GpuError::Invalid(format!(
            "CG: the operator maps vectors of {n} values, b has {} and x {}",
            b.len(),
            x.len()
        )));
    }
    let mut report = CgReport {
        iterations: 0,
        residual: 0.0,
        residual_trace: Vec::new(),
        converged: true,
        outcome: CgOutcome::Converged,
        warnings: Vec::new(),
        preconditioner: precond.name(),
        damping: opts.damping,
    };
    if n == 0 {
        return Ok(report);
    }

    let r = gpu.zeros::<f32>(n, "cg r")?;
    let p = gpu.zeros::<f32>(n, "cg p")?;
    let q = gpu.zeros::<f32>(n, "cg Ap")?;
    let x_good = gpu.zeros::<f32>(n, "cg x at last read")?;
    let state = gpu.zeros::<f32>(STATE_LEN, "cg state")?;
    let preconditioned = !matches!(precond, Preconditioner::None);
    let z_own = if preconditioned {
        Some(gpu.zeros::<f32>(n, "cg z")?)
    } else {
        None
    };
    let z = z_own.as_ref().unwrap_or(&r);

    // Preconditioner storage outlives the plans that bind it.
    let mut inv_diag = None;
    let mut host_inverses = None;
    let mut device_inverses = None;
    match precond {
        Preconditioner::None => {}
        Preconditioner::Jacobi { diag } => {
            if diag.len() != n {
                return Err(GpuError::Invalid(format!(
                    "Jacobi diagonal has {} values for vectors of {n}",
                    diag.len()
                )));
            }
            inv_diag = Some(gpu.alloc::<f32>(n, "cg inverse diagonal")?);
        }
        Preconditioner::BlockJacobi { blocks, dim } => {
            let dim = *dim;
            if dim == 0 || !n.is_multiple_of(dim) || blocks.len() != (n / dim) * dim * dim {
                return Err(GpuError::Invalid(format!(
                    "block-Jacobi: {} block values of dimension {dim} do not match vectors of {n}",
                    blocks.len()
                )));
            }
            let inverted =
                invert_blocks(blocks, dim, opts.damping as f64).map_err(GpuError::Invalid)?;
            if inverted.fallbacks > 0 {
                report
                    .warnings
                    .push(fallback_warning(inverted.fallbacks, n / dim));
            }
            host_inverses = Some(DeviceBlocks::upload(
                gpu,
                dim,
                &inverted.inverses,
                "cg block inverses",
            )?);
        }
        Preconditioner::DeviceBlockJacobi { blocks } => {
            if blocks.vector_len() != n {
                return Err(GpuError::Invalid(format!(
                    "block-Jacobi: {} blocks of dimension {} do not match vectors of {n}",
                    blocks.n_blocks(),
                    blocks.dim()
                )));
            }
            device_inverses = Some((
                DeviceBlocks::zeros(gpu, blocks.n_blocks(), blocks.dim(), "cg block inverses")?,
                gpu.zeros::<f32>(blocks.n_blocks() as usize, "cg block fallbacks")?,
            ));
        }
    }
    let prepared =
        match (precond, &inv_diag, &host_inverses, &device_inverses) {
            (Preconditioner::Jacobi { diag }, Some(inv), _, _) => {
                Prepared {
                    // Flags of unusable entries go to z (free until the first apply), then their count.
                    setup: state_kernels::jacobi_prepare(gpu, diag, opts.damping, inv, z)?
                        .then(sum(gpu, z, &state, slot::BAD_DIAG)?),
                    apply: state_kernels::jacobi_apply(gpu, inv, &r, z)?,
                }
            }
            (Preconditioner::BlockJacobi { .. }, _, Some(inverses), _) => Prepared {
                setup: Plan::empty(),
                apply: block_matvec(gpu, inverses, &r, z)?,
            },
            (Preconditioner::DeviceBlockJacobi { blocks }, _, _, Some((inverses, fallbacks))) => {
                Prepared {
                    // The count of blocks that took the Jacobi fallback goes to the state.
                    setup: block_invert(gpu, blocks, opts.damping, inverses, fallbacks)?.then(sum(
                        gpu,
                        fallbacks,
                        &state,
                        slot::BAD_DIAG,
                    )?),
                    apply: block_matvec(gpu, inverses, &r, z)?,
                }
            }
            _ => Prepared {
                setup: Plan::empty(),
                apply: Plan::empty(),
            },
        };

    // A recycled start whose projected system fails starts from the guess in x.
    let recycled = match start {
        Start::Recycled(basis) => basis
            .coefficients(gpu, b, opts.damping)?
            .map(|y| (basis, y)),
        _ => None,
    };
    let start = match (start, &recycled) {
        (Start::Recycled(_), None) => Start::Guess,
        _ => start,
    };
    // x₀ and r₀ = b − (H + δI)x₀, (z = M⁻¹r recorded between the two halves,) r·z, ‖b‖²,
    // ‖r₀‖², status, p = z.
    let (init_head, initial_rr) = match start {
        Start::Zero => (fill(gpu, x, 0.0)?.then(copy(gpu, b, &r)?), slot::BB),
        Start::Recycled(_) => {
            let (basis, y) = recycled.as_ref().ok_or_else(|| {
                GpuError::Invalid("internal: a recycled start without coefficients".into())
            })?;
            (basis.start(gpu, y, opts.damping, b, x, &r)?, slot::SPARE)
        }
        Start::Guess => {
            // q = (H + δI)x, c = xᵀb ÷ xᵀq; x ← c·x, r = b − c·q.
            let c = |sign: f32| Scalar::Device {
                c: sign,
                num: slot::GUESS_XB,
                den: Some(slot::GUESS_XAX),
            };
            let head = op
                .apply(gpu, x, &q)?
                .then(damped(gpu, opts.damping, x, &q)?)
                .then(dot(gpu, x, b, &state, slot::GUESS_XB)?)
                .then(dot(gpu, x, &q, &state, slot::GUESS_XAX)?)
                .then(scale(gpu, x, c(1.0), Some(&state))?)
                .then(copy(gpu, b, &r)?)
                .then(axpby(
                    gpu,
                    c(-1.0),
                    &q,
                    Scalar::Host(1.0),
                    &r,
                    Some(&state),
                )?);
            (head, slot::SPARE)
        }
    };
    let init_head = init_head.then(prepared.setup);
    let initial_residual = match start {
        Start::Zero => Plan::empty(),
        Start::Guess | Start::Recycled(_) => dot(gpu, &r, &r, &state, slot::SPARE)?,
    };
    let init_tail = dot(gpu, &r, z, &state, slot::RZ[0])?
        .then(dot(gpu, b, b, &state, slot::BB)?)
        .then(initial_residual)
        .then(state_kernels::init(
            gpu,
            &state,
            slot::RZ[0],
            initial_rr,
            opts.rtol,
        )?)
        .then(copy(gpu, z, &p)?);
    let snapshot = copy(gpu, x, &x_good)?;
    let restore = copy(gpu, &x_good, x)?;
    let zero_start = fill(gpu, x, 0.0)?;

    // One iteration: q = Hp (+ δp), pᵀq, α, x and r, z = M⁻¹r, r·z (and ‖r‖²), β, p = z + βp.
    let apply_op = op.apply(gpu, &p, &q)?;
    let damp = damped(gpu, opts.damping, &p, &q)?;
    let pap = dot(gpu, &p, &q, &state, slot::PAP)?;
    let update = state_kernels::update(gpu, &state, &p, &q, x, &r)?;
    let rr = if preconditioned {
        dot(gpu, &r, &r, &state, slot::SPARE)?
    } else {
        Plan::empty()
    };
    let beta = Scalar::Device {
        c: 1.0,
        num: slot::BETA,
        den: None,
    };
    let direction = axpby(gpu, Scalar::Host(1.0), z, beta, &p, Some(&state))?;
    let mut variant = Vec::with_capacity(2);
    for parity in 0..2 {
        let slots = StepSlots::of_iteration(parity, preconditioned);
        variant.push((
            state_kernels::alpha(gpu, &state, slots)?,
            dot(gpu, &r, z, &state, slots.rz_new)?,
            state_kernels::after(gpu, &state, slots, opts.rtol)?,
        ));
    }
    // Iteration k's direction and its image, kept (for a recording solve) once q = (H + δI)p.
    let keep: Vec<Plan<'_>> = match record {
        Some(basis) => (0..KEEP)
            .map(|k| basis.record(gpu, k, &p, &q))
            .collect::<GpuResult<_>>()?,
        None => Vec::new(),
    };
    let record_iteration = |k: usize, pass: &mut wgpu::ComputePass<'_>| {
        let (alpha, rz, after) = &variant[k % 2];
        apply_op.record(pass);
        damp.record(pass);
        if let Some(keep) = keep.get(k) {
            keep.record(pass);
        }
        pap.record(pass);
        alpha.record(pass);
        update.record(pass);
        prepared.apply.record(pass);
        rz.record(pass);
        rr.record(pass);
        after.record(pass);
        direction.record(pass);
    };

    let mut dispatched = 0usize;
    let mut last_good = (0usize, 1.0f32);
    let read = loop {
        let count = next_batch(opts, last_good.0, last_good.1).min(opts.max_iter - dispatched);
        let mut encoder = gpu.encoder("cg iterations");
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("cg iterations"),
                timestamp_writes: None,
            });
            if dispatched == 0 {
                init_head.record(&mut pass);
                prepared.apply.record(&mut pass);
                init_tail.record(&mut pass);
            }
            snapshot.record(&mut pass);
            for k in dispatched..dispatched + count {
                record_iteration(k, &mut pass);
            }
        }
        gpu.submit("cg iterations", encoder)?;
        let read = parse(&gpu.download_prefix(&state, STATE_LEN)?)?;
        if dispatched == 0 && read.bad_diag > 0.0 {
            report.warnings.push(match precond {
                Preconditioner::DeviceBlockJacobi { blocks } => {
                    fallback_warning(read.bad_diag as usize, blocks.n_blocks() as usize)
                }
                _ => format!(
                    "{} of {n} diagonal entries of H + δI are not positive and finite; \
                     Jacobi uses 1 there",
                    read.bad_diag
                ),
            });
        }
        dispatched += count;
        report.residual_trace.push((read.iterations, read.residual));
        if read.status != Status::Running || dispatched >= opts.max_iter {
            break read;
        }
        last_good = (read.iterations, read.residual);
    };

    report.iterations = read.iterations;
    report.residual = read.residual;
    let delta = opts.damping;
    report.outcome = match read.status {
        Status::Converged => CgOutcome::Converged,
        Status::Running => {
            report.warnings.push(format!(
                "CG stopped at max_iter {} with relative residual {:.3e} above rtol {:.1e}; \
                 the step is the last iterate (raise max_iter or the damping)",
                opts.max_iter, read.residual, opts.rtol
            ));
            CgOutcome::MaxIter
        }
        Status::NonPositive => {
            report.warnings.push(format!(
                "non-positive curvature pᵀ(H + δI)p = {:.3e} in CG iteration {} (δ = {delta}): \
                 H + δI is not positive definite; the step stops at the previous iterate \
                 (use the Gauss-Newton matrix or more damping)",
                read.bad, read.stop
            ));
            CgOutcome::NonPositiveCurvature {
                iteration: read.stop,
            }
        }
        Status::NonFinite | Status::NonFiniteAfterUpdate => {
            let mut what = format!(
                "a non-finite value ({}) in CG iteration {}",
                read.bad, read.stop
            );
            if read.status == Status::NonFiniteAfterUpdate {
                gpu.run("cg restore", |pass| restore.record(pass))?;
                (report.iterations, report.residual) = last_good;
                what.push_str(" after its update");
            }
            if read.iterations == 0 && !matches!(start, Start::Zero) {
                // The scaled guess itself may be what is not finite: x₀ = 0 instead.
                gpu.run("cg zero start", |pass| zero_start.record(pass))?;
            }
            report.warnings.push(format!(
                "{what}: the step stops at the last finite iterate ({} iterations); \
                 check the operator and the right-hand side",
                report.iterations
            ));
            CgOutcome::NonFinite {
                iteration: read.stop,
            }
        }
        Status::Breakdown => {
            report.warnings.push(format!(
                "the preconditioner is not positive definite (r·M⁻¹r = {:.3e} after {} \
                 iterations); the step stops there (use no preconditioner or more damping)",
                read.bad, read.stop
            ));
            CgOutcome::Breakdown {
                iteration: read.stop,
            }
        }
    };
    report.converged = report.outcome == CgOutcome::Converged;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn predicted(rtol: f32, cap: usize) -> CgOptions {
        CgOptions {
            rtol,
            check_every: cap,
            ..CgOptions::default()
        }
    }

    #[test]
    fn the_first_batch_is_fixed_then_the_rate_decides() {
        let o = predicted(1e-2, 10);
        assert_eq!(next_batch(&o, 0, 1.0), FIRST_BATCH);
        assert_eq!(next_batch(&predicted(1e-2, 1), 0, 1.0), 1);
        // 0.1 per iteration: ln(2e-3 / 1e-1) / ln(0.1) = 1.7 → 2 more.
        assert_eq!(next_batch(&predicted(2e-3, 10), 1, 0.1), 2);
        // 0.5 per iteration over 2 iterations (0.25): ln(0.04) / ln(0.5) = 4.64 → 5.
        assert_eq!(next_batch(&o, 2, 0.25), 5);
        // Slow progress is capped.
        assert_eq!(next_batch(&o, 1, 0.99), 10);
    }

    #[test]
    fn no_progress_or_odd_values_take_the_full_batch() {
        let o = predicted(1e-2, 7);
        for residual in [1.0, 1.5, f32::NAN, f32::INFINITY, 0.0] {
            assert_eq!(next_batch(&o, 3, residual), 7, "{residual}");
        }
        assert_eq!(next_batch(&predicted(0.0, 7), 3, 0.5), 7);
        let fixed = CgOptions {
            schedule: CheckSchedule::Fixed,
            ..o
        };
        assert_eq!(next_batch(&fixed, 0, 1.0), 7);
    }
}
