//! Training on the GPU: bitwise-repeatable with a seed, and it learns.

use crate::common;

use common::gpu;
use ifru::data::Dataset;
use ifru::data::synthetic::synthetic_dataset;
use ifru::gpu::{Gpu, GpuResult};
use ifru::graph::{BipartiteGraph, CsrArrays, csr_arrays, normalize};
use ifru::model::{DeviceModel, LossKind, ModelKind, ModelSpec};
use ifru::train::{TrainConfig, TrainData, TrainOutcome, train};

fn dataset() -> (Dataset, CsrArrays) {
    let ds = synthetic_dataset(20_000, 5, 0.01).expect("synthetic data");
    let g = BipartiteGraph::from_interactions(ds.n_users, ds.n_items, &ds.train).unwrap();
    let adj = csr_arrays(&normalize(&g));
    (ds, adj)
}

/// Minus the mean BCE loss over the validation rows, from the final embeddings (host side).
fn neg_valid_loss(ds: &Dataset) -> impl FnMut(&Gpu, &DeviceModel) -> GpuResult<f64> + '_ {
    move |gpu, model| {
        let e = model.final_embeddings(gpu)?;
        let d = model.spec().dim as usize;
        let mut loss = 0.0;
        for r in 0..ds.valid.len() {
            let (u, i) = (
                ds.valid.users[r] as usize,
                (ds.n_users + ds.valid.items[r]) as usize,
            );
            let s: f64 = (0..d)
                .map(|k| e[u * d + k] as f64 * e[i * d + k] as f64)
                .sum();
            let y = ds.valid.labels[r] as f64;
            loss += s.max(0.0) + (-s.abs()).exp().ln_1p() - y * s;
        }
        Ok(-loss / ds.valid.len() as f64)
    }
}

fn run(spec: ModelSpec, config: &TrainConfig, ds: &Dataset, adj: &CsrArrays) -> TrainOutcome {
    let data = TrainData {
        n_users: ds.n_users,
        n_items: ds.n_items,
        rows: &ds.train,
        adjacency: Some(adj),
    };
    train(
        gpu(),
        spec,
        config,
        &data,
        &mut neg_valid_loss(ds),
        &mut |_| {},
    )
    .expect("training")
}

fn quick() -> TrainConfig {
    TrainConfig {
        max_epochs: 3,
        patience: 100,
        adam: ifru::kernels::adam::AdamConfig {
            lr: 0.01,
            ..Default::default()
        },
        init_std: 0.1,
        ..TrainConfig::default()
    }
}

#[test]
fn same_seed_gives_bitwise_equal_parameters() {
    let (ds, adj) = dataset();
    for (kind, layers) in [(ModelKind::Mf, 0), (ModelKind::Lightgcn, 2)] {
        let spec = ModelSpec::new(kind, layers, 16, LossKind::Bce).unwrap();
        let a = run(spec, &quick(), &ds, &adj);
        let b = run(spec, &quick(), &ds, &adj);
        let same = a
            .params
            .nodes()
            .iter()
            .zip(b.params.nodes())
            .all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "{kind:?}: two runs with one seed differ");
        let other = run(spec, &TrainConfig { seed: 7, ..quick() }, &ds, &adj);
        assert_ne!(a.params, other.params, "{kind:?}: the seed must matter");
    }
}

#[test]
fn training_lowers_the_validation_loss() {
    let (ds, adj) = dataset();
    for (kind, layers, batch, epochs, lr) in [
        (ModelKind::Mf, 0, 2048, 8, 0.01),
        (ModelKind::Lightgcn, 1, 2048, 8, 0.01),
    ] {
        let spec = ModelSpec::new(kind, layers, 16, LossKind::Bce).unwrap();
        let config = TrainConfig {
            max_epochs: epochs,
            batch,
            adam: ifru::kernels::adam::AdamConfig {
                lr,
                ..Default::default()
            },
            ..quick()
        };
        let out = run(spec, &config, &ds, &adj);
        let first = out.history[0].valid;
        // ln 2 is the loss of a model that knows nothing; it must learn something that
        // generalises (the synthetic labels carry noise, so progress is slow but steady).
        let know_nothing = -std::f64::consts::LN_2;
        assert!(
            out.best_valid > first + 1e-3 && out.best_valid > know_nothing,
            "{kind:?} batch {batch}: {:?}",
            out.history
        );
        assert!(out.train_seconds > 0.0 && out.epochs == epochs);
    }
}

