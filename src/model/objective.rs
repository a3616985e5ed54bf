//! The training loss and its gradient with respect to θ, over a set of rows, on the GPU.
//!
//! For rows with derivative ℓ′ (BCE: per (u, i) row; BPR: per (u, i, j) triple):
//! G = ∂L/∂E is gathered per node through an index over all nodes (no atomics), then
//! ∇θ = Σ_k a_k Â^k G (LightGCN) or G (MF), scaled, plus λθ.

use crate::gpu::{Gpu, GpuBuffer, GpuError, GpuResult};
use crate::kernels::blas::{Scalar, axpby};
use crate::kernels::pair_loss::{
    BPR_NEG, BPR_POS, D1, DevicePairs, DeviceTriples, RECORD, score_bce, score_bpr,
};
use crate::kernels::spmm::{DeviceRowIndex, RowValues, gather};
use crate::kernels::{DeviceTable, Plan};

use super::DeviceModel;

/// Which rows: labelled pairs (BCE) or triples (BPR).
enum Rows {
    Bce(DevicePairs),
    Bpr(DeviceTriples),
}

/// Where a batch's gradient rows go: every node (dense), or only the nodes the batch
/// touches (sparse, for sparse Adam), listed in `targets`.
enum Targets {
    All,
    Touched {
        targets: GpuBuffer<u32>,
        grad: DeviceTable,
        /// `targets` as the host built it.
        nodes: Vec<u32>,
    },
}

/// A set of rows on the device with the per-node index its gradient gathers through.
pub struct DeviceBatch {
    rows: Rows,
    records: GpuBuffer<f32>,
    index: DeviceRowIndex,
    targets: Targets,
    len: usize,
}

/// How a batch lays out its gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradientLayout {
    /// One row per node of the model (zeros for untouched nodes), in the model's workspace.
    Dense,
    /// One row of size `dim` per node the batch touches, ascending, held by the batch.
    Touched { dim: u32 },
}

/// The gather index of a batch: `(target, other, coefficient slot)` entries grouped by target
/// (entry order kept), over all nodes or over the touched ones only.
pub(crate) struct NodeIndex {
    pub(crate) ptr: Vec<u32>,
    pub(crate) other: Vec<u32>,
    pub(crate) slot: Vec<u32>,
    /// The touched nodes, ascending (for the touched layout).
    pub(crate) touched: Vec<u32>,
}

pub(crate) fn node_index(
    n_nodes: u32,
    entries: &[(u32, u32, u32)],
    layout: GradientLayout,
) -> NodeIndex {
    match layout {
        GradientLayout::Dense => dense_node_index(n_nodes, entries),
        GradientLayout::Touched { .. } => touched_node_index(entries),
    }
}

/// The touched layout's index, in O(entries · log entries): no pass over all nodes, so a
/// small request's gradient costs what its rows cost, not what the graph does.
fn touched_node_index(entries: &[(u32, u32, u32)]) -> NodeIndex {
    let mut touched: Vec<u32> = entries.iter().map(|&(t, _, _)| t).collect();
    touched.sort_unstable();
    touched.dedup();
    let (ptr, other, slot) = grouped(touched.len(), entries, |t| {
        touched.partition_point(|&v| v < t)
    });
    NodeIndex {
        ptr,
        other,
        slot,
        touched,
    }
}

/// The dense layout's index: a list per node of the model, empty ones included.
fn dense_node_index(n_nodes: u32, entries: &[(u32, u32, u32)]) -> NodeIndex {
    let (ptr, other, slot) = grouped(n_nodes as usize, entries, |t| t as usize);
    NodeIndex {
        ptr,
        other,
        slot,
        touched: Vec::new(),
    }
}

/// `(ptr, other, slot)` of `entries` grouped by `group(target)` (in 0..groups), entry order
/// kept within a group.
fn grouped(
    groups: usize,
    entries: &[(u32, u32, u32)],
    group: impl Fn(u32) -> usize,
) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let mut ptr = vec![0u32; groups + 1];
    for &(t, _, _) in entries {
        ptr[group(t) + 1] += 1;
    }
    for g in 0..groups {
        ptr[g + 1] += ptr[g];
    }
    let mut next: Vec<u32> = ptr[..groups].to_vec();
    let mut other = vec![0u32; entries.len()];
    let mut slot = vec![0u32; entries.len()];
    for &(t, o, s) in entries {
        let at = &mut next[group(t)];
        other[*at as usize] = o;
        slot[*at as usize] = s;
        *at += 1;
    }
    (ptr, other, slot)
}

