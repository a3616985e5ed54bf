//! A model resident on the GPU: parameters θ, the propagation graph Â, and the final
//! embeddings E = Σ_k a_k Â^k θ (E is θ itself for MF).

use crate::gpu::{Gpu, GpuError, GpuResult, Record};
use crate::graph::CsrArrays;
use crate::kernels::HalfTable;
use crate::kernels::half::{HalfPropagationScratch, propagate_half};
use crate::kernels::propagate::{PropagationScratch, propagate};
use crate::kernels::spmm::DeviceCsr;
use crate::kernels::{DeviceTable, Plan};

use super::{ModelSpec, Params};

/// LightGCN's graph and layer scratch (absent for MF).
struct Propagation {
    adj: DeviceCsr,
    scratch: PropagationScratch,
    emb: DeviceTable,
    weights: Vec<f32>,
}

impl Propagation {
    fn upload(gpu: &Gpu, spec: ModelSpec, n: u32, a: &CsrArrays) -> GpuResult<Self> {
        Ok(Propagation {
            adj: DeviceCsr::upload(gpu, n, &a.row_ptr, &a.col_idx, &a.vals)?,
            scratch: PropagationScratch::new(gpu, n, spec.dim)?,
            emb: DeviceTable::zeros(gpu, n, spec.dim, "embeddings")?,
            weights: spec.layer_weights(),
        })
    }
}

/// θ and, for LightGCN, Â on the device.
pub struct DeviceModel {
    spec: ModelSpec,
    n_users: u32,
    n_items: u32,
    theta: DeviceTable,
    propagation: Option<Propagation>,
}

impl DeviceModel {
    /// Uploads θ and, for LightGCN, the normalised adjacency of the model's positive rows.
    pub fn upload(
        gpu: &Gpu,
        spec: ModelSpec,
        params: &Params,
        adjacency: Option<&CsrArrays>,
    ) -> GpuResult<Self> {
        if params.dim != spec.dim {
            return Err(GpuError::Invalid(format!(
                "parameters of size {} for a model of size {}",
                params.dim, spec.dim
            )));
        }
        let n = params.n_nodes();
        let theta = DeviceTable::upload(gpu, n, spec.dim, &params.nodes(), "theta")?;
        let propagation = match (spec.propagation_layers(), adjacency) {
            (0, _) => None,
            (_, None) => {
                return Err(GpuError::Invalid(
                    "LightGCN needs the propagation graph".into(),
                ));
            }
            (_, Some(a)) => Some(Propagation::upload(gpu, spec, n, a)?),
        };
        Ok(DeviceModel {
            spec,
            n_users: params.n_users,
            n_items: params.n_items,
            theta,
            propagation,
        })
    }

    /// A second model with this one's θ, copied on the device (no read-back), and
    /// `adjacency` as its graph (LightGCN; ignored for MF): the post-deletion model of a
    /// request, or a scratch copy to try updates on.
    pub fn copy_with_adjacency(&self, gpu: &Gpu, adjacency: Option<&CsrArrays>) -> GpuResult<Self> {
        let n = self.n_nodes();
        let theta = DeviceTable::zeros(gpu, n, self.spec.dim, "theta")?;
        let copy = crate::kernels::blas::copy(gpu, self.theta.values(), theta.values())?;
        gpu.run("copy theta", |pass| crate::gpu::Record::record(&copy, pass))?;
        drop(copy);
        let propagation = match (self.spec.propagation_layers(), adjacency) {
            (0, _) => None,
            (_, None) => {
                return Err(GpuError::Invalid(
                    "LightGCN needs the propagation graph".into(),
                ));
            }
            (_, Some(a)) => Some(Propagation::upload(gpu, self.spec, n, a)?),
        };
        Ok(DeviceModel {
            spec: self.spec,
            n_users: self.n_users,
            n_items: self.n_items,
            theta,
            propagation,
        })
    }

    pub fn spec(&self) -> ModelSpec {
        self.spec
    }

    pub fn n_users(&self) -> u32 {
        self.n_users
    }

    pub fn n_items(&self) -> u32 {
        self.n_items
    }

    /// Users then items.
    pub fn n_nodes(&self) -> u32 {
        self.n_users + self.n_items
    }

    /// The parameters θ.
    pub fn theta(&self) -> &DeviceTable {
        &self.theta
    }

