//! The influence right-hand side against the f64 brute force on the whole graph, importance
//! pruning, and the original authors' counts on ml-100k-ifru.
//!
//! Tolerance of the GPU-vs-reference comparisons: g is a difference of two gradient sums whose
//! entries are sums of O(deg·d·K) f32 products of values of order one; we bound its error by
//! 1e-5 · (1 + max |∇L(θ̂; D, Â)|), the bound `tests/gpu/objective.rs` uses for one gradient —
//! three orders above f32 rounding at these sizes and far below the O(1) error that a missing
//! spillover row, a wrong graph or a wrong sign would make.

use crate::common;

use std::collections::BTreeSet;

use common::{gpu, random_vec, rng};
use ifru::data::Interactions;
use ifru::gpu::Record;
use ifru::graph::CsrArrays;
use ifru::kernels::DeviceTable;
use ifru::model::{DeviceModel, LossKind, ModelKind, ModelSpec, Params};
use ifru::reference::model::{Adjacency, LabelledRows, Triples, bce_objective, bpr_objective};
use ifru::unlearn::influence::prune::{NodeSubset, PruneOptions, importance_scores, prune};
use ifru::unlearn::influence::rhs::{
    Held, InfluenceRows, RhsOptions, SpilloverRule, bpr_negatives, node_rows, right_hand_side,
    right_hand_side_on,
};
use rand::Rng;

const DIM: u32 = 16;

struct Problem {
    n_users: u32,
    n_items: u32,
    train: Interactions,
    forget: Vec<u32>,
}

/// A sparse random problem (so that K hops around the changed nodes do not cover the whole
/// graph), some repeated pairs, both labels, and a forget set of `n_forget` rows.
fn problem(seed: u64, n_forget: usize) -> Problem {
    let mut r = rng(seed);
    let (n_users, n_items) = (90u32, 70u32);
    let mut train = Interactions::default();
    for u in 0..n_users {
        // Users mostly see items near their own id: a long, thin graph.
        let base = u * n_items / n_users;
        for _ in 0..r.random_range(1..4) {
            let i = (base + r.random_range(0..6)) % n_items;
            train.push(u, i, r.random_range(0..2u8));
        }
    }
    for i in 0..n_items {
        train.push(r.random_range(0..n_users), i, 1);
    }
    let mut forget = BTreeSet::new();
    while forget.len() < n_forget {
        forget.insert(r.random_range(0..train.len() as u32));
    }
    Problem {
        n_users,
        n_items,
        train,
        forget: forget.into_iter().collect(),
    }
}

fn adjacency(a: &CsrArrays) -> Adjacency<'_> {
    Adjacency {
        row_ptr: &a.row_ptr,
        cols: &a.col_idx,
        vals: &a.vals,
    }
}

fn identity(n: u32) -> CsrArrays {
    CsrArrays {
        row_ptr: vec![0; n as usize + 1],
        col_idx: Vec::new(),
        vals: Vec::new(),
    }
}

/// ∇ of the sum-unit loss (no L2) over `rows` of `train`, under `adj`, in f64.
fn reference_gradient(
    p: &Problem,
    spec: ModelSpec,
    adj: &CsrArrays,
    rows: &[u32],
    theta: &[f64],
    seed: u64,
) -> Vec<f64> {
    let nr = node_rows(p.n_users, p.n_items, &p.train, rows, spec.loss, seed, None).unwrap();
    let weights: Vec<f64> = spec.layer_weights().iter().map(|&w| w as f64).collect();
    let dim = spec.dim as usize;
    match spec.loss {
        LossKind::Bce => {
            let rows = LabelledRows {
                user_nodes: &nr.user_nodes,
                item_nodes: &nr.item_nodes,
                labels: &nr.labels,
            };
            bce_objective(adjacency(adj), &weights, rows, 0.0, theta, dim).1
        }
        LossKind::Bpr => {
            let t = Triples {
                user_nodes: &nr.user_nodes,
                pos_nodes: &nr.item_nodes,
                neg_nodes: &nr.neg_nodes,
            };
            bpr_objective(adjacency(adj), &weights, t, 0.0, theta, dim).1
        }
    }
}

struct Run {
    got: Vec<f32>,
    plan: InfluenceRows,
    old_adj: CsrArrays,
    theta: Vec<f64>,
}

fn run(p: &Problem, spec: ModelSpec, options: RhsOptions) -> Run {
    let gpu = gpu();
    let n = p.n_users + p.n_items;
    let theta = random_vec(&mut rng(77), (n * spec.dim) as usize);
    let params = Params::from_nodes(p.n_users, p.n_items, spec.dim, &theta).unwrap();
    let old_adj = ifru::model::adjacency_for(&spec, p.n_users, p.n_items, &p.train)
        .unwrap()
        .unwrap_or_else(|| identity(n));
    let plan = InfluenceRows::plan(spec, p.n_users, p.n_items, &p.train, &p.forget, options)
        .expect("plan");
    let old = DeviceModel::upload(gpu, spec, &params, Some(&old_adj)).unwrap();
    let new = plan.new_model(gpu, &old).unwrap();
    let g = right_hand_side(gpu, &old, new.as_ref(), &plan).expect("rhs");
    Run {
        got: g.download(gpu).unwrap(),
        plan,
        old_adj,
        theta: theta.iter().map(|&v| v as f64).collect(),
    }
}

