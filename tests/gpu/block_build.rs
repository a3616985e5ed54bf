//! Block-Jacobi built on the device against its host references: each kept node's
//! Gauss–Newton block (`HvpOperator::device_blocks` against `diagonal_blocks`) and the
//! damped blocks' inverses (`block_invert` against `invert_blocks`), fallbacks included.

use crate::common;

use common::{gpu, random_vec, rng};
use ifru::data::Interactions;
use ifru::gpu::Record;
use ifru::graph::{BipartiteGraph, csr_arrays, normalize};
use ifru::kernels::block::{DeviceBlocks, block_invert};
use ifru::model::{DeviceModel, LossKind, ModelKind, ModelSpec, Params};
use ifru::solve::precond::invert_blocks;
use ifru::unlearn::influence::hvp::{HessianInputs, HessianKind, HvpOperator};
use ifru::unlearn::influence::rhs::bpr_negatives;
use rand::Rng;

/// Users with 1–24 rows each over few items, so items hold more terms than one staged
/// chunk of the kernel (8) and the last user none.
fn rows(seed: u64, n_users: u32, n_items: u32) -> Interactions {
    let mut rng = rng(seed);
    let mut rows = Interactions::default();
    for u in 0..n_users - 1 {
        for _ in 0..rng.random_range(1..25) {
            rows.push(u, rng.random_range(0..n_items), rng.random_range(0..2u8));
        }
    }
    rows
}

#[test]
fn device_blocks_match_the_host_blocks() {
    let gpu = gpu();
    let (n_users, n_items) = (23u32, 9u32);
    let all = rows(3, n_users, n_items);
    // d 68: more columns than a workgroup has threads.
    for dim in [8u32, 68] {
        for (kind, layers, loss) in [
            (ModelKind::Mf, 0, LossKind::Bce),
            (ModelKind::Mf, 0, LossKind::Bpr),
            (ModelKind::Lightgcn, 2, LossKind::Bce),
            (ModelKind::Lightgcn, 1, LossKind::Bpr),
        ] {
            let spec = ModelSpec::new(kind, layers, dim, loss).unwrap();
            let n = n_users + n_items;
            let theta: Vec<f32> = random_vec(&mut rng(dim as u64), (n * dim) as usize)
                .iter()
                .map(|v| v * 0.7)
                .collect();
            let params = Params::from_nodes(n_users, n_items, dim, &theta).unwrap();
            let graph = BipartiteGraph::from_interactions(n_users, n_items, &all).unwrap();
            let adj = normalize(&graph);
            let arrays = csr_arrays(&adj);
            let propagated = kind == ModelKind::Lightgcn;
            let model =
                DeviceModel::upload(gpu, spec, &params, propagated.then_some(&arrays)).unwrap();
            let forward = model.forward(gpu).unwrap();
            gpu.run("forward", |pass| forward.record(pass)).unwrap();
            let (objective, negatives) = match loss {
                LossKind::Bce => (all.clone(), Vec::new()),
                LossKind::Bpr => {
                    let ids: Vec<u32> = (0..all.len() as u32)
                        .filter(|&r| all.labels[r as usize] == 1)
                        .collect();
                    let negatives = bpr_negatives(n_users, n_items, &all, &ids, 5).unwrap();
                    (all.select(&ids), negatives)
                }
            };
            let inputs = HessianInputs {
                spec,
                n_users,
                n_items,
                emb: model.embeddings().view(),
                adjacency: propagated.then_some(&adj),
                rows: &objective,
                negatives: &negatives,
                lambda: 0.3,
            };
            let every: Vec<u32> = (0..n).collect();
            for kept in [every, vec![0, 4, n_users - 1, n_users, n_users + 5]] {
                let what = format!("{kind:?} {loss:?} d {dim}, {} kept", kept.len());
                let op = HvpOperator::new(gpu, &inputs, HessianKind::GaussNewton, &kept).unwrap();
                let host = op.diagonal_blocks(gpu).unwrap();
                let device = op.device_blocks(gpu).unwrap();
                let got = gpu.download(device.blocks.values()).unwrap();
                assert_eq!(got.len(), host.len(), "{what}");
                let d = dim as usize;
                let mut trace = 0.0;
                for (b, (g, h)) in got.chunks(d * d).zip(host.chunks(d * d)).enumerate() {
                    // The same f32 products summed in another order: at most ~60 terms of
                    // one entry's size each, so 1e-5 of the block's largest entry is ~100 ulps.
                    let scale = h.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                    for (k, (&x, &y)) in g.iter().zip(h).enumerate() {
                        assert!(
                            (x as f64 - y).abs() <= 1e-5 * scale,
                            "{what}: block {b} entry {k}: device {x} host {y}"
                        );
                        // Built symmetric, bit for bit.
                        assert_eq!(x, g[(k % d) * d + k / d], "{what}: block {b} entry {k}");
                    }
                    trace += (0..d).map(|a| h[a * d + a]).sum::<f64>();
                }
                let mean = trace / (kept.len() * d) as f64;
                assert!(
                    (device.mean_diagonal - mean).abs() <= 1e-5 * mean,
                    "{what}: mean diagonal {} vs {mean}",
                    device.mean_diagonal
                );
            }
        }
    }
}

