//! The θ rows a request is about to change, kept on the host so that a failed request can
//! write them back bit for bit.
//!
//! An influence update changes only the kept rows P and the nodes it isolates, a few
//! hundred rows of a model that may have millions: copying or checking all of θ per request
//! was, on Gowalla, most of a small request's time (two O(N·d) device passes against an
//! update that costs O(|P|·d)). The rows are read back in runs of consecutive nodes, one
//! copy per run and one mapping in all.

use std::ops::Range;

use crate::gpu::{Gpu, GpuResult};
use crate::kernels::DeviceTable;

/// Rows of a node-major table, read back.
pub struct RowBackup {
    /// Runs of consecutive rows, ascending, as value ranges of the table.
    runs: Vec<Range<usize>>,
    /// The runs' values, concatenated.
    values: Vec<f32>,
}

impl RowBackup {
    /// Reads rows `nodes` (ascending, distinct) of `table`.
    pub fn read(gpu: &Gpu, table: &DeviceTable, nodes: &[u32]) -> GpuResult<Self> {
        let runs = value_runs(nodes, table.dim() as usize);
        let values = gpu.download_ranges(table.values(), &runs)?;
        Ok(RowBackup { runs, values })
    }

    /// Every row of `table`.
    pub fn read_all(gpu: &Gpu, table: &DeviceTable) -> GpuResult<Self> {
        let runs: Vec<Range<usize>> = std::iter::once(0..table.values().len()).collect();
        let values = gpu.download_ranges(table.values(), &runs)?;
        Ok(RowBackup { runs, values })
    }

    /// Reads the same rows of `table` again (as they are now).
    pub fn reread(&self, gpu: &Gpu, table: &DeviceTable) -> GpuResult<Vec<f32>> {
        gpu.download_ranges(table.values(), &self.runs)
    }

    /// The values read, runs concatenated.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Writes the rows back into `table` (ordered after work already submitted).
    pub fn restore(&self, gpu: &Gpu, table: &DeviceTable) -> GpuResult<()> {
        let mut at = 0;
        for run in &self.runs {
            let len = run.len();
            table
                .values()
                .write_at(gpu.queue(), run.start, &self.values[at..at + len])?;
            at += len;
        }
        Ok(())
    }
}

/// Value ranges of `nodes`' rows (`dim` values each), consecutive nodes merged.
fn value_runs(nodes: &[u32], dim: usize) -> Vec<Range<usize>> {
    let mut runs: Vec<Range<usize>> = Vec::new();
    for &v in nodes {
        let row = v as usize * dim..(v as usize + 1) * dim;
        match runs.last_mut() {
            Some(last) if last.end == row.start => last.end = row.end,
            _ => runs.push(row),
        }
    }
    runs
}

/// Merges two ascending, distinct node lists into one.
pub fn union_sorted(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut all: Vec<u32> = a.iter().chain(b).copied().collect();
    all.sort_unstable();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::{union_sorted, value_runs};

    #[test]
    fn consecutive_rows_form_one_run() {
        assert_eq!(
            value_runs(&[2, 3, 4, 7, 9, 10], 4),
            vec![8..20, 28..32, 36..44]
        );
        assert!(value_runs(&[], 4).is_empty());
    }

    #[test]
    fn union_is_sorted_and_distinct() {
        assert_eq!(union_sorted(&[1, 4, 6], &[0, 4, 9]), vec![0, 1, 4, 6, 9]);
    }
}
