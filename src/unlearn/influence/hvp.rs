//! The Hessian-vector product operator, restricted to the kept nodes P and computed on the
//! subgraph the product reaches, so its cost follows the request's neighbourhood.
//!
//! For a direction v on P (docs/ARCHITECTURE.md, "The Hessian"): W = Σ_k a_k Â^k v; for each row r = (u, i),
//! c_r = ℓ''_r (⟨E_i, W_u⟩ + ⟨E_u, W_i⟩); R_u = Σ c_r E_i (+ ℓ'_r W_i for the full Hessian),
//! R_i likewise; Hv = Σ_k a_k Â^k R + λv, read on P. Gauss–Newton drops the ℓ′ terms
//! (positive semi-definite); the surrogate treats the final embeddings as free parameters
//! (the authors' MF-style Hessian for LightGCN: no propagation).
//!
//! Locality: W vanishes beyond K hops of P ("near"), so only rows with an endpoint near P
//! contribute, and (Â^k R) on P only needs R near P. The operator therefore works on the
//! local node set S = near ∪ endpoints of those rows, with the induced sub-matrix of the
//! *global* Â (global degrees), which reproduces the whole-graph product on P exactly.

use serde::{Deserialize, Serialize};

use crate::data::Interactions;
use crate::gpu::{Gpu, GpuBuffer, GpuResult};
use crate::graph::{Csr, csr_arrays, induced_subgraph, k_hop_nodes};
use crate::kernels::blas::{Scalar, axpby};
use crate::kernels::block::{BlockTerms, DeviceBlocks, NO_NODE, block_gram};
use crate::kernels::hvp::{RowLoss, row_coef};
use crate::kernels::pair_loss::{
    BPR_X, D2, DevicePairs, DeviceTriples, RECORD, score_bce, score_bpr,
};
use crate::kernels::propagate::{PropagationScratch, propagate};
use crate::kernels::spmm::{DeviceCsr, DeviceRowIndex, RowValues, gather, spmm};
use crate::kernels::{DeviceTable, Plan, TableView};
use crate::model::objective::{GradientLayout, node_index};
use crate::model::{LossKind, ModelSpec};

use crate::solve::LinearOperator;

/// Which second-order model of the loss.
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HessianKind {
    /// J^T diag(ℓ'') J through propagation: positive semi-definite (the default).
    GaussNewton,
    /// The exact Hessian through propagation (indefinite at an early-stopped model).
    Full,
    /// The authors' MF-style Hessian at the final embeddings, ignoring propagation.
    Surrogate,
}

/// What the Hessian is taken of: the model's loss over `rows` (BCE; or BPR, with one fixed
/// negative per row), propagated over `adjacency`, at final embeddings `emb` (users then
/// items), plus λ‖θ‖²/2 in sum units.
pub struct HessianInputs<'a> {
    pub spec: ModelSpec,
    pub n_users: u32,
    pub n_items: u32,
    /// Final embeddings E = Σ_k a_k Â^k θ on the device.
    pub emb: TableView<'a>,
    /// The normalised adjacency (LightGCN); `None` for MF.
    pub adjacency: Option<&'a Csr<f32>>,
    /// The objective's rows (dense user and item ids, labels; BPR: the positive rows).
    pub rows: &'a Interactions,
    /// BPR: each row's negative as an item **node** (`rhs::bpr_negatives`, the seed g used);
    /// empty for BCE.
    pub negatives: &'a [u32],
    /// λ in sum units.
    pub lambda: f32,
}

struct LocalGraph {
    adj: DeviceCsr,
    weights: Vec<f32>,
    scratch: PropagationScratch,
}

/// `v_P ↦ ((H + 0·I) v)_P` on the kept nodes (the solver adds its damping).
pub struct HvpOperator {
    kind: HessianKind,
    dim: u32,
    lambda: f32,
    kept: Vec<u32>,
    /// Each kept node's index in the local node set.
    kept_local: Vec<u32>,
    n_local: u32,
    /// Rows of the objective (BPR: triples) in the local problem.
    n_rows: usize,
    loss: RowLoss,
    graph: Option<LocalGraph>,
    e_local: DeviceTable,
    place: DeviceCsr,
    select: DeviceCsr,
    rows_u: GpuBuffer<u32>,
    rows_i: GpuBuffer<u32>,
    /// The same row endpoints on the host (the preconditioner's blocks read them; keeping
    /// them saves two read-backs a request).
    host_u: Vec<u32>,
    host_i: Vec<u32>,
    records: GpuBuffer<f32>,
    coef: GpuBuffer<f32>,
    index: DeviceRowIndex,
    v: DeviceTable,
    w: DeviceTable,
    r: DeviceTable,
    tmp: DeviceTable,
    hv: DeviceTable,
}

