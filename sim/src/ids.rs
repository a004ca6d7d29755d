//! Deterministic identifiers: object UIDs and the random name suffixes controllers use
//! (`generateName`). A seeded generator makes a scenario produce the same names on every run, so
//! tests and docs can show them; the formats match the real ones (UUIDv4, and
//! `k8s.io/apimachinery/pkg/util/rand.String` over its consonant-and-digit alphabet).

/// The alphabet of `rand.String` and `rand.SafeEncodeString`: no vowels, no confusable digits.
pub const SAFE_ALPHABET: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";

/// A small seeded generator (splitmix64).
#[derive(Debug, Clone)]
pub struct Ids {
    state: u64,
}

impl Ids {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A random version-4 UUID, as the API server assigns to `metadata.uid`.
    pub fn uid(&mut self) -> String {
        let hi = self.next_u64();
        let lo = self.next_u64();
        let hi = (hi & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
        let lo = (lo & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xFFFF,
            hi & 0xFFFF,
            lo >> 48,
            lo & 0xFFFF_FFFF_FFFF
        )
    }

    /// `n` characters of `rand.String(n)`: the suffix of a `generateName`.
    pub fn suffix(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| SAFE_ALPHABET[(self.next_u64() % SAFE_ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_version_4_and_reproducible() {
        let mut a = Ids::new(7);
        let mut b = Ids::new(7);
        let uid = a.uid();
        assert_eq!(uid, b.uid());
        assert_eq!(uid.len(), 36);
        assert_eq!(&uid[14..15], "4");
        assert!(matches!(&uid[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn suffixes_use_the_safe_alphabet() {
        let s = Ids::new(1).suffix(5);
        assert_eq!(s.len(), 5);
        assert!(s.bytes().all(|c| SAFE_ALPHABET.contains(&c)));
    }
}
