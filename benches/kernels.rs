//! The unlearning kernels, each timed on the device and printed next to a copy kernel's
//! bandwidth on a table of the same size, on the same adapter, in the same run:
//!
//! - `propagation`: LightGCN's `E = Σ_{k≤K} a_k Â^k X`, K = 3, d = 64, on a power-law graph
//!   built as in the SpMM bench (100,000 edges × `IFRU_BENCH_SCALE`, 64k nodes);
//! - `hvp`: the unlearning operator's Gauss–Newton Hessian-vector product on every node of a
//!   LightGCN (K = 2, d = 64, BCE) over synthetic labelled data (100,000 rows × scale);
//! - `cg_iteration`: one iteration of the damped CG solve on that operator (no
//!   preconditioner), timed as the slope of whole solves of 1, 2, ... iterations;
//! - `adam_dense`: one Adam step over a 50k × 64 table (× scale);
//! - `adam_sparse`: one sparse (lazy) Adam step over 4,096 distinct rows of that table.
//!
//! Bytes counted (a lower bound of the traffic each needs): SpMM as in `benches/spmm.rs`
//! (CSR once, one gathered row per non-zero, output once); BLAS-1 updates read their inputs
//! and write their outputs once; HVP adds per row its two endpoints' E and W rows, its
//! derivative record and two coefficients, and per gathered entry the index, coefficient and
//! row; a CG iteration is the HVP plus the damping, two dot products, the x/r update and the
//! direction update; Adam reads the gradient and reads and writes θ, m and v.
//!
//! `cargo bench --bench kernels` (about 2 minutes on lavapipe); larger:
//! `IFRU_BENCH_SCALE=10 cargo bench --bench kernels`.

mod common;

use std::time::Instant;

use common::{
    CopyReference, axpby_bytes, device_time, power_law_adjacency, propagation_bytes, quick,
    spmm_bytes, summary,
};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use ifru::data::synthetic::synthetic_dataset;
use ifru::gpu::{Gpu, Record};
use ifru::graph::{BipartiteGraph, normalize};
use ifru::kernels::DeviceTable;
use ifru::kernels::adam::{AdamConfig, AdamState, adam_rows_step, adam_step};
use ifru::kernels::pair_loss::RECORD;
use ifru::kernels::propagate::{PropagationScratch, propagate, uniform_weights};
use ifru::kernels::spmm::DeviceCsr;
use ifru::model::adjacency_for;
use ifru::model::{DeviceModel, LossKind, ModelKind, ModelSpec};
use ifru::solve::{CgOptions, CheckSchedule, LinearOperator, Preconditioner, solve};
use ifru::train::init_params;
use ifru::unlearn::influence::hvp::{HessianInputs, HessianKind, HvpOperator};

const DIM: u32 = 64;

fn bench_propagation(c: &mut Criterion, gpu: &Gpu) {
    let layers = 3;
    let (users, items) = (40_000u32, 24_000u32);
    let n = users + items;
    let (row_ptr, cols, vals) = power_law_adjacency(users, items, common::scaled(100_000), 11);
    let nnz = cols.len() as u64;
    let adj = DeviceCsr::upload(gpu, n, &row_ptr, &cols, &vals).expect("upload graph");
    let x = DeviceTable::upload(gpu, n, DIM, &vec![0.5f32; (n * DIM) as usize], "x").expect("x");
    let out = DeviceTable::zeros(gpu, n, DIM, "out").expect("out");
    let scratch = PropagationScratch::new(gpu, n, DIM).expect("scratch");
    let weights = uniform_weights(layers);
    let plan = propagate(gpu, &adj, &weights, &x, &out, &scratch).expect("plan");
    let copy = CopyReference::new(gpu, &x, &out);
    let bytes = propagation_bytes(n as u64, nnz, DIM, layers);
    eprintln!("propagation: {n} nodes, {nnz} non-zeros, K = {layers}, d = {DIM}");

    let mut group = c.benchmark_group("propagation");
    quick(&mut group, 8);
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("lightgcn_k3_d64", |b| {
        b.iter_custom(|iters| device_time(gpu, iters, "propagation", &plan))
    });
    group.finish();
    summary(gpu, "propagation", bytes, &plan, &copy, 3);
}

