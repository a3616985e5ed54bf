//! The IFRU split of raw rating data, and `ifru split`.
//!
//! The steps (those of the official `_data_process.py`, see `ml-100k-ifru/README.md`):
//! 1. iterative k-core ([`kcore_rows`]), row order kept;
//! 2. a shuffle of the rows: numpy's `np.random.seed(seed); np.random.shuffle(idx)`
//!    ([`numpy_shuffle`]), or a permutation read from a file (one index per line);
//! 3. train / valid / test = shuffled rows `[0, ⌊0.6N⌋)`, `[⌊0.6N⌋, ⌊0.8N⌋)`, `[⌊0.8N⌋, N)`;
//! 4. dense ids in order of first appearance in train; valid and test rows whose user or item
//!    does not occur in train are dropped;
//! 5. label = rating > threshold (label data keeps its labels; implicit data is all 1);
//! 6. D_r = the last `n − ⌊n(1 − ratio)⌋` training rows, written with flipped labels to
//!    `train_random.csv`; the first rows are D_s (`train_normal.csv`).
//!
//! The output folder also holds `train.csv` (D_s then D_r with the original labels, as the
//! official code writes it), `user_ids.csv` and `item_ids.csv` (header `id,raw`: dense id and the
//! source's raw id), and `recipe.json` ([`Recipe`]), from which [`rebuild`] makes the same split.
//!
//! LightGCN data has a fixed train/test split and no ratings: `ifru split` on it holds out a
//! seeded fraction of each user's training rows as validation, writes every training row to
//! `train_normal.csv` and leaves `train_random.csv` empty (the top-K protocol forgets rows
//! through forget files instead of flipped labels).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::ifru_folder::{self, write_table};
use super::kcore::kcore_rows;
use super::parse::{self, Lines};
use super::rng::numpy_shuffle;
use super::{
    DataError, Dataset, DelimitedOptions, Format, IdMap, Interactions, LoadOptions, Loaded,
    RawData, ValueKind,
};

/// Where the shuffle comes from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shuffle {
    /// numpy's legacy `np.random.seed(seed); np.random.shuffle(...)` (seed < 2^32).
    Seed(u64),
    /// A permutation file: one 0-based row index per line, as many lines as k-core rows.
    Permutation(PathBuf),
}

/// Arguments of `ifru split` (and of [`make_split`]).
#[derive(Clone, Debug, PartialEq)]
pub struct SplitArgs {
    /// The raw data: a file, or a folder recognised by [`super::detect_format`].
    pub data: PathBuf,
    /// Its format.
    pub format: Format,
    /// How to read it when it is a generic delimited file.
    pub delimited: DelimitedOptions,
    /// k of the iterative k-core (≤ 1: none).
    pub kcore: usize,
    /// Label = 1 when rating > threshold (ratings only).
    pub threshold: f64,
    /// The shuffle.
    pub shuffle: Shuffle,
    /// Fraction of train that becomes D_r (flipped labels), in `[0, 1)`.
    pub ratio: f64,
    /// LightGCN data only: fraction of each user's training rows held out as validation.
    pub holdout_frac: f64,
    /// LightGCN data only: seed of that hold-out.
    pub holdout_seed: u64,
    /// The output folder (created if missing; files in it are replaced).
    pub out: PathBuf,
}

impl SplitArgs {
    /// The IFRU defaults: auto format, 5-core, threshold 3, seed 1024, ratio 0.02, 10% hold-out
    /// for LightGCN data.
    pub fn new(data: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        SplitArgs {
            data: data.into(),
            format: Format::Auto,
            delimited: DelimitedOptions::default(),
            kcore: 5,
            threshold: 3.0,
            shuffle: Shuffle::Seed(1024),
            ratio: 0.02,
            holdout_frac: super::lightgcn::DEFAULT_HOLDOUT_FRAC,
            holdout_seed: super::lightgcn::DEFAULT_HOLDOUT_SEED,
            out: out.into(),
        }
    }
}

