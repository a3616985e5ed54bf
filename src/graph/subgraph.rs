//! Induced subgraphs.

use super::{Csr, GraphError, to_csr};

/// A sub-matrix on a node set.
#[derive(Clone, Debug, PartialEq)]
pub struct Subgraph<T> {
    /// The entries of the original matrix between nodes of the set, renumbered.
    pub mat: Csr<T>,
    /// Sub node → global node (ascending, so global order is kept).
    pub nodes: Vec<u32>,
}

impl<T> Subgraph<T> {
    /// The sub node of a global node, if it is in the set.
    pub fn local(&self, global: u32) -> Option<u32> {
        self.nodes.binary_search(&global).ok().map(|p| p as u32)
    }
}

/// The subgraph of the square matrix `m` induced by `nodes` (repeats allowed, any order).
pub fn induced_subgraph<T: Clone>(m: &Csr<T>, nodes: &[u32]) -> Result<Subgraph<T>, GraphError> {
    let n = m.rows();
    let mut set = nodes.to_vec();
    set.sort_unstable();
    set.dedup();
    if let Some(&last) = set.last() {
        if last as usize >= n {
            return Err(GraphError::OutOfRange {
                what: "node",
                id: last.into(),
                bound: n as u64,
            });
        }
    }
    let ptr = m.proper_indptr();
    let idx = m.indices();
    let data = m.data();
    let mut indptr = Vec::with_capacity(set.len() + 1);
    indptr.push(0u32);
    let mut indices = Vec::new();
    let mut vals = Vec::new();
    for &g in &set {
        for p in ptr[g as usize] as usize..ptr[g as usize + 1] as usize {
            // Columns ascend and `set` is sorted, so local ids ascend too.
            if let Ok(local) = set.binary_search(&idx[p]) {
                indices.push(local as u32);
                vals.push(data[p].clone());
            }
        }
        indptr.push(indices.len() as u32);
    }
    Ok(Subgraph {
        mat: to_csr(set.len(), indptr, indices, vals)?,
        nodes: set,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{BipartiteGraph, normalize};

    #[test]
    fn extracts_entries_between_kept_nodes() {
        let g = BipartiteGraph::from_rows(3, 2, &[0, 1, 1, 2], &[0, 0, 1, 1], &[1; 4]).unwrap();
        let a = normalize(&g);
        let s = induced_subgraph(&a, &[4, 1, 3, 1]).unwrap();
        assert_eq!(s.nodes, [1, 3, 4]);
        assert_eq!(s.mat.nnz(), 4);
        assert_eq!(s.mat.get(0, 1), a.get(1, 3));
        assert_eq!(s.mat.get(2, 0), a.get(4, 1));
        assert_eq!(s.local(4), Some(2));
        assert_eq!(s.local(0), None);
        assert!(induced_subgraph(&a, &[9]).is_err());
        assert_eq!(induced_subgraph(&a, &[]).unwrap().mat.rows(), 0);
    }
}
