//! 16-bit float storage of embedding tables, for serving: propagation (SpMM), scoring and
//! top-K read f16 rows, widen them to f32 and accumulate in f32, so storage halves the
//! memory and the bytes each gather moves while every sum keeps f32 precision.
//!
//! On the device a [`HalfTable`] is `rows × dim` halves, row-major. Devices granting
//! `SHADER_F16` read them as native `vec4<f16>`; others as packed pairs of halves in u32s
//! (`unpack2x16float` / `pack2x16float`) — the same bytes, so one table serves both paths.
//! [`half_path`] says which this device takes.
//!
//! Only inference uses it. Training and unlearning stay f32: Adam's moment estimates and
//! updates of size `lr · m/√v` fall below one f16 ulp (2⁻¹¹ relative) of the weights they
//! change, and conjugate gradient needs its residuals and the Hessian-vector products to
//! keep orthogonality well beyond 3 significant digits, so f16 parameters would stall
//! training and the unlearning solve.

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::plan::Plan;
use super::shaders::{f16_native, f16_packed};
use super::spmm::{DeviceCsr, spmm};
pub use super::storage::{HalfPath, Storage, half_path};
use super::table::{DeviceTable, RowGeometry, TableRef, params, table_slots};
use crate::gpu::{Gpu, GpuBuffer, GpuError, GpuResult};

/// The largest finite f16.
pub const F16_MAX: f32 = 65504.0;

/// The index of the first value that is not finite or lies beyond ±[`F16_MAX`] (it would
/// become ±∞ as f16).
pub fn first_outside_f16(values: &[f32]) -> Option<usize> {
    values
        .iter()
        .position(|v| !v.is_finite() || v.abs() > F16_MAX)
}

/// Rounds `values` to f16 (to nearest, ties to even; `half` crate) and packs them two per
/// u32, the lower index in the low 16 bits (an f16 array's bytes). A value outside the
/// finite f16 range, or not finite, is refused by index: it would become ±∞.
pub fn pack_halves(values: &[f32]) -> Result<Vec<u32>, String> {
    if let Some(k) = first_outside_f16(values) {
        return Err(format!(
            "value {k} ({}) is outside the f16 range ±{F16_MAX}",
            values[k]
        ));
    }
    Ok(values
        .chunks(2)
        .map(|pair| {
            let lo = f16::from_f32(pair[0]).to_bits() as u32;
            let hi = pair
                .get(1)
                .map_or(0, |&v| f16::from_f32(v).to_bits() as u32);
            lo | (hi << 16)
        })
        .collect())
}

/// The f32 values of `len` halves packed by [`pack_halves`].
pub fn unpack_halves(packed: &[u32], len: usize) -> Vec<f32> {
    packed
        .iter()
        .flat_map(|&w| [w as u16, (w >> 16) as u16])
        .take(len)
        .map(|bits| f16::from_bits(bits).to_f32())
        .collect()
}

/// A `rows × dim` row-major table of f16 values on the device.
pub struct HalfTable {
    /// Pairs of halves: `rows · dim / 2` words.
    buf: GpuBuffer<u32>,
    rows: u32,
    geometry: RowGeometry,
}

impl HalfTable {
    fn geometry(dim: u32) -> GpuResult<RowGeometry> {
        // Kernels read a row as dim / 4 vec4s (two u32 pairs each on the packed path), so
        // the sizes of f32 tables (multiples of 4) are exactly those that pack evenly.
        RowGeometry::for_dim(dim).map_err(|e| {
            GpuError::Invalid(format!(
                "{e}; f16 storage packs halves in pairs, so it needs the same"
            ))
        })
    }

    /// Uploads a row-major f32 table rounded to f16; a value beyond ±65504 (or not finite)
    /// is refused with its row and column.
    pub fn upload(gpu: &Gpu, rows: u32, dim: u32, data: &[f32], label: &str) -> GpuResult<Self> {
        let geometry = Self::geometry(dim)?;
        let expected = rows as usize * dim as usize;
        if data.len() != expected {
            return Err(GpuError::Invalid(format!(
                "table '{label}': {} values for {rows} rows of {dim}",
                data.len()
            )));
        }
        if let Some(k) = first_outside_f16(data) {
            return Err(GpuError::Invalid(format!(
                "table '{label}': row {}, column {} holds {}, outside the f16 range ±{F16_MAX}",
                k / dim as usize,
                k % dim as usize,
                data[k]
            )));
        }
        let packed = pack_halves(data).map_err(GpuError::Invalid)?;
        Ok(HalfTable {
            buf: gpu.upload(&packed, label)?,
            rows,
            geometry,
        })
    }

    /// A table of zeros.
    pub fn zeros(gpu: &Gpu, rows: u32, dim: u32, label: &str) -> GpuResult<Self> {
        let geometry = Self::geometry(dim)?;
        Ok(HalfTable {
            buf: gpu.zeros(rows as usize * dim as usize / 2, label)?,
            rows,
            geometry,
        })
    }

    /// Reads the table back, widened to f32 (exactly: every f16 is an f32).
    pub fn download(&self, gpu: &Gpu) -> GpuResult<Vec<f32>> {
        let n = self.rows as usize * self.geometry.dim as usize;
        Ok(unpack_halves(&gpu.download(&self.buf)?, n))
    }

    pub fn rows(&self) -> u32 {
        self.rows
    }

    pub fn dim(&self) -> u32 {
        self.geometry.dim
    }

