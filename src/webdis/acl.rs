//! Webdis's access control: which commands a client may run.
//!
//! Rules are read in order and a later rule that matches the client overrides an earlier one. A
//! rule matches when the client's address is in its `ip` subnet (if it has one) and the request
//! carries its `http_basic_auth` credentials (if it has some). A matching rule decides about a
//! command when its `enabled` or `disabled` list names it or holds `"*"`; when both do,
//! `disabled` wins, as in webdis (so "only GET" takes two rules: `{"disabled": ["*"]}`, then
//! `{"enabled": ["GET"]}`). With no rule deciding, a command is allowed: webdis's default.
//!
//! Pure: the rules, an address, credentials and a command name in; a verdict out.

use std::fmt;
use std::net::IpAddr;

use crate::http::credentials::ct_eq;

/// One ACL entry of `webdis.json`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rule {
    /// `"ip": "192.168.10.0/24"`: the rule applies to clients in this subnet only.
    pub ip: Option<Cidr>,
    /// `"http_basic_auth": "user:password"`: the rule applies to requests with these credentials.
    pub basic_auth: Option<Vec<u8>>,
    /// Commands allowed, upper case; `*` for all.
    pub enabled: Vec<Vec<u8>>,
    /// Commands refused, upper case; `*` for all.
    pub disabled: Vec<Vec<u8>>,
}

/// A subnet: an address and how many leading bits of it must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a subnet does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError(String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a subnet like 192.168.10.0/24 or an address",
            self.0
        )
    }
}

impl std::error::Error for CidrError {}

impl Cidr {
    /// Parses `a.b.c.d/n`, `a.b.c.d` (one address), or the IPv6 forms.
    ///
    /// # Errors
    ///
    /// When the text is not an address with an optional prefix length that fits it.
    pub fn parse(text: &str) -> Result<Cidr, CidrError> {
        let bad = || CidrError(text.to_string());
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, bits)) => (addr, Some(bits)),
            None => (text, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(bits) => bits
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(bad)?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }

    /// True when `client` is inside the subnet. An IPv4 client seen through an IPv6 socket
    /// (`::ffff:a.b.c.d`) is compared as IPv4.
    pub fn contains(&self, client: IpAddr) -> bool {
        let client = match client {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(client, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, client) {
            (IpAddr::V4(net), IpAddr::V4(c)) => prefix_eq(&net.octets(), &c.octets(), self.prefix),
            (IpAddr::V6(net), IpAddr::V6(c)) => prefix_eq(&net.octets(), &c.octets(), self.prefix),
            _ => false,
        }
    }
}

/// True when the first `bits` bits of `a` and `b` are equal.
fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let bits = usize::from(bits);
    let (whole, rest) = (bits / 8, bits % 8);
    if a.get(..whole) != b.get(..whole) {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    match (a.get(whole), b.get(whole)) {
        (Some(x), Some(y)) => x & mask == y & mask,
        _ => false,
    }
}

/// Who is asking: the client's address and the `user:password` of its `Authorization: Basic`
/// header, if it sent one.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    /// The peer address of the connection.
    pub addr: IpAddr,
    /// Decoded Basic credentials.
    pub credentials: Option<&'a [u8]>,
}

/// True when `client` may run `command` (any case) under `rules`.
pub fn allows(rules: &[Rule], client: Client<'_>, command: &[u8]) -> bool {
    let mut allowed = true;
    for rule in rules {
        if !rule.matches(client) {
            continue;
        }
        if let Some(verdict) = rule.decide(command) {
            allowed = verdict;
        }
    }
    allowed
}

impl Rule {
    fn matches(&self, client: Client<'_>) -> bool {
        let ip_ok = self.ip.map_or(true, |cidr| cidr.contains(client.addr));
        let auth_ok = match &self.basic_auth {
            // In constant time: how long the check takes tells nothing of the password.
            Some(expected) => client
                .credentials
                .is_some_and(|given| ct_eq(expected, given)),
            None => true,
        };
        ip_ok && auth_ok
    }

