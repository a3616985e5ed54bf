//! Evaluation: AUC over labelled rows (the IFRU protocol) and Recall@K / NDCG@K over every
//! item a user has not interacted with (LightGCN's top-K protocol).
//!
//! Scores come from the final embeddings on the device, a table of users then items (item
//! `i` is node `n_users + i`): row scores through [`score_bce`], top-K lists through
//! [`topk::topk`]. Only scores and K-item lists are read back.
//!
//! Precision: AUC is a function of the order of the f32 scores only, computed exactly
//! (integer pair counts, one final division), so it equals the pairwise definition to
//! ~1e-16. Against f64 scores it can differ where two rows' scores are closer than the f32
//! rounding of a dot product (|s| · d · 2⁻²⁴ or so); each such pair moves it by 1/(P·N).

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::rng::Rng;
use crate::data::{Dataset, Interactions};
use crate::gpu::{Gpu, GpuError, GpuResult, Record};
use crate::kernels::pair_loss::{DevicePairs, RECORD, score_bce};
use crate::kernels::topk::{self, DeviceUserItems, NO_ITEM, TopK};
use crate::kernels::{DeviceTable, Plan, TableRef};

/// Rows scored per kernel launch (16 MiB of output records).
const SCORE_BATCH: usize = 1 << 20;

/// Area under the ROC curve of `scores` against binary `labels` (non-zero = positive): the
/// probability that a random positive outscores a random negative, ties counting one half
/// (Mann–Whitney U / (P·N)). O(n log n).
///
/// `None` when there are no positives, no negatives, or the lengths differ. A NaN score
/// ranks as −∞ (a broken prediction counts as the most confident "no").
pub fn auc(scores: &[f32], labels: &[u8]) -> Option<f64> {
    if scores.len() != labels.len() {
        return None;
    }
    let key = |s: f32| if s.is_nan() { f32::NEG_INFINITY } else { s };
    let mut order: Vec<u32> = (0..scores.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| key(scores[a as usize]).total_cmp(&key(scores[b as usize])));
    // Twice the number of correctly ordered (positive, negative) pairs, exact in integers.
    let (mut twice_correct, mut neg_below, mut pos_total) = (0u128, 0u64, 0u64);
    let mut start = 0;
    while start < order.len() {
        let s = key(scores[order[start] as usize]);
        let mut end = start;
        let (mut pos, mut neg) = (0u64, 0u64);
        // Group equal scores (-0 and +0 are equal and adjacent in total order).
        while end < order.len() && key(scores[order[end] as usize]) == s {
            if labels[order[end] as usize] != 0 {
                pos += 1;
            } else {
                neg += 1;
            }
            end += 1;
        }
        twice_correct += pos as u128 * (2 * neg_below + neg) as u128;
        neg_below += neg;
        pos_total += pos;
        start = end;
    }
    if pos_total == 0 || neg_below == 0 {
        return None;
    }
    Some(twice_correct as f64 / (2.0 * pos_total as f64 * neg_below as f64))
}

/// Rows uploaded once for scoring (in batches of at most 2²⁰), so a score pass repeated
/// every epoch uploads nothing.
pub struct RowScorer {
    batches: Vec<(DevicePairs, crate::gpu::GpuBuffer<f32>)>,
    n_nodes: u32,
}

impl RowScorer {
    /// Uploads `rows` (dense ids) for a model with `n_users` users and `n_nodes` nodes.
    pub fn new(gpu: &Gpu, n_users: u32, n_nodes: u32, rows: &Interactions) -> GpuResult<Self> {
        let n = rows.len();
        if rows.items.len() != n || rows.labels.len() != n {
            return Err(GpuError::Invalid(format!(
                "{n} users, {} items and {} labels",
                rows.items.len(),
                rows.labels.len()
            )));
        }
        let mut nodes = Vec::with_capacity(n);
        for (r, &i) in rows.items.iter().enumerate() {
            match n_users.checked_add(i) {
                Some(node) => nodes.push(node),
                None => {
                    return Err(GpuError::Invalid(format!(
                        "row {r}: item {i} after {n_users} users overflows the node ids"
                    )));
                }
            }
        }
        if let Some(r) = rows.users.iter().position(|&u| u >= n_users) {
            return Err(GpuError::Invalid(format!(
                "row {r}: user {} outside 0..{n_users}",
                rows.users[r]
            )));
        }
        let labels = vec![0.0f32; n.min(SCORE_BATCH)];
        let mut batches = Vec::new();
        let mut start = 0;
        while start < n {
            let end = (start + SCORE_BATCH).min(n);
            let pairs = DevicePairs::upload(
                gpu,
                n_nodes,
                &rows.users[start..end],
                &nodes[start..end],
                &labels[..end - start],
            )?;
            let out = gpu.alloc::<f32>((end - start) * RECORD as usize, "row scores")?;
            batches.push((pairs, out));
            start = end;
        }
        Ok(RowScorer { batches, n_nodes })
    }

    /// The scoring of every batch under final embeddings `emb` (users then items; f32 or
    /// f16 storage): run it, then read [`RowScorer::outputs`] and turn them into scores with
    /// [`RowScorer::from_records`]. Several scorers' plans can run and be read together.
    pub fn plan<'a>(&'a self, gpu: &Gpu, emb: impl Into<TableRef<'a>>) -> GpuResult<Plan<'a>> {
        let emb = emb.into();
        if emb.rows() != self.n_nodes {
            return Err(GpuError::Invalid(format!(
                "rows prepared for {} nodes scored with a table of {}",
                self.n_nodes,
                emb.rows()
            )));
        }
        let mut plan = Plan::empty();
        for (pairs, out) in &self.batches {
            plan = plan.then(score_bce(gpu, pairs, emb, out)?);
        }
        Ok(plan)
    }

