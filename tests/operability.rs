//! Operability end to end: the admin listener (`/healthz`, `/metrics` checked against a validator of the
//! Prometheus text format 0.0.4 written here, `POST /shutdown` and its drain), the access log, configuration
//! from the environment and `--print-config`, and `--log-level`.
//!
//! The admin port is the one the test support gives every gateway it starts (`--admin 127.0.0.1:0`, its
//! address read from the start-up line `listening on ADDR, ..., admin on ADDR`).

mod support;

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::gateway::listening_addr;
use support::*;

// ----- the admin address -----

#[test]
fn admin_addr_is_read_from_the_start_up_line() {
    let log = "2026-01-01T00:00:00.000Z INFO  redis-gateway 0.1.0 listening on 127.0.0.1:4000, \
               redis 127.0.0.1:6379 db 0, 9 workers, pool 40, admin on 127.0.0.1:4001\n";
    assert_eq!(
        admin_addr(log),
        Some(SocketAddr::from(([127, 0, 0, 1], 4001)))
    );
    assert_eq!(
        listening_addr(log),
        Some(SocketAddr::from(([127, 0, 0, 1], 4000)))
    );
    let without =
        "2026-01-01T00:00:00.000Z INFO  redis-gateway 0.1.0 listening on 127.0.0.1:4000, pool 4\n";
    assert_eq!(admin_addr(without), None);
    let later = "x INFO  listening on [::1]:80, admin on [::1]:81, more\n";
    assert_eq!(admin_addr(later), "[::1]:81".parse().ok());
}

// ----- a validator of the Prometheus text format 0.0.4 -----

/// Label names and values, in order.
type Labels = Vec<(String, String)>;

/// One sample line.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    /// Label names and unescaped values, in order.
    labels: Vec<(String, String)>,
    value: f64,
    /// The text before the value, as written: `name{a="b"}`; the key of [`Exposition::get`].
    series: String,
}

/// A parsed and validated exposition.
#[derive(Debug)]
struct Exposition {
    /// `# TYPE` of each family.
    types: HashMap<String, String>,
    samples: Vec<Sample>,
}

impl Exposition {
    /// The value of the series written exactly as `series` (e.g. `name{a="b"}`).
    fn get(&self, series: &str) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| s.series == series)
            .map(|s| s.value)
    }

    /// Like [`Exposition::get`], panicking with the series name when it is absent.
    #[track_caller]
    fn value(&self, series: &str) -> f64 {
        self.get(series)
            .unwrap_or_else(|| panic!("no series {series} in the exposition"))
    }

    /// The family a sample name belongs to, given the declared types: `x_bucket` of histogram `x` is `x`.
    fn family_of(&self, name: &str) -> String {
        family_of(&self.types, name)
    }
}

fn family_of(types: &HashMap<String, String>, name: &str) -> String {
    if types.contains_key(name) {
        return name.to_string();
    }
    for (suffix, kinds) in [
        ("_bucket", &["histogram"][..]),
        ("_sum", &["histogram", "summary"][..]),
        ("_count", &["histogram", "summary"][..]),
    ] {
        if let Some(base) = name.strip_suffix(suffix) {
            if types.get(base).is_some_and(|t| kinds.contains(&t.as_str())) {
                return base.to_string();
            }
        }
    }
    name.to_string()
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A sample value: `+Inf`, `-Inf`, `NaN`, or a decimal float such as `1`, `-0.5`, `2.5e-3`.
fn prom_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" => return Some(f64::INFINITY),
        "-Inf" => return Some(f64::NEG_INFINITY),
        "NaN" => return Some(f64::NAN),
        _ => {}
    }
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits_ok = (int.is_empty() || all_digits(int))
        && (frac.is_empty() || all_digits(frac))
        && !(int.is_empty() && frac.is_empty());
    let exponent_ok = exponent.map_or(true, |e| {
        all_digits(e.strip_prefix(['+', '-']).unwrap_or(e))
    });
    if digits_ok && exponent_ok {
        s.parse().ok()
    } else {
        None
    }
}

/// Checks the escapes of a `# HELP` text: only `\\` and `\n`.
fn check_help_text(text: &str) -> Result<(), String> {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' && !matches!(chars.next(), Some('\\' | 'n')) {
            return Err(format!("bad escape in HELP text {text:?}"));
        }
    }
    Ok(())
}

/// Parses one sample line: `name`, optional `{label="value",...}`, blanks, value, optional timestamp.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let bad = |why: &str| Err(format!("{why}: {line:?}"));
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return bad("bad metric name");
    }
    let mut labels: Vec<(String, String)> = Vec::new();
    let mut rest = &line[name_end..];
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        if let Some(after) = rest.strip_prefix('}') {
            rest = after;
        } else {
            loop {
                let eq = rest
                    .find('=')
                    .ok_or_else(|| format!("label without '=': {line:?}"))?;
                let label = &rest[..eq];
                if !is_label_name(label) {
                    return bad(&format!("bad label name {label:?}"));
                }
                if labels.iter().any(|(l, _)| l == label) {
                    return bad(&format!("label {label} twice"));
                }
                rest = rest[eq + 1..]
                    .strip_prefix('"')
                    .ok_or_else(|| format!("label value not quoted: {line:?}"))?;
                let mut value = String::new();
                let mut chars = rest.char_indices();
                let end = loop {
                    match chars.next() {
                        None => return bad("unterminated label value"),
                        Some((i, '"')) => break i,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, '\\')) => value.push('\\'),
                            Some((_, '"')) => value.push('"'),
                            Some((_, 'n')) => value.push('\n'),
                            _ => return bad("bad escape in a label value"),
                        },
                        Some((_, c)) => value.push(c),
                    }
                };
                labels.push((label.to_string(), value));
                rest = &rest[end + 1..];
                if let Some(after) = rest.strip_prefix(',') {
                    rest = after;
                } else if let Some(after) = rest.strip_prefix('}') {
                    rest = after;
                    break;
                } else {
                    return bad("expected ',' or '}' after a label");
                }
            }
        }
    }
    let series = line[..line.len() - rest.len()].to_string();
    if !rest.starts_with([' ', '\t']) {
        return bad("no blank before the value");
    }
    let mut tokens = rest.split([' ', '\t']).filter(|t| !t.is_empty());
    let value = tokens
        .next()
        .and_then(prom_float)
        .ok_or_else(|| format!("bad value: {line:?}"))?;
    if let Some(timestamp) = tokens.next() {
        if !all_digits(timestamp.strip_prefix('-').unwrap_or(timestamp)) {
            return bad("bad timestamp");
        }
    }
    if tokens.next().is_some() {
        return bad("trailing text after the value");
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
        series,
    })
}

