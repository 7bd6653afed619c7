//! The admin endpoints, served on `--admin ADDR:PORT` only (never on the data port, so they can
//! never shadow a key):
//!
//! ```text
//!   GET  /healthz    200 when at least one Redis connection is live, else 503; JSON details
//!   GET  /metrics    Prometheus text format 0.0.4
//!   POST /shutdown   202; the gateway drains (finishes requests in flight) and exits 0
//! ```
//!
//! The doors ([`Doors`]), so that no web page can reach them through a visitor's browser:
//!
//! * every request's `Host` must name the listener itself (its address as bound,
//!   `localhost:PORT`, `127.0.0.1:PORT`, `[::1]:PORT`; any IP literal with its port when bound to
//!   all addresses), else 421: a page that rebinds its DNS name to the listener sends its own name;
//! * `POST /shutdown` carrying `Origin` (sent by browsers, never by curl) gets 403;
//! * `POST /shutdown` must be a request no page can send without a CORS preflight (which the
//!   listener never grants): it carries [`SHUTDOWN_HEADER`]`: shutdown`, or, with
//!   `--admin-token T`, `Authorization: Bearer T` (compared in constant time), else 403 / 401.

use std::net::SocketAddr;

use super::Error;
use crate::config::{Config, Secret};
use crate::http::credentials::{bearer, ct_eq};
use crate::http::response::Response;
use crate::http::{Method, Request, Version};
use crate::metrics::{Metrics, Snapshot};

/// The custom header `POST /shutdown` carries when no `--admin-token` is set; its value must be
/// `shutdown`. A page cannot add it to a cross-origin request without a preflight.
pub const SHUTDOWN_HEADER: &str = "X-Redis-Gateway";

/// What an admin request must show to be served: the names of the listener and the token.
#[derive(Debug, Clone)]
pub struct Doors {
    /// `Host` values naming the listener, in lower case.
    hosts: Vec<String>,
    /// Bound to all addresses: any IP literal with this port is the listener too.
    any_ip_port: Option<u16>,
    /// `--admin-token`.
    token: Option<Secret>,
}

impl Doors {
    /// The doors of an admin listener bound to `bound`, as `cfg` sets them.
    pub fn new(bound: SocketAddr, cfg: &Config) -> Doors {
        let port = bound.port();
        let mut hosts = vec![
            bound.to_string(),
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
        ];
        if let Some(configured) = cfg.admin {
            hosts.push(configured.to_string());
        }
        if port == 80 {
            // A browser leaves out the default port.
            hosts.extend(["localhost", "127.0.0.1", "[::1]"].map(String::from));
            hosts.push(bound.ip().to_string());
        }
        Doors {
            hosts,
            any_ip_port: bound.ip().is_unspecified().then_some(port),
            token: cfg.admin_token.clone(),
        }
    }

    /// Whether `host` (a `Host` value) names the listener.
    fn names_me(&self, host: &[u8]) -> bool {
        let Ok(host) = std::str::from_utf8(host) else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        if self.hosts.contains(&host) {
            return true;
        }
        // Bound to all addresses: an IP literal (never a DNS name, which a page could rebind).
        self.any_ip_port
            .is_some_and(|port| host.parse::<SocketAddr>().is_ok_and(|a| a.port() == port))
    }

    /// Refuses a request that does not name the listener in `Host`.
    fn check_host(&self, req: &Request) -> Result<(), Error> {
        match req.head.header("host") {
            Some(host) if self.names_me(host) => Ok(()),
            Some(host) => Err(Error::WrongHost(
                String::from_utf8_lossy(host).chars().take(200).collect(),
            )),
            None if req.head.version == Version::Http11 => Err(Error::MissingHost),
            None => Ok(()),
        }
    }

    /// Refuses a `POST /shutdown` a web page could have sent.
    fn check_shutdown(&self, req: &Request) -> Result<(), Error> {
        let head = &req.head;
        if head.header("origin").is_some() {
            return Err(Error::ShutdownRefused(
                "POST /shutdown is refused from a web page (the request carries Origin)",
            ));
        }
        match &self.token {
            Some(token) => {
                let given = head.header("authorization").and_then(bearer);
                match given {
                    Some(given) if ct_eq(token.expose(), given) => Ok(()),
                    _ => Err(Error::AdminUnauthorized),
                }
            }
            None if head
                .header(SHUTDOWN_HEADER)
                .is_some_and(|v| v.eq_ignore_ascii_case(b"shutdown")) =>
            {
                Ok(())
            }
            None => Err(Error::ShutdownRefused(
                "POST /shutdown needs the header 'X-Redis-Gateway: shutdown' \
                 (so that no web page can send it)",
            )),
        }
    }
}

/// `Content-Type` of the Prometheus text exposition format.
pub const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What an admin request asks for.
#[derive(Debug)]
pub enum Admin {
    /// Answer this.
    Answer(Response),
    /// Answer this, then drain and exit.
    Shutdown(Response),
}

