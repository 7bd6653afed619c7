//! A MessagePack writer (the `.msg` output format): small functions that append one value to a `Vec<u8>`.
//!
//! Each value is a marker byte, then big-endian fields. Every function picks the smallest form the spec's
//! tables allow (github.com/msgpack/msgpack, `spec.md`, "Formats"); a "fix" form packs a small value or
//! length into the marker byte itself. A map or array header is followed by its items, written by the caller:
//!
//! ```text
//! positive fixint 0xxxxxxx  fixmap 1000xxxx  fixarray 1001xxxx  fixstr 101xxxxx  negative fixint 111xxxxx
//! nil c0  false c2  true c3  bin8/16/32 c4-c6  float64 cb  uint8/16/32/64 cc-cf  int8/16/32/64 d0-d3
//! str8/16/32 d9-db  array16/32 dc-dd  map16/32 de-df
//! ```
//!
//! Lengths: MessagePack cannot state a length above `u32::MAX`. The gateway never writes one, since a Redis
//! reply, its RESP framing included, is at most `--max-reply-bytes` long (4 GiB at most). Should a longer length reach
//! this module anyway, debug builds panic on an assertion and release builds write `u32::MAX`: the output is
//! then wrong, but nothing panics in production.

/// Appends `nil`.
pub fn write_nil(out: &mut Vec<u8>) {
    out.push(0xc0);
}

/// Appends `true` or `false`.
pub fn write_bool(out: &mut Vec<u8>, value: bool) {
    out.push(if value { 0xc3 } else { 0xc2 });
}

/// Appends an integer in its smallest form: a fixint when it fits in the marker byte, else a `uint`
/// format for values above 127 and an `int` format for values below -32, with 8, 16, 32 or 64 bits.
///
/// # Examples
///
/// ```
/// use redis_gateway::webdis::msgpack;
///
/// let mut out = Vec::new();
/// msgpack::write_int(&mut out, 300);
/// msgpack::write_int(&mut out, -1);
/// assert_eq!(out, [0xcd, 0x01, 0x2c, 0xff]);
/// ```
pub fn write_int(out: &mut Vec<u8>, value: i64) {
    // Each arm's range proves that its `as` cast keeps every bit that matters.
    match value {
        0..=0x7f => out.push(value as u8),
        -32..=-1 => out.push(value as u8), // two's complement: 0xe0..=0xff
        0x80..=0xff => put(out, 0xcc, &[value as u8]),
        0x100..=0xffff => put(out, 0xcd, &(value as u16).to_be_bytes()),
        0x1_0000..=0xffff_ffff => put(out, 0xce, &(value as u32).to_be_bytes()),
        0x1_0000_0000..=i64::MAX => put(out, 0xcf, &(value as u64).to_be_bytes()),
        -0x80..=-33 => put(out, 0xd0, &(value as i8).to_be_bytes()),
        -0x8000..=-0x81 => put(out, 0xd1, &(value as i16).to_be_bytes()),
        -0x8000_0000..=-0x8001 => put(out, 0xd2, &(value as i32).to_be_bytes()),
        i64::MIN..=-0x8000_0001 => put(out, 0xd3, &value.to_be_bytes()),
    }
}

/// Appends a float 64 (IEEE 754 double precision, big-endian); NaN and the infinities included.
pub fn write_f64(out: &mut Vec<u8>, value: f64) {
    put(out, 0xcb, &value.to_be_bytes());
}

/// Appends a string: fixstr up to 31 bytes, else str 8, 16 or 32. The bytes are written as given; MessagePack
/// says strings are UTF-8, and Redis values may not be: [`write_bin`] is the form for arbitrary bytes.
///
/// # Examples
///
/// ```
/// use redis_gateway::webdis::msgpack;
///
/// let mut out = Vec::new();
/// msgpack::write_str(&mut out, b"hi");
/// assert_eq!(out, [0xa2, b'h', b'i']);
/// ```
pub fn write_str(out: &mut Vec<u8>, text: &[u8]) {
    match length(text.len()) {
        len @ 0..=31 => out.push(0xa0 | len as u8),
        len @ 32..=0xff => put(out, 0xd9, &[len as u8]),
        len @ 0x100..=0xffff => put(out, 0xda, &(len as u16).to_be_bytes()),
        len => put(out, 0xdb, &len.to_be_bytes()),
    }
    out.extend_from_slice(text);
}

