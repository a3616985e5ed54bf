//! The iterative k-core filter of the IFRU code: repeat, until the row count no longer changes,
//! "keep the rows whose user has ≥ k rows; then, on that result, keep the rows whose item has
//! ≥ k rows". Counts are over all rows whatever their value; the row order is kept.

/// Row ids (ascending) that survive the iterative k-core filter of the table `(users, items)`.
/// Ids must be dense-ish (they index count arrays of size max + 1). `k ≤ 1` keeps every row.
pub fn kcore_rows(users: &[u32], items: &[u32], k: usize) -> Vec<u32> {
    let mut rows: Vec<u32> = (0..users.len() as u32).collect();
    if k <= 1 {
        return rows;
    }
    let n_users = users.iter().max().map_or(0, |&m| m as usize + 1);
    let n_items = items.iter().max().map_or(0, |&m| m as usize + 1);
    let mut counts = vec![0usize; n_users.max(n_items)];
    let filter = |rows: &mut Vec<u32>, key: &[u32], counts: &mut Vec<usize>| {
        counts.iter_mut().for_each(|c| *c = 0);
        for &r in rows.iter() {
            counts[key[r as usize] as usize] += 1;
        }
        rows.retain(|&r| counts[key[r as usize] as usize] >= k);
    };
    loop {
        let before = rows.len();
        filter(&mut rows, users, &mut counts);
        filter(&mut rows, items, &mut counts);
        if rows.len() == before {
            return rows;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterates_to_a_fixed_point() {
        // Users 0 and 1 have 2 rows each on items 0, 1; user 2 has one row on item 2, whose
        // removal takes nothing else. With k = 2 only user 2's row goes.
        let users = [0, 0, 1, 1, 2];
        let items = [0, 1, 0, 1, 2];
        assert_eq!(kcore_rows(&users, &items, 2), vec![0, 1, 2, 3]);
        // A chain: removing item 2 drops user 1 below k, which drops item 1, ...
        let users = [0, 0, 1, 1];
        let items = [0, 1, 1, 2];
        assert_eq!(kcore_rows(&users, &items, 2), Vec::<u32>::new());
        assert_eq!(kcore_rows(&users, &items, 1), vec![0, 1, 2, 3]);
    }
}