/// The nodes `v ↦ (Hv)_P` reads on (P = `kept`, ascending): P itself without propagation
/// (MF, or the surrogate Hessian), else every node within K hops of P; with the graph the
/// product propagates over (`None` without propagation). Only rows with an endpoint in this
/// set contribute, so a caller may hand the operator just those rows.
pub fn reach<'a>(
    spec: ModelSpec,
    kind: HessianKind,
    adjacency: Option<&'a Csr<f32>>,
    kept: &[u32],
) -> crate::Result<(Option<&'a Csr<f32>>, Vec<u32>)> {
    let layers = match kind {
        HessianKind::Surrogate => 0,
        _ => spec.propagation_layers(),
    };
    match (layers, adjacency) {
        (0, _) => Ok((None, kept.to_vec())),
        (_, Some(a)) => Ok((Some(a), k_hop_nodes(a, kept, layers as usize)?)),
        (_, None) => Err(crate::Error::Invalid(
            "a propagated Hessian needs the graph".into(),
        )),
    }
}

/// A CSR of ones selecting, for each of `rows` targets, the column `cols[t]` (or nothing).
fn selection(gpu: &Gpu, n_cols: u32, picks: &[Option<u32>]) -> GpuResult<DeviceCsr> {
    let mut ptr = vec![0u32];
    let mut cols = Vec::new();
    for p in picks {
        if let Some(c) = p {
            cols.push(*c);
        }
        ptr.push(cols.len() as u32);
    }
    let vals = vec![1.0f32; cols.len()];
    DeviceCsr::upload(gpu, n_cols, &ptr, &cols, &vals)
}

