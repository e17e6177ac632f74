//! `IntHasher`: the hasher for the run's tables keyed by small distinct integers (fd
//! numbers in the reactor, registration numbers in the deadline queue). SipHash's
//! resistance to chosen keys buys nothing for keys the process makes itself, and it was
//! the bulk of a lookup.

use std::hash::{BuildHasherDefault, Hasher};

/// A `BuildHasher` for [`IntHasher`].
pub(crate) type IntHash = BuildHasherDefault<IntHasher>;

/// Fibonacci hashing: one multiplication, rotated so that both the low bits (the bucket)
/// and the top bits (hashbrown's control byte) vary.
#[derive(Default)]
pub(crate) struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by integer keys; any byte string still hashes.
        for &b in bytes {
            self.write_u64(self.0 << 8 | u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(32);
    }

    fn write_i32(&mut self, n: i32) {
        self.write_u64(u64::from(n as u32));
    }
}
