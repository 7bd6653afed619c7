//! Properties with the shared PRNG: random valid requests parse to what was sent, pipelined
//! streams give the same requests however they are split, and mutated streams and random bytes
//! never panic and get a verdict that does not depend on the split. Replay a failure with
//! `GATEWAY_SEED=<seed>`.

use super::tests::limits;
use super::*;
use crate::http::request::Method;
use crate::test_rng::Rng;

fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    items[rng.below(items.len())]
}

fn random_text(rng: &mut Rng, alphabet: &[u8], max_len: usize) -> Vec<u8> {
    let len = rng.below(max_len + 1);
    (0..len)
        .map(|_| alphabet[rng.below(alphabet.len())])
        .collect()
}

/// A random valid request: its bytes and the request `parse` must give for them.
fn random_request(rng: &mut Rng) -> (Vec<u8>, Method, Vec<u8>, Vec<u8>) {
    let method = pick(
        rng,
        &["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"],
    );
    let http10 = rng.one_in(5);
    let mut target = b"/".to_vec();
    target.extend(random_text(rng, b"abcXYZ019-._~%!$&'()*+,;=:@/?", 16));
    if method == "OPTIONS" && rng.one_in(3) {
        target = b"*".to_vec();
    }
    let mut wire = Vec::new();
    wire.extend_from_slice(method.as_bytes());
    wire.push(b' ');
    let absolute = rng.one_in(8) && target != b"*";
    if absolute {
        wire.extend_from_slice(b"http://example.com:8080");
    }
    wire.extend_from_slice(&target);
    wire.extend_from_slice(if http10 {
        b" HTTP/1.0\r\n"
    } else {
        b" HTTP/1.1\r\n"
    });
    if !rng.one_in(5) {
        wire.extend_from_slice(b"Host: localhost:8080\r\n");
    }
    for _ in 0..rng.below(4) {
        wire.extend_from_slice(pick(rng, &["X-A", "accept", "User-Agent", "x_b!"]).as_bytes());
        wire.extend_from_slice(pick(rng, &[":", ": ", ":\t ", ":  "]).as_bytes());
        wire.extend(random_text(rng, b"abc =;,\"\\/\t\x80\xff~!", 12));
        wire.extend_from_slice(pick(rng, &["", " ", "\t"]).as_bytes());
        wire.extend_from_slice(b"\r\n");
    }
    if rng.one_in(4) {
        let connection = pick(rng, &["close", "keep-alive", "Upgrade, close", "x"]);
        wire.extend_from_slice(format!("Connection: {connection}\r\n").as_bytes());
    }
    let body_len = rng.below(40);
    let body = rng.bytes(body_len);
    match rng.below(3) {
        0 if body.is_empty() || rng.one_in(2) => {
            wire.extend_from_slice(b"\r\n");
            return (
                wire,
                Method::from_token(method.as_bytes()),
                target,
                Vec::new(),
            );
        }
        1 if !http10 => {
            wire.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            let mut rest = body.as_slice();
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at(1 + rng.below(rest.len()));
                let size = if rng.one_in(2) {
                    format!("{:x}", chunk.len())
                } else {
                    format!("{:X}", chunk.len())
                };
                let zeros = "0".repeat(rng.below(2));
                let ext = pick(rng, &["", ";a", ";a=b", " ; a = \"x;\\\" y\"", ";a;b=c"]);
                wire.extend_from_slice(format!("{zeros}{size}{ext}\r\n").as_bytes());
                wire.extend_from_slice(chunk);
                wire.extend_from_slice(b"\r\n");
                rest = tail;
            }
            wire.extend_from_slice(pick(rng, &["0\r\n", "000;end\r\n"]).as_bytes());
            for _ in 0..rng.below(3) {
                wire.extend_from_slice(b"X-Trailer: t\r\n");
            }
            wire.extend_from_slice(b"\r\n");
        }
        _ => {
            wire.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            wire.extend_from_slice(&body);
        }
    }
    (wire, Method::from_token(method.as_bytes()), target, body)
}

