// Block-Jacobi built on the device (docs/ARCHITECTURE.md, "The solve"): the d × d diagonal
// blocks of the Gauss–Newton Hessian, B_v = λI + Σ_terms h o oᵀ, and their damped inverses
// (B_v + δI)⁻¹, one workgroup per block. Host references: `HvpOperator::diagonal_blocks`
// and `solve::precond::invert_blocks`.
//
// Blocks are row-major, one after the other; a launch binds a run of them (`block_lo` is the
// run's first block in the whole set, which indexes `term_ptr`, `traces` and `flags`).

// Terms staged in workgroup memory at a time (8 × 256 floats: 8 KB at the largest d).
const TERM_CHUNK: u32 = 8u;
// The largest row (MAX_DIM in src/kernels/table.rs).
const MAX_DIM: u32 = 256u;
// Row losses (src/kernels/hvp.rs, `RowLoss`): BCE reads ℓ'' from a record, BPR its x.
const LOSS_BCE: u32 = 0u;

// Both kernels give thread t of a block's workgroup the block's columns t, t + WG, ...:
// every entry of a block in global memory is read and written by its column's thread
// alone, so only the workgroup-memory stages need barriers (lavapipe pays dearly for
// each), no index needs an integer division, and neighbouring threads touch neighbouring
// addresses (one vector access for a SIMD CPU driver, a coalesced one for a GPU).

struct GramParams {
    n_blocks: u32,
    block_lo: u32,
    dim: u32,
    lanes: u32,
    chunk_rows: u32,
    loss: u32,
    lambda: f32,
    pad: u32,
}

@group(0) @binding(0) var<uniform> gp: GramParams;
// Block v's terms are terms[term_ptr[v] .. term_ptr[v + 1]], three u32 each: the row's
// record, and nodes a and b of the table with o = E_a − E_b (b = NONE: o = E_a).
@group(0) @binding(1) var<storage, read> term_ptr: array<u32>;
@group(0) @binding(2) var<storage, read> terms: array<u32>;
// Per row (BCE) or triple (BPR): (s, loss, ℓ', ℓ'') or (c, −c, x, loss): src/kernels/pair_loss.rs.
@group(0) @binding(3) var<storage, read> records: array<f32>;
@group(0) @binding(4) var<storage, read_write> gram_out: array<f32>;
// Each block's trace (the `auto` damping scales with their mean).
@group(0) @binding(5) var<storage, read_write> traces: array<f32>;

var<workgroup> staged: array<f32, 2048>; // TERM_CHUNK * MAX_DIM
var<workgroup> staged_h: array<f32, 8>; // TERM_CHUNK

// The Gauss–Newton weight of a term: ℓ'' of a BCE row, σ(x)σ(−x) of a BPR triple.
fn term_weight(record: u32) -> f32 {
    if (gp.loss == LOSS_BCE) {
        return records[record * 4u + 3u];
    }
    let x = records[record * 4u + 2u];
    return sigmoid(x) * sigmoid(-x);
}

// Every entry is summed over the terms in their order, so the result does not depend on
// the schedule; (a, b) and (b, a) add the same products h · (o_a · o_b), so each block is
// exactly symmetric.
@compute @workgroup_size(64)
fn block_gram(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) t: u32) {
    let local_block = linear_workgroup(wid, nwg);
    if (local_block >= gp.n_blocks) {
        return;
    }
    let block = gp.block_lo + local_block;
    let d = gp.dim;
    let base = local_block * d * d;
    for (var b = t; b < d; b = b + WG) {
        for (var a = 0u; a < d; a = a + 1u) {
            gram_out[base + a * d + b] = select(0.0, gp.lambda, a == b);
        }
    }
    let first = term_ptr[block];
    let last = term_ptr[block + 1u];
    for (var c0 = first; c0 < last; c0 = c0 + TERM_CHUNK) {
        let here = min(TERM_CHUNK, last - c0);
        // The previous chunk's products are done with the staged terms.
        workgroupBarrier();
        for (var s = t; s < here * gp.lanes; s = s + WG) {
            let k = s / gp.lanes;
            let lane = s - k * gp.lanes;
            let term = 3u * (c0 + k);
            var o = table_fetch(terms[term + 1u], lane, gp.lanes, gp.chunk_rows);
            let b = terms[term + 2u];
            if (b != NONE) {
                o = o - table_fetch(b, lane, gp.lanes, gp.chunk_rows);
            }
            let at = k * MAX_DIM + 4u * lane;
            staged[at] = o.x;
            staged[at + 1u] = o.y;
            staged[at + 2u] = o.z;
            staged[at + 3u] = o.w;
        }
        if (t < here) {
            staged_h[t] = term_weight(terms[3u * (c0 + t)]);
        }
        workgroupBarrier();
        for (var b = t; b < d; b = b + WG) {
            for (var a = 0u; a < d; a = a + 1u) {
                var acc = 0.0;
                for (var k = 0u; k < here; k = k + 1u) {
                    acc = acc + staged_h[k] * (staged[k * MAX_DIM + a] * staged[k * MAX_DIM + b]);
                }
                gram_out[base + a * d + b] = gram_out[base + a * d + b] + acc;
            }
        }
    }
    var diagonal = 0.0;
    for (var b = t; b < d; b = b + WG) {
        diagonal = diagonal + gram_out[base + b * d + b];
    }
    let total = row_sum(t, t, WG, diagonal);
    if (t == 0u) {
        traces[block] = total;
    }
}

