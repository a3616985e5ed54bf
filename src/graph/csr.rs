//! The bipartite adjacency of positive rows.

use super::{Csr, GraphError, to_csr};
use crate::data::Interactions;

/// A CSR matrix as three plain arrays: `row_ptr` (rows + 1 entries), `col_idx` and `vals`
/// (one per stored entry, columns ascending within a row).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CsrArrays {
    /// Row `r`'s entries are `row_ptr[r]..row_ptr[r + 1]`.
    pub row_ptr: Vec<u32>,
    /// Column of each entry.
    pub col_idx: Vec<u32>,
    /// Value of each entry.
    pub vals: Vec<f32>,
}

/// The user–item bipartite graph of the positive rows: an N×N symmetric matrix (users
/// `0..n_users`, then items) whose entry for (u, n_users + i) is the number of positive rows
/// with that pair. As a graph it is binary: an edge exists while at least one positive row of
/// the pair remains, and a node's degree is its number of distinct neighbours.
#[derive(Clone, Debug, PartialEq)]
pub struct BipartiteGraph {
    n_users: u32,
    n_items: u32,
    adj: Csr<u32>,
}

/// The result of [`BipartiteGraph::remove_rows`].
#[derive(Clone, Debug, PartialEq)]
pub struct Removal {
    /// The graph without the removed rows.
    pub graph: BipartiteGraph,
    /// Nodes whose degree changed (ascending): endpoints of pairs that lost their last
    /// positive row.
    pub changed: Vec<u32>,
}

fn check_lengths(users: &[u32], items: &[u32], labels: &[u8]) -> Result<(), GraphError> {
    if users.len() != items.len() || users.len() != labels.len() {
        return Err(GraphError::LengthMismatch(format!(
            "{} users, {} items, {} labels",
            users.len(),
            items.len(),
            labels.len()
        )));
    }
    Ok(())
}

/// Sorted (key, count) of the positive pairs, checking ids.
fn positive_pairs(
    n_users: u32,
    n_items: u32,
    users: &[u32],
    items: &[u32],
    labels: &[u8],
) -> Result<Vec<(u64, u32)>, GraphError> {
    check_lengths(users, items, labels)?;
    let mut keys = Vec::with_capacity(users.len());
    for r in 0..users.len() {
        if labels[r] != 1 {
            continue;
        }
        let (u, i) = (users[r], items[r]);
        if u >= n_users {
            return Err(GraphError::OutOfRange {
                what: "user",
                id: u.into(),
                bound: n_users.into(),
            });
        }
        if i >= n_items {
            return Err(GraphError::OutOfRange {
                what: "item",
                id: i.into(),
                bound: n_items.into(),
            });
        }
        keys.push((u64::from(u) << 32) | u64::from(i));
    }
    keys.sort_unstable();
    let mut out: Vec<(u64, u32)> = Vec::with_capacity(keys.len());
    for k in keys {
        match out.last_mut() {
            Some(last) if last.0 == k => last.1 += 1,
            _ => out.push((k, 1)),
        }
    }
    Ok(out)
}

