//! Krylov recycling: a solve of `(H + δI) x = b` keeps its first search directions p_k and
//! their images q_k = (H + δI) p_k, and a later solve of the same H and b with another δ′
//! starts from the Galerkin solution in their span (docs/ARCHITECTURE.md, "The solve").
//!
//! With P = [p_0 … p_{k−1}], Q = [q_0 … q_{k−1}] and s = δ − δ′, the new operator on the
//! basis is (H + δ′I) P = Q − sP, so the start x₀ = P y with
//! `(Pᵀ(Q − sP)) y = Pᵀb` minimises the new system's energy-norm error over span(P), and
//! its residual r₀ = b − (Q − sP) y needs no operator application. The first solution lies
//! in span(P), so this start is never worse, in that norm, than the best multiple of the
//! first solution ([`super::cg::Start::Guess`]), and it saves the operator application that
//! start costs; it costs one read-back (the k×k Gram products) instead.

use crate::gpu::{Gpu, GpuBuffer, GpuResult};
use crate::kernels::Plan;
use crate::kernels::blas::{Scalar, axpby, copy, fill};
use crate::kernels::reduce::dot;

/// Directions a recording solve keeps at most: an influence solve converges in 2–6
/// iterations at its rtol (docs/DAMPING.md), and each kept direction costs two vectors.
pub const KEEP: usize = 8;

/// A solve's first search directions and their images under its operator.
pub struct KrylovBasis {
    p: Vec<GpuBuffer<f32>>,
    q: Vec<GpuBuffer<f32>>,
    /// Directions of finished iterations (at most the slots).
    used: usize,
    /// δ of the solve that recorded them.
    damping: f32,
}

impl KrylovBasis {
    /// Slots for `keep` directions of vectors of `n` values.
    pub(super) fn new(gpu: &Gpu, n: usize, keep: usize, damping: f32) -> GpuResult<Self> {
        let slots = |label: &str| -> GpuResult<Vec<GpuBuffer<f32>>> {
            (0..keep).map(|_| gpu.alloc::<f32>(n, label)).collect()
        };
        Ok(KrylovBasis {
            p: slots("krylov p")?,
            q: slots("krylov q")?,
            used: 0,
            damping,
        })
    }

    /// Directions kept (those of iterations that finished).
    pub fn len(&self) -> usize {
        self.used
    }

    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// δ of the solve that recorded them.
    pub fn damping(&self) -> f32 {
        self.damping
    }

    pub(super) fn set_used(&mut self, iterations: usize) {
        self.used = iterations.min(self.p.len());
    }

