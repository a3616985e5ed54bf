//! The per-row coefficients of the loss Hessian-vector product (`shaders/hvp.wgsl`):
//! `c_r = ℓ''_r (⟨E_i, W_u⟩ + ⟨E_u, W_i⟩)` and `ℓ'_r`, packed `(c, ℓ')` per row. BPR triples
//! are laid out as two pseudo-rows each, (u, i) and (u, j), whose coefficients are the
//! triple's with opposite signs, so the same gathers apply to both losses.

use bytemuck::{Pod, Zeroable};

use super::pair_loss::{BPR_X, D1, D2, RECORD};
use super::plan::Plan;
use super::shaders::HVP;
use super::table::{TableView, WORKGROUP, fits_one_binding, params, table_b_slots, table_slots};
use crate::gpu::{Gpu, GpuBuffer, GpuError, GpuResult};

/// Storage buffers `row_coef` binds: rows (2), records, output and two tables of 4 slots.
pub const STORAGE_BINDINGS: u32 = 12;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct HvpParams {
    n_rows: u32,
    lanes: u32,
    threads_per_row: u32,
    chunk_rows: u32,
    chunk_rows_b: u32,
    d1: u32,
    d2: u32,
    _pad: u32,
}

/// Which loss's records [`row_coef`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowLoss {
    /// One record per row from `pair_loss::score_bce` (ℓ′, ℓ″).
    Bce,
    /// One record per triple from `pair_loss::score_bpr` (x); rows come in pairs
    /// `(u, i), (u, j)`.
    Bpr,
}

/// `coef[2r..2r + 2] = (ℓ''_r (⟨E_i, W_u⟩ + ⟨E_u, W_i⟩), ℓ'_r)` for rows `(row_u[r], row_i[r])`
/// (node indices of `e` and `w`), with ℓ′ and ℓ″ from BCE `records` (`pair_loss::score_bce`).
/// For [`RowLoss::Bpr`], pseudo-rows `2t, 2t + 1` are triple t's `(u, i), (u, j)` and get
/// `±(ℓ''_t ⟨∇x_t, W⟩, ℓ'_t)` from the triple's record.
#[allow(clippy::too_many_arguments)]
pub fn row_coef<'a>(
    gpu: &Gpu,
    loss: RowLoss,
    row_u: &'a GpuBuffer<u32>,
    row_i: &'a GpuBuffer<u32>,
    records: &'a GpuBuffer<f32>,
    e: TableView<'a>,
    w: TableView<'a>,
    coef: &'a GpuBuffer<f32>,
) -> GpuResult<Plan<'a>> {
    let n = row_u.len();
    let (entry, records_needed, d2) = match loss {
        RowLoss::Bce => ("row_coef", n, D2),
        RowLoss::Bpr => ("row_coef_bpr", n / 2, BPR_X),
    };
    if loss == RowLoss::Bpr && !n.is_multiple_of(2) {
        return Err(GpuError::Invalid(format!(
            "{n} BPR pseudo-rows: they come in (u, i), (u, j) pairs"
        )));
    }
    if row_i.len() != n || records.len() < records_needed * RECORD as usize || coef.len() < 2 * n {
        return Err(GpuError::Invalid(format!(
            "{n} rows with {} items, {} record values and {} coefficients",
            row_i.len(),
            records.len(),
            coef.len()
        )));
    }
    if e.rows() != w.rows() || e.dim() != w.dim() {
        return Err(GpuError::Invalid("E and W must have the same shape".into()));
    }
    let available = gpu.key_limits().max_storage_buffers_per_shader_stage;
    if available < STORAGE_BINDINGS {
        return Err(GpuError::Limit {
            what: "the Hessian-vector kernel".into(),
            needed: STORAGE_BINDINGS as u64,
            limit: available as u64,
            limit_name: "max_storage_buffers_per_shader_stage",
            hint: "",
        });
    }
    for (buf, what) in [(records, "row records"), (coef, "row coefficients")] {
        fits_one_binding(gpu, buf, what)?;
    }
    let g = e.geometry();
    let threads_per_row = gpu.threads_per_row(g.lanes_p2);
    let (chunk_rows, e_slots) = table_slots(gpu, e)?;
    let (chunk_rows_b, w_slots) = table_b_slots(gpu, w)?;
    let p = params(
        gpu,
        &HvpParams {
            n_rows: records_needed as u32,
            lanes: g.lanes,
            threads_per_row,
            chunk_rows,
            chunk_rows_b,
            d1: D1,
            d2,
            _pad: 0,
        },
    )?;
    let mut bindings = vec![
        (0, p.as_entire_binding()),
        (1, row_u.binding()),
        (2, row_i.binding()),
        (3, records.binding()),
        (4, coef.binding()),
    ];
    bindings.extend(e_slots);
    bindings.extend(w_slots);
    Ok(Plan::new(vec![gpu.launch(
        &HVP,
        entry,
        &bindings,
        (records_needed as u32).div_ceil(WORKGROUP / threads_per_row),
    )?]))
}
