//! The slot map: which master serves each hash slot, read from a `CLUSTER SLOTS` reply (the
//! form every Redis from 3.0 to 8 and Valkey answer).
//!
//! ```text
//!   CLUSTER SLOTS → *N of  [ start, end, [host, port, id, …] (master), [host, port, …] (replica)… ]
//! ```
//!
//! A host that is empty or `?` (the node does not know its own address) is the host of the node
//! that answered. Slots no entry covers have no master: a request for one gets 503 until a
//! refresh finds one. Pure: a reply in, a map out.

use std::fmt;

use super::slot::SLOTS;
use crate::resp::Value;

/// A node's `host:port`.
pub type NodeAddr = (String, u16);

/// Most entries a `CLUSTER SLOTS` reply may have (one per contiguous range; 16384 is the most a
/// cluster can have); beyond, the reply is refused.
pub const MAX_RANGES: usize = SLOTS;

/// Marks a slot no master serves.
const NO_MASTER: u16 = u16::MAX;

/// Which master serves each slot, and every node the map names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Map {
    masters: Vec<NodeAddr>,
    /// Per slot, the index of its master in `masters`, or [`NO_MASTER`].
    owners: Vec<u16>,
    /// Masters and replicas, each once.
    nodes: Vec<NodeAddr>,
}

/// Why a `CLUSTER SLOTS` reply cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapError {
    /// The reply is an error (e.g. `ERR This instance has cluster support disabled`); its text.
    Refused(String),
    /// The reply is not shaped as `CLUSTER SLOTS` answers.
    Malformed(&'static str),
    /// No entry: the cluster serves no slot yet.
    Empty,
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::Refused(text) => write!(f, "CLUSTER SLOTS refused: {text}"),
            MapError::Malformed(what) => write!(f, "malformed CLUSTER SLOTS reply: {what}"),
            MapError::Empty => f.write_str("the cluster serves no slot yet"),
        }
    }
}

impl std::error::Error for MapError {}

impl Map {
    /// Reads a `CLUSTER SLOTS` reply given by the node at `asked_host`.
    ///
    /// # Errors
    ///
    /// A [`MapError`] when the reply is an error, malformed, or names no slot.
    pub fn parse(reply: &Value, asked_host: &str) -> Result<Map, MapError> {
        let entries = match reply {
            Value::Array(entries) => entries,
            Value::Error(text) => {
                return Err(MapError::Refused(
                    String::from_utf8_lossy(text).into_owned(),
                ))
            }
            _ => return Err(MapError::Malformed("not an array")),
        };
        if entries.is_empty() {
            return Err(MapError::Empty);
        }
        if entries.len() > MAX_RANGES {
            return Err(MapError::Malformed("more ranges than slots"));
        }
        let mut map = Map {
            masters: Vec::new(),
            owners: vec![NO_MASTER; SLOTS],
            nodes: Vec::new(),
        };
        for entry in entries {
            let Value::Array(fields) = entry else {
                return Err(MapError::Malformed("an entry is not an array"));
            };
            let [Value::Integer(start), Value::Integer(end), master, replicas @ ..] =
                fields.as_slice()
            else {
                return Err(MapError::Malformed("an entry lacks its range or master"));
            };
            let (start, end) = match (usize::try_from(*start), usize::try_from(*end)) {
                (Ok(start), Ok(end)) if start <= end && end < SLOTS => (start, end),
                _ => return Err(MapError::Malformed("a slot range out of 0..16383")),
            };
            let master = node(master, asked_host)?;
            let index = match map.masters.iter().position(|m| *m == master) {
                Some(index) => index,
                None => {
                    map.masters.push(master.clone());
                    map.masters.len() - 1
                }
            };
            // At most `MAX_RANGES` distinct masters, so the index fits a u16 below NO_MASTER.
            let index =
                u16::try_from(index).map_err(|_| MapError::Malformed("too many masters"))?;
            if let Some(owners) = map.owners.get_mut(start..=end) {
                owners.fill(index);
            }
            map.remember(master);
            for replica in replicas {
                let replica = node(replica, asked_host)?;
                map.remember(replica);
            }
        }
        Ok(map)
    }

    fn remember(&mut self, node: NodeAddr) {
        if !self.nodes.contains(&node) {
            self.nodes.push(node);
        }
    }

    /// The master serving `slot`, if any.
    pub fn master(&self, slot: u16) -> Option<&NodeAddr> {
        let index = *self.owners.get(usize::from(slot))?;
        self.masters.get(usize::from(index))
    }

