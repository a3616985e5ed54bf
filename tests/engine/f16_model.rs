//! f16 serving of a trained LightGCN (d 64, K 2) on ml-100k-ifru: the f16 final embeddings
//! stay within their a-priori bound of the exact ones over the real graph, and so do the test
//! rows' scores; the test AUC moves by no more than the share of (positive, negative) pairs
//! whose scores lie within those bounds of each other; top-20 lists are top-20 lists of
//! scores within the bounds. The figures (AUC difference, list overlap) are printed.

use crate::common;

use common::gpu;
use ifru::data::ifru_folder;
use ifru::eval::{RowScorer, UserItems, auc, eval_users, top_k_lists};
use ifru::gpu::Record;
use ifru::kernels::topk::DeviceUserItems;
use ifru::model::adjacency_for;
use ifru::model::device::final_embeddings_f16;
use ifru::model::{DeviceModel, LossKind, ModelKind, ModelSpec};
use ifru::reference::half::{self as reference, Bounded};
use ifru::reference::{kernels as reference32, tolerance};
use ifru::train::{LastEpoch, TrainConfig, TrainData, train};

/// Upper bound on the share of (positive, negative) pairs whose order can differ between
/// two score vectors that each lie within `bound[r]` of the exact score `exact[r]`: pairs
/// whose exact scores are within the sum of their bounds.
fn near_tie_share(exact: &[f64], bound: &[f64], labels: &[u8]) -> f64 {
    let mut neg: Vec<f64> = (0..exact.len())
        .filter(|&r| labels[r] == 0)
        .map(|r| exact[r])
        .collect();
    neg.sort_by(f64::total_cmp);
    let neg_bound = (0..exact.len())
        .filter(|&r| labels[r] == 0)
        .map(|r| bound[r])
        .fold(0.0, f64::max);
    let (mut close, mut pos) = (0usize, 0usize);
    for r in (0..exact.len()).filter(|&r| labels[r] != 0) {
        pos += 1;
        let w = bound[r] + neg_bound;
        let lo = neg.partition_point(|&s| s < exact[r] - w);
        let hi = neg.partition_point(|&s| s <= exact[r] + w);
        close += hi - lo;
    }
    close as f64 / (pos as f64 * neg.len() as f64)
}