/// Bytes one Gauss–Newton HVP on `op` moves (see the header): the kept vector placed into
/// the local table, two propagations over the local graph of `nnz` entries, the row
/// coefficients, the gather, λv, and the kept rows selected out.
fn hvp_bytes(op: &HvpOperator, nnz: u64, layers: u32) -> u64 {
    let (n, kept, rows) = (
        op.local_nodes() as u64,
        op.kept().len() as u64,
        op.local_rows() as u64,
    );
    let row = DIM as u64 * 4;
    let place_select = 2 * spmm_bytes(n, kept, DIM);
    let propagations = 2 * propagation_bytes(n, nnz, DIM, layers);
    let coefficients = rows * (8 + 4 * row + RECORD as u64 * 4 + 8);
    let gather = (n + 1) * 4 + 2 * rows * (8 + 4 + row) + n * row;
    place_select + propagations + coefficients + gather + axpby_bytes(n * DIM as u64)
}

fn bench_hvp_and_cg(c: &mut Criterion, gpu: &Gpu) {
    let spec = ModelSpec::new(ModelKind::Lightgcn, 2, DIM, LossKind::Bce).expect("spec");
    let data = synthetic_dataset(common::scaled(100_000), 5, 0.01).expect("synthetic data");
    let rows = &data.train;
    let graph = BipartiteGraph::from_interactions(data.n_users, data.n_items, rows).expect("graph");
    let adjacency = normalize(&graph);
    let arrays = adjacency_for(&spec, data.n_users, data.n_items, rows)
        .expect("adjacency")
        .expect("LightGCN has a graph");
    let params = init_params(data.n_users, data.n_items, DIM, 0.1, 5);
    let model = DeviceModel::upload(gpu, spec, &params, Some(&arrays)).expect("model");
    let forward = model.forward(gpu).expect("forward");
    gpu.run("forward", |pass| forward.record(pass))
        .expect("forward run");
    let inputs = HessianInputs {
        spec,
        n_users: data.n_users,
        n_items: data.n_items,
        emb: model.embeddings().view(),
        adjacency: Some(&adjacency),
        rows,
        negatives: &[],
        lambda: 1e-4 * rows.len() as f32,
    };
    let n = data.n_users + data.n_items;
    let kept: Vec<u32> = (0..n).collect();
    let op = HvpOperator::new(gpu, &inputs, HessianKind::GaussNewton, &kept).expect("operator");
    let nnz = arrays.col_idx.len() as u64;
    let len = op.len();
    let v = gpu
        .upload(&vec![0.01f32; len], "v")
        .expect("direction upload");
    let hv = gpu.zeros::<f32>(len, "Hv").expect("Hv");
    let plan = op.apply(gpu, &v, &hv).expect("hvp plan");
    let table = DeviceTable::zeros(gpu, n, DIM, "copy source").expect("table");
    let scratch = DeviceTable::zeros(gpu, n, DIM, "copy target").expect("table");
    let copy = CopyReference::new(gpu, &table, &scratch);
    let bytes = hvp_bytes(&op, nnz, spec.layers);
    eprintln!(
        "hvp: {} nodes, {} rows, {nnz} graph non-zeros, K = {}, d = {DIM}, Gauss-Newton",
        op.local_nodes(),
        op.local_rows(),
        spec.layers
    );

    let mut group = c.benchmark_group("hvp");
    quick(&mut group, 8);
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("gauss_newton_k2_d64", |b| {
        b.iter_custom(|iters| device_time(gpu, iters, "hvp", &plan))
    });
    group.finish();
    summary(gpu, "hvp", bytes, &plan, &copy, 3);

    // One CG iteration: the slope of whole solves over their iteration count (criterion's
    // linear sampling fits it, so the solve's fixed start-up cost drops out). rtol = 0 runs
    // every requested iteration; one host read per solve.
    let b_vec = gpu.upload(&vec![0.01f32; len], "b").expect("b");
    let x = gpu.zeros::<f32>(len, "x").expect("x");
    let solve_seconds = |iters: u64| {
        let opts = CgOptions {
            rtol: 0.0,
            max_iter: iters as usize,
            check_every: iters as usize,
            // One batch, one read: the slope is the iteration alone.
            schedule: CheckSchedule::Fixed,
            damping: 1.0,
        };
        let start = Instant::now();
        solve(gpu, &op, &b_vec, &x, &Preconditioner::None, &opts).expect("solve");
        start.elapsed()
    };
    let n_values = len as u64;
    let iteration_bytes = bytes
        + axpby_bytes(n_values) // damping
        + 2 * (2 * n_values * 4) // pᵀq and r·r
        + 6 * n_values * 4 // x += αp, r -= αq
        + axpby_bytes(n_values); // p = r + βp
    let mut group = c.benchmark_group("cg");
    quick(&mut group, 10);
    group.sampling_mode(SamplingMode::Linear);
    group.throughput(Throughput::Bytes(iteration_bytes));
    group.bench_function("iteration_k2_d64", |b| b.iter_custom(solve_seconds));
    group.finish();
    // Summary: (T(1 + m) − T(1)) / m iterations, wall clock (no read-back inside a solve).
    let m = 10;
    solve_seconds(1);
    let per_iteration = (solve_seconds(1 + m).as_secs_f64() - solve_seconds(1).as_secs_f64())
        .max(f64::MIN_POSITIVE)
        / m as f64;
    common::summary_of(
        gpu,
        "cg_iteration",
        iteration_bytes,
        per_iteration,
        &copy,
        3,
    );
}

