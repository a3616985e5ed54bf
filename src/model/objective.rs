//! The training loss and its gradient with respect to θ, over a set of rows, on the GPU.
//!
//! For rows with derivative ℓ′ (BCE: per (u, i) row; BPR: per (u, i, j) triple):
//! G = ∂L/∂E is gathered per node through an index over all nodes (no atomics), then
//! ∇θ = Σ_k a_k Â^k G (LightGCN) or G (MF), scaled, plus λθ.

use crate::gpu::{Gpu, GpuBuffer, GpuResult};
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

/// A set of rows on the device with the per-node index its gradient gathers through.
pub struct DeviceBatch {
    rows: Rows,
    records: GpuBuffer<f32>,
    index: DeviceRowIndex,
    len: usize,
}

/// Groups `(target, other, coefficient slot)` entries by target node, keeping their order,
/// as the CSR arrays a gather walks.
fn node_index(n_nodes: u32, entries: &[(u32, u32, u32)]) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let mut ptr = vec![0u32; n_nodes as usize + 1];
    for &(t, _, _) in entries {
        ptr[t as usize + 1] += 1;
    }
    for k in 0..n_nodes as usize {
        ptr[k + 1] += ptr[k];
    }
    let mut fill = ptr.clone();
    let mut other = vec![0u32; entries.len()];
    let mut slot = vec![0u32; entries.len()];
    for &(t, o, s) in entries {
        let at = fill[t as usize] as usize;
        other[at] = o;
        slot[at] = s;
        fill[t as usize] += 1;
    }
    (ptr, other, slot)
}

impl DeviceBatch {
    /// Labelled rows as node indices (items already offset by the number of users).
    pub fn bce(
        gpu: &Gpu,
        n_nodes: u32,
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
        Self::with_rows(gpu, n_nodes, Rows::Bce(pairs), &entries, user_nodes.len())
    }

    /// (user, positive, negative) triples as node indices.
    pub fn bpr(
        gpu: &Gpu,
        n_nodes: u32,
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
        Self::with_rows(gpu, n_nodes, Rows::Bpr(triples), &entries, user_nodes.len())
    }

    fn with_rows(
        gpu: &Gpu,
        n_nodes: u32,
        rows: Rows,
        entries: &[(u32, u32, u32)],
        len: usize,
    ) -> GpuResult<Self> {
        let (ptr, other, slot) = node_index(n_nodes, entries);
        Ok(DeviceBatch {
            rows,
            records: gpu.zeros(len.max(1) * RECORD as usize, "records")?,
            index: DeviceRowIndex::upload(gpu, n_nodes, &ptr, &other, &slot)?,
            len,
        })
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
    let emb = model.embeddings();
    let coef = RowValues {
        buf: &batch.records,
        stride: 1,
        offset: 0,
    };
    let mut plan = batch
        .score(gpu, emb)?
        .then(gather(gpu, &batch.index, coef, emb, &ws.g, 0)?);
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
