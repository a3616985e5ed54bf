//! Property tests of the CSR, normalisation, deletion, k-hop, subgraph and row-index builders.

use std::collections::BTreeSet;

use ifru::data::Interactions;
use ifru::graph::{
    BipartiteGraph, Csr, RowIndex, csr_arrays, induced_subgraph, k_hop_nodes, normalize,
    renormalize_after_removal,
};
use proptest::prelude::*;

/// (n_users, n_items, rows (user, item, label), removal mask)
type Case = (u32, u32, Vec<(u32, u32, u8)>, Vec<bool>);

fn edge_lists() -> impl Strategy<Value = Case> {
    (1u32..12, 1u32..12).prop_flat_map(|(nu, ni)| {
        let rows = prop::collection::vec(
            (0..nu, 0..ni, prop_oneof![3 => Just(1u8), 1 => Just(0u8)]),
            0..60,
        );
        rows.prop_flat_map(move |rows| {
            let n = rows.len();
            (
                Just(nu),
                Just(ni),
                Just(rows),
                prop::collection::vec(any::<bool>(), n),
            )
        })
    })
}

fn table(rows: &[(u32, u32, u8)]) -> Interactions {
    let mut t = Interactions::default();
    for &(u, i, l) in rows {
        t.push(u, i, l);
    }
    t
}

