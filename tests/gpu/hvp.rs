//! The Hessian-vector product on the GPU against the f64 reference, for every Hessian kind,
//! MF and LightGCN, on all nodes and on a kept subset (which exercises the local subgraph).
//!
//! Tolerance: relative 1e-5 of the largest reference entry (the bar): each entry is
//! a sum of O(deg²·d·K) f32 products of values of order one, far inside it.

use crate::common;

use common::{gpu, gpus_both_row_layouts, random_vec, rng};
use ifru::data::Interactions;
use ifru::gpu::{GpuBuffer, Record};
use ifru::graph::{BipartiteGraph, csr_arrays, normalize};
use ifru::model::{DeviceModel, LossKind, ModelKind, ModelSpec, Params};
use ifru::reference::model::{Adjacency, HessianRef, LabelledRows, Triples, bce_hvp, bpr_hvp};
use ifru::solve::LinearOperator;
use ifru::unlearn::influence::hvp::{HessianInputs, HessianKind, HvpOperator};
use ifru::unlearn::influence::rhs::bpr_negatives;
use rand::Rng;

const DIM: u32 = 8;

struct Problem {
    n_users: u32,
    n_items: u32,
    rows: Interactions,
    theta: Vec<f32>,
}

fn problem(seed: u64) -> Problem {
    let mut rng = rng(seed);
    let (n_users, n_items) = (31u32, 19u32);
    let mut rows = Interactions::default();
    for u in 0..n_users - 1 {
        // The last user has no rows: an isolated node.
        for _ in 0..rng.random_range(1..6) {
            rows.push(u, rng.random_range(0..n_items), rng.random_range(0..2u8));
        }
    }
    let theta = random_vec(&mut rng, ((n_users + n_items) * DIM) as usize)
        .iter()
        .map(|v| v * 0.7)
        .collect();
    Problem {
        n_users,
        n_items,
        rows,
        theta,
    }
}

/// The Hessian's rows for a loss: every row (BCE) or the positive ones with a negative each
/// (BPR, drawn as the unlearner draws them).
fn objective_rows(p: &Problem, loss: LossKind) -> (Interactions, Vec<u32>) {
    match loss {
        LossKind::Bce => (p.rows.clone(), Vec::new()),
        LossKind::Bpr => {
            let ids: Vec<u32> = (0..p.rows.len() as u32)
                .filter(|&r| p.rows.labels[r as usize] == 1)
                .collect();
            let negatives = bpr_negatives(p.n_users, p.n_items, &p.rows, &ids, 11).unwrap();
            (p.rows.select(&ids), negatives)
        }
    }
}

fn kind_ref(kind: HessianKind) -> HessianRef {
    match kind {
        HessianKind::GaussNewton => HessianRef::GaussNewton,
        HessianKind::Full => HessianRef::Full,
        HessianKind::Surrogate => HessianRef::Surrogate,
    }
}

