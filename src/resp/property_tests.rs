//! Property tests over [`encode`] and [`decode`] together, driven by the shared PRNG.
//!
//! Replay a failure with `GATEWAY_SEED=<seed printed in the message>`; run longer with `GATEWAY_FUZZ_ITERS`.

use super::{decode, encode, DecodeError, Limits, Status, Value};
use crate::test_rng::Rng;

/// Limits the random values stay within: small, so that hostile inputs cannot ask for much.
fn limits() -> Limits {
    Limits {
        max_bulk_bytes: 64,
        max_elements: 16,
        max_depth: 6,
        max_line_bytes: 32,
    }
}

/// Bytes RESP cares about, without CR and LF: the text of a simple string, which is one line.
const LINE_BYTES: &[u8] = b"ab:$*+-_ 0\0\xff";

/// Bytes RESP cares about, CR and LF among them: text that the encoder may write with a length.
const BLOB_BYTES: &[u8] = b"ab:$*+-_\r\n\0\xff";

/// Random bytes of length `0..max` from `alphabet` ([`LINE_BYTES`] or [`BLOB_BYTES`]).
fn text(rng: &mut Rng, max: usize, alphabet: &[u8]) -> Vec<u8> {
    let len = rng.below(max);
    (0..len)
        .map(|_| alphabet[rng.below(alphabet.len())])
        .collect()
}

/// Digits of length `1..=max`.
fn digits(rng: &mut Rng, max: usize) -> Vec<u8> {
    (0..1 + rng.below(max))
        .map(|_| b'0' + rng.below(10) as u8)
        .collect()
}

/// A valid double text: a special word or a number with optional sign, fraction and exponent.
fn double(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    match rng.below(5) {
        0 => out.extend_from_slice(b"inf"),
        1 => out.extend_from_slice(b"nan"),
        _ => {
            if rng.one_in(2) {
                out.push(b'-');
            }
            out.extend(digits(rng, 5));
            if rng.one_in(2) {
                out.push(b'.');
                out.extend(digits(rng, 5));
            }
            if rng.one_in(3) {
                out.push(b'e');
                out.extend(digits(rng, 3));
            }
        }
    }
    out
}

/// A random value within [`limits`], at most `depth` aggregates deep.
fn random_value(rng: &mut Rng, depth: usize) -> Value {
    let kinds = if depth == 0 { 9 } else { 13 };
    match rng.below(kinds) {
        0 => Value::Simple(text(rng, 30, LINE_BYTES)),
        1 => Value::Error(text(rng, 30, BLOB_BYTES)),
        2 => Value::Integer(rng.next_u64() as i64 >> rng.below(64)),
        3 => Value::Bulk(text(rng, 64, BLOB_BYTES)),
        4 => Value::Nil,
        5 => Value::Double(double(rng)),
        6 => Value::Boolean(rng.one_in(2)),
        7 => {
            let sign: &[u8] = if rng.one_in(2) { b"-" } else { b"" };
            Value::BigNumber([sign, &digits(rng, 30)].concat())
        }
        8 => Value::Verbatim(rng.bytes(3), text(rng, 60, BLOB_BYTES)),
        9 => Value::Array(items(rng, depth, 16)),
        10 => Value::Set(items(rng, depth, 16)),
        11 => Value::Push(items(rng, depth, 16)),
        _ => {
            let keys = items(rng, depth, 8);
            Value::Map(
                keys.into_iter()
                    .map(|key| (key, random_value(rng, depth - 1)))
                    .collect(),
            )
        }
    }
}

/// Up to `max` values one level below `depth`; more rarely than not, each is a scalar.
fn items(rng: &mut Rng, depth: usize, max: usize) -> Vec<Value> {
    let len = rng.below(max.min(6) + 1);
    (0..len)
        .map(|_| {
            let below = if rng.one_in(3) { depth - 1 } else { 0 };
            random_value(rng, below)
        })
        .collect()
}

fn encoded(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode(value, &mut out);
    out
}