    /// The buffers [`RowScorer::plan`] writes, with their value counts, in row order.
    pub fn outputs(&self) -> Vec<(&crate::gpu::GpuBuffer<f32>, usize)> {
        self.batches
            .iter()
            .map(|(_, out)| (out, out.len()))
            .collect()
    }

    /// The scores in the records read from [`RowScorer::outputs`] (field 0 of each).
    pub fn from_records(records: &[Vec<f32>]) -> Vec<f32> {
        records
            .iter()
            .flat_map(|r| r.chunks_exact(RECORD as usize).map(|rec| rec[0]))
            .collect()
    }

    /// The scores under final embeddings `emb` (users then items; f32 or f16 storage): one
    /// run and one read-back for every batch.
    pub fn scores<'a>(&'a self, gpu: &Gpu, emb: impl Into<TableRef<'a>>) -> GpuResult<Vec<f32>> {
        let plan = self.plan(gpu, emb)?;
        gpu.run("scoring rows", |pass| plan.record(pass))?;
        Ok(Self::from_records(&gpu.download_all(&self.outputs())?))
    }
}

/// The score `⟨E_u, E_{n_users + i}⟩` of every row of `rows`, computed on the device by
/// [`score_bce`] (field 0 of its records). `emb` holds the final embeddings, users then items.
pub fn score_rows<'a>(
    gpu: &Gpu,
    emb: impl Into<TableRef<'a>>,
    n_users: u32,
    rows: &Interactions,
) -> GpuResult<Vec<f32>> {
    let emb: TableRef<'a> = emb.into();
    RowScorer::new(gpu, n_users, emb.rows(), rows)?.scores(gpu, emb)
}

/// AUCs of the IFRU protocol. Every AUC is `None` when its rows lack a class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AucReport {
    /// Over the validation rows.
    pub valid_auc: Option<f64>,
    /// Over the test rows.
    pub test_auc: Option<f64>,
    /// Over the test rows whose user **or** item appears in a forget row.
    pub test_auc_or: Option<f64>,
    /// Over the test rows whose user **and** item appear in forget rows.
    pub test_auc_and: Option<f64>,
    /// Over the forget rows, with the labels they carry in training (the flipped labels of
    /// the IFRU protocol): high while the model still remembers them.
    pub forget_auc: Option<f64>,
    /// Rows behind each AUC.
    pub n_valid: usize,
    pub n_test: usize,
    pub n_test_or: usize,
    pub n_test_and: usize,
    pub n_forget: usize,
}

/// Checks forget row ids against the training table.
fn check_rows(train: &Interactions, rows: &[u32]) -> GpuResult<()> {
    match train.first_row_outside(rows) {
        Some(r) => Err(GpuError::Invalid(format!(
            "forget row {r} outside the {} training rows",
            train.len()
        ))),
        None => Ok(()),
    }
}

/// The AUC of training rows `rows` with their training labels ([`AucReport::forget_auc`] of
/// any subset of a forget set, e.g. [`second_half`]).
pub fn forget_auc<'a>(
    gpu: &Gpu,
    emb: impl Into<TableRef<'a>>,
    n_users: u32,
    train: &Interactions,
    rows: &[u32],
) -> GpuResult<Option<f64>> {
    let emb: TableRef<'a> = emb.into();
    check_rows(train, rows)?;
    let forget = train.select(rows);
    Ok(auc(
        &score_rows(gpu, emb, n_users, &forget)?,
        &forget.labels,
    ))
}

/// The mean place of the items of training rows `rows` (typically forgotten positives) in
/// their users' lists, as a fraction of each user's candidates — the items the user has no
/// row with in `remaining`, so a forgotten item is a candidate again. 0 is the top of the
/// list and about 0.5 a random place; tied candidates count half. `None` when `rows` is
/// empty. Scores every item for each user of `rows` on the device (cost: users × items).
pub fn forget_rank(
    gpu: &Gpu,
    emb: &DeviceTable,
    n_users: u32,
    n_items: u32,
    train: &Interactions,
    remaining: &Interactions,
    rows: &[u32],
) -> GpuResult<Option<f64>> {
    check_rows(train, rows)?;
    let seen = UserItems::build(n_users, n_items, &[remaining], false)?;
    mean_rank(gpu, emb, n_users, n_items, &train.select(rows), &seen)
}

/// The mean place of each pair's item among its user's candidates (the items not in
/// `seen` for that user, the pair's own item always included), as in [`forget_rank`].
pub fn mean_rank(
    gpu: &Gpu,
    emb: &DeviceTable,
    n_users: u32,
    n_items: u32,
    pairs: &Interactions,
    seen: &UserItems,
) -> GpuResult<Option<f64>> {
    if pairs.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        RankScorer::new(gpu, n_users, n_items, pairs, seen)?.mean_rank(gpu, emb)?,
    ))
}

/// (user, item) pairs prepared for [`mean_rank`]: every item of each pair's user is
/// uploaded once, so the mean place under new embeddings (a calibration's every step)
/// costs a scoring pass and no upload.
pub struct RankScorer {
    n_items: u32,
    /// The pairs' users' rows (every item of each user, user-major), in batches of
    /// consecutive users of `users`.
    batches: Vec<RowScorer>,
    pairs: Vec<(u32, u32)>,
    /// Each user's excluded items (the `seen` of [`mean_rank`]), aligned with the users.
    users: Vec<u32>,
    excluded: Vec<Vec<u32>>,
}

