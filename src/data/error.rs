use std::io;
use std::path::{Path, PathBuf};

/// Errors of the data layer. Messages name the file and, for problems in a line, the 1-based
/// line number.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file holds no lines at all.
    #[error("{}: empty file", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A line that cannot be parsed.
    #[error("{}:{line}: {msg}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// A label that is not 0 or 1.
    #[error("{}:{line}: label {value:?} is not 0 or 1", path.display())]
    BadLabel {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The field as written.
        value: String,
    },
    /// A rating that is not a (finite) number.
    #[error("{}:{line}: rating {value:?} is not a number", path.display())]
    BadRating {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The field as written.
        value: String,
    },
    /// A problem with a file as a whole (no rows, ids not dense, not a permutation, ...).
    #[error("{}: {msg}", path.display())]
    Invalid {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// Bad arguments (no file involved).
    #[error("{0}")]
    Config(String),
}

impl DataError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn malformed(path: &Path, line: usize, msg: impl Into<String>) -> Self {
        DataError::Malformed {
            path: path.to_path_buf(),
            line,
            msg: msg.into(),
        }
    }

    pub(crate) fn invalid(path: &Path, msg: impl Into<String>) -> Self {
        DataError::Invalid {
            path: path.to_path_buf(),
            msg: msg.into(),
        }
    }

    /// The 1-based line number, for errors that point at a line.
    pub fn line(&self) -> Option<usize> {
        match self {
            DataError::Malformed { line, .. }
            | DataError::BadLabel { line, .. }
            | DataError::BadRating { line, .. } => Some(*line),
            _ => None,
        }
    }
}
