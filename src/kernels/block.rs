//! Small square blocks on the device: a batched dense mat-vec (`shaders/block.wgsl`),
//! `y_b = B_b x_b` for vectors laid out block-major, and block-Jacobi's build
//! (`shaders/block_build.wgsl`): each node's d × d Gauss–Newton block from its rows
//! ([`block_gram`]) and the damped blocks' inverses ([`block_invert`]). Block-Jacobi applies
//! each node's inverted block with the mat-vec; a single block of size n is a dense n × n
//! mat-vec.

use bytemuck::{Pod, Zeroable};

use super::hvp::RowLoss;
use super::plan::Plan;
use super::shaders::{BLOCK, BLOCK_BUILD};
use super::table::{TableView, WORKGROUP, fits_one_binding, params, table_slots};
use crate::gpu::{Gpu, GpuBuffer, GpuError, GpuResult, RowChunk, row_chunks};

/// `n_blocks` square blocks of `dim` × `dim` f32 values on the device, row-major, one after
/// the other.
pub struct DeviceBlocks {
    buf: GpuBuffer<f32>,
    n_blocks: u32,
    dim: u32,
}

impl DeviceBlocks {
    /// Uploads `data.len() / dim²` blocks.
    pub fn upload(gpu: &Gpu, dim: usize, data: &[f32], label: &str) -> GpuResult<Self> {
        let per_block = dim.checked_mul(dim).filter(|&p| p > 0).ok_or_else(|| {
            GpuError::Invalid(format!("blocks of dimension {dim} are not supported"))
        })?;
        if !data.len().is_multiple_of(per_block) {
            return Err(GpuError::Invalid(format!(
                "'{label}': {} values do not make whole {dim}x{dim} blocks",
                data.len()
            )));
        }
        let n_blocks = u32::try_from(data.len() / per_block)
            .map_err(|_| GpuError::Invalid(format!("'{label}': too many blocks")))?;
        let dim = u32::try_from(dim)
            .map_err(|_| GpuError::Invalid(format!("block dimension {dim} is too large")))?;
        Ok(DeviceBlocks {
            buf: gpu.upload(data, label)?,
            n_blocks,
            dim,
        })
    }

    /// `n_blocks` blocks of zeros.
    pub fn zeros(gpu: &Gpu, n_blocks: u32, dim: u32, label: &str) -> GpuResult<Self> {
        let len = (n_blocks as usize)
            .checked_mul(dim as usize * dim as usize)
            .filter(|_| dim > 0)
            .ok_or_else(|| GpuError::Invalid(format!("'{label}': {n_blocks} blocks of {dim}")))?;
        Ok(DeviceBlocks {
            buf: gpu.zeros(len, label)?,
            n_blocks,
            dim,
        })
    }

    /// The values, block after block (row-major within a block).
    pub fn values(&self) -> &GpuBuffer<f32> {
        &self.buf
    }

    pub fn n_blocks(&self) -> u32 {
        self.n_blocks
    }

    pub fn dim(&self) -> u32 {
        self.dim
    }

    /// Length of the vectors the blocks act on (`n_blocks · dim`).
    pub fn vector_len(&self) -> usize {
        self.n_blocks as usize * self.dim as usize
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct BlockParams {
    n_blocks: u32,
    block_lo: u32,
    dim: u32,
    threads: u32,
}

/// Threads sharing one block: the next power of two of `dim`, at most a workgroup.
pub fn threads_per_block(dim: u32) -> u32 {
    dim.next_power_of_two().min(WORKGROUP)
}

/// `y_b = B_b x_b` for every block `b`. `x` and `y` must be distinct buffers of
/// [`DeviceBlocks::vector_len`] values, each within one storage binding; the blocks are
/// bound in binding-sized runs.
pub fn block_matvec<'a>(
    gpu: &Gpu,
    blocks: &'a DeviceBlocks,
    x: &'a GpuBuffer<f32>,
    y: &'a GpuBuffer<f32>,
) -> GpuResult<Plan<'a>> {
    let n = blocks.vector_len();
    if x.len() != n || y.len() != n {
        return Err(GpuError::Invalid(format!(
            "{} blocks of {} act on vectors of {n} values, not {} and {}",
            blocks.n_blocks,
            blocks.dim,
            x.len(),
            y.len()
        )));
    }
    fits_one_binding(gpu, x, "a block mat-vec input vector")?;
    fits_one_binding(gpu, y, "a block mat-vec output vector")?;
    let threads = threads_per_block(blocks.dim);
    let per_wg = WORKGROUP / threads;
    let mut launches = Vec::new();
    for chunk in block_runs(gpu, blocks)? {
        let p = params(
            gpu,
            &BlockParams {
                n_blocks: chunk.count,
                block_lo: chunk.start,
                dim: blocks.dim,
                threads,
            },
        )?;
        launches.push(gpu.launch(
            &BLOCK,
            "block_matvec",
            &[
                (0, p.as_entire_binding()),
                (1, blocks.run(&chunk)),
                (2, x.binding()),
                (3, y.binding()),
            ],
            chunk.count.div_ceil(per_wg),
        )?);
    }
    Ok(Plan::new(launches))
}

