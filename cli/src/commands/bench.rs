//! `ifru bench`: train the original, apply every method to the same forget set on one
//! adapter, and report each method's quality and time (mean and spread over seeds).

use std::path::{Path, PathBuf};

use crate::harness::bench::{BenchPlan, run};
use crate::harness::soak::{SoakPlan, SoakReport};
use crate::harness::stream::{StreamPlan, StreamReport};
use crate::report::{BenchReport, Entry, MethodFigures, ModelHeader};
use clap::Args;
use ifru::data::Dataset;
use ifru::data::forget::{
    ForgetKind, ForgetSpec, ForgetSummary, PairIndex, classify_held_out, generate, match_forget,
    read_forget_file,
};
use ifru::eval::RankingOptions;
use ifru::loaded::MatchedRequest;
use ifru::model::LossKind;
use ifru::model::ModelSpec;
use ifru::unlearn::engine::MethodId;
use ifru::unlearn::request::ForgetRows;
use ifru::unlearn::request::accept;
use serde::Serialize;

use super::CliResult;
use super::common::{
    IfruArgs, Progress, RawDataOptions, ReportAdapter, TrainingOptions, load_training_data,
    open_gpu, write_report,
};

#[derive(Args)]
pub struct BenchCommand {
    /// Data: an IFRU-protocol folder, a LightGCN folder, or raw data to split (not needed
    /// with --sweep, which generates its own).
    #[arg(long, required_unless_present = "sweep")]
    data: Option<PathBuf>,
    #[command(flatten)]
    raw: RawDataOptions,
    #[arg(long, default_value_t = 1024)]
    split_seed: u64,
    #[command(flatten)]
    training: TrainingOptions,
    /// A forget file; without it, an IFRU folder forgets its flipped rows (train_random.csv),
    /// other data a generated set (--forget-fraction, --forget-kind).
    #[arg(long)]
    forget: Option<PathBuf>,
    #[arg(long, default_value_t = 0.01)]
    forget_fraction: f64,
    #[arg(long, value_enum, default_value_t = ForgetKind::Random)]
    forget_kind: ForgetKind,
    /// Repeat the whole run with this many training seeds (seed, seed + 1, ...).
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    #[arg(long, default_value_t = 2)]
    finetune_epochs: usize,
    /// What the forgotten rows are; default: detected (flipped rows of an IFRU folder).
    #[arg(long, value_enum)]
    forget_rows: Option<ForgetRows>,
    #[command(flatten)]
    ifru: IfruArgs,
    /// BPR: users sampled for the ranking metrics (0: all).
    #[arg(long, default_value_t = 0)]
    eval_users: usize,
    /// Methods to compare (the original is always trained).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "retrain,finetune,ifru,ifru-fixed,ifru-calibrated,ifru-adam"
    )]
    methods: Vec<MethodId>,
    /// Also run `ifru` with each of these fixed dampings (reported as `ifru_delta_<δ>`).
    #[arg(long, value_delimiter = ',')]
    damping_sweep: Vec<f32>,
    /// Instead of one forget set: a stream of this many requests, each forgetting every
    /// training row of one random user, through one resident unlearner, then one retrain
    /// on what remains (the `stream` report).
    #[arg(long)]
    stream: Option<usize>,
    /// Users per request in a stream: a batch of this many users' rows forms one request
    /// (1: one user at a time).
    #[arg(long, visible_alias = "stream-batch", default_value_t = 1)]
    stream_group: usize,
    /// The share of each user's training rows a stream's request forgets (1: the user
    /// removed whole; 0.5: a partial deletion of half the rows).
    #[arg(long, default_value_t = 1.0)]
    stream_share: f64,
    /// The method a stream applies.
    #[arg(long, value_enum, default_value_t = MethodId::Ifru)]
    stream_method: MethodId,
    /// Instead of one forget set: a soak of this many requests, each a random
    /// --soak-fraction of the original training rows (genuine rows), applied by
    /// --stream-method through one resident unlearner that commits each to --soak-dir with
    /// its audit entry; then one retrain on what remains (the `soak` report).
    #[arg(long, requires = "soak_dir", conflicts_with = "stream")]
    soak: Option<usize>,
    /// A soak request's size, as a fraction of the original training rows.
    #[arg(long, default_value_t = 0.001)]
    soak_fraction: f64,
    /// The model directory a soak writes (a new or empty folder).
    #[arg(long)]
    soak_dir: Option<PathBuf>,
    /// Caps the reference retrain of a stream or soak (default: the original's epoch count).
    #[arg(long)]
    retrain_max_epochs: Option<usize>,
    /// Instead of one forget set: scaling runs on synthetic data, over graph sizes
    /// (--sweep-rows, fixed --sweep-forget-rows) and forget sizes (--sweep-forget on
    /// --sweep-base-rows); writes the `sweep` report and, with --plot, two scaling plots.
    #[arg(long)]
    sweep: bool,
    #[arg(long, value_delimiter = ',', default_value = "20000,200000")]
    sweep_rows: Vec<usize>,
    #[arg(long, default_value_t = 100)]
    sweep_forget_rows: usize,
    #[arg(long, default_value_t = 100000)]
    sweep_base_rows: usize,
    #[arg(long, value_delimiter = ',', default_value = "0.001,0.01,0.05")]
    sweep_forget: Vec<f64>,
    /// Largest training set whose retrain a sweep measures (above: the original's training
    /// time stands in, marked `retrain_estimated`).
    #[arg(long, default_value_t = 200000)]
    sweep_retrain_max_rows: usize,
    #[arg(long)]
    report: Option<PathBuf>,
    /// Draw the results: FILE.svg or FILE.png as named, any other name both (FILE.svg and
    /// FILE.png).
    #[arg(long)]
    plot: Option<PathBuf>,
}

