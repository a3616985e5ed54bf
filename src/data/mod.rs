//! Data: loaders, k-core, the IFRU split, forget files and the synthetic generator.
//!
//! Every loader returns interactions with **dense** ids (`0..n_users`, `0..n_items`) and keeps
//! the maps between the dataset's own (raw) ids and the dense ones ([`IdMap`]).
//!
//! * [`RawData`]: one table of raw interactions (MovieLens `u.data`, generic delimited files, the
//!   synthetic generator) that still needs a split: [`split`] makes one the IFRU way.
//! * [`Dataset`]: train / valid / test, ready for training (an IFRU-protocol folder, LightGCN's
//!   `train.txt`/`test.txt`, or the output of a split).
//!
//! Errors ([`DataError`]) name the file and the 1-based line; no loader panics on bad input.

mod error;
mod ids;
pub(crate) mod parse;

pub mod delimited;
pub mod forget;
pub mod ifru_folder;
pub mod kcore;
pub mod lightgcn;
pub mod movielens;
pub mod rng;
pub mod split;
pub mod synthetic;
mod whole;

use std::path::{Path, PathBuf};

pub use delimited::{DelimitedOptions, ValueColumn};
pub use error::DataError;
pub use ids::IdMap;

/// `len` flags, true at each of `ids` (ids at or past `len` are ignored: callers check
/// their ids where they read them).
pub fn id_mask(len: usize, ids: &[u32]) -> Vec<bool> {
    let mut mask = vec![false; len];
    for &id in ids {
        if let Some(slot) = mask.get_mut(id as usize) {
            *slot = true;
        }
    }
    mask
}

/// Labelled interactions with dense ids: row `r` is `(users[r], items[r], labels[r])`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interactions {
    /// Dense user id per row.
    pub users: Vec<u32>,
    /// Dense item id per row.
    pub items: Vec<u32>,
    /// Label per row, 0 or 1 (implicit data: all 1).
    pub labels: Vec<u8>,
}

impl Interactions {
    /// The first of `rows` that is not a row of this table, if any.
    pub fn first_row_outside(&self, rows: &[u32]) -> Option<u32> {
        rows.iter().copied().find(|&r| r as usize >= self.len())
    }

    /// An empty table with room for `n` rows.
    pub fn with_capacity(n: usize) -> Self {
        Interactions {
            users: Vec::with_capacity(n),
            items: Vec::with_capacity(n),
            labels: Vec::with_capacity(n),
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Appends one row.
    pub fn push(&mut self, user: u32, item: u32, label: u8) {
        self.users.push(user);
        self.items.push(item);
        self.labels.push(label);
    }

    /// Appends all rows of `other`.
    pub fn extend_from(&mut self, other: &Interactions) {
        self.users.extend_from_slice(&other.users);
        self.items.extend_from_slice(&other.items);
        self.labels.extend_from_slice(&other.labels);
    }

    /// The rows at `rows`, in that order (panics if a row id is out of range).
    pub fn select(&self, rows: &[u32]) -> Interactions {
        let mut out = Interactions::with_capacity(rows.len());
        for &r in rows {
            let r = r as usize;
            out.push(self.users[r], self.items[r], self.labels[r]);
        }
        out
    }

    /// Number of rows with label 1.
    pub fn positives(&self) -> usize {
        self.labels.iter().filter(|&&l| l == 1).count()
    }

    /// Labels as `f32` (what the kernels consume).
    pub fn labels_f32(&self) -> Vec<f32> {
        self.labels.iter().map(|&l| f32::from(l)).collect()
    }

    /// 1 + the largest user id (0 when empty).
    pub fn user_bound(&self) -> u32 {
        self.users.iter().max().map_or(0, |&m| m + 1)
    }

    /// 1 + the largest item id (0 when empty).
    pub fn item_bound(&self) -> u32 {
        self.items.iter().max().map_or(0, |&m| m + 1)
    }
}

/// What the third column of a raw table holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueKind {
    /// No value: every row is a positive interaction.
    Implicit,
    /// A numeric rating (or weight); labels come from a threshold.
    Rating,
    /// A binary label, 0 or 1.
    Label,
}

/// One raw table of interactions, not yet split. Ids are dense in order of first appearance in
/// the file; `user_ids` / `item_ids` map them back to the file's ids.
#[derive(Clone, Debug)]
pub struct RawData {
    /// The file the rows came from.
    pub source: PathBuf,
    /// Dense user id per row.
    pub users: Vec<u32>,
    /// Dense item id per row.
    pub items: Vec<u32>,
    /// Value per row (rating or 0/1 label); `None` for implicit data.
    pub values: Option<Vec<f32>>,
    /// What `values` holds.
    pub kind: ValueKind,
    /// Dense ↔ raw user ids.
    pub user_ids: IdMap,
    /// Dense ↔ raw item ids.
    pub item_ids: IdMap,
}

impl RawData {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Number of users (dense id bound).
    pub fn n_users(&self) -> u32 {
        self.user_ids.len() as u32
    }

