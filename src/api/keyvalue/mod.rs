//! The key/value API (the default, the seed's): a key is a URL path, a value is a body.
//!
//! ```text
//!   GET    /KEY            GET KEY            200 value | 404
//!   HEAD   /KEY            GET KEY            as GET, without the body
//!   PUT    /KEY[?ex=S|px=MS]  SET KEY body [EX S|PX MS]   204
//!   DELETE /KEY            DEL KEY            204 | 404
//!   POST   /  (form)       MSET k1 v1 k2 v2…  200 OK
//!   OPTIONS /KEY or /      (none)             204 + Allow
//! ```
//!
//! The key is the percent-decoded path after the first `/` (so `/a%2Fb` and `/a/b` are both key
//! `a/b`); the query string is never part of the key.
//!
//! A `PUT`, `DELETE` or `POST` from a web page (it carries `Origin`) whose origin is not in
//! `--allow-origin` gets 403 and changes nothing; listed origins get CORS headers (see
//! [`super::cors`]). Without `--allow-origin` no page may change data and no CORS header is sent.
//!
//! With `--token` set, every request but `OPTIONS` needs `Authorization: Bearer T` (401 with
//! `WWW-Authenticate: Bearer` otherwise); the `--readonly-token` may `GET` and `HEAD` only (403).

pub mod form;
pub mod key;

use super::cors::{Cors, Policy};
use super::token::{Access, Sources, Tokens};
use super::{Client, Error, Service, Step};
use crate::config::Config;
use crate::http::response::Response;
use crate::http::url::{self, Plus};
use crate::http::{Head, Method, Request, Version};

/// Methods served on `/`.
pub const ROOT_ALLOW: &str = "POST, OPTIONS";
/// Methods served on `/KEY`.
pub const KEY_ALLOW: &str = "GET, HEAD, PUT, DELETE, OPTIONS";

/// Methods and headers a listed origin's page may use (`Access-Control-Allow-*`).
pub const CORS_METHODS: &str = "GET, HEAD, PUT, DELETE, POST, OPTIONS";
/// Request headers a listed origin's page may send.
pub const CORS_HEADERS: &str = "Content-Type";

/// The key/value API.
#[derive(Debug)]
pub struct KeyValue {
    cors: Cors,
    tokens: Tokens,
}

impl KeyValue {
    /// The key/value API as `cfg` sets it up (its `--allow-origin` list and its tokens).
    pub fn new(cfg: &Config) -> KeyValue {
        KeyValue {
            cors: Cors {
                policy: Policy::Listed(cfg.allow_origins.clone()),
                methods: CORS_METHODS,
                headers: CORS_HEADERS,
                expose: "",
            },
            tokens: Tokens::new(cfg),
        }
    }

    /// Whether the request's token allows its method (`OPTIONS` needs none).
    fn admit(&self, req: &Request) -> Result<(), Error> {
        let method = &req.head.method;
        if *method == Method::Options {
            return Ok(());
        }
        match self.tokens.check(&req.head, Sources::Header)? {
            Access::Full => Ok(()),
            Access::ReadOnly if matches!(method, Method::Get | Method::Head) => Ok(()),
            Access::ReadOnly => Err(Error::NoPermission(
                "NOPERM the read-only token may GET and HEAD only".into(),
            )),
        }
    }
}

impl Service for KeyValue {
    fn plan<'r>(&self, req: &'r Request, _client: Client) -> Step<'r> {
        self.admit(req)
            .and_then(|()| route(req, &self.cors))
            .unwrap_or_else(|e| Step::Answer(e.into_response()))
    }

    fn decorate(&self, response: Response, head: Option<&Head>) -> Response {
        self.cors.decorate(response, head)
    }
}

fn route<'r>(req: &'r Request, cors: &Cors) -> Result<Step<'r>, Error> {
    let head = &req.head;
    if head.version == Version::Http11 && head.header("host").is_none() {
        return Err(Error::MissingHost);
    }
    cors.check(head)?;
    if head.target == b"*" {
        // `OPTIONS *` (the parser allows `*` with OPTIONS only): what the server supports.
        let allow = "GET, HEAD, PUT, DELETE, POST, OPTIONS";
        return Ok(Step::Answer(
            Response::empty(204).with_header("Allow", allow),
        ));
    }
    let raw_key = head
        .path()
        .strip_prefix(b"/")
        .ok_or_else(|| Error::BadRequest("the path must start with '/'".into()))?;
    if raw_key.is_empty() {
        return match head.method {
            Method::Post => form::post(req),
            Method::Options => Ok(Step::Answer(
                Response::empty(204).with_header("Allow", ROOT_ALLOW),
            )),
            Method::Get | Method::Head | Method::Put | Method::Delete => {
                Err(Error::BadRequest("empty key: the path must be /KEY".into()))
            }
            Method::Other(_) => Err(Error::MethodNotAllowed(ROOT_ALLOW)),
        };
    }
    let key = url::percent_decode(raw_key, Plus::Literal)
        .map_err(|e| Error::BadRequest(format!("{e} in the key")))?;
    match head.method {
        Method::Get | Method::Head => Ok(key::get(key)),
        Method::Put => key::put(key, head.query(), &req.body),
        Method::Delete => Ok(key::delete(key)),
        Method::Options => Ok(Step::Answer(
            Response::empty(204).with_header("Allow", KEY_ALLOW),
        )),
        Method::Post | Method::Other(_) => Err(Error::MethodNotAllowed(KEY_ALLOW)),
    }
}
