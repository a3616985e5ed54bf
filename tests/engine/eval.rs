//! Evaluation against its CPU references: AUC (exact, so 1e-12), GPU row scores (the f32
//! summation bound of `ifru::reference::tolerance`), top-K lists (exactly equal: the tables
//! hold multiples of 1/4, so every score is exact in f32 and ties are real ties on both
//! sides), Recall/NDCG on hand-made cases, and a Gowalla smoke test.

use crate::common;

use std::time::Instant;

use common::{gpu, open, random_vec, rng};
use ifru::data::{self, Dataset, Format, IdMap, Interactions, LoadOptions, Loaded};
use ifru::eval::{
    self, AucReport, RankingOptions, UserItems, auc, auc_report, eval_users, forget_rank,
    list_recall_ndcg, recall_ndcg, score_rows, second_half,
};
use ifru::gpu::{Gpu, GpuOptions};
use ifru::kernels::DeviceTable;
use ifru::kernels::topk::{DeviceUserItems, NO_ITEM, top_k};
use ifru::reference::{eval as reference, tolerance};
use rand::Rng;
use rand::rngs::StdRng;

fn random_labels(rng: &mut StdRng, n: usize, p: f64) -> Vec<u8> {
    (0..n).map(|_| u8::from(rng.random_bool(p))).collect()
}

#[test]
fn auc_matches_pairwise_count_with_ties() {
    let mut rng = rng(1);
    for (n, levels, p) in [
        (2, 3, 0.5),
        (17, 4, 0.3),
        (500, 7, 0.5),
        (1000, 1_000_000, 0.1),
        (999, 2, 0.9),
    ] {
        // Scores on `levels` levels: many exact ties when `levels` is small.
        let scores: Vec<f32> = (0..n)
            .map(|_| rng.random_range(0..levels) as f32 * 0.37 - 1.0)
            .collect();
        let labels = random_labels(&mut rng, n, p);
        let s64: Vec<f64> = scores.iter().map(|&s| s as f64).collect();
        let want = reference::auc_pairwise(&s64, &labels);
        let got = auc(&scores, &labels);
        match (got, want) {
            (Some(g), Some(w)) => assert!((g - w).abs() <= 1e-12, "n={n}: {g} vs {w}"),
            (g, w) => assert_eq!(g, w, "n={n}"),
        }
    }
}

#[test]
fn auc_edge_cases() {
    assert_eq!(auc(&[], &[]), None);
    assert_eq!(auc(&[1.0, 2.0], &[1, 1]), None);
    assert_eq!(auc(&[1.0, 2.0], &[0, 0]), None);
    assert_eq!(auc(&[1.0, 2.0], &[0]), None, "lengths differ");
    assert_eq!(auc(&[1.0, 2.0, 3.0], &[0, 0, 1]), Some(1.0));
    assert_eq!(auc(&[1.0, 2.0, 3.0], &[1, 0, 0]), Some(0.0));
    assert_eq!(auc(&[5.0; 4], &[1, 0, 1, 0]), Some(0.5));
    assert_eq!(auc(&[0.0, -0.0], &[1, 0]), Some(0.5), "-0 ties +0");
    // NaN ranks as -inf: tied with it, below everything else.
    assert_eq!(auc(&[f32::NAN, 0.0], &[1, 0]), Some(0.0));
    assert_eq!(auc(&[f32::NAN, f32::NEG_INFINITY], &[1, 0]), Some(0.5));
}

/// A random `n_users + n_items` × `dim` table.
fn random_table(gpu: &Gpu, rng: &mut StdRng, nodes: u32, dim: u32) -> (Vec<f32>, DeviceTable) {
    let host = random_vec(rng, (nodes * dim) as usize);
    let table = DeviceTable::upload(gpu, nodes, dim, &host, "emb").unwrap();
    (host, table)
}

fn random_rows(rng: &mut StdRng, n: usize, n_users: u32, n_items: u32, p: f64) -> Interactions {
    let mut t = Interactions::with_capacity(n);
    for _ in 0..n {
        t.push(
            rng.random_range(0..n_users),
            rng.random_range(0..n_items),
            u8::from(rng.random_bool(p)),
        );
    }
    t
}

