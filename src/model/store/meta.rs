//! `model.json`: what a model is (spec, regularisation, seeds, training recipe) and where its
//! data lives, with the fingerprint that data must have.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{StoreError, StoreResult};
use super::fingerprint::data_fingerprint;
use crate::data::split::{IfruSplit, Recipe, make_split};
use crate::data::{self, Dataset, DelimitedOptions, Format, IdMap, LoadOptions, Loaded};
use crate::model::ModelSpec;

/// The `model.json` schema this build writes and reads.
pub const SCHEMA: u32 = 1;

/// L2 regularisation: `--reg r` per training row, and the λ it gave in sum units (λ = r·n, n
/// the training rows the model was trained on).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Regularization {
    /// The per-row value `r` (`--reg`).
    pub per_row: f64,
    /// λ in sum units.
    pub lambda: f64,
}

impl Regularization {
    /// `r` per row over `n` rows: λ = r·n.
    pub fn per_row(r: f64, n: usize) -> Self {
        Regularization {
            per_row: r,
            lambda: r * n as f64,
        }
    }
}

/// The seeds of a training run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seeds {
    /// Batches, negative sampling.
    pub train: u64,
    /// Parameter initialisation.
    pub init: u64,
}

/// Where a model's data lives and how to load it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataSource {
    /// Absolute path of the data the model was trained on: an IFRU-protocol or LightGCN
    /// folder, or a raw file (then `split` says how it was split).
    pub path: PathBuf,
    /// Its format (never `auto`).
    pub format: Format,
    /// How to read it, for a delimited file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimited: Option<DelimitedOptions>,
    /// LightGCN data: (fraction, seed) of the validation hold-out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<(f64, u64)>,
    /// Raw data (MovieLens, delimited): the split made from it in memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<Recipe>,
    /// [`data_fingerprint`] of the dataset the model was trained on. May be left out (empty)
    /// only in a `model.json` brought in with [`import_model`], which computes it.
    #[serde(default)]
    pub fingerprint: String,
    /// (users, items) when the model has more nodes than the data names: an imported model's
    /// embedding rows that no row of the data uses ([`Dataset::extend_nodes`] on every load).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<(u32, u32)>,
    /// Set when every row of the (raw) file is a training row, laid out by the model's own
    /// id maps: a model imported with the table it was trained on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whole: Option<WholeTables>,
}

/// How an imported model's raw table is read back: every row a training row, validation
/// rows from a second file, ratings above `threshold` positive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WholeTables {
    /// The validation rows' file (same format), if any.
    pub valid: Option<PathBuf>,
    pub threshold: f64,
}

impl DataSource {
    /// Describes `dataset`, loaded from `path` in `format` with `opts` (and, for raw data, split
    /// with `split`). The path is made absolute; `Format::Auto` is resolved.
    pub fn new(
        path: &Path,
        format: Format,
        opts: &LoadOptions,
        split: Option<Recipe>,
        dataset: &Dataset,
    ) -> StoreResult<Self> {
        let format = match format {
            Format::Auto => data::detect_format(path).map_err(|source| StoreError::Data {
                model: None,
                source,
            })?,
            f => f,
        };
        let path = match format {
            Format::Ifru | Format::Lightgcn => data::folder_of(path),
            _ => path.to_path_buf(),
        };
        let path = absolute(&path)?;
        let raw = matches!(format, Format::Movielens | Format::Delimited);
        if raw && split.is_none() {
            return Err(StoreError::invalid(
                &path,
                "raw data needs a split: record the recipe it was split with",
            ));
        }
        Ok(DataSource {
            path,
            format,
            delimited: (format == Format::Delimited).then(|| opts.delimited.clone()),
            holdout: (format == Format::Lightgcn).then_some((opts.holdout_frac, opts.holdout_seed)),
            split: if raw { split } else { None },
            fingerprint: data_fingerprint(dataset),
            nodes: None,
            whole: None,
        })
    }

