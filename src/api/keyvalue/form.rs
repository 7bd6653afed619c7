//! `POST /` with an `application/x-www-form-urlencoded` body: every pair set with one `MSET`.
//!
//! One command makes the write all or nothing: Redis applies `MSET` atomically, so either every
//! pair is set and the client gets 200, or none is and the client gets an error. A repeated key
//! is sent as given; `MSET` applies pairs in order, so the last one wins.

use std::borrow::Cow;

use crate::api::{Call, Error, Reader, Step};
use crate::http::response::{Response, TEXT};
use crate::http::{url, Request};
use crate::resp::Value;

/// The one `Content-Type` a form POST takes.
pub const FORM_TYPE: &str = "application/x-www-form-urlencoded";

/// Plans one `MSET` of every pair of the form.
///
/// # Errors
///
/// [`Error::UnsupportedMediaType`], [`Error::BadRequest`] for an empty body, a pair without `=`,
/// a bad `%` escape or an empty key.
pub fn post(req: &Request) -> Result<Step<'_>, Error> {
    let content_type = req.head.header("content-type").unwrap_or_default();
    let media_type = content_type
        .split(|b| *b == b';')
        .next()
        .unwrap_or_default();
    if !media_type
        .trim_ascii()
        .eq_ignore_ascii_case(FORM_TYPE.as_bytes())
    {
        return Err(Error::UnsupportedMediaType(
            String::from_utf8_lossy(content_type).into_owned(),
        ));
    }
    let pairs = url::parse_form(&req.body).map_err(|e| Error::BadRequest(e.to_string()))?;
    if pairs.iter().any(|(key, _)| key.is_empty()) {
        return Err(Error::BadRequest("a form pair with an empty key".into()));
    }
    let mut args = Vec::with_capacity(1 + 2 * pairs.len());
    args.push(Cow::Borrowed(&b"MSET"[..]));
    for (key, value) in pairs {
        // Borrowed from the body unless the form escaped them: the values are not copied.
        args.push(key);
        args.push(value);
    }
    Ok(Step::Call(Call {
        db: None,
        args,
        read: Reader::Plain(|reply| match reply {
            Value::Simple(ok) if ok == b"OK" => Ok(Response::bytes(200, TEXT, b"OK".to_vec())),
            _ => Err(Error::UnexpectedReply("MSET")),
        }),
    }))
}
