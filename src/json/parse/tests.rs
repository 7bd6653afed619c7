//! Tests of the parser against RFC 8259's examples, a table of valid texts and the values they
//! parse to, a table of refused inputs and the error each gets, the messages a person reads, and
//! the webdis.json fixture.

use super::*;

pub(super) fn int(n: i64) -> Value {
    Value::Number(Number::Int(n))
}

fn float(x: f64) -> Value {
    Value::Number(Number::Float(x))
}

pub(super) fn string(s: &str) -> Value {
    Value::String(s.to_string())
}

fn object(members: &[(&str, Value)]) -> Value {
    Value::Object(
        members
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone()))
            .collect(),
    )
}

pub(super) fn parse_default(input: &[u8]) -> Result<Value, JsonError> {
    parse(input, &Limits::DEFAULT)
}

/// The position of byte `offset` of a one-line ASCII input.
pub(super) fn col(offset: usize) -> Position {
    Position {
        offset,
        line: 1,
        column: offset + 1,
    }
}

#[test]
fn rfc_8259_section_13_examples_parse() {
    let image = br#"{
        "Image": {
            "Width":  800,
            "Height": 600,
            "Title":  "View from 15th Floor",
            "Thumbnail": {
                "Url":    "http://www.example.com/image/481989943",
                "Height": 125,
                "Width":  100
            },
            "Animated" : false,
            "IDs": [116, 943, 234, 38793]
          }
      }"#;
    let expected = object(&[(
        "Image",
        object(&[
            ("Width", int(800)),
            ("Height", int(600)),
            ("Title", string("View from 15th Floor")),
            (
                "Thumbnail",
                object(&[
                    ("Url", string("http://www.example.com/image/481989943")),
                    ("Height", int(125)),
                    ("Width", int(100)),
                ]),
            ),
            ("Animated", Value::Bool(false)),
            (
                "IDs",
                Value::Array(vec![int(116), int(943), int(234), int(38793)]),
            ),
        ]),
    )]);
    assert_eq!(parse_default(image), Ok(expected));

    let places = br#"[
        {
           "precision": "zip",
           "Latitude":  37.7668,
           "Longitude": -122.3959,
           "Address":   "",
           "City":      "SAN FRANCISCO",
           "State":     "CA",
           "Zip":       "94107",
           "Country":   "US"
        },
        {
           "precision": "zip",
           "Latitude":  37.371991,
           "Longitude": -122.026020,
           "Address":   "",
           "City":      "SUNNYVALE",
           "State":     "CA",
           "Zip":       "94085",
           "Country":   "US"
        }
      ]"#;
    let place = |lat: f64, long: f64, city: &str, zip: &str| {
        object(&[
            ("precision", string("zip")),
            ("Latitude", float(lat)),
            ("Longitude", float(long)),
            ("Address", string("")),
            ("City", string(city)),
            ("State", string("CA")),
            ("Zip", string(zip)),
            ("Country", string("US")),
        ])
    };
    let expected = Value::Array(vec![
        place(37.7668, -122.3959, "SAN FRANCISCO", "94107"),
        place(37.371991, -122.02602, "SUNNYVALE", "94085"),
    ]);
    assert_eq!(parse_default(places), Ok(expected));

    // §13: "Here are three small JSON texts containing only values".
    assert_eq!(
        parse_default(br#""Hello world!""#),
        Ok(string("Hello world!"))
    );
    assert_eq!(parse_default(b"42"), Ok(int(42)));
    assert_eq!(parse_default(b"true"), Ok(Value::Bool(true)));
}

