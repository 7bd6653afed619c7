//! What an Upstash request asks Redis to run: a JSON command, a JSON list of them, or a command
//! written as a path; and the checks every command passes.
//!
//! ```text
//!   POST /            ["SET","k","v",{…}?]     strings as they are; numbers as their JSON text;
//!   POST /pipeline    [["SET","k","v"],["GET","k"]]     true/false; null as an empty string
//!   POST /multi-exec  the same, run as one transaction
//!   GET|POST /set/k/v/EX/100[?NX]             segments percent-decoded (%2F is a / inside one);
//!                                             a POST body is the last argument, then query pairs
//! ```
//!
//! Failures are answered in Redis's words (`ERR …`, 400) because the Upstash clients show the
//! `error` text as is. A command is refused (400) when it would change or take over a pooled
//! connection's state (the webdis API's list), and the read-only token may run only commands
//! Redis flags `readonly` ([`is_readonly`]).
//!
//! Limits: the body is at most `--max-body-bytes` (checked by the HTTP parser before it is
//! read); a request holds at most [`MAX_BATCH_COMMANDS`] commands; the JSON parser nests at
//! most two arrays deep.

use super::super::token::Access;
use super::super::Error;
use crate::http::url::{self, Plus};
use crate::json::{self, Number, Value};
use crate::webdis;

/// Most commands in one `/pipeline` or `/multi-exec` request.
pub const MAX_BATCH_COMMANDS: usize = 10_000;

/// One command: its name, then its arguments.
pub type Args = Vec<Vec<u8>>;

/// Reads `["CMD", arg, …]`.
///
/// # Errors
///
/// [`Error::Command`] (`ERR …`) when the body is not one JSON array of scalars with a name.
pub fn json_one(body: &[u8]) -> Result<Args, Error> {
    let value = parse(body, 1)?;
    let items = value
        .as_array()
        .ok_or_else(|| bad("the body must be a JSON array: [\"SET\",\"key\",\"value\"]"))?;
    command(items)
}

/// Reads `[["CMD", arg, …], …]`: at least one command, at most [`MAX_BATCH_COMMANDS`].
///
/// # Errors
///
/// [`Error::Command`] when the body is not a non-empty JSON array of commands.
pub fn json_many(body: &[u8]) -> Result<Vec<Args>, Error> {
    let value = parse(body, 2)?;
    let list = value
        .as_array()
        .ok_or_else(|| bad("the body must be a JSON array of commands: [[\"GET\",\"k\"]]"))?;
    if list.is_empty() {
        return Err(bad("the body holds no command"));
    }
    if list.len() > MAX_BATCH_COMMANDS {
        return Err(bad(&format!(
            "at most {MAX_BATCH_COMMANDS} commands in one request"
        )));
    }
    list.iter()
        .map(|item| {
            item.as_array()
                .ok_or_else(|| bad("each command must be a JSON array: [\"GET\",\"k\"]"))
                .and_then(command)
        })
        .collect()
}

/// Reads a command written as a path: `/set/k/v` (`path` without its leading `/`), the `body`
/// of a POST as its last argument, then the query's pairs (`_token` left out).
///
/// # Errors
///
/// [`Error::Command`] for a bad percent-escape.
pub fn path(path: &[u8], body: Option<&[u8]>, query: Option<&[u8]>) -> Result<Args, Error> {
    // A trailing `/` adds no empty argument (`/ping/` is `PING`); `//` inside does.
    let path = path.strip_suffix(b"/").unwrap_or(path);
    let mut args = Vec::new();
    for segment in path.split(|&b| b == b'/') {
        args.push(
            url::percent_decode(segment, Plus::Literal)
                .map_err(|e| bad(&format!("{e} in the path")))?,
        );
    }
    if let Some(body) = body.filter(|b| !b.is_empty()) {
        args.push(body.to_vec());
    }
    for pair in query.unwrap_or_default().split(|&b| b == b'&') {
        if pair.is_empty() || pair.starts_with(b"_token=") {
            continue;
        }
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (pair.get(..eq), pair.get(eq + 1..)),
            None => (Some(pair), None),
        };
        for part in [name, value].into_iter().flatten() {
            args.push(
                url::percent_decode(part, Plus::Space)
                    .map_err(|e| bad(&format!("{e} in the query")))?,
            );
        }
    }
    if unnamed(&args) {
        return Err(bad("no command: POST / a JSON array, or GET /COMMAND/arg…"));
    }
    Ok(args)
}

