//! Base64 (RFC 4648 §4): the standard alphabet, with `=` padding, for WebSocket handshake keys.
//!
//! Every 3 bytes become 4 characters of 6 bits each; a last group of 1 or 2 bytes becomes 2 or 3 characters
//! and `==` or `=`. [`decode`] is strict (RFC 4648 §3.3, §3.5): it accepts exactly what [`encode`] writes, so
//! every input has at most one meaning, and it never panics.

/// The standard alphabet: character `i` stands for the 6-bit value `i` (RFC 4648 §4, Table 1).
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `data` in base64, padded with `=` to a multiple of 4 characters.
///
/// # Examples
///
/// ```
/// use redis_gateway::websocket::base64;
///
/// assert_eq!(base64::encode(b"foob"), "Zm9vYg==");
/// ```
pub fn encode(data: &[u8]) -> String {
    let mut text = String::with_capacity(data.len().div_ceil(3) * 4);
    for group in data.chunks(3) {
        let mut three = [0u8; 3];
        for (slot, &byte) in three.iter_mut().zip(group) {
            *slot = byte;
        }
        let bits = u32::from(three[0]) << 16 | u32::from(three[1]) << 8 | u32::from(three[2]);
        // 1 byte needs 2 characters, 2 bytes need 3, 3 bytes need 4; padding fills the rest.
        let kept = group.len() + 1;
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i < kept {
                let sextet = (bits >> shift) & 0x3f;
                text.push(char::from(ALPHABET[sextet as usize]));
            } else {
                text.push('=');
            }
        }
    }
    text
}

/// The bytes `text` spells in base64, or `None` if it is not exactly what [`encode`] would write.
///
/// Rejected: a length that is not a multiple of 4, a character outside the standard alphabet (line breaks,
/// spaces and the URL-safe `-` `_` included), missing padding, padding anywhere but at the very end, and
/// non-zero bits in the last character before the padding.
///
/// # Examples
///
/// ```
/// use redis_gateway::websocket::base64;
///
/// assert_eq!(base64::decode(b"Zm9vYg=="), Some(b"foob".to_vec()));
/// assert_eq!(base64::decode(b"Zm9vYg"), None); // padding is required
/// ```
pub fn decode(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 4 != 0 {
        return None;
    }
    let groups = text.len() / 4;
    // The output is shorter than `text`, which is already in memory: reserving it is no risk.
    let mut out = Vec::with_capacity(groups * 3);
    for (index, group) in text.chunks_exact(4).enumerate() {
        let padding = if group.ends_with(b"==") {
            2
        } else if group.ends_with(b"=") {
            1
        } else {
            0
        };
        if padding > 0 && index + 1 != groups {
            return None;
        }
        // Any `=` left among the data characters is rejected by `value`.
        let mut bits = 0u32;
        for &character in &group[..4 - padding] {
            bits = bits << 6 | u32::from(value(character)?);
        }
        bits <<= 6 * padding;
        let bytes = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
        let kept = 3 - padding;
        // The bits beyond the last whole byte must be zero, or two texts would mean the same bytes.
        if bytes[kept..].iter().any(|&byte| byte != 0) {
            return None;
        }
        out.extend_from_slice(&bytes[..kept]);
    }
    Some(out)
}

/// The 6-bit value of one character of the standard alphabet, or `None` for any other byte.
fn value(character: u8) -> Option<u8> {
    match character {
        b'A'..=b'Z' => Some(character - b'A'),
        b'a'..=b'z' => Some(character - b'a' + 26),
        b'0'..=b'9' => Some(character - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    #[test]
    fn rfc_4648_vectors_both_ways() {
        let cases: &[(&[u8], &str)] = &[
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
        ];
        for &(data, text) in cases {
            assert_eq!(encode(data), text);
            assert_eq!(decode(text.as_bytes()).as_deref(), Some(data), "{text:?}");
        }
    }

    #[test]
    fn whole_alphabet_and_high_bytes() {
        assert_eq!(encode(&[0xfb, 0xff, 0xbf]), "+/+/");
        assert_eq!(decode(b"+/+/"), Some(vec![0xfb, 0xff, 0xbf]));
        assert_eq!(encode(&[0, 0, 0]), "AAAA");
        assert_eq!(encode(&[0xff, 0xff, 0xff]), "////");
    }

    #[test]
    fn strict_decoding_rejects() {
        let cases: &[(&[u8], &str)] = &[
            (b"Zg", "missing padding"),
            (b"Zm8", "missing padding"),
            (b"Zg=", "length not a multiple of 4"),
            (b"Zm9vY", "length not a multiple of 4"),
            (b"Zh==", "non-zero trailing bits after one byte"),
            (b"Zm9=", "non-zero trailing bits after two bytes"),
            (b"Zg==Zg==", "padding before the end"),
            (b"Zm8=Zm9v", "padding before the end"),
            (b"Z===", "three padding characters"),
            (b"====", "only padding"),
            (b"Zg=a", "data after padding"),
            (b"Z=g=", "padding among data"),
            (b"Zm9v\n", "line break"),
            (b"Zm9v\r\nZm9v", "line break"),
            (b"Zm 9", "space"),
            (b"Zm-v", "URL-safe alphabet"),
            (b"Zm_v", "URL-safe alphabet"),
            (b"Zm9\xff", "non-ASCII byte"),
            (b"Zm9\0", "NUL byte"),
        ];
        for &(text, why) in cases {
            assert_eq!(
                decode(text),
                None,
                "{why}: {:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn decode_inverts_encode_on_random_bytes() {
        let (mut rng, seed) = Rng::from_env(0x6261_7365_3634);
        for _ in 0..Rng::iterations(2_000) {
            let len = rng.below(100);
            let data = rng.bytes(len);
            let text = encode(&data);
            assert_eq!(text.len(), data.len().div_ceil(3) * 4, "seed {seed}");
            assert_eq!(
                decode(text.as_bytes()),
                Some(data),
                "seed {seed} text {text:?}"
            );
        }
    }

    /// Strictness means one meaning per text: whatever a damaged text decodes to encodes back to that text.
    #[test]
    fn damaged_text_is_rejected_or_canonical() {
        let (mut rng, seed) = Rng::from_env(0x6261_7365_3634);
        for _ in 0..Rng::iterations(2_000) {
            let len = 1 + rng.below(40);
            let mut text = encode(&rng.bytes(len)).into_bytes();
            let at = rng.below(text.len());
            // Mostly a character a base64 text may hold (or `=`), sometimes any byte.
            text[at] = match ALPHABET.get(rng.below(65)) {
                Some(&character) if !rng.one_in(8) => character,
                Some(_) => rng.bytes(1)[0],
                None => b'=',
            };
            if let Some(data) = decode(&text) {
                assert_eq!(encode(&data).as_bytes(), &text[..], "seed {seed} at {at}");
            }
        }
    }
}