fn assert_close(got: &[f32], want: &[f64], scale_from: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = 1.0 + scale_from.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= 1e-5 * scale,
            "{what}: entry {k} (node {}): {g} vs {w}",
            k / DIM as usize
        );
    }
}

/// g from the GPU equals ∇L(θ̂; D, Â) − ∇L(θ̂; D∖D_r, Â') from the reference on the whole graph.
fn check_exact(kind: ModelKind, layers: u32, loss: LossKind, seed: u64) -> Run {
    let p = problem(seed, 6);
    let spec = ModelSpec::new(kind, layers, DIM, loss).unwrap();
    let options = RhsOptions {
        spillover: SpilloverRule::Exact,
        negative_seed: 11,
    };
    let r = run(&p, spec, options);
    let all: Vec<u32> = (0..p.train.len() as u32).collect();
    let remaining: Vec<u32> = all
        .iter()
        .copied()
        .filter(|x| p.forget.binary_search(x).is_err())
        .collect();
    let n = p.n_users + p.n_items;
    let new_adj = r.plan.new_adjacency.clone().unwrap_or_else(|| identity(n));
    let full = reference_gradient(&p, spec, &r.old_adj, &all, &r.theta, 11);
    let rest = reference_gradient(&p, spec, &new_adj, &remaining, &r.theta, 11);
    let want: Vec<f64> = full.iter().zip(&rest).map(|(a, b)| a - b).collect();
    assert_close(
        &r.got,
        &want,
        &full,
        &format!("{kind:?} K={layers} {loss:?}"),
    );
    assert!(
        want.iter().any(|v| v.abs() > 1e-3),
        "a degenerate test: g is zero"
    );
    r
}

#[test]
fn exact_rhs_equals_the_brute_force_difference_for_1_to_3_layers() {
    for layers in 1..=3 {
        let r = check_exact(
            ModelKind::Lightgcn,
            layers,
            LossKind::Bce,
            5 + layers as u64,
        );
        assert!(!r.plan.changed.is_empty(), "the request removes edges");
        assert!(!r.plan.spillover.is_empty(), "K={layers}: spillover rows");
        if layers == 1 {
            // The restriction to D_ch is a real one here, and still exact.
            let remaining = problem(5 + layers as u64, 6).train.len() - r.plan.forget.len();
            assert!(
                r.plan.spillover.len() < remaining,
                "K=1 should not reach every row ({} of {remaining})",
                r.plan.spillover.len()
            );
        }
    }
}

/// A resident unlearner prunes through its row index over all training rows, with the rows
/// forgotten earlier flagged: the same scores, bit for bit, and the same nodes as pruning
/// the remaining rows themselves.
#[test]
fn pruning_through_a_resident_index_equals_pruning_the_remaining_rows() {
    use ifru::graph::RowIndex;
    use ifru::unlearn::influence::prune::{RowsByNode, importance_scores_on, prune_on};
    let p = problem(11, 6);
    // Every seventh row was forgotten by earlier requests; this request forgets 12 others.
    let gone: Vec<bool> = (0..p.train.len()).map(|r| r % 7 == 3).collect();
    let remaining_ids: Vec<u32> = (0..p.train.len() as u32)
        .filter(|&r| !gone[r as usize])
        .collect();
    let remaining = p.train.select(&remaining_ids);
    let request: Vec<u32> = remaining_ids.iter().step_by(9).take(12).copied().collect();
    let positions: Vec<u32> = request
        .iter()
        .map(|r| remaining_ids.binary_search(r).unwrap() as u32)
        .collect();
    let mut rows_at = vec![0u32; (p.n_users + p.n_items) as usize];
    for (&u, &i) in remaining.users.iter().zip(&remaining.items) {
        rows_at[u as usize] += 1;
        rows_at[(p.n_users + i) as usize] += 1;
    }
    let by_user = RowIndex::by_user(&p.train, p.n_users).unwrap();
    let by_item = RowIndex::by_item(&p.train, p.n_items).unwrap();
    let index = RowsByNode::resident(&p.train, p.n_users, &by_user, &by_item, &gone, &rows_at);
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for hops in 0..=2 {
        let here = importance_scores(p.n_users, p.n_items, &remaining, &positions, hops).unwrap();
        let resident = importance_scores_on(&index, &request, hops).unwrap();
        assert_eq!(bits(&resident), bits(&here), "hops {hops}");
        for (keep, budget) in [(1.0, None), (0.6, None), (1.0, Some(2.0))] {
            let opts = PruneOptions {
                budget,
                ..PruneOptions::unbounded(hops, keep)
            };
            let a = prune(p.n_users, p.n_items, &remaining, &positions, opts).unwrap();
            let b = prune_on(&index, &request, opts).unwrap();
            assert_eq!(
                a.nodes, b.nodes,
                "hops {hops}, keep {keep}, budget {budget:?}"
            );
            assert_eq!(a.threshold, b.threshold);
        }
    }
    // A row forgotten earlier is not a row to forget now.
    let earlier = gone.iter().position(|&g| g).unwrap() as u32;
    assert!(importance_scores_on(&index, &[earlier], 1).is_err());
}

