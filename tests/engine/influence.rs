//! The influence update on a tiny problem (nothing pruned) equals (H + δI)⁻¹ g with H built
//! densely from the f64 reference and g = ∇L(θ̂; D, Â) − ∇L(θ̂; D∖D_r, Â'), solved in f64.
//!
//! Tolerance: relative 1e-4 (the bar). CG runs to rtol 1e-6 in f32 on a system
//! whose condition number δ = 1 keeps below ~10², so the f32 solution is within ~1e-5.

use crate::common;

use common::{gpu, random_vec, rng};
use ifru::data::Interactions;
use ifru::graph::{BipartiteGraph, RowIndex, csr_arrays, normalize};
use ifru::model::{DeviceModel, LossKind, ModelKind, ModelSpec, Params};
use ifru::reference::model::{
    Adjacency, HessianRef, LabelledRows, Triples, bce_hvp, bce_objective, bpr_hvp, bpr_objective,
};
use ifru::unlearn::influence::hvp::HessianKind;
use ifru::unlearn::influence::prune::RowsByNode;
use ifru::unlearn::influence::rhs::bpr_negatives;
use ifru::unlearn::influence::{
    HessianAt, IfruOptions, Precond, RequestContext, ResidentRows, Solver, Spillover,
    influence_step,
};
use ifru::unlearn::request::ForgetRows;
use rand::Rng;

const DIM: u32 = 4;

/// Random rows; BPR data holds positive rows only.
fn rows(seed: u64, n_users: u32, n_items: u32, loss: LossKind) -> Interactions {
    let mut rng = rng(seed);
    let mut t = Interactions::default();
    for u in 0..n_users {
        for i in 0..n_items {
            if rng.random_bool(0.35) {
                let label = match loss {
                    LossKind::Bce => rng.random_range(0..2u8),
                    LossKind::Bpr => 1,
                };
                t.push(u, i, label);
            }
        }
    }
    t
}

