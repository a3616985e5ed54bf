//! The GPU conjugate-gradient solve against the f64 reference CG and direct solves, its
//! kernels against their references, and each defined outcome provoked on purpose:
//! convergence, `max_iter`, non-positive curvature, non-finite values (before and after an
//! update), a zero or non-finite right-hand side, and bad arguments.
//!
//! Test operators are dense matrices applied by the block mat-vec kernel (one n × n block,
//! or one d × d block per node for block-diagonal systems), itself checked against its
//! reference here. Matrices are rounded to f32 before the references see them, so GPU and
//! CPU solve the same system.
//!
//! Tolerances. Kernels: `ifru::reference::tolerance` (the a-priori f32 summation bound).
//! Solves: a CG solution with relative residual ρ has relative error at most κ·ρ (κ the
//! condition number of H + δI, bounded here from the construction); the f32 recursive
//! residual drifts from the true one by about u·√n·κ·iterations ≪ rtol for these sizes, so
//! comparisons use `κ · 2 · rtol`, with the 2 covering that drift.

use crate::common;

use common::{assert_matches, exact, gpu, open, random_vec, rng};
use ifru::gpu::{Gpu, GpuBuffer, GpuOptions, GpuResult, Record};
use ifru::kernels::Plan;
use ifru::kernels::block::{DeviceBlocks, block_matvec};
use ifru::kernels::cg::{self as ck, STATE_LEN, Status, StepSlots, slot};
use ifru::reference::cg::{self as rcg, RefOutcome, RefPreconditioner};
use ifru::reference::kernels::Reference;
use ifru::solve::precond::block_diagonal;
use ifru::solve::recycle::KEEP;
use ifru::solve::{
    CgOptions, CgOutcome, CgReport, CheckSchedule, LinearOperator, Preconditioner, Start, solve,
    solve_from, solve_recording,
};
use rand::Rng;
use rand::rngs::StdRng;

// ---------------------------------------------------------------- helpers

/// A dense matrix (or block-diagonal one) applied on the device by `block_matvec`.
struct Dense {
    blocks: DeviceBlocks,
}

impl Dense {
    /// One `n × n` block.
    fn new(gpu: &Gpu, a: &[f64]) -> Self {
        let n = (a.len() as f64).sqrt() as usize;
        Self::blocks(gpu, a, n)
    }

    /// Blocks of `dim × dim` on the diagonal.
    fn blocks(gpu: &Gpu, blocks: &[f64], dim: usize) -> Self {
        let data: Vec<f32> = blocks.iter().map(|&v| v as f32).collect();
        Dense {
            blocks: DeviceBlocks::upload(gpu, dim, &data, "test matrix").unwrap(),
        }
    }
}

impl LinearOperator for Dense {
    fn len(&self) -> usize {
        self.blocks.vector_len()
    }

    fn apply<'a>(
        &'a self,
        gpu: &Gpu,
        x: &'a GpuBuffer<f32>,
        y: &'a GpuBuffer<f32>,
    ) -> GpuResult<Plan<'a>> {
        block_matvec(gpu, &self.blocks, x, y)
    }
}

/// Values rounded through f32 (what the device holds).
fn rounded(v: &[f64]) -> Vec<f64> {
    v.iter().map(|&x| x as f32 as f64).collect()
}

fn upload(gpu: &Gpu, v: &[f64]) -> GpuBuffer<f32> {
    let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    gpu.upload(&v, "test vector").unwrap()
}

/// `GᵀG / n` for a random `n × n` G: positive semi-definite (a Gauss–Newton-like matrix)
/// with eigenvalues in [0, ~4/3], rounded to f32.
fn gram(rng: &mut StdRng, n: usize) -> Vec<f64> {
    let g: Vec<f64> = (0..n * n).map(|_| rng.random_range(-1.0..1.0)).collect();
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..n).map(|k| g[k * n + i] * g[k * n + j]).sum::<f64>() / n as f64;
            a[i * n + j] = s;
            a[j * n + i] = s;
        }
    }
    rounded(&a)
}

