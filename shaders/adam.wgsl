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
