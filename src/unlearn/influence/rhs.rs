//! The influence right-hand side g of an unlearning request (docs/ARCHITECTURE.md, "The right-hand side").
//!
//! For a forget set D_r of training rows, in **sum units** and without the L2 term (θ̂ is the
//! same in both terms, so λθ̂ cancels):
//!
//! ```text
//! g = ∇L(θ̂; D, Â) − ∇L(θ̂; D∖D_r, Â')
//!   = Σ_{D_r} ∇ℓ(θ̂; Â)  +  Σ_{D_ch} [∇ℓ(θ̂; Â) − ∇ℓ(θ̂; Â')]
//!      direct influence     spillover influence
//! ```
//!
//! where Â' is Â rebuilt without D_r's positive rows.
//!
//! **Which rows carry spillover ([`SpilloverRule::Exact`]).** Â and Â' differ only in the
//! entries of an edge with an endpoint whose degree changed (a *changed* node; a removed edge
//! has two). Row u of Â^k and of Â'^k then agree unless a walk of at most k steps from u
//! reaches a changed node, so for a row whose endpoints are all more than K hops (in the old
//! graph) from every changed node, the final embeddings of its endpoints, its score, its
//! per-node gradient G and its back-propagation Σ_k a_k Â^k G are identical under both graphs:
//! its two gradients cancel exactly. D_ch is therefore every remaining row with an endpoint
//! (for BPR: user, positive or negative) within K hops of a changed node, and
//!
//! ```text
//! g = gradient(θ̂, Â; D_r ∪ D_ch) − gradient(θ̂, Â'; D_ch)
//! ```
//!
//! is the brute-force difference restricted to the rows that do not cancel: two GPU gradient
//! runs over |D_r| + |D_ch| and |D_ch| rows instead of two over |D|. `tests/engine/unlearn_rhs.rs`
//! checks it against the f64 brute force on the whole graph. MF (K = 0) has no spillover: its
//! gradient does not depend on Â.
//!
//! [`SpilloverRule::Authors`] is the original IFRU code's cheaper set: only the remaining rows
//! touching a node that lost more than `min_degree_loss` (1%) of its positive-edge degree, the
//! same rows whatever K (an 11–20% error in g on ml-100k-ifru).
//!
//! **BPR.** Rows are (u, i, j) triples over the positive rows, each with one negative j drawn
//! by [`bpr_negatives`]: a pure function of (seed, row id), so the Hessian built for any subset
//! of rows with the same seed sees the same negatives as g.

use crate::data::Interactions;
use crate::data::rng::Rng;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuResult, Record};
use crate::graph::{BipartiteGraph, Csr, CsrArrays, Removal, csr_arrays, k_hop_nodes, normalize};
use crate::kernels::DeviceTable;
use crate::kernels::blas::{Scalar, axpby, copy};
use crate::kernels::spmm::{DeviceCsr, spmm};
use crate::model::objective::{
    DeviceBatch, GradientLayout, GradientWorkspace, gradient, touched_gradient,
};

use super::prune::NodeSubset;
use crate::model::{DeviceModel, LossKind, ModelSpec};

/// Which remaining rows make up the spillover term.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SpilloverRule {
    /// Every remaining row whose gradient changes when Â becomes Â' (see the module notes):
    /// g is then exactly ∇L(θ̂; D, Â) − ∇L(θ̂; D∖D_r, Â').
    Exact,
    /// The original authors' set: remaining rows touching a node whose positive-edge degree
    /// fell by more than this fraction (they use 0.01), whatever the number of layers.
    Authors { min_degree_loss: f64 },
    /// No spillover: the direct influence alone.
    DirectOnly,
}

impl SpilloverRule {
    /// The authors' rule with their 1% threshold.
    pub const AUTHORS: SpilloverRule = SpilloverRule::Authors {
        min_degree_loss: 0.01,
    };
}

/// How to build the right-hand side of a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RhsOptions {
    pub spillover: SpilloverRule,
    /// Seed of the BPR negatives (ignored for BCE); the Hessian must use the same one.
    pub negative_seed: u64,
}

impl Default for RhsOptions {
    fn default() -> Self {
        RhsOptions {
            spillover: SpilloverRule::Exact,
            negative_seed: 0,
        }
    }
}