/// Largest eigenvalue of a symmetric positive semi-definite matrix (power iteration, an
/// upper estimate after a 5% margin).
fn lambda_max(a: &[f64], n: usize) -> f64 {
    let mut v = vec![1.0; n];
    let mut lam = 0.0;
    for _ in 0..200 {
        let w = rcg::matvec(a, &v);
        let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        lam = norm / v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v = w.iter().map(|x| x / norm).collect();
    }
    lam * 1.05
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn rel_err(got: &[f32], want: &[f64]) -> f64 {
    let diff: Vec<f64> = got.iter().zip(want).map(|(&g, &w)| g as f64 - w).collect();
    norm(&diff) / norm(want)
}

/// `‖b − (A + δI) x‖ / ‖b‖` in f64.
fn true_residual(a: &[f64], damping: f64, x: &[f32], b: &[f64]) -> f64 {
    let x: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let ax = rcg::matvec(a, &x);
    let r: Vec<f64> = (0..b.len())
        .map(|i| b[i] - ax[i] - damping * x[i])
        .collect();
    norm(&r) / norm(b)
}

fn opts(rtol: f32, max_iter: usize, check_every: usize, damping: f32) -> CgOptions {
    CgOptions {
        rtol,
        max_iter,
        check_every,
        // Most tests count reads, so they fix the batch size; the predicted schedule has
        // its own test.
        schedule: CheckSchedule::Fixed,
        damping,
    }
}

struct Solved {
    x: Vec<f32>,
    report: CgReport,
}

fn run_solve(
    gpu: &Gpu,
    op: &Dense,
    b: &[f64],
    precond: &Preconditioner<'_>,
    o: &CgOptions,
) -> Solved {
    let bd = upload(gpu, b);
    // x starts as garbage: the solver must overwrite it.
    let x = gpu.upload(&vec![f32::NAN; b.len()], "x").unwrap();
    let report = solve(gpu, op, &bd, &x, precond, o).unwrap();
    let x = gpu.download(&x).unwrap();
    assert!(
        x.iter().all(|v| v.is_finite()),
        "x must stay finite: {report:?}"
    );
    assert_eq!(report.converged, report.outcome == CgOutcome::Converged);
    Solved { x, report }
}

// ---------------------------------------------------------------- kernels

#[test]
fn block_matvec_matches_reference() {
    let gpu = gpu();
    let mut rng = rng(100);
    for dim in [1usize, 3, 4, 16, 48, 64, 100, 256] {
        for n_blocks in [1usize, 5, 37] {
            if dim == 256 && n_blocks == 37 {
                continue;
            }
            let blocks = random_vec(&mut rng, n_blocks * dim * dim);
            let xh = random_vec(&mut rng, n_blocks * dim);
            let b = DeviceBlocks::upload(gpu, dim, &blocks, "blocks").unwrap();
            let x = gpu.upload(&xh, "x").unwrap();
            let y = gpu.zeros::<f32>(xh.len(), "y").unwrap();
            let plan = block_matvec(gpu, &b, &x, &y).unwrap();
            gpu.run("test", |pass| plan.record(pass)).unwrap();
            let want = rcg::block_matvec(&blocks, dim, &xh);
            assert_matches(
                &format!("block_matvec d={dim} x{n_blocks}"),
                &gpu.download(&y).unwrap(),
                &want,
            );
        }
    }
}

#[test]
fn block_matvec_chunks_and_spreads_the_grid_without_changing_a_bit() {
    let mut rng = rng(101);
    let (dim, n_blocks) = (16usize, 700usize);
    let blocks = random_vec(&mut rng, n_blocks * dim * dim);
    let xh = random_vec(&mut rng, n_blocks * dim);
    let result = |gpu: &Gpu| {
        let b = DeviceBlocks::upload(gpu, dim, &blocks, "blocks").unwrap();
        let x = gpu.upload(&xh, "x").unwrap();
        let y = gpu.zeros::<f32>(xh.len(), "y").unwrap();
        let plan = block_matvec(gpu, &b, &x, &y).unwrap();
        gpu.run("test", |pass| plan.record(pass)).unwrap();
        (plan.launch_count(), gpu.download(&y).unwrap())
    };
    let (one, plain) = result(gpu());
    assert_eq!(one, 1);
    // 64 KiB bindings: 64 blocks of 1 KiB per launch; 7 workgroups per grid dimension.
    let small = open(GpuOptions {
        binding_cap: Some(64 * 1024),
        max_workgroups_per_dim: Some(7),
        ..GpuOptions::default()
    });
    let (many, chunked) = result(&small);
    assert_eq!(many, n_blocks.div_ceil(64));
    assert!(
        plain
            .iter()
            .zip(&chunked)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
    assert_matches("chunked", &chunked, &rcg::block_matvec(&blocks, dim, &xh));
}

#[test]
fn block_matvec_rejects_bad_shapes() {
    let gpu = gpu();
    assert!(DeviceBlocks::upload(gpu, 3, &[0.0; 10], "b").is_err());
    assert!(DeviceBlocks::upload(gpu, 0, &[], "b").is_err());
    let b = DeviceBlocks::upload(gpu, 2, &[1.0; 8], "b").unwrap();
    let x = gpu.zeros::<f32>(4, "x").unwrap();
    let short = gpu.zeros::<f32>(3, "y").unwrap();
    assert!(block_matvec(gpu, &b, &x, &short).is_err());
}

/// Runs one state kernel on `state` and returns the state after it.
fn run_state(gpu: &Gpu, state: &[f32], plan: impl Fn(&GpuBuffer<f32>) -> Plan<'_>) -> Vec<f32> {
    let buf = gpu.upload(state, "state").unwrap();
    let p = plan(&buf);
    gpu.run("state", |pass| p.record(pass)).unwrap();
    gpu.download(&buf).unwrap()
}

fn assert_state(what: &str, got: &[f32], want: &[f64]) {
    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
        // Status, counters and copied values are exact; α and β come from one WGSL division
        // (2.5 ULP at most), so 1e-6 relative.
        let ok = if w.is_nan() {
            g.is_nan()
        } else if w.is_infinite() {
            g as f64 == w
        } else {
            (g as f64 - w).abs() <= 1e-6 * w.abs()
        };
        assert!(ok, "{what}: slot {k} is {g}, reference {w}");
    }
}

fn state_with(values: &[(u32, f32)]) -> Vec<f32> {
    let mut s = vec![0.0f32; STATE_LEN];
    for &(k, v) in values {
        s[k as usize] = v;
    }
    s
}

#[test]
fn state_kernels_match_reference() {
    let gpu = gpu();
    let running = Status::Running.code();
    let slots = StepSlots::of_iteration(1, true);
    let (rz_old, rz_new, rr) = (slots.rz_old, slots.rz_new, slots.rr);
    let rtol = 1e-3f32;
    let cases: Vec<(&str, Vec<f32>)> = vec![
        (
            "normal",
            state_with(&[
                (slot::PAP, 2.5),
                (rz_old, 1.75),
                (rz_new, 0.5),
                (rr, 0.25),
                (slot::BB, 9.0),
                (slot::ITER, 4.0),
            ]),
        ),
        (
            "zero curvature",
            state_with(&[
                (slot::PAP, 0.0),
                (rz_old, 1.0),
                (slot::BB, 1.0),
                (slot::ITER, 2.0),
            ]),
        ),
        (
            "negative curvature",
            state_with(&[
                (slot::PAP, -0.5),
                (rz_old, 1.0),
                (slot::BB, 1.0),
                (slot::ITER, 3.0),
            ]),
        ),
        (
            "NaN curvature",
            state_with(&[(slot::PAP, f32::NAN), (rz_old, 1.0), (slot::BB, 1.0)]),
        ),
        (
            "infinite curvature",
            state_with(&[(slot::PAP, f32::INFINITY), (rz_old, 1.0), (slot::BB, 1.0)]),
        ),
        (
            "alpha overflows",
            state_with(&[(slot::PAP, 1e-30), (rz_old, 1e30), (slot::BB, 1.0)]),
        ),
        (
            "converged",
            state_with(&[
                (slot::PAP, 1.0),
                (rz_old, 1.0),
                (rz_new, 1e-8),
                (rr, 1e-8),
                (slot::BB, 1.0),
            ]),
        ),
        (
            "NaN residual",
            state_with(&[
                (slot::PAP, 1.0),
                (rz_old, 1.0),
                (rz_new, 1.0),
                (rr, f32::NAN),
                (slot::BB, 1.0),
                (slot::ITER, 6.0),
            ]),
        ),
        (
            "infinite r·z",
            state_with(&[
                (slot::PAP, 1.0),
                (rz_old, 1.0),
                (rz_new, f32::INFINITY),
                (rr, 1.0),
                (slot::BB, 1.0),
            ]),
        ),
        (
            "breakdown",
            state_with(&[
                (slot::PAP, 1.0),
                (rz_old, 1.0),
                (rz_new, -1.0),
                (rr, 1.0),
                (slot::BB, 1.0),
            ]),
        ),
        (
            "already stopped",
            state_with(&[
                (slot::STATUS, Status::Converged.code()),
                (slot::PAP, 1.0),
                (rz_old, 1.0),
                (rz_new, 1.0),
                (rr, 1.0),
                (slot::ALPHA, 5.0),
                (slot::BETA, 5.0),
                (slot::ITER, 7.0),
            ]),
        ),
    ];
    for (name, state) in &cases {
        let f64_state: Vec<f64> = state.iter().map(|&v| v as f64).collect();
        // alpha, then after, as an iteration runs them.
        let mut want = f64_state.clone();
        rcg::state_alpha(&mut want, rz_old as usize);
        let got = run_state(gpu, state, |s| ck::alpha(gpu, s, slots).unwrap());
        assert_state(&format!("alpha: {name}"), &got, &want);
        rcg::state_after(
            &mut want,
            rz_old as usize,
            rz_new as usize,
            rr as usize,
            rtol as f64,
        );
        let got = run_state(gpu, &got, |s| ck::after(gpu, s, slots, rtol).unwrap());
        assert_state(&format!("after: {name}"), &got, &want);
    }
    // The named cases end where they should.
    let status_after = |i: usize| {
        let s = run_state(gpu, &cases[i].1, |s| ck::alpha(gpu, s, slots).unwrap());
        let s = run_state(gpu, &s, |s| ck::after(gpu, s, slots, rtol).unwrap());
        (
            Status::from_code(s[slot::STATUS as usize]).unwrap(),
            s[slot::STOP as usize],
        )
    };
    assert_eq!(status_after(0).0, Status::Running);
    assert_eq!(status_after(1), (Status::NonPositive, 2.0));
    assert_eq!(status_after(2), (Status::NonPositive, 3.0));
    assert_eq!(status_after(3).0, Status::NonFinite);
    assert_eq!(status_after(4).0, Status::NonFinite);
    assert_eq!(status_after(5).0, Status::NonFinite);
    assert_eq!(status_after(6).0, Status::Converged);
    assert_eq!(status_after(7), (Status::NonFiniteAfterUpdate, 6.0));
    assert_eq!(status_after(8).0, Status::NonFiniteAfterUpdate);
    assert_eq!(status_after(9).0, Status::Breakdown);
    assert_eq!(status_after(10).0, Status::Converged);
    assert_eq!(running, 0.0);

    // init: b = 0 converges at once, a non-finite b or r·z stops, rtol ≥ 1 converges. From
    // a guess (‖r₀‖² in SPARE, not ‖b‖²): a residual already within rtol converges, a
    // non-finite one stops.
    let rz0 = slot::RZ[0];
    let cold = None;
    for (name, bb, rr, rz, rtol, status) in [
        ("b = 0", 0.0f32, cold, 0.0f32, 1e-4f32, Status::Converged),
        ("b NaN", f32::NAN, cold, 1.0, 1e-4, Status::NonFinite),
        ("r·z inf", 1.0, cold, f32::INFINITY, 1e-4, Status::NonFinite),
        ("normal", 4.0, cold, 2.0, 1e-4, Status::Running),
        ("rtol 1", 4.0, cold, 2.0, 1.0, Status::Converged),
        ("breakdown", 4.0, cold, -2.0, 1e-4, Status::Breakdown),
        ("guess, running", 4.0, Some(1.0), 0.5, 1e-2, Status::Running),
        (
            "guess within rtol",
            4.0,
            Some(1e-6),
            1e-6,
            1e-2,
            Status::Converged,
        ),
        (
            "guess NaN",
            4.0,
            Some(f32::NAN),
            1.0,
            1e-2,
            Status::NonFinite,
        ),
    ] {
        let rr_slot = if rr.is_some() { slot::SPARE } else { slot::BB };
        let state = state_with(&[
            (slot::BB, bb),
            (slot::SPARE, rr.unwrap_or(0.0)),
            (rz0, rz),
            (slot::ITER, 9.0),
            (slot::STATUS, 2.0),
        ]);
        let mut want: Vec<f64> = state.iter().map(|&v| v as f64).collect();
        rcg::state_init(&mut want, rz0 as usize, rr_slot as usize, rtol as f64);
        let got = run_state(gpu, &state, |s| {
            ck::init(gpu, s, rz0, rr_slot, rtol).unwrap()
        });
        assert_state(&format!("init: {name}"), &got, &want);
        assert_eq!(
            Status::from_code(got[slot::STATUS as usize]),
            Some(status),
            "{name}"
        );
    }
}

#[test]
fn update_and_jacobi_kernels_match_reference() {
    let gpu = gpu();
    let mut rng = rng(102);
    let n = 1234; // not a multiple of the workgroup
    let p = random_vec(&mut rng, n);
    let q = random_vec(&mut rng, n);
    let x = random_vec(&mut rng, n);
    let r = random_vec(&mut rng, n);
    for status in [Status::Running, Status::NonPositive] {
        let state = state_with(&[(slot::STATUS, status.code()), (slot::ALPHA, 0.37)]);
        let (sd, pd, qd) = (
            gpu.upload(&state, "s").unwrap(),
            gpu.upload(&p, "p").unwrap(),
            gpu.upload(&q, "q").unwrap(),
        );
        let (xd, rd) = (gpu.upload(&x, "x").unwrap(), gpu.upload(&r, "r").unwrap());
        let plan = ck::update(gpu, &sd, &pd, &qd, &xd, &rd).unwrap();
        gpu.run("update", |pass| plan.record(pass)).unwrap();
        let sf: Vec<f64> = state.iter().map(|&v| v as f64).collect();
        let (wx, wr) = rcg::update(&sf, &p, &q, &x, &r);
        assert_matches("update x", &gpu.download(&xd).unwrap(), &wx);
        assert_matches("update r", &gpu.download(&rd).unwrap(), &wr);
    }
    // A stopped solve leaves x alone even when p is NaN (0·NaN would be NaN).
    let state = state_with(&[(slot::STATUS, Status::NonFinite.code())]);
    let sd = gpu.upload(&state, "s").unwrap();
    let nan = gpu.upload(&[f32::NAN; 3], "p").unwrap();
    let nan_q = gpu.upload(&[f32::NAN; 3], "q").unwrap();
    let xd = gpu.upload(&[1.0f32, 2.0, 3.0], "x").unwrap();
    let rd = gpu.upload(&[4.0f32, 5.0, 6.0], "r").unwrap();
    let plan = ck::update(gpu, &sd, &nan, &nan_q, &xd, &rd).unwrap();
    gpu.run("update", |pass| plan.record(pass)).unwrap();
    assert_eq!(gpu.download(&xd).unwrap(), vec![1.0, 2.0, 3.0]);
    assert_eq!(gpu.download(&rd).unwrap(), vec![4.0, 5.0, 6.0]);

    // Jacobi: positive, zero, negative, NaN, infinite and huge diagonals.
    let mut diag = random_vec(&mut rng, n);
    diag[0] = -0.25;
    diag[1] = f32::NAN;
    diag[2] = f32::INFINITY;
    diag[3] = -0.25 - 1e-9; // m = 0 after rounding to f32
    diag[4] = 1e30;
    let delta = 0.25f32;
    let dd = gpu.upload(&diag, "diag").unwrap();
    let inv = gpu.zeros::<f32>(n, "inv").unwrap();
    let flags = gpu.zeros::<f32>(n, "flags").unwrap();
    let z = gpu.zeros::<f32>(n, "z").unwrap();
    let rd = gpu.upload(&r, "r").unwrap();
    let plan = ck::jacobi_prepare(gpu, &dd, delta, &inv, &flags)
        .unwrap()
        .then(ck::jacobi_apply(gpu, &inv, &rd, &z).unwrap());
    gpu.run("jacobi", |pass| plan.record(pass)).unwrap();
    let (want_inv, want_flags) = rcg::jacobi_prepare(&diag, delta);
    assert_eq!(gpu.download(&flags).unwrap(), want_flags);
    assert!(want_flags[..4].iter().all(|&f| f == 1.0) && want_flags[4] == 0.0);
    // 1/m is a WGSL division (2.5 ULP): the bound of 5 rounded terms covers it.
    let bound = |values: Vec<f64>| Reference {
        abs_sums: values.iter().map(|v| v.abs()).collect(),
        terms: vec![5; values.len()],
        values,
    };
    let got_inv = gpu.download(&inv).unwrap();
    assert_matches("jacobi inverse", &got_inv, &bound(want_inv));
    let want_z: Vec<f64> = got_inv
        .iter()
        .zip(&r)
        .map(|(&i, &v)| i as f64 * v as f64)
        .collect();
    assert_matches("jacobi apply", &gpu.download(&z).unwrap(), &exact(want_z));
}

// ---------------------------------------------------------------- solves

#[test]
fn reference_cg_agrees_with_a_direct_solve() {
    let mut rng = rng(1);
    let n = 40;
    let a = gram(&mut rng, n);
    let b: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    let direct = rcg::direct_solve(&a, &b, 0.1).unwrap();
    let diag: Vec<f64> = (0..n).map(|i| a[i * n + i]).collect();
    let blocks: Vec<f64> = (0..n / 8)
        .flat_map(|u| {
            let a = &a;
            (0..8).flat_map(move |i| (0..8).map(move |j| a[(u * 8 + i) * n + u * 8 + j]))
        })
        .collect();
    for m in [
        RefPreconditioner::None,
        RefPreconditioner::Jacobi(&diag),
        RefPreconditioner::BlockJacobi {
            blocks: &blocks,
            dim: 8,
        },
    ] {
        let s = rcg::cg(&a, &b, 0.1, m, 1e-10, 200);
        assert_eq!(s.outcome, RefOutcome::Converged, "{m:?}");
        let err: Vec<f64> = s.x.iter().zip(&direct).map(|(x, y)| x - y).collect();
        assert!(norm(&err) <= 1e-8 * norm(&direct), "{m:?}");
    }
}

/// The system of the accuracy tests: `GᵀG/n` with damping 0.05 (κ ≤ 1.4/0.05 ≈ 28), as
/// 12 nodes × 16 values.
fn well_conditioned() -> (Vec<f64>, Vec<f64>, f32, usize, usize) {
    let mut rng = rng(7);
    let (nodes, dim) = (12, 16);
    let n = nodes * dim;
    let a = gram(&mut rng, n);
    let b: Vec<f64> = rounded(
        &(0..n)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect::<Vec<_>>(),
    );
    (a, b, 0.05, nodes, dim)
}

fn diagonal_blocks(a: &[f64], nodes: usize, dim: usize) -> Vec<f64> {
    let n = nodes * dim;
    (0..nodes)
        .flat_map(|u| (0..dim).flat_map(move |i| (0..dim).map(move |j| (u, i, j))))
        .map(|(u, i, j)| a[(u * dim + i) * n + u * dim + j])
        .collect()
}

#[test]
fn gpu_cg_reaches_rtol_and_matches_the_cpu_cg() {
    let gpu = gpu();
    let (a, b, delta, nodes, dim) = well_conditioned();
    let n = nodes * dim;
    let op = Dense::new(gpu, &a);
    let kappa = (lambda_max(&a, n) + delta as f64) / delta as f64;
    let direct = rcg::direct_solve(&a, &b, delta as f64).unwrap();
    let diag: Vec<f64> = (0..n).map(|i| a[i * n + i]).collect();
    let diag_dev = upload(gpu, &diag);
    let blocks = diagonal_blocks(&a, nodes, dim);
    let blocks_f32: Vec<f32> = blocks.iter().map(|&v| v as f32).collect();
    let blocks_dev = DeviceBlocks::upload(gpu, dim, &blocks_f32, "blocks").unwrap();
    let rtol = 1e-5f32;
    let o = opts(rtol, 200, 5, delta);
    let cases = [
        (Preconditioner::None, RefPreconditioner::None),
        // Built and inverted on the device (what a GPU runs).
        (
            Preconditioner::DeviceBlockJacobi {
                blocks: &blocks_dev,
            },
            RefPreconditioner::BlockJacobi {
                blocks: &blocks,
                dim,
            },
        ),
        (
            Preconditioner::Jacobi { diag: &diag_dev },
            RefPreconditioner::Jacobi(&diag),
        ),
        (
            Preconditioner::BlockJacobi {
                blocks: &blocks,
                dim,
            },
            RefPreconditioner::BlockJacobi {
                blocks: &blocks,
                dim,
            },
        ),
    ];
    for (m, rm) in cases {
        let s = run_solve(gpu, &op, &b, &m, &o);
        let cpu = rcg::cg(&a, &b, delta as f64, rm, rtol as f64, 200);
        let name = match m {
            Preconditioner::DeviceBlockJacobi { .. } => "block-jacobi on the device",
            _ => m.name(),
        };
        eprintln!(
            "{name}: GPU {} iterations (residual {:.2e}), CPU {} iterations, κ ≤ {kappa:.1}",
            s.report.iterations, s.report.residual, cpu.iterations
        );
        assert_eq!(
            s.report.outcome,
            CgOutcome::Converged,
            "{name}: {:?}",
            s.report
        );
        assert!(s.report.residual <= rtol, "{name}");
        assert!(
            s.report.iterations.abs_diff(cpu.iterations) <= 1,
            "{name}: GPU {} vs CPU {} iterations",
            s.report.iterations,
            cpu.iterations
        );
        let true_res = true_residual(&a, delta as f64, &s.x, &b);
        assert!(
            true_res <= 2.0 * rtol as f64,
            "{name}: true residual {true_res:.2e}"
        );
        let bound = kappa * 2.0 * rtol as f64;
        let (e_direct, e_cpu) = (rel_err(&s.x, &direct), rel_err(&s.x, &cpu.x));
        eprintln!(
            "{name}: error vs direct {e_direct:.2e}, vs CPU CG {e_cpu:.2e}, bound {bound:.2e}"
        );
        assert!(e_direct <= bound, "{name}: {e_direct:.2e} > {bound:.2e}");
        assert!(e_cpu <= bound, "{name}: {e_cpu:.2e} > {bound:.2e}");
    }
}

/// The default step's second solve from the first solve's directions ([`Start::Recycled`]):
/// the start is the Galerkin solution in their span, at least as close as the best multiple
/// of the first solution, and the solve still reaches the new system's solution.
#[test]
fn a_recycled_start_is_at_least_as_close_as_the_guess_and_solves_the_new_system() {
    let gpu = gpu();
    let (a, b, delta, nodes, dim) = well_conditioned();
    let n = nodes * dim;
    let op = Dense::new(gpu, &a);
    let blocks = diagonal_blocks(&a, nodes, dim);
    let m = Preconditioner::BlockJacobi {
        blocks: &blocks,
        dim,
    };
    let bd = upload(gpu, &b);
    let first_x = gpu.zeros::<f32>(n, "x").unwrap();
    let (first, basis) = solve_recording(
        gpu,
        &op,
        &bd,
        &first_x,
        Start::Zero,
        &m,
        // A loose first solve, as the influence solves are (6 iterations here).
        &opts(0.2, 200, 1, delta),
    )
    .unwrap();
    assert!(
        first.iterations >= 2 && first.iterations <= KEEP,
        "{first:?}"
    );
    assert_eq!(basis.len(), first.iterations);
    let first_x = gpu.download(&first_x).unwrap();
    let smaller = delta / 6.0;
    let direct = rcg::direct_solve(&a, &b, smaller as f64).unwrap();
    // ‖x − x*‖ in the energy norm of A + δ′I.
    let energy_error = |x: &[f32]| {
        let e: Vec<f64> = x.iter().zip(&direct).map(|(&v, w)| v as f64 - w).collect();
        let ae = rcg::matvec(&a, &e);
        e.iter()
            .zip(&ae)
            .map(|(ei, ai)| ei * (ai + smaller as f64 * ei))
            .sum::<f64>()
            .sqrt()
    };
    let from = |start: Start<'_>, max_iter: usize| {
        let x = gpu.upload(&first_x, "x").unwrap();
        let report = solve_from(
            gpu,
            &op,
            &bd,
            &x,
            start,
            &m,
            &opts(1e-4, max_iter, 1, smaller),
        )
        .unwrap();
        (gpu.download(&x).unwrap(), report)
    };
    // Zero iterations leave each start in x.
    let (recycled_start, _) = from(Start::Recycled(&basis), 0);
    let (guess_start, _) = from(Start::Guess, 0);
    let (er, eg) = (energy_error(&recycled_start), energy_error(&guess_start));
    eprintln!("start's energy-norm error: recycled {er:.4e}, guess {eg:.4e}");
    assert!(er <= eg * (1.0 + 1e-4), "recycled {er} vs guess {eg}");
    assert!(
        er < eg,
        "{} directions should improve on their own combination",
        basis.len()
    );
    let (x, recycled) = from(Start::Recycled(&basis), 200);
    let (_, guess) = from(Start::Guess, 200);
    eprintln!(
        "iterations at δ ÷ 6: recycled {}, guess {}",
        recycled.iterations, guess.iterations
    );
    assert_eq!(recycled.outcome, CgOutcome::Converged, "{recycled:?}");
    let kappa = (lambda_max(&a, n) + smaller as f64) / smaller as f64;
    assert!(true_residual(&a, smaller as f64, &x, &b) <= 2.0 * 1e-4);
    assert!(rel_err(&x, &direct) <= kappa * 2.0 * 1e-4);

    // A solve that ran past the kept directions offers none: the recycled start is then the
    // guess start, bit for bit.
    let long_x = gpu.zeros::<f32>(n, "x").unwrap();
    let (long, none) = solve_recording(
        gpu,
        &op,
        &bd,
        &long_x,
        Start::Zero,
        &m,
        &opts(1e-6, 200, 1, delta),
    )
    .unwrap();
    assert!(long.iterations > KEEP, "{long:?}");
    assert!(none.is_empty());
    let (x_none, r_none) = from(Start::Recycled(&none), 200);
    let (x_guess, r_guess) = from(Start::Guess, 200);
    assert_eq!(r_none.iterations, r_guess.iterations);
    assert_eq!(x_none, x_guess);
}

