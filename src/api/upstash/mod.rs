//! The Upstash Redis REST API (`--api upstash`): what `@upstash/redis`, `@vercel/kv` and the
//! Python `upstash-redis` speak, against one's own Redis.
//!
//! ```text
//!   POST /                      ["SET","k","v"]            200 {"result":"OK"}
//!   GET|POST /set/k/v/EX/100    path-style command         200 {"result":"OK"}
//!   POST /pipeline              [["INCR","n"],["GET","n"]] 200 [{"result":1},{"result":"1"}]
//!   POST /multi-exec            the same, atomically       200 [{"result":…},…] | 400 EXECABORT
//!   GET|POST /subscribe/<ch>    SSE: data: message,<ch>,<payload>
//!   GET|POST /psubscribe/<pat>  SSE: data: pmessage,<pat>,<ch>,<payload>
//!   OPTIONS any                 CORS preflight (no token needed)
//! ```
//!
//! Every request but a preflight needs the token: `Authorization: Bearer T` or `?_token=T`
//! (401 `{"error":"Unauthorized"}`); the read-only token runs read-only commands only (403
//! `{"error":"NOPERM …"}`). A Redis error reply is 400 `{"error":"<Redis's text>"}`, and every
//! other non-2xx answer, whoever made it (the HTTP parser, an overload), is JSON with `error`
//! too ([`Upstash::decorate`]). Each answer carries a new `upstash-sync-token`; the request's is
//! accepted and ignored (there is one primary, so every read sees every earlier write).
//!
//! Files: `command` (what to run, and the checks), `reply` (replies → answers, base64, RESP2),
//! `events` (SSE), `scripts` (Upstash's `allow-key-locking` Lua flag on a Redis without it). A pipeline joins the worker's one round trip; a transaction runs on a
//! connection of its own ([`crate::redis::Backend::transaction`]). `WATCH` is not offered: it
//! would need the connection held across requests.

pub mod command;
pub mod events;
pub mod reply;
pub mod scripts;

pub use reply::Reply;

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::cors::{Cors, Policy};
use super::stream::Subscription;
use super::token::{Sources, Tokens};
use super::{Batch, Call, Client, Error, Reader, Service, Step};
use crate::config::Config;
use crate::http::response::{self, Response};
use crate::http::url::{self, Plus};
use crate::http::{Head, Method, Request, Version};
use crate::json;
use crate::redis::subscriber::{Kind, MAX_TOPIC_BYTES};
use command::Args;
use events::SseEvents;
use reply::{Encoding, Format};
use scripts::Scripts;

/// Methods served.
pub const ALLOW: &str = "GET, HEAD, POST, OPTIONS";
/// Request headers a browser may send (the preflight's answer).
const ALLOW_HEADERS: &str = "Authorization, Content-Type, Upstash-Encoding, \
    Upstash-Response-Format, Upstash-Sync-Token, Upstash-Telemetry-Runtime, \
    Upstash-Telemetry-Platform, Upstash-Telemetry-Sdk";

/// The Upstash API.
#[derive(Debug)]
pub struct Upstash {
    tokens: Tokens,
    /// `--allow-origin`: the pages that may read the answers (CORS, on every answer of the
    /// listener, the gateway's own refusals included).
    cors: Cors,
    /// `--max-reply-bytes`: the largest answer body.
    max_reply: usize,
    /// The last `upstash-sync-token` given.
    sync: AtomicU64,
    /// Scripts whose Upstash-only shebang flag was taken out.
    scripts: Scripts,
}

impl Upstash {
    /// The Upstash API as `cfg` sets it up.
    pub fn new(cfg: &Config) -> Upstash {
        Upstash {
            tokens: Tokens::new(cfg),
            cors: Cors {
                policy: Policy::Listed(cfg.allow_origins.clone()),
                methods: ALLOW,
                headers: ALLOW_HEADERS,
                expose: "upstash-sync-token",
            },
            max_reply: cfg.max_reply_bytes,
            sync: AtomicU64::new(0),
            scripts: Scripts::default(),
        }
    }

