//! CSR sparse × dense products: propagation `Y = Â·X` and per-node gathers
//! `G_t = Σ_{rows r of t} c_r · E_{other(r)}` through row indexes. Both are gathers
//! (each output row walks its own CSR row), so no atomics and deterministic results.

use bytemuck::{Pod, Zeroable};

use super::plan::Plan;
use super::storage::SPMM_VARIANTS;
use super::table::{TableRef, TableView, fits_one_binding, params, table_slots};
use crate::gpu::{Gpu, GpuBuffer, GpuError, GpuResult};

/// A CSR matrix on the device (`n_rows` × `n_cols`, column indices sorted or not).
pub struct DeviceCsr {
    row_ptr: GpuBuffer<u32>,
    cols: GpuBuffer<u32>,
    vals: GpuBuffer<f32>,
    n_rows: u32,
    n_cols: u32,
}

/// Checks a CSR structure; the error names the first entry at fault.
pub fn validate_csr(n_cols: u32, row_ptr: &[u32], cols: &[u32]) -> Result<(), String> {
    let Some(&first) = row_ptr.first() else {
        return Err("row pointer array is empty (it needs n_rows + 1 entries)".into());
    };
    if first != 0 {
        return Err(format!("row pointer starts at {first}, not 0"));
    }
    if let Some(r) = row_ptr.windows(2).position(|w| w[1] < w[0]) {
        return Err(format!("row pointers decrease at row {r}"));
    }
    let nnz = *row_ptr.last().unwrap_or(&0) as usize;
    if nnz != cols.len() {
        return Err(format!(
            "row pointers end at {nnz} but there are {} column indices",
            cols.len()
        ));
    }
    if let Some(e) = cols.iter().position(|&c| c >= n_cols) {
        return Err(format!(
            "entry {e} has column {} outside 0..{n_cols}",
            cols[e]
        ));
    }
    Ok(())
}

fn rows_of(row_ptr: &[u32]) -> u32 {
    row_ptr.len().saturating_sub(1) as u32
}

impl DeviceCsr {
    /// Uploads a CSR matrix after checking its structure.
    pub fn upload(
        gpu: &Gpu,
        n_cols: u32,
        row_ptr: &[u32],
        cols: &[u32],
        vals: &[f32],
    ) -> GpuResult<Self> {
        validate_csr(n_cols, row_ptr, cols).map_err(GpuError::Invalid)?;
        if vals.len() != cols.len() {
            return Err(GpuError::Invalid(format!(
                "{} values for {} column indices",
                vals.len(),
                cols.len()
            )));
        }
        let csr = DeviceCsr {
            row_ptr: gpu.upload(row_ptr, "csr row_ptr")?,
            cols: gpu.upload(cols, "csr cols")?,
            vals: gpu.upload(vals, "csr vals")?,
            n_rows: rows_of(row_ptr),
            n_cols,
        };
        fits_one_binding(gpu, &csr.cols, "the graph's column indices")?;
        fits_one_binding(gpu, &csr.vals, "the graph's values")?;
        fits_one_binding(gpu, &csr.row_ptr, "the graph's row pointers")?;
        Ok(csr)
    }

    pub fn n_rows(&self) -> u32 {
        self.n_rows
    }

    pub fn n_cols(&self) -> u32 {
        self.n_cols
    }

    /// Stored entries.
    pub fn nnz(&self) -> usize {
        self.cols.len()
    }
}

/// A row index on the device: for each target node, the training rows that touch it
/// (`rows`) and each row's other endpoint (`other`, a node of the table being gathered).
pub struct DeviceRowIndex {
    ptr: GpuBuffer<u32>,
    other: GpuBuffer<u32>,
    rows: GpuBuffer<u32>,
    n_targets: u32,
    n_nodes: u32,
}

impl DeviceRowIndex {
    /// Uploads an index after checking it; `n_nodes` bounds the `other` endpoints.
    pub fn upload(
        gpu: &Gpu,
        n_nodes: u32,
        ptr: &[u32],
        other: &[u32],
        rows: &[u32],
    ) -> GpuResult<Self> {
        validate_csr(n_nodes, ptr, other).map_err(GpuError::Invalid)?;
        if rows.len() != other.len() {
            return Err(GpuError::Invalid(format!(
                "{} row ids for {} entries",
                rows.len(),
                other.len()
            )));
        }
        let index = DeviceRowIndex {
            ptr: gpu.upload(ptr, "index ptr")?,
            other: gpu.upload(other, "index other")?,
            rows: gpu.upload(rows, "index rows")?,
            n_targets: rows_of(ptr),
            n_nodes,
        };
        fits_one_binding(gpu, &index.other, "a row index")?;
        Ok(index)
    }

    pub fn n_targets(&self) -> u32 {
        self.n_targets
    }
}

/// Per-row coefficients read as `buf[row · stride + offset]` (e.g. ℓ' packed at offset 2 of
/// the `(s, loss, ℓ', ℓ'')` records of `pair_loss`).
#[derive(Clone, Copy)]
pub struct RowValues<'a> {
    pub buf: &'a GpuBuffer<f32>,
    pub stride: u32,
    pub offset: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SpmmParams {
    n_rows: u32,
    row_lo: u32,
    lanes: u32,
    lanes_p2: u32,
    chunk_rows: u32,
    indirect: u32,
    stride: u32,
    offset: u32,
    out_skip: u32,
    _pad: [u32; 3],
}