/// The default step's second solve: the system again with δ ÷ 6, started from the first
/// solution ([`Start::Guess`]).
#[test]
fn a_solve_from_a_nearby_solution_matches_the_cpu_cg_and_needs_fewer_iterations() {
    let gpu = gpu();
    let (a, b, delta, nodes, dim) = well_conditioned();
    let n = nodes * dim;
    let op = Dense::new(gpu, &a);
    let blocks = diagonal_blocks(&a, nodes, dim);
    let m = Preconditioner::BlockJacobi {
        blocks: &blocks,
        dim,
    };
    let rm = || RefPreconditioner::BlockJacobi {
        blocks: &blocks,
        dim,
    };
    let rtol = 1e-4f32;
    let near = run_solve(gpu, &op, &b, &m, &opts(rtol, 200, 1, delta));
    let smaller = delta / 6.0;
    let o = opts(rtol, 200, 1, smaller);
    let bd = upload(gpu, &b);
    let from = |guess: &[f32]| {
        let x = gpu.upload(guess, "guess").unwrap();
        let report = solve_from(gpu, &op, &bd, &x, Start::Guess, &m, &o).unwrap();
        (gpu.download(&x).unwrap(), report)
    };
    let (x, warm) = from(&near.x);
    let cold = run_solve(gpu, &op, &b, &m, &o);
    let guess: Vec<f64> = near.x.iter().map(|&v| v as f64).collect();
    let cpu = rcg::cg_from(&a, &b, smaller as f64, rm(), rtol as f64, 200, &guess);
    let cpu_cold = rcg::cg(&a, &b, smaller as f64, rm(), rtol as f64, 200);
    eprintln!(
        "from the δ solution: GPU {} iterations (first residual {:.3}), CPU {}; from 0: GPU {}, CPU {}",
        warm.iterations,
        cpu.residuals[0],
        cpu.iterations,
        cold.report.iterations,
        cpu_cold.iterations
    );
    assert_eq!(warm.outcome, CgOutcome::Converged, "{warm:?}");
    assert!(warm.iterations.abs_diff(cpu.iterations) <= 1);
    // The best multiple of a nearby solution starts closer than 0 does (its residual is
    // below ‖b‖), and here it saves iterations.
    assert!(cpu.residuals[0] < 1.0, "{:?}", cpu.residuals);
    assert!(
        warm.iterations < cold.report.iterations,
        "warm {} vs cold {}",
        warm.iterations,
        cold.report.iterations
    );
    // Both solve the same system to rtol: the bound of gpu_cg_reaches_rtol_and_matches_the_cpu_cg.
    let kappa = (lambda_max(&a, n) + smaller as f64) / smaller as f64;
    let direct = rcg::direct_solve(&a, &b, smaller as f64).unwrap();
    let bound = kappa * 2.0 * rtol as f64;
    assert!(true_residual(&a, smaller as f64, &x, &b) <= 2.0 * rtol as f64);
    assert!(rel_err(&x, &direct) <= bound);
    assert!(rel_err(&x, &cpu.x) <= bound);

    // The exact solution as a guess converges before the first iteration.
    let exact: Vec<f32> = direct.iter().map(|&v| v as f32).collect();
    let (x, report) = from(&exact);
    assert_eq!(
        (report.outcome, report.iterations),
        (CgOutcome::Converged, 0)
    );
    assert!(rel_err(&x, &direct) <= 1e-5);
    // A zero guess is the start from 0, bit for bit.
    let (x, report) = from(&vec![0.0; n]);
    assert_eq!(report.iterations, cold.report.iterations);
    assert_eq!(x, cold.x);
    // A guess that is not finite ends as a non-finite start with x = 0, never NaN.
    let mut bad = near.x.clone();
    bad[3] = f32::NAN;
    let (x, report) = from(&bad);
    assert_eq!(report.outcome, CgOutcome::NonFinite { iteration: 0 });
    assert!(x.iter().all(|&v| v == 0.0));
}

