//! Limits: N is accepted, N + 1 is refused, and a buffer already past N fails without waiting.

use super::tests::limits;
use super::*;

/// A chunked body scanned from the start, with a fresh [`BodyScan`].
fn scan_chunked(body: &[u8], limits: &Limits) -> Result<Status<usize>, ParseError> {
    scan_body(body, Framing::Chunked, &mut BodyScan::default(), limits)
}

fn small_limits() -> Limits {
    Limits {
        max_request_line: 30,
        max_head_bytes: 100,
        max_headers: 3,
        max_body_bytes: 10,
    }
}

#[test]
fn request_line_limit_at_n_and_n_plus_one() {
    let l = small_limits();
    // "GET /" + path + " HTTP/1.1" = 14 + path bytes.
    let line = |len: usize| format!("GET /{} HTTP/1.1", "a".repeat(len - 14));
    let at_limit = format!("{}\r\n\r\n", line(30));
    assert_eq!(line(30).len(), 30);
    assert!(matches!(
        parse_head(at_limit.as_bytes(), &l),
        Ok(Status::Complete(_))
    ));
    let over = format!("{}\r\n\r\n", line(31));
    assert_eq!(
        parse_head(over.as_bytes(), &l),
        Err(ParseError::RequestLineTooLong)
    );
    // Without waiting for the CRLF:
    assert_eq!(parse_head(&over.as_bytes()[..30], &l), Ok(Status::Partial));
    assert_eq!(
        parse_head(&over.as_bytes()[..31], &l),
        Err(ParseError::RequestLineTooLong)
    );
    // A CR right at the limit is the end of an acceptable line, not an excess byte.
    assert_eq!(
        parse_head(&at_limit.as_bytes()[..31], &l),
        Ok(Status::Partial)
    );
}

#[test]
fn head_size_limit_at_n_and_n_plus_one() {
    let l = small_limits();
    // "GET / HTTP/1.1\r\n" (16) + "X: " (3) + value + "\r\n\r\n" (4) = 23 + value bytes.
    let head = |len: usize| format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "v".repeat(len - 23));
    assert_eq!(head(100).len(), 100);
    assert!(matches!(
        parse_head(head(100).as_bytes(), &l),
        Ok(Status::Complete((_, 100)))
    ));
    assert_eq!(
        parse_head(head(101).as_bytes(), &l),
        Err(ParseError::HeadTooLarge)
    );
    let endless = format!("GET / HTTP/1.1\r\nX: {}", "v".repeat(200));
    assert_eq!(
        parse_head(&endless.as_bytes()[..100], &l),
        Ok(Status::Partial)
    );
    assert_eq!(
        parse_head(&endless.as_bytes()[..101], &l),
        Err(ParseError::HeadTooLarge)
    );
    // Leading empty lines count as head bytes.
    let padded = format!("\r\n{}", head(99));
    assert_eq!(
        parse_head(padded.as_bytes(), &l),
        Err(ParseError::HeadTooLarge)
    );
}

#[test]
fn header_count_limit_at_n_and_n_plus_one() {
    let l = small_limits();
    let head = |fields: usize| format!("GET / HTTP/1.1\r\n{}\r\n", "A: 1\r\n".repeat(fields));
    assert!(matches!(
        parse_head(head(3).as_bytes(), &l),
        Ok(Status::Complete(_))
    ));
    assert_eq!(
        parse_head(head(4).as_bytes(), &l),
        Err(ParseError::TooManyHeaders)
    );
    // The first byte of a fourth field is enough.
    let started = format!("GET / HTTP/1.1\r\n{}B", "A: 1\r\n".repeat(3));
    assert_eq!(
        parse_head(started.as_bytes(), &l),
        Err(ParseError::TooManyHeaders)
    );
}

#[test]
fn content_length_limit_at_n_and_n_plus_one_is_decided_from_the_head() {
    let l = small_limits();
    let at_limit = b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789";
    assert!(matches!(parse(at_limit, &l), Ok(Status::Complete((_, 49)))));
    let over = b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n";
    assert_eq!(parse_head(over, &l), Err(ParseError::BodyTooLarge));
    let mut scan = BodyScan::default();
    assert_eq!(
        scan_body(b"", Framing::Length(11), &mut scan, &l),
        Err(ParseError::BodyTooLarge)
    );
}

#[test]
fn chunked_body_limit_at_n_and_n_plus_one_is_decided_before_the_data() {
    let l = small_limits();
    let mut scan = BodyScan::default();
    let at_limit = b"4\r\n0123\r\n6\r\n456789\r\n0\r\n\r\n";
    let got = scan_body(at_limit, Framing::Chunked, &mut scan, &l);
    assert_eq!(got, Ok(Status::Complete(at_limit.len())));
    let over = b"4\r\n0123\r\n7\r\n";
    let got = scan_body(over, Framing::Chunked, &mut BodyScan::default(), &l);
    assert_eq!(got, Err(ParseError::BodyTooLarge));
    let huge = b"ffffffffffffffff\r\n";
    let got = scan_body(huge, Framing::Chunked, &mut BodyScan::default(), &limits());
    assert_eq!(got, Err(ParseError::BodyTooLarge));
}

