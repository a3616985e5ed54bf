//! Re-linearising the influence step at an updated θ: the next Newton step on the remaining
//! objective, for a request whose first step could not reach its target (docs/DAMPING.md,
//! "Newton continuation").
//!
//! The first step solves (H_PP + δI) x = g with g = ∇L(θ̂; D, Â) − ∇L'(θ̂; D∖D_r, Â') on P: one
//! damped Newton step from θ̂ towards a zero of
//!
//! ```text
//! F(θ) = ∇_P L'(θ; Â') − ∇_P L(θ̂; Â)          (F(θ̂) = −g)
//! ```
//!
//! Subtracting ∇L(θ̂) keeps the step honest for a model stopped before stationarity: it asks
//! for the change the removal makes, not for the rest of a training run the model never had.
//! One linear step is exact only while L' is quadratic along the way; where the sigmoid
//! saturates (a well-trained BPR model) it stops short of the retrain. At θ̂ + Δ
//!
//! ```text
//! −F(θ̂ + Δ) = g − [∇_P L'(θ̂ + Δ) − ∇_P L'(θ̂)]
//! ```
//!
//! is the next right-hand side; the operator (the Hessian at θ̂), its preconditioner and δ are
//! reused (a chord method: each step costs two gradient passes over the remaining rows that
//! reach P and one solve). Both gradients carry λθ, so the bracket holds λΔ too.

use crate::data::Interactions;
use crate::error::Result;
use crate::gpu::{Gpu, Record};
use crate::kernels::DeviceTable;
use crate::kernels::blas::{Scalar, axpby};
use crate::model::DeviceModel;
use crate::model::objective::{DeviceBatch, GradientWorkspace, gradient};

use super::RequestContext;
use super::prune::NodeSubset;
use super::rhs::node_rows;

/// The remaining objective's gradient on P at θ̂ and at updated parameters.
pub struct Relinearisation {
    /// The remaining rows with a node (user, item or BPR negative) within the operator's
    /// reach of P: the only rows whose gradient reaches P.
    batch: DeviceBatch,
    /// θ̂ + Δ with Â' (its θ rewritten per evaluation).
    scratch: DeviceModel,
    ws: GradientWorkspace,
    /// ∇_P L'(θ̂; Â') with λθ̂.
    at_origin: DeviceTable,
    lambda: f32,
    rows: usize,
}

impl Relinearisation {
    /// Gathers the rows and takes the gradient at θ̂. `near` is the operator's reach of P
    /// (nodes within the propagation's hops of P), `lambda` the operator's λ.
    pub fn new(
        gpu: &Gpu,
        ctx: &RequestContext<'_>,
        kept: &NodeSubset,
        near: &[u32],
        lambda: f32,
        negative_seed: u64,
    ) -> Result<Self> {
        let rows = remaining_rows_near(ctx, near, negative_seed)?;
        let n = ctx.n_users + ctx.n_items;
        let batch = rows.upload(gpu, n, ctx.spec.loss)?;
        let arrays = ctx.new_adjacency.map(crate::graph::csr_arrays);
        let scratch = ctx.model.copy_with_adjacency(gpu, arrays.as_ref())?;
        let ws = GradientWorkspace::new(gpu, &scratch)?;
        let at_origin = DeviceTable::zeros(gpu, kept.len() as u32, ctx.spec.dim, "∇L' at θ̂")?;
        let mut this = Relinearisation {
            batch,
            scratch,
            ws,
            at_origin,
            lambda,
            rows: rows.len(),
        };
        this.gradient_on_p(gpu, ctx, kept, None)?;
        let pick = kept.gather(gpu, this.ws.grad(), &this.at_origin)?;
        gpu.run("∇L' at θ̂ on P", |pass| pick.record(pass))?;
        Ok(this)
    }

