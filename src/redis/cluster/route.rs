//! Where a command goes: its keys (by the positions Redis's `COMMAND` gave, or the keys `COMMAND
//! GETKEYS` found), their slots, and what to do when there is no key or several slots. Pure.
//!
//! | the command                                   | goes to                                      |
//! |-----------------------------------------------|----------------------------------------------|
//! | keys, all in one slot                         | that slot's master                           |
//! | keys in several slots, `request_policy:multi_shard` (`MSET`, `MGET`, `DEL`, `EXISTS`…) | split per slot with `--cluster-split-multi-key`, else 409 |
//! | keys in several slots, any other              | 409 (CROSSSLOT): one `{hash tag}` puts them in one slot |
//! | no key, `request_policy:all_shards`/`all_nodes` (`PING`, `DBSIZE`, `KEYS`, `FLUSHALL`…) | every master, replies merged by `response_policy` |
//! | no key, `request_policy:special` or `response_policy:special` (`SCAN`, `INFO`…) | refused, 400 |
//! | no key, no tip (`ECHO`, `PUBLISH`, `TIME`…), unknown commands | one master (the first in the map) |

use std::borrow::Cow;

use super::commands::{RequestPolicy, ResponsePolicy, Spec};
use super::slot::slot;

/// Where one command goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// To the master of this slot.
    Slot(u16),
    /// No key: to any one master.
    Any,
    /// No key: to every master, the replies merged by this policy.
    Every(ResponsePolicy),
    /// Keys in several slots: the positions of the keys of each slot, slots in order of first
    /// appearance.
    Slots(Vec<(u16, Vec<usize>)>),
    /// The keys are not known from positions: ask `COMMAND GETKEYS`.
    AskKeys,
    /// The cluster cannot run it; the text says why.
    Refused(String),
}

/// The positions of `args`' keys by `spec`'s `first`, `last`, `step` (positions count the
/// command name as 0).
pub fn key_positions(spec: &Spec, len: usize) -> Vec<usize> {
    let Ok(first) = usize::try_from(spec.first) else {
        return Vec::new();
    };
    if first == 0 || first >= len {
        return Vec::new();
    }
    let last = if spec.last < 0 {
        let back = usize::try_from(spec.last.unsigned_abs()).unwrap_or(usize::MAX);
        match len.checked_sub(back) {
            Some(last) => last,
            None => return Vec::new(),
        }
    } else {
        usize::try_from(spec.last)
            .unwrap_or(usize::MAX)
            .min(len - 1)
    };
    let step = usize::try_from(spec.step).unwrap_or(0).max(1);
    (first..=last).step_by(step).collect()
}

