//! The CPU work `/cpu-intensive` does: a serial chain of multiply-xorshift steps that the
//! compiler cannot shorten, vectorise or precompute, so `n` iterations cost `n` times a few
//! cycles on any machine.

use std::hint::black_box;
use std::ops::RangeInclusive;

/// About 10–50 ms on a 2–3 GHz x86-64 core (about 2 ns per iteration).
pub const DEFAULT_ITERATIONS: RangeInclusive<u64> = 5_000_000..=25_000_000;

/// Runs `iterations` dependent mixing steps and returns the final state, which the response
/// carries so the work is observable.
pub fn spin(iterations: u64, seed: u64) -> u64 {
    let mut state = seed | 1;
    for _ in 0..black_box(iterations) {
        state = state.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        state ^= state >> 29;
        state = state.wrapping_add(0xD1B5_4A32_D192_ED03);
    }
    black_box(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_depends_on_every_iteration() {
        assert_ne!(spin(1_000, 7), spin(1_001, 7));
        assert_eq!(spin(1_000, 7), spin(1_000, 7));
    }
}
