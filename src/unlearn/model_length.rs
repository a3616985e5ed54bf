//! The model's own step length: what a request too small to fit its own length (one user's
//! few rows) starts from when no earlier request of its unlearner or directory fitted one
//! (docs/DAMPING.md, "Small requests").
//!
//! A **pseudo-request** — half the remaining training rows of [`PSEUDO_USERS`] users drawn at
//! random (a partial deletion of genuine rows, the common small request) — is forgotten by
//! the default method on a scratch copy of the model; the median of the lengths
//! [`PSEUDO_REQUESTS`] of them fit is the model's. Their rows stay in the model: only the
//! scratch copies forget them. `ifru train` and `ifru
//! import` compute it (counted in their time, `calibration_seconds`) and model.json keeps it
//! (`step_length`); a directory without one (written before it existed) keeps the earlier
//! fallback, the `auto` step as solved. It is not recomputed as rows go: a directory's own
//! fitted requests take over as soon as there are any.
//!
//! Flipped rows cannot be sampled from a model that does not mark them. Where the data marks
//! them (an IFRU-protocol folder's `train_random.csv`) and the loss is BCE, a second length
//! is fitted on pseudo-requests of flipped rows ([`pseudo_flipped_request`]: a random half of
//! the marked rows still remaining); elsewhere a flipped request too small to fit falls back
//! to earlier flipped requests, else the `auto` step.
//!
//! Either length also scales the `auto` damping of every request of its kind where it is far
//! from 1 (docs/DAMPING.md, "The model's own damping").

use crate::data::Dataset;
use crate::data::rng::Rng;
use crate::error::Result;
use crate::gpu::GpuHandle;
use crate::model::{LossKind, ModelSpec, Params};
use crate::train::TrainConfig;
use crate::unlearn::engine::{ForgetRequest, Unlearner};
use crate::unlearn::influence::calibrate::MIN_FIT_ROWS;
use crate::unlearn::influence::forgetting::LengthSource;
use crate::unlearn::request::ForgetRows;

/// Users whose rows make a pseudo-request: the flagship top-K case's request size (half
/// the items of 20 users), enough rows for a BPR fit on most data.
pub const PSEUDO_USERS: usize = 20;

/// Pseudo-requests whose median length is the model's.
pub const PSEUDO_REQUESTS: usize = 3;

pub use crate::model::store::ModelLength;

/// The pseudo-request's rows (training ids, ascending): every other remaining row, in
/// training order, of up to [`PSEUDO_USERS`] users drawn with `seed` among those with at
/// least two remaining rows (BPR: two positives, and an item held out for validation, or
/// its fit has no target). Empty when no user qualifies.
pub fn pseudo_request(data: &Dataset, forgotten: &[bool], loss: LossKind, seed: u64) -> Vec<u32> {
    let n_users = data.n_users as usize;
    let counts = |rows: &crate::data::Interactions, skip: &dyn Fn(usize) -> bool| {
        let mut per_user = vec![0u32; n_users];
        for r in 0..rows.len() {
            if !skip(r) && (loss == LossKind::Bce || rows.labels[r] == 1) {
                per_user[rows.users[r] as usize] += 1;
            }
        }
        per_user
    };
    let remaining = counts(&data.train, &|r| forgotten[r]);
    let held_out = counts(&data.valid, &|_| false);
    let mut users: Vec<u32> = (0..data.n_users)
        .filter(|&u| {
            remaining[u as usize] >= 2 && (loss == LossKind::Bce || held_out[u as usize] > 0)
        })
        .collect();
    let mut rng = Rng::new(seed);
    rng.shuffle(&mut users);
    users.truncate(PSEUDO_USERS);
    let chosen = crate::data::id_mask(n_users, &users);
    // Every other row of each chosen user, counted per user in training order.
    let mut taken = vec![0u32; n_users];
    let mut rows = Vec::new();
    for (r, (&user, &gone)) in data.train.users.iter().zip(forgotten).enumerate() {
        let u = user as usize;
        if gone || !chosen[u] {
            continue;
        }
        if taken[u].is_multiple_of(2) {
            rows.push(r as u32);
        }
        taken[u] += 1;
    }
    rows
}

