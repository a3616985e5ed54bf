//! Seeded, portable random number generators.
//!
//! * [`Mt19937`] reproduces numpy's legacy `RandomState` (`np.random.seed(s)`), so that
//!   [`numpy_shuffle`] gives exactly the permutation of `np.random.seed(s);
//!   np.random.shuffle(idx)`: the official IFRU split can be rebuilt from its seed alone.
//! * [`Rng`] (xoshiro256**, seeded through SplitMix64) is the fast generator used everywhere
//!   else (forget-set sampling, validation hold-out, the synthetic generator).
//!
//! Both are defined by integer arithmetic only, so a seed gives the same stream on every
//! platform.

/// The 32-bit Mersenne Twister, seeded like numpy's legacy `RandomState`.
#[derive(Clone)]
pub struct Mt19937 {
    mt: [u32; 624],
    index: usize,
}

impl Mt19937 {
    /// `init_genrand(seed)`, which is what `np.random.seed(seed)` does for an integer seed
    /// below 2^32.
    pub fn new(seed: u32) -> Self {
        let mut mt = [0u32; 624];
        mt[0] = seed;
        for i in 1..624 {
            let prev = mt[i - 1];
            mt[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { mt, index: 624 }
    }

    fn generate(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        for i in 0..624 {
            let y = (self.mt[i] & UPPER) | (self.mt[(i + 1) % 624] & LOWER);
            let mut v = self.mt[(i + 397) % 624] ^ (y >> 1);
            if y & 1 != 0 {
                v ^= MATRIX_A;
            }
            self.mt[i] = v;
        }
        self.index = 0;
    }

    /// The next tempered 32-bit output.
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            self.generate();
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// numpy's `random_interval(max)`: uniform in `[0, max]` by masked rejection.
    pub fn interval(&mut self, max: u32) -> u32 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        mask |= mask >> 1;
        mask |= mask >> 2;
        mask |= mask >> 4;
        mask |= mask >> 8;
        mask |= mask >> 16;
        loop {
            let v = self.next_u32() & mask;
            if v <= max {
                return v;
            }
        }
    }
}

/// The permutation `np.random.seed(seed); idx = np.arange(n); np.random.shuffle(idx)` gives,
/// for `n < 2^32` and `seed < 2^32`.
pub fn numpy_shuffle(n: usize, seed: u32) -> Vec<u32> {
    let mut idx: Vec<u32> = (0..n as u32).collect();
    let mut rng = Mt19937::new(seed);
    for i in (1..n).rev() {
        let j = rng.interval(i as u32) as usize;
        idx.swap(i, j);
    }
    idx
}

/// xoshiro256** seeded by SplitMix64: small, fast and portable.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator seeded from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut st = seed;
        let s = [
            splitmix64(&mut st),
            splitmix64(&mut st),
            splitmix64(&mut st),
            splitmix64(&mut st),
        ];
        Rng { s }
    }

    /// An independent stream for a purpose named by `stream` (e.g. one per table).
    pub fn derive(seed: u64, stream: u64) -> Self {
        let mut st = seed ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03);
        let mixed = splitmix64(&mut st);
        Rng::new(mixed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, n)` (Lemire's unbiased multiply-shift); `n` must be > 0, 0 is returned
    /// for `n == 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let threshold = n.wrapping_neg() % n;
        loop {
            let x = self.next_u64();
            let m = (x as u128) * (n as u128);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// An approximately standard normal draw: the Irwin–Hall sum of 12 uniforms minus 6
    /// (mean 0, variance 1, tails cut at ±6). Arithmetic only, so it is bitwise portable.
    pub fn normal_approx(&mut self) -> f64 {
        let mut s = 0.0;
        for _ in 0..12 {
            s += self.uniform();
        }
        s - 6.0
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }

    /// `k` distinct indices from `0..n`, in ascending order (`k` is capped at `n`).
    pub fn sample_sorted(&mut self, n: usize, k: usize) -> Vec<u32> {
        let k = k.min(n);
        let mut idx: Vec<u32> = (0..n as u32).collect();
        // Partial Fisher–Yates: the first k slots become a uniform sample.
        for i in 0..k {
            let j = i + self.below((n - i) as u64) as usize;
            idx.swap(i, j);
        }
        idx.truncate(k);
        idx.sort_unstable();
        idx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mt_matches_reference_outputs() {
        // Reference: the canonical mt19937ar with init_genrand(5489) starts 3499211612, 581869302.
        let mut r = Mt19937::new(5489);
        assert_eq!(r.next_u32(), 3_499_211_612);
        assert_eq!(r.next_u32(), 581_869_302);
    }

    #[test]
    fn numpy_shuffle_matches_the_ifru_permutation_prefix() {
        // From ml-100k-ifru/README.md: np.random.seed(1024); shuffle(arange(99287)).
        let p = numpy_shuffle(99_287, 1024);
        assert_eq!(
            &p[..10],
            &[
                90483, 49058, 69610, 11089, 28447, 12936, 60024, 51207, 78753, 13866
            ]
        );
    }

    #[test]
    fn rng_is_deterministic_and_in_range() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        for n in [1u64, 2, 3, 10, 1 << 40] {
            for _ in 0..100 {
                assert!(a.below(n) < n);
            }
        }
        let s = a.sample_sorted(10, 4);
        assert_eq!(s.len(), 4);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(a.sample_sorted(3, 10), vec![0, 1, 2]);
    }
}
