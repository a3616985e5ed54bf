//! Importance-based pruning (docs/ARCHITECTURE.md, "Pruning"): which nodes' parameters an update
//! may change, and moving device tables between all nodes and the kept ones.
//!
//! The score follows the original IFRU code (`compute_neighbor_influence_clip` in
//! baiyimeng/IFRU): with deg⁺(v) = 1 + the number of training rows touching v (both labels,
//! repeated pairs counted each time; the 1 is a self-loop),
//!
//! ```text
//! w₀(v)     = c_r(v) / deg⁺(v)                          c_r(v): rows of D_r touching v
//! w_{h+1}(v) = Σ_{x ∈ N(v) ∪ {v}} w_h(x) / deg⁺(v)       N(v): v's distinct training neighbours
//! ```
//!
//! over the graph of all training rows (both labels). The candidates are the nodes with
//! w_k ≠ 0, and of those the nodes whose score is **strictly above** the `1 − keep` quantile
//! of the candidates' scores are kept (numpy's default linear quantile), every candidate when
//! `keep` is 1. The sums run over x in ascending node order, each term divided before it is
//! added, which is the authors' floating-point order for one hop, so threshold ties fall the
//! same way.
//!
//! `--prune-hops 0 --prune-keep 1` keeps exactly the nodes D_r touches (the authors' MF
//! `k_hop 0`); `1, 1` adds their neighbours (MF `k_hop 1`); `1, 0.6` is their LightGCN setting.

use crate::data::Interactions;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuBuffer, GpuError, GpuResult, Record};
use crate::graph::RowIndex;
use crate::kernels::blas::{Scalar, add_rows, axpby};
use crate::kernels::spmm::{DeviceRowIndex, RowValues, gather};
use crate::kernels::{DeviceTable, Plan};
use crate::model::ModelKind;

/// Pruning settings: hops of score propagation and the fraction of candidates kept.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PruneOptions {
    /// Hops k the score is propagated (`--prune-hops`).
    pub hops: u32,
    /// Fraction of the nodes with a non-zero score that is kept, by score (`--prune-keep`),
    /// in (0, 1].
    pub keep: f64,
    /// At most this many nodes beyond the request's own (the endpoints of its rows, always
    /// kept) per own node, the highest-scoring first (`--prune-budget`): a request's cost
    /// then follows the request, not how many neighbours its items have in the graph.
    /// `None`: no bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<f64>,
}

/// The default neighbour budget of MF models ([`PruneOptions::budget`]): nodes beyond the
/// request's own, per own node.
pub const NEIGHBOUR_BUDGET: f64 = 4.0;

impl PruneOptions {
    /// The defaults: one hop; keep 60% for LightGCN (the paper's setting), everything for MF
    /// within [`NEIGHBOUR_BUDGET`] neighbours per node of the request. MF's right-hand side
    /// lives on the request's own nodes and its neighbours enter only through the Hessian,
    /// so bounding them cost no forgetting on Gowalla (docs/BENCHMARKS.md). LightGCN's
    /// propagation spreads the influence over the neighbourhood; a budget of 4 forgot a little
    /// less on a small imported LightGCN (forget AUC 0.274 against 0.271 unbounded, of a
    /// 0.399 → 0.148 gap: `cli/tests/cli/cli_import.rs`), and it is not yet measured on
    /// LightGCN settings, so its default stays unbounded.
    pub fn default_for(kind: ModelKind) -> Self {
        match kind {
            ModelKind::Mf => PruneOptions {
                budget: Some(NEIGHBOUR_BUDGET),
                ..PruneOptions::unbounded(1, 1.0)
            },
            ModelKind::Lightgcn => PruneOptions::unbounded(1, 0.6),
        }
    }

    /// Hops and fraction kept, without a neighbour budget.
    pub fn unbounded(hops: u32, keep: f64) -> Self {
        PruneOptions {
            hops,
            keep,
            budget: None,
        }
    }
}

