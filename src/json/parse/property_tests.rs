//! Properties with the shared PRNG: mutations of valid texts and random bytes never panic, an
//! error's position is inside the input, and whatever parses writes back to the same value.
//! Replay a failure with `GATEWAY_SEED=<seed>`.

use super::*;
use crate::json::write;
use crate::test_rng::Rng;

/// Valid texts that the mutation test starts from: they touch every part of the grammar.
const SEEDS: &[&str] = &[
    r#"{"redis_host": "127.0.0.1", "threads": 5, "acl": [{"disabled": ["DEBUG"]}, {"enabled": []}]}"#,
    r#"[0, -0, 1.5e-3, -12E+2, 9223372036854775808, true, false, null, "", {}]"#,
    r#"["\"\\\/\b\f\n\r\t", "\u0041\u00e9\uD834\uDD1E", "é€𝄞", {"a": {"b": [[[1]]]}}]"#,
    "  \n\t\"plain\"\r\n ",
];

/// Bytes that matter to the grammar, so that mutations often make near-valid texts.
const INTERESTING: &[u8] =
    b"[]{}\",:\\/ \t\n0123456789-+.eEutfnlrsabUD\x00\x1f\x7f\x80\xc3\xa9\xed\xf0\xff";

/// `text` with one to four random edits: replace, insert or delete a byte, or cut the text short.
fn mutate(rng: &mut Rng, text: &[u8]) -> Vec<u8> {
    let mut bytes = text.to_vec();
    for _ in 0..1 + rng.below(4) {
        let byte = if rng.one_in(2) {
            INTERESTING[rng.below(INTERESTING.len())]
        } else {
            rng.bytes(1)[0]
        };
        let at = rng.below(bytes.len() + 1);
        match rng.below(4) {
            0 if at < bytes.len() => bytes[at] = byte,
            1 => bytes.insert(at, byte),
            2 if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => bytes.truncate(at),
        }
    }
    bytes
}

#[test]
fn random_mutations_of_valid_texts_never_panic() {
    let (mut rng, seed) = Rng::from_env(0x4A50_4E21);
    let small = Limits {
        max_bytes: 96,
        max_depth: 3,
    };
    for _ in 0..Rng::iterations(5_000) {
        let text = SEEDS[rng.below(SEEDS.len())].as_bytes();
        let input = mutate(&mut rng, text);
        for limits in [&Limits::DEFAULT, &small] {
            match parse(&input, limits) {
                Ok(value) => {
                    // Whatever parses writes back to a text that parses to the same value.
                    let mut out = Vec::new();
                    write::write(&mut out, &value);
                    assert_eq!(
                        parse(&out, &Limits::DEFAULT),
                        Ok(value),
                        "seed {seed} input {input:?}"
                    );
                }
                Err(error) => {
                    let at = error.position().map_or(0, |p| p.offset);
                    assert!(
                        at <= input.len(),
                        "seed {seed} input {input:?} error {error:?}"
                    );
                    assert!(!error.to_string().is_empty());
                }
            }
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let (mut rng, seed) = Rng::from_env(0x0B17_E500);
    for _ in 0..Rng::iterations(5_000) {
        let len = rng.below(40);
        let input: Vec<u8> = (0..len)
            .map(|_| INTERESTING[rng.below(INTERESTING.len())])
            .collect();
        if let Err(error) = parse(&input, &Limits::DEFAULT) {
            let at = error.position().map_or(0, |p| p.offset);
            assert!(at <= input.len(), "seed {seed} input {input:?}");
        }
    }
}
