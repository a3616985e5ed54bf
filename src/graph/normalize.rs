//! Symmetric normalisation Â = D^{-1/2} A D^{-1/2} of the binary adjacency, and its
//! incremental update after rows are deleted.

use super::{BipartiteGraph, Csr, GraphError, to_csr};

fn weight(du: u32, dv: u32) -> f32 {
    // Computed in f64, rounded once. Degrees of an edge's endpoints are ≥ 1.
    (1.0 / (f64::from(du) * f64::from(dv)).sqrt()) as f32
}

/// Â for `g`: entry (r, c) = 1/√(deg r · deg c) for every edge; a degree-0 node has an empty
/// row (and column), never a division by zero.
pub fn normalize(g: &BipartiteGraph) -> Csr<f32> {
    let deg = g.degrees();
    let a = g.adjacency();
    let ptr = a.proper_indptr();
    let idx = a.indices();
    let mut vals = Vec::with_capacity(idx.len());
    for r in 0..deg.len() {
        for &c in &idx[ptr[r] as usize..ptr[r + 1] as usize] {
            vals.push(weight(deg[r], deg[c as usize]));
        }
    }
    // The structure is that of a valid matrix, so this cannot fail.
    to_csr(deg.len(), ptr.into_owned(), idx.to_vec(), vals)
        .expect("the structure of a valid CSR matrix is valid")
}

/// Â' for `new`, the graph after a deletion, from `old_norm` (Â of the graph before): only
/// the rows of `changed` nodes (those whose degree changed, see
/// [`super::Removal::changed`]) are rebuilt, and in the other rows only the entries in columns of
/// changed nodes are recomputed; everything else is copied. Equal to [`normalize`]`(new)`.
pub fn renormalize_after_removal(
    old_norm: &Csr<f32>,
    new: &BipartiteGraph,
    changed: &[u32],
) -> Result<Csr<f32>, GraphError> {
    let n = new.n_nodes();
    if old_norm.rows() != n {
        return Err(GraphError::LengthMismatch(format!(
            "old Â has {} rows, the graph {} nodes",
            old_norm.rows(),
            n
        )));
    }
    let mut is_changed = vec![false; n];
    for &c in changed {
        let slot = is_changed
            .get_mut(c as usize)
            .ok_or(GraphError::OutOfRange {
                what: "node",
                id: c.into(),
                bound: n as u64,
            })?;
        *slot = true;
    }
    let a = new.adjacency();
    let new_ptr = a.proper_indptr();
    let new_idx = a.indices();
    let old_ptr = old_norm.proper_indptr();
    let old_val = old_norm.data();
    let deg = |r: usize| new_ptr[r + 1] - new_ptr[r];
    let mut vals = Vec::with_capacity(new_idx.len());
    for r in 0..n {
        let (a0, a1) = (new_ptr[r] as usize, new_ptr[r + 1] as usize);
        let (o0, o1) = (old_ptr[r] as usize, old_ptr[r + 1] as usize);
        if is_changed[r] || a1 - a0 != o1 - o0 {
            for &c in &new_idx[a0..a1] {
                vals.push(weight(deg(r), deg(c as usize)));
            }
        } else {
            for (p, &c) in new_idx[a0..a1].iter().enumerate() {
                if is_changed[c as usize] {
                    vals.push(weight(deg(r), deg(c as usize)));
                } else {
                    vals.push(old_val[o0 + p]);
                }
            }
        }
    }
    to_csr(n, new_ptr.into_owned(), new_idx.to_vec(), vals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_zero_degree() {
        // user 0 – items 0, 1; user 1 – item 0; item 2 isolated.
        let g = BipartiteGraph::from_rows(2, 3, &[0, 0, 1], &[0, 1, 0], &[1, 1, 1]).unwrap();
        let a = normalize(&g);
        let w = |r: usize, c: usize| *a.get(r, c).unwrap();
        assert_eq!(w(0, 2), (1.0 / 4f64.sqrt()) as f32);
        assert_eq!(w(0, 3), (1.0 / 2f64.sqrt()) as f32);
        assert_eq!(w(1, 2), (1.0 / 2f64.sqrt()) as f32);
        assert_eq!(w(2, 0), w(0, 2));
        assert_eq!(a.outer_view(4).unwrap().nnz(), 0);
        let arr = super::super::csr_arrays(&a);
        assert_eq!(arr.row_ptr, [0, 2, 3, 5, 6, 6]);
        assert_eq!(arr.col_idx, [2, 3, 2, 0, 1, 0]);
        assert!(arr.vals.iter().all(|v| v.is_finite() && *v > 0.0));
    }

    #[test]
    fn incremental_equals_rebuild() {
        let users = [0, 0, 1, 1, 2, 2, 3];
        let items = [0, 1, 1, 2, 2, 3, 3];
        let labels = [1, 1, 1, 1, 1, 1, 0];
        let g = BipartiteGraph::from_rows(4, 4, &users, &items, &labels).unwrap();
        let old = normalize(&g);
        let r = g.remove_rows(&[1, 2], &[1, 3], &[1, 1]).unwrap();
        let inc = renormalize_after_removal(&old, &r.graph, &r.changed).unwrap();
        assert_eq!(inc, normalize(&r.graph));
    }
}