/// Gaussian elimination with partial pivoting (H + δI may be indefinite for the full
/// Hessian, so no Cholesky).
fn solve_dense(mut a: Vec<f64>, mut b: Vec<f64>, n: usize) -> Vec<f64> {
    for c in 0..n {
        let p = (c..n)
            .max_by(|&i, &j| a[i * n + c].abs().total_cmp(&a[j * n + c].abs()))
            .unwrap();
        for k in 0..n {
            a.swap(c * n + k, p * n + k);
        }
        b.swap(c, p);
        for r in c + 1..n {
            let f = a[r * n + c] / a[c * n + c];
            for k in c..n {
                a[r * n + k] -= f * a[c * n + k];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| a[r * n + k] * x[k]).sum();
        x[r] = (b[r] - s) / a[r * n + r];
    }
    x
}

fn check(kind: ModelKind, layers: u32, hessian: HessianKind, loss: LossKind) {
    let gpu = gpu();
    let (n_users, n_items) = (9u32, 7u32);
    let n = n_users + n_items;
    let t = rows(11 + layers as u64, n_users, n_items, loss);
    let spec = ModelSpec::new(kind, layers, DIM, loss).unwrap();
    let negative_seed = 5;
    let theta32: Vec<f32> = random_vec(&mut rng(12), (n * DIM) as usize)
        .iter()
        .map(|v| v * 0.8)
        .collect();
    let theta: Vec<f64> = theta32.iter().map(|&v| v as f64).collect();
    let forget: Vec<u32> = (0..t.len() as u32).filter(|r| r % 5 == 0).collect();
    let keep: Vec<u32> = (0..t.len() as u32).filter(|r| r % 5 != 0).collect();
    let remaining = t.select(&keep);
    let old_graph = BipartiteGraph::from_interactions(n_users, n_items, &t).unwrap();
    let new_graph = BipartiteGraph::from_interactions(n_users, n_items, &remaining).unwrap();
    let (old_adj, new_adj) = (normalize(&old_graph), normalize(&new_graph));
    let params = Params::from_nodes(n_users, n_items, DIM, &theta32).unwrap();
    let old_arrays = csr_arrays(&old_adj);
    let model = DeviceModel::upload(gpu, spec, &params, Some(&old_arrays)).unwrap();
    // The full Hessian is indefinite here; a larger δ makes H + δI definite, as the solve
    // needs (otherwise it falls back to Gauss–Newton, checked below).
    let delta = if hessian == HessianKind::Full {
        10.0f32
    } else {
        1.0
    };
    let reg = 0.01;
    let opts = IfruOptions {
        hessian,
        hessian_at: HessianAt::Old,
        spillover: Spillover::Exact,
        prune: ifru::unlearn::influence::Pruning::Off,
        precond: Precond::None,
        rtol: 1e-6,
        max_iter: 500,
        damping: Some(delta),
        max_step: 1e6,
        negative_seed,
        solver: Solver::Cg,
        on_check_fail: Default::default(),
    };
    let ctx = RequestContext {
        spec,
        n_users,
        n_items,
        model: &model,
        rows: &t,
        graph: None,
        resident_rows: None,
        forget: &forget,
        old_adjacency: Some(&old_adj),
        new_adjacency: Some(&new_adj),
        reg_per_row: reg,
        valid: None,
        negatives: None,
        forget_rows: ForgetRows::Genuine,
    };
    let step = influence_step(gpu, &ctx, &opts).unwrap();
    assert_eq!(step.kept.len() as u32, n, "nothing pruned");
    assert_eq!(
        step.figures.hessian,
        Some(hessian),
        "no fallback: {:?}",
        step.warnings
    );
    let x = step.x.download(gpu).unwrap();

    // f64 reference: g and dense H (old data, old graph; λ = reg · n).
    let weights: Vec<f64> = spec.layer_weights().iter().map(|&w| w as f64).collect();
    let lambda = reg * t.len() as f64;
    let pieces = |rows: &Interactions| {
        let users = rows.users.clone();
        let items: Vec<u32> = rows.items.iter().map(|i| i + n_users).collect();
        (users, items, rows.labels_f32())
    };
    let (ou, oi, ol) = pieces(&t);
    let (nu, ni, nl) = pieces(&remaining);
    let new_arrays = csr_arrays(&new_adj);
    let a_old = Adjacency {
        row_ptr: &old_arrays.row_ptr,
        cols: &old_arrays.col_idx,
        vals: &old_arrays.vals,
    };
    let a_new = Adjacency {
        row_ptr: &new_arrays.row_ptr,
        cols: &new_arrays.col_idx,
        vals: &new_arrays.vals,
    };
    let old_rows = LabelledRows {
        user_nodes: &ou,
        item_nodes: &oi,
        labels: &ol,
    };
    let new_rows = LabelledRows {
        user_nodes: &nu,
        item_nodes: &ni,
        labels: &nl,
    };
    let d = DIM as usize;
    // BPR: every row's negative, drawn from its id in D, for g (old and new) and H.
    let all_ids: Vec<u32> = (0..t.len() as u32).collect();
    let negatives = match loss {
        LossKind::Bce => Vec::new(),
        LossKind::Bpr => bpr_negatives(n_users, n_items, &t, &all_ids, negative_seed).unwrap(),
    };
    let kept_negatives: Vec<u32> = keep
        .iter()
        .filter_map(|&r| negatives.get(r as usize).copied())
        .collect();
    let old_triples = Triples {
        user_nodes: &ou,
        pos_nodes: &oi,
        neg_nodes: &negatives,
    };
    let new_triples = Triples {
        user_nodes: &nu,
        pos_nodes: &ni,
        neg_nodes: &kept_negatives,
    };
    let (g_old, g_new) = match loss {
        LossKind::Bce => (
            bce_objective(a_old, &weights, old_rows, 0.0, &theta, d).1,
            bce_objective(a_new, &weights, new_rows, 0.0, &theta, d).1,
        ),
        LossKind::Bpr => (
            bpr_objective(a_old, &weights, old_triples, 0.0, &theta, d).1,
            bpr_objective(a_new, &weights, new_triples, 0.0, &theta, d).1,
        ),
    };
    let g: Vec<f64> = g_old.iter().zip(&g_new).map(|(a, b)| a - b).collect();
    let size = (n * DIM) as usize;
    let href = match hessian {
        HessianKind::GaussNewton => HessianRef::GaussNewton,
        HessianKind::Full => HessianRef::Full,
        HessianKind::Surrogate => HessianRef::Surrogate,
    };
    let mut h = vec![0.0f64; size * size];
    for j in 0..size {
        let mut e = vec![0.0; size];
        e[j] = 1.0;
        let col = match loss {
            LossKind::Bce => bce_hvp(a_old, &weights, old_rows, lambda, &theta, &e, d, href),
            LossKind::Bpr => bpr_hvp(a_old, &weights, old_triples, lambda, &theta, &e, d, href),
        };
        for i in 0..size {
            h[i * size + j] = col[i] + if i == j { delta as f64 } else { 0.0 };
        }
    }
    let want = solve_dense(h, g, size);
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for k in 0..size {
        assert!(
            (x[k] as f64 - want[k]).abs() <= 1e-4 * scale,
            "{loss:?} {kind:?} K={layers} {hessian:?}: x[{k}] = {} vs {}",
            x[k],
            want[k]
        );
    }
}

#[test]
fn mf_update_equals_the_dense_solve() {
    for loss in [LossKind::Bce, LossKind::Bpr] {
        check(ModelKind::Mf, 0, HessianKind::GaussNewton, loss);
        check(ModelKind::Mf, 0, HessianKind::Full, loss);
    }
}

#[test]
fn lightgcn_update_equals_the_dense_solve_for_every_hessian() {
    for hessian in [
        HessianKind::GaussNewton,
        HessianKind::Full,
        HessianKind::Surrogate,
    ] {
        for loss in [LossKind::Bce, LossKind::Bpr] {
            check(ModelKind::Lightgcn, 1, hessian, loss);
        }
    }
    check(
        ModelKind::Lightgcn,
        2,
        HessianKind::GaussNewton,
        LossKind::Bce,
    );
    check(
        ModelKind::Lightgcn,
        2,
        HessianKind::GaussNewton,
        LossKind::Bpr,
    );
}

/// Negatives handed in by the caller (a resident unlearner draws them once) give the same
/// update, bit for bit, as negatives drawn per request — although the Hessian then only
/// receives the triples that reach the kept nodes.
#[test]
fn given_negatives_give_the_drawn_update_bit_for_bit() {
    let gpu = gpu();
    let (n_users, n_items) = (40u32, 30u32);
    let n = n_users + n_items;
    for (kind, layers) in [(ModelKind::Mf, 0), (ModelKind::Lightgcn, 1)] {
        let spec = ModelSpec::new(kind, layers, DIM, LossKind::Bpr).unwrap();
        let t = rows(31, n_users, n_items, LossKind::Bpr);
        let theta: Vec<f32> = random_vec(&mut rng(32), (n * DIM) as usize);
        let params = Params::from_nodes(n_users, n_items, DIM, &theta).unwrap();
        // One user's rows: pruning at hop 0 keeps that user and its items only.
        let forget: Vec<u32> = (0..t.len() as u32)
            .filter(|&r| t.users[r as usize] == 3)
            .collect();
        let keep: Vec<u32> = (0..t.len() as u32)
            .filter(|r| forget.binary_search(r).is_err())
            .collect();
        let remaining = t.select(&keep);
        let old_adj = normalize(&BipartiteGraph::from_interactions(n_users, n_items, &t).unwrap());
        let new_adj =
            normalize(&BipartiteGraph::from_interactions(n_users, n_items, &remaining).unwrap());
        let model = DeviceModel::upload(gpu, spec, &params, Some(&csr_arrays(&old_adj))).unwrap();
        let forward = model.forward(gpu).unwrap();
        gpu.run("forward", |p| ifru::gpu::Record::record(&forward, p))
            .unwrap();
        drop(forward);
        let opts = IfruOptions {
            prune: ifru::unlearn::influence::Pruning::Keep(
                ifru::unlearn::influence::PruneOptions::unbounded(0, 1.0),
            ),
            damping: Some(1.0),
            rtol: 1e-6,
            negative_seed: 9,
            ..IfruOptions::default_for(&spec)
        };
        let all: Vec<u32> = (0..t.len() as u32).collect();
        let given = bpr_negatives(n_users, n_items, &t, &all, opts.negative_seed).unwrap();
        // A resident unlearner's indexes over the same rows (nothing forgotten before).
        let by_user = RowIndex::by_user(&t, n_users).unwrap();
        let by_item = RowIndex::by_item(&t, n_items).unwrap();
        let negative_items: Vec<u32> = given.iter().map(|&j| j - n_users).collect();
        let by_negative = RowIndex::build(&negative_items, n_items).unwrap();
        let gone = vec![false; t.len()];
        let mut rows_at = vec![0u32; n as usize];
        for (&u, &i) in t.users.iter().zip(&t.items) {
            rows_at[u as usize] += 1;
            rows_at[(n_users + i) as usize] += 1;
        }
        let index = RowsByNode::resident(&t, n_users, &by_user, &by_item, &gone, &rows_at);
        let resident = ResidentRows {
            index: &index,
            forget: &forget,
            live: t.len(),
            positives: t.labels.iter().filter(|&&l| l == 1).count(),
            by_negative: Some(&by_negative),
        };
        let step = |negatives: Option<&[u32]>,
                    resident_rows: Option<ResidentRows<'_>>,
                    hessian_at: HessianAt| {
            let opts = IfruOptions {
                hessian_at,
                ..opts.clone()
            };
            let ctx = RequestContext {
                spec,
                n_users,
                n_items,
                model: &model,
                rows: &t,
                graph: None,
                resident_rows,
                forget: &forget,
                old_adjacency: Some(&old_adj),
                new_adjacency: Some(&new_adj),
                reg_per_row: 0.01,
                valid: None,
                negatives,
                forget_rows: ForgetRows::Genuine,
            };
            let s = influence_step(gpu, &ctx, &opts).unwrap();
            (s.x.download(gpu).unwrap(), s.figures)
        };
        let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        for at in [HessianAt::Old, HessianAt::New] {
            let (drawn, drawn_figures) = step(None, None, at);
            let (handed, handed_figures) = step(Some(&given), None, at);
            assert!(drawn_figures.kept_users + drawn_figures.kept_items < n as usize);
            assert_eq!(
                drawn_figures.local_rows, handed_figures.local_rows,
                "{kind:?}"
            );
            assert!(drawn.iter().any(|&v| v != 0.0));
            assert_eq!(bits(&drawn), bits(&handed), "{kind:?} {at:?}");
            // Through the resident indexes: the same rows reach P, the same update.
            let (indexed, indexed_figures) = step(Some(&given), Some(resident), at);
            assert_eq!(
                indexed_figures.local_rows, handed_figures.local_rows,
                "{kind:?} {at:?}"
            );
            assert_eq!(bits(&indexed), bits(&handed), "{kind:?} {at:?}");
        }
    }
}

/// A resident unlearner leaves rows forgotten by earlier requests in place (its request's
/// rows are training ids into all of its rows): through its indexes, the rows reaching P
/// (BCE, and BPR through user, positive or negative) skip them, and the update is the same,
/// bit for bit, as a scan over a table of only the remaining rows.
#[test]
fn resident_indexes_skip_rows_forgotten_earlier() {
    for loss in [LossKind::Bpr, LossKind::Bce] {
        resident_indexes_give_the_scanned_update(loss);
    }
}

fn resident_indexes_give_the_scanned_update(loss: LossKind) {
    let gpu = gpu();
    let (n_users, n_items) = (40u32, 30u32);
    let n = n_users + n_items;
    let spec = ModelSpec::new(ModelKind::Mf, 0, DIM, loss).unwrap();
    let t = rows(33, n_users, n_items, loss);
    let theta: Vec<f32> = random_vec(&mut rng(34), (n * DIM) as usize);
    let params = Params::from_nodes(n_users, n_items, DIM, &theta).unwrap();
    let model = DeviceModel::upload(gpu, spec, &params, None).unwrap();
    let ids_of = |user: u32| -> Vec<u32> {
        (0..t.len() as u32)
            .filter(|&r| t.users[r as usize] == user)
            .collect()
    };
    // User 5's rows went earlier; this request forgets user 3's.
    let earlier = ids_of(5);
    let gone: Vec<bool> = (0..t.len() as u32)
        .map(|r| earlier.binary_search(&r).is_ok())
        .collect();
    let live_ids: Vec<u32> = (0..t.len() as u32).filter(|&r| !gone[r as usize]).collect();
    let live = t.select(&live_ids);
    let forget_ids = ids_of(3);
    let forget: Vec<u32> = forget_ids
        .iter()
        .map(|r| live_ids.binary_search(r).unwrap() as u32)
        .collect();
    let seed = 9;
    let all: Vec<u32> = (0..t.len() as u32).collect();
    let given_all = bpr_negatives(n_users, n_items, &t, &all, seed).unwrap();
    let given: Vec<u32> = live_ids.iter().map(|&r| given_all[r as usize]).collect();
    let by_user = RowIndex::by_user(&t, n_users).unwrap();
    let by_item = RowIndex::by_item(&t, n_items).unwrap();
    let negative_items: Vec<u32> = given_all.iter().map(|&j| j - n_users).collect();
    let by_negative = RowIndex::build(&negative_items, n_items).unwrap();
    let mut rows_at = vec![0u32; n as usize];
    for (&u, &i) in live.users.iter().zip(&live.items) {
        rows_at[u as usize] += 1;
        rows_at[(n_users + i) as usize] += 1;
    }
    let index = RowsByNode::resident(&t, n_users, &by_user, &by_item, &gone, &rows_at);
    let resident = ResidentRows {
        index: &index,
        forget: &forget_ids,
        live: live.len(),
        positives: live.labels.iter().filter(|&&l| l == 1).count(),
        by_negative: (loss == LossKind::Bpr).then_some(&by_negative),
    };
    let given = (loss == LossKind::Bpr).then_some(&given[..]);
    let given_all = (loss == LossKind::Bpr).then_some(&given_all[..]);
    let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for hessian_at in [HessianAt::Old, HessianAt::New] {
        let opts = IfruOptions {
            damping: Some(1.0),
            rtol: 1e-6,
            negative_seed: seed,
            hessian_at,
            ..IfruOptions::default_for(&spec)
        };
        // The scan reads a table of the remaining rows (positions in it); the indexes read
        // every training row in place (training ids, negatives by training row).
        let step = |resident_rows: Option<ResidentRows<'_>>| {
            let (rows, forget, negatives) = match resident_rows {
                None => (&live, &forget, given),
                Some(_) => (&t, &forget_ids, given_all),
            };
            let ctx = RequestContext {
                spec,
                n_users,
                n_items,
                model: &model,
                rows,
                graph: None,
                resident_rows,
                forget,
                old_adjacency: None,
                new_adjacency: None,
                reg_per_row: 0.01,
                valid: None,
                negatives,
                forget_rows: ForgetRows::Genuine,
            };
            let s = influence_step(gpu, &ctx, &opts).unwrap();
            (s.x.download(gpu).unwrap(), s.figures)
        };
        let (scanned, scanned_figures) = step(None);
        let (indexed, indexed_figures) = step(Some(resident));
        assert!(scanned.iter().any(|&v| v != 0.0));
        assert_eq!(indexed_figures.local_rows, scanned_figures.local_rows);
        assert_eq!(
            indexed_figures.kept_users + indexed_figures.kept_items,
            scanned_figures.kept_users + scanned_figures.kept_items,
            "{hessian_at:?}: the same pruning"
        );
        assert_eq!(bits(&indexed), bits(&scanned), "{loss:?} {hessian_at:?}");
    }
}
