//! Every core kernel against its f64 CPU reference, on random inputs that include empty
//! rows, one very long row, every supported kind of embedding size and sizes that are not
//! multiples of the workgroup.
//!
//! Tolerance: `ifru::reference::tolerance`, the a-priori bound of f32 summation
//! (γ_{n+1}·Σ|terms|): rounding alone cannot exceed it, a wrong index or a dropped term
//! does by orders of magnitude.

use crate::common;

use common::{assert_matches, exact, gpu, gpus_both_row_layouts, random_csr, random_vec, rng};
use ifru::gpu::{GpuBuffer, Record};
use ifru::kernels::adam::{AdamConfig, AdamState, adam_rows_step, adam_step};
use ifru::kernels::blas::{Scalar, add_rows, axpby, clamp_factor, copy, fill, scale, take_field};
use ifru::kernels::pair_loss::{D1, DevicePairs, DeviceTriples, RECORD, score_bce, score_bpr};
use ifru::kernels::propagate::{PropagationScratch, propagate, uniform_weights};
use ifru::kernels::reduce::{dot, dot_value, squared_norm, sum, sum_value};
use ifru::kernels::spmm::{DeviceCsr, DeviceRowIndex, RowValues, gather, spmm};
use ifru::kernels::{DeviceTable, Plan};
use ifru::reference::{kernels as reference, tolerance};

const DIMS: [u32; 7] = [4, 16, 32, 48, 64, 128, 256];

fn run(plan: &Plan<'_>) {
    gpu()
        .run("test", |pass| plan.record(pass))
        .expect("kernel run");
}

#[test]
fn spmm_matches_reference_for_every_dim() {
    let mut rng = rng(1);
    // 203 rows: not a multiple of any rows-per-workgroup; row 7 holds all 3001 columns.
    let (n_rows, n_cols) = (203, 3001);
    let (row_ptr, cols, vals) = random_csr(&mut rng, n_rows, n_cols, 40, Some(7));
    assert!(
        row_ptr.windows(2).any(|w| w[0] == w[1]),
        "some rows are empty"
    );
    let gpu = gpu();
    let a = DeviceCsr::upload(gpu, n_cols as u32, &row_ptr, &cols, &vals).unwrap();
    for dim in DIMS {
        let d = dim as usize;
        let x_host = random_vec(&mut rng, n_cols * d);
        let x = DeviceTable::upload(gpu, n_cols as u32, dim, &x_host, "x").unwrap();
        let y = DeviceTable::zeros(gpu, n_rows as u32, dim, "y").unwrap();
        run(&spmm(gpu, &a, &x, &y).unwrap());
        let want = reference::spmm(&row_ptr, &cols, &vals, &x_host, d);
        assert_matches(&format!("spmm d={dim}"), &y.download(gpu).unwrap(), &want);
    }
}

#[test]
fn spmm_and_dot_are_bitwise_repeatable() {
    let mut rng = rng(2);
    let (row_ptr, cols, vals) = random_csr(&mut rng, 500, 500, 60, Some(3));
    let gpu = gpu();
    let a = DeviceCsr::upload(gpu, 500, &row_ptr, &cols, &vals).unwrap();
    let x = DeviceTable::upload(gpu, 500, 48, &random_vec(&mut rng, 500 * 48), "x").unwrap();
    let y = DeviceTable::zeros(gpu, 500, 48, "y").unwrap();
    let plan = spmm(gpu, &a, &x, &y).unwrap();
    run(&plan);
    let first = y.download(gpu).unwrap();
    run(&plan);
    let second = y.download(gpu).unwrap();
    assert!(
        first
            .iter()
            .zip(&second)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );

    let v = gpu.upload(&random_vec(&mut rng, 123_457), "v").unwrap();
    let w = gpu.upload(&random_vec(&mut rng, 123_457), "w").unwrap();
    let d1 = dot_value(gpu, &v, &w).unwrap();
    let d2 = dot_value(gpu, &v, &w).unwrap();
    assert_eq!(d1.to_bits(), d2.to_bits());
}