/// Validates a whole exposition in the text format 0.0.4 and returns it parsed.
fn parse_exposition(text: &str) -> Result<Exposition, String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the exposition does not end with a newline".into());
    }
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helped: HashSet<String> = HashSet::new();
    let mut samples: Vec<Sample> = Vec::new();
    let mut seen_names: HashSet<String> = HashSet::new();
    let mut series_seen: HashSet<String> = HashSet::new();
    let mut current_family: Option<String> = None;
    let mut finished: HashSet<String> = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let at = |why: String| format!("line {}: {why}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            if !is_metric_name(name) {
                return Err(at(format!("bad metric name in {line:?}")));
            }
            check_help_text(help).map_err(at)?;
            if !helped.insert(name.to_string()) {
                return Err(at(format!("second HELP for {name}")));
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or_else(|| at(format!("TYPE without a type: {line:?}")))?;
            if !is_metric_name(name) {
                return Err(at(format!("bad metric name in {line:?}")));
            }
            if !matches!(
                kind,
                "counter" | "gauge" | "histogram" | "summary" | "untyped"
            ) {
                return Err(at(format!("unknown type in {line:?}")));
            }
            if types.contains_key(name) {
                return Err(at(format!("second TYPE for {name}")));
            }
            let owned: &[&str] = match kind {
                "histogram" => &["", "_bucket", "_sum", "_count"],
                "summary" => &["", "_sum", "_count"],
                _ => &[""],
            };
            if let Some(early) = owned
                .iter()
                .map(|suffix| format!("{name}{suffix}"))
                .find(|s| seen_names.contains(s))
            {
                return Err(at(format!("TYPE for {name} after a sample of {early}")));
            }
            types.insert(name.to_string(), kind.to_string());
        } else if line.starts_with('#') {
            return Err(at(format!(
                "a comment that is neither HELP nor TYPE: {line:?}"
            )));
        } else if line.is_empty() {
            return Err(at("an empty line".into()));
        } else {
            let sample = parse_sample(line).map_err(at)?;
            let family = family_of(&types, &sample.name);
            if current_family.as_deref() != Some(family.as_str()) {
                if finished.contains(&family) {
                    return Err(at(format!("samples of {family} are not in one group")));
                }
                if let Some(previous) = current_family.take() {
                    finished.insert(previous);
                }
                current_family = Some(family.clone());
            }
            let mut canonical = sample.labels.clone();
            canonical.sort();
            if !series_seen.insert(format!("{}{canonical:?}", sample.name)) {
                return Err(at(format!("series {} twice", sample.series)));
            }
            let kind = types.get(&family).map(String::as_str);
            if kind == Some("counter")
                && matches!(sample.value.partial_cmp(&0.0), None | Some(Ordering::Less))
            {
                return Err(at(format!("counter {} is {}", sample.series, sample.value)));
            }
            if kind == Some("histogram") && sample.name == family {
                return Err(at(format!("histogram {family} has a bare sample")));
            }
            seen_names.insert(sample.name.clone());
            samples.push(sample);
        }
    }
    let exposition = Exposition { types, samples };
    check_histograms(&exposition)?;
    Ok(exposition)
}

/// Every histogram: each `_bucket` series has `le`, in increasing order, cumulative, ending with `+Inf`
/// equal to `_count`; `_sum` and `_count` are there.
fn check_histograms(exposition: &Exposition) -> Result<(), String> {
    for (family, kind) in &exposition.types {
        if kind != "histogram" {
            continue;
        }
        // Buckets grouped by their labels other than `le`, in order of appearance.
        let mut groups: Vec<(Labels, Vec<(f64, f64)>)> = Vec::new();
        for sample in &exposition.samples {
            if sample.name != format!("{family}_bucket") {
                continue;
            }
            let le = sample
                .labels
                .iter()
                .find(|(l, _)| l == "le")
                .ok_or_else(|| format!("bucket without le: {}", sample.series))?;
            let bound = prom_float(&le.1)
                .ok_or_else(|| format!("le is not a number: {}", sample.series))?;
            let others: Vec<_> = sample
                .labels
                .iter()
                .filter(|(l, _)| l != "le")
                .cloned()
                .collect();
            match groups.iter_mut().find(|(labels, _)| *labels == others) {
                Some((_, buckets)) => buckets.push((bound, sample.value)),
                None => groups.push((others, vec![(bound, sample.value)])),
            }
        }
        if groups.is_empty() {
            return Err(format!("histogram {family} has no buckets"));
        }
        for (labels, buckets) in &groups {
            for pair in buckets.windows(2) {
                let ((le1, v1), (le2, v2)) = (pair[0], pair[1]);
                if le1.partial_cmp(&le2) != Some(Ordering::Less) {
                    return Err(format!("{family}{labels:?}: le {le1} then {le2}"));
                }
                if matches!(v1.partial_cmp(&v2), None | Some(Ordering::Greater)) {
                    return Err(format!(
                        "{family}{labels:?}: not cumulative, le {le1} has {v1} but le {le2} has {v2}"
                    ));
                }
            }
            let (last_le, inf_count) = buckets[buckets.len() - 1];
            if last_le != f64::INFINITY {
                return Err(format!(
                    "{family}{labels:?}: the last bucket is le {last_le}, not +Inf"
                ));
            }
            let with_labels = |name: String| {
                exposition
                    .samples
                    .iter()
                    .find(|s| s.name == name && s.labels == *labels)
                    .map(|s| s.value)
            };
            let count = with_labels(format!("{family}_count"))
                .ok_or_else(|| format!("{family}{labels:?}: no _count"))?;
            if count != inf_count {
                return Err(format!(
                    "{family}{labels:?}: _count {count} differs from the +Inf bucket {inf_count}"
                ));
            }
            with_labels(format!("{family}_sum"))
                .ok_or_else(|| format!("{family}{labels:?}: no _sum"))?;
        }
    }
    Ok(())
}