/// Prints a bench report's summary table, writes the report (when `path` is given) and its
/// plot (when `plot` is given).
pub fn finish_report(report: &BenchReport, path: Option<&Path>, plot: Option<&Path>) -> CliResult {
    println!("{}", summary_table(report));
    write_report(path, report)?;
    if let Some(file) = plot {
        for written in crate::plot::bench_plot(report, file)? {
            eprintln!("plot: {}", written.display());
        }
    }
    Ok(())
}

/// The forget set as training rows in file order: the rows of `file`, else an IFRU folder's
/// flipped rows, else rows drawn by `spec`. A file is held to `ifru unlearn`'s rules, with its
/// messages; lines naming held-out rows leave `ds`'s validation and test rows (said on
/// stderr).
pub fn forget_rows(
    file: Option<&Path>,
    spec: &ForgetSpec,
    ds: &mut Dataset,
) -> Result<Vec<u32>, Box<dyn std::error::Error>> {
    if let Some(file) = file {
        let lines = read_forget_file(file)?;
        let index = PairIndex::new(&ds.train);
        let mut matches = match_forget(&lines, &ds.train, &ds.user_ids, &ds.item_ids, &index, &[]);
        classify_held_out(&mut matches, ds);
        let summary = ForgetSummary::of(&matches);
        let request = MatchedRequest {
            matches: matches
                .into_iter()
                .map(|m| (file.to_path_buf(), m))
                .collect(),
            summary,
        };
        let accepted = accept(&request, false)?;
        for w in &accepted.warnings {
            eprintln!("warning: {w}");
        }
        ds.without_held_out(&accepted.held_out);
        return Ok(accepted.file_order);
    }
    if !ds.flipped_rows().is_empty() {
        return Ok(ds.flipped_rows().collect());
    }
    Ok(generate(ds, spec)?)
}