#[test]
fn gpu_row_scores_match_reference() {
    let gpu = gpu();
    let mut rng = rng(2);
    let (n_users, n_items) = (61u32, 83u32);
    for dim in [4u32, 48, 256] {
        let (host, table) = random_table(gpu, &mut rng, n_users + n_items, dim);
        let rows = random_rows(&mut rng, 777, n_users, n_items, 0.5);
        let got = score_rows(gpu, &table, n_users, &rows).unwrap();
        let want = reference::score_rows(&host, dim as usize, n_users, &rows.users, &rows.items);
        for (r, (&g, &w)) in got.iter().zip(&want).enumerate() {
            let (u, i) = (rows.users[r] as usize, (n_users + rows.items[r]) as usize);
            let d = dim as usize;
            let abs: f64 = (0..d)
                .map(|k| (host[u * d + k] as f64 * host[i * d + k] as f64).abs())
                .sum();
            assert!(
                (g as f64 - w).abs() <= tolerance(d, abs),
                "d={dim} row {r}: {g} vs {w}"
            );
        }
        assert_eq!(got.len(), rows.len());
    }
    // Bad rows are errors, not panics.
    let (_, table) = random_table(gpu, &mut rng, n_users + n_items, 4);
    let mut bad = Interactions::default();
    bad.push(n_users, 0, 1);
    assert!(score_rows(gpu, &table, n_users, &bad).is_err());
    let mut bad = Interactions::default();
    bad.push(0, n_items, 1);
    assert!(score_rows(gpu, &table, n_users, &bad).is_err());
    assert!(
        score_rows(gpu, &table, n_users, &Interactions::default())
            .unwrap()
            .is_empty()
    );
}

fn small_dataset(rng: &mut StdRng, n_users: u32, n_items: u32) -> Dataset {
    let train = random_rows(rng, 900, n_users, n_items, 0.6);
    Dataset {
        source: "synthetic".into(),
        n_users,
        n_items,
        user_ids: IdMap::identity(n_users),
        item_ids: IdMap::identity(n_items),
        n_train_normal: train.len(),
        train,
        valid: random_rows(rng, 300, n_users, n_items, 0.6),
        test: random_rows(rng, 400, n_users, n_items, 0.6),
        implicit: false,
    }
}

