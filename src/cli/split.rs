//! `ifru split`: an IFRU-protocol folder (train/valid/test, flipped D_r, id maps, recipe)
//! from raw rating or interaction data.

use std::path::PathBuf;

use clap::Args;
use ifru::data::Format;
use ifru::data::delimited::ValueColumn;
use ifru::data::split::{Shuffle, SplitArgs, run_split};

use super::CliResult;

#[derive(Args)]
pub struct SplitCommand {
    /// Raw data: a file (u.data, CSV, ...) or a folder (LightGCN train.txt/test.txt).
    #[arg(long)]
    data: PathBuf,
    /// Format of the data.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    format: Format,
    /// Field separator of a delimited file (default: sniffed from the first line).
    #[arg(long)]
    delimiter: Option<String>,
    /// Whether a delimited file starts with a header (default: guessed).
    #[arg(long)]
    header: Option<bool>,
    /// What the third column of a delimited file holds.
    #[arg(long, value_enum, default_value_t = ValueColumn::Auto)]
    value: ValueColumn,
    /// k of the iterative k-core filter (1 or less: none).
    #[arg(long, default_value_t = 5)]
    kcore: usize,
    /// A row is positive when its rating is above this.
    #[arg(long, default_value_t = 3.0)]
    threshold: f64,
    /// Seed of the row shuffle (numpy's legacy shuffle, so 1024 reproduces the IFRU files).
    #[arg(long, conflicts_with = "permutation")]
    seed: Option<u64>,
    /// A permutation file (one 0-based row index per line) instead of a seed.
    #[arg(long)]
    permutation: Option<PathBuf>,
    /// Fraction of the training rows that become D_r, with flipped labels.
    #[arg(long, default_value_t = 0.02)]
    ratio: f64,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(cmd: SplitCommand) -> CliResult {
    // The recipe records the source so a model can rebuild its data from anywhere.
    let data =
        std::fs::canonicalize(&cmd.data).map_err(|e| format!("{}: {e}", cmd.data.display()))?;
    let mut args = SplitArgs::new(data, cmd.out);
    args.format = cmd.format;
    args.delimited.delimiter = cmd.delimiter;
    args.delimited.header = cmd.header;
    args.delimited.value = cmd.value;
    args.kcore = cmd.kcore;
    args.threshold = cmd.threshold;
    args.ratio = cmd.ratio;
    if let Some(p) = cmd.permutation {
        args.shuffle = Shuffle::Permutation(p);
    } else if let Some(seed) = cmd.seed {
        args.shuffle = Shuffle::Seed(seed);
    }
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