#[test]
fn exposition_validator_accepts_valid_text_and_rejects_each_kind_of_fault() {
    let good = "# HELP a_total Things, with \\\\ and \\n escapes.\n\
                # TYPE a_total counter\n\
                a_total{method=\"GET\",path=\"/x \\\"y\\\" \\\\ \\n }\"} 3\n\
                a_total{method=\"PUT\",path=\"\"} 0 1700000000000\n\
                # TYPE h histogram\n\
                h_bucket{le=\"0.5\"} 1\n\
                h_bucket{le=\"1\"} 2\n\
                h_bucket{le=\"+Inf\"} 2\n\
                h_sum 0.7\n\
                h_count 2\n\
                # TYPE g gauge\n\
                g -1.5e-3\n\
                g2{} NaN\n\
                g3 +Inf\n";
    let parsed = parse_exposition(good).unwrap_or_else(|e| panic!("valid text refused: {e}"));
    assert_eq!(
        parsed.samples[0].labels[1].1, "/x \"y\" \\ \n }",
        "label value unescaped"
    );
    assert_eq!(parsed.value("h_count"), 2.0);
    let head = "# TYPE h histogram\n";
    let bad: &[(&str, String)] = &[
        ("no final newline", "a 1".into()),
        ("empty line", "a 1\n\nb 2\n".into()),
        ("other comment", "# hello\na 1\n".into()),
        ("bad name", "1a 1\n".into()),
        ("bad name char", "a-b 1\n".into()),
        ("bad label name", "a{1x=\"v\"} 1\n".into()),
        ("bad escape", "a{x=\"\\t\"} 1\n".into()),
        ("unquoted value", "a{x=v} 1\n".into()),
        ("unterminated", "a{x=\"v} 1\n".into()),
        ("trailing comma", "a{x=\"v\",} 1\n".into()),
        ("dup label", "a{x=\"v\",x=\"w\"} 1\n".into()),
        ("bad value", "a 1.2.3\n".into()),
        ("inf spelling", "a inf\n".into()),
        ("hex value", "a 0x10\n".into()),
        ("no value", "a\n".into()),
        ("trailing text", "a 1 2 3\n".into()),
        ("bad type", "# TYPE a countr\na 1\n".into()),
        ("type twice", "# TYPE a gauge\n# TYPE a gauge\na 1\n".into()),
        ("help twice", "# HELP a x\n# HELP a y\na 1\n".into()),
        ("bad help escape", "# HELP a x\\y\na 1\n".into()),
        ("type after sample", "a 1\n# TYPE a gauge\n".into()),
        ("type after bucket", "h_bucket{le=\"+Inf\"} 1\n# TYPE h histogram\n".into()),
        ("not grouped", "a 1\nb 1\na{x=\"y\"} 2\n".into()),
        ("series twice", "a{x=\"1\"} 1\na{x=\"1\"} 2\n".into()),
        ("negative counter", "# TYPE c counter\nc -1\n".into()),
        ("bucket without le", format!("{head}h_bucket 1\nh_sum 1\nh_count 1\n")),
        (
            "not cumulative",
            format!("{head}h_bucket{{le=\"1\"}} 2\nh_bucket{{le=\"+Inf\"}} 1\nh_sum 1\nh_count 1\n"),
        ),
        (
            "le out of order",
            format!("{head}h_bucket{{le=\"2\"}} 1\nh_bucket{{le=\"1\"}} 1\nh_bucket{{le=\"+Inf\"}} 1\nh_sum 1\nh_count 1\n"),
        ),
        (
            "no +Inf",
            format!("{head}h_bucket{{le=\"1\"}} 1\nh_sum 1\nh_count 1\n"),
        ),
        (
            "count differs",
            format!("{head}h_bucket{{le=\"+Inf\"}} 2\nh_sum 1\nh_count 3\n"),
        ),
        ("no count", format!("{head}h_bucket{{le=\"+Inf\"}} 2\nh_sum 1\n")),
        ("no sum", format!("{head}h_bucket{{le=\"+Inf\"}} 2\nh_count 2\n")),
    ];
    for (what, text) in bad {
        assert!(
            parse_exposition(text).is_err(),
            "{what}: the validator accepted {text:?}"
        );
    }
}

/// `GET /metrics` on the admin port: checks the status and `Content-Type`, validates the text.
fn scrape(admin: SocketAddr) -> (Exposition, Response) {
    let response = request(admin, "GET", "/metrics", &[], b"");
    expect_status(&response, 200);
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "/metrics Content-Type is {content_type:?}:\n{response:?}"
    );
    let text = response.text();
    let exposition = parse_exposition(&text)
        .unwrap_or_else(|e| panic!("/metrics is not valid text format 0.0.4: {e}\n{text}"));
    (exposition, response)
}

/// The `"pool":{...}` object of a `/healthz` body, field `name`.
fn pool_field(body: &str, name: &str) -> Option<u64> {
    let pool = &body[body.find("\"pool\":{")? + "\"pool\":{".len()..];
    let pool = &pool[..pool.find('}')?];
    let value = &pool[pool.find(&format!("\"{name}\":"))? + name.len() + 3..];
    let end = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    value[..end].parse().ok()
}

// ----- 1. /healthz -----

#[test]
fn healthz_is_ok_with_the_pool_when_redis_is_up() {
    let (_redis, gateway) = Gateway::with_redis(&["--pool-size", "4"]);
    let admin = gateway.admin();
    let mut last = None;
    let full = poll_until(START_TIMEOUT, || {
        let response = request(admin, "GET", "/healthz", &[], b"");
        let open = pool_field(&response.text(), "open");
        last = Some(response);
        open == Some(4)
    });
    let response = last.expect("at least one /healthz");
    assert!(
        full,
        "the pool never reached 4 open connections:\n{response:?}"
    );
    expect_status(&response, 200);
    expect_common_headers(&response);
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "{response:?}"
    );
    let body = response.text();
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    assert_eq!(pool_field(&body, "size"), Some(4), "pool size in {body}");
    assert_eq!(pool_field(&body, "open"), Some(4), "pool open in {body}");
    assert!(response.header("retry-after").is_none(), "{response:?}");
}

