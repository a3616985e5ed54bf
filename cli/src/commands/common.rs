//! Options and steps shared by several subcommands.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::Args;
use ifru::data::delimited::ValueColumn;
use ifru::data::split::{Shuffle, SplitArgs, make_split};
use ifru::data::{self, Dataset, Format, LoadOptions, Loaded};
use ifru::gpu::Gpu;
use ifru::kernels::adam::AdamConfig;
use ifru::model::store::{DataSource, split_dataset};
use ifru::model::{LossKind, ModelKind, ModelSpec};
use ifru::train::TrainConfig;
use ifru::unlearn::influence::OnCheckFail;
use ifru::unlearn::influence::hvp::HessianKind;
use ifru::unlearn::influence::{HessianAt, IfruOptions, Precond, PruneOptions, Pruning, Spillover};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::CliResult;
use crate::harness::bench::ModelLengthFit;

pub use crate::report::{ReportAdapter, UNLEARNING_REPORT_SCHEMA};

/// How to read and split raw data (ignored for folders that are already split).
#[derive(Args, Clone)]
pub struct RawDataOptions {
    /// Format of the data.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    /// Field separator of a delimited file (default: sniffed from the first line).
    #[arg(long)]
    pub delimiter: Option<String>,
    /// Whether a delimited file starts with a header (default: guessed).
    #[arg(long)]
    pub header: Option<bool>,
    /// What the third column of a delimited file holds.
    #[arg(long, value_enum, default_value_t = ValueColumn::Auto)]
    pub value: ValueColumn,
    /// k of the iterative k-core filter (1 or less: none).
    #[arg(long, default_value_t = 5)]
    pub kcore: usize,
    /// A row is positive when its rating is above this.
    #[arg(long, default_value_t = 3.0)]
    pub threshold: f64,
    /// A permutation file (one 0-based row index per line) instead of a seeded shuffle.
    #[arg(long)]
    pub permutation: Option<PathBuf>,
    /// Fraction of the training rows that become D_r, with flipped labels.
    #[arg(long, default_value_t = 0.02)]
    pub ratio: f64,
    /// LightGCN folders: the share of each user's `train.txt` rows held out for validation
    /// (0: none, e.g. for a model imported from code that trained on all of them).
    #[arg(long, default_value_t = ifru::data::lightgcn::DEFAULT_HOLDOUT_FRAC)]
    pub holdout: f64,
}

impl RawDataOptions {
    /// The split of `data` these options describe, shuffled by `seed` unless a permutation
    /// file is given (numpy's legacy shuffle: seed 1024 reproduces the IFRU files).
    pub fn split_args(&self, data: PathBuf, out: PathBuf, seed: Option<u64>) -> SplitArgs {
        let mut args = SplitArgs::new(data, out);
        args.format = self.format;
        args.delimited.delimiter = self.delimiter.clone();
        args.delimited.header = self.header;
        args.delimited.value = self.value;
        args.kcore = self.kcore;
        args.threshold = self.threshold;
        args.ratio = self.ratio;
        if let Some(p) = &self.permutation {
            args.shuffle = Shuffle::Permutation(p.clone());
        } else if let Some(seed) = seed {
            args.shuffle = Shuffle::Seed(seed);
        }
        args
    }
}