#[test]
fn preconditioners_cut_iterations_on_a_badly_scaled_system() {
    let gpu = gpu();
    let mut rng = rng(8);
    let (nodes, dim) = (12, 16);
    let n = nodes * dim;
    // S (GᵀG/n + 0.5 I) S with S = diag(10^U(-1, 1)): κ up to ~4·10⁴ without help, ~4 once
    // the scaling is undone.
    let w = gram(&mut rng, n);
    let s: Vec<f64> = (0..n)
        .map(|_| 10f64.powf(rng.random_range(-1.0..1.0)))
        .collect();
    let a = rounded(
        &(0..n * n)
            .map(|k| {
                let (i, j) = (k / n, k % n);
                s[i] * (w[k] + if i == j { 0.5 } else { 0.0 }) * s[j]
            })
            .collect::<Vec<_>>(),
    );
    let b: Vec<f64> = rounded(
        &(0..n)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect::<Vec<_>>(),
    );
    let op = Dense::new(gpu, &a);
    let diag: Vec<f64> = (0..n).map(|i| a[i * n + i]).collect();
    let diag_dev = upload(gpu, &diag);
    let blocks = diagonal_blocks(&a, nodes, dim);
    let o = opts(1e-4, 600, 10, 0.0);
    let none = run_solve(gpu, &op, &b, &Preconditioner::None, &o).report;
    let jacobi = run_solve(
        gpu,
        &op,
        &b,
        &Preconditioner::Jacobi { diag: &diag_dev },
        &o,
    )
    .report;
    let block = run_solve(
        gpu,
        &op,
        &b,
        &Preconditioner::BlockJacobi {
            blocks: &blocks,
            dim,
        },
        &o,
    )
    .report;
    eprintln!(
        "badly scaled: none {} ({:?}), jacobi {}, block-jacobi {}",
        none.iterations, none.outcome, jacobi.iterations, block.iterations
    );
    assert_eq!(jacobi.outcome, CgOutcome::Converged);
    assert_eq!(block.outcome, CgOutcome::Converged);
    assert!(
        jacobi.iterations * 3 < none.iterations,
        "{} vs {}",
        jacobi.iterations,
        none.iterations
    );
    assert!(
        block.iterations * 3 < none.iterations,
        "{} vs {}",
        block.iterations,
        none.iterations
    );
    assert!(block.iterations <= jacobi.iterations);
}

