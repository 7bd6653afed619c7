//! A raw HTTP/1.1 client for tests: requests are bytes the test chooses, responses are parsed strictly enough
//! to catch framing bugs (one response consumed exactly, body length from `Content-Length`).
//!
//! The head is read one byte at a time so that nothing past one response is consumed: pipelined responses stay
//! in the socket for the next `read_response`.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Timeout of every connect, read and write of the test client.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest response head the client accepts before calling the response malformed.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// One parsed HTTP response.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    /// `HTTP/1.1`
    pub version: String,
    /// `200`
    pub status: u16,
    /// `OK`
    pub reason: String,
    /// In order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Exactly `Content-Length` bytes (empty for HEAD, 1xx, 204, 304).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header named `name` (case-insensitive).
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// True when the response says `Connection: close`.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }

    /// The comma-separated tokens of the `Allow` header, uppercased.
    pub fn allow(&self) -> Vec<String> {
        self.header("allow")
            .map(|v| {
                v.split(',')
                    .map(|t| t.trim().to_ascii_uppercase())
                    .filter(|t| !t.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {} {}", self.version, self.status, self.reason)?;
        for (name, value) in &self.headers {
            writeln!(f, "{name}: {value}")?;
        }
        let shown = &self.body[..self.body.len().min(300)];
        write!(f, "\n{:?}", String::from_utf8_lossy(shown))?;
        if self.body.len() > shown.len() {
            write!(f, "... ({} bytes in all)", self.body.len())?;
        }
        Ok(())
    }
}

/// Connects with timeouts on connect, reads and writes.
///
/// # Panics
/// When the connection fails.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .expect("set_read_timeout");
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .expect("set_write_timeout");
    stream
}

/// Writes all of `bytes`.
///
/// # Panics
/// When the write fails.
pub fn send(stream: &mut TcpStream, bytes: &[u8]) {
    stream
        .write_all(bytes)
        .unwrap_or_else(|e| panic!("write {} bytes: {e}", bytes.len()));
}

/// `METHOD PATH HTTP/1.1`, `Host: t`, the given headers, `Content-Length` when there is a body or the
/// method is PUT or POST, then the body.
pub fn format_request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    format_request_to("t", method, path, headers, body)
}

/// Like [`format_request`], with `Host: HOST` (the functions that know where they connect send
/// its address, as curl does: the admin listener refuses a `Host` that does not name it).
pub fn format_request_to(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "PUT" || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Sends one keep-alive request on a fresh connection and reads one response (no body for HEAD).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = connect(addr);
    request_on(&mut stream, method, path, headers, body)
}

/// Like [`request`], but every failure (connect, write, read, parse) is an `Err` with a description.
pub fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, String> {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| format!("set timeouts: {e}"))?;
    stream
        .write_all(&format_request_to(
            &addr.to_string(),
            method,
            path,
            headers,
            body,
        ))
        .map_err(|e| format!("write {method} {path}: {e}"))?;
    try_read_response(&mut stream, method == "HEAD")
}

/// Sends one request on `stream` and reads one response (no body for HEAD).
pub fn request_on(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let host = stream
        .peer_addr()
        .map_or_else(|_| "t".to_string(), |a| a.to_string());
    send(
        stream,
        &format_request_to(&host, method, path, headers, body),
    );
    let response = if method == "HEAD" {
        read_head_response(stream)
    } else {
        read_response(stream)
    };
    response.unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// A keep-alive client that behaves as HTTP clients must: after an answer that says
/// `Connection: close` it opens a new connection for the next request (RFC 9112 §9.6). A
/// connection the gateway closes without having said so is an error: that is what it catches.
#[derive(Debug)]
pub struct KeepAlive {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    /// Answers that said `Connection: close` (each followed by a new connection).
    pub announced_closes: usize,
}

impl KeepAlive {
    /// A client of `addr`; it connects with its first request.
    pub fn new(addr: SocketAddr) -> KeepAlive {
        KeepAlive {
            addr,
            stream: None,
            announced_closes: 0,
        }
    }

    /// Sends one request and reads its answer (no body for HEAD).
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, String> {
        self.send_raw(
            &format_request_to(&self.addr.to_string(), method, path, headers, body),
            method == "HEAD",
        )
        .map_err(|e| format!("{method} {path}: {e}"))
    }

    /// Opens a connection now, unless one is open.
    pub fn open(&mut self) -> Result<&mut TcpStream, String> {
        if self.stream.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT)
                .and_then(|s| {
                    s.set_read_timeout(Some(IO_TIMEOUT))?;
                    s.set_write_timeout(Some(IO_TIMEOUT))?;
                    Ok(s)
                })
                .map_err(|e| format!("connect to {}: {e}", self.addr))?;
            self.stream = Some(stream);
        }
        self.stream
            .as_mut()
            .ok_or_else(|| "no connection".to_string())
    }

    /// Sends `bytes` (one request) and reads one answer.
    pub fn send_raw(&mut self, bytes: &[u8], head_only: bool) -> Result<Response, String> {
        let stream = self.open()?;
        stream
            .write_all(bytes)
            .map_err(|e| format!("write on a connection the gateway kept open: {e}"))?;
        let response = try_read_response(stream, head_only)?;
        if response.closes() {
            self.announced_closes += 1;
            self.stream = None;
        }
        Ok(response)
    }

    /// The open connection, if any (to send raw bytes on it).
    pub fn stream(&mut self) -> Option<&mut TcpStream> {
        self.stream.as_mut()
    }
}

