//! Reading a webdis command out of a request: `/[DB/]COMMAND/arg0/…/argN[.ext]`.
//!
//! The rules, checked against webdis itself:
//!
//! * `/` separates arguments; every segment is an argument, empty ones included (`/ECHO/` is
//!   `ECHO ""`). Segments are percent-decoded after splitting, so `%2f` is a `/` inside an
//!   argument and `%2e` a `.` that is not an extension; `+` is a space.
//! * A first segment of digits only is a database number: `/7/GET/key` runs `GET key` on DB 7.
//! * The last segment may end in a known extension (`.json`, `.msg`, `.raw`, `.txt`, `.html`,
//!   `.xhtml`, `.xml`, `.png`, `.jpg`, `.jpeg`, lower case only), which picks the output format and
//!   is not part of the argument. Any other suffix (`key.tar`) stays in the argument.
//!
//! Pure: bytes in, a [`Command`] or a [`CommandError`] out.

use std::fmt;

use crate::http::url;

/// How the reply is written (see [`super::format`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `{"COMMAND": value}`, `application/json`: the default and `.json`.
    Json,
    /// MessagePack of the same structure, `application/x-msgpack`: `.msg`.
    Msgpack,
    /// The reply's RESP bytes, `binary/octet-stream`: `.raw`.
    Raw,
    /// The value itself with this content type: `.txt`, `.html`, `.xhtml`, `.xml`, `.png`,
    /// `.jpg`, `.jpeg`.
    Plain(&'static str),
}

/// The extensions webdis knows and the format each selects.
const EXTENSIONS: [(&[u8], Format); 10] = [
    (b"json", Format::Json),
    (b"msg", Format::Msgpack),
    (b"raw", Format::Raw),
    (b"txt", Format::Plain("text/plain")),
    (b"html", Format::Plain("text/html")),
    (b"xhtml", Format::Plain("application/xhtml+xml")),
    (b"xml", Format::Plain("text/xml")),
    (b"png", Format::Plain("image/png")),
    (b"jpg", Format::Plain("image/jpeg")),
    (b"jpeg", Format::Plain("image/jpeg")),
];

/// A command read from a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The database of a `/DB/…` prefix; `None` for the configured one.
    pub db: Option<u32>,
    /// The command name and its arguments, decoded.
    pub args: Vec<Vec<u8>>,
    /// The format the extension asked for; `Json` without one.
    pub format: Format,
}

/// Why a path is not a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// There is no command name (`/`, or `/7/` with nothing after the database).
    Empty,
    /// A `%` is not followed by two hex digits.
    BadEscape,
    /// The database number is above the limit.
    BadDatabase(u32),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Empty => f.write_str("no command: use /COMMAND/arg0/…/argN"),
            CommandError::BadEscape => f.write_str("'%' must be followed by two hex digits"),
            CommandError::BadDatabase(max) => {
                write!(f, "the database number must be from 0 to {max}")
            }
        }
    }
}

impl std::error::Error for CommandError {}

/// Reads the command in `path` (the request path without its leading `/`, or a `POST` body).
/// `max_db` is the highest database number a prefix may name.
///
/// # Errors
///
/// A [`CommandError`] when there is no command, an escape is malformed, or the database is out
/// of range.
pub fn parse(path: &[u8], max_db: u32) -> Result<Command, CommandError> {
    let (path, format) = split_extension(path);
    let mut segments = path.split(|&b| b == b'/').peekable();
    let mut db = None;
    if let Some(first) = segments.peek() {
        if !first.is_empty() && first.iter().all(u8::is_ascii_digit) {
            let n = std::str::from_utf8(first)
                .ok()
                .and_then(|s| s.parse::<u32>().ok())
                .filter(|n| *n <= max_db)
                .ok_or(CommandError::BadDatabase(max_db))?;
            db = Some(n);
            segments.next();
        }
    }
    let args = segments
        .map(|s| url::percent_decode(s, url::Plus::Space).map_err(|_| CommandError::BadEscape))
        .collect::<Result<Vec<_>, _>>()?;
    if args.first().map_or(true, |name| name.is_empty()) {
        return Err(CommandError::Empty);
    }
    Ok(Command { db, args, format })
}

