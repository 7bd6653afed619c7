//! What Redis says about its own commands, read once from its `COMMAND` reply: where each
//! command's keys are (`first`, `last`, `step`, or "movable": ask `COMMAND GETKEYS`), whether it
//! only reads, and its tips for a cluster client (Redis 7+: `request_policy:all_shards`,
//! `response_policy:agg_sum`, …). The gateway keeps no hand-written table of commands.
//!
//! ```text
//!   COMMAND → *N of [ name, arity, flags, first_key, last_key, step,
//!                     acl_categories (6+), tips (7+), key_specs (7+), subcommands (7+) ]
//! ```
//!
//! Subcommands (`OBJECT ENCODING`, `XINFO STREAM`) are kept as `object|encoding`, as Redis names
//! them. A Redis older than 7 sends no tips: every command then has the default policies. Pure.

use std::collections::HashMap;

use crate::resp::Value;

/// Most commands kept (Redis 7.0 has about 240 with subcommands; modules add some).
pub const MAX_COMMANDS: usize = 4096;
/// Commands that must see every node, refused when Redis gives no tips (before 7.0): the one
/// hand-kept list, for old servers only.
const PRE_TIPS_ALL_NODES: &[&[u8]] = &[
    b"keys",
    b"scan",
    b"dbsize",
    b"flushall",
    b"flushdb",
    b"randomkey",
    b"script",
    b"function",
];
/// Longest command name kept.
const MAX_NAME_BYTES: usize = 64;

/// Where a keyless command goes (the `request_policy` tip).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestPolicy {
    /// No tip: by its keys; a keyless one to any one master.
    Default,
    /// To every master (`all_shards`).
    AllShards,
    /// To every node (`all_nodes`); the gateway sends it to every master, having no replica
    /// connections.
    AllNodes,
    /// Split by slot (`multi_shard`: `MSET`, `MGET`, `DEL`, …).
    MultiShard,
    /// Only the client knows how (`special`: `SCAN`…): refused.
    Special,
}

/// How the replies of a command sent to several masters become one (the `response_policy` tip).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponsePolicy {
    /// No tip: arrays concatenated (in key order for a split command), else the first reply.
    Default,
    /// The first success; an error only when every node failed.
    OneSucceeded,
    /// The first reply when every node succeeded, else the first error.
    AllSucceeded,
    /// The sum of the integers.
    AggSum,
    /// The smallest integer.
    AggMin,
    /// The largest integer.
    AggMax,
    /// True (1) when every reply is.
    AggLogicalAnd,
    /// True (1) when any reply is.
    AggLogicalOr,
    /// Only the client knows how: refused.
    Special,
}

/// What one command needs of a cluster client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// Position of the first key (0: none).
    pub first: i64,
    /// Position of the last key; negative counts from the end (-1: the last argument).
    pub last: i64,
    /// Distance between keys (2 for `MSET k v k v`).
    pub step: i64,
    /// The keys are found by `COMMAND GETKEYS` (`EVAL`, `ZUNIONSTORE`, `XREAD`…).
    pub movable: bool,
    /// The command never writes (`readonly` flag): safe to send again after a broken connection.
    pub readonly: bool,
    /// Its `request_policy` tip.
    pub request: RequestPolicy,
    /// Its `response_policy` tip.
    pub response: ResponsePolicy,
}

/// Every command Redis described, by lower-case name (`get`, `object|encoding`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commands {
    specs: HashMap<Vec<u8>, Spec>,
}

impl Commands {
    /// Reads a `COMMAND` reply; entries that are not shaped as expected are skipped (they are
    /// then unknown commands, sent to any master, where Redis answers for itself).
    pub fn parse(reply: &Value) -> Commands {
        let mut commands = Commands::default();
        if let Value::Array(entries) = reply {
            for entry in entries {
                commands.add(entry);
            }
        }
        let tipped = commands
            .specs
            .values()
            .any(|s| s.request != RequestPolicy::Default || s.response != ResponsePolicy::Default);
        if !tipped {
            // A Redis before 7.0 gives no tips: without them, the commands that must see every
            // node would answer for one master only. Those named here are refused instead.
            for name in PRE_TIPS_ALL_NODES {
                if let Some(spec) = commands.specs.get_mut(*name) {
                    spec.request = RequestPolicy::Special;
                }
            }
        }
        commands
    }

    fn add(&mut self, entry: &Value) {
        if self.specs.len() >= MAX_COMMANDS {
            return;
        }
        let Value::Array(fields) = entry else {
            return;
        };
        let [Value::Bulk(name) | Value::Simple(name), _arity, Value::Array(flags), Value::Integer(first), Value::Integer(last), Value::Integer(step), rest @ ..] =
            fields.as_slice()
        else {
            return;
        };
        if name.len() > MAX_NAME_BYTES {
            return;
        }
        let has_flag = |wanted: &[u8]| {
            flags.iter().any(|f| matches!(f, Value::Simple(t) | Value::Bulk(t) if t.eq_ignore_ascii_case(wanted)))
        };
        let mut spec = Spec {
            first: *first,
            last: *last,
            step: *step,
            movable: has_flag(b"movablekeys"),
            readonly: has_flag(b"readonly"),
            request: RequestPolicy::Default,
            response: ResponsePolicy::Default,
        };
        if let Some(Value::Array(tips)) = rest.get(1) {
            for tip in tips {
                if let Value::Bulk(tip) | Value::Simple(tip) = tip {
                    read_tip(tip, &mut spec);
                }
            }
        }
        self.specs.insert(name.to_ascii_lowercase(), spec);
        if let Some(Value::Array(subcommands)) = rest.get(3) {
            for sub in subcommands {
                self.add(sub);
            }
        }
    }

