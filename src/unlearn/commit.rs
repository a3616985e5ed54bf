//! A forget request applied to a model directory and committed as a new version with its
//! audit entry: what `ifru unlearn` does, for any embedder (a binding, a service) to do the
//! same. The directory changes only by the commit, which is atomic; a request that fails
//! before it leaves the directory as it was.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::eval::{RankingOptions, RequestMetrics, request_metrics};
use crate::gpu::{AdapterRecord, Gpu};
use crate::loaded::LoadedModel;
use crate::model::store::{AuditRecord, ModelDir, VersionId};

use super::engine::{ForgetRequest, Method, MethodId, MethodOutcome, Unlearner};
use super::request::{AcceptedRequest, ForgetRows};

/// Where the new version goes.
#[derive(Debug, Clone, Copy)]
pub enum Destination<'a> {
    /// A new version of the opened directory (opened for writing: its lock held).
    InPlace,
    /// A new model directory, starting from the opened one's history.
    NewDirectory(&'a Path),
}

/// The method's result: the report's fields, and what the audit log records of a request.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct MethodResult {
    #[serde(flatten)]
    pub outcome: MethodOutcome,
    #[serde(flatten)]
    pub metrics: RequestMetrics,
}

/// A committed request.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The version now live.
    pub version: VersionId,
    /// The directory it lives in.
    pub model_dir: PathBuf,
    /// The kind of rows the request forgot (as declared, or detected).
    pub kind: ForgetRows,
    /// The update and the metrics after it; `None` when the request named held-out rows
    /// only (the model needs no update for them).
    pub result: Option<MethodResult>,
}

/// Applies `request` to `loaded` as `how` says and commits the result to `destination`,
/// with an audit entry holding the method, the settings (`settings` adds the caller's), the
/// request's counts and digest (never its rows in clear), the adapter and the result.
/// Metrics are measured after the update with `ranking` (BPR models).
pub fn forget_and_commit(
    gpu: &Gpu,
    mut loaded: LoadedModel,
    request: &AcceptedRequest,
    how: &ForgetRequest,
    ranking: &RankingOptions,
    destination: Destination<'_>,
    settings: serde_json::Map<String, serde_json::Value>,
) -> Result<Committed> {
    // Held-out rows the request names leave the data here, so no check reads them as unseen
    // rows; their pairs join the forgotten set with the commit.
    let held_out_pairs = loaded.data.held_out_pairs(&request.held_out);
    loaded.data.without_held_out(&request.held_out);
    let kind = how
        .rows_kind
        .unwrap_or_else(|| ForgetRows::detect(&loaded.data, &request.rows));
    let mut settings = settings;
    settings.insert("held_out_rows".into(), request.held_out.len().into());
    if request.rows.is_empty() {
        let mut state = loaded.state.clone();
        for (user, item) in &held_out_pairs {
            state.forgotten.insert(user, item);
        }
        let record = AuditRecord::new("unlearn")
            .with("method", MethodId::None)?
            .with("request", &request.counts)?
            .with("settings", &settings)?;
        let (version, model_dir) = commit(loaded, &state, record, destination)?;
        return Ok(Committed {
            version,
            model_dir,
            kind,
            result: None,
        });
    }
    let method = how.method.id();
    let mut unlearner = Unlearner::new(gpu, &loaded)?;
    let outcome = unlearner.forget_with(&request.file_order, &how.clone().rows_kind(kind))?;
    unlearner.refresh()?;
    let spec = unlearner.spec();
    let metrics = request_metrics(
        gpu,
        unlearner.model().embeddings(),
        unlearner.data(),
        spec.loss,
        &request.file_order,
        ranking,
    )?;
    let mut state = unlearner.state_after(&loaded.state, &request.rows)?;
    for (user, item) in &held_out_pairs {
        state.forgotten.insert(user, item);
    }
    // Nothing is written unless the result is a valid model (finite, right shapes).
    state.check().map_err(|e| {
        Error::Invalid(format!(
            "the {} update did not give a valid model ({e}); nothing was changed",
            method.report_name()
        ))
    })?;
    let result = MethodResult { outcome, metrics };
    let (digest, pairs) = loaded
        .state
        .forgotten
        .digest_rows(&loaded.data, &request.rows);
    settings.insert(
        "forget_rows".into(),
        serde_json::to_value(kind).unwrap_or_default(),
    );
    let epochs = match how.method {
        Method::Finetune { epochs } => Some(epochs),
        _ => None,
    };
    settings.insert(
        "finetune_epochs".into(),
        serde_json::to_value(epochs).unwrap_or_default(),
    );
    let record = AuditRecord::new("unlearn")
        .with("method", method)?
        .with("settings", &settings)?
        .with(
            "forget",
            serde_json::json!({
                "digest": digest,
                "pairs": pairs,
                "rows": request.rows.len(),
                "scheme": "sha256 over the sorted salted pair hashes of forgotten.json",
            }),
        )?
        .with("request", &request.counts)?
        .with("adapter", AdapterRecord::from(gpu.adapter()))?
        .with("report", &result)?;
    let (version, model_dir) = commit(loaded, &state, record, destination)?;
    Ok(Committed {
        version,
        model_dir,
        kind,
        result: Some(result),
    })
}

/// Writes `state` with `record`: a new version in place, or a new directory that carries the
/// opened one's history and says where it came from.
fn commit(
    loaded: LoadedModel,
    state: &crate::model::store::ModelState,
    record: AuditRecord,
    destination: Destination<'_>,
) -> Result<(VersionId, PathBuf)> {
    match destination {
        Destination::NewDirectory(out) => {
            let record = record.with(
                "source",
                serde_json::json!({
                    "model_dir": loaded.dir.path(),
                    "version": loaded.dir.current_version().name(),
                }),
            )?;
            let history = loaded.dir.audit_log()?;
            let dir = ModelDir::create_with(out, state, &record, &history)?;
            Ok((dir.current_version(), out.to_path_buf()))
        }
        Destination::InPlace => {
            let mut dir = loaded.dir;
            let path = dir.path().to_path_buf();
            Ok((dir.commit_with(state, &record)?, path))
        }
    }
}
