//! Deterministic reductions (dot product, squared norm, sum) into device scalars.
//!
//! Two passes in a fixed order: workgroups sum 1,024-element blocks into partials, then
//! one workgroup sums the partials. Repeated runs give bitwise-equal results.

use bytemuck::{Pod, Zeroable};

use super::plan::Plan;
use super::shaders::REDUCE;
use super::table::{element_binding, element_chunks, params};
use crate::gpu::{Gpu, GpuBuffer, GpuError, GpuResult};

/// Elements summed by one workgroup of the first pass (`BLOCK` in `reduce.wgsl`).
pub const BLOCK: u32 = 1024;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ReduceParams {
    n: u32,
    mode: u32,
    partial_offset: u32,
    n_partials: u32,
    out_index: u32,
    _pad: [u32; 3],
}

const MODE_DOT: u32 = 0;
const MODE_SUM: u32 = 1;

fn reduction<'a>(
    gpu: &Gpu,
    mode: u32,
    x: &'a GpuBuffer<f32>,
    y: &'a GpuBuffer<f32>,
    scalars: &'a GpuBuffer<f32>,
    out_index: u32,
) -> GpuResult<Plan<'a>> {
    if x.len() != y.len() {
        return Err(GpuError::Invalid(format!(
            "dot of vectors of lengths {} and {}",
            x.len(),
            y.len()
        )));
    }
    if out_index as usize >= scalars.len() {
        return Err(GpuError::Invalid(format!(
            "scalar slot {out_index} outside a buffer of {}",
            scalars.len()
        )));
    }
    let chunks = element_chunks(gpu, x.len())?;
    let n_partials: u32 = chunks.iter().map(|c| c.count.div_ceil(BLOCK)).sum();
    let partials = gpu.alloc::<f32>(n_partials.max(1) as usize, "partials")?;
    let mut launches = Vec::new();
    let mut offset = 0;
    for chunk in &chunks {
        let blocks = chunk.count.div_ceil(BLOCK);
        let p = params(
            gpu,
            &ReduceParams {
                n: chunk.count,
                mode,
                partial_offset: offset,
                n_partials,
                out_index,
                _pad: [0; 3],
            },
        )?;
        launches.push(gpu.launch(
            &REDUCE,
            "partial",
            &[
                (0, p.as_entire_binding()),
                (1, element_binding(x, *chunk)),
                (2, element_binding(y, *chunk)),
                (3, partials.binding()),
            ],
            blocks,
        )?);
        offset += blocks;
    }
    let p = params(
        gpu,
        &ReduceParams {
            n: 0,
            mode,
            partial_offset: 0,
            n_partials,
            out_index,
            _pad: [0; 3],
        },
    )?;
    launches.push(gpu.launch(
        &REDUCE,
        "finish",
        &[
            (0, p.as_entire_binding()),
            (3, partials.binding()),
            (4, scalars.binding()),
        ],
        1,
    )?);
    Ok(Plan::new(launches).with_scratch(vec![partials]))
}

/// `scalars[out] = Σ x[i]·y[i]` (pass the same buffer twice for a squared norm).
pub fn dot<'a>(
    gpu: &Gpu,
    x: &'a GpuBuffer<f32>,
    y: &'a GpuBuffer<f32>,
    scalars: &'a GpuBuffer<f32>,
    out: u32,
) -> GpuResult<Plan<'a>> {
    reduction(gpu, MODE_DOT, x, y, scalars, out)
}

/// `scalars[out] = Σ x[i]²`.
pub fn squared_norm<'a>(
    gpu: &Gpu,
    x: &'a GpuBuffer<f32>,
    scalars: &'a GpuBuffer<f32>,
    out: u32,
) -> GpuResult<Plan<'a>> {
    reduction(gpu, MODE_DOT, x, x, scalars, out)
}

/// `scalars[out] = Σ x[i]`.
pub fn sum<'a>(
    gpu: &Gpu,
    x: &'a GpuBuffer<f32>,
    scalars: &'a GpuBuffer<f32>,
    out: u32,
) -> GpuResult<Plan<'a>> {
    reduction(gpu, MODE_SUM, x, x, scalars, out)
}

fn value(gpu: &Gpu, mode: u32, x: &GpuBuffer<f32>, y: &GpuBuffer<f32>) -> GpuResult<f32> {
    let scalars = gpu.zeros::<f32>(1, "scalar")?;
    let plan = reduction(gpu, mode, x, y, &scalars, 0)?;
    gpu.run("reduction", |pass| crate::gpu::Record::record(&plan, pass))?;
    Ok(gpu.download(&scalars)?[0])
}

/// `Σ x[i]·y[i]`, read back to the host (one-off use; solvers keep scalars on the device).
pub fn dot_value(gpu: &Gpu, x: &GpuBuffer<f32>, y: &GpuBuffer<f32>) -> GpuResult<f32> {
    value(gpu, MODE_DOT, x, y)
}

/// `Σ x[i]·y[i]`, read back with the next read-back ([`Gpu::read_later`]).
pub fn dot_later(
    gpu: &Gpu,
    x: &GpuBuffer<f32>,
    y: &GpuBuffer<f32>,
) -> GpuResult<crate::gpu::LaterRead> {
    let scalars = gpu.zeros::<f32>(1, "scalar")?;
    let plan = reduction(gpu, MODE_DOT, x, y, &scalars, 0)?;
    gpu.run("reduction", |pass| crate::gpu::Record::record(&plan, pass))?;
    gpu.read_later(&scalars, 1)
}

/// `Σ x[i]`, read back to the host.
pub fn sum_value(gpu: &Gpu, x: &GpuBuffer<f32>) -> GpuResult<f32> {
    value(gpu, MODE_SUM, x, x)
}