#[test]
fn table_of_valid_texts_parses_to_each_value() {
    let cases: Vec<(&[u8], Value)> = vec![
        (b"null", Value::Null),
        (b"false", Value::Bool(false)),
        (b" \t\r\n true \t\r\n ", Value::Bool(true)),
        (b"[]", Value::Array(vec![])),
        (b"[ ]", Value::Array(vec![])),
        (b"{}", Value::Object(vec![])),
        (b"{ \n }", Value::Object(vec![])),
        (
            b"[[],{}]",
            Value::Array(vec![Value::Array(vec![]), Value::Object(vec![])]),
        ),
        (
            b"[ 1 , [ 2 ] , { \"a\" : [ ] } ]",
            Value::Array(vec![
                int(1),
                Value::Array(vec![int(2)]),
                object(&[("a", Value::Array(vec![]))]),
            ]),
        ),
        (
            br#"{"a":1,"b":2,"a":3}"#,
            object(&[("a", int(1)), ("b", int(2)), ("a", int(3))]),
        ),
        (br#"{"":null}"#, object(&[("", Value::Null)])),
        // Numbers.
        (b"0", int(0)),
        (b"-0", int(0)),
        (b"-1", int(-1)),
        (b"1234567890", int(1_234_567_890)),
        (b"9223372036854775807", int(i64::MAX)),
        (b"-9223372036854775808", int(i64::MIN)),
        (b"9223372036854775808", float(9_223_372_036_854_775_808.0)),
        (b"-9223372036854775809", float(-9_223_372_036_854_775_808.0)),
        (
            b"123456789012345678901234567890",
            float(1.2345678901234568e29),
        ),
        (b"1.5", float(1.5)),
        (b"-0.0", float(-0.0)),
        (b"1.0", float(1.0)),
        (b"0.1", float(0.1)),
        (b"1e2", float(100.0)),
        (b"1E2", float(100.0)),
        (b"1e+2", float(100.0)),
        (b"1e-2", float(0.01)),
        (b"2.5E-3", float(0.0025)),
        (b"1e-400", float(0.0)),
        (b"1.7976931348623157e308", float(f64::MAX)),
        (b"5e-324", float(5e-324)),
        // Strings and escapes.
        (br#""""#, string("")),
        (br#""\"\\\/\b\f\n\r\t""#, string("\"\\/\u{8}\u{C}\n\r\t")),
        (br#""\u005C""#, string("\\")), // §7's example of a reverse solidus
        (br#""\u0000\u001f\u001F""#, string("\u{0}\u{1F}\u{1F}")),
        (br#""\u00e9\u00E9""#, string("éé")),
        (br#""\uD834\uDD1E""#, string("\u{1D11E}")), // §7's G clef
        (br#""\udbff\udfff""#, string("\u{10FFFF}")),
        (br#""\uFFFF\uE000""#, string("\u{FFFF}\u{E000}")),
        (
            "\"é€𝄞 \u{2028}\u{7F}\"".as_bytes(),
            string("é€𝄞 \u{2028}\u{7F}"),
        ),
        (br#""a/b c""#, string("a/b c")),
        (
            br#"["a\"]", "b"]"#,
            Value::Array(vec![string("a\"]"), string("b")]),
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            parse_default(input),
            Ok(expected),
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

fn syntax(offset: usize, expected: &'static str) -> JsonError {
    JsonError::Syntax {
        at: col(offset),
        expected,
    }
}

fn end(offset: usize, expected: &'static str) -> JsonError {
    JsonError::UnexpectedEnd {
        at: col(offset),
        expected,
    }
}

fn trailing_comma(offset: usize, closer: char) -> JsonError {
    JsonError::TrailingComma {
        at: col(offset),
        closer,
    }
}

fn trailing_data(offset: usize) -> JsonError {
    JsonError::TrailingData { at: col(offset) }
}

fn bad_string(offset: usize, why: &'static str) -> JsonError {
    JsonError::BadString {
        at: col(offset),
        why,
    }
}

fn bad_number(offset: usize, why: &'static str) -> JsonError {
    JsonError::BadNumber {
        at: col(offset),
        why,
    }
}

fn not_utf8(offset: usize) -> JsonError {
    JsonError::NotUtf8 { at: col(offset) }
}

#[test]
fn table_of_rejected_inputs_reports_each_error() {
    const VALUE: &str = "a value";
    const NAME: &str = "a member name in double quotes";
    const COLON: &str = "':' after a member name";
    const ARRAY_NEXT: &str = "',' or ']' after an array element";
    const OBJECT_NEXT: &str = "',' or '}' after an object member";
    const BOM: &str = "a value, not a byte order mark (save the file as UTF-8 without BOM)";
    const CONTROL: &str = "raw control character in a string (write it as an escape such as \\t)";
    const LINE_BREAK: &str = "line break inside a string (is a closing '\"' missing?)";
    const UNCLOSED: &str = "string never closed";
    const ESCAPE: &str = "invalid escape (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)";
    const HEX: &str = "\\u must be followed by 4 hex digits";
    const LONE: &str = "lone UTF-16 surrogate in a \\u escape";
    const ZERO: &str = "leading zero";
    const MINUS: &str = "a digit must follow '-'";
    const POINT: &str = "a digit must follow '.'";
    const EXP: &str = "a digit must follow the exponent's 'e'";
    const HUGE: &str = "too large for a 64-bit float";
    let huge_integer = "9".repeat(400);
    let cases: Vec<(&[u8], JsonError)> = vec![
        // Not one value.
        (b"", end(0, VALUE)),
        (b"  \t", end(3, VALUE)),
        (b"1 2", trailing_data(2)),
        (b"[] []", trailing_data(3)),
        (b"{}}", trailing_data(2)),
        (b"truex", trailing_data(4)),
        (b"0x10", trailing_data(1)),
        // Trailing commas.
        (b"[1,]", trailing_comma(2, ']')),
        (b"[1 , ]", trailing_comma(3, ']')),
        (br#"{"a":1,}"#, trailing_comma(6, '}')),
        (
            br#"{ "daemonize": false, "websockets": true, }"#,
            trailing_comma(40, '}'),
        ),
        // Other structure.
        (b"[1,,2]", syntax(3, VALUE)),
        (b"[,1]", syntax(1, VALUE)),
        (b"{,}", syntax(1, NAME)),
        (b"{a:1}", syntax(1, NAME)),
        (b"{1:2}", syntax(1, NAME)),
        (b"{'a':1}", syntax(1, NAME)),
        (br#"{"a":1,,"b":2}"#, syntax(7, NAME)),
        (br#"{"a" 1}"#, syntax(5, COLON)),
        (br#"{"a"=1}"#, syntax(4, COLON)),
        (br#"{"a":}"#, syntax(5, VALUE)),
        (b"[1 2]", syntax(3, ARRAY_NEXT)),
        (b"[1}", syntax(2, ARRAY_NEXT)),
        (br#"{"a":1 "b":2}"#, syntax(7, OBJECT_NEXT)),
        (br#"{"a":1]"#, syntax(6, OBJECT_NEXT)),
        (b"]", syntax(0, VALUE)),
        (b"'a'", syntax(0, VALUE)),
        (b"[1", end(2, ARRAY_NEXT)),
        (b"[1,", end(3, VALUE)),
        (b"{", end(1, NAME)),
        (br#"{"a""#, end(4, COLON)),
        (br#"{"a":"#, end(5, VALUE)),
        (br#"{"a":1"#, end(6, OBJECT_NEXT)),
        // Comments.
        (b"// comment\n1", syntax(0, VALUE)),
        (b"/* c */ 1", syntax(0, VALUE)),
        (b"# c\n1", syntax(0, VALUE)),
        (b"1 // comment", trailing_data(2)),
        (b"[1, /* c */ 2]", syntax(4, VALUE)),
        // Literals.
        (b"tru", syntax(0, "true")),
        (b"nul", syntax(0, "null")),
        (b"fals", syntax(0, "false")),
        (b"True", syntax(0, VALUE)),
        (b"NULL", syntax(0, VALUE)),
        (b"NaN", syntax(0, VALUE)),
        (b"nan", syntax(0, "null")),
        (b"Infinity", syntax(0, VALUE)),
        (b"undefined", syntax(0, VALUE)),
        // Whitespace RFC 8259 does not allow: vertical tab, form feed, no-break space; and a BOM.
        (b"\x0b1", syntax(0, VALUE)),
        (b"[1,\x0c2]", syntax(3, VALUE)),
        ("\u{A0}1".as_bytes(), syntax(0, VALUE)),
        (b"\xef\xbb\xbf{}", syntax(0, BOM)),
        // Numbers.
        (b"-Infinity", bad_number(1, MINUS)),
        (b"-", bad_number(1, MINUS)),
        (b"-a", bad_number(1, MINUS)),
        (b"- 1", bad_number(1, MINUS)),
        (b"+1", syntax(0, VALUE)),
        (b".5", syntax(0, VALUE)),
        (b"01", bad_number(0, ZERO)),
        (b"00", bad_number(0, ZERO)),
        (b"-01", bad_number(0, ZERO)),
        (b"[1, 007]", bad_number(4, ZERO)),
        (b"1.", bad_number(2, POINT)),
        (b"1.e3", bad_number(2, POINT)),
        (b"1..2", bad_number(2, POINT)),
        (b"1e", bad_number(2, EXP)),
        (b"1E+", bad_number(3, EXP)),
        (b"1e-x", bad_number(3, EXP)),
        (b"1.5e", bad_number(4, EXP)),
        (b"1e400", bad_number(0, HUGE)),
        (b"-1e400", bad_number(0, HUGE)),
        (b"[0, 1.8e308]", bad_number(4, HUGE)),
        (huge_integer.as_bytes(), bad_number(0, HUGE)),
        // Strings.
        (b"\"a\tb\"", bad_string(2, CONTROL)),
        (b"\"\x00\"", bad_string(1, CONTROL)),
        (b"\"\x1f\"", bad_string(1, CONTROL)),
        (b"\"\r\"", bad_string(1, CONTROL)),
        (b"\"a\nb\"", bad_string(2, LINE_BREAK)),
        (b"\"abc", bad_string(0, UNCLOSED)),
        (b"[\"abc]", bad_string(1, UNCLOSED)),
        (br#""\x""#, bad_string(1, ESCAPE)),
        (br#""\a""#, bad_string(1, ESCAPE)),
        (br#""\U0041""#, bad_string(1, ESCAPE)),
        (br#""\'""#, bad_string(1, ESCAPE)),
        (b"\"\\", bad_string(1, ESCAPE)),
        (br#""\u12""#, bad_string(1, HEX)),
        (br#""\u12G4""#, bad_string(1, HEX)),
        (br#""\u+123""#, bad_string(1, HEX)),
        (br#""\u"#, bad_string(1, HEX)),
        (br#""\uD834\uDD""#, bad_string(1, HEX)),
        (br#""\uD834""#, bad_string(1, LONE)),
        (br#""\uDD1E""#, bad_string(1, LONE)),
        (br#""\uDFFF\uD800""#, bad_string(1, LONE)),
        (br#""\uD834\u0041""#, bad_string(1, LONE)),
        (br#""\uD834\uD834""#, bad_string(1, LONE)),
        (br#""\uD834x""#, bad_string(1, LONE)),
        (br#""\uD834\n""#, bad_string(1, LONE)),
        // Not UTF-8, inside and outside strings: truncated, stray continuation, overlong, an encoded
        // surrogate, above U+10FFFF.
        (b"\"\xff\"", not_utf8(1)),
        (b"\"ab\xc3\"", not_utf8(3)),
        (b"\"\xc0\xaf\"", not_utf8(1)),
        (b"\"\xed\xa0\x80\"", not_utf8(1)),
        (b"\"\xf4\x90\x80\x80\"", not_utf8(1)),
        (b"[1,\x80]", not_utf8(3)),
    ];
    for (input, expected) in cases {
        assert_eq!(
            parse_default(input),
            Err(expected),
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn errors_name_line_and_column_for_a_person() {
    let cases: Vec<(&[u8], &str)> = vec![
        (
            b"{\n\t\"redis_host\": \"127.0.0.1\",\n\t\"threads\": 5,\n}\n",
            "trailing comma before '}' at line 3 column 14",
        ),
        (
            br#"{ "daemonize": false, "websockets": true, }"#,
            "trailing comma before '}' at line 1 column 41",
        ),
        (
            b"{\"acl\": [\n  {\"enabled\": [\"GET\",]}\n]}",
            "trailing comma before ']' at line 2 column 21",
        ),
        (
            b"{\n  \"threads\" 5\n}",
            "expected ':' after a member name at line 2 column 13",
        ),
        (
            b"{\n  \"threads\": 05\n}",
            "bad number (leading zero) at line 2 column 14",
        ),
        (
            b"{\n  \"a\": 1\n",
            "unexpected end of text, expected ',' or '}' after an object member at line 3 column 1",
        ),
        (
            b"{\"logfile\": \"webdis.log\n}",
            "line break inside a string (is a closing '\"' missing?) at line 1 column 24",
        ),
        (
            b"{\"a\": \"\\q\"}",
            "invalid escape (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX) at line 1 column 8",
        ),
        (
            b"{} x",
            "unexpected text after the JSON value at line 1 column 4",
        ),
        (
            b"\"\\uDEAD\"",
            "lone UTF-16 surrogate in a \\u escape at line 1 column 2",
        ),
        (b"\n\n  \"\xff\"", "invalid UTF-8 at line 3 column 4"),
        // Columns count characters: "é" and "𝄞" are one column each, though 2 and 4 bytes.
        (
            "{\"é𝄞\" 1}".as_bytes(),
            "expected ':' after a member name at line 1 column 7",
        ),
        (
            b"1e999",
            "bad number (too large for a 64-bit float) at line 1 column 1",
        ),
    ];
    for (input, message) in cases {
        let error = parse_default(input).unwrap_err();
        assert_eq!(
            error.to_string(),
            message,
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }
    let deep = parse(
        b"[[",
        &Limits {
            max_bytes: 10,
            max_depth: 1,
        },
    )
    .unwrap_err();
    assert_eq!(
        deep.to_string(),
        "arrays and objects nested more than 1 deep at line 1 column 2"
    );
    let large = parse(
        b"[1]",
        &Limits {
            max_bytes: 2,
            max_depth: 1,
        },
    )
    .unwrap_err();
    assert_eq!(
        large.to_string(),
        "JSON text is 3 bytes, more than the limit of 2"
    );
    assert_eq!(large.position(), None);
    assert_eq!(
        parse_default(b"\n [1,]").unwrap_err().position(),
        Some(Position {
            offset: 4,
            line: 2,
            column: 4
        })
    );
}

#[test]
fn webdis_config_fixture_parses_into_its_structure() {
    let config = br#"{
	"redis_host":	"127.0.0.1",

	"redis_port":	6379,
	"redis_auth":	null,

	"http_host":	"0.0.0.0",
	"http_port":	7379,

	"threads":	5,
	"pool_size": 20,

	"daemonize":	false,
	"websockets":	false,

	"database":	0,

	"acl": [
		{
			"disabled":	["DEBUG"]
		},

		{
			"http_basic_auth":	"user:password",
			"enabled":		["DEBUG"]
		},

		{
			"ip":	"192.168.10.0/24",
			"enabled":	["SET", "DEL"]
		}
	],

	"verbosity": 4,
	"logfile": "webdis.log"
}
"#;
    let value = parse_default(config).unwrap();
    let names: Vec<&str> = value
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "redis_host",
            "redis_port",
            "redis_auth",
            "http_host",
            "http_port",
            "threads",
            "pool_size",
            "daemonize",
            "websockets",
            "database",
            "acl",
            "verbosity",
            "logfile"
        ]
    );
    assert_eq!(
        value.get("redis_host").and_then(Value::as_str),
        Some("127.0.0.1")
    );
    assert_eq!(value.get("redis_port").and_then(Value::as_i64), Some(6379));
    assert_eq!(value.get("redis_auth"), Some(&Value::Null));
    assert_eq!(value.get("threads").and_then(Value::as_i64), Some(5));
    assert_eq!(value.get("pool_size").and_then(Value::as_i64), Some(20));
    assert_eq!(value.get("daemonize").and_then(Value::as_bool), Some(false));
    assert_eq!(
        value.get("logfile").and_then(Value::as_str),
        Some("webdis.log")
    );
    let acl = value.get("acl").and_then(Value::as_array).unwrap();
    assert_eq!(acl.len(), 3);
    assert_eq!(
        acl[0],
        object(&[("disabled", Value::Array(vec![string("DEBUG")]))])
    );
    assert_eq!(
        acl[1].get("http_basic_auth").and_then(Value::as_str),
        Some("user:password")
    );
    let enabled: Vec<&str> = acl[2]
        .get("enabled")
        .and_then(Value::as_array)
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(enabled, ["SET", "DEL"]);
}

#[test]
fn default_limits_are_the_documented_ones() {
    assert_eq!(
        Limits::DEFAULT,
        Limits {
            max_bytes: 1024 * 1024,
            max_depth: 32
        }
    );
    assert_eq!(Limits::default(), Limits::DEFAULT);
}