    /// The spec of the command `args` names: its subcommand's (`OBJECT ENCODING`) when Redis
    /// has one by that name, else its own; `None` when Redis did not describe it.
    pub fn spec<A: AsRef<[u8]>>(&self, args: &[A]) -> Option<&Spec> {
        let name = args.first()?.as_ref();
        if name.len() > MAX_NAME_BYTES {
            return None;
        }
        let name = name.to_ascii_lowercase();
        if let Some(sub) = args.get(1).map(AsRef::as_ref) {
            if sub.len() <= MAX_NAME_BYTES {
                let mut full = name.clone();
                full.push(b'|');
                full.extend(sub.to_ascii_lowercase());
                if let Some(spec) = self.specs.get(&full) {
                    return Some(spec);
                }
            }
        }
        self.specs.get(&name)
    }

    /// How many commands are known.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// Whether none is known (not learned yet).
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }
}

fn read_tip(tip: &[u8], spec: &mut Spec) {
    if let Some(policy) = tip.strip_prefix(b"request_policy:") {
        spec.request = match policy {
            b"all_shards" => RequestPolicy::AllShards,
            b"all_nodes" => RequestPolicy::AllNodes,
            b"multi_shard" => RequestPolicy::MultiShard,
            _ => RequestPolicy::Special,
        };
    } else if let Some(policy) = tip.strip_prefix(b"response_policy:") {
        spec.response = match policy {
            b"one_succeeded" => ResponsePolicy::OneSucceeded,
            b"all_succeeded" => ResponsePolicy::AllSucceeded,
            b"agg_sum" => ResponsePolicy::AggSum,
            b"agg_min" => ResponsePolicy::AggMin,
            b"agg_max" => ResponsePolicy::AggMax,
            b"agg_logical_and" => ResponsePolicy::AggLogicalAnd,
            b"agg_logical_or" => ResponsePolicy::AggLogicalOr,
            _ => ResponsePolicy::Special,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::Bulk(text.as_bytes().to_vec())
    }

    fn entry(name: &str, flags: &[&str], keys: (i64, i64, i64), tips: &[&str]) -> Value {
        Value::Array(vec![
            bulk(name),
            Value::Integer(-2),
            Value::Array(
                flags
                    .iter()
                    .map(|f| Value::Simple(f.as_bytes().to_vec()))
                    .collect(),
            ),
            Value::Integer(keys.0),
            Value::Integer(keys.1),
            Value::Integer(keys.2),
            Value::Array(Vec::new()),
            Value::Array(tips.iter().map(|t| bulk(t)).collect()),
            Value::Array(Vec::new()),
            Value::Array(Vec::new()),
        ])
    }

    #[test]
    fn key_positions_flags_and_tips_are_read() {
        let mut object = entry("object", &[], (0, 0, 0), &[]);
        if let Value::Array(fields) = &mut object {
            fields[9] = Value::Array(vec![entry(
                "object|encoding",
                &["readonly"],
                (2, 2, 1),
                &[],
            )]);
        }
        let reply = Value::Array(vec![
            entry(
                "mset",
                &["write", "denyoom"],
                (1, -1, 2),
                &[
                    "request_policy:multi_shard",
                    "response_policy:all_succeeded",
                ],
            ),
            entry("get", &["readonly", "fast"], (1, 1, 1), &[]),
            entry("eval", &["noscript", "movablekeys"], (0, 0, 0), &[]),
            entry(
                "dbsize",
                &["readonly"],
                (0, 0, 0),
                &["request_policy:all_shards", "response_policy:agg_sum"],
            ),
            entry(
                "scan",
                &["readonly"],
                (0, 0, 0),
                &["request_policy:special"],
            ),
            object,
            Value::Integer(7),
        ]);
        let commands = Commands::parse(&reply);
        assert_eq!(commands.len(), 7);
        let mset = commands.spec(&["MSET", "a", "1"]).unwrap();
        assert_eq!((mset.first, mset.last, mset.step), (1, -1, 2));
        assert_eq!(mset.request, RequestPolicy::MultiShard);
        assert_eq!(mset.response, ResponsePolicy::AllSucceeded);
        assert!(!mset.readonly);
        assert!(commands.spec(&["get", "k"]).unwrap().readonly);
        assert!(commands.spec(&["Eval", "s", "0"]).unwrap().movable);
        assert_eq!(
            commands.spec(&["DBSIZE"]).unwrap().response,
            ResponsePolicy::AggSum
        );
        assert_eq!(
            commands.spec(&["scan", "0"]).unwrap().request,
            RequestPolicy::Special
        );
        assert_eq!(
            commands.spec(&["OBJECT", "ENCODING", "k"]).unwrap().first,
            2
        );
        assert_eq!(commands.spec(&["object", "nope"]).unwrap().first, 0);
        assert!(commands.spec(&["nope"]).is_none());
        assert!(commands.spec::<&str>(&[]).is_none());
    }

    #[test]
    fn without_tips_redis_6_refuses_the_commands_that_need_every_node() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("keys"),
            Value::Integer(2),
            Value::Array(vec![Value::Simple(b"readonly".to_vec())]),
            Value::Integer(0),
            Value::Integer(0),
            Value::Integer(0),
        ])]);
        let commands = Commands::parse(&reply);
        let keys = commands.spec(&["KEYS", "*"]).unwrap();
        assert_eq!(
            keys.request,
            RequestPolicy::Special,
            "refused: without tips it would see one master only"
        );
        assert_eq!(keys.response, ResponsePolicy::Default);
    }
}