impl DeviceBlocks {
    /// The binding of one run of [`block_runs`].
    fn run(&self, chunk: &RowChunk) -> wgpu::BindingResource<'_> {
        let block_bytes = self.dim as u64 * self.dim as u64 * 4;
        self.buf.binding_range(
            chunk.start as u64 * block_bytes,
            chunk.count as u64 * block_bytes,
        )
    }
}

/// The blocks in runs that each fit one storage binding (empty runs left out).
fn block_runs(gpu: &Gpu, blocks: &DeviceBlocks) -> GpuResult<Vec<RowChunk>> {
    let block_bytes = blocks.dim as u64 * blocks.dim as u64 * 4;
    Ok(row_chunks(
        blocks.n_blocks,
        block_bytes,
        gpu.binding_cap(),
        gpu.offset_alignment(),
    )?
    .into_iter()
    .filter(|c| c.count > 0)
    .collect())
}

/// What each block's Gauss–Newton terms `h o oᵀ` are made of, on the device: block v's terms
/// are `terms[ptr[v]..ptr[v + 1]]`, each `(record, a, b)`: h from the row's (BCE) or
/// triple's (BPR) record, `o = E_a − E_b`, or `E_a` where b is [`NO_NODE`].
pub struct BlockTerms {
    ptr: GpuBuffer<u32>,
    terms: GpuBuffer<u32>,
    n_blocks: u32,
}

/// "No second node": the term's o is `E_a` alone.
pub const NO_NODE: u32 = u32::MAX;