    fn decide(&self, command: &[u8]) -> Option<bool> {
        let lists = |list: &[Vec<u8>]| {
            list.iter()
                .any(|c| c == b"*" || c.eq_ignore_ascii_case(command))
        };
        if lists(&self.disabled) {
            Some(false)
        } else if lists(&self.enabled) {
            Some(true)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(ip: Option<&str>, auth: Option<&str>, enabled: &[&str], disabled: &[&str]) -> Rule {
        let list = |l: &[&str]| l.iter().map(|c| c.as_bytes().to_vec()).collect();
        Rule {
            ip: ip.map(|t| Cidr::parse(t).unwrap()),
            basic_auth: auth.map(|a| a.as_bytes().to_vec()),
            enabled: list(enabled),
            disabled: list(disabled),
        }
    }

    fn client(addr: &str, credentials: Option<&'static str>) -> Client<'static> {
        Client {
            addr: addr.parse().unwrap(),
            credentials: credentials.map(str::as_bytes),
        }
    }

    #[test]
    fn subnets_match_by_prefix() {
        let net = Cidr::parse("192.168.10.0/24").unwrap();
        assert!(net.contains("192.168.10.77".parse().unwrap()));
        assert!(!net.contains("192.168.11.1".parse().unwrap()));
        assert!(net.contains("::ffff:192.168.10.3".parse().unwrap()));
        let odd = Cidr::parse("10.0.0.0/9").unwrap();
        assert!(odd.contains("10.127.255.255".parse().unwrap()));
        assert!(!odd.contains("10.128.0.0".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        for bad in ["", "10.0.0.0/33", "10.0.0/8", "x", "::/129", "1.2.3.4/-1"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_readme_rules_in_order() {
        let rules = vec![
            rule(None, None, &[], &["DEBUG", "FLUSHDB", "FLUSHALL"]),
            rule(
                None,
                Some("user:password"),
                &["SET"],
                &["DEBUG", "FLUSHDB", "FLUSHALL"],
            ),
            rule(Some("192.168.10.0/24"), None, &["SET"], &[]),
        ];
        let anyone = client("10.1.1.1", None);
        assert!(allows(&rules, anyone, b"GET"));
        assert!(!allows(&rules, anyone, b"FLUSHALL"));
        assert!(!allows(&rules, anyone, b"flushall"));
        assert!(!allows(
            &rules,
            client("10.1.1.1", Some("user:wrong")),
            b"DEBUG"
        ));
        assert!(!allows(
            &rules,
            client("10.1.1.1", Some("user:password")),
            b"DEBUG"
        ));
        // The credentials must be the same bytes: a prefix or an extension is another password.
        let only_user = vec![
            rule(None, None, &[], &["SET"]),
            rule(None, Some("user:password"), &["SET"], &[]),
        ];
        assert!(allows(
            &only_user,
            client("10.1.1.1", Some("user:password")),
            b"SET"
        ));
        for wrong in ["user:passwor", "user:password!", "", "user:passworD"] {
            assert!(
                !allows(&only_user, client("10.1.1.1", Some(wrong)), b"SET"),
                "{wrong}"
            );
        }
    }

    #[test]
    fn later_rules_win_and_disabled_wins_within_a_rule() {
        let rules = vec![
            rule(None, None, &[], &["*"]),
            rule(Some("127.0.0.0/8"), None, &["GET"], &[]),
            rule(None, Some("admin:secret"), &["*"], &["FLUSHALL"]),
        ];
        assert!(!allows(&rules, client("10.0.0.1", None), b"GET"));
        assert!(allows(&rules, client("127.0.0.1", None), b"GET"));
        assert!(!allows(&rules, client("127.0.0.1", None), b"SET"));
        let admin = client("10.0.0.1", Some("admin:secret"));
        assert!(allows(&rules, admin, b"SET"));
        assert!(!allows(&rules, admin, b"FLUSHALL"));
        // As webdis 0.1.9 does: in one rule, `disabled` wins over `enabled`, even over a name.
        let one = vec![rule(None, None, &["GET"], &["*"])];
        assert!(!allows(&one, client("127.0.0.1", None), b"GET"));
        let both = vec![rule(None, None, &["ECHO"], &["ECHO"])];
        assert!(!allows(&both, client("127.0.0.1", None), b"ECHO"));
    }

    #[test]
    fn no_rules_allow_everything() {
        assert!(allows(&[], client("1.2.3.4", None), b"FLUSHALL"));
    }
}