    /// Every master, in the order the reply named them.
    pub fn masters(&self) -> &[NodeAddr] {
        &self.masters
    }

    /// Every node the map names, masters and replicas.
    pub fn nodes(&self) -> &[NodeAddr] {
        &self.nodes
    }

    /// How many slots have no master.
    pub fn uncovered(&self) -> usize {
        self.owners.iter().filter(|o| **o == NO_MASTER).count()
    }
}

/// `[host, port, …]` → a node address.
fn node(value: &Value, asked_host: &str) -> Result<NodeAddr, MapError> {
    let Value::Array(fields) = value else {
        return Err(MapError::Malformed("a node is not an array"));
    };
    let [host, Value::Integer(port), ..] = fields.as_slice() else {
        return Err(MapError::Malformed("a node lacks its host or port"));
    };
    let host = match host {
        Value::Bulk(host) | Value::Simple(host) => String::from_utf8_lossy(host).into_owned(),
        Value::Nil => String::new(),
        _ => return Err(MapError::Malformed("a host is not a string")),
    };
    let host = if host.is_empty() || host == "?" {
        asked_host.to_owned()
    } else {
        host
    };
    let port = u16::try_from(*port).map_err(|_| MapError::Malformed("a port out of range"))?;
    if port == 0 {
        return Err(MapError::Malformed("a port out of range"));
    }
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_value(host: &str, port: i64, id: &str) -> Value {
        Value::Array(vec![
            Value::Bulk(host.as_bytes().to_vec()),
            Value::Integer(port),
            Value::Bulk(id.as_bytes().to_vec()),
            Value::Array(Vec::new()),
        ])
    }

    fn entry(start: i64, end: i64, nodes: Vec<Value>) -> Value {
        let mut fields = vec![Value::Integer(start), Value::Integer(end)];
        fields.extend(nodes);
        Value::Array(fields)
    }

    #[test]
    fn three_masters_with_replicas() {
        let reply = Value::Array(vec![
            entry(
                0,
                5460,
                vec![
                    node_value("127.0.0.1", 7000, "a"),
                    node_value("127.0.0.1", 7003, "d"),
                ],
            ),
            entry(5461, 10922, vec![node_value("127.0.0.1", 7001, "b")]),
            entry(10923, 16383, vec![node_value("", 7002, "c")]),
            // A second range of the first master.
            entry(16383, 16383, vec![node_value("127.0.0.1", 7000, "a")]),
        ]);
        let map = Map::parse(&reply, "10.0.0.9").unwrap();
        assert_eq!(map.master(0), Some(&("127.0.0.1".to_string(), 7000)));
        assert_eq!(map.master(5460), Some(&("127.0.0.1".to_string(), 7000)));
        assert_eq!(map.master(5461), Some(&("127.0.0.1".to_string(), 7001)));
        assert_eq!(map.master(12000), Some(&("10.0.0.9".to_string(), 7002)));
        assert_eq!(map.master(16383), Some(&("127.0.0.1".to_string(), 7000)));
        assert_eq!(map.masters().len(), 3);
        assert_eq!(map.nodes().len(), 4);
        assert_eq!(map.uncovered(), 0);
    }

    #[test]
    fn slots_without_an_entry_have_no_master() {
        let reply = Value::Array(vec![entry(0, 99, vec![node_value("h", 1, "a")])]);
        let map = Map::parse(&reply, "x").unwrap();
        assert!(map.master(100).is_none());
        assert_eq!(map.uncovered(), SLOTS - 100);
        assert_eq!(
            map.master(16384),
            None,
            "out of range is no master, not a panic"
        );
    }

    #[test]
    fn bad_replies_are_refused() {
        let cases = [
            Value::Error(b"ERR This instance has cluster support disabled".to_vec()),
            Value::Array(Vec::new()),
            Value::Integer(3),
            Value::Array(vec![entry(5, 4, vec![node_value("h", 1, "a")])]),
            Value::Array(vec![entry(0, 16384, vec![node_value("h", 1, "a")])]),
            Value::Array(vec![entry(0, 1, vec![node_value("h", 70000, "a")])]),
            Value::Array(vec![entry(0, 1, vec![])]),
            Value::Array(vec![Value::Integer(1)]),
        ];
        for reply in cases {
            assert!(Map::parse(&reply, "x").is_err(), "{reply:?}");
        }
    }
}