#[test]
fn f16_serving_of_a_trained_lightgcn_stays_within_its_bounds() {
    let dir = common::require_data!().join("ml-100k-ifru/0.02");
    let data = ifru_folder::load(&dir).expect("ml-100k-ifru");
    let gpu = gpu();
    let spec = ModelSpec::new(ModelKind::Lightgcn, 2, 64, LossKind::Bce).unwrap();
    let (nu, ni) = (data.n_users, data.n_items);
    let adj = adjacency_for(&spec, nu, ni, &data.train).unwrap().unwrap();
    let mut config = TrainConfig {
        batch: 8192,
        max_epochs: 4,
        init_std: 0.1,
        ..TrainConfig::default()
    };
    config.adam.lr = 0.01;
    let outcome = train(
        gpu,
        spec,
        &config,
        &TrainData {
            n_users: nu,
            n_items: ni,
            rows: &data.train,
            adjacency: Some(&adj),
        },
        &mut LastEpoch(0),
        &mut |_| {},
    )
    .expect("training");
    let params = outcome.params;

    // Final embeddings: f32 on the device, f16 on the device, exact with bounds on the host.
    let model = DeviceModel::upload(gpu, spec, &params, Some(&adj)).unwrap();
    let forward = model.forward(gpu).unwrap();
    gpu.run("forward", |pass| forward.record(pass)).unwrap();
    drop(forward);
    let e16 = final_embeddings_f16(gpu, spec, &params, Some(&adj)).unwrap();
    let exact = reference::propagate(
        &adj.row_ptr,
        &adj.col_idx,
        &adj.vals,
        &spec.layer_weights(),
        &params.nodes(),
        64,
    );
    let got16 = e16.download(gpu).unwrap();
    let (ratio, at) = exact.worst_ratio(&got16);
    assert!(
        ratio <= 1.0,
        "E16[{at}] = {} vs {} ± {:e}",
        got16[at],
        exact.values[at],
        exact.bounds[at]
    );
    eprintln!("f16 embeddings: worst error {ratio:.3} of the bound");
    // The f32 embeddings' own bounds (the f32 kernels' rounding), to bound the f32 scores.
    let r32 = reference32::propagate(
        &adj.row_ptr,
        &adj.col_idx,
        &adj.vals,
        &spec.layer_weights(),
        &params.nodes(),
        64,
    );
    let exact32 = Bounded {
        bounds: (0..r32.values.len())
            .map(|k| tolerance(r32.terms[k], r32.abs_sums[k]))
            .collect(),
        values: r32.values,
    };

    // Test rows: scores and AUC.
    let test = &data.test;
    let scorer = RowScorer::new(gpu, nu, nu + ni, test).unwrap();
    let s32 = scorer.scores(gpu, model.embeddings()).unwrap();
    let s16 = scorer.scores(gpu, &e16).unwrap();
    let d = 64;
    let (mut exact_s, mut bound_either) = (Vec::new(), Vec::new());
    for r in 0..test.len() {
        let (u, i) = (test.users[r] as usize, (nu + test.items[r]) as usize);
        let (s, b) = reference::dot(&exact, d, u, i);
        assert!(
            (s16[r] as f64 - s).abs() <= b,
            "test row {r}: f16 score {} vs {s} ± {b:e}",
            s16[r]
        );
        let (_, b32) = reference::dot(&exact32, d, u, i);
        assert!((s32[r] as f64 - s).abs() <= b32, "test row {r}: f32 score");
        // A pair ordered differently by the f32 and f16 scores has exact scores closer than
        // the larger of the two vectors' bound sums.
        exact_s.push(s);
        bound_either.push(b.max(b32));
    }
    let labels = &test.labels;
    let (a32, a16) = (auc(&s32, labels).unwrap(), auc(&s16, labels).unwrap());
    let share = near_tie_share(&exact_s, &bound_either, labels);
    eprintln!(
        "test AUC f32 {a32:.6}, f16 {a16:.6}, difference {:.2e}; pairs within the bounds \
         (largest possible difference) {share:.2e}; {} test rows",
        a16 - a32,
        test.len()
    );
    assert!(
        (a16 - a32).abs() <= share,
        "the AUC moved by more than the near-tied pairs allow"
    );

    // Top-20 of 200 users, training and validation items excluded.
    let seen = UserItems::build(nu, ni, &[&data.train, &data.valid], false).unwrap();
    let relevant = UserItems::build(nu, ni, &[test], true).unwrap();
    let users = eval_users(&relevant, Some(200), 7);
    let dev = DeviceUserItems::upload(gpu, ni, &seen.row_ptr, &seen.items).unwrap();
    let l32 = top_k_lists(gpu, model.embeddings(), &dev, &users, 20, 256).unwrap();
    let l16 = top_k_lists(gpu, &e16, &dev, &users, 20, 256).unwrap();
    let mut shared = 0usize;
    for (r, &u) in users.iter().enumerate() {
        let (a, b) = (l32.items_of(r), l16.items_of(r));
        shared += b.iter().filter(|i| a.contains(i)).count();
        let scored: Vec<(f64, f64)> = (0..ni as usize)
            .map(|i| reference::dot(&exact, d, u as usize, nu as usize + i))
            .collect();
        let excluded = seen.items_of(u);
        // The weakest listed item's highest possible score: no item left out may have a
        // lowest possible score above it (it would surely beat a listed item).
        let weakest = b
            .iter()
            .map(|&i| scored[i as usize].0 + scored[i as usize].1)
            .fold(f64::INFINITY, f64::min);
        assert!(weakest.is_finite(), "user {u}: a full list");
        for j in 0..ni {
            if b.contains(&j) || excluded.binary_search(&j).is_ok() {
                continue;
            }
            let (sj, bj) = scored[j as usize];
            assert!(
                sj - bj <= weakest,
                "user {u}: item {j} ({sj} ± {bj:e}) surely beats a listed one"
            );
        }
    }
    let overlap = shared as f64 / (20 * users.len()) as f64;
    eprintln!(
        "top-20 of {} users: f16 lists share {:.2}% of their items with the f32 lists",
        users.len(),
        100.0 * overlap
    );
}