    /// Bytes the values take on the device.
    pub fn byte_len(&self) -> u64 {
        self.buf.byte_len()
    }

    /// This table as a kernel input or output.
    pub fn table(&self) -> TableRef<'_> {
        self.into()
    }
}

impl<'a> From<&'a HalfTable> for TableRef<'a> {
    fn from(t: &'a HalfTable) -> Self {
        TableRef::new(t.buf.raw(), t.rows, t.geometry, Storage::F16)
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RowsAxpbyParams {
    n_rows: u32,
    row_lo: u32,
    lanes: u32,
    lanes_p2: u32,
    chunk_rows: u32,
    out_skip: u32,
    alpha: f32,
    beta: f32,
}

/// `y = alpha · x + beta · y` row by row (with `beta` 0, `y` is not read), where one side
/// is f16 and the other f32: widening (f16 `x`, f32 `y`) or rounding to f16 (f32 `x`, f16
/// `y`). Sums are f32; a rounding to f16 happens only on the store.
pub fn rows_axpby<'a>(
    gpu: &Gpu,
    alpha: f32,
    x: impl Into<TableRef<'a>>,
    beta: f32,
    y: impl Into<TableRef<'a>>,
) -> GpuResult<Plan<'a>> {
    let (x, y) = (x.into(), y.into());
    if x.rows() != y.rows() || x.dim() != y.dim() {
        return Err(GpuError::Invalid(format!(
            "rows_axpby of a {}x{} table into a {}x{} one",
            x.rows(),
            x.dim(),
            y.rows(),
            y.dim()
        )));
    }
    let path = half_path(gpu);
    let shader = match (x.storage(), y.storage(), path) {
        (Storage::F16, Storage::F32, HalfPath::Packed) => &f16_packed::WIDEN,
        (Storage::F16, Storage::F32, HalfPath::Native) => &f16_native::WIDEN,
        (Storage::F32, Storage::F16, HalfPath::Packed) => &f16_packed::NARROW,
        (Storage::F32, Storage::F16, HalfPath::Native) => &f16_native::NARROW,
        (a, b, _) => {
            return Err(GpuError::Invalid(format!(
                "rows_axpby converts between f16 and f32, not {} to {}",
                a.name(),
                b.name()
            )));
        }
    };
    let g = x.geometry();
    let (chunk_rows, slots) = table_slots(gpu, x)?;
    let mut launches = Vec::new();
    for chunk in y.chunks(gpu)? {
        if chunk.count == 0 {
            continue;
        }
        let p = params(
            gpu,
            &RowsAxpbyParams {
                n_rows: chunk.count,
                row_lo: chunk.start,
                lanes: g.lanes,
                lanes_p2: g.lanes_p2,
                chunk_rows,
                out_skip: 0,
                alpha,
                beta,
            },
        )?;
        let mut bindings = vec![(0, p.as_entire_binding()), (5, y.chunk_binding(chunk))];
        bindings.extend(slots.iter().cloned());
        launches.push(gpu.launch(shader, "rows_axpby", &bindings, g.workgroups(chunk.count))?);
    }
    Ok(Plan::new(launches))
}

/// Layer scratch of [`propagate_half`]: two f16 layers and the f32 accumulator of the
/// weighted sum (kept in f32 so the sum over layers rounds to f16 once, at the end).
pub struct HalfPropagationScratch {
    layers: [HalfTable; 2],
    acc: DeviceTable,
}

impl HalfPropagationScratch {
    pub fn new(gpu: &Gpu, rows: u32, dim: u32) -> GpuResult<Self> {
        Ok(HalfPropagationScratch {
            layers: [
                HalfTable::zeros(gpu, rows, dim, "f16 layer a")?,
                HalfTable::zeros(gpu, rows, dim, "f16 layer b")?,
            ],
            acc: DeviceTable::zeros(gpu, rows, dim, "f32 layer sum")?,
        })
    }
}

/// `out = Σ_k weights[k] Â^k x` with f16 `x`, layers and `out`: each layer
/// `L_k = f16(Â L_{k−1})` sums in f32 and is stored as f16 (the next layer gathers half the
/// bytes); the weighted sum accumulates in f32 and is rounded to f16 once.
pub fn propagate_half<'a>(
    gpu: &Gpu,
    adj: &'a DeviceCsr,
    weights: &[f32],
    x: &'a HalfTable,
    out: &'a HalfTable,
    scratch: &'a HalfPropagationScratch,
) -> GpuResult<Plan<'a>> {
    let Some((&a0, rest)) = weights.split_first() else {
        return Err(GpuError::Invalid(
            "propagation needs at least one weight".into(),
        ));
    };
    let [s0, s1] = &scratch.layers;
    if s0.rows() != x.rows() || s0.dim() != x.dim() || out.rows() != x.rows() {
        return Err(GpuError::Invalid(
            "propagation scratch, input and output must share their shape".into(),
        ));
    }
    let acc = &scratch.acc;
    let mut plan = rows_axpby(gpu, a0, x, 0.0, acc)?;
    let mut current = x;
    for (k, &a_k) in rest.iter().enumerate() {
        let next = if k % 2 == 0 { s0 } else { s1 };
        plan = plan
            .then(spmm(gpu, adj, current, next)?)
            .then(rows_axpby(gpu, a_k, next, 1.0, acc)?);
        current = next;
    }
    Ok(plan.then(rows_axpby(gpu, 1.0, acc, 0.0, out)?))
}