#[test]
fn healthz_is_503_while_redis_is_absent_and_200_once_it_is_up() {
    let port = closed_port();
    let gateway = Gateway::start_port(port, &["--pool-size", "2"]);
    let admin = gateway.admin();
    let response = request(admin, "GET", "/healthz", &[], b"");
    expect_status(&response, 503);
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "{response:?}"
    );
    assert!(
        response.text().contains("\"status\":\"unavailable\""),
        "{response:?}"
    );
    assert_eq!(
        pool_field(&response.text(), "open"),
        Some(0),
        "{response:?}"
    );
    let retry = response.header("retry-after").unwrap_or_default();
    assert!(
        retry.parse::<u64>().is_ok(),
        "Retry-After {retry:?} is not a number of seconds:\n{response:?}"
    );

    let _redis = RedisServer::start_on(port, &[]);
    let mut last = response;
    let healthy = poll_until(Duration::from_secs(5), || {
        last = request(admin, "GET", "/healthz", &[], b"");
        last.status == 200
    });
    assert!(
        healthy,
        "/healthz not 200 within 5 s of Redis coming up:\n{last:?}"
    );
    assert!(last.text().contains("\"status\":\"ok\""), "{last:?}");
}

// ----- 2. /metrics -----

#[test]
fn metrics_count_requests_by_method_and_class_and_follow_the_text_format() {
    let (_redis, gateway) = Gateway::with_redis(&["--pool-size", "3"]);
    let admin = gateway.admin();
    let data = gateway.addr();
    let (before, first) = scrape(admin);

    // Every request on a fresh connection, one after the other; each is counted (metrics and access
    // log) before its response is queued, so a scrape after the last response sees all of them.
    let mut sent_bytes = 0;
    let mut body_bytes = 0;
    let mut go = |method: &str, path: &str, body: &[u8], status: u16| {
        sent_bytes += format_request_to(&data.to_string(), method, path, &[], body).len();
        let response = request(data, method, path, &[], body);
        expect_status(&response, status);
        body_bytes += response.body.len();
    };
    go("PUT", "/metrics-key", b"counted", 204);
    for _ in 0..3 {
        go("GET", "/metrics-key", b"", 200);
    }
    for _ in 0..2 {
        go("GET", "/metrics-missing", b"", 404);
    }
    go("PATCH", "/metrics-key", b"", 405);
    let (after, _) = scrape(admin);
    let scrape_request = format_request_to(&admin.to_string(), "GET", "/metrics", &[], b"").len();

    let delta = |series: &str| after.value(series) - before.value(series);
    // Admin requests are counted like any other (worker::record runs for every item), after their
    // response is rendered: the first scrape is in the second one, the second scrape is not.
    let requests =
        |m: &str, c: &str| format!("redis_gateway_requests_total{{method=\"{m}\",class=\"{c}\"}}");
    assert_eq!(
        delta(&requests("GET", "2xx")),
        3.0 + 1.0,
        "3 GET 200 and the first scrape"
    );
    assert_eq!(delta(&requests("GET", "4xx")), 2.0, "2 GET 404");
    assert_eq!(delta(&requests("PUT", "2xx")), 1.0, "1 PUT 204");
    assert_eq!(
        delta(&requests("other", "4xx")),
        1.0,
        "PATCH 405 counts as other"
    );
    assert_eq!(delta(&requests("GET", "5xx")), 0.0);
    assert_eq!(delta(&requests("PUT", "4xx")), 0.0);
    assert_eq!(
        delta("redis_gateway_request_duration_seconds_count"),
        8.0,
        "7 data requests and the first scrape"
    );
    assert!(delta("redis_gateway_request_duration_seconds_sum") > 0.0);
    assert_eq!(
        delta("redis_gateway_received_bytes_total"),
        (sent_bytes + scrape_request) as f64,
        "every byte of the 7 requests and of the second scrape's request"
    );
    assert!(
        delta("redis_gateway_sent_bytes_total") >= (first.body.len() + body_bytes) as f64,
        "sent bytes grew by {}, less than the bodies alone ({} + {body_bytes})",
        delta("redis_gateway_sent_bytes_total"),
        first.body.len()
    );
    assert_eq!(
        delta("redis_gateway_connections_accepted_total"),
        8.0,
        "7 data connections and the second scrape's"
    );
    assert_eq!(after.value("redis_gateway_pool_size"), 3.0);
    assert!(
        after.value("redis_gateway_connections_open") >= 1.0,
        "the scrape itself"
    );
    assert!(after.value("redis_gateway_uptime_seconds") >= 0.0);
    assert_eq!(
        after.value("redis_gateway_build_info{version=\"0.1.0\"}"),
        1.0
    );
    assert!(
        after
            .samples
            .iter()
            .any(|s| s.name == "redis_gateway_build_info"
                && s.labels == [("version".to_string(), "0.1.0".to_string())]),
        "build_info"
    );
    for (family, kind) in [
        ("redis_gateway_requests_total", "counter"),
        ("redis_gateway_request_duration_seconds", "histogram"),
        ("redis_gateway_received_bytes_total", "counter"),
        ("redis_gateway_sent_bytes_total", "counter"),
        ("redis_gateway_connections_accepted_total", "counter"),
        ("redis_gateway_pool_size", "gauge"),
        ("redis_gateway_connections_active", "gauge"),
        ("redis_gateway_build_info", "gauge"),
    ] {
        assert_eq!(
            after.types.get(family).map(String::as_str),
            Some(kind),
            "TYPE of {family}"
        );
    }

    // Counters (and a histogram's buckets, sum and count) never go down between two scrapes.
    for sample in &before.samples {
        let family = before.family_of(&sample.name);
        if !matches!(
            before.types.get(&family).map(String::as_str),
            Some("counter" | "histogram")
        ) {
            continue;
        }
        let now = after
            .get(&sample.series)
            .unwrap_or_else(|| panic!("series {} vanished between scrapes", sample.series));
        assert!(
            now >= sample.value,
            "counter {} went down: {} then {now}",
            sample.series,
            sample.value
        );
    }
}

