//! Helpers shared by the benches: the size knob, device timing, the bytes a kernel moves,
//! and the one-line "kernel vs copy" summary every kernel bench prints.
//!
//! Each bench file includes this module with `mod common;` and uses only part of it.
#![allow(dead_code)] // each bench binary uses a different subset

use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, SamplingMode, measurement::WallTime};
use ifru::gpu::{Gpu, Record};
use ifru::kernels::blas::copy;
use ifru::kernels::{DeviceTable, Plan};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `IFRU_BENCH_SCALE` (default 1): multiplies every bench's default problem size. The
/// defaults keep the whole `cargo bench` within about 20 minutes on lavapipe (2 cores).
pub fn scale() -> f64 {
    std::env::var("IFRU_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(1.0)
}

/// `base` multiplied by [`scale`], at least 1.
pub fn scaled(base: usize) -> usize {
    ((base as f64 * scale()).round() as usize).max(1)
}

/// Opens the adapter the library would pick and says which one it is.
pub fn open_gpu() -> Gpu {
    let gpu = Gpu::from_env().expect("a GPU adapter (or lavapipe)");
    let a = gpu.adapter();
    eprintln!(
        "adapter: {} ({}, {}); IFRU_BENCH_SCALE = {}",
        a.name,
        a.backend,
        a.device_type,
        scale()
    );
    gpu
}

/// Criterion without its plots: its plotting backend needs system fonts, which a bare Debian
/// machine lacks (it panics with `FontUnavailable`); the figures are in the text output and
/// in `target/criterion/*/new/estimates.json`.
pub fn criterion() -> Criterion {
    Criterion::default().without_plots()
}

/// Criterion settings for kernels that take tens to hundreds of milliseconds on a software
/// device: ten samples of equal iteration counts (flat sampling, so a slow kernel runs ~10
/// times, not 55), short windows (the spread between samples is still reported).
pub fn quick(group: &mut BenchmarkGroup<'_, WallTime>, measurement_secs: u64) {
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(measurement_secs));
}

/// Device time of `iters` runs of `plan`, one compute pass each (timestamp queries where
/// the device grants them, else the wall clock around submit and wait).
pub fn device_time(gpu: &Gpu, iters: u64, what: &str, plan: &dyn Record) -> Duration {
    let mut total = 0.0;
    for _ in 0..iters {
        total += gpu
            .time(what, |pass| plan.record(pass))
            .expect("timed run")
            .seconds;
    }
    Duration::from_secs_f64(total)
}

/// Mean device seconds of one run of `plan` over `reps` runs (after one warm-up run).
pub fn mean_seconds(gpu: &Gpu, what: &str, plan: &dyn Record, reps: u64) -> f64 {
    device_time(gpu, 1, what, plan);
    device_time(gpu, reps, what, plan).as_secs_f64() / reps as f64
}

/// A table-sized copy: the reference bandwidth of this adapter for a kernel whose main
/// table is `table` (read once, written once into `scratch`).
pub struct CopyReference<'a> {
    plan: Plan<'a>,
    bytes: u64,
}

impl<'a> CopyReference<'a> {
    pub fn new(gpu: &Gpu, table: &'a DeviceTable, scratch: &'a DeviceTable) -> Self {
        CopyReference {
            plan: copy(gpu, table.values(), scratch.values()).expect("copy plan"),
            bytes: 2 * table.values().len() as u64 * 4,
        }
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn plan(&self) -> &Plan<'a> {
        &self.plan
    }
}

/// Prints `name`'s achieved bandwidth next to the copy kernel's, both measured now on the
/// same adapter (mean of `reps` device-timed runs each), and their ratio.
pub fn summary(
    gpu: &Gpu,
    name: &str,
    bytes: u64,
    plan: &dyn Record,
    copy: &CopyReference<'_>,
    reps: u64,
) {
    let seconds = mean_seconds(gpu, name, plan, reps);
    summary_of(gpu, name, bytes, seconds, copy, reps);
}

/// [`summary`] for a kernel timed by the caller (`seconds` per run).
pub fn summary_of(
    gpu: &Gpu,
    name: &str,
    bytes: u64,
    seconds: f64,
    copy: &CopyReference<'_>,
    reps: u64,
) {
    let c = mean_seconds(gpu, "copy", copy.plan(), reps);
    let gbs = |b: u64, s: f64| b as f64 / s / 1e9;
    eprintln!(
        "summary: {name} {:.3} ms, {:.2} GB/s; copy {:.3} ms, {:.2} GB/s; {name}/copy bandwidth {:.2}",
        seconds * 1e3,
        gbs(bytes, seconds),
        c * 1e3,
        gbs(copy.bytes(), c),
        gbs(bytes, seconds) / gbs(copy.bytes(), c)
    );
}

/// Bytes one SpMM over an `n_rows`-row CSR with `nnz` entries and `dim`-wide rows moves:
/// the CSR arrays once, one gathered input row per entry, the output once.
pub fn spmm_bytes(n_rows: u64, nnz: u64, dim: u32) -> u64 {
    let row = dim as u64 * 4;
    (n_rows + 1) * 4 + nnz * 8 + nnz * row + n_rows * row
}

/// Bytes of `y = a·x + b·y` over `len` values: x and y read, y written.
pub fn axpby_bytes(len: u64) -> u64 {
    3 * len * 4
}

/// Bytes of LightGCN propagation with `layers` SpMMs: each layer's SpMM and its
/// accumulation into the output, plus the first term's write.
pub fn propagation_bytes(n_rows: u64, nnz: u64, dim: u32, layers: u32) -> u64 {
    let len = n_rows * dim as u64;
    2 * len * 4 + layers as u64 * (spmm_bytes(n_rows, nnz, dim) + axpby_bytes(len))
}

/// A symmetric bipartite adjacency whose degrees follow a power law: endpoints are drawn
/// as ⌊n·r^3⌋ for uniform r, so low ids collect most edges.
pub fn power_law_adjacency(
    users: u32,
    items: u32,
    edges: usize,
    seed: u64,
) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
    power_law_adjacency_valued(users, items, edges, seed, 0.01..1.0)
}

/// [`power_law_adjacency`] with its values drawn uniformly from `values` (small values, as a
/// normalised adjacency has, keep propagated embeddings in range).
pub fn power_law_adjacency_valued(
    users: u32,
    items: u32,
    edges: usize,
    seed: u64,
    values: std::ops::Range<f32>,
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
        .map(|_| rng.random_range(values.clone()))
        .collect();
    (row_ptr, cols, vals)
}
