//! The model directory: what a model is on disk, before and after any unlearning.
//!
//! # Layout
//! ```text
//! MODEL/
//!   CURRENT              the live version's name and a newline, e.g. "v0002\n"
//!   LOCK                 empty; the advisory lock of the one writer ([`ModelDir::open_for_write`])
//!   audit.jsonl          the audit log: a copy of the live version's (see [`audit`])
//!   v0002/               the live version
//!     model.json         ModelMeta: schema, spec, λ, seeds, training recipe, data source
//!     model.safetensors  user_emb [n_users, d], item_emb [n_items, d], F32 little-endian
//!     user_ids.csv       id,raw — dense id → the dataset's own id (as the forget matcher uses)
//!     item_ids.csv       id,raw
//!     forgotten.json     the forgotten (user, item) pairs as salted SHA-256 hashes
//!     audit.jsonl        the audit log up to and including this version's entry
//! ```
//!
//! # Commits
//! A new state is written as a new version folder under a temporary name
//! (`v0003.tmp-<pid>-<n>`), every file fsynced (`model.json` last), renamed to `v0003`, and made
//! live by replacing `CURRENT` atomically ([`crate::fsio`]). `CURRENT` is the commit point: the
//! version and its audit entry (inside the folder) become live together. Then the root
//! `audit.jsonl` is replaced by the version's log and older versions are deleted, since their
//! parameters still encode the rows forgotten since.
//!
//! One writer at a time: [`ModelDir::open_for_write`] takes the directory's lock (waiting up to
//! a timeout) and holds it until the handle is dropped, so a read-modify-commit sees the result
//! of the writer before it. Opening for writing also repairs what a crash left: every version
//! folder `CURRENT` does not name (a complete one whose commit did not reach `CURRENT`, an old
//! one whose deletion failed), every temporary folder or file is removed, and the root log is
//! brought up to the live version's. [`ModelDir::open`] only reads and changes nothing. Other
//! files in the folder are left alone. `IFRU_FAULT_COMMIT` aborts a commit at a chosen point,
//! for tests ([`fault`]).
//!
//! # Rows
//! A model's rows are the training rows of its data minus the forgotten ones
//! ([`remaining_rows`]); LightGCN's graph is built from their positives. The data is found
//! through `model.json` ([`load_model_data`], an override path when it moved) and refused when
//! its fingerprint differs from the recorded one.

pub mod audit;
mod error;
pub mod fault;
mod fingerprint;
mod forgotten;
mod lock;
mod meta;
mod tensors;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fault::CommitPoint;

pub use audit::{AUDIT, AuditLog, AuditRecord};
pub use error::{StoreError, StoreResult};
pub use fingerprint::data_fingerprint;
pub use forgotten::{ForgottenSet, HASH_SCHEME, SALT_LEN, remaining_rows};
pub use lock::LOCK;
pub use meta::{
    DataSource, ImportedTables, ModelLength, ModelMeta, Regularization, SCHEMA, Seeds, WholeTables,
    import_model, load_model_data, split_dataset, verify_data,
};
pub use tensors::{
    ITEM_EMB, USER_EMB, f32_tables_to_safetensors, params_from_safetensors, params_to_safetensors,
    read_params, tables_to_safetensors, write_params,
};

use crate::data::split::{read_id_map, write_id_map};
use crate::data::{Dataset, IdMap};
use crate::model::Params;

/// The file naming the live version.
pub const CURRENT: &str = "CURRENT";
/// `model.json`.
pub const MODEL_JSON: &str = "model.json";
/// `model.safetensors`.
pub const MODEL_TENSORS: &str = "model.safetensors";
/// The user id map.
pub const USER_IDS: &str = "user_ids.csv";
/// The item id map.
pub const ITEM_IDS: &str = "item_ids.csv";
/// The forgotten pairs.
pub const FORGOTTEN: &str = "forgotten.json";

/// A version's number; its folder is `v` and at least 4 digits (`v0001`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VersionId(pub u32);

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{:04}", self.0)
    }
}

