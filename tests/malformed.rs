//! The malformed-request corpus (`tests/corpus/malformed.txt`, format described at its top) run
//! against one gateway: every case gets exactly the responses it lists, complete, never a 2xx for
//! the malformed request, `Connection: close` on the last one, then the connection closes; after
//! all cases the gateway is alive, serves, and its descriptors and memory are back near baseline.

mod support;

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};
use support::*;

/// The corpus, compiled in so that the test cannot run without it.
const CORPUS: &str = include_str!("corpus/malformed.txt");

/// The corpus may grow, never silently shrink below this.
const MIN_CASES: usize = 120;

/// Arguments the corpus assumes (see its header).
const GATEWAY_ARGS: &[&str] = &["--max-body-bytes", "1000"];

/// How long after sending a case the gateway has to answer and close.
const CLOSE_WITHIN: Duration = Duration::from_secs(3);

/// Cases run at once (each on its own connection).
const PARALLEL: usize = 6;

/// One alternative of an expected response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alt {
    /// Exactly this status.
    Exact(u16),
    /// `Nxx`: any status in `N00..=N99`.
    Class(u16),
    /// Any 4xx or 5xx.
    Error,
    /// A 2xx, or 404 (a valid request for a key that does not exist).
    Ok,
}

impl Alt {
    fn matches(self, status: u16) -> bool {
        match self {
            Alt::Exact(s) => status == s,
            Alt::Class(c) => status / 100 == c,
            Alt::Error => (400..600).contains(&status),
            Alt::Ok => (200..300).contains(&status) || status == 404,
        }
    }
}

/// A case of the corpus.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    line: usize,
    bytes: Vec<u8>,
    /// One item per expected response, each a set of alternatives.
    expect: Vec<Vec<Alt>>,
    /// The EXPECT text as written, for messages.
    expect_text: String,
}

/// Parses the whole corpus; errors name the line.
fn parse_corpus(text: &str) -> Result<Vec<Case>, String> {
    let mut cases: Vec<Case> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let fail = |why: String| format!("corpus line {number}: {why}");
        if let Some(header) = line.strip_prefix("###") {
            let (name, expect_text) = header
                .split_once('|')
                .ok_or_else(|| fail("`### name | EXPECT` needs a `|`".into()))?;
            let name = name.trim();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(fail(format!("bad case name {name:?}")));
            }
            let expect_text = expect_text.trim().to_string();
            let expect = parse_expect(&expect_text).map_err(fail)?;
            cases.push(Case {
                name: name.to_string(),
                line: number,
                bytes: Vec::new(),
                expect,
                expect_text,
            });
        } else if line.starts_with('#') || line.is_empty() {
            continue;
        } else {
            let case = cases
                .last_mut()
                .ok_or_else(|| fail("bytes before the first `###` case".into()))?;
            if line.ends_with(' ') || line.ends_with('\t') {
                return Err(fail(
                    "ends in a space or tab: write it as `\\s` / `\\t`".into(),
                ));
            }
            let bytes = decode_line(line).map_err(fail)?;
            case.bytes.extend_from_slice(&bytes);
        }
    }
    for case in &cases {
        if case.bytes.is_empty() {
            return Err(format!(
                "corpus line {}: case {} has no bytes",
                case.line, case.name
            ));
        }
    }
    Ok(cases)
}

/// `ok,400|505` → `[[Ok], [Exact(400), Exact(505)]]`, checking that only the last item may be
/// anything but `ok`, and that an error item admits no 2xx.
fn parse_expect(text: &str) -> Result<Vec<Vec<Alt>>, String> {
    let mut items = Vec::new();
    for item in text.split(',') {
        let mut alts = Vec::new();
        for alt in item.split('|') {
            let alt = alt.trim();
            let parsed = match alt {
                "ok" => Alt::Ok,
                "error" => Alt::Error,
                _ if alt.len() == 3 && alt.ends_with("xx") => {
                    let class = u16::from(alt.as_bytes()[0].wrapping_sub(b'0'));
                    if !(4..=5).contains(&class) {
                        return Err(format!("class {alt:?}: only 4xx and 5xx"));
                    }
                    Alt::Class(class)
                }
                _ => {
                    let status: u16 = alt
                        .parse()
                        .map_err(|_| format!("bad expectation {alt:?} in {text:?}"))?;
                    if !(400..600).contains(&status) {
                        return Err(format!(
                            "status {status}: write valid responses as `ok`, errors as 4xx/5xx"
                        ));
                    }
                    Alt::Exact(status)
                }
            };
            alts.push(parsed);
        }
        items.push(alts);
    }
    let last = items.len() - 1;
    for (i, alts) in items.iter().enumerate() {
        let has_ok = alts.contains(&Alt::Ok);
        if i < last && alts != &[Alt::Ok] {
            return Err(format!(
                "{text:?}: every response but the last must be `ok`"
            ));
        }
        if i == last && has_ok && alts.len() > 1 {
            return Err(format!(
                "{text:?}: `ok` cannot be an alternative of an error"
            ));
        }
    }
    Ok(items)
}

