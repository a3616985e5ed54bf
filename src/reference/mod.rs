//! CPU references of every GPU kernel, accumulating in f64.
//!
//! They are deliberately plain loops over the same inputs the kernels take, so a test can
//! compare a kernel with an independent computation. [`tolerance`] gives the error bound
//! the comparisons use.

pub mod cg;
pub mod eval;
pub mod half;
pub mod kernels;
pub mod model;
pub mod prune;

/// Unit roundoff of f32 (2⁻²⁴).
pub const F32_UNIT_ROUNDOFF: f64 = 1.0 / 16_777_216.0;

/// The a-priori error bound of summing `terms` f32 products in f32, in any order:
/// γ_{terms+1} · Σ|term| with γ_n = n·u / (1 − n·u) (Higham, *Accuracy and Stability of
/// Numerical Algorithms*, §3.1), plus a tiny absolute floor for sums of denormals.
///
/// A kernel that reads a wrong element or drops a term misses this bound by orders of
/// magnitude, yet rounding alone can never exceed it, so tests that use it are not flaky.
pub fn tolerance(terms: usize, abs_sum: f64) -> f64 {
    let nu = (terms as f64 + 1.0) * F32_UNIT_ROUNDOFF;
    nu / (1.0 - nu) * abs_sum + 1e-30
}
