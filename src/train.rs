//! Training on the GPU: Adam over mini-batches shuffled per epoch, validation every epoch,
//! early stopping that keeps the best parameters.
//!
//! A step is recorded command-buffer work: forward propagation, scoring, ℓ′, the per-node
//! gather, back-propagation through Â, L2 and Adam. The host uploads each batch's rows and
//! index and reads back nothing inside an epoch except, every `loss_every` steps, one
//! batch's losses for the progress display.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::Interactions;
use crate::data::rng::Rng;
use crate::gpu::{Gpu, GpuError, GpuResult, Record};
use crate::graph::CsrArrays;
use crate::kernels::DeviceTable;
use crate::kernels::adam::{AdamConfig, AdamState, adam_rows_step, adam_step};
use crate::kernels::blas::copy;
use crate::model::objective::{
    DeviceBatch, GradientLayout, GradientWorkspace, gradient, touched_gradient,
};
use crate::model::{DeviceModel, LossKind, ModelSpec, Params};

/// The training recipe. Defaults are those of the IFRU authors' MF runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    pub adam: AdamConfig,
    /// L2 strength r per row: λ = r·n in sum units, r in the mean units a batch uses.
    pub reg: f64,
    /// Standard deviation of the initial parameters.
    pub init_std: f32,
    /// Rows per batch; 0 trains full-batch.
    pub batch: usize,
    pub max_epochs: usize,
    /// Epochs without a better validation score before stopping.
    pub patience: usize,
    pub seed: u64,
    /// Read one batch's loss back every this many steps (for progress), 0 never.
    pub loss_every: usize,
    /// Sparse (lazy) Adam: each step updates only the rows its batch touches (MF only).
    pub sparse_adam: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            adam: AdamConfig::default(),
            reg: 0.0,
            init_std: 1e-3,
            batch: 2048,
            max_epochs: 1000,
            patience: 10,
            seed: 2023,
            loss_every: 20,
            sparse_adam: false,
        }
    }
}

/// What a model trains on: the ids' ranges, the rows, and (LightGCN) Â of their positives.
pub struct TrainData<'a> {
    pub n_users: u32,
    pub n_items: u32,
    pub rows: &'a Interactions,
    pub adjacency: Option<&'a CsrArrays>,
}

/// Scores a model on held-out data after each epoch (higher is better).
pub trait Validator {
    /// Called with the model's final embeddings up to date.
    fn validate(&mut self, gpu: &Gpu, model: &DeviceModel) -> GpuResult<f64>;
}

impl<F: FnMut(&Gpu, &DeviceModel) -> GpuResult<f64>> Validator for F {
    fn validate(&mut self, gpu: &Gpu, model: &DeviceModel) -> GpuResult<f64> {
        self(gpu, model)
    }
}

/// A validator that prefers the latest epoch: training runs its epochs and keeps the last
/// parameters (fine-tuning for a fixed budget needs no validation passes).
pub struct LastEpoch(pub usize);

impl Validator for LastEpoch {
    fn validate(&mut self, _: &Gpu, _: &DeviceModel) -> GpuResult<f64> {
        self.0 += 1;
        Ok(self.0 as f64)
    }
}

/// One epoch's figures.
#[derive(Debug, Clone, Serialize)]
pub struct EpochLog {
    pub epoch: usize,
    /// Mean loss per row over the batches whose loss was read (NaN if none).
    pub loss: f64,
    pub valid: f64,
    pub train_seconds: f64,
    pub valid_seconds: f64,
}

/// Progress of a training run, for display.
#[derive(Debug, Clone)]
pub enum Progress {
    Step {
        epoch: usize,
        step: usize,
        steps: usize,
        loss: f64,
    },
    Epoch(EpochLog),
}

/// The result: the best parameters and how the run went.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    pub params: Params,
    /// Epochs run.
    pub epochs: usize,
    /// Epoch (1-based) whose parameters were kept.
    pub best_epoch: usize,
    pub best_valid: f64,
    /// Training time, validation passes excluded, measured after the device finished.
    pub train_seconds: f64,
    pub valid_seconds: f64,
    pub history: Vec<EpochLog>,
}

/// Seeded N(0, std²) parameters (Irwin–Hall approximation, bitwise portable), each node's
/// row from its own random stream (so a node's initial value depends on its id only, not on
/// how many nodes come before it).
pub fn init_params(n_users: u32, n_items: u32, dim: u32, std: f32, seed: u64) -> Params {
    let nodes: Vec<u32> = (0..n_users + n_items).collect();
    Params::from_nodes(n_users, n_items, dim, &init_rows(&nodes, dim, std, seed))
        .expect("sizes agree by construction")
}