/// GPU `(H v)_P` and the reference's, for v supported on `kept`.
fn both(
    gpu: &ifru::gpu::Gpu,
    p: &Problem,
    spec: ModelSpec,
    kind: HessianKind,
    kept: &[u32],
    seed: u64,
) -> (Vec<f32>, Vec<f64>) {
    let n = p.n_users + p.n_items;
    let graph = BipartiteGraph::from_interactions(p.n_users, p.n_items, &p.rows).unwrap();
    let adj = normalize(&graph);
    let arrays = csr_arrays(&adj);
    let params = Params::from_nodes(p.n_users, p.n_items, DIM, &p.theta).unwrap();
    let model = DeviceModel::upload(gpu, spec, &params, Some(&arrays)).unwrap();
    let forward = model.forward(gpu).unwrap();
    gpu.run("forward", |pass| forward.record(pass)).unwrap();
    let lambda = 0.05f32;
    let (rows, negatives) = objective_rows(p, spec.loss);
    let inputs = HessianInputs {
        spec,
        n_users: p.n_users,
        n_items: p.n_items,
        emb: model.embeddings().view(),
        adjacency: Some(&adj),
        rows: &rows,
        negatives: &negatives,
        lambda,
    };
    let op = HvpOperator::new(gpu, &inputs, kind, kept).unwrap();
    let d = DIM as usize;
    let v_kept = random_vec(&mut rng(seed), kept.len() * d);
    let x = gpu.upload(&v_kept, "x").unwrap();
    let y: GpuBuffer<f32> = gpu.zeros(op.len(), "y").unwrap();
    let plan = op.apply(gpu, &x, &y).unwrap();
    gpu.run("hvp", |pass| plan.record(pass)).unwrap();
    let got = gpu.download(&y).unwrap();

    let mut v = vec![0.0f64; (n * DIM) as usize];
    for (k, &node) in op.kept().iter().enumerate() {
        for j in 0..d {
            v[node as usize * d + j] = v_kept[k * d + j] as f64;
        }
    }
    let users: Vec<u32> = rows.users.clone();
    let items: Vec<u32> = rows.items.iter().map(|i| i + p.n_users).collect();
    let labels = rows.labels_f32();
    let a = Adjacency {
        row_ptr: &arrays.row_ptr,
        cols: &arrays.col_idx,
        vals: &arrays.vals,
    };
    let weights: Vec<f64> = spec.layer_weights().iter().map(|&w| w as f64).collect();
    let theta: Vec<f64> = p.theta.iter().map(|&t| t as f64).collect();
    let hv = match spec.loss {
        LossKind::Bce => bce_hvp(
            a,
            &weights,
            LabelledRows {
                user_nodes: &users,
                item_nodes: &items,
                labels: &labels,
            },
            lambda as f64,
            &theta,
            &v,
            d,
            kind_ref(kind),
        ),
        LossKind::Bpr => bpr_hvp(
            a,
            &weights,
            Triples {
                user_nodes: &users,
                pos_nodes: &items,
                neg_nodes: &negatives,
            },
            lambda as f64,
            &theta,
            &v,
            d,
            kind_ref(kind),
        ),
    };
    let want: Vec<f64> = op
        .kept()
        .iter()
        .flat_map(|&node| hv[node as usize * d..(node as usize + 1) * d].to_vec())
        .collect();
    (got, want)
}

fn assert_close(what: &str, got: &[f32], want: &[f64]) {
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-6);
    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= 1e-5 * scale,
            "{what}: entry {k}: {g} vs {w} (scale {scale})"
        );
    }
}

fn specs() -> Vec<ModelSpec> {
    let mut specs = Vec::new();
    for loss in [LossKind::Bce, LossKind::Bpr] {
        specs.push(ModelSpec::new(ModelKind::Mf, 0, DIM, loss).unwrap());
        specs.push(ModelSpec::new(ModelKind::Lightgcn, 1, DIM, loss).unwrap());
        specs.push(ModelSpec::new(ModelKind::Lightgcn, 2, DIM, loss).unwrap());
    }
    specs
}

#[test]
fn hvp_on_all_nodes_matches_reference_for_every_kind() {
    let p = problem(1);
    let all: Vec<u32> = (0..p.n_users + p.n_items).collect();
    for spec in specs() {
        for kind in [
            HessianKind::GaussNewton,
            HessianKind::Full,
            HessianKind::Surrogate,
        ] {
            let (got, want) = both(gpu(), &p, spec, kind, &all, 2);
            assert_close(
                &format!("{:?} {:?} K={} {kind:?}", spec.loss, spec.kind, spec.layers),
                &got,
                &want,
            );
        }
    }
}

#[test]
fn hvp_on_kept_nodes_equals_the_whole_graph_product_restricted() {
    let p = problem(3);
    let n = p.n_users + p.n_items;
    // A scattered subset: users and items, including the isolated user.
    let kept: Vec<u32> = (0..n)
        .filter(|v| v % 3 == 0 || *v == p.n_users - 1)
        .collect();
    // Both layouts of the row-coefficient kernel.
    for gpu in gpus_both_row_layouts() {
        for spec in specs() {
            for kind in [HessianKind::GaussNewton, HessianKind::Full] {
                let (got, want) = both(gpu, &p, spec, kind, &kept, 4);
                assert_close(
                    &format!(
                        "kept {:?} {:?} K={} {kind:?}",
                        spec.loss, spec.kind, spec.layers
                    ),
                    &got,
                    &want,
                );
            }
        }
    }
}

#[test]
fn hvp_is_symmetric() {
    for loss in [LossKind::Bce, LossKind::Bpr] {
        symmetric_for(loss);
    }
}

