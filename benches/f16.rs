//! f32 against f16 storage of the embedding tables on the same synthetic power-law graph
//! (d = 64): one SpMM, LightGCN propagation (K = 3) and top-20 scoring of a batch of users
//! over every item, timed on the device (timestamp queries where granted). f16 runs on the
//! device's path (native `f16` where `SHADER_F16` is granted) and on packed pairs.
//!
//! Bytes counted for SpMM: the CSR arrays once, one input row per non-zero as gathered, and
//! the output once, rows being d·4 bytes in f32 and d·2 in f16. For top-K: every item row
//! once per workgroup of 4 users. Memory: the buffer pool's bytes held by the tables a
//! serving model keeps (θ, the final embeddings) and by the propagation scratch.
//!
//! `IFRU_BENCH_EDGES` changes the number of user–item edges (default 100,000, giving
//! about 190k non-zeros in the symmetric adjacency over 32,000 nodes): sized to run in about
//! two minutes on lavapipe.

mod common;

use std::time::Duration;

use common::{device_time, power_law_adjacency_valued};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ifru::gpu::{Gpu, GpuOptions, Record};
use ifru::kernels::half::{HalfPropagationScratch, half_path, propagate_half};
use ifru::kernels::propagate::{PropagationScratch, propagate, uniform_weights};
use ifru::kernels::spmm::{DeviceCsr, spmm};
use ifru::kernels::topk::{DeviceUserItems, packed_len, topk};
use ifru::kernels::{DeviceTable, HalfTable, Plan};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DIM: u32 = 64;
const LAYERS: u32 = 3;
const TOPK_USERS: u32 = 256;

/// Pool bytes held after `make` minus before (what the tables it returns occupy).
fn held_by<T>(gpu: &Gpu, make: impl FnOnce() -> T) -> (T, u64) {
    gpu.pool().trim();
    let before = gpu.pool().stats().held_bytes();
    let value = make();
    (value, gpu.pool().stats().held_bytes() - before)
}

struct Graph {
    users: u32,
    items: u32,
    row_ptr: Vec<u32>,
    cols: Vec<u32>,
    vals: Vec<f32>,
    theta: Vec<f32>,
}