#[test]
fn auc_report_matches_cpu_reference() {
    let gpu = gpu();
    let mut rng = rng(3);
    let (n_users, n_items, dim) = (70u32, 90u32, 16u32);
    let d = small_dataset(&mut rng, n_users, n_items);
    let (host, table) = random_table(gpu, &mut rng, n_users + n_items, dim);
    let forget: Vec<u32> = vec![5, 17, 200, 433, 434, 601, 899, 3];
    let report: AucReport = auc_report(gpu, &table, &d, Some(&forget)).unwrap();

    let scores =
        |t: &Interactions| reference::score_rows(&host, dim as usize, n_users, &t.users, &t.items);
    let near = |got: Option<f64>, want: Option<f64>, what: &str| match (got, want) {
        (Some(g), Some(w)) => assert!((g - w).abs() <= 1e-6, "{what}: {g} vs {w}"),
        (g, w) => assert_eq!(g, w, "{what}"),
    };
    let test_s = scores(&d.test);
    near(
        report.test_auc,
        reference::auc_pairwise(&test_s, &d.test.labels),
        "test",
    );
    near(
        report.valid_auc,
        reference::auc_pairwise(&scores(&d.valid), &d.valid.labels),
        "valid",
    );
    let fu: Vec<u32> = forget.iter().map(|&r| d.train.users[r as usize]).collect();
    let fi: Vec<u32> = forget.iter().map(|&r| d.train.items[r as usize]).collect();
    let subset = |keep: &dyn Fn(u32, u32) -> bool| {
        let (mut s, mut l) = (Vec::new(), Vec::new());
        for (r, &score) in test_s.iter().enumerate() {
            if keep(d.test.users[r], d.test.items[r]) {
                s.push(score);
                l.push(d.test.labels[r]);
            }
        }
        (s, l)
    };
    let (s_or, l_or) = subset(&|u, i| fu.contains(&u) || fi.contains(&i));
    let (s_and, l_and) = subset(&|u, i| fu.contains(&u) && fi.contains(&i));
    assert!(s_or.len() > s_and.len() && !s_and.is_empty());
    assert_eq!(
        (report.n_test_or, report.n_test_and),
        (s_or.len(), s_and.len())
    );
    near(
        report.test_auc_or,
        reference::auc_pairwise(&s_or, &l_or),
        "or",
    );
    near(
        report.test_auc_and,
        reference::auc_pairwise(&s_and, &l_and),
        "and",
    );
    let f = d.train.select(&forget);
    near(
        report.forget_auc,
        reference::auc_pairwise(&scores(&f), &f.labels),
        "forget",
    );
    assert_eq!(report.n_forget, forget.len());
    // The second half of the forget rows, in file order.
    assert_eq!(second_half(&forget), &[434, 601, 899, 3]);
    let half = d.train.select(second_half(&forget));
    near(
        eval::forget_auc(gpu, &table, n_users, &d.train, second_half(&forget)).unwrap(),
        reference::auc_pairwise(&scores(&half), &half.labels),
        "forget b",
    );

    let plain = auc_report(gpu, &table, &d, None).unwrap();
    assert_eq!(plain.test_auc, report.test_auc);
    assert_eq!((plain.forget_auc, plain.test_auc_or), (None, None));
    assert!(auc_report(gpu, &table, &d, Some(&[900])).is_err());
    let json = serde_json::to_string(&report).unwrap();
    let back: AucReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
}

/// A table of multiples of 1/4 in [-1, 1]: every dot product (d ≤ 256) is a multiple of
/// 1/16 below 2^8 in size, exact in f32 whatever the summation order, so the GPU's scores
/// equal the f64 reference's and ties are exact on both sides.
fn quarter_table(rng: &mut StdRng, nodes: u32, dim: u32) -> Vec<f32> {
    (0..nodes * dim)
        .map(|_| rng.random_range(-4i32..=4) as f32 * 0.25)
        .collect()
}

/// Random excluded items: user 0 excludes everything, user 1 all but 3 items, user 2
/// nothing, others a random handful; plus the CSR.
fn random_exclusions(rng: &mut StdRng, n_users: u32, n_items: u32) -> UserItems {
    let mut t = Interactions::default();
    for u in 0..n_users {
        let items: Vec<u32> = match u {
            0 => (0..n_items).collect(),
            1 => (3..n_items).collect(),
            2 => Vec::new(),
            _ => (0..rng.random_range(0..30))
                .map(|_| rng.random_range(0..n_items))
                .collect(),
        };
        for i in items {
            t.push(u, i, 1);
        }
    }
    UserItems::build(n_users, n_items, &[&t], false).unwrap()
}

/// A model and exclusions to compare top-K lists on.
struct Case<'a> {
    host: &'a [f32],
    dim: u32,
    n_users: u32,
    n_items: u32,
    excl: &'a UserItems,
}