/// A resident unlearner hands the plan the removal (and Â') it computed for the request; the
/// plan must be the one computed from the rows alone.
#[test]
fn a_plan_from_the_callers_removal_equals_one_computed_here() {
    use ifru::graph::{BipartiteGraph, normalize, renormalize_after_removal};
    let p = problem(9, 6);
    let authors = SpilloverRule::Authors {
        min_degree_loss: 0.1,
    };
    for (kind, layers, loss, rule) in [
        (ModelKind::Mf, 0, LossKind::Bce, SpilloverRule::Exact),
        (ModelKind::Lightgcn, 2, LossKind::Bce, SpilloverRule::Exact),
        (ModelKind::Lightgcn, 2, LossKind::Bpr, SpilloverRule::Exact),
        (ModelKind::Lightgcn, 1, LossKind::Bce, authors),
    ] {
        let spec = ModelSpec::new(kind, layers, DIM, loss).unwrap();
        let options = RhsOptions {
            spillover: rule,
            negative_seed: 3,
        };
        let old = BipartiteGraph::from_interactions(p.n_users, p.n_items, &p.train).unwrap();
        let removed = p.train.select(&p.forget);
        let removal = old
            .remove_rows(&removed.users, &removed.items, &removed.labels)
            .unwrap();
        let after =
            renormalize_after_removal(&normalize(&old), &removal.graph, &removal.changed).unwrap();
        let given = InfluenceRows::plan_with(
            spec,
            p.n_users,
            p.n_items,
            &p.train,
            &p.forget,
            options,
            Held {
                before: Some(&old),
                removal: Some((&removal, Some(&after))),
                ..Held::default()
            },
        )
        .unwrap();
        let here =
            InfluenceRows::plan(spec, p.n_users, p.n_items, &p.train, &p.forget, options).unwrap();
        let what = format!("{kind:?} K {layers} {loss:?} {rule:?}");
        assert_eq!(given.forget, here.forget, "{what}");
        assert_eq!(given.direct, here.direct, "{what}");
        assert_eq!(given.spillover, here.spillover, "{what}");
        assert_eq!(given.changed, here.changed, "{what}");
        assert_eq!(given.new_adjacency, here.new_adjacency, "{what}");
        assert_eq!(layers > 0, here.new_adjacency.is_some(), "{what}");

        // With the negatives given and the rows read through resident indexes (nothing
        // forgotten before): the same rows in every term.
        let all: Vec<u32> = (0..p.train.len() as u32).collect();
        let negatives = bpr_negatives(p.n_users, p.n_items, &p.train, &all, 3).unwrap();
        let negatives = (loss == LossKind::Bpr).then_some(&negatives[..]);
        let by_user = ifru::graph::RowIndex::by_user(&p.train, p.n_users).unwrap();
        let by_item = ifru::graph::RowIndex::by_item(&p.train, p.n_items).unwrap();
        let negative_items: Vec<u32> = negatives
            .unwrap_or_default()
            .iter()
            .map(|&j| j - p.n_users)
            .collect();
        let by_negative = ifru::graph::RowIndex::build(&negative_items, p.n_items).unwrap();
        let gone = vec![false; p.train.len()];
        let mut rows_at = vec![0u32; (p.n_users + p.n_items) as usize];
        for (&u, &i) in p.train.users.iter().zip(&p.train.items) {
            rows_at[u as usize] += 1;
            rows_at[(p.n_users + i) as usize] += 1;
        }
        let index = ifru::unlearn::influence::prune::RowsByNode::resident(
            &p.train, p.n_users, &by_user, &by_item, &gone, &rows_at,
        );
        let resident = ifru::unlearn::influence::ResidentRows {
            index: &index,
            forget: &p.forget,
            live: p.train.len(),
            positives: p.train.labels.iter().filter(|&&l| l == 1).count(),
            by_negative: negatives.map(|_| &by_negative),
        };
        let plan = |rows| {
            InfluenceRows::plan_with(
                spec,
                p.n_users,
                p.n_items,
                &p.train,
                &p.forget,
                options,
                Held {
                    negatives,
                    before: Some(&old),
                    removal: Some((&removal, Some(&after))),
                    rows,
                },
            )
            .unwrap()
        };
        let (scanned, indexed) = (plan(None), plan(Some(resident)));
        assert_eq!(indexed.direct, scanned.direct, "{what}");
        assert_eq!(indexed.spillover, scanned.spillover, "{what}");
        assert_eq!(layers > 0, !indexed.spillover.is_empty(), "{what}");
    }
}

#[test]
fn mf_rhs_is_the_direct_influence_and_equals_the_brute_force() {
    let r = check_exact(ModelKind::Mf, 0, LossKind::Bce, 3);
    assert!(r.plan.spillover.is_empty(), "MF has no spillover");
    assert!(r.plan.new_adjacency.is_none());
}

#[test]
fn bpr_rhs_equals_the_brute_force_with_the_same_negatives() {
    let r = check_exact(ModelKind::Lightgcn, 2, LossKind::Bpr, 21);
    assert!(!r.plan.spillover.is_empty());
    assert_eq!(r.plan.spillover.neg_nodes.len(), r.plan.spillover.len());
}

