//! Comparing secrets (Basic credentials, the admin token) without telling an attacker, through
//! the time an answer takes, how much of a guess was right.

/// True when `a` and `b` are the same bytes. The time it takes depends on the length of `a`
/// only, never on where they first differ: every byte is looked at, and the differences are
/// gathered with `|`, not returned at the first one. Pass the expected secret as `a`: then a
/// guess of any length takes as long as any other.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    // The lengths are compared too, but folded into the same difference, not returned early.
    let mut diff = u8::from(a.len() != b.len());
    for (i, x) in a.iter().enumerate() {
        let y = b.get(i).copied().unwrap_or(!*x);
        diff |= x ^ y;
    }
    diff == 0
}

/// The token of an `Authorization: Bearer TOKEN` value (the scheme in any case).
pub fn bearer(value: &[u8]) -> Option<&[u8]> {
    let space = value.iter().position(|&b| b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"Bearer") {
        return None;
    }
    Some(rest.trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_eq_is_equality() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"user:secret", b"user:secret"));
        assert!(!ct_eq(b"user:secret", b"user:secreT"));
        assert!(!ct_eq(b"user:secret", b"xser:secret"));
        assert!(!ct_eq(b"user:secret", b"user:secret!"));
        assert!(!ct_eq(b"user:secret!", b"user:secret"));
        assert!(!ct_eq(b"", b"a"));
        assert!(!ct_eq(b"a", b""));
        // A byte that is the complement of nothing: the padding of a shorter side never matches.
        assert!(!ct_eq(&[0xff], &[0xff, 0x00]));
        assert!(!ct_eq(&[0x00], &[]));
        // Every single-bit difference is seen.
        let base = [0x5au8; 16];
        for i in 0..16 {
            for bit in 0..8 {
                let mut other = base;
                other[i] ^= 1 << bit;
                assert!(!ct_eq(&base, &other), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn bearer_tokens_are_read() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer   abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearerabc"), None);
    }
}