/// Checks that the command may run here, with this access.
///
/// # Errors
///
/// [`Error::Command`] for a command refused on a shared connection; [`Error::NoPermission`] for
/// one the read-only token may not run.
pub fn vet(args: &[Vec<u8>], access: Access) -> Result<(), Error> {
    let name = args.first().map(Vec::as_slice).unwrap_or_default();
    let shown = String::from_utf8_lossy(name).to_ascii_uppercase();
    if name.eq_ignore_ascii_case(b"SUBSCRIBE") || name.eq_ignore_ascii_case(b"PSUBSCRIBE") {
        return Err(Error::Command(format!(
            "ERR {shown} is served as a stream: GET /{}/<name> with Accept: text/event-stream",
            shown.to_ascii_lowercase()
        )));
    }
    if name.eq_ignore_ascii_case(b"MULTI") || name.eq_ignore_ascii_case(b"EXEC") {
        return Err(Error::Command(format!(
            "ERR {shown} is not available here: POST the commands to /multi-exec"
        )));
    }
    if name.eq_ignore_ascii_case(b"SELECT") {
        return Err(Error::Command(
            "ERR SELECT is not available: the gateway serves the database it is configured \
             with (--db)"
                .into(),
        ));
    }
    if let Some(why) = webdis::refusal(name) {
        return Err(Error::Command(format!(
            "ERR {shown} is not available through the gateway: {why}"
        )));
    }
    if webdis::blocks(args) {
        return Err(Error::Command(
            "ERR XREAD/XREADGROUP with BLOCK would hold a shared Redis connection".into(),
        ));
    }
    if access == Access::ReadOnly && !is_readonly(name) {
        return Err(Error::NoPermission(format!(
            "NOPERM this token has no permissions to run the '{}' command",
            shown.to_ascii_lowercase()
        )));
    }
    Ok(())
}

/// Whether Redis flags the command `readonly` (Redis 7's `COMMAND INFO`), plus `PING`, `ECHO`
/// and `TIME`, which touch no data. Anything else (scripts included: `EVAL` may write) needs the
/// full token.
pub fn is_readonly(name: &[u8]) -> bool {
    const READONLY: &[&str] = &[
        "BITCOUNT",
        "BITFIELD_RO",
        "BITPOS",
        "DBSIZE",
        "DUMP",
        "ECHO",
        "EVALSHA_RO",
        "EVAL_RO",
        "EXISTS",
        "EXPIRETIME",
        "FCALL_RO",
        "GEODIST",
        "GEOHASH",
        "GEOPOS",
        "GEORADIUS_RO",
        "GEORADIUSBYMEMBER_RO",
        "GEOSEARCH",
        "GET",
        "GETBIT",
        "GETRANGE",
        "HEXISTS",
        "HGET",
        "HGETALL",
        "HKEYS",
        "HLEN",
        "HMGET",
        "HRANDFIELD",
        "HSCAN",
        "HSTRLEN",
        "HVALS",
        "KEYS",
        "LCS",
        "LINDEX",
        "LLEN",
        "LPOS",
        "LRANGE",
        "MGET",
        "PEXPIRETIME",
        "PFCOUNT",
        "PING",
        "PTTL",
        "RANDOMKEY",
        "SCAN",
        "SCARD",
        "SDIFF",
        "SINTER",
        "SINTERCARD",
        "SISMEMBER",
        "SMEMBERS",
        "SMISMEMBER",
        "SORT_RO",
        "SRANDMEMBER",
        "SSCAN",
        "STRLEN",
        "SUBSTR",
        "SUNION",
        "TIME",
        "TOUCH",
        "TTL",
        "TYPE",
        "XINFO",
        "XLEN",
        "XPENDING",
        "XRANGE",
        "XREAD",
        "XREVRANGE",
        "ZCARD",
        "ZCOUNT",
        "ZDIFF",
        "ZINTER",
        "ZINTERCARD",
        "ZLEXCOUNT",
        "ZMSCORE",
        "ZRANDMEMBER",
        "ZRANGE",
        "ZRANGEBYLEX",
        "ZRANGEBYSCORE",
        "ZRANK",
        "ZREVRANGE",
        "ZREVRANGEBYLEX",
        "ZREVRANGEBYSCORE",
        "ZREVRANK",
        "ZSCAN",
        "ZSCORE",
        "ZUNION",
    ];
    READONLY
        .iter()
        .any(|r| r.as_bytes().eq_ignore_ascii_case(name))
}

/// Parses the body, at most `depth` arrays deep.
fn parse(body: &[u8], depth: usize) -> Result<Value, Error> {
    if body.trim_ascii().is_empty() {
        return Err(bad("empty body: send a JSON array"));
    }
    let limits = json::Limits {
        // The HTTP parser has already bounded the body by --max-body-bytes.
        max_bytes: body.len(),
        max_depth: depth,
    };
    json::parse(body, &limits).map_err(|e| bad(&format!("failed to parse the body: {e}")))
}