    fn route<'r>(&self, req: &'r Request, reply: &Reply) -> Result<Step<'r>, Error> {
        let head = &req.head;
        match head.method {
            Method::Options => {
                // The CORS answer to a preflight is added by `decorate`, as on every answer.
                return Ok(Step::Answer(
                    Response::empty(204).with_header("Allow", ALLOW),
                ));
            }
            Method::Get | Method::Head | Method::Post => {}
            Method::Put | Method::Delete | Method::Other(_) => {
                return Err(Error::MethodNotAllowed(ALLOW))
            }
        }
        let access = self.tokens.check(head, Sources::HeaderOrQuery)?;
        let path = head.path();
        let post = head.method == Method::Post;
        let batch = |mut commands: Vec<Args>| -> Result<Batch<'r>, Error> {
            for args in &mut commands {
                command::vet(args, access)?;
                self.scripts.adapt(args);
            }
            Ok(Batch {
                commands: commands.into_iter().map(owned).collect(),
                read: Box::new(reply.clone()),
            })
        };
        match path {
            b"/pipeline" | b"/multi-exec" if !post => Err(Error::Command(
                "ERR POST a JSON array of commands: [[\"GET\",\"k\"]]".into(),
            )),
            b"/pipeline" => Ok(Step::Pipeline(batch(command::json_many(&req.body)?)?)),
            b"/multi-exec" => Ok(Step::Transaction(batch(command::json_many(&req.body)?)?)),
            b"/" if post => self.call(command::json_one(&req.body)?, access, reply),
            _ => {
                if let Some(step) = subscription(req)? {
                    return Ok(step);
                }
                let rest = path.strip_prefix(b"/").unwrap_or(path);
                let body = post.then_some(req.body.as_slice());
                self.call(command::path(rest, body, head.query())?, access, reply)
            }
        }
    }

    fn call<'r>(
        &self,
        mut args: Args,
        access: super::token::Access,
        reply: &Reply,
    ) -> Result<Step<'r>, Error> {
        command::vet(&args, access)?;
        self.scripts.adapt(&mut args);
        Ok(Step::Call(Call {
            db: None,
            args: owned(args),
            read: Reader::Upstash(Box::new(reply.clone())),
        }))
    }

    /// How this request's replies are written.
    fn reply(&self, req: &Request) -> Result<Reply, Reply> {
        let mut reply = Reply {
            encoding: Encoding::Plain,
            format: Format::Json,
            max_body: self.max_reply,
        };
        let base64 = req
            .head
            .header("upstash-encoding")
            .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"base64"));
        let resp2 = req
            .head
            .header("upstash-response-format")
            .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"resp2"));
        if base64 {
            reply.encoding = Encoding::Base64;
        }
        if resp2 {
            reply.format = Format::Resp2;
        }
        match (base64, resp2) {
            (true, true) => Err(reply),
            _ => Ok(reply),
        }
    }
}

impl Service for Upstash {
    fn plan<'r>(&self, req: &'r Request, _client: Client) -> Step<'r> {
        let reply = match self.reply(req) {
            Ok(reply) => reply,
            Err(reply) => {
                return Step::Answer(
                    reply.error(Error::Command(
                        "ERR Upstash-Response-Format: resp2 and Upstash-Encoding: base64 \
                     cannot be combined"
                            .into(),
                    )),
                )
            }
        };
        self.route(req, &reply)
            .unwrap_or_else(|e| Step::Answer(reply.error(e)))
    }

    /// Makes every non-2xx body JSON `{"error":"…"}` (whoever wrote it: a text error of the
    /// server, the HTTP parser's refusal), adds a fresh `upstash-sync-token`, and the CORS
    /// headers for a listed page (so that a page reads the gateway's own refusals too).
    fn decorate(&self, mut response: Response, head: Option<&Head>) -> Response {
        if response.status >= 300 && response.content_type != Some(reply::JSON) {
            let text = match response.content_type {
                Some(response::TEXT) => String::from_utf8_lossy(&response.body).trim().to_string(),
                _ => response::reason(response.status).to_string(),
            };
            let mut body = b"{\"error\":".to_vec();
            json::write_str(&mut body, text.as_bytes());
            body.push(b'}');
            response.content_type = Some(reply::JSON);
            response.body = body;
        }
        let sync = self.sync.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        self.cors.decorate(
            response.with_header("upstash-sync-token", sync.to_string()),
            head,
        )
    }
}

/// `/subscribe/<channel>` or `/psubscribe/<pattern>` as an SSE stream; `None` for other paths.
fn subscription<'r>(req: &Request) -> Result<Option<Step<'r>>, Error> {
    let path = req.head.path();
    let (kind, raw) = if let Some(rest) = path.strip_prefix(b"/subscribe/") {
        (Kind::Channel, rest)
    } else if let Some(rest) = path.strip_prefix(b"/psubscribe/") {
        (Kind::Pattern, rest)
    } else {
        return Ok(None);
    };
    let topic = url::percent_decode(raw, Plus::Literal)
        .map_err(|e| Error::Command(format!("ERR {e} in the channel")))?;
    if topic.is_empty() || topic.len() > MAX_TOPIC_BYTES {
        return Err(Error::Command(format!(
            "ERR a channel or pattern has 1 to {MAX_TOPIC_BYTES} bytes"
        )));
    }
    if req.head.method == Method::Head {
        return Err(Error::MethodNotAllowed("GET, POST"));
    }
    if req.head.version != Version::Http11 {
        return Err(Error::Command(
            "ERR a subscription is streamed with chunked encoding: use HTTP/1.1".into(),
        ));
    }
    let head = Response::empty(200)
        .with_header("Content-Type", "text/event-stream")
        .with_header("Cache-Control", "no-cache");
    Ok(Some(Step::Subscribe(Subscription {
        head,
        kind,
        topics: vec![topic],
        format: Arc::new(SseEvents),
    })))
}

/// A command's arguments as the worker takes them.
fn owned<'r>(args: Args) -> Vec<Cow<'r, [u8]>> {
    args.into_iter().map(Cow::Owned).collect()
}