/// The initial rows of `nodes` (row-major), as [`init_params`] draws them.
fn init_rows(nodes: &[u32], dim: u32, std: f32, seed: u64) -> Vec<f32> {
    let base = Rng::derive(seed, 0x1417).next_u64();
    nodes
        .iter()
        .flat_map(|&v| {
            let mut rng = Rng::derive(base, u64::from(v));
            (0..dim).map(move |_| (rng.normal_approx() * std as f64) as f32)
        })
        .collect()
}

/// Items of each user, sorted, for negative sampling.
fn items_by_user(n_users: u32, rows: &Interactions) -> Vec<Vec<u32>> {
    let mut by_user = vec![Vec::new(); n_users as usize];
    for (&u, &i) in rows.users.iter().zip(&rows.items) {
        by_user[u as usize].push(i);
    }
    for items in &mut by_user {
        items.sort_unstable();
        items.dedup();
    }
    by_user
}

/// The rows of one epoch, in shuffled order, as node indices (and BPR negatives).
struct EpochRows {
    users: Vec<u32>,
    items: Vec<u32>,
    labels: Vec<f32>,
    negatives: Vec<u32>,
}

fn epoch_rows(
    data: &TrainData<'_>,
    loss: LossKind,
    by_user: &[Vec<u32>],
    seed: u64,
    epoch: usize,
) -> EpochRows {
    let rows = data.rows;
    let mut rng = Rng::derive(seed, 1 + epoch as u64);
    // BPR trains on positive rows only, each with a fresh negative per epoch.
    let mut order: Vec<u32> = (0..rows.len() as u32)
        .filter(|&r| loss == LossKind::Bce || rows.labels[r as usize] == 1)
        .collect();
    rng.shuffle(&mut order);
    let nu = data.n_users;
    let mut out = EpochRows {
        users: order.iter().map(|&r| rows.users[r as usize]).collect(),
        items: order.iter().map(|&r| nu + rows.items[r as usize]).collect(),
        labels: order
            .iter()
            .map(|&r| rows.labels[r as usize] as f32)
            .collect(),
        negatives: Vec::new(),
    };
    if loss == LossKind::Bpr {
        out.negatives = order
            .iter()
            .map(|&r| {
                let seen = &by_user[rows.users[r as usize] as usize];
                // Uniform over the user's unobserved items (rejection; a user who has seen
                // every item gets an arbitrary one, which contributes no useful signal).
                for _ in 0..100 {
                    let j = rng.below(data.n_items as u64) as u32;
                    if seen.binary_search(&j).is_err() {
                        return nu + j;
                    }
                }
                nu + rng.below(data.n_items as u64) as u32
            })
            .collect();
    }
    out
}

/// Trains `spec` on `data` from seeded initial parameters.
pub fn train(
    gpu: &Gpu,
    spec: ModelSpec,
    config: &TrainConfig,
    data: &TrainData<'_>,
    validator: &mut dyn Validator,
    progress: &mut dyn FnMut(Progress),
) -> GpuResult<TrainOutcome> {
    let init = init_params(
        data.n_users,
        data.n_items,
        spec.dim,
        config.init_std,
        config.seed,
    );
    train_from(gpu, spec, config, data, &init, validator, progress)
}