impl VersionId {
    /// Parses a version folder's name (`v0001`; exactly as [`fmt::Display`] writes it).
    pub fn parse(name: &str) -> Option<VersionId> {
        let digits = name.strip_prefix('v')?;
        if digits.len() < 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v = VersionId(digits.parse().ok()?);
        (v.to_string() == name).then_some(v)
    }

    /// The folder name.
    pub fn name(self) -> String {
        self.to_string()
    }
}

/// Is `name` a temporary version folder (`v0003.tmp-...`)?
fn is_temp_version(name: &str) -> bool {
    name.split_once(".tmp-")
        .is_some_and(|(v, _)| VersionId::parse(v).is_some())
}

/// Is `name` something a model directory's writes leave behind (a version, a temporary
/// version, a temporary file of `CURRENT` or of the root log)?
fn is_own_debris(name: &str) -> bool {
    VersionId::parse(name).is_some()
        || is_temp_version(name)
        || name.starts_with(&format!(".{CURRENT}.tmp."))
        || name.starts_with(&format!(".{AUDIT}.tmp."))
}

/// One state of a model: everything a version folder holds.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelState {
    /// `model.json`.
    pub meta: ModelMeta,
    /// The parameters.
    pub params: Params,
    /// Dense → the dataset's own user ids.
    pub user_ids: IdMap,
    /// Dense → the dataset's own item ids.
    pub item_ids: IdMap,
    /// The forgotten pairs.
    pub forgotten: ForgottenSet,
}

impl ModelState {
    /// A freshly trained model: `dataset`'s id maps and nothing forgotten (with a new random
    /// salt).
    pub fn new(meta: ModelMeta, params: Params, dataset: &Dataset) -> StoreResult<Self> {
        let s = ModelState {
            meta,
            params,
            user_ids: dataset.user_ids.clone(),
            item_ids: dataset.item_ids.clone(),
            forgotten: ForgottenSet::new()?,
        };
        s.check()?;
        Ok(s)
    }

    /// Checks that the parts agree (shapes, id map sizes, finite values, a valid spec).
    pub fn check(&self) -> StoreResult<()> {
        let m = &self.meta;
        let p = &self.params;
        let bad = |msg: String| Err(StoreError::State(msg));
        if m.schema != SCHEMA {
            return bad(format!("schema {} (this build writes {SCHEMA})", m.schema));
        }
        m.check().map_err(StoreError::State)?;
        if (p.n_users, p.n_items, p.dim) != (m.n_users, m.n_items, m.spec.dim) {
            return bad(format!(
                "parameters are {} users × {} items × d = {}, but model.json says {} × {} × {}",
                p.n_users, p.n_items, p.dim, m.n_users, m.n_items, m.spec.dim
            ));
        }
        let d = p.dim as usize;
        if p.user_emb.len() != p.n_users as usize * d || p.item_emb.len() != p.n_items as usize * d
        {
            return bad(format!(
                "parameter tables hold {} and {} values, expected {} and {}",
                p.user_emb.len(),
                p.item_emb.len(),
                p.n_users as usize * d,
                p.n_items as usize * d
            ));
        }
        if let Some(k) = p.user_emb.iter().position(|v| !v.is_finite()) {
            return bad(format!("user_emb[{}, {}] is not finite", k / d, k % d));
        }
        if let Some(k) = p.item_emb.iter().position(|v| !v.is_finite()) {
            return bad(format!("item_emb[{}, {}] is not finite", k / d, k % d));
        }
        if self.user_ids.len() != m.n_users as usize || self.item_ids.len() != m.n_items as usize {
            return bad(format!(
                "id maps hold {} users and {} items, but the model has {} and {}",
                self.user_ids.len(),
                self.item_ids.len(),
                m.n_users,
                m.n_items
            ));
        }
        Ok(())
    }

    /// Per training row of `d`: is it forgotten.
    pub fn forgotten_mask(&self, d: &Dataset) -> Vec<bool> {
        self.forgotten.mask(d)
    }

    /// The model's rows: the training rows of `d` not forgotten, ascending.
    pub fn rows(&self, d: &Dataset) -> Vec<u32> {
        remaining_rows(d, &self.forgotten)
    }
}