impl RankScorer {
    /// Prepares `pairs` (non-empty) for a model of `n_users` users and `n_items` items.
    pub fn new(
        gpu: &Gpu,
        n_users: u32,
        n_items: u32,
        pairs: &Interactions,
        seen: &UserItems,
    ) -> GpuResult<Self> {
        if pairs.is_empty() {
            return Err(GpuError::Invalid("a mean place over no pairs".into()));
        }
        if let Some(r) =
            (0..pairs.len()).find(|&r| pairs.users[r] >= n_users || pairs.items[r] >= n_items)
        {
            return Err(GpuError::Invalid(format!(
                "pair {r}: user {} / item {} outside {n_users} x {n_items}",
                pairs.users[r], pairs.items[r]
            )));
        }
        let mut users = pairs.users.clone();
        users.sort_unstable();
        users.dedup();
        let per_batch = (SCORE_BATCH / n_items.max(1) as usize).max(1);
        let mut batches = Vec::new();
        for batch in users.chunks(per_batch) {
            let mut all = Interactions::with_capacity(batch.len() * n_items as usize);
            for &u in batch {
                (0..n_items).for_each(|i| all.push(u, i, 0));
            }
            let scorer = RowScorer::new(gpu, n_users, n_users + n_items, &all)?;
            batches.push(scorer);
        }
        Ok(RankScorer {
            n_items,
            batches,
            pairs: pairs_of(pairs),
            excluded: users.iter().map(|&u| seen.items_of(u).to_vec()).collect(),
            users,
        })
    }

    /// A scorer of other `pairs` over the lists this one scores (their users must be among
    /// this one's): it holds no device buffers, and its [`RankScorer::places_in`] reads the
    /// lists [`RankScorer::score_lists`] of `self` returns. Several pair sets of the same
    /// users (a request's fitting, check and held-out pairs) then share one scoring pass.
    pub fn for_pairs(&self, pairs: &Interactions) -> GpuResult<RankScorer> {
        if let Some(r) = (0..pairs.len()).find(|&r| {
            pairs.items[r] >= self.n_items || self.users.binary_search(&pairs.users[r]).is_err()
        }) {
            return Err(GpuError::Invalid(format!(
                "pair {r}: user {} / item {} is not among the scored lists",
                pairs.users[r], pairs.items[r]
            )));
        }
        Ok(RankScorer {
            n_items: self.n_items,
            batches: Vec::new(),
            pairs: pairs_of(pairs),
            users: self.users.clone(),
            excluded: self.excluded.clone(),
        })
    }

    /// The mean place under final embeddings `emb`.
    pub fn mean_rank(&self, gpu: &Gpu, emb: &DeviceTable) -> GpuResult<f64> {
        Ok(self.mean_rank_in(&self.score_lists(gpu, emb)?))
    }

    /// Every item's score for each of the pairs' users under final embeddings `emb`: one
    /// list of `n_items` scores per user, users ascending, concatenated. Lists taken under
    /// several embeddings can be combined on the host before [`RankScorer::mean_rank_in`].
    pub fn score_lists(&self, gpu: &Gpu, emb: &DeviceTable) -> GpuResult<Vec<f32>> {
        let plan = self.plan(gpu, emb)?;
        gpu.run("scoring lists", |pass| plan.record(pass))?;
        Ok(RowScorer::from_records(&gpu.download_all(&self.outputs())?))
    }

    /// The scoring of every user's list under `emb` (see [`RowScorer::plan`]).
    pub fn plan<'a>(&'a self, gpu: &Gpu, emb: &'a DeviceTable) -> GpuResult<Plan<'a>> {
        let mut plan = Plan::empty();
        for scorer in &self.batches {
            plan = plan.then(scorer.plan(gpu, emb)?);
        }
        Ok(plan)
    }

    /// The buffers [`RankScorer::plan`] writes, in list order.
    pub fn outputs(&self) -> Vec<(&crate::gpu::GpuBuffer<f32>, usize)> {
        self.batches.iter().flat_map(RowScorer::outputs).collect()
    }

    /// The mean place given [`RankScorer::score_lists`].
    pub fn mean_rank_in(&self, lists: &[f32]) -> f64 {
        let places = self.places_in(lists);
        places.iter().sum::<f64>() / places.len().max(1) as f64
    }

    /// Each pair's place among its user's candidates (0 the top, ties counting half) given
    /// [`RankScorer::score_lists`]; a pair whose user has no list there (a short `lists`)
    /// counts 0. Exactly the pairwise count: a NaN score is never above or tied with
    /// another, and −0 ties +0. A calibration evaluates this at many step lengths, so it is
    /// kept cheap: a user with few pairs (the usual forget request: a few items per user)
    /// is counted in one pass over its list; a user with many has its candidates sorted
    /// once and each pair found by binary search.
    pub fn places_in(&self, lists: &[f32]) -> Vec<f64> {
        self.places_with(lists, LINEAR_PLACE_PAIRS)
    }