/// Compares the GPU's lists of `users` with the reference's (items exactly; scores exactly
/// when `exact`); returns the number of ties inside the lists.
fn check_lists(gpu: &Gpu, case: &Case<'_>, users: &[u32], k: u32, exact: bool) -> usize {
    let &Case {
        host,
        dim,
        n_users,
        n_items,
        excl,
    } = case;
    let table = DeviceTable::upload(gpu, n_users + n_items, dim, host, "emb").unwrap();
    let dev = DeviceUserItems::upload(gpu, n_items, &excl.row_ptr, &excl.items).unwrap();
    let got = top_k(gpu, &table, &dev, users, k).unwrap();
    assert_eq!(got.len(), users.len());
    let mut ties = 0;
    for (r, &u) in users.iter().enumerate() {
        let want = reference::top_k(
            host,
            dim as usize,
            n_users,
            n_items,
            u,
            excl.items_of(u),
            k as usize,
        );
        let want_items: Vec<u32> = want.iter().map(|w| w.0).collect();
        assert_eq!(
            got.items_of(r),
            &want_items[..],
            "d={dim} k={k} user {u} (list position {r})"
        );
        for (&g, w) in got.scores_of(r).iter().zip(&want) {
            // Exact tables: equal. Otherwise within a loose bound of the f32 dot product
            // (|s| <= 50 here, d <= 16 terms: rounding stays below 1e-4).
            let close = g as f64 == w.1 || (!exact && (g as f64 - w.1).abs() <= 1e-4);
            assert!(close, "d={dim} user {u}: score {g} vs {}", w.1);
        }
        ties += want
            .windows(2)
            .filter(|w| w[0].1 == w[1].1 && w[0].0 != NO_ITEM)
            .count();
    }
    ties
}

#[test]
fn topk_matches_reference_for_dims_4_48_256() {
    let gpu = gpu();
    let mut rng = rng(4);
    // 203 items: not a multiple of the 64-item tile.
    let (n_users, n_items) = (23u32, 203u32);
    let excl = random_exclusions(&mut rng, n_users, n_items);
    // Every user, some twice, out of order.
    let mut users: Vec<u32> = (0..n_users).rev().collect();
    users.extend([5, 0, 1, 2]);
    let mut ties = 0;
    for (dim, k) in [
        (4u32, 20u32),
        (48, 20),
        (256, 20),
        (48, 1),
        (48, 100),
        (4, 99),
    ] {
        let host = quarter_table(&mut rng, n_users + n_items, dim);
        ties += check_lists(
            gpu,
            &Case {
                host: &host,
                dim,
                n_users,
                n_items,
                excl: &excl,
            },
            &users,
            k,
            true,
        );
    }
    assert!(ties > 0, "the quantised scores produce ties");
}

#[test]
fn topk_orders_duplicate_embeddings_by_lower_item_id() {
    let gpu = gpu();
    let mut rng = rng(5);
    // 90 items (all listed with K = 100, so the groups are always in the lists).
    let (n_users, n_items, dim) = (5u32, 90u32, 16u32);
    let mut host = random_vec(&mut rng, ((n_users + n_items) * dim) as usize);
    // Items 7, 70, 89 and 3 share one embedding; items 50 and 49 share another.
    let d = dim as usize;
    let row = |i: u32| (n_users + i) as usize * d;
    for k in 0..d {
        let v = host[row(7) + k];
        for i in [70, 89, 3] {
            host[row(i) + k] = v;
        }
        host[row(49) + k] = host[row(50) + k];
    }
    let excl = UserItems::build(n_users, n_items, &[], false).unwrap();
    let users: Vec<u32> = (0..n_users).collect();
    let ties = check_lists(
        gpu,
        &Case {
            host: &host,
            dim,
            n_users,
            n_items,
            excl: &excl,
        },
        &users,
        100,
        false,
    );
    assert!(ties >= 5 * 4, "every user sees both groups of ties: {ties}");
    // Directly: the group's ids come out ascending wherever it lands.
    let table = DeviceTable::upload(gpu, n_users + n_items, dim, &host, "emb").unwrap();
    let dev = DeviceUserItems::upload(gpu, n_items, &excl.row_ptr, &excl.items).unwrap();
    let got = top_k(gpu, &table, &dev, &users, 100).unwrap();
    for r in 0..users.len() {
        let group: Vec<u32> = got
            .items_of(r)
            .iter()
            .copied()
            .filter(|i| [3, 7, 70, 89].contains(i))
            .collect();
        assert_eq!(group, [3, 7, 70, 89]);
    }
}

