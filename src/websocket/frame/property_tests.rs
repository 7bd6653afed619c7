//! Properties with the shared PRNG: random masked frames parse back, a stream parses to the same
//! frames however it is split, and random bytes never panic and get a verdict that does not
//! depend on the split. Replay a failure with `GATEWAY_SEED=<seed>`.

use super::tests::{client_frame, frame, Fin, MAX};
use super::*;
use crate::test_rng::Rng;

/// A payload length that often lands near the boundaries of the length forms.
fn random_len(rng: &mut Rng) -> usize {
    let near = [0, 1, 125, 126, 127, 65535, 65536, 65537];
    match rng.below(4) {
        0 => near[rng.below(near.len())],
        1 => 120 + rng.below(12),
        _ => rng.below(300),
    }
}

fn random_mask(rng: &mut Rng) -> [u8; 4] {
    let bytes = rng.bytes(4);
    [bytes[0], bytes[1], bytes[2], bytes[3]]
}

#[test]
fn random_masked_frames_parse_back() {
    let (mut rng, seed) = Rng::from_env(0x7773_6672_616d);
    for _ in 0..Rng::iterations(500) {
        let len = random_len(&mut rng);
        let payload = rng.bytes(len);
        let mask = random_mask(&mut rng);
        let (fin, opcode, first) = match rng.below(3) {
            0 => (Fin::Last, Opcode::Binary, 0x82),
            1 => (Fin::More, Opcode::Text, 0x01),
            _ => (Fin::Last, Opcode::Continuation, 0x80),
        };
        let wire = client_frame(first, &payload, mask);
        assert_eq!(
            parse(&wire, MAX),
            Ok(Status::Complete((frame(fin, opcode, &payload), wire.len()))),
            "seed {seed} len {len}"
        );
        let cut = rng.below(wire.len());
        assert_eq!(
            parse(&wire[..cut], MAX),
            Ok(Status::Partial),
            "seed {seed} cut {cut}"
        );
        // A limit one byte short refuses it from the header alone.
        if len > 0 {
            let header_len = wire.len() - 4 - len;
            assert_eq!(
                parse(&wire[..header_len], len - 1),
                Err(FrameError::TooLarge {
                    len: len as u64,
                    max: len - 1
                }),
                "seed {seed} len {len}"
            );
        }
    }
}

#[test]
fn random_splits_of_a_stream_give_the_same_frames() {
    let (mut rng, seed) = Rng::from_env(0x7773_7370_6c74);
    for _ in 0..Rng::iterations(200) {
        let mut wire = Vec::new();
        let mut want = Vec::new();
        for _ in 0..1 + rng.below(6) {
            let len = if rng.one_in(10) {
                random_len(&mut rng)
            } else {
                rng.below(140)
            };
            let (opcode, first) = match rng.below(4) {
                0 => (Opcode::Ping, 0x89),
                1 => (Opcode::Text, 0x81),
                _ => (Opcode::Binary, 0x82),
            };
            let len = if opcode.is_control() {
                len.min(125)
            } else {
                len
            };
            let payload = rng.bytes(len);
            wire.extend(client_frame(first, &payload, random_mask(&mut rng)));
            want.push(frame(Fin::Last, opcode, &payload));
        }
        // Feed the stream in random pieces, parsing whatever is complete after each.
        let mut buf = Vec::new();
        let mut got = Vec::new();
        let mut fed = 0;
        while fed < wire.len() {
            let most = if rng.one_in(2) { 8 } else { 400 };
            let piece = 1 + rng.below(most);
            let end = (fed + piece).min(wire.len());
            buf.extend_from_slice(&wire[fed..end]);
            fed = end;
            loop {
                match parse(&buf, MAX) {
                    Ok(Status::Complete((found, used))) => {
                        got.push(found);
                        buf.drain(..used);
                    }
                    Ok(Status::Partial) => break,
                    Err(error) => panic!("seed {seed}: {error}"),
                }
            }
        }
        assert!(buf.is_empty(), "seed {seed}");
        assert_eq!(got, want, "seed {seed}");
    }
}

#[test]
fn random_bytes_never_panic_and_do_not_depend_on_splits() {
    let (mut rng, seed) = Rng::from_env(0x7773_6a75_6e6b);
    for _ in 0..Rng::iterations(2_000) {
        let mut bytes = if rng.one_in(2) {
            let len = rng.below(40);
            rng.bytes(len)
        } else {
            // A valid frame with a few bytes damaged: gets past the first checks more often.
            let len = rng.below(30);
            let payload = rng.bytes(len);
            let mut wire = client_frame(rng.bytes(1)[0], &payload, random_mask(&mut rng));
            for _ in 0..rng.below(3) {
                let at = rng.below(wire.len());
                wire[at] = rng.bytes(1)[0];
            }
            wire
        };
        if rng.one_in(4) {
            let more = rng.below(200);
            bytes.extend(rng.bytes(more));
        }
        let max = [0, 10, 125, 1000, usize::MAX][rng.below(5)];
        let whole = parse(&bytes, max);
        // The first answer that is not `Partial`, on a growing buffer, is the final one.
        for cut in 0..bytes.len() {
            let early = parse(&bytes[..cut], max);
            if early != Ok(Status::Partial) {
                assert_eq!(early, whole, "seed {seed} cut {cut} {bytes:02x?}");
                break;
            }
        }
        if let Ok(Status::Complete((found, used))) = whole {
            assert!(
                used <= bytes.len() && found.payload.len() <= max,
                "seed {seed}"
            );
            let _ = Assembler::default().push(found, max);
        }
    }
}
