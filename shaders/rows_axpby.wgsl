// Y = alpha * T + beta * Y over rows of vec4s, with T read through the table include and Y
// through the output include: with different storages on each side this widens an f16
// table into f32 (accumulating propagation layers) or rounds an f32 table to f16.

struct Params {
    n_rows: u32,
    row_lo: u32,
    lanes: u32,
    lanes_p2: u32,
    chunk_rows: u32,
    // Rows of the bound output range before this launch's first row (see spmm.wgsl).
    out_skip: u32,
    alpha: f32,
    beta: f32,
}

@group(0) @binding(0) var<uniform> p: Params;

@compute @workgroup_size(64)
fn rows_axpby(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) t: u32) {
    let rl = row_lane(linear_workgroup(wid, nwg), t, p.lanes_p2);
    if (rl.row >= p.n_rows || rl.lane >= p.lanes) {
        return;
    }
    let x = table_fetch(p.row_lo + rl.row, rl.lane, p.lanes, p.chunk_rows);
    let o = (p.out_skip + rl.row) * p.lanes + rl.lane;
    if (p.beta == 0.0) {
        // BLAS convention (blas.wgsl): with beta = 0, Y is not read.
        store_out(o, p.alpha * x);
    } else {
        store_out(o, p.alpha * x + p.beta * load_out(o));
    }
}