#[test]
fn chunk_line_limit_at_n_and_n_plus_one() {
    let l = limits();
    let line = |len: usize| format!("1;{}", "e".repeat(len - 2));
    let at_limit = format!("{}\r\nx\r\n0\r\n\r\n", line(MAX_CHUNK_LINE_BYTES));
    let got = scan_chunked(at_limit.as_bytes(), &l);
    assert_eq!(got, Ok(Status::Complete(at_limit.len())));
    let over = format!("{}\r\nx\r\n0\r\n\r\n", line(MAX_CHUNK_LINE_BYTES + 1));
    let got = scan_chunked(over.as_bytes(), &l);
    assert!(matches!(got, Err(ParseError::BadRequest(_))), "{got:?}");
    // Without waiting for the CRLF:
    let cut = &over.as_bytes()[..MAX_CHUNK_LINE_BYTES + 1];
    let got = scan_body(cut, Framing::Chunked, &mut BodyScan::default(), &l);
    assert!(matches!(got, Err(ParseError::BadRequest(_))), "{got:?}");
    let cut = &over.as_bytes()[..MAX_CHUNK_LINE_BYTES];
    let got = scan_body(cut, Framing::Chunked, &mut BodyScan::default(), &l);
    assert_eq!(got, Ok(Status::Partial));
}

#[test]
fn chunk_size_digit_limit_at_n_and_n_plus_one() {
    let sixteen = b"000000000000000a\r\n0123456789\r\n0\r\n\r\n";
    let got = scan_body(
        sixteen,
        Framing::Chunked,
        &mut BodyScan::default(),
        &limits(),
    );
    assert_eq!(got, Ok(Status::Complete(sixteen.len())));
    let seventeen = b"0000000000000000a";
    let got = scan_body(
        seventeen,
        Framing::Chunked,
        &mut BodyScan::default(),
        &limits(),
    );
    assert!(matches!(got, Err(ParseError::BadRequest(_))), "{got:?}");
}

#[test]
fn trailer_limits_at_n_and_n_plus_one() {
    let l = small_limits();
    let body = |fields: usize| format!("0\r\n{}\r\n", "T: 1\r\n".repeat(fields));
    let ok = body(3);
    let got = scan_chunked(ok.as_bytes(), &l);
    assert_eq!(got, Ok(Status::Complete(ok.len())));
    let got = scan_chunked(body(4).as_bytes(), &l);
    assert_eq!(got, Err(ParseError::TooManyHeaders));
    // Trailer section bytes: "T: " + value + "\r\n" + "\r\n" = 7 + value bytes, after "0\r\n".
    let trailers = |len: usize| format!("0\r\nT: {}\r\n\r\n", "v".repeat(len - 7));
    let ok = trailers(100);
    let got = scan_chunked(ok.as_bytes(), &l);
    assert_eq!(got, Ok(Status::Complete(ok.len())));
    let got = scan_chunked(trailers(101).as_bytes(), &l);
    assert_eq!(got, Err(ParseError::HeadTooLarge));
}

#[test]
fn body_scan_resumes_where_complete_chunks_end() {
    // 1000 one-byte chunks, then a chunk whose data has not arrived.
    let mut wire = b"1\r\nx\r\n".repeat(1000);
    wire.extend_from_slice(b"1\r\n");
    let mut scan = BodyScan::default();
    let got = scan_body(&wire, Framing::Chunked, &mut scan, &limits());
    assert_eq!(got, Ok(Status::Partial));
    assert_eq!(
        (scan.pos, scan.total),
        (6000, 1000),
        "complete chunks are not scanned again"
    );
    wire.extend_from_slice(b"x\r\n0\r\n\r\n");
    let got = scan_body(&wire, Framing::Chunked, &mut scan, &limits());
    assert_eq!(got, Ok(Status::Complete(wire.len())));
    assert_eq!(decode_body(&wire, Framing::Chunked), vec![b'x'; 1001]);
}

#[test]
fn many_small_chunks_arriving_in_small_reads_scan_in_linear_time() {
    // 64 KiB of one-byte chunks in 1 KiB reads: a rescan from the start on each read would
    // cost about 200 MB of scanning here; resuming costs each byte once (plus one line).
    let mut wire = b"1\r\nx\r\n".repeat(64 * 1024);
    wire.extend_from_slice(b"0\r\n\r\n");
    let mut scan = BodyScan::default();
    let mut got = Ok(Status::Partial);
    for end in (1024..wire.len()).step_by(1024).chain([wire.len()]) {
        got = scan_body(&wire[..end], Framing::Chunked, &mut scan, &limits());
        if got != Ok(Status::Partial) {
            break;
        }
    }
    assert_eq!(got, Ok(Status::Complete(wire.len())));
}
