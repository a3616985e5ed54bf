//! f64 references of the kernels in [`crate::kernels`]. Tables are row-major `rows × dim`.
//!
//! Each function returns the values and, where the kernel sums, the per-output sum of
//! absolute terms and the number of terms, for [`super::tolerance`].

/// A reference result: values, Σ|term| per value, and terms per value.
#[derive(Debug, Clone, Default)]
pub struct Reference {
    pub values: Vec<f64>,
    pub abs_sums: Vec<f64>,
    pub terms: Vec<usize>,
}

impl Reference {
    /// The largest error of `got` relative to its tolerance (≤ 1 passes), and where.
    pub fn worst_ratio(&self, got: &[f32]) -> (f64, usize) {
        assert_eq!(got.len(), self.values.len(), "result length");
        let mut worst = (0.0, 0);
        for (k, (&g, &want)) in got.iter().zip(&self.values).enumerate() {
            let tol = super::tolerance(self.terms[k], self.abs_sums[k]);
            let ratio = if g.is_finite() {
                (g as f64 - want).abs() / tol
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

/// `y = A·x` for CSR `A` (row_ptr, cols, vals).
pub fn spmm(row_ptr: &[u32], cols: &[u32], vals: &[f32], x: &[f32], dim: usize) -> Reference {
    let rows = row_ptr.len() - 1;
    let mut r = Reference {
        values: vec![0.0; rows * dim],
        abs_sums: vec![0.0; rows * dim],
        terms: vec![0; rows * dim],
    };
    for row in 0..rows {
        for e in row_ptr[row] as usize..row_ptr[row + 1] as usize {
            let c = cols[e] as usize;
            for k in 0..dim {
                let term = vals[e] as f64 * x[c * dim + k] as f64;
                r.values[row * dim + k] += term;
                r.abs_sums[row * dim + k] += term.abs();
                r.terms[row * dim + k] += 1;
            }
        }
    }
    r
}

/// `out[t] = Σ_{e in row t} coef[rows[e]·stride + offset] · table[other[e]]`.
#[allow(clippy::too_many_arguments)]
pub fn gather(
    ptr: &[u32],
    other: &[u32],
    rows: &[u32],
    coef: &[f32],
    stride: usize,
    offset: usize,
    table: &[f32],
    dim: usize,
) -> Reference {
    let vals: Vec<f32> = rows
        .iter()
        .map(|&r| coef[r as usize * stride + offset])
        .collect();
    spmm(ptr, other, &vals, table, dim)
}

/// `E = Σ_k w_k Â^k X`.
pub fn propagate(
    row_ptr: &[u32],
    cols: &[u32],
    vals: &[f32],
    weights: &[f32],
    x: &[f32],
    dim: usize,
) -> Reference {
    let n = x.len();
    let mut out = Reference {
        values: x.iter().map(|&v| weights[0] as f64 * v as f64).collect(),
        abs_sums: x
            .iter()
            .map(|&v| (weights[0] as f64 * v as f64).abs())
            .collect(),
        terms: vec![1; n],
    };
    let mut current: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let mut current_abs: Vec<f64> = current.iter().map(|v| v.abs()).collect();
    let mut current_terms = vec![1usize; n];
    for &w in &weights[1..] {
        let mut next = vec![0.0; n];
        let mut next_abs = vec![0.0; n];
        let mut next_terms = vec![0usize; n];
        for row in 0..row_ptr.len() - 1 {
            for e in row_ptr[row] as usize..row_ptr[row + 1] as usize {
                let c = cols[e] as usize;
                for k in 0..dim {
                    next[row * dim + k] += vals[e] as f64 * current[c * dim + k];
                    next_abs[row * dim + k] += (vals[e] as f64).abs() * current_abs[c * dim + k];
                    next_terms[row * dim + k] += current_terms[c * dim + k];
                }
            }
        }
        for i in 0..n {
            out.values[i] += w as f64 * next[i];
            out.abs_sums[i] += (w as f64).abs() * next_abs[i];
            out.terms[i] += next_terms[i] + 1;
        }
        (current, current_abs, current_terms) = (next, next_abs, next_terms);
    }
    out
}

/// Σ x·y, with Σ|x·y|.
pub fn dot(x: &[f32], y: &[f32]) -> (f64, f64) {
    x.iter().zip(y).fold((0.0, 0.0), |(s, a), (&a_i, &b_i)| {
        let t = a_i as f64 * b_i as f64;
        (s + t, a + t.abs())
    })
}

/// Σ x, with Σ|x|.
pub fn sum(x: &[f32]) -> (f64, f64) {
    x.iter().fold((0.0, 0.0), |(s, a), &v| {
        (s + v as f64, a + (v as f64).abs())
    })
}

/// `(s, softplus(s) − y·s, σ(s) − y, σ(s)(1 − σ(s)))` per pair, in f64.
pub fn score_bce(u: &[u32], i: &[u32], labels: &[f32], table: &[f32], dim: usize) -> Vec<[f64; 4]> {
    u.iter()
        .zip(i)
        .zip(labels)
        .map(|((&u, &i), &y)| {
            let (u, i) = (u as usize, i as usize);
            let s: f64 = (0..dim)
                .map(|k| table[u * dim + k] as f64 * table[i * dim + k] as f64)
                .sum();
            let y = y as f64;
            let softplus = s.max(0.0) + (-s.abs()).exp().ln_1p();
            let q = 1.0 / (1.0 + (-s).exp());
            [s, softplus - y * s, q - y, q * (1.0 - q)]
        })
        .collect()
}

/// PyTorch's Adam in f64: applies `grads` (one slice per step) to `param`.
pub fn adam(param: &[f32], grads: &[Vec<f32>], lr: f64, b1: f64, b2: f64, eps: f64) -> Vec<f64> {
    let mut p: Vec<f64> = param.iter().map(|&v| v as f64).collect();
    let mut m = vec![0.0; p.len()];
    let mut v = vec![0.0; p.len()];
    for (t, g) in grads.iter().enumerate() {
        let t = (t + 1) as i32;
        let bc1 = 1.0 - b1.powi(t);
        let bc2 = 1.0 - b2.powi(t);
        for k in 0..p.len() {
            let gk = g[k] as f64;
            m[k] = b1 * m[k] + (1.0 - b1) * gk;
            v[k] = b2 * v[k] + (1.0 - b2) * gk * gk;
            p[k] -= lr / bc1 * m[k] / (v[k].sqrt() / bc2.sqrt() + eps);
        }
    }
    p
}

/// `(c, −c, x, softplus(−x))` per triple with `x = ⟨E_u, E_i − E_j⟩`, `c = −σ(−x)`, in f64.
pub fn score_bpr(u: &[u32], i: &[u32], j: &[u32], table: &[f32], dim: usize) -> Vec<[f64; 4]> {
    (0..u.len())
        .map(|t| {
            let (u, i, j) = (u[t] as usize, i[t] as usize, j[t] as usize);
            let x: f64 = (0..dim)
                .map(|k| {
                    table[u * dim + k] as f64
                        * (table[i * dim + k] as f64 - table[j * dim + k] as f64)
                })
                .sum();
            let c = -1.0 / (1.0 + x.exp());
            let softplus = (-x).max(0.0) + (-x.abs()).exp().ln_1p();
            [c, -c, x, softplus]
        })
        .collect()
}

/// PyTorch's SparseAdam with L2 on touched rows, in f64: step t updates only the rows in
/// `steps[t].0` along the gradient rows `steps[t].1` (+ reg·θ); bias corrections use t.
pub fn adam_rows(
    param: &[f32],
    dim: usize,
    steps: &[(Vec<u32>, Vec<f32>)],
    reg: f64,
    (lr, b1, b2, eps): (f64, f64, f64, f64),
) -> Vec<f64> {
    let mut p: Vec<f64> = param.iter().map(|&v| v as f64).collect();
    let mut m = vec![0.0; p.len()];
    let mut v = vec![0.0; p.len()];
    for (t, (rows, grads)) in steps.iter().enumerate() {
        let t = (t + 1) as i32;
        let (bc1, bc2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        for (r, &row) in rows.iter().enumerate() {
            for k in 0..dim {
                let i = row as usize * dim + k;
                let g = grads[r * dim + k] as f64 + reg * p[i];
                m[i] = b1 * m[i] + (1.0 - b1) * g;
                v[i] = b2 * v[i] + (1.0 - b2) * g * g;
                p[i] -= lr / bc1 * m[i] / (v[i].sqrt() / bc2.sqrt() + eps);
            }
        }
    }
    p
}

/// The `clamp_factor` kernel: min(1, bound ÷ √norm_sq) in f32 as the kernel computes it, 0
/// for a non-finite norm.
pub fn clamp_factor(norm_sq: f32, bound: f32) -> f32 {
    if !norm_sq.is_finite() {
        return 0.0;
    }
    let n = norm_sq.sqrt();
    if n > bound { bound / n } else { 1.0 }
}