#[test]
fn block_jacobi_beats_jacobi_when_nodes_mix_their_coordinates() {
    let gpu = gpu();
    let mut rng = rng(10);
    let (nodes, dim) = (12, 16);
    let n = nodes * dim;
    // T W Tᵀ with W = GᵀG/n + 0.5 I and T = blockdiag(T_u), T_u random dense d × d: each
    // node's coordinates are mixed (as in one node's d × d Hessian block), which a diagonal
    // cannot undo but the node's block can.
    let mut w = gram(&mut rng, n);
    for i in 0..n {
        w[i * n + i] += 0.5;
    }
    let t: Vec<f64> = (0..nodes * dim * dim)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let t_at = |i: usize, k: usize| {
        let u = i / dim;
        if k / dim == u {
            t[u * dim * dim + (i % dim) * dim + k % dim]
        } else {
            0.0
        }
    };
    let mut tw = vec![0.0; n * n];
    for i in 0..n {
        let u = i / dim;
        for l in 0..n {
            tw[i * n + l] = (u * dim..(u + 1) * dim)
                .map(|k| t_at(i, k) * w[k * n + l])
                .sum();
        }
    }
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let v = (j / dim * dim..(j / dim + 1) * dim)
                .map(|l| tw[i * n + l] * t_at(j, l))
                .sum();
            a[i * n + j] = v;
            a[j * n + i] = v;
        }
    }
    let a = rounded(&a);
    let b: Vec<f64> = rounded(
        &(0..n)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect::<Vec<_>>(),
    );
    let op = Dense::new(gpu, &a);
    let diag: Vec<f64> = (0..n).map(|i| a[i * n + i]).collect();
    let diag_dev = upload(gpu, &diag);
    let blocks = diagonal_blocks(&a, nodes, dim);
    let o = opts(1e-4, 200, 10, 0.0);
    let none = run_solve(gpu, &op, &b, &Preconditioner::None, &o).report;
    let jacobi = run_solve(
        gpu,
        &op,
        &b,
        &Preconditioner::Jacobi { diag: &diag_dev },
        &o,
    )
    .report;
    let block = run_solve(
        gpu,
        &op,
        &b,
        &Preconditioner::BlockJacobi {
            blocks: &blocks,
            dim,
        },
        &o,
    )
    .report;
    eprintln!(
        "mixed nodes: none {} ({:?}), jacobi {} ({:?}), block-jacobi {} ({:?})",
        none.iterations,
        none.outcome,
        jacobi.iterations,
        jacobi.outcome,
        block.iterations,
        block.outcome
    );
    assert_eq!(block.outcome, CgOutcome::Converged);
    assert!(
        block.iterations * 3 < jacobi.iterations,
        "{} vs {}",
        block.iterations,
        jacobi.iterations
    );
    assert!(
        block.iterations * 3 < none.iterations,
        "{} vs {}",
        block.iterations,
        none.iterations
    );
}

#[test]
fn block_jacobi_is_exact_on_a_block_diagonal_system() {
    let gpu = gpu();
    let mut rng = rng(9);
    let (nodes, dim) = (20, 8);
    // Each block GᵀG/8 with its own scale: ill-conditioned as a whole, exact per block.
    let mut blocks = Vec::new();
    for u in 0..nodes {
        let scale = 10f64.powi(u as i32 % 4 - 2);
        blocks.extend(gram(&mut rng, dim).iter().map(|v| rounded(&[v * scale])[0]));
    }
    let b: Vec<f64> = rounded(
        &(0..nodes * dim)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect::<Vec<_>>(),
    );
    let op = Dense::blocks(gpu, &blocks, dim);
    let delta = 0.5f32;
    let o = opts(1e-4, 50, 5, delta);
    let s = run_solve(
        gpu,
        &op,
        &b,
        &Preconditioner::BlockJacobi {
            blocks: &blocks,
            dim,
        },
        &o,
    );
    assert_eq!(s.report.outcome, CgOutcome::Converged, "{:?}", s.report);
    assert_eq!(s.report.iterations, 1, "{:?}", s.report);
    let none = run_solve(gpu, &op, &b, &Preconditioner::None, &o);
    eprintln!(
        "block-diagonal: block-jacobi {} iteration (residual {:.1e}), none {}",
        s.report.iterations, s.report.residual, none.report.iterations
    );
    assert!(none.report.iterations > 5);
    // Exact per block up to f32 rounding of the inverses (κ of a damped block ≤ 14/0.5).
    let direct: Vec<f64> = (0..nodes)
        .flat_map(|u| {
            let blk = &blocks[u * dim * dim..(u + 1) * dim * dim];
            rcg::direct_solve(blk, &b[u * dim..(u + 1) * dim], delta as f64).unwrap()
        })
        .collect();
    assert!(rel_err(&s.x, &direct) <= 1e-4);
}

