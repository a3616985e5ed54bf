//! f64 reference of the training objective and its gradient, for the GPU model's tests and
//! for finite-difference checks.
//!
//! L(θ) = Σ_rows [softplus(s) − y·s] + (λ/2)‖θ‖², s = ⟨E_u, E_i⟩, E = Σ_k a_k Â^k θ.
//! ∇L = Σ_k a_k Â^k G + λθ with G_u = Σ ℓ′ E_i, G_i = Σ ℓ′ E_u (Â is symmetric).

/// A symmetric normalised adjacency in CSR form over all N = users + items nodes.
#[derive(Debug, Clone, Copy)]
pub struct Adjacency<'a> {
    pub row_ptr: &'a [u32],
    pub cols: &'a [u32],
    pub vals: &'a [f32],
}

impl Adjacency<'_> {
    fn times(&self, x: &[f64], dim: usize) -> Vec<f64> {
        let mut y = vec![0.0; x.len()];
        for r in 0..self.row_ptr.len() - 1 {
            for e in self.row_ptr[r] as usize..self.row_ptr[r + 1] as usize {
                let (c, v) = (self.cols[e] as usize, self.vals[e] as f64);
                for k in 0..dim {
                    y[r * dim + k] += v * x[c * dim + k];
                }
            }
        }
        y
    }

    /// `Σ_k weights[k] Â^k x`.
    pub fn propagate(&self, weights: &[f64], x: &[f64], dim: usize) -> Vec<f64> {
        let mut out: Vec<f64> = x.iter().map(|v| weights[0] * v).collect();
        let mut current = x.to_vec();
        for &w in &weights[1..] {
            current = self.times(&current, dim);
            out.iter_mut().zip(&current).for_each(|(o, c)| *o += w * c);
        }
        out
    }
}

/// Labelled rows as node indices (items already offset by the number of users).
#[derive(Debug, Clone, Copy)]
pub struct LabelledRows<'a> {
    pub user_nodes: &'a [u32],
    pub item_nodes: &'a [u32],
    pub labels: &'a [f32],
}

fn softplus(s: f64) -> f64 {
    s.max(0.0) + (-s.abs()).exp().ln_1p()
}

fn sigmoid(s: f64) -> f64 {
    1.0 / (1.0 + (-s).exp())
}

/// The BCE objective and its gradient with respect to θ (row-major N × dim).
pub fn bce_objective(
    adj: Adjacency<'_>,
    weights: &[f64],
    rows: LabelledRows<'_>,
    reg: f64,
    theta: &[f64],
    dim: usize,
) -> (f64, Vec<f64>) {
    let e = adj.propagate(weights, theta, dim);
    let mut g = vec![0.0; theta.len()];
    let mut loss = 0.5 * reg * theta.iter().map(|t| t * t).sum::<f64>();
    for ((&u, &i), &y) in rows.user_nodes.iter().zip(rows.item_nodes).zip(rows.labels) {
        let (u, i, y) = (u as usize, i as usize, y as f64);
        let s: f64 = (0..dim).map(|k| e[u * dim + k] * e[i * dim + k]).sum();
        loss += (1.0 - y) * softplus(s) + y * softplus(-s);
        let d1 = sigmoid(s) - y;
        for k in 0..dim {
            g[u * dim + k] += d1 * e[i * dim + k];
            g[i * dim + k] += d1 * e[u * dim + k];
        }
    }
    let mut grad = adj.propagate(weights, &g, dim);
    grad.iter_mut().zip(theta).for_each(|(g, t)| *g += reg * t);
    (loss, grad)
}

/// (user, positive, negative) triples as node indices.
#[derive(Debug, Clone, Copy)]
pub struct Triples<'a> {
    pub user_nodes: &'a [u32],
    pub pos_nodes: &'a [u32],
    pub neg_nodes: &'a [u32],
}

