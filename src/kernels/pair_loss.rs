//! Scores `s = ⟨E_u, E_i⟩` of (u, i) node pairs with the stable pointwise BCE loss and its
//! first two derivatives, packed per pair as `(s, loss, ℓ', ℓ'')`.

use bytemuck::{Pod, Zeroable};

use super::plan::Plan;
use super::storage::PAIR_LOSS_VARIANTS;
use super::table::{TableRef, TableView, WORKGROUP, fits_one_binding, params, table_slots};
use crate::gpu::{Gpu, GpuBuffer, GpuError, GpuResult};

/// Floats per pair in the output: score, loss, ℓ', ℓ''.
pub const RECORD: u32 = 4;
/// Offset of ℓ' in a record (the gather coefficient of the gradient).
pub const D1: u32 = 2;
/// Offset of ℓ'' in a record.
pub const D2: u32 = 3;

/// Labelled (u, i) pairs on the device, as node indices into the embedding table.
pub struct DevicePairs {
    u: GpuBuffer<u32>,
    i: GpuBuffer<u32>,
    labels: GpuBuffer<f32>,
}

/// Offsets within a BPR record `(c, −c, x, loss)`: the coefficient of a gathered row for the
/// positive side (E_i for u, E_u for i) and for the negative side (E_j for u, E_u for j).
pub const BPR_POS: u32 = 0;
pub const BPR_NEG: u32 = 1;
/// Offset of the score difference x = s_ui − s_uj in a BPR record.
pub const BPR_X: u32 = 2;

/// (u, i, j) triples on the device: a positive item i and a sampled negative j per user u.
pub struct DeviceTriples {
    u: GpuBuffer<u32>,
    i: GpuBuffer<u32>,
    j: GpuBuffer<u32>,
}

impl DeviceTriples {
    /// Uploads triples; every node index must be below `n_nodes`.
    pub fn upload(gpu: &Gpu, n_nodes: u32, u: &[u32], i: &[u32], j: &[u32]) -> GpuResult<Self> {
        if u.len() != i.len() || u.len() != j.len() {
            return Err(GpuError::Invalid(format!(
                "{} users, {} positives and {} negatives",
                u.len(),
                i.len(),
                j.len()
            )));
        }
        check_nodes(n_nodes, &[u, i, j])?;
        let triples = DeviceTriples {
            u: gpu.upload(u, "triple users")?,
            i: gpu.upload(i, "triple positives")?,
            j: gpu.upload(j, "triple negatives")?,
        };
        fits_one_binding(gpu, &triples.u, "triple list")?;
        Ok(triples)
    }

    pub fn len(&self) -> usize {
        self.u.len()
    }

    pub fn is_empty(&self) -> bool {
        self.u.is_empty()
    }
}

fn check_nodes(n_nodes: u32, lists: &[&[u32]]) -> GpuResult<()> {
    for list in lists {
        if let Some(k) = list.iter().position(|&n| n >= n_nodes) {
            return Err(GpuError::Invalid(format!(
                "entry {k} names node {} outside 0..{n_nodes}",
                list[k]
            )));
        }
    }
    Ok(())
}

impl DevicePairs {
    /// Uploads pairs; every node index must be below `n_nodes`.
    pub fn upload(
        gpu: &Gpu,
        n_nodes: u32,
        u: &[u32],
        i: &[u32],
        labels: &[f32],
    ) -> GpuResult<Self> {
        if u.len() != i.len() || u.len() != labels.len() {
            return Err(GpuError::Invalid(format!(
                "{} users, {} items and {} labels",
                u.len(),
                i.len(),
                labels.len()
            )));
        }
        check_nodes(n_nodes, &[u, i])?;
        let pairs = DevicePairs {
            u: gpu.upload(u, "pair users")?,
            i: gpu.upload(i, "pair items")?,
            labels: gpu.upload(labels, "pair labels")?,
        };
        fits_one_binding(gpu, &pairs.u, "pair list")?;
        Ok(pairs)
    }

    pub fn len(&self) -> usize {
        self.u.len()
    }

    pub fn is_empty(&self) -> bool {
        self.u.is_empty()
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct PairParams {
    n_pairs: u32,
    lanes: u32,
    threads_per_row: u32,
    chunk_rows: u32,
}

/// `out[4p .. 4p + 4] = (s, softplus(s) - y·s, σ(s) - y, σ(s)(1 - σ(s)))` for each pair p.
/// `table` may be f32 or f16 storage (the dot products sum in f32 either way).
pub fn score_bce<'a>(
    gpu: &Gpu,
    pairs: &'a DevicePairs,
    table: impl Into<TableRef<'a>>,
    out: &'a GpuBuffer<f32>,
) -> GpuResult<Plan<'a>> {
    let table = table.into();
    let inputs = [
        (1, pairs.u.binding()),
        (2, pairs.i.binding()),
        (3, pairs.labels.binding()),
    ];
    records(gpu, "score_bce", pairs.len(), &inputs, table, out)
}

/// `out[4t .. 4t + 4] = (c, −c, x, softplus(−x))` with `x = ⟨E_u, E_i − E_j⟩` and
/// `c = −σ(−x)` for each triple t.
pub fn score_bpr<'a>(
    gpu: &Gpu,
    triples: &'a DeviceTriples,
    table: impl Into<TableView<'a>>,
    out: &'a GpuBuffer<f32>,
) -> GpuResult<Plan<'a>> {
    let table = TableRef::from(table.into());
    let inputs = [
        (1, triples.u.binding()),
        (2, triples.i.binding()),
        (5, triples.j.binding()),
    ];
    records(gpu, "score_bpr", triples.len(), &inputs, table, out)
}

/// One launch of a record-writing entry of `pair_loss.wgsl` over `n` pairs or triples.
fn records<'a>(
    gpu: &Gpu,
    entry: &'static str,
    n: usize,
    inputs: &[(u32, wgpu::BindingResource<'a>)],
    table: TableRef<'a>,
    out: &'a GpuBuffer<f32>,
) -> GpuResult<Plan<'a>> {
    let n = n as u32;
    if out.len() < (n * RECORD) as usize {
        return Err(GpuError::Invalid(format!(
            "pair output holds {} floats, {} pairs need {}",
            out.len(),
            n,
            n * RECORD
        )));
    }
    fits_one_binding(gpu, out, "pair scores")?;
    let g = table.geometry();
    let threads_per_row = gpu.threads_per_row(g.lanes_p2);
    let (chunk_rows, slots) = table_slots(gpu, table)?;
    let p = params(
        gpu,
        &PairParams {
            n_pairs: n,
            lanes: g.lanes,
            threads_per_row,
            chunk_rows,
        },
    )?;
    let mut bindings = vec![(0, p.as_entire_binding()), (4, out.binding())];
    bindings.extend(inputs.iter().cloned());
    bindings.extend(slots);
    Ok(Plan::new(vec![gpu.launch(
        PAIR_LOSS_VARIANTS.for_storage(gpu, table.storage()),
        entry,
        &bindings,
        n.div_ceil(WORKGROUP / threads_per_row),
    )?]))
}