/// Size and FNV-1a-64 hash of a file's bytes, to check that a recipe is applied to the same data.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fingerprint {
    /// Size in bytes.
    pub bytes: u64,
    /// FNV-1a 64-bit hash, as 16 hex digits.
    pub fnv1a64: String,
}

impl Fingerprint {
    fn of_files(paths: &[PathBuf]) -> Result<Fingerprint, DataError> {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut n = 0u64;
        for p in paths {
            let bytes = parse::read(p)?;
            n += bytes.len() as u64;
            for &b in &bytes {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        Ok(Fingerprint {
            bytes: n,
            fnv1a64: format!("{h:016x}"),
        })
    }
}

/// Row counts of a split.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SplitCounts {
    /// Rows read from the source.
    pub rows_loaded: usize,
    /// Rows after the k-core filter.
    pub rows_after_kcore: usize,
    /// Training rows (D_s + D_r).
    pub train: usize,
    /// D_s rows (`train_normal.csv`).
    pub train_normal: usize,
    /// D_r rows (`train_random.csv`).
    pub train_random: usize,
    /// Validation rows.
    pub valid: usize,
    /// Test rows.
    pub test: usize,
    /// Valid rows dropped because their user or item is not in train.
    pub valid_dropped: usize,
    /// Test rows dropped because their user or item is not in train.
    pub test_dropped: usize,
    /// Users (all occur in train).
    pub n_users: u32,
    /// Items (all occur in train).
    pub n_items: u32,
}

/// Everything needed to rebuild a split: written as `recipe.json`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Recipe {
    /// Format version of this recipe.
    pub version: u32,
    /// The source, as given.
    pub source: PathBuf,
    /// The source's fingerprint (for a LightGCN folder: `train.txt` then `test.txt`).
    pub source_fingerprint: Fingerprint,
    /// The source format (never `auto`).
    pub format: Format,
    /// Delimited-file options, for a delimited source.
    pub delimited: Option<DelimitedOptions>,
    /// What the source's value column held.
    pub values: ValueKind,
    /// k of the k-core (rating data).
    pub kcore: usize,
    /// Label = rating > threshold (rating data only).
    pub threshold: Option<f64>,
    /// The shuffle (rating data).
    pub shuffle: Option<Shuffle>,
    /// Fingerprint of the permutation file, when one was used.
    pub permutation_fingerprint: Option<Fingerprint>,
    /// D_r fraction.
    pub ratio: f64,
    /// LightGCN data: (fraction, seed) of the validation hold-out.
    pub holdout: Option<(f64, u64)>,
    /// What came out.
    pub counts: SplitCounts,
}

impl Recipe {
    /// The arguments that make this split again, writing to `out`.
    pub fn to_args(&self, out: impl Into<PathBuf>) -> SplitArgs {
        let mut a = SplitArgs::new(&self.source, out);
        a.format = self.format;
        a.delimited = self.delimited.clone().unwrap_or_default();
        a.kcore = self.kcore;
        if let Some(t) = self.threshold {
            a.threshold = t;
        }
        if let Some(s) = &self.shuffle {
            a.shuffle = s.clone();
        }
        a.ratio = self.ratio;
        if let Some((f, s)) = self.holdout {
            a.holdout_frac = f;
            a.holdout_seed = s;
        }
        a
    }

    /// Reads a `recipe.json`.
    pub fn read(path: &Path) -> Result<Recipe, DataError> {
        Self::parse(path, &parse::read(path)?)
    }

    /// Parses the content of a `recipe.json` (`path` only names it in errors).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Recipe, DataError> {
        serde_json::from_slice(bytes)
            .map_err(|e| DataError::malformed(path, e.line().max(1), e.to_string()))
    }
}