    /// Number of items (dense id bound).
    pub fn n_items(&self) -> u32 {
        self.item_ids.len() as u32
    }

    /// Keeps the rows at `rows` (in that order; panics if a row id is out of range); the id
    /// maps are unchanged.
    pub fn select(&self, rows: &[u32]) -> RawData {
        let pick_u32 = |v: &[u32]| rows.iter().map(|&r| v[r as usize]).collect::<Vec<_>>();
        RawData {
            source: self.source.clone(),
            users: pick_u32(&self.users),
            items: pick_u32(&self.items),
            values: self
                .values
                .as_ref()
                .map(|v| rows.iter().map(|&r| v[r as usize]).collect()),
            kind: self.kind,
            user_ids: self.user_ids.clone(),
            item_ids: self.item_ids.clone(),
        }
    }
}

/// Train / valid / test with dense ids, ready for training.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Where it was loaded from.
    pub source: PathBuf,
    /// Number of users: every user id in the tables is below it.
    pub n_users: u32,
    /// Number of items: every item id in the tables is below it.
    pub n_items: u32,
    /// Dense ↔ the dataset's own user ids (identity for folders whose ids are already dense).
    pub user_ids: IdMap,
    /// Dense ↔ the dataset's own item ids.
    pub item_ids: IdMap,
    /// Training rows. For the IFRU protocol: `train_normal.csv` then `train_random.csv`.
    pub train: Interactions,
    /// Validation rows (model selection happens here, never on test).
    pub valid: Interactions,
    /// Test rows.
    pub test: Interactions,
    /// Training rows `[0, n_train_normal)` are clean; rows `[n_train_normal, train.len())` are
    /// the IFRU protocol's D_r (`train_random.csv`, labels flipped). Equal to `train.len()` when
    /// the data has no such part.
    pub n_train_normal: usize,
    /// True for implicit data (every row a positive; top-K protocol).
    pub implicit: bool,
}

impl Dataset {
    /// Grows the dataset to `n_users` users and `n_items` items: the new ids are nodes no row
    /// uses (an imported model's embedding rows that no row of the data names). Only for data
    /// whose ids are their own dense ids (identity id maps); never shrinks.
    pub fn extend_nodes(&mut self, n_users: u32, n_items: u32) -> Result<(), String> {
        if !(self.user_ids.is_identity() && self.item_ids.is_identity()) {
            return Err(
                "only data whose ids are row numbers (IFRU or LightGCN folders) can gain nodes"
                    .into(),
            );
        }
        if n_users < self.n_users || n_items < self.n_items {
            return Err(format!(
                "{n_users} users and {n_items} items cannot hold the data's {} and {}",
                self.n_users, self.n_items
            ));
        }
        self.n_users = n_users;
        self.n_items = n_items;
        self.user_ids = IdMap::identity(n_users);
        self.item_ids = IdMap::identity(n_items);
        Ok(())
    }

    /// Removes held-out rows a forget request named from the validation and test rows: from
    /// then on no evaluation or forgetting check reads them.
    pub fn without_held_out(&mut self, rows: &forget::HeldOutRows) {
        let keep = |t: &Interactions, gone: &[u32]| {
            let ids: Vec<u32> = (0..t.len() as u32)
                .filter(|r| gone.binary_search(r).is_err())
                .collect();
            t.select(&ids)
        };
        self.valid = keep(&self.valid, &rows.valid);
        self.test = keep(&self.test, &rows.test);
    }

    /// The raw (user, item) ids of the held-out rows `rows`, validation rows first.
    pub fn held_out_pairs(&self, rows: &forget::HeldOutRows) -> Vec<(String, String)> {
        let raw = |t: &Interactions, r: u32| {
            let r = r as usize;
            (
                self.user_ids
                    .raw(t.users[r])
                    .unwrap_or_default()
                    .into_owned(),
                self.item_ids
                    .raw(t.items[r])
                    .unwrap_or_default()
                    .into_owned(),
            )
        };
        let valid = rows
            .valid
            .iter()
            .filter(|&&r| (r as usize) < self.valid.len());
        let test = rows
            .test
            .iter()
            .filter(|&&r| (r as usize) < self.test.len());
        valid
            .map(|&r| raw(&self.valid, r))
            .chain(test.map(|&r| raw(&self.test, r)))
            .collect()
    }

