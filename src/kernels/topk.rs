//! Per-user top-K items by score `s_ui = ⟨E_u, E_{n_users + i}⟩`, excluding each user's
//! observed items, computed and selected on the device (`shaders/topk.wgsl`).
//!
//! Lists are sorted by score, best first; equal scores are ordered by the lower item id.
//! A user with fewer than K candidate items gets its list padded with [`NO_ITEM`] (score
//! −∞). Items whose score is NaN or −∞ are never listed.
//!
//! One workgroup serves [`USERS_PER_WORKGROUP`] users: each thread scores a strided share of
//! the items for all of them and keeps private sorted lists, merged once at the end in
//! workgroup memory (see the shader's header). Deterministic: the lists depend only on the
//! scores, and each score is a fixed-order dot product.

use bytemuck::{Pod, Zeroable};

use super::plan::Plan;
use super::spmm::validate_csr;
use super::storage::TOPK_VARIANTS;
use super::table::{TableRef, fits_one_binding, params, table_slots};
use crate::gpu::{Gpu, GpuBuffer, GpuError, GpuResult};

/// The largest K the kernel takes.
pub const MAX_K: u32 = 100;
/// Users per workgroup (`UPW` in `shaders/topk.wgsl`): each item row read serves them all.
pub const USERS_PER_WORKGROUP: u32 = 4;
/// The item id of an empty slot.
pub const NO_ITEM: u32 = u32::MAX;

/// Each user's excluded items (their training items) as CSR over user ids, items sorted.
pub struct DeviceUserItems {
    ptr: GpuBuffer<u32>,
    items: GpuBuffer<u32>,
    n_users: u32,
    n_items: u32,
}

impl DeviceUserItems {
    /// Uploads `row_ptr` (`n_users + 1` offsets) and `items`, after checking the structure,
    /// that every item is below `n_items` and that each user's items are sorted.
    pub fn upload(gpu: &Gpu, n_items: u32, row_ptr: &[u32], items: &[u32]) -> GpuResult<Self> {
        validate_csr(n_items, row_ptr, items).map_err(GpuError::Invalid)?;
        for (u, w) in row_ptr.windows(2).enumerate() {
            let row = &items[w[0] as usize..w[1] as usize];
            if let Some(j) = row.windows(2).position(|p| p[1] < p[0]) {
                return Err(GpuError::Invalid(format!(
                    "user {u}'s excluded items are not sorted ({} before {})",
                    row[j],
                    row[j + 1]
                )));
            }
        }
        let csr = DeviceUserItems {
            ptr: gpu.upload(row_ptr, "excluded ptr")?,
            items: gpu.upload(items, "excluded items")?,
            n_users: (row_ptr.len() - 1) as u32,
            n_items,
        };
        fits_one_binding(gpu, &csr.items, "the excluded items")?;
        fits_one_binding(gpu, &csr.ptr, "the excluded-item offsets")?;
        Ok(csr)
    }

    /// Number of users (rows of the CSR).
    pub fn n_users(&self) -> u32 {
        self.n_users
    }

    /// Number of items (the bound on item ids).
    pub fn n_items(&self) -> u32 {
        self.n_items
    }
}

