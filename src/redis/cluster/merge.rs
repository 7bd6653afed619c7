//! One reply out of the replies of several masters (a fanned-out `DBSIZE`, a split `MGET`), by
//! the `response_policy` Redis names for the command. Pure.

use super::commands::ResponsePolicy;
use crate::redis::Error;
use crate::resp::Value;

/// Merges the replies of one command sent to several masters.
///
/// # Errors
///
/// The first transport error, when the policy needs every reply (or, for `one_succeeded`, when
/// none succeeded).
pub fn merge(policy: ResponsePolicy, replies: Vec<Result<Value, Error>>) -> Result<Value, Error> {
    if policy == ResponsePolicy::OneSucceeded {
        let mut first_failure = None;
        for reply in replies {
            match reply {
                Ok(value) if !value.is_error() => return Ok(value),
                other => {
                    first_failure.get_or_insert(other);
                }
            }
        }
        return first_failure.unwrap_or(Ok(Value::Nil));
    }
    let mut values = Vec::with_capacity(replies.len());
    for reply in replies {
        let value = reply?;
        if value.is_error() {
            return Ok(value);
        }
        values.push(value);
    }
    let integers: Option<Vec<i64>> = values
        .iter()
        .map(|v| match v {
            Value::Integer(n) => Some(*n),
            _ => None,
        })
        .collect();
    let merged = match (policy, integers) {
        (ResponsePolicy::AggSum, Some(ns)) => {
            Value::Integer(ns.iter().fold(0i64, |a, n| a.saturating_add(*n)))
        }
        (ResponsePolicy::AggMin, Some(ns)) => {
            ns.iter().min().map_or(Value::Nil, |n| Value::Integer(*n))
        }
        (ResponsePolicy::AggMax, Some(ns)) => {
            ns.iter().max().map_or(Value::Nil, |n| Value::Integer(*n))
        }
        (ResponsePolicy::AggLogicalAnd, Some(ns)) => {
            Value::Integer(i64::from(ns.iter().all(|n| *n != 0)))
        }
        (ResponsePolicy::AggLogicalOr, Some(ns)) => {
            Value::Integer(i64::from(ns.iter().any(|n| *n != 0)))
        }
        (ResponsePolicy::Default, _) if values.iter().all(|v| matches!(v, Value::Array(_))) => {
            let mut all = Vec::new();
            for value in values {
                if let Value::Array(items) = value {
                    all.extend(items);
                }
            }
            Value::Array(all)
        }
        (ResponsePolicy::Default, _) => values
            .into_iter()
            .find(|v| *v != Value::Nil)
            .unwrap_or(Value::Nil),
        // all_succeeded, or an aggregate of replies that are not integers: the first reply.
        _ => values.into_iter().next().unwrap_or(Value::Nil),
    };
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_policy_merges_as_redis_documents() {
        let ints = || {
            vec![
                Ok(Value::Integer(2)),
                Ok(Value::Integer(0)),
                Ok(Value::Integer(5)),
            ]
        };
        assert_eq!(
            merge(ResponsePolicy::AggSum, ints()).unwrap(),
            Value::Integer(7)
        );
        assert_eq!(
            merge(ResponsePolicy::AggMin, ints()).unwrap(),
            Value::Integer(0)
        );
        assert_eq!(
            merge(ResponsePolicy::AggMax, ints()).unwrap(),
            Value::Integer(5)
        );
        assert_eq!(
            merge(ResponsePolicy::AggLogicalAnd, ints()).unwrap(),
            Value::Integer(0)
        );
        assert_eq!(
            merge(ResponsePolicy::AggLogicalOr, ints()).unwrap(),
            Value::Integer(1)
        );
        let arrays = vec![
            Ok(Value::Array(vec![Value::Bulk(b"a".to_vec())])),
            Ok(Value::Array(vec![Value::Bulk(b"b".to_vec())])),
        ];
        assert_eq!(
            merge(ResponsePolicy::Default, arrays).unwrap(),
            Value::Array(vec![Value::Bulk(b"a".to_vec()), Value::Bulk(b"b".to_vec())])
        );
        let ok = || Ok(Value::Simple(b"OK".to_vec()));
        assert_eq!(
            merge(ResponsePolicy::AllSucceeded, vec![ok(), ok()]).unwrap(),
            Value::Simple(b"OK".to_vec())
        );
    }

    #[test]
    fn a_failure_wins_unless_one_success_is_enough() {
        let mixed = || {
            vec![
                Ok(Value::Simple(b"OK".to_vec())),
                Ok(Value::Error(b"ERR x".to_vec())),
                Err(Error::Closed),
            ]
        };
        assert_eq!(
            merge(ResponsePolicy::AllSucceeded, mixed()).unwrap(),
            Value::Error(b"ERR x".to_vec())
        );
        assert_eq!(
            merge(ResponsePolicy::OneSucceeded, mixed()).unwrap(),
            Value::Simple(b"OK".to_vec())
        );
        assert!(matches!(
            merge(
                ResponsePolicy::AggSum,
                vec![Ok(Value::Integer(1)), Err(Error::Closed)]
            ),
            Err(Error::Closed)
        ));
    }
}
