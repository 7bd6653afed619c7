//! The checks every webdis command passes, over HTTP and over a WebSocket alike: the ACL, the
//! commands that cannot run on a shared Redis connection, and the shape of a subscription.

use super::super::Error;
use crate::redis::subscriber::{Kind, MAX_TOPIC_BYTES};
use crate::webdis::{self, acl, Settings};

/// A command that passed the checks.
#[derive(Debug, PartialEq, Eq)]
pub enum Vetted {
    /// Run it on a pooled connection.
    Command,
    /// Join the shared subscriptions of these channels or patterns (at least one, none too long).
    Subscribe(Kind, Vec<Vec<u8>>),
    /// Leave these channels or patterns (none: all of that kind). Only a WebSocket can: over
    /// HTTP a subscription ends when its stream is closed.
    Unsubscribe(Kind, Vec<Vec<u8>>),
}

/// Checks `args` (the command name first) for `client`.
///
/// # Errors
///
/// [`Error::NotAllowed`] when the ACL refuses the command; [`Error::Forbidden`] when it cannot
/// run on a shared connection; [`Error::BadRequest`] for a subscription without a topic or with
/// one too long.
pub fn vet(
    args: &[impl AsRef<[u8]>],
    settings: &Settings,
    client: acl::Client<'_>,
) -> Result<Vetted, Error> {
    let name = args.first().map(AsRef::as_ref).unwrap_or_default();
    if !acl::allows(&settings.acl, client, name) {
        return Err(Error::NotAllowed(
            String::from_utf8_lossy(name).into_owned(),
        ));
    }
    let kind = if name.eq_ignore_ascii_case(b"SUBSCRIBE") {
        Some(Kind::Channel)
    } else if name.eq_ignore_ascii_case(b"PSUBSCRIBE") {
        Some(Kind::Pattern)
    } else {
        None
    };
    if let Some(kind) = kind {
        let topics: Vec<Vec<u8>> = args.iter().skip(1).map(|a| a.as_ref().to_vec()).collect();
        if topics.is_empty() {
            return Err(Error::BadRequest(
                "name at least one channel: /SUBSCRIBE/channel".into(),
            ));
        }
        if topics.iter().any(|t| t.len() > MAX_TOPIC_BYTES) {
            return Err(Error::BadRequest(format!(
                "a channel or pattern name has at most {MAX_TOPIC_BYTES} bytes"
            )));
        }
        return Ok(Vetted::Subscribe(kind, topics));
    }
    let leave = if name.eq_ignore_ascii_case(b"UNSUBSCRIBE") {
        Some(Kind::Channel)
    } else if name.eq_ignore_ascii_case(b"PUNSUBSCRIBE") {
        Some(Kind::Pattern)
    } else {
        None
    };
    if let Some(kind) = leave {
        let topics = args.iter().skip(1).map(|a| a.as_ref().to_vec()).collect();
        return Ok(Vetted::Unsubscribe(kind, topics));
    }
    if let Some(why) = webdis::refusal(name) {
        return Err(Error::Forbidden(format!(
            "{} is not available through the gateway: {why}",
            String::from_utf8_lossy(name)
        )));
    }
    if webdis::blocks(args) {
        return Err(Error::Forbidden(
            "XREAD/XREADGROUP with BLOCK would hold a shared Redis connection".into(),
        ));
    }
    Ok(Vetted::Command)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn client() -> acl::Client<'static> {
        acl::Client {
            addr: IpAddr::from([127, 0, 0, 1]),
            credentials: None,
        }
    }

    #[test]
    fn each_check_has_its_error() {
        let mut s = Settings::default();
        s.acl.push(acl::Rule {
            disabled: vec![b"FLUSHALL".to_vec()],
            ..acl::Rule::default()
        });
        let vet = |args: &[&str]| vet(args, &s, client());
        assert_eq!(vet(&["GET", "k"]).unwrap(), Vetted::Command);
        assert_eq!(
            vet(&["psubscribe", "a*"]).unwrap(),
            Vetted::Subscribe(Kind::Pattern, vec![b"a*".to_vec()])
        );
        assert_eq!(
            vet(&["unsubscribe"]).unwrap(),
            Vetted::Unsubscribe(Kind::Channel, vec![])
        );
        assert_eq!(
            vet(&["PUNSUBSCRIBE", "a*", "b*"]).unwrap(),
            Vetted::Unsubscribe(Kind::Pattern, vec![b"a*".to_vec(), b"b*".to_vec()])
        );
        assert!(matches!(vet(&["flushall"]), Err(Error::NotAllowed(_))));
        assert!(matches!(vet(&["MULTI"]), Err(Error::Forbidden(_))));
        assert!(matches!(
            vet(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(vet(&["SUBSCRIBE"]), Err(Error::BadRequest(_))));
        let long = "x".repeat(MAX_TOPIC_BYTES + 1);
        assert!(matches!(
            vet(&["SUBSCRIBE", &long]),
            Err(Error::BadRequest(_))
        ));
    }
}
