//! f16 storage: every f16 kernel against its f64 reference within the bound that
//! [`ifru::reference::half`] derives from f16's unit roundoff, on both device paths (packed
//! pairs everywhere; native `f16` where the adapter grants `SHADER_F16`, skipped with a
//! printed reason otherwise).

use crate::common;

use std::sync::OnceLock;

use common::{gpu, open, random_csr, random_vec, rng};
use ifru::gpu::{Gpu, GpuOptions, Record};
use ifru::kernels::half::{
    HalfPath, HalfPropagationScratch, half_path, pack_halves, propagate_half, rows_axpby,
    unpack_halves,
};
use ifru::kernels::pair_loss::{DevicePairs, RECORD, score_bce};
use ifru::kernels::propagate::{PropagationScratch, propagate, uniform_weights};
use ifru::kernels::spmm::{DeviceCsr, spmm};
use ifru::kernels::topk::{DeviceUserItems, NO_ITEM, top_k};
use ifru::kernels::{DeviceTable, HalfTable, Plan};
use ifru::reference::half::{self as reference, Bounded};
use ifru::reference::{kernels as reference32, tolerance};

/// A device that reads f16 tables as packed pairs (SHADER_F16 left unrequested).
fn packed_gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        open(GpuOptions {
            shader_f16: false,
            ..GpuOptions::default()
        })
    })
}

/// The devices to test: packed always, native where granted.
fn paths() -> Vec<(&'static str, &'static Gpu)> {
    let packed = packed_gpu();
    assert_eq!(half_path(packed), HalfPath::Packed);
    let mut out = vec![("packed", packed)];
    if half_path(gpu()) == HalfPath::Native {
        out.push(("native", gpu()));
    } else {
        eprintln!(
            "skipping the native f16 path: adapter {} does not grant SHADER_F16",
            gpu().adapter().name
        );
    }
    out
}

fn run(gpu: &Gpu, plan: &Plan<'_>) {
    gpu.run("test", |pass| plan.record(pass))
        .expect("kernel run");
}

fn assert_within(what: &str, got: &[f32], want: &Bounded) {
    let (ratio, at) = want.worst_ratio(got);
    assert!(
        ratio <= 1.0,
        "{what}: value {at} is {} but the reference says {} ± {:e} ({ratio:.2}x the bound)",
        got[at],
        want.values[at],
        want.bounds[at]
    );
}

#[test]
fn host_packing_rounds_to_nearest_and_refuses_overflow() {
    let x = [1.0f32, -2.5, 1.0 + 1.0 / 4096.0, 65504.0, 1e-6, 0.1];
    let packed = pack_halves(&x).unwrap();
    assert_eq!(packed.len(), 3);
    let back = unpack_halves(&packed, x.len());
    for (&v, &b) in x.iter().zip(&back) {
        assert_eq!(b, half::f16::from_f32(v).to_f32());
        assert!((b as f64 - v as f64).abs() <= v.abs() as f64 / 2048.0 + 2f64.powi(-25));
    }
    // 1 + 2^-12 is a tie between 1 and 1 + 2^-10: to even, 1.
    assert_eq!(back[2], 1.0);
    assert!(
        pack_halves(&[1.0, 65520.0])
            .unwrap_err()
            .contains("value 1")
    );
    assert!(pack_halves(&[f32::NAN]).is_err());
}

#[test]
fn half_tables_upload_exactly_and_refuse_bad_shapes() {
    for (name, gpu) in paths() {
        let mut rng = rng(11);
        let x = random_vec(&mut rng, 37 * 12);
        let t = HalfTable::upload(gpu, 37, 12, &x, "x").unwrap();
        assert_eq!(t.byte_len(), 37 * 12 * 2, "{name}: two bytes a value");
        let want: Vec<f32> = x.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect();
        assert_eq!(t.download(gpu).unwrap(), want, "{name}");
        let err = HalfTable::upload(gpu, 2, 6, &[0.0; 12], "odd")
            .err()
            .unwrap();
        assert!(err.to_string().contains("multiples of 4"), "{err}");
        let mut big = vec![0.0f32; 8];
        big[5] = 1e6;
        let err = HalfTable::upload(gpu, 2, 4, &big, "big").err().unwrap();
        assert!(
            err.to_string().contains("row 1, column 1"),
            "the error names the value: {err}"
        );
    }
}