#[test]
fn direct_only_and_authors_variants_use_their_row_sets() {
    let p = problem(8, 6);
    let spec = ModelSpec::new(ModelKind::Lightgcn, 1, DIM, LossKind::Bce).unwrap();
    let n = p.n_users + p.n_items;
    let exact = InfluenceRows::plan(
        spec,
        p.n_users,
        p.n_items,
        &p.train,
        &p.forget,
        RhsOptions::default(),
    )
    .unwrap();
    for rule in [
        SpilloverRule::DirectOnly,
        SpilloverRule::AUTHORS,
        SpilloverRule::Authors {
            min_degree_loss: 0.4,
        },
    ] {
        let options = RhsOptions {
            spillover: rule,
            negative_seed: 0,
        };
        let r = run(&p, spec, options);
        let sub = &r.plan.spillover.rows;
        // The authors' set: remaining rows touching a node that lost more than the threshold.
        let expected: Vec<u32> = match rule {
            SpilloverRule::DirectOnly | SpilloverRule::Exact => Vec::new(),
            SpilloverRule::Authors { min_degree_loss } => {
                let old =
                    ifru::graph::BipartiteGraph::from_interactions(p.n_users, p.n_items, &p.train)
                        .unwrap();
                let removed = p.train.select(&p.forget);
                let new = old
                    .remove_rows(&removed.users, &removed.items, &removed.labels)
                    .unwrap()
                    .graph;
                let lost = |v: u32| {
                    let (b, a) = (old.degree(v) as f64, new.degree(v) as f64);
                    b - a > min_degree_loss * b
                };
                (0..p.train.len() as u32)
                    .filter(|r| p.forget.binary_search(r).is_err())
                    .filter(|&r| {
                        lost(p.train.users[r as usize])
                            || lost(p.n_users + p.train.items[r as usize])
                    })
                    .collect()
            }
        };
        assert_eq!(sub, &expected, "{rule:?}");
        assert!(
            sub.iter().all(|r| exact.spillover.rows.contains(r)),
            "{rule:?}: a subset of the exact set"
        );
        let new_adj = r.plan.new_adjacency.clone().unwrap_or_else(|| identity(n));
        let direct = reference_gradient(&p, spec, &r.old_adj, &p.forget, &r.theta, 0);
        let before = reference_gradient(&p, spec, &r.old_adj, sub, &r.theta, 0);
        let after = reference_gradient(&p, spec, &new_adj, sub, &r.theta, 0);
        let want: Vec<f64> = (0..direct.len())
            .map(|k| direct[k] + before[k] - after[k])
            .collect();
        assert_close(&r.got, &want, &direct, &format!("{rule:?}"));
    }
    let bad = RhsOptions {
        spillover: SpilloverRule::Authors {
            min_degree_loss: 1.5,
        },
        negative_seed: 0,
    };
    assert!(InfluenceRows::plan(spec, p.n_users, p.n_items, &p.train, &p.forget, bad).is_err());
}

#[test]
fn bad_requests_are_errors() {
    let p = problem(4, 3);
    let spec = ModelSpec::new(ModelKind::Lightgcn, 1, DIM, LossKind::Bce).unwrap();
    let too_far = [p.train.len() as u32];
    assert!(
        InfluenceRows::plan(
            spec,
            p.n_users,
            p.n_items,
            &p.train,
            &too_far,
            RhsOptions::default()
        )
        .is_err()
    );
    // Ids beyond the declared sizes.
    assert!(
        InfluenceRows::plan(
            spec,
            p.n_users - 1,
            p.n_items,
            &p.train,
            &p.forget,
            RhsOptions::default()
        )
        .is_err()
    );
    // The spillover term without the new-graph model.
    let gpu = gpu();
    let n = p.n_users + p.n_items;
    let plan = InfluenceRows::plan(
        spec,
        p.n_users,
        p.n_items,
        &p.train,
        &p.forget,
        RhsOptions::default(),
    )
    .unwrap();
    assert!(!plan.spillover.is_empty());
    let params =
        Params::from_nodes(p.n_users, p.n_items, DIM, &vec![0.1; (n * DIM) as usize]).unwrap();
    let adj = ifru::model::adjacency_for(&spec, p.n_users, p.n_items, &p.train)
        .unwrap()
        .unwrap();
    let old = DeviceModel::upload(gpu, spec, &params, Some(&adj)).unwrap();
    assert!(right_hand_side(gpu, &old, None, &plan).is_err());
    // A model of another shape.
    let mf = ModelSpec::new(ModelKind::Mf, 0, DIM, LossKind::Bce).unwrap();
    let other = DeviceModel::upload(gpu, mf, &params, None).unwrap();
    assert!(right_hand_side(gpu, &other, None, &plan).is_err());
    // An empty request: g = 0.
    let empty = InfluenceRows::plan(
        spec,
        p.n_users,
        p.n_items,
        &p.train,
        &[],
        RhsOptions::default(),
    )
    .unwrap();
    let g = right_hand_side(gpu, &old, None, &empty).unwrap();
    assert!(g.download(gpu).unwrap().iter().all(|&v| v == 0.0));
}

#[test]
fn bpr_negatives_are_fixed_per_row_and_unobserved() {
    let p = problem(13, 4);
    let all: Vec<u32> = (0..p.train.len() as u32).collect();
    let a = bpr_negatives(p.n_users, p.n_items, &p.train, &all, 5).unwrap();
    let some: Vec<u32> = all.iter().copied().step_by(3).collect();
    let b = bpr_negatives(p.n_users, p.n_items, &p.train, &some, 5).unwrap();
    for (t, &r) in some.iter().enumerate() {
        assert_eq!(b[t], a[r as usize], "row {r}: same negative in any subset");
    }
    for (r, &j) in a.iter().enumerate() {
        let u = p.train.users[r];
        assert!(j >= p.n_users && j < p.n_users + p.n_items);
        let item = j - p.n_users;
        assert!(
            !(0..p.train.len()).any(|s| p.train.users[s] == u && p.train.items[s] == item),
            "row {r}: the negative is an item the user has a row with"
        );
    }
    let c = bpr_negatives(p.n_users, p.n_items, &p.train, &all, 6).unwrap();
    assert_ne!(a, c, "the seed matters");
    assert!(bpr_negatives(p.n_users, p.n_items, &p.train, &[p.train.len() as u32], 5).is_err());
}