/// Symmetric normalisation of a random bipartite graph (users then items), as LightGCN uses.
fn normalized_bipartite(seed: u64, users: usize, items: usize) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
    let mut rng = rng(seed);
    let n = users + items;
    let mut adj = vec![Vec::new(); n];
    for u in 0..users {
        // User 0 touches nothing: a degree-0 node must get an empty row.
        let k = if u == 0 { 0 } else { 1 + u % 9 };
        for _ in 0..k {
            let i = users + (rand::Rng::random_range(&mut rng, 0..items));
            if !adj[u].contains(&(i as u32)) {
                adj[u].push(i as u32);
                adj[i].push(u as u32);
            }
        }
    }
    let deg: Vec<f64> = adj.iter().map(|r| r.len() as f64).collect();
    let (mut ptr, mut cols, mut vals) = (vec![0u32], Vec::new(), Vec::new());
    for (r, row) in adj.iter_mut().enumerate() {
        row.sort_unstable();
        for &c in row.iter() {
            cols.push(c);
            vals.push((1.0 / (deg[r] * deg[c as usize]).sqrt()) as f32);
        }
        ptr.push(cols.len() as u32);
    }
    (ptr, cols, vals)
}

#[test]
fn propagation_matches_reference_for_zero_to_three_layers() {
    let (users, items, dim) = (150, 97, 32u32);
    let (ptr, cols, vals) = normalized_bipartite(3, users, items);
    let n = (users + items) as u32;
    let gpu = gpu();
    let adj = DeviceCsr::upload(gpu, n, &ptr, &cols, &vals).unwrap();
    let x_host = random_vec(&mut rng(4), (n * dim) as usize);
    let x = DeviceTable::upload(gpu, n, dim, &x_host, "x").unwrap();
    let out = DeviceTable::zeros(gpu, n, dim, "e").unwrap();
    let scratch = PropagationScratch::new(gpu, n, dim).unwrap();
    for layers in 0..=3 {
        let w = uniform_weights(layers);
        run(&propagate(gpu, &adj, &w, &x, &out, &scratch).unwrap());
        let want = reference::propagate(&ptr, &cols, &vals, &w, &x_host, dim as usize);
        assert_matches(
            &format!("propagate K={layers}"),
            &out.download(gpu).unwrap(),
            &want,
        );
    }
}

#[test]
fn blas_ops_match_reference_with_host_and_device_scalars() {
    let gpu = gpu();
    // s = [2, 4, 0]: device ratios 2/4 and a zero denominator (which must give 0).
    let scalars = gpu.upload(&[2.0f32, 4.0, 0.0], "scalars").unwrap();
    for n in [0usize, 1, 63, 64, 1000, 5001] {
        let mut rng = rng(n as u64);
        let xh = random_vec(&mut rng, n);
        let yh = random_vec(&mut rng, n);
        let x = gpu.upload(&xh, "x").unwrap();
        let y = gpu.upload(&yh, "y").unwrap();

        run(&fill(gpu, &y, 0.25).unwrap());
        assert!(gpu.download(&y).unwrap().iter().all(|&v| v == 0.25));

        run(&copy(gpu, &x, &y).unwrap());
        assert_eq!(gpu.download(&y).unwrap(), xh);

        run(&scale(gpu, &y, Scalar::Host(-3.0), None).unwrap());
        let want: Vec<f64> = xh.iter().map(|&v| -3.0 * v as f64).collect();
        assert_matches("scale", &gpu.download(&y).unwrap(), &exact(want));

        // y = (1.5 · 2/4) x + (−1 · 2) y
        y.write(gpu.queue(), &yh).unwrap();
        let a = Scalar::Device {
            c: 1.5,
            num: 0,
            den: Some(1),
        };
        let b = Scalar::Device {
            c: -1.0,
            num: 0,
            den: None,
        };
        run(&axpby(gpu, a, &x, b, &y, Some(&scalars)).unwrap());
        let want = reference::Reference {
            values: xh
                .iter()
                .zip(&yh)
                .map(|(&x, &y)| 0.75 * x as f64 - 2.0 * y as f64)
                .collect(),
            abs_sums: xh
                .iter()
                .zip(&yh)
                .map(|(&x, &y)| 0.75 * (x as f64).abs() + 2.0 * (y as f64).abs())
                .collect(),
            terms: vec![3; n],
        };
        assert_matches("axpby", &gpu.download(&y).unwrap(), &want);

        // A zero denominator zeroes the factor instead of producing inf or NaN.
        let zero_den = Scalar::Device {
            c: 1.0,
            num: 0,
            den: Some(2),
        };
        run(&axpby(gpu, zero_den, &x, Scalar::Host(1.0), &y, Some(&scalars)).unwrap());
        assert_matches(
            "axpby with 0 denominator",
            &gpu.download(&y).unwrap(),
            &want,
        );
    }
}

