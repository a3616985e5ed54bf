// BLAS-1 on f32 vectors, one element per thread. Scalars may come from a device buffer
// (CG's alpha and beta), so a solver iteration needs no read-back.

struct Params {
    n: u32,
    a_num: u32,
    a_den: u32,
    b_num: u32,
    b_den: u32,
    // Row size of `add_rows` (unused by the element-wise kernels).
    row_dim: u32,
    alpha: f32,
    beta: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> scalars: array<f32>;
@group(0) @binding(4) var<storage, read> rows: array<u32>;

// c * scalars[num] / scalars[den]; NONE stands for 1. A zero denominator gives 0, never
// inf or NaN: the solver sees the breakdown in its residual instead.
fn factor(c: f32, num: u32, den: u32) -> f32 {
    var f = c;
    if (num != NONE) {
        f = f * scalars[num];
    }
    if (den != NONE) {
        let d = scalars[den];
        if (d == 0.0) {
            return 0.0;
        }
        f = f / d;
    }
    return f;
}

fn element(wid: vec3<u32>, nwg: vec3<u32>, t: u32) -> u32 {
    return linear_workgroup(wid, nwg) * WG + t;
}

@compute @workgroup_size(64)
fn fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let i = element(wid, nwg, t);
    if (i < p.n) {
        y[i] = p.alpha;
    }
}

@compute @workgroup_size(64)
fn copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let i = element(wid, nwg, t);
    if (i < p.n) {
        y[i] = x[i];
    }
}

// y = B * y
@compute @workgroup_size(64)
fn scale(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) t: u32) {
    let i = element(wid, nwg, t);
    if (i < p.n) {
        y[i] = factor(p.beta, p.b_num, p.b_den) * y[i];
    }
}

// y = A * x + B * y
@compute @workgroup_size(64)
fn axpby(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) t: u32) {
    let i = element(wid, nwg, t);
    if (i < p.n) {
        let a = factor(p.alpha, p.a_num, p.a_den);
        let b = factor(p.beta, p.b_num, p.b_den);
        if (b == 0.0) {
            // BLAS convention: with B = 0, y is not read (it may hold garbage or NaN).
            y[i] = a * x[i];
        } else {
            y[i] = a * x[i] + b * y[i];
        }
    }
}

// y[rows[t]] += alpha * x[t] for the rows of a compact table x (|rows| × row_dim) into a
// row-major table y: an update on a few nodes touches those rows only, not the whole table.
// The rows are distinct, so no two threads write one element.
@compute @workgroup_size(64)
fn add_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) t: u32) {
    let e = element(wid, nwg, t);
    if (e < p.n) {
        let r = e / p.row_dim;
        let i = rows[r] * p.row_dim + e % p.row_dim;
        y[i] = y[i] + p.alpha * x[e];
    }
}

// y[i] = x[i * row_dim + a_num]: field a_num of each record of row_dim values (a scoring
// pass's scores out of its records, so only they are read back).
@compute @workgroup_size(64)
fn take_field(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) t: u32) {
    let i = element(wid, nwg, t);
    if (i < p.n) {
        y[i] = x[i * p.row_dim + p.a_num];
    }
}

// Finite test on the bits (WGSL may assume no NaN or infinity occurs).
fn is_finite(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

// y[b_num] = the factor that brings a vector of squared norm y[a_num] to length alpha at
// most: alpha / sqrt(y[a_num]) where that is below 1, else 1; 0 for a non-finite norm (the
// caller refuses such a vector when it reads the norm). One thread: a step's clamp decided
// on the device, so the solve needs no read-back before the step is scored.
@compute @workgroup_size(1)
fn clamp_factor() {
    let nn = y[p.a_num];
    var f = 1.0;
    if (!is_finite(nn)) {
        f = 0.0;
    } else {
        let n = sqrt(nn);
        if (n > p.alpha) {
            f = p.alpha / n;
        }
    }
    y[p.b_num] = f;
}