fn bench_adam(c: &mut Criterion, gpu: &Gpu) {
    let rows = common::scaled(50_000) as u32;
    let len = rows as usize * DIM as usize;
    let config = AdamConfig::default();
    let param = DeviceTable::upload(gpu, rows, DIM, &vec![0.1f32; len], "theta").expect("theta");
    let grad = DeviceTable::upload(gpu, rows, DIM, &vec![0.01f32; len], "grad").expect("grad");
    let state = AdamState::new(gpu, len).expect("state");
    let dense = adam_step(gpu, config, grad.values(), param.values(), &state).expect("plan");
    let copy = CopyReference::new(gpu, &grad, &param);
    // Gradient read; θ, m, v read and written.
    let dense_bytes = 7 * len as u64 * 4;

    // A batch's touched rows: 4,096 distinct rows spread over the table.
    let touched: Vec<u32> = (0..4096u32)
        .map(|k| (k as u64 * rows as u64 / 4096) as u32)
        .collect();
    let touched_rows = touched.len() as u32;
    let row_ids = gpu.upload(&touched, "touched rows").expect("rows");
    let row_grad = DeviceTable::upload(
        gpu,
        touched_rows,
        DIM,
        &vec![0.01f32; (touched_rows * DIM) as usize],
        "row grad",
    )
    .expect("row grad");
    let row_scratch = DeviceTable::zeros(gpu, touched_rows, DIM, "row scratch").expect("scratch");
    let sparse = adam_rows_step(gpu, config, 1.0, 1e-4, &row_ids, &row_grad, &param, &state)
        .expect("sparse plan");
    let row_copy = CopyReference::new(gpu, &row_grad, &row_scratch);
    let sparse_bytes = touched_rows as u64 * (4 + 7 * DIM as u64 * 4);
    eprintln!("adam: {rows} x {DIM} table; sparse step over {touched_rows} rows");

    let mut group = c.benchmark_group("adam");
    quick(&mut group, 5);
    group.throughput(Throughput::Bytes(dense_bytes));
    group.bench_function("dense_step", |b| {
        b.iter_custom(|iters| device_time(gpu, iters, "adam", &dense))
    });
    group.throughput(Throughput::Bytes(sparse_bytes));
    group.bench_function("sparse_step_4096_rows", |b| {
        b.iter_custom(|iters| device_time(gpu, iters, "sparse adam", &sparse))
    });
    group.finish();
    summary(gpu, "adam_dense", dense_bytes, &dense, &copy, 5);
    summary(gpu, "adam_sparse", sparse_bytes, &sparse, &row_copy, 5);
}

fn kernels(c: &mut Criterion) {
    let gpu = common::open_gpu();
    bench_propagation(c, &gpu);
    bench_hvp_and_cg(c, &gpu);
    bench_adam(c, &gpu);
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = kernels
}
criterion_main!(benches);
