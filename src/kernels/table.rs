//! Embedding tables on the device and the geometry kernels use to walk them.

use bytemuck::{Pod, Zeroable};

use super::storage::Storage;
use crate::gpu::{Gpu, GpuBuffer, GpuError, GpuResult, RowChunk, row_chunks};

/// Threads per workgroup of every kernel (`WG` in `shaders/common.wgsl`).
pub const WORKGROUP: u32 = 64;

/// Embedding sizes the kernels take: multiples of 4 from 4 to 256.
pub const MAX_DIM: u32 = 256;

/// How a row of `dim` floats maps onto threads: `lanes` vec4s per row, spread over
/// `lanes_p2` threads (next power of two), `rows_per_wg` rows per workgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowGeometry {
    pub dim: u32,
    pub lanes: u32,
    pub lanes_p2: u32,
    pub rows_per_wg: u32,
}

impl RowGeometry {
    /// The geometry for embedding size `dim`, or an error naming the sizes that work.
    pub fn for_dim(dim: u32) -> GpuResult<Self> {
        if dim == 0 || !dim.is_multiple_of(4) || dim > MAX_DIM {
            return Err(GpuError::Invalid(format!(
                "embedding size {dim} is not supported: the kernels take multiples of 4 from 4 to {MAX_DIM}"
            )));
        }
        let lanes = dim / 4;
        let lanes_p2 = lanes.next_power_of_two();
        Ok(RowGeometry {
            dim,
            lanes,
            lanes_p2,
            rows_per_wg: WORKGROUP / lanes_p2,
        })
    }

    /// Workgroups needed for `rows` rows.
    pub fn workgroups(&self, rows: u32) -> u32 {
        rows.div_ceil(self.rows_per_wg)
    }
}

/// A `rows` × `dim` row-major f32 table on the device.
pub struct DeviceTable {
    buf: GpuBuffer<f32>,
    rows: u32,
    geometry: RowGeometry,
}

impl DeviceTable {
    /// Uploads a row-major table.
    pub fn upload(gpu: &Gpu, rows: u32, dim: u32, data: &[f32], label: &str) -> GpuResult<Self> {
        let geometry = RowGeometry::for_dim(dim)?;
        let expected = rows as usize * dim as usize;
        if data.len() != expected {
            return Err(GpuError::Invalid(format!(
                "table '{label}': {} values for {rows} rows of {dim}",
                data.len()
            )));
        }
        Ok(DeviceTable {
            buf: gpu.upload(data, label)?,
            rows,
            geometry,
        })
    }

    /// A table of zeros.
    pub fn zeros(gpu: &Gpu, rows: u32, dim: u32, label: &str) -> GpuResult<Self> {
        let geometry = RowGeometry::for_dim(dim)?;
        Ok(DeviceTable {
            buf: gpu.zeros(rows as usize * dim as usize, label)?,
            rows,
            geometry,
        })
    }

    /// Reads the table back, row-major.
    pub fn download(&self, gpu: &Gpu) -> GpuResult<Vec<f32>> {
        gpu.download(&self.buf)
    }

    pub fn rows(&self) -> u32 {
        self.rows
    }

    pub fn dim(&self) -> u32 {
        self.geometry.dim
    }

    pub fn geometry(&self) -> RowGeometry {
        self.geometry
    }

    /// The values as a flat vector (for BLAS-1 kernels).
    pub fn values(&self) -> &GpuBuffer<f32> {
        &self.buf
    }

    /// Row ranges of this table that each fit one binding.
    pub fn chunks(&self, gpu: &Gpu) -> GpuResult<Vec<RowChunk>> {
        self.view().chunks(gpu)
    }

    /// A row range as a binding.
    pub fn chunk_binding(&self, chunk: RowChunk) -> wgpu::BindingResource<'_> {
        self.view().chunk_binding(chunk)
    }

    /// This table as a view.
    pub fn view(&self) -> TableView<'_> {
        self.into()
    }
}