/// The nodes an update may change.
#[derive(Debug, Clone, PartialEq)]
pub struct Pruning {
    /// Kept nodes, ascending: users, then items offset by the number of users.
    pub nodes: Vec<u32>,
    /// How many of them are users.
    pub kept_users: usize,
    /// How many of them are items.
    pub kept_items: usize,
    /// Nodes with a non-zero score (the candidates the fraction applies to).
    pub candidates: usize,
    /// Scores at or below this were dropped (`None` when every candidate is kept).
    pub threshold: Option<f64>,
}

/// The rows touching each node, for the importance scores: a user → rows and item → rows
/// index over `train` and every node's row count, with rows already forgotten skipped. A
/// resident unlearner keeps one over its training data, built once, and a request then
/// reads the rows of its neighbourhood only; [`importance_scores`] builds one over the rows
/// it is given (a pass over every row).
pub struct RowsByNode<'a> {
    train: &'a Interactions,
    n_users: u32,
    by_user: std::borrow::Cow<'a, RowIndex>,
    by_item: std::borrow::Cow<'a, RowIndex>,
    /// Rows of `train` no longer trained on (`None`: every row counts).
    gone: Option<&'a [bool]>,
    /// Rows of `train` (not gone) touching each node, users then items.
    rows_at: std::borrow::Cow<'a, [u32]>,
}

impl<'a> RowsByNode<'a> {
    /// The index over every row of `train`, checking ids (one pass over the rows).
    pub fn build(n_users: u32, n_items: u32, train: &'a Interactions) -> Result<Self> {
        let n = n_users as usize + n_items as usize;
        let mut rows_at = vec![0u32; n];
        for (&u, &i) in train.users.iter().zip(&train.items) {
            if u >= n_users || i >= n_items {
                return Err(Error::Invalid(format!(
                    "row ({u}, {i}) is outside {n_users} users and {n_items} items"
                )));
            }
            rows_at[u as usize] += 1;
            rows_at[(n_users + i) as usize] += 1;
        }
        let index = |keys: &[u32], n_keys: u32| {
            RowIndex::build(keys, n_keys).map_err(|e| Error::Invalid(e.to_string()))
        };
        Ok(RowsByNode {
            train,
            n_users,
            by_user: std::borrow::Cow::Owned(index(&train.users, n_users)?),
            by_item: std::borrow::Cow::Owned(index(&train.items, n_items)?),
            gone: None,
            rows_at: std::borrow::Cow::Owned(rows_at),
        })
    }

    /// A resident index: `by_user` and `by_item` over all of `train`, `gone` flagging the
    /// rows already forgotten and `rows_at` the remaining rows per node (both kept up to
    /// date by the caller, request by request).
    pub fn resident(
        train: &'a Interactions,
        n_users: u32,
        by_user: &'a RowIndex,
        by_item: &'a RowIndex,
        gone: &'a [bool],
        rows_at: &'a [u32],
    ) -> Self {
        RowsByNode {
            train,
            n_users,
            by_user: std::borrow::Cow::Borrowed(by_user),
            by_item: std::borrow::Cow::Borrowed(by_item),
            gone: Some(gone),
            rows_at: std::borrow::Cow::Borrowed(rows_at),
        }
    }

    /// The rows of `train` this index is over.
    pub fn train(&self) -> &Interactions {
        self.train
    }

    fn nodes(&self) -> usize {
        self.rows_at.len()
    }

    /// Whether row `r` of `train` was forgotten earlier (no longer trained on).
    pub fn is_gone(&self, r: u32) -> bool {
        self.gone.is_some_and(|g| g[r as usize])
    }

    /// Every remaining row touching node `v` (its id in `train`).
    pub fn for_each_row(&self, v: u32, mut f: impl FnMut(u32)) {
        let rows = if v < self.n_users {
            self.by_user.rows_of(v)
        } else {
            self.by_item.rows_of(v - self.n_users)
        };
        for &r in rows {
            if !self.is_gone(r) {
                f(r);
            }
        }
    }