pub fn run_bench(cmd: BenchCommand) -> CliResult {
    let spec = cmd.training.spec()?;
    if cmd.sweep {
        return run_sweep(&cmd, spec);
    }
    let data = cmd.data.as_deref().ok_or("--data is required")?;
    let (mut ds, source) = load_training_data(data, &cmd.raw, Some(cmd.split_seed))?;
    if let Some(users) = cmd.stream {
        return run_stream(&cmd, &ds, &source.path, users);
    }
    if let Some(requests) = cmd.soak {
        return run_soak(&cmd, &ds, source, requests);
    }
    let forget_spec = ForgetSpec::new(cmd.forget_kind, cmd.forget_fraction, cmd.split_seed);
    let forget = forget_rows(cmd.forget.as_deref(), &forget_spec, &mut ds)?;
    if forget.is_empty() {
        return Err("the forget set is empty".into());
    }
    eprintln!(
        "data: {} users, {} items, {} training rows; forgetting {} rows",
        ds.n_users,
        ds.n_items,
        ds.train.len(),
        forget.len()
    );
    let gpu = open_gpu()?;
    let ifru = cmd.ifru.options(&spec)?;
    let methods: Vec<(String, MethodId)> = cmd
        .methods
        .iter()
        .map(|&m| (m.report_name().to_string(), m))
        .collect();
    let forget_kind = cmd
        .forget_rows
        .unwrap_or_else(|| ForgetRows::detect(&ds, &forget));
    let bar = Progress::new(cmd.seeds, "seed");
    let mut runs = Vec::new();
    for k in 0..cmd.seeds {
        let mut recipe = cmd.training.config();
        recipe.seed += k;
        let plan = BenchPlan {
            spec,
            recipe,
            forget: forget.clone(),
            methods: methods.clone(),
            finetune_epochs: cmd.finetune_epochs,
            ifru: Some(ifru.clone()),
            forget_rows: forget_kind,
            ranking: RankingOptions {
                sample_users: (cmd.eval_users > 0).then_some(cmd.eval_users),
                ..RankingOptions::default()
            },
            valid_users: cmd.training.valid_users,
            damping_sweep: cmd.damping_sweep.clone(),
            keep_params: false,
        };
        let result = run(&gpu, &ds, &plan, &mut |step| {
            bar.message(format!("seed {}: {step}", plan.recipe.seed))
        })?;
        bar.step(k + 1, format!("seed {} done", plan.recipe.seed));
        runs.push(result);
    }
    bar.finish();
    let report = BenchReport::new(
        source.path.clone(),
        spec,
        ds.train.len(),
        forget.len(),
        gpu.adapter().into(),
        &runs,
    )?;
    let lengths: Vec<String> = report
        .model_lengths
        .iter()
        .map(|fit| match &fit.length {
            Some(l) => format!(
                "{:.3} (of {:?}, {:.2} s)",
                l.t, l.lengths, fit.calibration_seconds
            ),
            None => "none".to_string(),
        })
        .collect();
    eprintln!(
        "the original's own step length for small requests, per seed: {}",
        lengths.join(", ")
    );
    finish_report(&report, cmd.report.as_deref(), cmd.plot.as_deref())
}

#[derive(Serialize)]
struct SweepBenchReport {
    #[serde(flatten)]
    header: ModelHeader,
    seed: u64,
    adapter: ReportAdapter,
    sweep: crate::harness::sweep::SweepReport,
}