/// The absolute form of a path that must exist, with the path in the error.
pub fn existing(path: &Path) -> Result<PathBuf, String> {
    std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Loads training data: a split folder as it is, raw data split in memory by `raw`. Returns
/// the dataset and the record of where it came from.
pub fn load_training_data(
    data: &Path,
    raw: &RawDataOptions,
    split_seed: Option<u64>,
) -> Result<(Dataset, DataSource), Box<dyn std::error::Error>> {
    let path = existing(data)?;
    let args = raw.split_args(path.clone(), PathBuf::new(), split_seed);
    let format = match raw.format {
        Format::Auto => data::detect_format(&path)?,
        f => f,
    };
    if !(0.0..1.0).contains(&raw.holdout) {
        return Err(format!("--holdout {}: expected a share in [0, 1)", raw.holdout).into());
    }
    let opts = LoadOptions {
        delimited: args.delimited.clone(),
        holdout_frac: raw.holdout,
        ..LoadOptions::default()
    };
    match format {
        Format::Ifru | Format::Lightgcn => {
            let Loaded::Split(ds) = data::load(&path, format, &opts)? else {
                return Err(format!("{}: expected a split dataset", path.display()).into());
            };
            let source = DataSource::new(&path, format, &opts, None, &ds)?;
            Ok((ds, source))
        }
        _ => {
            let split = make_split(&SplitArgs { format, ..args })?;
            let ds = split_dataset(&split, &path);
            let source = DataSource::new(&path, format, &opts, Some(split.recipe.clone()), &ds)?;
            Ok((ds, source))
        }
    }
}

/// Opens the GPU named by the environment, saying which adapter is in use.
pub fn open_gpu() -> Result<Gpu, Box<dyn std::error::Error>> {
    let gpu = Gpu::from_env()?;
    let a = gpu.adapter();
    eprintln!("adapter: {} ({}, {})", a.name, a.backend, a.device_type);
    Ok(gpu)
}

/// Refuses a report path whose folder does not exist, before any work is done (a report that
/// cannot be written would otherwise fail the command after its result was committed).
pub fn check_report_path(path: Option<&Path>) -> CliResult {
    if let Some(path) = path {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(format!(
                "--report {}: the folder {} does not exist",
                path.display(),
                dir.display()
            )
            .into());
        }
    }
    Ok(())
}

/// Writes a JSON report (atomically) when a path was given.
pub fn write_report<T: Serialize>(path: Option<&Path>, report: &T) -> CliResult {
    if let Some(path) = path {
        let mut bytes = serde_json::to_vec_pretty(report)?;
        bytes.push(b'\n');
        ifru::fsio::write_atomic(path, &bytes)?;
        eprintln!("report: {}", path.display());
    }
    Ok(())
}

/// A progress bar on a terminal, plain lines otherwise.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar over `len` units (epochs, requests) with a `{msg}` tail.
    pub fn new(len: u64, what: &str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::new(len);
        let template = format!("{what} {{pos}}/{{len}} [{{bar:30}}] {{msg}} (eta {{eta}})");
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress { bar: Some(bar) }
    }

    /// A bar over `len` steps of very different lengths (training, then quick updates): it
    /// shows the time spent rather than an estimate, and redraws by itself so the clock moves
    /// during a long step.
    pub fn stages(len: u64, what: &str) -> Self {
        let progress = Progress::new(len, what);
        if let Some(bar) = &progress.bar {
            // The caller's message names the step ("[2/5] retrain"), so no position here.
            let template = format!("{what} [{{bar:20}}] {{elapsed:>4}} {{msg}}");
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(std::time::Duration::from_millis(250));
        }
        progress
    }

    /// Updates the message in place (terminal only: plain output stays quiet between lines).
    pub fn message(&self, msg: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(msg);
        }
    }

    /// Advances to `pos` and shows `line` (as a plain line when not on a terminal).
    pub fn step(&self, pos: u64, line: String) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(pos);
                bar.set_message(line);
            }
            None => eprintln!("{line}"),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The model and its training recipe.
#[derive(Args, Clone)]
pub struct TrainingOptions {
    #[arg(long, value_enum)]
    pub model: ModelKind,
    /// LightGCN propagation layers.
    #[arg(long, default_value_t = 1)]
    pub layers: u32,
    /// Embedding size (a multiple of 4 from 4 to 256).
    #[arg(long, default_value_t = 64)]
    pub dim: u32,
    #[arg(long, value_enum, default_value_t = LossKind::Bce)]
    pub loss: LossKind,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// L2 strength per row r (λ = r·n in sum units).
    #[arg(long, default_value_t = 0.0)]
    pub reg: f64,
    #[arg(long, default_value_t = 1e-3)]
    pub init_std: f32,
    #[arg(long, default_value_t = 2048)]
    pub batch: usize,
    /// One batch of all rows per step.
    #[arg(long, conflicts_with = "batch")]
    pub full_batch: bool,
    /// At most this many epochs.
    #[arg(long, default_value_t = 1000)]
    pub epochs: usize,
    /// Epochs without a better validation score before stopping.
    #[arg(long, default_value_t = 10)]
    pub patience: usize,
    #[arg(long, default_value_t = 2023)]
    pub seed: u64,
    /// Sparse (lazy) Adam: each step updates only the rows it touched (MF).
    #[arg(long)]
    pub sparse_adam: bool,
    /// BPR: users sampled for the validation Recall@20 (0: all).
    #[arg(long, default_value_t = 2000)]
    pub valid_users: usize,
}

