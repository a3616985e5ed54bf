//! The library in a few lines: train a small LightGCN on seeded synthetic data, forget the
//! training rows whose labels were flipped with the influence update, and print the forget
//! AUC (how well the model still fits the forgotten rows) and the test AUC before and after.
//!
//! `cargo run --release --example unlearn` (a few seconds on lavapipe).

use ifru::data::synthetic::synthetic_dataset;
use ifru::eval::{MetricsPlan, evaluate};
use ifru::gpu::Gpu;
use ifru::kernels::adam::AdamConfig;
use ifru::model::adjacency_for;
use ifru::model::{LossKind, ModelKind, ModelSpec};
use ifru::train::{LastEpoch, TrainConfig, TrainData, train};
use ifru::unlearn::Unlearner;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 10,000 synthetic rows: 5-core filter, 60/20/20 split, 1% of the training rows flipped.
    let data = synthetic_dataset(10_000, 7, 0.01)?;
    let forget: Vec<u32> = data.flipped_rows().collect();
    let spec = ModelSpec::new(ModelKind::Lightgcn, 1, 16, LossKind::Bce)?;
    let recipe = TrainConfig {
        adam: AdamConfig {
            lr: 2e-3,
            ..AdamConfig::default()
        },
        max_epochs: 20,
        init_std: 0.01,
        ..TrainConfig::default()
    };

    // The first adapter the environment allows (IFRU_ADAPTER picks one by name).
    let gpu = Gpu::from_env()?;
    let adjacency = adjacency_for(&spec, data.n_users, data.n_items, &data.train)?;
    let trained = train(
        &gpu,
        spec,
        &recipe,
        &TrainData {
            n_users: data.n_users,
            n_items: data.n_items,
            rows: &data.train,
            adjacency: adjacency.as_ref(),
        },
        &mut LastEpoch(0), // no early stopping: keep the last epoch
        &mut |_| {},
    )?;

    // A resident unlearner holds the model and its graph on the device; each request moves
    // them to the post-deletion state.
    let mut unlearner = Unlearner::from_parts(
        &gpu,
        spec,
        recipe,
        data.clone(),
        &trained.params,
        vec![false; data.train.len()],
    )?;
    let plan = MetricsPlan::Auc {
        forget: Some(&forget),
    };
    unlearner.refresh()?;
    let before = evaluate(&gpu, unlearner.model().embeddings(), &data, &plan)?;
    // The default influence update: one solve, its step length calibrated on the first half
    // of the forget rows so that they score like rows the model never saw, and checked on
    // the second half (`forgetting_check`).
    let outcome = unlearner.forget(&forget)?;
    unlearner.refresh()?;
    let after = evaluate(&gpu, unlearner.model().embeddings(), &data, &plan)?;

    let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    println!(
        "forgot {} of {} training rows in {:.2} s",
        forget.len(),
        data.train.len(),
        outcome.seconds
    );
    println!(
        "forget AUC: before {}, after {}",
        show(before.forget_auc),
        show(after.forget_auc)
    );
    println!(
        "test AUC:   before {}, after {}",
        show(before.test_auc),
        show(after.test_auc)
    );
    if let Some(check) = &outcome.forgetting_check {
        println!("{}", check.summary());
    }
    for w in &outcome.warnings {
        println!("warning: {w}");
    }
    Ok(())
}