    /// The other endpoint (a node) of every remaining row touching node `v`.
    fn for_each_neighbour(&self, v: u32, mut f: impl FnMut(u32)) {
        let (train, n_users) = (self.train, self.n_users);
        self.for_each_row(v, |r| {
            f(if v < n_users {
                n_users + train.items[r as usize]
            } else {
                train.users[r as usize]
            })
        });
    }
}

/// Every node's importance score after `hops` hops (zero for nodes out of reach).
///
/// Bit for bit the same as the whole-graph definition
/// ([`crate::reference::prune::importance_scores`]): every sum runs over the same terms in
/// the same ascending order. Builds the row index over `train` ([`RowsByNode::build`]);
/// [`importance_scores_on`] takes one the caller keeps.
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
    importance_scores_on(&RowsByNode::build(n_users, n_items, train)?, forget, hops)
}

/// [`importance_scores`] over an index: `forget` are rows of `rows.train()` (not gone). The
/// cost follows the request: the rows of the region the score reaches in `hops − 1` hops,
/// read through the index, and no pass over all rows.
pub fn importance_scores_on(rows: &RowsByNode<'_>, forget: &[u32], hops: u32) -> Result<Vec<f64>> {
    let train = rows.train;
    if let Some(&r) = forget
        .iter()
        .find(|&&r| r as usize >= train.len() || rows.gone.is_some_and(|g| g[r as usize]))
    {
        return Err(Error::Invalid(format!(
            "row {r} is not a remaining training row ({} rows)",
            train.len()
        )));
    }
    let n = rows.nodes();
    let n_users = rows.n_users;
    let node_of_item = |i: u32| n_users + i;
    // deg⁺(v) = 1 + the remaining rows touching v.
    let deg = |v: usize| 1.0 + f64::from(rows.rows_at[v]);
    let mut hits = vec![0u32; n];
    let mut forget = forget.to_vec();
    forget.sort_unstable();
    forget.dedup();
    for &r in &forget {
        hits[train.users[r as usize] as usize] += 1;
        hits[node_of_item(train.items[r as usize]) as usize] += 1;
    }
    let mut region: Vec<u32> = forget
        .iter()
        .flat_map(|&r| {
            [
                train.users[r as usize],
                node_of_item(train.items[r as usize]),
            ]
        })
        .collect();
    region.sort_unstable();
    region.dedup();
    let mut score = vec![0.0f64; n];
    for &v in &region {
        score[v as usize] = f64::from(hits[v as usize]) / deg(v as usize);
    }
    if hops == 0 {
        return Ok(score);
    }
    // The region the score reaches hop by hop. A node's new score needs its neighbours
    // inside the region of the previous hop, so the rows of region(hops − 1) are all it
    // takes.
    let mut reached = vec![false; n];
    region.iter().for_each(|&v| reached[v as usize] = true);
    let mut ring = region.clone();
    let mut inner = region.clone();
    for hop in 1..=hops {
        if hop > 1 {
            inner.clone_from(&region);
        }
        let mut next_ring = Vec::new();
        for &a in &ring {
            rows.for_each_neighbour(a, |b| {
                if !reached[b as usize] {
                    reached[b as usize] = true;
                    next_ring.push(b);
                }
            });
        }
        region.extend_from_slice(&next_ring);
        ring = next_ring;
    }
    // Distinct neighbours inside region(hops − 1) of every region node, ascending.
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    for &x in &inner {
        rows.for_each_neighbour(x, |v| pairs.push((v, x)));
    }
    pairs.sort_unstable();
    pairs.dedup();
    region.sort_unstable();
    let mut next = vec![0.0f64; n];
    for _ in 0..hops {
        let mut at = 0;
        for &v in &region {
            let start = at + pairs[at..].partition_point(|&(a, _)| a < v);
            let end = start + pairs[start..].partition_point(|&(a, _)| a == v);
            at = end;
            let neighbours = &pairs[start..end];
            // N(v) ∪ {v} in ascending order: v slots in among its neighbours.
            let split = neighbours.partition_point(|&(_, x)| x < v);
            let ordered = neighbours[..split]
                .iter()
                .map(|&(_, x)| x as usize)
                .chain(std::iter::once(v as usize))
                .chain(neighbours[split..].iter().map(|&(_, x)| x as usize));
            let mut acc: Option<f64> = None;
            for x in ordered {
                if score[x] != 0.0 {
                    let term = score[x] / deg(v as usize);
                    acc = Some(acc.map_or(term, |a| a + term));
                }
            }
            next[v as usize] = acc.unwrap_or(0.0);
        }
        std::mem::swap(&mut score, &mut next);
    }
    Ok(score)
}