/// Rows of the objective as node indices, in the form the GPU batch takes: labelled pairs
/// (BCE) or triples with their fixed negatives (BPR).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeRows {
    /// Training row ids, ascending.
    pub rows: Vec<u32>,
    pub user_nodes: Vec<u32>,
    /// Items offset by the number of users (BPR: the positives).
    pub item_nodes: Vec<u32>,
    /// Labels (BCE; all 1 for BPR).
    pub labels: Vec<f32>,
    /// BPR negatives as item nodes (empty for BCE).
    pub neg_nodes: Vec<u32>,
}

impl NodeRows {
    /// Number of rows (triples).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows `keep` accepts, by position.
    pub fn retain(&self, keep: impl Fn(usize) -> bool) -> NodeRows {
        let kept: Vec<usize> = (0..self.len()).filter(|&t| keep(t)).collect();
        let pick = |v: &[u32]| kept.iter().map(|&t| v[t]).collect::<Vec<_>>();
        NodeRows {
            rows: pick(&self.rows),
            user_nodes: pick(&self.user_nodes),
            item_nodes: pick(&self.item_nodes),
            labels: kept.iter().map(|&t| self.labels[t]).collect(),
            neg_nodes: if self.neg_nodes.is_empty() {
                Vec::new()
            } else {
                pick(&self.neg_nodes)
            },
        }
    }

    /// True when row `t` has a node (user, item or BPR negative) that `is_in` accepts.
    pub fn touches(&self, t: usize, is_in: impl Fn(u32) -> bool) -> bool {
        is_in(self.user_nodes[t])
            || is_in(self.item_nodes[t])
            || self.neg_nodes.get(t).is_some_and(|&j| is_in(j))
    }

    /// These rows followed by `other`'s.
    fn concat(&self, other: &NodeRows) -> NodeRows {
        let cat = |a: &[u32], b: &[u32]| [a, b].concat();
        NodeRows {
            rows: cat(&self.rows, &other.rows),
            user_nodes: cat(&self.user_nodes, &other.user_nodes),
            item_nodes: cat(&self.item_nodes, &other.item_nodes),
            labels: [&self.labels[..], &other.labels[..]].concat(),
            neg_nodes: cat(&self.neg_nodes, &other.neg_nodes),
        }
    }

    /// The rows on the device, for a dense gradient over `n_nodes` nodes.
    pub fn upload(&self, gpu: &Gpu, n_nodes: u32, loss: LossKind) -> GpuResult<DeviceBatch> {
        self.upload_as(gpu, n_nodes, loss, GradientLayout::Dense)
    }

    fn upload_as(
        &self,
        gpu: &Gpu,
        n_nodes: u32,
        loss: LossKind,
        layout: GradientLayout,
    ) -> GpuResult<DeviceBatch> {
        match loss {
            LossKind::Bce => DeviceBatch::bce(
                gpu,
                n_nodes,
                layout,
                &self.user_nodes,
                &self.item_nodes,
                &self.labels,
            ),
            LossKind::Bpr => DeviceBatch::bpr(
                gpu,
                n_nodes,
                layout,
                &self.user_nodes,
                &self.item_nodes,
                &self.neg_nodes,
            ),
        }
    }
}

/// Each row's BPR negative, as an item **node** (`n_users + j`): uniform over the items the
/// row's user has no training row with (any label, forgotten rows included, so a forgotten
/// item is never a negative). A pure function of `(seed, row id)` and the user's items, so
/// every caller asking for a row with the same seed gets the same negative. A user who has
/// seen every item gets an arbitrary one (as in training).
pub fn bpr_negatives(
    n_users: u32,
    n_items: u32,
    train: &Interactions,
    rows: &[u32],
    seed: u64,
) -> Result<Vec<u32>> {
    check_rows(train, rows)?;
    if n_items == 0 {
        return Err(Error::Invalid("no items to draw negatives from".into()));
    }
    let mut seen: Vec<Vec<u32>> = vec![Vec::new(); n_users as usize];
    let mut wanted = vec![false; n_users as usize];
    for &r in rows {
        let u = train.users[r as usize];
        match wanted.get_mut(u as usize) {
            Some(w) => *w = true,
            None => return Err(out_of_range("user", u, n_users)),
        }
    }
    for (&u, &i) in train.users.iter().zip(&train.items) {
        if wanted.get(u as usize).copied().unwrap_or(false) {
            seen[u as usize].push(i);
        }
    }
    for s in &mut seen {
        s.sort_unstable();
        s.dedup();
    }
    Ok(rows
        .iter()
        .map(|&r| {
            let seen = &seen[train.users[r as usize] as usize];
            let mut rng = Rng::derive(seed, u64::from(r));
            for _ in 0..100 {
                let j = rng.below(u64::from(n_items)) as u32;
                if seen.binary_search(&j).is_err() {
                    return n_users + j;
                }
            }
            n_users + rng.below(u64::from(n_items)) as u32
        })
        .collect())
}