impl TrainingOptions {
    /// The model's shape.
    pub fn spec(&self) -> Result<ModelSpec, String> {
        ModelSpec::new(self.model, self.layers, self.dim, self.loss)
    }

    /// The training recipe.
    pub fn config(&self) -> TrainConfig {
        TrainConfig {
            adam: AdamConfig {
                lr: self.lr,
                ..AdamConfig::default()
            },
            reg: self.reg,
            init_std: self.init_std,
            batch: if self.full_batch { 0 } else { self.batch },
            max_epochs: self.epochs,
            patience: self.patience,
            seed: self.seed,
            sparse_adam: self.sparse_adam,
            ..TrainConfig::default()
        }
    }
}

/// Settings of the influence update (`--method ifru`).
#[derive(Args, Clone)]
pub struct IfruArgs {
    /// Which Hessian: Gauss-Newton (PSD), the full Hessian, or the authors' surrogate.
    #[arg(long, value_enum, default_value_t = HessianKind::GaussNewton)]
    pub hessian: HessianKind,
    /// Take the Hessian on the old data and graph, or on the new.
    #[arg(long, value_enum, default_value_t = HessianAt::Old)]
    pub hessian_at: HessianAt,
    /// Spillover rows of the right-hand side.
    #[arg(long, value_enum, default_value_t = Spillover::Exact)]
    pub spillover: Spillover,
    /// Hops of the importance score.
    #[arg(long, default_value_t = 1)]
    pub prune_hops: u32,
    /// Fraction of the scored nodes kept (default: 0.6 for LightGCN, 1 for MF).
    #[arg(long)]
    pub prune_keep: Option<f64>,
    /// At most this many nodes beyond the request's own (its rows' users and items) per
    /// own node, the most important first, so a request's cost follows the request; `none`
    /// keeps every scored node (default: 4 for MF, none for LightGCN).
    #[arg(long)]
    pub prune_budget: Option<String>,
    /// Solve on every node (no pruning).
    #[arg(long)]
    pub no_prune: bool,
    #[arg(long, value_enum, default_value_t = Precond::BlockJacobi)]
    pub precond: Precond,
    /// Stop when ‖r‖ ≤ rtol·‖g‖ (5e-2: on ml-100k-ifru MF, 1e-2 took 5 iterations against
    /// 3 and moved forget AUC by 4e-4 of a 0.18 gap).
    #[arg(long, default_value_t = 5e-2)]
    pub rtol: f32,
    #[arg(long, default_value_t = 100)]
    pub max_iter: usize,
    /// δ in sum units, or `auto`: δ = c × the request's mean curvature (the mean diagonal
    /// of H_PP), c = 3.4 for genuine rows and 2.5 for flipped ones (`--forget-rows`).
    #[arg(long, default_value = "auto")]
    pub damping: String,
    /// Largest step, as a fraction of ‖θ_P‖.
    #[arg(long, default_value_t = 1.0)]
    pub max_step: f32,
    /// When a request's forgetting check fails: apply it and warn, refuse it (nothing
    /// changes, exit non-zero), or retrain on the remaining rows instead.
    #[arg(long, value_enum, default_value_t = OnCheckFail::Warn)]
    pub on_check_fail: OnCheckFail,
    /// BPR: seed of the one negative item each row gets in the influence update (the same in
    /// the right-hand side and the Hessian; a pure function of the seed and the row).
    #[arg(long, default_value_t = 0)]
    pub negative_seed: u64,
}