/// Trains `spec` on `data` starting from `init` (fine-tuning starts from a trained model).
pub fn train_from(
    gpu: &Gpu,
    spec: ModelSpec,
    config: &TrainConfig,
    data: &TrainData<'_>,
    init: &Params,
    validator: &mut dyn Validator,
    progress: &mut dyn FnMut(Progress),
) -> GpuResult<TrainOutcome> {
    if data.rows.is_empty() {
        return Err(GpuError::Invalid("no training rows".into()));
    }
    if config.sparse_adam && spec.propagation_layers() > 0 {
        return Err(GpuError::Invalid(
            "sparse Adam applies to MF: LightGCN's gradient reaches every node".into(),
        ));
    }
    let layout = match config.sparse_adam {
        true => GradientLayout::Touched { dim: spec.dim },
        false => GradientLayout::Dense,
    };
    let model = DeviceModel::upload(gpu, spec, init, data.adjacency)?;
    let n_nodes = model.n_nodes();
    let ws = GradientWorkspace::new(gpu, &model)?;
    let theta = model.theta().values();
    let adam = AdamState::new(gpu, theta.len())?;
    let step_plan = adam_step(gpu, config.adam, ws.grad().values(), theta, &adam)?;
    let best = DeviceTable::zeros(gpu, n_nodes, spec.dim, "best theta")?;
    let keep_best = copy(gpu, theta, best.values())?;
    let forward = model.forward(gpu)?;
    let by_user = match spec.loss {
        LossKind::Bpr => items_by_user(data.n_users, data.rows),
        LossKind::Bce => Vec::new(),
    };

    let mut history = Vec::new();
    let (mut best_valid, mut best_epoch) = (f64::NEG_INFINITY, 0);
    let (mut train_seconds, mut valid_seconds) = (0.0, 0.0);
    for epoch in 1..=config.max_epochs {
        let start = Instant::now();
        let rows = epoch_rows(data, spec.loss, &by_user, config.seed, epoch);
        let n = rows.users.len();
        let batch = if config.batch == 0 {
            n.max(1)
        } else {
            config.batch
        };
        let steps = n.div_ceil(batch);
        let (mut loss_sum, mut loss_rows) = (0.0, 0usize);
        for step in 0..steps {
            let range = step * batch..((step + 1) * batch).min(n);
            let b = range.len();
            let device_batch = match spec.loss {
                LossKind::Bce => DeviceBatch::bce(
                    gpu,
                    n_nodes,
                    layout,
                    &rows.users[range.clone()],
                    &rows.items[range.clone()],
                    &rows.labels[range],
                )?,
                LossKind::Bpr => DeviceBatch::bpr(
                    gpu,
                    n_nodes,
                    layout,
                    &rows.users[range.clone()],
                    &rows.items[range.clone()],
                    &rows.negatives[range],
                )?,
            };
            let (scale, reg) = (1.0 / b as f32, config.reg as f32);
            let mut encoder = gpu.encoder("train step");
            if config.sparse_adam {
                let (grad, rows, row_grad) = touched_gradient(gpu, &model, &device_batch)?;
                let theta = model.theta();
                let step =
                    adam_rows_step(gpu, config.adam, scale, reg, rows, row_grad, theta, &adam)?;
                let mut pass = encoder.begin_compute_pass(&Default::default());
                grad.record(&mut pass);
                step.record(&mut pass);
            } else {
                let grad = gradient(gpu, &model, &device_batch, &ws, scale, reg)?;
                let mut pass = encoder.begin_compute_pass(&Default::default());
                forward.record(&mut pass);
                grad.record(&mut pass);
                step_plan.record(&mut pass);
            }
            gpu.submit("train step", encoder)?;
            if config.loss_every > 0 && (step % config.loss_every == 0 || step + 1 == steps) {
                let l = device_batch.loss_sum(gpu)?;
                loss_sum += l;
                loss_rows += b;
                progress(Progress::Step {
                    epoch,
                    step: step + 1,
                    steps,
                    loss: l / b as f64,
                });
            }
        }
        gpu.wait("training epoch")?;
        let epoch_train = start.elapsed().as_secs_f64();
        train_seconds += epoch_train;

        let start = Instant::now();
        gpu.run("forward", |pass| forward.record(pass))?;
        let valid = validator.validate(gpu, &model)?;
        if !valid.is_finite() {
            return Err(GpuError::Invalid(format!(
                "validation score {valid} at epoch {epoch}: training diverged"
            )));
        }
        if valid > best_valid {
            best_valid = valid;
            best_epoch = epoch;
            gpu.run("keep best", |pass| keep_best.record(pass))?;
        }
        let epoch_valid = start.elapsed().as_secs_f64();
        valid_seconds += epoch_valid;
        let log = EpochLog {
            epoch,
            loss: if loss_rows > 0 {
                loss_sum / loss_rows as f64
            } else {
                f64::NAN
            },
            valid,
            train_seconds: epoch_train,
            valid_seconds: epoch_valid,
        };
        progress(Progress::Epoch(log.clone()));
        history.push(log);
        if epoch - best_epoch >= config.patience {
            break;
        }
    }
    let nodes = best.download(gpu)?;
    let params = Params::from_nodes(data.n_users, data.n_items, spec.dim, &nodes)
        .map_err(GpuError::Invalid)?;
    if !params.is_finite() {
        return Err(GpuError::Invalid(
            "training produced non-finite parameters".into(),
        ));
    }
    Ok(TrainOutcome {
        params,
        epochs: history.len(),
        best_epoch,
        best_valid,
        train_seconds,
        valid_seconds,
        history,
    })
}

#[cfg(test)]
mod tests {
    use super::{init_params, init_rows};

    #[test]
    fn init_rows_recompute_init_params() {
        let all = init_params(7, 5, 8, 0.1, 42);
        let nodes = [0u32, 3, 11];
        let rows = init_rows(&nodes, 8, 0.1, 42);
        let table = all.nodes();
        for (k, &v) in nodes.iter().enumerate() {
            assert_eq!(
                &rows[k * 8..(k + 1) * 8],
                &table[v as usize * 8..(v as usize + 1) * 8]
            );
        }
        assert_ne!(init_rows(&nodes, 8, 0.1, 43), rows, "the seed matters");
    }
}