fn out_of_range(what: &str, id: u32, bound: u32) -> Error {
    Error::Invalid(format!(
        "{what} id {id} is out of range (the bound is {bound})"
    ))
}

fn check_rows(train: &Interactions, rows: &[u32]) -> Result<()> {
    if train.items.len() != train.len() || train.labels.len() != train.len() {
        return Err(Error::Invalid(
            "training rows: users, items and labels differ in length".into(),
        ));
    }
    match train.first_row_outside(rows) {
        Some(r) => Err(Error::Invalid(format!(
            "row {r} is not a training row ({} rows)",
            train.len()
        ))),
        None => Ok(()),
    }
}

/// The BPR negatives of `rows`: looked up in `given` (one item node per row of `train`,
/// drawn once by a caller that keeps them, see [`crate::unlearn::influence::RequestContext`])
/// or drawn now by [`bpr_negatives`].
pub fn negatives_of(
    n_users: u32,
    n_items: u32,
    train: &Interactions,
    rows: &[u32],
    negative_seed: u64,
    given: Option<&[u32]>,
) -> Result<Vec<u32>> {
    match given {
        None => bpr_negatives(n_users, n_items, train, rows, negative_seed),
        Some(given) if given.len() != train.len() => Err(Error::Invalid(format!(
            "{} BPR negatives for {} training rows",
            given.len(),
            train.len()
        ))),
        Some(given) => rows
            .iter()
            .map(|&r| match given.get(r as usize) {
                Some(&j) if j >= n_users && j < n_users + n_items => Ok(j),
                Some(&j) => Err(out_of_range("negative item node", j, n_users + n_items)),
                None => Err(out_of_range("row", r, train.len() as u32)),
            })
            .collect(),
    }
}

/// The rows of the objective among `rows` (ascending): every row for BCE, the positive rows
/// with their negatives for BPR (`given`, or drawn with `negative_seed`: [`negatives_of`]).
pub fn node_rows(
    n_users: u32,
    n_items: u32,
    train: &Interactions,
    rows: &[u32],
    loss: LossKind,
    negative_seed: u64,
    given: Option<&[u32]>,
) -> Result<NodeRows> {
    check_rows(train, rows)?;
    let rows: Vec<u32> = rows
        .iter()
        .copied()
        .filter(|&r| loss == LossKind::Bce || train.labels[r as usize] == 1)
        .collect();
    for &r in &rows {
        let (u, i) = (train.users[r as usize], train.items[r as usize]);
        if u >= n_users {
            return Err(out_of_range("user", u, n_users));
        }
        if i >= n_items {
            return Err(out_of_range("item", i, n_items));
        }
    }
    let neg_nodes = match loss {
        LossKind::Bce => Vec::new(),
        LossKind::Bpr => negatives_of(n_users, n_items, train, &rows, negative_seed, given)?,
    };
    Ok(NodeRows {
        user_nodes: rows.iter().map(|&r| train.users[r as usize]).collect(),
        item_nodes: rows
            .iter()
            .map(|&r| n_users + train.items[r as usize])
            .collect(),
        labels: rows
            .iter()
            .map(|&r| f32::from(train.labels[r as usize]))
            .collect(),
        neg_nodes,
        rows,
    })
}

