//! `ifru demo`: the whole story in one command on built-in data. Trains LightGCN on seeded
//! synthetic interactions, forgets the 1% of training rows whose labels were flipped
//! (poisoned data), and compares the influence update with retraining from scratch and with
//! fine-tuning: a table, `report.json` (the `ifru bench` report) and a plot. `--data` tells
//! the same story on a real dataset.
//!
//! It is `ifru bench` with a fixed recipe chosen to finish in a few minutes on a software
//! Vulkan driver: the same pipeline ([`crate::harness::bench::run`]) and the same report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::harness::bench::{BenchPlan, BenchProgress, run};
use clap::Args;
use ifru::data::Dataset;
use ifru::data::forget::{ForgetKind, ForgetSpec};
use ifru::data::synthetic::{SyntheticConfig, synthetic_dataset_from, synthetic_split};
use ifru::eval::RankingOptions;
use ifru::kernels::adam::AdamConfig;
use ifru::model::store::{
    AuditLog, AuditRecord, DataSource, ModelDir, ModelMeta, ModelState, Regularization, Seeds,
};
use ifru::model::{LossKind, ModelKind, ModelSpec, Params};
use ifru::train::TrainConfig;
use ifru::unlearn::engine::MethodId;
use ifru::unlearn::request::ForgetRows;

use super::CliResult;
use super::bench::{finish_report, forget_rows};
use super::common::{Progress, RawDataOptions, load_training_data, open_gpu};
use crate::report::{BenchReport, Entry, MethodFigures};

/// Fraction of the training rows forgotten from data without flipped rows of its own.
const FORGET_FRACTION: f64 = 0.01;

/// Options of `ifru demo`.
#[derive(Args)]
#[command(mut_arg("ratio", |a| a.default_value("0.01")))]
pub struct DemoCommand {
    /// Run on this dataset instead of the built-in synthetic data: labelled data (an
    /// IFRU-protocol folder, or ratings split here as `ifru train` splits them, --ratio
    /// flipped) forgets its flipped rows, or a random 1% of its training rows if it has none.
    #[arg(long)]
    data: Option<PathBuf>,
    #[command(flatten)]
    raw: RawDataOptions,
    /// Where report.json, plot.svg and plot.png go (created if missing).
    #[arg(long, default_value = "ifru-demo")]
    out: PathBuf,
    /// Rows of the synthetic data (before the 5-core filter and the 60/20/20 split).
    #[arg(long, default_value_t = 100_000)]
    rows: usize,
    /// Seed of the synthetic data, its split and the training.
    #[arg(long, default_value_t = 2023)]
    seed: u64,
    /// Embedding size (a multiple of 4 from 4 to 256).
    #[arg(long, default_value_t = 32)]
    dim: u32,
    /// At most this many training epochs (the original and the retrain stop earlier when
    /// validation stops improving).
    #[arg(long, default_value_t = 60)]
    epochs: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 2e-3)]
    lr: f32,
    /// The methods compared with the original, in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_values_t = [MethodId::Retrain, MethodId::Finetune, MethodId::Ifru, MethodId::IfruFixed, MethodId::IfruCalibrated]
    )]
    methods: Vec<MethodId>,
    /// Keep every model as a model directory under OUT/models/ (original, and one per
    /// method: retrain, ifru, ...), for `ifru recommend`, `ifru eval`, `ifru unlearn` and
    /// `ifru export` afterwards. The built-in data is then written to OUT/data (an
    /// IFRU-protocol folder) for those commands to load. Refused when OUT/models exists.
    #[arg(long)]
    keep_model: bool,
}

/// The demo's training recipe: Adam at a learning rate high enough to converge in a few
/// dozen epochs, early stopping after 5 epochs without a better validation AUC.
fn recipe(cmd: &DemoCommand) -> TrainConfig {
    TrainConfig {
        adam: AdamConfig {
            lr: cmd.lr,
            ..AdamConfig::default()
        },
        init_std: 0.01,
        batch: 2048,
        max_epochs: cmd.epochs,
        patience: 5,
        seed: cmd.seed,
        ..TrainConfig::default()
    }
}

/// A method's name in reports (`ifru_calibrated`), as the engine serialises it.
fn report_name(m: MethodId) -> String {
    serde_json::to_value(m)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{m:?}").to_lowercase())
}

/// The data and what the demo needs to know about it.
struct DemoData {
    ds: Dataset,
    /// Where it came from (`synthetic` for the built-in data).
    dataset: PathBuf,
    forget: Vec<u32>,
    /// The generator settings, for the built-in data.
    synthetic: Option<SyntheticConfig>,
    /// How a model directory finds the data again (`--keep-model` only).
    source: Option<DataSource>,
}

