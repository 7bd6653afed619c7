//! The HTTP APIs: one parsed request in, what it needs of Redis out, one response back.
//!
//! Each API is one room here, behind one small interface, [`Service`]: the server hands it a
//! parsed request and gets a [`Step`] back; it never knows which API it serves.
//!
//! ```text
//!   keyvalue/   the seed's API: GET/HEAD/PUT/DELETE /KEY, POST / form        (the default)
//!   webdis/     webdis's API: /COMMAND/arg…[.ext], pub/sub streams, WebSockets  (--api webdis)
//!   upstash/    the Upstash REST API: JSON commands, /pipeline, /multi-exec, SSE (--api upstash)
//!   token       the gateway's bearer tokens, which every API checks
//!   admin       /healthz, /metrics, /shutdown on the admin listener
//!   cors        which web pages may change data (Origin, --allow-origin), CORS headers
//!   error       every failure, and the one mapping from errors to HTTP statuses
//!   stream      what a stream (a subscription, a WebSocket) asks of the server
//! ```
//!
//! Serving is split in two so that a worker can send the commands of several requests to Redis
//! in one round trip: [`Service::plan`] turns a request into a [`Step`] (an answer at once, a
//! [`Call`] to run, or a stream to open), and [`Call::finish`] turns the reply into the
//! response. Every failure is an [`Error`], turned into a response in one place
//! ([`Error::into_response`]).

pub mod admin;
pub mod cors;
pub mod error;
pub mod keyvalue;
pub mod stream;
pub mod token;
pub mod upstash;
pub mod webdis;

pub use error::Error;
pub use stream::{EventFormat, Message, MessageCall, Session, Subscription, Upgrade};

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use crate::config::{self, Config};
use crate::http::response::Response;
use crate::http::{Head, Request};
use crate::redis;
use crate::resp::Value;

/// One API of the data listener.
pub trait Service: Send + Sync + fmt::Debug {
    /// Decides what a request needs.
    fn plan<'r>(&self, req: &'r Request, client: Client) -> Step<'r>;

    /// Adds what this API puts on every response of the data listener, errors and refusals
    /// included (the CORS headers), given the request's head when there is one. The default
    /// adds nothing.
    fn decorate(&self, response: Response, _head: Option<&Head>) -> Response {
        response
    }
}

/// The API `cfg.api` names.
pub fn service(cfg: &Config) -> Box<dyn Service> {
    match cfg.api {
        config::Api::KeyValue => Box::new(keyvalue::KeyValue::new(cfg)),
        config::Api::Webdis => Box::new(webdis::Webdis::new(cfg)),
        config::Api::Upstash => Box::new(upstash::Upstash::new(cfg)),
    }
}

/// Who sent a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// The client's address (for the webdis ACL).
    pub addr: IpAddr,
}

/// What serving one request takes.
#[derive(Debug)]
pub enum Step<'a> {
    /// The answer needs no Redis (an error, `OPTIONS`).
    Answer(Response),
    /// Run a command, then [`Call::finish`].
    Call(Call<'a>),
    /// Run several independent commands in one round trip, then [`Batch::read`]'s
    /// [`ReadBatch::pipeline`] (the Upstash `/pipeline`).
    Pipeline(Batch<'a>),
    /// Run several commands as one `MULTI` … `EXEC` on an exclusive connection, then
    /// [`Batch::read`]'s [`ReadBatch::transaction`] (the Upstash `/multi-exec`).
    Transaction(Batch<'a>),
    /// Turn the connection into a stream of pub/sub messages (a webdis `SUBSCRIBE`).
    Subscribe(Subscription),
    /// Switch the connection to the WebSocket protocol.
    Upgrade(Upgrade),
}

impl From<Response> for Step<'_> {
    fn from(response: Response) -> Self {
        Step::Answer(response)
    }
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

/// Several commands of one request, and how their replies become the response.
#[derive(Debug)]
pub struct Batch<'a> {
    /// The commands, each its name and arguments, on the configured database.
    pub commands: Vec<Vec<Cow<'a, [u8]>>>,
    /// How the replies become the response.
    pub read: Box<dyn ReadBatch>,
}

/// How the replies of a [`Batch`] become the response.
pub trait ReadBatch: Send + fmt::Debug {
    /// The response to a pipeline: one outcome per command, in order.
    fn pipeline(&self, replies: Vec<Result<Value, redis::Error>>) -> Response;

    /// The response to a transaction's outcome.
    fn transaction(&self, outcome: Result<redis::Outcome, redis::Error>) -> Response;
}

/// How a reply becomes the response.
#[derive(Debug)]
pub enum Reader {
    /// A Redis error reply becomes its error status; any other reply goes through the
    /// function (the key/value API).
    Plain(fn(Value) -> Result<Response, Error>),
    /// Every reply, error replies included, is written in the requested format (the webdis API).
    Webdis(Box<webdis::Reply>),
    /// Every reply, error replies included, is written as Upstash writes it (the Upstash API).
    Upstash(Box<upstash::Reply>),
}

impl Call<'_> {
    /// Turns the outcome of the call into the response: a transport failure or a Redis error
    /// reply becomes the matching error response.
    pub fn finish(&self, reply: Result<Value, redis::Error>) -> Response {
        let result = match (reply, &self.read) {
            (Err(e), _) => Err(Error::Redis(e)),
            (Ok(value), Reader::Webdis(reply)) => Ok(reply.respond(&value)),
            (Ok(value), Reader::Upstash(reply)) => Ok(reply.respond(value)),
            (Ok(Value::Error(text)), Reader::Plain(_)) => Err(Error::Reply(text)),
            (Ok(value), Reader::Plain(read)) => read(value),
        };
        result.unwrap_or_else(Error::into_response)
    }
}