/// What a resident caller already holds for a request's plan, each part optional: without
/// them the plan derives the same from the rows, at the cost of passes over all of them.
#[derive(Clone, Copy, Default)]
pub struct Held<'a> {
    /// BPR negatives per row of `train`, when the caller keeps them ([`negatives_of`]).
    pub negatives: Option<&'a [u32]>,
    /// The graph of `train` (LightGCN), which a resident unlearner keeps; built from
    /// `train` otherwise.
    pub before: Option<&'a BipartiteGraph>,
    /// The removal of `forget` from the old graph and (LightGCN) its normalised adjacency Â',
    /// which a resident unlearner computes once per request (copying the whole graph again
    /// here was an O(training rows) pass of its own).
    pub removal: Option<(&'a Removal, Option<&'a Csr<f32>>)>,
    /// Row indexes over the training data: LightGCN's spillover rows are read through them
    /// instead of a pass over every remaining row (BPR: with `negatives` given).
    pub rows: Option<super::ResidentRows<'a>>,
}

/// The host-side plan of a request's right-hand side: which rows enter each term, and Â'.
#[derive(Debug, Clone)]
pub struct InfluenceRows {
    pub spec: ModelSpec,
    pub n_users: u32,
    pub n_items: u32,
    /// D_r as training row ids (ascending, deduplicated), all labels.
    pub forget: Vec<u32>,
    /// The direct term's rows: D_r's rows of the objective (BPR: its positives).
    pub direct: NodeRows,
    /// The spillover term's remaining rows D_ch (ascending).
    pub spillover: NodeRows,
    /// Nodes whose positive-edge degree changed (ascending; LightGCN only, empty for MF,
    /// whose plan consults no graph).
    pub changed: Vec<u32>,
    /// Â' of the remaining positives (LightGCN; `None` for MF): what the model propagates
    /// over after unlearning, and what the spillover's second term uses.
    pub new_adjacency: Option<CsrArrays>,
}

impl InfluenceRows {
    /// Plans the right-hand side of forgetting training rows `forget` (ids into `train`,
    /// which holds every training row of the model: D).
    pub fn plan(
        spec: ModelSpec,
        n_users: u32,
        n_items: u32,
        train: &Interactions,
        forget: &[u32],
        options: RhsOptions,
    ) -> Result<Self> {
        Self::plan_with(
            spec,
            n_users,
            n_items,
            train,
            forget,
            options,
            Held::default(),
        )
    }

