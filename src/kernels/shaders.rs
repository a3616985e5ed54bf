//! The WGSL sources, composed at compile time from `shaders/*.wgsl`.
//!
//! Composition is plain concatenation: `common.wgsl` (workgroup size, row/lane geometry,
//! stable softplus and sigmoid) first, a table include (`table.wgsl` for f32 tables,
//! `table_f16.wgsl` or `table_f16_packed.wgsl` for 16-bit ones) and `table_fetch.wgsl`
//! (chunked row reads) for kernels that read embedding tables, an output include
//! (`out*.wgsl`) for kernels that write rows of either storage, then the kernel file.
//! Sources using native `f16` open with `f16_enable.wgsl` and are listed in [`NEEDS_F16`],
//! not [`ALL`]: they compile only on devices granting `SHADER_F16`. Every composed source is validated and
//! translated to SPIR-V, MSL and HLSL by `tests/gpu/shader_portability.rs`.

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
pub const SPMM: Shader =
    composed!("spmm": "common.wgsl", "table.wgsl", "table_fetch.wgsl", "out.wgsl", "spmm.wgsl");
pub const PAIR_LOSS: Shader =
    composed!("pair_loss": "common.wgsl", "table.wgsl", "table_fetch.wgsl", "pair_loss.wgsl");
pub const ADAM: Shader = composed!("adam": "common.wgsl", "adam.wgsl");
pub const HVP: Shader =
    composed!("hvp": "common.wgsl", "table.wgsl", "table_fetch.wgsl", "table_b.wgsl", "hvp.wgsl");
pub const TOPK: Shader =
    composed!("topk": "common.wgsl", "table.wgsl", "table_fetch.wgsl", "topk.wgsl");
pub const CG: Shader = composed!("cg": "common.wgsl", "cg.wgsl");
pub const BLOCK: Shader = composed!("block": "common.wgsl", "block.wgsl");
pub const BLOCK_BUILD: Shader = composed!(
    "block_build": "common.wgsl", "table.wgsl", "table_fetch.wgsl", "block_build.wgsl"
);

/// The 16-bit storage kernels without native f16: tables as packed pairs of halves.
pub mod f16_packed {
    use super::Shader;

    pub const SPMM: Shader = composed!("spmm_f16_packed": "common.wgsl", "table_f16_packed.wgsl", "table_fetch.wgsl", "out_f16_packed.wgsl", "spmm.wgsl");
    pub const TOPK: Shader = composed!("topk_f16_packed": "common.wgsl", "table_f16_packed.wgsl", "table_fetch.wgsl", "topk.wgsl");
    pub const PAIR_LOSS: Shader = composed!("pair_loss_f16_packed": "common.wgsl", "table_f16_packed.wgsl", "table_fetch.wgsl", "pair_loss.wgsl");
    /// f16 rows into an f32 table.
    pub const WIDEN: Shader = composed!("widen_f16_packed": "common.wgsl", "table_f16_packed.wgsl", "table_fetch.wgsl", "out.wgsl", "rows_axpby.wgsl");
    /// f32 rows into an f16 table.
    pub const NARROW: Shader = composed!("narrow_f16_packed": "common.wgsl", "table.wgsl", "table_fetch.wgsl", "out_f16_packed.wgsl", "rows_axpby.wgsl");
}

/// The same kernels with native `f16` storage (devices granting `SHADER_F16`).
pub mod f16_native {
    use super::Shader;

    pub const SPMM: Shader = composed!("spmm_f16": "f16_enable.wgsl", "common.wgsl", "table_f16.wgsl", "table_fetch.wgsl", "out_f16.wgsl", "spmm.wgsl");
    pub const TOPK: Shader = composed!("topk_f16": "f16_enable.wgsl", "common.wgsl", "table_f16.wgsl", "table_fetch.wgsl", "topk.wgsl");
    pub const PAIR_LOSS: Shader = composed!("pair_loss_f16": "f16_enable.wgsl", "common.wgsl", "table_f16.wgsl", "table_fetch.wgsl", "pair_loss.wgsl");
    pub const WIDEN: Shader = composed!("widen_f16": "f16_enable.wgsl", "common.wgsl", "table_f16.wgsl", "table_fetch.wgsl", "out.wgsl", "rows_axpby.wgsl");
    pub const NARROW: Shader = composed!("narrow_f16": "f16_enable.wgsl", "common.wgsl", "table.wgsl", "table_fetch.wgsl", "out_f16.wgsl", "rows_axpby.wgsl");
}

/// Every shader the crate runs on any device.
pub const ALL: &[Shader] = &[
    BLAS,
    REDUCE,
    SPMM,
    PAIR_LOSS,
    ADAM,
    HVP,
    TOPK,
    CG,
    BLOCK,
    BLOCK_BUILD,
    f16_packed::SPMM,
    f16_packed::TOPK,
    f16_packed::PAIR_LOSS,
    f16_packed::WIDEN,
    f16_packed::NARROW,
];

/// The shaders that need the device's `SHADER_F16` feature.
pub const NEEDS_F16: &[Shader] = &[
    f16_native::SPMM,
    f16_native::TOPK,
    f16_native::PAIR_LOSS,
    f16_native::WIDEN,
    f16_native::NARROW,
];
