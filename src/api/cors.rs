//! Which web pages may use an API: the `Origin` check against cross-site request forgery, and
//! the CORS headers that let a listed page read the answers. Every API of the data listener uses it.
//!
//! A browser puts `Origin` on every request a page makes that could change something (and on
//! every CORS request); curl, scripts and other servers send none. So:
//!
//! * a request without `Origin` is never refused here;
//! * a state-changing request (any method but `GET`, `HEAD`, `OPTIONS`) from an origin that is
//!   not listed in `--allow-origin` gets 403 before anything runs ([`Error::CrossOrigin`]);
//! * an answer to a listed origin carries `Access-Control-Allow-Origin` naming it, and the
//!   methods and headers a preflight (`OPTIONS`) asks about.
//!
//! The webdis API without `--allow-origin` keeps webdis's open CORS ([`Policy::Any`]).

use super::Error;
use crate::http::response::Response;
use crate::http::{origin, Head, Method};

/// Which origins a page may come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// These (serialized) origins only; empty: none.
    Listed(Vec<String>),
    /// Any page (webdis's default): `Access-Control-Allow-Origin: *`, nothing refused.
    Any,
}

/// An API's origin policy and the CORS answers it gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// Whose pages.
    pub policy: Policy,
    /// `Access-Control-Allow-Methods`.
    pub methods: &'static str,
    /// `Access-Control-Allow-Headers`.
    pub headers: &'static str,
    /// `Access-Control-Expose-Headers`: answer headers a page may read beyond the usual ones
    /// (empty: none).
    pub expose: &'static str,
}

/// How long a browser may keep the answer of a preflight, in seconds.
pub const PREFLIGHT_MAX_AGE: &str = "600";

impl Cors {
    /// Refuses a state-changing request from a page of an origin that is not allowed.
    ///
    /// # Errors
    ///
    /// [`Error::CrossOrigin`], naming the origin.
    pub fn check(&self, head: &Head) -> Result<(), Error> {
        if matches!(head.method, Method::Get | Method::Head | Method::Options) {
            return Ok(());
        }
        self.check_page(head)
    }

    /// Refuses any request, whatever its method, from a page of an origin that is not allowed:
    /// for a WebSocket handshake (a `GET` after which the page sends commands, and which no CORS
    /// rule stops).
    ///
    /// # Errors
    ///
    /// [`Error::CrossOrigin`], naming the origin.
    pub fn check_page(&self, head: &Head) -> Result<(), Error> {
        let Policy::Listed(allowed) = &self.policy else {
            return Ok(());
        };
        match head.header("origin") {
            Some(origin) if !origin::is_listed(allowed, origin) => Err(Error::CrossOrigin(
                String::from_utf8_lossy(origin).chars().take(200).collect(),
            )),
            _ => Ok(()),
        }
    }

    /// Adds the CORS headers an answer to `head` carries (none for an origin not allowed).
    pub fn decorate(&self, response: Response, head: Option<&Head>) -> Response {
        let allowed = match &self.policy {
            Policy::Any => {
                return response
                    .with_header("Access-Control-Allow-Origin", "*")
                    .with_header("Access-Control-Allow-Methods", self.methods)
                    .with_header("Access-Control-Allow-Headers", self.headers);
            }
            Policy::Listed(allowed) if allowed.is_empty() => return response,
            Policy::Listed(allowed) => allowed,
        };
        // The answer depends on Origin: a cache must not give one page's answer to another.
        let response = response.with_header("Vary", "Origin");
        let Some(head) = head else {
            return response;
        };
        let Some(origin) = head
            .header("origin")
            .filter(|o| origin::is_listed(allowed, o))
        else {
            return response;
        };
        let response = response
            .with_header(
                "Access-Control-Allow-Origin",
                String::from_utf8_lossy(origin).into_owned(),
            )
            .with_header("Access-Control-Allow-Methods", self.methods)
            .with_header("Access-Control-Allow-Headers", self.headers);
        let response = if self.expose.is_empty() {
            response
        } else {
            response.with_header("Access-Control-Expose-Headers", self.expose)
        };
        if head.method == Method::Options {
            response.with_header("Access-Control-Max-Age", PREFLIGHT_MAX_AGE)
        } else {
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Framing, Header, Version};

    fn head(method: Method, origin: Option<&str>) -> Head {
        Head {
            method,
            target: b"/k".to_vec(),
            version: Version::Http11,
            headers: origin
                .map(|o| Header {
                    name: b"Origin".to_vec(),
                    value: o.as_bytes().to_vec(),
                })
                .into_iter()
                .collect(),
            framing: Framing::None,
            keep_alive: true,
            expect_continue: false,
        }
    }

    fn listed() -> Cors {
        Cors {
            policy: Policy::Listed(vec!["https://app.example".into()]),
            methods: "GET, PUT",
            headers: "Content-Type",
            expose: "",
        }
    }

    fn has(response: &Response, name: &str, value: &str) -> bool {
        response
            .headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case(name) && v == value)
    }

    #[test]
    fn only_unlisted_pages_changing_data_are_refused() {
        let cors = listed();
        assert!(cors.check(&head(Method::Put, None)).is_ok());
        assert!(cors
            .check(&head(Method::Put, Some("https://app.example")))
            .is_ok());
        assert!(cors
            .check(&head(Method::Get, Some("https://evil.example")))
            .is_ok());
        assert!(cors.check(&head(Method::Options, Some("null"))).is_ok());
        for method in [Method::Put, Method::Post, Method::Delete] {
            let refused = cors.check(&head(method, Some("https://evil.example")));
            assert!(matches!(refused, Err(Error::CrossOrigin(_))));
        }
        assert!(cors.check(&head(Method::Post, Some("null"))).is_err());
        let none = Cors {
            policy: Policy::Listed(Vec::new()),
            ..listed()
        };
        assert!(none
            .check(&head(Method::Delete, Some("https://app.example")))
            .is_err());
        let any = Cors {
            policy: Policy::Any,
            ..listed()
        };
        assert!(any
            .check(&head(Method::Post, Some("https://evil.example")))
            .is_ok());
    }

    #[test]
    fn listed_origins_get_cors_headers_and_others_do_not() {
        let cors = listed();
        let ok = cors.decorate(
            Response::empty(204),
            Some(&head(Method::Options, Some("https://app.example"))),
        );
        assert!(has(
            &ok,
            "Access-Control-Allow-Origin",
            "https://app.example"
        ));
        assert!(has(&ok, "Vary", "Origin"));
        assert!(has(&ok, "Access-Control-Allow-Methods", "GET, PUT"));
        assert!(has(&ok, "Access-Control-Max-Age", PREFLIGHT_MAX_AGE));
        let other = cors.decorate(
            Response::empty(204),
            Some(&head(Method::Get, Some("https://evil.example"))),
        );
        assert!(!other
            .headers
            .iter()
            .any(|(n, _)| n.starts_with("Access-Control")));
        let any = Cors {
            policy: Policy::Any,
            ..listed()
        };
        assert!(has(
            &any.decorate(Response::empty(200), None),
            "Access-Control-Allow-Origin",
            "*"
        ));
        let none = Cors {
            policy: Policy::Listed(Vec::new()),
            ..listed()
        };
        assert!(none.decorate(Response::empty(200), None).headers.is_empty());
    }
}