/// One storage's resident tables and plans on one device.
fn bench_storage(c: &mut Criterion, gpu: &Gpu, label: &str, g: &Graph, summary: &mut Vec<String>) {
    let n = g.users + g.items;
    let nnz = g.cols.len() as u64;
    let f16 = label != "f32";
    let adj = DeviceCsr::upload(gpu, n, &g.row_ptr, &g.cols, &g.vals).expect("graph");
    let excluded = DeviceUserItems::upload(gpu, g.items, &vec![0; g.users as usize + 1], &[])
        .expect("no exclusions");
    let users = gpu
        .upload(&(0..TOPK_USERS).collect::<Vec<u32>>(), "users")
        .expect("users");
    let lists = gpu
        .alloc::<u32>(packed_len(TOPK_USERS as usize, 20), "lists")
        .expect("lists");
    let weights = uniform_weights(LAYERS);
    let value_bytes = if f16 { 2 } else { 4 };
    let row_bytes = DIM as u64 * value_bytes;
    let spmm_bytes = (n as u64 + 1) * 4 + nnz * 8 + nnz * row_bytes + n as u64 * row_bytes;
    let topk_bytes = TOPK_USERS.div_ceil(4) as u64 * g.items as u64 * row_bytes;

    // The tables a serving model keeps (θ and E) and the propagation scratch, by the pool.
    let time_all = |spmm_plan: &Plan<'_>, prop: &Plan<'_>, top: &Plan<'_>, c: &mut Criterion| {
        let mut group = c.benchmark_group(format!("storage_{label}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        group.throughput(Throughput::Bytes(spmm_bytes));
        group.bench_function("spmm_d64", |b| {
            b.iter_custom(|iters| device_time(gpu, iters, "spmm", spmm_plan))
        });
        group.throughput(Throughput::Bytes((LAYERS as u64) * spmm_bytes));
        group.bench_function("propagate_k3", |b| {
            b.iter_custom(|iters| device_time(gpu, iters, "propagate", prop))
        });
        group.throughput(Throughput::Bytes(topk_bytes));
        group.bench_function("top20_256_users", |b| {
            b.iter_custom(|iters| device_time(gpu, iters, "topk", top))
        });
        group.finish();
        let ms = |plan: &Plan<'_>, what| device_time(gpu, 3, what, plan).as_secs_f64() / 3.0 * 1e3;
        (
            ms(spmm_plan, "spmm"),
            ms(prop, "propagate"),
            ms(top, "topk"),
        )
    };

    let (times, tables, scratch) = if f16 {
        let ((theta, emb), tables) = held_by(gpu, || {
            (
                HalfTable::upload(gpu, n, DIM, &g.theta, "theta16").expect("theta"),
                HalfTable::zeros(gpu, n, DIM, "emb16").expect("emb"),
            )
        });
        let (scr, scratch) = held_by(gpu, || HalfPropagationScratch::new(gpu, n, DIM).unwrap());
        let y = HalfTable::zeros(gpu, n, DIM, "y16").expect("y");
        let s = spmm(gpu, &adj, &theta, &y).expect("spmm");
        let p = propagate_half(gpu, &adj, &weights, &theta, &emb, &scr).expect("propagate");
        gpu.run("propagate", |pass| p.record(pass)).expect("run");
        let t = topk(gpu, &emb, &excluded, &users, 20, &lists).expect("topk");
        (time_all(&s, &p, &t, c), tables, scratch)
    } else {
        let ((theta, emb), tables) = held_by(gpu, || {
            (
                DeviceTable::upload(gpu, n, DIM, &g.theta, "theta").expect("theta"),
                DeviceTable::zeros(gpu, n, DIM, "emb").expect("emb"),
            )
        });
        let (scr, scratch) = held_by(gpu, || PropagationScratch::new(gpu, n, DIM).unwrap());
        let y = DeviceTable::zeros(gpu, n, DIM, "y").expect("y");
        let s = spmm(gpu, &adj, &theta, &y).expect("spmm");
        let p = propagate(gpu, &adj, &weights, &theta, &emb, &scr).expect("propagate");
        gpu.run("propagate", |pass| p.record(pass)).expect("run");
        let t = topk(gpu, &emb, &excluded, &users, 20, &lists).expect("topk");
        (time_all(&s, &p, &t, c), tables, scratch)
    };
    let gbs = |bytes: u64, ms: f64| bytes as f64 / ms / 1e6;
    summary.push(format!(
        "{label:>10}: spmm {:.2} ms ({:.2} GB/s of {:.1} MB), propagate K=3 {:.2} ms, \
         top-20 of {TOPK_USERS} users {:.2} ms ({:.2} GB/s); θ+E {:.1} MiB, scratch {:.1} MiB",
        times.0,
        gbs(spmm_bytes, times.0),
        spmm_bytes as f64 / 1e6,
        times.1,
        times.2,
        gbs(topk_bytes, times.2),
        tables as f64 / (1 << 20) as f64,
        scratch as f64 / (1 << 20) as f64,
    ));
}

fn bench_f16(c: &mut Criterion) {
    let gpu = Gpu::from_env().expect("a GPU adapter (or lavapipe)");
    let packed = Gpu::new(GpuOptions {
        shader_f16: false,
        ..GpuOptions::from_env().expect("options")
    })
    .expect("a second device");
    let edges: usize = std::env::var("IFRU_BENCH_EDGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let (users, items) = (20_000u32, 12_000u32);
    let (row_ptr, cols, vals) = power_law_adjacency_valued(users, items, edges, 7, 0.001..0.05);
    let mut rng = StdRng::seed_from_u64(8);
    let theta = (0..(users + items) * DIM)
        .map(|_| rng.random_range(-0.1f32..0.1))
        .collect();
    let graph = Graph {
        users,
        items,
        row_ptr,
        cols,
        vals,
        theta,
    };
    let adapter = gpu.adapter();
    eprintln!(
        "adapter: {} ({}, {}); f16 path {:?}; graph: {} nodes, {} non-zeros, d = {DIM}",
        adapter.name,
        adapter.backend,
        adapter.device_type,
        half_path(&gpu),
        users + items,
        graph.cols.len()
    );
    let mut summary = Vec::new();
    bench_storage(c, &gpu, "f32", &graph, &mut summary);
    let native = format!("f16_{:?}", half_path(&gpu)).to_lowercase();
    bench_storage(c, &gpu, &native, &graph, &mut summary);
    if half_path(&packed) != half_path(&gpu) {
        bench_storage(c, &packed, "f16_packed", &graph, &mut summary);
    }
    for line in summary {
        eprintln!("summary: {line}");
    }
}

criterion_group! {
    name = benches;
    // No plots: the figures are the summary lines (and plotting needs system fonts).
    config = Criterion::default().without_plots();
    targets = bench_f16
}
criterion_main!(benches);