    /// Describes a raw table every row of which is a training row of `dataset` (laid out by
    /// its id maps, see [`Dataset::from_whole_tables`]): an imported model's data.
    pub fn whole(
        path: &Path,
        format: Format,
        opts: &LoadOptions,
        whole: WholeTables,
        dataset: &Dataset,
    ) -> StoreResult<Self> {
        let valid = match &whole.valid {
            Some(v) => Some(absolute(v)?),
            None => None,
        };
        Ok(DataSource {
            path: absolute(path)?,
            format,
            delimited: (format == Format::Delimited).then(|| opts.delimited.clone()),
            holdout: None,
            split: None,
            fingerprint: data_fingerprint(dataset),
            nodes: None,
            whole: Some(WholeTables { valid, ..whole }),
        })
    }

    /// The load options recorded (defaults for what is not recorded).
    pub fn load_options(&self) -> LoadOptions {
        let mut o = LoadOptions::default();
        if let Some(d) = &self.delimited {
            o.delimited = d.clone();
        }
        if let Some((f, s)) = self.holdout {
            o.holdout_frac = f;
            o.holdout_seed = s;
        }
        o
    }
}

/// `model.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Schema version ([`SCHEMA`]).
    pub schema: u32,
    /// Model family, layers K, embedding size d, loss.
    pub spec: ModelSpec,
    /// L2 regularisation.
    pub reg: Regularization,
    /// Seeds.
    pub seeds: Seeds,
    /// The training recipe (learning rate, batch size, epochs, ...), as the trainer writes it.
    #[serde(default)]
    pub training: serde_json::Value,
    /// The data.
    pub data: DataSource,
    /// Users (rows of `user_emb`).
    pub n_users: u32,
    /// Items (rows of `item_emb`).
    pub n_items: u32,
    /// Training rows of the data (before anything was forgotten).
    pub train_rows: u64,
    /// Where the parameters came from when they were trained elsewhere (`ifru import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<ImportedTables>,
    /// The model's own step length for genuine rows, fitted at `train` or `import` on a
    /// pseudo-request ([`crate::unlearn::model_length`]): a small request's length when no
    /// earlier request fitted one. Absent in directories written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_length: Option<ModelLength>,
    /// The same for flipped rows, where the data marks some (an IFRU-protocol folder's
    /// `train_random.csv`) and the loss is BCE: fitted on pseudo-requests of marked rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flipped_step_length: Option<ModelLength>,
}

/// A model's own step length for one kind of rows, fitted on pseudo-requests
/// ([`crate::unlearn::model_length`]): the length a request too small to fit its own starts from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelLength {
    /// The median of the pseudo-requests' fitted lengths (the upper of two): the step is
    /// t × the `auto` step as solved.
    pub t: f64,
    /// Each pseudo-request's fitted length (`None`: it fitted none), in seed order.
    pub lengths: Vec<Option<f64>>,
    /// Rows of each pseudo-request, and the users each drew.
    pub rows: Vec<usize>,
    pub users: usize,
    /// The first pseudo-request's seed; the others take the seeds after it.
    pub seed: u64,
    /// What fitting it took (a scratch unlearner and one request per pseudo-request).
    pub seconds: f64,
}

/// The embedding tables an imported model came from: what `ifru export --tensors base` gives
/// back (the same names, the same width).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportedTables {
    /// The file they were read from.
    pub file: PathBuf,
    /// The users' and the items' tensor names (or files, for `.npy`).
    pub user_tensor: String,
    pub item_tensor: String,
    /// Their width; the model's d is this rounded up to a multiple of 4 (zero columns).
    pub width: u32,
}

impl ModelMeta {
    /// The metadata of a model of `spec` trained on `dataset` (described by `data`).
    pub fn new(
        spec: ModelSpec,
        reg: Regularization,
        seeds: Seeds,
        training: serde_json::Value,
        data: DataSource,
        dataset: &Dataset,
    ) -> Self {
        ModelMeta {
            schema: SCHEMA,
            spec,
            reg,
            seeds,
            training,
            data,
            n_users: dataset.n_users,
            n_items: dataset.n_items,
            train_rows: dataset.train.len() as u64,
            imported: None,
            step_length: None,
            flipped_step_length: None,
        }
    }

    /// Parses `model.json` (`path` names it in errors), checking the schema and the spec.
    pub fn from_json(path: &Path, bytes: &[u8]) -> StoreResult<Self> {
        let meta = Self::from_json_unchecked(path, bytes)?;
        meta.check().map_err(|m| StoreError::invalid(path, m))?;
        Ok(meta)
    }

