//! The command line as a library: [`run`] parses an argument list as the `ifru` binary does
//! and runs the command (the binary, and bindings that call commands in-process, use it).

use clap::{Parser, Subcommand};

use crate::commands as cli;
use crate::commands::CliResult;

/// The error of arguments the command line refuses (clap's).
pub use clap::Error as UsageError;

/// Recommendation unlearning with influence functions, on the GPU.
#[derive(Parser)]
#[command(name = "ifru", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Train LightGCN on built-in data, forget poisoned rows by influence, retraining and
    /// fine-tuning, and compare them: a table, report.json and a plot.
    Demo(Box<cli::demo::DemoCommand>),
    /// Print the GPU adapter, its limits and the optional features granted.
    Info(cli::info::InfoArgs),
    /// Write an IFRU-protocol folder (train/valid/test, flipped D_r, id maps) from raw data.
    Split(cli::split::SplitCommand),
    /// Train MF or LightGCN on the GPU into a model directory.
    Train(Box<cli::train::TrainCommand>),
    /// Bring in embeddings trained elsewhere (PyTorch, RecBole, ...) as a model directory.
    Import(Box<cli::import::ImportCommand>),
    /// Evaluate a model directory (AUCs, or Recall/NDCG@20 for BPR models).
    Eval(cli::eval::EvalCommand),
    /// Forget the rows of forget files and commit a new model version.
    Unlearn(Box<cli::unlearn::UnlearnCommand>),
    /// Train the original model and compare every unlearning method on one forget set.
    Bench(Box<cli::bench::BenchCommand>),
    /// Print a user's top items, leaving out its training items, on the model's current graph.
    Recommend(cli::recommend::RecommendCommand),
    /// Write the final user and item embeddings as safetensors for serving systems.
    Export(cli::export::ExportCommand),
}

/// Parses `args` (without the program name) as `ifru`'s command line and runs the command.
/// A parse error (or `--help`) is returned as the error, with clap's text.
pub fn run<I, T>(args: I) -> CliResult
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    run_parsed(parse(args)?)
}

/// `args` (without the program name) parsed as `ifru`'s command line.
fn parse<I, T>(args: I) -> Result<Cli, UsageError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let program = std::iter::once(std::ffi::OsString::from("ifru"));
    Cli::try_parse_from(program.chain(args.into_iter().map(Into::into)))
}

/// [`run`], with `ifru unlearn` on `gpu` (kept open by the caller: a resident unlearner)
/// instead of a device opened for the request; other commands run as [`run`] runs them.
pub fn run_on<I, T>(args: I, gpu: &ifru::gpu::Gpu) -> CliResult
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    match parse(args)?.command {
        Command::Unlearn(cmd) => cli::unlearn::run_on(*cmd, Some(gpu)),
        command => run_parsed(Cli { command }),
    }
}

/// Runs a parsed command line.
pub fn run_parsed(cli: Cli) -> CliResult {
    match cli.command {
        Command::Demo(args) => cli::demo::run_demo(*args),
        Command::Info(args) => cli::info::run(args),
        Command::Split(args) => cli::split::run(args),
        Command::Train(args) => cli::train::run(*args),
        Command::Import(args) => cli::import::run(*args),
        Command::Eval(args) => cli::eval::run(args),
        Command::Unlearn(args) => cli::unlearn::run(*args),
        Command::Bench(args) => cli::bench::run_bench(*args),
        Command::Recommend(args) => cli::recommend::run(args),
        Command::Export(args) => cli::export::run(args),
    }
}
