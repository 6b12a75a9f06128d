//! Seeded random streams.
//!
//! Every draw in a simulation comes from one root seed through independent *named* streams
//! (`network`, `faults`, `workload/<node>`, `node/<node>`), as in TigerBeetle's simulator.
//! Changing how often one subsystem draws never shifts another's draws, which gives common
//! random numbers: comparing two protocols on one seed compares the protocols, not the noise.
//!
//! Sampling (unit floats, ranges, distributions) is written here rather than taken from
//! `rand`'s distributions, so that a crate upgrade cannot silently change what a seed means;
//! its transcendental functions (`log`, `exp`, `cos`, `pow`) come from the pure-Rust `libm`,
//! not the platform's C library, whose last bits differ between systems: the same seed gives
//! the same run on every platform.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One independent deterministic random stream.
#[derive(Clone, Debug)]
pub struct Rng {
    inner: ChaCha8Rng,
}

impl Rng {
    /// The stream called `name` under the root `seed`.
    pub fn stream(seed: u64, name: &str) -> Rng {
        let mut key = [0u8; 32];
        let mut h = splitmix64(seed ^ 0x6a09_e667_f3bc_c908);
        for &b in name.as_bytes() {
            h = splitmix64(h ^ u64::from(b));
        }
        for chunk in key.chunks_exact_mut(8) {
            h = splitmix64(h);
            chunk.copy_from_slice(&h.to_le_bytes());
        }
        Rng {
            inner: ChaCha8Rng::from_seed(key),
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in [0, 1), 53 bits of precision.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, n) by Lemire's multiply-shift with rejection; `n > 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0) has no values");
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// True with probability `p`. Draws nothing when `p` is 0 or 1, so a disabled fault costs
    /// no randomness.
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.unit() < p
        }
    }

    /// A standard normal draw (Box–Muller; one of the pair is discarded for simplicity).
    pub fn standard_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // in (0, 1]: ln is finite
        let u2 = self.unit();
        (-2.0 * libm::log(u1)).sqrt() * libm::cos(std::f64::consts::TAU * u2)
    }

    /// An exponential draw with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * libm::log(1.0 - self.unit())
    }
}

/// SplitMix64 finalizer: a fast, well-mixed 64-bit permutation.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_independent_and_reproducible() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::stream(7, "network");
                move |_| r.next_u64()
            })
            .collect();
        let mut again = Rng::stream(7, "network");
        assert!(a.iter().all(|&x| x == again.next_u64()));
        assert_ne!(Rng::stream(7, "faults").next_u64(), a[0]);
        assert_ne!(Rng::stream(8, "network").next_u64(), a[0]);
    }

    #[test]
    fn below_stays_in_range() {
        let mut r = Rng::stream(1, "t");
        let mut seen = [0u32; 3];
        for _ in 0..3000 {
            seen[r.below(3) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800), "{seen:?}");
    }
}