    /// The training rows whose labels were flipped (D_r of the IFRU protocol), as row ids.
    pub fn flipped_rows(&self) -> std::ops::Range<u32> {
        self.n_train_normal as u32..self.train.len() as u32
    }
}

/// The on-disk formats the loaders understand.
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Recognise the format by its files (see [`detect_format`]).
    Auto,
    /// A folder with `train_normal.csv`, `train_random.csv`, `valid.csv`, `test.csv`.
    Ifru,
    /// MovieLens `u.data` (tab-separated user, item, rating, timestamp; no header).
    Movielens,
    /// LightGCN's `train.txt` / `test.txt` (a user id, then its item ids, per line).
    Lightgcn,
    /// A generic delimited file (see [`DelimitedOptions`]).
    Delimited,
}

impl Format {
    /// The lower-case name used on the command line and in recipes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Ifru => "ifru",
            Format::Movielens => "movielens",
            Format::Lightgcn => "lightgcn",
            Format::Delimited => "delimited",
        }
    }
}

/// Options for [`load`].
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// How to read a generic delimited file.
    pub delimited: DelimitedOptions,
    /// LightGCN data has no validation split: this fraction of each user's training rows is
    /// held out as validation, chosen by `holdout_seed`.
    pub holdout_frac: f64,
    /// Seed of the validation hold-out.
    pub holdout_seed: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            delimited: DelimitedOptions::default(),
            holdout_frac: lightgcn::DEFAULT_HOLDOUT_FRAC,
            holdout_seed: lightgcn::DEFAULT_HOLDOUT_SEED,
        }
    }
}

/// What [`load`] found.
#[derive(Clone, Debug)]
pub enum Loaded {
    /// A raw table that still needs a split.
    Raw(RawData),
    /// A dataset that is already split.
    Split(Dataset),
}

/// Recognises a format by its files:
/// * a folder holding `train_normal.csv` → [`Format::Ifru`];
/// * a folder holding `train.txt` and `test.txt` → [`Format::Lightgcn`];
/// * a file named `u.data`, or a folder holding one → [`Format::Movielens`];
/// * any other file → [`Format::Delimited`].
///
/// A file of an IFRU-protocol or LightGCN folder stands for its folder.
pub fn detect_format(path: &Path) -> Result<Format, DataError> {
    if path.is_dir() {
        if path.join("train_normal.csv").is_file() {
            Ok(Format::Ifru)
        } else if path.join("train.txt").is_file() && path.join("test.txt").is_file() {
            Ok(Format::Lightgcn)
        } else if path.join("u.data").is_file() {
            Ok(Format::Movielens)
        } else {
            Err(DataError::invalid(
                path,
                "cannot recognise the folder: expected train_normal.csv (IFRU protocol), \
                 train.txt + test.txt (LightGCN) or u.data (MovieLens)",
            ))
        }
    } else if path.is_file() {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let sibling = |s: &str| path.parent().is_some_and(|p| p.join(s).is_file());
        if name == "u.data" {
            Ok(Format::Movielens)
        } else if ifru_folder::FILES.contains(&name) && sibling("train_normal.csv") {
            Ok(Format::Ifru)
        } else if (name == "train.txt" || name == "test.txt")
            && sibling("train.txt")
            && sibling("test.txt")
        {
            Ok(Format::Lightgcn)
        } else {
            Ok(Format::Delimited)
        }
    } else {
        Err(DataError::invalid(path, "no such file or folder"))
    }
}

/// Loads `path` in `format` ([`Format::Auto`] recognises it with [`detect_format`]).
pub fn load(path: &Path, format: Format, opts: &LoadOptions) -> Result<Loaded, DataError> {
    let format = match format {
        Format::Auto => detect_format(path)?,
        f => f,
    };
    match format {
        Format::Auto => unreachable_auto(path),
        Format::Ifru => ifru_folder::load(&folder_of(path)).map(Loaded::Split),
        Format::Lightgcn => lightgcn::load(&folder_of(path), opts.holdout_frac, opts.holdout_seed)
            .map(Loaded::Split),
        Format::Movielens => {
            let file = if path.is_dir() {
                path.join("u.data")
            } else {
                path.to_path_buf()
            };
            movielens::load(&file).map(Loaded::Raw)
        }
        Format::Delimited => delimited::load(path, &opts.delimited).map(Loaded::Raw),
    }
}

/// The folder of a folder format: `path` itself, or the folder of a file in it.
pub fn folder_of(path: &Path) -> PathBuf {
    if path.is_file() {
        match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    } else {
        path.to_path_buf()
    }
}

fn unreachable_auto(path: &Path) -> Result<Loaded, DataError> {
    Err(DataError::invalid(path, "format detection failed"))
}