    /// [`RankScorer::places_in`], counting users with at most `linear_up_to` pairs in one
    /// pass and sorting the others' candidates.
    fn places_with(&self, lists: &[f32], linear_up_to: usize) -> Vec<f64> {
        let n_items = self.n_items as usize;
        let mut by_user: Vec<Vec<usize>> = vec![Vec::new(); self.users.len()];
        for (p, &(u, _)) in self.pairs.iter().enumerate() {
            if let Ok(k) = self.users.binary_search(&u) {
                by_user[k].push(p);
            }
        }
        let mut places = vec![0.0; self.pairs.len()];
        for (k, pairs) in by_user.iter().enumerate() {
            let Some(list) = lists.get(k * n_items..(k + 1) * n_items) else {
                continue;
            };
            let excluded = &self.excluded[k];
            let is_candidate = |j: u32| excluded.binary_search(&j).is_err();
            // Per pair: candidates above its own score and tied with it (the own item
            // included when it is a candidate), over the list's candidates.
            let counts: Vec<(usize, usize)>;
            let candidates;
            if pairs.len() <= linear_up_to {
                let owns: Vec<f32> = pairs
                    .iter()
                    .map(|&p| list[self.pairs[p].1 as usize])
                    .collect();
                let mut tally = vec![(0usize, 0usize); pairs.len()];
                let mut n = 0;
                let mut next_excluded = excluded.iter().peekable();
                for (j, &s) in list.iter().enumerate() {
                    while next_excluded.next_if(|&&e| (e as usize) < j).is_some() {}
                    if next_excluded.peek().is_some_and(|&&e| e as usize == j) {
                        continue;
                    }
                    n += 1;
                    if s.is_nan() {
                        continue;
                    }
                    for (t, &own) in tally.iter_mut().zip(&owns) {
                        if s > own {
                            t.0 += 1;
                        } else if s == own {
                            t.1 += 1;
                        }
                    }
                }
                counts = tally;
                candidates = n;
            } else {
                let mut scores = Vec::with_capacity(n_items);
                let mut n = 0;
                for (j, &s) in list.iter().enumerate() {
                    if !is_candidate(j as u32) {
                        continue;
                    }
                    n += 1;
                    if !s.is_nan() {
                        scores.push(s + 0.0);
                    }
                }
                scores.sort_unstable_by(f32::total_cmp);
                counts = pairs
                    .iter()
                    .map(|&p| {
                        let own = list[self.pairs[p].1 as usize] + 0.0;
                        let below_or_tied = scores.partition_point(|&s| s <= own);
                        let below = scores.partition_point(|&s| s < own);
                        (scores.len() - below_or_tied, below_or_tied - below)
                    })
                    .collect();
                candidates = n;
            }
            for (&p, &(above, tied)) in pairs.iter().zip(&counts) {
                let i = self.pairs[p].1;
                let own = list[i as usize];
                // The pair's own item is not its own candidate.
                let own_is_candidate = is_candidate(i);
                let candidates = candidates - usize::from(own_is_candidate);
                if candidates == 0 || own.is_nan() {
                    continue;
                }
                let ties = tied - usize::from(own_is_candidate);
                places[p] = (above as f64 + 0.5 * ties as f64) / candidates as f64;
            }
        }
        places
    }
}

/// The (user, item) of every row.
fn pairs_of(rows: &Interactions) -> Vec<(u32, u32)> {
    rows.users
        .iter()
        .copied()
        .zip(rows.items.iter().copied())
        .collect()
}

/// Users with at most this many pairs are counted in one pass over their list (cost: pairs
/// × items) rather than sorted (items × log items): below ~log₂ of a large catalogue the
/// pass is the cheaper.
const LINEAR_PLACE_PAIRS: usize = 16;

/// The second half of a forget set in file order: `rows[len / 2..]` (the larger half when
/// `len` is odd).
pub fn second_half(rows: &[u32]) -> &[u32] {
    &rows[rows.len() / 2..]
}

/// Test rows touched by a forget set: `(or, and)` masks, true where the row's user or item
/// (resp. user and item) appears in a forget row.
pub fn touched_rows(
    n_users: u32,
    n_items: u32,
    train: &Interactions,
    forget: &[u32],
    test: &Interactions,
) -> GpuResult<(Vec<bool>, Vec<bool>)> {
    check_rows(train, forget)?;
    let mut user_hit = vec![false; n_users as usize];
    let mut item_hit = vec![false; n_items as usize];
    for &r in forget {
        let (u, i) = (train.users[r as usize], train.items[r as usize]);
        match (user_hit.get_mut(u as usize), item_hit.get_mut(i as usize)) {
            (Some(a), Some(b)) => {
                *a = true;
                *b = true;
            }
            _ => {
                return Err(GpuError::Invalid(format!(
                    "forget row {r} names user {u} / item {i} outside {n_users} x {n_items}"
                )));
            }
        }
    }
    let hit = |ids: &[bool], x: u32| ids.get(x as usize).copied().unwrap_or(false);
    let mut or = Vec::with_capacity(test.len());
    let mut and = Vec::with_capacity(test.len());
    for (&u, &i) in test.users.iter().zip(&test.items) {
        let (a, b) = (hit(&user_hit, u), hit(&item_hit, i));
        or.push(a || b);
        and.push(a && b);
    }
    Ok((or, and))
}

fn masked_auc(scores: &[f32], labels: &[u8], mask: &[bool]) -> (Option<f64>, usize) {
    let (s, l): (Vec<f32>, Vec<u8>) = scores
        .iter()
        .zip(labels)
        .zip(mask)
        .filter(|(_, m)| **m)
        .map(|((&s, &l), _)| (s, l))
        .unzip();
    (auc(&s, &l), s.len())
}