/// A split in memory.
#[derive(Clone, Debug)]
pub struct IfruSplit {
    /// Training rows with their **original** labels: D_s then D_r.
    pub train: Interactions,
    /// Training rows `[0, n_train_normal)` are D_s; the rest are D_r.
    pub n_train_normal: usize,
    /// Validation rows.
    pub valid: Interactions,
    /// Test rows.
    pub test: Interactions,
    /// Dense → the source's raw user ids.
    pub user_ids: IdMap,
    /// Dense → the source's raw item ids.
    pub item_ids: IdMap,
    /// How it was made.
    pub recipe: Recipe,
    /// True for implicit data.
    pub implicit: bool,
}

impl IfruSplit {
    /// D_s (`train_normal.csv`).
    pub fn train_normal(&self) -> Interactions {
        let rows: Vec<u32> = (0..self.n_train_normal as u32).collect();
        self.train.select(&rows)
    }

    /// D_r with flipped labels (`train_random.csv`).
    pub fn train_random(&self) -> Interactions {
        let rows: Vec<u32> = (self.n_train_normal as u32..self.train.len() as u32).collect();
        let mut t = self.train.select(&rows);
        t.labels.iter_mut().for_each(|l| *l = 1 - *l);
        t
    }

    /// The dataset a training run sees: train = D_s then D_r with D_r's labels flipped.
    pub fn to_dataset(&self, source: &Path) -> Dataset {
        let mut train = self.train_normal();
        train.extend_from(&self.train_random());
        let n_users = self.user_ids.len() as u32;
        let n_items = self.item_ids.len() as u32;
        Dataset {
            source: source.to_path_buf(),
            n_users,
            n_items,
            user_ids: IdMap::identity(n_users),
            item_ids: IdMap::identity(n_items),
            train,
            valid: self.valid.clone(),
            test: self.test.clone(),
            n_train_normal: self.n_train_normal,
            implicit: self.implicit,
        }
    }

    /// Writes the IFRU-protocol folder (see the module documentation).
    pub fn write(&self, dir: &Path) -> Result<(), DataError> {
        std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
        write_table(&dir.join("train_normal.csv"), &self.train_normal())?;
        write_table(&dir.join("train_random.csv"), &self.train_random())?;
        write_table(&dir.join("valid.csv"), &self.valid)?;
        write_table(&dir.join("test.csv"), &self.test)?;
        write_table(&dir.join("train.csv"), &self.train)?;
        write_id_map(&dir.join("user_ids.csv"), &self.user_ids)?;
        write_id_map(&dir.join("item_ids.csv"), &self.item_ids)?;
        let mut json = serde_json::to_vec_pretty(&self.recipe)
            .map_err(|e| DataError::Config(format!("cannot serialise the recipe: {e}")))?;
        json.push(b'\n');
        let path = dir.join("recipe.json");
        crate::fsio::write_atomic(&path, &json).map_err(|e| DataError::io(&path, e))
    }
}

/// Writes an id map as CSV with header `id,raw`, one dense id per line in order.
pub fn write_id_map(path: &Path, map: &IdMap) -> Result<(), DataError> {
    crate::fsio::write_atomic_with(path, |w| {
        writeln!(w, "id,raw")?;
        for id in 0..map.len() as u32 {
            let raw = map.raw(id).unwrap_or_default();
            writeln!(w, "{id},{}", parse::csv_field(&raw))?;
        }
        Ok(())
    })
    .map_err(|e| DataError::io(path, e))
}

/// Reads an id map written by [`write_id_map`]; dense ids must be `0, 1, 2, ...` in order.
pub fn read_id_map(path: &Path) -> Result<IdMap, DataError> {
    parse_id_map(path, &parse::read(path)?)
}

