//! The resident unlearner: a request that takes every training row of a node sets that node
//! to zero (the minimiser of what remains of its objective) and no other node by that rule.

mod common;

use common::gpu;
use ifru::data::synthetic::synthetic_dataset;
use ifru::model::{LossKind, ModelKind, ModelSpec};
use ifru::train::{TrainConfig, init_params};
use ifru::unlearn::engine::{Method, Unlearner};
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
            .apply(&rows, Method::Ifru, 0, None, ForgetRows::Genuine)
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
        // Another user keeps a non-zero row.
        let other = (user + 1) % data.n_users;
        assert!(
            after[other as usize * d..(other as usize + 1) * d]
                .iter()
                .any(|&v| v != 0.0)
        );
    }
}
