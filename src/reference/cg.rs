//! f64 references of the conjugate-gradient solve ([`crate::solve::cg`]) and its kernels
//! ([`crate::kernels::cg`], [`crate::kernels::block`]), on dense row-major matrices.
//!
//! The reference CG follows the same algorithm (x₀ = 0, the same stopping tests, damping
//! added by the solver) so iteration counts and iterates can be compared; block-Jacobi is
//! applied by a Cholesky solve per block rather than an explicit inverse, independently of
//! [`crate::solve::precond`].

use super::kernels::Reference;

/// `y = A x` for a dense `n × n` row-major `A`.
pub fn matvec(a: &[f64], x: &[f64]) -> Vec<f64> {
    let n = x.len();
    (0..n)
        .map(|i| (0..n).map(|j| a[i * n + j] * x[j]).sum())
        .collect()
}

fn dot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

/// Cholesky factor (lower, row-major) of `sym(a) + δI`, or `None` if it is not positive
/// definite or not finite.
pub fn cholesky(a: &[f64], n: usize, damping: f64) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for j in 0..n {
        for i in j..n {
            let mut s = 0.5 * (a[i * n + j] + a[j * n + i]) + if i == j { damping } else { 0.0 };
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if !(s > 0.0 && s.is_finite()) {
                    return None;
                }
                l[j * n + j] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// Solves `L Lᵀ x = b`.
pub fn cholesky_solve(l: &[f64], b: &[f64]) -> Vec<f64> {
    let n = b.len();
    let mut y = b.to_vec();
    for i in 0..n {
        for k in 0..i {
            y[i] -= l[i * n + k] * y[k];
        }
        y[i] /= l[i * n + i];
    }
    for i in (0..n).rev() {
        for k in i + 1..n {
            y[i] -= l[k * n + i] * y[k];
        }
        y[i] /= l[i * n + i];
    }
    y
}

/// The exact solution of `(A + δI) x = b`, if `A + δI` is positive definite.
pub fn direct_solve(a: &[f64], b: &[f64], damping: f64) -> Option<Vec<f64>> {
    cholesky(a, b.len(), damping).map(|l| cholesky_solve(&l, b))
}

/// A preconditioner of the reference CG (no δ in it: the solver adds δ, as on the GPU).
#[derive(Debug, Clone, Copy)]
pub enum RefPreconditioner<'a> {
    None,
    /// The diagonal of A.
    Jacobi(&'a [f64]),
    /// Each node's `dim × dim` diagonal block of A, row-major, node after node.
    BlockJacobi {
        blocks: &'a [f64],
        dim: usize,
    },
}

/// How the reference solve ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefOutcome {
    Converged,
    MaxIter,
    NonPositiveCurvature { iteration: usize },
    NonFinite { iteration: usize },
}

/// A reference solve.
#[derive(Debug, Clone)]
pub struct RefSolve {
    pub x: Vec<f64>,
    pub iterations: usize,
    pub outcome: RefOutcome,
    /// `‖r‖/‖b‖` before the first iteration and after each one.
    pub residuals: Vec<f64>,
}

fn precondition(m: &RefPreconditioner<'_>, damping: f64, r: &[f64]) -> Vec<f64> {
    match *m {
        RefPreconditioner::None => r.to_vec(),
        RefPreconditioner::Jacobi(diag) => r
            .iter()
            .zip(diag)
            .map(|(&ri, &d)| {
                let m = d + damping;
                if m > 0.0 && m.is_finite() { ri / m } else { ri }
            })
            .collect(),
        RefPreconditioner::BlockJacobi { blocks, dim } => {
            let mut z = Vec::with_capacity(r.len());
            for (u, ru) in r.chunks(dim).enumerate() {
                let b = &blocks[u * dim * dim..(u + 1) * dim * dim];
                match cholesky(b, dim, damping) {
                    Some(l) => z.extend(cholesky_solve(&l, ru)),
                    None => z.extend(ru.iter().enumerate().map(|(i, &v)| {
                        let m = b[i * dim + i] + damping;
                        if m > 0.0 && m.is_finite() { v / m } else { v }
                    })),
                }
            }
            z
        }
    }
}

/// Preconditioned CG on `(A + δI) x = b` from x = 0, stopping when `‖r‖ ≤ rtol·‖b‖`, after
/// `max_iter` iterations, or at non-positive curvature / a non-finite value (x is then the
/// previous iterate).
pub fn cg(
    a: &[f64],
    b: &[f64],
    damping: f64,
    m: RefPreconditioner<'_>,
    rtol: f64,
    max_iter: usize,
) -> RefSolve {
    cg_from(a, b, damping, m, rtol, max_iter, &vec![0.0; b.len()])
}

/// [`cg`] from the multiple c·`guess` closest to the solution in the energy norm,
/// c = guessᵀb ÷ guessᵀ(A + δI)guess (0 when that denominator is 0), as
/// `solve::cg::Start::Guess` starts.
pub fn cg_from(
    a: &[f64],
    b: &[f64],
    damping: f64,
    m: RefPreconditioner<'_>,
    rtol: f64,
    max_iter: usize,
    guess: &[f64],
) -> RefSolve {
    let n = b.len();
    let mut aguess = matvec(a, guess);
    for (qi, gi) in aguess.iter_mut().zip(guess) {
        *qi += damping * gi;
    }
    let den = dot(guess, &aguess);
    let c = if den == 0.0 { 0.0 } else { dot(guess, b) / den };
    let mut x: Vec<f64> = guess.iter().map(|g| c * g).collect();
    let mut r: Vec<f64> = b.iter().zip(&aguess).map(|(bi, qi)| bi - c * qi).collect();
    let bnorm = dot(b, b).sqrt();
    let rel0 = if bnorm > 0.0 {
        dot(&r, &r).sqrt() / bnorm
    } else {
        0.0
    };
    let mut out = RefSolve {
        x: x.clone(),
        iterations: 0,
        outcome: RefOutcome::Converged,
        residuals: vec![rel0],
    };
    if !bnorm.is_finite() || !rel0.is_finite() {
        out.outcome = RefOutcome::NonFinite { iteration: 0 };
        return out;
    }
    if bnorm == 0.0 || rel0 <= rtol {
        return out;
    }
    let mut z = precondition(&m, damping, &r);
    let mut p = z.clone();
    let mut rz = dot(&r, &z);
    for k in 0..max_iter {
        let mut q = matvec(a, &p);
        for (qi, pi) in q.iter_mut().zip(&p) {
            *qi += damping * pi;
        }
        let pap = dot(&p, &q);
        if !pap.is_finite() {
            out.outcome = RefOutcome::NonFinite { iteration: k };
            break;
        }
        if pap <= 0.0 {
            out.outcome = RefOutcome::NonPositiveCurvature { iteration: k };
            break;
        }
        let alpha = rz / pap;
        for i in 0..n {
            x[i] += alpha * p[i];
            r[i] -= alpha * q[i];
        }
        z = precondition(&m, damping, &r);
        let rz_new = dot(&r, &z);
        let rel = dot(&r, &r).sqrt() / bnorm;
        if !rel.is_finite() || !rz_new.is_finite() {
            out.outcome = RefOutcome::NonFinite { iteration: k };
            break;
        }
        out.x.clone_from(&x);
        out.iterations = k + 1;
        out.residuals.push(rel);
        if rel <= rtol {
            return out;
        }
        let beta = rz_new / rz;
        rz = rz_new;
        for i in 0..n {
            p[i] = z[i] + beta * p[i];
        }
    }
    if out.outcome == RefOutcome::Converged {
        out.outcome = RefOutcome::MaxIter;
    }
    out
}

/// `y_b = B_b x_b` for row-major `dim × dim` blocks and block-major vectors
/// (`shaders/block.wgsl`), with the bound terms of [`super::tolerance`].
pub fn block_matvec(blocks: &[f32], dim: usize, x: &[f32]) -> Reference {
    let n = x.len();
    let mut r = Reference {
        values: vec![0.0; n],
        abs_sums: vec![0.0; n],
        terms: vec![dim; n],
    };
    for (b, block) in blocks.chunks_exact(dim * dim).enumerate() {
        for i in 0..dim {
            for j in 0..dim {
                let t = block[i * dim + j] as f64 * x[b * dim + j] as f64;
                r.values[b * dim + i] += t;
                r.abs_sums[b * dim + i] += t.abs();
            }
        }
    }
    r
}

/// Status codes of the device state (`kernels::cg::Status::code`).
pub mod status {
    pub const RUNNING: f32 = 0.0;
    pub const CONVERGED: f32 = 1.0;
    pub const NON_POSITIVE: f32 = 2.0;
    pub const NON_FINITE: f32 = 3.0;
    pub const NON_FINITE_AFTER_UPDATE: f32 = 4.0;
    pub const BREAKDOWN: f32 = 5.0;
}

/// Slots of the device state (`kernels::cg::slot`).
mod s {
    pub const PAP: usize = 2;
    pub const ALPHA: usize = 3;
    pub const BETA: usize = 4;
    pub const RR: usize = 5;
    pub const BB: usize = 6;
    pub const STATUS: usize = 7;
    pub const ITER: usize = 8;
    pub const STOP: usize = 9;
    pub const BAD: usize = 10;
}

fn stop(state: &mut [f64], code: f32, at: f64, bad: f64) {
    state[s::STATUS] = code as f64;
    state[s::STOP] = at;
    state[s::BAD] = bad;
    state[s::ALPHA] = 0.0;
    state[s::BETA] = 0.0;
}

fn reached(rr: f64, bb: f64, rtol: f64) -> bool {
    rr.sqrt() <= rtol * bb.sqrt()
}

/// The `init` kernel on a state held in f64.
pub fn state_init(state: &mut [f64], rz_slot: usize, rr_slot: usize, rtol: f64) {
    let bb = state[s::BB];
    let rr = state[rr_slot];
    let rz = state[rz_slot];
    state[s::ITER] = 0.0;
    state[s::RR] = rr;
    stop(state, status::RUNNING, 0.0, 0.0);
    if !bb.is_finite() {
        stop(state, status::NON_FINITE, 0.0, bb);
    } else if !rr.is_finite() {
        stop(state, status::NON_FINITE, 0.0, rr);
    } else if !rz.is_finite() {
        stop(state, status::NON_FINITE, 0.0, rz);
    } else if bb == 0.0 || reached(rr, bb, rtol) {
        stop(state, status::CONVERGED, 0.0, 0.0);
    } else if rz <= 0.0 {
        stop(state, status::BREAKDOWN, 0.0, rz);
    }
}

/// The `alpha` kernel.
pub fn state_alpha(state: &mut [f64], rz_old: usize) {
    if state[s::STATUS] != status::RUNNING as f64 {
        state[s::ALPHA] = 0.0;
        return;
    }
    let (pap, rz, it) = (state[s::PAP], state[rz_old], state[s::ITER]);
    if !pap.is_finite() {
        stop(state, status::NON_FINITE, it, pap);
    } else if pap <= 0.0 {
        stop(state, status::NON_POSITIVE, it, pap);
    } else if !((rz / pap) as f32).is_finite() {
        // The kernel divides in f32: a quotient beyond f32's range is non-finite there.
        stop(state, status::NON_FINITE, it, (rz / pap) as f32 as f64);
    } else {
        state[s::ALPHA] = rz / pap;
    }
}

/// The `after` kernel.
pub fn state_after(state: &mut [f64], rz_old: usize, rz_new: usize, rr_slot: usize, rtol: f64) {
    if state[s::STATUS] != status::RUNNING as f64 {
        state[s::BETA] = 0.0;
        return;
    }
    let it = state[s::ITER] + 1.0;
    let (rr, rz) = (state[rr_slot], state[rz_new]);
    if !rr.is_finite() {
        stop(state, status::NON_FINITE_AFTER_UPDATE, it - 1.0, rr);
    } else if !rz.is_finite() {
        stop(state, status::NON_FINITE_AFTER_UPDATE, it - 1.0, rz);
    } else {
        state[s::ITER] = it;
        state[s::RR] = rr;
        if reached(rr, state[s::BB], rtol) {
            stop(state, status::CONVERGED, it, 0.0);
        } else if rz <= 0.0 {
            stop(state, status::BREAKDOWN, it, rz);
        } else {
            state[s::BETA] = rz / state[rz_old];
        }
    }
}

/// The `update` kernel: new `(x, r)` with the bound terms (two per value).
pub fn update(state: &[f64], p: &[f32], q: &[f32], x: &[f32], r: &[f32]) -> (Reference, Reference) {
    let running = state[s::STATUS] == status::RUNNING as f64;
    let a = if running { state[s::ALPHA] } else { 0.0 };
    let mut out = (Reference::default(), Reference::default());
    for i in 0..p.len() {
        let (ap, aq) = (a * p[i] as f64, a * q[i] as f64);
        out.0.values.push(x[i] as f64 + ap);
        out.0.abs_sums.push((x[i] as f64).abs() + ap.abs());
        out.1.values.push(r[i] as f64 - aq);
        out.1.abs_sums.push((r[i] as f64).abs() + aq.abs());
    }
    out.0.terms = vec![2; p.len()];
    out.1.terms = vec![2; p.len()];
    out
}

/// The `jacobi_prepare` kernel: `(inverse diagonal, fallback flags)`.
pub fn jacobi_prepare(diag: &[f32], damping: f32) -> (Vec<f64>, Vec<f32>) {
    diag.iter()
        .map(|&d| {
            // The kernel adds in f32; so does the reference, then inverts exactly.
            let m = d + damping;
            let v = 1.0 / m as f64;
            if m.is_finite() && m > 0.0 && (v as f32).is_finite() {
                (v, 0.0)
            } else {
                (1.0, 1.0)
            }
        })
        .unzip()
}
