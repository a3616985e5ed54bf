//! LightGCN propagation `E = Σ_{k=0..K} a_k Â^k X`, recorded as one sequence of launches
//! with no read-back between layers.

use super::blas::{Scalar, axpby, copy};
use super::plan::Plan;
use super::spmm::{DeviceCsr, spmm};
use super::table::{DeviceTable, TableView};
use crate::gpu::{Gpu, GpuError, GpuResult};

/// LightGCN's layer weights: `a_k = 1 / (K + 1)`.
pub fn uniform_weights(layers: u32) -> Vec<f32> {
    vec![1.0 / (layers + 1) as f32; layers as usize + 1]
}

/// Layer scratch for [`propagate`], allocated once per model and reused.
pub struct PropagationScratch {
    tables: [DeviceTable; 2],
}

impl PropagationScratch {
    pub fn new(gpu: &Gpu, rows: u32, dim: u32) -> GpuResult<Self> {
        Ok(PropagationScratch {
            tables: [
                DeviceTable::zeros(gpu, rows, dim, "layer a")?,
                DeviceTable::zeros(gpu, rows, dim, "layer b")?,
            ],
        })
    }
}

/// `out = Σ_k weights[k] Â^k x` with `K = weights.len() - 1` layers.
pub fn propagate<'a>(
    gpu: &Gpu,
    adj: &'a DeviceCsr,
    weights: &[f32],
    x: impl Into<TableView<'a>>,
    out: impl Into<TableView<'a>>,
    scratch: &'a PropagationScratch,
) -> GpuResult<Plan<'a>> {
    let (x, out) = (x.into(), out.into());
    let Some((&a0, rest)) = weights.split_first() else {
        return Err(GpuError::Invalid(
            "propagation needs at least one weight".into(),
        ));
    };
    let [s0, s1] = &scratch.tables;
    if s0.rows() != x.rows() || s0.dim() != x.dim() || out.rows() != x.rows() {
        return Err(GpuError::Invalid(
            "propagation scratch, input and output must share their shape".into(),
        ));
    }
    let mut plan = if a0 == 1.0 {
        copy(gpu, x.values(), out.values())?
    } else {
        axpby(
            gpu,
            Scalar::Host(a0),
            x.values(),
            Scalar::Host(0.0),
            out.values(),
            None,
        )?
    };
    let mut current = x;
    for (k, &a_k) in rest.iter().enumerate() {
        let next = if k % 2 == 0 { s0.view() } else { s1.view() };
        plan = plan.then(spmm(gpu, adj, current, next)?).then(axpby(
            gpu,
            Scalar::Host(a_k),
            next.values(),
            Scalar::Host(1.0),
            out.values(),
            None,
        )?);
        current = next;
    }
    Ok(plan)
}
