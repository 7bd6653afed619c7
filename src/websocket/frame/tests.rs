//! Tests of parsing and writing single frames: RFC 6455 §5.7's examples, the three length forms
//! at their boundaries, the header rules decided from the first bytes, and what the writer sends.
//! Messages are tested in `assembler_tests.rs`, random frames in `property_tests.rs`.

use super::*;

pub(super) const MAX: usize = 1 << 20;

/// A client frame: first byte as given, the shortest length form, MASK set, `payload` masked.
/// Built here from the RFC's layout, independently of [`write()`].
pub(super) fn client_frame(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = vec![first];
    let len = payload.len();
    if len <= 125 {
        out.push(0x80 | len as u8);
    } else if len <= 0xffff {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// A server frame from [`write()`], turned into a client frame: MASK set, key inserted, payload masked.
fn masked(server: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let header_len = match server[1] & 0x7f {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    let mut out = server[..header_len].to_vec();
    out[1] |= 0x80;
    out.extend_from_slice(&mask);
    let payload = &server[header_len..];
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// The FIN bit of a frame built by [`frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fin {
    /// FIN set: the last (or only) frame of its message, as every control frame is.
    Last,
    /// FIN clear: more fragments of the message follow.
    More,
}

/// A frame as [`parse`] returns it, built by hand.
pub(super) fn frame(fin: Fin, opcode: Opcode, payload: &[u8]) -> Frame {
    Frame {
        fin: fin == Fin::Last,
        opcode,
        payload: payload.to_vec(),
    }
}

fn complete(buf: &[u8], max: usize) -> (Frame, usize) {
    match parse(buf, max) {
        Ok(Status::Complete(done)) => done,
        other => panic!("{:02x?}: {other:?}", &buf[..buf.len().min(16)]),
    }
}

fn assert_every_prefix_partial(wire: &[u8], max: usize) {
    for cut in 0..wire.len() {
        assert_eq!(parse(&wire[..cut], max), Ok(Status::Partial), "cut {cut}");
    }
}

const RFC_MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

// -- RFC 6455 §5.7 examples --------------------------------------------------------------

#[test]
fn rfc_unmasked_hello_is_refused_from_a_client() {
    let wire = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(parse(&wire, MAX), Err(FrameError::Unmasked));
    // Decided by the second byte alone.
    assert_eq!(parse(&wire[..2], MAX), Err(FrameError::Unmasked));
    // ...and it is exactly what the server writes.
    let mut out = Vec::new();
    write(&mut out, Opcode::Text, b"Hello");
    assert_eq!(out, wire);
}

#[test]
fn rfc_masked_hello_parses() {
    let wire = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        complete(&wire, MAX),
        (frame(Fin::Last, Opcode::Text, b"Hello"), 11)
    );
    assert_eq!(client_frame(0x81, b"Hello", RFC_MASK), wire);
    assert_every_prefix_partial(&wire, MAX);
}

#[test]
fn rfc_fragmented_hello() {
    // §5.7 sends these unmasked (as a server would); a client masks them.
    let mut out = Vec::new();
    out.extend_from_slice(&[0x01, 0x03, 0x48, 0x65, 0x6c]);
    out.extend_from_slice(&[0x80, 0x02, 0x6c, 0x6f]);
    assert_eq!(parse(&out, MAX), Err(FrameError::Unmasked));

    let mut wire = client_frame(0x01, b"Hel", RFC_MASK);
    let first_len = wire.len();
    wire.extend(client_frame(0x80, b"lo", [1, 2, 3, 4]));
    let (first, used) = complete(&wire, MAX);
    assert_eq!(
        (first.clone(), used),
        (frame(Fin::More, Opcode::Text, b"Hel"), first_len)
    );
    let (last, used) = complete(&wire[first_len..], MAX);
    assert_eq!(used, wire.len() - first_len);
    assert_eq!(last, frame(Fin::Last, Opcode::Continuation, b"lo"));

    let mut assembler = Assembler::default();
    assert_eq!(assembler.push(first, MAX), Ok(None));
    assert_eq!(
        assembler.push(last, MAX),
        Ok(Some(Message::Text("Hello".to_string())))
    );
}

#[test]
fn rfc_ping_unmasked_and_masked_pong() {
    let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(parse(&ping, MAX), Err(FrameError::Unmasked));
    let mut out = Vec::new();
    write(&mut out, Opcode::Ping, b"Hello");
    assert_eq!(out, ping);

    let pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        complete(&pong, MAX),
        (frame(Fin::Last, Opcode::Pong, b"Hello"), 11)
    );
    let masked_ping = client_frame(0x89, b"Hello", RFC_MASK);
    assert_eq!(
        complete(&masked_ping, MAX),
        (frame(Fin::Last, Opcode::Ping, b"Hello"), 11)
    );
}

#[test]
fn rfc_256_byte_and_64_kib_binary_frames() {
    let cases: &[(usize, &[u8])] = &[
        (256, &[0x82, 0x7e, 0x01, 0x00]),
        (65536, &[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]),
    ];
    for &(len, header) in cases {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut out = Vec::new();
        write(&mut out, Opcode::Binary, &payload);
        assert_eq!(&out[..header.len()], header, "length {len}");
        assert_eq!(out.len(), header.len() + len);

        let wire = masked(&out, RFC_MASK);
        assert_eq!(wire, client_frame(0x82, &payload, RFC_MASK));
        assert_eq!(
            complete(&wire, MAX),
            (
                frame(Fin::Last, Opcode::Binary, &payload),
                header.len() + 4 + len
            )
        );
        assert_eq!(parse(&wire[..wire.len() - 1], MAX), Ok(Status::Partial));
    }
}

// -- lengths -----------------------------------------------------------------------------

#[test]
fn length_forms_at_their_boundaries_both_ways() {
    let cases: &[(usize, &[u8])] = &[
        (0, &[0x82, 0]),
        (125, &[0x82, 125]),
        (126, &[0x82, 126, 0, 126]),
        (127, &[0x82, 126, 0, 127]),
        (65535, &[0x82, 126, 0xff, 0xff]),
        (65536, &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
    ];
    for &(len, header) in cases {
        let payload = vec![0xa5; len];
        let mut out = Vec::new();
        write(&mut out, Opcode::Binary, &payload);
        assert_eq!(&out[..header.len()], header, "length {len}");
        assert_eq!(&out[header.len()..], &payload[..], "length {len}");

        let wire = masked(&out, [0xde, 0xad, 0xbe, 0xef]);
        let (got, used) = complete(&wire, MAX);
        assert_eq!(got.payload, payload, "length {len}");
        assert_eq!(used, header.len() + 4 + len, "length {len}");
        assert_every_prefix_partial(&wire, MAX);
    }
}

#[test]
fn non_minimal_lengths_are_refused() {
    let cases: &[(&str, &[u8])] = &[
        ("0 in 16 bits", &[0x82, 0xfe, 0, 0]),
        ("125 in 16 bits", &[0x82, 0xfe, 0, 125]),
        ("125 in 64 bits", &[0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 125]),
        ("126 in 64 bits", &[0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 126]),
        (
            "65535 in 64 bits",
            &[0x82, 0xff, 0, 0, 0, 0, 0, 0, 0xff, 0xff],
        ),
        ("bit 63 set", &[0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0]),
        ("bit 63 set, rest unsent", &[0x82, 0xff, 0x80]),
        (
            "all ones",
            &[0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ),
    ];
    for &(name, wire) in cases {
        assert_eq!(
            parse(wire, usize::MAX),
            Err(FrameError::BadLength),
            "{name}"
        );
    }
    // The smallest lengths of each form are fine.
    assert_eq!(parse(&[0x82, 0xfe, 0, 126], MAX), Ok(Status::Partial));
    assert_eq!(
        parse(&[0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0], MAX),
        Ok(Status::Partial)
    );
}

#[test]
fn huge_length_fails_with_only_the_header() {
    // 2^62 bytes announced: refused before the masking key, let alone the payload.
    let header = [0x82, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        parse(&header, 1024),
        Err(FrameError::TooLarge {
            len: 1 << 62,
            max: 1024
        })
    );
    assert_eq!(parse(&header[..9], 1024), Ok(Status::Partial));
    let header = [0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert_eq!(
        parse(&header, usize::MAX),
        if usize::BITS == 64 {
            Ok(Status::Partial)
        } else {
            Err(FrameError::TooLarge {
                len: i64::MAX as u64,
                max: usize::MAX,
            })
        }
    );
    let header = [0x82, 0xfe, 0x10, 0x00];
    assert_eq!(
        parse(&header, 100),
        Err(FrameError::TooLarge {
            len: 4096,
            max: 100
        })
    );
}

#[test]
fn max_payload_at_n_and_n_plus_one() {
    for (n, mask) in [
        (0, [9; 4]),
        (5, [1, 2, 3, 4]),
        (125, [0; 4]),
        (126, [7; 4]),
        (70_000, [3; 4]),
    ] {
        let at = client_frame(0x82, &vec![1; n], mask);
        assert_eq!(complete(&at, n).1, at.len(), "n {n}");
        let over = client_frame(0x82, &vec![1; n + 1], mask);
        let header_len = over.len() - 4 - (n + 1);
        assert_eq!(
            parse(&over[..header_len], n),
            Err(FrameError::TooLarge {
                len: n as u64 + 1,
                max: n
            }),
            "n {n}"
        );
    }
}

// -- header rules ------------------------------------------------------------------------

#[test]
fn reserved_bits_are_refused_from_the_first_byte() {
    for rsv in [0x40, 0x20, 0x10, 0x70] {
        let wire = client_frame(0x81 | rsv, b"x", [1; 4]);
        assert_eq!(
            parse(&wire, MAX),
            Err(FrameError::ReservedBits),
            "rsv {rsv:#x}"
        );
        assert_eq!(
            parse(&wire[..1], MAX),
            Err(FrameError::ReservedBits),
            "rsv {rsv:#x}"
        );
    }
}

#[test]
fn reserved_opcodes_are_refused_from_the_first_byte() {
    for bits in (0x3..=0x7).chain(0xb..=0xf) {
        let wire = client_frame(0x80 | bits, b"x", [1; 4]);
        assert_eq!(parse(&wire, MAX), Err(FrameError::UnknownOpcode(bits)));
        assert_eq!(parse(&wire[..1], MAX), Err(FrameError::UnknownOpcode(bits)));
        assert_eq!(parse(&[bits], MAX), Err(FrameError::UnknownOpcode(bits)));
    }
}

#[test]
fn control_frames_must_be_final_and_short() {
    for first in [0x88u8, 0x89, 0x8a] {
        let at_limit = client_frame(first, &[b'a'; 125], [5; 4]);
        let (got, used) = complete(&at_limit, MAX);
        assert_eq!((got.payload.len(), used), (125, at_limit.len()));

        let over = client_frame(first, &[b'a'; 126], [5; 4]);
        assert_eq!(
            parse(&over, MAX),
            Err(FrameError::ControlTooLong),
            "{first:#x}"
        );
        assert_eq!(
            parse(&over[..2], MAX),
            Err(FrameError::ControlTooLong),
            "{first:#x}"
        );
        let long = client_frame(first, &[b'a'; 70_000], [5; 4]);
        assert_eq!(
            parse(&long, MAX),
            Err(FrameError::ControlTooLong),
            "{first:#x}"
        );

        let fragmented = client_frame(first & 0x0f, b"", [5; 4]);
        assert_eq!(parse(&fragmented, MAX), Err(FrameError::FragmentedControl));
        assert_eq!(
            parse(&fragmented[..1], MAX),
            Err(FrameError::FragmentedControl)
        );
    }
}

#[test]
fn used_stops_at_the_end_of_the_frame() {
    let mut wire = client_frame(0x82, b"abc", [1, 2, 3, 4]);
    let len = wire.len();
    wire.extend_from_slice(&[0x81, 0x80]); // the start of the next frame
    assert_eq!(
        complete(&wire, MAX),
        (frame(Fin::Last, Opcode::Binary, b"abc"), len)
    );
    assert_eq!(len, 2 + 4 + 3);
    // An empty frame is header and mask only.
    assert_eq!(complete(&client_frame(0x81, b"", [0; 4]), MAX).1, 6);
    assert_eq!(parse(&[], MAX), Ok(Status::Partial));
}

#[test]
fn errors_have_close_codes_and_messages() {
    let cases = [
        (FrameError::Unmasked, 1002),
        (FrameError::ReservedBits, 1002),
        (FrameError::UnknownOpcode(3), 1002),
        (FrameError::ControlTooLong, 1002),
        (FrameError::FragmentedControl, 1002),
        (FrameError::TooLarge { len: 2, max: 1 }, 1009),
        (FrameError::BadLength, 1002),
        (FrameError::BadUtf8, 1007),
        (FrameError::UnexpectedContinuation, 1002),
        (FrameError::ExpectedContinuation, 1002),
        (FrameError::BadClosePayload, 1002),
    ];
    for (error, code) in cases {
        assert_eq!(error.close_code(), code, "{error:?}");
        let text = error.to_string();
        assert!(!text.is_empty() && text == text.to_lowercase(), "{text}");
    }
}

// -- writing -----------------------------------------------------------------------------

#[test]
fn write_sets_fin_and_the_opcode_and_never_masks() {
    let cases = [
        (Opcode::Continuation, 0x80),
        (Opcode::Text, 0x81),
        (Opcode::Binary, 0x82),
        (Opcode::Close, 0x88),
        (Opcode::Ping, 0x89),
        (Opcode::Pong, 0x8a),
    ];
    for (opcode, first) in cases {
        let mut out = vec![0xee]; // appends, keeps what was there
        write(&mut out, opcode, b"hi");
        assert_eq!(out, [0xee, first, 2, b'h', b'i'], "{opcode:?}");
    }
}

#[test]
fn write_close_truncates_the_reason_at_a_char_boundary() {
    let mut out = Vec::new();
    write_close(&mut out, 1001, "");
    assert_eq!(out, [0x88, 2, 0x03, 0xe9]);

    let fits = "r".repeat(123);
    let mut out = Vec::new();
    write_close(&mut out, 1000, &fits);
    assert_eq!(out.len(), 2 + 125);
    assert_eq!(&out[4..], fits.as_bytes());

    let long = "x".repeat(200);
    let mut out = Vec::new();
    write_close(&mut out, 1000, &long);
    assert_eq!(&out[..2], [0x88, 125]);
    assert_eq!(&out[4..], &long.as_bytes()[..123]);

    // 122 ASCII bytes then "é" (2 bytes) would end at 124 > 123: the "é" is dropped whole.
    let split = format!("{}é", "a".repeat(122));
    let mut out = Vec::new();
    write_close(&mut out, 1000, &split);
    assert_eq!(&out[..2], [0x88, 124]);
    assert_eq!(&out[4..], "a".repeat(122).as_bytes());

    // Every truncation reads back as a valid close message.
    for reason in [long.as_str(), split.as_str(), &"€".repeat(60)] {
        let mut out = Vec::new();
        write_close(&mut out, 4000, reason);
        let (got, _) = complete(&masked(&out, [7, 8, 9, 10]), MAX);
        let Ok(Some(Message::Close(Some(4000), text))) = Assembler::default().push(got, MAX) else {
            panic!("close not read back");
        };
        assert!(reason.starts_with(&text) && text.len() <= 123);
    }
}