#[test]
fn add_rows_updates_the_listed_rows_only() {
    let gpu = gpu();
    let (n, d) = (40usize, 7u32);
    let y_host = random_vec(&mut rng(21), n * d as usize);
    let rows = [2u32, 5, 39, 0];
    let x_host = random_vec(&mut rng(22), rows.len() * d as usize);
    let y = gpu.upload(&y_host, "y").unwrap();
    let x = gpu.upload(&x_host, "x").unwrap();
    let r = gpu.upload(&rows, "rows").unwrap();
    run(&add_rows(gpu, -0.5, &x, &r, d, &y).unwrap());
    // CPU reference: one f32 multiply-add per element, so the results agree exactly.
    let mut want = y_host.clone();
    for (t, &row) in rows.iter().enumerate() {
        for k in 0..d as usize {
            want[row as usize * d as usize + k] += -0.5 * x_host[t * d as usize + k];
        }
    }
    assert_eq!(gpu.download(&y).unwrap(), want);
    // Mismatched shapes are errors.
    assert!(add_rows(gpu, 1.0, &x, &r, d + 1, &y).is_err());
    assert!(add_rows(gpu, 1.0, &x, &r, 0, &y).is_err());
}

#[test]
fn take_field_reads_one_field_of_each_record() {
    let gpu = gpu();
    // 1,000 records (more than one workgroup, not a multiple of one) of RECORD values.
    let stride = RECORD;
    let records_host = random_vec(&mut rng(23), 1000 * stride as usize);
    let records = gpu.upload(&records_host, "records").unwrap();
    for field in 0..stride {
        let y = gpu.upload(&vec![f32::NAN; 1000], "y").unwrap();
        run(&take_field(gpu, &records, stride, field, &y).unwrap());
        // CPU reference: a copy, so exact.
        let want: Vec<f32> = records_host
            .chunks_exact(stride as usize)
            .map(|r| r[field as usize])
            .collect();
        assert_eq!(gpu.download(&y).unwrap(), want, "field {field}");
    }
    let y = gpu.upload(&[0.0f32; 999], "short").unwrap();
    assert!(take_field(gpu, &records, stride, 0, &y).is_err());
    let y = gpu.upload(&[0.0f32; 1000], "y").unwrap();
    assert!(take_field(gpu, &records, stride, stride, &y).is_err());
    assert!(take_field(gpu, &records, 0, 0, &y).is_err());
}

