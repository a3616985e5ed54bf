//! `ifru import`: embeddings trained elsewhere (PyTorch, RecBole, ...) and the rows they were
//! trained on in, a model directory out, ready for `ifru unlearn`.

use std::path::PathBuf;

use clap::Args;
use ifru::data::{Dataset, Format, LoadOptions, Loaded, RawData};
use ifru::import::{RowIds, Table, TableSource, lay_onto, params_of, whole_dataset};
use ifru::model::Params;
use ifru::model::adjacency_for;
use ifru::model::store::{
    AuditLog, AuditRecord, ModelDir, ModelMeta, ModelState, Regularization, Seeds,
};
use ifru::model::store::{DataSource, ImportedTables, WholeTables};
use ifru::model::{LossKind, ModelSpec};
use ifru::unlearn::influence::stationarity::{FAR_FROM_STATIONARY, stationarity};

use super::CliResult;
use super::common::{
    RawDataOptions, TrainingOptions, data_entry, fit_model_length, load_training_data, open_gpu,
};

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
    /// tables' row numbers, or a raw table (delimited, e.g. a RecBole `.inter` file; MovieLens
    /// `u.data`) every row of which is a training row.
    #[arg(long)]
    data: PathBuf,
    /// A raw table's validation rows (same format), for the forgetting check.
    #[arg(long)]
    valid: Option<PathBuf>,
    /// `id,row` CSV: which user table row each user id of a raw table is (RecBole's remapped
    /// tokens, say); default: the id is the row number.
    #[arg(long, requires = "item_map")]
    user_map: Option<PathBuf>,
    /// `id,row` CSV for the items.
    #[arg(long, requires = "user_map")]
    item_map: Option<PathBuf>,
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
    let format = match cmd.raw.format {
        Format::Auto => ifru::data::detect_format(&cmd.data)?,
        f => f,
    };
    let (ds, params, tables, data_source) = if matches!(format, Format::Ifru | Format::Lightgcn) {
        if cmd.user_map.is_some() || cmd.valid.is_some() {
            return Err(format!(
                "{}: a folder's ids are the tables' row numbers and it holds its validation \
                 rows; --user-map, --item-map and --valid apply to raw tables",
                cmd.data.display()
            )
            .into());
        }
        let (ds, mut data_source) = load_training_data(&cmd.data, &cmd.raw, None)?;
        let (ds, params, tables) =
            lay_onto(ds, &source, users, items).map_err(ifru::Error::from)?;
        data_source.nodes = Some((ds.n_users, ds.n_items));
        data_source.fingerprint = ifru::model::store::data_fingerprint(&ds);
        (ds, params, tables, data_source)
    } else {
        whole_table(&cmd, format, &source, users, items)?
    };
    let spec = ModelSpec::new(
        cmd.training.model,
        cmd.training.layers,
        params.dim,
        cmd.training.loss,
    )?;
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
    let fit = fit_model_length(&gpu, spec, &config, &ds, &params)?;
    let calibration_seconds = fit.calibration_seconds;
    fit.write_to(&mut meta);
    let state = ModelState::new(meta, params, &ds)?;
    let record = AuditRecord::new("import")
        .with("spec", spec)?
        .with("tables", &tables)?
        .with("stationarity", r)?
        .with("step_length", &state.meta.step_length)?
        .with("calibration_seconds", calibration_seconds)?
        .with("data", data_entry(&state, ds.train.len()))?;
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

/// A raw table (and its validation rows) laid onto the tables' rows, every row a training row.
fn whole_table(
    cmd: &ImportCommand,
    format: Format,
    source: &TableSource<'_>,
    users: Table,
    items: Table,
) -> Result<(Dataset, Params, ImportedTables, DataSource), Box<dyn std::error::Error>> {
    let args = cmd.raw.split_args(cmd.data.clone(), PathBuf::new(), None);
    let opts = LoadOptions {
        delimited: args.delimited.clone(),
        ..LoadOptions::default()
    };
    let raw = |path: &std::path::Path| -> Result<RawData, Box<dyn std::error::Error>> {
        match ifru::data::load(path, format, &opts)? {
            Loaded::Raw(r) => Ok(r),
            Loaded::Split(_) => Err(format!("{}: expected a raw table", path.display()).into()),
        }
    };
    let train = raw(&cmd.data)?;
    let valid = cmd.valid.as_deref().map(raw).transpose()?;
    let ids = match (&cmd.user_map, &cmd.item_map) {
        (Some(u), Some(i)) => RowIds::Files {
            users: u.clone(),
            items: i.clone(),
        },
        _ => RowIds::RowNumbers,
    };
    let ds = whole_dataset(
        &train,
        valid.as_ref(),
        &ids,
        users.rows,
        items.rows,
        cmd.raw.threshold,
    )
    .map_err(ifru::Error::from)?;
    let (params, tables) = params_of(source, &ds, users, items).map_err(ifru::Error::from)?;
    let whole = WholeTables {
        valid: cmd.valid.clone(),
        threshold: cmd.raw.threshold,
    };
    let data_source = DataSource::whole(&cmd.data, format, &opts, whole, &ds)?;
    Ok((ds, params, tables, data_source))
}

fn is_npy(path: &std::path::Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}
