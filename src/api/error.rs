//! Everything that can go wrong with a request, and the one place that maps it to an HTTP status.
//!
//! | error                                        | status | connection |
//! |----------------------------------------------|--------|------------|
//! | malformed request (see [`ParseError`])       | 400, 413, 414, 417, 431, 501, 505 | closed |
//! | missing `Host`, bad key or form, bad query   | 400    | closed     |
//! | no token or a wrong one (`--token`)          | 401 + `WWW-Authenticate: Bearer` | kept |
//! | a failed Upstash command (Redis's error, or refused) | 400 | kept |
//! | a command the read-only token may not run    | 403    | kept       |
//! | request too slow                             | 408    | closed     |
//! | method not served                            | 405 + `Allow` | closed |
//! | form with another `Content-Type`             | 415    | closed     |
//! | command refused (webdis ACL, connection state) | 403  | kept       |
//! | a web page's change from an origin not in `--allow-origin` | 403 | closed |
//! | admin: `Host` not the admin listener's own (DNS rebinding) | 421 | closed |
//! | admin: `POST /shutdown` from a web page or without its header | 403 | closed |
//! | admin: `POST /shutdown` without the `--admin-token` | 401 + `WWW-Authenticate` | closed |
//! | a database Redis does not have (`/DB/` prefix) | 400  | kept       |
//! | key does not exist                           | 404    | kept       |
//! | WebSocket version other than 13              | 426 + `Sec-WebSocket-Version` | closed |
//! | Redis `WRONGTYPE`                            | 409    | kept       |
//! | Redis `LOADING` `BUSY` `READONLY` `MASTERDOWN` `TRYAGAIN` `CLUSTERDOWN` | 503 + `Retry-After` | kept |
//! | Redis Cluster: keys in several hash slots (`{tag}` is the fix) | 409 | kept |
//! | Redis Cluster: another database, a command with no merge rule | 400 | kept |
//! | Redis Cluster: a split multi-key command failed on some slots | 502 | kept |
//! | Redis `OOM`                                  | 507    | kept       |
//! | other Redis error reply, bad or odd reply    | 502    | kept       |
//! | Redis unreachable, pool exhausted            | 503 + `Retry-After` | kept |
//! | Redis reply timeout                          | 504    | kept       |
//! | gateway overloaded (queue or connections full) | 503 + `Retry-After` | closed |
//! | a bug in the gateway (caught panic)          | 500    | closed     |
//!
//! Bad input closes the connection: after a request we refused, we cannot trust where the next
//! one starts. Answers about data (404, 409) and Redis trouble (5xx) keep it open.

use std::fmt;

use crate::http::response::Response;
use crate::http::ParseError;
use crate::redis;