    /// Rows the gradient passes read.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The right-hand side of the next step from θ̂ + Δ (Δ on P):
    /// g − [∇_P L'(θ̂ + Δ) − ∇_P L'(θ̂)].
    pub fn right_hand_side(
        &mut self,
        gpu: &Gpu,
        ctx: &RequestContext<'_>,
        kept: &NodeSubset,
        g: &DeviceTable,
        delta: &DeviceTable,
    ) -> Result<DeviceTable> {
        self.gradient_on_p(gpu, ctx, kept, Some(delta))?;
        let r = DeviceTable::zeros(gpu, kept.len() as u32, ctx.spec.dim, "next rhs")?;
        let pick = kept.gather(gpu, self.ws.grad(), &r)?;
        // r ← ∇_P L'(θ̂ + Δ); r ← ∇_P L'(θ̂) − r; r ← g + r.
        let plan = pick
            .then(axpby(
                gpu,
                Scalar::Host(1.0),
                self.at_origin.values(),
                Scalar::Host(-1.0),
                r.values(),
                None,
            )?)
            .then(axpby(
                gpu,
                Scalar::Host(1.0),
                g.values(),
                Scalar::Host(1.0),
                r.values(),
                None,
            )?);
        gpu.run("next right-hand side", |pass| plan.record(pass))?;
        Ok(r)
    }

    /// ∇L'(θ̂ + Δ; Â') with λθ into the workspace (Δ = 0 when `None`).
    fn gradient_on_p(
        &mut self,
        gpu: &Gpu,
        ctx: &RequestContext<'_>,
        kept: &NodeSubset,
        delta: Option<&DeviceTable>,
    ) -> Result<()> {
        super::probe::moved_copy(gpu, ctx.model, kept, delta, &self.scratch)?;
        let plan = self.scratch.forward(gpu)?.then(gradient(
            gpu,
            &self.scratch,
            &self.batch,
            &self.ws,
            1.0,
            self.lambda,
        )?);
        gpu.run("relinearise: ∇L'", |pass| plan.record(pass))?;
        Ok(())
    }
}

/// The remaining rows of the objective (BPR: positives with their negatives) with a node in
/// `near`: read through the caller's row indexes where it keeps them, else by a pass over
/// every row. Negatives drawn here (none given) are drawn for every remaining row first,
/// since a row reaches P through its negative too.
fn remaining_rows_near(
    ctx: &RequestContext<'_>,
    near: &[u32],
    negative_seed: u64,
) -> Result<super::rhs::NodeRows> {
    let rows: &Interactions = ctx.rows;
    if let Some(resident) = ctx.row_indexes() {
        // Through the caller's indexes: only these rows are read.
        let ids = super::rows_reaching(ctx.n_users, ctx.spec.loss, resident, true, near);
        return node_rows(
            ctx.n_users,
            ctx.n_items,
            rows,
            &ids,
            ctx.spec.loss,
            negative_seed,
            ctx.negatives,
        );
    }
    let is_near = crate::data::id_mask((ctx.n_users + ctx.n_items) as usize, near);
    let reaches = |v: u32| is_near.get(v as usize).copied().unwrap_or(false);
    let forgotten = crate::data::id_mask(rows.len(), ctx.forget);
    // Without drawn negatives a row's user and item decide already.
    let prefilter = ctx.spec.loss == crate::model::LossKind::Bce || ctx.negatives.is_some();
    let ids: Vec<u32> = (0..rows.len())
        .filter(|&r| {
            !forgotten[r]
                && !ctx.gone_before(r as u32)
                && (!prefilter
                    || reaches(rows.users[r])
                    || reaches(ctx.n_users + rows.items[r])
                    || ctx
                        .negatives
                        .is_some_and(|given| given.get(r).is_some_and(|&j| reaches(j))))
        })
        .map(|r| r as u32)
        .collect();
    let candidates = node_rows(
        ctx.n_users,
        ctx.n_items,
        rows,
        &ids,
        ctx.spec.loss,
        negative_seed,
        ctx.negatives,
    )?;
    Ok(candidates.retain(|t| candidates.touches(t, reaches)))
}