/// A model directory (see the module documentation).
#[derive(Clone, Debug)]
pub struct ModelDir {
    path: PathBuf,
    current: VersionId,
    /// Held by a handle opened for writing (shared by its clones).
    lock: Option<Arc<lock::DirLock>>,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// How long a writer waits for the lock by default.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(300);

impl ModelDir {
    /// Makes a model directory at `path` holding `state` as `v0001`, with a minimal audit entry
    /// (see [`ModelDir::create_with`]).
    pub fn create(path: &Path, state: &ModelState) -> StoreResult<ModelDir> {
        Self::create_with(
            path,
            state,
            &AuditRecord::new("create"),
            &AuditLog::default(),
        )
    }

    /// Makes a model directory at `path` holding `state` as `v0001`, its audit log `history`
    /// (empty for a new model; the log of the model it was derived from otherwise) followed by
    /// `record`'s entry. `path` may be missing or an empty folder (or one holding only the
    /// leftovers of an interrupted create); a folder that already holds a model, or other
    /// files, is refused. The handle returned holds the lock.
    pub fn create_with(
        path: &Path,
        state: &ModelState,
        record: &AuditRecord,
        history: &AuditLog,
    ) -> StoreResult<ModelDir> {
        state.check()?;
        // Checked before and after taking the lock: before, so a foreign folder is refused
        // without a LOCK file dropped in it; after, against a create that finished meanwhile.
        let check_folder = || -> StoreResult<Vec<String>> {
            if !path.is_dir() {
                return Err(StoreError::invalid(path, "exists and is not a folder"));
            }
            if path.join(CURRENT).exists() {
                return Err(StoreError::invalid(
                    path,
                    "already holds a model (it has a CURRENT file); open it to commit a new \
                     version, or choose another folder",
                ));
            }
            let names = list(path)?;
            if let Some(other) = names.iter().find(|n| !is_own_debris(n) && *n != LOCK) {
                return Err(StoreError::invalid(
                    path,
                    format!(
                        "the folder is not empty ({other:?}) and is not a model directory; \
                         choose a new or empty folder"
                    ),
                ));
            }
            Ok(names)
        };
        if path.exists() {
            check_folder()?;
        } else {
            fs::create_dir_all(path).map_err(|e| StoreError::io(path, e))?;
        }
        let held = lock::DirLock::acquire(path, Duration::ZERO)?;
        // Leftovers of an interrupted create: no CURRENT means nothing was ever live.
        for n in check_folder()? {
            if n != LOCK {
                remove_entry(&path.join(n))?;
            }
        }
        fault::point(CommitPoint::Start);
        let v = VersionId(1);
        let tensors = params_to_safetensors(&state.params)?;
        let mut log = history.clone();
        log.push(v, None, record, history.last_model(), &tensors)?;
        write_version(path, v, state, &tensors, &log)?;
        write_current(path, v)?;
        fault::point(CommitPoint::CurrentFlipped);
        audit::write_root(path, &log)?;
        fault::point(CommitPoint::LogWritten);
        fault::point(CommitPoint::Done);
        Ok(ModelDir {
            path: path.to_path_buf(),
            current: v,
            lock: Some(Arc::new(held)),
        })
    }

    /// Opens the model directory at `path` for reading: reads `CURRENT` and changes nothing.
    /// Such a handle cannot commit.
    pub fn open(path: &Path) -> StoreResult<ModelDir> {
        let current = Self::live_version(path)?;
        Ok(ModelDir {
            path: path.to_path_buf(),
            current,
            lock: None,
        })
    }

    /// Opens the model directory at `path` for writing: takes its lock, waiting up to
    /// `timeout` for another writer, then repairs what a crash may have left (see the module
    /// documentation). The lock is held until the handle (and its clones) are dropped.
    pub fn open_for_write(path: &Path, timeout: Duration) -> StoreResult<ModelDir> {
        // Not a model directory: refused before a LOCK file is made in it.
        Self::live_version(path)?;
        let held = lock::DirLock::acquire(path, timeout)?;
        let current = Self::live_version(path)?;
        let dir = ModelDir {
            path: path.to_path_buf(),
            current,
            lock: Some(Arc::new(held)),
        };
        dir.remove_others()?;
        let live = dir.version_path().join(AUDIT);
        audit::reconcile(path, &live, &AuditLog::read(&live)?)?;
        Ok(dir)
    }