/// Reads exactly `HTTP/1.1 100 Continue` and its blank line: what a client that sent
/// `Expect: 100-continue` waits for before it sends the body.
#[track_caller]
pub fn expect_continue(stream: &mut TcpStream) {
    let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
    let mut got = vec![0u8; interim.len()];
    stream
        .read_exact(&mut got)
        .unwrap_or_else(|e| panic!("no 100 Continue before the body: {e}"));
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(interim)
    );
}

/// Reads exactly one response whose body follows `Content-Length`.
pub fn read_response(stream: &mut TcpStream) -> Result<Response, String> {
    try_read_response(stream, false)
}

/// Reads exactly one response to a HEAD request (headers only, whatever `Content-Length` says).
pub fn read_head_response(stream: &mut TcpStream) -> Result<Response, String> {
    try_read_response(stream, true)
}

/// Reads one response; `head_request` means there is no body to read. Errors describe what was received.
pub fn try_read_response(stream: &mut TcpStream, head_request: bool) -> Result<Response, String> {
    let head = read_head(stream)?;
    let text = String::from_utf8(head.clone()).map_err(|_| {
        format!(
            "response head is not UTF-8: {:?}",
            String::from_utf8_lossy(&head)
        )
    })?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default().to_string();
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?} in {text:?}"))?;
    let reason = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?} in {text:?}"))?;
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut response = Response {
        version,
        status,
        reason,
        headers,
        body: Vec::new(),
    };
    let no_body = head_request || status < 200 || status == 204 || status == 304;
    if !no_body {
        if let Some(length) = response.header("content-length") {
            let length: usize = length
                .parse()
                .map_err(|_| format!("bad Content-Length in response:\n{response:?}"))?;
            let mut body = vec![0; length];
            stream.read_exact(&mut body).map_err(|e| {
                format!("reading a {length}-byte body failed ({e}) after head:\n{response:?}")
            })?;
            response.body = body;
        }
    }
    Ok(response)
}

/// Reads up to and including the blank line, one byte at a time.
fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) => {
                return Err(format!(
                    "connection closed {} (received {:?})",
                    if head.is_empty() {
                        "before any response"
                    } else {
                        "inside a response head"
                    },
                    String::from_utf8_lossy(&head)
                ))
            }
            Ok(_) => head.push(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(format!(
                    "reading the response head failed: {e} (received {:?})",
                    String::from_utf8_lossy(&head)
                ))
            }
        }
        if head.len() > MAX_RESPONSE_HEAD {
            return Err(format!(
                "response head longer than {MAX_RESPONSE_HEAD} bytes"
            ));
        }
    }
    Ok(head)
}

/// What a socket did while a test waited for the peer to close it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// Read returned 0: orderly close.
    Eof,
    /// Read failed with an error other than a timeout (e.g. reset).
    Reset(String),
    /// Bytes arrived instead.
    Data(Vec<u8>),
    /// Nothing happened before the deadline.
    StillOpen,
}

/// Waits up to `timeout` for the peer to close the socket, or for bytes.
pub fn wait_closed(stream: &mut TcpStream, timeout: Duration) -> Closed {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Closed::StillOpen;
        }
        stream
            .set_read_timeout(Some(left))
            .expect("set_read_timeout");
        let outcome = stream.read(&mut buf);
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("set_read_timeout");
        return match outcome {
            Ok(0) => Closed::Eof,
            Ok(n) => Closed::Data(buf[..n].to_vec()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Closed::StillOpen
            }
            Err(e) => Closed::Reset(e.to_string()),
        };
    }
}

/// True when the peer closes the socket (EOF or reset) within 3 s without sending more bytes.
pub fn is_closed(stream: &mut TcpStream) -> bool {
    matches!(
        wait_closed(stream, Duration::from_secs(3)),
        Closed::Eof | Closed::Reset(_)
    )
}

/// Asserts the status, showing the whole response when it differs.
#[track_caller]
pub fn expect_status(response: &Response, status: u16) {
    assert_eq!(
        response.status, status,
        "expected status {status}, got response:\n{response:?}"
    );
}

/// Asserts what every response must carry: `HTTP/1.1`, `Content-Length` equal to the body read (unless HEAD,
/// 1xx or 204), `Date`, and `Server: redis-gateway/0.1.0`.
#[track_caller]
pub fn expect_common_headers(response: &Response) {
    assert_eq!(
        response.version, "HTTP/1.1",
        "response version:\n{response:?}"
    );
    assert!(
        response.header("date").is_some(),
        "no Date header:\n{response:?}"
    );
    assert_eq!(
        response.header("server"),
        Some("redis-gateway/0.1.0"),
        "Server header:\n{response:?}"
    );
    if response.status >= 200 && response.status != 204 {
        assert!(
            response.header("content-length").is_some(),
            "no Content-Length:\n{response:?}"
        );
    }
    assert_eq!(
        response.headers_named("content-length").len().min(1),
        response.headers_named("content-length").len(),
        "more than one Content-Length:\n{response:?}"
    );
}

/// Asserts an error response has a short `text/plain` body ("Error bodies are short text/plain").
#[track_caller]
pub fn expect_text_error(response: &Response) {
    assert!(
        response
            .header("content-type")
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("text/plain")),
        "error response must be text/plain:\n{response:?}"
    );
    assert!(
        !response.body.is_empty() && response.body.len() <= 1024,
        "error body must be short text:\n{response:?}"
    );
}
