//! Splitting a row-major table into row ranges that each fit one storage binding.
//!
//! Devices cap a single storage binding (128 MiB on lavapipe) below the buffer size,
//! so a kernel that reads or writes a larger table binds it one row range at a time.
//! Each range starts at a byte offset that honours the device's offset alignment.

use super::error::{GpuError, GpuResult};

/// Rows `start..start + count` of a table, bound as one range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowChunk {
    pub start: u32,
    pub count: u32,
}

impl RowChunk {
    /// One past the last row.
    pub fn end(&self) -> u32 {
        self.start + self.count
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Row ranges of a `rows` × `row_bytes` table, each at most `cap` bytes, each starting at a
/// multiple of `align` bytes. An empty table yields one empty chunk, so callers still bind it.
pub fn row_chunks(rows: u32, row_bytes: u64, cap: u64, align: u64) -> GpuResult<Vec<RowChunk>> {
    if row_bytes == 0 || align == 0 {
        return Err(GpuError::Invalid("table rows of 0 bytes".into()));
    }
    // Chunk starts must be multiples of this many rows to keep byte offsets aligned.
    let step_rows = align / gcd(align, row_bytes);
    let per_chunk = (cap / row_bytes) / step_rows * step_rows;
    if per_chunk == 0 {
        return Err(GpuError::Limit {
            what: format!("a table row of {row_bytes} bytes (aligned to {step_rows} rows)"),
            needed: row_bytes * step_rows,
            limit: cap,
            limit_name: "storage binding cap",
            hint: "; raise IFRU_BINDING_CAP or use a smaller embedding size",
        });
    }
    if rows as u64 <= per_chunk {
        return Ok(vec![RowChunk {
            start: 0,
            count: rows,
        }]);
    }
    let per_chunk = per_chunk as u32;
    Ok((0..rows)
        .step_by(per_chunk as usize)
        .map(|start| RowChunk {
            start,
            count: per_chunk.min(rows - start),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_in_one_chunk() {
        assert_eq!(
            row_chunks(100, 256, 1 << 20, 256).unwrap(),
            vec![RowChunk {
                start: 0,
                count: 100
            }]
        );
        assert_eq!(row_chunks(0, 16, 256, 256).unwrap().len(), 1);
    }

    #[test]
    fn chunks_cover_rows_with_aligned_offsets_under_the_cap() {
        for (rows, row_bytes, cap, align) in [
            (1000u32, 16u64, 1024u64, 256u64),
            (777, 192, 4096, 256),
            (5, 48, 256, 64),
        ] {
            let chunks = row_chunks(rows, row_bytes, cap, align).unwrap();
            let mut next = 0;
            for c in &chunks {
                assert_eq!(c.start, next);
                assert!(c.count as u64 * row_bytes <= cap);
                assert_eq!(c.start as u64 * row_bytes % align, 0);
                next = c.end();
            }
            assert_eq!(next, rows);
        }
    }

    #[test]
    fn a_row_larger_than_the_cap_is_a_clear_error() {
        let err = row_chunks(10, 1024, 512, 256).unwrap_err().to_string();
        assert!(err.contains("binding cap"), "{err}");
    }
}
