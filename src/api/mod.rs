//! The HTTP API: one parsed request in, at most one Redis command out, one response back.
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
//! Serving is split in two so that a worker can send the commands of several requests to Redis
//! in one round trip: [`plan`] turns a request into a [`Step`] (an answer at once, or a [`Call`]:
//! a command plus how to read its reply), and [`finish`] turns the reply into the response.
//!
//! The key is the percent-decoded path after the first `/` (so `/a%2Fb` and `/a/b` are both key
//! `a/b`); the query string is never part of the key. Every failure is an [`Error`], turned into
//! a response in one place ([`Error::into_response`]).

pub mod admin;
pub mod error;
pub mod form;
pub mod key;
pub mod webdis;
pub mod websocket;

pub use error::Error;

use std::borrow::Cow;

use crate::http::response::Response;
use crate::http::{url, Method, Request, Version};
use crate::redis;
use crate::resp::Value;

/// Methods served on `/`.
pub const ROOT_ALLOW: &str = "POST, OPTIONS";
/// Methods served on `/KEY`.
pub const KEY_ALLOW: &str = "GET, HEAD, PUT, DELETE, OPTIONS";

/// What serving one request takes.
#[derive(Debug)]
pub enum Step<'a> {
    /// The answer needs no Redis (an error, `OPTIONS`).
    Answer(Response),
    /// Run a command, then [`finish`].
    Call(Call<'a>),
    /// Turn the connection into a stream of pub/sub messages (webdis `SUBSCRIBE`).
    Subscribe(webdis::Subscribe),
    /// Switch the connection to the WebSocket protocol (webdis API with `--websockets on`).
    Upgrade(webdis::Upgrade),
}

/// One Redis command and how to read its reply.
#[derive(Debug)]
pub struct Call<'a> {
    /// The database it runs on; `None` for the configured one (webdis's `/7/GET/key` prefix
    /// names another).
    pub db: Option<u32>,
    /// The command and its arguments; borrowed from the request where possible (a `PUT` body is
    /// never copied).
    pub args: Vec<Cow<'a, [u8]>>,
    /// How the reply becomes the response.
    pub read: Reader,
}

/// How a reply becomes the response.
#[derive(Debug)]
pub enum Reader {
    /// The key/value API: a Redis error reply becomes its error status; any other reply goes
    /// through the function.
    Plain(fn(Value) -> Result<Response, Error>),
    /// The webdis API: every reply, error replies included, is written in the requested format.
    Webdis(Box<webdis::Reply>),
}

impl From<Response> for Step<'_> {
    fn from(response: Response) -> Self {
        Step::Answer(response)
    }
}

/// Decides what a request needs.
pub fn plan(req: &Request) -> Step<'_> {
    match route(req) {
        Ok(step) => step,
        Err(e) => Step::Answer(e.into_response()),
    }
}

/// Turns the outcome of a [`Call`] into the response: a transport failure or a Redis error
/// reply becomes the matching error response.
pub fn finish(call: &Call<'_>, reply: Result<Value, redis::Error>) -> Response {
    let result = match (reply, &call.read) {
        // A `/DB/` prefix naming a database this Redis does not have: the client's mistake.
        (Err(e), _) if call.db.is_some() && e.to_string().contains("DB index is out of range") => {
            Err(Error::BadRequest(format!(
                "database {} does not exist in this Redis ({e})",
                call.db.unwrap_or_default()
            )))
        }
        (Err(e), _) => Err(Error::Redis(e)),
        (Ok(value), Reader::Webdis(reply)) => Ok(reply.respond(&value)),
        (Ok(Value::Error(text)), Reader::Plain(_)) => Err(Error::Reply(text)),
        (Ok(value), Reader::Plain(read)) => read(value),
    };
    result.unwrap_or_else(Error::into_response)
}

fn route(req: &Request) -> Result<Step<'_>, Error> {
    let head = &req.head;
    if head.version == Version::Http11 && head.header("host").is_none() {
        return Err(Error::MissingHost);
    }
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
    let key = url::percent_decode(raw_key, url::Plus::Literal)
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