// ----- 3. the admin endpoints live on the admin port only -----

#[test]
fn admin_paths_on_the_data_port_are_keys_and_the_admin_port_refuses_the_rest() {
    let (redis, gateway) = Gateway::with_redis(&[]);
    let admin = gateway.admin();
    let data = gateway.addr();
    for path in ["/healthz", "/metrics"] {
        let response = request(data, "GET", path, &[], b"");
        expect_status(&response, 404);
        expect_common_headers(&response);
        assert!(
            !response.text().contains("status"),
            "{path} on the data port is a key lookup:\n{response:?}"
        );
    }
    // And it really is the key: store it, read it back.
    redis.cmd(&[b"SET", b"healthz", b"a key, not a probe"]);
    let response = request(data, "GET", "/healthz", &[], b"");
    expect_status(&response, 200);
    assert_eq!(response.text(), "a key, not a probe");
    // POST /shutdown on the data port is not a shutdown either (POST /KEY is 405 there).
    let response = request(data, "POST", "/shutdown", &[], b"");
    expect_status(&response, 405);

    let response = request(admin, "GET", "/nope", &[], b"");
    expect_status(&response, 404);
    expect_common_headers(&response);
    expect_text_error(&response);
    let response = request(admin, "GET", "/shutdown", &[], b"");
    expect_status(&response, 405);
    assert_eq!(response.allow(), ["POST"], "{response:?}");
    let response = request(admin, "POST", "/healthz", &[], b"");
    expect_status(&response, 405);
    assert_eq!(response.allow(), ["GET", "HEAD"], "{response:?}");
    let response = request(admin, "HEAD", "/healthz", &[], b"");
    expect_status(&response, 200);

    // None of that stopped anything: both ports still serve.
    expect_status(&request(data, "GET", "/healthz", &[], b""), 200);
    expect_status(&request(admin, "GET", "/healthz", &[], b""), 200);
    assert!(!gateway.log().contains("draining"), "{}", gateway.log());
}

// ----- 4. the access log -----

/// One access-log line, parsed.
#[derive(Debug, PartialEq, Eq)]
struct AccessLine {
    ip: IpAddr,
    /// Seconds since the epoch, from the `[DD/Mon/YYYY:HH:MM:SS +0000]` field.
    time: u64,
    request: String,
    status: u16,
    bytes: u64,
    micros: u64,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `28/Nov/2026:05:18:00 +0000` → seconds since the epoch.
fn parse_clf_time(text: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = text.as_bytes();
    let shape = text.len() == 26
        && b[2] == b'/'
        && b[6] == b'/'
        && b[11] == b':'
        && b[14] == b':'
        && b[17] == b':'
        && &text[20..] == " +0000";
    if !shape {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = &text[range];
        all_digits(s).then(|| s.parse().ok()).flatten()
    };
    let day = num(0..2)?;
    let month = MONTHS.iter().position(|m| *m == &text[3..6])? as i64 + 1;
    let year = num(7..11)?;
    let (h, m, s) = (num(12..14)?, num(15..17)?, num(18..20)?);
    let valid = (1..=31).contains(&day) && h < 24 && m < 60 && s < 61;
    let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s;
    valid.then(|| u64::try_from(secs).ok()).flatten()
}

/// `IP - - [TIME] "METHOD TARGET HTTP/1.1" STATUS BYTES MICROS`, nothing more, nothing less.
fn parse_access_line(line: &str) -> Result<AccessLine, String> {
    let bad = |why: &str| format!("{why}: {line:?}");
    let (ip, rest) = line
        .split_once(" - - [")
        .ok_or_else(|| bad("no ' - - ['"))?;
    let ip: IpAddr = ip.parse().map_err(|_| bad("not an IP address"))?;
    let (time, rest) = rest.split_once("] \"").ok_or_else(|| bad("no '] \"'"))?;
    let time = parse_clf_time(time).ok_or_else(|| bad("bad CLF time"))?;
    let (request, rest) = rest
        .split_once("\" ")
        .ok_or_else(|| bad("request line not quoted"))?;
    let parts: Vec<&str> = request.split(' ').collect();
    let request_ok = parts.len() == 3
        && !parts[0].is_empty()
        && parts[0].bytes().all(|b| b.is_ascii_uppercase())
        && parts[1].starts_with('/')
        && matches!(parts[2], "HTTP/1.1" | "HTTP/1.0");
    if !request_ok {
        return Err(bad("bad request line"));
    }
    let numbers: Vec<&str> = rest.split(' ').collect();
    if numbers.len() != 3 || !numbers.iter().all(|n| all_digits(n)) || numbers[0].len() != 3 {
        return Err(bad("expected STATUS BYTES MICROS"));
    }
    let number = |s: &str| s.parse::<u64>().map_err(|_| bad("number out of range"));
    Ok(AccessLine {
        ip,
        time,
        request: request.to_string(),
        status: number(numbers[0])? as u16,
        bytes: number(numbers[1])?,
        micros: number(numbers[2])?,
    })
}

#[test]
fn access_line_parser_takes_the_format_and_nothing_else() {
    let line = "127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] \"GET /key HTTP/1.1\" 200 8192 153";
    assert_eq!(
        parse_access_line(line),
        Ok(AccessLine {
            ip: IpAddr::from([127, 0, 0, 1]),
            time: 784_111_777,
            request: "GET /key HTTP/1.1".into(),
            status: 200,
            bytes: 8192,
            micros: 153,
        })
    );
    for bad in [
        "127.0.0.1 - - [06/Nov/1994:08:49:37 +0100] \"GET /key HTTP/1.1\" 200 8192 153",
        "127.0.0.1 - - [6/Nov/1994:08:49:37 +0000] \"GET /key HTTP/1.1\" 200 8192 153",
        "127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] \"GET /key HTTP/1.1\" 200 8192",
        "127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] \"GET /key HTTP/1.1\" 200 8192 1.5",
        "127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] \"GET /key\" 200 8192 153",
        "127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] GET /key HTTP/1.1 200 8192 153",
        "localhost - - [06/Nov/1994:08:49:37 +0000] \"GET /key HTTP/1.1\" 200 8192 153",
        "2026-01-01T00:00:00.000Z INFO  listening on 127.0.0.1:1",
    ] {
        assert!(parse_access_line(bad).is_err(), "accepted {bad:?}");
    }
}

/// The lines of `log` that start with an IP address: the access-log lines (log lines start with a date).
fn access_candidates(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            l.split(' ')
                .next()
                .is_some_and(|first| first.parse::<IpAddr>().is_ok())
        })
        .collect()
}