/// Every AUC of the IFRU protocol for the final embeddings `emb` (users then items) of a
/// model trained on `data`. `forget` lists training row ids (D_r); without it the touched
/// and forget AUCs are `None`.
pub fn auc_report<'a>(
    gpu: &Gpu,
    emb: impl Into<TableRef<'a>>,
    data: &Dataset,
    forget: Option<&[u32]>,
) -> GpuResult<AucReport> {
    let emb: TableRef<'a> = emb.into();
    let n_users = data.n_users;
    let valid = score_rows(gpu, emb, n_users, &data.valid)?;
    let test = score_rows(gpu, emb, n_users, &data.test)?;
    let mut report = AucReport {
        valid_auc: auc(&valid, &data.valid.labels),
        test_auc: auc(&test, &data.test.labels),
        test_auc_or: None,
        test_auc_and: None,
        forget_auc: None,
        n_valid: data.valid.len(),
        n_test: data.test.len(),
        n_test_or: 0,
        n_test_and: 0,
        n_forget: 0,
    };
    if let Some(rows) = forget {
        let (or, and) = touched_rows(n_users, data.n_items, &data.train, rows, &data.test)?;
        (report.test_auc_or, report.n_test_or) = masked_auc(&test, &data.test.labels, &or);
        (report.test_auc_and, report.n_test_and) = masked_auc(&test, &data.test.labels, &and);
        report.forget_auc = forget_auc(gpu, emb, n_users, &data.train, rows)?;
        report.n_forget = rows.len();
    }
    Ok(report)
}

/// Items per user as CSR over user ids: `items[row_ptr[u]..row_ptr[u + 1]]`, sorted, distinct.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserItems {
    pub row_ptr: Vec<u32>,
    pub items: Vec<u32>,
}

impl UserItems {
    /// The items of every row of `tables` (only rows labelled 1 when `positives_only`),
    /// grouped by user. Fails on an id outside `n_users` × `n_items`.
    pub fn build(
        n_users: u32,
        n_items: u32,
        tables: &[&Interactions],
        positives_only: bool,
    ) -> GpuResult<Self> {
        let mut lists = vec![Vec::new(); n_users as usize];
        for t in tables {
            for r in 0..t.len() {
                if positives_only && t.labels.get(r).copied().unwrap_or(0) == 0 {
                    continue;
                }
                let (u, i) = (t.users[r], t.items.get(r).copied().unwrap_or(u32::MAX));
                if u >= n_users || i >= n_items {
                    return Err(GpuError::Invalid(format!(
                        "row {r}: user {u} / item {i} outside {n_users} x {n_items}"
                    )));
                }
                lists[u as usize].push(i);
            }
        }
        let total: usize = lists.iter().map(Vec::len).sum();
        if u32::try_from(total).is_err() {
            return Err(GpuError::Invalid(format!(
                "{total} user-item pairs exceed 2^32"
            )));
        }
        let mut out = UserItems {
            row_ptr: Vec::with_capacity(n_users as usize + 1),
            items: Vec::with_capacity(total),
        };
        out.row_ptr.push(0);
        for mut l in lists {
            l.sort_unstable();
            l.dedup();
            out.items.extend(l);
            out.row_ptr.push(out.items.len() as u32);
        }
        Ok(out)
    }

    /// Number of users.
    pub fn n_users(&self) -> u32 {
        self.row_ptr.len().saturating_sub(1) as u32
    }

    /// User `u`'s items; empty for an unknown user.
    pub fn items_of(&self, u: u32) -> &[u32] {
        let u = u as usize;
        match (self.row_ptr.get(u), self.row_ptr.get(u + 1)) {
            (Some(&a), Some(&b)) => &self.items[a as usize..b as usize],
            _ => &[],
        }
    }
}

/// Settings of [`recall_ndcg`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingOptions {
    /// List length K (1 to [`topk::MAX_K`]).
    pub k: u32,
    /// Evaluate a fixed random sample of this many users (of those with a relevant item)
    /// instead of all of them.
    pub sample_users: Option<usize>,
    /// Seed of that sample.
    pub seed: u64,
    /// Users per kernel launch (bounds each submission's run time and read-back).
    pub batch_users: usize,
    /// [`ranking_report`] only: also exclude the validation rows' items (LightGCN excludes
    /// every row of `train.txt`, which the loader splits into train and valid).
    pub exclude_valid: bool,
}

impl Default for RankingOptions {
    fn default() -> Self {
        RankingOptions {
            k: 20,
            sample_users: None,
            seed: 2024,
            batch_users: 4096,
            exclude_valid: true,
        }
    }
}

/// Recall@K and NDCG@K averaged over the evaluated users (0 when no user has a relevant
/// item).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingReport {
    pub k: u32,
    pub recall: f64,
    pub ndcg: f64,
    /// Users evaluated (with at least one relevant item; the sample if one was asked for).
    pub users: usize,
    /// Users with at least one relevant item.
    pub eligible_users: usize,
    /// The sample's seed, when the users were sampled.
    pub sample_seed: Option<u64>,
    /// Wall time of scoring, selection and read-back, in seconds.
    pub seconds: f64,
}

/// The users to evaluate: those with a relevant item, or a fixed seeded sample of them
/// (ascending).
pub fn eval_users(relevant: &UserItems, sample: Option<usize>, seed: u64) -> Vec<u32> {
    let eligible: Vec<u32> = (0..relevant.n_users())
        .filter(|&u| !relevant.items_of(u).is_empty())
        .collect();
    match sample {
        Some(n) if n < eligible.len() => Rng::new(seed)
            .sample_sorted(eligible.len(), n)
            .into_iter()
            .map(|k| eligible[k as usize])
            .collect(),
        _ => eligible,
    }
}