    /// Copies iteration `k`'s direction and its image into slot `k` (nothing past the slots).
    pub(super) fn record<'a>(
        &'a self,
        gpu: &Gpu,
        k: usize,
        p: &'a GpuBuffer<f32>,
        q: &'a GpuBuffer<f32>,
    ) -> GpuResult<Plan<'a>> {
        match (self.p.get(k), self.q.get(k)) {
            (Some(pk), Some(qk)) => Ok(copy(gpu, p, pk)?.then(copy(gpu, q, qk)?)),
            _ => Ok(Plan::empty()),
        }
    }

    /// The Galerkin coefficients y of the start for `(H + δ′I) x = b` (one read-back), or
    /// `None` when the projected matrix is not numerically positive definite (directions
    /// that f32 rounding left dependent) or a value is not finite.
    pub(super) fn coefficients(
        &self,
        gpu: &Gpu,
        b: &GpuBuffer<f32>,
        damping: f32,
    ) -> GpuResult<Option<Vec<f64>>> {
        let k = self.used;
        if k == 0 {
            return Ok(None);
        }
        // Slots: Pᵀq (k²), Pᵀp (k²), Pᵀb (k); only the upper triangles are computed.
        let scalars = gpu.zeros::<f32>(2 * k * k + k, "krylov gram")?;
        let at = |m: usize, i: usize, j: usize| (m * k * k + i * k + j) as u32;
        let mut plan = Plan::empty();
        for i in 0..k {
            for j in i..k {
                plan = plan
                    .then(dot(gpu, &self.p[i], &self.q[j], &scalars, at(0, i, j))?)
                    .then(dot(gpu, &self.p[i], &self.p[j], &scalars, at(1, i, j))?);
            }
            plan = plan.then(dot(gpu, &self.p[i], b, &scalars, (2 * k * k + i) as u32)?);
        }
        gpu.run("krylov gram", |pass| {
            crate::gpu::Record::record(&plan, pass)
        })?;
        drop(plan);
        let g = gpu.download(&scalars)?;
        let shift = f64::from(self.damping) - f64::from(damping);
        let mut a = vec![0.0f64; k * k];
        for i in 0..k {
            for j in i..k {
                // pᵢᵀ(H + δI)pⱼ is symmetric; the upper triangle stands for both halves.
                let v =
                    f64::from(g[at(0, i, j) as usize]) - shift * f64::from(g[at(1, i, j) as usize]);
                a[i * k + j] = v;
                a[j * k + i] = v;
            }
        }
        let rhs: Vec<f64> = (0..k).map(|i| f64::from(g[2 * k * k + i])).collect();
        Ok(cholesky_solve(&a, &rhs, k))
    }

    /// Records x = P y and r = b − (Q − sP) y, with s = δ − `damping`.
    pub(super) fn start<'a>(
        &'a self,
        gpu: &Gpu,
        y: &[f64],
        damping: f32,
        b: &'a GpuBuffer<f32>,
        x: &'a GpuBuffer<f32>,
        r: &'a GpuBuffer<f32>,
    ) -> GpuResult<Plan<'a>> {
        let shift = f64::from(self.damping) - f64::from(damping);
        let mut plan = fill(gpu, x, 0.0)?.then(copy(gpu, b, r)?);
        for (i, &yi) in y.iter().enumerate().take(self.used) {
            let add = |c: f64, v: &'a GpuBuffer<f32>, out: &'a GpuBuffer<f32>| {
                axpby(gpu, Scalar::Host(c as f32), v, Scalar::Host(1.0), out, None)
            };
            plan = plan
                .then(add(yi, &self.p[i], x)?)
                .then(add(-yi, &self.q[i], r)?)
                .then(add(shift * yi, &self.p[i], r)?);
        }
        Ok(plan)
    }
}

/// Solves the symmetric positive definite `a y = rhs` (k × k, f64) by Cholesky; `None` when
/// a pivot is not positive beyond rounding or a value is not finite.
fn cholesky_solve(a: &[f64], rhs: &[f64], k: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0f64; k * k];
    for j in 0..k {
        for i in j..k {
            let s = a[i * k + j] - (0..j).map(|m| l[i * k + m] * l[j * k + m]).sum::<f64>();
            if i == j {
                // A direction all but dependent on the earlier ones (to f32 rounding) leaves
                // a pivot that small a share of its own diagonal.
                if !(s > 1e-6 * a[j * k + j] && s.is_finite()) {
                    return None;
                }
                l[j * k + j] = s.sqrt();
            } else {
                l[i * k + j] = s / l[j * k + j];
            }
        }
    }
    let mut y = rhs.to_vec();
    for i in 0..k {
        y[i] = (y[i] - (0..i).map(|m| l[i * k + m] * y[m]).sum::<f64>()) / l[i * k + i];
    }
    for i in (0..k).rev() {
        y[i] = (y[i] - (i + 1..k).map(|m| l[m * k + i] * y[m]).sum::<f64>()) / l[i * k + i];
    }
    y.iter().all(|v| v.is_finite()).then_some(y)
}

#[cfg(test)]
mod tests {
    use super::cholesky_solve;

    #[test]
    fn cholesky_solves_and_refuses_what_is_not_positive_definite() {
        let a = [4.0, 2.0, 2.0, 3.0];
        let y = cholesky_solve(&a, &[2.0, 1.0], 2).unwrap();
        assert!((4.0 * y[0] + 2.0 * y[1] - 2.0).abs() < 1e-12);
        assert!((2.0 * y[0] + 3.0 * y[1] - 1.0).abs() < 1e-12);
        assert!(cholesky_solve(&[1.0, 2.0, 2.0, 1.0], &[1.0, 1.0], 2).is_none());
        // Two copies of one direction: singular.
        assert!(cholesky_solve(&[1.0, 1.0, 1.0, 1.0], &[1.0, 1.0], 2).is_none());
        assert!(cholesky_solve(&[f64::NAN], &[1.0], 1).is_none());
    }
}
