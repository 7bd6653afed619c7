//! SHA-1 (FIPS 180-4 §6.1, RFC 3174), for the WebSocket handshake's `Sec-WebSocket-Accept` (RFC 6455 §4.2.2).
//!
//! The message is padded with `0x80`, zeros and its length in bits (64 bits, big-endian) to a multiple of
//! 64 bytes; each block is expanded to 80 words and mixed into five 32-bit words in 80 steps, and the digest
//! is those five words, big-endian. SHA-1 is broken for signatures; the handshake only needs a fingerprint.

/// The five words the state starts from (FIPS 180-4 §5.3.1).
const INITIAL_STATE: [u32; 5] = [
    0x6745_2301,
    0xefcd_ab89,
    0x98ba_dcfe,
    0x1032_5476,
    0xc3d2_e1f0,
];

/// The 20-byte SHA-1 digest of `data`.
///
/// # Examples
///
/// ```
/// use redis_gateway::websocket::sha1;
///
/// assert_eq!(sha1::digest(b"abc")[..4], [0xa9, 0x99, 0x3e, 0x36]);
/// ```
pub fn digest(data: &[u8]) -> [u8; 20] {
    let mut state = INITIAL_STATE;
    // Whole blocks straight from `data`; only the tail (at most 63 bytes) is copied to be padded.
    let mut blocks = data.chunks_exact(64);
    for block in &mut blocks {
        compress(&mut state, block);
    }
    for block in final_blocks(blocks.remainder(), data.len()).chunks_exact(64) {
        compress(&mut state, block);
    }
    let mut out = [0u8; 20];
    for (bytes, word) in out.chunks_exact_mut(4).zip(state) {
        bytes.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// The last one or two blocks: the leftover bytes, `0x80`, zeros up to 56 bytes modulo 64, then the message
/// length in bits as 64 bits big-endian (FIPS 180-4 §5.1.1).
fn final_blocks(rest: &[u8], total_len: usize) -> Vec<u8> {
    let mut tail = Vec::with_capacity(128);
    tail.extend_from_slice(rest);
    tail.push(0x80);
    while tail.len() % 64 != 56 {
        tail.push(0);
    }
    let bits = (total_len as u64).wrapping_mul(8);
    tail.extend_from_slice(&bits.to_be_bytes());
    tail
}

/// Mixes one 64-byte block into `state` (FIPS 180-4 §6.1.2): the block's 16 words are expanded to 80, then
/// four rounds of 20 steps, each round with its own function of three words and its own constant.
fn compress(state: &mut [u32; 5], block: &[u8]) {
    let mut words = [0u32; 80];
    for (word, bytes) in words.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    for t in 16..80 {
        words[t] = (words[t - 3] ^ words[t - 8] ^ words[t - 14] ^ words[t - 16]).rotate_left(1);
    }
    let [mut a, mut b, mut c, mut d, mut e] = *state;
    for (t, word) in words.into_iter().enumerate() {
        let (mixed, constant) = match t / 20 {
            0 => ((b & c) | (!b & d), 0x5a82_7999),
            1 => (b ^ c ^ d, 0x6ed9_eba1),
            2 => ((b & c) | (b & d) | (c & d), 0x8f1b_bcdc),
            _ => (b ^ c ^ d, 0xca62_c1d6),
        };
        let next = a
            .rotate_left(5)
            .wrapping_add(mixed)
            .wrapping_add(e)
            .wrapping_add(constant)
            .wrapping_add(word);
        e = d;
        d = c;
        c = b.rotate_left(30);
        b = a;
        a = next;
    }
    for (word, step) in state.iter_mut().zip([a, b, c, d, e]) {
        *word = word.wrapping_add(step);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::base64;

    /// `len` bytes of the pattern `i % 251`, which never lines up with a 64-byte block.
    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    #[test]
    fn fips_180_and_rfc_3174_vectors() {
        let million_a = vec![b'a'; 1_000_000];
        let cases: &[(&[u8], &str)] = &[
            (b"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
            ),
            (&million_a, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"),
        ];
        for &(input, want) in cases {
            assert_eq!(hex(&digest(input)), want, "input of {} bytes", input.len());
        }
    }

    /// Lengths around the padding boundaries (55 fits one block, 56 needs two) and beyond one block.
    /// Expected values computed once with `sha1sum` over the same pattern.
    #[test]
    fn padding_boundaries_match_sha1sum() {
        let cases: &[(usize, &str)] = &[
            (0, "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
            (1, "5ba93c9db0cff93f52b521d7420e43f6eda2784f"),
            (55, "8ae2d46729cfe68ff927af5eec9c7d1b66d65ac2"),
            (56, "636e2ec698dac903498e648bd2f3af641d3c88cb"),
            (63, "6d942da0c4392b123528f2905c713a3ce28364bd"),
            (64, "c6138d514ffa2135bfce0ed0b8fac65669917ec7"),
            (65, "69bd728ad6e13cd76ff19751fde427b00e395746"),
            (119, "41c89d06001bab4ab78736b44efe7ce18ce6ae08"),
            (120, "d3dbd653bd8597b7475321b60a36891278e6a04a"),
            (1000, "c9c960a0b925474fab83942cc27d504fc24ac37b"),
            (1 << 20, "c2fc4cb20f1301a6b0dd211c19e69a13925dbe40"),
        ];
        for &(len, want) in cases {
            assert_eq!(hex(&digest(&pattern(len))), want, "length {len}");
        }
    }

    /// RFC 6455 §1.3: the server's `Sec-WebSocket-Accept` for the sample client key.
    #[test]
    fn rfc_6455_accept_key_example() {
        let key = b"dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
        assert_eq!(base64::encode(&digest(key)), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }
}
