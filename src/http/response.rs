//! Writing responses: the status line, the headers every response carries, the body.
//!
//! Every response has `Content-Length`, `Date` and `Server`; `Connection: close` when the
//! connection closes after it. The writer is pure: the caller passes the date text and owns the
//! socket.

use std::io::Write;

/// The `Server` header value.
pub const SERVER: &str = concat!("redis-gateway/", env!("CARGO_PKG_VERSION"));

/// A response ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code, e.g. 200.
    pub status: u16,
    /// The `Content-Type`, or `None` for no body type (e.g. 204).
    pub content_type: Option<&'static str>,
    /// Other headers, e.g. `("Allow", "GET, HEAD")`.
    pub headers: Vec<(&'static str, String)>,
    /// The body; for a `HEAD` request only its length is sent.
    pub body: Vec<u8>,
    /// Whether the connection closes after this response.
    pub close: bool,
}

/// `Content-Type` of short text bodies.
pub const TEXT: &str = "text/plain; charset=utf-8";

impl Response {
    /// A response with a body of the given type.
    pub fn bytes(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
        Response {
            status,
            content_type: Some(content_type),
            headers: Vec::new(),
            body,
            close: false,
        }
    }

    /// A short text response; a newline is added.
    pub fn text(status: u16, message: &str) -> Response {
        let mut body = Vec::with_capacity(message.len() + 1);
        body.extend_from_slice(message.as_bytes());
        body.push(b'\n');
        Response::bytes(status, TEXT, body)
    }

    /// A response without a body (e.g. 204).
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            content_type: None,
            headers: Vec::new(),
            body: Vec::new(),
            close: false,
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// Marks the connection to be closed after this response.
    pub fn closing(mut self) -> Response {
        self.close = true;
        self
    }
}

/// The reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "Unknown",
    }
}

/// Appends the status line and headers of `response` to `out`. `date` is an IMF-fixdate.
///
/// Every response carries `Content-Length`, except 1xx and 204, which RFC 9110 §8.6 forbids
/// to have one (they never have a body), and 304, whose length would be that of the body it
/// stands for (§8.6), which it does not have.
pub fn write_head(response: &Response, date: &str, out: &mut Vec<u8>) {
    let framing = if response.status >= 200 && response.status != 204 && response.status != 304 {
        Some(response.body.len())
    } else {
        None
    };
    head(response, date, framing, out);
}

/// Appends the head of a response whose body follows as chunks of unknown number (a stream of
/// pub/sub messages): `Transfer-Encoding: chunked` instead of `Content-Length`.
pub fn write_chunked_head(response: &Response, date: &str, out: &mut Vec<u8>) {
    head(response, date, None, out);
    // `head` ended with the blank line: put the framing header before it.
    out.truncate(out.len() - 2);
    out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
}

fn head(response: &Response, date: &str, content_length: Option<usize>, out: &mut Vec<u8>) {
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\nServer: {SERVER}\r\nDate: {date}\r\n",
        response.status,
        reason(response.status),
    );
    if let Some(length) = content_length {
        let _ = write!(out, "Content-Length: {length}\r\n");
    }
    if let Some(content_type) = response.content_type {
        let _ = write!(out, "Content-Type: {content_type}\r\n");
    }
    for (name, value) in &response.headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    if response.close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Whether a response's body is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// Sent after the head.
    Send,
    /// Left out (the answer to a `HEAD` request), though `Content-Length` still gives its length.
    Omit,
}

/// Appends the whole response to `out`, its body as `body` says.
pub fn write(response: &Response, body: Body, date: &str, out: &mut Vec<u8>) {
    write_head(response, date, out);
    if body == Body::Send {
        out.extend_from_slice(&response.body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

    #[test]
    fn text_response_is_complete() {
        let mut out = Vec::new();
        write(
            &Response::text(404, "not found").closing(),
            Body::Send,
            DATE,
            &mut out,
        );
        let expected = format!(
            "HTTP/1.1 404 Not Found\r\nServer: {SERVER}\r\nDate: {DATE}\r\nContent-Length: 10\r\n\
             Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nnot found\n"
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn head_only_keeps_the_length_but_not_the_body() {
        let mut out = Vec::new();
        let response = Response::bytes(200, "application/octet-stream", b"abc".to_vec());
        write(&response, Body::Omit, DATE, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Content-Length: 3\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn extra_headers_are_written_in_order() {
        let mut out = Vec::new();
        let response = Response::empty(405)
            .with_header("Allow", "GET, HEAD")
            .with_header("Retry-After", "1");
        write(&response, Body::Send, DATE, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Content-Length: 0\r\nAllow: GET, HEAD\r\nRetry-After: 1\r\n\r\n"));
    }

    #[test]
    fn no_content_has_no_content_length() {
        // RFC 9110 §8.6: a 204 response must not carry Content-Length.
        let mut out = Vec::new();
        write(&Response::empty(204), Body::Send, DATE, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("Content-Length"), "{text}");
        assert!(text.ends_with(&format!("Date: {DATE}\r\n\r\n")), "{text}");
    }

    #[test]
    fn every_status_we_send_has_a_reason() {
        for status in [
            100, 200, 204, 400, 404, 405, 408, 409, 413, 414, 415, 417, 431, 500, 501,
        ]
        .into_iter()
        .chain([502, 503, 504, 505, 507])
        {
            assert_ne!(reason(status), "Unknown", "{status}");
        }
    }
}
