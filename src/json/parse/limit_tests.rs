//! Limits: a text of `max_bytes` parses and one more byte is too large; nesting at `max_depth`
//! parses and one more level is too deep, even 100,000 levels deep, without a stack overflow.

use super::tests::{col, int, parse_default, string};
use super::*;

#[test]
fn input_at_max_bytes_parses_and_one_more_is_too_large() {
    let limits = Limits {
        max_bytes: 8,
        max_depth: 4,
    };
    assert_eq!(
        parse(b"[1,2,34]", &limits),
        Ok(Value::Array(vec![int(1), int(2), int(34)]))
    );
    assert_eq!(
        parse(b"[1,2,345]", &limits),
        Err(JsonError::TooLarge { len: 9, max: 8 })
    );
    // Size is checked before anything else, validity included.
    assert_eq!(
        parse(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff", &limits),
        Err(JsonError::TooLarge { len: 9, max: 8 })
    );
    assert_eq!(
        parse(
            b"",
            &Limits {
                max_bytes: 0,
                max_depth: 4
            }
        ),
        Err(JsonError::UnexpectedEnd {
            at: col(0),
            expected: "a value"
        })
    );
}

/// `depth` arrays or objects nested inside one another, innermost empty.
fn nested(depth: usize, object: bool) -> Vec<u8> {
    let (open, close) = if object { ("{\"a\":", "}") } else { ("[", "]") };
    let mut text = open.repeat(depth);
    text.push_str("[]");
    text.push_str(&close.repeat(depth));
    text.into_bytes()
}

#[test]
fn nesting_at_max_depth_parses_and_one_more_is_too_deep() {
    for object in [false, true] {
        // `nested(n)` is n + 1 levels deep, counting the innermost `[]`.
        let at_limit = nested(MAX_DEPTH - 1, object);
        assert!(parse_default(&at_limit).is_ok(), "object {object}");
        let error = parse_default(&nested(MAX_DEPTH, object)).unwrap_err();
        let offset = if object { 5 * MAX_DEPTH } else { MAX_DEPTH };
        assert_eq!(
            error,
            JsonError::TooDeep {
                at: col(offset),
                max: MAX_DEPTH
            },
            "object {object}"
        );
    }
    let flat = Limits {
        max_bytes: 64,
        max_depth: 0,
    };
    assert_eq!(
        parse(b"\"scalars need no depth\"", &flat),
        Ok(string("scalars need no depth"))
    );
    assert_eq!(
        parse(b"[]", &flat),
        Err(JsonError::TooDeep { at: col(0), max: 0 })
    );
    assert_eq!(
        parse(b"{}", &flat),
        Err(JsonError::TooDeep { at: col(0), max: 0 })
    );
}

#[test]
fn nesting_100k_deep_is_too_deep_without_overflowing_the_stack() {
    let arrays = "[".repeat(100_000);
    assert_eq!(
        parse_default(arrays.as_bytes()),
        Err(JsonError::TooDeep {
            at: col(MAX_DEPTH),
            max: MAX_DEPTH
        })
    );
    let objects = "{\"a\":".repeat(100_000);
    assert_eq!(
        parse_default(objects.as_bytes()),
        Err(JsonError::TooDeep {
            at: col(5 * MAX_DEPTH),
            max: MAX_DEPTH
        })
    );
    let mixed = "[{\"a\":".repeat(50_000);
    assert!(matches!(
        parse_default(mixed.as_bytes()),
        Err(JsonError::TooDeep { .. })
    ));
    // The parser itself keeps its stack on the heap: even without a depth limit, 100,000 unclosed
    // levels are an error at the end of the text, not a stack overflow.
    let unbounded = Limits {
        max_bytes: MAX_BYTES,
        max_depth: usize::MAX,
    };
    for text in [arrays, objects] {
        assert!(matches!(
            parse(text.as_bytes(), &unbounded),
            Err(JsonError::UnexpectedEnd { .. })
        ));
    }
}
