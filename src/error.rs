//! The crate-level error, for operations that span data, graph, model directory and GPU.
//!
//! Each layer keeps its own error type ([`crate::data::DataError`],
//! [`crate::graph::GraphError`], [`crate::model::store::StoreError`],
//! [`crate::gpu::GpuError`]); [`Error`] carries whichever failed, and [`Error::kind`] sorts any
//! of them into the few cases a pipeline acts on differently (retry later, fix the input,
//! reopen the device, fall back to a retrain), the way `std::io::ErrorKind` does.

use thiserror::Error;

use crate::data::DataError;
use crate::gpu::GpuError;
use crate::graph::GraphError;
use crate::import::ImportError;
use crate::model::store::StoreError;

/// Any failure of a whole operation (train, evaluate, unlearn). Each variant keeps the
/// message of the layer that failed, which names the file, line, id or limit at fault.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(transparent)]
    Import(#[from] ImportError),
    /// A request or setting that cannot be carried out as given.
    #[error("{0}")]
    Invalid(String),
    /// Forget lines name rows that were never in the training data (the message lists them by
    /// file and line); nothing changed. Skipping them applies the rest.
    #[error("{0}")]
    NotInTraining(String),
    /// The influence system could not be solved at this model (singular, or not finite);
    /// nothing changed. A larger damping, or a retrain, is the way forward.
    #[error("{0}")]
    SolveRefused(String),
    /// The request's forgetting check failed and the request asked to be refused then
    /// ([`crate::unlearn::influence::OnCheckFail::Refuse`]); nothing changed.
    #[error("{0}")]
    CheckFailed(String),
    /// A failed request could not be rolled back on the device: this unlearner refuses further
    /// use (the model directory, written only by a commit, is unchanged).
    #[error("{0}")]
    Unusable(String),
}

/// What kind of failure an [`enum@Error`] is, for a caller that acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input is wrong: a file, line, id, row or setting (the message names it).
    BadInput,
    /// Another process holds the model directory's lock; try again later.
    LockHeld,
    /// The data given is not the data the model was trained on (fingerprint mismatch).
    DataMismatch,
    /// No usable GPU adapter, or the device refused, failed or was lost; open a new device.
    Device,
    /// The influence solve was refused; nothing changed.
    SolveRefused,
    /// The forgetting check failed and the request was refused; nothing changed.
    CheckFailed,
    /// The unlearner could not restore the model after a failure; open the model again.
    Unusable,
    /// Reading or writing a file failed.
    Io,
}

impl Error {
    /// The kind of failure, whichever layer raised it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Data(DataError::Io { .. }) => ErrorKind::Io,
            Error::Data(_) | Error::Graph(_) | Error::Invalid(_) | Error::NotInTraining(_) => {
                ErrorKind::BadInput
            }
            Error::Store(e) => match e {
                StoreError::Io { .. } | StoreError::StaleVersions { .. } => ErrorKind::Io,
                StoreError::Data {
                    source: DataError::Io { .. },
                    ..
                } => ErrorKind::Io,
                StoreError::Locked { .. } => ErrorKind::LockHeld,
                StoreError::DataMismatch { .. } => ErrorKind::DataMismatch,
                StoreError::Random(_) => ErrorKind::Io,
                _ => ErrorKind::BadInput,
            },
            Error::Gpu(e) => match e {
                GpuError::Invalid(_) | GpuError::Limit { .. } => ErrorKind::BadInput,
                _ => ErrorKind::Device,
            },
            Error::Import(ImportError::Io { .. }) => ErrorKind::Io,
            Error::Import(ImportError::Invalid { .. }) => ErrorKind::BadInput,
            Error::SolveRefused(_) => ErrorKind::SolveRefused,
            Error::CheckFailed(_) => ErrorKind::CheckFailed,
            Error::Unusable(_) => ErrorKind::Unusable,
        }
    }
}

/// Shorthand for crate-level results.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;

    #[test]
    fn each_layer_sorts_into_the_kind_a_caller_acts_on() {
        let locked = Error::Store(StoreError::Locked {
            dir: PathBuf::from("m"),
            lock: PathBuf::from("m/LOCK"),
            waited: Duration::ZERO,
        });
        assert_eq!(locked.kind(), ErrorKind::LockHeld);
        let io = Error::Data(DataError::Io {
            path: PathBuf::from("x.csv"),
            source: std::io::Error::other("gone"),
        });
        assert_eq!(io.kind(), ErrorKind::Io);
        assert_eq!(
            Error::Gpu(GpuError::DeviceLost("reset".into())).kind(),
            ErrorKind::Device
        );
        assert_eq!(Error::Invalid("row 3".into()).kind(), ErrorKind::BadInput);
        assert_eq!(
            Error::SolveRefused("singular".into()).kind(),
            ErrorKind::SolveRefused
        );
        assert_eq!(
            Error::CheckFailed("missed".into()).kind(),
            ErrorKind::CheckFailed
        );
    }
}