impl HvpOperator {
    /// Builds the operator on the kept nodes `kept` (global node ids, any order).
    pub fn new(
        gpu: &Gpu,
        inputs: &HessianInputs<'_>,
        kind: HessianKind,
        kept: &[u32],
    ) -> crate::Result<Self> {
        let n = inputs.n_users + inputs.n_items;
        let dim = inputs.spec.dim;
        if inputs.emb.rows() != n || inputs.emb.dim() != dim {
            return Err(crate::Error::Invalid(format!(
                "embeddings of {} x {} for {n} nodes of size {dim}",
                inputs.emb.rows(),
                inputs.emb.dim()
            )));
        }
        let mut kept = kept.to_vec();
        kept.sort_unstable();
        kept.dedup();
        if kept.last().is_some_and(|&k| k >= n) {
            return Err(crate::Error::Invalid(format!("kept node outside 0..{n}")));
        }
        let (adjacency, near) = reach(inputs.spec, kind, inputs.adjacency, &kept)?;
        let is_near = crate::data::id_mask(n as usize, &near);
        let nu = inputs.n_users;
        let loss = match inputs.spec.loss {
            LossKind::Bce => RowLoss::Bce,
            LossKind::Bpr => RowLoss::Bpr,
        };
        let expected_negatives = match loss {
            RowLoss::Bce => 0,
            RowLoss::Bpr => inputs.rows.len(),
        };
        if inputs.negatives.len() != expected_negatives {
            return Err(crate::Error::Invalid(format!(
                "{} negatives for {} rows of a {:?} objective",
                inputs.negatives.len(),
                inputs.rows.len(),
                inputs.spec.loss
            )));
        }
        if let Some(&j) = inputs.negatives.iter().find(|&&j| j < nu || j >= n) {
            return Err(crate::Error::Invalid(format!(
                "negative node {j} is not an item node"
            )));
        }
        // A row's nodes: (u, i) or (u, i, j).
        let row_nodes = |r: usize| {
            let j = inputs.negatives.get(r).copied();
            (inputs.rows.users[r], nu + inputs.rows.items[r], j)
        };
        let rows: Vec<u32> = (0..inputs.rows.len() as u32)
            .filter(|&r| {
                let (u, i, j) = row_nodes(r as usize);
                is_near[u as usize] || is_near[i as usize] || j.is_some_and(|j| is_near[j as usize])
            })
            .collect();
        let mut local: Vec<u32> = near.clone();
        for &r in &rows {
            let (u, i, j) = row_nodes(r as usize);
            local.extend([u, i]);
            local.extend(j);
        }
        local.sort_unstable();
        local.dedup();
        let n_local = local.len() as u32;
        let at = |g: u32| local.binary_search(&g).map(|p| p as u32);

        let graph = match adjacency {
            None => None,
            Some(a) => {
                let sub = induced_subgraph(a, &local)?;
                let arrays = csr_arrays(&sub.mat);
                Some(LocalGraph {
                    adj: DeviceCsr::upload(
                        gpu,
                        n_local,
                        &arrays.row_ptr,
                        &arrays.col_idx,
                        &arrays.vals,
                    )?,
                    weights: inputs.spec.layer_weights(),
                    scratch: PropagationScratch::new(gpu, n_local, dim)?,
                })
            }
        };
        // Local E: rows of the global E, copied on the device.
        let pick_local: Vec<Option<u32>> = local.iter().map(|&g| Some(g)).collect();
        let gather_local = selection(gpu, n, &pick_local)?;
        let e_local = DeviceTable::zeros(gpu, n_local, dim, "local E")?;
        let copy = spmm(gpu, &gather_local, inputs.emb, &e_local)?;
        gpu.run("local embeddings", |pass| {
            crate::gpu::Record::record(&copy, pass)
        })?;
        drop(copy);

        // Pseudo-rows (u, i) — for BPR, (u, i) and (u, j) per triple — in local indices.
        let mut u_local = Vec::with_capacity(2 * rows.len());
        let mut i_local = Vec::with_capacity(2 * rows.len());
        let mut labels = Vec::with_capacity(rows.len());
        let mut negatives = Vec::new();
        for &r in &rows {
            let (u, i, j) = row_nodes(r as usize);
            let u = at(u).map_err(|_| internal("row user"))?;
            let i = at(i).map_err(|_| internal("row item"))?;
            u_local.push(u);
            i_local.push(i);
            labels.push(inputs.rows.labels[r as usize] as f32);
            if let Some(j) = j {
                let j = at(j).map_err(|_| internal("row negative"))?;
                negatives.push(j);
                u_local.push(u);
                i_local.push(j);
            }
        }
        let entries: Vec<(u32, u32, u32)> = u_local
            .iter()
            .zip(&i_local)
            .enumerate()
            .flat_map(|(k, (&u, &i))| [(u, i, k as u32), (i, u, k as u32)])
            .collect();
        let ix = node_index(n_local, &entries, GradientLayout::Dense);
        let records = gpu.zeros::<f32>(rows.len().max(1) * RECORD as usize, "hvp records")?;
        let score = match loss {
            RowLoss::Bce => {
                let pairs = DevicePairs::upload(gpu, n_local, &u_local, &i_local, &labels)?;
                let plan = score_bce(gpu, &pairs, &e_local, &records)?;
                gpu.run("hvp row derivatives", |pass| {
                    crate::gpu::Record::record(&plan, pass)
                })
            }
            RowLoss::Bpr => {
                let positives: Vec<u32> = i_local.iter().step_by(2).copied().collect();
                let users: Vec<u32> = u_local.iter().step_by(2).copied().collect();
                let triples = DeviceTriples::upload(gpu, n_local, &users, &positives, &negatives)?;
                let plan = score_bpr(gpu, &triples, &e_local, &records)?;
                gpu.run("hvp triple derivatives", |pass| {
                    crate::gpu::Record::record(&plan, pass)
                })
            }
        };
        score?;

        // Kept nodes are near, hence local.
        let kept_local: Vec<u32> = kept
            .iter()
            .map(|&g| at(g).map_err(|_| internal("kept node")))
            .collect::<crate::Result<_>>()?;
        let mut placed: Vec<Option<u32>> = vec![None; n_local as usize];
        for (p, &l) in kept_local.iter().enumerate() {
            placed[l as usize] = Some(p as u32);
        }
        let picks: Vec<Option<u32>> = kept_local.iter().map(|&l| Some(l)).collect();
        let table = |label: &str| DeviceTable::zeros(gpu, n_local, dim, label);
        let n_pairs = u_local.len();
        Ok(HvpOperator {
            kind,
            dim,
            lambda: inputs.lambda,
            n_local,
            n_rows: rows.len(),
            loss,
            graph,
            place: selection(gpu, kept.len() as u32, &placed)?,
            select: selection(gpu, n_local, &picks)?,
            kept,
            kept_local,
            e_local,
            rows_u: gpu.upload(&u_local, "hvp rows u")?,
            rows_i: gpu.upload(&i_local, "hvp rows i")?,
            host_u: u_local,
            host_i: i_local,
            records,
            coef: gpu.zeros(2 * n_pairs.max(1), "hvp coefficients")?,
            index: DeviceRowIndex::upload(gpu, n_local, &ix.ptr, &ix.other, &ix.slot)?,
            v: table("hvp v")?,
            w: table("hvp W")?,
            r: table("hvp R")?,
            tmp: table("hvp tmp")?,
            hv: table("hvp Hv")?,
        })
    }

