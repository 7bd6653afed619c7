//! The admin endpoints, served on `--admin ADDR:PORT` only (never on the data port, so they can
//! never shadow a key):
//!
//! ```text
//!   GET  /healthz    200 when at least one Redis connection is live, else 503; JSON details
//!   GET  /metrics    Prometheus text format 0.0.4
//!   POST /shutdown   202; the gateway drains (finishes requests in flight) and exits 0
//! ```

use crate::http::response::Response;
use crate::http::{Method, Request};
use crate::metrics::{Metrics, Snapshot};

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
pub fn handle(req: &Request, now: &Snapshot, metrics: &Metrics) -> Admin {
    let path = req.head.path();
    let method = &req.head.method;
    let answer = match (path, method) {
        (b"/healthz", Method::Get | Method::Head) => health(now),
        (b"/metrics", Method::Get | Method::Head) => {
            Response::bytes(200, METRICS_TYPE, metrics.render(now).into_bytes())
        }
        (b"/shutdown", Method::Post) => {
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
