//! `model.safetensors`: the parameters as two F32 tensors, `user_emb` `[n_users, d]` and
//! `item_emb` `[n_items, d]`, little-endian, in the safetensors format (what the Python
//! `safetensors` package reads and writes: `safetensors.numpy.load_file(path)` gives the two
//! arrays, and `save_file({"user_emb": u, "item_emb": i}, path)` with float32 arrays writes a
//! file this module reads).

use std::borrow::Cow;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, View};

use super::error::{StoreError, StoreResult};
use crate::kernels::half::{F16_MAX, Storage, first_outside_f16};
use crate::model::Params;

/// Name of the user table.
pub const USER_EMB: &str = "user_emb";
/// Name of the item table.
pub const ITEM_EMB: &str = "item_emb";

/// A row-major table of f32 values, written as F32 or rounded to F16 (to nearest even).
struct Table<'a> {
    shape: [usize; 2],
    values: &'a [f32],
    storage: Storage,
}

impl View for Table<'_> {
    fn dtype(&self) -> Dtype {
        match self.storage {
            Storage::F32 => Dtype::F32,
            Storage::F16 => Dtype::F16,
        }
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        match self.storage {
            Storage::F32 if cfg!(target_endian = "little") => {
                Cow::Borrowed(bytemuck::cast_slice(self.values))
            }
            Storage::F32 => Cow::Owned(self.values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            Storage::F16 => Cow::Owned(
                self.values
                    .iter()
                    .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                    .collect(),
            ),
        }
    }

    fn data_len(&self) -> usize {
        self.values.len() * self.storage.value_bytes() as usize
    }
}

/// The bytes of `model.safetensors` for `p`. Fails when the tables' lengths do not match
/// their shapes.
pub fn params_to_safetensors(p: &Params) -> StoreResult<Vec<u8>> {
    let d = p.dim as usize;
    let (nu, ni) = (p.n_users as usize, p.n_items as usize);
    if p.user_emb.len() != nu * d || p.item_emb.len() != ni * d {
        return Err(StoreError::State(format!(
            "parameters hold {} user and {} item values for {nu} users and {ni} items of size {d}",
            p.user_emb.len(),
            p.item_emb.len()
        )));
    }
    f32_tables_to_safetensors(
        &[
            (USER_EMB, [nu, d], &p.user_emb),
            (ITEM_EMB, [ni, d], &p.item_emb),
        ],
        None,
    )
}

/// The safetensors bytes of named row-major F32 tables `(name, [rows, cols], values)`, with
/// optional string metadata (the format's `__metadata__`). Fails when a table's length does
/// not match its shape.
pub fn f32_tables_to_safetensors(
    tables: &[(&str, [usize; 2], &[f32])],
    metadata: Option<std::collections::HashMap<String, String>>,
) -> StoreResult<Vec<u8>> {
    tables_to_safetensors(tables, Storage::F32, metadata)
}

/// [`f32_tables_to_safetensors`] with the values written as `storage`: F32, or F16 rounded to
/// nearest (a value beyond the f16 range ±65504 is refused by tensor and index).
pub fn tables_to_safetensors(
    tables: &[(&str, [usize; 2], &[f32])],
    storage: Storage,
    metadata: Option<std::collections::HashMap<String, String>>,
) -> StoreResult<Vec<u8>> {
    if let Some((name, shape, values)) = tables
        .iter()
        .find(|(_, [r, c], v)| r.checked_mul(*c) != Some(v.len()))
    {
        return Err(StoreError::State(format!(
            "tensor {name}: {} values for shape {shape:?}",
            values.len()
        )));
    }
    if storage == Storage::F16 {
        for (name, _, values) in tables {
            if let Some(k) = first_outside_f16(values) {
                return Err(StoreError::State(format!(
                    "tensor {name}: value {k} ({}) is outside the f16 range ±{F16_MAX}",
                    values[k]
                )));
            }
        }
    }
    let views = tables.iter().map(|&(name, shape, values)| {
        (
            name,
            Table {
                shape,
                values,
                storage,
            },
        )
    });
    safetensors::serialize(views, metadata)
        .map_err(|e| StoreError::State(format!("cannot serialise the tensors: {e}")))
}

/// Writes `p` to `path` (atomically).
pub fn write_params(path: &Path, p: &Params) -> StoreResult<()> {
    let bytes = params_to_safetensors(p)?;
    crate::fsio::write_atomic(path, &bytes).map_err(|e| StoreError::io(path, e))
}

/// Reads `model.safetensors` from `path`, checking that it holds exactly `user_emb`
/// `[n_users, dim]` and `item_emb` `[n_items, dim]` in F32 with finite values.
pub fn read_params(path: &Path, n_users: u32, n_items: u32, dim: u32) -> StoreResult<Params> {
    let bytes = std::fs::read(path).map_err(|e| StoreError::io(path, e))?;
    params_from_safetensors(path, &bytes, n_users, n_items, dim)
}

/// Parses the bytes of a `model.safetensors` (see [`read_params`]); `path` names it in errors.
pub fn params_from_safetensors(
    path: &Path,
    bytes: &[u8],
    n_users: u32,
    n_items: u32,
    dim: u32,
) -> StoreResult<Params> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| StoreError::invalid(path, format!("not a valid safetensors file: {e}")))?;
    let mut names: Vec<&str> = st.names();
    names.sort_unstable();
    if let Some(extra) = names.iter().find(|n| **n != USER_EMB && **n != ITEM_EMB) {
        return Err(StoreError::tensor(
            path,
            extra,
            format!("unexpected tensor: a model holds only {USER_EMB:?} and {ITEM_EMB:?}"),
        ));
    }
    let user_emb = read_table(path, &st, USER_EMB, n_users, dim)?;
    let item_emb = read_table(path, &st, ITEM_EMB, n_items, dim)?;
    Ok(Params {
        n_users,
        n_items,
        dim,
        user_emb,
        item_emb,
    })
}

fn read_table(
    path: &Path,
    st: &SafeTensors<'_>,
    name: &str,
    rows: u32,
    dim: u32,
) -> StoreResult<Vec<f32>> {
    let t = st
        .tensor(name)
        .map_err(|_| StoreError::tensor(path, name, "missing"))?;
    if t.dtype() != Dtype::F32 {
        return Err(StoreError::tensor(
            path,
            name,
            format!("dtype {:?}, expected F32", t.dtype()),
        ));
    }
    let want = [rows as usize, dim as usize];
    if t.shape() != want {
        return Err(StoreError::tensor(
            path,
            name,
            format!(
                "shape {:?}, but model.json expects {want:?} ({} × d = {dim})",
                t.shape(),
                if name == USER_EMB { "users" } else { "items" }
            ),
        ));
    }
    let data = t.data();
    let mut out = Vec::with_capacity(data.len() / 4);
    for (k, c) in data.chunks_exact(4).enumerate() {
        let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        if !v.is_finite() {
            let d = (dim as usize).max(1);
            return Err(StoreError::tensor(
                path,
                name,
                format!("value at [{}, {}] is {v}, not finite", k / d, k % d),
            ));
        }
        out.push(v);
    }
    Ok(out)
}