/// Parses a whole stream of pipelined requests, stopping at the first non-request.
fn parse_all(stream: &[u8], limits: &Limits) -> (Vec<Request>, Result<Status<()>, ParseError>) {
    let mut requests = Vec::new();
    let mut pos = 0;
    loop {
        match parse(&stream[pos..], limits) {
            Ok(Status::Complete((request, used))) => {
                requests.push(request);
                pos += used;
            }
            Ok(Status::Partial) => return (requests, Ok(Status::Partial)),
            Err(error) => return (requests, Err(error)),
        }
    }
}

#[test]
fn random_valid_requests_parse_to_what_was_sent() {
    let (mut rng, seed) = Rng::from_env(0x4854_5450);
    for _ in 0..Rng::iterations(2_000) {
        let (wire, method, target, body) = random_request(&mut rng);
        let text = String::from_utf8_lossy(&wire);
        let Ok(Status::Complete((request, used))) = parse(&wire, &limits()) else {
            panic!("seed {seed}: {text:?}: {:?}", parse(&wire, &limits()));
        };
        assert_eq!(used, wire.len(), "seed {seed}: {text:?}");
        assert_eq!(
            (request.head.method, request.head.target, request.body),
            (method, target, body),
            "seed {seed}: {text:?}"
        );
        let cut = rng.below(wire.len());
        assert_eq!(
            parse(&wire[..cut], &limits()),
            Ok(Status::Partial),
            "seed {seed} cut {cut}: {text:?}"
        );
    }
}

#[test]
fn pipelined_stream_fed_in_random_pieces_gives_the_same_requests() {
    let (mut rng, seed) = Rng::from_env(0x5049_5045);
    let l = limits();
    for _ in 0..Rng::iterations(500) {
        let mut stream = Vec::new();
        let mut sent = Vec::new();
        for _ in 0..1 + rng.below(5) {
            let (wire, method, target, body) = random_request(&mut rng);
            stream.extend_from_slice(&wire);
            sent.push((method, target, body));
        }
        let (whole, rest) = parse_all(&stream, &l);
        assert_eq!(rest, Ok(Status::Partial), "seed {seed}");
        let got: Vec<_> = whole
            .iter()
            .map(|r| (r.head.method.clone(), r.head.target.clone(), r.body.clone()))
            .collect();
        assert_eq!(got, sent, "seed {seed}");

        // As a server does it: append what arrives, parse the head once, resume the body scan.
        let mut received = Vec::new();
        let mut start = 0;
        let mut head: Option<(Head, usize)> = None;
        let mut scan = BodyScan::default();
        let mut served = Vec::new();
        while received.len() < stream.len() {
            let end = (received.len() + 1 + rng.below(48)).min(stream.len());
            received.extend_from_slice(&stream[received.len()..end]);
            loop {
                if head.is_none() {
                    match parse_head(&received[start..], &l) {
                        Ok(Status::Complete(found)) => head = Some(found),
                        Ok(Status::Partial) => break,
                        Err(error) => panic!("seed {seed}: {error}"),
                    }
                }
                let Some((found, head_len)) = &head else {
                    break;
                };
                let body_start = start + head_len;
                match scan_body(&received[body_start..], found.framing, &mut scan, &l) {
                    Ok(Status::Complete(body_len)) => {
                        let wire = &received[body_start..body_start + body_len];
                        let body = decode_body(wire, found.framing);
                        served.push(Request {
                            head: found.clone(),
                            body,
                        });
                        start = body_start + body_len;
                        head = None;
                        scan = BodyScan::default();
                    }
                    Ok(Status::Partial) => break,
                    Err(error) => panic!("seed {seed}: {error}"),
                }
            }
        }
        assert_eq!(served, whole, "seed {seed}");
    }
}

/// Changes `bytes` in one of the ways a broken or hostile client might.
fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    let at = rng.below(bytes.len() + 1);
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(
            bytes
                .windows(2)
                .enumerate()
                .filter(|(_, w)| w == b"\r\n")
                .map(|(i, _)| i + 2),
        )
        .collect();
    let line = rng.below(line_starts.len());
    let (line_start, line_end) = (
        line_starts[line],
        *line_starts.get(line + 1).unwrap_or(&bytes.len()),
    );
    match rng.below(6) {
        0 if at < bytes.len() => bytes[at] = rng.next_u64() as u8,
        1 => bytes.insert(at, *b"\r\n\0: \t;\"0".get(rng.below(9)).unwrap_or(&b'x')),
        2 if at < bytes.len() => {
            bytes.remove(at);
        }
        3 => {
            let copy = bytes[line_start..line_end].to_vec();
            bytes.splice(line_start..line_start, copy);
        }
        4 => {
            bytes.drain(line_start..line_end);
        }
        _ => bytes.insert(at, b"0123456789abcdefABCDEF"[rng.below(22)]),
    }
}