/// `n` blocks `G Gᵀ / d` of pseudo-random G (eigenvalues in about [0, 4]).
fn spd_blocks(seed: u64, n: usize, d: usize) -> Vec<f64> {
    let mut rng = rng(seed);
    let mut blocks = Vec::with_capacity(n * d * d);
    for _ in 0..n {
        let g: Vec<f64> = (0..d * d).map(|_| rng.random_range(-1.0..1.0)).collect();
        for i in 0..d {
            for j in 0..d {
                let dot: f64 = (0..d).map(|k| g[i * d + k] * g[j * d + k]).sum();
                blocks.push(dot / d as f64);
            }
        }
    }
    blocks
}

fn invert_on_device(blocks: &[f64], d: usize, damping: f32) -> (Vec<f32>, Vec<f32>) {
    let gpu = gpu();
    let values: Vec<f32> = blocks.iter().map(|&v| v as f32).collect();
    let input = DeviceBlocks::upload(gpu, d, &values, "blocks").unwrap();
    let out = DeviceBlocks::zeros(gpu, input.n_blocks(), d as u32, "inverses").unwrap();
    let flags = gpu
        .zeros::<f32>(input.n_blocks() as usize, "flags")
        .unwrap();
    let plan = block_invert(gpu, &input, damping, &out, &flags).unwrap();
    gpu.run("invert", |pass| plan.record(pass)).unwrap();
    (
        gpu.download(out.values()).unwrap(),
        gpu.download(&flags).unwrap(),
    )
}

#[test]
fn device_inverses_match_the_host_cholesky() {
    for d in [4usize, 48, 68] {
        let blocks = spd_blocks(d as u64, 5, d);
        let damping = 0.3f32;
        let (got, flags) = invert_on_device(&blocks, d, damping);
        let host = invert_blocks(&blocks, d, damping as f64).unwrap();
        assert_eq!(host.fallbacks, 0);
        assert!(flags.iter().all(|&f| f == 0.0), "d {d}: {flags:?}");
        for (b, (g, h)) in got
            .chunks(d * d)
            .zip(host.inverses.chunks(d * d))
            .enumerate()
        {
            // κ ≤ (4 + 0.3) / 0.3 ≈ 14: f32 elimination errs by about d·κ·ε ≈ 1e-5 of the
            // inverse's scale (the host's f64 Cholesky is exact to f32 rounding).
            let scale = h.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            for (k, (&x, &y)) in g.iter().zip(h).enumerate() {
                assert!(
                    (x - y).abs() <= 1e-4 * scale,
                    "d {d} block {b} entry {k}: device {x} host {y}"
                );
                assert_eq!(x, g[(k % d) * d + k / d], "d {d} block {b}: not symmetric");
            }
        }
    }
}

#[test]
fn unusable_blocks_take_the_same_jacobi_fallback_as_on_the_host() {
    let d = 3;
    let mut blocks = spd_blocks(9, 5, d);
    // Block 0 indefinite (a negative eigenvalue beyond δ), block 1 NaN, block 2 infinite,
    // block 3 a non-positive diagonal entry too, block 4 fine.
    blocks[0] = -2.0;
    blocks[d * d + 4] = f64::NAN;
    blocks[2 * d * d + 1] = f64::INFINITY;
    blocks[3 * d * d] = -5.0;
    let damping = 0.5;
    let (got, flags) = invert_on_device(&blocks, d, damping);
    let host = invert_blocks(&blocks, d, damping as f64).unwrap();
    assert_eq!(flags, [1.0, 1.0, 1.0, 1.0, 0.0]);
    assert_eq!(host.fallbacks, 4);
    for (k, (&x, &y)) in got.iter().zip(&host.inverses).enumerate().take(4 * d * d) {
        // 1/m: a WGSL division (2.5 ulp) against f64 rounded to f32.
        assert!(
            (x - y).abs() <= 4.0 * f32::EPSILON * y.abs(),
            "entry {k}: {x} vs {y}"
        );
    }
    assert_eq!(got[3 * d * d], 1.0, "a non-positive diagonal entry gets 1");
}