/// Fewest marked flipped rows that must remain for a flipped pseudo-request: it takes half
/// of them, and its fitting half (a quarter) needs [`MIN_FIT_ROWS`].
pub const MIN_FLIPPED_ROWS: usize = 4 * MIN_FIT_ROWS;

/// A flipped pseudo-request's rows (training ids, ascending): a random half (drawn with
/// `seed`) of the dataset's marked flipped rows that remain. Empty when fewer than
/// [`MIN_FLIPPED_ROWS`] remain.
pub fn pseudo_flipped_request(data: &Dataset, forgotten: &[bool], seed: u64) -> Vec<u32> {
    let mut rows: Vec<u32> = data
        .flipped_rows()
        .filter(|&r| !forgotten[r as usize])
        .collect();
    if rows.len() < MIN_FLIPPED_ROWS {
        return Vec::new();
    }
    Rng::new(seed).shuffle(&mut rows);
    rows.truncate(rows.len() / 2);
    rows.sort_unstable();
    rows
}

/// How many users `rows` belong to.
pub fn users_of(data: &Dataset, rows: &[u32]) -> usize {
    let mut users: Vec<u32> = rows.iter().map(|&r| data.train.users[r as usize]).collect();
    users.sort_unstable();
    users.dedup();
    users.len()
}