    /// The final embeddings E, valid after [`DeviceModel::forward`] ran (θ itself for MF).
    pub fn embeddings(&self) -> &DeviceTable {
        self.propagation.as_ref().map_or(&self.theta, |p| &p.emb)
    }

    /// E = Σ_k a_k Â^k θ (nothing to do for MF).
    pub fn forward(&self, gpu: &Gpu) -> GpuResult<Plan<'_>> {
        match &self.propagation {
            None => Ok(Plan::empty()),
            Some(p) => propagate(gpu, &p.adj, &p.weights, &self.theta, &p.emb, &p.scratch),
        }
    }

    /// `out = Σ_k a_k Â^k g`: the gradient with respect to θ of a loss whose gradient with
    /// respect to E is `g` (Â is symmetric). `None` for MF, where it is `g` itself.
    pub fn backward<'a>(
        &'a self,
        gpu: &Gpu,
        g: &'a DeviceTable,
        out: &'a DeviceTable,
    ) -> GpuResult<Option<Plan<'a>>> {
        match &self.propagation {
            None => Ok(None),
            Some(p) => propagate(gpu, &p.adj, &p.weights, g, out, &p.scratch).map(Some),
        }
    }

    /// Replaces LightGCN's graph (after deletions); θ stays resident. MF ignores it.
    pub fn set_adjacency(&mut self, gpu: &Gpu, adjacency: &CsrArrays) -> GpuResult<()> {
        if let Some(p) = &mut self.propagation {
            let n = self.n_users + self.n_items;
            p.adj = DeviceCsr::upload(
                gpu,
                n,
                &adjacency.row_ptr,
                &adjacency.col_idx,
                &adjacency.vals,
            )?;
        }
        Ok(())
    }

    /// Replaces θ with `params` (same shape); the graph stays.
    pub fn set_params(&mut self, gpu: &Gpu, params: &Params) -> GpuResult<()> {
        if params.n_users != self.n_users
            || params.n_items != self.n_items
            || params.dim != self.spec.dim
        {
            return Err(GpuError::Invalid("parameters of another shape".into()));
        }
        self.theta.values().write(gpu.queue(), &params.nodes())
    }

    /// Reads θ back.
    pub fn params(&self, gpu: &Gpu) -> GpuResult<Params> {
        let nodes = self.theta.download(gpu)?;
        Params::from_nodes(self.n_users, self.n_items, self.spec.dim, &nodes)
            .map_err(GpuError::Invalid)
    }

    /// Reads the final embeddings back (run [`DeviceModel::forward`] first).
    pub fn final_embeddings(&self, gpu: &Gpu) -> GpuResult<Vec<f32>> {
        self.embeddings().download(gpu)
    }
}

/// The final embeddings E of `params` in f16 storage, for serving: θ uploaded as f16 and,
/// for LightGCN, propagated over `adjacency` with f16 layers and f32 sums
/// ([`propagate_half`]). Only E stays on the device: θ and the layer scratch are freed.
pub fn final_embeddings_f16(
    gpu: &Gpu,
    spec: ModelSpec,
    params: &Params,
    adjacency: Option<&CsrArrays>,
) -> GpuResult<HalfTable> {
    if params.dim != spec.dim {
        return Err(GpuError::Invalid(format!(
            "parameters of size {} for a model of size {}",
            params.dim, spec.dim
        )));
    }
    let n = params.n_nodes();
    let theta = HalfTable::upload(gpu, n, spec.dim, &params.nodes(), "theta f16")?;
    match (spec.propagation_layers(), adjacency) {
        (0, _) => Ok(theta),
        (_, None) => Err(GpuError::Invalid(
            "LightGCN needs the propagation graph".into(),
        )),
        (_, Some(a)) => {
            let adj = DeviceCsr::upload(gpu, n, &a.row_ptr, &a.col_idx, &a.vals)?;
            let scratch = HalfPropagationScratch::new(gpu, n, spec.dim)?;
            let emb = HalfTable::zeros(gpu, n, spec.dim, "embeddings f16")?;
            let weights = spec.layer_weights();
            let plan = propagate_half(gpu, &adj, &weights, &theta, &emb, &scratch)?;
            gpu.run("f16 forward", |pass| plan.record(pass))?;
            drop(plan);
            Ok(emb)
        }
    }
}