/// Appends a byte array: bin 8, 16 or 32 (there is no fix form).
pub fn write_bin(out: &mut Vec<u8>, data: &[u8]) {
    match length(data.len()) {
        len @ 0..=0xff => put(out, 0xc4, &[len as u8]),
        len @ 0x100..=0xffff => put(out, 0xc5, &(len as u16).to_be_bytes()),
        len => put(out, 0xc6, &len.to_be_bytes()),
    }
    out.extend_from_slice(data);
}

/// Appends the header of an array of `len` items: fixarray up to 15, else array 16 or 32. The caller then
/// writes the `len` items.
///
/// # Examples
///
/// ```
/// use redis_gateway::webdis::msgpack;
///
/// let mut out = Vec::new();
/// msgpack::write_array_len(&mut out, 2);
/// msgpack::write_nil(&mut out);
/// msgpack::write_bool(&mut out, true);
/// assert_eq!(out, [0x92, 0xc0, 0xc3]);
/// ```
pub fn write_array_len(out: &mut Vec<u8>, len: usize) {
    match length(len) {
        len @ 0..=15 => out.push(0x90 | len as u8),
        len @ 0x10..=0xffff => put(out, 0xdc, &(len as u16).to_be_bytes()),
        len => put(out, 0xdd, &len.to_be_bytes()),
    }
}

/// Appends the header of a map of `len` key-value pairs: fixmap up to 15, else map 16 or 32. The caller then
/// writes `2 * len` items: key, value, key, value…
pub fn write_map_len(out: &mut Vec<u8>, len: usize) {
    match length(len) {
        len @ 0..=15 => out.push(0x80 | len as u8),
        len @ 0x10..=0xffff => put(out, 0xde, &(len as u16).to_be_bytes()),
        len => put(out, 0xdf, &len.to_be_bytes()),
    }
}

/// A marker byte, then its big-endian field.
fn put(out: &mut Vec<u8>, marker: u8, field: &[u8]) {
    out.push(marker);
    out.extend_from_slice(field);
}