    /// Parses `model.json`, checking only the schema.
    fn from_json_unchecked(path: &Path, bytes: &[u8]) -> StoreResult<Self> {
        // The schema first, so a newer file gets a clear message rather than a field error.
        #[derive(Deserialize)]
        struct Head {
            schema: Option<u32>,
        }
        let head: Head = serde_json::from_slice(bytes)
            .map_err(|e| StoreError::invalid(path, format!("not valid JSON: {e}")))?;
        match head.schema {
            Some(SCHEMA) => {}
            Some(s) => {
                return Err(StoreError::invalid(
                    path,
                    format!("schema {s} is not supported (this build reads {SCHEMA})"),
                ));
            }
            None => return Err(StoreError::invalid(path, "no \"schema\" field")),
        }
        serde_json::from_slice(bytes)
            .map_err(|e| StoreError::invalid(path, format!("line {}: {e}", e.line())))
    }

    /// `model.json`'s bytes (pretty, ending with a newline).
    pub fn to_json(&self) -> StoreResult<Vec<u8>> {
        let mut v = serde_json::to_vec_pretty(self)
            .map_err(|e| StoreError::State(format!("cannot serialise model.json: {e}")))?;
        v.push(b'\n');
        Ok(v)
    }

    /// Internal consistency: a supported spec, a known format, finite regularisation.
    pub fn check(&self) -> Result<(), String> {
        let s = &self.spec;
        ModelSpec::new(s.kind, s.layers, s.dim, s.loss)?;
        if self.data.format == Format::Auto {
            return Err("data.format must be a concrete format, not \"auto\"".into());
        }
        if !(self.reg.per_row.is_finite() && self.reg.lambda.is_finite()) {
            return Err("reg must be finite".into());
        }
        if self.data.fingerprint.is_empty() {
            return Err("data.fingerprint is empty".into());
        }
        if !self.data.path.is_absolute() {
            return Err(format!(
                "data.path {} is not absolute",
                self.data.path.display()
            ));
        }
        Ok(())
    }
}

/// The dataset a raw-data split gives a model: [`IfruSplit::to_dataset`] with the source's raw
/// ids as the id maps (so requests name rows by the source's ids).
pub fn split_dataset(s: &IfruSplit, source: &Path) -> Dataset {
    let mut d = s.to_dataset(source);
    d.user_ids = s.user_ids.clone();
    d.item_ids = s.item_ids.clone();
    d
}

/// Loads the data a model was trained on: from `override_path` when given (the data moved),
/// else from the recorded path, in the recorded format; then checks its fingerprint
/// ([`verify_data`]).
pub fn load_model_data(meta: &ModelMeta, override_path: Option<&Path>) -> StoreResult<Dataset> {
    load_data_for(meta, override_path, None, None)
}

pub(crate) fn load_data_for(
    meta: &ModelMeta,
    override_path: Option<&Path>,
    model: Option<&Path>,
    maps: Option<(IdMap, IdMap)>,
) -> StoreResult<Dataset> {
    let path = override_path.unwrap_or(&meta.data.path);
    let d = load_unverified(&meta.data, path, model, maps)?;
    verify_for(meta, &d, model)?;
    Ok(d)
}