fn check_structure<T: PartialEq + std::fmt::Debug + Clone>(m: &Csr<T>) {
    let ptr = m.proper_indptr();
    assert_eq!(ptr.len(), m.rows() + 1);
    assert_eq!(ptr[0], 0);
    assert!(
        ptr.windows(2).all(|w| w[0] <= w[1]),
        "row pointers not monotone"
    );
    assert_eq!(*ptr.last().unwrap() as usize, m.nnz());
    for r in 0..m.rows() {
        let cols = &m.indices()[ptr[r] as usize..ptr[r + 1] as usize];
        assert!(
            cols.windows(2).all(|w| w[0] < w[1]),
            "columns not strictly ascending"
        );
    }
    // Symmetry.
    for (v, (r, c)) in m.iter() {
        assert_eq!(
            m.get(c as usize, r as usize),
            Some(v),
            "({r}, {c}) has no mirror"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn csr_is_symmetric_with_right_degrees((nu, ni, rows, _) in edge_lists()) {
        let t = table(&rows);
        let g = BipartiteGraph::from_interactions(nu, ni, &t).unwrap();
        check_structure(g.adjacency());
        let n = (nu + ni) as usize;
        let mut nbrs = vec![BTreeSet::new(); n];
        let mut mult = std::collections::HashMap::new();
        for &(u, i, l) in &rows {
            if l == 1 {
                nbrs[u as usize].insert(nu + i);
                nbrs[(nu + i) as usize].insert(u);
                *mult.entry((u, i)).or_insert(0u32) += 1;
            }
        }
        let deg: Vec<u32> = nbrs.iter().map(|s| s.len() as u32).collect();
        prop_assert_eq!(g.degrees(), deg.clone());
        for v in 0..n as u32 {
            prop_assert_eq!(g.neighbors(v).to_vec(), nbrs[v as usize].iter().copied().collect::<Vec<_>>());
        }
        for (&(u, i), &c) in &mult {
            prop_assert_eq!(g.adjacency().get(u as usize, (nu + i) as usize), Some(&c));
        }
        // Â: symmetric, 1/sqrt(d_r d_c), zero-degree rows empty; the raw arrays agree.
        let a = normalize(&g);
        check_structure(&a);
        for (&v, (r, c)) in a.iter() {
            let want = (1.0 / (f64::from(deg[r as usize]) * f64::from(deg[c as usize])).sqrt()) as f32;
            prop_assert_eq!(v, want);
        }
        let arr = csr_arrays(&a);
        prop_assert_eq!(arr.row_ptr.len(), n + 1);
        prop_assert_eq!(arr.col_idx.len(), arr.vals.len());
        for (r, &d) in deg.iter().enumerate() {
            if d == 0 {
                prop_assert_eq!(arr.row_ptr[r], arr.row_ptr[r + 1]);
            }
        }
    }

    #[test]
    fn deletion_matches_a_rebuild((nu, ni, rows, mask) in edge_lists()) {
        let t = table(&rows);
        let g = BipartiteGraph::from_interactions(nu, ni, &t).unwrap();
        let removed: Vec<u32> = (0..rows.len() as u32).filter(|&r| mask[r as usize]).collect();
        let kept: Vec<u32> = (0..rows.len() as u32).filter(|&r| !mask[r as usize]).collect();
        let gone = t.select(&removed);
        let r = g.remove_rows(&gone.users, &gone.items, &gone.labels).unwrap();
        let rebuilt = BipartiteGraph::from_interactions(nu, ni, &t.select(&kept)).unwrap();
        prop_assert_eq!(&r.graph, &rebuilt);
        // `changed` is exactly the nodes whose degree changed.
        let (d0, d1) = (g.degrees(), rebuilt.degrees());
        let want: Vec<u32> = (0..d0.len() as u32).filter(|&v| d0[v as usize] != d1[v as usize]).collect();
        prop_assert_eq!(&r.changed, &want);
        let inc = renormalize_after_removal(&normalize(&g), &r.graph, &r.changed).unwrap();
        prop_assert_eq!(inc, normalize(&rebuilt));
    }

    #[test]
    fn subgraph_and_khop((nu, ni, rows, mask) in edge_lists(), k in 0usize..4) {
        let t = table(&rows);
        let g = BipartiteGraph::from_interactions(nu, ni, &t).unwrap();
        let a = normalize(&g);
        let n = g.n_nodes();
        let nodes: Vec<u32> = (0..n as u32).filter(|&v| mask.get(v as usize).copied().unwrap_or(v % 2 == 0)).collect();
        let s = induced_subgraph(&a, &nodes).unwrap();
        check_structure(&s.mat);
        prop_assert!(s.nodes.windows(2).all(|w| w[0] < w[1]));
        let mut count = 0;
        for (&v, (r, c)) in a.iter() {
            if nodes.contains(&r) && nodes.contains(&c) {
                count += 1;
                let (lr, lc) = (s.local(r).unwrap(), s.local(c).unwrap());
                prop_assert_eq!(s.mat.get(lr as usize, lc as usize), Some(&v));
            }
        }
        prop_assert_eq!(s.mat.nnz(), count);

        // k-hop against repeated expansion.
        let seeds: Vec<u32> = nodes.iter().copied().take(2).collect();
        let mut reach: BTreeSet<u32> = seeds.iter().copied().collect();
        for _ in 0..k {
            let mut next = reach.clone();
            for &v in &reach {
                next.extend(g.neighbors(v).iter().copied());
            }
            reach = next;
        }
        prop_assert_eq!(k_hop_nodes(&a, &seeds, k).unwrap(), reach.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn row_indexes_partition_rows((nu, ni, rows, _) in edge_lists()) {
        let t = table(&rows);
        for (idx, keys, n) in [
            (RowIndex::by_user(&t, nu).unwrap(), &t.users, nu),
            (RowIndex::by_item(&t, ni).unwrap(), &t.items, ni),
        ] {
            prop_assert_eq!(idx.n_keys(), n as usize);
            prop_assert!(idx.row_ptr.windows(2).all(|w| w[0] <= w[1]));
            let mut all = Vec::new();
            for k in 0..n {
                let rs = idx.rows_of(k);
                prop_assert!(rs.windows(2).all(|w| w[0] < w[1]));
                prop_assert!(rs.iter().all(|&r| keys[r as usize] == k));
                prop_assert_eq!(idx.degree(k) as usize, rs.len());
                all.extend_from_slice(rs);
            }
            all.sort_unstable();
            prop_assert_eq!(all, (0..t.len() as u32).collect::<Vec<_>>());
        }
    }
}
