//! f64 references of the f16-storage kernels ([`crate::kernels::half`]), each value with an
//! a-priori bound on the error of the device's result against the exact value computed from
//! the original f32 inputs.
//!
//! The bounds follow each rounding the device does (the standard model, Higham ch. 2–3):
//! - storing an f32 table as f16 on the host (`half`, round to nearest even) moves a value by
//!   at most `u₁₆·|x|` with `u₁₆ = 2⁻¹¹`, or `2⁻²⁵` (half the spacing) among subnormals;
//! - a sum of `n` f32 products of rounded inputs errs by at most `γ_{n+1}·Σ|term|`
//!   ([`super::tolerance`]), the terms taken at their largest possible size `|x| + bound`;
//! - an error `b` on an input reaches an output through the same linear map, as `Σ|a|·b`;
//! - a device store of an f32 value `ŷ` as f16 may pick either neighbour (WGSL leaves the
//!   rounding of conversions to the implementation), so it moves `ŷ` by up to one ulp,
//!   `2·u₁₆·|ŷ| = 2⁻¹⁰·|ŷ|`, and by up to `2⁻¹⁴` where `ŷ` is subnormal and is flushed.
//!
//! So every bound is f16's unit roundoff times the magnitude the value was accumulated from
//! (times 1 for the stored input, 2 per device store, plus the small f32 terms), and a
//! kernel that reads a wrong row or drops a term misses it by orders of magnitude.

use super::tolerance;

/// Unit roundoff of f16 (2⁻¹¹): the largest relative error of rounding to nearest.
pub const F16_UNIT_ROUNDOFF: f64 = 1.0 / 2048.0;
/// Largest relative error of an f32 → f16 conversion on the device (either neighbour: one
/// ulp, 2⁻¹⁰).
pub const F16_DEVICE_ROUNDING: f64 = 2.0 * F16_UNIT_ROUNDOFF;
/// Largest absolute error of a device conversion of a subnormal f16 (flushed to zero).
pub const F16_SUBNORMAL_FLUSH: f64 = 1.0 / 16384.0;
/// Largest absolute error of the host's rounding among subnormals (half of 2⁻²⁴).
const F16_HOST_SUBNORMAL: f64 = 1.0 / 33_554_432.0;

/// Exact values, each with a bound on the device's error.
#[derive(Debug, Clone, Default)]
pub struct Bounded {
    pub values: Vec<f64>,
    pub bounds: Vec<f64>,
}

impl Bounded {
    /// `x` (f32) as stored in an f16 table by the host.
    pub fn stored(x: &[f32]) -> Self {
        Bounded {
            values: x.iter().map(|&v| v as f64).collect(),
            bounds: x
                .iter()
                .map(|&v| F16_UNIT_ROUNDOFF * (v as f64).abs() + F16_HOST_SUBNORMAL)
                .collect(),
        }
    }

    /// Largest possible size of the device's value `k`.
    fn magnitude(&self, k: usize) -> f64 {
        self.values[k].abs() + self.bounds[k]
    }

    /// Adds the error of a device store as f16 to every bound.
    pub fn stored_on_device(mut self) -> Self {
        for (b, v) in self.bounds.iter_mut().zip(&self.values) {
            *b += device_store_error(v.abs(), *b);
        }
        self
    }

    /// The largest error of `got` relative to its bound (≤ 1 passes), and where.
    pub fn worst_ratio(&self, got: &[f32]) -> (f64, usize) {
        assert_eq!(got.len(), self.values.len(), "result length");
        let mut worst = (0.0, 0);
        for (k, &g) in got.iter().enumerate() {
            let ratio = if g.is_finite() {
                (g as f64 - self.values[k]).abs() / self.bounds[k]
            } else {
                f64::INFINITY
            };
            if ratio > worst.0 {
                worst = (ratio, k);
            }
        }
        worst
    }
}

/// The largest error of a device store as f16 of an f32 value within `bound` of `value`
/// (sizes): one ulp, `2⁻¹⁰` relative, while the value is surely normal (≥ 2⁻¹⁴); where it may
/// be subnormal, a flush to zero could also lose all of it, up to 2⁻¹⁴.
pub fn device_store_error(value: f64, bound: f64) -> f64 {
    let relative = F16_DEVICE_ROUNDING * (value + bound);
    if value - bound >= F16_SUBNORMAL_FLUSH {
        relative
    } else {
        relative.max((value + bound).min(F16_SUBNORMAL_FLUSH))
    }
}

/// `y = A·x` for CSR `A` with f16 `x` and, when `store_f16`, the f32 sums stored as f16.
pub fn spmm(
    row_ptr: &[u32],
    cols: &[u32],
    vals: &[f32],
    x: &Bounded,
    dim: usize,
    store_f16: bool,
) -> Bounded {
    let rows = row_ptr.len() - 1;
    let mut y = Bounded {
        values: vec![0.0; rows * dim],
        bounds: vec![0.0; rows * dim],
    };
    for row in 0..rows {
        let entries = row_ptr[row] as usize..row_ptr[row + 1] as usize;
        for k in 0..dim {
            let (mut value, mut carried, mut size) = (0.0, 0.0, 0.0);
            for e in entries.clone() {
                let (a, c) = (vals[e] as f64, cols[e] as usize * dim + k);
                value += a * x.values[c];
                carried += a.abs() * x.bounds[c];
                size += a.abs() * x.magnitude(c);
            }
            y.values[row * dim + k] = value;
            y.bounds[row * dim + k] = carried + tolerance(entries.len(), size);
        }
    }
    if store_f16 { y.stored_on_device() } else { y }
}

/// LightGCN propagation `E = Σ_k w_k Â^k X` as [`crate::kernels::half::propagate_half`]
/// computes it: X stored as f16, each layer an f32 SpMM stored as f16, the weighted sum
/// accumulated in f32 (K + 1 products and K additions) and stored as f16.
pub fn propagate(
    row_ptr: &[u32],
    cols: &[u32],
    vals: &[f32],
    weights: &[f32],
    x: &[f32],
    dim: usize,
) -> Bounded {
    let mut layer = Bounded::stored(x);
    let mut out = Bounded {
        values: vec![0.0; x.len()],
        bounds: vec![0.0; x.len()],
    };
    let mut size = vec![0.0; x.len()];
    for (k, &w) in weights.iter().enumerate() {
        if k > 0 {
            layer = spmm(row_ptr, cols, vals, &layer, dim, true);
        }
        let w = w as f64;
        for (i, s) in size.iter_mut().enumerate() {
            out.values[i] += w * layer.values[i];
            out.bounds[i] += w.abs() * layer.bounds[i];
            *s += w.abs() * layer.magnitude(i);
        }
    }
    for (b, s) in out.bounds.iter_mut().zip(&size) {
        *b += tolerance(2 * weights.len(), *s);
    }
    out.stored_on_device()
}

/// `⟨E_u, E_i⟩` for rows `u` and `i` of a bounded table, with the bound of the f32 dot product
/// of the device's rows (products of the stored values, summed in f32).
pub fn dot(table: &Bounded, dim: usize, u: usize, i: usize) -> (f64, f64) {
    let (mut value, mut carried, mut size) = (0.0, 0.0, 0.0);
    for k in 0..dim {
        let (a, b) = (u * dim + k, i * dim + k);
        let (va, vb, ba, bb) = (
            table.values[a],
            table.values[b],
            table.bounds[a],
            table.bounds[b],
        );
        value += va * vb;
        carried += va.abs() * bb + vb.abs() * ba + ba * bb;
        size += table.magnitude(a) * table.magnitude(b);
    }
    (value, carried + tolerance(dim, size))
}
