// Scores and pointwise BCE for a list of (u, i) node pairs:
//   s = <E_u, E_i>,  loss = softplus(s) - y*s,  d1 = sigmoid(s) - y,  d2 = sigmoid(s)(1 - sigmoid(s)).
// Each pair's dot product is spread over vec4 lanes and reduced in workgroup memory in a
// fixed tree order. Output: one vec4 (s, loss, d1, d2) per pair.

struct Params {
    n_pairs: u32,
    lanes: u32,
    // Threads that share a row (a power of two): its lanes are split among them.
    threads_per_row: u32,
    chunk_rows: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pair_u: array<u32>;
@group(0) @binding(2) var<storage, read> pair_i: array<u32>;
@group(0) @binding(3) var<storage, read> labels: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(64)
fn score_bce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) t: u32) {
    let rl = row_lane(linear_workgroup(wid, nwg), t, p.threads_per_row);
    var partial = 0.0;
    if (rl.row < p.n_pairs) {
        let u = pair_u[rl.row];
        let i = pair_i[rl.row];
        for (var l = rl.lane; l < p.lanes; l = l + p.threads_per_row) {
            partial = partial + dot(table_fetch(u, l, p.lanes, p.chunk_rows), table_fetch(i, l, p.lanes, p.chunk_rows));
        }
    }
    let total = row_sum(t, rl.lane, p.threads_per_row, partial);
    if (rl.lane == 0u && rl.row < p.n_pairs) {
        let s = total;
        let y = labels[rl.row];
        let q = sigmoid(s);
        // softplus(s) - y*s and sigmoid(s) - y rewritten with softplus(s) - s = softplus(-s)
        // and sigmoid(s) - 1 = -sigmoid(-s): no cancellation for confident predictions.
        let loss = (1.0 - y) * softplus(s) + y * softplus(-s);
        let d1 = (1.0 - y) * q - y * sigmoid(-s);
        out[rl.row] = vec4<f32>(s, loss, d1, q * sigmoid(-s));
    }
}

// BPR on (u, i, j) triples: x = <E_u, E_i> - <E_u, E_j>, loss = softplus(-x),
// c = dloss/dx = -sigmoid(-x). Output per triple: (c, -c, x, loss), so a gather reads the
// coefficient of E_i (or E_u for the positive item) at 4t and of E_j at 4t + 1.
@group(0) @binding(5) var<storage, read> pair_j: array<u32>;

@compute @workgroup_size(64)
fn score_bpr(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) t: u32) {
    let rl = row_lane(linear_workgroup(wid, nwg), t, p.threads_per_row);
    var partial = 0.0;
    if (rl.row < p.n_pairs) {
        let u = pair_u[rl.row];
        let i = pair_i[rl.row];
        let j = pair_j[rl.row];
        for (var l = rl.lane; l < p.lanes; l = l + p.threads_per_row) {
            let eu = table_fetch(u, l, p.lanes, p.chunk_rows);
            partial = partial + dot(eu, table_fetch(i, l, p.lanes, p.chunk_rows) - table_fetch(j, l, p.lanes, p.chunk_rows));
        }
    }
    let total = row_sum(t, rl.lane, p.threads_per_row, partial);
    if (rl.lane == 0u && rl.row < p.n_pairs) {
        let x = total;
        let c = -sigmoid(-x);
        out[rl.row] = vec4<f32>(c, -c, x, softplus(-x));
    }
}