/// Fits a model's own step length for `kind` of rows: [`PSEUDO_REQUESTS`] pseudo-requests
/// (seeds `seed`, `seed + 1`, …; [`pseudo_request`] or [`pseudo_flipped_request`]), each
/// forgotten as `kind` rows by the default method on a scratch
/// unlearner of the model (`params` with the training rows of `forgotten` gone) that is then
/// dropped, and the median of the lengths they fit. One pseudo-request's statistic is noisy
/// (of 18 fits on six held-out settings, one gave 0 and one 2.1× the length the real request
/// fitted: docs/DAMPING.md); the median of three is robust to one such. `Err(why)` inside
/// when none fitted a length (too few rows, no held-out items).
// The model's parts as `Unlearner::from_parts` takes them, plus what to fit and the seed.
#[allow(clippy::too_many_arguments)]
pub fn fit<'g>(
    gpu: impl Into<GpuHandle<'g>>,
    spec: ModelSpec,
    recipe: &TrainConfig,
    data: &Dataset,
    params: &Params,
    forgotten: &[bool],
    kind: ForgetRows,
    seed: u64,
) -> Result<std::result::Result<ModelLength, String>> {
    let start = std::time::Instant::now();
    let gpu: GpuHandle<'g> = gpu.into();
    let mut lengths = Vec::with_capacity(PSEUDO_REQUESTS);
    let mut rows_of = Vec::with_capacity(PSEUDO_REQUESTS);
    let mut users = 0;
    let mut why = Vec::new();
    for k in 0..PSEUDO_REQUESTS as u64 {
        let rows = match kind {
            ForgetRows::Genuine => pseudo_request(data, forgotten, spec.loss, seed + k),
            ForgetRows::Flipped if spec.loss == LossKind::Bce => {
                pseudo_flipped_request(data, forgotten, seed + k)
            }
            ForgetRows::Flipped => Vec::new(),
        };
        if rows.is_empty() {
            return Ok(Err(match (kind, spec.loss) {
                (ForgetRows::Flipped, LossKind::Bpr) => {
                    "a BPR model's rows carry no labels to flip".into()
                }
                (ForgetRows::Flipped, LossKind::Bce) => {
                    format!("the data marks fewer than {MIN_FLIPPED_ROWS} flipped rows that remain")
                }
                (ForgetRows::Genuine, LossKind::Bce) => {
                    "no user has two remaining rows to draw from".into()
                }
                (ForgetRows::Genuine, LossKind::Bpr) => {
                    "no user has two remaining positive rows and a held-out item to draw from"
                        .into()
                }
            }));
        }
        users = users.max(users_of(data, &rows));
        let mut scratch = Unlearner::from_parts(
            gpu.clone(),
            spec,
            recipe.clone(),
            data.clone(),
            params,
            forgotten.to_vec(),
        )?;
        let request = ForgetRequest::default().rows_kind(kind);
        let outcome = scratch.forget_with(&rows, &request)?;
        lengths.push(match outcome.step_length {
            // The scratch unlearner has no model length, so its first solve used `auto`.
            Some(length) if length.source == LengthSource::Fitted => length.of_auto_step(),
            _ => {
                why.push(outcome.warnings.join("; "));
                None
            }
        });
        rows_of.push(rows.len());
    }
    let mut fitted: Vec<f64> = lengths.iter().flatten().copied().collect();
    fitted.sort_by(f64::total_cmp);
    let Some(&t) = fitted.get(fitted.len() / 2) else {
        return Ok(Err(format!(
            "none of its {PSEUDO_REQUESTS} pseudo-requests ({rows_of:?} rows) fitted a length ({})",
            why.join(" / ")
        )));
    };
    Ok(Ok(ModelLength {
        t,
        lengths,
        rows: rows_of,
        users,
        seed,
        seconds: start.elapsed().as_secs_f64(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic::synthetic_dataset;

    #[test]
    fn the_pseudo_request_is_half_of_each_drawn_users_remaining_rows() {
        let data = synthetic_dataset(3000, 5, 0.0).unwrap();
        let mut forgotten = vec![false; data.train.len()];
        forgotten[0] = true;
        let rows = pseudo_request(&data, &forgotten, LossKind::Bce, 7);
        assert!(!rows.is_empty());
        assert!(rows.windows(2).all(|w| w[0] < w[1]), "ascending");
        assert!(!rows.contains(&0), "a forgotten row is not drawn");
        assert_eq!(users_of(&data, &rows), PSEUDO_USERS);
        for u in rows.iter().map(|&r| data.train.users[r as usize]) {
            let all = (0..data.train.len())
                .filter(|&r| !forgotten[r] && data.train.users[r] == u)
                .count();
            let drawn = rows
                .iter()
                .filter(|&&r| data.train.users[r as usize] == u)
                .count();
            assert_eq!(drawn, all.div_ceil(2), "user {u}");
        }
        // The same seed draws the same users; another seed others.
        assert_eq!(rows, pseudo_request(&data, &forgotten, LossKind::Bce, 7));
        assert_ne!(rows, pseudo_request(&data, &forgotten, LossKind::Bce, 8));
    }

    #[test]
    fn the_flipped_pseudo_request_is_a_random_half_of_the_remaining_flipped_rows() {
        let data = synthetic_dataset(20_000, 5, 0.02).unwrap();
        let flipped = data.flipped_rows();
        let mut forgotten = vec![false; data.train.len()];
        forgotten[flipped.start as usize] = true;
        let remaining = flipped.len() - 1;
        assert!(remaining >= MIN_FLIPPED_ROWS, "{remaining}");
        let rows = pseudo_flipped_request(&data, &forgotten, 3);
        assert_eq!(rows.len(), remaining / 2);
        assert!(rows.windows(2).all(|w| w[0] < w[1]), "ascending");
        assert!(
            rows.iter()
                .all(|r| flipped.contains(r) && !forgotten[*r as usize])
        );
        assert_eq!(rows, pseudo_flipped_request(&data, &forgotten, 3));
        assert_ne!(rows, pseudo_flipped_request(&data, &forgotten, 4));
        // Too few left for a fitting half of MIN_FIT_ROWS: none.
        for r in flipped.clone().skip(3 * MIN_FIT_ROWS) {
            forgotten[r as usize] = true;
        }
        assert!(pseudo_flipped_request(&data, &forgotten, 3).is_empty());
    }
}
