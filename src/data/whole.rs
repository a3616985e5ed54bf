//! A dataset whose training rows are every row of a raw table (no split, no flipped rows),
//! its ids laid out by given id maps: what a model trained elsewhere on that table sees.
//! Validation rows, if any, come from a second table of the same format.

use std::path::Path;

use super::{Dataset, IdMap, Interactions, RawData, ValueKind};

/// The labels of a raw table's rows: its 0/1 labels, ratings above `threshold`, or 1 for
/// implicit data.
fn labels(raw: &RawData, threshold: f64) -> Vec<u8> {
    match (&raw.values, raw.kind) {
        (Some(v), ValueKind::Label) => v.iter().map(|&x| u8::from(x > 0.5)).collect(),
        (Some(v), ValueKind::Rating) => v
            .iter()
            .map(|&x| u8::from(f64::from(x) > threshold))
            .collect(),
        _ => vec![1; raw.len()],
    }
}

/// `raw`'s rows with ids mapped through `users` / `items` (the data's own id → dense id).
fn rows_of(
    raw: &RawData,
    users: &IdMap,
    items: &IdMap,
    threshold: f64,
) -> Result<Interactions, String> {
    let map = |ids: &IdMap, own: &IdMap, dense: u32, side: &str| -> Result<u32, String> {
        let id = own
            .raw(dense)
            .ok_or_else(|| format!("{side} {dense} has no id in the file"))?;
        ids.get(&id).ok_or_else(|| {
            format!(
                "{side} {id:?} ({}) has no embedding row",
                raw.source.display()
            )
        })
    };
    let mut out = Interactions::with_capacity(raw.len());
    for ((&u, &i), l) in raw.users.iter().zip(&raw.items).zip(labels(raw, threshold)) {
        out.users.push(map(users, &raw.user_ids, u, "user")?);
        out.items.push(map(items, &raw.item_ids, i, "item")?);
        out.labels.push(l);
    }
    Ok(out)
}

impl Dataset {
    /// Every row of `train` as a training row and every row of `valid` as a validation row,
    /// the ids laid out by `users` and `items` (which may hold ids no row names: nodes
    /// without rows). `threshold` turns ratings into labels.
    pub fn from_whole_tables(
        source: &Path,
        train: &RawData,
        valid: Option<&RawData>,
        users: IdMap,
        items: IdMap,
        threshold: f64,
    ) -> Result<Dataset, String> {
        let rows = rows_of(train, &users, &items, threshold)?;
        let valid = match valid {
            Some(v) => rows_of(v, &users, &items, threshold)?,
            None => Interactions::default(),
        };
        let n = rows.len();
        Ok(Dataset {
            source: source.to_path_buf(),
            n_users: users.len() as u32,
            n_items: items.len() as u32,
            user_ids: users,
            item_ids: items,
            train: rows,
            valid,
            test: Interactions::default(),
            n_train_normal: n,
            implicit: train.kind == ValueKind::Implicit,
        })
    }
}
