//! The HTTP API: one parsed request in, one Redis command out, one response back.
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
//! `a/b`); the query string is never part of the key. Every failure is an [`Error`], turned into
//! a response in one place ([`Error::into_response`]).

pub mod error;
pub mod form;
pub mod key;

pub use error::Error;

use crate::config::Config;
use crate::http::response::Response;
use crate::http::{url, Method, Request, Version};
use crate::redis::{self, Pool};
use crate::resp::Value;

/// What a handler needs besides the request.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The Redis connections.
    pub pool: &'a Pool,
    /// Timeouts and limits.
    pub cfg: &'a Config,
}

/// Methods served on `/`.
pub const ROOT_ALLOW: &str = "POST, OPTIONS";
/// Methods served on `/KEY`.
pub const KEY_ALLOW: &str = "GET, HEAD, PUT, DELETE, OPTIONS";

/// Serves one request.
pub fn handle(req: &Request, ctx: &Context<'_>) -> Response {
    route(req, ctx).unwrap_or_else(Error::into_response)
}

fn route(req: &Request, ctx: &Context<'_>) -> Result<Response, Error> {
    let head = &req.head;
    if head.version == Version::Http11 && head.header("host").is_none() {
        return Err(Error::MissingHost);
    }
    if head.target == b"*" {
        // `OPTIONS *` (the parser allows `*` with OPTIONS only): what the server supports.
        return Ok(
            Response::empty(204).with_header("Allow", "GET, HEAD, PUT, DELETE, POST, OPTIONS")
        );
    }
    let raw_key = head
        .path()
        .strip_prefix(b"/")
        .ok_or_else(|| Error::BadRequest("the path must start with '/'".into()))?;
    if raw_key.is_empty() {
        return match head.method {
            Method::Post => form::post(req, ctx),
            Method::Options => Ok(Response::empty(204).with_header("Allow", ROOT_ALLOW)),
            Method::Get | Method::Head | Method::Put | Method::Delete => {
                Err(Error::BadRequest("empty key: the path must be /KEY".into()))
            }
            Method::Other(_) => Err(Error::MethodNotAllowed(ROOT_ALLOW)),
        };
    }
    let key = url::percent_decode(raw_key, false)
        .map_err(|e| Error::BadRequest(format!("{e} in the key")))?;
    match head.method {
        Method::Get | Method::Head => key::get(&key, ctx),
        Method::Put => key::put(&key, head.query(), &req.body, ctx),
        Method::Delete => key::delete(&key, ctx),
        Method::Options => Ok(Response::empty(204).with_header("Allow", KEY_ALLOW)),
        Method::Post | Method::Other(_) => Err(Error::MethodNotAllowed(KEY_ALLOW)),
    }
}

/// Runs one command on a pooled connection. A Redis error reply becomes [`Error::Reply`].
///
/// When the pooled connection turns out to have been closed by Redis before the command reached
/// it ([`redis::Error::Stale`]: the command did not run), the command is sent once more on
/// another connection. Any other failure is final: the command may have run, so it is never
/// repeated.
fn command<A: AsRef<[u8]>>(ctx: &Context<'_>, args: &[A]) -> Result<Value, Error> {
    let mut retried = false;
    loop {
        let mut conn = ctx
            .pool
            .checkout(ctx.cfg.checkout_timeout)
            .map_err(Error::Redis)?;
        match conn.call(args) {
            Ok(Value::Error(text)) => return Err(Error::Reply(text)),
            Ok(value) => return Ok(value),
            Err(redis::Error::Stale) if !retried => retried = true,
            Err(e) => return Err(Error::Redis(e)),
        }
    }
}
