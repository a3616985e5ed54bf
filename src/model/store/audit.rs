//! The audit log: one JSON object per line, one line per version a model has had.
//!
//! Each version folder holds the model's whole log up to and including its own entry
//! (`vNNNN/audit.jsonl`), written with the other files before `CURRENT` names the version, so a
//! version and its entry become live together or not at all, and a copied version folder carries
//! its history. `MODEL/audit.jsonl` is the same log at a path that does not change: it is
//! replaced (atomically) by the live version's log after each commit, and brought up to date
//! when the model is opened for writing after a crash between the two. It only ever grows; one
//! that is not a prefix of the live version's log was edited or damaged and is refused, never
//! overwritten.
//!
//! An entry: `version`, `parent` (the version it replaced, `null` for the first), `time`
//! (RFC 3339, UTC), `command`, `model_before` / `model_after` (`sha256:` of the
//! `model.safetensors` bytes; `model_before` is `null` for a model trained from scratch), then
//! whatever the command records (method, settings, counts, report fields, the salted digest of
//! the forgotten rows). Rows are never written in clear.

use std::path::Path;
use std::time::SystemTime;

use serde_json::{Map, Value};

use super::VersionId;
use super::error::{StoreError, StoreResult};
use super::fingerprint::sha256_tag;

/// The log's file name, in the model directory and in each version folder.
pub const AUDIT: &str = "audit.jsonl";

/// What a command says about the version it writes (the store adds the version, its parent,
/// the time and the model hashes).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditRecord {
    /// The command (`train`, `unlearn`, ...).
    pub command: String,
    /// Anything else to record; keys the store sets itself are overwritten.
    pub details: Map<String, Value>,
}

impl AuditRecord {
    /// A record of `command` with no details.
    pub fn new(command: &str) -> Self {
        AuditRecord {
            command: command.to_string(),
            details: Map::new(),
        }
    }

    /// Adds `key: value` (anything serialisable).
    pub fn with(mut self, key: &str, value: impl serde::Serialize) -> StoreResult<Self> {
        let fail = |e: serde_json::Error| {
            StoreError::State(format!("cannot record {key:?} in the audit log: {e}"))
        };
        // Through text rather than `to_value`, which widens an f32 to f64 digits
        // (0.006202556 would become 0.0062025561928749084 and differ from the report).
        let text = serde_json::to_string(&value).map_err(fail)?;
        let v = serde_json::from_str(&text).map_err(fail)?;
        self.details.insert(key.to_string(), v);
        Ok(self)
    }
}

/// A model's audit log: complete lines, each a JSON object with a `version`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditLog {
    text: String,
}

impl AuditLog {
    /// Parses a log (`path` names it in errors): every line must be a JSON object naming its
    /// version, and the last line must end with a newline.
    pub fn parse(path: &Path, bytes: &[u8]) -> StoreResult<Self> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| StoreError::invalid(path, format!("not UTF-8: {e}")))?;
        if !text.is_empty() && !text.ends_with('\n') {
            return Err(StoreError::invalid(path, "the last line is incomplete"));
        }
        for (k, line) in text.lines().enumerate() {
            let v: Value = serde_json::from_str(line)
                .map_err(|e| StoreError::invalid(path, format!("line {}: {e}", k + 1)))?;
            if !v.get("version").is_some_and(Value::is_string) {
                return Err(StoreError::invalid(
                    path,
                    format!("line {}: an entry without a \"version\"", k + 1),
                ));
            }
        }
        Ok(AuditLog {
            text: text.to_string(),
        })
    }

    /// Reads `path`; a missing file is an empty log (versions written before the log existed).
    pub fn read(path: &Path) -> StoreResult<Self> {
        match std::fs::read(path) {
            Ok(bytes) => Self::parse(path, &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AuditLog::default()),
            Err(e) => Err(StoreError::io(path, e)),
        }
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> Vec<Map<String, Value>> {
        // Lines were checked to be objects when the log was parsed or pushed.
        self.text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.text.lines().count()
    }

    /// True when there is no entry.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The bytes of the file.
    pub fn as_bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// The `model_after` of the last entry: the hash of the model this log leads to.
    pub(crate) fn last_model(&self) -> Option<String> {
        let last = self.text.lines().last()?;
        let v: Value = serde_json::from_str(last).ok()?;
        v.get("model_after")?.as_str().map(str::to_string)
    }

    /// Appends the entry of version `version` (replacing `parent`).
    pub(crate) fn push(
        &mut self,
        version: VersionId,
        parent: Option<VersionId>,
        record: &AuditRecord,
        model_before: Option<String>,
        model_after: &[u8],
    ) -> StoreResult<()> {
        let mut entry = record.details.clone();
        let mut set = |k: &str, v: Value| {
            entry.insert(k.to_string(), v);
        };
        set("version", version.name().into());
        set("parent", parent.map(VersionId::name).into());
        set("time", now_rfc3339().into());
        set("command", record.command.clone().into());
        set("model_before", model_before.into());
        set("model_after", sha256_tag(model_after).into());
        let line = serde_json::to_string(&entry)
            .map_err(|e| StoreError::State(format!("cannot serialise an audit entry: {e}")))?;
        self.text.push_str(&line);
        self.text.push('\n');
        Ok(())
    }
}

