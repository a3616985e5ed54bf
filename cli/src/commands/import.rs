//! `ifru import`: embeddings trained elsewhere (PyTorch, RecBole, ...) and the rows they were
//! trained on in, a model directory out, ready for `ifru unlearn`.

use std::path::PathBuf;

use clap::Args;
use ifru::import::{TableSource, lay_onto};
use ifru::model::adjacency_for;
use ifru::model::store::{
    AuditLog, AuditRecord, ModelDir, ModelMeta, ModelState, Regularization, Seeds,
};
use ifru::model::{LossKind, ModelSpec};
use ifru::unlearn::influence::stationarity::{FAR_FROM_STATIONARY, stationarity};

use super::CliResult;
use super::common::{RawDataOptions, TrainingOptions, load_training_data, open_gpu};

#[derive(Args)]
pub struct ImportCommand {
    /// The embeddings: a safetensors file holding a user and an item table, or the users'
    /// `.npy` file (then `--item-embeddings` names the items'). f32, f16 or bf16, [rows,
    /// width], width up to 256; user id k is row k of the user table, item id k of the item
    /// table.
    #[arg(long)]
    embeddings: PathBuf,
    /// The items' `.npy` file, when `--embeddings` is the users'.
    #[arg(long)]
    item_embeddings: Option<PathBuf>,
    /// The user table's name in the safetensors file (default: the first of `user_emb`,
    /// `embedding_user.weight` (LightGCN-PyTorch), `user_embedding.weight` (RecBole)).
    #[arg(long)]
    user_tensor: Option<String>,
    /// The item table's name (default: `item_emb`, `embedding_item.weight`,
    /// `item_embedding.weight`).
    #[arg(long)]
    item_tensor: Option<String>,
    /// The rows the model was trained on: an IFRU-protocol or LightGCN folder whose ids are the
    /// tables' row numbers.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    raw: RawDataOptions,
    /// The objective the model was trained on (`--model`, `--layers`, `--loss`, `--reg`) and
    /// the recipe retraining and fine-tuning should use (`--lr`, `--epochs`, ...); `--dim` is
    /// the tables' width and is not read.
    #[command(flatten)]
    training: TrainingOptions,
    /// The model directory to create.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(cmd: ImportCommand) -> CliResult {
    let source = match (&cmd.item_embeddings, is_npy(&cmd.embeddings)) {
        (Some(items), true) => TableSource::Npy {
            users: &cmd.embeddings,
            items,
        },
        (None, true) => {
            return Err(format!(
                "--embeddings {}: a .npy file holds one table; name the items' with \
                 --item-embeddings",
                cmd.embeddings.display()
            )
            .into());
        }
        (Some(_), false) => {
            return Err("--item-embeddings goes with a users' .npy file in --embeddings".into());
        }
        (None, false) => TableSource::Safetensors {
            path: &cmd.embeddings,
            user: cmd.user_tensor.as_deref(),
            item: cmd.item_tensor.as_deref(),
        },
    };
    let (users, items) = source.read().map_err(ifru::Error::from)?;
    let (ds, mut data_source) = load_training_data(&cmd.data, &cmd.raw, None)?;
    let (ds, params, tables) = lay_onto(ds, &source, users, items).map_err(ifru::Error::from)?;
    let spec = ModelSpec::new(
        cmd.training.model,
        cmd.training.layers,
        params.dim,
        cmd.training.loss,
    )?;
    let grown = (ds.n_users, ds.n_items);
    data_source.nodes = Some(grown);
    data_source.fingerprint = ifru::model::store::data_fingerprint(&ds);

    let config = cmd.training.config();
    let reg = Regularization::per_row(cmd.training.reg, ds.train.len());
    let seeds = Seeds {
        train: cmd.training.seed,
        init: cmd.training.seed,
    };
    let gpu = open_gpu()?;
    let adjacency = adjacency_for(&spec, ds.n_users, ds.n_items, &ds.train)?;
    let r = stationarity(
        &gpu,
        spec,
        &params,
        &ds.train,
        adjacency.as_ref(),
        reg.lambda as f32,
        0,
    )?;
    if r > FAR_FROM_STATIONARY {
        eprintln!(
            "warning: the embeddings are far from a stationary point of the stated objective \
             (‖∇L(θ)‖ / ‖∇L(θ/2)‖ = {r:.2}, above {FAR_FROM_STATIONARY}): influence updates \
             assume a trained model; check --model, --layers, --loss and --reg"
        );
    }
    let mut meta = ModelMeta::new(
        spec,
        reg,
        seeds,
        serde_json::to_value(&config)?,
        data_source,
        &ds,
    );
    meta.imported = Some(tables.clone());
    let state = ModelState::new(meta, params, &ds)?;
    let record = AuditRecord::new("import")
        .with("spec", spec)?
        .with("tables", &tables)?
        .with("stationarity", r)?
        .with(
            "data",
            serde_json::json!({
                "path": &state.meta.data.path,
                "fingerprint": &state.meta.data.fingerprint,
                "train_rows": ds.train.len(),
            }),
        )?;
    ModelDir::create_with(&cmd.out, &state, &record, &AuditLog::default())?;
    let loss = match spec.loss {
        LossKind::Bce => "bce",
        LossKind::Bpr => "bpr",
    };
    println!(
        "imported {} users and {} items of width {} ({:?}, {loss}; stationarity {r:.3}) from {} \
         into {}",
        ds.n_users,
        ds.n_items,
        tables.width,
        spec.kind,
        cmd.embeddings.display(),
        cmd.out.display()
    );
    Ok(())
}

fn is_npy(path: &std::path::Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}