#[test]
fn widening_and_narrowing_match_the_reference() {
    for (name, gpu) in paths() {
        let mut rng = rng(12);
        let (rows, dim) = (301u32, 20u32);
        let x = random_vec(&mut rng, (rows * dim) as usize);
        let y0 = random_vec(&mut rng, (rows * dim) as usize);
        let half = HalfTable::upload(gpu, rows, dim, &x, "x16").unwrap();
        // Widen: y = 0.5·x16 + 2·y in f32, a single rounded sum of two exact-input terms.
        let y = DeviceTable::upload(gpu, rows, dim, &y0, "y").unwrap();
        run(gpu, &rows_axpby(gpu, 0.5, &half, 2.0, &y).unwrap());
        let stored = half.download(gpu).unwrap();
        let got = y.download(gpu).unwrap();
        for k in 0..got.len() {
            let want = 0.5 * stored[k] as f64 + 2.0 * y0[k] as f64;
            let tol = tolerance(
                2,
                (0.5 * stored[k] as f64).abs() + (2.0 * y0[k] as f64).abs(),
            );
            assert!(
                (got[k] as f64 - want).abs() <= tol,
                "{name} widen {k}: {} vs {want}",
                got[k]
            );
        }
        // Narrow: out16 = 3·y (f32), one device rounding to f16.
        let out = HalfTable::zeros(gpu, rows, dim, "out16").unwrap();
        run(gpu, &rows_axpby(gpu, 3.0, &y, 0.0, &out).unwrap());
        let want = Bounded {
            values: got.iter().map(|&v| 3.0 * v as f64).collect(),
            bounds: got
                .iter()
                .map(|&v| tolerance(1, 3.0 * v.abs() as f64))
                .collect(),
        }
        .stored_on_device();
        assert_within(
            &format!("{name} narrow"),
            &out.download(gpu).unwrap(),
            &want,
        );
        assert!(
            rows_axpby(gpu, 1.0, &y, 0.0, &y).is_err(),
            "f32 to f32 is blas::axpby's job"
        );
    }
}

#[test]
fn f16_spmm_matches_the_reference_for_every_dim_and_when_chunked() {
    for (name, gpu) in paths() {
        let mut rng = rng(13);
        let (n_rows, n_cols) = (203, 1001);
        let (row_ptr, cols, vals) = random_csr(&mut rng, n_rows, n_cols, 40, Some(7));
        let a = DeviceCsr::upload(gpu, n_cols as u32, &row_ptr, &cols, &vals).unwrap();
        for dim in [4u32, 12, 64, 256] {
            let d = dim as usize;
            let x = random_vec(&mut rng, n_cols * d);
            let x16 = HalfTable::upload(gpu, n_cols as u32, dim, &x, "x").unwrap();
            let y16 = HalfTable::zeros(gpu, n_rows as u32, dim, "y").unwrap();
            run(gpu, &spmm(gpu, &a, &x16, &y16).unwrap());
            let want = reference::spmm(&row_ptr, &cols, &vals, &Bounded::stored(&x), d, true);
            assert_within(
                &format!("{name} spmm d={dim}"),
                &y16.download(gpu).unwrap(),
                &want,
            );
            let y32 = DeviceTable::zeros(gpu, n_rows as u32, dim, "y32").unwrap();
            assert!(
                spmm(gpu, &a, &x16, &y32).is_err(),
                "mixed storages are refused"
            );
        }
    }
    // A binding cap of 8 KiB splits a 1001 x 16 f16 table (31.3 KiB) into four slots of 256
    // rows, and the output into four launches.
    let chunked = open(GpuOptions {
        binding_cap: Some(8192),
        shader_f16: false,
        ..GpuOptions::default()
    });
    let mut rng = rng(14);
    let (n, dim) = (1001usize, 16u32);
    let (row_ptr, cols, vals) = random_csr(&mut rng, n, n, 3, None);
    let a = DeviceCsr::upload(&chunked, n as u32, &row_ptr, &cols, &vals).unwrap();
    let x = random_vec(&mut rng, n * 16);
    let x16 = HalfTable::upload(&chunked, n as u32, dim, &x, "x").unwrap();
    let y16 = HalfTable::zeros(&chunked, n as u32, dim, "y").unwrap();
    run(&chunked, &spmm(&chunked, &a, &x16, &y16).unwrap());
    let want = reference::spmm(&row_ptr, &cols, &vals, &Bounded::stored(&x), 16, true);
    assert_within("chunked spmm", &y16.download(&chunked).unwrap(), &want);
}

