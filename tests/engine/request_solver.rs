//! The solver's failure modes, provoked through an unlearning request (not the raw CG):
//! - non-convergence within --max-iter: the last iterate is applied, and the warning says so
//!   (in the outcome's `warnings`, the command's report and the audit log);
//! - non-positive curvature of the full Hessian at a non-convex point: the Gauss–Newton
//!   fallback, recorded in `warnings`;
//! - a Gauss–Newton matrix that is singular (δ = 0, λ = 0, a node the Hessian has no rows
//!   for): the request is refused, saying to raise the damping, with nothing changed;
//! - non-finite values (a NaN in θ, so in g; a NaN outside the request's nodes): refused, with
//!   nothing changed.

use crate::common;

use common::open;
use ifru::data::Dataset;
use ifru::data::synthetic::synthetic_dataset;
use ifru::gpu::{Gpu, GpuOptions};
use ifru::model::{LossKind, ModelKind, ModelSpec, Params};
use ifru::train::{TrainConfig, init_params};
use ifru::unlearn::engine::{ForgetRequest, Method, MethodOutcome, Unlearner};
use ifru::unlearn::influence::hvp::HessianKind;
use ifru::unlearn::influence::{HessianAt, IfruOptions, Precond};
use ifru::unlearn::request::ForgetRows;

const D: usize = 8;

fn spec() -> ModelSpec {
    ModelSpec::new(ModelKind::Mf, 0, D as u32, LossKind::Bce).unwrap()
}

fn data() -> Dataset {
    synthetic_dataset(3000, 7, 0.01).expect("synthetic data")
}

/// The seeded init with standard deviation `std`, shifted by `shift`.
fn params(data: &Dataset, std: f32, shift: f32) -> Params {
    let start = init_params(data.n_users, data.n_items, D as u32, std, 3);
    let moved: Vec<f32> = start.nodes().iter().map(|v| v + shift).collect();
    Params::from_nodes(data.n_users, data.n_items, D as u32, &moved).unwrap()
}

fn unlearner<'g>(gpu: &'g Gpu, data: &Dataset, params: &Params) -> Unlearner<'g> {
    let recipe = TrainConfig {
        seed: 3,
        ..TrainConfig::default()
    };
    assert_eq!(recipe.reg, 0.0, "the singular case below needs λ = 0");
    Unlearner::from_parts(
        gpu,
        spec(),
        recipe,
        data.clone(),
        params,
        vec![false; data.train.len()],
    )
    .unwrap()
}

fn rows_of_user(data: &Dataset, user: u32) -> Vec<u32> {
    (0..data.train.len() as u32)
        .filter(|&r| data.train.users[r as usize] == user)
        .collect()
}

fn apply(u: &mut Unlearner<'_>, rows: &[u32], opts: &IfruOptions) -> ifru::Result<MethodOutcome> {
    u.forget_with(
        rows,
        &ForgetRequest::new(Method::Ifru(opts.clone())).rows_kind(ForgetRows::Genuine),
    )
}

fn bits(p: &Params) -> Vec<u32> {
    p.nodes().iter().map(|v| v.to_bits()).collect()
}

/// Applies `rows` expecting a refusal whose message holds `needle`; θ (bit for bit, NaNs
/// included) and the remaining rows must be unchanged.
fn refused(u: &mut Unlearner<'_>, rows: &[u32], opts: &IfruOptions, needle: &str) {
    let theta = bits(&u.params().unwrap());
    let remaining = u.remaining_row_ids();
    let err = apply(u, rows, opts).expect_err("the request must be refused");
    assert_eq!(err.kind(), ifru::ErrorKind::SolveRefused, "{err}");
    let msg = err.to_string();
    eprintln!("refused: {msg}");
    assert!(msg.contains(needle), "{needle:?} not in: {msg}");
    assert!(msg.contains("the model is unchanged"), "{msg}");
    assert_eq!(bits(&u.params().unwrap()), theta, "θ changed");
    assert_eq!(u.remaining_row_ids(), remaining, "rows changed");
}

#[test]
fn non_convergence_applies_the_last_iterate_with_a_warning() {
    let gpu = open(GpuOptions::default());
    let data = data();
    let p = params(&data, 0.1, 0.3);
    let mut u = unlearner(&gpu, &data, &p);
    let opts = IfruOptions {
        max_iter: 1,
        rtol: 1e-7,
        ..IfruOptions::default_for(&spec())
    };
    let rows = rows_of_user(&data, data.train.users[0]);
    let outcome = apply(&mut u, &rows, &opts).unwrap();
    let figures = outcome.influence.as_ref().unwrap();
    assert_eq!(figures.iterations, 1);
    assert!(figures.residual > 1e-7, "{}", figures.residual);
    assert!(
        outcome
            .warnings
            .iter()
            .any(|w| w.contains("stopped at max_iter 1")),
        "{:?}",
        outcome.warnings
    );
    let after = u.params().unwrap();
    assert!(after.is_finite());
    assert_ne!(bits(&after), bits(&p), "the iterate was applied");
}

