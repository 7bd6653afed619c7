//! MD5 (RFC 1321), for Webdis's ETags: a fingerprint of a reply, never a security check (MD5 is broken).
//!
//! The message is padded with `0x80`, zeros and its length in bits (64 bits, little-endian) to a multiple of
//! 64 bytes; each 64-byte block is then mixed into four 32-bit words in 64 steps, and the digest is those four
//! words, little-endian. Pure: bytes in, bytes out; the whole input is in memory, so there is no streaming API.

/// The four words the state starts from (RFC 1321 §3.3).
const INITIAL_STATE: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// How far step `i` rotates: `SHIFTS[i / 16][i % 4]` (RFC 1321 §3.4, constants S11..S44).
const SHIFTS: [[u32; 4]; 4] = [
    [7, 12, 17, 22],
    [5, 9, 14, 20],
    [4, 11, 16, 23],
    [6, 10, 15, 21],
];

/// The constant added at step `i`: the integer part of `4294967296 * abs(sin(i + 1))` (RFC 1321 §3.4, T[1..64]).
#[rustfmt::skip] // four to a line, as RFC 1321 prints them
const SINES: [u32; 64] = [
    0xd76a_a478, 0xe8c7_b756, 0x2420_70db, 0xc1bd_ceee,
    0xf57c_0faf, 0x4787_c62a, 0xa830_4613, 0xfd46_9501,
    0x6980_98d8, 0x8b44_f7af, 0xffff_5bb1, 0x895c_d7be,
    0x6b90_1122, 0xfd98_7193, 0xa679_438e, 0x49b4_0821,
    0xf61e_2562, 0xc040_b340, 0x265e_5a51, 0xe9b6_c7aa,
    0xd62f_105d, 0x0244_1453, 0xd8a1_e681, 0xe7d3_fbc8,
    0x21e1_cde6, 0xc337_07d6, 0xf4d5_0d87, 0x455a_14ed,
    0xa9e3_e905, 0xfcef_a3f8, 0x676f_02d9, 0x8d2a_4c8a,
    0xfffa_3942, 0x8771_f681, 0x6d9d_6122, 0xfde5_380c,
    0xa4be_ea44, 0x4bde_cfa9, 0xf6bb_4b60, 0xbebf_bc70,
    0x289b_7ec6, 0xeaa1_27fa, 0xd4ef_3085, 0x0488_1d05,
    0xd9d4_d039, 0xe6db_99e5, 0x1fa2_7cf8, 0xc4ac_5665,
    0xf429_2244, 0x432a_ff97, 0xab94_23a7, 0xfc93_a039,
    0x655b_59c3, 0x8f0c_cc92, 0xffef_f47d, 0x8584_5dd1,
    0x6fa8_7e4f, 0xfe2c_e6e0, 0xa301_4314, 0x4e08_11a1,
    0xf753_7e82, 0xbd3a_f235, 0x2ad7_d2bb, 0xeb86_d391,
];

/// The 16-byte MD5 digest of `data`.
///
/// # Examples
///
/// ```
/// use redis_gateway::webdis::md5;
///
/// assert_eq!(md5::digest(b"")[..4], [0xd4, 0x1d, 0x8c, 0xd9]);
/// ```
pub fn digest(data: &[u8]) -> [u8; 16] {
    let mut state = INITIAL_STATE;
    // Whole blocks straight from `data`; only the tail (at most 63 bytes) is copied to be padded.
    let mut blocks = data.chunks_exact(64);
    for block in &mut blocks {
        compress(&mut state, block);
    }
    for block in final_blocks(blocks.remainder(), data.len()).chunks_exact(64) {
        compress(&mut state, block);
    }
    let mut out = [0u8; 16];
    for (bytes, word) in out.chunks_exact_mut(4).zip(state) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
    out
}

/// The MD5 digest of `data` as 32 lowercase hexadecimal digits, the form `md5sum` prints.
///
/// # Examples
///
/// ```
/// use redis_gateway::webdis::md5;
///
/// assert_eq!(md5::hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
/// ```
pub fn hex(data: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(32);
    for byte in digest(data) {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// The last one or two blocks: the leftover bytes, `0x80`, zeros up to 56 bytes modulo 64, then the message
/// length in bits as 64 bits little-endian (RFC 1321 §3.1–3.2; the length is taken modulo 2^64).
fn final_blocks(rest: &[u8], total_len: usize) -> Vec<u8> {
    let mut tail = Vec::with_capacity(128);
    tail.extend_from_slice(rest);
    tail.push(0x80);
    while tail.len() % 64 != 56 {
        tail.push(0);
    }
    let bits = (total_len as u64).wrapping_mul(8);
    tail.extend_from_slice(&bits.to_le_bytes());
    tail
}

/// Mixes one 64-byte block into `state` (RFC 1321 §3.4): four rounds of 16 steps, each round with its own
/// function of three words and its own order of reading the block's 16 words.
fn compress(state: &mut [u32; 4], block: &[u8]) {
    let mut words = [0u32; 16];
    for (word, bytes) in words.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    let [mut a, mut b, mut c, mut d] = *state;
    for i in 0..64 {
        let (mixed, index) = match i / 16 {
            0 => ((b & c) | (!b & d), i),
            1 => ((b & d) | (c & !d), (5 * i + 1) % 16),
            2 => (b ^ c ^ d, (3 * i + 5) % 16),
            _ => (c ^ (b | !d), (7 * i) % 16),
        };
        let sum = a
            .wrapping_add(mixed)
            .wrapping_add(SINES[i])
            .wrapping_add(words[index]);
        a = d;
        d = c;
        c = b;
        b = b.wrapping_add(sum.rotate_left(SHIFTS[i / 16][i % 4]));
    }
    for (word, step) in state.iter_mut().zip([a, b, c, d]) {
        *word = word.wrapping_add(step);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `len` bytes of the pattern `i % 251`, which never lines up with a 64-byte block.
    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn rfc_1321_test_suite() {
        let cases: &[(&str, &str)] = &[
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for &(input, want) in cases {
            assert_eq!(hex(input.as_bytes()), want, "{input:?}");
        }
    }

    /// Lengths around the padding boundaries (55 fits one block, 56 needs two) and beyond one block.
    /// Expected values computed once with `md5sum` over the same pattern.
    #[test]
    fn padding_boundaries_match_md5sum() {
        let cases: &[(usize, &str)] = &[
            (1, "93b885adfe0da089cdf634904fd59f71"),
            (55, "6912ee65fff2d9f9ce2508cddf8bcda0"),
            (56, "51fdd1acda72405dfdfa03fcb85896d7"),
            (63, "48a6295221902e8e0938f773a7185e72"),
            (64, "b2d3f56bc197fd985d5965079b5e7148"),
            (65, "8bd7053801c768420faf816fadba971c"),
            (119, "1c772251899a7ff007400b888d6b2042"),
            (120, "b7ba1efc6022e9ed272f00b8831e26e6"),
            (1000, "a24f1e3ef66950e1327f210e3997ba2c"),
            (1 << 20, "8f293a2f6c19b345152f7a49bb4c643c"),
        ];
        for &(len, want) in cases {
            assert_eq!(hex(&pattern(len)), want, "length {len}");
        }
    }

    #[test]
    fn digest_is_the_bytes_hex_spells() {
        let bytes = digest(b"abc");
        assert_eq!(bytes[0], 0x90);
        assert_eq!(bytes[15], 0x72);
        assert_eq!(hex(b"abc").len(), 32);
    }
}
