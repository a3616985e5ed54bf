// Batched dense mat-vec over small blocks: y_b = B_b x_b for blocks b of dim × dim values
// (row-major, one after the other) and vectors laid out block-major (block b holds elements
// b·dim .. (b+1)·dim). Block-Jacobi applies the inverted d × d block of each node this way;
// one block of dim n is a dense n × n mat-vec.
//
// `threads` threads share a block (the next power of two of dim, at most WG), so a
// workgroup holds WG / threads blocks; thread `lane` computes rows lane, lane + threads, ...
// each summed in column order, so results are deterministic.

struct Params {
    // Blocks of this launch, and the index of its first block (in x and y).
    n_blocks: u32,
    block_lo: u32,
    dim: u32,
    threads: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// The blocks of this launch (a binding range starting at block `block_lo`).
@group(0) @binding(1) var<storage, read> blocks: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn block_matvec(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) t: u32) {
    let per_wg = WG / p.threads;
    let local_block = linear_workgroup(wid, nwg) * per_wg + t / p.threads;
    let lane = t % p.threads;
    if (local_block >= p.n_blocks) {
        return;
    }
    let d = p.dim;
    let xb = (p.block_lo + local_block) * d;
    let bb = local_block * d * d;
    for (var i = lane; i < d; i = i + p.threads) {
        let row = bb + i * d;
        var acc = 0.0;
        for (var j = 0u; j < d; j = j + 1u) {
            acc = acc + blocks[row + j] * x[xb + j];
        }
        y[xb + i] = acc;
    }
}