// ---------------------------------------------------------------------------------------
// Pruning

#[test]
fn scores_follow_the_formula_on_a_path() {
    // user0 – item0 – user1 – item1, plus a label-0 row (user1, item1) repeated: nodes
    // u0 = 0, u1 = 1, i0 = 2, i1 = 3.
    let mut t = Interactions::default();
    for (u, i, l) in [(0, 0, 1), (1, 0, 0), (1, 1, 1), (1, 1, 0)] {
        t.push(u, i, l);
    }
    // deg⁺: u0 = 2, u1 = 4, i0 = 3, i1 = 3.
    let s0 = importance_scores(2, 2, &t, &[0], 0).unwrap();
    assert_eq!(s0, [1.0 / 2.0, 0.0, 1.0 / 3.0, 0.0]);
    let s1 = importance_scores(2, 2, &t, &[0], 1).unwrap();
    let want = [
        (0.5 + 1.0 / 3.0) / 2.0, // u0: itself and i0
        (1.0 / 3.0) / 4.0,       // u1: from i0
        (0.5 + 1.0 / 3.0) / 3.0, // i0: u0 and itself
        0.0,                     // i1: no scored neighbour
    ];
    for (a, b) in s1.iter().zip(want) {
        assert!((a - b).abs() < 1e-15, "{s1:?} vs {want:?}");
    }
}

#[test]
fn request_local_scores_equal_the_whole_graph_definition_bit_for_bit() {
    for seed in 0..12u64 {
        let p = problem(100 + seed, 1 + seed as usize % 6);
        for hops in 0..=3 {
            let local = importance_scores(p.n_users, p.n_items, &p.train, &p.forget, hops).unwrap();
            let whole = ifru::reference::prune::importance_scores(
                p.n_users, p.n_items, &p.train, &p.forget, hops,
            )
            .unwrap();
            assert_eq!(local.len(), whole.len());
            for (v, (a, b)) in local.iter().zip(&whole).enumerate() {
                assert_eq!(
                    a.to_bits(),
                    b.to_bits(),
                    "seed {seed}, hops {hops}, node {v}"
                );
            }
        }
    }
    // Ids out of range are refused by both.
    let mut t = Interactions::default();
    t.push(0, 5, 1);
    assert!(importance_scores(2, 2, &t, &[0], 1).is_err());
}

#[test]
fn pruning_properties() {
    let p = problem(17, 5);
    let touched: BTreeSet<u32> = p
        .forget
        .iter()
        .flat_map(|&r| {
            [
                p.train.users[r as usize],
                p.n_users + p.train.items[r as usize],
            ]
        })
        .collect();
    let opts = PruneOptions::unbounded;
    let k0 = prune(p.n_users, p.n_items, &p.train, &p.forget, opts(0, 1.0)).unwrap();
    assert_eq!(k0.nodes, touched.iter().copied().collect::<Vec<_>>());
    assert_eq!(k0.kept_users + k0.kept_items, k0.nodes.len());
    assert_eq!(
        k0.kept_users,
        touched.iter().filter(|&&v| v < p.n_users).count()
    );
    for hops in 1..=2 {
        let all = prune(p.n_users, p.n_items, &p.train, &p.forget, opts(hops, 1.0)).unwrap();
        let scores = importance_scores(p.n_users, p.n_items, &p.train, &p.forget, hops).unwrap();
        let nonzero: Vec<u32> = (0..scores.len() as u32)
            .filter(|&v| scores[v as usize] != 0.0)
            .collect();
        assert_eq!(all.nodes, nonzero, "keep = 1 keeps every scored node");
        assert_eq!(all.candidates, nonzero.len());
        assert!(all.threshold.is_none());
        let graph = ifru::graph::BipartiteGraph::from_rows(
            p.n_users,
            p.n_items,
            &p.train.users,
            &p.train.items,
            &vec![1; p.train.len()],
        )
        .unwrap();
        let seeds: Vec<u32> = touched.iter().copied().collect();
        let reach = ifru::graph::k_hop_nodes(graph.adjacency(), &seeds, hops as usize).unwrap();
        assert_eq!(all.nodes, reach, "the scored nodes are the k-hop region");
        let part = prune(p.n_users, p.n_items, &p.train, &p.forget, opts(hops, 0.6)).unwrap();
        let t = part.threshold.unwrap();
        assert!(part.nodes.iter().all(|&v| scores[v as usize] > t));
        assert!(
            nonzero
                .iter()
                .filter(|v| part.nodes.binary_search(v).is_err())
                .all(|&v| scores[v as usize] <= t)
        );
        let frac = part.nodes.len() as f64 / nonzero.len() as f64;
        assert!(frac > 0.4 && frac < 0.7, "kept {frac} of the candidates");
    }
    for keep in [0.0, -0.1, 1.5, f64::NAN] {
        assert!(prune(p.n_users, p.n_items, &p.train, &p.forget, opts(1, keep)).is_err());
    }
    assert!(prune(p.n_users, p.n_items, &p.train, &[9999], opts(1, 1.0)).is_err());
    let none = prune(p.n_users, p.n_items, &p.train, &[], opts(1, 0.6)).unwrap();
    assert!(none.nodes.is_empty() && none.candidates == 0);
    let budgeted = PruneOptions {
        budget: Some(ifru::unlearn::influence::prune::NEIGHBOUR_BUDGET),
        ..opts(1, 1.0)
    };
    assert_eq!(PruneOptions::default_for(ModelKind::Mf), budgeted);
    assert_eq!(PruneOptions::default_for(ModelKind::Lightgcn), opts(1, 0.6));
}

