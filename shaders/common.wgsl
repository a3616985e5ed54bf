// Shared by every kernel (prepended by src/kernels/shaders.rs).
//
// Workgroups are 64 threads. Grids larger than the per-dimension limit are spread over
// x and y (src/gpu/dispatch.rs); kernels recover the linear workgroup index.
const WG: u32 = 64u;
// "No device scalar": a factor of 1 (see blas.wgsl).
const NONE: u32 = 0xffffffffu;

fn linear_workgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// Rows of a vec4 table are spread over `lanes_p2` threads (the next power of two of the
// row's `lanes` vec4s), so a workgroup holds WG / lanes_p2 rows.
struct RowLane {
    row: u32,
    lane: u32,
}

fn row_lane(wg_index: u32, local: u32, lanes_p2: u32) -> RowLane {
    let rows_per_wg = WG / lanes_p2;
    return RowLane(wg_index * rows_per_wg + local / lanes_p2, local % lanes_p2);
}

// softplus(s) = log(1 + e^s), without overflow for large |s|.
fn softplus(s: f32) -> f32 {
    return max(s, 0.0) + log(1.0 + exp(-abs(s)));
}

fn sigmoid(s: f32) -> f32 {
    if (s >= 0.0) {
        return 1.0 / (1.0 + exp(-s));
    }
    let e = exp(s);
    return e / (1.0 + e);
}

var<workgroup> row_partial: array<f32, 64>;

// Sums `value` over the lanes of each row in a fixed tree order (deterministic). It holds
// barriers: every thread of the workgroup must call it. The result is valid in lane 0.
fn row_sum(t: u32, lane: u32, lanes_p2: u32, value: f32) -> f32 {
    row_partial[t] = value;
    workgroupBarrier();
    for (var stride = lanes_p2 / 2u; stride > 0u; stride = stride / 2u) {
        if (lane < stride) {
            row_partial[t] = row_partial[t] + row_partial[t + stride];
        }
        workgroupBarrier();
    }
    return row_partial[t];
}
