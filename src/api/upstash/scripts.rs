//! Upstash's own Lua shebang flag, `allow-key-locking`, on a Redis that does not know it.
//!
//! `@upstash/ratelimit` (2.x) sends every script as `#!lua flags=allow-key-locking …`; Redis
//! refuses a flag it does not know (`ERR Unexpected flag in script shebang`). So before a script
//! reaches Redis (`EVAL`, `EVAL_RO`, `SCRIPT LOAD`) the flag is taken out of its shebang, which
//! changes its SHA1. The clients compute the SHA1 of the script as they wrote it and call
//! `EVALSHA` with it, so the gateway remembers each pair (the client's SHA1 → Redis's) and
//! rewrites `EVALSHA`/`EVALSHA_RO` of a remembered one. An unknown SHA1 goes to Redis as is:
//! `NOSCRIPT` makes the client send `EVAL`, which teaches the gateway the pair.
//!
//! Limits: at most [`MAX_RENAMED_SCRIPTS`] pairs are kept; when full, the table is emptied (a
//! forgotten pair costs one `NOSCRIPT` and one `EVAL`). Only the first line of a script that
//! starts with `#!` is read.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::command::Args;
use crate::websocket::sha1;

/// Most SHA1 pairs remembered.
pub const MAX_RENAMED_SCRIPTS: usize = 1024;
/// The flag Redis does not know.
const UPSTASH_FLAG: &[u8] = b"allow-key-locking";

/// The scripts whose shebang lost the flag: the client's SHA1 → Redis's, both lowercase hex.
#[derive(Debug, Default)]
pub struct Scripts {
    renamed: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Scripts>();
};

impl Scripts {
    /// A plain map: a panic elsewhere cannot leave it half-changed.
    fn lock(&self) -> MutexGuard<'_, HashMap<Vec<u8>, Vec<u8>>> {
        self.renamed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the flag out of a script the command carries, or points `EVALSHA` at the script
    /// Redis knows.
    pub fn adapt(&self, args: &mut Args) {
        let name = args
            .first()
            .map(|n| n.to_ascii_uppercase())
            .unwrap_or_default();
        let script_at = match name.as_slice() {
            b"EVAL" | b"EVAL_RO" => 1,
            b"SCRIPT"
                if args
                    .get(1)
                    .is_some_and(|sub| sub.eq_ignore_ascii_case(b"LOAD")) =>
            {
                2
            }
            b"EVALSHA" | b"EVALSHA_RO" => {
                if let Some(sha) = args.get_mut(1) {
                    let known = self.lock().get(&sha.to_ascii_lowercase()).cloned();
                    if let Some(known) = known {
                        *sha = known;
                    }
                }
                return;
            }
            _ => return,
        };
        let Some(script) = args.get_mut(script_at) else {
            return;
        };
        let Some(stripped) = strip_flag(script) else {
            return;
        };
        let pair = (hex(&sha1::digest(script)), hex(&sha1::digest(&stripped)));
        *script = stripped;
        let mut renamed = self.lock();
        if renamed.len() >= MAX_RENAMED_SCRIPTS {
            renamed.clear();
        }
        renamed.insert(pair.0, pair.1);
    }
}

/// The script without `allow-key-locking` in its shebang; `None` when it has no such flag.
fn strip_flag(script: &[u8]) -> Option<Vec<u8>> {
    if !script.starts_with(b"#!") {
        return None;
    }
    let end = script
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(script.len());
    let (line, rest) = script.split_at(end);
    let mut changed = false;
    let mut words: Vec<Vec<u8>> = Vec::new();
    for word in line
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
    {
        let Some(flags) = word.strip_prefix(b"flags=") else {
            words.push(word.to_vec());
            continue;
        };
        let kept: Vec<&[u8]> = flags
            .split(|&b| b == b',')
            .filter(|f| {
                let upstash = *f == UPSTASH_FLAG;
                changed |= upstash;
                !upstash && !f.is_empty()
            })
            .collect();
        if !kept.is_empty() {
            words.push([&b"flags="[..], &kept.join(&b","[..])].concat());
        }
    }
    if !changed {
        return None;
    }
    let mut out = words.join(&b" "[..]);
    out.extend_from_slice(rest);
    Some(out)
}

/// Lowercase hex, as Redis writes a SHA1.
fn hex(bytes: &[u8]) -> Vec<u8> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|&b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Args {
        a.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn the_flag_leaves_the_shebang_and_others_stay() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "#!lua flags=allow-key-locking\nreturn 1",
                Some("#!lua\nreturn 1"),
            ),
            (
                "#!lua flags=no-writes,allow-key-locking name=x\nreturn 1",
                Some("#!lua flags=no-writes name=x\nreturn 1"),
            ),
            ("#!lua flags=no-writes\nreturn 1", None),
            ("return 1", None),
        ];
        for (script, want) in cases {
            let got = strip_flag(script.as_bytes());
            assert_eq!(got.as_deref(), want.map(str::as_bytes), "{script}");
        }
    }

    #[test]
    fn evalsha_of_the_clients_sha_reaches_the_stripped_script() {
        let scripts = Scripts::default();
        let script = "#!lua flags=allow-key-locking\nreturn 1";
        let client_sha = hex(&sha1::digest(script.as_bytes()));
        let redis_sha = hex(&sha1::digest(b"#!lua\nreturn 1"));
        let mut eval = args(&["EVAL", script, "0"]);
        scripts.adapt(&mut eval);
        assert_eq!(eval[1], b"#!lua\nreturn 1");
        let mut evalsha = vec![
            b"evalsha".to_vec(),
            client_sha.to_ascii_uppercase(),
            b"0".to_vec(),
        ];
        scripts.adapt(&mut evalsha);
        assert_eq!(evalsha[1], redis_sha);
        let mut other = args(&["EVALSHA", "ffff", "0"]);
        scripts.adapt(&mut other);
        assert_eq!(other[1], b"ffff");
        let mut load = args(&["SCRIPT", "load", script]);
        scripts.adapt(&mut load);
        assert_eq!(load[2], b"#!lua\nreturn 1");
    }
}
