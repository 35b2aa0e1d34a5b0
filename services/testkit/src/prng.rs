//! xorshift64*: tiny, deterministic, good enough to scatter bytes. A fixed
//! seed gives the same inputs on every machine and every run, so a failure
//! found by a robustness test reproduces.

/// One way [`Prng::mutate_with`] may change a valid input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    /// Flips one bit of one byte.
    FlipBit,
    /// Overwrites one byte.
    Overwrite,
    /// Cuts the input short.
    Truncate,
    /// Repeats up to 64 bytes in place.
    Duplicate,
    /// Inserts up to 16 random bytes.
    Splice,
}

impl Mutation {
    /// Every mutation, in the order [`Prng::mutate`] draws from.
    pub const ALL: &'static [Mutation] =
        &[Mutation::FlipBit, Mutation::Overwrite, Mutation::Truncate, Mutation::Duplicate, Mutation::Splice];
}

/// The xorshift64* generator. The seed must not be zero.
#[derive(Debug, Clone)]
pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Prng {
        assert_ne!(seed, 0, "xorshift never leaves the zero state");
        Prng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..bound` (0 when `bound` is 0).
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound.max(1) as u64) as usize
    }

    /// Up to `max_len` random bytes.
    pub fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = self.below(max_len + 1);
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// Flips, overwrites, truncates, duplicates or splices a valid input,
    /// one to five times.
    pub fn mutate(&mut self, valid: &[u8]) -> Vec<u8> {
        self.mutate_with(valid, Mutation::ALL)
    }

    /// As [`Self::mutate`], drawing only from `mutations`.
    pub fn mutate_with(&mut self, valid: &[u8], mutations: &[Mutation]) -> Vec<u8> {
        let mut out = valid.to_vec();
        for _ in 0..=self.below(4) {
            if out.is_empty() {
                break;
            }
            let at = self.below(out.len());
            match mutations[self.below(mutations.len())] {
                Mutation::FlipBit => out[at] ^= 1 << self.below(8),
                Mutation::Overwrite => out[at] = self.next_u64() as u8,
                Mutation::Truncate => out.truncate(at),
                Mutation::Duplicate => {
                    let end = (at + 1 + self.below(64)).min(out.len());
                    let copy = out[at..end].to_vec();
                    out.splice(at..at, copy);
                }
                Mutation::Splice => {
                    let extra = self.bytes(16);
                    out.splice(at..at, extra);
                }
            }
        }
        out
    }

    /// Round `round` of a run: random bytes every third round (up to twice
    /// the valid input's length), a mutation of `valid` otherwise.
    pub fn input(&mut self, round: usize, valid: &[u8]) -> Vec<u8> {
        if round.is_multiple_of(3) {
            self.bytes(valid.len() * 2 + 16)
        } else {
            self.mutate(valid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_sequence() {
        let mut first = Prng::new(0x5eed_0001);
        let mut second = Prng::new(0x5eed_0001);
        let drawn: Vec<u64> = (0..4).map(|_| first.next_u64()).collect();
        assert_eq!(drawn, (0..4).map(|_| second.next_u64()).collect::<Vec<_>>());
        assert_ne!(drawn[0], drawn[1]);
    }

    #[test]
    fn mutations_stay_within_the_chosen_kinds() {
        let valid = [7u8; 32];
        let mut prng = Prng::new(0x9e37_79b9_7f4a_7c15);
        for _ in 0..200 {
            // Truncation only: never longer, and a prefix of the input.
            let out = prng.mutate_with(&valid, &[Mutation::Truncate]);
            assert!(out.len() <= valid.len() && valid.starts_with(&out));
        }
    }
}
