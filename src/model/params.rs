//! A model's parameters θ on the host: user rows then item rows, row-major.

use serde::{Deserialize, Serialize};

/// θ as two row-major tables. Node numbering on the GPU is users `0..n_users`, then items
/// `n_users..n_users + n_items`, so [`Params::nodes`] is the two tables one after the other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Users (rows of `user_emb`).
    pub n_users: u32,
    /// Items (rows of `item_emb`).
    pub n_items: u32,
    /// Embedding size d.
    pub dim: u32,
    /// `n_users × dim`
    pub user_emb: Vec<f32>,
    /// `n_items × dim`
    pub item_emb: Vec<f32>,
}

impl Params {
    /// Splits a node table (users then items) into user and item tables.
    pub fn from_nodes(n_users: u32, n_items: u32, dim: u32, nodes: &[f32]) -> Result<Self, String> {
        let split = n_users as usize * dim as usize;
        let expected = split + n_items as usize * dim as usize;
        if nodes.len() != expected {
            return Err(format!(
                "{} values for {n_users} users + {n_items} items of size {dim}",
                nodes.len()
            ));
        }
        Ok(Params {
            n_users,
            n_items,
            dim,
            user_emb: nodes[..split].to_vec(),
            item_emb: nodes[split..].to_vec(),
        })
    }

    /// The node table: users then items.
    pub fn nodes(&self) -> Vec<f32> {
        let mut v = Vec::with_capacity(self.user_emb.len() + self.item_emb.len());
        v.extend_from_slice(&self.user_emb);
        v.extend_from_slice(&self.item_emb);
        v
    }

    /// Number of nodes.
    pub fn n_nodes(&self) -> u32 {
        self.n_users + self.n_items
    }

    /// True when every value is finite.
    pub fn is_finite(&self) -> bool {
        self.user_emb
            .iter()
            .chain(&self.item_emb)
            .all(|v| v.is_finite())
    }
}