/// `nodes` (ascending) less all but the `budget × own` highest-scoring nodes beyond the
/// request's own (the endpoints of its rows, which stay whether or not `nodes` held them).
/// Ties in score go to the lower node id, so the set is deterministic.
fn within_budget(
    n_users: u32,
    train: &Interactions,
    forget: &[u32],
    score: &[f64],
    nodes: Vec<u32>,
    budget: f64,
) -> Vec<u32> {
    let mut own: Vec<u32> = forget
        .iter()
        .flat_map(|&r| [train.users[r as usize], n_users + train.items[r as usize]])
        .collect();
    own.sort_unstable();
    own.dedup();
    let mut others: Vec<u32> = nodes
        .into_iter()
        .filter(|v| own.binary_search(v).is_err())
        .collect();
    let allowed = (budget * own.len() as f64).floor() as usize;
    if others.len() > allowed {
        others.sort_by(|&a, &b| {
            score[b as usize]
                .total_cmp(&score[a as usize])
                .then(a.cmp(&b))
        });
        others.truncate(allowed);
    }
    own.extend(others);
    own.sort_unstable();
    own
}

/// numpy's default (`linear`) quantile of `sorted` (ascending, non-empty) at `q` ∈ [0, 1],
/// with numpy's own rounding steps.
fn numpy_quantile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len() as f64;
    // numpy: n·q + (α + q·(1 − α − β)) − 1 with α = β = 1, i.e. (n − 1)·q rounded its way.
    let virtual_index = n * q + (1.0 - q) - 1.0;
    let last = sorted.len() - 1;
    let below = virtual_index.floor().clamp(0.0, last as f64);
    let (lo, hi) = (below as usize, (below as usize + 1).min(last));
    let t = virtual_index - below;
    let (a, b) = (sorted[lo], sorted[hi]);
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

fn check_options(options: PruneOptions) -> Result<()> {
    if !(options.keep > 0.0 && options.keep <= 1.0) {
        return Err(Error::Invalid(format!(
            "the fraction of nodes kept must lie in (0, 1], not {}",
            options.keep
        )));
    }
    if let Some(b) = options.budget.filter(|b| !(b.is_finite() && *b >= 0.0)) {
        return Err(Error::Invalid(format!(
            "the neighbour budget must be a number ≥ 0, not {b}"
        )));
    }
    Ok(())
}

/// The kept nodes of a request: see the module notes.
pub fn prune(
    n_users: u32,
    n_items: u32,
    train: &Interactions,
    forget: &[u32],
    options: PruneOptions,
) -> Result<Pruning> {
    check_options(options)?;
    prune_on(
        &RowsByNode::build(n_users, n_items, train)?,
        forget,
        options,
    )
}