/// Feeds growing prefixes of `bytes` to `f` in random steps: the first answer that is not
/// `Partial` must be the answer on the whole buffer.
fn assert_split_independent<T: PartialEq + fmt::Debug>(
    rng: &mut Rng,
    bytes: &[u8],
    what: &str,
    seed: u64,
    f: impl Fn(&[u8]) -> Result<Status<T>, ParseError>,
) {
    let whole = f(bytes);
    let mut end = 0;
    loop {
        end = (end + 1 + rng.below(24)).min(bytes.len());
        let got = f(&bytes[..end]);
        if got != Ok(Status::Partial) || end == bytes.len() {
            let text = String::from_utf8_lossy(bytes);
            assert_eq!(got, whole, "seed {seed}: {what} at {end} of {text:?}");
            return;
        }
    }
}

#[test]
fn mutated_streams_never_panic_and_their_verdict_does_not_depend_on_the_split() {
    let (mut rng, seed) = Rng::from_env(0x4D55_5441);
    for _ in 0..Rng::iterations(2_000) {
        let mut stream = Vec::new();
        for _ in 0..1 + rng.below(2) {
            stream.extend(random_request(&mut rng).0);
        }
        for _ in 0..1 + rng.below(3) {
            mutate(&mut rng, &mut stream);
        }
        // Small random limits too, so that limit errors race with syntax errors.
        let l = if rng.one_in(2) {
            limits()
        } else {
            Limits {
                max_request_line: 10 + rng.below(50),
                max_head_bytes: 20 + rng.below(200),
                max_headers: rng.below(6),
                max_body_bytes: rng.below(60),
            }
        };
        assert_split_independent(&mut rng, &stream, "parse_head", seed, |b| parse_head(b, &l));
        assert_split_independent(&mut rng, &stream, "parse", seed, |b| parse(b, &l));
        if let Ok(Status::Complete((head, head_len))) = parse_head(&stream, &l) {
            // The resumable scan agrees with a fresh scan of the whole body.
            let body = &stream[head_len..];
            let fresh = scan_body(body, head.framing, &mut BodyScan::default(), &l);
            let mut scan = BodyScan::default();
            assert_split_independent(&mut rng, body, "scan_body", seed, |b| {
                scan_body(b, head.framing, &mut scan.clone(), &l)
            });
            let mut end = 0;
            let resumed = loop {
                end = (end + 1 + rng.below(24)).min(body.len());
                let got = scan_body(&body[..end], head.framing, &mut scan, &l);
                if got != Ok(Status::Partial) || end == body.len() {
                    break got;
                }
            };
            assert_eq!(resumed, fresh, "seed {seed}");
            if let Ok(Status::Complete(n)) = fresh {
                let _ = decode_body(&body[..n], head.framing);
            }
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let (mut rng, seed) = Rng::from_env(0x5241_4E44);
    let alphabet = b"GET /HTTP1.0\r\n\r\n:;=\" \t\0\x7f\xffchunkedContent-LengthTransfer-Encoding0123456789abcdef";
    for _ in 0..Rng::iterations(2_000) {
        let bytes = if rng.one_in(2) {
            let len = rng.below(200);
            rng.bytes(len)
        } else {
            random_text(&mut rng, alphabet, 200)
        };
        let l = limits();
        let _ = parse(&bytes, &l);
        let _ = parse_head(&bytes, &l);
        for framing in [
            Framing::None,
            Framing::Length(rng.below(300)),
            Framing::Chunked,
        ] {
            let mut scan = BodyScan::default();
            if let Ok(Status::Complete(n)) = scan_body(&bytes, framing, &mut scan, &l) {
                assert!(n <= bytes.len(), "seed {seed}");
            }
            let decoded = decode_body(&bytes, framing);
            assert!(decoded.len() <= bytes.len(), "seed {seed}");
        }
    }
}