impl BipartiteGraph {
    /// The graph of the rows with label 1 among `(users[r], items[r], labels[r])`.
    pub fn from_rows(
        n_users: u32,
        n_items: u32,
        users: &[u32],
        items: &[u32],
        labels: &[u8],
    ) -> Result<Self, GraphError> {
        let n = u64::from(n_users) + u64::from(n_items);
        if n >= u64::from(u32::MAX) {
            return Err(GraphError::TooLarge(format!("{n} nodes")));
        }
        let pairs = positive_pairs(n_users, n_items, users, items, labels)?;
        if pairs.len() > (u32::MAX / 2) as usize {
            return Err(GraphError::TooLarge(format!("{} edges", pairs.len())));
        }
        let n = n as usize;
        let nu = n_users as usize;
        let mut deg = vec![0u32; n];
        for &(k, _) in &pairs {
            deg[(k >> 32) as usize] += 1;
            deg[nu + (k as u32) as usize] += 1;
        }
        let mut indptr = Vec::with_capacity(n + 1);
        indptr.push(0u32);
        let mut acc = 0u32;
        for &d in &deg {
            acc += d;
            indptr.push(acc);
        }
        let nnz = acc as usize;
        let mut indices = vec![0u32; nnz];
        let mut data = vec![0u32; nnz];
        let mut fill: Vec<u32> = indptr[..n].to_vec();
        // Pairs are sorted by (user, item): user rows get items ascending, item rows get users
        // ascending.
        for &(k, c) in &pairs {
            let u = (k >> 32) as usize;
            let i = nu + (k as u32) as usize;
            let p = fill[u] as usize;
            indices[p] = i as u32;
            data[p] = c;
            fill[u] += 1;
            let p = fill[i] as usize;
            indices[p] = u as u32;
            data[p] = c;
            fill[i] += 1;
        }
        Ok(BipartiteGraph {
            n_users,
            n_items,
            adj: to_csr(n, indptr, indices, data)?,
        })
    }

    /// The graph of the positive rows of `t`.
    pub fn from_interactions(
        n_users: u32,
        n_items: u32,
        t: &Interactions,
    ) -> Result<Self, GraphError> {
        Self::from_rows(n_users, n_items, &t.users, &t.items, &t.labels)
    }

    /// Number of users.
    pub fn n_users(&self) -> u32 {
        self.n_users
    }

    /// Number of items.
    pub fn n_items(&self) -> u32 {
        self.n_items
    }

    /// Number of nodes, N = n_users + n_items.
    pub fn n_nodes(&self) -> usize {
        self.n_users as usize + self.n_items as usize
    }

    /// Node id of item `i`.
    pub fn item_node(&self, i: u32) -> u32 {
        self.n_users + i
    }

    /// Number of edges (distinct positive pairs).
    pub fn n_edges(&self) -> usize {
        self.adj.nnz() / 2
    }

    /// The symmetric adjacency; entries hold the number of positive rows of the pair.
    pub fn adjacency(&self) -> &Csr<u32> {
        &self.adj
    }

    /// The neighbours of `node` (ascending); empty for an unknown node.
    pub fn neighbors(&self, node: u32) -> &[u32] {
        self.adj
            .outer_view(node as usize)
            .map(|v| v.into_raw_storage().0)
            .unwrap_or(&[])
    }

    /// The degree (distinct neighbours) of `node`; 0 for an unknown node.
    pub fn degree(&self, node: u32) -> u32 {
        self.neighbors(node).len() as u32
    }

    /// Every node's degree.
    pub fn degrees(&self) -> Vec<u32> {
        self.adj
            .proper_indptr()
            .windows(2)
            .map(|w| w[1] - w[0])
            .collect()
    }

