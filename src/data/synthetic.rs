//! A seeded synthetic generator of labelled interactions: power-law user and item degrees,
//! latent-factor preferences, explicit 0/1 labels. Used as the demo's built-in data and as the
//! scaling benches' input; any size from 10k to 10M rows.
//!
//! The model:
//! * user u is drawn with probability ∝ (rank_u + 1)^(−user_exponent), item i likewise with
//!   `item_exponent`; ranks are a seeded permutation of the ids, so popularity is not tied to id
//!   order;
//! * (user, item) pairs are distinct: repeated draws are dropped and more are drawn;
//! * user and item factors p_u, q_i ∈ R^dim have i.i.d. ≈ N(0, dim^(−1/2)) entries (so p·q has
//!   variance ≈ 1), items have a bias b_i ≈ N(0, 0.25);
//! * score = p_u·q_i + b_i + noise·ε, and label = 1 for the `positive_rate` fraction of rows
//!   with the highest scores (so the positive rate is exact).
//!
//! Rows come out in a seeded random order. Everything is integer arithmetic or IEEE-exact
//! floating point (`libm::pow` for the degree weights), so a seed gives the same data on every
//! platform.

use super::rng::Rng;
use super::{DataError, IdMap, RawData, ValueKind};

/// Parameters of [`generate`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SyntheticConfig {
    /// Number of users.
    pub n_users: u32,
    /// Number of items.
    pub n_items: u32,
    /// Number of rows (distinct pairs); at most half of `n_users × n_items`.
    pub n_rows: usize,
    /// Latent dimension (1..=256).
    pub dim: usize,
    /// Power-law exponent of user degrees (0: uniform).
    pub user_exponent: f64,
    /// Power-law exponent of item degrees.
    pub item_exponent: f64,
    /// Standard deviation of the score noise.
    pub noise: f64,
    /// Fraction of positive labels, in (0, 1).
    pub positive_rate: f64,
    /// Seed.
    pub seed: u64,
}

impl SyntheticConfig {
    /// Defaults for `n_rows` rows: `max(200, n_rows/50)` users, `max(200, n_rows/100)` items,
    /// dim 16, exponents 0.5 (users) and 0.8 (items), noise 0.5, 55% positives.
    pub fn with_rows(n_rows: usize, seed: u64) -> Self {
        let cap = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        SyntheticConfig {
            n_users: cap((n_rows / 50).max(200)),
            n_items: cap((n_rows / 100).max(200)),
            n_rows,
            dim: 16,
            user_exponent: 0.5,
            item_exponent: 0.8,
            noise: 0.5,
            positive_rate: 0.55,
            seed,
        }
    }

    fn check(&self) -> Result<(), DataError> {
        let bad = |m: String| Err(DataError::Config(m));
        if self.n_users == 0 || self.n_items == 0 || self.n_rows == 0 {
            return bad("synthetic data needs at least one user, item and row".into());
        }
        if self.n_rows as f64 > 0.5 * f64::from(self.n_users) * f64::from(self.n_items) {
            return bad(format!(
                "{} rows do not fit: at most half of {} users × {} items",
                self.n_rows, self.n_users, self.n_items
            ));
        }
        if u32::try_from(self.n_rows).is_err() {
            return bad("at most 2^32 − 1 rows".into());
        }
        if !(1..=256).contains(&self.dim) {
            return bad(format!("dim must be in 1..=256, not {}", self.dim));
        }
        for (name, v) in [
            ("user_exponent", self.user_exponent),
            ("item_exponent", self.item_exponent),
        ] {
            if !(v.is_finite() && (0.0..=4.0).contains(&v)) {
                return bad(format!("{name} must be in [0, 4], not {v}"));
            }
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return bad(format!("noise must be ≥ 0, not {}", self.noise));
        }
        if !(self.positive_rate > 0.0 && self.positive_rate < 1.0) {
            return bad(format!(
                "positive_rate must be in (0, 1), not {}",
                self.positive_rate
            ));
        }
        Ok(())
    }
}

/// Draws ids with probability ∝ (rank + 1)^(−exponent); ranks are a seeded permutation.
struct PowerLaw {
    cdf: Vec<f64>,
    id_of_rank: Vec<u32>,
}

impl PowerLaw {
    fn new(n: u32, exponent: f64, rng: &mut Rng) -> Self {
        let mut cdf = Vec::with_capacity(n as usize);
        let mut acc = 0.0;
        for r in 0..n {
            acc += libm::pow(f64::from(r) + 1.0, -exponent);
            cdf.push(acc);
        }
        let mut id_of_rank: Vec<u32> = (0..n).collect();
        rng.shuffle(&mut id_of_rank);
        PowerLaw { cdf, id_of_rank }
    }

