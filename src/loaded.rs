//! A model directory opened with its data: the live state, the rows it was left with, and
//! (for LightGCN) the graph of their positives — what every command that uses a model needs.

use std::path::Path;
use std::time::Duration;

use crate::data::{Dataset, Interactions};
use crate::error::Result;
use crate::gpu::{Gpu, Record};
use crate::graph::CsrArrays;

use crate::model::store::{ModelDir, ModelState};
use crate::model::{DeviceModel, adjacency_for};

/// An opened model directory with its data.
pub struct LoadedModel {
    pub dir: ModelDir,
    pub state: ModelState,
    pub data: Dataset,
    /// Training row ids not forgotten, ascending.
    pub row_ids: Vec<u32>,
    /// Those rows.
    pub rows: Interactions,
    /// Â of their positives (LightGCN).
    pub adjacency: Option<CsrArrays>,
}

impl LoadedModel {
    /// Opens `path` for reading, loads its live version and its data (from `data_override`
    /// when the data moved), checking the data's fingerprint.
    pub fn open(path: &Path, data_override: Option<&Path>) -> Result<Self> {
        Self::load(ModelDir::open(path)?, data_override)
    }

    /// [`LoadedModel::open`] for a read-modify-commit: the directory is opened for writing
    /// (its lock taken, waiting up to `lock_timeout`) before anything is read.
    pub fn open_for_write(
        path: &Path,
        data_override: Option<&Path>,
        lock_timeout: Duration,
    ) -> Result<Self> {
        Self::load(ModelDir::open_for_write(path, lock_timeout)?, data_override)
    }

    fn load(dir: ModelDir, data_override: Option<&Path>) -> Result<Self> {
        let state = dir.load()?;
        let mut data = dir.load_state_data(&state, data_override)?;
        // Held-out rows an earlier request named stay out of every evaluation.
        data.without_held_out(&state.forgotten.held_out_rows(&data));
        let row_ids = state.rows(&data);
        let rows = data.train.select(&row_ids);
        let adjacency = adjacency_for(&state.meta.spec, data.n_users, data.n_items, &rows)?;
        Ok(LoadedModel {
            dir,
            state,
            data,
            row_ids,
            rows,
            adjacency,
        })
    }

    /// The model on the device with its final embeddings computed.
    pub fn upload(&self, gpu: &Gpu) -> Result<DeviceModel> {
        let model = DeviceModel::upload(
            gpu,
            self.state.meta.spec,
            &self.state.params,
            self.adjacency.as_ref(),
        )?;
        let forward = model.forward(gpu)?;
        gpu.run("forward", |pass| forward.record(pass))?;
        drop(forward);
        Ok(model)
    }
}

/// A forget request matched against a model's training rows, line by line.
pub struct MatchedRequest {
    /// Every line of every file, classified ([`crate::unlearn::request`] decides what each class leads to).
    pub matches: Vec<(std::path::PathBuf, crate::data::forget::ForgetMatch)>,
    /// Counts by class, and the remaining training rows the request names.
    pub summary: crate::data::forget::ForgetSummary,
}

impl MatchedRequest {
    /// Training rows named by the request whether or not they are forgotten already: the
    /// rows whose forgetting an evaluation measures.
    pub fn named_rows(&self) -> Vec<u32> {
        use crate::data::forget::ForgetStatus;
        let mut rows: Vec<u32> = self
            .matches
            .iter()
            .flat_map(|(_, m)| match &m.status {
                ForgetStatus::Matched(r) | ForgetStatus::AlreadyForgotten(r) => r.clone(),
                _ => Vec::new(),
            })
            .collect();
        rows.sort_unstable();
        rows.dedup();
        rows
    }
}

impl LoadedModel {
    /// Reads forget files and classifies their lines against this model's training rows
    /// (duplicates across files count once). A file with no line after its header is refused:
    /// it is more likely the wrong file than a request to forget nothing.
    pub fn match_forget_files(&self, files: &[std::path::PathBuf]) -> Result<MatchedRequest> {
        use crate::data::forget::{
            ForgetStatus, ForgetSummary, Missing, PairIndex, match_forget, read_forget_file,
        };
        let mut lines = Vec::new();
        let mut origin = Vec::new();
        for file in files {
            let rows = read_forget_file(file)?;
            if rows.is_empty() {
                return Err(crate::Error::Invalid(format!(
                    "{}: no forget lines after the header; nothing was changed",
                    file.display()
                )));
            }
            origin.extend(std::iter::repeat_n(file.clone(), rows.len()));
            lines.extend(rows);
        }
        let index = PairIndex::new(&self.data.train);
        let forgotten = self.state.forgotten_mask(&self.data);
        let matches = match_forget(
            &lines,
            &self.data.train,
            &self.state.user_ids,
            &self.state.item_ids,
            &index,
            &forgotten,
        );
        let mut matches = matches;
        crate::data::forget::classify_held_out(&mut matches, &self.data);
        // A held-out row named by an earlier request has left the data: its pair is known
        // only to the forgotten set.
        for m in &mut matches {
            if m.status == ForgetStatus::NotInTraining(Missing::NoRow)
                && self.state.forgotten.contains(&m.row.user, &m.row.item)
            {
                m.status = ForgetStatus::AlreadyForgotten(Vec::new());
            }
        }
        let summary = ForgetSummary::of(&matches);
        Ok(MatchedRequest {
            matches: origin.into_iter().zip(matches).collect(),
            summary,
        })
    }
}