/// Parses the content of an id map file (`path` only names it in errors).
pub fn parse_id_map(path: &Path, bytes: &[u8]) -> Result<IdMap, DataError> {
    let mut lines = Lines::new(bytes);
    let delim = parse::Delim::Char(',');
    let mut fields = Vec::new();
    match lines.next_nonblank(path) {
        None => {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
            });
        }
        Some(h) => {
            let (line, text) = h?;
            if text.trim() != "id,raw" {
                return Err(DataError::malformed(
                    path,
                    line,
                    "expected the header \"id,raw\"",
                ));
            }
        }
    }
    let mut map = IdMap::new();
    while let Some(next) = lines.next_nonblank(path) {
        let (line, text) = next?;
        parse::split_fields(text, &delim, &mut fields)
            .map_err(|m| DataError::malformed(path, line, m))?;
        if fields.len() != 2 {
            return Err(DataError::malformed(
                path,
                line,
                "expected 2 fields (id,raw)",
            ));
        }
        let id = parse::parse_id(path, line, "dense", &fields[0])?;
        if id as usize != map.len() || map.get(&fields[1]).is_some() {
            return Err(DataError::malformed(
                path,
                line,
                "ids must be 0, 1, 2, ... in order, with distinct raw ids",
            ));
        }
        map.intern(&fields[1])
            .ok_or_else(|| DataError::malformed(path, line, "too many ids"))?;
    }
    Ok(map)
}

/// Reads a permutation file (one 0-based index per line) that must permute `0..n`.
pub fn read_permutation(path: &Path, n: usize) -> Result<Vec<u32>, DataError> {
    parse_permutation(path, &parse::read(path)?, n)
}

/// Parses the content of a permutation file of `0..n` (`path` only names it in errors).
pub fn parse_permutation(path: &Path, bytes: &[u8], n: usize) -> Result<Vec<u32>, DataError> {
    let mut lines = Lines::new(bytes);
    let mut perm = Vec::with_capacity(n);
    let mut seen = vec![false; n];
    while let Some(next) = lines.next_nonblank(path) {
        let (line, text) = next?;
        let v = parse::parse_id(path, line, "row", text.trim())?;
        if v as usize >= n {
            return Err(DataError::malformed(
                path,
                line,
                format!("index {v} is out of range: the table has {n} rows"),
            ));
        }
        if std::mem::replace(&mut seen[v as usize], true) {
            return Err(DataError::malformed(
                path,
                line,
                format!("index {v} repeats"),
            ));
        }
        perm.push(v);
    }
    if perm.len() != n {
        return Err(DataError::invalid(
            path,
            format!("holds {} indices, but the table has {n} rows", perm.len()),
        ));
    }
    Ok(perm)
}

fn check_args(a: &SplitArgs) -> Result<(), DataError> {
    if !(a.ratio.is_finite() && (0.0..1.0).contains(&a.ratio)) {
        return Err(DataError::Config(format!(
            "the ratio must be in [0, 1), not {}",
            a.ratio
        )));
    }
    if !a.threshold.is_finite() {
        return Err(DataError::Config(
            "the label threshold must be a number".into(),
        ));
    }
    if !(a.holdout_frac.is_finite() && (0.0..1.0).contains(&a.holdout_frac)) {
        return Err(DataError::Config(format!(
            "the validation hold-out fraction must be in [0, 1), not {}",
            a.holdout_frac
        )));
    }
    if let Shuffle::Seed(s) = a.shuffle {
        if s > u64::from(u32::MAX) {
            return Err(DataError::Config(format!(
                "the seed must be below 2^32 (numpy's legacy seeding), not {s}"
            )));
        }
    }
    Ok(())
}

/// Makes the split described by `args` in memory (`args.out` is not used).
pub fn make_split(args: &SplitArgs) -> Result<IfruSplit, DataError> {
    check_args(args)?;
    let format = match args.format {
        Format::Auto => super::detect_format(&args.data)?,
        f => f,
    };
    let opts = LoadOptions {
        delimited: args.delimited.clone(),
        holdout_frac: args.holdout_frac,
        holdout_seed: args.holdout_seed,
    };
    match format {
        Format::Ifru => Err(DataError::invalid(
            &args.data,
            "this is already an IFRU-protocol folder; split raw data instead",
        )),
        Format::Lightgcn => split_lightgcn(args),
        _ => {
            let raw = match super::load(&args.data, format, &opts)? {
                Loaded::Raw(r) => r,
                Loaded::Split(_) => {
                    return Err(DataError::invalid(&args.data, "expected raw data"));
                }
            };
            let source_files = vec![raw.source.clone()];
            let fp = Fingerprint::of_files(&source_files)?;
            let mut s = split_raw(&raw, args)?;
            s.recipe.source = args.data.clone();
            s.recipe.source_fingerprint = fp;
            s.recipe.format = format;
            s.recipe.delimited = (format == Format::Delimited).then(|| args.delimited.clone());
            Ok(s)
        }
    }
}

