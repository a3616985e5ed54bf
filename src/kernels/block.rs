//! Batched dense mat-vec over small square blocks (`shaders/block.wgsl`): `y_b = B_b x_b`
//! for vectors laid out block-major. Block-Jacobi applies each node's inverted d × d block
//! this way; a single block of size n is a dense n × n mat-vec.

use bytemuck::{Pod, Zeroable};

use super::plan::Plan;
use super::shaders::BLOCK;
use super::table::{WORKGROUP, fits_one_binding, params};
use crate::gpu::{Gpu, GpuBuffer, GpuError, GpuResult, row_chunks};

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
    let block_bytes = blocks.dim as u64 * blocks.dim as u64 * 4;
    let threads = threads_per_block(blocks.dim);
    let per_wg = WORKGROUP / threads;
    let mut launches = Vec::new();
    for chunk in row_chunks(
        blocks.n_blocks,
        block_bytes,
        gpu.binding_cap(),
        gpu.offset_alignment(),
    )? {
        if chunk.count == 0 {
            continue;
        }
        let p = params(
            gpu,
            &BlockParams {
                n_blocks: chunk.count,
                block_lo: chunk.start,
                dim: blocks.dim,
                threads,
            },
        )?;
        let range = blocks.buf.binding_range(
            chunk.start as u64 * block_bytes,
            chunk.count as u64 * block_bytes,
        );
        launches.push(gpu.launch(
            &BLOCK,
            "block_matvec",
            &[
                (0, p.as_entire_binding()),
                (1, range),
                (2, x.binding()),
                (3, y.binding()),
            ],
            chunk.count.div_ceil(per_wg),
        )?);
    }
    Ok(Plan::new(launches))
}