/// Recall@K and NDCG@K of one list (LightGCN's definitions: recall = hits / |relevant|;
/// binary gains 1 / log2(rank + 2); IDCG over the first min(|relevant|, K) ranks).
/// `relevant` is sorted. `None` when nothing is relevant.
pub fn list_recall_ndcg(list: &[u32], relevant: &[u32]) -> Option<(f64, f64)> {
    if relevant.is_empty() {
        return None;
    }
    let gain = |r: usize| 1.0 / ((r + 2) as f64).log2();
    let mut hits = 0usize;
    let mut dcg = 0.0;
    for (r, item) in list.iter().enumerate() {
        if *item != NO_ITEM && relevant.binary_search(item).is_ok() {
            hits += 1;
            dcg += gain(r);
        }
    }
    let idcg: f64 = (0..relevant.len().min(list.len())).map(gain).sum();
    let ndcg = if idcg > 0.0 { dcg / idcg } else { 0.0 };
    Some((hits as f64 / relevant.len() as f64, ndcg))
}

/// The top-K lists of `users` (user ids), scoring on the device every item not in
/// `excluded`, `batch` users per launch; `emb` in f32 or f16 storage.
pub fn top_k_lists<'a>(
    gpu: &Gpu,
    emb: impl Into<TableRef<'a>>,
    excluded: &DeviceUserItems,
    users: &[u32],
    k: u32,
    batch: usize,
) -> GpuResult<TopK> {
    let mut all = TopK {
        k,
        items: Vec::with_capacity(users.len() * k as usize),
        scores: Vec::with_capacity(users.len() * k as usize),
    };
    topk::check_k(k)?;
    let emb = emb.into();
    for chunk in users.chunks(batch.max(1)) {
        all.extend(topk::top_k(gpu, emb, excluded, chunk, k)?);
    }
    Ok(all)
}

/// Recall@K and NDCG@K over every item each user has no `excluded` pair with, for the users
/// of [`eval_users`] (those with a `relevant` item, or a seeded sample of them). `emb` holds
/// the final embeddings, users then items (`n_users + n_items` rows at least).
pub fn recall_ndcg<'a>(
    gpu: &Gpu,
    emb: impl Into<TableRef<'a>>,
    n_items: u32,
    excluded: &UserItems,
    relevant: &UserItems,
    opts: &RankingOptions,
) -> GpuResult<RankingReport> {
    let emb: TableRef<'a> = emb.into();
    let start = Instant::now();
    topk::check_k(opts.k)?;
    if excluded.n_users() != relevant.n_users() {
        return Err(GpuError::Invalid(format!(
            "excluded items cover {} users, relevant items {}",
            excluded.n_users(),
            relevant.n_users()
        )));
    }
    let users = eval_users(relevant, opts.sample_users, opts.seed);
    let device_excluded =
        DeviceUserItems::upload(gpu, n_items, &excluded.row_ptr, &excluded.items)?;
    let lists = top_k_lists(gpu, emb, &device_excluded, &users, opts.k, opts.batch_users)?;
    let (mut recall, mut ndcg) = (0.0, 0.0);
    for (r, &u) in users.iter().enumerate() {
        if let Some((re, nd)) = list_recall_ndcg(lists.items_of(r), relevant.items_of(u)) {
            recall += re;
            ndcg += nd;
        }
    }
    let n = users.len().max(1) as f64;
    let eligible = (0..relevant.n_users())
        .filter(|&u| !relevant.items_of(u).is_empty())
        .count();
    Ok(RankingReport {
        k: opts.k,
        recall: recall / n,
        ndcg: ndcg / n,
        users: users.len(),
        eligible_users: eligible,
        sample_seed: opts
            .sample_users
            .filter(|&s| s < eligible)
            .map(|_| opts.seed),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// [`recall_ndcg`] on a dataset's test rows: relevant = the test rows labelled 1, excluded =
/// the training rows (and, with [`RankingOptions::exclude_valid`], the validation rows).
pub fn ranking_report<'a>(
    gpu: &Gpu,
    emb: impl Into<TableRef<'a>>,
    data: &Dataset,
    opts: &RankingOptions,
) -> GpuResult<RankingReport> {
    let emb: TableRef<'a> = emb.into();
    let mut seen = vec![&data.train];
    if opts.exclude_valid {
        seen.push(&data.valid);
    }
    let excluded = UserItems::build(data.n_users, data.n_items, &seen, false)?;
    let relevant = UserItems::build(data.n_users, data.n_items, &[&data.test], true)?;
    recall_ndcg(gpu, emb, data.n_items, &excluded, &relevant, opts)
}

/// The metrics a report carries for one model: the AUCs for labelled (BCE) data, Recall and
/// NDCG at K for top-K (BPR) data. Absent fields are left out of the JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_auc: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_auc: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_auc_or: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_auc_and: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forget_auc: Option<f64>,
    #[serde(rename = "recall@20", skip_serializing_if = "Option::is_none")]
    pub recall_at_20: Option<f64>,
    #[serde(rename = "ndcg@20", skip_serializing_if = "Option::is_none")]
    pub ndcg_at_20: Option<f64>,
    /// Users the ranking metrics averaged over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranking_users: Option<usize>,
}

/// What to compute: AUCs (with a forget set when one is known) or ranking metrics.
#[derive(Debug, Clone)]
pub enum MetricsPlan<'a> {
    Auc { forget: Option<&'a [u32]> },
    Ranking(RankingOptions),
}

/// Evaluates final embeddings `emb` of a model trained on `data`.
pub fn evaluate<'a>(
    gpu: &Gpu,
    emb: impl Into<TableRef<'a>>,
    data: &Dataset,
    plan: &MetricsPlan<'_>,
) -> GpuResult<Metrics> {
    let emb: TableRef<'a> = emb.into();
    match plan {
        MetricsPlan::Auc { forget } => {
            let r = auc_report(gpu, emb, data, *forget)?;
            Ok(Metrics {
                valid_auc: r.valid_auc,
                test_auc: r.test_auc,
                test_auc_or: r.test_auc_or,
                test_auc_and: r.test_auc_and,
                forget_auc: r.forget_auc,
                ..Metrics::default()
            })
        }
        MetricsPlan::Ranking(opts) => {
            let r = ranking_report(
                gpu,
                emb,
                data,
                &RankingOptions {
                    k: 20,
                    ..opts.clone()
                },
            )?;
            Ok(Metrics {
                recall_at_20: Some(r.recall),
                ndcg_at_20: Some(r.ndcg),
                ranking_users: Some(r.users),
                ..Metrics::default()
            })
        }
    }
}

