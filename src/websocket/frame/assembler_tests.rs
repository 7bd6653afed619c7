//! Tests of the [`Assembler`]: single frames and fragments become messages, control frames pass
//! between fragments, out-of-order fragments, UTF-8 judged on the whole message, the message
//! limit at N and N + 1, and close payloads.

use super::tests::{frame, Fin, MAX};
use super::*;

#[test]
fn single_frames_become_messages() {
    let cases = [
        (
            frame(Fin::Last, Opcode::Text, b"hi"),
            Message::Text("hi".to_string()),
        ),
        (
            frame(Fin::Last, Opcode::Text, b""),
            Message::Text(String::new()),
        ),
        (
            frame(Fin::Last, Opcode::Binary, &[0, 0xff]),
            Message::Binary(vec![0, 0xff]),
        ),
        (
            frame(Fin::Last, Opcode::Ping, b"p"),
            Message::Ping(b"p".to_vec()),
        ),
        (
            frame(Fin::Last, Opcode::Pong, b""),
            Message::Pong(Vec::new()),
        ),
        (
            frame(Fin::Last, Opcode::Close, b""),
            Message::Close(None, String::new()),
        ),
        (
            frame(Fin::Last, Opcode::Close, &[0x03, 0xe8]),
            Message::Close(Some(1000), String::new()),
        ),
        (
            frame(Fin::Last, Opcode::Close, b"\x0f\xa0caf\xc3\xa9"),
            Message::Close(Some(4000), "café".to_string()),
        ),
    ];
    for (input, want) in cases {
        let mut assembler = Assembler::default();
        assert_eq!(
            assembler.push(input.clone(), MAX),
            Ok(Some(want)),
            "{input:?}"
        );
    }
}

#[test]
fn control_frames_pass_between_fragments() {
    let mut assembler = Assembler::default();
    let steps = [
        (frame(Fin::More, Opcode::Binary, b"ab"), None),
        (
            frame(Fin::Last, Opcode::Ping, b"1"),
            Some(Message::Ping(b"1".to_vec())),
        ),
        (frame(Fin::More, Opcode::Continuation, b""), None),
        (
            frame(Fin::Last, Opcode::Pong, b"2"),
            Some(Message::Pong(b"2".to_vec())),
        ),
        (frame(Fin::More, Opcode::Continuation, b"cd"), None),
        (
            frame(Fin::Last, Opcode::Continuation, b"e"),
            Some(Message::Binary(b"abcde".to_vec())),
        ),
        // And the next message starts afresh.
        (
            frame(Fin::Last, Opcode::Text, b"x"),
            Some(Message::Text("x".to_string())),
        ),
    ];
    for (i, (input, want)) in steps.into_iter().enumerate() {
        assert_eq!(assembler.push(input, MAX), Ok(want), "step {i}");
    }
}

#[test]
fn fragments_out_of_order_are_refused() {
    let mut assembler = Assembler::default();
    assert_eq!(
        assembler.push(frame(Fin::Last, Opcode::Continuation, b"x"), MAX),
        Err(FrameError::UnexpectedContinuation)
    );
    let mut assembler = Assembler::default();
    assert_eq!(
        assembler.push(frame(Fin::More, Opcode::Continuation, b"x"), MAX),
        Err(FrameError::UnexpectedContinuation)
    );
    for opcode in [Opcode::Text, Opcode::Binary] {
        for fin in [Fin::Last, Fin::More] {
            let mut assembler = Assembler::default();
            assert_eq!(
                assembler.push(frame(Fin::More, Opcode::Text, b"a"), MAX),
                Ok(None)
            );
            assert_eq!(
                assembler.push(frame(fin, opcode, b"b"), MAX),
                Err(FrameError::ExpectedContinuation),
                "{opcode:?} {fin:?}"
            );
        }
    }
}

#[test]
fn utf8_is_judged_on_the_whole_message() {
    // "é" is C3 A9 and "€" is E2 82 AC: split between fragments, each fragment alone is invalid.
    let mut assembler = Assembler::default();
    assert_eq!(
        assembler.push(frame(Fin::More, Opcode::Text, b"caf\xc3"), MAX),
        Ok(None)
    );
    assert_eq!(
        assembler.push(frame(Fin::More, Opcode::Continuation, b"\xa9 \xe2"), MAX),
        Ok(None)
    );
    assert_eq!(
        assembler.push(frame(Fin::More, Opcode::Continuation, b"\x82"), MAX),
        Ok(None)
    );
    assert_eq!(
        assembler.push(frame(Fin::Last, Opcode::Continuation, b"\xac"), MAX),
        Ok(Some(Message::Text("café €".to_string())))
    );

    let invalid: &[&[&[u8]]] = &[
        &[b"\xff"],
        &[b"ab\xc3"],                       // cut short at the end
        &[b"caf\xc3", b"\x28"],             // a bad continuation byte across fragments
        &[b"\xed\xa0\x80"],                 // a UTF-16 surrogate
        &[b"\xc0\xaf"],                     // an overlong encoding
        &[b"a", b"b", b"\xf4\x90\x80\x80"], // above U+10FFFF
    ];
    for parts in invalid {
        let mut assembler = Assembler::default();
        let last = parts.len() - 1;
        let mut result = Ok(None);
        for (i, part) in parts.iter().enumerate() {
            let opcode = if i == 0 {
                Opcode::Text
            } else {
                Opcode::Continuation
            };
            let fin = if i == last { Fin::Last } else { Fin::More };
            result = assembler.push(frame(fin, opcode, part), MAX);
        }
        assert_eq!(result, Err(FrameError::BadUtf8), "{parts:02x?}");
    }
    // Binary messages are not judged.
    let mut assembler = Assembler::default();
    assert_eq!(
        assembler.push(frame(Fin::Last, Opcode::Binary, b"\xff"), MAX),
        Ok(Some(Message::Binary(vec![0xff])))
    );
}