fn load(cmd: &DemoCommand) -> Result<DemoData, Box<dyn std::error::Error>> {
    match &cmd.data {
        Some(path) => {
            let (mut ds, source) = load_training_data(path, &cmd.raw, Some(1024))?;
            if ds.implicit {
                // Every row is a positive: AUCs (the demo's measure) need both labels.
                return Err(format!(
                    "{}: implicit data (every row a positive); the demo compares AUCs of a \
                     labelled model: use `ifru bench --loss bpr` for ranking metrics",
                    path.display()
                )
                .into());
            }
            let spec = ForgetSpec::new(ForgetKind::Random, FORGET_FRACTION, cmd.seed);
            let forget = forget_rows(None, &spec, &mut ds)?;
            Ok(DemoData {
                ds,
                dataset: source.path.clone(),
                forget,
                synthetic: None,
                source: Some(source),
            })
        }
        None => {
            let cfg = SyntheticConfig::with_rows(cmd.rows, cmd.seed);
            let (ds, source) = if cmd.keep_model {
                // The kept models refer to their data by path: write it, and run on what
                // loads back from there (so the recorded fingerprint is that folder's).
                let folder = cmd.out.join("data");
                synthetic_split(&cfg, cmd.raw.ratio)?.write(&folder)?;
                let (ds, source) = load_training_data(&folder, &cmd.raw, None)?;
                (ds, Some(source))
            } else {
                let ds = synthetic_dataset_from(&cfg, cmd.raw.ratio)?;
                (ds, None)
            };
            let forget: Vec<u32> = ds.flipped_rows().collect();
            Ok(DemoData {
                ds,
                dataset: PathBuf::from("synthetic"),
                forget,
                synthetic: Some(cfg),
                source,
            })
        }
    }
}

pub fn run_demo(cmd: DemoCommand) -> CliResult {
    let spec = ModelSpec::new(ModelKind::Lightgcn, 1, cmd.dim, LossKind::Bce)?;
    let models_dir = cmd.out.join("models");
    if cmd.keep_model && models_dir.exists() {
        return Err(format!(
            "--keep-model: {} already exists; remove it or choose another --out",
            models_dir.display()
        )
        .into());
    }
    let DemoData {
        ds,
        dataset,
        forget,
        synthetic,
        source,
    } = load(&cmd)?;
    if forget.is_empty() {
        return Err("the forget set is empty: the data has too few training rows".into());
    }
    if cmd.methods.is_empty() {
        return Err("--methods: name at least one method".into());
    }
    eprintln!(
        "data: {} ({} users, {} items, {} training rows); forgetting {} rows{}",
        dataset.display(),
        ds.n_users,
        ds.n_items,
        ds.train.len(),
        forget.len(),
        if ForgetRows::detect(&ds, &forget) == ForgetRows::Flipped {
            " whose labels were flipped"
        } else {
            ""
        }
    );
    std::fs::create_dir_all(&cmd.out).map_err(|e| format!("{}: {e}", cmd.out.display()))?;
    let gpu = open_gpu()?;
    let plan = BenchPlan {
        spec,
        recipe: recipe(&cmd),
        forget_rows: ForgetRows::detect(&ds, &forget),
        forget,
        methods: cmd.methods.iter().map(|&m| (report_name(m), m)).collect(),
        finetune_epochs: 2,
        ifru: None,
        ranking: RankingOptions::default(),
        valid_users: 2000,
        damping_sweep: Vec::new(),
        keep_params: cmd.keep_model,
    };
    let bar = Progress::stages(1 + plan.methods.len() as u64, "demo");
    let mut stage = String::new();
    let result = run(&gpu, &ds, &plan, &mut |p| match p {
        BenchProgress::Stage { index, total, .. } => {
            stage = format!("[{}/{total}]", index + 1);
            bar.step(index as u64, format!("{stage} {p}"))
        }
        BenchProgress::Epoch(_) => bar.message(format!("{stage} {p}")),
    });
    bar.finish();
    let mut result = result?;
    let kept = match &source {
        Some(source) if cmd.keep_model => keep_models(
            &models_dir,
            &plan,
            source,
            &ds,
            std::mem::take(&mut result.params),
            &result.model_length,
        )?,
        _ => Vec::new(),
    };
    let forget_len = plan.forget.len();
    let mut report = BenchReport::new(
        dataset,
        spec,
        ds.train.len(),
        forget_len,
        gpu.adapter().into(),
        &[result],
    )?;
    report.synthetic = synthetic;
    finish_report(
        &report,
        Some(&cmd.out.join("report.json")),
        Some(&cmd.out.join("plot")),
    )?;
    println!("{}", story(&report.methods));
    print_next_steps(&cmd.out, &kept, &ds);
    Ok(())
}