/// A borrowed `rows` × `dim` row-major view of a device vector: what the table kernels
/// read and write. A [`DeviceTable`] converts into one; so can a solver's flat vector.
#[derive(Clone, Copy)]
pub struct TableView<'a> {
    buf: &'a GpuBuffer<f32>,
    rows: u32,
    geometry: RowGeometry,
}

impl<'a> TableView<'a> {
    /// Views `buf` as `rows` rows of `dim` floats (its length must be `rows · dim`).
    pub fn new(buf: &'a GpuBuffer<f32>, rows: u32, dim: u32) -> GpuResult<Self> {
        let geometry = RowGeometry::for_dim(dim)?;
        if buf.len() != rows as usize * dim as usize {
            return Err(GpuError::Invalid(format!(
                "a vector of {} values viewed as {rows} rows of {dim}",
                buf.len()
            )));
        }
        Ok(TableView {
            buf,
            rows,
            geometry,
        })
    }

    pub fn rows(&self) -> u32 {
        self.rows
    }

    pub fn dim(&self) -> u32 {
        self.geometry.dim
    }

    pub fn geometry(&self) -> RowGeometry {
        self.geometry
    }

    /// The values as a flat vector.
    pub fn values(&self) -> &'a GpuBuffer<f32> {
        self.buf
    }

    /// Row ranges that each fit one binding.
    pub fn chunks(&self, gpu: &Gpu) -> GpuResult<Vec<RowChunk>> {
        TableRef::from(*self).chunks(gpu)
    }

    /// A row range as a binding.
    pub fn chunk_binding(&self, chunk: RowChunk) -> wgpu::BindingResource<'a> {
        TableRef::from(*self).chunk_binding(chunk)
    }
}

impl<'a> From<&'a DeviceTable> for TableView<'a> {
    fn from(t: &'a DeviceTable) -> Self {
        TableView {
            buf: &t.buf,
            rows: t.rows,
            geometry: t.geometry,
        }
    }
}

/// Any table a kernel reads through the slot bindings, whatever its storage: an f32
/// [`DeviceTable`] or [`TableView`], or a 16-bit [`super::HalfTable`].
#[derive(Clone, Copy)]
pub struct TableRef<'a> {
    raw: &'a wgpu::Buffer,
    rows: u32,
    geometry: RowGeometry,
    storage: Storage,
}

impl<'a> TableRef<'a> {
    pub(crate) fn new(
        raw: &'a wgpu::Buffer,
        rows: u32,
        geometry: RowGeometry,
        storage: Storage,
    ) -> Self {
        TableRef {
            raw,
            rows,
            geometry,
            storage,
        }
    }

    pub fn rows(&self) -> u32 {
        self.rows
    }

    pub fn dim(&self) -> u32 {
        self.geometry.dim
    }

    pub fn geometry(&self) -> RowGeometry {
        self.geometry
    }

    pub fn storage(&self) -> Storage {
        self.storage
    }

    /// Bytes of one row in this storage.
    pub fn row_bytes(&self) -> u64 {
        self.storage.row_bytes(self.geometry.dim)
    }

    /// Row ranges that each fit one binding.
    pub fn chunks(&self, gpu: &Gpu) -> GpuResult<Vec<RowChunk>> {
        row_chunks(
            self.rows,
            self.row_bytes(),
            gpu.binding_cap(),
            gpu.offset_alignment(),
        )
    }

    /// A row range as a binding (at least 16 bytes, so an empty table stays bindable).
    pub fn chunk_binding(&self, chunk: RowChunk) -> wgpu::BindingResource<'a> {
        let rb = self.row_bytes();
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: self.raw,
            offset: chunk.start as u64 * rb,
            size: wgpu::BufferSize::new((chunk.count as u64 * rb).max(16)),
        })
    }
}

impl<'a> From<TableView<'a>> for TableRef<'a> {
    fn from(t: TableView<'a>) -> Self {
        TableRef::new(t.buf.raw(), t.rows, t.geometry, Storage::F32)
    }
}

impl<'a> From<&'a DeviceTable> for TableRef<'a> {
    fn from(t: &'a DeviceTable) -> Self {
        t.view().into()
    }
}