    fn draw(&self, rng: &mut Rng) -> u32 {
        let total = self.cdf.last().copied().unwrap_or(0.0);
        let x = rng.uniform() * total;
        let r = self
            .cdf
            .partition_point(|&c| c <= x)
            .min(self.cdf.len() - 1);
        self.id_of_rank[r]
    }
}

/// Generates the data: a [`RawData`] with identity id maps, 0/1 label values
/// ([`ValueKind::Label`]) and `source` "synthetic".
pub fn generate(cfg: &SyntheticConfig) -> Result<RawData, DataError> {
    cfg.check()?;
    let mut rng = Rng::derive(cfg.seed, 1);
    let users = PowerLaw::new(cfg.n_users, cfg.user_exponent, &mut rng);
    let items = PowerLaw::new(cfg.n_items, cfg.item_exponent, &mut rng);

    // Distinct pairs: draw, sort, dedup, draw the shortfall again.
    let mut keys: Vec<u64> = Vec::with_capacity(cfg.n_rows + cfg.n_rows / 8 + 16);
    let mut rounds = 0;
    while keys.len() < cfg.n_rows {
        rounds += 1;
        if rounds > 200 {
            return Err(DataError::Config(format!(
                "could not draw {} distinct pairs: the power laws are too steep for {} users × {} items",
                cfg.n_rows, cfg.n_users, cfg.n_items
            )));
        }
        let need = cfg.n_rows - keys.len();
        for _ in 0..need + need / 8 + 16 {
            let u = users.draw(&mut rng);
            let i = items.draw(&mut rng);
            keys.push((u64::from(u) << 32) | u64::from(i));
        }
        keys.sort_unstable();
        keys.dedup();
    }
    // Drop a random excess, then put the rows in random order.
    rng.shuffle(&mut keys);
    keys.truncate(cfg.n_rows);

    // Factors.
    let mut frng = Rng::derive(cfg.seed, 2);
    let scale = libm::pow(cfg.dim as f64, -0.25);
    let mut factors = |n: u32| -> Vec<f32> {
        (0..n as usize * cfg.dim)
            .map(|_| (frng.normal_approx() * scale) as f32)
            .collect()
    };
    let p = factors(cfg.n_users);
    let q = factors(cfg.n_items);
    let bias: Vec<f32> = (0..cfg.n_items)
        .map(|_| (frng.normal_approx() * 0.5) as f32)
        .collect();

    let mut nrng = Rng::derive(cfg.seed, 3);
    let n = keys.len();
    let mut row_users = Vec::with_capacity(n);
    let mut row_items = Vec::with_capacity(n);
    let mut scores = Vec::with_capacity(n);
    for &k in &keys {
        let u = (k >> 32) as u32;
        let i = k as u32;
        let pu = &p[u as usize * cfg.dim..(u as usize + 1) * cfg.dim];
        let qi = &q[i as usize * cfg.dim..(i as usize + 1) * cfg.dim];
        let dot: f64 = pu
            .iter()
            .zip(qi)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum();
        let s = dot + f64::from(bias[i as usize]) + cfg.noise * nrng.normal_approx();
        row_users.push(u);
        row_items.push(i);
        scores.push(s);
    }
    drop(keys);
    // Label = 1 for the top positive_rate fraction of scores (ties broken by row id).
    let n_pos = ((cfg.positive_rate * n as f64).round() as usize).min(n);
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut labels = vec![0f32; n];
    if n_pos > 0 {
        let cmp = |a: &u32, b: &u32| {
            scores[*b as usize]
                .total_cmp(&scores[*a as usize])
                .then(a.cmp(b))
        };
        order.select_nth_unstable_by(n_pos - 1, cmp);
        for &r in &order[..n_pos] {
            labels[r as usize] = 1.0;
        }
    }
    Ok(RawData {
        source: "synthetic".into(),
        users: row_users,
        items: row_items,
        values: Some(labels),
        kind: ValueKind::Label,
        user_ids: IdMap::identity(cfg.n_users),
        item_ids: IdMap::identity(cfg.n_items),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_labels_and_determinism() {
        let cfg = SyntheticConfig::with_rows(20_000, 9);
        let a = generate(&cfg).unwrap();
        assert_eq!(a.len(), 20_000);
        let labels = a.values.as_ref().unwrap();
        let pos = labels.iter().filter(|&&l| l == 1.0).count();
        assert_eq!(pos, 11_000);
        // Distinct pairs.
        let mut keys: Vec<u64> = (0..a.len())
            .map(|r| (u64::from(a.users[r]) << 32) | u64::from(a.items[r]))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), a.len());
        assert!(a.users.iter().all(|&u| u < cfg.n_users));
        assert!(a.items.iter().all(|&i| i < cfg.n_items));
        // Same seed, same data; another seed, other data.
        let b = generate(&cfg).unwrap();
        assert_eq!(
            (&a.users, &a.items, &a.values),
            (&b.users, &b.items, &b.values)
        );
        let c = generate(&SyntheticConfig {
            seed: 10,
            ..cfg.clone()
        })
        .unwrap();
        assert_ne!(a.users, c.users);
        // Heavy tail: the most popular item has many times the mean degree.
        let mut deg = vec![0usize; cfg.n_items as usize];
        for &i in &a.items {
            deg[i as usize] += 1;
        }
        let max = *deg.iter().max().unwrap();
        let mean = a.len() as f64 / cfg.n_items as f64;
        assert!(max as f64 > 3.0 * mean, "max {max}, mean {mean}");
    }

    #[test]
    fn labels_follow_the_factors() {
        // Labels depend on the items' factors and biases: an item's label rate differs across
        // items more than chance would give.
        let cfg = SyntheticConfig::with_rows(50_000, 3);
        let a = generate(&cfg).unwrap();
        let labels = a.values.unwrap();
        let mut s = vec![(0f64, 0f64); cfg.n_items as usize];
        for r in 0..a.users.len() {
            let e = &mut s[a.items[r] as usize];
            e.0 += f64::from(labels[r]);
            e.1 += 1.0;
        }
        let rates: Vec<f64> = s
            .iter()
            .filter(|e| e.1 >= 30.0)
            .map(|e| e.0 / e.1)
            .collect();
        let mean = rates.iter().sum::<f64>() / rates.len() as f64;
        let var = rates.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / rates.len() as f64;
        // Binomial noise alone would give var ≈ 0.25/30 ≈ 0.008 at most.
        assert!(var > 0.01, "var {var}");
    }

    #[test]
    fn rejects_bad_configs() {
        let mut c = SyntheticConfig::with_rows(1000, 1);
        c.n_users = 10;
        c.n_items = 10;
        assert!(generate(&c).is_err());
        let mut c = SyntheticConfig::with_rows(1000, 1);
        c.positive_rate = 1.0;
        assert!(generate(&c).is_err());
    }
}