fn symmetric_for(loss: LossKind) {
    let gpu = gpu();
    let p = problem(5);
    let spec = ModelSpec::new(ModelKind::Lightgcn, 2, DIM, loss).unwrap();
    let graph = BipartiteGraph::from_interactions(p.n_users, p.n_items, &p.rows).unwrap();
    let adj = normalize(&graph);
    let arrays = csr_arrays(&adj);
    let params = Params::from_nodes(p.n_users, p.n_items, DIM, &p.theta).unwrap();
    let model = DeviceModel::upload(gpu, spec, &params, Some(&arrays)).unwrap();
    let forward = model.forward(gpu).unwrap();
    gpu.run("forward", |pass| forward.record(pass)).unwrap();
    let kept: Vec<u32> = (0..p.n_users + p.n_items).filter(|v| v % 2 == 1).collect();
    let (rows, negatives) = objective_rows(&p, loss);
    let inputs = HessianInputs {
        spec,
        n_users: p.n_users,
        n_items: p.n_items,
        emb: model.embeddings().view(),
        adjacency: Some(&adj),
        rows: &rows,
        negatives: &negatives,
        lambda: 0.0,
    };
    for kind in [HessianKind::GaussNewton, HessianKind::Full] {
        let op = HvpOperator::new(gpu, &inputs, kind, &kept).unwrap();
        let (uh, vh) = (
            random_vec(&mut rng(6), op.len()),
            random_vec(&mut rng(7), op.len()),
        );
        let (u, v) = (gpu.upload(&uh, "u").unwrap(), gpu.upload(&vh, "v").unwrap());
        let (hu, hv): (GpuBuffer<f32>, GpuBuffer<f32>) = (
            gpu.zeros(op.len(), "hu").unwrap(),
            gpu.zeros(op.len(), "hv").unwrap(),
        );
        let plan = op
            .apply(gpu, &u, &hu)
            .unwrap()
            .then(op.apply(gpu, &v, &hv).unwrap());
        gpu.run("hvp", |pass| plan.record(pass)).unwrap();
        let (hu, hv) = (gpu.download(&hu).unwrap(), gpu.download(&hv).unwrap());
        let dot = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| *x as f64 * *y as f64)
                .sum::<f64>()
        };
        let (a, b) = (dot(&uh, &hv), dot(&hu, &vh));
        let scale = dot(&hu, &hu).sqrt() * dot(&vh, &vh).sqrt();
        // f32 products: agreement to 1e-5 of the Cauchy–Schwarz bound.
        assert!(
            (a - b).abs() <= 1e-5 * scale,
            "{loss:?} {kind:?}: <u,Hv> {a} vs <Hu,v> {b}"
        );
    }
}

#[test]
fn mf_diagonal_blocks_are_the_exact_gauss_newton_blocks() {
    for loss in [LossKind::Bce, LossKind::Bpr] {
        diagonal_blocks_for(loss);
    }
}

fn diagonal_blocks_for(loss: LossKind) {
    let gpu = gpu();
    let p = problem(8);
    let spec = ModelSpec::new(ModelKind::Mf, 0, DIM, loss).unwrap();
    let params = Params::from_nodes(p.n_users, p.n_items, DIM, &p.theta).unwrap();
    let model = DeviceModel::upload(gpu, spec, &params, None).unwrap();
    let kept = [0u32, 5, p.n_users + 2];
    let (rows, negatives) = objective_rows(&p, loss);
    let inputs = HessianInputs {
        spec,
        n_users: p.n_users,
        n_items: p.n_items,
        emb: model.embeddings().view(),
        adjacency: None,
        rows: &rows,
        negatives: &negatives,
        lambda: 0.3,
    };
    let op = HvpOperator::new(gpu, &inputs, HessianKind::GaussNewton, &kept).unwrap();
    let blocks = op.diagonal_blocks(gpu).unwrap();
    let d = DIM as usize;
    // The Jacobi diagonal is the blocks' diagonal (summed in another order: f32 rounding).
    let diag = op.diagonal(gpu).unwrap();
    for (k, &v) in diag.iter().enumerate() {
        let want = blocks[(k / d) * d * d + (k % d) * d + k % d];
        assert!(
            (v as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()),
            "diagonal {k}: {v} vs {want}"
        );
    }
    // Column j of node k's block: H e_{k,j} read on node k.
    for (k, _) in kept.iter().enumerate() {
        for j in 0..d {
            let mut e = vec![0.0f32; op.len()];
            e[k * d + j] = 1.0;
            let x = gpu.upload(&e, "e").unwrap();
            let y: GpuBuffer<f32> = gpu.zeros(op.len(), "y").unwrap();
            let plan = op.apply(gpu, &x, &y).unwrap();
            gpu.run("column", |pass| plan.record(pass)).unwrap();
            let col = gpu.download(&y).unwrap();
            for a in 0..d {
                let want = blocks[k * d * d + a * d + j];
                assert!(
                    (col[k * d + a] as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "block {k} ({a},{j})"
                );
            }
        }
    }
}
