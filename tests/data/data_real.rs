//! Loader, split and graph tests on the shared real datasets (skipped when they are absent,
//! failing when `CI` is set; see `common::require_data!`).

use crate::common;

use std::path::Path;

use common::require_data;

use ifru::data::forget::{self, ForgetKind, ForgetSpec, PairIndex};
use ifru::data::kcore::kcore_rows;
use ifru::data::split::{self, Shuffle, SplitArgs};
use ifru::data::{
    self, DelimitedOptions, Format, LoadOptions, Loaded, ValueColumn, ValueKind, lightgcn,
    movielens,
};
use ifru::graph::{BipartiteGraph, RowIndex, normalize, renormalize_after_removal};

fn distinct(v: &[u32]) -> usize {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.dedup();
    v.len()
}

#[test]
fn movielens_100k_and_its_5_core() {
    let dir = require_data!();
    let d = movielens::load(&dir.join("ml-100k/u.data")).unwrap();
    assert_eq!(d.len(), 100_000);
    assert_eq!(d.n_users(), 943);
    assert_eq!(d.n_items(), 1_682);
    assert_eq!(d.kind, ValueKind::Rating);
    assert_eq!(d.user_ids.raw(0).as_deref(), Some("196"));
    let rows = kcore_rows(&d.users, &d.items, 5);
    let core = d.select(&rows);
    assert_eq!(core.len(), 99_287);
    assert_eq!(distinct(&core.users), 943);
    assert_eq!(distinct(&core.items), 1_349);
    // Format detection: the folder and the file.
    assert_eq!(
        data::detect_format(&dir.join("ml-100k")).unwrap(),
        Format::Movielens
    );
    assert_eq!(
        data::detect_format(&dir.join("ml-100k/u.data")).unwrap(),
        Format::Movielens
    );
}

#[test]
fn gowalla_lightgcn_files() {
    let dir = require_data!();
    let g = dir.join("gowalla");
    let train = lightgcn::read_file(&g.join("train.txt")).unwrap();
    assert_eq!(train.len(), 810_128);
    assert_eq!(distinct(&train.users), 29_858);
    assert_eq!(distinct(&train.items), 40_981);
    assert_eq!(data::detect_format(&g).unwrap(), Format::Lightgcn);
    assert_eq!(
        data::detect_format(&g.join("train.txt")).unwrap(),
        Format::Lightgcn
    );
    assert_eq!(
        data::detect_format(&dir.join("ml-100k-ifru/0.02/test.csv")).unwrap(),
        Format::Ifru
    );
    let Loaded::Split(d) = data::load(&g, Format::Auto, &LoadOptions::default()).unwrap() else {
        panic!("expected a split dataset");
    };
    assert_eq!((d.n_users, d.n_items), (29_858, 40_981));
    assert_eq!(d.train.len() + d.valid.len(), 810_128);
    assert_eq!(d.test.len(), 217_242);
    assert!(d.implicit);
    // About 10% of each user's rows, every user keeps training rows.
    let frac = d.valid.len() as f64 / 810_128.0;
    assert!((0.09..0.12).contains(&frac), "{frac}");
    assert_eq!(distinct(&d.train.users), 29_858);
    // The graph: 810,128 edges, 1,620,256 stored entries (as s_adj_mat.npz).
    let graph = BipartiteGraph::from_interactions(d.n_users, d.n_items, &train).unwrap();
    assert_eq!(graph.n_edges(), 810_128);
    assert_eq!(graph.adjacency().nnz(), 1_620_256);
}

struct Expect {
    ratio: &'static str,
    normal: (usize, usize),
    random: (usize, usize),
}

const VALID: (usize, usize) = (19_854, 11_083);
const TEST: (usize, usize) = (19_856, 11_009);

#[test]
fn ifru_folders_load_with_their_readme_counts() {
    let dir = require_data!();
    for e in [
        Expect {
            ratio: "0.02",
            normal: (58_380, 32_425),
            random: (1_192, 544),
        },
        Expect {
            ratio: "0.01",
            normal: (58_976, 32_755),
            random: (596, 278),
        },
    ] {
        let f = dir.join("ml-100k-ifru").join(e.ratio);
        assert_eq!(data::detect_format(&f).unwrap(), Format::Ifru);
        let d = data::ifru_folder::load(&f).unwrap();
        assert_eq!((d.n_users, d.n_items), (943, 1_348));
        assert_eq!(d.n_train_normal, e.normal.0);
        assert_eq!(d.train.len(), e.normal.0 + e.random.0);
        let normal_pos = d.train.labels[..d.n_train_normal]
            .iter()
            .filter(|&&l| l == 1)
            .count();
        let random_pos = d.train.labels[d.n_train_normal..]
            .iter()
            .filter(|&&l| l == 1)
            .count();
        assert_eq!(normal_pos, e.normal.1);
        assert_eq!(random_pos, e.random.1);
        assert_eq!((d.valid.len(), d.valid.positives()), VALID);
        assert_eq!((d.test.len(), d.test.positives()), TEST);
        assert_eq!(d.flipped_rows().len(), e.random.0);
    }
}

