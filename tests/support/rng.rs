//! A tiny deterministic PRNG (SplitMix64) for property tests, shared by unit and integration tests.
//!
//! The seed defaults to a fixed value so that runs are repeatable; set `GATEWAY_SEED` to replay a failure.
//! Every property test prints the seed it used in its assertion messages.

/// SplitMix64: ten lines, good enough to drive property tests, never for anything secret.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

#[allow(dead_code)]
impl Rng {
    /// A generator seeded from `GATEWAY_SEED` when set, else from `default_seed`.
    pub fn from_env(default_seed: u64) -> (Rng, u64) {
        let seed = std::env::var("GATEWAY_SEED")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(default_seed);
        (Rng::new(seed), seed)
    }

    /// A generator with the given seed.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`; `0` when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability `1/n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// Number of fuzz iterations: `GATEWAY_FUZZ_ITERS` when set, else `default`.
    pub fn iterations(default: usize) -> usize {
        std::env::var("GATEWAY_FUZZ_ITERS")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(default)
    }
}
