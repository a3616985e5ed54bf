//! Errors of the model directory.

use std::io;
use std::path::{Path, PathBuf};

use crate::data::DataError;

use super::VersionId;

/// Errors of the model directory. Messages name the file (or folder) and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file or folder whose content is not what a model directory holds.
    #[error("{}: {msg}", path.display())]
    Invalid {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// A tensor of `model.safetensors` that is missing, of the wrong type or shape, or not
    /// finite.
    #[error("{}: tensor {tensor:?}: {msg}", path.display())]
    Tensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// What is wrong.
        msg: String,
    },
    /// The data found is not the data the model was trained on.
    #[error("{}", mismatch_message(data, model.as_deref(), found, expected))]
    DataMismatch {
        /// Where the data was loaded from.
        data: PathBuf,
        /// The model directory, when known.
        model: Option<PathBuf>,
        /// The fingerprint of the data found.
        found: String,
        /// The fingerprint recorded in the model.
        expected: String,
    },
    /// The model's data could not be loaded.
    #[error("cannot load the data of the model{}: {source}{}",
        model.as_ref().map(|m| format!(" at {}", m.display())).unwrap_or_default(),
        moved_hint(source))]
    Data {
        /// The model directory, when known.
        model: Option<PathBuf>,
        /// The loader's error (it names the file).
        source: DataError,
    },
    /// A model state that cannot be written (shapes disagree, values not finite, ...).
    #[error("invalid model state: {0}")]
    State(String),
    /// A commit made its version live but could not remove the older ones.
    #[error(
        "{}: version {live} is live, but an older version could not be removed ({source}); \
         older versions still encode rows forgotten since: remove them by hand, or open the \
         model again to retry",
        dir.display()
    )]
    StaleVersions {
        /// The model directory.
        dir: PathBuf,
        /// The version now live.
        live: VersionId,
        /// Why the removal failed.
        source: io::Error,
    },
    /// Another process holds the model directory's lock (it is writing a new version).
    #[error(
        "{}: another process is writing this model (it holds {}); gave up after {:.0} s: \
         try again when it is done, or wait longer",
        dir.display(), lock.display(), waited.as_secs_f64()
    )]
    Locked {
        /// The model directory.
        dir: PathBuf,
        /// The lock file the other process holds.
        lock: PathBuf,
        /// How long this process waited.
        waited: std::time::Duration,
    },
    /// A commit through a handle opened for reading only.
    #[error(
        "{}: opened for reading only; open it for writing (which takes its lock) to commit",
        dir.display()
    )]
    ReadOnly {
        /// The model directory.
        dir: PathBuf,
    },
    /// The operating system's random source failed.
    #[error("cannot draw a random salt: {0}")]
    Random(String),
}

/// The hint for data that is not where the model says: only when a file is missing (data that
/// is there but malformed did not move).
fn moved_hint(e: &DataError) -> &'static str {
    let missing = match e {
        DataError::Io { source, .. } => source.kind() == io::ErrorKind::NotFound,
        DataError::Invalid { msg, .. } => msg.contains("no such file"),
        _ => false,
    };
    if missing {
        "; give the data's new path if it moved"
    } else {
        ""
    }
}

fn mismatch_message(data: &Path, model: Option<&Path>, found: &str, expected: &str) -> String {
    let model = model
        .map(|m| format!(" at {}", m.display()))
        .unwrap_or_default();
    format!(
        "data at {} does not match the model{model} (fingerprint {found}, model expects \
         {expected}); pass --data to point at the data the model was trained on",
        data.display()
    )
}

impl StoreError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn invalid(path: &Path, msg: impl Into<String>) -> Self {
        StoreError::Invalid {
            path: path.to_path_buf(),
            msg: msg.into(),
        }
    }

    pub(crate) fn tensor(path: &Path, tensor: &str, msg: impl Into<String>) -> Self {
        StoreError::Tensor {
            path: path.to_path_buf(),
            tensor: tensor.to_string(),
            msg: msg.into(),
        }
    }
}

/// Results of the model directory.
pub type StoreResult<T> = Result<T, StoreError>;