#[test]
fn clamp_factor_matches_reference() {
    let gpu = gpu();
    for (norm_sq, bound) in [
        (4.0f32, 1.0f32),
        (4.0, 2.0),
        (4.0, 3.0),
        (0.0, 1.0),
        (1e-30, 0.0),
        (2.5e7, 12.5),
        (f32::NAN, 1.0),
        (f32::INFINITY, 1.0),
    ] {
        let scalars = gpu.upload(&[7.0f32, norm_sq, 7.0], "scalars").unwrap();
        run(&clamp_factor(gpu, &scalars, 1, 2, bound).unwrap());
        let got = gpu.download(&scalars).unwrap();
        // One WGSL sqrt and one division: within 2 ULP of the f32 reference.
        let want = reference::clamp_factor(norm_sq, bound);
        let ulps = (got[2].to_bits() as i64 - want.to_bits() as i64).abs();
        assert!(
            ulps <= 2,
            "norm² {norm_sq}, bound {bound}: {} vs {want}",
            got[2]
        );
        // The other slots are untouched.
        assert_eq!((got[0], got[1].to_bits()), (7.0, norm_sq.to_bits()));
    }
    let scalars = gpu.zeros::<f32>(2, "scalars").unwrap();
    assert!(clamp_factor(gpu, &scalars, 2, 0, 1.0).is_err());
    assert!(clamp_factor(gpu, &scalars, 0, 1, f32::NAN).is_err());
}

#[test]
fn axpby_with_zero_beta_ignores_nan_in_y() {
    let gpu = gpu();
    let x = gpu.upload(&[1.0f32, 2.0, 3.0], "x").unwrap();
    let y = gpu.upload(&[f32::NAN; 3], "y").unwrap();
    run(&axpby(gpu, Scalar::Host(2.0), &x, Scalar::Host(0.0), &y, None).unwrap());
    assert_eq!(gpu.download(&y).unwrap(), vec![2.0, 4.0, 6.0]);
}

#[test]
fn reductions_match_reference() {
    let gpu = gpu();
    for n in [0usize, 1, 1023, 1024, 1025, 100_003] {
        let mut rng = rng(10 + n as u64);
        let xh = random_vec(&mut rng, n);
        let yh = random_vec(&mut rng, n);
        let x = gpu.upload(&xh, "x").unwrap();
        let y = gpu.upload(&yh, "y").unwrap();
        let check = |what: &str, got: f32, (want, abs): (f64, f64)| {
            let tol = tolerance(n, abs);
            assert!(
                (got as f64 - want).abs() <= tol,
                "{what} n={n}: {got} vs {want} (tol {tol:e})"
            );
        };
        check(
            "dot",
            dot_value(gpu, &x, &y).unwrap(),
            reference::dot(&xh, &yh),
        );
        check("sum", sum_value(gpu, &x).unwrap(), reference::sum(&xh));
        // The plan forms, writing device scalar slots 1 and 2.
        let scalars = gpu.zeros::<f32>(3, "scalars").unwrap();
        run(&squared_norm(gpu, &x, &scalars, 1)
            .unwrap()
            .then(sum(gpu, &y, &scalars, 2).unwrap()));
        let s = gpu.download(&scalars).unwrap();
        check("squared norm", s[1], reference::dot(&xh, &xh));
        check("sum into slot", s[2], reference::sum(&yh));
        let _ = dot;
    }
}

/// Checks the packed (s, loss, ℓ', ℓ'') records. The score gets the summation bound; the
/// derived values get the score's bound carried through their derivative (|ℓ'| for the
/// loss, σ(1−σ) ≤ 1/4 for ℓ', |ℓ'''| ≤ 0.1 for ℓ'') plus 8 ulps of the value and 1e-7
/// absolute for the rounding of exp/log near 1.
fn assert_records(
    what: &str,
    got: &[f32],
    want: &[[f64; 4]],
    table: &[f32],
    u: &[u32],
    i: &[u32],
    dim: usize,
) {
    for (p, w) in want.iter().enumerate() {
        let abs: f64 = (0..dim)
            .map(|k| {
                (table[u[p] as usize * dim + k] as f64 * table[i[p] as usize * dim + k] as f64)
                    .abs()
            })
            .sum();
        let ts = tolerance(dim, abs);
        let g = &got[p * 4..p * 4 + 4];
        let slopes = [1.0, w[2].abs() + 1e-12, 0.25, 0.1];
        for k in 0..4 {
            let tol = if k == 0 {
                ts
            } else {
                slopes[k] * ts + 8.0 * f32::EPSILON as f64 * w[k].abs() + 1e-7
            };
            assert!(
                g[k].is_finite() && (g[k] as f64 - w[k]).abs() <= tol,
                "{what}: pair {p} field {k}: {} vs {} (tol {tol:e})",
                g[k],
                w[k]
            );
        }
    }
}

