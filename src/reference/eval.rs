//! CPU references of the evaluation: AUC by counting every (positive, negative) pair, scores
//! and full per-user rankings in f64, and Recall/NDCG from those rankings.

/// AUC by the definition: the fraction of (positive, negative) pairs the scores order
/// correctly, a tie counting one half. O(P·N). `None` without positives or negatives.
/// Counts are whole or half integers, exact in f64 below 2^52 pairs.
pub fn auc_pairwise(scores: &[f64], labels: &[u8]) -> Option<f64> {
    let pos: Vec<f64> = (0..scores.len())
        .filter(|&r| labels[r] != 0)
        .map(|r| scores[r])
        .collect();
    let neg: Vec<f64> = (0..scores.len())
        .filter(|&r| labels[r] == 0)
        .map(|r| scores[r])
        .collect();
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    let mut correct = 0.0f64;
    for &p in &pos {
        for &n in &neg {
            if p > n {
                correct += 1.0;
            } else if p == n {
                correct += 0.5;
            }
        }
    }
    Some(correct / (pos.len() as f64 * neg.len() as f64))
}

/// `⟨E_a, E_b⟩` of two rows of a row-major `dim`-wide table, accumulated in f64.
pub fn dot_rows(table: &[f32], dim: usize, a: usize, b: usize) -> f64 {
    let (ra, rb) = (
        &table[a * dim..(a + 1) * dim],
        &table[b * dim..(b + 1) * dim],
    );
    ra.iter().zip(rb).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// The score of each (user, item) row: `⟨E_user, E_{n_users + item}⟩` in f64.
pub fn score_rows(
    table: &[f32],
    dim: usize,
    n_users: u32,
    users: &[u32],
    items: &[u32],
) -> Vec<f64> {
    users
        .iter()
        .zip(items)
        .map(|(&u, &i)| dot_rows(table, dim, u as usize, (n_users + i) as usize))
        .collect()
}

/// One user's top `k` items by f64 score over every item not in `excluded` (a full sort),
/// best first, equal scores by the lower item id; items scoring NaN or −∞ are left out and
/// the list is padded with `(u32::MAX, −∞)`.
pub fn top_k(
    table: &[f32],
    dim: usize,
    n_users: u32,
    n_items: u32,
    user: u32,
    excluded: &[u32],
    k: usize,
) -> Vec<(u32, f64)> {
    let mut scored: Vec<(u32, f64)> = (0..n_items)
        .filter(|i| !excluded.contains(i))
        .map(|i| {
            (
                i,
                dot_rows(table, dim, user as usize, (n_users + i) as usize),
            )
        })
        .filter(|&(_, s)| !s.is_nan() && s != f64::NEG_INFINITY)
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(k);
    scored.resize(k, (u32::MAX, f64::NEG_INFINITY));
    scored
}

/// Recall@K and NDCG@K of one ranked list against a set of relevant items (LightGCN's
/// definitions: recall = hits / |relevant|; DCG with binary gains 1 / log2(rank + 2), IDCG
/// over the first min(|relevant|, K) ranks). `None` when nothing is relevant.
pub fn recall_ndcg(list: &[u32], relevant: &[u32], k: usize) -> Option<(f64, f64)> {
    if relevant.is_empty() {
        return None;
    }
    let mut hits = 0usize;
    let mut dcg = 0.0;
    for (r, item) in list.iter().take(k).enumerate() {
        if relevant.contains(item) {
            hits += 1;
            dcg += 1.0 / ((r + 2) as f64).log2();
        }
    }
    let idcg: f64 = (0..relevant.len().min(k))
        .map(|r| 1.0 / ((r + 2) as f64).log2())
        .sum();
    Some((hits as f64 / relevant.len() as f64, dcg / idcg))
}
