//! Preconditioners of the CG solve: none, Jacobi, block-Jacobi.
//!
//! **Who adds δ.** Every kind is given pieces of H *without* damping; the solver adds the
//! damping δ of [`super::cg::CgOptions`] itself (to the Jacobi diagonal on the device, to
//! each block before it inverts it on the host), so one preconditioner value serves solves
//! with different δ (damping calibration) and can never disagree with the operator's δ.
//!
//! Unusable pieces never stop a solve: a Jacobi entry with `diag + δ` not positive and
//! finite is replaced by 1, a block with `B + δI` not positive definite (or not finite) by
//! its Jacobi diagonal; the solver counts them in its report's warnings. (The full Hessian
//! is indefinite at an early-stopped model, docs/ARCHITECTURE.md, "The Hessian", so this does happen.)

use crate::gpu::GpuBuffer;
use crate::kernels::block::DeviceBlocks;

/// `M` with `M⁻¹ ≈ (H + δI)⁻¹`, applied to the residual every iteration.
#[derive(Clone, Copy)]
pub enum Preconditioner<'a> {
    /// `M = I`.
    None,
    /// `M = diag(H) + δI`. `diag` holds the diagonal of H (no δ), one value per element.
    Jacobi { diag: &'a GpuBuffer<f32> },
    /// `M = blockdiag(H_uu + δI)`: the vector is node-major (`n_nodes × dim`) and `blocks`
    /// holds each node's `dim × dim` diagonal block of H (no δ), row-major, node after node,
    /// as the Hessian side computes them on the host. The solver symmetrises, adds δ, and
    /// inverts them in f64 (Cholesky, [`invert_blocks`]), then applies the f32 inverses on
    /// the device.
    BlockJacobi { blocks: &'a [f64], dim: usize },
    /// The same M with the blocks (no δ) on the device, as the Hessian side builds them
    /// there: the solver inverts them there too ([`crate::kernels::block::block_invert`],
    /// whose host reference is [`invert_blocks`]). What a GPU runs: nothing of size
    /// n_nodes × d² crosses the bus. A CPU adapter (lavapipe) runs the host variant, which
    /// its own vectorised f64 code does faster (docs/ARCHITECTURE.md, "The solve").
    DeviceBlockJacobi { blocks: &'a DeviceBlocks },
}

impl Preconditioner<'_> {
    /// Short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Preconditioner::None => "none",
            Preconditioner::Jacobi { .. } => "jacobi",
            Preconditioner::BlockJacobi { .. } | Preconditioner::DeviceBlockJacobi { .. } => {
                "block-jacobi"
            }
        }
    }
}

/// The diagonal of H from its diagonal blocks (for a Jacobi preconditioner).
pub fn block_diagonal(blocks: &[f64], dim: usize) -> Vec<f32> {
    if dim == 0 {
        return Vec::new();
    }
    blocks
        .chunks_exact(dim * dim)
        .flat_map(|b| (0..dim).map(move |i| b[i * dim + i] as f32))
        .collect()
}

/// Inverses of the damped blocks, ready to upload.
#[derive(Debug, Clone)]
pub struct InvertedBlocks {
    /// `(B_u + δI)⁻¹` for each node, row-major f32 (symmetric).
    pub inverses: Vec<f32>,
    /// Nodes whose damped block was not positive definite or not finite; their entry holds
    /// the Jacobi fallback `diag(1 / (B_ii + δ))` (1 where that is not positive and finite).
    pub fallbacks: usize,
}

