//! The gateway's bearer tokens (`--token`, `--readonly-token`): with one set, every API of the
//! data listener asks for it, so a gateway bound beyond loopback is never an open door to Redis.
//!
//! ```text
//!   Authorization: Bearer T      every API
//!   ?_token=T                    the Upstash API too (its clients may send it so)
//! ```
//!
//! Tokens are compared in constant time (the time depends on the lengths, never on where the
//! first difference is), so a client cannot find a token byte by byte by timing answers.
//!
//! Must never: log or echo a token; accept a token when none is configured (no token set means
//! no check at all, as before `--token` existed).

use super::Error;
use crate::config::Config;
use crate::http::request::Head;
use crate::http::url::{self, Plus};

/// What the request's token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Everything the API serves (the full token, or no token configured).
    Full,
    /// Reading only (the read-only token).
    ReadOnly,
}

/// Where a token may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sources {
    /// `Authorization: Bearer T` only (the key/value API, whose query string is its own).
    Header,
    /// `Authorization: Bearer T`, or else `?_token=T` (the Upstash API).
    HeaderOrQuery,
}

/// The configured tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    full: Option<Vec<u8>>,
    readonly: Option<Vec<u8>>,
}

impl Tokens {
    /// The tokens `cfg` sets (none: every request has [`Access::Full`]).
    pub fn new(cfg: &Config) -> Tokens {
        Tokens {
            full: cfg.tokens.full.as_ref().map(|t| t.as_bytes().to_vec()),
            readonly: cfg.tokens.readonly.as_ref().map(|t| t.as_bytes().to_vec()),
        }
    }

    /// What the request's token allows.
    ///
    /// # Errors
    ///
    /// [`Error::Unauthorized`] when a token is configured and the request has none of them.
    pub fn check(&self, head: &Head, sources: Sources) -> Result<Access, Error> {
        if self.full.is_none() && self.readonly.is_none() {
            return Ok(Access::Full);
        }
        let given = match (bearer(head), sources) {
            (Some(token), _) => token.to_vec(),
            (None, Sources::HeaderOrQuery) => query_token(head).ok_or(Error::Unauthorized)?,
            (None, Sources::Header) => return Err(Error::Unauthorized),
        };
        // Both are compared whatever the first gives, so the time does not say which matched.
        let full = self.full.as_deref().is_some_and(|t| same(t, &given));
        let readonly = self.readonly.as_deref().is_some_and(|t| same(t, &given));
        match (full, readonly) {
            (true, _) => Ok(Access::Full),
            (false, true) => Ok(Access::ReadOnly),
            (false, false) => Err(Error::Unauthorized),
        }
    }
}

/// The token of an `Authorization: Bearer T` header.
fn bearer(head: &Head) -> Option<&[u8]> {
    let value = head.header("authorization")?.trim_ascii();
    let space = value.iter().position(|&b| b == b' ')?;
    let (scheme, token) = value.split_at(space);
    scheme
        .eq_ignore_ascii_case(b"Bearer")
        .then(|| token.trim_ascii())
}

/// The percent-decoded value of the first `_token=` in the query string.
fn query_token(head: &Head) -> Option<Vec<u8>> {
    head.query()?
        .split(|&b| b == b'&')
        .find_map(|pair| pair.strip_prefix(b"_token="))
        .and_then(|raw| url::percent_decode(raw, Plus::Space).ok())
}

/// Whether `a` and `b` are equal, in a time that depends only on their lengths.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::{Framing, Header, Method, Version};

    fn head(target: &str, authorization: Option<&str>) -> Head {
        Head {
            method: Method::Post,
            target: target.as_bytes().to_vec(),
            version: Version::Http11,
            headers: authorization
                .map(|a| Header {
                    name: b"Authorization".to_vec(),
                    value: a.as_bytes().to_vec(),
                })
                .into_iter()
                .collect(),
            framing: Framing::None,
            keep_alive: true,
            expect_continue: false,
        }
    }

    fn tokens() -> Tokens {
        let mut cfg = Config::default();
        cfg.tokens.full = Some("s3cret".into());
        cfg.tokens.readonly = Some("look".into());
        Tokens::new(&cfg)
    }

    #[test]
    fn bearer_and_query_tokens_grant_their_access() {
        let t = tokens();
        let h = Sources::HeaderOrQuery;
        assert_eq!(
            t.check(&head("/", Some("Bearer s3cret")), h).ok(),
            Some(Access::Full)
        );
        assert_eq!(
            t.check(&head("/", Some("bearer  look")), h).ok(),
            Some(Access::ReadOnly)
        );
        assert_eq!(
            t.check(&head("/x?a=1&_token=s3cret", None), h).ok(),
            Some(Access::Full)
        );
        assert_eq!(
            t.check(&head("/?_token=s3cr%65t", None), h).ok(),
            Some(Access::Full)
        );
        for (target, auth) in [
            ("/", None),
            ("/", Some("Bearer s3cre")),
            ("/", Some("Bearer s3crett")),
            ("/", Some("Basic s3cret")),
            ("/?_token=nope", None),
        ] {
            assert!(
                matches!(t.check(&head(target, auth), h), Err(Error::Unauthorized)),
                "{target} {auth:?}"
            );
        }
        // The key/value API reads the header only.
        assert!(t
            .check(&head("/?_token=s3cret", None), Sources::Header)
            .is_err());
    }

    #[test]
    fn no_token_configured_means_no_check() {
        let t = Tokens::new(&Config::default());
        assert_eq!(
            t.check(&head("/", None), Sources::Header).ok(),
            Some(Access::Full)
        );
    }

    #[test]
    fn same_compares_whole_values() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        assert!(!same(b"", b"a"));
        assert!(same(b"", b""));
    }
}
