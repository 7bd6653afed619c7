//! The webdis API (`--api webdis`): one command per request, named in the URL.
//!
//! ```text
//!   GET  /[DB/]COMMAND/arg0/…/argN[.ext][?jsonp=f|callback=f][?sep=,][?type=a/b]
//!   POST /            body: COMMAND/arg0/…/argN[.ext]
//!   PUT  /COMMAND/arg0/…/argN-1      body: argN, bytes as sent (file upload)
//!   OPTIONS any       200, the CORS headers
//!   GET  /crossdomain.xml
//! ```
//!
//! Every response carries the CORS headers: any origin, as webdis, unless `--allow-origin` names
//! some; then only those get them, and other pages' `POST`/`PUT` get 403 (see [`super::cors`]); a body from Redis carries an `ETag`
//! (the MD5 of the body) and a matching `If-None-Match` gets 304. Requests need no `Host` header
//! (webdis's own tools send none). A command the ACL refuses, or one that would change the state
//! of a shared Redis connection, gets 403.

pub mod events;
pub mod vet;
pub mod websocket;

use std::borrow::Cow;
use std::sync::Arc;

use super::cors::{Cors, Policy};
use super::stream::{Frames, Subscription, Upgrade};
use super::{Call, Client, Error, Reader, Service, Step};
use crate::config::Config;
use crate::http::response::Response;
use crate::http::{url, Head, Method, Request, Version};
use crate::resp::Value;
use crate::webdis::command::{self, Format};
use crate::webdis::format::Render;
use crate::webdis::{acl, md5, Settings};
use crate::websocket::{base64, handshake};
use events::{ChunkEvents, SocketEvents};
use vet::{vet, Vetted};
use websocket::{Socket, Wire};

/// Methods webdis serves.
pub const ALLOW: &str = "GET,POST,PUT,OPTIONS";

/// What `/crossdomain.xml` answers: Flash's cross-domain policy, allowing every domain.
const CROSSDOMAIN_XML: &str = "<?xml version=\"1.0\"?>\n\
<!DOCTYPE cross-domain-policy SYSTEM \"http://www.macromedia.com/xml/dtds/cross-domain-policy.dtd\">\n\
<cross-domain-policy>\n\
<allow-access-from domain=\"*\" />\n\
</cross-domain-policy>\n";

/// How to answer the reply of one webdis command.
#[derive(Debug)]
pub struct Reply {
    render: Render,
    /// The request's `If-None-Match`, for a `GET` or `HEAD` (a condition on other methods would
    /// be checked after the command ran; it is ignored).
    if_none_match: Option<Vec<u8>>,
    /// Largest answer body, `--max-reply-bytes`: JSON escaping can make an answer several
    /// times the reply.
    max_body: usize,
}

impl Reply {
    /// The response for a reply from Redis (error replies included: webdis answers them with
    /// 200 and `[false, "ERR …"]`).
    pub fn respond(&self, reply: &Value) -> Response {
        if self.render.len_bound(reply) > self.max_body {
            return Error::Redis(crate::redis::Error::ReplyTooLarge).into_response();
        }
        let body = self.render.write(reply);
        if body.status != 200 {
            return Response::empty(body.status);
        }
        let etag = format!("\"{}\"", md5::hex(&body.bytes));
        if self
            .if_none_match
            .as_deref()
            .is_some_and(|tags| etag_matches(tags, &etag))
        {
            return Response::empty(304).with_header("ETag", etag);
        }
        let mut response = Response::empty(200);
        response.body = body.bytes;
        if let Some(content_type) = body.content_type {
            response = response.with_header("Content-Type", content_type);
        }
        response.with_header("ETag", etag)
    }
}

/// True when an `If-None-Match` list (`"a", W/"b"` or `*`) names `etag` (weak comparison, RFC
/// 9110 §13.1.2).
fn etag_matches(list: &[u8], etag: &str) -> bool {
    list.split(|&b| b == b',').any(|tag| {
        let tag = tag.trim_ascii();
        let tag = tag.strip_prefix(b"W/").unwrap_or(tag);
        tag == b"*" || tag == etag.as_bytes()
    })
}

/// Request headers webdis lets pages send (`Access-Control-Allow-Headers`).
pub const CORS_HEADERS: &str = "X-Requested-With, Content-Type, Authorization";