/// `len` as a MessagePack length; see the module docs for why it cannot exceed `u32::MAX`.
fn length(len: usize) -> u32 {
    debug_assert!(
        u32::try_from(len).is_ok(),
        "MessagePack length {len} above u32::MAX"
    );
    u32::try_from(len).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(write: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out);
        out
    }

    /// The header a string, byte array, array or map of `len` gets: what comes before the payload.
    fn header(write: fn(&mut Vec<u8>, &[u8]), len: usize) -> Vec<u8> {
        let mut out = written(|out| write(out, &vec![b'x'; len]));
        out.truncate(out.len() - len);
        out
    }

    #[test]
    fn nil_and_bools() {
        assert_eq!(written(write_nil), [0xc0]);
        assert_eq!(written(|out| write_bool(out, false)), [0xc2]);
        assert_eq!(written(|out| write_bool(out, true)), [0xc3]);
    }

    #[test]
    fn ints_take_the_smallest_form_at_each_boundary() {
        let cases: &[(i64, &[u8])] = &[
            (0, &[0x00]),
            (1, &[0x01]),
            (127, &[0x7f]),
            (128, &[0xcc, 0x80]),
            (255, &[0xcc, 0xff]),
            (256, &[0xcd, 0x01, 0x00]),
            (65535, &[0xcd, 0xff, 0xff]),
            (65536, &[0xce, 0x00, 0x01, 0x00, 0x00]),
            (4_294_967_295, &[0xce, 0xff, 0xff, 0xff, 0xff]),
            (4_294_967_296, &[0xcf, 0, 0, 0, 0x01, 0, 0, 0, 0]),
            (
                i64::MAX,
                &[0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            ),
            (-1, &[0xff]),
            (-32, &[0xe0]),
            (-33, &[0xd0, 0xdf]),
            (-128, &[0xd0, 0x80]),
            (-129, &[0xd1, 0xff, 0x7f]),
            (-32768, &[0xd1, 0x80, 0x00]),
            (-32769, &[0xd2, 0xff, 0xff, 0x7f, 0xff]),
            (-2_147_483_648, &[0xd2, 0x80, 0x00, 0x00, 0x00]),
            (
                -2_147_483_649,
                &[0xd3, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff],
            ),
            (i64::MIN, &[0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0]),
        ];
        for &(value, want) in cases {
            assert_eq!(written(|out| write_int(out, value)), want, "{value}");
        }
    }

    #[test]
    fn floats_are_float_64() {
        assert_eq!(
            written(|out| write_f64(out, 1.5)),
            [0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            written(|out| write_f64(out, -0.0)),
            [0xcb, 0x80, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            written(|out| write_f64(out, f64::INFINITY)),
            [0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn str_headers_at_each_boundary() {
        let cases: &[(usize, &[u8])] = &[
            (0, &[0xa0]),
            (1, &[0xa1]),
            (31, &[0xbf]),
            (32, &[0xd9, 32]),
            (255, &[0xd9, 0xff]),
            (256, &[0xda, 0x01, 0x00]),
            (65535, &[0xda, 0xff, 0xff]),
            (65536, &[0xdb, 0x00, 0x01, 0x00, 0x00]),
        ];
        for &(len, want) in cases {
            assert_eq!(header(write_str, len), want, "length {len}");
        }
        assert_eq!(written(|out| write_str(out, b"abc")), b"\xa3abc");
    }

    #[test]
    fn bin_headers_at_each_boundary() {
        let cases: &[(usize, &[u8])] = &[
            (0, &[0xc4, 0]),
            (255, &[0xc4, 0xff]),
            (256, &[0xc5, 0x01, 0x00]),
            (65535, &[0xc5, 0xff, 0xff]),
            (65536, &[0xc6, 0x00, 0x01, 0x00, 0x00]),
        ];
        for &(len, want) in cases {
            assert_eq!(header(write_bin, len), want, "length {len}");
        }
        assert_eq!(written(|out| write_bin(out, b"\0\xff")), b"\xc4\x02\0\xff");
    }

    #[test]
    fn array_and_map_headers_at_each_boundary() {
        let cases: &[(usize, &[u8], &[u8])] = &[
            (0, &[0x90], &[0x80]),
            (15, &[0x9f], &[0x8f]),
            (16, &[0xdc, 0x00, 0x10], &[0xde, 0x00, 0x10]),
            (65535, &[0xdc, 0xff, 0xff], &[0xde, 0xff, 0xff]),
            (65536, &[0xdd, 0, 0x01, 0, 0], &[0xdf, 0, 0x01, 0, 0]),
            (
                4_294_967_295,
                &[0xdd, 0xff, 0xff, 0xff, 0xff],
                &[0xdf, 0xff, 0xff, 0xff, 0xff],
            ),
        ];
        for &(len, array, map) in cases {
            assert_eq!(
                written(|out| write_array_len(out, len)),
                array,
                "array of {len}"
            );
            assert_eq!(written(|out| write_map_len(out, len)), map, "map of {len}");
        }
    }

    #[test]
    fn values_follow_one_another() {
        let mut out = Vec::new();
        write_map_len(&mut out, 1);
        write_str(&mut out, b"GET");
        write_array_len(&mut out, 2);
        write_int(&mut out, 7);
        write_nil(&mut out);
        assert_eq!(out, b"\x81\xa3GET\x92\x07\xc0");
    }
}
