//! The server's side of the WebSocket opening handshake (RFC 6455 §4.2): is this request an
//! upgrade, is it a valid one, and the `101 Switching Protocols` answer.
//!
//! Works on a [`Head`] that [`crate::http::parse_head`] already checked; does no I/O. The caller
//! routes a request here when [`is_upgrade`] says so, calls [`check`], and writes either
//! [`response`] (then speaks frames, see [`super::frame`]) or an error with
//! [`HandshakeError::status`].
//!
//! # What a client sends (RFC 6455 §4.1, §4.2.1)
//!
//! ```text
//! GET /chat HTTP/1.1                              ; GET, HTTP/1.1 or higher
//! Host: server.example.com
//! Upgrade: websocket                              ; a token, case-insensitive
//! Connection: Upgrade                             ; a token, case-insensitive
//! Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==     ; base64 of 16 random bytes
//! Sec-WebSocket-Version: 13
//! ```
//!
//! and what the server answers (§4.2.2), where the accept value is
//! `base64(SHA-1(key ‖ "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))`, the key taken as sent:
//!
//! ```text
//! HTTP/1.1 101 Switching Protocols
//! Upgrade: websocket
//! Connection: Upgrade
//! Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
//! ```
//!
//! Not checked here: `Host` (the HTTP layer's business), `Origin` (a policy, not a protocol
//! rule), subprotocols and extensions (none is offered, so none is answered, §4.2.2 and §9.1).
//! A `Sec-WebSocket-Key` or `Sec-WebSocket-Version` field given twice is refused (§11.3.1,
//! §11.3.5: each MUST NOT appear more than once in a request).

use std::fmt;

use super::{base64, sha1};
use crate::http::{Head, Method, Version};

/// The fixed string a server appends to the client's key before hashing it (RFC 6455 §1.3, §4.2.2).
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Why an upgrade request is not a valid WebSocket opening handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// The method is not `GET` (§4.2.1, item 1).
    NotGet,
    /// The request is HTTP/1.0 (§4.2.1, item 1 asks for HTTP/1.1 or higher).
    NotHttp11,
    /// No `Connection` field lists the `upgrade` token (§4.2.1, item 4).
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Key` is missing, repeated, or not the base64 of exactly 16 bytes (§4.2.1, item 5).
    BadKey,
    /// No `Sec-WebSocket-Version` field (§4.2.1, item 6).
    MissingVersion,
    /// `Sec-WebSocket-Version` is repeated, or not `13` (§4.2.1, item 6; §4.4).
    UnsupportedVersion,
}

impl HandshakeError {
    /// The HTTP status to answer with: 426 Upgrade Required for a missing or unsupported version
    /// (the caller adds `Sec-WebSocket-Version: 13`, §4.2.2 and §4.4), 400 Bad Request otherwise.
    pub fn status(&self) -> u16 {
        match self {
            HandshakeError::MissingVersion | HandshakeError::UnsupportedVersion => 426,
            _ => 400,
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::NotGet => f.write_str("websocket upgrade must use GET"),
            HandshakeError::NotHttp11 => f.write_str("websocket upgrade needs HTTP/1.1"),
            HandshakeError::MissingConnectionUpgrade => {
                f.write_str("websocket upgrade without connection: upgrade")
            }
            HandshakeError::BadKey => f.write_str("bad sec-websocket-key"),
            HandshakeError::MissingVersion => {
                f.write_str("missing sec-websocket-version: send sec-websocket-version: 13")
            }
            HandshakeError::UnsupportedVersion => {
                f.write_str("unsupported sec-websocket-version, only 13")
            }
        }
    }
}

impl std::error::Error for HandshakeError {}

/// The `Sec-WebSocket-Accept` value for `client_key`, the `Sec-WebSocket-Key` value exactly as
/// sent: `base64(SHA-1(client_key ‖ GUID))` (§4.2.2, item 5.4).
///
/// # Examples
///
/// ```
/// use redis_gateway::websocket::handshake::accept_key;
///
/// // RFC 6455 §1.3.
/// assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(client_key: &[u8]) -> String {
    let mut input = Vec::with_capacity(client_key.len() + GUID.len());
    input.extend_from_slice(client_key);
    input.extend_from_slice(GUID.as_bytes());
    base64::encode(&sha1::digest(&input))
}