impl DeviceBatch {
    /// Labelled rows as node indices (items already offset by the number of users).
    pub fn bce(
        gpu: &Gpu,
        n_nodes: u32,
        layout: GradientLayout,
        user_nodes: &[u32],
        item_nodes: &[u32],
        labels: &[f32],
    ) -> GpuResult<Self> {
        let pairs = DevicePairs::upload(gpu, n_nodes, user_nodes, item_nodes, labels)?;
        let mut entries = Vec::with_capacity(2 * user_nodes.len());
        for (b, (&u, &i)) in user_nodes.iter().zip(item_nodes).enumerate() {
            let slot = b as u32 * RECORD + D1;
            entries.push((u, i, slot));
            entries.push((i, u, slot));
        }
        Self::with_rows(
            gpu,
            n_nodes,
            layout,
            Rows::Bce(pairs),
            &entries,
            user_nodes.len(),
        )
    }

    /// (user, positive, negative) triples as node indices.
    pub fn bpr(
        gpu: &Gpu,
        n_nodes: u32,
        layout: GradientLayout,
        user_nodes: &[u32],
        pos_nodes: &[u32],
        neg_nodes: &[u32],
    ) -> GpuResult<Self> {
        let triples = DeviceTriples::upload(gpu, n_nodes, user_nodes, pos_nodes, neg_nodes)?;
        let mut entries = Vec::with_capacity(4 * user_nodes.len());
        for t in 0..user_nodes.len() {
            let (u, i, j) = (user_nodes[t], pos_nodes[t], neg_nodes[t]);
            let (pos, neg) = (t as u32 * RECORD + BPR_POS, t as u32 * RECORD + BPR_NEG);
            entries.extend([(u, i, pos), (u, j, neg), (i, u, pos), (j, u, neg)]);
        }
        Self::with_rows(
            gpu,
            n_nodes,
            layout,
            Rows::Bpr(triples),
            &entries,
            user_nodes.len(),
        )
    }

    fn with_rows(
        gpu: &Gpu,
        n_nodes: u32,
        layout: GradientLayout,
        rows: Rows,
        entries: &[(u32, u32, u32)],
        len: usize,
    ) -> GpuResult<Self> {
        let ix = node_index(n_nodes, entries, layout);
        let targets = match layout {
            GradientLayout::Dense => Targets::All,
            GradientLayout::Touched { dim } => Targets::Touched {
                grad: DeviceTable::zeros(gpu, ix.touched.len() as u32, dim, "touched gradient")?,
                targets: gpu.upload(&ix.touched, "touched nodes")?,
                nodes: ix.touched,
            },
        };
        Ok(DeviceBatch {
            rows,
            records: gpu.zeros(len.max(1) * RECORD as usize, "records")?,
            index: DeviceRowIndex::upload(gpu, n_nodes, &ix.ptr, &ix.other, &ix.slot)?,
            targets,
            len,
        })
    }

    /// The nodes a [`GradientLayout::Touched`] batch's gradient rows belong to, ascending
    /// (row t of [`touched_gradient`]'s table is node `touched_nodes()[t]`); `None` for a
    /// dense batch. Kept on the host, so no read-back is needed to place the rows.
    pub fn touched_nodes(&self) -> Option<&[u32]> {
        match &self.targets {
            Targets::Touched { nodes, .. } => Some(nodes),
            Targets::All => None,
        }
    }

    /// Rows (or triples) in the batch.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sum of the per-row losses of the last gradient run (reads the device).
    pub fn loss_sum(&self, gpu: &Gpu) -> GpuResult<f64> {
        let records = gpu.download_prefix(&self.records, self.len * RECORD as usize)?;
        let field = match self.rows {
            Rows::Bce(_) => 1,
            Rows::Bpr(_) => 3,
        };
        Ok(records
            .chunks(RECORD as usize)
            .map(|r| r[field] as f64)
            .sum())
    }