/// Serves one admin request, given the gateway's state now.
pub fn handle(req: &Request, doors: &Doors, now: &Snapshot, metrics: &Metrics) -> Admin {
    if let Err(e) = doors.check_host(req) {
        return Admin::Answer(e.into_response());
    }
    let path = req.head.path();
    let method = &req.head.method;
    let answer = match (path, method) {
        (b"/healthz", Method::Get | Method::Head) => health(now),
        (b"/metrics", Method::Get | Method::Head) => {
            Response::bytes(200, METRICS_TYPE, metrics.render(now).into_bytes())
        }
        (b"/shutdown", Method::Post) => {
            if let Err(e) = doors.check_shutdown(req) {
                return Admin::Answer(e.into_response());
            }
            let body = b"draining: finishing requests in flight, then exiting\n".to_vec();
            return Admin::Shutdown(
                Response::bytes(202, crate::http::response::TEXT, body).closing(),
            );
        }
        (b"/healthz" | b"/metrics", _) => Response::text(405, "use GET")
            .with_header("Allow", "GET, HEAD")
            .closing(),
        (b"/shutdown", _) => Response::text(405, "use POST")
            .with_header("Allow", "POST")
            .closing(),
        _ => Response::text(
            404,
            "admin endpoints: GET /healthz, GET /metrics, POST /shutdown",
        ),
    };
    Admin::Answer(answer)
}

/// `/healthz`: healthy while the pool holds at least one live Redis connection.
fn health(now: &Snapshot) -> Response {
    let healthy = now.pool.open > 0;
    let body = format!(
        "{{\"status\":\"{}\",\"pool\":{{\"size\":{},\"open\":{},\"idle\":{},\"in_use\":{}}},\
         \"queue_depth\":{},\"connections\":{},\"uptime_seconds\":{},\"version\":\"{}\"}}\n",
        if healthy { "ok" } else { "unavailable" },
        now.pool.size,
        now.pool.open,
        now.pool.idle,
        now.pool.open.saturating_sub(now.pool.idle),
        now.queue_depth,
        now.open,
        now.uptime.as_secs(),
        env!("CARGO_PKG_VERSION"),
    );
    let response = Response::bytes(
        if healthy { 200 } else { 503 },
        "application/json",
        body.into_bytes(),
    );
    if healthy {
        response
    } else {
        response.with_header("Retry-After", "1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Framing, Head, Header};

    fn req(method: Method, host: Option<&str>, headers: &[(&str, &str)]) -> Request {
        let mut all: Vec<Header> = headers
            .iter()
            .map(|(n, v)| Header {
                name: n.as_bytes().to_vec(),
                value: v.as_bytes().to_vec(),
            })
            .collect();
        if let Some(host) = host {
            all.push(Header {
                name: b"Host".to_vec(),
                value: host.as_bytes().to_vec(),
            });
        }
        Request {
            head: Head {
                method,
                target: b"/shutdown".to_vec(),
                version: Version::Http11,
                headers: all,
                framing: Framing::None,
                keep_alive: true,
                expect_continue: false,
            },
            body: Vec::new(),
        }
    }

    fn doors(bound: &str, token: Option<&str>) -> Doors {
        let cfg = Config {
            admin_token: token.map(|t| Secret::new(t.to_string())),
            ..Config::default()
        };
        Doors::new(bound.parse().unwrap(), &cfg)
    }

    #[test]
    fn the_host_must_name_the_listener() {
        let d = doors("127.0.0.1:9090", None);
        for ok in [
            "127.0.0.1:9090",
            "localhost:9090",
            "LOCALHOST:9090",
            "[::1]:9090",
        ] {
            assert!(d.names_me(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "evil.example:9090",
            "127.0.0.1:9091",
            "127.0.0.1",
            "10.0.0.1:9090",
            "",
        ] {
            assert!(!d.names_me(bad.as_bytes()), "{bad}");
        }
        let any = doors("0.0.0.0:9090", None);
        assert!(any.names_me(b"10.1.2.3:9090"));
        assert!(any.names_me(b"[fd00::1]:9090"));
        assert!(!any.names_me(b"rebound.example:9090"));
        assert!(!any.names_me(b"10.1.2.3:80"));
        let missing = d.check_host(&req(Method::Get, None, &[]));
        assert!(matches!(missing, Err(Error::MissingHost)));
        let wrong = d.check_host(&req(Method::Get, Some("evil.example:9090"), &[]));
        assert!(matches!(wrong, Err(Error::WrongHost(_))));
    }

    #[test]
    fn shutdown_needs_a_request_no_page_can_send() {
        let d = doors("127.0.0.1:9090", None);
        let header = (SHUTDOWN_HEADER, "shutdown");
        assert!(d
            .check_shutdown(&req(Method::Post, None, &[header]))
            .is_ok());
        assert!(d.check_shutdown(&req(Method::Post, None, &[])).is_err());
        let from_page = req(
            Method::Post,
            None,
            &[header, ("Origin", "https://e.example")],
        );
        assert!(matches!(
            d.check_shutdown(&from_page),
            Err(Error::ShutdownRefused(_))
        ));
        let t = doors("127.0.0.1:9090", Some("s3cret"));
        let bearer = ("Authorization", "Bearer s3cret");
        assert!(t
            .check_shutdown(&req(Method::Post, None, &[bearer]))
            .is_ok());
        let wrong = ("Authorization", "Bearer s3creT");
        assert!(matches!(
            t.check_shutdown(&req(Method::Post, None, &[wrong])),
            Err(Error::AdminUnauthorized)
        ));
        // With a token, the custom header alone is not enough.
        assert!(t
            .check_shutdown(&req(Method::Post, None, &[header]))
            .is_err());
    }
}