#[test]
fn pair_scores_and_bce_match_reference_including_extreme_scores() {
    for (gpu, dim) in gpus_both_row_layouts()
        .into_iter()
        .flat_map(|g| DIMS.map(|d| (g, d)))
    {
        let d = dim as usize;
        let mut rng = rng(20 + dim as u64);
        let n_nodes = 300u32;
        // Rows scaled so some scores reach |s| ≈ 100 (softplus and σ must stay finite).
        let mut table = random_vec(&mut rng, n_nodes as usize * d);
        for (r, row) in table.chunks_mut(d).enumerate() {
            let s = if r % 10 == 0 {
                20.0 / (d as f32).sqrt() * 2.0
            } else {
                1.0
            };
            row.iter_mut().for_each(|v| *v *= s);
        }
        let n_pairs = 1001;
        let u: Vec<u32> = (0..n_pairs)
            .map(|_| rand::Rng::random_range(&mut rng, 0..n_nodes))
            .collect();
        let mut i: Vec<u32> = (0..n_pairs)
            .map(|_| rand::Rng::random_range(&mut rng, 0..n_nodes))
            .collect();
        i[0] = u[0]; // a self-pair: s = |E_u|²
        let labels: Vec<f32> = (0..n_pairs).map(|k| (k % 2) as f32).collect();
        let pairs = DevicePairs::upload(gpu, n_nodes, &u, &i, &labels).unwrap();
        let t = DeviceTable::upload(gpu, n_nodes, dim, &table, "table").unwrap();
        let out = gpu.zeros::<f32>(n_pairs * RECORD as usize, "out").unwrap();
        let plan = score_bce(gpu, &pairs, &t, &out).unwrap();
        gpu.run("test", |pass| plan.record(pass)).unwrap();
        let want = reference::score_bce(&u, &i, &labels, &table, d);
        assert!(
            want.iter().any(|w| w[0].abs() > 50.0),
            "extreme scores present"
        );
        assert_records(
            &format!("score_bce d={dim}"),
            &gpu.download(&out).unwrap(),
            &want,
            &table,
            &u,
            &i,
            d,
        );
    }
}

/// Labelled (user, item) rows and the user→rows / item→rows indexes (rows ascending).
struct Rows {
    users: Vec<u32>,
    items: Vec<u32>,
}

fn index_by(targets: &[u32], other: &[u32], n_targets: usize) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let mut lists = vec![Vec::new(); n_targets];
    for (r, &t) in targets.iter().enumerate() {
        lists[t as usize].push(r as u32);
    }
    let (mut ptr, mut oth, mut rows) = (vec![0u32], Vec::new(), Vec::new());
    for list in lists {
        for r in list {
            rows.push(r);
            oth.push(other[r as usize]);
        }
        ptr.push(rows.len() as u32);
    }
    (ptr, oth, rows)
}