/// The origin policy `--allow-origin` gives: webdis's "any page" when it lists none.
fn cors(cfg: &Config) -> Cors {
    Cors {
        policy: if cfg.allow_origins.is_empty() {
            Policy::Any
        } else {
            Policy::Listed(cfg.allow_origins.clone())
        },
        methods: ALLOW,
        headers: CORS_HEADERS,
        expose: "",
    }
}

/// The format of a WebSocket on `path` (query already cut): RESP when its last segment ends in
/// `.raw`, JSON otherwise.
fn socket_wire(path: &[u8]) -> Wire {
    let last = path.rsplit(|&b| b == b'/').next().unwrap_or_default();
    if last.ends_with(b".raw") {
        Wire::Resp
    } else {
        Wire::Json
    }
}

/// The webdis API.
#[derive(Debug)]
pub struct Webdis {
    settings: Arc<Settings>,
    /// `--websockets`: whether upgrades are accepted.
    websockets: bool,
    /// `--max-reply-bytes`: the largest answer body.
    max_reply: usize,
    /// `--max-ws-message`: the largest WebSocket message.
    max_ws_message: usize,
    /// `--allow-origin`: which pages may change data, and the CORS headers.
    cors: Cors,
    /// `--webdis-allow-html`: serve answers a browser renders as a page.
    allow_html: bool,
}

impl Webdis {
    /// The webdis API as `cfg` sets it up.
    pub fn new(cfg: &Config) -> Webdis {
        Webdis {
            settings: Arc::new(cfg.webdis.clone()),
            websockets: cfg.websockets,
            max_reply: cfg.max_reply_bytes,
            max_ws_message: cfg.max_ws_message,
            cors: cors(cfg),
            allow_html: cfg.webdis_allow_html,
        }
    }
}

impl Service for Webdis {
    fn plan<'r>(&self, req: &'r Request, client: Client) -> Step<'r> {
        if let Err(e) = self.cors.check(&req.head) {
            return Step::Answer(e.into_response());
        }
        let routed = if self.websockets && handshake::is_upgrade(&req.head) {
            self.upgrade(req)
        } else {
            self.route(req, client)
        };
        routed.unwrap_or_else(|e| Step::Answer(e.into_response()))
    }

    fn decorate(&self, response: Response, head: Option<&Head>) -> Response {
        self.cors.decorate(response, head)
    }
}

impl Webdis {
    /// A WebSocket on any path, as webdis accepts: RESP when the path ends in `.raw`, JSON
    /// otherwise (`/`, `/.json`, any other path, as webdis's default format).
    fn upgrade<'r>(&self, req: &Request) -> Result<Step<'r>, Error> {
        self.cors.check_page(&req.head)?;
        let wire = socket_wire(req.head.path());
        let accept = handshake::check(&req.head).map_err(|e| match e.status() {
            426 => Error::UpgradeRequired(e.to_string()),
            _ => Error::BadRequest(e.to_string()),
        })?;
        let frames = match wire {
            Wire::Json => Frames::Text,
            // webdis sends RESP in text frames; bytes that are not UTF-8 cannot be one.
            Wire::Resp => Frames::TextWhenUtf8,
        };
        Ok(Step::Upgrade(Upgrade {
            handshake: handshake::response(&accept),
            frames,
            format: Arc::new(SocketEvents::new(wire)),
            session: Box::new(Socket::new(
                wire,
                Arc::clone(&self.settings),
                self.max_ws_message,
                self.max_reply,
            )),
        }))
    }

