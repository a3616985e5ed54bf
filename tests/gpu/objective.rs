//! The GPU loss gradient (scores, per-node gathers, back-propagation through Â, L2) against
//! the f64 reference, for MF and LightGCN with 1–3 layers, BCE and BPR.
//!
//! Tolerance: each gradient entry is a sum of O(deg·d·K) f32 products of values of order
//! one; we bound its error by 1e-5 · (1 + max |reference gradient|) — three orders above
//! f32 rounding for these sizes, far below the O(1) error of any wrong index or term.

use crate::common;

use common::{gpu, random_vec, rng};
use ifru::gpu::Record;
use ifru::model::objective::{
    DeviceBatch, GradientLayout, GradientWorkspace, gradient, touched_gradient,
};
use ifru::model::{DeviceModel, LossKind, ModelKind, ModelSpec, Params};
use ifru::reference::model::{Adjacency, LabelledRows, Triples, bce_objective, bpr_objective};
use rand::Rng;

struct Problem {
    n_users: u32,
    n_items: u32,
    users: Vec<u32>,
    items: Vec<u32>,
    labels: Vec<f32>,
    adj: ifru::graph::CsrArrays,
}

fn problem(seed: u64) -> Problem {
    let mut rng = rng(seed);
    let (n_users, n_items) = (37u32, 23u32);
    let mut t = ifru::data::Interactions::default();
    for u in 0..n_users {
        for _ in 0..rng.random_range(1..8) {
            t.push(u, rng.random_range(0..n_items), rng.random_range(0..2u8));
        }
    }
    let g = ifru::graph::BipartiteGraph::from_interactions(n_users, n_items, &t).unwrap();
    let adj = ifru::graph::csr_arrays(&ifru::graph::normalize(&g));
    Problem {
        n_users,
        n_items,
        labels: t.labels_f32(),
        items: t.items.iter().map(|i| i + n_users).collect(),
        users: t.users,
        adj,
    }
}

fn check(kind: ModelKind, layers: u32, loss: LossKind) {
    let gpu = gpu();
    let p = problem(layers as u64 * 7 + loss as u64);
    let dim = 16u32;
    let spec = ModelSpec::new(kind, layers, dim, loss).unwrap();
    let n = p.n_users + p.n_items;
    let theta = random_vec(&mut rng(99), (n * dim) as usize);
    let params = Params::from_nodes(p.n_users, p.n_items, dim, &theta).unwrap();
    let model = DeviceModel::upload(gpu, spec, &params, Some(&p.adj)).unwrap();
    let negs: Vec<u32> = p
        .items
        .iter()
        .map(|&i| p.n_users + (i - p.n_users + 5) % p.n_items)
        .collect();
    let batch = match loss {
        LossKind::Bce => {
            DeviceBatch::bce(gpu, n, GradientLayout::Dense, &p.users, &p.items, &p.labels).unwrap()
        }
        LossKind::Bpr => {
            DeviceBatch::bpr(gpu, n, GradientLayout::Dense, &p.users, &p.items, &negs).unwrap()
        }
    };
    let ws = GradientWorkspace::new(gpu, &model).unwrap();
    let reg = 0.05f32;
    let plan = model
        .forward(gpu)
        .unwrap()
        .then(gradient(gpu, &model, &batch, &ws, 1.0, reg).unwrap());
    gpu.run("gradient", |pass| plan.record(pass)).unwrap();
    let got = ws.grad().download(gpu).unwrap();

    let adj = Adjacency {
        row_ptr: &p.adj.row_ptr,
        cols: &p.adj.col_idx,
        vals: &p.adj.vals,
    };
    let weights: Vec<f64> = spec.layer_weights().iter().map(|&w| w as f64).collect();
    let theta64: Vec<f64> = theta.iter().map(|&v| v as f64).collect();
    let (loss_ref, want) = match loss {
        LossKind::Bce => {
            let rows = LabelledRows {
                user_nodes: &p.users,
                item_nodes: &p.items,
                labels: &p.labels,
            };
            bce_objective(adj, &weights, rows, reg as f64, &theta64, dim as usize)
        }
        LossKind::Bpr => {
            let triples = Triples {
                user_nodes: &p.users,
                pos_nodes: &p.items,
                neg_nodes: &negs,
            };
            bpr_objective(adj, &weights, triples, reg as f64, &theta64, dim as usize)
        }
    };
    let scale = 1.0 + want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (k, (&g, &w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= 1e-5 * scale,
            "{kind:?} K={layers} {loss:?}: entry {k}: {g} vs {w}"
        );
    }
    let l2 = 0.5 * reg as f64 * theta64.iter().map(|t| t * t).sum::<f64>();
    let loss_gpu = batch.loss_sum(gpu).unwrap() + l2;
    assert!(
        (loss_gpu - loss_ref).abs() <= 1e-5 * (1.0 + loss_ref.abs()),
        "loss {loss_gpu} vs {loss_ref}"
    );
}

#[test]
fn mf_bce_gradient_matches_reference() {
    check(ModelKind::Mf, 0, LossKind::Bce);
}

#[test]
fn lightgcn_bce_gradient_matches_reference_for_1_to_3_layers() {
    for k in 1..=3 {
        check(ModelKind::Lightgcn, k, LossKind::Bce);
    }
}

#[test]
fn bpr_gradient_matches_reference() {
    check(ModelKind::Mf, 0, LossKind::Bpr);
    check(ModelKind::Lightgcn, 2, LossKind::Bpr);
}

#[test]
fn touched_rows_gradient_equals_the_dense_one_on_those_rows() {
    let gpu = gpu();
    let p = problem(3);
    let dim = 16u32;
    let n = p.n_users + p.n_items;
    let spec = ModelSpec::new(ModelKind::Mf, 0, dim, LossKind::Bce).unwrap();
    let theta = random_vec(&mut rng(4), (n * dim) as usize);
    let params = Params::from_nodes(p.n_users, p.n_items, dim, &theta).unwrap();
    let model = DeviceModel::upload(gpu, spec, &params, None).unwrap();
    // A batch touching only some nodes: the first 40 rows.
    let (u, i, y) = (&p.users[..40], &p.items[..40], &p.labels[..40]);
    let dense = DeviceBatch::bce(gpu, n, GradientLayout::Dense, u, i, y).unwrap();
    let ws = GradientWorkspace::new(gpu, &model).unwrap();
    let plan = gradient(gpu, &model, &dense, &ws, 1.0, 0.0).unwrap();
    gpu.run("dense", |pass| plan.record(pass)).unwrap();
    let full = ws.grad().download(gpu).unwrap();

    let touched = DeviceBatch::bce(gpu, n, GradientLayout::Touched { dim }, u, i, y).unwrap();
    let (plan, rows, grad) = touched_gradient(gpu, &model, &touched).unwrap();
    gpu.run("touched", |pass| plan.record(pass)).unwrap();
    let rows = gpu.download(rows).unwrap();
    let grad = grad.download(gpu).unwrap();
    let mut expected: Vec<u32> = u.iter().chain(i).copied().collect();
    expected.sort_unstable();
    expected.dedup();
    assert_eq!(rows, expected, "touched nodes, ascending");
    let d = dim as usize;
    for (t, &node) in rows.iter().enumerate() {
        // Same entries gathered in the same order: bitwise equal.
        assert_eq!(
            &grad[t * d..(t + 1) * d],
            &full[node as usize * d..(node as usize + 1) * d]
        );
    }
    assert!(
        touched_gradient(gpu, &model, &dense).is_err(),
        "layouts are not interchangeable"
    );
}