fn run_sweep(cmd: &BenchCommand, spec: ModelSpec) -> CliResult {
    let gpu = open_gpu()?;
    let recipe = cmd.training.config();
    let plan = crate::harness::sweep::SweepPlan {
        spec,
        recipe: recipe.clone(),
        ifru: Some(cmd.ifru.options(&spec)?),
        graph_rows: cmd.sweep_rows.clone(),
        forget_rows: cmd.sweep_forget_rows,
        base_rows: cmd.sweep_base_rows,
        forget_fractions: cmd.sweep_forget.clone(),
        retrain_max_rows: cmd.sweep_retrain_max_rows,
        seed: cmd.split_seed,
    };
    let bar = Progress::new(
        (plan.graph_rows.len() + plan.forget_fractions.len()) as u64,
        "point",
    );
    let mut done = 0u64;
    let sweep = crate::harness::sweep::sweep(&gpu, &plan, &mut |step| {
        bar.step(done, step.to_string());
        done += 1;
    })?;
    bar.finish();
    println!(
        "{:<8} {:>10} {:>8} {:>10} {:>12} {:>10} {:>8} {:>10} {:>10} {:>9}",
        "sweep",
        "train_rows",
        "forget",
        "ifru_ms",
        "retrain_s",
        "ratio",
        "kept",
        "hvp_rows",
        "of_epoch",
        "B/node"
    );
    for (name, points) in [("graph", &sweep.by_graph), ("forget", &sweep.by_forget)] {
        for p in points {
            println!(
                "{name:<8} {:>10} {:>8} {:>10.1} {:>11.2}{} {:>9.0}x {:>8} {:>10} {:>10.3} {:>9.0}",
                p.train_rows,
                p.forget_rows,
                p.ifru_seconds * 1e3,
                p.retrain_seconds,
                if p.retrain_estimated { "*" } else { " " },
                p.retrain_seconds / p.ifru_seconds,
                p.kept_nodes,
                p.local_rows,
                p.ifru_epochs,
                p.device_bytes_per_node
            );
        }
    }
    println!("* estimated: the original's training time stands in for the retrain");
    println!(
        "of_epoch: the request over one training epoch; B/node: the device pool's high-water \
         mark over the point (data, training state, unlearner) per node"
    );
    if let Some(file) = &cmd.plot {
        use crate::plot::{Series, scaling_plot};
        let series = |points: &[crate::harness::sweep::SweepPoint],
                      x: &dyn Fn(&crate::harness::sweep::SweepPoint) -> f64| {
            vec![
                Series {
                    label: "ifru (unlearn)".into(),
                    points: points.iter().map(|p| (x(p), p.ifru_seconds)).collect(),
                },
                Series {
                    label: "retrain (* estimated above the measured sizes)".into(),
                    points: points.iter().map(|p| (x(p), p.retrain_seconds)).collect(),
                },
            ]
        };
        let stem = file.with_extension("");
        let name = stem.file_name().and_then(|n| n.to_str()).unwrap_or("sweep");
        let graph_file = stem.with_file_name(format!("{name}-graph"));
        let forget_file = stem.with_file_name(format!("{name}-forget"));
        let mut written = scaling_plot(
            &series(&sweep.by_graph, &|p| p.train_rows as f64),
            "training rows",
            &format!("Unlearning {} rows as the graph grows", plan.forget_rows),
            &graph_file,
        )?;
        written.extend(scaling_plot(
            &series(&sweep.by_forget, &|p| p.forget_rows as f64),
            "forgotten rows",
            &format!(
                "Unlearning on a {}-row graph as the request grows",
                plan.base_rows
            ),
            &forget_file,
        )?);
        for w in written {
            eprintln!("plot: {}", w.display());
        }
    }
    let report = SweepBenchReport {
        header: ModelHeader::of(spec),
        seed: recipe.seed,
        adapter: gpu.adapter().into(),
        sweep,
    };
    write_report(cmd.report.as_deref(), &report)
}

#[derive(Serialize)]
struct StreamBenchReport {
    #[serde(flatten)]
    header: ModelHeader,
    dataset: PathBuf,
    train_rows: usize,
    seed: u64,
    adapter: ReportAdapter,
    stream: StreamReport,
}

