//! Which of the 16384 hash slots a key belongs to: CRC16 (XMODEM) of the key, or of its hash tag,
//! modulo 16384, as Redis Cluster's specification defines it.
//!
//! ```text
//!   HASH_SLOT = CRC16(key) mod 16384
//!   hash tag: if the key contains `{`, and a `}` after it with at least one byte between,
//!             only the bytes between the first `{` and the first `}` after it are hashed
//! ```
//!
//! Pure: bytes in, a number out.

/// How many hash slots a cluster has.
pub const SLOTS: usize = 16384;

/// The hash slot of `key`.
///
/// # Examples
///
/// ```
/// use redis_gateway::redis::cluster::slot::slot;
/// assert_eq!(slot(b"foo"), 12182);
/// assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
/// ```
pub fn slot(key: &[u8]) -> u16 {
    // `% SLOTS` keeps the value below 16384, which fits a u16.
    (crc16(hashed_part(key)) as usize % SLOTS) as u16
}

/// The part of `key` that is hashed: its hash tag when it has a non-empty one, else all of it.
pub fn hashed_part(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|b| *b == b'{') else {
        return key;
    };
    let after = key.get(open + 1..).unwrap_or_default();
    match after.iter().position(|b| *b == b'}') {
        Some(close) if close > 0 => after.get(..close).unwrap_or(key),
        _ => key,
    }
}

/// CRC16-CCITT in its XMODEM form: polynomial 0x1021, initial value 0, no reflection.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for byte in bytes {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers of `CLUSTER KEYSLOT` from a Redis 7.0 cluster node.
    #[test]
    fn slots_match_cluster_keyslot() {
        let known: &[(&[u8], u16)] = &[
            (b"foo", 12182),
            (b"bar", 5061),
            (b"hello", 866),
            (b"{user1000}.following", 3443),
            (b"user1000", 3443),
            (b"a{}b", 13694),
            (b"{}", 15257),
            (b"{a", 10276),
            (b"a}", 5921),
            (b"{{x}}", 11068),
            (b"", 0),
            (b"123456789", 12739),
            (b"{b}{c}", 3300),
        ];
        for (key, want) in known {
            assert_eq!(slot(key), *want, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn the_check_value_of_crc16_xmodem() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn only_a_non_empty_first_tag_is_hashed() {
        assert_eq!(hashed_part(b"{b}{c}"), b"b");
        assert_eq!(hashed_part(b"x{}{y}"), b"x{}{y}");
        assert_eq!(hashed_part(b"{{x}}"), b"{x");
        assert_eq!(hashed_part(b"no tag"), b"no tag");
    }
}