fn assert_same_files(a: &Path, b: &Path) {
    for name in [
        "train_normal.csv",
        "train_random.csv",
        "valid.csv",
        "test.csv",
        "train.csv",
    ] {
        let x = std::fs::read(a.join(name)).unwrap();
        let y = std::fs::read(b.join(name)).unwrap();
        assert!(
            x == y,
            "{name} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

#[test]
fn split_reproduces_the_ifru_files_byte_for_byte() {
    let dir = require_data!();
    let tmp = tempfile::tempdir().unwrap();
    let perm = dir.join("ml-100k-ifru/permutation_seed1024.txt");
    for ratio in ["0.02", "0.01"] {
        let out = tmp.path().join(ratio);
        let mut args = SplitArgs::new(dir.join("ml-100k/u.data"), &out);
        args.format = Format::Movielens;
        args.kcore = 5;
        args.threshold = 3.0;
        args.shuffle = Shuffle::Permutation(perm.clone());
        args.ratio = ratio.parse().unwrap();
        let summary = split::run_split(&args).unwrap();
        assert_same_files(&out, &dir.join("ml-100k-ifru").join(ratio));
        let c = &summary.recipe.counts;
        assert_eq!(
            (c.rows_after_kcore, c.train, c.n_users, c.n_items),
            (99_287, 59_572, 943, 1_348)
        );
        assert_eq!((c.valid_dropped, c.test_dropped), (3, 2));
        // The recipe and the id maps are there; the recipe rebuilds the same split.
        let recipe = split::Recipe::read(&out.join("recipe.json")).unwrap();
        let again = split::rebuild(&recipe).unwrap();
        assert_eq!(again.train, split::make_split(&args).unwrap().train);
        let (_, users, items) = split::load_with_id_maps(&out).unwrap();
        assert_eq!(users.len(), 943);
        assert_eq!(items.len(), 1_348);
    }
    // numpy's seed 1024 gives the same permutation, so the seed alone reproduces the files.
    let out = tmp.path().join("seeded");
    let mut args = SplitArgs::new(dir.join("ml-100k"), &out);
    args.shuffle = Shuffle::Seed(1024);
    split::run_split(&args).unwrap();
    assert_same_files(&out, &dir.join("ml-100k-ifru/0.02"));
}

#[test]
fn other_delimited_sources() {
    let dir = require_data!();
    // Book-Crossing (RippleNet subset): tab-separated labels, 153 pairs with two rows.
    let p = dir.join("book-crossing-kg/ratings_final.txt");
    assert_eq!(data::detect_format(&p).unwrap(), Format::Delimited);
    let b = data::delimited::load(&p, &DelimitedOptions::default()).unwrap();
    assert_eq!(b.len(), 139_746);
    assert_eq!(b.kind, ValueKind::Label);
    assert_eq!((b.n_users(), b.n_items()), (17_860, 14_967));
    let t = ifru::data::Interactions {
        users: b.users.clone(),
        items: b.items.clone(),
        labels: b
            .values
            .as_ref()
            .unwrap()
            .iter()
            .map(|&v| v as u8)
            .collect(),
    };
    assert_eq!(t.positives(), 69_873);
    assert_eq!(PairIndex::new(&t).repeated_pairs(), 153);
    // Last.fm: a header line, play counts as ratings.
    let l = data::delimited::load(
        &dir.join("lastfm-hetrec2011/user_artists.dat"),
        &DelimitedOptions {
            value: ValueColumn::Rating,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(l.len(), 92_834);
    assert_eq!((l.n_users(), l.n_items()), (1_892, 17_632));
}

#[test]
fn graph_and_forget_on_ml100k_ifru() {
    let dir = require_data!();
    let d = data::ifru_folder::load(&dir.join("ml-100k-ifru/0.02")).unwrap();
    let g = BipartiteGraph::from_interactions(d.n_users, d.n_items, &d.train).unwrap();
    assert_eq!(g.n_edges(), d.train.positives());
    let by_user = RowIndex::by_user(&d.train, d.n_users).unwrap();
    let by_item = RowIndex::by_item(&d.train, d.n_items).unwrap();
    assert_eq!(by_user.rows.len(), d.train.len());
    assert_eq!(by_item.rows.len(), d.train.len());

    // Forget D_r through a forget file, then delete its rows from the graph.
    let rows = forget::generate(&d, &ForgetSpec::new(ForgetKind::Flipped, 0.0, 0)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("forget.csv");
    assert_eq!(forget::write_forget_file(&f, &d, &rows).unwrap(), 1_192);
    let parsed = forget::read_forget_file(&f).unwrap();
    let idx = PairIndex::new(&d.train);
    let m = forget::match_forget(&parsed, &d.train, &d.user_ids, &d.item_ids, &idx, &[]);
    let s = forget::ForgetSummary::of(&m);
    assert_eq!(s.matched, 1_192);
    assert_eq!(s.rows, rows);

    let removed = d.train.select(&s.rows);
    let r = g
        .remove_rows(&removed.users, &removed.items, &removed.labels)
        .unwrap();
    let old = normalize(&g);
    let inc = renormalize_after_removal(&old, &r.graph, &r.changed).unwrap();
    let mut keep = vec![true; d.train.len()];
    for &x in &s.rows {
        keep[x as usize] = false;
    }
    let rest: Vec<u32> = (0..d.train.len() as u32)
        .filter(|&x| keep[x as usize])
        .collect();
    let rebuilt =
        BipartiteGraph::from_interactions(d.n_users, d.n_items, &d.train.select(&rest)).unwrap();
    assert_eq!(r.graph, rebuilt);
    assert_eq!(inc, normalize(&rebuilt));
    assert!(!r.changed.is_empty());
}