    /// [`InfluenceRows::plan`] with what the caller holds ([`Held`]): a resident unlearner
    /// keeps the graph and its removal, so a request does not rebuild them from every row.
    /// An MF model's plan reads only the request's rows: without propagation no other row's score moves, so
    /// there is no graph to consult and no spillover.
    pub fn plan_with(
        spec: ModelSpec,
        n_users: u32,
        n_items: u32,
        train: &Interactions,
        forget: &[u32],
        options: RhsOptions,
        held: Held<'_>,
    ) -> Result<Self> {
        let Held {
            negatives,
            before,
            removal: after,
            rows: resident,
        } = held;
        check_rows(train, forget)?;
        let mut forget = forget.to_vec();
        forget.sort_unstable();
        forget.dedup();
        let direct = node_rows(
            n_users,
            n_items,
            train,
            &forget,
            spec.loss,
            options.negative_seed,
            negatives,
        )?;
        let layers = spec.propagation_layers() as usize;
        if layers == 0 {
            return Ok(InfluenceRows {
                spec,
                n_users,
                n_items,
                forget,
                direct,
                spillover: NodeRows::default(),
                changed: Vec::new(),
                new_adjacency: None,
            });
        }
        let built;
        let old = match before {
            Some(graph) => graph,
            None => {
                built = BipartiteGraph::from_interactions(n_users, n_items, train)?;
                &built
            }
        };
        let computed;
        let (removal, given_adjacency) = match after {
            Some((removal, adjacency)) => (removal, adjacency),
            None => {
                let removed = train.select(&forget);
                computed = old.remove_rows(&removed.users, &removed.items, &removed.labels)?;
                (&computed, None)
            }
        };
        let n = old.n_nodes();
        // Nodes whose rows carry spillover (the rows touching one of them).
        let region: Vec<u32> = match options.spillover {
            SpilloverRule::DirectOnly => Vec::new(),
            SpilloverRule::Exact => k_hop_nodes(old.adjacency(), &removal.changed, layers)?,
            SpilloverRule::Authors { min_degree_loss } => {
                if !(0.0..1.0).contains(&min_degree_loss) {
                    return Err(Error::Invalid(format!(
                        "the minimum degree loss must lie in [0, 1), not {min_degree_loss}"
                    )));
                }
                removal
                    .changed
                    .iter()
                    .copied()
                    .filter(|&v| {
                        // lost / before > min, without dividing: a loss of exactly 1%
                        // (1 of 100 edges) is not more than 1%.
                        let (before, after) = (old.degree(v), removal.graph.degree(v));
                        let lost = before.saturating_sub(after);
                        f64::from(lost) > min_degree_loss * f64::from(before)
                    })
                    .collect()
            }
        };
        let in_region = crate::data::id_mask(n, &region);
        let spillover = if region.is_empty() {
            NodeRows::default()
        } else if let Some(resident) = super::ResidentRows::usable(resident, spec.loss, negatives) {
            // The remaining rows touching the region, read through the caller's indexes.
            let rows = super::rows_reaching(n_users, spec.loss, resident, true, &region);
            node_rows(
                n_users,
                n_items,
                train,
                &rows,
                spec.loss,
                options.negative_seed,
                negatives,
            )?
        } else {
            let forgotten = crate::data::id_mask(train.len(), &forget);
            let gone_before = |r: u32| resident.is_some_and(|x| x.index.is_gone(r));
            let remaining: Vec<u32> = (0..train.len() as u32)
                .filter(|&r| !forgotten[r as usize] && !gone_before(r))
                .collect();
            let candidates = node_rows(
                n_users,
                n_items,
                train,
                &remaining,
                spec.loss,
                options.negative_seed,
                negatives,
            )?;
            let hit = |t: usize| candidates.touches(t, |v| in_region[v as usize]);
            candidates.retain(hit)
        };
        // `renormalize_after_removal` (how a caller gets Â') equals `normalize` exactly.
        let new_adjacency = Some(match given_adjacency {
            Some(a) => csr_arrays(a),
            None => csr_arrays(&normalize(&removal.graph)),
        });
        Ok(InfluenceRows {
            spec,
            n_users,
            n_items,
            forget,
            direct,
            spillover,
            changed: removal.changed.clone(),
            new_adjacency,
        })
    }

    /// Whether [`right_hand_side_on`] computes g through [`right_hand_side`]: the models'
    /// forward passes over the whole graph, which leave `old`'s final embeddings (and
    /// `new`'s, with spillover) current. Otherwise g is zero or, for MF without spillover,
    /// the direct rows' gradient alone.
    pub fn runs_forward(&self) -> bool {
        let propagates = self.spec.propagation_layers() > 0 || !self.spillover.is_empty();
        let has_rows = !self.direct.is_empty() || !self.spillover.is_empty();
        propagates && has_rows
    }

    /// Nodes, users then items.
    pub fn n_nodes(&self) -> u32 {
        self.n_users + self.n_items
    }

    /// The model θ on the device with the new graph Â' (its forward pass not yet run): the
    /// `new` argument of [`right_hand_side`], and the model that predicts after unlearning.
    /// `None` for MF, whose model does not depend on the graph.
    /// θ is copied from `old` on the device.
    pub fn new_model(&self, gpu: &Gpu, old: &DeviceModel) -> GpuResult<Option<DeviceModel>> {
        self.new_adjacency
            .as_ref()
            .map(|a| old.copy_with_adjacency(gpu, Some(a)))
            .transpose()
    }
}