/// [`prune`] over a row index the caller keeps ([`RowsByNode::resident`]): `forget` are
/// rows of `rows.train()`. No pass over all rows.
pub fn prune_on(rows: &RowsByNode<'_>, forget: &[u32], options: PruneOptions) -> Result<Pruning> {
    check_options(options)?;
    let (n_users, train) = (rows.n_users, rows.train);
    let score = importance_scores_on(rows, forget, options.hops)?;
    let candidates: Vec<u32> = (0..score.len() as u32)
        .filter(|&v| score[v as usize] != 0.0)
        .collect();
    let threshold = if options.keep >= 1.0 || candidates.is_empty() {
        None
    } else {
        let mut sorted: Vec<f64> = candidates.iter().map(|&v| score[v as usize]).collect();
        sorted.sort_by(f64::total_cmp);
        Some(numpy_quantile(&sorted, 1.0 - options.keep))
    };
    let above = |strict: bool, t: f64| -> Vec<u32> {
        candidates
            .iter()
            .copied()
            .filter(|&v| score[v as usize] > t || (!strict && score[v as usize] == t))
            .collect()
    };
    // Above the quantile, as the original code keeps; when every candidate ties at it (a
    // request whose rows touch every node alike), nothing is above, so the ties are kept
    // rather than no node at all.
    let nodes: Vec<u32> = match threshold {
        None => candidates.clone(),
        Some(t) => match above(true, t) {
            kept if kept.is_empty() => above(false, t),
            kept => kept,
        },
    };
    let nodes = match options.budget {
        None => nodes,
        Some(budget) => within_budget(n_users, train, forget, &score, nodes, budget),
    };
    let kept_users = nodes.partition_point(|&v| v < n_users);
    Ok(Pruning {
        kept_items: nodes.len() - kept_users,
        kept_users,
        candidates: candidates.len(),
        threshold,
        nodes,
    })
}

/// A set of nodes on the device, for moving node-major tables between all N nodes and the
/// |P| kept ones (the solve works on the kept rows only). Both directions reuse the gather
/// kernel with a coefficient of 1, so they copy values exactly.
pub struct NodeSubset {
    nodes: Vec<u32>,
    n_nodes: u32,
    /// Target t (a kept node) ← node `nodes[t]` of the full table.
    pick: DeviceRowIndex,
    /// Target v (any node) ← row t of the kept table when v = `nodes[t]`; empty otherwise.
    place: DeviceRowIndex,
    one: GpuBuffer<f32>,
    /// `nodes` on the device (row-wise updates).
    rows: GpuBuffer<u32>,
}

impl NodeSubset {
    /// `nodes` must be ascending, distinct, non-empty and below `n_nodes`.
    pub fn new(gpu: &Gpu, n_nodes: u32, nodes: &[u32]) -> GpuResult<Self> {
        if nodes.is_empty() {
            return Err(GpuError::Invalid("an empty node set".into()));
        }
        if nodes.windows(2).any(|w| w[0] >= w[1]) {
            return Err(GpuError::Invalid(
                "the node set must be ascending without repeats".into(),
            ));
        }
        if let Some(&last) = nodes.last().filter(|&&v| v >= n_nodes) {
            return Err(GpuError::Invalid(format!(
                "node {last} is out of range (the model has {n_nodes})"
            )));
        }
        let k = nodes.len() as u32;
        let ptr: Vec<u32> = (0..=k).collect();
        let zeros = vec![0u32; nodes.len()];
        let pick = DeviceRowIndex::upload(gpu, n_nodes, &ptr, nodes, &zeros)?;
        let mut place_ptr = Vec::with_capacity(n_nodes as usize + 1);
        place_ptr.push(0u32);
        let mut next = 0usize;
        for v in 0..n_nodes {
            if nodes.get(next) == Some(&v) {
                next += 1;
            }
            place_ptr.push(next as u32);
        }
        let positions: Vec<u32> = (0..k).collect();
        let place = DeviceRowIndex::upload(gpu, k, &place_ptr, &positions, &zeros)?;
        Ok(NodeSubset {
            nodes: nodes.to_vec(),
            n_nodes,
            pick,
            place,
            one: gpu.upload(&[1.0f32], "one")?,
            rows: gpu.upload(nodes, "kept nodes")?,
        })
    }

    /// The kept nodes, ascending.
    pub fn nodes(&self) -> &[u32] {
        &self.nodes
    }

    /// Number of kept nodes |P|.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Number of nodes of the full tables.
    pub fn n_nodes(&self) -> u32 {
        self.n_nodes
    }

