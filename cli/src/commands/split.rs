//! `ifru split`: an IFRU-protocol folder (train/valid/test, flipped D_r, id maps, recipe)
//! from raw rating or interaction data.

use std::path::PathBuf;

use clap::Args;
use ifru::data::split::run_split;

use super::CliResult;
use super::common::{RawDataOptions, existing};

#[derive(Args)]
pub struct SplitCommand {
    /// Raw data: a file (u.data, CSV, ...) or a folder (LightGCN train.txt/test.txt).
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    raw: RawDataOptions,
    /// Seed of the row shuffle (numpy's legacy shuffle, so 1024 reproduces the IFRU files).
    #[arg(long, conflicts_with = "permutation")]
    seed: Option<u64>,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(cmd: SplitCommand) -> CliResult {
    // The recipe records the source so a model can rebuild its data from anywhere.
    let data = existing(&cmd.data)?;
    let args = cmd.raw.split_args(data, cmd.out, cmd.seed);
    let summary = run_split(&args)?;
    let c = &summary.recipe.counts;
    println!(
        "wrote {}: {} users, {} items; train {} ({} normal + {} flipped), valid {}, test {}",
        summary.out.display(),
        c.n_users,
        c.n_items,
        c.train,
        c.train_normal,
        c.train_random,
        c.valid,
        c.test
    );
    Ok(())
}