/// The neighbour budget keeps the request's own nodes and at most `budget` of the others per
/// own node, the highest-scoring ones; budget 0 is hop 0 and a budget above the region's
/// size changes nothing; a negative or non-finite budget is an error.
#[test]
fn the_neighbour_budget_keeps_own_nodes_and_the_best_neighbours() {
    let p = problem(23, 4);
    let (nu, ni) = (p.n_users, p.n_items);
    let with = |hops, keep, budget| PruneOptions {
        budget,
        ..PruneOptions::unbounded(hops, keep)
    };
    let own = prune(nu, ni, &p.train, &p.forget, with(0, 1.0, None))
        .unwrap()
        .nodes;
    let zero = prune(nu, ni, &p.train, &p.forget, with(2, 1.0, Some(0.0))).unwrap();
    assert_eq!(
        zero.nodes, own,
        "budget 0 keeps exactly the request's own nodes"
    );
    for hops in 1..=2 {
        let all = prune(nu, ni, &p.train, &p.forget, with(hops, 1.0, None)).unwrap();
        let big = prune(nu, ni, &p.train, &p.forget, with(hops, 1.0, Some(1e6))).unwrap();
        assert_eq!(big.nodes, all.nodes);
        let scores = importance_scores(nu, ni, &p.train, &p.forget, hops).unwrap();
        let budget = 1.5;
        let cut = prune(nu, ni, &p.train, &p.forget, with(hops, 1.0, Some(budget))).unwrap();
        let others = |nodes: &[u32]| -> Vec<u32> {
            nodes
                .iter()
                .copied()
                .filter(|v| own.binary_search(v).is_err())
                .collect()
        };
        let kept = others(&cut.nodes);
        assert!(own.iter().all(|v| cut.nodes.binary_search(v).is_ok()));
        assert_eq!(
            kept.len(),
            (budget * own.len() as f64) as usize,
            "hops {hops}"
        );
        assert!(
            others(&all.nodes).len() > kept.len(),
            "a degenerate test: nothing to cut"
        );
        let lowest_kept = kept
            .iter()
            .map(|&v| scores[v as usize])
            .fold(f64::INFINITY, f64::min);
        for v in others(&all.nodes) {
            if kept.binary_search(&v).is_err() {
                assert!(
                    scores[v as usize] <= lowest_kept,
                    "node {v} dropped above a kept one"
                );
            }
        }
    }
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        assert!(prune(nu, ni, &p.train, &p.forget, with(1, 1.0, Some(bad))).is_err());
    }
}

#[test]
fn node_subset_gathers_and_scatters_exactly() {
    let gpu = gpu();
    let (n, d) = (53u32, 12u32);
    let full_vals = random_vec(&mut rng(2), (n * d) as usize);
    let full = DeviceTable::upload(gpu, n, d, &full_vals, "full").unwrap();
    let nodes = [0u32, 3, 4, 17, 30, 52];
    let subset = NodeSubset::new(gpu, n, &nodes).unwrap();
    let kept = DeviceTable::zeros(gpu, nodes.len() as u32, d, "kept").unwrap();
    let back = DeviceTable::upload(gpu, n, d, &vec![7.0; (n * d) as usize], "back").unwrap();
    let plan = subset
        .gather(gpu, &full, &kept)
        .unwrap()
        .then(subset.scatter(gpu, &kept, &back).unwrap());
    gpu.run("subset", |pass| plan.record(pass)).unwrap();
    drop(plan);
    let kept = kept.download(gpu).unwrap();
    let back = back.download(gpu).unwrap();
    let d = d as usize;
    for (t, &v) in nodes.iter().enumerate() {
        let v = v as usize;
        assert_eq!(&kept[t * d..(t + 1) * d], &full_vals[v * d..(v + 1) * d]);
    }
    for v in 0..n as usize {
        let row = &back[v * d..(v + 1) * d];
        if nodes.contains(&(v as u32)) {
            assert_eq!(row, &full_vals[v * d..(v + 1) * d]);
        } else {
            assert!(row.iter().all(|&x| x == 0.0), "node {v} is zeroed");
        }
    }
    assert!(NodeSubset::new(gpu, n, &[]).is_err());
    assert!(NodeSubset::new(gpu, n, &[3, 3]).is_err());
    assert!(NodeSubset::new(gpu, n, &[5, 2]).is_err());
    assert!(NodeSubset::new(gpu, n, &[n]).is_err());
    let wrong = DeviceTable::zeros(gpu, 5, d as u32, "wrong").unwrap();
    assert!(subset.gather(gpu, &full, &wrong).is_err());
    assert!(subset.add_to(gpu, &wrong, &full).is_err());

    // add_to: full[nodes[t]] += kept[t], every other row untouched (exact: one f32 add).
    let kept_vals = random_vec(&mut rng(3), nodes.len() * d);
    let kept = DeviceTable::upload(gpu, nodes.len() as u32, d as u32, &kept_vals, "k").unwrap();
    let plan = subset.add_to(gpu, &kept, &full).unwrap();
    gpu.run("add", |pass| plan.record(pass)).unwrap();
    drop(plan);
    let after = full.download(gpu).unwrap();
    let mut want = full_vals.clone();
    for (t, &v) in nodes.iter().enumerate() {
        for k in 0..d {
            want[v as usize * d + k] += kept_vals[t * d + k];
        }
    }
    assert_eq!(after, want);
}

