// Per-row coefficient of the Hessian-vector product of the pointwise loss (docs/ARCHITECTURE.md, "The Hessian"):
// with E the final embeddings (table) and W = Σ_k a_k Â^k v the propagated direction
// (table_b), for each row r = (u, i):
//   c_r = ℓ''_r · (⟨E_i, W_u⟩ + ⟨E_u, W_i⟩)
// Output per row: (c_r, ℓ'_r), the gather coefficients of E and (full Hessian) W.

struct Params {
    n_rows: u32,
    lanes: u32,
    // Threads that share a row (a power of two): its lanes are split among them.
    threads_per_row: u32,
    chunk_rows: u32,
    chunk_rows_b: u32,
    // Offsets of ℓ' and ℓ'' in the per-row records (stride 4, from pair_loss.wgsl).
    d1: u32,
    d2: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> row_u: array<u32>;
@group(0) @binding(2) var<storage, read> row_i: array<u32>;
@group(0) @binding(3) var<storage, read> records: array<f32>;
@group(0) @binding(4) var<storage, read_write> coef: array<vec2<f32>>;

@compute @workgroup_size(64)
fn row_coef(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) t: u32) {
    let rl = row_lane(linear_workgroup(wid, nwg), t, p.threads_per_row);
    var partial = 0.0;
    if (rl.row < p.n_rows) {
        let u = row_u[rl.row];
        let i = row_i[rl.row];
        for (var l = rl.lane; l < p.lanes; l = l + p.threads_per_row) {
            let eu = table_fetch(u, l, p.lanes, p.chunk_rows);
            let ei = table_fetch(i, l, p.lanes, p.chunk_rows);
            let wu = table_b_fetch(u, l, p.lanes, p.chunk_rows_b);
            let wi = table_b_fetch(i, l, p.lanes, p.chunk_rows_b);
            partial = partial + dot(ei, wu) + dot(eu, wi);
        }
    }
    let total = row_sum(t, rl.lane, p.threads_per_row, partial);
    if (rl.lane == 0u && rl.row < p.n_rows) {
        let d1 = records[rl.row * 4u + p.d1];
        let d2 = records[rl.row * 4u + p.d2];
        coef[rl.row] = vec2<f32>(d2 * total, d1);
    }
}

// The BPR variant. A triple t = (u, i, j) is stored as two pseudo-rows, 2t = (u, i) and
// 2t + 1 = (u, j), so the pointwise gathers that follow apply unchanged. With
// x_t = ⟨E_u, E_i − E_j⟩ (records[4t + d2_or_x], from score_bpr) and ℓ = softplus(−x):
//   c_t = ℓ''(x_t) · (⟨E_i − E_j, W_u⟩ + ⟨E_u, W_i − W_j⟩)
// Output: coef[2t] = (c_t, ℓ'(x_t)), coef[2t + 1] = (−c_t, −ℓ'(x_t)).
// Here `p.n_rows` counts triples and `p.d2` is the offset of x in the records.
@compute @workgroup_size(64)
fn row_coef_bpr(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) t: u32) {
    let rl = row_lane(linear_workgroup(wid, nwg), t, p.threads_per_row);
    var partial = 0.0;
    if (rl.row < p.n_rows) {
        let u = row_u[2u * rl.row];
        let i = row_i[2u * rl.row];
        let j = row_i[2u * rl.row + 1u];
        for (var l = rl.lane; l < p.lanes; l = l + p.threads_per_row) {
            let eu = table_fetch(u, l, p.lanes, p.chunk_rows);
            let eij = table_fetch(i, l, p.lanes, p.chunk_rows) - table_fetch(j, l, p.lanes, p.chunk_rows);
            let wu = table_b_fetch(u, l, p.lanes, p.chunk_rows_b);
            let wij = table_b_fetch(i, l, p.lanes, p.chunk_rows_b) - table_b_fetch(j, l, p.lanes, p.chunk_rows_b);
            partial = partial + dot(eij, wu) + dot(eu, wij);
        }
    }
    let total = row_sum(t, rl.lane, p.threads_per_row, partial);
    if (rl.lane == 0u && rl.row < p.n_rows) {
        let x = records[rl.row * 4u + p.d2];
        // σ(x)σ(−x) rather than σ(1 − σ): no cancellation for large |x|.
        let d2 = sigmoid(x) * sigmoid(-x);
        let d1 = -sigmoid(-x);
        coef[2u * rl.row] = vec2<f32>(d2 * total, d1);
        coef[2u * rl.row + 1u] = vec2<f32>(-d2 * total, -d1);
    }
}
