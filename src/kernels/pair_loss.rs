//! Scores `s = ⟨E_u, E_i⟩` of (u, i) node pairs with the stable pointwise BCE loss and its
//! first two derivatives, packed per pair as `(s, loss, ℓ', ℓ'')`.

use bytemuck::{Pod, Zeroable};

use super::plan::Plan;
use super::shaders::PAIR_LOSS;
use super::table::{DeviceTable, fits_one_binding, params, table_slots};
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
        if let Some(k) = u.iter().chain(i).position(|&n| n >= n_nodes) {
            let node = if k < u.len() { u[k] } else { i[k - u.len()] };
            return Err(GpuError::Invalid(format!(
                "pair {} names node {node} outside 0..{n_nodes}",
                k % u.len().max(1)
            )));
        }
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
    lanes_p2: u32,
    chunk_rows: u32,
}

/// `out[4p .. 4p + 4] = (s, softplus(s) - y·s, σ(s) - y, σ(s)(1 - σ(s)))` for each pair p.
pub fn score_bce<'a>(
    gpu: &Gpu,
    pairs: &'a DevicePairs,
    table: &'a DeviceTable,
    out: &'a GpuBuffer<f32>,
) -> GpuResult<Plan<'a>> {
    let n = pairs.len() as u32;
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
    let (chunk_rows, slots) = table_slots(gpu, table)?;
    let p = params(
        gpu,
        &PairParams {
            n_pairs: n,
            lanes: g.lanes,
            lanes_p2: g.lanes_p2,
            chunk_rows,
        },
    )?;
    let mut bindings = vec![
        (0, p.as_entire_binding()),
        (1, pairs.u.binding()),
        (2, pairs.i.binding()),
        (3, pairs.labels.binding()),
        (4, out.binding()),
    ];
    bindings.extend(slots);
    Ok(Plan::new(vec![gpu.launch(
        &PAIR_LOSS,
        "score_bce",
        &bindings,
        g.workgroups(n),
    )?]))
}