/// Whether the request asks to switch to WebSockets: some `Upgrade` field lists the token
/// `websocket`, in any letter case (§4.2.1, item 3). Says nothing about whether the rest of the
/// handshake is valid: that is [`check`].
pub fn is_upgrade(head: &Head) -> bool {
    has_token(head, "Upgrade", "websocket")
}

/// Checks the opening handshake of a request for which [`is_upgrade`] is true, and returns the
/// `Sec-WebSocket-Accept` value to answer with (pass it to [`response`]).
///
/// The checks, in this order (§4.2.1): method `GET`; version HTTP/1.1; a `Connection` field
/// listing `upgrade`; a `Sec-WebSocket-Version` (missing and wrong are told apart), exactly one,
/// equal to `13`; exactly one
/// `Sec-WebSocket-Key`, the strict base64 of 16 bytes. The `Upgrade` field itself is not
/// checked again.
///
/// # Errors
///
/// The [`HandshakeError`] of the first check that fails; answer with its [`HandshakeError::status`].
///
/// # Examples
///
/// ```
/// use redis_gateway::http::{parse_head, Limits, Status};
/// use redis_gateway::websocket::handshake::{check, HandshakeError};
///
/// let limits = Limits { max_request_line: 8192, max_head_bytes: 16384, max_headers: 100, max_body_bytes: 1024 };
/// let wire = b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
/// let Ok(Status::Complete((head, _))) = parse_head(wire, &limits) else { panic!("not parsed") };
/// assert_eq!(check(&head), Ok("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".to_string()));
/// ```
pub fn check(head: &Head) -> Result<String, HandshakeError> {
    if head.method != Method::Get {
        return Err(HandshakeError::NotGet);
    }
    if head.version != Version::Http11 {
        return Err(HandshakeError::NotHttp11);
    }
    if !has_token(head, "Connection", "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    if !head
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case(b"Sec-WebSocket-Version"))
    {
        return Err(HandshakeError::MissingVersion);
    }
    if only_value(head, "Sec-WebSocket-Version") != Some(b"13") {
        return Err(HandshakeError::UnsupportedVersion);
    }
    let key = only_value(head, "Sec-WebSocket-Key").ok_or(HandshakeError::BadKey)?;
    match base64::decode(key) {
        Some(nonce) if nonce.len() == 16 => Ok(accept_key(key)),
        _ => Err(HandshakeError::BadKey),
    }
}

/// The whole `101 Switching Protocols` response head for an accept value from [`check`]; the
/// connection speaks WebSocket frames right after it.
///
/// # Examples
///
/// ```
/// use redis_gateway::websocket::handshake::response;
///
/// let head = response("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// assert!(head.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
/// assert!(head.ends_with(b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"));
/// ```
pub fn response(accept: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}