    fn coefficient(&self) -> RowValues<'_> {
        RowValues {
            buf: &self.one,
            stride: 1,
            offset: 0,
        }
    }

    /// Records `out[t] = full[nodes[t]]` (`full`: N rows, `out`: |P| rows).
    pub fn gather<'a>(
        &'a self,
        gpu: &Gpu,
        full: &'a DeviceTable,
        out: &'a DeviceTable,
    ) -> GpuResult<Plan<'a>> {
        self.check(out, self.len(), "kept")?;
        gather(gpu, &self.pick, self.coefficient(), full, out, 0)
    }

    /// Records `out[nodes[t]] = kept[t]` and zero in every other row (`kept`: |P| rows,
    /// `out`: N rows).
    pub fn scatter<'a>(
        &'a self,
        gpu: &Gpu,
        kept: &'a DeviceTable,
        out: &'a DeviceTable,
    ) -> GpuResult<Plan<'a>> {
        self.check(out, self.n_nodes as usize, "full")?;
        gather(gpu, &self.place, self.coefficient(), kept, out, 0)
    }

    /// Records `full[nodes[t]] += kept[t]`, touching the |P| kept rows only. Fails with
    /// [`GpuError::Limit`] when `full` does not fit one binding (then [`NodeSubset::scatter`]
    /// into a scratch table and a whole-table add do the same).
    pub fn add_to<'a>(
        &'a self,
        gpu: &Gpu,
        kept: &'a DeviceTable,
        full: &'a DeviceTable,
    ) -> GpuResult<Plan<'a>> {
        self.check(kept, self.len(), "kept")?;
        self.check(full, self.n_nodes as usize, "full")?;
        add_rows(
            gpu,
            1.0,
            kept.values(),
            &self.rows,
            kept.dim(),
            full.values(),
        )
    }

    /// Runs `full[nodes[t]] += kept[t]` now: [`NodeSubset::add_to`], or where `full` is too
    /// large for one binding, a scatter into a scratch table and a whole-table add.
    pub fn add_into(&self, gpu: &Gpu, kept: &DeviceTable, full: &DeviceTable) -> GpuResult<()> {
        match self.add_to(gpu, kept, full) {
            Ok(plan) => gpu.run("add kept rows", |pass| plan.record(pass)),
            Err(GpuError::Limit { .. }) => {
                let scratch = DeviceTable::zeros(gpu, self.n_nodes, kept.dim(), "kept update")?;
                let plan = self.scatter(gpu, kept, &scratch)?.then(axpby(
                    gpu,
                    Scalar::Host(1.0),
                    scratch.values(),
                    Scalar::Host(1.0),
                    full.values(),
                    None,
                )?);
                gpu.run("add kept rows", |pass| plan.record(pass))
            }
            Err(e) => Err(e),
        }
    }

    fn check(&self, out: &DeviceTable, rows: usize, what: &str) -> GpuResult<()> {
        if out.rows() as usize != rows {
            return Err(GpuError::Invalid(format!(
                "the {what} output table has {} rows, not {rows}",
                out.rows()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{PruneOptions, numpy_quantile, prune};

    #[test]
    fn candidates_that_all_tie_at_the_quantile_are_kept() {
        // Two users, two items, each user with one row on each item; forgetting one row of
        // each user gives every node the same score.
        let train = crate::data::Interactions {
            users: vec![0, 0, 1, 1],
            items: vec![0, 1, 1, 0],
            labels: vec![1, 0, 1, 0],
        };
        let p = prune(2, 2, &train, &[0, 2], PruneOptions::unbounded(0, 0.6)).unwrap();
        assert_eq!(p.nodes, vec![0, 1, 2, 3]);
    }

    #[test]
    fn quantile_matches_numpy_linear() {
        // np.quantile(a, q) for these inputs.
        assert_eq!(numpy_quantile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.4), 2.6);
        assert!((numpy_quantile(&[1.0, 2.0, 3.0, 4.0], 0.4) - 2.2).abs() < 1e-15);
        assert_eq!(numpy_quantile(&[1.0, 2.0, 3.0, 4.0], 0.0), 1.0);
        assert_eq!(numpy_quantile(&[1.0, 2.0, 3.0, 4.0], 1.0), 4.0);
        assert_eq!(numpy_quantile(&[7.0], 0.4), 7.0);
        assert_eq!(numpy_quantile(&[2.0, 2.0, 2.0, 9.0], 0.4), 2.0);
    }
}