/// Splits a known extension off the last segment.
fn split_extension(path: &[u8]) -> (&[u8], Format) {
    let last_segment_start = path.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    if let Some(dot) = path.iter().rposition(|&b| b == b'.') {
        if dot >= last_segment_start {
            let ext = path.get(dot + 1..).unwrap_or_default();
            if let Some((_, format)) = EXTENSIONS.iter().find(|(name, _)| *name == ext) {
                return (path.get(..dot).unwrap_or_default(), *format);
            }
        }
    }
    (path, Format::Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(path: &str) -> Vec<String> {
        parse(path.as_bytes(), 15)
            .unwrap()
            .args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    #[test]
    fn segments_are_arguments_empty_ones_included() {
        assert_eq!(args("GET/hello"), ["GET", "hello"]);
        assert_eq!(args("SET/e//x"), ["SET", "e", "", "x"]);
        assert_eq!(args("ECHO/"), ["ECHO", ""]);
        assert_eq!(args("PING"), ["PING"]);
    }

    #[test]
    fn escapes_decode_inside_an_argument() {
        assert_eq!(args("SET/q/a%20b%2Fc%2ed"), ["SET", "q", "a b/c.d"]);
        assert_eq!(args("SET/pl/a+b"), ["SET", "pl", "a b"]);
        assert_eq!(args("GET/a%2ejson"), ["GET", "a.json"]);
        assert_eq!(parse(b"GET/%zz", 15), Err(CommandError::BadEscape));
    }

    #[test]
    fn only_known_lowercase_extensions_are_formats() {
        let cmd = parse(b"GET/k.tar.json", 15).unwrap();
        assert_eq!(cmd.args, [b"GET".to_vec(), b"k.tar".to_vec()]);
        assert_eq!(cmd.format, Format::Json);
        assert_eq!(parse(b"GET/k.raw", 15).unwrap().format, Format::Raw);
        assert_eq!(parse(b"GET/k.msg", 15).unwrap().format, Format::Msgpack);
        assert_eq!(
            parse(b"GET/logo.png", 15).unwrap().format,
            Format::Plain("image/png")
        );
        assert_eq!(args("GET/k.tar"), ["GET", "k.tar"]);
        assert_eq!(args("GET/q.JSON"), ["GET", "q.JSON"]);
        assert_eq!(args("GET/k3."), ["GET", "k3."]);
        // A dot in an earlier segment is never an extension.
        assert_eq!(args("SET/k.txt/v"), ["SET", "k.txt", "v"]);
        assert_eq!(parse(b"PING.txt", 15).unwrap().args, [b"PING".to_vec()]);
    }

    #[test]
    fn a_numeric_first_segment_is_the_database() {
        let cmd = parse(b"7/GET/key", 15).unwrap();
        assert_eq!(cmd.db, Some(7));
        assert_eq!(cmd.args, [b"GET".to_vec(), b"key".to_vec()]);
        assert_eq!(parse(b"GET/7", 15).unwrap().db, None);
        assert_eq!(parse(b"16/GET/x", 15), Err(CommandError::BadDatabase(15)));
        assert_eq!(
            parse(b"99999999999/GET/x", 15),
            Err(CommandError::BadDatabase(15))
        );
        assert_eq!(parse(b"7/", 15), Err(CommandError::Empty));
        assert_eq!(parse(b"7", 15), Err(CommandError::Empty));
    }

    #[test]
    fn no_command_is_an_error() {
        assert_eq!(parse(b"", 15), Err(CommandError::Empty));
        assert_eq!(parse(b"/GET", 15), Err(CommandError::Empty));
        assert_eq!(parse(b".json", 15), Err(CommandError::Empty));
    }
}
