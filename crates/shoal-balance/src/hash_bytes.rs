//! [`hash_bytes`]: the one hash every shoal instance and version must agree on.
//!
//! It is xxHash64 (XXH64, seed 0), written out here rather than pulled from a crate, because
//! ring points, Maglev permutations and request keys all derive from it: a dependency bump
//! that changed a single output would silently remap every key. Golden tests pin the published
//! reference vectors, so any change to this file shows up as a failing test first.

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

/// Stable 64-bit hash of `bytes`: XXH64 with seed 0.
///
/// Stable across platforms (little-endian reads regardless of the host), versions and
/// instances. Use it for request keys passed to [`crate::Balancer::pick`] so they are spread
/// over the same 64-bit space as the ring points.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    xxh64(bytes, 0)
}

/// XXH64 with an explicit seed. Maglev takes its second (skip) hash from a different seed of the
/// same function.
pub fn hash_bytes_with_seed(bytes: &[u8], seed: u64) -> u64 {
    xxh64(bytes, seed)
}

#[inline]
fn read_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

#[inline]
fn read_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

#[inline]
fn round(acc: u64, input: u64) -> u64 {
    acc.wrapping_add(input.wrapping_mul(P2))
        .rotate_left(31)
        .wrapping_mul(P1)
}

#[inline]
fn merge_round(acc: u64, val: u64) -> u64 {
    (acc ^ round(0, val)).wrapping_mul(P1).wrapping_add(P4)
}

fn xxh64(input: &[u8], seed: u64) -> u64 {
    let mut rest = input;
    let mut h = if input.len() >= 32 {
        let mut v1 = seed.wrapping_add(P1).wrapping_add(P2);
        let mut v2 = seed.wrapping_add(P2);
        let mut v3 = seed;
        let mut v4 = seed.wrapping_sub(P1);
        let mut stripes = rest.chunks_exact(32);
        for s in &mut stripes {
            v1 = round(v1, read_u64(&s[0..]));
            v2 = round(v2, read_u64(&s[8..]));
            v3 = round(v3, read_u64(&s[16..]));
            v4 = round(v4, read_u64(&s[24..]));
        }
        rest = stripes.remainder();
        let mut h = v1
            .rotate_left(1)
            .wrapping_add(v2.rotate_left(7))
            .wrapping_add(v3.rotate_left(12))
            .wrapping_add(v4.rotate_left(18));
        h = merge_round(h, v1);
        h = merge_round(h, v2);
        h = merge_round(h, v3);
        merge_round(h, v4)
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(input.len() as u64);

    let mut words = rest.chunks_exact(8);
    for w in &mut words {
        h ^= round(0, read_u64(w));
        h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
    }
    rest = words.remainder();
    if rest.len() >= 4 {
        h ^= u64::from(read_u32(rest)).wrapping_mul(P1);
        h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        rest = &rest[4..];
    }
    for &b in rest {
        h ^= u64::from(b).wrapping_mul(P5);
        h = h.rotate_left(11).wrapping_mul(P1);
    }

    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The buffer xxHash's own `xxhsum` sanity check hashes (`byteGen` squaring, 101 bytes).
    fn sanity_buffer() -> Vec<u8> {
        let mut gen: u32 = 2_654_435_761;
        (0..101)
            .map(|_| {
                let b = (gen >> 24) as u8;
                gen = gen.wrapping_mul(gen);
                b
            })
            .collect()
    }

    #[test]
    fn matches_the_reference_sanity_vectors() {
        // Values from xxHash's xsum_sanity_check (seed 0 and seed PRIME32_1); the 101-byte case
        // runs the 32-byte stripe loop, the 8-byte, 4-byte and 1-byte tails.
        let buf = sanity_buffer();
        let prime = 2_654_435_761u64;
        assert_eq!(hash_bytes_with_seed(&[], 0), 0xEF46_DB37_51D8_E999);
        assert_eq!(hash_bytes_with_seed(&[], prime), 0xAC75_FDA2_929B_17EF);
        assert_eq!(hash_bytes_with_seed(&buf[..1], 0), 0x4FCE_394C_C889_52D8);
        assert_eq!(
            hash_bytes_with_seed(&buf[..1], prime),
            0x7398_40CB_819F_A723
        );
        assert_eq!(hash_bytes_with_seed(&buf[..14], 0), 0xCFFA_8DB8_81BC_3A3D);
        assert_eq!(
            hash_bytes_with_seed(&buf[..14], prime),
            0x5B96_1158_5EFC_C9CB
        );
        assert_eq!(hash_bytes_with_seed(&buf, 0), 0x0EAB_5433_84F8_78AD);
        assert_eq!(hash_bytes_with_seed(&buf, prime), 0xCAA6_5939_306F_1E21);
    }

    #[test]
    fn matches_well_known_strings() {
        assert_eq!(hash_bytes(b""), 0xEF46_DB37_51D8_E999);
        assert_eq!(hash_bytes(b"a"), 0xD24E_C4F1_A98C_6E5B);
        assert_eq!(hash_bytes(b"abc"), 0x44BC_2CF5_AD77_0999);
        assert_eq!(
            hash_bytes(b"Nobody inspects the spammish repetition"),
            0xFBCE_A83C_8A37_8BF1
        );
    }

    #[test]
    fn every_length_up_to_a_few_stripes_is_distinct() {
        // Exercises every tail length combination without panicking on any slice arithmetic.
        let buf = sanity_buffer();
        let mut seen = std::collections::HashSet::new();
        for len in 0..=buf.len() {
            assert!(
                seen.insert(hash_bytes(&buf[..len])),
                "collision at len {len}"
            );
        }
    }
}
