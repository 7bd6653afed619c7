//! The commands that are not one command for one master: fanned out to every master (by Redis's
//! `request_policy` tip), split by slot (`--cluster-split-multi-key`), or whose keys only
//! `COMMAND GETKEYS` can find (`EVAL`). Each part goes through [`Cluster::resolve`], so redirects
//! and failovers are handled as for any command.
//!
//! Must never: split a command Redis does not mark `multi_shard`, or `MSETNX`; answer 200 when a
//! split write failed on some slots after it succeeded on others (that is 502, naming the keys).

use std::borrow::Cow;
use std::time::Instant;

use super::commands::{Commands, RequestPolicy, ResponsePolicy, Spec};
use super::route::{by_slot, cross_slot_text, key_positions, route, Route};
use super::{classify, merge, Answer, Cluster, Split};
use crate::redis::{Error, Refusal};
use crate::resp::Value;

impl Cluster {
    /// Runs one command that was not pipelined: fanned out, split, or with movable keys.
    pub(super) fn run_alone(
        &self,
        args: &[Cow<'_, [u8]>],
        commands: &Commands,
    ) -> Result<Value, Error> {
        let spec = commands.spec(args);
        let readonly = spec.is_some_and(|s| s.readonly);
        match route(args, spec) {
            Route::Slot(slot) => self.resolve(args, Some(slot), readonly, None),
            Route::Any => self.resolve(args, None, readonly, None),
            Route::Refused(why) => Err(Error::Refused(Refusal::Unsupported, why)),
            Route::Every(policy) => self.fan_out(args, policy),
            Route::Slots(groups) => match spec {
                Some(spec) => self.split(args, spec, &groups),
                None => Err(Error::Refused(
                    Refusal::CrossSlot,
                    cross_slot_text(args, &groups),
                )),
            },
            Route::AskKeys => match self.slot_of_movable(args)? {
                Ok(slot) => self.resolve(args, slot, readonly, None),
                Err(text) => Err(Error::Refused(Refusal::CrossSlot, text)),
            },
        }
    }

    /// The slot of a command whose keys only Redis can find (`COMMAND GETKEYS`): `Ok(None)`
    /// without keys, `Err(text)` when they span several slots.
    pub(super) fn slot_of_movable(
        &self,
        args: &[Cow<'_, [u8]>],
    ) -> Result<Result<Option<u16>, String>, Error> {
        let mut ask: Vec<Cow<'_, [u8]>> = Vec::with_capacity(args.len() + 2);
        ask.push(Cow::Borrowed(b"COMMAND"));
        ask.push(Cow::Borrowed(b"GETKEYS"));
        ask.extend(args.iter().map(|a| Cow::Borrowed(a.as_ref())));
        let keys = match self.resolve(&ask, None, true, None)? {
            Value::Array(keys) => keys,
            // No key (`EVAL … 0`) or arguments Redis will refuse itself: any master.
            _ => return Ok(Ok(None)),
        };
        let keys: Vec<Cow<'_, [u8]>> = keys
            .into_iter()
            .filter_map(|k| match k {
                Value::Bulk(k) | Value::Simple(k) => Some(Cow::Owned(k)),
                _ => None,
            })
            .collect();
        let positions: Vec<usize> = (0..keys.len()).collect();
        let groups = by_slot(&keys, &positions);
        Ok(match groups.as_slice() {
            [] => Ok(None),
            [(slot, _)] => Ok(Some(*slot)),
            _ => {
                let mut shown = vec![args.first().cloned().unwrap_or(Cow::Borrowed(b""))];
                shown.extend(keys.iter().cloned());
                let shown_groups: Vec<(u16, Vec<usize>)> = groups
                    .iter()
                    .map(|(s, ps)| (*s, ps.iter().map(|p| p + 1).collect()))
                    .collect();
                Err(cross_slot_text(&shown, &shown_groups))
            }
        })
    }

    /// A keyless command sent to every master, the replies merged by `policy`.
    fn fan_out(&self, args: &[Cow<'_, [u8]>], policy: ResponsePolicy) -> Result<Value, Error> {
        let deadline = Instant::now() + self.topology.retry_deadline();
        self.master_for(None, deadline)?;
        let (map, _, _) = self.topology.snapshot();
        let masters = map.map(|m| m.masters().to_vec()).unwrap_or_default();
        let replies = masters
            .into_iter()
            .map(|addr| {
                let first = self.send(&addr, args, false);
                match classify(first, &addr.0) {
                    Answer::Done(result) => result,
                    Answer::Later(value, _) => Ok(value),
                    // Fanned-out commands are not retried: a partial retry could not be merged.
                    Answer::NotSent(e) | Answer::Broken(e) => Err(e),
                    Answer::Moved(_) | Answer::Ask(_) => Err(Error::Unavailable(
                        "a node answered a keyless command with a redirect".into(),
                    )),
                }
            })
            .collect();
        merge::merge(policy, replies)
    }

    /// A multi-key command whose keys span several slots: 409, or, with
    /// `--cluster-split-multi-key` and a `multi_shard` command, one command per slot.
    fn split(
        &self,
        args: &[Cow<'_, [u8]>],
        spec: &Spec,
        groups: &[(u16, Vec<usize>)],
    ) -> Result<Value, Error> {
        let name = args
            .first()
            .map(|a| a.to_ascii_uppercase())
            .unwrap_or_default();
        let step = usize::try_from(spec.step).unwrap_or(1).max(1);
        let positions = key_positions(spec, args.len());
        let whole_tail = spec.first == 1 && positions.last().map(|p| p + step) == Some(args.len());
        let splittable = self.split == Split::PerSlot
            && spec.request == RequestPolicy::MultiShard
            && name != b"MSETNX"
            && whole_tail;
        if !splittable {
            return Err(Error::Refused(
                Refusal::CrossSlot,
                cross_slot_text(args, groups),
            ));
        }
        let mut results = Vec::with_capacity(groups.len());
        for (slot, members) in groups {
            let mut sub: Vec<Cow<'_, [u8]>> = Vec::with_capacity(1 + members.len() * step);
            sub.push(Cow::Borrowed(args.first().map_or(&b""[..], |a| a.as_ref())));
            for p in members {
                for k in *p..p + step {
                    if let Some(arg) = args.get(k) {
                        sub.push(Cow::Borrowed(arg.as_ref()));
                    }
                }
            }
            results.push(self.resolve(&sub, Some(*slot), spec.readonly, None));
        }
        let failed: Vec<usize> = (0..groups.len())
            .filter(|i| !matches!(results.get(*i), Some(Ok(v)) if !v.is_error()))
            .collect();
        if !failed.is_empty() && failed.len() < groups.len() && !spec.readonly {
            return Err(Error::Refused(
                Refusal::Partial,
                partial_text(args, groups, &results, &failed),
            ));
        }
        if spec.response == ResponsePolicy::Default {
            // `MGET`: each slot's array back in the order of the keys.
            let mut all: Vec<Value> = vec![Value::Nil; positions.len()];
            for ((_, members), result) in groups.iter().zip(results) {
                let values = match result? {
                    Value::Array(values) => values,
                    other => return Ok(other),
                };
                for (p, value) in members.iter().zip(values) {
                    if let Some(at) = positions.iter().position(|q| q == p) {
                        if let Some(item) = all.get_mut(at) {
                            *item = value;
                        }
                    }
                }
            }
            return Ok(Value::Array(all));
        }
        merge::merge(spec.response, results)
    }
}

/// The 502 text of a split write that failed on some slots: which keys failed, why, and which
/// were written.
fn partial_text(
    args: &[Cow<'_, [u8]>],
    groups: &[(u16, Vec<usize>)],
    results: &[Result<Value, Error>],
    failed: &[usize],
) -> String {
    let keys = |i: usize| -> Vec<String> {
        groups.get(i).map_or_else(Vec::new, |(_, ps)| {
            ps.iter()
                .filter_map(|p| args.get(*p))
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect()
        })
    };
    let failed_keys: Vec<String> = failed.iter().flat_map(|i| keys(*i)).collect();
    let done_keys: Vec<String> = (0..groups.len())
        .filter(|i| !failed.contains(i))
        .flat_map(keys)
        .collect();
    let why = failed
        .first()
        .and_then(|i| results.get(*i))
        .map(|r| match r {
            Ok(Value::Error(text)) => String::from_utf8_lossy(text).into_owned(),
            Ok(_) => "unexpected reply".to_string(),
            Err(e) => e.to_string(),
        })
        .unwrap_or_default();
    let name = String::from_utf8_lossy(args.first().map_or(&[][..], |a| a)).to_uppercase();
    format!(
        "{name} was split by hash slot (--cluster-split-multi-key) and is not atomic: it failed \
         for keys {} ({why}) and succeeded for keys {}",
        failed_keys.join(", "),
        done_keys.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_failure_names_the_keys_that_failed_and_those_written() {
        let args: Vec<Cow<'_, [u8]>> = ["MSET", "a", "1", "b", "2", "c", "3"]
            .iter()
            .map(|w| Cow::Borrowed(w.as_bytes()))
            .collect();
        let groups = vec![(1, vec![1, 5]), (2, vec![3])];
        let results = vec![
            Ok(Value::Simple(b"OK".to_vec())),
            Err(Error::Unavailable("no master serves slot 2".into())),
        ];
        let text = partial_text(&args, &groups, &results, &[1]);
        assert!(text.starts_with("MSET was split by hash slot"), "{text}");
        assert!(
            text.contains("failed for keys b (redis unavailable: no master serves slot 2)"),
            "{text}"
        );
        assert!(text.contains("succeeded for keys a, c"), "{text}");
    }
}
