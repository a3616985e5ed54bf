// Sparse × dense: Y[r] = sum over entries e of row r of value(e) * T[cols[e]], with T a
// vec4 table read through table.wgsl (or an f16 variant: the sum stays in f32) and Y
// written through out.wgsl (or an f16 variant). A gather, not a scatter: each output row
// walks its own CSR row, so no atomics are needed and results are deterministic.
//
// Two uses:
// - propagation, Y = Â·X: value(e) = vals[e] (indirect = 0);
// - per-node gathers, G_u = sum over rows of u of c_row * E_other: cols[e] is the other
//   endpoint of training row rid[e], and value(e) = vals[rid[e] * stride + offset]
//   (indirect = 1), so c can be one field of a packed per-row output (pair_loss.wgsl).

struct Params {
    // Output rows of this launch, starting at CSR row `row_lo`.
    n_rows: u32,
    row_lo: u32,
    lanes: u32,
    lanes_p2: u32,
    chunk_rows: u32,
    indirect: u32,
    stride: u32,
    offset: u32,
    // Rows of the bound output range that precede this launch's first row (the output
    // binding must start at an aligned offset, the launch's rows need not).
    out_skip: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> row_ptr: array<u32>;
@group(0) @binding(2) var<storage, read> cols: array<u32>;
@group(0) @binding(3) var<storage, read> vals: array<f32>;
@group(0) @binding(4) var<storage, read> rid: array<u32>;
// The output rows (binding 5) come from out.wgsl or an f16 variant.

@compute @workgroup_size(64)
fn spmm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let rl = row_lane(linear_workgroup(wid, nwg), t, p.lanes_p2);
    if (rl.row >= p.n_rows || rl.lane >= p.lanes) {
        return;
    }
    let r = p.row_lo + rl.row;
    var acc = vec4<f32>(0.0);
    let end = row_ptr[r + 1u];
    for (var e = row_ptr[r]; e < end; e = e + 1u) {
        var v: f32;
        if (p.indirect != 0u) {
            v = vals[rid[e] * p.stride + p.offset];
        } else {
            v = vals[e];
        }
        acc = acc + v * table_fetch(cols[e], rl.lane, p.lanes, p.chunk_rows);
    }
    store_out((p.out_skip + rl.row) * p.lanes + rl.lane, acc);
}