/// Number of binding slots `shaders/table.wgsl` reads a table through.
pub const TABLE_SLOTS: usize = 4;
/// First binding number of those slots.
const TABLE_FIRST_BINDING: u32 = 10;
/// First binding number of the second table's slots (`table_b.wgsl`).
const TABLE_B_FIRST_BINDING: u32 = 14;

/// Rows per slot and the four slot bindings of `table` for kernels that include `table.wgsl`.
pub(crate) fn table_slots<'t>(
    gpu: &Gpu,
    table: impl Into<TableRef<'t>>,
) -> GpuResult<(u32, Vec<(u32, wgpu::BindingResource<'t>)>)> {
    slots_from(gpu, table.into(), TABLE_FIRST_BINDING)
}

/// The same for the second table of kernels that also include `table_b.wgsl`.
pub(crate) fn table_b_slots<'t>(
    gpu: &Gpu,
    table: TableView<'t>,
) -> GpuResult<(u32, Vec<(u32, wgpu::BindingResource<'t>)>)> {
    slots_from(gpu, table.into(), TABLE_B_FIRST_BINDING)
}

fn slots_from<'t>(
    gpu: &Gpu,
    table: TableRef<'t>,
    first_binding: u32,
) -> GpuResult<(u32, Vec<(u32, wgpu::BindingResource<'t>)>)> {
    let chunks = table.chunks(gpu)?;
    if chunks.len() > TABLE_SLOTS {
        return Err(GpuError::Limit {
            what: format!(
                "a table of {} rows x {} {} values",
                table.rows(),
                table.dim(),
                table.storage().name()
            ),
            needed: table.rows() as u64 * table.row_bytes(),
            limit: TABLE_SLOTS as u64 * gpu.binding_cap(),
            limit_name: "4 x the storage binding cap",
            hint: "; use a device with larger bindings or a smaller embedding size",
        });
    }
    let chunk_rows = chunks[0].count.max(1);
    let bindings = (0..TABLE_SLOTS)
        .map(|slot| {
            let chunk = chunks.get(slot).copied().unwrap_or(chunks[0]);
            (first_binding + slot as u32, table.chunk_binding(chunk))
        })
        .collect();
    Ok((chunk_rows, bindings))
}

/// Element ranges of an `n`-element f32 vector that each fit one binding.
pub(crate) fn element_chunks(gpu: &Gpu, n: usize) -> GpuResult<Vec<RowChunk>> {
    let n = u32::try_from(n)
        .map_err(|_| GpuError::Invalid(format!("a vector of {n} values exceeds 2^32 elements")))?;
    row_chunks(n, 4, gpu.binding_cap(), gpu.offset_alignment())
}

/// A byte range of `buf` holding elements `chunk` (at least 4 bytes, so it stays bindable).
pub(crate) fn element_binding<T: Pod>(
    buf: &GpuBuffer<T>,
    chunk: RowChunk,
) -> wgpu::BindingResource<'_> {
    let size = std::mem::size_of::<T>() as u64;
    buf.binding_range(
        chunk.start as u64 * size,
        (chunk.count as u64 * size).max(4),
    )
}

/// Uploads a kernel's parameter block (a uniform buffer owned by the bind group).
pub(crate) fn params<P: Pod + Zeroable>(gpu: &Gpu, value: &P) -> GpuResult<wgpu::Buffer> {
    gpu.uniform_buffer(bytemuck::bytes_of(value))
}

/// Fails unless a whole buffer fits one binding (index arrays are never chunked).
pub(crate) fn fits_one_binding<T: Pod>(gpu: &Gpu, buf: &GpuBuffer<T>, what: &str) -> GpuResult<()> {
    if buf.byte_len() > gpu.binding_cap() {
        return Err(GpuError::Limit {
            what: what.to_string(),
            needed: buf.byte_len(),
            limit: gpu.binding_cap(),
            limit_name: "storage binding cap",
            hint: "",
        });
    }
    Ok(())
}
