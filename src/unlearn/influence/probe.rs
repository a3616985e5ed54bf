//! Scoring a candidate update without touching θ: a scratch copy of the model.

use crate::data::Interactions;
use crate::error::{Error, Result};
use crate::eval::{RowScorer, auc};
use crate::gpu::{Gpu, Record};
use crate::kernels::DeviceTable;
use crate::kernels::blas::{Scalar, axpby};
use crate::model::DeviceModel;

use super::RequestContext;
use super::prune::NodeSubset;
use crate::unlearn::backup::{copy_rows, union_sorted};

/// Scores a candidate update: θ + x (x on the kept nodes) on a scratch copy of the model,
/// propagated over the new graph.
pub(crate) struct Probe<'a> {
    gpu: &'a Gpu,
    ctx: &'a RequestContext<'a>,
    scratch: DeviceModel,
    /// The validation rows with their labels, uploaded once for every probe (`None` for a
    /// probe that scores only rows its caller prepared).
    valid: Option<(RowScorer, &'a [u8])>,
    /// The rows the last [`Probe::set_from`] changed (ascending): everywhere else the
    /// scratch θ is θ̂, so the next one restores only these, not all of θ (on Gowalla a full
    /// copy was ~20 ms of lavapipe time per scoring pass).
    changed: Option<Vec<u32>>,
}

impl<'a> Probe<'a> {
    pub(crate) fn new(
        gpu: &'a Gpu,
        ctx: &'a RequestContext<'a>,
        valid: &'a Interactions,
    ) -> Result<Self> {
        let mut probe = Self::scoring_only(gpu, ctx)?;
        let n_nodes = ctx.n_users + ctx.n_items;
        probe.valid = Some((
            RowScorer::new(gpu, ctx.n_users, n_nodes, valid)?,
            &valid.labels,
        ));
        Ok(probe)
    }

    /// A probe without validation rows: [`Probe::current_valid_auc`] is an error.
    pub(crate) fn scoring_only(gpu: &'a Gpu, ctx: &'a RequestContext<'a>) -> Result<Self> {
        let arrays = ctx.new_adjacency.map(crate::graph::csr_arrays);
        Ok(Probe {
            gpu,
            ctx,
            scratch: ctx.model.copy_with_adjacency(gpu, arrays.as_ref())?,
            valid: None,
            changed: Some(Vec::new()),
        })
    }

    /// Sets the scratch model to θ̂ + x (θ̂ copied on the device, x added on the kept rows)
    /// and recomputes its final embeddings.
    pub(crate) fn set(&mut self, kept: &NodeSubset, x: &DeviceTable) -> Result<&DeviceModel> {
        self.set_scaled(kept, x, 1.0, &[])
    }

    /// Sets the scratch model to θ̂ + t·x with the rows of `zeroed` set to zero — exactly the
    /// model a request leaves with step length t — and recomputes its final embeddings.
    pub(crate) fn set_scaled(
        &mut self,
        kept: &NodeSubset,
        x: &DeviceTable,
        t: f32,
        zeroed: &[u32],
    ) -> Result<&DeviceModel> {
        self.set_from(kept, None, x, t, zeroed)
    }

    /// [`Probe::set_scaled`] from θ̂ + `base` (on the kept rows, as x): θ̂ + base + t·x, the
    /// model a step continued from an earlier one leaves.
    pub(crate) fn set_from(
        &mut self,
        kept: &NodeSubset,
        base: Option<&DeviceTable>,
        x: &DeviceTable,
        t: f32,
        zeroed: &[u32],
    ) -> Result<&DeviceModel> {
        let gpu = self.gpu;
        // θ̂ back where the last call changed it (all of θ if that is unknown), then the
        // same additions as always: the result is bit for bit what a full copy gives.
        match self.changed.take() {
            Some(rows) => copy_rows(gpu, self.ctx.model.theta(), self.scratch.theta(), &rows)?,
            None => moved_copy(gpu, self.ctx.model, kept, None, &self.scratch)?,
        }
        if let Some(delta) = base {
            kept.add_into(gpu, delta, self.scratch.theta())?;
        }
        self.changed = Some(union_sorted(kept.nodes(), zeroed));
        if t == 1.0 {
            kept.add_into(gpu, x, self.scratch.theta())?;
        } else if t != 0.0 {
            let scaled = DeviceTable::zeros(gpu, x.rows(), x.dim(), "t·x")?;
            let plan = axpby(
                gpu,
                Scalar::Host(t),
                x.values(),
                Scalar::Host(0.0),
                scaled.values(),
                None,
            )?;
            gpu.run("probe: t·x", |pass| plan.record(pass))?;
            drop(plan);
            kept.add_into(gpu, &scaled, self.scratch.theta())?;
        }
        let d = self.ctx.spec.dim as usize;
        let zeros = vec![0.0f32; d];
        for &v in zeroed {
            self.scratch
                .theta()
                .values()
                .write_at(gpu.queue(), v as usize * d, &zeros)?;
        }
        let forward = self.scratch.forward(gpu)?;
        gpu.run("probe", |pass| forward.record(pass))?;
        drop(forward);
        Ok(&self.scratch)
    }

    /// The final embeddings of the model last [`Probe::set`].
    pub(crate) fn embeddings(&self) -> &DeviceTable {
        self.scratch.embeddings()
    }

    /// AUC of rows prepared in `scorer` (with `labels`) under the model last [`Probe::set`].
    pub(crate) fn auc_of(&self, scorer: &RowScorer, labels: &[u8]) -> Result<f64> {
        let scores = scorer.scores(self.gpu, self.scratch.embeddings())?;
        auc(&scores, labels).ok_or_else(|| Error::Invalid("AUC over rows of one label only".into()))
    }

    /// Validation AUC of the model last [`Probe::set`].
    pub(crate) fn current_valid_auc(&self) -> Result<f64> {
        let (scorer, labels) = self
            .valid
            .as_ref()
            .ok_or_else(|| Error::Invalid("this probe holds no validation rows".into()))?;
        self.auc_of(scorer, labels)
    }

    /// The mean place of `scorer`'s pairs under the model last [`Probe::set`].
    pub(crate) fn mean_rank(&self, scorer: &crate::eval::RankScorer) -> Result<f64> {
        Ok(scorer.mean_rank(self.gpu, self.scratch.embeddings())?)
    }

    /// Validation AUC of θ̂ + x.
    pub(crate) fn valid_auc(&mut self, kept: &NodeSubset, x: &DeviceTable) -> Result<f64> {
        self.set(kept, x)?;
        self.current_valid_auc()
    }
}

/// Sets `scratch`'s θ to `origin`'s plus `delta` on the kept rows (θ̂ + Δ), its final
/// embeddings not yet recomputed.
pub(crate) fn moved_copy(
    gpu: &Gpu,
    origin: &DeviceModel,
    kept: &NodeSubset,
    delta: Option<&DeviceTable>,
    scratch: &DeviceModel,
) -> Result<()> {
    let reset = crate::kernels::blas::copy(gpu, origin.theta().values(), scratch.theta().values())?;
    gpu.run("θ̂ into a scratch model", |pass| reset.record(pass))?;
    drop(reset);
    if let Some(delta) = delta {
        kept.add_into(gpu, delta, scratch.theta())?;
    }
    Ok(())
}
