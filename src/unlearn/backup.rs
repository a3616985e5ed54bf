//! The θ rows a request is about to change, kept so that a failed request can write them
//! back bit for bit.
//!
//! An influence update changes only the kept rows P and the nodes it isolates, a few
//! hundred rows of a model that may have millions: copying or checking all of θ per request
//! was, on Gowalla, most of a small request's time (two O(N·d) device passes against an
//! update that costs O(|P|·d)). The rows are copied in runs of consecutive nodes, one copy
//! per run, into a device buffer: a backup costs no round trip to the host, and a restore
//! is the same copies back.

use std::ops::Range;

use crate::gpu::{Gpu, GpuBuffer, GpuResult};
use crate::kernels::DeviceTable;

/// Rows of a node-major table as they were, for writing back.
pub struct RowBackup {
    /// Runs of consecutive rows, ascending, as value ranges of the table.
    runs: Vec<Range<usize>>,
    /// The runs' values, concatenated.
    values: Kept,
}

/// Where a backup's values are.
enum Kept {
    /// Read back (a fine-tune needs them on the host as its start).
    Host(Vec<f32>),
    /// Copied on the device: no round trip, and a restore is device copies.
    Device(GpuBuffer<f32>),
}

impl RowBackup {
    /// Rows `nodes` (ascending, distinct) of `table`, copied on the device: ordered after the
    /// work already submitted and before any later, with no read-back.
    pub fn take(gpu: &Gpu, table: &DeviceTable, nodes: &[u32]) -> GpuResult<Self> {
        let runs = value_runs(nodes, table.dim() as usize);
        let total: usize = runs.iter().map(Range::len).sum();
        let copy = gpu.alloc::<f32>(total.max(1), "rows backed up")?;
        let mut encoder = gpu.encoder("backing up rows");
        let mut at = 0;
        for run in &runs {
            encoder.copy_buffer_to_buffer(
                table.values().raw(),
                bytes(run.start),
                copy.raw(),
                bytes(at),
                bytes(run.len()),
            );
            at += run.len();
        }
        gpu.submit("backing up rows", encoder)?;
        Ok(RowBackup {
            runs,
            values: Kept::Device(copy),
        })
    }

    /// Every row of `table`, read back.
    pub fn read_all(gpu: &Gpu, table: &DeviceTable) -> GpuResult<Self> {
        let runs: Vec<Range<usize>> = std::iter::once(0..table.values().len()).collect();
        let values = gpu.download_ranges(table.values(), &runs)?;
        Ok(RowBackup {
            runs,
            values: Kept::Host(values),
        })
    }

    /// The values read back by [`RowBackup::read_all`], runs concatenated (`None` for a
    /// backup kept on the device).
    pub fn values(&self) -> Option<&[f32]> {
        match &self.values {
            Kept::Host(values) => Some(values),
            Kept::Device(_) => None,
        }
    }

    /// Writes the rows back into `table` (ordered after work already submitted).
    pub fn restore(&self, gpu: &Gpu, table: &DeviceTable) -> GpuResult<()> {
        match &self.values {
            Kept::Host(values) => {
                let mut at = 0;
                for run in &self.runs {
                    let len = run.len();
                    table
                        .values()
                        .write_at(gpu.queue(), run.start, &values[at..at + len])?;
                    at += len;
                }
                Ok(())
            }
            Kept::Device(copy) => {
                let mut encoder = gpu.encoder("restoring rows");
                let mut at = 0;
                for run in &self.runs {
                    encoder.copy_buffer_to_buffer(
                        copy.raw(),
                        bytes(at),
                        table.values().raw(),
                        bytes(run.start),
                        bytes(run.len()),
                    );
                    at += run.len();
                }
                gpu.submit("restoring rows", encoder)
            }
        }
    }
}

/// Copies rows `nodes` (ascending, distinct) of `from` into the same rows of `to` (tables of
/// one shape), one device copy per run of consecutive rows: exact, and no kernel.
pub fn copy_rows(gpu: &Gpu, from: &DeviceTable, to: &DeviceTable, nodes: &[u32]) -> GpuResult<()> {
    if from.rows() != to.rows() || from.dim() != to.dim() {
        return Err(crate::gpu::GpuError::Invalid(format!(
            "copying rows between tables of {} × {} and {} × {}",
            from.rows(),
            from.dim(),
            to.rows(),
            to.dim()
        )));
    }
    if let Some(&v) = nodes.iter().find(|&&v| v >= from.rows()) {
        return Err(crate::gpu::GpuError::Invalid(format!(
            "row {v} of a table of {}",
            from.rows()
        )));
    }
    let mut encoder = gpu.encoder("copying rows");
    for run in value_runs(nodes, from.dim() as usize) {
        encoder.copy_buffer_to_buffer(
            from.values().raw(),
            bytes(run.start),
            to.values().raw(),
            bytes(run.start),
            bytes(run.len()),
        );
    }
    gpu.submit("copying rows", encoder)
}

/// Bytes of `values` f32 values.
fn bytes(values: usize) -> u64 {
    (values * std::mem::size_of::<f32>()) as u64
}

/// Value ranges of `nodes`' rows (`dim` values each), consecutive nodes merged.
pub(crate) fn value_runs(nodes: &[u32], dim: usize) -> Vec<Range<usize>> {
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