#[test]
fn jacobi_with_unusable_diagonal_entries_warns_and_still_converges() {
    let gpu = gpu();
    let (a, b, delta, _, _) = well_conditioned();
    let n = b.len();
    let op = Dense::new(gpu, &a);
    let mut diag: Vec<f64> = (0..n).map(|i| a[i * n + i]).collect();
    diag[3] = -1.0;
    diag[7] = f64::NAN;
    let diag_dev = upload(gpu, &diag);
    let s = run_solve(
        gpu,
        &op,
        &b,
        &Preconditioner::Jacobi { diag: &diag_dev },
        &opts(1e-5, 200, 5, delta),
    );
    assert_eq!(s.report.outcome, CgOutcome::Converged);
    assert!(
        s.report
            .warnings
            .iter()
            .any(|w| w.starts_with("2 of 192 diagonal entries")),
        "{:?}",
        s.report.warnings
    );
}

#[test]
fn solves_are_bitwise_repeatable() {
    let gpu = gpu();
    let (a, b, delta, nodes, dim) = well_conditioned();
    let op = Dense::new(gpu, &a);
    let blocks = diagonal_blocks(&a, nodes, dim);
    let m = Preconditioner::BlockJacobi {
        blocks: &blocks,
        dim,
    };
    let o = opts(1e-5, 200, 5, delta);
    let first = run_solve(gpu, &op, &b, &m, &o);
    let second = run_solve(gpu, &op, &b, &m, &o);
    assert!(
        first
            .x
            .iter()
            .zip(&second.x)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
    assert_eq!(first.report.iterations, second.report.iterations);
    assert_eq!(first.report.residual_trace, second.report.residual_trace);
}

#[test]
fn the_residual_is_read_once_per_check_every_iterations() {
    let gpu = gpu();
    let (a, b, delta, _, _) = well_conditioned();
    let op = Dense::new(gpu, &a);
    for check_every in [1usize, 4, 7] {
        let s = run_solve(
            gpu,
            &op,
            &b,
            &Preconditioner::None,
            &opts(1e-5, 200, check_every, delta),
        );
        let r = &s.report;
        assert_eq!(r.outcome, CgOutcome::Converged);
        assert_eq!(
            r.residual_trace.len(),
            r.iterations.div_ceil(check_every),
            "{r:?}"
        );
        for (k, &(it, res)) in r.residual_trace.iter().enumerate() {
            let expected = ((k + 1) * check_every).min(r.iterations);
            assert_eq!(it, expected, "{r:?}");
            assert!(res.is_finite() && res > 0.0);
        }
        assert_eq!(r.residual_trace.last(), Some(&(r.iterations, r.residual)));
        // The iteration count is exact, whatever the batching.
        if check_every > 1 {
            let single = run_solve(
                gpu,
                &op,
                &b,
                &Preconditioner::None,
                &opts(1e-5, 200, 1, delta),
            );
            assert_eq!(single.report.iterations, r.iterations);
            assert!(
                single
                    .x
                    .iter()
                    .zip(&s.x)
                    .all(|(a, b)| a.to_bits() == b.to_bits())
            );
        }
    }
}

#[test]
fn the_predicted_schedule_reads_less_and_changes_no_bit() {
    let gpu = gpu();
    let (a, b, delta, _, _) = well_conditioned();
    let op = Dense::new(gpu, &a);
    let fixed = run_solve(
        gpu,
        &op,
        &b,
        &Preconditioner::None,
        &opts(1e-5, 200, 1, delta),
    );
    let predicted = run_solve(
        gpu,
        &op,
        &b,
        &Preconditioner::None,
        &CgOptions {
            schedule: CheckSchedule::Predicted,
            ..opts(1e-5, 200, 8, delta)
        },
    );
    let (f, p) = (&fixed.report, &predicted.report);
    assert_eq!(p.outcome, CgOutcome::Converged);
    assert_eq!(p.iterations, f.iterations);
    assert!(
        fixed
            .x
            .iter()
            .zip(&predicted.x)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
    // The first read comes after FIRST_BATCH iterations; later batches hold up to 8.
    assert_eq!(p.residual_trace[0].0, ifru::solve::cg::FIRST_BATCH, "{p:?}");
    assert!(
        p.residual_trace.len() < f.residual_trace.len(),
        "{:?} vs {:?}",
        p.residual_trace,
        f.residual_trace
    );
}

#[test]
fn max_iter_stops_with_the_last_iterate_and_a_warning() {
    let gpu = gpu();
    let (a, b, delta, _, _) = well_conditioned();
    let op = Dense::new(gpu, &a);
    let s = run_solve(
        gpu,
        &op,
        &b,
        &Preconditioner::None,
        &opts(1e-5, 7, 5, delta),
    );
    let r = &s.report;
    assert_eq!(r.outcome, CgOutcome::MaxIter);
    assert!(!r.converged);
    assert_eq!(r.iterations, 7);
    assert_eq!(r.residual_trace.len(), 2);
    assert_eq!(r.residual_trace[0].0, 5);
    assert!(r.residual > 1e-5 && r.residual < 1.0);
    assert!(
        r.warnings.iter().any(|w| w.contains("max_iter 7")),
        "{:?}",
        r.warnings
    );
    let cpu = rcg::cg(&a, &b, delta as f64, RefPreconditioner::None, 1e-5, 7);
    assert_eq!(cpu.iterations, 7);
    assert!(rel_err(&s.x, &cpu.x) <= 1e-4, "{}", rel_err(&s.x, &cpu.x));
    // max_iter 0: nothing but the set-up.
    let s = run_solve(
        gpu,
        &op,
        &b,
        &Preconditioner::None,
        &opts(1e-5, 0, 5, delta),
    );
    assert_eq!(
        (s.report.outcome, s.report.iterations),
        (CgOutcome::MaxIter, 0)
    );
    assert!(s.x.iter().all(|&v| v == 0.0));
}

/// `diag(1, 2, ..., n−1, −50)` with a small last component of b: CG first works on the
/// positive part, then meets the negative direction.
fn indefinite() -> (Vec<f64>, Vec<f64>) {
    let n = 32;
    let mut a = vec![0.0; n * n];
    for i in 0..n - 1 {
        a[i * n + i] = (i + 1) as f64;
    }
    a[n * n - 1] = -50.0;
    let mut b = vec![1.0; n];
    b[n - 1] = 1e-2;
    (a, b)
}

#[test]
fn non_positive_curvature_stops_at_the_last_good_iterate() {
    let gpu = gpu();
    let (a, b) = indefinite();
    let op = Dense::new(gpu, &a);
    let cpu = rcg::cg(&a, &b, 0.0, RefPreconditioner::None, 1e-6, 100);
    let RefOutcome::NonPositiveCurvature { iteration: k } = cpu.outcome else {
        panic!(
            "the reference should meet negative curvature: {:?}",
            cpu.outcome
        );
    };
    assert!(k >= 2, "mid-solve, not at the start: {k}");
    let s = run_solve(
        gpu,
        &op,
        &b,
        &Preconditioner::None,
        &opts(1e-6, 100, 3, 0.0),
    );
    eprintln!(
        "indefinite: negative curvature at iteration {k} (CPU), {:?} (GPU)",
        s.report.outcome
    );
    assert_eq!(
        s.report.outcome,
        CgOutcome::NonPositiveCurvature { iteration: k }
    );
    assert_eq!(s.report.iterations, k);
    assert!(rel_err(&s.x, &cpu.x) <= 1e-5, "{}", rel_err(&s.x, &cpu.x));
    assert!(
        s.report
            .warnings
            .iter()
            .any(|w| w.contains("non-positive curvature") && w.contains("Gauss-Newton"))
    );

    // Right at the start: b along the negative direction.
    let mut e = vec![0.0; b.len()];
    e[b.len() - 1] = 1.0;
    let s = run_solve(
        gpu,
        &op,
        &e,
        &Preconditioner::None,
        &opts(1e-6, 100, 3, 0.0),
    );
    assert_eq!(
        s.report.outcome,
        CgOutcome::NonPositiveCurvature { iteration: 0 }
    );
    assert!(s.x.iter().all(|&v| v == 0.0));

    // The documented fallback "more damping" makes the same operator solvable.
    let s = run_solve(
        gpu,
        &op,
        &b,
        &Preconditioner::None,
        &opts(1e-5, 200, 5, 60.0),
    );
    assert_eq!(s.report.outcome, CgOutcome::Converged);
    let direct = rcg::direct_solve(&a, &b, 60.0).unwrap();
    assert!(rel_err(&s.x, &direct) <= 1e-4);
}

/// Tridiagonal (−0.5, 2, −0.5): from b = e₀ the Krylov vectors gain one index per iteration.
fn tridiagonal(n: usize) -> Vec<f64> {
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        a[i * n + i] = 2.0;
        if i + 1 < n {
            a[i * n + i + 1] = -0.5;
            a[(i + 1) * n + i] = -0.5;
        }
    }
    a
}

#[test]
fn a_nan_in_the_operator_stops_with_a_finite_x() {
    let gpu = gpu();
    let n = 32;
    let mut a = tridiagonal(n);
    a[5 * n + 5] = f64::NAN;
    let op = Dense::new(gpu, &a);
    let b = vec![1.0; n];
    let s = run_solve(
        gpu,
        &op,
        &b,
        &Preconditioner::None,
        &opts(1e-5, 100, 5, 0.0),
    );
    assert_eq!(s.report.outcome, CgOutcome::NonFinite { iteration: 0 });
    assert_eq!(s.report.iterations, 0);
    assert!(s.x.iter().all(|&v| v == 0.0));
    assert!(
        s.report.warnings.iter().any(|w| w.contains("non-finite")),
        "{:?}",
        s.report.warnings
    );
}

#[test]
fn an_overflow_mid_solve_stops_at_the_last_finite_iterate() {
    let gpu = gpu();
    let n = 32;
    // A huge (finite) diagonal entry at index 5 is reached when p gains index 5, in iteration
    // 5: there Ap overflows f32 (b is scaled by 1e15), while f64 sees a normal solve.
    let mut a = tridiagonal(n);
    a[5 * n + 5] = 1e38;
    let op = Dense::new(gpu, &a);
    let mut b = vec![0.0; n];
    b[0] = 1e15;
    let s = run_solve(
        gpu,
        &op,
        &b,
        &Preconditioner::None,
        &opts(1e-6, 100, 3, 0.0),
    );
    assert_eq!(
        s.report.outcome,
        CgOutcome::NonFinite { iteration: 5 },
        "{:?}",
        s.report
    );
    assert_eq!(s.report.iterations, 5);
    let cpu = rcg::cg(&a, &b, 0.0, RefPreconditioner::None, 0.0, 5);
    assert!(rel_err(&s.x, &cpu.x) <= 1e-5, "{}", rel_err(&s.x, &cpu.x));
}

#[test]
fn a_non_finite_residual_after_an_update_restores_x() {
    let gpu = gpu();
    let n = 8;
    // Not symmetric: column 0 reaches row 7 with 1e38, so the first update r −= αq
    // overflows (α = 10) although pᵀAp = 0.1 is fine; that update also set x₀ = 10.
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        a[i * n + i] = 0.1;
    }
    a[7 * n] = 1e38;
    let op = Dense::new(gpu, &a);
    let mut b = vec![0.0; n];
    b[0] = 1.0;
    let s = run_solve(
        gpu,
        &op,
        &b,
        &Preconditioner::None,
        &opts(1e-6, 100, 3, 0.0),
    );
    assert_eq!(s.report.outcome, CgOutcome::NonFinite { iteration: 0 });
    assert_eq!((s.report.iterations, s.report.residual), (0, 1.0));
    assert!(s.x.iter().all(|&v| v == 0.0), "x restored: {:?}", s.x);
    assert!(
        s.report
            .warnings
            .iter()
            .any(|w| w.contains("after its update"))
    );
}