    /// The kept nodes (global ids, ascending), in the order of the operator's vectors.
    pub fn kept(&self) -> &[u32] {
        &self.kept
    }

    /// Nodes of the local problem.
    pub fn local_nodes(&self) -> u32 {
        self.n_local
    }

    /// Rows of the local problem.
    pub fn local_rows(&self) -> usize {
        self.n_rows
    }

    /// The embedding size d (each kept node holds d entries of the vectors).
    pub fn dim(&self) -> u32 {
        self.dim
    }

    pub fn kind(&self) -> HessianKind {
        self.kind
    }

    /// Each local node's position among the kept nodes, [`NOT_KEPT`] for the others.
    fn kept_positions(&self) -> Vec<u32> {
        let mut slot = vec![NOT_KEPT; self.n_local as usize];
        for (p, &l) in self.kept_local.iter().enumerate() {
            slot[l as usize] = p as u32;
        }
        slot
    }

    /// The d×d diagonal blocks of the kept nodes on the device (block-Jacobi's), built there
    /// from the operator's rows ([`block_gram`]): `λI + Σ_{rows r of v} ℓ''_r o_r o_rᵀ` as
    /// in [`HvpOperator::diagonal_blocks`], the host reference. Also the mean of their
    /// diagonals (the `auto` damping's curvature), read back as one number: the request
    /// moves neither the rows' records nor E to the host.
    pub fn device_blocks(&self, gpu: &Gpu) -> GpuResult<DiagonalBlocks> {
        let n_kept = self.kept.len();
        let slot = self.kept_positions();
        // Each term as (kept position, a, its index in `meta`), with meta = (record, b).
        let mut entries: Vec<(u32, u32, u32)> = Vec::with_capacity(2 * self.host_u.len());
        let mut meta: Vec<[u32; 2]> = Vec::with_capacity(2 * self.host_u.len());
        let mut add = |node: u32, record: u32, a: u32, b: u32| {
            let p = slot[node as usize];
            if p != NOT_KEPT {
                entries.push((p, a, meta.len() as u32));
                meta.push([record, b]);
            }
        };
        match self.loss {
            RowLoss::Bce => {
                for (r, (&u, &i)) in self.host_u.iter().zip(&self.host_i).enumerate() {
                    add(u, r as u32, i, NO_NODE);
                    add(i, r as u32, u, NO_NODE);
                }
            }
            RowLoss::Bpr => {
                for t in 0..self.host_u.len() / 2 {
                    let (u, i, j) = (
                        self.host_u[2 * t],
                        self.host_i[2 * t],
                        self.host_i[2 * t + 1],
                    );
                    add(u, t as u32, i, j);
                    add(i, t as u32, u, NO_NODE);
                    add(j, t as u32, u, NO_NODE);
                }
            }
        }
        // Grouped by block, each block's terms in row order (the gradients' own index).
        let ix = node_index(n_kept as u32, &entries, GradientLayout::Dense);
        let terms: Vec<[u32; 3]> = ix
            .other
            .iter()
            .zip(&ix.slot)
            .map(|(&a, &m)| {
                let [record, b] = meta[m as usize];
                [record, a, b]
            })
            .collect();
        let ptr = ix.ptr;
        let terms = BlockTerms::upload(gpu, &ptr, &terms, self.n_local, self.n_rows as u32)?;
        let blocks = DeviceBlocks::zeros(gpu, n_kept as u32, self.dim, "block-Jacobi blocks")?;
        let traces = gpu.zeros::<f32>(n_kept, "block traces")?;
        let plan = block_gram(
            gpu,
            &terms,
            &self.records,
            self.loss,
            self.lambda,
            self.e_local.view(),
            &blocks,
            &traces,
        )?;
        gpu.run("block-Jacobi blocks", |pass| {
            crate::gpu::Record::record(&plan, pass)
        })?;
        drop(plan);
        let trace = if n_kept == 0 {
            0.0
        } else {
            f64::from(crate::kernels::reduce::sum_value(gpu, &traces)?)
        };
        Ok(DiagonalBlocks {
            mean_diagonal: trace / (n_kept.max(1) as f64 * self.dim as f64),
            blocks,
        })
    }

