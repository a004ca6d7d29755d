//! The names controllers derive from templates. ReplicaSets are `<deployment>-<pod-template-hash>`
//! and DaemonSet revisions `<daemonset>-<hash>` where the hash is FNV-32a over the template plus the
//! collision count, rendered with `rand.SafeEncodeString` (so it looks like `7d9f8b6c5d`).
//! StatefulSet revisions hash the revision's patch bytes with FNV-32 (not 32a) and the collision
//! count as decimal text, like `history.HashControllerRevision`.
//!
//! The real `controller.ComputeHash` feeds Go's `spew` dump of the typed struct to the hasher; the
//! sim feeds the canonical JSON of the template instead. Hash values therefore differ from a real
//! cluster's for the same template, but have the same shape, stability and collision handling,
//! which is all a client may rely on.

use serde_json::Value;

use crate::ids::SAFE_ALPHABET;
use crate::json;

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// FNV-1 32-bit (Go's `hash/fnv.New32`).
pub fn fnv32(data: &[u8]) -> u32 {
    data.iter()
        .fold(FNV_OFFSET, |h, b| h.wrapping_mul(FNV_PRIME) ^ u32::from(*b))
}

/// FNV-1a 32-bit (Go's `hash/fnv.New32a`), continuing from `seed`.
fn fnv32a_from(seed: u32, data: &[u8]) -> u32 {
    data.iter()
        .fold(seed, |h, b| (h ^ u32::from(*b)).wrapping_mul(FNV_PRIME))
}

/// `rand.SafeEncodeString(fmt.Sprint(sum))`.
pub fn safe_encode(sum: u32) -> String {
    sum.to_string()
        .bytes()
        .map(|b| SAFE_ALPHABET[b as usize % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// `controller.ComputeHash(template, collisionCount)`: the `pod-template-hash` of a Deployment's
/// template and the name suffix of a DaemonSet's ControllerRevision.
pub fn template_hash(template: &Value, collision_count: Option<i64>) -> String {
    let mut h = fnv32a_from(FNV_OFFSET, &json::to_vec(template));
    if let Some(count) = collision_count {
        // Go writes the uint32 little-endian.
        h = fnv32a_from(h, &(count as u32).to_le_bytes());
    }
    safe_encode(h)
}

/// `history.HashControllerRevision(revision, probe)` for a revision whose data is `raw`.
pub fn revision_hash(raw: &[u8], collision_count: Option<i64>) -> String {
    let mut bytes = raw.to_vec();
    if let Some(count) = collision_count {
        bytes.extend_from_slice(count.to_string().as_bytes());
    }
    safe_encode(fnv32(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fnv_matches_the_reference_vectors() {
        assert_eq!(fnv32(b""), 0x811c_9dc5);
        assert_eq!(fnv32(b"a"), 0x050c_5d7e);
        assert_eq!(fnv32a_from(FNV_OFFSET, b"a"), 0xe40c_292c);
        assert_eq!(fnv32a_from(FNV_OFFSET, b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn safe_encode_maps_decimal_digits() {
        // '0'..'9' are bytes 48..57, which land on "456789bcdf".
        assert_eq!(safe_encode(0), "4");
        assert_eq!(safe_encode(1_234_567_890), "56789bcdf4");
    }

    #[test]
    fn collision_count_changes_the_hash() {
        let t = json!({"metadata": {"labels": {"app": "x"}}});
        assert_ne!(template_hash(&t, None), template_hash(&t, Some(1)));
        assert_eq!(template_hash(&t, None), template_hash(&t.clone(), None));
        assert!(
            template_hash(&t, None)
                .bytes()
                .all(|c| SAFE_ALPHABET.contains(&c))
        );
    }
}