/// The IFRU split of a raw table (the module documentation lists the steps). The returned
/// recipe's source fields describe `raw.source`.
pub fn split_raw(raw: &RawData, args: &SplitArgs) -> Result<IfruSplit, DataError> {
    check_args(args)?;
    let rows = kcore_rows(&raw.users, &raw.items, args.kcore);
    let n = rows.len();
    if n == 0 {
        return Err(DataError::invalid(
            &raw.source,
            format!("no rows are left after the {}-core filter", args.kcore),
        ));
    }
    if u32::try_from(n).is_err() {
        return Err(DataError::invalid(
            &raw.source,
            "too many rows (2^32 or more)",
        ));
    }
    let (perm, perm_fp) = match &args.shuffle {
        Shuffle::Seed(s) => (numpy_shuffle(n, *s as u32), None),
        Shuffle::Permutation(p) => (
            read_permutation(p, n)?,
            Some(Fingerprint::of_files(std::slice::from_ref(p))?),
        ),
    };
    let shuffled: Vec<u32> = perm.iter().map(|&k| rows[k as usize]).collect();
    let n1 = (n as f64 * 0.6) as usize;
    let n2 = (n as f64 * 0.8) as usize;

    let label_of = |r: usize| -> u8 {
        match (&raw.values, raw.kind) {
            (Some(v), ValueKind::Rating) => u8::from(f64::from(v[r]) > args.threshold),
            (Some(v), ValueKind::Label) => u8::from(v[r] == 1.0),
            _ => 1,
        }
    };

    // Dense ids in order of first appearance in train.
    const NONE: u32 = u32::MAX;
    let mut umap = vec![NONE; raw.n_users() as usize];
    let mut imap = vec![NONE; raw.n_items() as usize];
    let mut user_keep = Vec::new();
    let mut item_keep = Vec::new();
    let mut train = Interactions::with_capacity(n1);
    for &r in &shuffled[..n1] {
        let r = r as usize;
        let (u, i) = (raw.users[r] as usize, raw.items[r] as usize);
        if umap[u] == NONE {
            umap[u] = user_keep.len() as u32;
            user_keep.push(u as u32);
        }
        if imap[i] == NONE {
            imap[i] = item_keep.len() as u32;
            item_keep.push(i as u32);
        }
        train.push(umap[u], imap[i], label_of(r));
    }
    let map_rest = |part: &[u32]| -> (Interactions, usize) {
        let mut t = Interactions::with_capacity(part.len());
        let mut dropped = 0;
        for &r in part {
            let r = r as usize;
            let (u, i) = (umap[raw.users[r] as usize], imap[raw.items[r] as usize]);
            if u == NONE || i == NONE {
                dropped += 1;
            } else {
                t.push(u, i, label_of(r));
            }
        }
        (t, dropped)
    };
    let (valid, valid_dropped) = map_rest(&shuffled[n1..n2]);
    let (test, test_dropped) = map_rest(&shuffled[n2..]);
    let n_train_normal = (train.len() as f64 * (1.0 - args.ratio)) as usize;

    let counts = SplitCounts {
        rows_loaded: raw.len(),
        rows_after_kcore: n,
        train: train.len(),
        train_normal: n_train_normal,
        train_random: train.len() - n_train_normal,
        valid: valid.len(),
        test: test.len(),
        valid_dropped,
        test_dropped,
        n_users: user_keep.len() as u32,
        n_items: item_keep.len() as u32,
    };
    let recipe = Recipe {
        version: 1,
        source: raw.source.clone(),
        source_fingerprint: Fingerprint {
            bytes: 0,
            fnv1a64: String::new(),
        },
        format: args.format,
        delimited: None,
        values: raw.kind,
        kcore: args.kcore,
        threshold: (raw.kind == ValueKind::Rating).then_some(args.threshold),
        shuffle: Some(args.shuffle.clone()),
        permutation_fingerprint: perm_fp,
        ratio: args.ratio,
        holdout: None,
        counts,
    };
    Ok(IfruSplit {
        train,
        n_train_normal,
        valid,
        test,
        user_ids: raw.user_ids.subset(&user_keep),
        item_ids: raw.item_ids.subset(&item_keep),
        recipe,
        implicit: raw.kind == ValueKind::Implicit,
    })
}

