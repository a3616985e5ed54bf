//! The whole-graph definition of the pruning scores ([`crate::unlearn::influence::prune`]), as a plain
//! reference for the request-local computation.

use crate::data::Interactions;
use crate::error::{Error, Result};
use crate::graph::BipartiteGraph;

/// Every node's importance score after `hops` hops (zero for nodes out of reach), over the
/// graph of all training rows (both labels).
pub fn importance_scores(
    n_users: u32,
    n_items: u32,
    train: &Interactions,
    forget: &[u32],
    hops: u32,
) -> Result<Vec<f64>> {
    if let Some(&r) = forget.iter().find(|&&r| r as usize >= train.len()) {
        return Err(Error::Invalid(format!(
            "row {r} is not a training row ({} rows)",
            train.len()
        )));
    }
    // The graph of every training row, whatever its label; entries count the rows of a pair.
    let all = vec![1u8; train.len()];
    let graph = BipartiteGraph::from_rows(n_users, n_items, &train.users, &train.items, &all)?;
    let adj = graph.adjacency();
    let (ptr, idx, counts) = (adj.proper_indptr(), adj.indices(), adj.data());
    let n = graph.n_nodes();
    let deg: Vec<f64> = (0..n)
        .map(|v| {
            let rows: u32 = counts[ptr[v] as usize..ptr[v + 1] as usize].iter().sum();
            1.0 + f64::from(rows)
        })
        .collect();
    let mut hits = vec![0u32; n];
    let mut forget = forget.to_vec();
    forget.sort_unstable();
    forget.dedup();
    for &r in &forget {
        hits[train.users[r as usize] as usize] += 1;
        hits[(n_users + train.items[r as usize]) as usize] += 1;
    }
    let mut score: Vec<f64> = (0..n).map(|v| f64::from(hits[v]) / deg[v]).collect();
    for _ in 0..hops {
        let next: Vec<f64> = (0..n)
            .map(|v| {
                let row = &idx[ptr[v] as usize..ptr[v + 1] as usize];
                // N(v) ∪ {v} in ascending order: v slots in among its neighbours.
                let split = row.partition_point(|&x| (x as usize) < v);
                let ordered = row[..split]
                    .iter()
                    .map(|&x| x as usize)
                    .chain(std::iter::once(v))
                    .chain(row[split..].iter().map(|&x| x as usize));
                let mut acc: Option<f64> = None;
                for x in ordered {
                    if score[x] != 0.0 {
                        let term = score[x] / deg[v];
                        acc = Some(acc.map_or(term, |a| a + term));
                    }
                }
                acc.unwrap_or(0.0)
            })
            .collect();
        score = next;
    }
    Ok(score)
}