/// The BPR objective Σ softplus(−(s_ui − s_uj)) + (λ/2)‖θ‖² and its gradient.
pub fn bpr_objective(
    adj: Adjacency<'_>,
    weights: &[f64],
    triples: Triples<'_>,
    reg: f64,
    theta: &[f64],
    dim: usize,
) -> (f64, Vec<f64>) {
    let e = adj.propagate(weights, theta, dim);
    let mut g = vec![0.0; theta.len()];
    let mut loss = 0.5 * reg * theta.iter().map(|t| t * t).sum::<f64>();
    for t in 0..triples.user_nodes.len() {
        let (u, i, j) = (
            triples.user_nodes[t] as usize,
            triples.pos_nodes[t] as usize,
            triples.neg_nodes[t] as usize,
        );
        let x: f64 = (0..dim)
            .map(|k| e[u * dim + k] * (e[i * dim + k] - e[j * dim + k]))
            .sum();
        loss += softplus(-x);
        let c = -sigmoid(-x);
        for k in 0..dim {
            g[u * dim + k] += c * (e[i * dim + k] - e[j * dim + k]);
            g[i * dim + k] += c * e[u * dim + k];
            g[j * dim + k] -= c * e[u * dim + k];
        }
    }
    let mut grad = adj.propagate(weights, &g, dim);
    grad.iter_mut().zip(theta).for_each(|(g, t)| *g += reg * t);
    (loss, grad)
}

/// Which Hessian [`bce_hvp`] multiplies by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HessianRef {
    GaussNewton,
    Full,
    /// MF-style: propagation ignored, at the final embeddings.
    Surrogate,
}

/// `H v` for the BCE objective of [`bce_objective`], in f64.
#[allow(clippy::too_many_arguments)]
pub fn bce_hvp(
    adj: Adjacency<'_>,
    weights: &[f64],
    rows: LabelledRows<'_>,
    reg: f64,
    theta: &[f64],
    v: &[f64],
    dim: usize,
    kind: HessianRef,
) -> Vec<f64> {
    hvp_through(adj, weights, reg, theta, v, dim, kind, |e, w, r| {
        for ((&u, &i), &y) in rows.user_nodes.iter().zip(rows.item_nodes).zip(rows.labels) {
            let (u, i, y) = (u as usize, i as usize, y as f64);
            let s: f64 = (0..dim).map(|k| e[u * dim + k] * e[i * dim + k]).sum();
            let q = sigmoid(s);
            let (d1, d2) = (q - y, q * (1.0 - q));
            let ds: f64 = (0..dim)
                .map(|k| e[i * dim + k] * w[u * dim + k] + e[u * dim + k] * w[i * dim + k])
                .sum();
            let c = d2 * ds;
            let first = if kind == HessianRef::Full { d1 } else { 0.0 };
            for k in 0..dim {
                r[u * dim + k] += c * e[i * dim + k] + first * w[i * dim + k];
                r[i * dim + k] += c * e[u * dim + k] + first * w[u * dim + k];
            }
        }
    })
}

/// `H v` for the BPR objective of [`bpr_objective`], in f64. With x = ⟨E_u, E_i − E_j⟩ and
/// ℓ = softplus(−x): Gauss–Newton is ℓ″ ∇x ∇xᵀ; the full Hessian adds ℓ′ ∇²x, whose only
/// blocks are ±I between u and i (+), u and j (−).
#[allow(clippy::too_many_arguments)]
pub fn bpr_hvp(
    adj: Adjacency<'_>,
    weights: &[f64],
    triples: Triples<'_>,
    reg: f64,
    theta: &[f64],
    v: &[f64],
    dim: usize,
    kind: HessianRef,
) -> Vec<f64> {
    hvp_through(adj, weights, reg, theta, v, dim, kind, |e, w, r| {
        for t in 0..triples.user_nodes.len() {
            let (u, i, j) = (
                triples.user_nodes[t] as usize,
                triples.pos_nodes[t] as usize,
                triples.neg_nodes[t] as usize,
            );
            let x: f64 = (0..dim)
                .map(|k| e[u * dim + k] * (e[i * dim + k] - e[j * dim + k]))
                .sum();
            let (d1, d2) = (-sigmoid(-x), sigmoid(x) * sigmoid(-x));
            // ∇x · w
            let dx: f64 = (0..dim)
                .map(|k| {
                    (e[i * dim + k] - e[j * dim + k]) * w[u * dim + k]
                        + e[u * dim + k] * (w[i * dim + k] - w[j * dim + k])
                })
                .sum();
            let c = d2 * dx;
            let first = if kind == HessianRef::Full { d1 } else { 0.0 };
            for k in 0..dim {
                r[u * dim + k] += c * (e[i * dim + k] - e[j * dim + k])
                    + first * (w[i * dim + k] - w[j * dim + k]);
                r[i * dim + k] += c * e[u * dim + k] + first * w[u * dim + k];
                r[j * dim + k] -= c * e[u * dim + k] + first * w[u * dim + k];
            }
        }
    })
}