/// Makes a GET 200 of a known value, a PUT 204 and a GET 404; returns the three expected
/// (request line, status, bytes).
fn access_log_traffic(redis: &RedisServer, data: SocketAddr) -> Vec<(String, u16, u64)> {
    redis.cmd(&[b"SET", b"logged", b"eleven byte"]);
    let get = request(data, "GET", "/logged", &[], b"");
    expect_status(&get, 200);
    assert_eq!(get.body, b"eleven byte");
    expect_status(&request(data, "PUT", "/logged-put", &[], b"abc"), 204);
    let missing = request(data, "GET", "/logged-missing", &[], b"");
    expect_status(&missing, 404);
    vec![
        ("GET /logged HTTP/1.1".into(), 200, 11),
        ("PUT /logged-put HTTP/1.1".into(), 204, 0),
        (
            "GET /logged-missing HTTP/1.1".into(),
            404,
            missing.body.len() as u64,
        ),
    ]
}

/// Checks that `log` holds the expected access lines in order, and that every access-looking line parses.
#[track_caller]
fn expect_access_lines(log: &str, expected: &[(String, u16, u64)], started: SystemTime) {
    let lines: Vec<AccessLine> = access_candidates(log)
        .into_iter()
        .map(|l| parse_access_line(l).unwrap_or_else(|e| panic!("{e}\nlog:\n{log}")))
        .collect();
    let since = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs()
    };
    let (from, to) = (since(started), since(SystemTime::now()));
    let mut next = 0;
    for (request, status, bytes) in expected {
        let found = lines[next..]
            .iter()
            .position(|l| &l.request == request)
            .unwrap_or_else(|| panic!("no access line for {request:?} (in order); log:\n{log}"));
        let line = &lines[next + found];
        next += found + 1;
        assert_eq!(line.ip, IpAddr::from([127, 0, 0, 1]), "{line:?}");
        assert_eq!((line.status, line.bytes), (*status, *bytes), "{line:?}");
        assert!(
            (from..=to).contains(&line.time),
            "time {} not between {from} and {to}: {line:?}",
            line.time
        );
        assert!(line.micros < 10_000_000, "{line:?}");
    }
}

#[test]
fn access_log_to_stderr_has_one_line_per_request_in_the_documented_format() {
    let started = SystemTime::now();
    let (redis, gateway) = Gateway::with_redis(&["--access-log", "stderr"]);
    let expected = access_log_traffic(&redis, gateway.addr());
    let mut log = gateway.log();
    poll_until(Duration::from_secs(2), || {
        log = gateway.log();
        access_candidates(&log).len() >= expected.len()
    });
    expect_access_lines(&log, &expected, started);
}

#[test]
fn access_log_to_a_file_gets_the_same_lines_and_stderr_gets_none() {
    let started = SystemTime::now();
    let dir = TempDir::new("access-log");
    let path = dir.path().join("access.log");
    let path_text = path.to_str().expect("UTF-8 temp path");
    let (redis, gateway) = Gateway::with_redis(&["--access-log", path_text]);
    let expected = access_log_traffic(&redis, gateway.addr());
    let mut log = String::new();
    poll_until(Duration::from_secs(2), || {
        log = read_log(&path);
        access_candidates(&log).len() >= expected.len()
    });
    expect_access_lines(&log, &expected, started);
    assert_eq!(
        access_candidates(&log).len(),
        log.lines().count(),
        "only access lines in the file:\n{log}"
    );
    assert!(
        access_candidates(&gateway.log()).is_empty(),
        "access lines on stderr too:\n{}",
        gateway.log()
    );
}

#[test]
fn without_access_log_no_access_lines_are_written() {
    let (redis, mut gateway) = Gateway::with_redis(&[]);
    access_log_traffic(&redis, gateway.addr());
    // The line would be written before the response was queued. To be sure all the same, the gateway
    // is stopped: once it has exited, its log is complete.
    gateway.shut_down();
    let log = gateway.log();
    assert!(
        access_candidates(&log).is_empty(),
        "access lines without --access-log:\n{log}"
    );
    assert!(!log.contains("\"GET /logged"), "{log}");
}

// ----- 5. the environment -----

#[test]
fn pool_size_from_the_environment_and_the_flag_wins() {
    let from_env = RedisServer::start();
    let gateway = Gateway::start_with_env(&from_env, &[], &[("REDIS_GATEWAY_POOL_SIZE", "3")]);
    gateway.expect_pool(&from_env, 3);

    let flag_wins = RedisServer::start();
    let gateway = Gateway::start_with_env(
        &flag_wins,
        &["--pool-size", "5"],
        &[("REDIS_GATEWAY_POOL_SIZE", "3")],
    );
    gateway.expect_pool(&flag_wins, 5);
}

#[test]
fn a_bad_environment_value_exits_2_naming_the_variable() {
    let Run {
        status,
        stdout,
        stderr,
    } = run(
        &["--listen", "127.0.0.1:0"],
        &[("REDIS_GATEWAY_WORKERS", "abc")],
        EXIT_TIMEOUT,
    );
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(2),
        "status {status:?}; stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("REDIS_GATEWAY_WORKERS"),
        "stderr:\n{stderr}"
    );
    assert!(stderr.contains("abc"), "stderr:\n{stderr}");
    assert!(!stderr.contains("listening on"), "it served:\n{stderr}");
    assert!(stdout.is_empty(), "stdout:\n{stdout}");
}

