//! The rows a model has forgotten, kept as salted hashes of their (user, item) raw-id pairs.
//!
//! Withdrawn data must not linger in the model directory, so pairs are never stored in clear:
//! each is `SHA-256(salt ‖ len(user): u64 LE ‖ user ‖ len(item): u64 LE ‖ item)` over the raw ids'
//! UTF-8 bytes, with a random 32-byte salt drawn once per model. A set is written as
//! `forgotten.json`: `{"schema": 1, "hash": "...", "salt": HEX, "pairs": [HEX, ...]}` with the
//! pairs sorted.
//!
//! Caveat: a salted hash hides a pair from someone who reads the folder, not from someone who
//! also has the data and the salt — they can hash every training pair and compare. That is by
//! design (the tool must recognise forgotten rows in the data); the salt stops precomputed
//! tables and makes the hashes of two models incomparable.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{StoreError, StoreResult};
use super::fingerprint::{hex, unhex};
use crate::data::Dataset;

/// Bytes of the salt.
pub const SALT_LEN: usize = 32;

/// How pairs are hashed, as recorded in `forgotten.json`.
pub const HASH_SCHEME: &str =
    "sha256(salt || u64le(len(user)) || user || u64le(len(item)) || item)";

/// A model's forgotten (user, item) pairs, as salted hashes.
#[derive(Clone, PartialEq, Eq)]
pub struct ForgottenSet {
    salt: [u8; SALT_LEN],
    hashes: BTreeSet<[u8; 32]>,
}

impl std::fmt::Debug for ForgottenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForgottenSet")
            .field("len", &self.hashes.len())
            .finish_non_exhaustive()
    }
}

