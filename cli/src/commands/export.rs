//! `ifru export`: the final embeddings of a model directory's live version as safetensors,
//! for serving systems (tensor names and metadata: [`ifru::serve`]).

use std::path::PathBuf;

use clap::Args;
use ifru::kernels::Storage;
use ifru::loaded::LoadedModel;
use ifru::serve::{export_base, export_final};

use super::CliResult;
use super::common::open_gpu;

/// Options of `ifru export`.
#[derive(Args)]
pub struct ExportCommand {
    /// The model directory.
    #[arg(long)]
    model: PathBuf,
    /// The safetensors file to write: `user_final` [users, d] and `item_final` [items, d]
    /// (F32 or F16, after LightGCN's propagation on the model's current graph; MF: its embeddings),
    /// and the data's own ids in the metadata (`user_ids`, `item_ids`, JSON arrays).
    #[arg(long)]
    out: PathBuf,
    /// The model's data, when it moved from where `model.json` says.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Type of the written tables: `f32`, or `f16` (half the file; the f32 embeddings each
    /// rounded to nearest f16; refused if a value exceeds f16's range ±65504).
    #[arg(long, value_enum, default_value = "f32")]
    dtype: Storage,
    /// `final`: the embeddings a score uses (after LightGCN's propagation); `base`: the
    /// parameters θ, for an imported model under the tensor names and at the width it came
    /// with, so the code that trained it can load them back.
    #[arg(long, value_enum, default_value = "final")]
    tensors: Tensors,
}

/// Which tables `ifru export` writes.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Tensors {
    Final,
    Base,
}

pub fn run(cmd: ExportCommand) -> CliResult {
    let loaded = LoadedModel::open(&cmd.model, cmd.data.as_deref())?;
    let bytes = match cmd.tensors {
        Tensors::Final => export_final(&open_gpu()?, &loaded, cmd.dtype)?,
        Tensors::Base => export_base(&loaded, cmd.dtype)?,
    };
    ifru::fsio::write_atomic(&cmd.out, &bytes)
        .map_err(|e| format!("{}: {e}", cmd.out.display()))?;
    eprintln!(
        "exported {} users and {} items of size {} ({}, {}) to {}",
        loaded.data.n_users,
        loaded.data.n_items,
        loaded.state.meta.spec.dim,
        cmd.dtype.name(),
        loaded.dir.current_version(),
        cmd.out.display()
    );
    Ok(())
}