#[test]
fn print_config_prints_the_environment_file_masks_the_password_and_reflects_the_environment() {
    let Run {
        status,
        stdout,
        stderr,
    } = run(
        &[
            "--print-config",
            "--redis-password",
            "hunter2",
            "--workers",
            "2",
        ],
        &[
            ("REDIS_GATEWAY_IDLE_TIMEOUT", "7s"),
            ("REDIS_GATEWAY_WORKERS", "4"),
            ("REDIS_GATEWAY_POOL_SIZE", "3"),
        ],
        EXIT_TIMEOUT,
    );
    assert_eq!(status.and_then(|s| s.code()), Some(0), "stderr:\n{stderr}");
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(lines.len() >= 20, "too few lines:\n{stdout}");
    for line in &lines {
        let (name, _) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not NAME=value: {line:?}"));
        let suffix = name
            .strip_prefix("REDIS_GATEWAY_")
            .unwrap_or_else(|| panic!("not REDIS_GATEWAY_<NAME>: {line:?}"));
        assert!(
            !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
            "{line:?}"
        );
    }
    for want in [
        "REDIS_GATEWAY_REDIS_PASSWORD=***",
        "REDIS_GATEWAY_IDLE_TIMEOUT=7s",
        "REDIS_GATEWAY_WORKERS=2",
        "REDIS_GATEWAY_POOL_SIZE=3",
    ] {
        assert!(lines.contains(&want), "no line {want:?} in:\n{stdout}");
    }
    assert!(
        !stdout.contains("hunter2"),
        "the password leaked:\n{stdout}"
    );
    assert!(
        !stderr.contains("hunter2"),
        "the password leaked:\n{stderr}"
    );

    // A password from the environment is masked the same way.
    let Run { status, stdout, .. } = run(
        &["--print-config"],
        &[("REDIS_GATEWAY_REDIS_PASSWORD", "hunter3")],
        EXIT_TIMEOUT,
    );
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    assert!(
        stdout.contains("REDIS_GATEWAY_REDIS_PASSWORD=***\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter3"), "{stdout}");
}

// ----- 6. --log-level -----

/// Log lines (`DATE LEVEL message`) at `level` (`WARN`, `INFO`...).
fn lines_at<'a>(log: &'a str, level: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(level))
        .collect()
}

#[test]
fn log_level_warn_shows_the_redis_warning_and_no_info() {
    let absent = format!("127.0.0.1:{}", closed_port());
    let mut gateway = Gateway::spawn(
        &[
            "--listen",
            "127.0.0.1:0",
            "--redis",
            &absent,
            "--log-level",
            "warn",
        ],
        &[],
    );
    let mut log = String::new();
    let warned = poll_until(START_TIMEOUT, || {
        log = gateway.log();
        log.contains("unavailable") || !gateway.is_running()
    });
    assert!(
        warned && gateway.is_running(),
        "no WARN about Redis; log:\n{log}"
    );
    let warnings = lines_at(&log, "WARN");
    assert!(
        warnings
            .iter()
            .any(|l| l.contains(&absent) && l.contains("unavailable")),
        "the Redis warning is not a WARN line naming {absent}:\n{log}"
    );
    // INFO is below warn: no INFO line but the start-up line, which is written at every level
    // (it is the only place an address bound with port 0 can be read from).
    let info = lines_at(&log, "INFO");
    assert!(
        info.len() == 1 && info.iter().all(|l| l.contains("listening on")),
        "INFO lines other than the start-up line at --log-level warn:\n{log}"
    );
}