struct InvertParams {
    n_blocks: u32,
    block_lo: u32,
    dim: u32,
    damping: f32,
}

@group(0) @binding(0) var<uniform> ip: InvertParams;
// H's blocks (no δ), left as they are: a later solve with another δ inverts them again.
@group(0) @binding(1) var<storage, read> blocks: array<f32>;
@group(0) @binding(2) var<storage, read_write> inverses: array<f32>;
// 1 for a block that took the Jacobi fallback, else 0 (the solver sums them).
@group(0) @binding(3) var<storage, read_write> fallback: array<f32>;

// Column k of the current step, as it was before the step.
var<workgroup> pivot_col: array<f32, 256>; // MAX_DIM
var<workgroup> any_bad: atomic<u32>;

fn usable(x: f32) -> bool {
    // Also false for NaN (every comparison is).
    return x > 0.0 && x <= 3.4028235e38;
}

// (sym(B) + δI)⁻¹ by Gauss–Jordan elimination in place, without pivoting: for a symmetric
// positive definite matrix the pivots are the squares of its Cholesky diagonal, so a pivot
// that is not positive and finite is exactly the host reference's "not positive definite".
// A failed block (or one whose inverse is not finite) gets diag(1 / (B_ii + δ)) instead,
// 1 where that is unusable, as on the host.
@compute @workgroup_size(64)
fn block_invert(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) t: u32) {
    let local_block = linear_workgroup(wid, nwg);
    if (local_block >= ip.n_blocks) {
        return;
    }
    let d = ip.dim;
    let base = local_block * d * d;
    if (t == 0u) {
        atomicStore(&any_bad, 0u);
    }
    for (var b = t; b < d; b = b + WG) {
        for (var a = 0u; a < d; a = a + 1u) {
            let v = 0.5 * (blocks[base + a * d + b] + blocks[base + b * d + a]);
            inverses[base + a * d + b] = select(v, v + ip.damping, a == b);
        }
    }
    var failed = false;
    for (var k = 0u; k < d; k = k + 1u) {
        // Everyone is done with the previous step's column.
        workgroupBarrier();
        if (t == k % WG) {
            for (var i = 0u; i < d; i = i + 1u) {
                pivot_col[i] = inverses[base + i * d + k];
            }
        }
        workgroupBarrier();
        let pivot = pivot_col[k];
        failed = failed || !usable(pivot);
        let inv = 1.0 / pivot;
        if (!failed) {
            for (var j = t; j < d; j = j + WG) {
                if (j == k) {
                    for (var i = 0u; i < d; i = i + 1u) {
                        inverses[base + i * d + k] = -pivot_col[i] * inv;
                    }
                    inverses[base + k * d + k] = inv;
                } else {
                    let f = inverses[base + k * d + j] * inv;
                    // Row k too, overwritten just below: a branch per entry costs more.
                    for (var i = 0u; i < d; i = i + 1u) {
                        inverses[base + i * d + j] = inverses[base + i * d + j] - pivot_col[i] * f;
                    }
                    inverses[base + k * d + j] = f;
                }
            }
        }
    }
    for (var b = t; b < d; b = b + WG) {
        for (var a = 0u; a < d; a = a + 1u) {
            if (failed || !(abs(inverses[base + a * d + b]) <= 3.4028235e38)) {
                atomicOr(&any_bad, 1u);
            }
        }
    }
    // The symmetrisation reads other columns' entries.
    storageBarrier();
    workgroupBarrier();
    let bad = atomicLoad(&any_bad) != 0u;
    for (var b = t; b < d; b = b + WG) {
        for (var a = 0u; a < d; a = a + 1u) {
            if (bad) {
                var jacobi = 0.0;
                if (a == b) {
                    let m = blocks[base + a * d + a] + ip.damping;
                    jacobi = select(1.0, 1.0 / m, usable(m) && usable(1.0 / m));
                }
                inverses[base + a * d + b] = jacobi;
            } else if (a < b) {
                // Rounding leaves the two halves a few ulps apart; the solver wants M symmetric.
                let v = 0.5 * (inverses[base + a * d + b] + inverses[base + b * d + a]);
                inverses[base + a * d + b] = v;
                inverses[base + b * d + a] = v;
            }
        }
    }
    if (t == 0u) {
        fallback[ip.block_lo + local_block] = select(0.0, 1.0, bad);
    }
}
