//! k-hop node sets.

use super::{Csr, GraphError};

/// The nodes within `k` hops of `seeds` over the graph of `adj` (any square CSR matrix; an
/// entry is an edge), seeds included, ascending.
pub fn k_hop_nodes<T>(adj: &Csr<T>, seeds: &[u32], k: usize) -> Result<Vec<u32>, GraphError> {
    let n = adj.rows();
    let mut seen = vec![false; n];
    let mut frontier = Vec::with_capacity(seeds.len());
    for &s in seeds {
        let slot = seen.get_mut(s as usize).ok_or(GraphError::OutOfRange {
            what: "node",
            id: s.into(),
            bound: n as u64,
        })?;
        if !*slot {
            *slot = true;
            frontier.push(s);
        }
    }
    let ptr = adj.proper_indptr();
    let idx = adj.indices();
    let mut all = frontier.clone();
    for _ in 0..k {
        if frontier.is_empty() {
            break;
        }
        let mut next = Vec::new();
        for &v in &frontier {
            for &c in &idx[ptr[v as usize] as usize..ptr[v as usize + 1] as usize] {
                if !seen[c as usize] {
                    seen[c as usize] = true;
                    next.push(c);
                }
            }
        }
        all.extend_from_slice(&next);
        frontier = next;
    }
    all.sort_unstable();
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::BipartiteGraph;

    #[test]
    fn hops() {
        // Path: user0 – item0 – user1 – item1 – user2; nodes: users 0..3, items 3..5.
        let g = BipartiteGraph::from_rows(3, 2, &[0, 1, 1, 2], &[0, 0, 1, 1], &[1; 4]).unwrap();
        let a = g.adjacency();
        assert_eq!(k_hop_nodes(a, &[0], 0).unwrap(), [0]);
        assert_eq!(k_hop_nodes(a, &[0], 1).unwrap(), [0, 3]);
        assert_eq!(k_hop_nodes(a, &[0], 2).unwrap(), [0, 1, 3]);
        assert_eq!(k_hop_nodes(a, &[0], 10).unwrap(), [0, 1, 2, 3, 4]);
        assert_eq!(k_hop_nodes(a, &[2, 0, 0], 1).unwrap(), [0, 2, 3, 4]);
        assert!(k_hop_nodes(a, &[5], 1).is_err());
    }
}
