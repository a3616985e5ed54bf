// Adam (PyTorch's formulation, no weight decay: L2 is part of the gradient).
// The step count and bias corrections live on the device (`state`), advanced by `tick`,
// so many steps can be recorded into one command buffer without the host.
//   state[0] = t, state[1] = lr / (1 - b1^t), state[2] = 1 / sqrt(1 - b2^t)

struct Params {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> state: array<f32>;

@compute @workgroup_size(1)
fn tick() {
    let t = state[0] + 1.0;
    state[0] = t;
    state[1] = p.lr / (1.0 - pow(p.beta1, t));
    state[2] = 1.0 / sqrt(1.0 - pow(p.beta2, t));
}

@compute @workgroup_size(64)
fn step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let i = linear_workgroup(wid, nwg) * WG + t;
    if (i >= p.n) {
        return;
    }
    let g = grad[i];
    let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
    let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = param[i] - state[1] * mi / (sqrt(vi) * state[2] + p.eps);
}

// Sparse (lazy) Adam over the rows a batch touched, as PyTorch's SparseAdam: only those
// rows' moments and parameters change; bias corrections use the global step count.
// `param`, `m`, `v` are row-major vec4 tables; `row_grad` holds one gradient row per
// entry of `rows`; the step follows `scale * row_grad + reg * param` (L2 on touched rows).
struct RowParams {
    n_rows: u32,
    lanes: u32,
    lanes_p2: u32,
    _pad0: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    reg: f32,
    scale: f32,
    _pad2: f32,
    _pad3: f32,
}

@group(0) @binding(6) var<uniform> rp: RowParams;
@group(0) @binding(7) var<storage, read> rows: array<u32>;
@group(0) @binding(8) var<storage, read> row_grad: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> param4: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> m4: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read_write> v4: array<vec4<f32>>;

@compute @workgroup_size(64)
fn step_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) t: u32) {
    let rl = row_lane(linear_workgroup(wid, nwg), t, rp.lanes_p2);
    if (rl.row >= rp.n_rows || rl.lane >= rp.lanes) {
        return;
    }
    let i = rows[rl.row] * rp.lanes + rl.lane;
    let g = rp.scale * row_grad[rl.row * rp.lanes + rl.lane] + rp.reg * param4[i];
    let mi = rp.beta1 * m4[i] + (1.0 - rp.beta1) * g;
    let vi = rp.beta2 * v4[i] + (1.0 - rp.beta2) * g * g;
    m4[i] = mi;
    v4[i] = vi;
    param4[i] = param4[i] - state[1] * mi / (sqrt(vi) * state[2] + rp.eps);
}
