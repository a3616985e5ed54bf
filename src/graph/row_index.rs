//! user → rows and item → rows indexes.

use super::GraphError;
use crate::data::Interactions;

/// Rows grouped by a key (a user or an item) as CSR: key `k`'s rows are
/// `rows[row_ptr[k]..row_ptr[k + 1]]`, ascending. Built over all labelled rows, whatever the
/// label.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowIndex {
    /// `n_keys + 1` offsets into `rows`.
    pub row_ptr: Vec<u32>,
    /// Row ids grouped by key.
    pub rows: Vec<u32>,
}

impl RowIndex {
    /// Groups row ids `0..keys.len()` by `keys[r]`, for keys below `n_keys`.
    pub fn build(keys: &[u32], n_keys: u32) -> Result<Self, GraphError> {
        if u32::try_from(keys.len()).is_err() {
            return Err(GraphError::TooLarge(format!("{} rows", keys.len())));
        }
        let mut row_ptr = vec![0u32; n_keys as usize + 1];
        for &k in keys {
            if k >= n_keys {
                return Err(GraphError::OutOfRange {
                    what: "key",
                    id: k.into(),
                    bound: n_keys.into(),
                });
            }
            row_ptr[k as usize + 1] += 1;
        }
        for k in 0..n_keys as usize {
            row_ptr[k + 1] += row_ptr[k];
        }
        let mut fill = row_ptr[..n_keys as usize].to_vec();
        let mut rows = vec![0u32; keys.len()];
        for (r, &k) in keys.iter().enumerate() {
            rows[fill[k as usize] as usize] = r as u32;
            fill[k as usize] += 1;
        }
        Ok(RowIndex { row_ptr, rows })
    }

    /// user → rows of `t`.
    pub fn by_user(t: &Interactions, n_users: u32) -> Result<Self, GraphError> {
        Self::build(&t.users, n_users)
    }

    /// item → rows of `t`.
    pub fn by_item(t: &Interactions, n_items: u32) -> Result<Self, GraphError> {
        Self::build(&t.items, n_items)
    }

    /// Number of keys.
    pub fn n_keys(&self) -> usize {
        self.row_ptr.len().saturating_sub(1)
    }

    /// The rows of `key` (ascending); empty for an unknown key.
    pub fn rows_of(&self, key: u32) -> &[u32] {
        let k = key as usize;
        match (self.row_ptr.get(k), self.row_ptr.get(k + 1)) {
            (Some(&a), Some(&b)) => &self.rows[a as usize..b as usize],
            _ => &[],
        }
    }

    /// Number of rows of `key`.
    pub fn degree(&self, key: u32) -> u32 {
        self.rows_of(key).len() as u32
    }

    /// Every key's number of rows.
    pub fn degrees(&self) -> Vec<u32> {
        self.row_ptr.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_rows() {
        let mut t = Interactions::default();
        for (u, i, l) in [(1, 0, 1), (0, 2, 0), (1, 2, 1), (1, 1, 0)] {
            t.push(u, i, l);
        }
        let by_u = RowIndex::by_user(&t, 3).unwrap();
        assert_eq!(by_u.rows_of(1), [0, 2, 3]);
        assert_eq!(by_u.rows_of(0), [1]);
        assert_eq!(by_u.rows_of(2), [] as [u32; 0]);
        assert_eq!(by_u.rows_of(7), [] as [u32; 0]);
        assert_eq!(by_u.degrees(), [1, 3, 0]);
        let by_i = RowIndex::by_item(&t, 3).unwrap();
        assert_eq!(by_i.rows_of(2), [1, 2]);
        assert!(RowIndex::by_item(&t, 2).is_err());
    }
}
