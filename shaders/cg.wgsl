// Conjugate-gradient state on the device (src/kernels/cg.rs, src/unlearn/cg.rs).
//
// The solver keeps every scalar in one small buffer `state`: the ping-pong slots of r·z,
// p·Ap, α, β, ‖r‖², ‖b‖², a status code and an iteration counter. One-thread kernels update
// α, β and the status between the BLAS-1 and reduction launches of an iteration, so an
// iteration is command-buffer work with no read-back. The status latches: once the solve
// has converged or met non-positive curvature or a non-finite value, every later update
// of x, r and p in the same command buffer is skipped, so x always holds the last good
// iterate and the host can look at the state only every few iterations.
//
// WGSL lets an implementation assume that no NaN or infinity occurs, so finiteness is
// tested on the bits (exponent all ones), which no fast-math rewriting can remove.

struct Params {
    // Elements of this launch (vector kernels).
    n: u32,
    // Slots of r·z before and after this iteration's update (they alternate).
    rz_old: u32,
    rz_new: u32,
    // Slot holding ‖r‖² after the update (rz_new without a preconditioner).
    rr: u32,
    // Stop when ‖r‖ ≤ rtol · ‖b‖.
    rtol: f32,
    // Damping δ added to the Jacobi diagonal.
    delta: f32,
    _pad0: u32,
    _pad1: u32,
}

// Slots of `state` (kernels::cg::slot).
const S_PAP: u32 = 2u;
const S_ALPHA: u32 = 3u;
const S_BETA: u32 = 4u;
const S_RR: u32 = 5u;
const S_BB: u32 = 6u;
const S_STATUS: u32 = 7u;
const S_ITER: u32 = 8u;
const S_STOP: u32 = 9u;
const S_BAD: u32 = 10u;

// Status codes (kernels::cg::Status).
const RUNNING: f32 = 0.0;
const CONVERGED: f32 = 1.0;
const NON_POSITIVE: f32 = 2.0;
const NON_FINITE: f32 = 3.0;
const NON_FINITE_AFTER_UPDATE: f32 = 4.0;
const BREAKDOWN: f32 = 5.0;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> state: array<f32>;
@group(0) @binding(2) var<storage, read> scalars: array<f32>;
@group(0) @binding(3) var<storage, read> dir: array<f32>;
@group(0) @binding(4) var<storage, read> q: array<f32>;
@group(0) @binding(5) var<storage, read_write> x: array<f32>;
@group(0) @binding(6) var<storage, read_write> r: array<f32>;
@group(0) @binding(7) var<storage, read> diag: array<f32>;
@group(0) @binding(8) var<storage, read_write> inv: array<f32>;
@group(0) @binding(9) var<storage, read_write> z: array<f32>;
@group(0) @binding(10) var<storage, read> inv_ro: array<f32>;
@group(0) @binding(11) var<storage, read> r_ro: array<f32>;

fn finite(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

fn reached(rr: f32, bb: f32) -> bool {
    return sqrt(rr) <= p.rtol * sqrt(bb);
}

fn stop(code: f32, at: f32, bad: f32) {
    state[S_STATUS] = code;
    state[S_STOP] = at;
    state[S_BAD] = bad;
    state[S_ALPHA] = 0.0;
    state[S_BETA] = 0.0;
}

// After the initial r (b for a start from 0), z = M⁻¹r, rz_new = r·z, rr = ‖r‖² and ‖b‖²
// are in place.
@compute @workgroup_size(1)
fn init() {
    let bb = state[S_BB];
    let rr = state[p.rr];
    let rz = state[p.rz_new];
    state[S_ITER] = 0.0;
    state[S_RR] = rr;
    stop(RUNNING, 0.0, 0.0);
    if (!finite(bb)) {
        stop(NON_FINITE, 0.0, bb);
    } else if (!finite(rr)) {
        stop(NON_FINITE, 0.0, rr);
    } else if (!finite(rz)) {
        stop(NON_FINITE, 0.0, rz);
    } else if (bb == 0.0 || reached(rr, bb)) {
        stop(CONVERGED, 0.0, 0.0);
    } else if (rz <= 0.0) {
        stop(BREAKDOWN, 0.0, rz);
    }
}

// After Ap and p·Ap: α = r·z / p·Ap, or a stop before x is touched.
@compute @workgroup_size(1)
fn alpha() {
    if (state[S_STATUS] != RUNNING) {
        state[S_ALPHA] = 0.0;
        return;
    }
    let pap = state[S_PAP];
    let rz = state[p.rz_old];
    let it = state[S_ITER];
    if (!finite(pap)) {
        stop(NON_FINITE, it, pap);
        return;
    }
    if (pap <= 0.0) {
        stop(NON_POSITIVE, it, pap);
        return;
    }
    let a = rz / pap;
    if (!finite(a)) {
        stop(NON_FINITE, it, a);
        return;
    }
    state[S_ALPHA] = a;
}

// x += α p, r −= α q, unless the solve has stopped.
@compute @workgroup_size(64)
fn update(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) t: u32) {
    let i = linear_workgroup(wid, nwg) * WG + t;
    if (i < p.n && scalars[S_STATUS] == RUNNING) {
        let a = scalars[S_ALPHA];
        x[i] = x[i] + a * dir[i];
        r[i] = r[i] - a * q[i];
    }
}

// After the new r·z and ‖r‖²: count the iteration, test convergence, β = new r·z / old r·z.
@compute @workgroup_size(1)
fn after() {
    if (state[S_STATUS] != RUNNING) {
        state[S_BETA] = 0.0;
        return;
    }
    // The iteration counts once its residual is known to be finite.
    let it = state[S_ITER] + 1.0;
    let rr = state[p.rr];
    let rz = state[p.rz_new];
    if (!finite(rr)) {
        stop(NON_FINITE_AFTER_UPDATE, it - 1.0, rr);
        return;
    }
    if (!finite(rz)) {
        stop(NON_FINITE_AFTER_UPDATE, it - 1.0, rz);
        return;
    }
    state[S_ITER] = it;
    state[S_RR] = rr;
    if (reached(rr, state[S_BB])) {
        stop(CONVERGED, it, 0.0);
        return;
    }
    if (rz <= 0.0) {
        stop(BREAKDOWN, it, rz);
        return;
    }
    state[S_BETA] = rz / state[p.rz_old];
}

// inv = 1 / (diag + δ) where that is positive and finite, else 1 (and z = 1 flags it, for
// a count); z = 0 elsewhere.
@compute @workgroup_size(64)
fn jacobi_prepare(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) t: u32) {
    let i = linear_workgroup(wid, nwg) * WG + t;
    if (i < p.n) {
        let m = diag[i] + p.delta;
        if (finite(m) && m > 0.0) {
            let v = 1.0 / m;
            if (finite(v)) {
                inv[i] = v;
                z[i] = 0.0;
                return;
            }
        }
        inv[i] = 1.0;
        z[i] = 1.0;
    }
}

// z = inv ⊙ r.
@compute @workgroup_size(64)
fn jacobi_apply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) t: u32) {
    let i = linear_workgroup(wid, nwg) * WG + t;
    if (i < p.n) {
        z[i] = inv_ro[i] * r_ro[i];
    }
}