/// Decodes one line: escapes and `{TEXT*N}` repeats.
fn decode_line(line: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'{' {
            let close = line[i..]
                .find('}')
                .map(|j| i + j)
                .ok_or_else(|| format!("unclosed `{{` at column {}", i + 1))?;
            let inner = &line[i + 1..close];
            if inner.contains('{') {
                return Err(format!("nested `{{` in {inner:?}"));
            }
            let star = inner
                .rfind('*')
                .ok_or_else(|| format!("`{{{inner}}}` needs `*N`"))?;
            let count: usize = inner[star + 1..]
                .parse()
                .map_err(|_| format!("bad repeat count in `{{{inner}}}`"))?;
            let unit = decode_escapes(&inner[..star])?;
            if unit.is_empty() || count == 0 || count > 1_000_000 {
                return Err(format!("repeat `{{{inner}}}` is empty or too large"));
            }
            for _ in 0..count {
                out.extend_from_slice(&unit);
            }
            i = close + 1;
        } else {
            // The run up to the next `{` that is not escaped.
            let mut j = i;
            while j < bytes.len() && bytes[j] != b'{' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            let j = j.min(bytes.len());
            out.extend_from_slice(&decode_escapes(&line[i..j])?);
            i = j;
        }
    }
    Ok(out)
}

/// Decodes `\r \n \t \0 \s \\ \{ \} \xNN`; only printable ASCII may appear literally.
fn decode_escapes(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(0x20..0x7f).contains(&b) {
            return Err(format!(
                "literal byte 0x{b:02x}: write it as an escape (\\xNN)"
            ));
        }
        if b != b'\\' {
            if b == b'}' {
                return Err("a literal `}` must be written `\\}`".into());
            }
            out.push(b);
            i += 1;
            continue;
        }
        let escape = *bytes
            .get(i + 1)
            .ok_or_else(|| "a line ends in a lone `\\`".to_string())?;
        i += 2;
        out.push(match escape {
            b'r' => b'\r',
            b'n' => b'\n',
            b't' => b'\t',
            b'0' => 0,
            b's' => b' ',
            b'\\' => b'\\',
            b'{' => b'{',
            b'}' => b'}',
            b'x' => {
                let hex = text
                    .get(i..i + 2)
                    .ok_or_else(|| "`\\x` needs two hex digits".to_string())?;
                i += 2;
                u8::from_str_radix(hex, 16).map_err(|_| format!("bad `\\x{hex}`"))?
            }
            other => return Err(format!("unknown escape `\\{}`", char::from(other))),
        });
    }
    Ok(out)
}

/// How the receive side of a case ended.
#[derive(Debug)]
enum End {
    Eof,
    Reset(String),
    StillOpen,
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Eof => f.write_str("EOF"),
            End::Reset(e) => write!(f, "reset ({e})"),
            End::StillOpen => f.write_str("still open"),
        }
    }
}

/// Reads everything until EOF, a reset or `deadline`. Bytes received before a reset count.
fn read_until_closed(stream: &mut TcpStream, deadline: Instant) -> (Vec<u8>, End) {
    let mut received = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (received, End::StillOpen);
        }
        if stream.set_read_timeout(Some(left)).is_err() {
            return (received, End::Reset("set_read_timeout failed".into()));
        }
        match stream.read(&mut buf) {
            Ok(0) => return (received, End::Eof),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return (received, End::Reset(e.to_string())),
        }
    }
}