impl ForgottenSet {
    /// An empty set with a fresh random salt from the operating system.
    pub fn new() -> StoreResult<Self> {
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt).map_err(|e| StoreError::Random(e.to_string()))?;
        Ok(Self::with_salt(salt))
    }

    /// An empty set with the given salt (tests, or a caller with its own random source).
    pub fn with_salt(salt: [u8; SALT_LEN]) -> Self {
        ForgottenSet {
            salt,
            hashes: BTreeSet::new(),
        }
    }

    /// The salt.
    pub fn salt(&self) -> &[u8; SALT_LEN] {
        &self.salt
    }

    fn salted(&self) -> Sha256 {
        let mut h = Sha256::new();
        h.update(self.salt);
        h
    }

    fn finish(mut h: Sha256, user: &str, item: &str) -> [u8; 32] {
        h.update((user.len() as u64).to_le_bytes());
        h.update(user.as_bytes());
        h.update((item.len() as u64).to_le_bytes());
        h.update(item.as_bytes());
        h.finalize().into()
    }

    fn hash(&self, user: &str, item: &str) -> [u8; 32] {
        Self::finish(self.salted(), user, item)
    }

    /// True when the pair (user raw id, item raw id) is forgotten.
    pub fn contains(&self, user: &str, item: &str) -> bool {
        self.hashes.contains(&self.hash(user, item))
    }

    /// Marks the pair forgotten; false when it already was.
    pub fn insert(&mut self, user: &str, item: &str) -> bool {
        let h = self.hash(user, item);
        self.hashes.insert(h)
    }

    /// Marks the pairs of the training rows `rows` of `d` forgotten (raw ids through `d`'s id
    /// maps); returns how many pairs were new. Panics if a row id is out of range.
    pub fn insert_rows(&mut self, d: &Dataset, rows: &[u32]) -> usize {
        let mut new = 0;
        for &r in rows {
            let (u, i) = raw_pair(d, r as usize);
            new += usize::from(self.insert(&u, &i));
        }
        new
    }

    /// A digest of the pairs of the training rows `rows` of `d` for the audit log: SHA-256 over
    /// their salted hashes (those `forgotten.json` keeps), sorted and without repeats, so it
    /// depends on the set of pairs only, not on order or repeats. Returns it as `sha256:` hex,
    /// with the number of distinct pairs. Someone with the data and the salt can check which
    /// pairs a request named; the digest alone shows nothing. Panics if a row id is out of
    /// range.
    pub fn digest_rows(&self, d: &Dataset, rows: &[u32]) -> (String, usize) {
        let base = self.salted();
        let pairs: BTreeSet<[u8; 32]> = rows
            .iter()
            .map(|&r| {
                let (u, i) = raw_pair(d, r as usize);
                Self::finish(base.clone(), &u, &i)
            })
            .collect();
        let mut h = Sha256::new();
        pairs.iter().for_each(|p| h.update(p));
        (format!("sha256:{}", hex(&h.finalize())), pairs.len())
    }

    /// The held-out rows of `d` (validation, test) whose pair is forgotten: a request named
    /// them, and they stay out of every evaluation from then on.
    pub fn held_out_rows(&self, d: &Dataset) -> crate::data::forget::HeldOutRows {
        let base = self.salted();
        let of = |t: &crate::data::Interactions| -> Vec<u32> {
            if self.hashes.is_empty() {
                return Vec::new();
            }
            (0..t.len())
                .filter(|&r| {
                    let u = d.user_ids.raw(t.users[r]).unwrap_or_default();
                    let i = d.item_ids.raw(t.items[r]).unwrap_or_default();
                    self.hashes.contains(&Self::finish(base.clone(), &u, &i))
                })
                .map(|r| r as u32)
                .collect()
        };
        crate::data::forget::HeldOutRows {
            valid: of(&d.valid),
            test: of(&d.test),
        }
    }

    /// Number of forgotten pairs.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// True when nothing is forgotten.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Per training row of `d`: is its pair forgotten. (A pair names every training row with
    /// it, as in forget files.)
    pub fn mask(&self, d: &Dataset) -> Vec<bool> {
        if self.hashes.is_empty() {
            return vec![false; d.train.len()];
        }
        let base = self.salted();
        (0..d.train.len())
            .map(|r| {
                let (u, i) = raw_pair(d, r);
                self.hashes.contains(&Self::finish(base.clone(), &u, &i))
            })
            .collect()
    }

    /// The salt and the hashes in hex, sorted (what `forgotten.json` holds).
    pub(crate) fn to_file(&self) -> ForgottenFile {
        ForgottenFile {
            schema: 1,
            hash: HASH_SCHEME.to_string(),
            salt: hex(&self.salt),
            pairs: self.hashes.iter().map(|h| hex(h)).collect(),
        }
    }

    /// Parses the bytes of a `forgotten.json` (`path` only names it in errors).
    pub fn parse(path: &Path, bytes: &[u8]) -> StoreResult<Self> {
        let file = serde_json::from_slice(bytes)
            .map_err(|e| StoreError::invalid(path, format!("line {}: {e}", e.line())))?;
        Self::from_file(path, file)
    }

    /// Reads what [`ForgottenSet::to_file`] wrote; `path` names the file in errors.
    pub(crate) fn from_file(path: &Path, f: ForgottenFile) -> StoreResult<Self> {
        if f.schema != 1 {
            return Err(StoreError::invalid(
                path,
                format!("schema {} is not supported (this build reads 1)", f.schema),
            ));
        }
        if f.hash != HASH_SCHEME {
            return Err(StoreError::invalid(
                path,
                format!("unknown hash scheme {:?}", f.hash),
            ));
        }
        let salt: [u8; SALT_LEN] = unhex(&f.salt)
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| StoreError::invalid(path, "the salt is not 64 hex digits"))?;
        let mut hashes = BTreeSet::new();
        for (k, p) in f.pairs.iter().enumerate() {
            let h: [u8; 32] = unhex(p).and_then(|v| v.try_into().ok()).ok_or_else(|| {
                StoreError::invalid(path, format!("pair {k} is not 64 hex digits: {p:?}"))
            })?;
            hashes.insert(h);
        }
        Ok(ForgottenSet { salt, hashes })
    }
}

fn raw_pair(d: &Dataset, r: usize) -> (Cow<'_, str>, Cow<'_, str>) {
    let u = d.user_ids.raw(d.train.users[r]).unwrap_or_default();
    let i = d.item_ids.raw(d.train.items[r]).unwrap_or_default();
    (u, i)
}

/// The content of `forgotten.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForgottenFile {
    pub schema: u32,
    pub hash: String,
    pub salt: String,
    pub pairs: Vec<String>,
}

/// The training rows of `d` that are not forgotten, ascending: the model's rows (and, from their
/// positives, its graph).
pub fn remaining_rows(d: &Dataset, forgotten: &ForgottenSet) -> Vec<u32> {
    forgotten
        .mask(d)
        .iter()
        .enumerate()
        .filter(|&(_, &f)| !f)
        .map(|(r, _)| r as u32)
        .collect()
}
