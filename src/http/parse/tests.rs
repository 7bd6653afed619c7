//! Tests of the parser against a table of requests (`CASES`: accepted, refused, partial), and of
//! what an accepted request means: method, target, version, framing, keep-alive, body.

use super::*;
use crate::http::request::{Header, Method, Version};

/// The limits the product uses (see `config.rs`).
pub(super) fn limits() -> Limits {
    Limits {
        max_request_line: 8 * 1024,
        max_head_bytes: 16 * 1024,
        max_headers: 100,
        max_body_bytes: 64 * 1024 * 1024,
    }
}

/// What `parse` should answer for one table row.
#[derive(Debug, Clone)]
enum Want {
    /// The whole input is one request.
    Whole,
    /// The first `n` bytes are one request (more follow).
    Used(usize),
    /// Any 400.
    Bad,
    /// Exactly this error.
    Fails(ParseError),
    /// A valid prefix.
    Partial,
}

const BODY_TOO_LARGE: &[u8] = b"POST / HTTP/1.1\r\nContent-Length: 67108865\r\n\r\n";

#[rustfmt::skip]
const CASES: &[(&str, &[u8], Want)] = &[
    // Accepted.
    ("simple get", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Want::Whole),
    ("http/1.0 without host", b"GET /x HTTP/1.0\r\n\r\n", Want::Whole),
    ("no header fields", b"GET / HTTP/1.1\r\n\r\n", Want::Whole),
    ("one leading empty line", b"\r\nGET / HTTP/1.1\r\n\r\n", Want::Whole),
    ("four leading empty lines", b"\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n", Want::Whole),
    ("pipelined: one request only", b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", Want::Used(19)),
    ("pipelined after a body", b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET / HTTP/1.1\r\n\r\n", Want::Used(40)),
    ("post with content-length", b"POST /SET/k HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", Want::Whole),
    ("head with content-length reads its body", b"HEAD / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", Want::Whole),
    ("content-length zero", b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", Want::Whole),
    ("content-length leading zeros", b"POST / HTTP/1.1\r\nContent-Length: 002\r\n\r\nab", Want::Whole),
    ("content-length with ows", b"POST / HTTP/1.1\r\nContent-Length: \t2 \r\n\r\nab", Want::Whole),
    ("chunked", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", Want::Whole),
    ("chunked upper-case coding and hex", b"POST / HTTP/1.1\r\nTransfer-Encoding: CHUNKED\r\n\r\nA\r\n0123456789\r\n000\r\n\r\n", Want::Whole),
    ("chunked with extensions", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b ; c\r\nabc\r\n1 ;q=\"x \\\" y\"\r\nd\r\n0;last\r\n\r\n", Want::Whole),
    ("chunked with trailers", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nX-Sum: 1\r\nX-Other:\r\n\r\n", Want::Whole),
    ("chunked no data", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Want::Whole),
    ("absolute-form", b"GET http://example.com:8080/a?b HTTP/1.1\r\n\r\n", Want::Whole),
    ("absolute-form https upper-case scheme", b"GET HTTPS://example.com HTTP/1.1\r\n\r\n", Want::Whole),
    ("options asterisk", b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", Want::Whole),
    ("extension method", b"PATCH /k HTTP/1.1\r\n\r\n", Want::Whole),
    ("lower-case method is a token", b"get / HTTP/1.1\r\n\r\n", Want::Whole),
    ("obs-text in value", b"GET / HTTP/1.1\r\nX: caf\xc3\xa9 \xff\r\n\r\n", Want::Whole),
    ("tabs in value", b"GET / HTTP/1.1\r\nX:\ta\tb\t\r\n\r\n", Want::Whole),
    ("empty value", b"GET / HTTP/1.1\r\nX:\r\n\r\n", Want::Whole),
    ("tchar symbols in name", b"GET / HTTP/1.1\r\nX!#$%&'*+-.^_`|~1: v\r\n\r\n", Want::Whole),
    ("odd but legal target bytes", b"GET /a%20b/?x=[1]&y=\"z\"#f HTTP/1.1\r\n\r\n", Want::Whole),
    ("expect 100-continue", b"PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx", Want::Whole),
    ("host with port and ip literal", b"GET / HTTP/1.1\r\nHost: [::1]:6379\r\n\r\n", Want::Whole),
    ("empty host", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", Want::Whole),
    ("several connection headers", b"GET / HTTP/1.1\r\nConnection: a\r\nConnection: b, close\r\n\r\n", Want::Whole),
    // Request line.
    ("tls client hello", b"\x16\x03\x01\x02\x00\x01", Want::Bad),
    ("nul in method", b"GET\0", Want::Bad),
    ("empty method", b" / HTTP/1.1\r\n\r\n", Want::Bad),
    ("lower-case version", b"GET / http/1.1\r\n\r\n", Want::Bad),
    ("three version digits", b"GET / HTTP/1.10\r\n\r\n", Want::Bad),
    ("version without minor", b"GET / HTTP/1\r\n\r\n", Want::Bad),
    ("http/2.0", b"GET / HTTP/2.0\r\n\r\n", Want::Fails(ParseError::UnsupportedVersion)),
    ("http/1.2", b"GET / HTTP/1.2\r\n\r\n", Want::Fails(ParseError::UnsupportedVersion)),
    ("http/0.9", b"GET / HTTP/0.9\r\n\r\n", Want::Fails(ParseError::UnsupportedVersion)),
    ("http/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Want::Fails(ParseError::UnsupportedVersion)),
    ("http/0.9 style request", b"GET /\r\n\r\n", Want::Bad),
    ("method alone", b"GET\r\n\r\n", Want::Bad),
    ("double space", b"GET  / HTTP/1.1\r\n\r\n", Want::Bad),
    ("space after version", b"GET / HTTP/1.1 \r\n\r\n", Want::Bad),
    ("tab as separator", b"GET\t/ HTTP/1.1\r\n\r\n", Want::Bad),
    ("space inside target", b"GET /a b HTTP/1.1\r\n\r\n", Want::Bad),
    ("del in target", b"GET /a\x7f HTTP/1.1\r\n\r\n", Want::Bad),
    ("nul in target", b"GET /\0 HTTP/1.1\r\n\r\n", Want::Bad),
    ("relative target", b"GET foo HTTP/1.1\r\n\r\n", Want::Bad),
    ("asterisk with get", b"GET * HTTP/1.1\r\n\r\n", Want::Bad),
    ("asterisk followed by more", b"OPTIONS *x HTTP/1.1\r\n\r\n", Want::Bad),
    ("other scheme", b"GET ftp://h/ HTTP/1.1\r\n\r\n", Want::Bad),
    ("absolute-form without host", b"GET http:///a HTTP/1.1\r\n\r\n", Want::Bad),
    ("absolute-form with userinfo", b"GET http://u@h/ HTTP/1.1\r\n\r\n", Want::Bad),
    ("authority-form", b"CONNECT h:443 HTTP/1.1\r\n\r\n", Want::Bad),
    ("five leading empty lines", b"\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n", Want::Bad),
    // Line ends.
    ("bare lf after request line", b"GET / HTTP/1.1\n\r\n", Want::Bad),
    ("bare lf ending the head", b"GET / HTTP/1.1\r\nX: 1\r\n\n", Want::Bad),
    ("bare lf after a field", b"GET / HTTP/1.1\r\nX: 1\nY: 2\r\n\r\n", Want::Bad),
    ("bare cr in a field", b"GET / HTTP/1.1\r\nX: 1\r2\r\n\r\n", Want::Bad),
    ("bare cr in request line", b"GET /\r HTTP/1.1\r\n\r\n", Want::Bad),
    ("leading bare lf", b"\nGET / HTTP/1.1\r\n\r\n", Want::Bad),
    // Field lines.
    ("obs-fold", b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", Want::Bad),
    ("space before colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", Want::Bad),
    ("no colon", b"GET / HTTP/1.1\r\nHost\r\n\r\n", Want::Bad),
    ("empty name", b"GET / HTTP/1.1\r\n: a\r\n\r\n", Want::Bad),
    ("non-token name", b"GET / HTTP/1.1\r\nX(y): a\r\n\r\n", Want::Bad),
    ("nul in value", b"GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", Want::Bad),
    ("vertical tab in value", b"GET / HTTP/1.1\r\nX: a\x0bb\r\n\r\n", Want::Bad),
    ("del in value", b"GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", Want::Bad),
    // Framing.
    ("content-length and transfer-encoding", b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", Want::Bad),
    ("two equal content-lengths", b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", Want::Bad),
    ("content-length list", b"POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\nx", Want::Bad),
    ("content-length with sign", b"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\nx", Want::Bad),
    ("content-length in hex", b"POST / HTTP/1.1\r\nContent-Length: 0x1\r\n\r\nx", Want::Bad),
    ("content-length with inner space", b"POST / HTTP/1.1\r\nContent-Length: 1 0\r\n\r\nx", Want::Bad),
    ("empty content-length", b"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", Want::Bad),
    ("content-length overflows", b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", Want::Bad),
    ("content-length over the limit", BODY_TOO_LARGE, Want::Fails(ParseError::BodyTooLarge)),
    ("gzip then chunked", b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", Want::Fails(ParseError::UnsupportedTransferEncoding)),
    ("chunked with parameter", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked;a=\"b\"\r\n\r\n0\r\n\r\n", Want::Fails(ParseError::UnsupportedTransferEncoding)),
    ("identity alone", b"POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", Want::Bad),
    ("chunked not last", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", Want::Bad),
    ("chunked twice", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", Want::Bad),
    ("transfer-encoding trailing comma", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked,\r\n\r\n", Want::Bad),
    ("transfer-encoding empty", b"POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", Want::Bad),
    ("transfer-encoding lookalike", b"POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n", Want::Bad),
    ("transfer-encoding bad parameter", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked;a\r\n\r\n", Want::Bad),
    ("two transfer-encoding headers", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", Want::Bad),
    ("transfer-encoding in http/1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Want::Bad),
    // Host and Expect.
    ("two hosts", b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", Want::Bad),
    ("two authorizations", b"GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Basic eDp5\r\nauthorization: Basic eDp5\r\n\r\n", Want::Bad),
    ("one authorization", b"GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Basic eDp5\r\n\r\n", Want::Whole),
    ("host with space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", Want::Bad),
    ("host with slash", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", Want::Bad),
    ("host with userinfo", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", Want::Bad),
    ("unknown expectation", b"PUT / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", Want::Fails(ParseError::ExpectationFailed)),
    // Chunked body.
    ("chunk size not hex", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\ng\r\n", Want::Bad),
    ("chunk size 0x", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\n", Want::Bad),
    ("chunk size with sign", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", Want::Bad),
    ("chunk size after space", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n 1\r\nx\r\n0\r\n\r\n", Want::Bad),
    ("chunk size with trailing space", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\nx\r\n0\r\n\r\n", Want::Bad),
    ("empty chunk size line", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", Want::Bad),
    ("chunk size of 17 digits", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000001\r\nx\r\n0\r\n\r\n", Want::Bad),
    ("chunk size over the limit", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", Want::Fails(ParseError::BodyTooLarge)),
    ("chunk extension without name", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;=x\r\nx\r\n0\r\n\r\n", Want::Bad),
    ("chunk extension open quote", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;a=\"x\r\nx\r\n0\r\n\r\n", Want::Bad),
    ("chunk data too long", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n0\r\n\r\n", Want::Bad),
    ("chunk data then bare lf", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\n0\r\n\r\n", Want::Bad),
    ("chunk size then bare lf", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n0\r\n\r\n", Want::Bad),
    ("trailer without colon", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX\r\n\r\n", Want::Bad),
    ("trailer obs-fold", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n", Want::Bad),
    ("last chunk then bare lf", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n", Want::Bad),
    // Partial.
    ("nothing yet", b"", Want::Partial),
    ("only an empty line", b"\r\n", Want::Partial),
    ("head not finished", b"GET / HTTP/1.1\r\n", Want::Partial),
    ("cr at the end", b"GET / HTTP/1.1\r", Want::Partial),
    ("body not finished", b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhell", Want::Partial),
    ("chunk data not finished", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe", Want::Partial),
    ("trailers not finished", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n", Want::Partial),
];

#[test]
fn parse_table() {
    for (name, raw, want) in CASES {
        let got = parse(raw, &limits());
        let ok = match (want, &got) {
            (Want::Whole, Ok(Status::Complete((_, used)))) => *used == raw.len(),
            (Want::Used(n), Ok(Status::Complete((_, used)))) => used == n,
            (Want::Bad, Err(ParseError::BadRequest(_))) => true,
            (Want::Fails(error), Err(got)) => error == got,
            (Want::Partial, Ok(Status::Partial)) => true,
            _ => false,
        };
        assert!(ok, "{name}: want {want:?}, got {got:?}");
    }
}

/// The rows that hold a valid request, with the number of bytes it uses.
fn valid_cases() -> impl Iterator<Item = (&'static str, &'static [u8], usize)> {
    CASES.iter().filter_map(|(name, raw, want)| match want {
        Want::Whole => Some((*name, *raw, raw.len())),
        Want::Used(n) => Some((*name, *raw, *n)),
        _ => None,
    })
}

#[test]
fn every_prefix_of_a_valid_request_is_partial() {
    for (name, raw, used) in valid_cases() {
        let Ok(Status::Complete((_, head_len))) = parse_head(raw, &limits()) else {
            panic!("{name}: head not parsed");
        };
        for cut in 0..used {
            assert_eq!(
                parse(&raw[..cut], &limits()),
                Ok(Status::Partial),
                "{name} cut {cut}"
            );
            if cut < head_len {
                assert_eq!(
                    parse_head(&raw[..cut], &limits()),
                    Ok(Status::Partial),
                    "{name} cut {cut}"
                );
            }
        }
    }
}

#[test]
fn a_growing_buffer_resumes_the_body_scan() {
    for (name, raw, used) in valid_cases() {
        let Ok(Status::Complete((head, head_len))) = parse_head(raw, &limits()) else {
            panic!("{name}: head not parsed");
        };
        let body = &raw[head_len..used];
        let mut scan = BodyScan::default();
        for cut in 0..body.len() {
            let got = scan_body(&body[..cut], head.framing, &mut scan, &limits());
            assert_eq!(got, Ok(Status::Partial), "{name} cut {cut}");
        }
        let got = scan_body(body, head.framing, &mut scan, &limits());
        assert_eq!(got, Ok(Status::Complete(body.len())), "{name}");
    }
}

fn head_of(raw: &[u8]) -> Head {
    match parse_head(raw, &limits()) {
        Ok(Status::Complete((head, _))) => head,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(raw)),
    }
}

#[test]
fn accepted_heads_carry_method_target_version_and_framing() {
    type Case = (&'static [u8], Method, &'static [u8], Version, Framing);
    let cases: Vec<Case> = vec![
        (
            b"GET /a?b HTTP/1.1\r\n\r\n",
            Method::Get,
            b"/a?b",
            Version::Http11,
            Framing::None,
        ),
        (
            b"HEAD / HTTP/1.0\r\n\r\n",
            Method::Head,
            b"/",
            Version::Http10,
            Framing::None,
        ),
        (
            b"POST /p HTTP/1.1\r\ncontent-length: 12\r\n\r\n",
            Method::Post,
            b"/p",
            Version::Http11,
            Framing::Length(12),
        ),
        (
            b"PUT /p HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n",
            Method::Put,
            b"/p",
            Version::Http11,
            Framing::Chunked,
        ),
        (
            b"DELETE /k HTTP/1.1\r\n\r\n",
            Method::Delete,
            b"/k",
            Version::Http11,
            Framing::None,
        ),
        (
            b"OPTIONS * HTTP/1.1\r\n\r\n",
            Method::Options,
            b"*",
            Version::Http11,
            Framing::None,
        ),
        (
            b"PATCH /x HTTP/1.1\r\n\r\n",
            Method::Other("PATCH".into()),
            b"/x",
            Version::Http11,
            Framing::None,
        ),
        (
            b"get /x HTTP/1.1\r\n\r\n",
            Method::Other("get".into()),
            b"/x",
            Version::Http11,
            Framing::None,
        ),
    ];
    for (raw, method, target, version, framing) in cases {
        let head = head_of(raw);
        assert_eq!(
            (
                &head.method,
                head.target.as_slice(),
                head.version,
                head.framing
            ),
            (&method, target, version, framing)
        );
    }
}

#[test]
fn absolute_form_is_reduced_to_origin_form() {
    let cases: &[(&[u8], &[u8])] = &[
        (b"http://h/a/b?c=d", b"/a/b?c=d"),
        (b"http://h", b"/"),
        (b"http://h:80", b"/"),
        (b"http://h?x=1", b"/?x=1"),
        (b"HtTpS://h.example:443/", b"/"),
        (b"http://[::1]:6379/k", b"/k"),
    ];
    for (target, want) in cases {
        let raw = [b"GET ", *target, b" HTTP/1.1\r\n\r\n"].concat();
        assert_eq!(
            head_of(&raw).target,
            *want,
            "{:?}",
            String::from_utf8_lossy(target)
        );
    }
}

#[test]
fn keep_alive_follows_version_and_connection_tokens() {
    let cases: &[(&str, &str, bool)] = &[
        ("1.1", "", true),
        ("1.1", "Connection: close\r\n", false),
        ("1.1", "Connection: CLOSE\r\n", false),
        ("1.1", "Connection: keep-alive\r\n", true),
        ("1.1", "Connection: upgrade, close\r\n", false),
        ("1.1", "Connection: upgrade\r\nConnection:close \r\n", false),
        ("1.1", "Connection: closed\r\n", true),
        ("1.0", "", false),
        ("1.0", "Connection: keep-alive\r\n", true),
        ("1.0", "Connection: Keep-Alive\r\n", true),
        ("1.0", "Connection: te,\tkeep-alive\r\n", true),
        ("1.0", "Connection: keep-alive, close\r\n", false),
        ("1.0", "Connection: x\r\nConnection: keep-alive\r\n", true),
    ];
    for (version, fields, want) in cases {
        let raw = format!("GET / HTTP/{version}\r\n{fields}\r\n");
        assert_eq!(head_of(raw.as_bytes()).keep_alive, *want, "{raw:?}");
    }
}

#[test]
fn expect_continue_is_honoured_only_in_http_1_1() {
    let head = head_of(b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
    assert!(head.expect_continue);
    let head = head_of(b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
    assert!(!head.expect_continue);
    assert!(!head_of(b"PUT / HTTP/1.1\r\n\r\n").expect_continue);
}

#[test]
fn header_values_lose_surrounding_whitespace_and_names_keep_their_case() {
    let head = head_of(b"GET / HTTP/1.1\r\nX-Key: \t a b \t\r\nempty:\r\n\r\n");
    assert_eq!(
        head.headers[0],
        Header {
            name: b"X-Key".to_vec(),
            value: b"a b".to_vec()
        }
    );
    assert_eq!(head.header("x-key"), Some(&b"a b"[..]));
    assert_eq!(head.header("EMPTY"), Some(&b""[..]));
}

#[test]
fn bodies_are_decoded() {
    let cases: &[(&[u8], &[u8])] = &[
        (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", b"hello"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\nA\r\n0123456789\r\n0\r\nT: 1\r\n\r\n", b"abc0123456789"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n\r\n\r\n0\r\n\r\n", b"\r\n"),
        (b"GET / HTTP/1.1\r\n\r\n", b""),
    ];
    for (raw, want) in cases {
        let Ok(Status::Complete((request, used))) = parse(raw, &limits()) else {
            panic!("{:?}", String::from_utf8_lossy(raw));
        };
        assert_eq!(used, raw.len());
        assert_eq!(request.body, *want);
    }
}

#[test]
fn decode_body_never_panics_on_misuse() {
    let inputs: &[&[u8]] = &[
        b"",
        b"5\r\nab",
        b"ffffffffffffffffff\r\nx",
        b"zz\r\n",
        b"\r\n\r\n",
        b"1\r\nx",
    ];
    for input in inputs {
        let _ = decode_body(input, Framing::Chunked);
        assert!(decode_body(input, Framing::Length(1000)).len() <= input.len());
        assert!(decode_body(input, Framing::None).is_empty());
    }
    assert_eq!(decode_body(b"3\r\nabc", Framing::Chunked), b"abc");
}

#[test]
fn errors_display_as_lowercase_phrases() {
    let errors = [
        ParseError::BadRequest("bare lf"),
        ParseError::RequestLineTooLong,
        ParseError::HeadTooLarge,
        ParseError::TooManyHeaders,
        ParseError::BodyTooLarge,
        ParseError::UnsupportedVersion,
        ParseError::UnsupportedTransferEncoding,
        ParseError::ExpectationFailed,
    ];
    for error in errors {
        let text = error.to_string();
        assert_eq!(text, text.to_lowercase());
        assert!(!text.is_empty());
    }
    assert_eq!(
        ParseError::BadRequest("bare lf").to_string(),
        "bad request: bare lf"
    );
}