#[test]
fn max_message_at_n_and_n_plus_one_across_fragments() {
    let mut assembler = Assembler::default();
    assert_eq!(
        assembler.push(frame(Fin::More, Opcode::Binary, &[1; 4]), 10),
        Ok(None)
    );
    assert_eq!(
        assembler.push(frame(Fin::More, Opcode::Continuation, &[2; 4]), 10),
        Ok(None)
    );
    assert_eq!(
        assembler.push(frame(Fin::Last, Opcode::Continuation, &[3; 2]), 10),
        Ok(Some(Message::Binary(
            [[1; 4].as_slice(), &[2; 4], &[3; 2]].concat()
        )))
    );

    let mut assembler = Assembler::default();
    assert_eq!(
        assembler.push(frame(Fin::More, Opcode::Text, b"abcd"), 10),
        Ok(None)
    );
    assert_eq!(
        assembler.push(frame(Fin::More, Opcode::Continuation, b"efgh"), 10),
        Ok(None)
    );
    assert_eq!(
        assembler.push(frame(Fin::More, Opcode::Continuation, b"ijk"), 10),
        Err(FrameError::TooLarge { len: 11, max: 10 })
    );

    // A single frame is bounded too.
    assert_eq!(
        Assembler::default().push(frame(Fin::Last, Opcode::Text, b"abc"), 3),
        Ok(Some(Message::Text("abc".to_string())))
    );
    assert_eq!(
        Assembler::default().push(frame(Fin::More, Opcode::Binary, b"abcd"), 3),
        Err(FrameError::TooLarge { len: 4, max: 3 })
    );
    // Control frames are bounded by 125 bytes, not by `max_message`.
    assert_eq!(
        Assembler::default().push(frame(Fin::Last, Opcode::Ping, b"abcd"), 3),
        Ok(Some(Message::Ping(b"abcd".to_vec())))
    );
}

#[test]
fn close_codes_a_peer_may_send() {
    let valid: [u16; 13] = [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ];
    for code in valid {
        let payload = [&code.to_be_bytes()[..], b"why"].concat();
        assert_eq!(
            Assembler::default().push(frame(Fin::Last, Opcode::Close, &payload), MAX),
            Ok(Some(Message::Close(Some(code), "why".to_string()))),
            "code {code}"
        );
    }
    // 1004 reserved; 1005, 1006, 1015 only for local use, never on the wire; 1012-2999
    // unassigned; 0-999 unused; 5000 and above undefined.
    let invalid: [u16; 14] = [
        0, 1, 999, 1004, 1005, 1006, 1012, 1014, 1015, 1016, 2000, 2999, 5000, 65535,
    ];
    for code in invalid {
        assert_eq!(
            Assembler::default().push(frame(Fin::Last, Opcode::Close, &code.to_be_bytes()), MAX),
            Err(FrameError::BadClosePayload),
            "code {code}"
        );
    }
}

#[test]
fn close_payload_shapes() {
    type Pushed = Result<Option<Message>, FrameError>;
    let cases: &[(&[u8], Pushed)] = &[
        (b"", Ok(Some(Message::Close(None, String::new())))),
        (b"\x03", Err(FrameError::BadClosePayload)),
        (b"\x03\xe8\xff", Err(FrameError::BadUtf8)),
        (b"\x03\xe8ok\xc3", Err(FrameError::BadUtf8)),
    ];
    for (payload, want) in cases {
        assert_eq!(
            &Assembler::default().push(frame(Fin::Last, Opcode::Close, payload), MAX),
            want,
            "{payload:02x?}"
        );
    }
    // A close between fragments is returned at once, like any control frame.
    let mut assembler = Assembler::default();
    assert_eq!(
        assembler.push(frame(Fin::More, Opcode::Text, b"a"), MAX),
        Ok(None)
    );
    assert_eq!(
        assembler.push(frame(Fin::Last, Opcode::Close, b"\x03\xe8"), MAX),
        Ok(Some(Message::Close(Some(1000), String::new())))
    );
}

#[test]
fn hand_built_control_frames_are_checked_too() {
    assert_eq!(
        Assembler::default().push(frame(Fin::More, Opcode::Ping, b""), MAX),
        Err(FrameError::FragmentedControl)
    );
    assert_eq!(
        Assembler::default().push(frame(Fin::Last, Opcode::Pong, &[0; 126]), MAX),
        Err(FrameError::ControlTooLong)
    );
}