    fn route<'r>(&self, req: &'r Request, client: Client) -> Result<Step<'r>, Error> {
        let settings = &self.settings;
        let head = &req.head;
        let path = head.path();
        match head.method {
            Method::Options => {
                return Ok(Step::Answer(
                    Response::empty(200).with_header("Allow", ALLOW),
                ))
            }
            Method::Get | Method::Head if path == b"/crossdomain.xml" => {
                return Ok(Step::Answer(Response::bytes(
                    200,
                    "application/xml",
                    CROSSDOMAIN_XML.as_bytes().to_vec(),
                )))
            }
            Method::Get | Method::Head | Method::Post | Method::Put => {}
            Method::Delete | Method::Other(_) => return Err(Error::MethodNotAllowed(ALLOW)),
        }
        let path = path.strip_prefix(b"/").unwrap_or(path);
        let source: &[u8] = match head.method {
            Method::Post if path.is_empty() => &req.body,
            _ if path.is_empty() => settings
                .default_root
                .as_deref()
                .map(|root| root.trim_start_matches('/').as_bytes())
                .unwrap_or_default(),
            _ => path,
        };
        let cmd = command::parse(source, settings.max_db)
            .map_err(|e| Error::BadRequest(e.to_string()))?;
        let mut args: Vec<Cow<'r, [u8]>> = cmd.args.into_iter().map(Cow::Owned).collect();
        if head.method == Method::Put {
            // The body is the last argument, bytes as sent.
            args.push(Cow::Borrowed(&req.body));
        }
        let name = args.first().map(|a| a.to_vec()).unwrap_or_default();
        let credentials = basic_credentials(head.header("authorization"));
        let acl_client = acl::Client {
            addr: client.addr,
            credentials: credentials.as_deref(),
        };
        let (kind, topics) = match vet(&args, settings, acl_client)? {
            Vetted::Command => {
                let render = render_options(name, cmd.format, head.query())?;
                self.check_page_type(&render)?;
                return Ok(Step::Call(Call {
                    db: cmd.db,
                    args,
                    read: Reader::Webdis(Box::new(Reply {
                        render,
                        if_none_match: match head.method {
                            Method::Get | Method::Head => {
                                head.header("if-none-match").map(<[u8]>::to_vec)
                            }
                            _ => None,
                        },
                        max_body: self.max_reply,
                    })),
                }));
            }
            Vetted::Subscribe(kind, topics) => (kind, topics),
            Vetted::Unsubscribe(..) => {
                return Err(Error::Forbidden(format!(
                    "{} is not available through the gateway: {}",
                    String::from_utf8_lossy(&name),
                    crate::webdis::refusal(&name).unwrap_or_default()
                )))
            }
        };
        if head.method == Method::Head {
            // The answer to a subscription is a body that never ends: there is no head of it to
            // give alone.
            return Err(Error::MethodNotAllowed("GET"));
        }
        if head.version != Version::Http11 {
            return Err(Error::BadRequest(
                "a subscription is streamed with chunked encoding: use HTTP/1.1".into(),
            ));
        }
        let render = render_options(name, cmd.format, head.query())?;
        self.check_page_type(&render)?;
        let content_type = render.content_type().to_string();
        Ok(Step::Subscribe(Subscription {
            head: Response::empty(200).with_header("Content-Type", content_type),
            kind,
            topics,
            format: Arc::new(ChunkEvents::new(render)),
        }))
    }
}

impl Webdis {
    /// With `--webdis-allow-html off`, refuses an answer a browser would render as a page.
    fn check_page_type(&self, render: &Render) -> Result<(), Error> {
        if self.allow_html || !renders_as_page(render.content_type()) {
            return Ok(());
        }
        Err(Error::Forbidden(format!(
            "answers of type {} are off (--webdis-allow-html off): a stored value would run as \
             a page of this origin",
            render.content_type()
        )))
    }
}

/// True for a media type a browser renders as a document that can run script: HTML, XHTML,
/// XML (any `+xml`), SVG.
fn renders_as_page(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.contains("html") || essence.ends_with("xml") || essence.contains("svg")
}

/// The `user:password` of an `Authorization: Basic …` header.
fn basic_credentials(header: Option<&[u8]>) -> Option<Vec<u8>> {
    let value = header?;
    let (scheme, rest) = value.split_at(value.iter().position(|&b| b == b' ')?);
    if !scheme.eq_ignore_ascii_case(b"Basic") {
        return None;
    }
    base64::decode(rest.trim_ascii())
}