fn run_stream(
    cmd: &BenchCommand,
    ds: &Dataset,
    dataset: &std::path::Path,
    users: usize,
) -> CliResult {
    let spec = cmd.training.spec()?;
    let gpu = open_gpu()?;
    let recipe = cmd.training.config();
    let plan = StreamPlan {
        spec,
        recipe: recipe.clone(),
        users,
        group: cmd.stream_group,
        method: cmd.stream_method,
        ifru: Some(cmd.ifru.options(&spec)?),
        forget_rows: cmd.forget_rows.unwrap_or(ForgetRows::Genuine),
        seed: cmd.split_seed,
        ranking: RankingOptions {
            sample_users: (cmd.eval_users > 0).then_some(cmd.eval_users),
            ..RankingOptions::default()
        },
        valid_users: cmd.training.valid_users,
        retrain_max_epochs: cmd.retrain_max_epochs,
        share: cmd.stream_share,
    };
    let bar = Progress::new(users.div_ceil(cmd.stream_group.max(1)) as u64, "request");
    let stream =
        crate::harness::stream::run(&gpu, ds, &plan, &mut |step| bar.message(step.to_string()))?;
    bar.finish();
    let l = &stream.latency;
    println!(
        "{} requests of {} user(s), {} rows: mean {:.4} s, p50 {:.4} s, p99 {:.4} s, {:.1} requests/s",
        stream.requests.len(),
        stream.users_per_request,
        stream.forgotten_rows,
        l.mean_seconds,
        l.p50_seconds,
        l.p99_seconds,
        l.requests_per_second
    );
    let devices: Vec<&ifru::gpu::DeviceCounts> = stream
        .requests
        .iter()
        .filter_map(|r| r.device.as_ref())
        .collect();
    if !devices.is_empty() {
        let most = |f: fn(&ifru::gpu::DeviceCounts) -> u64| devices.iter().map(|d| f(d)).max();
        let mean = |f: fn(&ifru::gpu::DeviceCounts) -> u64| {
            devices.iter().map(|d| f(d) as f64).sum::<f64>() / devices.len() as f64
        };
        let scans: Vec<f64> = stream
            .requests
            .iter()
            .filter_map(|r| r.full_scan_seconds.as_ref())
            .map(|s| s.values().sum::<f64>())
            .collect();
        let scanning = scans.iter().filter(|&&s| s > 0.0).count();
        println!(
            "device work per request: read-backs mean {:.1} (most {}), other waits mean {:.1}, dispatches mean {:.0} (most {}); host passes over every training row {:.1} ms mean ({scanning} of {} requests made one)",
            mean(|d| d.readbacks),
            most(|d| d.readbacks).unwrap_or(0),
            mean(|d| d.waits),
            mean(|d| d.dispatches),
            most(|d| d.dispatches).unwrap_or(0),
            // + 0.0: an empty sum is -0.0, printed "-0.0".
            1e3 * scans.iter().sum::<f64>() / scans.len().max(1) as f64 + 0.0,
            scans.len()
        );
    }
    println!(
        "retrain: {:.2} s ({} epochs{}); one retrain / mean request: {:.0}x",
        stream.retrain.seconds,
        stream.retrain.epochs,
        if stream.retrain_capped {
            ", capped"
        } else {
            ""
        },
        stream.speedup_per_request
    );
    let show = |name: &str, m: &ifru::eval::RequestMetrics| {
        let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
        println!(
            "{name:<13} test_auc {} recall@20 {} forget_auc_b {} forget_rank {} forget_rank_b {}",
            f(m.metrics.test_auc),
            f(m.metrics.recall_at_20),
            f(m.forget_auc_b),
            f(m.forget_rank),
            f(m.forget_rank_b)
        );
    };
    show("original", &stream.original.metrics);
    show("after stream", &stream.after_stream);
    show("retrain", &stream.retrain.metrics);
    let show_error = |what: &str, e: Option<f64>| match e {
        Some(e) => println!("forget-gap error ({what}): {e:.3}"),
        None => println!("forget-gap error ({what}): the gap is too small to judge"),
    };
    show_error("all forgotten rows", stream.forget_gap_error);
    show_error("second half", stream.forget_gap_error_b);
    let c = &stream.checks;
    println!(
        "forgetting checks: {} passed, {} failed, {} not computed (users {})",
        c.passed,
        c.failed,
        c.not_computed,
        if stream.share < 1.0 {
            "keep the rest of their rows"
        } else {
            "removed whole: their rows are set by zeroing"
        }
    );
    let report = StreamBenchReport {
        header: ModelHeader::of(spec),
        dataset: dataset.to_path_buf(),
        train_rows: ds.train.len(),
        seed: recipe.seed,
        adapter: gpu.adapter().into(),
        stream,
    };
    write_report(cmd.report.as_deref(), &report)
}

#[derive(Serialize)]
struct SoakBenchReport {
    #[serde(flatten)]
    header: ModelHeader,
    dataset: PathBuf,
    train_rows: usize,
    seed: u64,
    adapter: ReportAdapter,
    soak: SoakReport,
}

