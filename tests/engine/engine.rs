//! The resident unlearner: a request that takes every training row of a node sets that node
//! to zero (the minimiser of what remains of its objective) and no other node by that rule.

use crate::common;

use common::gpu;
use ifru::data::synthetic::synthetic_dataset;
use ifru::model::{LossKind, ModelKind, ModelSpec};
use ifru::train::{TrainConfig, init_params};
use ifru::unlearn::engine::{ForgetRequest, Unlearner};
use ifru::unlearn::request::ForgetRows;

#[test]
fn a_node_that_loses_every_row_is_set_to_zero() {
    let gpu = gpu();
    let data = synthetic_dataset(4000, 3, 0.01).expect("synthetic data");
    for (kind, layers) in [(ModelKind::Mf, 0), (ModelKind::Lightgcn, 1)] {
        let spec = ModelSpec::new(kind, layers, 8, LossKind::Bce).unwrap();
        let recipe = TrainConfig {
            init_std: 0.1,
            seed: 9,
            ..TrainConfig::default()
        };
        // Trained parameters stand-in: the init, moved, so no row starts at zero.
        let start = init_params(data.n_users, data.n_items, 8, 0.1, recipe.seed);
        let moved: Vec<f32> = start.nodes().iter().map(|v| v + 0.5).collect();
        let params =
            ifru::model::Params::from_nodes(data.n_users, data.n_items, 8, &moved).unwrap();
        let mut unlearner = Unlearner::from_parts(
            gpu,
            spec,
            recipe.clone(),
            data.clone(),
            &params,
            vec![false; data.train.len()],
        )
        .unwrap();
        // Every training row of the first user with rows.
        let user = data.train.users[0];
        let rows: Vec<u32> = (0..data.train.len() as u32)
            .filter(|&r| data.train.users[r as usize] == user)
            .collect();
        let outcome = unlearner
            .forget_with(
                &rows,
                &ForgetRequest::default().rows_kind(ForgetRows::Genuine),
            )
            .unwrap();
        assert!(
            outcome.warnings.iter().any(|w| w.contains("set to zero")),
            "{:?}",
            outcome.warnings
        );
        let after = unlearner.params().unwrap().nodes();
        let d = 8usize;
        assert!(
            after[user as usize * d..(user as usize + 1) * d]
                .iter()
                .all(|&v| v == 0.0)
        );
        assert!(after.iter().all(|v| v.is_finite()));
        // What the request still paid in proportion to the training set: LightGCN's graph
        // update (its Â' changes), nothing for MF.
        let scans = &outcome.influence.as_ref().unwrap().full_scan_seconds;
        let names: Vec<&str> = scans.keys().map(String::as_str).collect();
        let want: &[&str] = if layers > 0 { &["graph_update"] } else { &[] };
        assert_eq!(names, want, "{kind:?}");
        // Another user keeps a non-zero row.
        let other = (user + 1) % data.n_users;
        assert!(
            after[other as usize * d..(other as usize + 1) * d]
                .iter()
                .any(|&v| v != 0.0)
        );
    }
}

/// The library's default path: an unlearner that owns its device (so it can live in a
/// binding or move to a worker thread), `forget(&rows)` with nothing named, and the same
/// rows forgotten by the same default method through a borrowed device give the same θ.
#[test]
fn an_unlearner_owning_its_device_forgets_by_default_like_a_borrowing_one() {
    use std::sync::Arc;
    let data = synthetic_dataset(3000, 5, 0.01).expect("synthetic data");
    let spec = ModelSpec::new(ModelKind::Mf, 0, 8, LossKind::Bce).unwrap();
    let recipe = TrainConfig {
        init_std: 0.1,
        seed: 4,
        ..TrainConfig::default()
    };
    let params = init_params(data.n_users, data.n_items, 8, 0.1, recipe.seed);
    let rows: Vec<u32> = data.flipped_rows().take(40).collect();
    assert!(!rows.is_empty(), "the synthetic data has flipped rows");

    let borrowed = gpu();
    let mut by_ref = Unlearner::from_parts(
        borrowed,
        spec,
        recipe.clone(),
        data.clone(),
        &params,
        vec![false; data.train.len()],
    )
    .unwrap();
    let expected = by_ref.forget(&rows).unwrap();

    let owned = Arc::new(common::open(ifru::gpu::GpuOptions::default()));
    let mut unlearner: Unlearner<'static> = Unlearner::from_parts(
        Arc::clone(&owned),
        spec,
        recipe,
        data.clone(),
        &params,
        vec![false; data.train.len()],
    )
    .unwrap();
    let (outcome, theta) = std::thread::spawn(move || {
        let outcome = unlearner.forget(&rows).unwrap();
        (outcome, unlearner.params().unwrap())
    })
    .join()
    .unwrap();
    assert_eq!(
        outcome.options, expected.options,
        "the same options, resolved for the model"
    );
    let device = outcome.device.expect("a request reports its device work");
    assert!(
        device.dispatches > 0 && device.submissions > 0,
        "{device:?}"
    );
    assert!(device.readbacks >= 1 && device.bytes_down > 0, "{device:?}");
    // An MF request reads only its neighbourhood: no pass over every training row (the
    // rows stay in place, and MF keeps no graph to update).
    let scans = &outcome.influence.as_ref().unwrap().full_scan_seconds;
    assert!(
        scans.is_empty(),
        "an MF BCE request's full scans: {scans:?}"
    );
    assert_eq!(
        outcome.options.as_ref().map(|o| o.prune),
        Some(ifru::unlearn::influence::Pruning::Keep(
            ifru::unlearn::influence::PruneOptions {
                budget: Some(ifru::unlearn::influence::prune::NEIGHBOUR_BUDGET),
                ..ifru::unlearn::influence::PruneOptions::unbounded(1, 1.0)
            }
        )),
        "MF's pruning, made explicit in the report"
    );
    let bits = |p: &ifru::model::Params| p.nodes().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&theta), bits(&by_ref.params().unwrap()), "θ differs");
}

/// Pruning in reports keeps the shape reports always had: the settings, or null when off.
#[test]
fn pruning_serialises_as_reports_always_wrote_it() {
    use ifru::unlearn::influence::{PruneOptions, Pruning};
    let keep = Pruning::Keep(PruneOptions::unbounded(1, 0.6));
    assert_eq!(
        serde_json::to_string(&keep).unwrap(),
        r#"{"hops":1,"keep":0.6}"#
    );
    assert_eq!(serde_json::to_string(&Pruning::Off).unwrap(), "null");
    for p in [keep, Pruning::Off, Pruning::ModelDefault] {
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Pruning>(&text).unwrap(), p, "{text}");
    }
}