/// A symmetric normalised adjacency of a random bipartite graph (LightGCN's Â).
fn normalized_bipartite(
    rng: &mut rand::rngs::StdRng,
    users: usize,
    items: usize,
    edges: usize,
) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
    use rand::Rng;
    let n = users + items;
    let mut pairs = Vec::new();
    for _ in 0..edges {
        let u = rng.random_range(0..users);
        let i = users + rng.random_range(0..items);
        pairs.push((u, i));
        pairs.push((i, u));
    }
    pairs.sort_unstable();
    pairs.dedup();
    let mut deg = vec![0usize; n];
    pairs.iter().for_each(|&(r, _)| deg[r] += 1);
    let mut row_ptr = vec![0u32; n + 1];
    for &(r, _) in &pairs {
        row_ptr[r + 1] += 1;
    }
    for r in 0..n {
        row_ptr[r + 1] += row_ptr[r];
    }
    let cols = pairs.iter().map(|&(_, c)| c as u32).collect();
    let vals = pairs
        .iter()
        .map(|&(r, c)| (1.0 / ((deg[r] * deg[c]) as f64).sqrt()) as f32)
        .collect();
    (row_ptr, cols, vals)
}

#[test]
fn f16_propagation_stays_within_its_bound_of_the_exact_and_the_f32_result() {
    for (name, gpu) in paths() {
        let mut rng = rng(15);
        let (users, items, dim) = (300usize, 200usize, 64u32);
        let n = users + items;
        let (row_ptr, cols, vals) = normalized_bipartite(&mut rng, users, items, 3000);
        let a = DeviceCsr::upload(gpu, n as u32, &row_ptr, &cols, &vals).unwrap();
        let x: Vec<f32> = random_vec(&mut rng, n * 64)
            .iter()
            .map(|v| 0.1 * v)
            .collect();
        let weights = uniform_weights(3);

        let x16 = HalfTable::upload(gpu, n as u32, dim, &x, "x").unwrap();
        let out16 = HalfTable::zeros(gpu, n as u32, dim, "e16").unwrap();
        let scratch16 = HalfPropagationScratch::new(gpu, n as u32, dim).unwrap();
        run(
            gpu,
            &propagate_half(gpu, &a, &weights, &x16, &out16, &scratch16).unwrap(),
        );
        let got16 = out16.download(gpu).unwrap();
        let want = reference::propagate(&row_ptr, &cols, &vals, &weights, &x, 64);
        assert_within(&format!("{name} propagate"), &got16, &want);

        // Against the f32 kernels: within the f16 bound plus the f32 result's own.
        let x32 = DeviceTable::upload(gpu, n as u32, dim, &x, "x32").unwrap();
        let out32 = DeviceTable::zeros(gpu, n as u32, dim, "e32").unwrap();
        let scratch32 = PropagationScratch::new(gpu, n as u32, dim).unwrap();
        run(
            gpu,
            &propagate(gpu, &a, &weights, &x32, &out32, &scratch32).unwrap(),
        );
        let got32 = out32.download(gpu).unwrap();
        let want32 = reference32::propagate(&row_ptr, &cols, &vals, &weights, &x, 64);
        let (mut worst, mut typical) = (0.0f64, 0.0f64);
        for k in 0..got16.len() {
            let diff = (got16[k] as f64 - got32[k] as f64).abs();
            let bound = want.bounds[k] + tolerance(want32.terms[k], want32.abs_sums[k]);
            assert!(
                diff <= bound,
                "{name} element {k}: |f16 - f32| = {diff:e} > {bound:e}"
            );
            worst = worst.max(diff / bound);
            typical += diff / want32.abs_sums[k].max(1e-30);
        }
        eprintln!(
            "{name}: |f16 - f32| at most {worst:.3} of its bound; mean relative to the \
             accumulation's magnitude {:.2e} (f16 unit roundoff {:.2e})",
            typical / got16.len() as f64,
            reference::F16_UNIT_ROUNDOFF
        );
        assert!(
            worst > 1e-3,
            "the f16 result differs from the f32 one (the f16 path really ran)"
        );
    }
}