/// Reads `?jsonp=`/`?callback=`, `?sep=` and `?type=` (other parameters are ignored, as webdis
/// does).
fn render_options(command: Vec<u8>, format: Format, query: Option<&[u8]>) -> Result<Render, Error> {
    let mut render = Render {
        command,
        format,
        jsonp: None,
        sep: Vec::new(),
        content_type: None,
    };
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return Ok(render);
    };
    // Only the parameters webdis reads are decoded: another one, even malformed (`?x=100%`),
    // is ignored, as webdis ignores it.
    for pair in query.split(|&b| b == b'&') {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (
                pair.get(..eq).unwrap_or_default(),
                pair.get(eq + 1..).unwrap_or_default(),
            ),
            None => (pair, &[][..]),
        };
        if !matches!(name, b"jsonp" | b"callback" | b"sep" | b"type") {
            continue;
        }
        let value = url::percent_decode(value, url::Plus::Space).map_err(|e| {
            Error::BadRequest(format!("{e} in ?{}=", String::from_utf8_lossy(name)))
        })?;
        match name {
            b"jsonp" | b"callback" => {
                // The name is written into a script: letters, digits, `_`, `$` and `.` only, so a
                // query string cannot inject code.
                let ok = !value.is_empty()
                    && value.len() <= 128
                    && value
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || b"_$.".contains(b));
                if !ok {
                    return Err(Error::BadRequest(
                        "the JSONP function name may hold letters, digits, '_', '$' and '.'".into(),
                    ));
                }
                render.jsonp = Some(String::from_utf8_lossy(&value).into_owned());
            }
            b"sep" => render.sep = value,
            b"type" => {
                // Written into a header: visible ASCII only, so no header can be injected.
                let ok = !value.is_empty()
                    && value.len() <= 128
                    && value.iter().all(|b| (0x20..0x7f).contains(b));
                if !ok {
                    return Err(Error::BadRequest(
                        "?type= must be a media type such as application/pdf".into(),
                    ));
                }
                render.content_type = Some(String::from_utf8_lossy(&value).into_owned());
            }
            _ => {}
        }
    }
    Ok(render)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_match_strong_weak_lists_and_star() {
        let tag = "\"abc\"";
        assert!(etag_matches(b"\"abc\"", tag));
        assert!(etag_matches(b"W/\"abc\"", tag));
        assert!(etag_matches(b"\"x\", \"abc\"", tag));
        assert!(etag_matches(b"*", tag));
        assert!(!etag_matches(b"\"abd\"", tag));
        assert!(!etag_matches(b"abc", tag));
    }

    #[test]
    fn basic_credentials_are_decoded() {
        assert_eq!(
            basic_credentials(Some(b"Basic dXNlcjpwYXNzd29yZA==")),
            Some(b"user:password".to_vec())
        );
        assert_eq!(
            basic_credentials(Some(b"basic  dXNlcjpwYXNzd29yZA==")),
            Some(b"user:password".to_vec())
        );
        assert_eq!(basic_credentials(Some(b"Bearer xyz")), None);
        assert_eq!(basic_credentials(Some(b"Basic !!!")), None);
        assert_eq!(basic_credentials(None), None);
    }

    #[test]
    fn page_types_are_recognized() {
        for page in [
            "text/html",
            "TEXT/HTML; charset=utf-8",
            "application/xhtml+xml",
            "text/xml",
            "application/xml",
            "image/svg+xml",
            "application/rss+xml",
        ] {
            assert!(renders_as_page(page), "{page}");
        }
        for data in [
            "application/json",
            "text/plain",
            "image/png",
            "binary/octet-stream",
            "application/javascript",
            "text/csv",
        ] {
            assert!(!renders_as_page(data), "{data}");
        }
    }

    #[test]
    fn jsonp_and_type_cannot_inject() {
        assert!(render_options(b"GET".to_vec(), Format::Json, Some(b"jsonp=a.b_c$1")).is_ok());
        assert!(render_options(b"GET".to_vec(), Format::Json, Some(b"jsonp=alert(1)")).is_err());
        assert!(render_options(b"GET".to_vec(), Format::Json, Some(b"type=a%0d%0aX:1")).is_err());
        let r = render_options(
            b"GET".to_vec(),
            Format::Json,
            Some(b"sep=%2C%20&type=text/csv"),
        )
        .unwrap();
        assert_eq!(r.sep, b", ");
        assert_eq!(r.content_type.as_deref(), Some("text/csv"));
    }

    #[test]
    fn a_websocket_path_ending_in_raw_speaks_resp() {
        for (path, wire) in [
            (&b"/"[..], Wire::Json),
            (b"/.json", Wire::Json),
            (b"/any/path", Wire::Json),
            (b"/.raw", Wire::Resp),
            (b"/socket.raw", Wire::Resp),
            (b"/a.raw/b", Wire::Json),
        ] {
            assert_eq!(socket_wire(path), wire, "{}", String::from_utf8_lossy(path));
        }
    }
}