    /// The d×d diagonal blocks of the kept nodes, row-major, in f64:
    /// `λI + Σ_{rows r of v} ℓ''_r o_r o_rᵀ` (o the row's other endpoint's E; for a BPR
    /// triple's user, E_i − E_j). Exact for MF's Gauss–Newton matrix; for LightGCN it drops
    /// the propagation (a preconditioner). The host reference of
    /// [`HvpOperator::device_blocks`]; it reads E and the records back.
    pub fn diagonal_blocks(&self, gpu: &Gpu) -> GpuResult<Vec<f64>> {
        let d = self.dim as usize;
        let data = self.row_data(gpu)?;
        let per = d * d;
        // Accumulated in f32 (a preconditioner needs no more; it halves the work per lane),
        // returned in f64 for the factorisation.
        let mut blocks = vec![0.0f32; self.kept.len() * per];
        // Kept nodes split into contiguous ranges, one thread each: a thread adds the rows'
        // outer products to the blocks of its own nodes only.
        let threads = std::thread::available_parallelism()
            .map_or(1, |t| t.get())
            .clamp(1, 8);
        let per_thread = self.kept.len().div_ceil(threads).max(1);
        let lambda = self.lambda;
        let data = &data;
        std::thread::scope(|scope| {
            for (t, chunk) in blocks.chunks_mut(per_thread * per).enumerate() {
                let first = t * per_thread;
                scope.spawn(move || {
                    let mine = first..first + chunk.len() / per;
                    for block in chunk.chunks_mut(per) {
                        for a in 0..d {
                            block[a * d + a] = lambda;
                        }
                    }
                    data.for_each_term(d, |p, h, eo| {
                        if !mine.contains(&p) {
                            return;
                        }
                        let block = &mut chunk[(p - first) * per..(p - first + 1) * per];
                        // Upper triangle only (the blocks are symmetric): half the work.
                        for a in 0..d {
                            let ha = h * eo[a];
                            let row = &mut block[a * d + a..(a + 1) * d];
                            for (x, &eb) in row.iter_mut().zip(&eo[a..]) {
                                *x += ha * eb;
                            }
                        }
                    });
                    for block in chunk.chunks_mut(per) {
                        for a in 0..d {
                            for b in 0..a {
                                block[a * d + b] = block[b * d + a];
                            }
                        }
                    }
                });
            }
        });
        Ok(blocks.into_iter().map(f64::from).collect())
    }

    /// The diagonal of [`HvpOperator::diagonal_blocks`] (a Jacobi preconditioner), without
    /// forming the blocks: `λ + Σ_{rows r of v} ℓ''_r o_r²`.
    pub fn diagonal(&self, gpu: &Gpu) -> GpuResult<Vec<f32>> {
        let d = self.dim as usize;
        let data = self.row_data(gpu)?;
        let mut diag = vec![self.lambda; self.kept.len() * d];
        data.for_each_term(d, |p, h, eo| {
            for (x, &eb) in diag[p * d..(p + 1) * d].iter_mut().zip(eo) {
                *x += h * eb * eb;
            }
        });
        Ok(diag)
    }

    /// What the preconditioners are built from, read back once: local E, the row records,
    /// the rows' endpoints, and each local node's position among the kept ones.
    fn row_data(&self, gpu: &Gpu) -> GpuResult<RowData<'_>> {
        let slot = self.kept_positions();
        let mut tables = gpu.download_all(&[
            (self.e_local.values(), self.e_local.values().len()),
            (&self.records, self.n_rows * RECORD as usize),
        ])?;
        let records = tables.pop().unwrap_or_default();
        let e = tables.pop().unwrap_or_default();
        Ok(RowData {
            loss: self.loss,
            e,
            records,
            u: &self.host_u,
            i: &self.host_i,
            slot,
        })
    }
}

/// A local node that is not kept ([`HvpOperator::kept_positions`]).
const NOT_KEPT: u32 = u32::MAX;

/// Block-Jacobi's blocks on the device, and the mean of their diagonals.
pub struct DiagonalBlocks {
    pub blocks: DeviceBlocks,
    pub mean_diagonal: f64,
}

/// Host copies of the local problem (see [`HvpOperator::row_data`]).
struct RowData<'a> {
    loss: RowLoss,
    e: Vec<f32>,
    records: Vec<f32>,
    u: &'a [u32],
    i: &'a [u32],
    /// Local node → kept position, [`NOT_KEPT`] when not kept.
    slot: Vec<u32>,
}