impl BlockTerms {
    /// Uploads terms after checking them against the `n_nodes` rows of the table and the
    /// `n_records` records they will read.
    pub fn upload(
        gpu: &Gpu,
        ptr: &[u32],
        terms: &[[u32; 3]],
        n_nodes: u32,
        n_records: u32,
    ) -> GpuResult<Self> {
        let n_blocks = ptr
            .len()
            .checked_sub(1)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| GpuError::Invalid("block terms need a pointer array".into()))?;
        let ordered = ptr.first() == Some(&0)
            && ptr.windows(2).all(|w| w[0] <= w[1])
            && ptr.last().is_some_and(|&l| l as usize == terms.len());
        if !ordered {
            return Err(GpuError::Invalid(format!(
                "block term pointers are not an ascending 0..{} range",
                terms.len()
            )));
        }
        if let Some(t) = terms
            .iter()
            .find(|[r, a, b]| *r >= n_records || *a >= n_nodes || (*b >= n_nodes && *b != NO_NODE))
        {
            return Err(GpuError::Invalid(format!(
                "block term {t:?} is outside {n_records} records and {n_nodes} nodes"
            )));
        }
        let flat: Vec<u32> = terms.iter().flatten().copied().collect();
        Ok(BlockTerms {
            ptr: gpu.upload(ptr, "block term pointers")?,
            terms: gpu.upload(&flat, "block terms")?,
            n_blocks,
        })
    }

    pub fn n_blocks(&self) -> u32 {
        self.n_blocks
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GramParams {
    n_blocks: u32,
    block_lo: u32,
    dim: u32,
    lanes: u32,
    chunk_rows: u32,
    loss: u32,
    lambda: f32,
    _pad: u32,
}

/// `out_v = λI + Σ_terms h o oᵀ` for every block v of `terms` (h: ℓ'' of a BCE record, or
/// σ(x)σ(−x) of a BPR triple's; o from the rows of `e`), and `traces[v]` its trace.
/// Host reference: `HvpOperator::diagonal_blocks` (the same sums, in f32, another order).
#[allow(clippy::too_many_arguments)]
pub fn block_gram<'a>(
    gpu: &Gpu,
    terms: &'a BlockTerms,
    records: &'a GpuBuffer<f32>,
    loss: RowLoss,
    lambda: f32,
    e: TableView<'a>,
    out: &'a DeviceBlocks,
    traces: &'a GpuBuffer<f32>,
) -> GpuResult<Plan<'a>> {
    if out.n_blocks != terms.n_blocks || out.dim != e.dim() || traces.len() != out.n_blocks as usize
    {
        return Err(GpuError::Invalid(format!(
            "block build: {} term lists, {} blocks of {} with {} traces, rows of {}",
            terms.n_blocks,
            out.n_blocks,
            out.dim,
            traces.len(),
            e.dim()
        )));
    }
    fits_one_binding(gpu, &terms.ptr, "block term pointers")?;
    fits_one_binding(gpu, &terms.terms, "block terms")?;
    fits_one_binding(gpu, records, "row records")?;
    fits_one_binding(gpu, traces, "block traces")?;
    let geometry = e.geometry();
    let (chunk_rows, slots) = table_slots(gpu, e)?;
    let mut launches = Vec::new();
    for chunk in block_runs(gpu, out)? {
        let p = params(
            gpu,
            &GramParams {
                n_blocks: chunk.count,
                block_lo: chunk.start,
                dim: out.dim,
                lanes: geometry.lanes,
                chunk_rows,
                loss: match loss {
                    RowLoss::Bce => 0,
                    RowLoss::Bpr => 1,
                },
                lambda,
                _pad: 0,
            },
        )?;
        let mut bindings = vec![
            (0, p.as_entire_binding()),
            (1, terms.ptr.binding()),
            (2, terms.terms.binding()),
            (3, records.binding()),
            (4, out.run(&chunk)),
            (5, traces.binding()),
        ];
        bindings.extend(slots.iter().cloned());
        launches.push(gpu.launch(&BLOCK_BUILD, "block_gram", &bindings, chunk.count)?);
    }
    Ok(Plan::new(launches))
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct InvertParams {
    n_blocks: u32,
    block_lo: u32,
    dim: u32,
    damping: f32,
}

/// `out_v = (sym(B_v) + δI)⁻¹` for every block (Gauss–Jordan in f32, one workgroup a
/// block); a block whose damped form is not positive definite, or whose inverse is not
/// finite, gets the Jacobi fallback `diag(1 / (B_ii + δ))` (1 where unusable) and
/// `fallback[v] = 1` (else 0). `blocks` is left as it is. Host reference:
/// [`crate::solve::precond::invert_blocks`] (Cholesky in f64).
pub fn block_invert<'a>(
    gpu: &Gpu,
    blocks: &'a DeviceBlocks,
    damping: f32,
    out: &'a DeviceBlocks,
    fallback: &'a GpuBuffer<f32>,
) -> GpuResult<Plan<'a>> {
    if out.n_blocks != blocks.n_blocks
        || out.dim != blocks.dim
        || fallback.len() != blocks.n_blocks as usize
    {
        return Err(GpuError::Invalid(format!(
            "block inversion: {} blocks of {} into {} blocks of {} with {} flags",
            blocks.n_blocks,
            blocks.dim,
            out.n_blocks,
            out.dim,
            fallback.len()
        )));
    }
    fits_one_binding(gpu, fallback, "block fallback flags")?;
    let mut launches = Vec::new();
    for chunk in block_runs(gpu, blocks)? {
        let p = params(
            gpu,
            &InvertParams {
                n_blocks: chunk.count,
                block_lo: chunk.start,
                dim: blocks.dim,
                damping,
            },
        )?;
        launches.push(gpu.launch(
            &BLOCK_BUILD,
            "block_invert",
            &[
                (0, p.as_entire_binding()),
                (1, blocks.run(&chunk)),
                (2, out.run(&chunk)),
                (3, fallback.binding()),
            ],
            chunk.count,
        )?);
    }
    Ok(Plan::new(launches))
}