/// The CSR arrays a launch reads.
struct Sparse<'a> {
    row_ptr: &'a GpuBuffer<u32>,
    cols: &'a GpuBuffer<u32>,
    vals: &'a GpuBuffer<f32>,
    rid: Option<&'a GpuBuffer<u32>>,
    stride: u32,
    offset: u32,
    n_rows: u32,
}

/// Writes output rows `out_lo .. out_lo + sparse.n_rows` of `out`, one launch per output
/// binding chunk that those rows touch. Both tables share one storage (f32, or f16 with
/// the sums in f32).
fn sparse_times_table<'a>(
    gpu: &Gpu,
    sparse: Sparse<'a>,
    table: TableRef<'a>,
    out: TableRef<'a>,
    out_lo: u32,
) -> GpuResult<Plan<'a>> {
    if table.dim() != out.dim() {
        return Err(GpuError::Invalid(format!(
            "input table has {} columns, output {}",
            table.dim(),
            out.dim()
        )));
    }
    if table.storage() != out.storage() {
        return Err(GpuError::Invalid(format!(
            "an {} input table with an {} output (both must share a storage)",
            table.storage().name(),
            out.storage().name()
        )));
    }
    let shader = SPMM_VARIANTS.for_storage(gpu, table.storage());
    let out_hi = out_lo
        .checked_add(sparse.n_rows)
        .filter(|&hi| hi <= out.rows())
        .ok_or_else(|| {
            GpuError::Invalid(format!(
                "output rows {out_lo}..{out_lo}+{} outside a table of {}",
                sparse.n_rows,
                out.rows()
            ))
        })?;
    let g = table.geometry();
    let (chunk_rows, slots) = table_slots(gpu, table)?;
    let mut launches = Vec::new();
    for chunk in out.chunks(gpu)? {
        let lo = chunk.start.max(out_lo);
        let hi = chunk.end().min(out_hi);
        if lo >= hi {
            continue;
        }
        let p = params(
            gpu,
            &SpmmParams {
                n_rows: hi - lo,
                row_lo: lo - out_lo,
                lanes: g.lanes,
                lanes_p2: g.lanes_p2,
                chunk_rows,
                indirect: sparse.rid.is_some() as u32,
                stride: sparse.stride,
                offset: sparse.offset,
                out_skip: lo - chunk.start,
                _pad: [0; 3],
            },
        )?;
        let mut bindings = vec![
            (0, p.as_entire_binding()),
            (1, sparse.row_ptr.binding()),
            (2, sparse.cols.binding()),
            (3, sparse.vals.binding()),
            (4, sparse.rid.unwrap_or(sparse.row_ptr).binding()),
            (5, out.chunk_binding(chunk)),
        ];
        bindings.extend(slots.iter().cloned());
        launches.push(gpu.launch(shader, "spmm", &bindings, g.workgroups(hi - lo))?);
    }
    Ok(Plan::new(launches))
}

/// `y = A·x` for a CSR matrix `A` (`y` has `A.n_rows` rows, `x` has `A.n_cols`); `x` and
/// `y` are both f32 or both f16 ([`super::HalfTable`]).
pub fn spmm<'a>(
    gpu: &Gpu,
    a: &'a DeviceCsr,
    x: impl Into<TableRef<'a>>,
    y: impl Into<TableRef<'a>>,
) -> GpuResult<Plan<'a>> {
    let (x, y) = (x.into(), y.into());
    if x.rows() != a.n_cols || y.rows() != a.n_rows {
        return Err(GpuError::Invalid(format!(
            "spmm of a {}x{} matrix with {} input rows into {} output rows",
            a.n_rows,
            a.n_cols,
            x.rows(),
            y.rows()
        )));
    }
    let sparse = Sparse {
        row_ptr: &a.row_ptr,
        cols: &a.cols,
        vals: &a.vals,
        rid: None,
        stride: 1,
        offset: 0,
        n_rows: a.n_rows,
    };
    sparse_times_table(gpu, sparse, x, y, 0)
}

/// `out[out_lo + t] = Σ_{e in index row t} coef[rows[e]] · table[other[e]]` for every target `t`.
pub fn gather<'a>(
    gpu: &Gpu,
    index: &'a DeviceRowIndex,
    coef: RowValues<'a>,
    table: impl Into<TableView<'a>>,
    out: impl Into<TableView<'a>>,
    out_lo: u32,
) -> GpuResult<Plan<'a>> {
    let (table, out) = (table.into(), out.into());
    if table.rows() != index.n_nodes {
        return Err(GpuError::Invalid(format!(
            "index over {} nodes gathers from a table of {} rows",
            index.n_nodes,
            table.rows()
        )));
    }
    if coef.stride == 0 || coef.offset >= coef.stride {
        return Err(GpuError::Invalid(format!(
            "coefficient offset {} with stride {}",
            coef.offset, coef.stride
        )));
    }
    fits_one_binding(gpu, coef.buf, "per-row coefficients")?;
    let sparse = Sparse {
        row_ptr: &index.ptr,
        cols: &index.other,
        vals: coef.buf,
        rid: Some(&index.rows),
        stride: coef.stride,
        offset: coef.offset,
        n_rows: index.n_targets,
    };
    sparse_times_table(gpu, sparse, table.into(), out.into(), out_lo)
}