fn split_lightgcn(args: &SplitArgs) -> Result<IfruSplit, DataError> {
    let dir = super::folder_of(&args.data);
    let d = super::lightgcn::load(&dir, args.holdout_frac, args.holdout_seed)?;
    let files = [dir.join("train.txt"), dir.join("test.txt")];
    let fp = Fingerprint::of_files(&files)?;
    let counts = SplitCounts {
        rows_loaded: d.train.len() + d.valid.len() + d.test.len(),
        rows_after_kcore: d.train.len() + d.valid.len() + d.test.len(),
        train: d.train.len(),
        train_normal: d.train.len(),
        train_random: 0,
        valid: d.valid.len(),
        test: d.test.len(),
        valid_dropped: 0,
        test_dropped: 0,
        n_users: d.n_users,
        n_items: d.n_items,
    };
    let recipe = Recipe {
        version: 1,
        source: args.data.clone(),
        source_fingerprint: fp,
        format: Format::Lightgcn,
        delimited: None,
        values: ValueKind::Implicit,
        kcore: 0,
        threshold: None,
        shuffle: None,
        permutation_fingerprint: None,
        ratio: 0.0,
        holdout: Some((args.holdout_frac, args.holdout_seed)),
        counts,
    };
    Ok(IfruSplit {
        n_train_normal: d.train.len(),
        train: d.train,
        valid: d.valid,
        test: d.test,
        user_ids: d.user_ids,
        item_ids: d.item_ids,
        recipe,
        implicit: true,
    })
}

/// What [`run_split`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitSummary {
    /// The output folder.
    pub out: PathBuf,
    /// The recipe written to `recipe.json`.
    pub recipe: Recipe,
}

/// `ifru split`: makes the split of `args` and writes the IFRU-protocol folder `args.out`.
pub fn run_split(args: &SplitArgs) -> Result<SplitSummary, DataError> {
    let s = make_split(args)?;
    s.write(&args.out)?;
    Ok(SplitSummary {
        out: args.out.clone(),
        recipe: s.recipe,
    })
}

/// Makes the split a recipe describes again, checking that the source (and permutation file)
/// still have the recorded fingerprints.
pub fn rebuild(recipe: &Recipe) -> Result<IfruSplit, DataError> {
    let s = make_split(&recipe.to_args(PathBuf::new()))?;
    if s.recipe.source_fingerprint != recipe.source_fingerprint {
        return Err(DataError::invalid(
            &recipe.source,
            "the source's content differs from the one the recipe was made from",
        ));
    }
    if s.recipe.permutation_fingerprint != recipe.permutation_fingerprint {
        return Err(DataError::Config(
            "the permutation file's content differs from the one the recipe was made from".into(),
        ));
    }
    Ok(s)
}

