//! Serving a model directory: a user's top items, and the final embeddings exported for
//! serving systems. Both use the model's current graph, built from the training rows it was
//! left with, so a forgotten row neither counts as a training item nor feeds LightGCN's
//! propagation.
//!
//! Serving may keep the final embeddings in f16 ([`Storage::F16`]): half the device memory
//! and half the bytes each score reads, with every dot product still summed in f32; scores
//! then differ from f32 ones by about 2⁻¹¹ of Σ|E_u·E_i| per rounding (bounds and measured
//! figures: `ifru::reference::half`, `tests/gpu/f16.rs`).
//!
//! The export is a safetensors file:
//! - `user_final` F32 (or F16) `[n_users, d]` and `item_final` `[n_items, d]`: the final
//!   embeddings E (for LightGCN, E = Σ_k a_k Â^k θ on the current graph; for MF, θ). A score is
//!   `user_final[u] · item_final[i]`, as in training and evaluation.
//! - metadata (strings): `format` = [`EXPORT_FORMAT`], `model` (`mf` or `lightgcn`),
//!   `layers`, `dim`, `dtype` (`f32` or `f16`), `version` (the model directory's live
//!   version), `score` (the formula),
//!   and `user_ids` / `item_ids`: JSON arrays of the data's own ids, row `r` of a table being
//!   the id at position `r`.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::eval::{UserItems, top_k_lists};
use crate::gpu::Gpu;
use crate::import::at_width;
use crate::kernels::topk::{DeviceUserItems, NO_ITEM, check_k};
use crate::kernels::{HalfTable, Storage, TableRef};
use crate::loaded::LoadedModel;
use crate::model::DeviceModel;
use crate::model::device::final_embeddings_f16;
use crate::model::store::{ITEM_EMB, USER_EMB, tables_to_safetensors};

/// Name of the exported user table.
pub const USER_FINAL: &str = "user_final";
/// Name of the exported item table.
pub const ITEM_FINAL: &str = "item_final";
/// The `format` metadata of an export.
pub const EXPORT_FORMAT: &str = "ifru-final-embeddings/1";

/// A model's final embeddings on the device, in the storage asked for.
pub enum ServedEmbeddings {
    /// The whole model (θ, and for LightGCN the graph and E).
    F32(Box<DeviceModel>),
    /// E alone, in f16 (computed by [`final_embeddings_f16`]).
    F16(HalfTable),
}

impl ServedEmbeddings {
    /// Uploads `loaded` and computes its final embeddings on its current graph, in `storage`.
    pub fn compute(gpu: &Gpu, loaded: &LoadedModel, storage: Storage) -> Result<Self> {
        Ok(match storage {
            Storage::F32 => ServedEmbeddings::F32(Box::new(loaded.upload(gpu)?)),
            Storage::F16 => ServedEmbeddings::F16(final_embeddings_f16(
                gpu,
                loaded.state.meta.spec,
                &loaded.state.params,
                loaded.adjacency.as_ref(),
            )?),
        })
    }

    /// The final embeddings, users then items.
    pub fn table(&self) -> TableRef<'_> {
        match self {
            ServedEmbeddings::F32(model) => model.embeddings().into(),
            ServedEmbeddings::F16(table) => table.into(),
        }
    }
}

/// A model's final embeddings on the device, and each user's training items (the rows it
/// was left with, either label) to leave out of recommendations.
pub struct Recommender<'g> {
    gpu: &'g Gpu,
    served: ServedEmbeddings,
    n_users: u32,
    excluded: DeviceUserItems,
}

/// One recommended item: the dense id, the data's own id, and the score.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recommendation {
    pub item: u32,
    pub item_id: String,
    pub score: f32,
}

impl<'g> Recommender<'g> {
    /// Uploads `loaded` (θ and its current graph), computes the final embeddings in
    /// `storage` and each user's training items.
    pub fn new(gpu: &'g Gpu, loaded: &LoadedModel, storage: Storage) -> Result<Self> {
        let served = ServedEmbeddings::compute(gpu, loaded, storage)?;
        let (nu, ni) = (loaded.data.n_users, loaded.data.n_items);
        let seen = UserItems::build(nu, ni, &[&loaded.rows], false)?;
        let excluded = DeviceUserItems::upload(gpu, ni, &seen.row_ptr, &seen.items)?;
        Ok(Recommender {
            gpu,
            served,
            n_users: nu,
            excluded,
        })
    }

    /// The final embeddings, users then items, in the storage asked for.
    pub fn embeddings(&self) -> TableRef<'_> {
        self.served.table()
    }

    /// The `k` best-scored items of dense user `user` among those not in its training rows,
    /// best first (ties to the lower item id); fewer when fewer items are left.
    pub fn top_k(&self, loaded: &LoadedModel, user: u32, k: u32) -> Result<Vec<Recommendation>> {
        check_k(k)?;
        if user >= self.n_users {
            return Err(Error::Invalid(format!(
                "user {user} is outside the model's {} users",
                self.n_users
            )));
        }
        let lists = top_k_lists(self.gpu, self.embeddings(), &self.excluded, &[user], k, 1)?;
        Ok(lists
            .items_of(0)
            .iter()
            .zip(lists.scores_of(0))
            .filter(|(item, _)| **item != NO_ITEM)
            .map(|(&item, &score)| Recommendation {
                item,
                item_id: raw_id(&loaded.state.item_ids, item),
                score,
            })
            .collect())
    }
}