#[test]
fn f16_scores_and_top_k_agree_with_the_exact_scores_within_their_bounds() {
    for (name, gpu) in paths() {
        let mut rng = rng(16);
        let (users, items, dim) = (37u32, 500u32, 48usize);
        let n = (users + items) as usize;
        let e = random_vec(&mut rng, n * dim);
        let e16 = HalfTable::upload(gpu, users + items, dim as u32, &e, "e16").unwrap();
        let stored = Bounded::stored(&e);

        // Row scores (score_bce's field 0).
        let pu: Vec<u32> = (0..200).map(|k| k % users).collect();
        let pi: Vec<u32> = (0..200).map(|k| users + (k * 7) % items).collect();
        let pairs = DevicePairs::upload(gpu, users + items, &pu, &pi, &vec![0.0; 200]).unwrap();
        let out = gpu.alloc::<f32>(200 * RECORD as usize, "records").unwrap();
        run(gpu, &score_bce(gpu, &pairs, &e16, &out).unwrap());
        let records = gpu.download(&out).unwrap();
        for k in 0..200 {
            let (s, b) = reference::dot(&stored, dim, pu[k] as usize, pi[k] as usize);
            let got = records[k * RECORD as usize] as f64;
            assert!(
                (got - s).abs() <= b,
                "{name} score {k}: {got} vs {s} ± {b:e}"
            );
        }

        // Top-20 with every third item of user u excluded when u is even.
        let mut row_ptr = vec![0u32];
        let mut excl = Vec::new();
        for u in 0..users {
            if u % 2 == 0 {
                excl.extend((0..items).filter(|i| i % 3 == 0));
            }
            row_ptr.push(excl.len() as u32);
        }
        let dev = DeviceUserItems::upload(gpu, items, &row_ptr, &excl).unwrap();
        let list: Vec<u32> = (0..users).collect();
        let k = 20usize;
        let got = top_k(gpu, &e16, &dev, &list, k as u32).unwrap();
        for u in 0..users as usize {
            let excluded = &excl[row_ptr[u] as usize..row_ptr[u + 1] as usize];
            let scored: Vec<(f64, f64)> = (0..items as usize)
                .map(|i| reference::dot(&stored, dim, u, users as usize + i))
                .collect();
            let listed = got.items_of(u);
            assert!(
                listed
                    .iter()
                    .all(|&i| i != NO_ITEM && excluded.binary_search(&i).is_err())
            );
            // The list is a top-K under some scores within the bounds: nothing left out beats
            // a listed item by more than both bounds, and the list is ordered likewise.
            for (r, &i) in listed.iter().enumerate() {
                let (si, bi) = scored[i as usize];
                assert!(
                    (got.scores_of(u)[r] as f64 - si).abs() <= bi,
                    "{name} user {u}: listed score of item {i}"
                );
                for j in 0..items {
                    if listed.contains(&j) || excluded.binary_search(&j).is_ok() {
                        continue;
                    }
                    let (sj, bj) = scored[j as usize];
                    assert!(
                        sj - si <= bi + bj,
                        "{name} user {u}: item {j} ({sj}) left out for item {i} ({si})"
                    );
                }
                if let Some(&next) = listed.get(r + 1) {
                    let (sn, bn) = scored[next as usize];
                    assert!(sn - si <= bi + bn, "{name} user {u}: order at {r}");
                }
            }
        }
    }
}
