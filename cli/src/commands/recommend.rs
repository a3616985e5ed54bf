//! `ifru recommend`: a user's top items from a model directory's live version, leaving out
//! the items of the user's remaining training rows and scoring on the model's current graph
//! (so a forgotten row feeds nothing).

use std::path::PathBuf;

use clap::Args;
use ifru::kernels::Storage;
use ifru::kernels::topk::MAX_K;
use ifru::loaded::LoadedModel;
use ifru::serve::{Recommender, user_index};

use super::CliResult;
use super::common::open_gpu;

/// Options of `ifru recommend`.
#[derive(Args)]
pub struct RecommendCommand {
    /// The model directory.
    #[arg(long)]
    model: PathBuf,
    /// The user, by the data's own id.
    #[arg(long)]
    user: String,
    /// How many items (1 to 100).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_K)))]
    k: u32,
    /// The model's data, when it moved from where `model.json` says.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Storage of the final embeddings on the device: `f32`, or `f16` (half the memory and
    /// the bytes read per score; LightGCN propagates with f16 layers; sums stay in f32;
    /// scores agree with f32 to about 3 significant digits, so near-ties may swap).
    #[arg(long, value_enum, default_value = "f32")]
    storage: Storage,
}

/// Prints `rank`, `item` (the data's own id) and `score` (the dot product of the final
/// embeddings), tab-separated, best first.
pub fn run(cmd: RecommendCommand) -> CliResult {
    let loaded = LoadedModel::open(&cmd.model, cmd.data.as_deref())?;
    let user = user_index(&loaded, &cmd.user)?;
    let gpu = open_gpu()?;
    let recommender = Recommender::new(&gpu, &loaded, cmd.storage)?;
    let list = recommender.top_k(&loaded, user, cmd.k)?;
    if list.is_empty() {
        eprintln!("user {}: every item is one of its training items", cmd.user);
    }
    println!("rank\titem\tscore");
    for (r, rec) in list.iter().enumerate() {
        println!("{}\t{}\t{:.6}", r + 1, rec.item_id, rec.score);
    }
    Ok(())
}