#[test]
fn gather_matches_reference_on_both_sides() {
    let gpu = gpu();
    let (n_users, n_items, n_rows) = (131usize, 77usize, 2000usize);
    let mut rng = rng(30);
    let mut rows = Rows {
        users: (0..n_rows)
            .map(|_| rand::Rng::random_range(&mut rng, 0..n_users as u32 - 1))
            .collect(),
        items: (0..n_rows)
            .map(|_| rand::Rng::random_range(&mut rng, 0..n_items as u32))
            .collect(),
    };
    // The last user has no rows; user 5 has a very long list.
    for r in 0..400 {
        rows.users[r] = 5;
    }
    let n = (n_users + n_items) as u32;
    let item_nodes: Vec<u32> = rows.items.iter().map(|&i| i + n_users as u32).collect();
    for dim in [4u32, 48, 256] {
        let d = dim as usize;
        let table_h = random_vec(&mut rng, n as usize * d);
        let table = DeviceTable::upload(gpu, n, dim, &table_h, "E").unwrap();
        // Packed records, coefficient at offset D1 as the training step will use.
        let coef_h = random_vec(&mut rng, n_rows * RECORD as usize);
        let coef = gpu.upload(&coef_h, "records").unwrap();
        let coef_view = RowValues {
            buf: &coef,
            stride: RECORD,
            offset: D1,
        };
        let out = DeviceTable::zeros(gpu, n, dim, "G").unwrap();

        let (up, uo, ur) = index_by(&rows.users, &item_nodes, n_users);
        let users = DeviceRowIndex::upload(gpu, n, &up, &uo, &ur).unwrap();
        let (ip, io, ir) = index_by(&rows.items, &rows.users, n_items);
        let items = DeviceRowIndex::upload(gpu, n, &ip, &io, &ir).unwrap();
        let plan = gather(gpu, &users, coef_view, &table, &out, 0)
            .unwrap()
            .then(gather(gpu, &items, coef_view, &table, &out, n_users as u32).unwrap());
        run(&plan);
        let got = out.download(gpu).unwrap();
        let wu = reference::gather(&up, &uo, &ur, &coef_h, 4, 2, &table_h, d);
        let wi = reference::gather(&ip, &io, &ir, &coef_h, 4, 2, &table_h, d);
        assert_matches(&format!("user gather d={dim}"), &got[..n_users * d], &wu);
        assert_matches(&format!("item gather d={dim}"), &got[n_users * d..], &wi);
    }
}

#[test]
fn adam_matches_pytorch_formulation() {
    let gpu = gpu();
    let n = 3001;
    let mut rng = rng(40);
    let p0 = random_vec(&mut rng, n);
    let grads: Vec<Vec<f32>> = (0..5).map(|_| random_vec(&mut rng, n)).collect();
    let param = gpu.upload(&p0, "param").unwrap();
    let grad: GpuBuffer<f32> = gpu.alloc(n, "grad").unwrap();
    let state = AdamState::new(gpu, n).unwrap();
    let cfg = AdamConfig::default();
    let plan = adam_step(gpu, cfg, &grad, &param, &state).unwrap();
    for g in &grads {
        grad.write(gpu.queue(), g).unwrap();
        run(&plan);
    }
    assert_eq!(state.steps(gpu).unwrap(), 5);
    let want = reference::adam(&p0, &grads, 1e-3, 0.9, 0.999, 1e-8);
    let got = gpu.download(&param).unwrap();
    // Each step moves a parameter by at most ~lr; f32 evaluation of the moments, pow and
    // sqrt costs a few ulps of that step, so 1e-4 of the total movement (5·lr) bounds it,
    // plus one ulp of the parameter itself.
    for k in 0..n {
        let tol = 1e-4 * 5.0 * 1e-3 + f32::EPSILON as f64 * (p0[k] as f64).abs();
        assert!(
            (got[k] as f64 - want[k]).abs() <= tol,
            "param {k}: {} vs {}",
            got[k],
            want[k]
        );
    }
}

