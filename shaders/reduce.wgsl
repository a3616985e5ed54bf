// Deterministic two-pass reductions: each workgroup sums a fixed 1024-element block in a
// fixed order into `partials`; one workgroup then sums the partials in a fixed order into
// `scalars[out_index]`. The same inputs give bitwise the same result on the same device.

struct Params {
    n: u32,
    // 0: sum of x*y (dot; bind x twice for a squared norm); 1: sum of x.
    mode: u32,
    // Where this launch's partials start (a chunked vector writes several ranges).
    partial_offset: u32,
    n_partials: u32,
    out_index: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

const PER_THREAD: u32 = 16u;
const BLOCK: u32 = 1024u; // WG * PER_THREAD

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;
@group(0) @binding(4) var<storage, read_write> scalars: array<f32>;

var<workgroup> sh: array<f32, 64>;

fn tree_sum(t: u32) {
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if (t < stride) {
            sh[t] = sh[t] + sh[t + stride];
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(64)
fn partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) t: u32) {
    let w = linear_workgroup(wid, nwg);
    let blocks = (p.n + BLOCK - 1u) / BLOCK;
    if (w >= blocks) {
        return;
    }
    var acc = 0.0;
    for (var k = 0u; k < PER_THREAD; k = k + 1u) {
        let i = w * BLOCK + k * WG + t;
        if (i < p.n) {
            if (p.mode == 0u) {
                acc = acc + x[i] * y[i];
            } else {
                acc = acc + x[i];
            }
        }
    }
    sh[t] = acc;
    workgroupBarrier();
    tree_sum(t);
    if (t == 0u) {
        partials[p.partial_offset + w] = sh[0];
    }
}

@compute @workgroup_size(64)
fn finish(@builtin(local_invocation_index) t: u32) {
    var acc = 0.0;
    for (var i = t; i < p.n_partials; i = i + WG) {
        acc = acc + partials[i];
    }
    sh[t] = acc;
    workgroupBarrier();
    tree_sum(t);
    if (t == 0u) {
        scalars[p.out_index] = sh[0];
    }
}