/// A response cut out of the received bytes.
#[derive(Debug)]
struct Parsed {
    status: u16,
    head: String,
    content_length: Option<usize>,
    closes: bool,
}

/// Parses one complete response at the start of `buf`: `Ok((response, bytes used))`.
fn parse_one(buf: &[u8]) -> Result<(Parsed, usize), String> {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| "incomplete response head".to_string())?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|_| version == "HTTP/1.1")
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut content_length = None;
    let mut closes = false;
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            if content_length.is_some() {
                return Err("two Content-Length headers".into());
            }
            content_length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| format!("bad Content-Length {value:?}"))?,
            );
        }
        if name.eq_ignore_ascii_case("connection")
            && value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("close"))
        {
            closes = true;
        }
    }
    let body_len = if (100..200).contains(&status) || status == 204 {
        0
    } else {
        content_length.ok_or_else(|| format!("no Content-Length in {head:?}"))?
    };
    let used = end + 4 + body_len;
    if buf.len() < used {
        return Err(format!(
            "body cut short: Content-Length {body_len}, {} bytes received, head {head:?}",
            buf.len() - end - 4
        ));
    }
    Ok((
        Parsed {
            status,
            head,
            content_length,
            closes,
        },
        used,
    ))
}

fn show(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(600)];
    let mut text = format!("{:?}", String::from_utf8_lossy(shown));
    if bytes.len() > shown.len() {
        let _ = write!(text, "... ({} bytes in all)", bytes.len());
    }
    text
}

/// Writes `bytes` in one write, or, with `split`, in up to 8 pieces cut at random with a short
/// pause between them (so that the gateway sees them in separate reads).
fn write_case(
    stream: &mut TcpStream,
    bytes: &[u8],
    split: Option<&mut rng::Rng>,
) -> io::Result<()> {
    let Some(rng) = split else {
        return stream.write_all(bytes);
    };
    stream.set_nodelay(true)?;
    let mut cuts: Vec<usize> = (0..rng.below(8)).map(|_| rng.below(bytes.len())).collect();
    cuts.push(bytes.len());
    cuts.sort_unstable();
    let mut from = 0;
    for cut in cuts {
        if cut > from {
            stream.write_all(&bytes[from..cut])?;
            stream.flush()?;
            thread::sleep(Duration::from_millis(2));
            from = cut;
        }
    }
    Ok(())
}

/// Sends one case (in one write, or split at random) and checks what comes back; `Err` says what
/// was wrong.
fn run_case(addr: SocketAddr, case: &Case, split: Option<&mut rng::Rng>) -> Result<(), String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_write_timeout(Some(CLOSE_WITHIN))
        .map_err(|e| format!("set_write_timeout: {e}"))?;
    // The client does not half-close: the gateway must decide from the bytes alone. A write
    // error is not a failure by itself (the gateway may answer and close before reading all).
    let write_error = write_case(&mut stream, &case.bytes, split).err();
    let (received, end) = read_until_closed(&mut stream, Instant::now() + CLOSE_WITHIN);
    let context = || {
        let mut c = format!("received {}; then {end}", show(&received));
        if let Some(e) = &write_error {
            let _ = write!(c, "; our write failed: {e}");
        }
        c
    };
    let mut responses = Vec::new();
    let mut rest = &received[..];
    while !rest.is_empty() {
        let (parsed, used) = parse_one(rest).map_err(|e| {
            format!(
                "response {} malformed: {e}; {}",
                responses.len() + 1,
                context()
            )
        })?;
        rest = &rest[used..];
        responses.push(parsed);
    }
    if let Some(interim) = responses.iter().find(|r| r.status < 200) {
        return Err(format!(
            "an interim {} response was sent; {}",
            interim.status,
            context()
        ));
    }
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    let matches = statuses.len() == case.expect.len()
        && statuses
            .iter()
            .zip(&case.expect)
            .all(|(&s, alts)| alts.iter().any(|a| a.matches(s)));
    if !matches {
        return Err(format!(
            "expected [{}], got statuses {statuses:?}; {}",
            case.expect_text,
            context()
        ));
    }
    let last = responses.last().expect("matched at least one response");
    if !last.closes {
        return Err(format!(
            "the last response lacks `Connection: close`: {:?}; {}",
            last.head,
            context()
        ));
    }
    if last.status != 204 && last.content_length.is_none() {
        return Err(format!("no Content-Length: {:?}", last.head));
    }
    match end {
        End::Eof | End::Reset(_) => Ok(()),
        End::StillOpen => Err(format!(
            "the connection was still open {CLOSE_WITHIN:?} after the case was sent; {}",
            context()
        )),
    }
}

