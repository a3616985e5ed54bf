//! SpMM on a synthetic power-law graph (≥ 1M non-zeros, d = 64) next to a plain copy kernel
//! on the same adapter, both timed on the device (timestamp queries where granted).
//!
//! Bytes counted for SpMM: the CSR arrays once, one input row (d·4 bytes) per non-zero as
//! gathered, and the output once. For copy: the table read once and written once.
//!
//! `IFRU_BENCH_EDGES` changes the number of user–item edges (default 600,000, giving
//! 1.2M non-zeros in the symmetric adjacency).

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ifru::gpu::{Gpu, Record};
use ifru::kernels::DeviceTable;
use ifru::kernels::blas::copy;
use ifru::kernels::spmm::{DeviceCsr, spmm};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DIM: u32 = 64;

/// A symmetric bipartite adjacency whose degrees follow a power law: endpoints are drawn
/// as ⌊n·r^3⌋ for uniform r, so low ids collect most edges.
fn power_law_adjacency(
    users: u32,
    items: u32,
    edges: usize,
    seed: u64,
) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = (users + items) as usize;
    let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(edges * 2);
    for _ in 0..edges {
        let u = (users as f64 * rng.random::<f64>().powi(3)) as u32;
        let i = users + (items as f64 * rng.random::<f64>().powi(3)) as u32;
        pairs.push((u, i));
        pairs.push((i, u));
    }
    pairs.sort_unstable();
    pairs.dedup();
    let mut row_ptr = vec![0u32; n + 1];
    for &(r, _) in &pairs {
        row_ptr[r as usize + 1] += 1;
    }
    for r in 0..n {
        row_ptr[r + 1] += row_ptr[r];
    }
    let cols: Vec<u32> = pairs.iter().map(|&(_, c)| c).collect();
    let vals: Vec<f32> = (0..cols.len())
        .map(|_| rng.random_range(0.01f32..1.0))
        .collect();
    (row_ptr, cols, vals)
}

fn device_time(gpu: &Gpu, iters: u64, what: &str, plan: &dyn Record) -> Duration {
    let mut total = 0.0;
    for _ in 0..iters {
        total += gpu
            .time(what, |pass| plan.record(pass))
            .expect("timed run")
            .seconds;
    }
    Duration::from_secs_f64(total)
}

fn bench_spmm(c: &mut Criterion) {
    let gpu = Gpu::from_env().expect("a GPU adapter (or lavapipe)");
    let edges: usize = std::env::var("IFRU_BENCH_EDGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600_000);
    let (users, items) = (100_000u32, 60_000u32);
    let n = users + items;
    let (row_ptr, cols, vals) = power_law_adjacency(users, items, edges, 7);
    let nnz = cols.len() as u64;
    let max_degree = row_ptr.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    let adj = DeviceCsr::upload(&gpu, n, &row_ptr, &cols, &vals).expect("upload graph");
    let x = DeviceTable::upload(&gpu, n, DIM, &vec![0.5f32; (n * DIM) as usize], "x").expect("x");
    let y = DeviceTable::zeros(&gpu, n, DIM, "y").expect("y");
    let spmm_plan = spmm(&gpu, &adj, &x, &y).expect("spmm plan");
    let copy_plan = copy(&gpu, x.values(), y.values()).expect("copy plan");

    let row_bytes = DIM as u64 * 4;
    let spmm_bytes = (n as u64 + 1) * 4 + nnz * 8 + nnz * row_bytes + n as u64 * row_bytes;
    let copy_bytes = 2 * n as u64 * row_bytes;
    let adapter = gpu.adapter();
    eprintln!(
        "adapter: {} ({}, {}); graph: {n} nodes, {nnz} non-zeros, max degree {max_degree}, d = {DIM}",
        adapter.name, adapter.backend, adapter.device_type
    );

    let mut group = c.benchmark_group("spmm_vs_copy");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(12));
    group.throughput(Throughput::Bytes(spmm_bytes));
    group.bench_function("spmm_d64", |b| {
        b.iter_custom(|iters| device_time(&gpu, iters, "spmm", &spmm_plan))
    });
    group.throughput(Throughput::Bytes(copy_bytes));
    group.bench_function("copy_same_table", |b| {
        b.iter_custom(|iters| device_time(&gpu, iters, "copy", &copy_plan))
    });
    group.finish();

    // A one-line summary with both bandwidths, so the two figures sit side by side.
    let spmm_s = device_time(&gpu, 5, "spmm", &spmm_plan).as_secs_f64() / 5.0;
    let copy_s = device_time(&gpu, 5, "copy", &copy_plan).as_secs_f64() / 5.0;
    let gbs = |bytes: u64, s: f64| bytes as f64 / s / 1e9;
    eprintln!(
        "summary: spmm {:.3} ms, {:.2} GB/s; copy {:.3} ms, {:.2} GB/s; spmm/copy bandwidth {:.2}",
        spmm_s * 1e3,
        gbs(spmm_bytes, spmm_s),
        copy_s * 1e3,
        gbs(copy_bytes, copy_s),
        gbs(spmm_bytes, spmm_s) / gbs(copy_bytes, copy_s)
    );
}

criterion_group!(benches, bench_spmm);
criterion_main!(benches);
