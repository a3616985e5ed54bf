//! Graph operations unlearning needs.
//!
//! Node numbering: users are nodes `0..n_users`, items are nodes `n_users..n_users + n_items`
//! (N nodes in all). Sparse matrices are [`sprs::CsMatI`] with `u32` indices and row pointers,
//! so their raw arrays are exactly what the GPU consumes ([`CsrArrays`]).
//!
//! * [`BipartiteGraph`]: the user–item adjacency of the **positive** training rows.
//! * [`normalize`]: Â = D^{-1/2} A D^{-1/2} (a degree-0 node gets an empty row);
//!   [`renormalize_after_removal`] gives Â' after deleting rows, recomputing only the rows and
//!   columns of nodes whose degree changed.
//! * [`k_hop_nodes`]: the nodes within k hops of seed nodes.
//! * [`induced_subgraph`]: a sub-matrix on a node set, with its node map.
//! * [`RowIndex`]: user → rows and item → rows over all labelled rows.

mod csr;
mod khop;
mod normalize;
mod row_index;
mod subgraph;

pub use csr::{BipartiteGraph, CsrArrays, Removal};
pub use khop::k_hop_nodes;
pub use normalize::{normalize, renormalize_after_removal};
pub use row_index::RowIndex;
pub use subgraph::{Subgraph, induced_subgraph};

/// A CSR matrix with `u32` indices and row pointers.
pub type Csr<T> = sprs::CsMatI<T, u32>;

/// Errors of the graph layer (all are caller errors: ids out of range, sizes beyond 32-bit
/// indices, removing an edge that is not there).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GraphError {
    /// An id at or above its bound.
    #[error("{what} id {id} is out of range (the bound is {bound})")]
    OutOfRange {
        /// Which kind of id.
        what: &'static str,
        /// The id.
        id: u64,
        /// Its bound.
        bound: u64,
    },
    /// Arrays that should have one entry per row have different lengths.
    #[error("per-row arrays differ in length: {0}")]
    LengthMismatch(String),
    /// More entries than 32-bit indices can address.
    #[error("too large for 32-bit indices: {0}")]
    TooLarge(String),
    /// A removed positive row whose (user, item) pair has no positive row left in the graph.
    #[error("cannot remove ({user}, {item}): no positive row with that pair is left")]
    NotAnEdge {
        /// User id.
        user: u32,
        /// Item id.
        item: u32,
    },
    /// sprs rejected a structure (should not happen).
    #[error("invalid sparse structure: {0}")]
    Structure(String),
}

pub(crate) fn to_csr<T>(
    n: usize,
    indptr: Vec<u32>,
    indices: Vec<u32>,
    data: Vec<T>,
) -> Result<Csr<T>, GraphError> {
    Csr::try_new((n, n), indptr, indices, data)
        .map_err(|(_, _, _, e)| GraphError::Structure(e.to_string()))
}

/// The three plain arrays of a CSR matrix, as the GPU consumes them.
pub fn csr_arrays(m: &Csr<f32>) -> CsrArrays {
    CsrArrays {
        row_ptr: m.proper_indptr().into_owned(),
        col_idx: m.indices().to_vec(),
        vals: m.data().to_vec(),
    }
}