/// Why a request did not get a 2xx answer.
#[derive(Debug)]
pub enum Error {
    /// The bytes are not an acceptable HTTP/1.1 request.
    Http(ParseError),
    /// An HTTP/1.1 request without `Host` (RFC 9112 §3.2).
    MissingHost,
    /// The request did not arrive within the header or body timeout.
    SlowRequest,
    /// The request is well-formed HTTP but not a valid API call; the text says why.
    BadRequest(String),
    /// The request carries no token, or a wrong one, and `--token` is set.
    Unauthorized,
    /// The Upstash API's answer to a command that failed, in Redis's words: Redis's error reply
    /// (`WRONGTYPE …`), or the gateway's refusal (`ERR SELECT is not available …`).
    Command(String),
    /// The read-only token may not do this; the text says what (`NOPERM …`).
    NoPermission(String),
    /// The method is not served on this path; holds the `Allow` value.
    MethodNotAllowed(&'static str),
    /// A form POST with another `Content-Type`; holds what was sent.
    UnsupportedMediaType(String),
    /// The webdis ACL does not allow this client to run the command (named).
    NotAllowed(String),
    /// The command cannot run here: it would change the state of a shared Redis connection or
    /// hold it; the text says which and why.
    Forbidden(String),
    /// A state-changing request from a web page whose origin (held) is not in `--allow-origin`.
    CrossOrigin(String),
    /// An admin request whose `Host` (held) does not name the admin listener: a page that
    /// rebound a DNS name to it.
    WrongHost(String),
    /// `POST /shutdown` refused; the text says why (a web page's request, or no custom header).
    ShutdownRefused(&'static str),
    /// `POST /shutdown` without the `Authorization: Bearer` token `--admin-token` sets.
    AdminUnauthorized,
    /// The key does not exist.
    NotFound,
    /// A WebSocket handshake with a version other than 13; the text says why.
    UpgradeRequired(String),
    /// Talking to Redis failed.
    Redis(redis::Error),
    /// Redis answered with an error reply; holds its text (e.g. `WRONGTYPE Operation…`).
    Reply(Vec<u8>),
    /// Redis answered with a reply of a type the command never returns.
    UnexpectedReply(&'static str),
    /// The gateway cannot take more work right now; the text says which limit.
    Overloaded(String),
    /// A bug: the handler panicked. The worker survives; the client gets 500.
    Internal,
}

impl Error {
    /// The HTTP status for this error: the only such mapping in the gateway.
    pub fn status(&self) -> u16 {
        match self {
            Error::Http(e) => match e {
                ParseError::BadRequest(_) => 400,
                ParseError::RequestLineTooLong => 414,
                ParseError::HeadTooLarge | ParseError::TooManyHeaders => 431,
                ParseError::BodyTooLarge => 413,
                ParseError::UnsupportedVersion => 505,
                ParseError::UnsupportedTransferEncoding => 501,
                ParseError::ExpectationFailed => 417,
            },
            Error::MissingHost | Error::BadRequest(_) | Error::Command(_) => 400,
            Error::Unauthorized => 401,
            Error::NoPermission(_) => 403,
            Error::SlowRequest => 408,
            Error::MethodNotAllowed(_) => 405,
            Error::UnsupportedMediaType(_) => 415,
            Error::NotAllowed(_)
            | Error::Forbidden(_)
            | Error::CrossOrigin(_)
            | Error::ShutdownRefused(_) => 403,
            Error::WrongHost(_) => 421,
            Error::AdminUnauthorized => 401,
            Error::NotFound => 404,
            Error::UpgradeRequired(_) => 426,
            Error::Redis(e) => match e {
                redis::Error::Timeout => 504,
                redis::Error::NoSuchDatabase(_) => 400,
                redis::Error::MemoryBudget => 503,
                redis::Error::Unavailable(_) | redis::Error::Handshake(_) => 503,
                redis::Error::Refused(why, _) => match why {
                    redis::Refusal::CrossSlot => 409,
                    redis::Refusal::Unsupported => 400,
                    redis::Refusal::Partial => 502,
                },
                redis::Error::Io(_)
                | redis::Error::Closed
                | redis::Error::Stale
                | redis::Error::Protocol(_)
                | redis::Error::ReplyTooLarge
                | redis::Error::Unsolicited => 502,
            },
            Error::Reply(text) => reply_status(text),
            Error::UnexpectedReply(_) => 502,
            Error::Overloaded(_) => 503,
            Error::Internal => 500,
        }
    }

    /// Whether the connection must close after the response (see the module table).
    pub fn closes_connection(&self) -> bool {
        matches!(
            self,
            Error::Http(_)
                | Error::MissingHost
                | Error::SlowRequest
                | Error::BadRequest(_)
                | Error::MethodNotAllowed(_)
                | Error::UnsupportedMediaType(_)
                | Error::UpgradeRequired(_)
                | Error::CrossOrigin(_)
                | Error::WrongHost(_)
                | Error::ShutdownRefused(_)
                | Error::AdminUnauthorized
                | Error::Overloaded(_)
                | Error::Internal
        )
    }

    /// The complete error response: status, short text body, and the headers the status needs.
    pub fn into_response(self) -> Response {
        let status = self.status();
        let mut response = Response::text(status, &self.to_string());
        if status == 503 {
            response = response.with_header("Retry-After", "1");
        }
        if let Error::UpgradeRequired(_) = self {
            response = response.with_header("Sec-WebSocket-Version", "13");
        }
        if let Error::Unauthorized | Error::AdminUnauthorized = self {
            response = response.with_header("WWW-Authenticate", "Bearer");
        }
        if let Error::MethodNotAllowed(allow) = self {
            response = response.with_header("Allow", allow);
        }
        if self.closes_connection() {
            response = response.closing();
        }
        response
    }
}

/// Redis error replies start with an upper-case code word (`WRONGTYPE`, `OOM`…).
fn reply_status(text: &[u8]) -> u16 {
    let code = text.split(|b| *b == b' ').next().unwrap_or_default();
    match code {
        b"WRONGTYPE" => 409,
        b"LOADING" | b"BUSY" | b"READONLY" | b"MASTERDOWN" | b"TRYAGAIN" | b"CLUSTERDOWN" => 503,
        b"OOM" => 507,
        _ => 502,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Http(e) => e.fmt(f),
            Error::MissingHost => f.write_str("bad request: HTTP/1.1 request without Host"),
            Error::SlowRequest => f.write_str("request timeout: the request arrived too slowly"),
            Error::BadRequest(why) => write!(f, "bad request: {why}"),
            Error::Unauthorized => f.write_str("Unauthorized"),
            Error::Command(text) | Error::NoPermission(text) => f.write_str(text),
            Error::MethodNotAllowed(allow) => write!(f, "method not allowed here; use {allow}"),
            Error::UnsupportedMediaType(got) => write!(
                f,
                "POST / takes Content-Type application/x-www-form-urlencoded, not '{got}'"
            ),
            Error::NotAllowed(command) => write!(
                f,
                "forbidden: {command} is not allowed for this client by the ACL"
            ),
            Error::Forbidden(why) => write!(f, "forbidden: {why}"),
            Error::CrossOrigin(origin) => write!(
                f,
                "forbidden: a web page from {origin} may not change data here \
                 (cross-site request); list its origin with --allow-origin"
            ),
            Error::WrongHost(host) => write!(
                f,
                "misdirected request: Host '{host}' is not this admin listener's address \
                 (a DNS-rebinding page?); use its IP:port or localhost:port"
            ),
            Error::ShutdownRefused(why) => write!(f, "forbidden: {why}"),
            Error::AdminUnauthorized => f.write_str(
                "unauthorized: POST /shutdown needs 'Authorization: Bearer TOKEN' (--admin-token)",
            ),
            Error::NotFound => f.write_str("not found"),
            Error::UpgradeRequired(why) => write!(f, "upgrade required: {why}"),
            Error::Redis(e @ redis::Error::NoSuchDatabase(_)) => write!(f, "bad request: {e}"),
            Error::Redis(e) => e.fmt(f),
            Error::Reply(text) => write!(f, "redis: {}", String::from_utf8_lossy(text)),
            Error::UnexpectedReply(what) => write!(f, "unexpected reply from redis to {what}"),
            Error::Overloaded(why) => write!(f, "service unavailable: {why}"),
            Error::Internal => f.write_str("internal error (a bug; it was logged)"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_error_replies_map_by_code_word() {
        let cases: &[(&[u8], u16)] = &[
            (
                b"WRONGTYPE Operation against a key holding the wrong kind of value",
                409,
            ),
            (b"LOADING Redis is loading the dataset in memory", 503),
            (b"BUSY Redis is busy running a script", 503),
            (
                b"READONLY You can't write against a read only replica.",
                503,
            ),
            (b"MASTERDOWN Link with MASTER is down", 503),
            (
                b"TRYAGAIN Multiple keys request during rehashing of slot",
                503,
            ),
            (
                b"OOM command not allowed when used memory > 'maxmemory'.",
                507,
            ),
            (b"ERR unknown command", 502),
            (b"NOAUTH Authentication required.", 502),
            (b"", 502),
        ];
        for (text, status) in cases {
            assert_eq!(Error::Reply(text.to_vec()).status(), *status, "{text:?}");
        }
    }

    #[test]
    fn retry_after_comes_with_every_503() {
        for e in [
            Error::Reply(b"LOADING".to_vec()),
            Error::Redis(redis::Error::Unavailable("down".into())),
            Error::Overloaded("queue full".into()),
        ] {
            let response = e.into_response();
            assert_eq!(response.status, 503);
            assert!(response
                .headers
                .iter()
                .any(|(n, v)| *n == "Retry-After" && v == "1"));
        }
    }

    #[test]
    fn bad_input_closes_but_data_answers_do_not() {
        assert!(Error::BadRequest("x".into()).into_response().close);
        assert!(Error::Http(ParseError::HeadTooLarge).into_response().close);
        assert!(!Error::NotFound.into_response().close);
        assert!(!Error::Reply(b"WRONGTYPE x".to_vec()).into_response().close);
        assert!(!Error::Redis(redis::Error::Timeout).into_response().close);
    }

    #[test]
    fn parse_errors_map_to_their_statuses() {
        let cases = [
            (ParseError::BadRequest("x"), 400),
            (ParseError::RequestLineTooLong, 414),
            (ParseError::HeadTooLarge, 431),
            (ParseError::TooManyHeaders, 431),
            (ParseError::BodyTooLarge, 413),
            (ParseError::UnsupportedVersion, 505),
            (ParseError::UnsupportedTransferEncoding, 501),
            (ParseError::ExpectationFailed, 417),
        ];
        for (e, status) in cases {
            assert_eq!(Error::Http(e).status(), status);
        }
    }

    #[test]
    fn refusals_of_the_doors_map_to_their_statuses() {
        let cases = [
            (Error::CrossOrigin("https://evil.example".into()), 403),
            (Error::WrongHost("evil.example:9090".into()), 421),
            (Error::ShutdownRefused("x"), 403),
            (Error::AdminUnauthorized, 401),
        ];
        for (e, status) in cases {
            let response = e.into_response();
            assert_eq!(response.status, status);
            assert!(response.close);
        }
        let response = Error::AdminUnauthorized.into_response();
        assert!(response
            .headers
            .contains(&("WWW-Authenticate", "Bearer".to_string())));
    }

    #[test]
    fn method_not_allowed_names_the_allowed_methods() {
        let response = Error::MethodNotAllowed("POST, OPTIONS").into_response();
        assert_eq!(response.status, 405);
        assert!(response
            .headers
            .contains(&("Allow", "POST, OPTIONS".to_string())));
    }
}