/// g on the kept nodes P only (|P| × d, in the order of `kept`). For MF without spillover,
/// g is the direct term's gradient, non-zero only on the nodes its rows touch, so it is
/// computed on those rows and picked for P without any pass over all N nodes; otherwise
/// through [`right_hand_side`].
pub fn right_hand_side_on(
    gpu: &Gpu,
    old: &DeviceModel,
    new: Option<&DeviceModel>,
    plan: &InfluenceRows,
    kept: &NodeSubset,
) -> Result<DeviceTable> {
    let dim = plan.spec.dim;
    let g = DeviceTable::zeros(gpu, kept.len() as u32, dim, "g on P")?;
    if plan.runs_forward() {
        let full = right_hand_side(gpu, old, new, plan)?;
        let pick = kept.gather(gpu, &full, &g)?;
        gpu.run("g on P", |pass| pick.record(pass))?;
        return Ok(g);
    }
    if plan.direct.is_empty() {
        return Ok(g);
    }
    let batch = plan.direct.upload_as(
        gpu,
        plan.n_nodes(),
        plan.spec.loss,
        GradientLayout::Touched { dim },
    )?;
    let (work, _, grad) = touched_gradient(gpu, old, &batch)?;
    gpu.run("influence right-hand side (touched rows)", |pass| {
        work.record(pass)
    })?;
    drop(work);
    // Row t of g ← the touched row of node kept[t], if any.
    let touched = batch.touched_nodes().unwrap_or_default();
    let mut ptr = Vec::with_capacity(kept.len() + 1);
    let mut cols = Vec::new();
    ptr.push(0u32);
    for v in kept.nodes() {
        if let Ok(k) = touched.binary_search(v) {
            cols.push(k as u32);
        }
        ptr.push(cols.len() as u32);
    }
    let ones = vec![1.0f32; cols.len()];
    let select = DeviceCsr::upload(gpu, touched.len() as u32, &ptr, &cols, &ones)?;
    let pick = spmm(gpu, &select, grad, &g)?;
    gpu.run("g on P", |pass| pick.record(pass))?;
    Ok(g)
}

/// Computes g on the device, node-major N × d.
///
/// `old` holds θ̂ with Â; `new` holds the same θ̂ with Â' ([`InfluenceRows::new_adjacency`]),
/// needed only when the spillover term has rows (LightGCN). Both models' forward passes are
/// recomputed here. Cost: one gradient over D_r ∪ D_ch under Â and one over D_ch under Â'.
pub fn right_hand_side(
    gpu: &Gpu,
    old: &DeviceModel,
    new: Option<&DeviceModel>,
    plan: &InfluenceRows,
) -> Result<DeviceTable> {
    let n = plan.n_nodes();
    let check = |m: &DeviceModel, what: &str| -> Result<()> {
        if m.n_users() != plan.n_users || m.n_items() != plan.n_items || m.spec() != plan.spec {
            return Err(Error::Invalid(format!(
                "the {what} model ({} users, {} items, {:?}) is not the one the request was \
                 planned for ({} users, {} items, {:?})",
                m.n_users(),
                m.n_items(),
                m.spec(),
                plan.n_users,
                plan.n_items,
                plan.spec
            )));
        }
        Ok(())
    };
    check(old, "original")?;
    let dim = plan.spec.dim;
    let g = DeviceTable::zeros(gpu, n, dim, "influence rhs")?;
    let first = plan.direct.concat(&plan.spillover);
    if first.is_empty() {
        return Ok(g);
    }
    let new = match (plan.spillover.is_empty(), new) {
        (true, _) => None,
        (false, Some(new)) => {
            check(new, "new-graph")?;
            Some(new)
        }
        (false, None) => {
            return Err(Error::Invalid(
                "the spillover term needs the model with the new graph Â' (pass `new`)".into(),
            ));
        }
    };
    let ws = GradientWorkspace::new(gpu, old)?;
    let batch_old = first.upload(gpu, n, plan.spec.loss)?;
    let batch_new = match new {
        Some(_) => Some(plan.spillover.upload(gpu, n, plan.spec.loss)?),
        None => None,
    };
    // One pass: gradient under Â into g, then (spillover) the gradient under Â' subtracted.
    // The workspace is reused; dispatches in a pass see their predecessors' writes.
    let mut work = old
        .forward(gpu)?
        .then(gradient(gpu, old, &batch_old, &ws, 1.0, 0.0)?)
        .then(copy(gpu, ws.grad().values(), g.values())?);
    if let (Some(new), Some(batch_new)) = (new, &batch_new) {
        work = work
            .then(new.forward(gpu)?)
            .then(gradient(gpu, new, batch_new, &ws, 1.0, 0.0)?)
            .then(axpby(
                gpu,
                Scalar::Host(-1.0),
                ws.grad().values(),
                Scalar::Host(1.0),
                g.values(),
                None,
            )?);
    }
    gpu.run("influence right-hand side", |pass| work.record(pass))?;
    drop(work);
    Ok(g)
}