/// Inverts `sym(B_u) + δI` for each `dim × dim` block in f64 by Cholesky (also the host
/// reference of [`crate::kernels::block::block_invert`]).
///
/// Errors on shapes that do not fit (`blocks.len()` not a multiple of `dim²`, `dim = 0`);
/// never on values, which take the fallback instead.
pub fn invert_blocks(blocks: &[f64], dim: usize, damping: f64) -> Result<InvertedBlocks, String> {
    if dim == 0 {
        return Err("block-Jacobi blocks of dimension 0".into());
    }
    let per = dim * dim;
    if !blocks.len().is_multiple_of(per) {
        return Err(format!(
            "{} block values do not make whole {dim}x{dim} blocks",
            blocks.len()
        ));
    }
    let n_blocks = blocks.len() / per;
    let mut inverses = vec![0f32; blocks.len()];
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .clamp(1, 8);
    let per_thread = n_blocks.div_ceil(threads).max(1);
    let fallbacks = std::thread::scope(|scope| {
        let handles: Vec<_> = blocks
            .chunks(per_thread * per)
            .zip(inverses.chunks_mut(per_thread * per))
            .map(|(src, dst)| {
                scope.spawn(move || {
                    let mut work = Workspace::new(dim);
                    let mut fallbacks = 0;
                    for (b, out) in src.chunks_exact(per).zip(dst.chunks_exact_mut(per)) {
                        if !work.invert(b, damping, out) {
                            jacobi_block(b, dim, damping, out);
                            fallbacks += 1;
                        }
                    }
                    fallbacks
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(0))
            .sum::<usize>()
    });
    Ok(InvertedBlocks {
        inverses,
        fallbacks,
    })
}

/// Scratch of one block inversion.
struct Workspace {
    dim: usize,
    l: Vec<f64>,
    linv: Vec<f64>,
}

impl Workspace {
    fn new(dim: usize) -> Self {
        Workspace {
            dim,
            l: vec![0.0; dim * dim],
            linv: vec![0.0; dim * dim],
        }
    }

    /// Writes `(sym(b) + δI)⁻¹` into `out`; false if it is not positive definite, not
    /// finite, or its inverse overflows f32.
    ///
    /// Every inner loop is a contiguous dot product ([`dot`]); L⁻¹ is kept transposed so its
    /// columns are contiguous too. (This runs on the host for every kept node of a request,
    /// about d³/2 multiply-adds each: 126M for ml-100k's 2,286 blocks of 48.)
    fn invert(&mut self, b: &[f64], damping: f64, out: &mut [f32]) -> bool {
        let d = self.dim;
        let (l, t) = (&mut self.l, &mut self.linv);
        // Cholesky of A = sym(b) + δI, lower triangle: A = L Lᵀ.
        for j in 0..d {
            for i in j..d {
                let mut s = 0.5 * (b[i * d + j] + b[j * d + i]);
                if i == j {
                    s += damping;
                }
                s -= dot(&l[i * d..i * d + j], &l[j * d..j * d + j]);
                if i == j {
                    // Also rejects NaN (the comparison is false).
                    if !(s > 0.0 && s.is_finite()) {
                        return false;
                    }
                    l[j * d + j] = s.sqrt();
                } else {
                    l[i * d + j] = s / l[j * d + j];
                    if !l[i * d + j].is_finite() {
                        return false;
                    }
                }
            }
        }
        // L⁻¹ by forward substitution, column by column, stored transposed:
        // t[c·d + k] = (L⁻¹)_kc.
        t.fill(0.0);
        for c in 0..d {
            t[c * d + c] = 1.0 / l[c * d + c];
            for i in c + 1..d {
                let s = -dot(&l[i * d + c..i * d + i], &t[c * d + c..c * d + i]);
                t[c * d + i] = s / l[i * d + i];
            }
        }
        // A⁻¹ = L⁻ᵀ L⁻¹: (A⁻¹)_ij = Σ_{k ≥ i} (L⁻¹)_ki (L⁻¹)_kj for j ≤ i.
        for i in 0..d {
            for j in 0..=i {
                let v = dot(&t[i * d + i..(i + 1) * d], &t[j * d + i..(j + 1) * d]) as f32;
                if !v.is_finite() {
                    return false;
                }
                out[i * d + j] = v;
                out[j * d + i] = v;
            }
        }
        true
    }
}

/// `Σ a_k b_k` with four independent partial sums, which the compiler can keep in SIMD
/// lanes; a single running sum is a chain of dependent additions it may not reorder.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut acc = [0.0f64; 4];
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// The Jacobi fallback of one block: `diag(1 / (B_ii + δ))`, 1 where that is unusable.
fn jacobi_block(b: &[f64], dim: usize, damping: f64, out: &mut [f32]) {
    out.fill(0.0);
    for i in 0..dim {
        let m = b[i * dim + i] + damping;
        let v = (1.0 / m) as f32;
        out[i * dim + i] = if m > 0.0 && v.is_finite() && v > 0.0 {
            v
        } else {
            1.0
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matmul(a: &[f64], b: &[f32], d: usize) -> Vec<f64> {
        let mut c = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                for k in 0..d {
                    c[i * d + j] += a[i * d + k] * b[k * d + j] as f64;
                }
            }
        }
        c
    }

    #[test]
    fn inverts_damped_spd_blocks() {
        let d = 5;
        // B = G Gᵀ (semi-definite) plus damping 0.5.
        let g: Vec<f64> = (0..d * d)
            .map(|k| ((k * 7 % 11) as f64 - 5.0) / 3.0)
            .collect();
        let mut b = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                b[i * d + j] = (0..d).map(|k| g[i * d + k] * g[j * d + k]).sum();
            }
        }
        let inv = invert_blocks(&b, d, 0.5).unwrap();
        assert_eq!(inv.fallbacks, 0);
        let mut damped = b.clone();
        for i in 0..d {
            damped[i * d + i] += 0.5;
        }
        let id = matmul(&damped, &inv.inverses, d);
        for i in 0..d {
            for j in 0..d {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!(
                    (id[i * d + j] - want).abs() < 1e-4,
                    "{i},{j}: {}",
                    id[i * d + j]
                );
            }
        }
    }

    #[test]
    fn inverts_blocks_of_a_realistic_size() {
        // d = 48 (ml-100k's MF), B = G Gᵀ / d from pseudo-random G, δ = 0.3: A⁻¹A = I to
        // f32 precision of the inverse times the condition number (below ~10³ here).
        let d = 48;
        let mut state = 12345u64;
        let g: Vec<f64> = (0..d * d)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 33) as f64 / (1u64 << 31) as f64) - 0.5
            })
            .collect();
        let mut b = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                b[i * d + j] = (0..d).map(|k| g[i * d + k] * g[j * d + k]).sum::<f64>() / d as f64;
            }
        }
        let inv = invert_blocks(&b, d, 0.3).unwrap();
        assert_eq!(inv.fallbacks, 0);
        let mut damped = b.clone();
        for i in 0..d {
            damped[i * d + i] += 0.3;
        }
        let id = matmul(&damped, &inv.inverses, d);
        for i in 0..d {
            for j in 0..d {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!(
                    (id[i * d + j] - want).abs() < 1e-4,
                    "{i},{j}: {}",
                    id[i * d + j]
                );
            }
        }
    }

    #[test]
    fn indefinite_or_nan_blocks_fall_back_to_their_diagonal() {
        // Block 0: indefinite; block 1: NaN; block 2: fine (2I).
        let blocks = [
            1.0,
            3.0,
            3.0,
            1.0, //
            f64::NAN,
            0.0,
            0.0,
            1.0, //
            2.0,
            0.0,
            0.0,
            2.0,
        ];
        let inv = invert_blocks(&blocks, 2, 0.0).unwrap();
        assert_eq!(inv.fallbacks, 2);
        assert_eq!(&inv.inverses[0..4], &[1.0, 0.0, 0.0, 1.0]);
        assert_eq!(&inv.inverses[4..8], &[1.0, 0.0, 0.0, 1.0]);
        assert_eq!(&inv.inverses[8..12], &[0.5, 0.0, 0.0, 0.5]);
        assert!(invert_blocks(&blocks, 3, 0.0).is_err());
        assert!(invert_blocks(&blocks, 0, 0.0).is_err());
        assert_eq!(block_diagonal(&blocks, 2)[4..], [2.0, 2.0]);
    }
}
