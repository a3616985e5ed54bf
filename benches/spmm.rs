//! SpMM on a synthetic power-law graph (≥ 1M non-zeros, d = 64) next to a plain copy kernel
//! on the same adapter, both timed on the device (timestamp queries where granted).
//!
//! Bytes counted for SpMM: the CSR arrays once, one input row (d·4 bytes) per non-zero as
//! gathered, and the output once. For copy: the table read once and written once.
//!
//! `IFRU_BENCH_EDGES` changes the number of user–item edges (default 600,000 × `IFRU_BENCH_SCALE`,
//! giving 1.2M non-zeros in the symmetric adjacency at scale 1).
//!
//! `cargo bench --bench spmm`

mod common;

use common::{CopyReference, device_time, power_law_adjacency, quick, spmm_bytes, summary};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ifru::kernels::DeviceTable;
use ifru::kernels::spmm::{DeviceCsr, spmm};

const DIM: u32 = 64;

fn bench_spmm(c: &mut Criterion) {
    let gpu = common::open_gpu();
    let edges: usize = std::env::var("IFRU_BENCH_EDGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| common::scaled(600_000));
    let (users, items) = (100_000u32, 60_000u32);
    let n = users + items;
    let (row_ptr, cols, vals) = power_law_adjacency(users, items, edges, 7);
    let nnz = cols.len() as u64;
    let max_degree = row_ptr.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    let adj = DeviceCsr::upload(&gpu, n, &row_ptr, &cols, &vals).expect("upload graph");
    let x = DeviceTable::upload(&gpu, n, DIM, &vec![0.5f32; (n * DIM) as usize], "x").expect("x");
    let y = DeviceTable::zeros(&gpu, n, DIM, "y").expect("y");
    let spmm_plan = spmm(&gpu, &adj, &x, &y).expect("spmm plan");
    let copy = CopyReference::new(&gpu, &x, &y);
    let bytes = spmm_bytes(n as u64, nnz, DIM);
    eprintln!("graph: {n} nodes, {nnz} non-zeros, max degree {max_degree}, d = {DIM}");

    let mut group = c.benchmark_group("spmm_vs_copy");
    quick(&mut group, 12);
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("spmm_d64", |b| {
        b.iter_custom(|iters| device_time(&gpu, iters, "spmm", &spmm_plan))
    });
    group.throughput(Throughput::Bytes(copy.bytes()));
    group.bench_function("copy_same_table", |b| {
        b.iter_custom(|iters| device_time(&gpu, iters, "copy", copy.plan()))
    });
    group.finish();
    summary(&gpu, "spmm", bytes, &spmm_plan, &copy, 5);
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = bench_spmm
}
criterion_main!(benches);