/// The validation score early stopping follows: AUC over the validation rows (BCE), or
/// Recall@20 over the validation positives of a fixed seeded sample of users (BPR), with the
/// model's own training rows excluded from the candidates.
pub enum ValidationScore<'a> {
    Auc {
        valid: &'a Interactions,
        n_users: u32,
        scorer: Option<RowScorer>,
    },
    Recall {
        excluded: UserItems,
        relevant: UserItems,
        n_items: u32,
        opts: RankingOptions,
    },
}

impl<'a> ValidationScore<'a> {
    /// The score for a model of `loss` trained on `rows` of `data`; `sample_users` bounds the
    /// users of the BPR recall (0: all).
    pub fn new(
        loss: crate::model::LossKind,
        data: &'a Dataset,
        rows: &Interactions,
        sample_users: usize,
        seed: u64,
    ) -> GpuResult<Self> {
        Ok(match loss {
            crate::model::LossKind::Bce => ValidationScore::Auc {
                valid: &data.valid,
                n_users: data.n_users,
                scorer: None,
            },
            crate::model::LossKind::Bpr => ValidationScore::Recall {
                excluded: UserItems::build(data.n_users, data.n_items, &[rows], false)?,
                relevant: UserItems::build(data.n_users, data.n_items, &[&data.valid], true)?,
                n_items: data.n_items,
                opts: RankingOptions {
                    sample_users: (sample_users > 0).then_some(sample_users),
                    seed,
                    ..RankingOptions::default()
                },
            },
        })
    }
}

impl crate::train::Validator for ValidationScore<'_> {
    fn validate(&mut self, gpu: &Gpu, model: &crate::model::DeviceModel) -> GpuResult<f64> {
        let emb = model.embeddings();
        match self {
            ValidationScore::Auc {
                valid,
                n_users,
                scorer,
            } => {
                // Uploaded at the first validation, reused every epoch after.
                let scorer = match scorer {
                    Some(s) => s,
                    None => scorer.insert(RowScorer::new(gpu, *n_users, emb.rows(), valid)?),
                };
                let scores = scorer.scores(gpu, emb)?;
                auc(&scores, &valid.labels).ok_or_else(|| {
                    GpuError::Invalid("the validation rows need both labels for an AUC".into())
                })
            }
            ValidationScore::Recall {
                excluded,
                relevant,
                n_items,
                opts,
            } => Ok(recall_ndcg(gpu, emb, *n_items, excluded, relevant, opts)?.recall),
        }
    }
}

/// The metrics of a model after a request, with `forget_auc` over the request's rows and
/// `forget_auc_b` over the second half of them in file order (the half no calibration saw).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestMetrics {
    #[serde(flatten)]
    pub metrics: Metrics,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forget_auc_b: Option<f64>,
    /// BPR: [`forget_rank`] of the request's rows, and of their second half in file order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forget_rank: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forget_rank_b: Option<f64>,
    /// BPR: the mean place of the request's users' held-out (validation) items: what the
    /// request cost the users it touched (a retrain on less of their rows moves it too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heldout_rank: Option<f64>,
}

