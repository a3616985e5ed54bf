//! What a forget request leads to, by the matcher's classes: rows never in
//! the training data or with a different label refuse the whole request (naming the lines);
//! rows already forgotten are counted and skipped; duplicate lines count once.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::data::forget::{ForgetMatch, ForgetStatus, HeldOutRows, Missing};
use crate::loaded::MatchedRequest;

/// What kind of rows a request forgets (how a model that never saw them would score them).
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgetRows {
    /// Real interactions: an unseen row scores like a validation row with its own label.
    Genuine,
    /// Rows whose labels were flipped (poisoned): like a validation row with its label flipped.
    Flipped,
}

impl ForgetRows {
    /// `Flipped` when every row lies in the dataset's flipped rows (D_r of an IFRU-protocol
    /// folder, whose labels were flipped), else `Genuine`.
    pub fn detect(data: &crate::data::Dataset, rows: &[u32]) -> Self {
        let flipped = data.flipped_rows();
        if !rows.is_empty() && rows.iter().all(|r| flipped.contains(r)) {
            ForgetRows::Flipped
        } else {
            ForgetRows::Genuine
        }
    }

    /// Its slot in per-kind arrays (genuine 0, flipped 1).
    pub fn index(self) -> usize {
        match self {
            ForgetRows::Genuine => 0,
            ForgetRows::Flipped => 1,
        }
    }
}

/// Lines of a request by class, and the rows it will forget.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RequestCounts {
    pub lines: usize,
    pub matched: usize,
    pub already_forgotten: usize,
    pub not_in_training: usize,
    pub duplicate: usize,
    pub label_mismatch: usize,
    /// Lines naming rows the data held out of training (validation, test): accepted; the
    /// rows leave the held-out set and the model needs no update for them.
    pub held_out: usize,
    /// Training rows the request forgets (a pair may name several rows).
    pub rows: usize,
}

/// A request ready to apply.
#[derive(Debug, Clone)]
pub struct AcceptedRequest {
    /// Training row ids to forget, ascending, none already forgotten.
    pub rows: Vec<u32>,
    /// The same rows in the order their lines appear (files in the order given): the order
    /// `forget_auc_b` halves, so a calibration fitted on the first half never sees the second.
    pub file_order: Vec<u32>,
    pub counts: RequestCounts,
    /// Held-out rows the request names (positions in the data's validation and test rows).
    pub held_out: HeldOutRows,
    /// Things the caller should say (duplicates, skipped lines).
    pub warnings: Vec<String>,
}

/// Lines named in an error: the first few, then a count.
const SHOWN: usize = 5;

fn describe(lines: &[&(PathBuf, ForgetMatch)]) -> String {
    let mut out = String::new();
    for (file, m) in lines.iter().take(SHOWN) {
        let (u, i) = (&m.row.user, &m.row.item);
        let _ = write!(
            out,
            "\n  {}:{}: user {u:?}, item {i:?}",
            file.display(),
            m.row.line
        );
        let why = match &m.status {
            ForgetStatus::NotInTraining(Missing::UnknownUser) => {
                format!("no user {u:?} in the data")
            }
            ForgetStatus::NotInTraining(Missing::UnknownItem) => {
                format!("no item {i:?} in the data")
            }
            ForgetStatus::NotInTraining(Missing::UnknownIds) => {
                format!("no user {u:?} and no item {i:?} in the data")
            }
            ForgetStatus::NotInTraining(Missing::NoRow) => "no training row pairs them".into(),
            ForgetStatus::LabelMismatch {
                training_labels, ..
            } => format!(
                "label {}, but the training label is {}",
                m.row.label.map_or("-".into(), |l| l.to_string()),
                training_labels
                    .iter()
                    .map(u8::to_string)
                    .collect::<Vec<_>>()
                    .join("/")
            ),
            ForgetStatus::Duplicate { first_line } => format!("repeats line {first_line}"),
            ForgetStatus::HeldOut(_) => "a held-out (validation or test) row".into(),
            ForgetStatus::Matched(_) | ForgetStatus::AlreadyForgotten(_) => String::new(),
        };
        if !why.is_empty() {
            let _ = write!(out, " ({why})");
        }
    }
    if lines.len() > SHOWN {
        let _ = write!(out, "\n  ... and {} more", lines.len() - SHOWN);
    }
    out
}

/// Applies the request rules. With `skip_missing`, lines never in the training data are
/// skipped (and reported) instead of refusing the request.
pub fn accept(request: &MatchedRequest, skip_missing: bool) -> crate::Result<AcceptedRequest> {
    let s = &request.summary;
    let counts = RequestCounts {
        lines: request.matches.len(),
        matched: s.matched,
        already_forgotten: s.already_forgotten,
        not_in_training: s.not_in_training,
        duplicate: s.duplicate,
        label_mismatch: s.label_mismatch,
        held_out: s.held_out,
        rows: s.rows.len(),
    };
    let of = |pred: fn(&ForgetStatus) -> bool| -> Vec<&(PathBuf, ForgetMatch)> {
        request
            .matches
            .iter()
            .filter(|(_, m)| pred(&m.status))
            .collect()
    };
    let mismatched = of(|s| matches!(s, ForgetStatus::LabelMismatch { .. }));
    if !mismatched.is_empty() {
        return Err(crate::Error::Invalid(format!(
            "refused: {} forget line(s) carry a label that differs from the training row's; nothing was changed:{}",
            mismatched.len(),
            describe(&mismatched)
        )));
    }
    let missing = of(|s| matches!(s, ForgetStatus::NotInTraining(_)));
    let mut warnings = Vec::new();
    if !missing.is_empty() {
        if !skip_missing {
            return Err(crate::Error::NotInTraining(format!(
                "refused: {} forget line(s) name rows that were never in the training data; nothing was changed (skipping the missing lines applies the rest):{}",
                missing.len(),
                describe(&missing)
            )));
        }
        warnings.push(format!(
            "skipped {} line(s) never in the training data:{}",
            missing.len(),
            describe(&missing)
        ));
    }
    let duplicates = of(|s| matches!(s, ForgetStatus::Duplicate { .. }));
    if !duplicates.is_empty() {
        warnings.push(format!(
            "{} duplicate line(s) counted once:{}",
            duplicates.len(),
            describe(&duplicates)
        ));
    }
    let held_out = of(|s| matches!(s, ForgetStatus::HeldOut(_)));
    if !held_out.is_empty() {
        warnings.push(format!(
            "{} line(s) name rows the data held out of training ({} validation, {} test): they \
             leave the held-out set and need no model update",
            held_out.len(),
            s.held_out_rows.valid.len(),
            s.held_out_rows.test.len()
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let file_order = request
        .matches
        .iter()
        .filter_map(|(_, m)| match &m.status {
            ForgetStatus::Matched(rows) => Some(rows.clone()),
            _ => None,
        })
        .flatten()
        .filter(|r| seen.insert(*r))
        .collect();
    Ok(AcceptedRequest {
        rows: s.rows.clone(),
        file_order,
        counts,
        held_out: s.held_out_rows.clone(),
        warnings,
    })
}