    /// The graph without the rows `(users[r], items[r], labels[r])` (rows with label ≠ 1 are not
    /// edges and are skipped). An edge goes when its last positive row goes.
    pub fn remove_rows(
        &self,
        users: &[u32],
        items: &[u32],
        labels: &[u8],
    ) -> Result<Removal, GraphError> {
        let removed = positive_pairs(self.n_users, self.n_items, users, items, labels)?;
        let n = self.n_nodes();
        let nu = self.n_users as usize;
        let mut touched = vec![false; n];
        for &(k, _) in &removed {
            touched[(k >> 32) as usize] = true;
            touched[nu + (k as u32) as usize] = true;
        }
        let count_of = |u: u32, i: u32| -> u32 {
            let key = (u64::from(u) << 32) | u64::from(i);
            removed
                .binary_search_by(|e| e.0.cmp(&key))
                .map_or(0, |p| removed[p].1)
        };
        let old_ptr = self.adj.proper_indptr();
        let old_idx = self.adj.indices();
        let old_val = self.adj.data();
        let mut indptr = Vec::with_capacity(n + 1);
        indptr.push(0u32);
        let mut indices = Vec::with_capacity(old_idx.len());
        let mut data = Vec::with_capacity(old_idx.len());
        let mut changed = Vec::new();
        for r in 0..n {
            let (a, b) = (old_ptr[r] as usize, old_ptr[r + 1] as usize);
            if !touched[r] {
                indices.extend_from_slice(&old_idx[a..b]);
                data.extend_from_slice(&old_val[a..b]);
            } else {
                let before = indices.len();
                for p in a..b {
                    let c = old_idx[p];
                    let (u, i) = if r < nu {
                        (r as u32, c - self.n_users)
                    } else {
                        (c, (r - nu) as u32)
                    };
                    let left = old_val[p]
                        .checked_sub(count_of(u, i))
                        .ok_or(GraphError::NotAnEdge { user: u, item: i })?;
                    if left > 0 {
                        indices.push(c);
                        data.push(left);
                    }
                }
                if indices.len() - before != b - a {
                    changed.push(r as u32);
                }
            }
            indptr.push(indices.len() as u32);
        }
        // Every removed pair must have been an edge.
        for &(k, _) in &removed {
            let (u, i) = ((k >> 32) as u32, k as u32);
            let row = self.neighbors(u);
            if row.binary_search(&(self.n_users + i)).is_err() {
                return Err(GraphError::NotAnEdge { user: u, item: i });
            }
        }
        Ok(Removal {
            graph: BipartiteGraph {
                n_users: self.n_users,
                n_items: self.n_items,
                adj: to_csr(n, indptr, indices, data)?,
            },
            changed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_symmetric_counts() {
        // users 0,1; items 0,1,2 → nodes 2,3,4.
        let g =
            BipartiteGraph::from_rows(2, 3, &[0, 0, 1, 0, 1], &[0, 2, 2, 0, 1], &[1, 1, 1, 1, 0])
                .unwrap();
        assert_eq!(g.n_nodes(), 5);
        assert_eq!(g.n_edges(), 3);
        assert_eq!(g.neighbors(0), [2, 4]);
        assert_eq!(g.neighbors(4), [0, 1]);
        assert_eq!(g.degrees(), [2, 1, 1, 0, 2]);
        assert_eq!(g.adjacency().get(0, 2), Some(&2));
        assert!(BipartiteGraph::from_rows(2, 3, &[2], &[0], &[1]).is_err());
        assert!(BipartiteGraph::from_rows(2, 3, &[0], &[0], &[]).is_err());
    }

    #[test]
    fn removal_tracks_multiplicity() {
        let g =
            BipartiteGraph::from_rows(2, 3, &[0, 0, 1, 0], &[0, 2, 2, 0], &[1, 1, 1, 1]).unwrap();
        // Removing one of the two (0, 0) rows keeps the edge.
        let r = g.remove_rows(&[0], &[0], &[1]).unwrap();
        assert!(r.changed.is_empty());
        assert_eq!(r.graph.degrees(), g.degrees());
        // Removing both, and (1, 2): nodes 0, 2, 1, 4 change.
        let r = g
            .remove_rows(&[0, 0, 1, 1], &[0, 0, 2, 1], &[1, 1, 1, 0])
            .unwrap();
        assert_eq!(r.changed, [0, 1, 2, 4]);
        assert_eq!(r.graph.degrees(), [1, 0, 0, 0, 1]);
        // Removing more rows than there are is an error.
        assert_eq!(
            g.remove_rows(&[1, 1], &[2, 2], &[1, 1]),
            Err(GraphError::NotAnEdge { user: 1, item: 2 })
        );
        assert_eq!(
            g.remove_rows(&[1], &[0], &[1]),
            Err(GraphError::NotAnEdge { user: 1, item: 0 })
        );
    }
}
