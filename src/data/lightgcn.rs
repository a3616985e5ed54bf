//! LightGCN's `train.txt` / `test.txt`: each line is a user id followed by that user's item ids,
//! separated by spaces. Ids are already dense and used as they are; every row is a positive.
//!
//! The format has no validation split. So that nothing ever selects on test, [`load`] holds out
//! a seeded fraction of each user's training rows as validation ([`holdout`]).

use std::path::Path;

use super::ifru_folder::check_dense;
use super::parse::{self, Delim, Lines};
use super::rng::Rng;
use super::{DataError, Dataset, IdMap, Interactions};

/// Default fraction of each user's training rows held out as validation.
pub const DEFAULT_HOLDOUT_FRAC: f64 = 0.1;
/// Default seed of the validation hold-out.
pub const DEFAULT_HOLDOUT_SEED: u64 = 2020;

/// Reads one LightGCN file into rows (label 1), in file order.
pub fn read_file(path: &Path) -> Result<Interactions, DataError> {
    let bytes = parse::read(path)?;
    parse_bytes(path, &bytes)
}

/// Parses the content of a LightGCN file (`path` only names it in errors). A line holding only
/// a user id is a user without items.
pub fn parse_bytes(path: &Path, bytes: &[u8]) -> Result<Interactions, DataError> {
    let mut lines = Lines::new(bytes);
    let mut fields = Vec::new();
    let mut out = Interactions::with_capacity(bytes.len() / 6);
    let mut any = false;
    while let Some(next) = lines.next_nonblank(path) {
        let (line, text) = next?;
        any = true;
        parse::split_fields(text, &Delim::Whitespace, &mut fields)
            .map_err(|m| DataError::malformed(path, line, m))?;
        let Some((u, rest)) = fields.split_first() else {
            continue;
        };
        let u = parse::parse_id(path, line, "user", u)?;
        for f in rest {
            let i = parse::parse_id(path, line, "item", f)?;
            out.push(u, i, 1);
        }
    }
    if !any {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

/// Splits `train` into (train, valid): for each user with n rows, `min(round(frac·n), n − 1)`
/// of them, chosen with `seed`, go to valid. Both keep the input's row order.
pub fn holdout(train: &Interactions, frac: f64, seed: u64) -> (Interactions, Interactions) {
    let n_users = train.user_bound() as usize;
    // Rows of each user, in order.
    let mut start = vec![0usize; n_users + 1];
    for &u in &train.users {
        start[u as usize + 1] += 1;
    }
    for k in 0..n_users {
        start[k + 1] += start[k];
    }
    let mut fill = start.clone();
    let mut rows = vec![0u32; train.len()];
    for (r, &u) in train.users.iter().enumerate() {
        rows[fill[u as usize]] = r as u32;
        fill[u as usize] += 1;
    }
    let frac = if frac.is_finite() {
        frac.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mut held = vec![false; train.len()];
    let mut rng = Rng::new(seed);
    for u in 0..n_users {
        let mine = &rows[start[u]..start[u + 1]];
        let n = mine.len();
        if n < 2 {
            continue;
        }
        let h = ((frac * n as f64).round() as usize).min(n - 1);
        for k in rng.sample_sorted(n, h) {
            held[mine[k as usize] as usize] = true;
        }
    }
    let mut tr = Interactions::with_capacity(train.len());
    let mut va = Interactions::default();
    for (r, &h) in held.iter().enumerate() {
        let t = if h { &mut va } else { &mut tr };
        t.push(train.users[r], train.items[r], train.labels[r]);
    }
    (tr, va)
}

/// Loads a LightGCN folder (`train.txt`, `test.txt`), holding out `holdout_frac` of each user's
/// training rows as validation with `holdout_seed`.
pub fn load(dir: &Path, holdout_frac: f64, holdout_seed: u64) -> Result<Dataset, DataError> {
    let full = read_file(&dir.join("train.txt"))?;
    let test = read_file(&dir.join("test.txt"))?;
    if full.is_empty() {
        return Err(DataError::invalid(
            &dir.join("train.txt"),
            "no training rows",
        ));
    }
    let n_users = full.user_bound().max(test.user_bound());
    let n_items = full.item_bound().max(test.item_bound());
    let total = full.len() + test.len();
    check_dense(dir, "user", n_users, total)?;
    check_dense(dir, "item", n_items, total)?;
    let (train, valid) = holdout(&full, holdout_frac, holdout_seed);
    Ok(Dataset {
        source: dir.to_path_buf(),
        n_users,
        n_items,
        user_ids: IdMap::identity(n_users),
        item_ids: IdMap::identity(n_items),
        n_train_normal: train.len(),
        train,
        valid,
        test,
        implicit: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let p = Path::new("train.txt");
        let t = parse_bytes(p, b"0 1 2 3\n1\n2 5\n").unwrap();
        assert_eq!(t.users, [0, 0, 0, 2]);
        assert_eq!(t.items, [1, 2, 3, 5]);
        assert!(matches!(parse_bytes(p, b""), Err(DataError::Empty { .. })));
        assert_eq!(parse_bytes(p, b"0 1\n1 x\n").unwrap_err().line(), Some(2));
    }

    #[test]
    fn holdout_per_user() {
        let mut t = Interactions::default();
        for u in 0..5u32 {
            for i in 0..(10 * (u + 1)) {
                t.push(u, i, 1);
            }
        }
        t.push(9, 0, 1); // a user with one row keeps it
        let (tr, va) = holdout(&t, 0.1, 3);
        assert_eq!(tr.len() + va.len(), t.len());
        for u in 0..5u32 {
            let n_va = va.users.iter().filter(|&&x| x == u).count();
            assert_eq!(n_va, (u + 1) as usize);
        }
        assert!(tr.users.contains(&9));
        let (tr2, va2) = holdout(&t, 0.1, 3);
        assert_eq!((tr, va), (tr2, va2));
    }
}