/// Groups key positions by slot, slots in order of first appearance.
pub fn by_slot(args: &[Cow<'_, [u8]>], positions: &[usize]) -> Vec<(u16, Vec<usize>)> {
    let mut groups: Vec<(u16, Vec<usize>)> = Vec::new();
    for p in positions {
        let Some(key) = args.get(*p) else { continue };
        let s = slot(key);
        match groups.iter_mut().find(|(g, _)| *g == s) {
            Some((_, members)) => members.push(*p),
            None => groups.push((s, vec![*p])),
        }
    }
    groups
}

/// Where `args` goes, given what Redis said of the command (`None`: Redis does not know it).
pub fn route(args: &[Cow<'_, [u8]>], spec: Option<&Spec>) -> Route {
    let Some(spec) = spec else {
        return Route::Any;
    };
    if spec.movable {
        return Route::AskKeys;
    }
    let positions = key_positions(spec, args.len());
    let mut groups = by_slot(args, &positions);
    match groups.len() {
        0 => keyless(args, spec),
        1 => Route::Slot(groups.remove(0).0),
        _ => Route::Slots(groups),
    }
}

/// Where a command with no key goes (see the module table).
fn keyless(args: &[Cow<'_, [u8]>], spec: &Spec) -> Route {
    let name = String::from_utf8_lossy(args.first().map_or(&[][..], |a| a)).to_uppercase();
    match (spec.request, spec.response) {
        (RequestPolicy::Special, _) => Route::Refused(format!(
            "{name} cannot be answered through a Redis Cluster gateway: each node has its own \
             answer (a cursor, a node's state) and Redis names no way to merge them; ask a node \
             directly"
        )),
        (RequestPolicy::AllShards | RequestPolicy::AllNodes, ResponsePolicy::Special) => {
            Route::Refused(format!(
                "{name} has a per-node answer that a Redis Cluster gateway cannot merge; ask a \
                 node directly"
            ))
        }
        (RequestPolicy::AllShards | RequestPolicy::AllNodes, response) => Route::Every(response),
        _ => Route::Any,
    }
}

/// The keys of `args` in several slots, named for a 409 with the fix.
pub fn cross_slot_text(args: &[Cow<'_, [u8]>], groups: &[(u16, Vec<usize>)]) -> String {
    let name = String::from_utf8_lossy(args.first().map_or(&[][..], |a| a)).to_uppercase();
    let mut shown = Vec::new();
    for (slot, positions) in groups.iter().take(4) {
        let keys: Vec<String> = positions
            .iter()
            .take(3)
            .filter_map(|p| args.get(*p))
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        shown.push(format!("slot {slot}: {}", keys.join(", ")));
    }
    format!(
        "CROSSSLOT {name}: the keys are in {} different hash slots of the Redis Cluster ({}{}); \
         a cluster runs one command, transaction or script only on keys of one slot: give the \
         keys a common hash tag, e.g. {{user1}}:a and {{user1}}:b (only the part in braces is \
         hashed)",
        groups.len(),
        shown.join("; "),
        if groups.len() > 4 { "; …" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(first: i64, last: i64, step: i64) -> Spec {
        Spec {
            first,
            last,
            step,
            movable: false,
            readonly: false,
            request: RequestPolicy::Default,
            response: ResponsePolicy::Default,
        }
    }

    fn args(words: &[&str]) -> Vec<Cow<'static, [u8]>> {
        words
            .iter()
            .map(|w| Cow::Owned(w.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn positions_follow_first_last_step() {
        assert_eq!(key_positions(&spec(1, 1, 1), 2), [1]);
        assert_eq!(
            key_positions(&spec(1, 1, 1), 1),
            [] as [usize; 0],
            "GET without its key"
        );
        assert_eq!(key_positions(&spec(1, -1, 2), 5), [1, 3]);
        assert_eq!(key_positions(&spec(1, -1, 1), 4), [1, 2, 3]);
        assert_eq!(
            key_positions(&spec(1, -2, 1), 4),
            [1, 2],
            "BLPOP k1 k2 timeout"
        );
        assert_eq!(key_positions(&spec(0, 0, 0), 4), [] as [usize; 0]);
        assert_eq!(key_positions(&spec(2, 2, 1), 3), [2]);
        assert_eq!(key_positions(&spec(1, -9, 1), 3), [] as [usize; 0]);
    }

    #[test]
    fn one_slot_several_slots_and_no_key() {
        let mset = spec(1, -1, 2);
        assert_eq!(
            route(&args(&["MSET", "{u}a", "1", "{u}b", "2"]), Some(&mset)),
            Route::Slot(slot(b"u"))
        );
        let Route::Slots(groups) = route(
            &args(&["MSET", "foo", "1", "bar", "2", "foo2", "3"]),
            Some(&mset),
        ) else {
            panic!("foo and bar are in different slots");
        };
        assert_eq!(groups[0], (12182, vec![1]));
        assert_eq!(groups[1], (5061, vec![3]));
        assert_eq!(
            route(&args(&["ECHO", "x"]), Some(&spec(0, 0, 0))),
            Route::Any
        );
        assert_eq!(route(&args(&["NOPE", "x"]), None), Route::Any);
        let mut eval = spec(0, 0, 0);
        eval.movable = true;
        assert_eq!(
            route(&args(&["EVAL", "s", "0"]), Some(&eval)),
            Route::AskKeys
        );
    }

    #[test]
    fn keyless_commands_follow_their_tips() {
        let mut dbsize = spec(0, 0, 0);
        dbsize.request = RequestPolicy::AllShards;
        dbsize.response = ResponsePolicy::AggSum;
        assert_eq!(
            route(&args(&["DBSIZE"]), Some(&dbsize)),
            Route::Every(ResponsePolicy::AggSum)
        );
        let mut scan = spec(0, 0, 0);
        scan.request = RequestPolicy::Special;
        assert!(
            matches!(route(&args(&["SCAN", "0"]), Some(&scan)), Route::Refused(t) if t.contains("SCAN"))
        );
        let mut info = spec(0, 0, 0);
        info.request = RequestPolicy::AllShards;
        info.response = ResponsePolicy::Special;
        assert!(
            matches!(route(&args(&["info"]), Some(&info)), Route::Refused(t) if t.contains("INFO"))
        );
    }

    #[test]
    fn the_cross_slot_text_names_keys_and_the_fix() {
        let a = args(&["MSET", "foo", "1", "bar", "2"]);
        let text = cross_slot_text(&a, &by_slot(&a, &[1, 3]));
        assert!(
            text.contains("foo") && text.contains("bar") && text.contains("{user1}"),
            "{text}"
        );
    }
}