#[test]
fn bpr_records_match_reference() {
    for (gpu, dim) in gpus_both_row_layouts()
        .into_iter()
        .flat_map(|g| [4u32, 48, 256].map(|d| (g, d)))
    {
        let d = dim as usize;
        let mut rng = rng(50 + dim as u64);
        let n_nodes = 200u32;
        let table = random_vec(&mut rng, n_nodes as usize * d);
        let pick = |rng: &mut rand::rngs::StdRng| -> Vec<u32> {
            (0..777)
                .map(|_| rand::Rng::random_range(rng, 0..n_nodes))
                .collect()
        };
        let (u, i, j) = (pick(&mut rng), pick(&mut rng), pick(&mut rng));
        let triples = DeviceTriples::upload(gpu, n_nodes, &u, &i, &j).unwrap();
        let t = DeviceTable::upload(gpu, n_nodes, dim, &table, "table").unwrap();
        let out = gpu.zeros::<f32>(777 * RECORD as usize, "out").unwrap();
        let plan = score_bpr(gpu, &triples, &t, &out).unwrap();
        gpu.run("test", |pass| plan.record(pass)).unwrap();
        let got = gpu.download(&out).unwrap();
        let want = reference::score_bpr(&u, &i, &j, &table, d);
        for (k, w) in want.iter().enumerate() {
            // x sums 2d products (E_u·E_i and E_u·E_j): the summation bound with their
            // absolute sum; c and the loss have slopes ≤ 1/4 and ≤ 1 in x, plus 8 ulps and
            // 1e-7 absolute for exp/log rounding.
            let (uu, ii, jj) = (u[k] as usize, i[k] as usize, j[k] as usize);
            let abs: f64 = (0..d)
                .map(|q| {
                    (table[uu * d + q] as f64).abs()
                        * ((table[ii * d + q] as f64).abs() + (table[jj * d + q] as f64).abs())
                })
                .sum();
            let tx = tolerance(2 * d, abs);
            let g = &got[k * 4..k * 4 + 4];
            let tols = [0.25 * tx, 0.25 * tx, tx, tx];
            for f in 0..4 {
                let tol = tols[f] + 8.0 * f32::EPSILON as f64 * w[f].abs() + 1e-7;
                assert!(
                    (g[f] as f64 - w[f]).abs() <= tol,
                    "d={dim} triple {k} field {f}: {} vs {}",
                    g[f],
                    w[f]
                );
            }
        }
    }
}

#[test]
fn sparse_adam_updates_only_touched_rows_like_pytorch() {
    let gpu = gpu();
    let (n_rows, dim) = (301u32, 48u32);
    let d = dim as usize;
    let mut rng = rng(60);
    let p0 = random_vec(&mut rng, n_rows as usize * d);
    let param = DeviceTable::upload(gpu, n_rows, dim, &p0, "param").unwrap();
    let state = AdamState::new(gpu, p0.len()).unwrap();
    let cfg = AdamConfig::default();
    let mut steps = Vec::new();
    for s in 0..3u32 {
        // Distinct rows, different sets per step; rows >= 290 are never touched.
        let rows: Vec<u32> = (0..290).filter(|r| (r + s) % 3 != 0).collect();
        let grads = random_vec(&mut rng, rows.len() * d);
        let halved: Vec<f32> = grads.iter().map(|g| 0.5 * g).collect();
        let rows_buf = gpu.upload(&rows, "rows").unwrap();
        let g = DeviceTable::upload(gpu, rows.len() as u32, dim, &grads, "grads").unwrap();
        run(&adam_rows_step(gpu, cfg, 0.5, 0.1, &rows_buf, &g, &param, &state).unwrap());
        steps.push((rows, halved));
    }
    let want = reference::adam_rows(&p0, d, &steps, 0.1, (1e-3, 0.9, 0.999, 1e-8));
    let got = param.download(gpu).unwrap();
    for k in 0..got.len() {
        // As for dense Adam: a few ulps of each lr-sized step, plus an ulp of the parameter.
        let tol = 1e-4 * 3.0 * 1e-3 + f32::EPSILON as f64 * (p0[k] as f64).abs();
        assert!(
            (got[k] as f64 - want[k]).abs() <= tol,
            "param {k}: {} vs {}",
            got[k],
            want[k]
        );
    }
    assert_eq!(
        &got[290 * d..],
        &p0[290 * d..],
        "untouched rows stay bitwise equal"
    );
}
