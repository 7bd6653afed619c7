//! The RESP value: what [`decode()`](super::decode()) builds and [`encode()`](super::encode()) writes.
//!
//! Text is kept as bytes: Redis does not promise UTF-8, and the gateway decides how to present it.

/// One RESP value, RESP2 or RESP3.
///
/// Several wire forms decode to the same variant: `$-1`, `*-1` and `_` are all [`Value::Nil`], and both
/// `-<text>` and `!<len>` are [`Value::Error`]. A Redis error reply is a value, not a decode error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A simple string, `+OK`: the text without `+` and CRLF.
    Simple(Vec<u8>),
    /// An error, `-ERR ...` or the RESP3 blob error `!<len>`: the text without the leading `-`.
    Error(Vec<u8>),
    /// An integer, `:1000`.
    Integer(i64),
    /// A bulk (binary-safe) string, `$<len>`.
    Bulk(Vec<u8>),
    /// The null value: `$-1`, `*-1` or RESP3 `_`.
    Nil,
    /// An array, `*<count>`.
    Array(Vec<Value>),
    /// A RESP3 double, `,3.14`: the text as sent (`b"3.14"`, `b"inf"`, `b"-nan"`), validated loosely.
    Double(Vec<u8>),
    /// A RESP3 boolean, `#t` or `#f`.
    Boolean(bool),
    /// A RESP3 big number, `(3492890328409238509324850943850943825024385`: the digits, with their sign.
    BigNumber(Vec<u8>),
    /// A RESP3 verbatim string, `=<len>`: the 3-byte format (such as `b"txt"` or `b"mkd"`), then the data.
    Verbatim(Vec<u8>, Vec<u8>),
    /// A RESP3 map, `%<count>`: key/value pairs in wire order (keys may repeat; nothing is deduplicated).
    Map(Vec<(Value, Value)>),
    /// A RESP3 set, `~<count>`: elements in wire order.
    Set(Vec<Value>),
    /// A RESP3 push (out-of-band data such as Pub/Sub messages), `><count>`.
    Push(Vec<Value>),
}

impl Value {
    /// Whether this is an error reply (`-` or `!`).
    ///
    /// # Examples
    ///
    /// ```
    /// use redis_gateway::resp::Value;
    /// assert!(Value::Error(b"ERR no".to_vec()).is_error());
    /// assert!(!Value::Simple(b"OK".to_vec()).is_error());
    /// ```
    pub fn is_error(&self) -> bool {
        matches!(self, Value::Error(_))
    }

    /// The text of an error reply, `None` for every other value.
    ///
    /// # Examples
    ///
    /// ```
    /// use redis_gateway::resp::Value;
    /// let reply = Value::Error(b"WRONGTYPE bad".to_vec());
    /// assert_eq!(reply.error_text(), Some(&b"WRONGTYPE bad"[..]));
    /// assert_eq!(Value::Nil.error_text(), None);
    /// ```
    pub fn error_text(&self) -> Option<&[u8]> {
        match self {
            Value::Error(text) => Some(text),
            _ => None,
        }
    }
}