/// The shared frame of the Hessian-vector products: E = P θ and W = P v (P the propagation,
/// the identity for the surrogate), the loss's rows add their terms into R, and
/// Hv = Pᵀ R + λv (P is symmetric).
#[allow(clippy::too_many_arguments)]
fn hvp_through(
    adj: Adjacency<'_>,
    weights: &[f64],
    reg: f64,
    theta: &[f64],
    v: &[f64],
    dim: usize,
    kind: HessianRef,
    rows: impl FnOnce(&[f64], &[f64], &mut [f64]),
) -> Vec<f64> {
    let e = adj.propagate(weights, theta, dim);
    let w = match kind {
        HessianRef::Surrogate => v.to_vec(),
        _ => adj.propagate(weights, v, dim),
    };
    let mut r = vec![0.0; theta.len()];
    rows(&e, &w, &mut r);
    let mut hv = match kind {
        HessianRef::Surrogate => r,
        _ => adj.propagate(weights, &r, dim),
    };
    hv.iter_mut().zip(v).for_each(|(h, v)| *h += reg * v);
    hv
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path graph user0 – item0 – user1 – item1, normalised.
    fn tiny() -> (Vec<u32>, Vec<u32>, Vec<f32>) {
        // nodes: u0=0, u1=1, i0=2, i1=3; edges u0-i0, u1-i0, u1-i1
        let adj: [&[u32]; 4] = [&[2], &[2, 3], &[0, 1], &[1]];
        let deg = [1.0f64, 2.0, 2.0, 1.0];
        let (mut ptr, mut cols, mut vals) = (vec![0u32], vec![], vec![]);
        for (r, row) in adj.iter().enumerate() {
            for &c in *row {
                cols.push(c);
                vals.push((1.0 / (deg[r] * deg[c as usize]).sqrt()) as f32);
            }
            ptr.push(cols.len() as u32);
        }
        (ptr, cols, vals)
    }

    #[test]
    fn gradient_equals_central_finite_differences() {
        let (ptr, cols, vals) = tiny();
        let adj = Adjacency {
            row_ptr: &ptr,
            cols: &cols,
            vals: &vals,
        };
        let rows = LabelledRows {
            user_nodes: &[0, 1, 1, 0],
            item_nodes: &[2, 2, 3, 3],
            labels: &[1.0, 0.0, 1.0, 0.0],
        };
        let dim = 3;
        let theta: Vec<f64> = (0..12)
            .map(|k| ((k * 37 % 11) as f64 - 5.0) / 7.0)
            .collect();
        for weights in [vec![1.0], vec![0.5, 0.5], vec![0.25; 4]] {
            let (_, grad) = bce_objective(adj, &weights, rows, 0.3, &theta, dim);
            let h = 1e-6;
            for k in 0..theta.len() {
                let mut plus = theta.clone();
                plus[k] += h;
                let mut minus = theta.clone();
                minus[k] -= h;
                let fd = (bce_objective(adj, &weights, rows, 0.3, &plus, dim).0
                    - bce_objective(adj, &weights, rows, 0.3, &minus, dim).0)
                    / (2.0 * h);
                // Central differences in f64 with h = 1e-6: truncation O(h²) and
                // cancellation O(ε/h) both stay near 1e-9 for values of order one.
                assert!(
                    (fd - grad[k]).abs() <= 1e-7,
                    "K={} θ[{k}]: fd {fd} vs {}",
                    weights.len() - 1,
                    grad[k]
                );
            }
        }
    }

    #[test]
    fn full_hvp_equals_central_differences_of_the_gradient() {
        let (ptr, cols, vals) = tiny();
        let adj = Adjacency {
            row_ptr: &ptr,
            cols: &cols,
            vals: &vals,
        };
        let rows = LabelledRows {
            user_nodes: &[0, 1, 1, 0],
            item_nodes: &[2, 2, 3, 3],
            labels: &[1.0, 0.0, 1.0, 0.0],
        };
        let dim = 3;
        let theta: Vec<f64> = (0..12)
            .map(|k| ((k * 37 % 11) as f64 - 5.0) / 7.0)
            .collect();
        let v: Vec<f64> = (0..12).map(|k| ((k * 13 % 7) as f64 - 3.0) / 5.0).collect();
        for weights in [vec![1.0], vec![0.5, 0.5], vec![0.25; 4]] {
            let hv = bce_hvp(adj, &weights, rows, 0.3, &theta, &v, dim, HessianRef::Full);
            assert_hvp_is_gradient_difference(&hv, &theta, &v, |t| {
                bce_objective(adj, &weights, rows, 0.3, t, dim).1
            });
            // Gauss–Newton is positive semi-definite: vᵀ(H_GN − λI)v ≥ 0.
            let gn = bce_hvp(
                adj,
                &weights,
                rows,
                0.0,
                &theta,
                &v,
                dim,
                HessianRef::GaussNewton,
            );
            assert!(gn.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>() >= -1e-12);
        }
    }

    /// Full `hv` equals the central difference of the gradient along v.
    fn assert_hvp_is_gradient_difference(
        hv: &[f64],
        theta: &[f64],
        v: &[f64],
        gradient: impl Fn(&[f64]) -> Vec<f64>,
    ) {
        let h = 1e-5;
        let shifted = |sign: f64| -> Vec<f64> {
            let t: Vec<f64> = theta.iter().zip(v).map(|(t, v)| t + sign * h * v).collect();
            gradient(&t)
        };
        let (plus, minus) = (shifted(1.0), shifted(-1.0));
        for k in 0..theta.len() {
            let fd = (plus[k] - minus[k]) / (2.0 * h);
            // Central differences: O(h²) truncation ~1e-10, O(ε/h) cancellation ~1e-11.
            assert!((fd - hv[k]).abs() <= 1e-6, "{k}: fd {fd} vs {}", hv[k]);
        }
    }

    #[test]
    fn bpr_full_hvp_equals_central_differences_and_gauss_newton_is_psd() {
        let (ptr, cols, vals) = tiny();
        let adj = Adjacency {
            row_ptr: &ptr,
            cols: &cols,
            vals: &vals,
        };
        // (u, i, j): positives i, negatives j (nodes u0=0, u1=1, i0=2, i1=3).
        let triples = Triples {
            user_nodes: &[0, 1, 1],
            pos_nodes: &[2, 2, 3],
            neg_nodes: &[3, 3, 2],
        };
        let dim = 3;
        let theta: Vec<f64> = (0..12)
            .map(|k| ((k * 37 % 11) as f64 - 5.0) / 7.0)
            .collect();
        let v: Vec<f64> = (0..12).map(|k| ((k * 13 % 7) as f64 - 3.0) / 5.0).collect();
        for weights in [vec![1.0], vec![0.5, 0.5], vec![0.25; 4]] {
            let hv = bpr_hvp(
                adj,
                &weights,
                triples,
                0.3,
                &theta,
                &v,
                dim,
                HessianRef::Full,
            );
            assert_hvp_is_gradient_difference(&hv, &theta, &v, |t| {
                bpr_objective(adj, &weights, triples, 0.3, t, dim).1
            });
            let gn = bpr_hvp(
                adj,
                &weights,
                triples,
                0.0,
                &theta,
                &v,
                dim,
                HessianRef::GaussNewton,
            );
            assert!(gn.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>() >= -1e-12);
        }
    }
}