#[cfg(test)]
mod big {
    use super::*;

    /// `cargo test --release --lib synthetic::big -- --ignored --nocapture`
    #[test]
    #[ignore = "10M rows: run by hand"]
    fn ten_million_rows() {
        let t = std::time::Instant::now();
        let d = generate(&SyntheticConfig::with_rows(10_000_000, 1)).unwrap();
        assert_eq!(d.len(), 10_000_000);
        eprintln!("10M rows in {:.1} s", t.elapsed().as_secs_f64());
    }
}

/// A ready IFRU-protocol dataset from synthetic data: `n_rows` rows, 5-core, 60/20/20 split
/// shuffled by `seed`, and the tail `ratio` of the training rows as D_r with flipped labels.
/// The demo's built-in data, and test data that needs no files.
///
/// ```
/// use ifru::data::synthetic::synthetic_dataset;
///
/// let data = synthetic_dataset(10_000, 7, 0.01).unwrap();
/// assert!(data.train.len() > data.test.len());
/// // D_r: the last 1% of the training rows, labels flipped.
/// let flipped = data.flipped_rows();
/// assert_eq!(flipped.end as usize, data.train.len());
/// assert!(!flipped.is_empty());
/// // Seeded: the same call gives the same rows.
/// assert_eq!(synthetic_dataset(10_000, 7, 0.01).unwrap().train, data.train);
/// ```
pub fn synthetic_dataset(
    n_rows: usize,
    seed: u64,
    ratio: f64,
) -> Result<super::Dataset, DataError> {
    synthetic_dataset_from(&SyntheticConfig::with_rows(n_rows, seed), ratio)
}

/// [`synthetic_dataset`] with every generator setting given (e.g. more users than
/// [`SyntheticConfig::with_rows`] picks); the split is shuffled by `cfg.seed`.
pub fn synthetic_dataset_from(
    cfg: &SyntheticConfig,
    ratio: f64,
) -> Result<super::Dataset, DataError> {
    Ok(synthetic_split(cfg, ratio)?.to_dataset(std::path::Path::new("synthetic")))
}

/// The split behind [`synthetic_dataset_from`], e.g. to write it as an IFRU-protocol folder
/// ([`super::split::IfruSplit::write`]) that model directories can refer to.
pub fn synthetic_split(
    cfg: &SyntheticConfig,
    ratio: f64,
) -> Result<super::split::IfruSplit, DataError> {
    let raw = generate(cfg)?;
    let mut args = super::split::SplitArgs::new("synthetic", "");
    args.shuffle = super::split::Shuffle::Seed(cfg.seed & 0xffff_ffff);
    args.ratio = ratio;
    super::split::split_raw(&raw, &args)
}
