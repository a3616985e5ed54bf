//! How a table's values are stored on the device (f32, or f16 read natively or as packed
//! pairs), and each storage-generic kernel's shader for each. A leaf: the table, SpMM, top-k
//! and pair-loss kernels all pick their shader here.

use super::shaders::{self, f16_native, f16_packed};
use crate::gpu::{Gpu, Shader};

/// How a table's values are stored on the device. Arithmetic is f32 either way.
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    /// 32-bit floats (training, unlearning, and serving by default).
    #[default]
    F32,
    /// 16-bit floats (IEEE binary16): half the memory, about 3 significant digits.
    F16,
}

impl Storage {
    /// Bytes of one value.
    pub fn value_bytes(self) -> u64 {
        match self {
            Storage::F32 => 4,
            Storage::F16 => 2,
        }
    }

    /// Bytes of one row of `dim` values.
    pub fn row_bytes(self, dim: u32) -> u64 {
        dim as u64 * self.value_bytes()
    }

    /// `f32` or `f16`.
    pub fn name(self) -> &'static str {
        match self {
            Storage::F32 => "f32",
            Storage::F16 => "f16",
        }
    }
}

/// How this device's kernels read f16 tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HalfPath {
    /// `vec4<f16>` (the device granted `SHADER_F16`).
    Native,
    /// Pairs of halves in u32s, widened by `unpack2x16float` (any device).
    Packed,
}

/// The path this device takes.
pub fn half_path(gpu: &Gpu) -> HalfPath {
    if gpu.features().shader_f16 {
        HalfPath::Native
    } else {
        HalfPath::Packed
    }
}

/// One kernel's shader for each storage (and f16 path).
pub(crate) struct Variants {
    pub f32: Shader,
    pub packed: Shader,
    pub native: Shader,
}

impl Variants {
    pub(crate) fn for_storage(&self, gpu: &Gpu, storage: Storage) -> &Shader {
        match (storage, half_path(gpu)) {
            (Storage::F32, _) => &self.f32,
            (Storage::F16, HalfPath::Packed) => &self.packed,
            (Storage::F16, HalfPath::Native) => &self.native,
        }
    }
}

pub(crate) const SPMM_VARIANTS: Variants = Variants {
    f32: shaders::SPMM,
    packed: f16_packed::SPMM,
    native: f16_native::SPMM,
};
pub(crate) const TOPK_VARIANTS: Variants = Variants {
    f32: shaders::TOPK,
    packed: f16_packed::TOPK,
    native: f16_native::TOPK,
};
pub(crate) const PAIR_LOSS_VARIANTS: Variants = Variants {
    f32: shaders::PAIR_LOSS,
    packed: f16_packed::PAIR_LOSS,
    native: f16_native::PAIR_LOSS,
};