#[test]
fn topk_with_chunked_table_and_two_dimensional_grid() {
    // Bindings of 16 KiB split the 48-wide table (240 rows x 192 bytes) over 3 slots; at most
    // 7 workgroups per grid dimension spread the 37 users over x and y.
    let gpu = open(GpuOptions {
        binding_cap: Some(16 * 1024),
        max_workgroups_per_dim: Some(7),
        ..GpuOptions::default()
    });
    let mut rng = rng(6);
    let (n_users, n_items, dim) = (37u32, 203u32, 48u32);
    let excl = random_exclusions(&mut rng, n_users, n_items);
    let host = quarter_table(&mut rng, n_users + n_items, dim);
    let users: Vec<u32> = (0..n_users).collect();
    check_lists(
        &gpu,
        &Case {
            host: &host,
            dim,
            n_users,
            n_items,
            excl: &excl,
        },
        &users,
        20,
        true,
    );
}

#[test]
fn topk_rejects_bad_input() {
    let gpu = gpu();
    let mut rng = rng(7);
    let table = DeviceTable::upload(gpu, 10, 4, &quarter_table(&mut rng, 10, 4), "emb").unwrap();
    // 4 users, 6 items.
    let dev = DeviceUserItems::upload(gpu, 6, &[0, 1, 1, 1, 2], &[5, 0]).unwrap();
    assert!(
        top_k(gpu, &table, &dev, &[4], 3).is_err(),
        "user out of range"
    );
    assert!(top_k(gpu, &table, &dev, &[0], 0).is_err(), "K = 0");
    assert!(top_k(gpu, &table, &dev, &[0], 101).is_err(), "K > 100");
    assert!(top_k(gpu, &table, &dev, &[], 3).unwrap().is_empty());
    // Unsorted, out of range, broken offsets.
    assert!(DeviceUserItems::upload(gpu, 6, &[0, 2], &[3, 1]).is_err());
    assert!(DeviceUserItems::upload(gpu, 6, &[0, 1], &[6]).is_err());
    assert!(DeviceUserItems::upload(gpu, 6, &[0, 3], &[1]).is_err());
    // A table too small for 4 users + 7 items.
    let dev = DeviceUserItems::upload(gpu, 7, &[0, 0, 0, 0, 0], &[]).unwrap();
    assert!(top_k(gpu, &table, &dev, &[0], 3).is_err());
}

#[test]
fn recall_and_ndcg_on_a_hand_made_case() {
    // Scores: user u's score of item i is (8 - i) * a_u with a_0 = 1, a_1 = -1, a_2 = 1, so
    // users 0 and 2 rank items 0, 1, 2, ... and user 1 ranks them backwards.
    let (n_users, n_items, dim) = (3u32, 8u32, 4u32);
    let mut host = vec![0.0f32; ((n_users + n_items) * dim) as usize];
    for (u, a) in [(0usize, 1.0f32), (1, -1.0), (2, 1.0)] {
        host[u * 4] = a;
    }
    for i in 0..n_items as usize {
        host[(n_users as usize + i) * 4] = (8 - i) as f32;
    }
    let gpu = gpu();
    let table = DeviceTable::upload(gpu, n_users + n_items, dim, &host, "emb").unwrap();
    let mut train = Interactions::default();
    train.push(0, 1, 1); // user 0 has seen item 1: the list is 0, 2, 3
    train.push(1, 7, 0); // a negative training row still excludes: the list is 6, 5, 4
    let mut test = Interactions::default();
    for i in [2, 5, 6] {
        test.push(0, i, 1);
    }
    test.push(1, 5, 1);
    test.push(1, 3, 0); // a negative test row is not relevant
    // User 2 has no test items and is not evaluated.
    let excluded = UserItems::build(n_users, n_items, &[&train], false).unwrap();
    let relevant = UserItems::build(n_users, n_items, &[&test], true).unwrap();
    let opts = RankingOptions {
        k: 3,
        ..RankingOptions::default()
    };
    let report = recall_ndcg(gpu, &table, n_items, &excluded, &relevant, &opts).unwrap();
    let g = |r: usize| 1.0 / ((r + 2) as f64).log2();
    // User 0: list [0, 2, 3], relevant {2, 5, 6}: one hit at rank 1 of 3 relevant.
    let (r0, n0) = (1.0 / 3.0, g(1) / (g(0) + g(1) + g(2)));
    // User 1: list [6, 5, 4], relevant {5}: hit at rank 1, IDCG = g(0).
    let (r1, n1) = (1.0, g(1) / g(0));
    assert_eq!((report.users, report.eligible_users), (2, 2));
    assert!(
        (report.recall - (r0 + r1) / 2.0).abs() < 1e-15,
        "{report:?}"
    );
    assert!((report.ndcg - (n0 + n1) / 2.0).abs() < 1e-15, "{report:?}");
    assert_eq!(report.sample_seed, None);
    // The list scorer agrees with the reference definitions.
    for (list, rel) in [
        (&[0u32, 2, 3][..], &[2u32, 5, 6][..]),
        (&[6, 5, 4], &[5]),
        (&[1, NO_ITEM, NO_ITEM], &[1, 9]),
    ] {
        let (a, b) = list_recall_ndcg(list, rel).unwrap();
        let (c, d) = reference::recall_ndcg(list, rel, list.len()).unwrap();
        assert!((a - c).abs() < 1e-15 && (b - d).abs() < 1e-15);
    }
    assert_eq!(list_recall_ndcg(&[1, 2], &[]), None);
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("\"recall\""));
}