    /// The gather coefficients: record slots named by the index entries.
    fn coefficients(&self) -> RowValues<'_> {
        RowValues {
            buf: &self.records,
            stride: 1,
            offset: 0,
        }
    }

    fn score<'a>(&'a self, gpu: &Gpu, emb: &'a DeviceTable) -> GpuResult<Plan<'a>> {
        match &self.rows {
            Rows::Bce(pairs) => score_bce(gpu, pairs, emb, &self.records),
            Rows::Bpr(triples) => score_bpr(gpu, triples, emb, &self.records),
        }
    }
}

/// Gradient buffers of one model, allocated once and reused by every batch.
pub struct GradientWorkspace {
    /// ∂L/∂E per node.
    g: DeviceTable,
    /// ∂L/∂θ (LightGCN only: for MF it is `g`).
    grad: Option<DeviceTable>,
}

impl GradientWorkspace {
    pub fn new(gpu: &Gpu, model: &DeviceModel) -> GpuResult<Self> {
        let (n, d) = (model.n_nodes(), model.spec().dim);
        let grad = match model.spec().propagation_layers() {
            0 => None,
            _ => Some(DeviceTable::zeros(gpu, n, d, "grad theta")?),
        };
        Ok(GradientWorkspace {
            g: DeviceTable::zeros(gpu, n, d, "grad E")?,
            grad,
        })
    }

    /// Where [`gradient`] leaves ∇θ.
    pub fn grad(&self) -> &DeviceTable {
        self.grad.as_ref().unwrap_or(&self.g)
    }
}

/// Records `G = Σ_rows ∂ℓ/∂E` for the nodes a [`GradientLayout::Touched`] batch touches into
/// the batch's own gradient table, and returns it with the node list. For MF (E = θ) that is
/// the loss gradient with respect to those rows of θ, as sparse Adam takes it.
pub fn touched_gradient<'a>(
    gpu: &Gpu,
    model: &'a DeviceModel,
    batch: &'a DeviceBatch,
) -> GpuResult<(Plan<'a>, &'a GpuBuffer<u32>, &'a DeviceTable)> {
    let Targets::Touched { targets, grad, .. } = &batch.targets else {
        return Err(GpuError::Invalid(
            "the batch was built for a dense gradient".into(),
        ));
    };
    if model.spec().propagation_layers() > 0 {
        return Err(GpuError::Invalid(
            "a touched-rows gradient applies to MF only: LightGCN's gradient reaches every node"
                .into(),
        ));
    }
    let emb = model.embeddings();
    let plan = batch.score(gpu, emb)?.then(gather(
        gpu,
        &batch.index,
        batch.coefficients(),
        emb,
        grad,
        0,
    )?);
    Ok((plan, targets, grad))
}

/// Records `∇θ = scale · Σ_rows ∇ℓ + reg · θ` into `ws.grad()`, given E already computed by
/// the model's forward pass. With `scale = 1` and `reg = λ` this is the gradient of the
/// objective in sum units; the trainer uses `scale = 1/B`, `reg = r` (mean units).
pub fn gradient<'a>(
    gpu: &Gpu,
    model: &'a DeviceModel,
    batch: &'a DeviceBatch,
    ws: &'a GradientWorkspace,
    scale: f32,
    reg: f32,
) -> GpuResult<Plan<'a>> {
    if !matches!(batch.targets, Targets::All) {
        return Err(GpuError::Invalid(
            "the batch was built for a touched-rows gradient".into(),
        ));
    }
    let emb = model.embeddings();
    let mut plan = batch.score(gpu, emb)?.then(gather(
        gpu,
        &batch.index,
        batch.coefficients(),
        emb,
        &ws.g,
        0,
    )?);
    if let Some(back) = model.backward(gpu, &ws.g, ws.grad())? {
        plan = plan.then(back);
    }
    let grad = ws.grad().values();
    Ok(plan.then(axpby(
        gpu,
        Scalar::Host(reg),
        model.theta().values(),
        Scalar::Host(scale),
        grad,
        None,
    )?))
}
