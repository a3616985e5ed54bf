//! The WGSL sources, composed at compile time from `shaders/*.wgsl`.
//!
//! Composition is plain concatenation: `common.wgsl` (workgroup size, row/lane geometry,
//! stable softplus and sigmoid) first, `table.wgsl` (chunked table reads) for kernels that
//! read embedding tables, then the kernel file. Every composed source is validated and
//! translated to SPIR-V, MSL and HLSL by `tests/shader_portability.rs`.

use crate::gpu::Shader;

macro_rules! composed {
    ($name:literal: $($file:literal),+) => {
        Shader {
            name: $name,
            source: concat!($(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $file))),+),
        }
    };
}

pub const BLAS: Shader = composed!("blas": "common.wgsl", "blas.wgsl");
pub const REDUCE: Shader = composed!("reduce": "common.wgsl", "reduce.wgsl");
pub const SPMM: Shader = composed!("spmm": "common.wgsl", "table.wgsl", "spmm.wgsl");
pub const PAIR_LOSS: Shader = composed!("pair_loss": "common.wgsl", "table.wgsl", "pair_loss.wgsl");
pub const ADAM: Shader = composed!("adam": "common.wgsl", "adam.wgsl");
pub const HVP: Shader = composed!("hvp": "common.wgsl", "table.wgsl", "table_b.wgsl", "hvp.wgsl");
pub const TOPK: Shader = composed!("topk": "common.wgsl", "table.wgsl", "topk.wgsl");
pub const CG: Shader = composed!("cg": "common.wgsl", "cg.wgsl");
pub const BLOCK: Shader = composed!("block": "common.wgsl", "block.wgsl");

/// Every shader the crate runs.
pub const ALL: &[Shader] = &[BLAS, REDUCE, SPMM, PAIR_LOSS, ADAM, HVP, TOPK, CG, BLOCK];