#[test]
fn a_zero_or_non_finite_right_hand_side() {
    let gpu = gpu();
    let (a, _, delta, _, _) = well_conditioned();
    let n = (a.len() as f64).sqrt() as usize;
    let op = Dense::new(gpu, &a);
    let diag: Vec<f64> = (0..n).map(|i| a[i * n + i]).collect();
    let diag_dev = upload(gpu, &diag);
    for m in [
        Preconditioner::None,
        Preconditioner::Jacobi { diag: &diag_dev },
    ] {
        let s = run_solve(gpu, &op, &vec![0.0; n], &m, &opts(1e-5, 100, 5, delta));
        assert_eq!(s.report.outcome, CgOutcome::Converged);
        assert_eq!((s.report.iterations, s.report.residual), (0, 0.0));
        assert_eq!(s.report.residual_trace, vec![(0, 0.0)]);
        assert!(s.x.iter().all(|&v| v == 0.0));
        assert!(s.report.warnings.is_empty());
    }
    let mut b = vec![1.0; n];
    b[3] = f64::NAN;
    let s = run_solve(
        gpu,
        &op,
        &b,
        &Preconditioner::None,
        &opts(1e-5, 100, 5, delta),
    );
    assert_eq!(s.report.outcome, CgOutcome::NonFinite { iteration: 0 });
    assert!(s.x.iter().all(|&v| v == 0.0));
}

#[test]
fn bad_arguments_are_errors() {
    let gpu = gpu();
    let (a, b, delta, nodes, dim) = well_conditioned();
    let op = Dense::new(gpu, &a);
    let bd = upload(gpu, &b);
    let x = gpu.zeros::<f32>(b.len(), "x").unwrap();
    let short = gpu.zeros::<f32>(b.len() - 1, "short").unwrap();
    let good = opts(1e-5, 100, 5, delta);
    let none = Preconditioner::None;
    assert!(solve(gpu, &op, &bd, &short, &none, &good).is_err());
    assert!(solve(gpu, &op, &short, &x, &none, &good).is_err());
    for bad in [
        opts(f32::NAN, 100, 5, delta),
        opts(-1.0, 100, 5, delta),
        opts(1e-5, 100, 0, delta),
        opts(1e-5, 100, 5, -1.0),
        opts(1e-5, 100, 5, f32::INFINITY),
        opts(1e-5, usize::MAX, 5, delta),
    ] {
        assert!(solve(gpu, &op, &bd, &x, &none, &bad).is_err(), "{bad:?}");
    }
    assert!(
        solve(
            gpu,
            &op,
            &bd,
            &x,
            &Preconditioner::Jacobi { diag: &short },
            &good
        )
        .is_err()
    );
    let blocks = diagonal_blocks(&a, nodes, dim);
    for (blocks, dim) in [
        (&blocks[1..], dim),
        (&blocks[..], dim + 1),
        (&blocks[..], 0),
    ] {
        let m = Preconditioner::BlockJacobi { blocks, dim };
        assert!(solve(gpu, &op, &bd, &x, &m, &good).is_err());
    }
    // An empty system is solved at once.
    let empty_op = Dense::blocks(gpu, &[], 4);
    let e = gpu.zeros::<f32>(0, "e").unwrap();
    let r = solve(gpu, &empty_op, &e, &e, &none, &good).unwrap();
    assert!(r.converged && r.iterations == 0);
}

#[test]
fn block_diagonal_gives_the_jacobi_diagonal() {
    let blocks = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
    assert_eq!(block_diagonal(&blocks, 2), vec![1.0, 4.0, 5.0, 8.0]);
}