#[test]
fn corpus_parses_with_enough_uniquely_named_cases() {
    let cases = parse_corpus(CORPUS).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        cases.len() >= MIN_CASES,
        "the corpus has {} cases, fewer than {MIN_CASES}",
        cases.len()
    );
    let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    let duplicates: Vec<&str> = names
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    assert!(
        duplicates.is_empty(),
        "duplicate case names: {duplicates:?}"
    );
    // The format itself: escapes, repeats and expectations decode as documented.
    assert_eq!(
        decode_line(r"a\r\n\t\0\s\\\{\}\x7f{ab\x00*3}z").unwrap(),
        b"a\r\n\t\0 \\{}\x7fab\0ab\0ab\0z"
    );
    assert!(decode_line("a{b*}").is_err());
    assert!(decode_line("\u{e9}").is_err());
    assert!(decode_line(r"\q").is_err());
    assert_eq!(
        parse_expect("ok,ok,400|4xx").unwrap(),
        vec![
            vec![Alt::Ok],
            vec![Alt::Ok],
            vec![Alt::Exact(400), Alt::Class(4)]
        ]
    );
    assert!(parse_expect("400,ok").is_err(), "an error must come last");
    assert!(parse_expect("200").is_err(), "a 2xx is written `ok`");
    assert!(parse_expect("ok|400").is_err());
    assert!(
        parse_corpus("### a | 400\nGET \n").is_err(),
        "trailing space"
    );
    assert!(parse_corpus("### a | 400\n").is_err(), "no bytes");
}

#[test]
fn every_malformed_request_gets_one_error_and_a_close() {
    run_corpus(None);
}

/// The same verdicts when each case arrives in pieces: the answer may not depend on the split.
#[test]
fn verdicts_do_not_depend_on_how_the_bytes_are_split() {
    let (_, seed) = rng::Rng::from_env(0x5eed_0fc0_7275);
    eprintln!("seed {seed} (GATEWAY_SEED={seed} to replay)");
    run_corpus(Some(seed));
}

/// Runs every case against one gateway, `PARALLEL` at a time, then the survival checks. With a
/// seed, each case is split at random (case `i` uses seed + i, so a run is repeatable).
fn run_corpus(seed: Option<u64>) {
    let cases = parse_corpus(CORPUS).unwrap_or_else(|e| panic!("{e}"));
    let (_redis, mut gateway) = Gateway::with_redis(GATEWAY_ARGS);
    let baseline = gateway.steady_usage();
    let addr = gateway.addr();
    let started = Instant::now();

    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());
    thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                let mut rng = seed.map(|s| rng::Rng::new(s.wrapping_add(i as u64)));
                if let Err(why) = run_case(addr, case, rng.as_mut()) {
                    failures
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((i, why));
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    failures.sort();
    for (i, why) in &failures {
        let case = &cases[*i];
        eprintln!(
            "FAILED case {} (corpus line {}){}, sent {}:\n    {why}",
            case.name,
            case.line,
            seed.map(|s| format!(" split with seed {s}"))
                .unwrap_or_default(),
            show(&case.bytes)
        );
    }
    eprintln!(
        "{} cases in {:?}, {} failed",
        cases.len(),
        started.elapsed(),
        failures.len()
    );
    assert!(
        gateway.is_running(),
        "the gateway died during the corpus; log:\n{}",
        gateway.log()
    );
    // Survival is checked whatever the cases gave, so that both kinds of failure are reported.
    gateway.expect_survived(baseline, 10, 8 * 1024);
    let names: Vec<&str> = failures
        .iter()
        .map(|(i, _)| cases[*i].name.as_str())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases failed: {names:?} (details above; seed {seed:?})",
        failures.len(),
        cases.len()
    );
}