/// The current time in RFC 3339, UTC, to the millisecond.
fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// Brings `dir/audit.jsonl` up to the live version's log `live` (found at `live_path`): leaves
/// it when equal, replaces it when it is a prefix of `live` (a crash came between `CURRENT` and
/// the log), and refuses it otherwise.
pub(crate) fn reconcile(dir: &Path, live_path: &Path, live: &AuditLog) -> StoreResult<()> {
    let root = dir.join(AUDIT);
    let found = match std::fs::read(&root) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(StoreError::io(&root, e)),
    };
    if found == live.as_bytes() {
        return Ok(());
    }
    let prefix =
        live.as_bytes().starts_with(&found) && (found.is_empty() || found.ends_with(b"\n"));
    if !prefix {
        return Err(StoreError::invalid(
            &root,
            format!(
                "does not agree with the live version's log {} (it was edited or damaged); \
                 nothing was changed: compare the two and restore it from the version's copy",
                live_path.display()
            ),
        ));
    }
    write_root(dir, live)
}

/// Replaces `dir/audit.jsonl` with `log` (atomically).
pub(crate) fn write_root(dir: &Path, log: &AuditLog) -> StoreResult<()> {
    let root = dir.join(AUDIT);
    crate::fsio::write_atomic(&root, log.as_bytes()).map_err(|e| StoreError::io(&root, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_roundtrip_and_bad_logs_are_named() {
        let mut log = AuditLog::default();
        let rec = AuditRecord::new("unlearn")
            .with("method", "ifru")
            .unwrap()
            .with("version", "forged")
            .unwrap();
        log.push(
            VersionId(2),
            Some(VersionId(1)),
            &rec,
            Some("sha256:x".into()),
            b"abc",
        )
        .unwrap();
        let e = &log.entries()[0];
        assert_eq!(e["version"], "v0002", "the store's keys win");
        assert_eq!(e["parent"], "v0001");
        assert_eq!(e["method"], "ifru");
        assert_eq!(e["model_before"], "sha256:x");
        assert_eq!(log.last_model(), Some(sha256_tag(b"abc")));
        let t = e["time"].as_str().unwrap();
        assert!(t.ends_with('Z') && t.len() == 24, "{t}");
        let p = Path::new("a.jsonl");
        assert_eq!(AuditLog::parse(p, log.as_bytes()).unwrap(), log);
        let torn = &log.as_bytes()[..log.as_bytes().len() - 3];
        assert!(
            AuditLog::parse(p, torn)
                .unwrap_err()
                .to_string()
                .contains("incomplete")
        );
        let e = AuditLog::parse(p, b"{\"a\":1}\n").unwrap_err().to_string();
        assert!(e.contains("a.jsonl") && e.contains("line 1"), "{e}");
    }

    #[test]
    fn the_root_log_only_grows() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::default();
        log.push(VersionId(1), None, &AuditRecord::new("train"), None, b"1")
            .unwrap();
        let live = Path::new("v0001/audit.jsonl");
        reconcile(dir.path(), live, &log).unwrap();
        let root = dir.path().join(AUDIT);
        assert_eq!(std::fs::read(&root).unwrap(), log.as_bytes());
        let old = log.clone();
        log.push(
            VersionId(2),
            Some(VersionId(1)),
            &AuditRecord::new("unlearn"),
            None,
            b"2",
        )
        .unwrap();
        reconcile(dir.path(), live, &log).unwrap();
        assert_eq!(std::fs::read(&root).unwrap(), log.as_bytes());
        // A log that is not a prefix of the live one is refused and kept.
        let mut other = old.clone();
        other
            .push(VersionId(2), None, &AuditRecord::new("x"), None, b"3")
            .unwrap();
        std::fs::write(&root, other.as_bytes()).unwrap();
        let e = reconcile(dir.path(), live, &log).unwrap_err().to_string();
        assert!(e.contains("does not agree"), "{e}");
        assert_eq!(std::fs::read(&root).unwrap(), other.as_bytes());
    }
}