#[test]
fn non_positive_curvature_of_the_full_hessian_falls_back_to_gauss_newton() {
    let gpu = open(GpuOptions::default());
    let data = data();
    // Near θ = 0 the full Hessian of a row is about [[0, (σ − y)I], [(σ − y)I, 0]]: indefinite.
    let p = params(&data, 0.01, 0.0);
    let mut u = unlearner(&gpu, &data, &p);
    let opts = IfruOptions {
        hessian: HessianKind::Full,
        damping: Some(0.0),
        precond: Precond::None,
        ..IfruOptions::default_for(&spec())
    };
    let mut rows = rows_of_user(&data, data.train.users[0]);
    rows.extend(rows_of_user(&data, data.train.users[1]));
    let outcome = apply(&mut u, &rows, &opts).unwrap();
    eprintln!("{:?}", outcome.warnings);
    assert!(
        outcome.warnings.iter().any(
            |w| w.contains("non-positive curvature") && w.contains("fell back to Gauss-Newton")
        ),
        "{:?}",
        outcome.warnings
    );
    let figures = outcome.influence.as_ref().unwrap();
    assert_eq!(figures.hessian, Some(HessianKind::GaussNewton));
    assert!(u.params().unwrap().is_finite());
}

#[test]
fn a_singular_gauss_newton_matrix_without_damping_is_refused() {
    let gpu = open(GpuOptions::default());
    let data = data();
    // The forgotten user at θ_u = 0: its rows' gradients on their items, (σ − y)θ_u, vanish, so
    // g lives on u alone; at the new state no row touches u, and with δ = 0 and λ = 0 the
    // Hessian's row of u is zero: pᵀHp = 0 for the first direction p = g.
    let user = data.train.users[0];
    let mut p = params(&data, 0.1, 0.3);
    let mut nodes = p.nodes();
    nodes[user as usize * D..(user as usize + 1) * D].fill(0.0);
    p = Params::from_nodes(data.n_users, data.n_items, D as u32, &nodes).unwrap();
    let mut u = unlearner(&gpu, &data, &p);
    let opts = IfruOptions {
        hessian_at: HessianAt::New,
        damping: Some(0.0),
        precond: Precond::None,
        ..IfruOptions::default_for(&spec())
    };
    let rows = rows_of_user(&data, user);
    refused(&mut u, &rows, &opts, "set a positive damping");
    // With damping the same request applies.
    let damped = IfruOptions {
        damping: Some(1.0),
        ..opts
    };
    apply(&mut u, &rows, &damped).unwrap();
}

#[test]
fn non_finite_values_are_refused_and_change_nothing() {
    let gpu = open(GpuOptions::default());
    let data = data();
    let opts = IfruOptions::default_for(&spec());
    let user = data.train.users[0];
    let rows = rows_of_user(&data, user);
    let with_value_at = |node: usize, value: f32| {
        let mut nodes = params(&data, 0.1, 0.3).nodes();
        nodes[node * D + 1] = value;
        Params::from_nodes(data.n_users, data.n_items, D as u32, &nodes).unwrap()
    };

    // A NaN anywhere in θ (here on a user the request does not reach): refused when the
    // unlearner takes the model, since each request checks only the rows it changes.
    let far = (0..data.n_users).rev().find(|&v| v != user).unwrap();
    let err = Unlearner::from_parts(
        &gpu,
        spec(),
        TrainConfig::default(),
        data.clone(),
        &with_value_at(far as usize, f32::NAN),
        vec![false; data.train.len()],
    )
    .err()
    .expect("a model holding a NaN must be refused");
    assert!(err.to_string().contains("NaN"), "{err}");

    // Finite, but so large on the forgotten user that its scores and gradients overflow:
    // the solve meets an infinity and the request is refused.
    let mut huge = params(&data, 0.1, 0.3).nodes();
    huge[user as usize * D..(user as usize + 1) * D].fill(3.0e38);
    let huge = Params::from_nodes(data.n_users, data.n_items, D as u32, &huge).unwrap();
    let mut u = unlearner(&gpu, &data, &huge);
    refused(&mut u, &rows, &opts, "non-finite");
}

#[test]
fn block_jacobi_built_on_the_device_gives_the_host_built_update() {
    // Software adapters build block-Jacobi on the host, GPUs on the device: both must give
    // the same request (the blocks agree to f32 rounding, tests/gpu/block_build.rs).
    let data = data();
    let p = params(&data, 0.1, 0.3);
    let rows = rows_of_user(&data, data.train.users[0]);
    let opts = IfruOptions {
        precond: Precond::BlockJacobi,
        ..IfruOptions::default_for(&spec())
    };
    let outcomes: Vec<(MethodOutcome, Params)> = [true, false]
        .into_iter()
        .map(|host| {
            let gpu = open(GpuOptions {
                host_block_jacobi: Some(host),
                ..GpuOptions::default()
            });
            assert_eq!(gpu.host_block_jacobi(), host);
            let mut u = unlearner(&gpu, &data, &p);
            let outcome = apply(&mut u, &rows, &opts).unwrap();
            (outcome, u.params().unwrap())
        })
        .collect();
    let (host, device) = (&outcomes[0], &outcomes[1]);
    let (fh, fd) = (
        host.0.influence.as_ref().unwrap(),
        device.0.influence.as_ref().unwrap(),
    );
    assert_eq!(fh.iterations, fd.iterations);
    assert!(
        (fh.mean_curvature - fd.mean_curvature).abs() <= 1e-5 * fh.mean_curvature,
        "mean curvature {} vs {}",
        fh.mean_curvature,
        fd.mean_curvature
    );
    // The same solve with preconditioners equal to f32 rounding: the steps agree to well
    // inside the solve's own tolerance (rtol 5e-2 of ‖g‖).
    let distance = |a: &Params, b: &Params| -> f64 {
        let (a, b) = (a.nodes(), b.nodes());
        a.iter()
            .zip(b.iter())
            .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let (diff, step) = (distance(&host.1, &device.1), distance(&host.1, &p));
    assert!(step > 0.0, "the request moved nothing");
    assert!(
        diff <= 1e-3 * step,
        "updates differ by {diff:.3e} (step {step:.3e})"
    );
}
