//! Spreading a one-dimensional count of workgroups over the x and y grid dimensions.
//!
//! A dimension holds at most `max_compute_workgroups_per_dimension` (65,535 on most
//! devices) workgroups. Kernels recover the linear workgroup index as
//! `wid.x + wid.y * num_workgroups.x` and skip indices past the real count.

use super::error::{GpuError, GpuResult};

/// The (x, y, z) grid for `workgroups` workgroups with at most `max_per_dim` per dimension.
pub fn grid(workgroups: u32, max_per_dim: u32) -> GpuResult<[u32; 3]> {
    if max_per_dim == 0 {
        return Err(GpuError::Invalid(
            "max workgroups per dimension is 0".into(),
        ));
    }
    if workgroups <= max_per_dim {
        return Ok([workgroups, 1, 1]);
    }
    let y = workgroups.div_ceil(max_per_dim);
    if y > max_per_dim {
        return Err(GpuError::Limit {
            what: "a dispatch".into(),
            needed: workgroups as u64,
            limit: max_per_dim as u64 * max_per_dim as u64,
            limit_name: "max_compute_workgroups_per_dimension squared",
            hint: "",
        });
    }
    Ok([max_per_dim, y, 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_grids_stay_one_dimensional() {
        assert_eq!(grid(0, 65535).unwrap(), [0, 1, 1]);
        assert_eq!(grid(65535, 65535).unwrap(), [65535, 1, 1]);
    }

    #[test]
    fn large_grids_cover_every_workgroup() {
        for (w, m) in [(65536u32, 65535u32), (1_000_000, 65535), (9, 3), (7, 3)] {
            let [x, y, _] = grid(w, m).unwrap();
            assert!(x <= m && y <= m);
            assert!(x * y >= w && x * (y - 1) < w, "{w} over {m}: {x}x{y}");
        }
        assert!(grid(10, 3).is_err());
    }
}