#[test]
fn full_batch_training_lowers_the_training_loss() {
    let (ds, adj) = dataset();
    let spec = ModelSpec::new(ModelKind::Lightgcn, 1, 16, LossKind::Bce).unwrap();
    // One step an epoch. (On this small synthetic set full-batch steps overfit at once:
    // the training loss is what this mode must be seen to lower.)
    let config = TrainConfig {
        max_epochs: 10,
        batch: 0,
        loss_every: 1,
        ..quick()
    };
    let out = run(spec, &config, &ds, &adj);
    let losses: Vec<f64> = out.history.iter().map(|l| l.loss).collect();
    assert!(losses.windows(2).all(|w| w[1] < w[0]), "{losses:?}");
}

#[test]
fn bpr_training_lowers_its_loss() {
    let (ds, adj) = dataset();
    let spec = ModelSpec::new(ModelKind::Mf, 0, 16, LossKind::Bpr).unwrap();
    let config = TrainConfig {
        max_epochs: 5,
        loss_every: 1,
        ..quick()
    };
    let out = run(spec, &config, &ds, &adj);
    let (first, last) = (out.history[0].loss, out.history.last().unwrap().loss);
    assert!(last < first && last < 0.69, "BPR loss {first} -> {last}");
}

#[test]
fn early_stopping_keeps_the_best_epoch() {
    let (ds, adj) = dataset();
    let spec = ModelSpec::new(ModelKind::Mf, 0, 16, LossKind::Bce).unwrap();
    // A learning rate far too high overfits quickly: validation peaks early.
    let config = TrainConfig {
        max_epochs: 30,
        patience: 2,
        adam: ifru::kernels::adam::AdamConfig {
            lr: 0.2,
            ..Default::default()
        },
        ..quick()
    };
    let out = run(spec, &config, &ds, &adj);
    assert!(out.epochs < 30, "stopped early");
    assert_eq!(out.epochs, out.best_epoch + 2);
    let best = out
        .history
        .iter()
        .map(|l| l.valid)
        .fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(out.best_valid, best);
    let mut check = neg_valid_loss(&ds);
    let model = DeviceModel::upload(gpu(), spec, &out.params, None).unwrap();
    assert_eq!(
        check(gpu(), &model).unwrap(),
        best,
        "the kept parameters are the best epoch's"
    );
}

#[test]
fn sparse_adam_trains_mf_repeatably_and_refuses_lightgcn() {
    let (ds, adj) = dataset();
    let spec = ModelSpec::new(ModelKind::Mf, 0, 16, LossKind::Bpr).unwrap();
    let config = TrainConfig {
        max_epochs: 5,
        loss_every: 1,
        sparse_adam: true,
        ..quick()
    };
    let a = run(spec, &config, &ds, &adj);
    let (first, last) = (a.history[0].loss, a.history.last().unwrap().loss);
    assert!(
        last < first && last < 0.69,
        "sparse BPR loss {first} -> {last}"
    );
    let b = run(spec, &config, &ds, &adj);
    assert_eq!(a.params, b.params, "bitwise repeatable");

    let lightgcn = ModelSpec::new(ModelKind::Lightgcn, 1, 16, LossKind::Bpr).unwrap();
    let data = TrainData {
        n_users: ds.n_users,
        n_items: ds.n_items,
        rows: &ds.train,
        adjacency: Some(&adj),
    };
    let err = train(
        gpu(),
        lightgcn,
        &config,
        &data,
        &mut neg_valid_loss(&ds),
        &mut |_| {},
    )
    .expect_err("refused");
    assert!(
        err.to_string().contains("sparse Adam applies to MF"),
        "{err}"
    );
}