#[test]
fn reports_serialize() {
    let gpu = gpu();
    let (a, b, delta, _, _) = well_conditioned();
    let op = Dense::new(gpu, &a);
    let s = run_solve(
        gpu,
        &op,
        &b,
        &Preconditioner::None,
        &opts(1e-5, 3, 5, delta),
    );
    let json = serde_json::to_value(&s.report).unwrap();
    assert_eq!(json["outcome"]["kind"], "max_iter");
    assert_eq!(json["iterations"], 3);
    assert_eq!(json["preconditioner"], "none");
}

// ---------------------------------------------------------------- with the HVP operator

mod with_hvp {
    use super::*;
    use ifru::data::Interactions;
    use ifru::graph::{BipartiteGraph, csr_arrays, normalize};
    use ifru::model::{DeviceModel, LossKind, ModelKind, ModelSpec, Params};
    use ifru::reference::model::{Adjacency, HessianRef, LabelledRows, bce_hvp};
    use ifru::unlearn::influence::hvp::{HessianInputs, HessianKind, HvpOperator};

    const DIM: u32 = 8;

    /// CG with the real Hessian-vector product (all nodes kept) against a direct f64 solve
    /// of the dense matrix assembled column by column from the f64 HVP reference.
    fn hvp_case(spec: ModelSpec, kind: HessianKind, damping: f32) -> Vec<(&'static str, CgReport)> {
        let gpu = gpu();
        let mut rng = rng(40);
        let (n_users, n_items) = (23u32, 17u32);
        let mut rows = Interactions::default();
        for u in 0..n_users {
            for _ in 0..rng.random_range(1..6) {
                rows.push(u, rng.random_range(0..n_items), rng.random_range(0..2u8));
            }
        }
        let n = n_users + n_items;
        let theta: Vec<f32> = random_vec(&mut rng, (n * DIM) as usize)
            .iter()
            .map(|v| v * 0.7)
            .collect();
        let graph = BipartiteGraph::from_interactions(n_users, n_items, &rows).unwrap();
        let adj = normalize(&graph);
        let arrays = csr_arrays(&adj);
        let params = Params::from_nodes(n_users, n_items, DIM, &theta).unwrap();
        let model = DeviceModel::upload(gpu, spec, &params, Some(&arrays)).unwrap();
        let forward = model.forward(gpu).unwrap();
        gpu.run("forward", |pass| forward.record(pass)).unwrap();
        let lambda = 0.05f32;
        let inputs = HessianInputs {
            spec,
            n_users,
            n_items,
            emb: model.embeddings().view(),
            adjacency: Some(&adj),
            rows: &rows,
            negatives: &[],
            lambda,
        };
        let all: Vec<u32> = (0..n).collect();
        let op = HvpOperator::new(gpu, &inputs, kind, &all).unwrap();
        assert_eq!(op.kept(), &all[..]);

        // The dense H, one reference HVP per column.
        let len = op.len();
        let users = rows.users.clone();
        let items: Vec<u32> = rows.items.iter().map(|i| i + n_users).collect();
        let labels = rows.labels_f32();
        let lr = LabelledRows {
            user_nodes: &users,
            item_nodes: &items,
            labels: &labels,
        };
        let a_ref = Adjacency {
            row_ptr: &arrays.row_ptr,
            cols: &arrays.col_idx,
            vals: &arrays.vals,
        };
        let weights: Vec<f64> = spec.layer_weights().iter().map(|&w| w as f64).collect();
        let theta64: Vec<f64> = theta.iter().map(|&t| t as f64).collect();
        let href = match kind {
            HessianKind::GaussNewton => HessianRef::GaussNewton,
            HessianKind::Full => HessianRef::Full,
            HessianKind::Surrogate => HessianRef::Surrogate,
        };
        let mut h = vec![0.0; len * len];
        for j in 0..len {
            let mut e = vec![0.0; len];
            e[j] = 1.0;
            let col = bce_hvp(
                a_ref,
                &weights,
                lr,
                lambda as f64,
                &theta64,
                &e,
                DIM as usize,
                href,
            );
            for i in 0..len {
                h[i * len + j] = col[i];
            }
        }

        let b: Vec<f64> = rounded(
            &random_vec(&mut rng, len)
                .iter()
                .map(|&v| v as f64)
                .collect::<Vec<_>>(),
        );
        let bd = upload(gpu, &b);
        let diag_host = op.diagonal(gpu).unwrap();
        let diag = gpu.upload(&diag_host, "diag").unwrap();
        let diag64: Vec<f64> = diag_host.iter().map(|&v| v as f64).collect();
        let blocks = op.diagonal_blocks(gpu).unwrap();
        let rtol = 1e-5f32;
        let o = opts(rtol, 300, 5, damping);
        let direct = rcg::direct_solve(&h, &b, damping as f64);
        let mut reports = Vec::new();
        let d = DIM as usize;
        for (m, rm) in [
            (Preconditioner::None, RefPreconditioner::None),
            (
                Preconditioner::Jacobi { diag: &diag },
                RefPreconditioner::Jacobi(&diag64),
            ),
            (
                Preconditioner::BlockJacobi {
                    blocks: &blocks,
                    dim: d,
                },
                RefPreconditioner::BlockJacobi {
                    blocks: &blocks,
                    dim: d,
                },
            ),
        ] {
            let x = gpu.zeros::<f32>(len, "x").unwrap();
            let report = solve(gpu, &op, &bd, &x, &m, &o).unwrap();
            let x = gpu.download(&x).unwrap();
            assert!(x.iter().all(|v| v.is_finite()));
            if report.outcome == CgOutcome::Converged {
                let direct = direct.as_ref().expect("converged on a definite system");
                // κ of H + δI from the dense matrix; the HVP itself differs from the f64
                // reference by ~1e-6 relative (tests/gpu/hvp.rs), far inside κ·2·rtol.
                let kappa = (lambda_max(&h, len) + damping as f64) / damping as f64;
                let err = rel_err(&x, direct);
                assert!(
                    err <= kappa * 2.0 * rtol as f64,
                    "{}: {err:.2e} (κ {kappa:.1})",
                    m.name()
                );
                // The same preconditioned CG in f64 on the dense matrix takes as many steps.
                let cpu = rcg::cg(&h, &b, damping as f64, rm, rtol as f64, 300);
                assert!(
                    report.iterations.abs_diff(cpu.iterations) <= 1,
                    "{}: GPU {} vs CPU {} iterations",
                    m.name(),
                    report.iterations,
                    cpu.iterations
                );
            }
            reports.push((m.name(), report));
        }
        reports
    }

    #[test]
    fn cg_solves_the_damped_gauss_newton_system() {
        for (spec, name) in [
            (
                ModelSpec::new(ModelKind::Mf, 0, DIM, LossKind::Bce).unwrap(),
                "MF",
            ),
            (
                ModelSpec::new(ModelKind::Lightgcn, 1, DIM, LossKind::Bce).unwrap(),
                "LightGCN K=1",
            ),
        ] {
            let reports = hvp_case(spec, HessianKind::GaussNewton, 0.1);
            let its: Vec<String> = reports
                .iter()
                .map(|(m, r)| format!("{m} {} ({:?})", r.iterations, r.outcome))
                .collect();
            eprintln!("{name} Gauss-Newton, δ = 0.1: {}", its.join(", "));
            for (m, r) in &reports {
                assert_eq!(r.outcome, CgOutcome::Converged, "{name} {m}: {r:?}");
            }
        }
    }

    #[test]
    fn the_full_hessian_without_damping_is_refused_and_gauss_newton_is_the_fallback() {
        let spec = ModelSpec::new(ModelKind::Mf, 0, DIM, LossKind::Bce).unwrap();
        let full = hvp_case(spec, HessianKind::Full, 0.0);
        let its: Vec<String> = full
            .iter()
            .map(|(m, r)| format!("{m} {} ({:?})", r.iterations, r.outcome))
            .collect();
        eprintln!("MF full Hessian, δ = 0: {}", its.join(", "));
        // The full Hessian at a random (far from stationary) θ is indefinite: CG meets it.
        assert!(
            full.iter()
                .any(|(_, r)| matches!(r.outcome, CgOutcome::NonPositiveCurvature { .. })),
            "{full:?}"
        );
        let gn = hvp_case(spec, HessianKind::GaussNewton, 0.1);
        assert!(gn.iter().all(|(_, r)| r.converged));
    }
}
