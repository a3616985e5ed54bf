//! The `ifru` command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use ifru_cli::commands as cli;

/// Recommendation unlearning with influence functions, on the GPU.
#[derive(Parser)]
#[command(name = "ifru", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut shown = e.to_string();
            eprintln!("error: {shown}");
            let mut source = e.source();
            while let Some(s) = source {
                // Most messages already end with their cause's: print only what is new.
                let text = s.to_string();
                if !shown.contains(&text) {
                    eprintln!("  caused by: {text}");
                    shown = text;
                }
                source = s.source();
            }
            if let Some(hint) = e
                .downcast_ref::<ifru::Error>()
                .and_then(cli::common::flag_hint)
            {
                eprintln!("  hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}
