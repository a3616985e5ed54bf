//! The graph a model propagates over.

use crate::data::Interactions;
use crate::graph::{BipartiteGraph, CsrArrays, GraphError, csr_arrays, normalize};

use super::ModelSpec;

/// The normalised adjacency LightGCN propagates over, built from the positives of `rows`;
/// `None` for MF, which does not propagate.
pub fn adjacency_for(
    spec: &ModelSpec,
    n_users: u32,
    n_items: u32,
    rows: &Interactions,
) -> Result<Option<CsrArrays>, GraphError> {
    if spec.propagation_layers() == 0 {
        return Ok(None);
    }
    let graph = BipartiteGraph::from_interactions(n_users, n_items, rows)?;
    Ok(Some(csr_arrays(&normalize(&graph))))
}