#[test]
fn random_values_round_trip_and_random_cuts_are_partial() {
    let (mut rng, seed) = Rng::from_env(0x5EED_0001);
    for _ in 0..Rng::iterations(5_000) {
        let value = random_value(&mut rng, limits().max_depth);
        let bytes = encoded(&value);
        assert_eq!(
            decode(&bytes, &limits()),
            Ok(Status::Complete((value, bytes.len()))),
            "seed {seed}"
        );
        let cut = rng.below(bytes.len());
        assert_eq!(
            decode(&bytes[..cut], &limits()),
            Ok(Status::Partial),
            "seed {seed} cut {cut}"
        );
    }
}

#[test]
fn concatenated_values_decode_incrementally_at_random_splits() {
    let (mut rng, seed) = Rng::from_env(0x5EED_0002);
    for _ in 0..Rng::iterations(1_000) {
        let values: Vec<Value> = (0..1 + rng.below(6))
            .map(|_| random_value(&mut rng, 3))
            .collect();
        let stream: Vec<u8> = values.iter().flat_map(encoded).collect();
        // Feed the stream in random chunks, decoding after each like a connection reading a socket.
        let mut buf = Vec::new();
        let mut fed = 0;
        let mut got = Vec::new();
        while fed < stream.len() {
            let chunk = 1 + rng.below(stream.len() - fed);
            buf.extend_from_slice(&stream[fed..fed + chunk]);
            fed += chunk;
            while let Ok(Status::Complete((value, used))) = decode(&buf, &limits()) {
                got.push(value);
                buf.drain(..used);
            }
            assert_eq!(decode(&buf, &limits()), Ok(Status::Partial), "seed {seed}");
        }
        assert!(buf.is_empty(), "seed {seed}");
        assert_eq!(got, values, "seed {seed}");
    }
}

/// What any decode must satisfy, whatever its input.
fn assert_sane(input: &[u8], seed: u64) {
    match decode(input, &limits()) {
        Ok(Status::Complete((value, used))) => {
            assert!(used > 0 && used <= input.len(), "seed {seed} used {used}");
            // The value is made of the bytes consumed, so whatever it holds came from them.
            assert_eq!(
                decode(&input[..used], &limits()),
                Ok(Status::Complete((value, used))),
                "seed {seed}"
            );
        }
        Ok(Status::Partial) | Err(_) => {}
    }
}

#[test]
fn random_bytes_never_panic() {
    let (mut rng, seed) = Rng::from_env(0x5EED_0003);
    for _ in 0..Rng::iterations(20_000) {
        let len = rng.below(64);
        let input: Vec<u8> = if rng.one_in(2) {
            rng.bytes(len)
        } else {
            // Mostly RESP-looking bytes, to get past the type byte more often.
            let alphabet = b"+-:$*_,#(!=%~>|0123456789-?\r\n\r\ntf";
            (0..len)
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect()
        };
        assert_sane(&input, seed);
    }
}

#[test]
fn mutated_encodings_never_panic() {
    let (mut rng, seed) = Rng::from_env(0x5EED_0004);
    for _ in 0..Rng::iterations(5_000) {
        let mut bytes = encoded(&random_value(&mut rng, 4));
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(bytes.len() + 1);
            let byte = if rng.one_in(2) {
                b"\r\n-0123456789*%|"[rng.below(16)]
            } else {
                rng.next_u64() as u8
            };
            match rng.below(3) {
                0 if at < bytes.len() => bytes[at] = byte,
                1 if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, byte),
            }
        }
        assert_sane(&bytes, seed);
    }
}

#[test]
fn huge_promised_lengths_fail_or_wait_without_allocating() {
    // With tiny limits every big promise is refused at its header; within them it waits for the bytes.
    for input in [
        &b"*3000000000\r\n"[..],
        b"$4294967296\r\n",
        b"%9999999999999\r\n",
        b"~17\r\n",
    ] {
        assert_eq!(
            decode(input, &limits()),
            Err(DecodeError::BadLength),
            "{input:?}"
        );
    }
    assert_eq!(decode(b"*16\r\n", &limits()), Ok(Status::Partial));
}