#[test]
fn recall_ndcg_match_reference_on_random_data() {
    let gpu = gpu();
    let mut rng = rng(9);
    let (n_users, n_items, dim) = (40u32, 150u32, 8u32);
    let host = quarter_table(&mut rng, n_users + n_items, dim);
    let table = DeviceTable::upload(gpu, n_users + n_items, dim, &host, "emb").unwrap();
    let train = random_rows(&mut rng, 600, n_users, n_items, 0.7);
    let test = random_rows(&mut rng, 200, n_users, n_items, 0.7);
    let excluded = UserItems::build(n_users, n_items, &[&train], false).unwrap();
    let relevant = UserItems::build(n_users, n_items, &[&test], true).unwrap();
    let opts = RankingOptions {
        k: 10,
        sample_users: Some(25),
        seed: 1,
        batch_users: 7,
        ..RankingOptions::default()
    };
    let report = recall_ndcg(gpu, &table, n_items, &excluded, &relevant, &opts).unwrap();
    let users = eval_users(&relevant, Some(25), 1);
    let (mut recall, mut ndcg) = (0.0, 0.0);
    for &u in &users {
        let seen: Vec<u32> = (0..train.len())
            .filter(|&r| train.users[r] == u)
            .map(|r| train.items[r])
            .collect();
        let mut rel: Vec<u32> = (0..test.len())
            .filter(|&r| test.users[r] == u && test.labels[r] == 1)
            .map(|r| test.items[r])
            .collect();
        rel.sort_unstable();
        rel.dedup();
        let list: Vec<u32> = reference::top_k(&host, dim as usize, n_users, n_items, u, &seen, 10)
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        let (r, n) = reference::recall_ndcg(&list, &rel, 10).unwrap();
        recall += r;
        ndcg += n;
    }
    let n = users.len() as f64;
    assert_eq!((report.users, report.sample_seed), (25, Some(1)));
    assert!((report.recall - recall / n).abs() < 1e-12, "{report:?}");
    assert!((report.ndcg - ndcg / n).abs() < 1e-12, "{report:?}");
    assert!(report.recall > 0.0);
    // Bitwise repeatable.
    let again = recall_ndcg(gpu, &table, n_items, &excluded, &relevant, &opts).unwrap();
    assert_eq!((again.recall, again.ndcg), (report.recall, report.ndcg));
}