impl RowData<'_> {
    /// Calls `f(kept position, h, o)` for every Gauss–Newton term `h o oᵀ` a row adds to the
    /// diagonal block of a kept node. BCE row (u, i): (u, ℓ″, E_i) and (i, ℓ″, E_u). BPR
    /// triple (u, i, j): (u, ℓ″, E_i − E_j), (i, ℓ″, E_u), (j, ℓ″, E_u).
    fn for_each_term(&self, d: usize, mut f: impl FnMut(usize, f32, &[f32])) {
        let e = |n: u32| &self.e[n as usize * d..(n as usize + 1) * d];
        let slot = |n: u32| {
            let p = self.slot[n as usize];
            (p != NOT_KEPT).then_some(p as usize)
        };
        match self.loss {
            RowLoss::Bce => {
                for r in 0..self.u.len() {
                    let h = self.records[r * RECORD as usize + D2 as usize];
                    for (node, other) in [(self.u[r], self.i[r]), (self.i[r], self.u[r])] {
                        if let Some(p) = slot(node) {
                            f(p, h, e(other));
                        }
                    }
                }
            }
            RowLoss::Bpr => {
                let sigmoid = |x: f32| 1.0 / (1.0 + (-x).exp());
                let mut diff = vec![0.0f32; d];
                for t in 0..self.u.len() / 2 {
                    let (u, i, j) = (self.u[2 * t], self.i[2 * t], self.i[2 * t + 1]);
                    let x = self.records[t * RECORD as usize + BPR_X as usize];
                    let h = sigmoid(x) * sigmoid(-x);
                    if let Some(p) = slot(u) {
                        diff.iter_mut()
                            .zip(e(i).iter().zip(e(j)))
                            .for_each(|(o, (a, b))| *o = a - b);
                        f(p, h, &diff);
                    }
                    for node in [i, j] {
                        if let Some(p) = slot(node) {
                            f(p, h, e(u));
                        }
                    }
                }
            }
        }
    }
}

fn internal(what: &str) -> crate::Error {
    crate::Error::Invalid(format!("internal: {what} outside the local node set"))
}

impl LinearOperator for HvpOperator {
    fn len(&self) -> usize {
        self.kept.len() * self.dim as usize
    }

    fn apply<'a>(
        &'a self,
        gpu: &Gpu,
        x: &'a GpuBuffer<f32>,
        y: &'a GpuBuffer<f32>,
    ) -> GpuResult<Plan<'a>> {
        let n_kept = self.kept.len() as u32;
        let x = TableView::new(x, n_kept, self.dim)?;
        let y = TableView::new(y, n_kept, self.dim)?;
        let mut plan = spmm(gpu, &self.place, x, &self.v)?;
        let w: &DeviceTable = match &self.graph {
            Some(g) => {
                plan = plan.then(propagate(
                    gpu, &g.adj, &g.weights, &self.v, &self.w, &g.scratch,
                )?);
                &self.w
            }
            None => &self.v,
        };
        plan = plan.then(row_coef(
            gpu,
            self.loss,
            &self.rows_u,
            &self.rows_i,
            &self.records,
            self.e_local.view(),
            w.view(),
            &self.coef,
        )?);
        let c = |offset| RowValues {
            buf: &self.coef,
            stride: 2,
            offset,
        };
        plan = plan.then(gather(gpu, &self.index, c(0), &self.e_local, &self.r, 0)?);
        if self.kind == HessianKind::Full {
            plan = plan
                .then(gather(gpu, &self.index, c(1), w, &self.tmp, 0)?)
                .then(axpby(
                    gpu,
                    Scalar::Host(1.0),
                    self.tmp.values(),
                    Scalar::Host(1.0),
                    self.r.values(),
                    None,
                )?);
        }
        let hv: &DeviceTable = match &self.graph {
            Some(g) => {
                plan = plan.then(propagate(
                    gpu, &g.adj, &g.weights, &self.r, &self.hv, &g.scratch,
                )?);
                &self.hv
            }
            None => &self.r,
        };
        plan = plan
            .then(axpby(
                gpu,
                Scalar::Host(self.lambda),
                self.v.values(),
                Scalar::Host(1.0),
                hv.values(),
                None,
            )?)
            .then(spmm(gpu, &self.select, hv, y)?);
        Ok(plan)
    }
}