impl IfruArgs {
    /// The options these flags describe for a model of `spec`.
    pub fn options(&self, spec: &ModelSpec) -> Result<IfruOptions, String> {
        let mut o = IfruOptions::default_for(spec);
        o.hessian = self.hessian;
        o.hessian_at = self.hessian_at;
        o.spillover = self.spillover;
        o.prune = if self.no_prune {
            Pruning::Off
        } else {
            let model = match o.prune {
                Pruning::Keep(p) => p,
                Pruning::Off | Pruning::ModelDefault => PruneOptions::unbounded(1, 1.0),
            };
            let budget = match self.prune_budget.as_deref() {
                None => model.budget,
                Some("none") => None,
                Some(s) => Some(
                    s.parse::<f64>()
                        .ok()
                        .filter(|b| b.is_finite() && *b >= 0.0)
                        .ok_or_else(|| {
                            format!("--prune-budget {s:?}: expected none or a number ≥ 0")
                        })?,
                ),
            };
            Pruning::Keep(PruneOptions {
                hops: self.prune_hops,
                keep: self.prune_keep.unwrap_or(model.keep),
                budget,
            })
        };
        o.precond = self.precond;
        o.rtol = self.rtol;
        o.max_iter = self.max_iter;
        o.damping = match self.damping.as_str() {
            "auto" => None,
            s => Some(
                s.parse::<f32>()
                    .ok()
                    .filter(|d| d.is_finite() && *d >= 0.0)
                    .ok_or_else(|| format!("--damping {s:?}: expected auto or a number ≥ 0"))?,
            ),
        };
        o.max_step = self.max_step;
        o.on_check_fail = self.on_check_fail;
        o.negative_seed = self.negative_seed;
        Ok(o)
    }
}

/// The model's own step lengths for small requests (docs/DAMPING.md, "Small requests"),
/// fitted now as `ifru bench` fits them ([`ModelLengthFit`], with the recipe's seed) and
/// printed; without one (its pseudo-requests fit none) a warning says why: the directory's
/// small requests then take the `auto` step until one of its requests fits a length.
pub fn fit_model_length(
    gpu: &Gpu,
    spec: ModelSpec,
    recipe: &TrainConfig,
    ds: &Dataset,
    params: &ifru::model::Params,
) -> Result<ModelLengthFit, ifru::Error> {
    let fit = ModelLengthFit::new(gpu, ds, spec, recipe, params)?;
    match (&fit.length, &fit.why_none) {
        (Some(length), _) => eprintln!(
            "step length for small requests: t = {:.3}, the median of {:?} fitted on half \
             the rows of {} users ({:?} rows) in {:.2} s",
            length.t, length.lengths, length.users, length.rows, fit.calibration_seconds
        ),
        (None, why) => eprintln!(
            "warning: no step length for small requests: {}; they take the `auto` step \
             until a request fits one",
            why.as_deref().unwrap_or("none fitted")
        ),
    }
    match (&fit.flipped, &fit.flipped_why_none) {
        (Some(length), _) => eprintln!(
            "step length for flipped rows: t = {:.3}, the median of {:?} fitted on half \
             the data's flipped rows ({:?} rows)",
            length.t, length.lengths, length.rows
        ),
        (None, Some(why)) => eprintln!("no step length for flipped rows: {why}"),
        (None, None) => {}
    }
    Ok(fit)
}

/// The `data` of a new model directory's first audit entry: where its rows came from, their
/// fingerprint and how many of them train it.
pub fn data_entry(state: &ifru::model::store::ModelState, train_rows: usize) -> serde_json::Value {
    serde_json::json!({
        "path": &state.meta.data.path,
        "fingerprint": &state.meta.data.fingerprint,
        "train_rows": train_rows,
    })
}

/// The command-line flag that addresses a library error, where one does: the library's
/// messages name settings, not flags.
pub fn flag_hint(e: &ifru::Error) -> Option<&'static str> {
    use ifru::data::DataError;
    use ifru::model::store::StoreError;
    match e {
        ifru::Error::Store(StoreError::Data {
            source: DataError::Io { source, .. },
            ..
        }) if source.kind() == std::io::ErrorKind::NotFound => {
            Some("pass --data PATH if the data moved")
        }
        ifru::Error::SolveRefused(_) => Some("--damping sets a larger damping"),
        ifru::Error::NotInTraining(_) => Some("--skip-missing applies the rest"),
        _ => None,
    }
}