#[test]
fn right_hand_side_on_kept_nodes_equals_the_full_one_picked() {
    let gpu = gpu();
    let p = problem(9, 6);
    let n = p.n_users + p.n_items;
    // Every node, and a scattered subset (some touched by the forget rows, some not).
    let all: Vec<u32> = (0..n).collect();
    let some: Vec<u32> = (0..n).filter(|v| v % 3 != 1).collect();
    for spec in [
        ModelSpec::new(ModelKind::Mf, 0, 8, LossKind::Bce).unwrap(),
        ModelSpec::new(ModelKind::Mf, 0, 8, LossKind::Bpr).unwrap(),
        ModelSpec::new(ModelKind::Lightgcn, 1, 8, LossKind::Bce).unwrap(),
    ] {
        let full = run(&p, spec, RhsOptions::default());
        let theta = random_vec(&mut rng(77), (n * spec.dim) as usize);
        let params = Params::from_nodes(p.n_users, p.n_items, spec.dim, &theta).unwrap();
        let old_adj = ifru::model::adjacency_for(&spec, p.n_users, p.n_items, &p.train)
            .unwrap()
            .unwrap_or_else(|| identity(n));
        let old = DeviceModel::upload(gpu, spec, &params, Some(&old_adj)).unwrap();
        let new = full.plan.new_model(gpu, &old).unwrap();
        for nodes in [&all, &some] {
            let subset = NodeSubset::new(gpu, n, nodes).unwrap();
            let g = right_hand_side_on(gpu, &old, new.as_ref(), &full.plan, &subset)
                .unwrap()
                .download(gpu)
                .unwrap();
            let d = spec.dim as usize;
            for (t, &v) in nodes.iter().enumerate() {
                let want = &full.got[v as usize * d..(v as usize + 1) * d];
                // The same sums in the same order per row: equal to rounding.
                for (a, b) in g[t * d..(t + 1) * d].iter().zip(want) {
                    assert!(
                        (a - b).abs() <= 1e-6 * (1.0 + b.abs()),
                        "{spec:?} node {v}: {a} vs {b}"
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The authors' counts on ml-100k-ifru

#[test]
fn authors_counts_on_ml_100k_ifru() {
    let dir = common::require_data!().join("ml-100k-ifru");
    let split = |ratio: &str| ifru::data::ifru_folder::load(&dir.join(ratio)).unwrap();
    let opts = PruneOptions::unbounded;

    // MF uses the 0.02 split.
    let d = split("0.02");
    let forget: Vec<u32> = d.flipped_rows().collect();
    assert_eq!(forget.len(), 1192);
    let k0 = prune(d.n_users, d.n_items, &d.train, &forget, opts(0, 1.0)).unwrap();
    assert_eq!((k0.kept_users, k0.kept_items), (544, 612));
    assert_eq!(k0.nodes.len(), 1156, "MF, k_hop 0");
    let k1 = prune(d.n_users, d.n_items, &d.train, &forget, opts(1, 1.0)).unwrap();
    assert_eq!(k1.nodes.len(), 2286, "MF, k_hop 1");

    // LightGCN uses the 0.01 split.
    let d = split("0.01");
    let forget: Vec<u32> = d.flipped_rows().collect();
    assert_eq!(forget.len(), 596);
    let lg = prune(d.n_users, d.n_items, &d.train, &forget, opts(1, 0.6)).unwrap();
    eprintln!(
        "LightGCN pruning: {} of {} candidates ({} users, {} items)",
        lg.nodes.len(),
        lg.candidates,
        lg.kept_users,
        lg.kept_items
    );
    assert_eq!(lg.nodes.len(), 1369, "LightGCN, k_hop 1, keep 0.6");

    let spec = ModelSpec::new(ModelKind::Lightgcn, 1, 32, LossKind::Bce).unwrap();
    let authors = RhsOptions {
        spillover: SpilloverRule::AUTHORS,
        negative_seed: 0,
    };
    let plan = InfluenceRows::plan(spec, d.n_users, d.n_items, &d.train, &forget, authors).unwrap();
    assert_eq!(plan.spillover.len(), 27_624, "the authors' spillover set");
    assert_eq!(plan.direct.len(), 596);
    let exact = InfluenceRows::plan(
        spec,
        d.n_users,
        d.n_items,
        &d.train,
        &forget,
        RhsOptions::default(),
    )
    .unwrap();
    eprintln!(
        "exact spillover set for K = 1: {} rows ({} changed nodes)",
        exact.spillover.len(),
        exact.changed.len()
    );
    assert!(exact.spillover.len() >= plan.spillover.len());
}

// ---------------------------------------------------------------------------------------
// The Newton continuation's right-hand side

/// The next step's right-hand side from θ̂ + Δ equals g − [∇L'(θ̂ + Δ) − ∇L'(θ̂)] − λΔ on P
/// from the f64 reference (L' the remaining rows under Â', λ the operator's), for MF (BCE,
/// BPR with negatives drawn per row: rows reach P through them too) and LightGCN K 2,
/// with P a scattered subset and the rows restricted to the operator's reach of P. Same
/// tolerance as g itself (the module notes): a difference of gradient sums in f32.
#[test]
fn relinearised_rhs_equals_the_reference_newton_residual() {
    use ifru::graph::{BipartiteGraph, k_hop_nodes, normalize};
    use ifru::unlearn::ForgetRows;
    use ifru::unlearn::influence::RequestContext;
    use ifru::unlearn::influence::newton::Relinearisation;
    let gpu = gpu();
    let p = problem(21, 6);
    let n = p.n_users + p.n_items;
    let lambda = 0.3f32;
    for (kind, layers, loss) in [
        (ModelKind::Mf, 0, LossKind::Bce),
        (ModelKind::Mf, 0, LossKind::Bpr),
        (ModelKind::Lightgcn, 2, LossKind::Bce),
    ] {
        let spec = ModelSpec::new(kind, layers, DIM, loss).unwrap();
        let seed = 11;
        let options = RhsOptions {
            spillover: SpilloverRule::Exact,
            negative_seed: seed,
        };
        let full = run(&p, spec, options);
        let keep: Vec<u32> = (0..p.train.len() as u32)
            .filter(|r| p.forget.binary_search(r).is_err())
            .collect();
        let remaining = p.train.select(&keep);
        let old_csr =
            normalize(&BipartiteGraph::from_interactions(p.n_users, p.n_items, &p.train).unwrap());
        let new_csr = normalize(
            &BipartiteGraph::from_interactions(p.n_users, p.n_items, &remaining).unwrap(),
        );
        let lightgcn = layers > 0;
        let theta32: Vec<f32> = full.theta.iter().map(|&v| v as f32).collect();
        let params = Params::from_nodes(p.n_users, p.n_items, DIM, &theta32).unwrap();
        let model = DeviceModel::upload(gpu, spec, &params, Some(&full.old_adj)).unwrap();
        let ctx = RequestContext {
            spec,
            n_users: p.n_users,
            n_items: p.n_items,
            model: &model,
            rows: &p.train,
            graph: None,
            resident_rows: None,
            forget: &p.forget,
            old_adjacency: lightgcn.then_some(&old_csr),
            new_adjacency: lightgcn.then_some(&new_csr),
            reg_per_row: 0.0,
            valid: None,
            negatives: None,
            forget_rows: ForgetRows::Genuine,
        };
        let nodes: Vec<u32> = (0..n).filter(|v| v % 3 != 1).collect();
        let kept = NodeSubset::new(gpu, n, &nodes).unwrap();
        let near = match layers {
            0 => nodes.clone(),
            k => k_hop_nodes(&old_csr, &nodes, k as usize).unwrap(),
        };
        let new = full.plan.new_model(gpu, &model).unwrap();
        let g = right_hand_side_on(gpu, &model, new.as_ref(), &full.plan, &kept).unwrap();
        let delta: Vec<f32> = random_vec(&mut rng(5), nodes.len() * DIM as usize)
            .iter()
            .map(|v| 0.3 * v)
            .collect();
        let delta_table = DeviceTable::upload(gpu, nodes.len() as u32, DIM, &delta, "Δ").unwrap();
        let mut relin = Relinearisation::new(gpu, &ctx, &kept, &near, lambda, seed).unwrap();
        let got = relin
            .right_hand_side(gpu, &ctx, &kept, &g, &delta_table)
            .unwrap()
            .download(gpu)
            .unwrap();

        let d = DIM as usize;
        let new_adj = full
            .plan
            .new_adjacency
            .clone()
            .unwrap_or_else(|| identity(n));
        let mut moved = full.theta.clone();
        for (t, &v) in nodes.iter().enumerate() {
            for c in 0..d {
                moved[v as usize * d + c] += f64::from(delta[t * d + c]);
            }
        }
        let at_origin = reference_gradient(&p, spec, &new_adj, &keep, &full.theta, seed);
        let at_moved = reference_gradient(&p, spec, &new_adj, &keep, &moved, seed);
        let mut want = Vec::new();
        let mut scale_from = Vec::new();
        for (t, &v) in nodes.iter().enumerate() {
            for c in 0..d {
                let k = v as usize * d + c;
                want.push(
                    full.got[k] as f64
                        - (at_moved[k] - at_origin[k])
                        - f64::from(lambda) * f64::from(delta[t * d + c]),
                );
                scale_from.push(at_moved[k]);
            }
        }
        assert_close(
            &got,
            &want,
            &scale_from,
            &format!("{kind:?} K={layers} {loss:?}"),
        );
        let moved_by: f64 = want
            .iter()
            .zip(nodes.iter().flat_map(|&v| {
                let k = v as usize * d;
                full.got[k..k + d].iter().map(|&x| x as f64)
            }))
            .map(|(w, g)| (w - g).abs())
            .fold(0.0, f64::max);
        assert!(
            moved_by > 1e-2,
            "a degenerate test: the residual did not move ({moved_by})"
        );
        assert!(
            relin.rows() < remaining.len() || layers > 0 || loss == LossKind::Bpr,
            "MF's rows should be restricted to those touching P"
        );
    }
}