/// Loads an IFRU-protocol folder written by [`run_split`] together with its id maps (dense →
/// the source's raw ids), so rows can be named by their raw ids.
pub fn load_with_id_maps(dir: &Path) -> Result<(Dataset, IdMap, IdMap), DataError> {
    let d = ifru_folder::load(dir)?;
    let u = read_id_map(&dir.join("user_ids.csv"))?;
    let i = read_id_map(&dir.join("item_ids.csv"))?;
    Ok((d, u, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_split_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("r.tsv");
        let mut text = String::new();
        for u in 0..20 {
            for i in 0..10 {
                text.push_str(&format!("u{u}\tb{i}\t{}\n", (u * 7 + i * 3) % 5 + 1));
            }
        }
        std::fs::write(&src, &text).unwrap();
        let out = dir.path().join("out");
        let mut args = SplitArgs::new(&src, &out);
        args.ratio = 0.1;
        args.shuffle = Shuffle::Seed(7);
        let summary = run_split(&args).unwrap();
        let c = &summary.recipe.counts;
        assert_eq!(c.rows_loaded, 200);
        assert_eq!(c.train, 120);
        assert_eq!(c.train_random, 12);
        assert_eq!(
            c.train + c.valid + c.test + c.valid_dropped + c.test_dropped,
            200
        );
        let (d, users, items) = load_with_id_maps(&out).unwrap();
        assert_eq!(d.train.len(), 120);
        assert_eq!(d.n_train_normal, 108);
        assert!(users.get("u3").is_some());
        assert!(items.get("b9").is_some());
        let recipe = Recipe::read(&out.join("recipe.json")).unwrap();
        assert_eq!(recipe, summary.recipe);
        let again = rebuild(&recipe).unwrap();
        assert_eq!(again.train, make_split(&args).unwrap().train);
        // Flipped labels in train_random, original ones in train.csv.
        let s = make_split(&args).unwrap();
        let r = s.train_random();
        for k in 0..r.len() {
            assert_eq!(r.labels[k], 1 - s.train.labels[s.n_train_normal + k]);
        }
    }

    #[test]
    fn bad_arguments() {
        let mut a = SplitArgs::new("x", "y");
        a.ratio = 1.0;
        assert!(matches!(make_split(&a), Err(DataError::Config(_))));
        a.ratio = 0.02;
        a.shuffle = Shuffle::Seed(1 << 40);
        assert!(matches!(make_split(&a), Err(DataError::Config(_))));
    }

    #[test]
    fn permutation_file_checks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.txt");
        std::fs::write(&p, "2\n0\n1\n").unwrap();
        assert_eq!(read_permutation(&p, 3).unwrap(), [2, 0, 1]);
        assert!(read_permutation(&p, 4).is_err());
        std::fs::write(&p, "2\n0\n0\n").unwrap();
        assert_eq!(read_permutation(&p, 3).unwrap_err().line(), Some(3));
        std::fs::write(&p, "2\n0\n3\n").unwrap();
        assert_eq!(read_permutation(&p, 3).unwrap_err().line(), Some(3));
    }
}

#[cfg(test)]
mod lightgcn_tests {
    use super::*;

    #[test]
    fn lightgcn_split_holds_out_validation() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("lg");
        std::fs::create_dir(&src).unwrap();
        let mut train = String::new();
        for u in 0..10 {
            train.push_str(&format!("{u}"));
            for i in 0..20 {
                train.push_str(&format!(" {}", (u + i) % 30));
            }
            train.push('\n');
        }
        std::fs::write(src.join("train.txt"), train).unwrap();
        std::fs::write(src.join("test.txt"), "0 29\n1 0\n").unwrap();
        let out = dir.path().join("out");
        let s = run_split(&SplitArgs::new(&src, &out)).unwrap();
        let c = &s.recipe.counts;
        assert_eq!((c.train, c.valid, c.test, c.train_random), (180, 20, 2, 0));
        assert_eq!(s.recipe.format, Format::Lightgcn);
        let d = ifru_folder::load(&out).unwrap();
        assert_eq!(d.train.len(), 180);
        assert_eq!(d.valid.len(), 20);
        assert_eq!(d.n_train_normal, 180);
        assert!(d.train.labels.iter().all(|&l| l == 1));
        let recipe = Recipe::read(&out.join("recipe.json")).unwrap();
        assert_eq!(rebuild(&recipe).unwrap().valid, d.valid);
    }
}
