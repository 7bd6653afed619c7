//! The parsed form of an HTTP/1.1 request: plain data, no parsing and no I/O.
//!
//! [`mod@super::parse`] builds these values only after it has checked every byte of the head, so a
//! [`Head`] always holds a well-formed request line, well-formed fields and a framing decision
//! (RFC 9112 §6.3). Names and values stay bytes: HTTP field values are not necessarily UTF-8.

/// The protocol version from the request line; only the two this gateway speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `HTTP/1.0`: the connection closes after the response unless the client asks otherwise.
    Http10,
    /// `HTTP/1.1`: the connection stays open unless a side says `Connection: close`.
    Http11,
}

/// The request method (RFC 9110 §9). Method names are case-sensitive: `get` is `Other("get")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
    /// Any other valid token, e.g. `PATCH`, exactly as sent.
    Other(String),
}

impl Method {
    /// The method name as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other(name) => name,
        }
    }

    /// The method named by `token`, which the parser has already checked is a `token`
    /// (ASCII only, so the lossy conversion never loses anything).
    pub(crate) fn from_token(token: &[u8]) -> Method {
        match token {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"OPTIONS" => Method::Options,
            other => Method::Other(String::from_utf8_lossy(other).into_owned()),
        }
    }
}

/// One header field line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The field name as received (compare it ASCII case-insensitively).
    pub name: Vec<u8>,
    /// The field value without its leading and trailing spaces and tabs.
    pub value: Vec<u8>,
}

/// How the request body is delimited on the wire (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Neither `Content-Length` nor `Transfer-Encoding`: the request has no body.
    None,
    /// `Content-Length: n`: exactly `n` bytes follow the head.
    Length(usize),
    /// `Transfer-Encoding: chunked`: chunks follow, up to the last chunk and the trailer section.
    Chunked,
}

/// Everything before the body: request line, header fields and what they decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The method from the request line.
    pub method: Method,
    /// The request target in origin-form (`/path?query`, bytes exactly as sent) or `*` for
    /// `OPTIONS *`. An absolute-form target `http://host[:port]/p?q` is reduced to `/p?q`
    /// (`/` when its path is empty).
    pub target: Vec<u8>,
    /// The protocol version from the request line.
    pub version: Version,
    /// The header fields in the order received.
    pub headers: Vec<Header>,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the connection may stay open after the response. HTTP/1.1: true unless a
    /// `Connection` token is `close`; HTTP/1.0: false unless a `Connection` token is
    /// `keep-alive` (and none is `close`).
    pub keep_alive: bool,
    /// The client sent `Expect: 100-continue` in an HTTP/1.1 request and waits for an interim
    /// `100 Continue` before sending the body (RFC 9110 §10.1.1; ignored for HTTP/1.0).
    pub expect_continue: bool,
}

impl Head {
    /// The value of the first header field called `name`, compared ASCII case-insensitively.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|header| header.value.as_slice())
    }

    /// The target up to (not including) the first `?`.
    pub fn path(&self) -> &[u8] {
        match self.target.iter().position(|&b| b == b'?') {
            Some(end) => self.target.get(..end).unwrap_or(&[]),
            None => &self.target,
        }
    }

    /// The target after the first `?`, if there is one (possibly empty).
    pub fn query(&self) -> Option<&[u8]> {
        let start = self.target.iter().position(|&b| b == b'?')?;
        self.target.get(start + 1..)
    }
}

/// A complete request: its head and its decoded body (chunk framing removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Request line and header fields.
    pub head: Head,
    /// The payload; empty when the request has no body.
    pub body: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_with(target: &[u8], headers: &[(&str, &str)]) -> Head {
        Head {
            method: Method::Get,
            target: target.to_vec(),
            version: Version::Http11,
            headers: headers
                .iter()
                .map(|(name, value)| Header {
                    name: name.as_bytes().to_vec(),
                    value: value.as_bytes().to_vec(),
                })
                .collect(),
            framing: Framing::None,
            keep_alive: true,
            expect_continue: false,
        }
    }

    #[test]
    fn method_names_round_trip_and_are_case_sensitive() {
        for name in [
            "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "get",
        ] {
            assert_eq!(Method::from_token(name.as_bytes()).as_str(), name);
        }
        assert_eq!(Method::from_token(b"GET"), Method::Get);
        assert_eq!(Method::from_token(b"get"), Method::Other("get".to_string()));
    }

    #[test]
    fn header_lookup_ignores_case_and_returns_the_first() {
        let head = head_with(b"/", &[("Host", "a"), ("X-Two", "1"), ("x-two", "2")]);
        assert_eq!(head.header("host"), Some(&b"a"[..]));
        assert_eq!(head.header("X-TWO"), Some(&b"1"[..]));
        assert_eq!(head.header("missing"), None);
    }

    #[test]
    fn path_and_query_split_at_the_first_question_mark() {
        type Case<'a> = (&'a [u8], &'a [u8], Option<&'a [u8]>);
        let cases: &[Case<'_>] = &[
            (b"/", b"/", None),
            (b"/a/b", b"/a/b", None),
            (b"/a?", b"/a", Some(b"")),
            (b"/a?x=1?y", b"/a", Some(b"x=1?y")),
            (b"*", b"*", None),
        ];
        for &(target, path, query) in cases {
            let head = head_with(target, &[]);
            assert_eq!(head.path(), path, "{target:?}");
            assert_eq!(head.query(), query, "{target:?}");
        }
    }
}
