//! `GET`, `HEAD`, `PUT` and `DELETE` on `/KEY`.

use std::borrow::Cow;

use crate::api::{Call, Error, Reader, Step};
use crate::http::response::Response;
use crate::resp::Value;

/// `Content-Type` of values: Redis strings are bytes.
pub const VALUE_TYPE: &str = "application/octet-stream";

/// `GET KEY`: 200 with the value's exact bytes, 404 when the key does not exist.
pub fn get(key: Vec<u8>) -> Step<'static> {
    Step::Call(Call {
        db: None,
        args: vec![Cow::Borrowed(b"GET"), Cow::Owned(key)],
        read: Reader::Plain(|reply| match reply {
            Value::Bulk(value) => Ok(Response::bytes(200, VALUE_TYPE, value)),
            Value::Nil => Err(Error::NotFound),
            _ => Err(Error::UnexpectedReply("GET")),
        }),
    })
}

/// `SET KEY body [EX s | PX ms]`: 204. The query may hold `ex=SECONDS` or `px=MILLISECONDS`.
///
/// # Errors
///
/// [`Error::BadRequest`] for an unknown parameter or a bad number.
pub fn put<'a>(key: Vec<u8>, query: Option<&[u8]>, body: &'a [u8]) -> Result<Step<'a>, Error> {
    let mut args = vec![
        Cow::Borrowed(&b"SET"[..]),
        Cow::Owned(key),
        Cow::Borrowed(body),
    ];
    if let Some((unit, amount)) = expiry(query)? {
        args.push(Cow::Borrowed(unit));
        args.push(Cow::Owned(amount.into_bytes()));
    }
    Ok(Step::Call(Call {
        db: None,
        args,
        read: Reader::Plain(|reply| match reply {
            Value::Simple(ok) if ok == b"OK" => Ok(Response::empty(204)),
            _ => Err(Error::UnexpectedReply("SET")),
        }),
    }))
}

/// `DEL KEY`: 204 when a key was deleted, 404 when there was none.
pub fn delete(key: Vec<u8>) -> Step<'static> {
    Step::Call(Call {
        db: None,
        args: vec![Cow::Borrowed(b"DEL"), Cow::Owned(key)],
        read: Reader::Plain(|reply| match reply {
            Value::Integer(1) => Ok(Response::empty(204)),
            Value::Integer(0) => Err(Error::NotFound),
            _ => Err(Error::UnexpectedReply("DEL")),
        }),
    })
}

/// Reads `ex=SECONDS` or `px=MILLISECONDS` from the query: at most one, a positive integer.
fn expiry(query: Option<&[u8]>) -> Result<Option<(&'static [u8], String)>, Error> {
    let mut found = None;
    for pair in query.unwrap_or_default().split(|b| *b == b'&') {
        if pair.is_empty() {
            continue;
        }
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let unit: &'static [u8] = match name {
            b"ex" => b"EX",
            b"px" => b"PX",
            _ => {
                return Err(Error::BadRequest(format!(
                    "unknown query parameter '{}' (PUT takes ex=SECONDS or px=MILLISECONDS)",
                    String::from_utf8_lossy(name)
                )))
            }
        };
        let amount = std::str::from_utf8(value)
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|n| (1..=i64::MAX as u64 / 1000).contains(n))
            .ok_or_else(|| {
                Error::BadRequest(format!(
                    "{} must be a positive whole number",
                    String::from_utf8_lossy(name)
                ))
            })?;
        if found.is_some() {
            return Err(Error::BadRequest("give one of ex= or px=, once".into()));
        }
        found = Some((unit, amount.to_string()));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_accepts_one_positive_ex_or_px() {
        assert_eq!(expiry(None).unwrap(), None);
        assert_eq!(expiry(Some(b"")).unwrap(), None);
        assert_eq!(
            expiry(Some(b"ex=10")).unwrap(),
            Some((&b"EX"[..], "10".into()))
        );
        assert_eq!(
            expiry(Some(b"px=1500")).unwrap(),
            Some((&b"PX"[..], "1500".into()))
        );
    }

    #[test]
    fn expiry_refuses_bad_numbers_and_unknown_names() {
        for q in [
            &b"ex=0"[..],
            b"ex=-1",
            b"ex=+1",
            b"ex=1.5",
            b"ex=",
            b"ex",
            b"ex=99999999999999999999",
            b"ex=1&px=1",
            b"ex=1&ex=2",
            b"ttl=5",
            b"EX=5",
        ] {
            assert!(expiry(Some(q)).is_err(), "{}", String::from_utf8_lossy(q));
        }
    }
}
