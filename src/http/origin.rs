//! Web origins (RFC 6454): the `Origin` a browser puts on a request from a page, and the
//! `--allow-origin` list it is compared with.
//!
//! An origin is `scheme://host[:port]`, compared in its serialized form: scheme and host in lower
//! case, the default port (80 for `http`, 443 for `https`) left out, no path. `null` (a sandboxed
//! page, a local file) is never an origin that can be listed.

use std::fmt;

/// Why a text is not an origin that can be listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginError(String);

impl fmt::Display for OriginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not an origin like https://app.example or http://localhost:3000",
            self.0
        )
    }
}

impl std::error::Error for OriginError {}

/// The serialized form of an origin: `http://a.example:8080`, `https://b.example`.
///
/// # Errors
///
/// When the text is not `http` or `https`, `://`, a host of letters, digits, `-`, `.` (or an
/// IPv6 literal in brackets), and an optional port; a path, user info or query is refused.
pub fn normalize(text: &str) -> Result<String, OriginError> {
    let bad = || OriginError(text.to_string());
    let trimmed = text.trim();
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let (scheme, rest) = trimmed.split_once("://").ok_or_else(bad)?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => "80",
        "https" => "443",
        _ => return Err(bad()),
    };
    let (host, port) = match rest.rsplit_once(':') {
        // An IPv6 literal holds colons: the port comes after its closing bracket.
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (rest, None),
    };
    let host_ok = !host.is_empty()
        && if let Some(inner) = host.strip_prefix('[') {
            inner
                .strip_suffix(']')
                .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
        } else {
            host.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        };
    if !host_ok {
        return Err(bad());
    }
    let host = host.to_ascii_lowercase();
    match port {
        None => Ok(format!("{scheme}://{host}")),
        Some(port) if port.parse::<u16>().is_err() || port.starts_with('+') => Err(bad()),
        Some(port) if port.trim_start_matches('0') == default_port => {
            Ok(format!("{scheme}://{host}"))
        }
        Some(port) => Ok(format!(
            "{scheme}://{host}:{}",
            port.parse::<u16>().unwrap_or_default()
        )),
    }
}

/// Reads a comma-separated list of origins (`--allow-origin`); an empty text is an empty list.
///
/// # Errors
///
/// The first entry that is not an origin.
pub fn parse_list(text: &str) -> Result<Vec<String>, OriginError> {
    text.split(',')
        .filter(|entry| !entry.trim().is_empty())
        .map(normalize)
        .collect()
}

/// True when the `Origin` header value `origin` names one of `allowed` (each as [`normalize`]
/// gives it).
pub fn is_listed(allowed: &[String], origin: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(origin) else {
        return false;
    };
    match normalize(text) {
        Ok(origin) => allowed.contains(&origin),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_serialized_as_browsers_send_them() {
        assert_eq!(
            normalize("https://App.Example").unwrap(),
            "https://app.example"
        );
        assert_eq!(
            normalize("http://a.example:80").unwrap(),
            "http://a.example"
        );
        assert_eq!(
            normalize("https://a.example:443/").unwrap(),
            "https://a.example"
        );
        assert_eq!(
            normalize("http://a.example:443").unwrap(),
            "http://a.example:443"
        );
        assert_eq!(
            normalize("http://localhost:3000").unwrap(),
            "http://localhost:3000"
        );
        assert_eq!(normalize("http://[::1]:8080").unwrap(), "http://[::1]:8080");
        assert_eq!(normalize("http://[::1]").unwrap(), "http://[::1]");
        assert_eq!(
            normalize(" HTTP://10.0.0.1:8080 ").unwrap(),
            "http://10.0.0.1:8080"
        );
    }

    #[test]
    fn what_is_not_an_origin_is_refused() {
        for bad in [
            "",
            "null",
            "*",
            "a.example",
            "ftp://a.example",
            "http://",
            "http://a.example/path",
            "http://user@a.example",
            "http://a.example:99999",
            "http://a.example:",
            "http://a.example:+80",
            "http://a.example?x=1",
            "http://[::1",
            "http://[zz]:80",
            "http://a example",
        ] {
            assert!(normalize(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lists_are_comma_separated_and_compared_serialized() {
        let list = parse_list("https://a.example, http://localhost:3000,").unwrap();
        assert_eq!(list, ["https://a.example", "http://localhost:3000"]);
        assert!(parse_list("").unwrap().is_empty());
        assert!(parse_list("https://a.example,evil").is_err());
        assert!(is_listed(&list, b"https://a.example"));
        assert!(is_listed(&list, b"https://A.example:443"));
        assert!(is_listed(&list, b"http://localhost:3000"));
        assert!(!is_listed(&list, b"http://a.example"));
        assert!(!is_listed(&list, b"https://a.example.evil"));
        assert!(!is_listed(&list, b"null"));
        assert!(!is_listed(&list, b"\xff"));
        assert!(!is_listed(&[], b"https://a.example"));
    }
}
