//! Helpers shared by the GPU integration tests: one device per test binary, seeded
//! random inputs, and comparison with the f64 references.
#![allow(dead_code, unused_macros, unused_imports)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ifru::gpu::{Gpu, GpuOptions};
use ifru::reference::kernels::Reference;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The shared device of this test binary (default options, whatever the environment says).
pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| open(GpuOptions::default()))
}

/// Both layouts of the row-dot kernels (one thread per row; the row's lanes over threads
/// reduced in workgroup memory), whatever this adapter's default: tests run each.
pub fn gpus_both_row_layouts() -> [&'static Gpu; 2] {
    static THREAD: OnceLock<Gpu> = OnceLock::new();
    static LANES: OnceLock<Gpu> = OnceLock::new();
    [
        THREAD.get_or_init(|| {
            open(GpuOptions {
                thread_per_row: Some(true),
                ..GpuOptions::default()
            })
        }),
        LANES.get_or_init(|| {
            open(GpuOptions {
                thread_per_row: Some(false),
                ..GpuOptions::default()
            })
        }),
    ]
}

/// A device of its own, for tests that change options or break it.
pub fn open(options: GpuOptions) -> Gpu {
    Gpu::new(options).unwrap_or_else(|e| panic!("GPU tests need an adapter: {e}"))
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

pub fn random_vec(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// A random CSR matrix with sorted columns: about a fifth of the rows empty, and row
/// `long_row` (if any) holding every column.
pub fn random_csr(
    rng: &mut StdRng,
    n_rows: usize,
    n_cols: usize,
    max_per_row: usize,
    long_row: Option<usize>,
) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
    let mut row_ptr = vec![0u32];
    let mut cols = Vec::new();
    let mut vals = Vec::new();
    for r in 0..n_rows {
        let mut row: Vec<u32> = if Some(r) == long_row {
            (0..n_cols as u32).collect()
        } else if rng.random_bool(0.2) {
            Vec::new()
        } else {
            let k = rng.random_range(1..=max_per_row);
            (0..k).map(|_| rng.random_range(0..n_cols as u32)).collect()
        };
        row.sort_unstable();
        row.dedup();
        vals.extend(row.iter().map(|_| rng.random_range(-1.0f32..1.0)));
        cols.extend(row);
        row_ptr.push(cols.len() as u32);
    }
    (row_ptr, cols, vals)
}

/// Asserts every value of `got` is within the reference's rounding bound.
pub fn assert_matches(what: &str, got: &[f32], want: &Reference) {
    let (ratio, at) = want.worst_ratio(got);
    assert!(
        ratio <= 1.0,
        "{what}: value {at} is {} but the reference says {} (error {:.2}x the bound)",
        got[at],
        want.values[at],
        ratio
    );
}

/// A reference for values computed by a single f32 rounding of an exact value.
pub fn exact(values: Vec<f64>) -> Reference {
    let n = values.len();
    Reference {
        abs_sums: values.iter().map(|v| v.abs()).collect(),
        values,
        terms: vec![1; n],
    }
}

/// The folder of the real datasets (never part of the repository: their terms forbid
/// redistribution): `$IFRU_DATA` if set, else the `shared/data` folder beside the
/// repository. `None` when that folder does not exist.
pub fn shared_data_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("IFRU_DATA") {
        Some(p) => PathBuf::from(p),
        None => repository_root().join("../shared/data"),
    };
    dir.is_dir().then_some(dir)
}

/// The workspace root, whichever package's test is running (the engine's or the CLI's).
fn repository_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    match here.parent() {
        Some(parent) if parent.join("Cargo.toml").is_file() && here.ends_with("cli") => {
            parent.to_path_buf()
        }
        _ => here.to_path_buf(),
    }
}

/// Evaluates to the shared data folder ([`shared_data_dir`]); when it is absent, fails the
/// test if `CI` is set, else prints why it skips and returns from the test.
macro_rules! require_data {
    () => {
        match $crate::common::shared_data_dir() {
            Some(dir) => dir,
            None => {
                if std::env::var_os("CI").is_some() {
                    panic!(
                        "the shared datasets are missing (set IFRU_DATA or provide \
                         ../shared/data); CI is set, so this fails"
                    );
                }
                eprintln!(
                    "skipping: the shared datasets are missing (set IFRU_DATA or provide \
                     ../shared/data)"
                );
                return;
            }
        }
    };
}
pub(crate) use require_data;