/// Whether some field called `name` holds `token` in its comma-separated list, compared ASCII
/// case-insensitively, spaces and tabs around each element ignored (RFC 9110 §5.6.1). Every field
/// line with that name counts, as if they were joined with commas (RFC 9110 §5.3).
fn has_token(head: &Head, name: &str, token: &str) -> bool {
    head.headers
        .iter()
        .filter(|header| header.name.eq_ignore_ascii_case(name.as_bytes()))
        .flat_map(|header| header.value.split(|&byte| byte == b','))
        .any(|element| element.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// The value of the field called `name` if exactly one field line has that name.
fn only_value<'a>(head: &'a Head, name: &str) -> Option<&'a [u8]> {
    let mut found = head
        .headers
        .iter()
        .filter(|header| header.name.eq_ignore_ascii_case(name.as_bytes()));
    let first = found.next()?;
    match found.next() {
        Some(_) => None,
        None => Some(&first.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{parse_head, Limits, Status};

    fn head_of(raw: &[u8]) -> Head {
        let limits = Limits {
            max_request_line: 8 * 1024,
            max_head_bytes: 16 * 1024,
            max_headers: 100,
            max_body_bytes: 1024,
        };
        match parse_head(raw, &limits) {
            Ok(Status::Complete((head, _))) => head,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(raw)),
        }
    }

    /// A request head made of `request_line` and `fields`, CRLFs added.
    fn request(request_line: &str, fields: &[&str]) -> Head {
        let mut raw = format!("{request_line}\r\n");
        for field in fields {
            raw.push_str(field);
            raw.push_str("\r\n");
        }
        raw.push_str("\r\n");
        head_of(raw.as_bytes())
    }

    /// The RFC 6455 §1.3 client handshake, with one field replaced, added or removed.
    fn rfc_request_with(change: Option<(&str, Option<&str>)>) -> Head {
        let mut fields = vec![
            ("Host", "server.example.com"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Origin", "http://example.com"),
            ("Sec-WebSocket-Protocol", "chat, superchat"),
            ("Sec-WebSocket-Version", "13"),
        ];
        if let Some((name, value)) = change {
            fields.retain(|(field, _)| *field != name);
            if let Some(value) = value {
                fields.push((name, value));
            }
        }
        let lines: Vec<String> = fields.iter().map(|(n, v)| format!("{n}: {v}")).collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        request("GET /chat HTTP/1.1", &lines)
    }

    const RFC_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    #[test]
    fn rfc_example_key_and_exact_response() {
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), RFC_ACCEPT);
        let head = rfc_request_with(None);
        assert!(is_upgrade(&head));
        let accept = check(&head).expect("the RFC's own request");
        assert_eq!(accept, RFC_ACCEPT);
        assert_eq!(
            response(&accept),
            b"HTTP/1.1 101 Switching Protocols\r\n\
              Upgrade: websocket\r\n\
              Connection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
                .to_vec()
        );
    }

    #[test]
    fn accept_key_uses_the_key_as_sent() {
        // Another 16-byte key: SHA-1 and base64 are each tested on their own; this checks the joining.
        assert_eq!(
            accept_key(b"x3JJHMbDL1EzLkh9GBhXDw=="),
            "HSmrc0sMlYUkAGmm5OPpG2HaGWk="
        );
        assert_eq!(GUID.len(), 36);
    }

    #[test]
    fn upgrade_tokens() {
        let cases: &[(&[&str], bool)] = &[
            (&["Upgrade: websocket"], true),
            (&["Upgrade: WebSocket"], true),
            (&["upgrade: WEBSOCKET"], true),
            (&["Upgrade: h2c, websocket"], true),
            (&["Upgrade: h2c ,\twebsocket ,x"], true),
            (&["Upgrade: h2c", "Upgrade: websocket"], true),
            (&[], false),
            (&["Upgrade: h2c"], false),
            (&["Upgrade: websockets"], false),
            (&["Upgrade: websocket/13"], false),
            (&["Upgrade:"], false),
            (&["X-Upgrade: websocket"], false),
            (&["Connection: websocket"], false),
        ];
        for &(fields, want) in cases {
            let head = request("GET / HTTP/1.1", fields);
            assert_eq!(is_upgrade(&head), want, "{fields:?}");
        }
    }

    #[test]
    fn check_refuses_each_broken_rule() {
        type Change<'a> = Option<(&'a str, Option<&'a str>)>;
        let cases: &[(&str, Change<'_>, Result<String, HandshakeError>)] = &[
            ("as sent", None, Ok(RFC_ACCEPT.to_string())),
            (
                "connection list",
                Some(("Connection", Some("keep-alive, Upgrade"))),
                Ok(RFC_ACCEPT.to_string()),
            ),
            (
                "connection case",
                Some(("Connection", Some("UPGRADE"))),
                Ok(RFC_ACCEPT.to_string()),
            ),
            (
                "no connection",
                Some(("Connection", None)),
                Err(HandshakeError::MissingConnectionUpgrade),
            ),
            (
                "connection keep-alive",
                Some(("Connection", Some("keep-alive"))),
                Err(HandshakeError::MissingConnectionUpgrade),
            ),
            (
                "connection upgrades",
                Some(("Connection", Some("upgrades"))),
                Err(HandshakeError::MissingConnectionUpgrade),
            ),
            (
                "no version",
                Some(("Sec-WebSocket-Version", None)),
                Err(HandshakeError::MissingVersion),
            ),
            (
                "version 8",
                Some(("Sec-WebSocket-Version", Some("8"))),
                Err(HandshakeError::UnsupportedVersion),
            ),
            (
                "version 013",
                Some(("Sec-WebSocket-Version", Some("013"))),
                Err(HandshakeError::UnsupportedVersion),
            ),
            (
                "version list",
                Some(("Sec-WebSocket-Version", Some("13, 8"))),
                Err(HandshakeError::UnsupportedVersion),
            ),
            (
                "no key",
                Some(("Sec-WebSocket-Key", None)),
                Err(HandshakeError::BadKey),
            ),
            (
                "empty key",
                Some(("Sec-WebSocket-Key", Some(""))),
                Err(HandshakeError::BadKey),
            ),
            (
                "15-byte key",
                Some(("Sec-WebSocket-Key", Some("AAAAAAAAAAAAAAAAAAAA"))),
                Err(HandshakeError::BadKey),
            ),
            (
                "17-byte key",
                Some(("Sec-WebSocket-Key", Some("AAAAAAAAAAAAAAAAAAAAAAA="))),
                Err(HandshakeError::BadKey),
            ),
            (
                "key not base64",
                Some(("Sec-WebSocket-Key", Some("dGhlIHNhbXBsZSBub25jZQ!!"))),
                Err(HandshakeError::BadKey),
            ),
            (
                "key unpadded",
                Some(("Sec-WebSocket-Key", Some("dGhlIHNhbXBsZSBub25jZQ"))),
                Err(HandshakeError::BadKey),
            ),
            (
                "key url-safe",
                Some(("Sec-WebSocket-Key", Some("-_-_-_-_-_-_-_-_-_-_-w=="))),
                Err(HandshakeError::BadKey),
            ),
        ];
        for (name, change, want) in cases {
            assert_eq!(&check(&rfc_request_with(*change)), want, "{name}");
        }
        // A 16-byte key with other bytes is fine, and gives its own accept value.
        let head = rfc_request_with(Some((
            "Sec-WebSocket-Key",
            Some("x3JJHMbDL1EzLkh9GBhXDw=="),
        )));
        assert_eq!(check(&head), Ok("HSmrc0sMlYUkAGmm5OPpG2HaGWk=".to_string()));
    }

    #[test]
    fn check_refuses_wrong_method_version_and_repeated_fields() {
        let fields = [
            "Host: a",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
        ];
        let cases: &[(&str, &[&str], HandshakeError)] = &[
            ("POST /chat HTTP/1.1", &[], HandshakeError::NotGet),
            ("HEAD /chat HTTP/1.1", &[], HandshakeError::NotGet),
            ("get /chat HTTP/1.1", &[], HandshakeError::NotGet),
            ("GET /chat HTTP/1.0", &[], HandshakeError::NotHttp11),
            (
                "GET /chat HTTP/1.1",
                &["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="],
                HandshakeError::BadKey,
            ),
            (
                "GET /chat HTTP/1.1",
                &["Sec-WebSocket-Version: 13"],
                HandshakeError::UnsupportedVersion,
            ),
        ];
        for &(line, extra, ref want) in cases {
            let all: Vec<&str> = fields.iter().chain(extra).copied().collect();
            assert_eq!(
                check(&request(line, &all)),
                Err(want.clone()),
                "{line} {extra:?}"
            );
        }
        // `upgrade` in a second `Connection` line counts.
        let split = request(
            "GET / HTTP/1.1",
            &[
                "Connection: keep-alive",
                "Connection: upgrade",
                "Upgrade: websocket",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version: 13",
            ],
        );
        assert_eq!(check(&split), Ok(RFC_ACCEPT.to_string()));
    }

    #[test]
    fn errors_have_statuses_and_messages() {
        let cases = [
            (HandshakeError::NotGet, 400),
            (HandshakeError::NotHttp11, 400),
            (HandshakeError::MissingConnectionUpgrade, 400),
            (HandshakeError::BadKey, 400),
            (HandshakeError::MissingVersion, 426),
            (HandshakeError::UnsupportedVersion, 426),
        ];
        for (error, status) in cases {
            assert_eq!(error.status(), status, "{error:?}");
            assert!(!error.to_string().is_empty());
        }
    }
}