fn raw_id(map: &crate::data::IdMap, dense: u32) -> String {
    map.raw(dense)
        .map_or_else(|| dense.to_string(), |c| c.into_owned())
}

/// The dense id of user `raw` (the data's own id), or an error naming it.
pub fn user_index(loaded: &LoadedModel, raw: &str) -> Result<u32> {
    loaded.state.user_ids.get(raw).ok_or_else(|| {
        Error::Invalid(format!(
            "user {raw:?} is not one of the model's {} users",
            loaded.data.n_users
        ))
    })
}

/// The model's final embeddings (users, items) on its current graph, computed on `gpu`,
/// each row at the model's own width ([`width`]).
pub fn final_tables(gpu: &Gpu, loaded: &LoadedModel) -> Result<(Vec<f32>, Vec<f32>)> {
    let model = loaded.upload(gpu)?;
    let emb = model.final_embeddings(gpu)?;
    let (nu, ni, d) = node_counts(loaded);
    if emb.len() < (nu + ni) * d {
        return Err(Error::Invalid(format!(
            "the device returned {} values for {} nodes of size {d}",
            emb.len(),
            nu + ni
        )));
    }
    let w = width(loaded);
    Ok((
        at_width(&emb[..nu * d], d, w),
        at_width(&emb[nu * d..(nu + ni) * d], d, w),
    ))
}

/// The model's parameters θ (users, items), each row at the model's own width ([`width`]).
pub fn base_tables(loaded: &LoadedModel) -> (Vec<f32>, Vec<f32>) {
    let (params, d, w) = (
        &loaded.state.params,
        loaded.state.meta.spec.dim as usize,
        width(loaded),
    );
    (
        at_width(&params.user_emb, d, w),
        at_width(&params.item_emb, d, w),
    )
}

/// The width tables are given back at: an imported model's own, else the model's d.
pub fn width(loaded: &LoadedModel) -> usize {
    let d = loaded.state.meta.spec.dim as usize;
    loaded
        .state
        .meta
        .imported
        .as_ref()
        .map_or(d, |t| t.width as usize)
}

/// The bytes of the export of `loaded` (see the module documentation): final embeddings on
/// its current graph, computed on `gpu` in f32 and written as `dtype` (F16: each value
/// rounded once, to nearest, so the file is as close to the f32 result as f16 can be).
pub fn export_final(gpu: &Gpu, loaded: &LoadedModel, dtype: Storage) -> Result<Vec<u8>> {
    let (users, items) = final_tables(gpu, loaded)?;
    export_tables(loaded, [USER_FINAL, ITEM_FINAL], &users, &items, dtype)
}

/// The bytes of the model's base embeddings θ (what training or an import gave, as the last
/// request left them): for an imported model under the tensor names it came with and at its
/// own width, else as `user_emb` / `item_emb`; the metadata as [`export_final`]'s.
pub fn export_base(loaded: &LoadedModel, dtype: Storage) -> Result<Vec<u8>> {
    let names = match &loaded.state.meta.imported {
        Some(t) if !t.user_tensor.ends_with(".npy") => {
            [t.user_tensor.as_str(), t.item_tensor.as_str()]
        }
        _ => [USER_EMB, ITEM_EMB],
    };
    let (users, items) = base_tables(loaded);
    export_tables(loaded, names, &users, &items, dtype)
}

/// Users, items and the model's d.
fn node_counts(loaded: &LoadedModel) -> (usize, usize, usize) {
    (
        loaded.data.n_users as usize,
        loaded.data.n_items as usize,
        loaded.state.meta.spec.dim as usize,
    )
}

/// Two `[n, width]` tables under `names` with the export's metadata.
fn export_tables(
    loaded: &LoadedModel,
    names: [&str; 2],
    users: &[f32],
    items: &[f32],
    dtype: Storage,
) -> Result<Vec<u8>> {
    let spec = loaded.state.meta.spec;
    let (nu, ni, _) = node_counts(loaded);
    let width = width(loaded);
    let ids = |map: &crate::data::IdMap, n: usize| -> Result<String> {
        let list: Vec<String> = (0..n as u32).map(|i| raw_id(map, i)).collect();
        serde_json::to_string(&list).map_err(|e| Error::Invalid(format!("id map: {e}")))
    };
    let kind = serde_json::to_value(spec.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let metadata = HashMap::from([
        ("format".to_string(), EXPORT_FORMAT.to_string()),
        ("model".to_string(), kind),
        ("layers".to_string(), spec.layers.to_string()),
        ("dim".to_string(), width.to_string()),
        ("dtype".to_string(), dtype.name().to_string()),
        (
            "version".to_string(),
            loaded.dir.current_version().to_string(),
        ),
        (
            "score".to_string(),
            format!("dot({}[u], {}[i])", names[0], names[1]),
        ),
        ("user_ids".to_string(), ids(&loaded.state.user_ids, nu)?),
        ("item_ids".to_string(), ids(&loaded.state.item_ids, ni)?),
    ]);
    Ok(tables_to_safetensors(
        &[
            (names[0], [nu, width], users),
            (names[1], [ni, width], items),
        ],
        dtype,
        Some(metadata),
    )?)
}