/// One command's arguments from its JSON items.
fn command(items: &[Value]) -> Result<Args, Error> {
    let args: Args = items.iter().map(argument).collect::<Result<_, _>>()?;
    if unnamed(&args) {
        return Err(bad("a command needs a name: [\"GET\",\"k\"]"));
    }
    Ok(args)
}

/// One argument: a string as is, a number as its JSON text, `true`/`false`, `null` as empty.
fn argument(value: &Value) -> Result<Vec<u8>, Error> {
    Ok(match value {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Number(Number::Int(n)) => n.to_string().into_bytes(),
        Value::Number(Number::Float(x)) => x.to_string().into_bytes(),
        Value::Bool(b) => b.to_string().into_bytes(),
        Value::Null => Vec::new(),
        Value::Array(_) | Value::Object(_) => {
            return Err(bad("an argument must be a string, number, boolean or null"))
        }
    })
}

/// A malformed request, in Redis's words.
fn bad(why: &str) -> Error {
    Error::Command(format!("ERR {why}"))
}

/// Whether a command has no name (no arguments, or an empty first one).
fn unnamed(args: &Args) -> bool {
    args.first().map_or(true, Vec::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(args: &Args) -> Vec<String> {
        args.iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    #[test]
    fn json_commands_take_scalars_as_their_text() {
        let args = json_one(br#"["SET","k",12,1.5,true,null,"\u00e9"]"#).unwrap();
        assert_eq!(strs(&args), ["SET", "k", "12", "1.5", "true", "", "é"]);
        for body in [
            &b""[..],
            b"  ",
            b"{}",
            b"[]",
            b"[\"\"]",
            b"[[\"GET\"]]",
            b"[\"GET\",{}]",
            b"[\"GET\"",
        ] {
            assert!(matches!(json_one(body), Err(Error::Command(_))), "{body:?}");
        }
    }

    #[test]
    fn pipelines_are_non_empty_lists_of_commands() {
        let cmds = json_many(br#"[["SET","a","1"],["GET","a"]]"#).unwrap();
        assert_eq!(cmds.len(), 2);
        assert_eq!(strs(&cmds[1]), ["GET", "a"]);
        for body in [&b"[]"[..], b"[\"GET\"]", b"[[]]", b"[[[\"x\"]]]"] {
            assert!(json_many(body).is_err(), "{body:?}");
        }
        let many = format!("[{}]", vec!["[\"PING\"]"; MAX_BATCH_COMMANDS].join(","));
        assert!(json_many(many.as_bytes()).is_ok());
        let too_many = format!("[{}]", vec!["[\"PING\"]"; MAX_BATCH_COMMANDS + 1].join(","));
        assert!(json_many(too_many.as_bytes()).is_err());
    }

    #[test]
    fn path_commands_decode_segments_then_body_then_query() {
        let args = path(
            b"set/a%2Fb/x%20y",
            Some(b"body"),
            Some(b"EX=100&NX&_token=t"),
        )
        .unwrap();
        assert_eq!(
            strs(&args),
            ["set", "a/b", "x y", "body", "EX", "100", "NX"]
        );
        assert_eq!(strs(&path(b"ping/", None, None).unwrap()), ["ping"]);
        assert_eq!(strs(&path(b"get//", None, None).unwrap()), ["get", ""]);
        assert!(path(b"", None, None).is_err());
        assert!(path(b"get/%zz", None, None).is_err());
    }

    #[test]
    fn connection_state_commands_are_refused_and_readonly_is_enforced() {
        let args = |a: &[&str]| -> Args { a.iter().map(|s| s.as_bytes().to_vec()).collect() };
        for refused in [
            &["SELECT", "1"][..],
            &["multi"],
            &["EXEC"],
            &["AUTH", "x"],
            &["HELLO", "3"],
            &["CLIENT", "LIST"],
            &["WATCH", "k"],
            &["subscribe", "c"],
            &["MONITOR"],
            &["BLPOP", "l", "0"],
            &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
        ] {
            assert!(
                matches!(vet(&args(refused), Access::Full), Err(Error::Command(_))),
                "{refused:?}"
            );
        }
        assert!(vet(&args(&["SET", "k", "v"]), Access::Full).is_ok());
        assert!(vet(&args(&["get", "k"]), Access::ReadOnly).is_ok());
        assert!(matches!(
            vet(&args(&["SET", "k", "v"]), Access::ReadOnly),
            Err(Error::NoPermission(_))
        ));
        assert!(matches!(
            vet(&args(&["EVAL", "return 1", "0"]), Access::ReadOnly),
            Err(Error::NoPermission(_))
        ));
    }
}