/// Fails unless `1 <= k <= MAX_K`.
pub fn check_k(k: u32) -> GpuResult<()> {
    if k == 0 || k > MAX_K {
        return Err(GpuError::Invalid(format!(
            "top-K needs 1 <= K <= {MAX_K}, got {k}"
        )));
    }
    Ok(())
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct TopKParams {
    n_list: u32,
    n_users: u32,
    n_items: u32,
    k: u32,
    lanes: u32,
    chunk_rows: u32,
    pad: [u32; 2],
}

/// u32 values of `out` that [`topk`] needs for `n_list` users: two per slot.
pub fn packed_len(n_list: usize, k: u32) -> usize {
    n_list * k as usize * 2
}

/// Writes the top `k` items of every user in `users` (user ids, which are also their node
/// ids) into `out`: for list position `r` and slot `j`, `out[2(rk + j)]` is the item id and
/// `out[2(rk + j) + 1]` the bits of its f32 score ([`TopK::from_packed`] decodes them).
///
/// `table` holds the final embeddings, users then items (`n_users + excluded.n_items()` rows
/// at least), in f32 or f16 storage (scores sum in f32 either way). `users` is not checked
/// on the device: [`top_k`] checks it on the host.
pub fn topk<'a>(
    gpu: &Gpu,
    table: impl Into<TableRef<'a>>,
    excluded: &'a DeviceUserItems,
    users: &'a GpuBuffer<u32>,
    k: u32,
    out: &'a GpuBuffer<u32>,
) -> GpuResult<Plan<'a>> {
    let table = table.into();
    let n_users = excluded.n_users;
    let n_items = excluded.n_items;
    check_k(k)?;
    let nodes = n_users as u64 + n_items as u64;
    if (table.rows() as u64) < nodes {
        return Err(GpuError::Invalid(format!(
            "the embedding table has {} rows, {n_users} users + {n_items} items need {nodes}",
            table.rows()
        )));
    }
    let n_list = users.len();
    let need = packed_len(n_list, k);
    if u32::try_from(need).is_err() {
        return Err(GpuError::Invalid(format!(
            "top-{k} lists of {n_list} users exceed 2^32 values: evaluate them in batches"
        )));
    }
    if out.len() < need {
        return Err(GpuError::Invalid(format!(
            "top-K output holds {} values, {n_list} users x {k} slots need {need}",
            out.len()
        )));
    }
    fits_one_binding(gpu, out, "top-K lists")?;
    fits_one_binding(gpu, users, "top-K users")?;
    let g = table.geometry();
    let (chunk_rows, slots) = table_slots(gpu, table)?;
    let p = params(
        gpu,
        &TopKParams {
            n_list: n_list as u32,
            n_users,
            n_items,
            k,
            lanes: g.lanes,
            chunk_rows,
            pad: [0; 2],
        },
    )?;
    let mut bindings = vec![
        (0, p.as_entire_binding()),
        (1, users.binding()),
        (2, excluded.ptr.binding()),
        (3, excluded.items.binding()),
        (4, out.binding()),
    ];
    bindings.extend(slots);
    Ok(Plan::new(vec![gpu.launch(
        TOPK_VARIANTS.for_storage(gpu, table.storage()),
        "topk",
        &bindings,
        (n_list as u32).div_ceil(USERS_PER_WORKGROUP),
    )?]))
}

/// Top-K lists of several users, row-major: user `r`'s list is `items[r*k .. (r+1)*k]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TopK {
    pub k: u32,
    /// Item ids, best first; [`NO_ITEM`] pads lists with fewer than K candidates.
    pub items: Vec<u32>,
    /// Their scores; −∞ for padding.
    pub scores: Vec<f32>,
}

impl TopK {
    /// Decodes the packed `(item, score bits)` pairs [`topk`] writes.
    pub fn from_packed(k: u32, packed: &[u32]) -> Self {
        let (items, scores) = packed
            .chunks_exact(2)
            .map(|p| {
                let s = if p[0] == NO_ITEM {
                    f32::NEG_INFINITY
                } else {
                    f32::from_bits(p[1])
                };
                (p[0], s)
            })
            .unzip();
        TopK { k, items, scores }
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.items.len().checked_div(self.k as usize).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The `r`-th user's items (with padding).
    pub fn items_of(&self, r: usize) -> &[u32] {
        let k = self.k as usize;
        &self.items[r * k..(r + 1) * k]
    }

    /// The `r`-th user's scores.
    pub fn scores_of(&self, r: usize) -> &[f32] {
        let k = self.k as usize;
        &self.scores[r * k..(r + 1) * k]
    }

    /// Appends another batch's lists (same K).
    pub fn extend(&mut self, other: TopK) {
        self.items.extend(other.items);
        self.scores.extend(other.scores);
    }
}

/// Runs [`topk`] for `users` (user ids, each below `excluded.n_users()`) and reads the lists
/// back.
pub fn top_k<'a>(
    gpu: &Gpu,
    table: impl Into<TableRef<'a>>,
    excluded: &DeviceUserItems,
    users: &[u32],
    k: u32,
) -> GpuResult<TopK> {
    check_k(k)?;
    let table: TableRef<'_> = table.into();
    if let Some(&u) = users.iter().find(|&&u| u >= excluded.n_users) {
        return Err(GpuError::Invalid(format!(
            "user {u} outside 0..{}",
            excluded.n_users
        )));
    }
    if users.is_empty() {
        return Ok(TopK {
            k,
            items: Vec::new(),
            scores: Vec::new(),
        });
    }
    let list = gpu.upload(users, "top-K users")?;
    let out = gpu.alloc::<u32>(packed_len(users.len(), k), "top-K lists")?;
    let plan = topk(gpu, table, excluded, &list, k, &out)?;
    gpu.run("top-K", |pass| crate::gpu::Record::record(&plan, pass))?;
    Ok(TopK::from_packed(k, &gpu.download(&out)?))
}