#[test]
fn user_sample_is_fixed_by_its_seed() {
    let mut rng = rng(8);
    let test = random_rows(&mut rng, 3000, 1000, 50, 1.0);
    let relevant = UserItems::build(1000, 50, &[&test], true).unwrap();
    let all = eval_users(&relevant, None, 1);
    let a = eval_users(&relevant, Some(100), 7);
    assert_eq!(a, eval_users(&relevant, Some(100), 7));
    assert_ne!(a, eval_users(&relevant, Some(100), 8));
    assert_eq!(a.len(), 100);
    assert!(a.windows(2).all(|w| w[0] < w[1]) && a.iter().all(|u| all.contains(u)));
    assert_eq!(eval_users(&relevant, Some(all.len() + 5), 7), all);
}

#[test]
fn gowalla_recall_of_a_random_model() {
    let dir = common::require_data!();
    let t0 = Instant::now();
    let Loaded::Split(d) = data::load(
        &dir.join("gowalla"),
        Format::Lightgcn,
        &LoadOptions::default(),
    )
    .unwrap() else {
        panic!("gowalla is a split dataset");
    };
    let load_s = t0.elapsed().as_secs_f64();
    let gpu = gpu();
    let dim = 64u32;
    let nodes = d.n_users + d.n_items;
    let mut rng = ifru::data::rng::Rng::new(11);
    let host: Vec<f32> = (0..nodes * dim)
        .map(|_| (rng.normal_approx() * 0.1) as f32)
        .collect();
    let table = DeviceTable::upload(gpu, nodes, dim, &host, "random model").unwrap();
    let opts = RankingOptions {
        k: 20,
        sample_users: Some(2000),
        seed: 3,
        ..RankingOptions::default()
    };
    let report = eval::ranking_report(gpu, &table, &d, &opts).unwrap();
    eprintln!(
        "gowalla random d={dim}: recall@20 {:.5} ndcg@20 {:.5} over {} of {} users in {:.2}s (load {load_s:.2}s)",
        report.recall, report.ndcg, report.users, report.eligible_users, report.seconds
    );
    assert_eq!(report.users, 2000);
    assert_eq!(report.sample_seed, Some(3));
    assert!(report.recall > 0.0 && report.recall < 0.01, "{report:?}");
    assert!(report.ndcg < 0.01, "{report:?}");
}

#[test]
fn forget_rank_counts_places_among_the_remaining_candidates() {
    let gpu = gpu();
    // One user (node 0) and five items whose scores are 5, 4, 3, 2, 1 (dimension 4, the
    // score carried by the first coordinate).
    let (n_users, n_items, dim) = (1u32, 5u32, 4u32);
    let mut host = vec![0.0f32; ((n_users + n_items) * dim) as usize];
    host[0] = 1.0;
    for (i, s) in [5.0f32, 4.0, 3.0, 2.0, 1.0].iter().enumerate() {
        host[(1 + i) * dim as usize] = *s;
    }
    let emb = DeviceTable::upload(gpu, n_users + n_items, dim, &host, "emb").unwrap();
    let mut train = Interactions::default();
    for i in [0, 1, 3] {
        train.push(0, i, 1);
    }
    // Rows 0 (item 0) and 2 (item 3) are forgotten; item 1 remains and is no candidate.
    let remaining = train.select(&[1]);
    // Item 0 is first of {0, 2, 3, 4}: 0 of 3 others above. Item 3 has items 0 and 2 above.
    let rank = forget_rank(gpu, &emb, n_users, n_items, &train, &remaining, &[0, 2])
        .unwrap()
        .unwrap();
    assert!((rank - (0.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12, "{rank}");
    // Ties count half: item 3 and an equal item 4.
    let mut tied = host.clone();
    tied[5 * dim as usize] = 2.0;
    let emb = DeviceTable::upload(gpu, n_users + n_items, dim, &tied, "emb").unwrap();
    let rank = forget_rank(gpu, &emb, n_users, n_items, &train, &remaining, &[2])
        .unwrap()
        .unwrap();
    assert!((rank - 2.5 / 3.0).abs() < 1e-12, "{rank}");
    assert!(
        forget_rank(gpu, &emb, n_users, n_items, &train, &remaining, &[])
            .unwrap()
            .is_none()
    );
}