    /// The version `CURRENT` names, checking that its folder exists.
    fn live_version(path: &Path) -> StoreResult<VersionId> {
        if !path.is_dir() {
            return Err(StoreError::invalid(path, "no such model directory"));
        }
        let current = read_current(path)?;
        if !path.join(current.name()).is_dir() {
            return Err(StoreError::invalid(
                &path.join(CURRENT),
                format!("names {current}, but there is no such version folder"),
            ));
        }
        Ok(current)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The live version.
    pub fn current_version(&self) -> VersionId {
        self.current
    }

    /// The live version's folder.
    pub fn version_path(&self) -> PathBuf {
        self.path.join(self.current.name())
    }

    /// Reads the live version's `model.json` only.
    pub fn load_meta(&self) -> StoreResult<ModelMeta> {
        let p = self.version_path().join(MODEL_JSON);
        let bytes = fs::read(&p).map_err(|e| StoreError::io(&p, e))?;
        ModelMeta::from_json(&p, &bytes)
    }

    /// The live version's audit log (empty for a version written before logs existed).
    pub fn audit_log(&self) -> StoreResult<AuditLog> {
        AuditLog::read(&self.version_path().join(AUDIT))
    }

    /// `sha256:` of the live version's `model.safetensors` (what audit entries record).
    pub fn model_hash(&self) -> StoreResult<String> {
        let p = self.version_path().join(MODEL_TENSORS);
        let bytes = fs::read(&p).map_err(|e| StoreError::io(&p, e))?;
        Ok(fingerprint::sha256_tag(&bytes))
    }

    /// Reads the live version.
    pub fn load(&self) -> StoreResult<ModelState> {
        let vdir = self.version_path();
        let meta = self.load_meta()?;
        let params = read_params(
            &vdir.join(MODEL_TENSORS),
            meta.n_users,
            meta.n_items,
            meta.spec.dim,
        )?;
        let user_ids = read_ids(&vdir.join(USER_IDS), meta.n_users)?;
        let item_ids = read_ids(&vdir.join(ITEM_IDS), meta.n_items)?;
        let fp = vdir.join(FORGOTTEN);
        let bytes = fs::read(&fp).map_err(|e| StoreError::io(&fp, e))?;
        let forgotten = ForgottenSet::parse(&fp, &bytes)?;
        Ok(ModelState {
            meta,
            params,
            user_ids,
            item_ids,
            forgotten,
        })
    }

    /// Makes `state` the live version with a minimal audit entry (see [`ModelDir::commit_with`]).
    pub fn commit(&mut self, state: &ModelState) -> StoreResult<VersionId> {
        self.commit_with(state, &AuditRecord::new("commit"))
    }

    /// Makes `state` the live version, with `record`'s entry appended to the audit log: writes
    /// the next version folder, replaces `CURRENT`, updates the root log, then deletes the
    /// older versions. The single write path of a model; needs a handle opened for writing.
    ///
    /// Fails without changing anything when the state is invalid (shapes, non-finite values)
    /// or when `CURRENT` no longer names the version this handle opened (a writer that ignored
    /// the lock committed). If the new version is live but an older one cannot be removed, the
    /// error is [`StoreError::StaleVersions`].
    pub fn commit_with(
        &mut self,
        state: &ModelState,
        record: &AuditRecord,
    ) -> StoreResult<VersionId> {
        if self.lock.is_none() {
            return Err(StoreError::ReadOnly {
                dir: self.path.clone(),
            });
        }
        state.check()?;
        let on_disk = read_current(&self.path)?;
        if on_disk != self.current {
            return Err(StoreError::invalid(
                &self.path.join(CURRENT),
                format!(
                    "names {on_disk}, but this model was opened at {}: another writer \
                     committed; open the model again",
                    self.current
                ),
            ));
        }
        let newest = list(&self.path)?
            .iter()
            .filter_map(|n| VersionId::parse(n))
            .max()
            .unwrap_or(self.current)
            .max(self.current);
        let next = newest
            .0
            .checked_add(1)
            .map(VersionId)
            .ok_or_else(|| StoreError::invalid(&self.path, "no version numbers left"))?;
        let tensors = params_to_safetensors(&state.params)?;
        let mut log = self.audit_log()?;
        log.push(
            next,
            Some(self.current),
            record,
            Some(self.model_hash()?),
            &tensors,
        )?;
        fault::point(CommitPoint::Start);
        write_version(&self.path, next, state, &tensors, &log)?;
        write_current(&self.path, next)?;
        fault::point(CommitPoint::CurrentFlipped);
        self.current = next;
        audit::write_root(&self.path, &log)?;
        fault::point(CommitPoint::LogWritten);
        self.remove_others()
            .map_err(|e| StoreError::StaleVersions {
                dir: self.path.clone(),
                live: next,
                source: match e {
                    StoreError::Io { source, .. } => source,
                    other => std::io::Error::other(other.to_string()),
                },
            })?;
        fault::point(CommitPoint::Done);
        Ok(next)
    }

    /// Loads the model's data (from `override_path` when given) and checks its fingerprint.
    pub fn load_data(
        &self,
        meta: &ModelMeta,
        override_path: Option<&Path>,
    ) -> StoreResult<Dataset> {
        // Data laid out by the model's own id maps (an import of a raw table) needs them.
        let maps = match meta.data.whole {
            Some(_) => {
                let vdir = self.version_path();
                Some((
                    read_ids(&vdir.join(USER_IDS), meta.n_users)?,
                    read_ids(&vdir.join(ITEM_IDS), meta.n_items)?,
                ))
            }
            None => None,
        };
        meta::load_data_for(meta, override_path, Some(&self.path), maps)
    }

    /// [`ModelDir::load_data`] for a state already loaded: its id maps lay the data out when
    /// the data needs them, without reading them again.
    pub fn load_state_data(
        &self,
        state: &ModelState,
        override_path: Option<&Path>,
    ) -> StoreResult<Dataset> {
        let maps = state
            .meta
            .data
            .whole
            .as_ref()
            .map(|_| (state.user_ids.clone(), state.item_ids.clone()));
        meta::load_data_for(&state.meta, override_path, Some(&self.path), maps)
    }

    /// Refuses `d` unless it is the data the model was trained on (the message names this
    /// model directory).
    pub fn verify_data(&self, meta: &ModelMeta, d: &Dataset) -> StoreResult<()> {
        meta::verify_for(meta, d, Some(&self.path))
    }

    /// Removes every version folder but the live one, and every temporary folder or file.
    fn remove_others(&self) -> StoreResult<()> {
        let live = self.current.name();
        let mut removed = false;
        for n in list(&self.path)? {
            if n != live && is_own_debris(&n) {
                remove_entry(&self.path.join(&n))?;
                removed = true;
            }
        }
        if removed {
            sync_dir(&self.path)?;
        }
        Ok(())
    }
}

/// The names in `dir` (names that are not UTF-8 are skipped: none of ours are).
fn list(dir: &Path) -> StoreResult<Vec<String>> {
    let mut names = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
        let e = e.map_err(|e| StoreError::io(dir, e))?;
        if let Ok(n) = e.file_name().into_string() {
            names.push(n);
        }
    }
    names.sort();
    Ok(names)
}

fn remove_entry(p: &Path) -> StoreResult<()> {
    let meta = fs::symlink_metadata(p).map_err(|e| StoreError::io(p, e))?;
    let r = if meta.is_dir() {
        fs::remove_dir_all(p)
    } else {
        fs::remove_file(p)
    };
    r.map_err(|e| StoreError::io(p, e))
}

fn read_current(dir: &Path) -> StoreResult<VersionId> {
    let p = dir.join(CURRENT);
    let text = match fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StoreError::invalid(
                dir,
                "not a model directory (no CURRENT file)",
            ));
        }
        Err(e) => return Err(StoreError::io(&p, e)),
    };
    VersionId::parse(text.trim_end()).ok_or_else(|| {
        StoreError::invalid(
            &p,
            format!("expected a version name such as v0001, found {text:?}"),
        )
    })
}