fn load_unverified(
    src: &DataSource,
    path: &Path,
    model: Option<&Path>,
    maps: Option<(IdMap, IdMap)>,
) -> StoreResult<Dataset> {
    let wrap = |source| StoreError::Data {
        model: model.map(Path::to_path_buf),
        source,
    };
    let d = match data::load(path, src.format, &src.load_options()).map_err(wrap)? {
        Loaded::Split(d) => d,
        Loaded::Raw(raw) if src.whole.is_some() => {
            let (Some(whole), Some((users, items))) = (&src.whole, maps) else {
                return Err(StoreError::invalid(
                    path,
                    "the data is laid out by the model directory's id maps: open the model \
                     directory",
                ));
            };
            let valid = match &whole.valid {
                Some(v) => match data::load(v, src.format, &src.load_options()).map_err(wrap)? {
                    Loaded::Raw(r) => Some(r),
                    Loaded::Split(_) => {
                        return Err(StoreError::invalid(v, "expected a raw table of rows"));
                    }
                },
                None => None,
            };
            Dataset::from_whole_tables(path, &raw, valid.as_ref(), users, items, whole.threshold)
                .map_err(|m| StoreError::invalid(path, m))?
        }
        Loaded::Raw(_) => {
            let Some(recipe) = &src.split else {
                return Err(StoreError::invalid(
                    path,
                    "raw data, but the model records no split recipe to rebuild its split from",
                ));
            };
            let mut args = recipe.to_args(PathBuf::new());
            args.data = path.to_path_buf();
            args.format = src.format;
            let s = make_split(&args).map_err(wrap)?;
            split_dataset(&s, path)
        }
    };
    let mut d = d;
    if let Some((users, items)) = src.nodes {
        d.extend_nodes(users, items)
            .map_err(|m| StoreError::invalid(path, m))?;
    }
    Ok(d)
}

/// Refuses `d` unless its fingerprint is the one recorded in `meta`.
pub fn verify_data(meta: &ModelMeta, d: &Dataset) -> StoreResult<()> {
    verify_for(meta, d, None)
}

pub(crate) fn verify_for(meta: &ModelMeta, d: &Dataset, model: Option<&Path>) -> StoreResult<()> {
    let found = data_fingerprint(d);
    if found != meta.data.fingerprint {
        return Err(StoreError::DataMismatch {
            data: d.source.clone(),
            model: model.map(Path::to_path_buf),
            found,
            expected: meta.data.fingerprint.clone(),
        });
    }
    if (d.n_users, d.n_items, d.train.len() as u64) != (meta.n_users, meta.n_items, meta.train_rows)
    {
        return Err(StoreError::invalid(
            &d.source,
            format!(
                "the data has {} users, {} items and {} training rows, but the model records \
                 {}, {} and {}",
                d.n_users,
                d.n_items,
                d.train.len(),
                meta.n_users,
                meta.n_items,
                meta.train_rows
            ),
        ));
    }
    Ok(())
}

/// Brings in a model trained elsewhere: its `model.json` (`meta_json`) and `model.safetensors`
/// (`tensors`). The data is loaded from `data_override`, else from `data.path` (relative to
/// `meta_json`'s folder when relative); `data.format` may be `auto`. When `data.fingerprint` is
/// left out it is computed from that data, else the data must match it. The id maps are the
/// data's and nothing is forgotten (a fresh salt). Returns the state, ready for
/// [`super::ModelDir::create`], and the data.
pub fn import_model(
    meta_json: &Path,
    tensors: &Path,
    data_override: Option<&Path>,
) -> StoreResult<(super::ModelState, Dataset)> {
    let bytes = std::fs::read(meta_json).map_err(|e| StoreError::io(meta_json, e))?;
    let mut meta = ModelMeta::from_json_unchecked(meta_json, &bytes)?;
    let base = meta_json.parent().unwrap_or(Path::new(""));
    let path = match data_override {
        Some(p) => p.to_path_buf(),
        None => base.join(&meta.data.path),
    };
    let format = match meta.data.format {
        Format::Auto => data::detect_format(&path).map_err(|source| StoreError::Data {
            model: None,
            source,
        })?,
        f => f,
    };
    meta.data.format = format;
    let path = match format {
        Format::Ifru | Format::Lightgcn => data::folder_of(&path),
        _ => path,
    };
    meta.data.path = absolute(&path)?;
    let d = load_unverified(&meta.data, &meta.data.path, None, None)?;
    if meta.data.fingerprint.is_empty() {
        meta.data.fingerprint = data_fingerprint(&d);
    }
    verify_for(&meta, &d, None)?;
    meta.check()
        .map_err(|m| StoreError::invalid(meta_json, m))?;
    let params = super::read_params(tensors, meta.n_users, meta.n_items, meta.spec.dim)?;
    let state = super::ModelState::new(meta, params, &d)?;
    Ok((state, d))
}

/// `path` made absolute, with `..` and symbolic links resolved when it exists.
fn absolute(path: &Path) -> StoreResult<PathBuf> {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .map_err(|e| StoreError::io(path, e))
}
