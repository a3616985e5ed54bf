//! How far parameters are from a stationary point of their objective. The influence update
//! is a Newton step that assumes a trained model; parameters brought in from elsewhere may
//! have been trained on another objective, or barely at all.
//!
//! The figure is scale-free: r = ‖∇L(θ)‖ / ‖∇L(θ/2)‖ (sum units, λ included). Near a
//! stationary point the numerator vanishes while halving θ moves far from it, so r is small;
//! for parameters the objective never shaped (a random draw, or another loss) the two
//! gradients are of one size and r is about 1 or more.

use crate::data::Interactions;
use crate::error::Result;
use crate::gpu::{Gpu, Record};
use crate::model::objective::{GradientWorkspace, gradient};
use crate::model::{DeviceModel, ModelSpec, Params};

use super::rhs::node_rows;

/// [`stationarity`] above which a model is far from a stationary point of the stated
/// objective (the influence update's premise fails). Chosen between ifru's own early-stopped
/// models on ml-100k (0.52, 0.59) and the same tables under a wrong objective or random
/// (0.97–2.0); on held-out settings trained models measured 0.30–0.74 and wrong objectives
/// 0.95–3.6 (docs/BENCHMARKS.md, "Stationarity of imported models").
pub const FAR_FROM_STATIONARY: f64 = 0.8;

/// r = ‖∇L(θ)‖ / ‖∇L(θ/2)‖ for the objective of `spec` on `rows` with L2 strength `lambda`
/// (sum units) over the graph `adjacency` (LightGCN) — see the module documentation.
#[allow(clippy::too_many_arguments)]
pub fn stationarity(
    gpu: &Gpu,
    spec: ModelSpec,
    params: &Params,
    rows: &Interactions,
    adjacency: Option<&crate::graph::CsrArrays>,
    lambda: f32,
    negative_seed: u64,
) -> Result<f64> {
    let (n_users, n_items) = (params.n_users, params.n_items);
    let all: Vec<u32> = (0..rows.len() as u32).collect();
    let batch = node_rows(n_users, n_items, rows, &all, spec.loss, negative_seed, None)?.upload(
        gpu,
        n_users + n_items,
        spec.loss,
    )?;
    let mut norms = [0.0f64; 2];
    for (k, scale) in [1.0f32, 0.5].into_iter().enumerate() {
        let scaled = Params {
            user_emb: params.user_emb.iter().map(|v| v * scale).collect(),
            item_emb: params.item_emb.iter().map(|v| v * scale).collect(),
            ..params.clone()
        };
        let model = DeviceModel::upload(gpu, spec, &scaled, adjacency)?;
        let ws = GradientWorkspace::new(gpu, &model)?;
        let forward = model.forward(gpu)?;
        let plan = forward.then(gradient(gpu, &model, &batch, &ws, 1.0, lambda)?);
        gpu.run("stationarity", |pass| plan.record(pass))?;
        let g = ws.grad().download(gpu)?;
        norms[k] = g.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt();
    }
    Ok(if norms[1] > 0.0 {
        norms[0] / norms[1]
    } else {
        0.0
    })
}