fn run_soak(
    cmd: &BenchCommand,
    ds: &Dataset,
    source: ifru::model::store::DataSource,
    requests: usize,
) -> CliResult {
    let spec = cmd.training.spec()?;
    let model_dir = cmd.soak_dir.clone().ok_or("--soak needs --soak-dir")?;
    let gpu = open_gpu()?;
    let recipe = cmd.training.config();
    let dataset = source.path.clone();
    let plan = SoakPlan {
        spec,
        recipe: recipe.clone(),
        requests,
        fraction: cmd.soak_fraction,
        method: cmd.stream_method,
        ifru: Some(cmd.ifru.options(&spec)?),
        seed: cmd.split_seed,
        ranking: RankingOptions {
            sample_users: (cmd.eval_users > 0).then_some(cmd.eval_users),
            ..RankingOptions::default()
        },
        valid_users: cmd.training.valid_users,
        retrain_max_epochs: cmd.retrain_max_epochs,
        model_dir,
        source,
    };
    let bar = Progress::new(requests as u64, "request");
    let soak =
        crate::harness::soak::run(&gpu, ds, &plan, &mut |step| bar.message(step.to_string()))?;
    bar.finish();
    let l = &soak.latency;
    println!(
        "{} requests of {} rows ({} failed): mean {:.4} s, p50 {:.4} s, p99 {:.4} s; audit log: {} request entries",
        soak.requests.len(),
        soak.rows_per_request,
        soak.failures,
        l.mean_seconds,
        l.p50_seconds,
        l.p99_seconds,
        soak.audit_request_entries
    );
    println!(
        "buffer pool: high-water {} bytes after the first request, at most {} held after a later one, high-water {} at the end",
        soak.pool_high_water_after_first,
        soak.pool_most_held_after_later,
        soak.pool_high_water_at_end
    );
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    for (name, m) in [
        ("original", &soak.original.metrics),
        ("after soak", &soak.after_soak),
        ("retrain", &soak.retrain.metrics),
    ] {
        println!(
            "{name:<11} test_auc {} forget_auc {} forget_rank {}",
            f(m.metrics.test_auc),
            f(m.metrics.forget_auc),
            f(m.forget_rank)
        );
    }
    println!(
        "forget-gap error (all forgotten rows): {}; test AUC change: {}; bars: {}",
        f(soak.forget_gap_error),
        f(soak.test_auc_change),
        serde_json::to_string(&soak.bars)?
    );
    let report = SoakBenchReport {
        header: ModelHeader::of(spec),
        dataset,
        train_rows: ds.train.len(),
        seed: recipe.seed,
        adapter: gpu.adapter().into(),
        soak,
    };
    write_report(cmd.report.as_deref(), &report)
}

/// A plain-text table of the main figures per method, references first: AUCs for BCE
/// models, recall and forget ranks for BPR ones; `gap_err_b` is |m − retrain| ÷ |original −
/// retrain| on the second half's statistic, and `check` the forgetting check (its share of
/// passed seeds over several).
fn summary_table(report: &BenchReport) -> String {
    let loss = report.loss();
    let (quality, forget, forget_b) = match loss {
        LossKind::Bce => ("test_auc", "forget_auc", "forget_auc_b"),
        LossKind::Bpr => ("recall@20", "forget_rank", "forget_rank_b"),
    };
    let mut out = format!(
        "{:<16} {:>9} {:>11} {:>13} {:>10} {:>10} {:>10} {:>6}",
        "method", quality, forget, forget_b, "gap_err_b", "seconds", "speed-up", "check"
    );
    let methods = &report.methods;
    let retrain = methods.get(&Entry::Method(MethodId::Retrain));
    let original = methods.get(&Entry::Original);
    let gap = |m: &MethodFigures| {
        let (o, r, v) = (
            original?.forget_b(loss)?,
            retrain?.forget_b(loss)?,
            m.forget_b(loss)?,
        );
        ((o - r).abs() > 0.0).then(|| (v - r).abs() / (o - r).abs())
    };
    let figure = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    for (entry, m) in methods {
        let speedup = match retrain.map(|r| r.seconds) {
            Some(r) if m.seconds > 0.0 && *entry != Entry::Original => {
                format!("{:.1}x", r / m.seconds)
            }
            _ => "-".into(),
        };
        let gap_err = match entry.is_reference() {
            true => "-".to_string(),
            false => gap(m).map_or("-".to_string(), |e| format!("{e:.3}")),
        };
        out.push_str(&format!(
            "\n{:<16} {:>9} {:>11} {:>13} {:>10} {:>10} {:>10} {:>6}",
            entry.to_string(),
            figure(m.quality(loss)),
            figure(m.forget(loss)),
            figure(m.forget_b(loss)),
            gap_err,
            figure(Some(m.seconds)),
            speedup,
            m.check_text()
        ));
    }
    out
}
