//! Adam over a parameter table, PyTorch's formulation (bias-corrected, no weight decay).
//!
//! The step count lives on the device and is advanced by the plan itself, so a whole
//! epoch of steps can be recorded without the host touching the optimizer.

use bytemuck::{Pod, Zeroable};

use super::plan::Plan;
use super::shaders::ADAM;
use super::table::{
    DeviceTable, WORKGROUP, element_binding, element_chunks, fits_one_binding, params,
};
use crate::gpu::{Gpu, GpuBuffer, GpuError, GpuResult};

/// Adam's hyper-parameters; the defaults are PyTorch's with lr 1e-3.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// First and second moments and the step counter of one parameter table.
pub struct AdamState {
    m: GpuBuffer<f32>,
    v: GpuBuffer<f32>,
    /// `[t, lr / (1 - β1^t), 1 / sqrt(1 - β2^t), unused]`
    counters: GpuBuffer<f32>,
}

impl AdamState {
    /// Zero moments for `n` parameters, step 0.
    pub fn new(gpu: &Gpu, n: usize) -> GpuResult<Self> {
        Ok(AdamState {
            m: gpu.zeros(n, "adam m")?,
            v: gpu.zeros(n, "adam v")?,
            counters: gpu.zeros(4, "adam step")?,
        })
    }

    /// Steps taken so far (reads the device).
    pub fn steps(&self, gpu: &Gpu) -> GpuResult<u64> {
        Ok(gpu.download(&self.counters)?[0] as u64)
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct AdamParams {
    n: u32,
    _pad: [u32; 3],
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
}

/// Advances the step counter and the bias corrections on the device.
fn tick(gpu: &Gpu, config: AdamConfig, state: &AdamState) -> GpuResult<crate::gpu::Launch> {
    let p = params(
        gpu,
        &AdamParams {
            n: 0,
            _pad: [0; 3],
            lr: config.lr,
            beta1: config.beta1,
            beta2: config.beta2,
            eps: config.eps,
        },
    )?;
    gpu.launch(
        &ADAM,
        "tick",
        &[(0, p.as_entire_binding()), (5, state.counters.binding())],
        1,
    )
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RowParams {
    n_rows: u32,
    lanes: u32,
    lanes_p2: u32,
    _pad0: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    reg: f32,
    scale: f32,
    _pad1: [f32; 2],
}

/// One sparse (lazy) Adam step: only rows `rows` of `param` change, along
/// `scale · row_grad + reg · param` (one gradient row per listed row) — PyTorch's
/// SparseAdam with L2 on the touched rows. Rows must be distinct.
#[allow(clippy::too_many_arguments)]
pub fn adam_rows_step<'a>(
    gpu: &Gpu,
    config: AdamConfig,
    scale: f32,
    reg: f32,
    rows: &'a GpuBuffer<u32>,
    row_grad: &'a DeviceTable,
    param: &'a DeviceTable,
    state: &'a AdamState,
) -> GpuResult<Plan<'a>> {
    let g = param.geometry();
    if row_grad.dim() != param.dim() || row_grad.rows() as usize != rows.len() {
        return Err(GpuError::Invalid(format!(
            "{} gradient rows of size {} for {} listed rows of size {}",
            row_grad.rows(),
            row_grad.dim(),
            rows.len(),
            param.dim()
        )));
    }
    if state.m.len() != param.values().len() {
        return Err(GpuError::Invalid(
            "Adam moments do not match the table".into(),
        ));
    }
    for (buf, what) in [
        (param.values(), "parameters"),
        (&state.m, "Adam m"),
        (&state.v, "Adam v"),
    ] {
        fits_one_binding(gpu, buf, what)?;
    }
    fits_one_binding(gpu, row_grad.values(), "row gradients")?;
    let n_rows = rows.len() as u32;
    let p = params(
        gpu,
        &RowParams {
            n_rows,
            lanes: g.lanes,
            lanes_p2: g.lanes_p2,
            _pad0: 0,
            lr: config.lr,
            beta1: config.beta1,
            beta2: config.beta2,
            eps: config.eps,
            reg,
            scale,
            _pad1: [0.0; 2],
        },
    )?;
    let step = gpu.launch(
        &ADAM,
        "step_rows",
        &[
            (5, state.counters.binding()),
            (6, p.as_entire_binding()),
            (7, rows.binding()),
            (8, row_grad.values().binding()),
            (9, param.values().binding()),
            (10, state.m.binding()),
            (11, state.v.binding()),
        ],
        g.workgroups(n_rows),
    )?;
    Ok(Plan::new(vec![tick(gpu, config, state)?, step]))
}

/// One Adam step of `param` along `grad`: a counter tick, then the update per chunk.
pub fn adam_step<'a>(
    gpu: &Gpu,
    config: AdamConfig,
    grad: &'a GpuBuffer<f32>,
    param: &'a GpuBuffer<f32>,
    state: &'a AdamState,
) -> GpuResult<Plan<'a>> {
    let n = param.len();
    if grad.len() != n || state.m.len() != n {
        return Err(GpuError::Invalid(format!(
            "Adam over {n} parameters with {} gradients and {} moments",
            grad.len(),
            state.m.len()
        )));
    }
    let block = |count: u32| AdamParams {
        n: count,
        _pad: [0; 3],
        lr: config.lr,
        beta1: config.beta1,
        beta2: config.beta2,
        eps: config.eps,
    };
    let mut launches = vec![tick(gpu, config, state)?];
    for chunk in element_chunks(gpu, n)? {
        let p = params(gpu, &block(chunk.count))?;
        launches.push(gpu.launch(
            &ADAM,
            "step",
            &[
                (0, p.as_entire_binding()),
                (1, element_binding(grad, chunk)),
                (2, element_binding(param, chunk)),
                (3, element_binding(&state.m, chunk)),
                (4, element_binding(&state.v, chunk)),
                (5, state.counters.binding()),
            ],
            chunk.count.div_ceil(WORKGROUP),
        )?);
    }
    Ok(Plan::new(launches))
}