/// Writes each model of `params` (by report name) as a model directory `models/NAME`: the
/// original as trained, the others as the original's state after forgetting the request's
/// rows, with the original's audit log followed by the method's entry; each carries the
/// original's own step lengths for small requests (`step_length`, `flipped_step_length`).
/// Returns the folders.
fn keep_models(
    models: &Path,
    plan: &BenchPlan,
    source: &DataSource,
    ds: &Dataset,
    mut params: BTreeMap<String, Params>,
    model_length: &crate::harness::bench::ModelLengthFit,
) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    let original = params
        .remove("original")
        .ok_or("internal: the original's parameters were not kept")?;
    let seeds = Seeds {
        train: plan.recipe.seed,
        init: plan.recipe.seed,
    };
    let mut meta = ModelMeta::new(
        plan.spec,
        Regularization::per_row(plan.recipe.reg, ds.train.len()),
        seeds,
        serde_json::to_value(&plan.recipe)?,
        source.clone(),
        ds,
    );
    model_length.write_to(&mut meta);
    let state = ModelState::new(meta, original, ds)?;
    let path = models.join("original");
    let dir = ModelDir::create_with(
        &path,
        &state,
        &AuditRecord::new("demo").with("method", "original")?,
        &AuditLog::default(),
    )?;
    let history = dir.audit_log()?;
    let mut kept = vec![path];
    // In the order the methods ran (the table's order).
    for (name, _) in &plan.methods {
        let Some(p) = params.remove(name) else {
            continue;
        };
        let mut after = state.clone();
        after.params = p;
        after.forgotten.insert_rows(ds, &plan.forget);
        let path = models.join(name);
        ModelDir::create_with(
            &path,
            &after,
            &AuditRecord::new("demo")
                .with("method", name)?
                .with("forgotten_rows", plan.forget.len())?,
            &history,
        )?;
        kept.push(path);
    }
    Ok(kept)
}

/// What the table says, in words: each method's speed-up over retraining and how much of the
/// gap between the original's forget AUC and the retrain's it closed.
fn story(methods: &std::collections::BTreeMap<Entry, MethodFigures>) -> String {
    let original = methods.get(&Entry::Original);
    let retrain = methods.get(&Entry::Method(MethodId::Retrain));
    let (Some(orig), Some(target), Some(retrain_s)) = (
        original.and_then(|m| m.forget_auc),
        retrain.and_then(|m| m.forget_auc),
        retrain.map(|m| m.seconds),
    ) else {
        return "(run with retrain to compare against it)".into();
    };
    let mut out = format!(
        "\nforget AUC: the original scores the forgotten rows {orig:.4}; retraining without them, {target:.4}."
    );
    for (entry, m) in methods.iter().filter(|(e, _)| !e.is_reference()) {
        let (Some(f), s) = (m.forget_auc, m.seconds) else {
            continue;
        };
        let gap = orig - target;
        let way = if gap.abs() > 1e-9 {
            format!("{:.0}%", 100.0 * (orig - f) / gap)
        } else {
            "-".into()
        };
        let ratio = retrain_s / s.max(1e-9);
        let speed = if ratio >= 1.0 {
            format!("{ratio:.1}x faster than retrain")
        } else {
            format!("{:.1}x slower than retrain", 1.0 / ratio)
        };
        out.push_str(&format!(
            "\n  {:<16} {speed:>28}; forget AUC {f:.4}, {way} of the way from the original to retrain",
            entry.to_string()
        ));
    }
    out
}

fn print_next_steps(out: &Path, kept: &[PathBuf], ds: &Dataset) {
    println!(
        "\nfiles: {0}/report.json, {0}/plot.svg, {0}/plot.png",
        out.display()
    );
    // Suggest an unlearned model: the first influence method's, else the last kept.
    let unlearned = kept
        .iter()
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("ifru"))
        })
        .or(kept.last());
    match unlearned {
        Some(last) => {
            let names: Vec<String> = kept.iter().map(|p| p.display().to_string()).collect();
            let user = ds.user_ids.raw(0).unwrap_or("0".into());
            println!(
                "models: {}\n  try: ifru recommend --model {} --user {user}; ifru eval --model {}",
                names.join(", "),
                last.display(),
                last.display()
            );
        }
        None => println!(
            "keep the models with --keep-model; the same on a model of your own: ifru train, \
             ifru unlearn, ifru recommend, ifru export (see --help)"
        ),
    }
}