fn write_current(dir: &Path, v: VersionId) -> StoreResult<()> {
    let p = dir.join(CURRENT);
    crate::fsio::write_atomic(&p, format!("{v}\n").as_bytes()).map_err(|e| StoreError::io(&p, e))
}

/// Writes `state` (its parameters serialised as `tensors`) and the audit log `log` as version
/// `v` of the model at `dir`: into a temporary folder, every file fsynced, then renamed into
/// place. The temporary folder is removed if anything fails.
fn write_version(
    dir: &Path,
    v: VersionId,
    state: &ModelState,
    tensors: &[u8],
    log: &AuditLog,
) -> StoreResult<()> {
    let tmp = dir.join(format!(
        "{v}.tmp-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
    let result = (|| {
        write_version_files(&tmp, state, tensors, log)?;
        sync_dir(&tmp)?;
        fault::point(CommitPoint::VersionWritten);
        let dst = dir.join(v.name());
        fs::rename(&tmp, &dst).map_err(|e| StoreError::io(&dst, e))?;
        sync_dir(dir)?;
        fault::point(CommitPoint::VersionRenamed);
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

fn write_version_files(
    vdir: &Path,
    state: &ModelState,
    tensors: &[u8],
    log: &AuditLog,
) -> StoreResult<()> {
    let write = |name: &str, bytes: &[u8]| {
        let p = vdir.join(name);
        crate::fsio::write_atomic(&p, bytes).map_err(|e| StoreError::io(&p, e))
    };
    write(MODEL_TENSORS, tensors)?;
    fault::point(CommitPoint::VersionPartial);
    write_id_map(&vdir.join(USER_IDS), &state.user_ids).map_err(id_map_error)?;
    write_id_map(&vdir.join(ITEM_IDS), &state.item_ids).map_err(id_map_error)?;
    let mut forgotten = serde_json::to_vec_pretty(&state.forgotten.to_file())
        .map_err(|e| StoreError::State(format!("cannot serialise the forgotten set: {e}")))?;
    forgotten.push(b'\n');
    write(FORGOTTEN, &forgotten)?;
    write(AUDIT, log.as_bytes())?;
    // model.json last: a version folder with a model.json is complete.
    write(MODEL_JSON, &state.meta.to_json()?)
}

fn id_map_error(e: crate::data::DataError) -> StoreError {
    match e {
        crate::data::DataError::Io { path, source } => StoreError::Io { path, source },
        other => StoreError::State(other.to_string()),
    }
}

/// Reads an id map of `n` ids; one whose raw ids are `0, 1, ..., n-1` comes back as the
/// identity map.
fn read_ids(path: &Path, n: u32) -> StoreResult<IdMap> {
    let map = read_id_map(path).map_err(|e| match e {
        crate::data::DataError::Io { path, source } => StoreError::Io { path, source },
        other => StoreError::invalid(path, other.to_string()),
    })?;
    if map.len() != n as usize {
        return Err(StoreError::invalid(
            path,
            format!("holds {} ids, but model.json says {n}", map.len()),
        ));
    }
    let identity = (0..n).all(|k| map.raw(k).is_some_and(|r| r == k.to_string()));
    Ok(if identity { IdMap::identity(n) } else { map })
}

/// Fsyncs a folder so renames and removals in it are durable (a no-op off Unix).
fn sync_dir(dir: &Path) -> StoreResult<()> {
    crate::fsio::sync_dir(dir).map_err(|e| StoreError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names() {
        assert_eq!(VersionId(3).to_string(), "v0003");
        assert_eq!(VersionId(12345).to_string(), "v12345");
        assert_eq!(VersionId::parse("v0003"), Some(VersionId(3)));
        assert_eq!(VersionId::parse("v12345"), Some(VersionId(12345)));
        for bad in [
            "v003", "v00003", "0003", "v0003x", "v-001", "v+001", "CURRENT", "",
        ] {
            assert_eq!(VersionId::parse(bad), None, "{bad}");
        }
        assert!(is_temp_version("v0002.tmp-1-2"));
        assert!(!is_temp_version("x0002.tmp-1-2"));
        assert!(is_own_debris(".CURRENT.tmp.12.0"));
        assert!(!is_own_debris("audit.jsonl"));
    }
}