/// Evaluates a model after (or before) a request forgetting `forget_in_file_order`.
pub fn request_metrics(
    gpu: &Gpu,
    emb: &DeviceTable,
    data: &Dataset,
    loss: crate::model::LossKind,
    forget_in_file_order: &[u32],
    ranking: &RankingOptions,
) -> GpuResult<RequestMetrics> {
    match loss {
        crate::model::LossKind::Bce => {
            let metrics = evaluate(
                gpu,
                emb,
                data,
                &MetricsPlan::Auc {
                    forget: Some(forget_in_file_order),
                },
            )?;
            let forget_auc_b = forget_auc(
                gpu,
                emb,
                data.n_users,
                &data.train,
                second_half(forget_in_file_order),
            )?;
            Ok(RequestMetrics {
                metrics,
                forget_auc_b,
                ..RequestMetrics::default()
            })
        }
        crate::model::LossKind::Bpr => {
            check_rows(&data.train, forget_in_file_order)?;
            let gone = crate::data::id_mask(data.train.len(), forget_in_file_order);
            let kept: Vec<u32> = (0..data.train.len() as u32)
                .filter(|&r| !gone[r as usize])
                .collect();
            // Candidates: the items a user has no remaining row with ([`forget_rank`]).
            let seen = UserItems::build(
                data.n_users,
                data.n_items,
                &[&data.train.select(&kept)],
                false,
            )?;
            let rank = |rows: &[u32]| {
                let pairs = data.train.select(rows);
                mean_rank(gpu, emb, data.n_users, data.n_items, &pairs, &seen)
            };
            let mut users: Vec<u32> = forget_in_file_order
                .iter()
                .map(|&r| data.train.users[r as usize])
                .collect();
            users.sort_unstable();
            users.dedup();
            let heldout: Vec<u32> = (0..data.valid.len() as u32)
                .filter(|&r| {
                    data.valid.labels[r as usize] == 1
                        && users.binary_search(&data.valid.users[r as usize]).is_ok()
                })
                .collect();
            Ok(RequestMetrics {
                metrics: evaluate(gpu, emb, data, &MetricsPlan::Ranking(ranking.clone()))?,
                forget_rank: rank(forget_in_file_order)?,
                forget_rank_b: rank(second_half(forget_in_file_order))?,
                heldout_rank: mean_rank(
                    gpu,
                    emb,
                    data.n_users,
                    data.n_items,
                    &data.valid.select(&heldout),
                    &seen,
                )?,
                ..RequestMetrics::default()
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RankScorer;
    use proptest::prelude::*;

    /// The pairwise definition: candidates above the own score, ties counting half.
    fn naive_place(list: &[f32], own_item: usize, excluded: &[u32]) -> f64 {
        let own = list[own_item];
        let (mut above, mut ties, mut candidates) = (0u64, 0u64, 0u64);
        for (j, &s) in list.iter().enumerate() {
            if j == own_item || excluded.contains(&(j as u32)) {
                continue;
            }
            candidates += 1;
            if s > own {
                above += 1;
            } else if s == own {
                ties += 1;
            }
        }
        if candidates == 0 {
            0.0
        } else {
            (above as f64 + 0.5 * ties as f64) / candidates as f64
        }
    }

    /// Pairs of another set over the same lists rank exactly as a scorer built for them;
    /// a pair whose user has no list is refused by name.
    #[test]
    fn other_pairs_rank_in_the_shared_lists() {
        use crate::data::Interactions;
        let lists = vec![0.5f32, 0.1, 0.9, 0.3, 0.2, 0.8, 0.4, 0.6, 0.7];
        let shared = RankScorer {
            n_items: 3,
            batches: Vec::new(),
            pairs: vec![(0, 0), (1, 1), (2, 2)],
            users: vec![0, 1, 2],
            excluded: vec![vec![], vec![2], vec![0]],
        };
        let mut some = Interactions::default();
        some.push(2, 1, 1);
        some.push(0, 2, 1);
        let mine = shared.for_pairs(&some).unwrap();
        // User 2 ranks [0.4, 0.6, 0.7] with item 0 excluded: item 1's only candidate, item 2,
        // is above it (place 1). User 0's item 2 (0.9) tops [0.5, 0.1, 0.9] (place 0).
        let places = mine.places_in(&lists);
        assert_eq!(places, vec![1.0, 0.0]);
        for (k, &(u, i)) in mine.pairs.iter().enumerate() {
            let list = &lists[u as usize * 3..u as usize * 3 + 3];
            let excluded = &shared.excluded[u as usize];
            assert_eq!(places[k], naive_place(list, i as usize, excluded));
        }
        let mut stranger = Interactions::default();
        stranger.push(5, 0, 1);
        let err = shared.for_pairs(&stranger).err().unwrap().to_string();
        assert!(err.contains("user 5"), "{err}");
    }

    proptest! {
        /// Sorted look-ups give exactly the pairwise count, with ties, −0 / +0 and NaN.
        #[test]
        fn places_match_the_pairwise_count(
            n_items in 1usize..12,
            seed_scores in proptest::collection::vec(0u8..6, 36),
            seed_pairs in proptest::collection::vec((0u32..3, 0u32..12), 1..8),
            excluded_bits in proptest::collection::vec(any::<bool>(), 36),
        ) {
            let users: Vec<u32> = vec![0, 1, 2];
            // Few distinct values, so ties are common; 4 and 5 stand for −0 and NaN.
            let value = |v: u8| match v {
                4 => -0.0f32,
                5 => f32::NAN,
                v => f32::from(v) - 1.0,
            };
            let lists: Vec<f32> = (0..3 * n_items).map(|k| value(seed_scores[k])).collect();
            let excluded: Vec<Vec<u32>> = (0..3)
                .map(|u| (0..n_items as u32).filter(|&j| excluded_bits[u * 12 + j as usize]).collect())
                .collect();
            let pairs: Vec<(u32, u32)> =
                seed_pairs.iter().map(|&(u, i)| (u, i % n_items as u32)).collect();
            let scorer = RankScorer {
                n_items: n_items as u32,
                batches: Vec::new(),
                pairs: pairs.clone(),
                users: users.clone(),
                excluded: excluded.clone(),
            };
            let got = scorer.places_in(&lists);
            // Both ways of counting: every user in one pass, every user sorted.
            prop_assert_eq!(&scorer.places_with(&lists, usize::MAX), &got);
            prop_assert_eq!(&scorer.places_with(&lists, 0), &got);
            for (k, &(u, i)) in pairs.iter().enumerate() {
                let u = u as usize;
                let list = &lists[u * n_items..(u + 1) * n_items];
                let want = if list[i as usize].is_nan() {
                    0.0
                } else {
                    naive_place(list, i as usize, &excluded[u])
                };
                prop_assert_eq!(got[k], want, "pair {:?}", (u, i));
            }
        }
    }
}
