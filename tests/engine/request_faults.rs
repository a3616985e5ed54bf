//! Device faults in the middle of an unlearning request: a failed submission, a failed
//! mapping, a failed wait and a real `Device::destroy`, each at several points of
//! [`Unlearner::apply`]. The request must fail with an error (never a panic or a hang) and
//! leave the resident unlearner exactly as it was: θ bit for bit, the rows it holds, and —
//! shown by applying the same requests afterwards and matching, bit for bit, an unlearner that
//! never saw a fault — its graph, adjacency and row counts. A destroyed device cannot be
//! restored: the unlearner then refuses further use, naming why.

use crate::common;

use common::open;
use ifru::data::Dataset;
use ifru::data::synthetic::synthetic_dataset;
use ifru::gpu::{Fault, Gpu, GpuOptions};
use ifru::model::{LossKind, ModelKind, ModelSpec, Params};
use ifru::train::{TrainConfig, init_params};
use ifru::unlearn::engine::{ForgetRequest, Unlearner};
use ifru::unlearn::request::ForgetRows;

fn specs() -> [ModelSpec; 2] {
    [
        ModelSpec::new(ModelKind::Mf, 0, 8, LossKind::Bce).unwrap(),
        ModelSpec::new(ModelKind::Lightgcn, 1, 8, LossKind::Bce).unwrap(),
    ]
}

fn recipe() -> TrainConfig {
    TrainConfig {
        init_std: 0.1,
        seed: 4,
        ..TrainConfig::default()
    }
}

fn data() -> Dataset {
    synthetic_dataset(3000, 5, 0.01).expect("synthetic data")
}

/// A stand-in for trained parameters: the seeded init, moved off zero.
fn params(data: &Dataset) -> Params {
    let start = init_params(data.n_users, data.n_items, 8, 0.1, 4);
    let moved: Vec<f32> = start.nodes().iter().map(|v| v + 0.3).collect();
    Params::from_nodes(data.n_users, data.n_items, 8, &moved).unwrap()
}

fn unlearner<'g>(gpu: &'g Gpu, spec: ModelSpec, data: &Dataset) -> Unlearner<'g> {
    Unlearner::from_parts(
        gpu,
        spec,
        recipe(),
        data.clone(),
        &params(data),
        vec![false; data.train.len()],
    )
    .unwrap()
}

/// Two requests: every row of one user with a few scattered rows, then a second batch.
fn requests(data: &Dataset) -> [Vec<u32>; 2] {
    let user = data.train.users[0];
    let mut first: Vec<u32> = (0..data.train.len() as u32)
        .filter(|&r| data.train.users[r as usize] == user)
        .collect();
    first.extend((0..data.train.len() as u32).step_by(97).take(10));
    first.sort_unstable();
    first.dedup();
    let second: Vec<u32> = (5..data.train.len() as u32)
        .step_by(89)
        .filter(|r| first.binary_search(r).is_err())
        .take(12)
        .collect();
    [first, second]
}

fn apply(u: &mut Unlearner<'_>, rows: &[u32]) -> ifru::Result<()> {
    u.forget_with(
        rows,
        &ForgetRequest::default().rows_kind(ForgetRows::Genuine),
    )
    .map(|_| ())
}

fn bits(p: &Params) -> Vec<u32> {
    p.nodes().iter().map(|v| v.to_bits()).collect()
}

/// Operations of each kind one request runs on a fresh unlearner.
fn operations_of_a_request(spec: ModelSpec, data: &Dataset, rows: &[u32]) -> [(Fault, u64); 3] {
    let gpu = open(GpuOptions::default());
    let mut u = unlearner(&gpu, spec, data);
    let kinds = [Fault::Submit, Fault::Map, Fault::Wait];
    let before = kinds.map(|f| gpu.operations_seen(f));
    apply(&mut u, rows).unwrap();
    let mut out = [(Fault::Submit, 0); 3];
    for (k, f) in kinds.iter().enumerate() {
        out[k] = (*f, gpu.operations_seen(*f) - before[k]);
    }
    out
}

/// The first, a third, two thirds and the last of `n` operations.
fn points(n: u64) -> Vec<u64> {
    let mut p = vec![0, n / 3, 2 * n / 3, n.saturating_sub(1)];
    p.dedup();
    p
}