#[test]
fn log_level_error_hides_the_redis_warning_while_serving() {
    let absent = format!("127.0.0.1:{}", closed_port());
    let listen = format!("127.0.0.1:{}", free_port());
    let mut gateway = Gateway::spawn(
        &[
            "--listen",
            &listen,
            "--redis",
            &absent,
            "--log-level",
            "error",
            "--admin",
            "127.0.0.1:0",
        ],
        &[],
    );
    let data: SocketAddr = listen.parse().expect("listen address");
    // Find out that it serves by asking: 503 while Redis is absent.
    let mut last = String::new();
    let serving = poll_until(START_TIMEOUT, || {
        match try_request(data, "GET", "/k", &[], b"") {
            Ok(r) if r.status == 503 => true,
            Ok(r) => {
                last = format!("{r:?}");
                false
            }
            Err(e) => {
                last = e;
                !gateway.is_running()
            }
        }
    });
    assert!(
        serving && gateway.is_running(),
        "not serving at {listen}; last: {last}"
    );
    // At warn the maintainer logs an outage when an attempt fails (see the test above); once two more
    // attempts have failed, such a line would be there. Only the start-up line, written at every
    // level, may be.
    let others = |log: &str| {
        log.lines()
            .filter(|l| !l.contains("listening on"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert!(
        gateway.log().contains("listening on"),
        "the start-up line is written at every level:\n{}",
        gateway.log()
    );
    gateway.wait_connect_failures(2);
    let quiet = others(&gateway.log()).is_empty();
    assert!(quiet, "lines at --log-level error:\n{}", gateway.log());
    assert!(gateway.is_running(), "the gateway exited");
}

// ----- 7. POST /shutdown and the drain -----

/// Admin answers need no Redis, so a stalled Redis must not delay them. Found by the drain test: a
/// `/metrics` scrape sent right after a GET to a stopped Redis took `--redis-timeout` to answer. The poll
/// loop pushes every connection ready in one pass at once, a worker takes them as one batch, and a wave
/// answers its admin items only after the Redis round trip of its data items.
#[test]
fn admin_requests_are_not_held_up_by_a_stalled_redis() {
    let (redis, gateway) = Gateway::with_redis(&["--redis-timeout", "5s", "--pool-size", "2"]);
    let admin = gateway.admin();
    let data = gateway.addr();
    redis.cmd(&[b"SET", b"stalled", b"v"]);
    for round in 1..=5 {
        // Both connections open and parked first, then both requests written back to back, so that the
        // poll loop finds them ready in the same pass, as it would under load.
        let mut get = connect(data);
        let mut health = connect(admin);
        health
            .set_read_timeout(Some(Duration::from_secs(1)))
            .expect("set_read_timeout");
        // A scrape through the admin listener's backlog after them: once answered, both were accepted.
        scrape(admin);
        redis.stop_signal("STOP");
        send(&mut get, &format_request("GET", "/stalled", &[], b""));
        send(
            &mut health,
            &format_request_to(&admin.to_string(), "GET", "/healthz", &[], b""),
        );
        let started = Instant::now();
        let answer = read_response(&mut health);
        let took = started.elapsed();
        redis.stop_signal("CONT");
        let answer = answer.unwrap_or_else(|e| {
            panic!(
                "round {round}: GET /healthz on the admin port got no answer within 1 s while Redis \
                 was stopped with a GET in flight ({e}); admin requests wait for the Redis round trip \
                 of the data requests batched with them (up to --redis-timeout)"
            )
        });
        expect_status(&answer, 200);
        assert!(
            took < Duration::from_secs(1),
            "round {round}: /healthz took {took:?}"
        );
        let got = read_response(&mut get).unwrap_or_else(|e| panic!("round {round}: GET: {e}"));
        expect_status(&got, 200);
    }
}

/// True when a new connection to `addr` is refused (or otherwise fails) within 200 ms.
fn refused(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err()
}

#[test]
fn shutdown_refuses_new_connections_finishes_the_request_in_flight_and_exits_0() {
    let (redis, mut gateway) = Gateway::with_redis(&[
        "--redis-timeout",
        "5s",
        "--drain-timeout",
        "5s",
        "--pool-size",
        "2",
    ]);
    let (data, admin) = (gateway.addr(), gateway.admin());
    let full = poll_until(START_TIMEOUT, || {
        scrape(admin).0.value("redis_gateway_pool_open") == 2.0
    });
    assert!(full, "the pool never filled");
    redis.cmd(&[b"SET", b"in-flight", b"answered after the drain began"]);

    redis.stop_signal("STOP");
    let client = thread::spawn(move || try_request(data, "GET", "/in-flight", &[], b""));
    // First wait until the GET's command sits unread in the stopped Redis's socket: only then is it surely
    // in flight, and only then may the admin port be asked. A scrape that reaches the poll loop in the same
    // pass as the GET shares its worker batch and waits for Redis too (see
    // `admin_requests_are_not_held_up_by_a_stalled_redis`), which is another test's bug, not this one's.
    let mut unread = 0;
    // (Liveness bounds: generous, for a loaded machine running an unoptimised build.)
    let sent = poll_until(Duration::from_secs(10), || {
        unread = redis.unread_bytes();
        unread > 0
    });
    assert!(sent, "the GET's command never reached the stopped Redis");
    // In flight, as /metrics sees it: a worker holds a Redis connection (pool_in_use) for a connection that
    // is neither parked nor the scrape itself (connections_active counts the scrape too).
    let mut seen = (0.0, 0.0);
    let in_flight = poll_until(Duration::from_secs(10), || {
        let (now, _) = scrape(admin);
        seen = (
            now.value("redis_gateway_pool_in_use"),
            now.value("redis_gateway_connections_active"),
        );
        seen.0 >= 1.0 && seen.1 >= 2.0
    });
    assert!(
        in_flight,
        "the GET never showed as in flight: (pool_in_use, active) = {seen:?}"
    );

    let response = try_request(admin, "POST", "/shutdown", &[SHUTDOWN_HEADER], b"")
        .unwrap_or_else(|e| panic!("POST /shutdown: {e}"));
    expect_status(&response, 202);
    let shutdown_at = Instant::now();
    let closed = poll_until(Duration::from_secs(1), || refused(data));
    assert!(
        closed,
        "the data port still accepts connections 1 s after POST /shutdown"
    );
    assert!(
        refused(admin),
        "the admin port still accepts connections during the drain"
    );
    assert!(
        gateway.is_running(),
        "the gateway exited with a request in flight; log:\n{}",
        gateway.log()
    );

    redis.stop_signal("CONT");
    let answer = client
        .join()
        .expect("client thread")
        .unwrap_or_else(|e| panic!("the request in flight failed: {e}"));
    expect_status(&answer, 200);
    assert_eq!(answer.text(), "answered after the drain began");
    assert!(
        answer.closes(),
        "responses during a drain close:\n{answer:?}"
    );

    let status = gateway.wait_exit(Duration::from_secs(4));
    assert!(
        status.is_some_and(|s| s.code() == Some(0)),
        "exit status {status:?} ({:?} after POST /shutdown); log:\n{}",
        shutdown_at.elapsed(),
        gateway.log()
    );
    let log = gateway.log();
    assert!(log.contains("shutdown requested"), "{log}");
    assert!(log.contains("drained"), "{log}");
    assert!(!log.contains("drain timeout"), "{log}");
}

#[test]
fn shutdown_closes_idle_keep_alive_connections_and_exits_0_at_once() {
    let (_redis, mut gateway) =
        Gateway::with_redis(&["--drain-timeout", "10s", "--pool-size", "2"]);
    let (data, admin) = (gateway.addr(), gateway.admin());
    let mut idle = connect(data);
    let response = request_on(&mut idle, "GET", "/idle", &[], b"");
    expect_status(&response, 404);
    assert!(!response.closes(), "keep-alive expected:\n{response:?}");

    let response = try_request(admin, "POST", "/shutdown", &[SHUTDOWN_HEADER], b"")
        .unwrap_or_else(|e| panic!("POST /shutdown: {e}"));
    expect_status(&response, 202);
    let shutdown_at = Instant::now();
    assert_eq!(
        wait_closed(&mut idle, Duration::from_secs(3)),
        Closed::Eof,
        "the idle keep-alive connection was not closed by the drain"
    );
    let status = gateway.wait_exit(Duration::from_secs(3));
    assert!(
        status.is_some_and(|s| s.code() == Some(0)),
        "exit status {status:?} {:?} after POST /shutdown (--drain-timeout 10s); log:\n{}",
        shutdown_at.elapsed(),
        gateway.log()
    );
    assert!(gateway.log().contains("drained"), "{}", gateway.log());
}