#[test]
fn a_fault_anywhere_in_a_request_changes_nothing() {
    let data = data();
    let [first, second] = requests(&data);
    for spec in specs() {
        let counts = operations_of_a_request(spec, &data, &first);
        eprintln!("{:?}: one request runs {counts:?}", spec.kind);

        // The reference: both requests, no fault.
        let gpu = open(GpuOptions::default());
        let mut reference = unlearner(&gpu, spec, &data);
        apply(&mut reference, &first).unwrap();
        apply(&mut reference, &second).unwrap();
        let want = bits(&reference.params().unwrap());
        let want_rows = reference.remaining_row_ids();
        drop(reference);

        let mut u = unlearner(&gpu, spec, &data);
        let theta = bits(&u.params().unwrap());
        let rows = u.remaining_row_ids();
        for (fault, n) in counts {
            assert!(n > 0, "{fault:?}: a request runs none");
            for k in points(n) {
                gpu.inject_fault_after(fault, k);
                let err = apply(&mut u, &first).expect_err("a request with a fault must fail");
                gpu.disarm_faults();
                let msg = err.to_string();
                assert!(msg.contains("injected fault"), "{fault:?} at {k}: {msg}");
                assert_eq!(
                    bits(&u.params().unwrap()),
                    theta,
                    "{:?}: θ changed after {fault:?} at {k} of {n}",
                    spec.kind
                );
                assert_eq!(u.remaining_row_ids(), rows);
            }
        }
        // The same requests now give exactly what the reference got.
        apply(&mut u, &first).unwrap();
        apply(&mut u, &second).unwrap();
        assert_eq!(u.remaining_row_ids(), want_rows);
        assert!(
            bits(&u.params().unwrap()) == want,
            "{:?}: after the failed attempts the requests give another model",
            spec.kind
        );
    }
}

/// When the device is destroyed.
#[derive(Clone, Copy, Debug)]
enum Destroy {
    /// By the runtime's hook, just before the request's submission `k` (0-based).
    AtSubmission(u64),
    /// From another thread, once the request has run `k` submissions.
    FromThreadAfter(u64),
}

/// A real `Device::destroy` in the middle of a request; the request must fail, θ can no
/// longer be read, and the unlearner refuses further requests, naming the failed one.
fn destroyed_mid_request(spec: ModelSpec, data: &Dataset, rows: &[u32], when: Destroy) {
    let gpu = open(GpuOptions::default());
    let mut u = unlearner(&gpu, spec, data);
    let kept_rows = u.remaining_row_ids();
    let start = gpu.operations_seen(Fault::Submit);
    let err = std::thread::scope(|scope| {
        match when {
            Destroy::AtSubmission(k) => gpu.inject_fault_after(Fault::Destroy, k),
            Destroy::FromThreadAfter(k) => {
                let gpu = &gpu;
                scope.spawn(move || {
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
                    while gpu.operations_seen(Fault::Submit) < start + k {
                        assert!(std::time::Instant::now() < deadline, "the request stalled");
                        std::thread::sleep(std::time::Duration::from_micros(200));
                    }
                    gpu.destroy();
                });
            }
        }
        apply(&mut u, rows).expect_err("a request on a destroyed device must fail")
    });
    let msg = err.to_string();
    eprintln!("{:?} {when:?}: {msg}", spec.kind);
    // Lost before θ moved (the request's first read-back), the request fails as it is; lost
    // later, θ cannot be put back and the unlearner says so.
    assert!(
        msg.contains("device was lost") || msg.contains("could not be restored"),
        "{when:?}: {msg}"
    );
    assert_eq!(u.remaining_row_ids(), kept_rows, "host state moved");
    let again = apply(&mut u, rows).expect_err("a request on a lost device must fail");
    eprintln!("  then: {again}");
    if msg.contains("could not be restored") {
        assert!(again.to_string().contains("unusable"), "{again}");
    }
    assert!(u.params().is_err());
}

#[test]
fn a_device_destroyed_mid_request_is_an_error_and_the_unlearner_refuses_further_use() {
    let data = data();
    let [first, _] = requests(&data);
    for spec in specs() {
        let (_, n) = operations_of_a_request(spec, &data, &first)[0];
        for k in [0, n / 2, n - 1] {
            destroyed_mid_request(spec, &data, &first, Destroy::AtSubmission(k));
        }
        destroyed_mid_request(spec, &data, &first, Destroy::FromThreadAfter(n / 2));
    }
}
