//! WebSocket frames (RFC 6455 §5), the server's side: client frames in, server frames out.
//!
//! [`parse`] reads one frame from the front of a buffer, [`write()`] and [`write_close`] append one,
//! and an [`Assembler`] turns the frames of a connection into [`Message`]s. This is a pure codec:
//! no sockets, no clocks, no threads, and no panic on any input. The caller owns the buffer and
//! the limits (`max_payload` per frame, `max_message` per reassembled message), and must fail the
//! connection after any [`FrameError`], sending a close frame with [`FrameError::close_code`].
//!
//! # Wire format (RFC 6455 §5.2)
//!
//! ```text
//! byte 0      FIN (1 bit) · RSV1 RSV2 RSV3 (1 bit each, must be 0) · opcode (4 bits)
//! byte 1      MASK (1 bit) · payload length (7 bits)
//!             0..=125  the length itself
//!             126      the length follows as 16 bits, big-endian, and is at least 126
//!             127      the length follows as 64 bits, big-endian, top bit 0, at least 65536
//! 4 bytes     masking key, present iff MASK is 1 (always from a client, never from a server)
//! payload     payload[i] is sent XORed with key[i % 4] (§5.3)
//!
//! opcode      0 continuation · 1 text · 2 binary · 3-7 reserved (data)
//!             8 close · 9 ping · A pong · B-F reserved (control)
//! ```
//!
//! Rules enforced on client frames, each a [`FrameError`]:
//!
//! * §5.1: every client frame is masked; an unmasked one is refused.
//! * §5.2: RSV bits are 0 (no extension is ever negotiated); reserved opcodes are refused; a length
//!   uses the shortest form ("the minimal number of bytes MUST be used").
//! * §5.5: control frames (close, ping, pong) have FIN set and at most 125 bytes of payload.
//! * §5.4: a fragmented message is one text or binary frame without FIN, continuation frames, and a
//!   last continuation with FIN; control frames may come in between, data frames may not.
//! * §5.6, §8.1: a text message is UTF-8 once whole (a character may be split across fragments).
//! * §5.5.1, §7.4: a close payload is empty, or a 2-byte code a peer may send plus a UTF-8 reason.
//!
//! # Limits and early errors
//!
//! Errors are found as early as the bytes allow: the first byte alone decides reserved bits and
//! opcodes, and a frame's length is compared with `max_payload` as soon as the length bytes are
//! there, before the masking key and payload are waited for and before anything is allocated. So a
//! header announcing 2^62 bytes fails at once, and a buffer never needs to hold more than
//! `max_payload` + 14 bytes for one frame. Every strict prefix of a valid frame is `Partial`, and
//! the first non-`Partial` answer on a growing buffer is the answer on the whole buffer.
//!
//! A call that ends in `Partial` reads at most the 14 header bytes, so retrying after every small
//! read costs nothing; the payload is unmasked and copied once, when it is all there.

use std::fmt;

use crate::http::Status;

/// Longest payload of a control frame (RFC 6455 §5.5): it always fits the 7-bit length form.
const MAX_CONTROL_PAYLOAD: usize = 125;

/// What a frame carries (RFC 6455 §5.2, §11.8). The reserved opcodes are refused, not represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// `0x0`: the next fragment of a fragmented text or binary message.
    Continuation,
    /// `0x1`: the first (or only) frame of a UTF-8 text message.
    Text,
    /// `0x2`: the first (or only) frame of a binary message.
    Binary,
    /// `0x8`: the closing handshake (§5.5.1).
    Close,
    /// `0x9`: a ping, to be answered with a pong carrying the same payload (§5.5.2).
    Ping,
    /// `0xA`: a pong, the answer to a ping or an unsolicited heartbeat (§5.5.3).
    Pong,
}

impl Opcode {
    /// The opcode named by the low four bits of a frame's first byte, or `None` if reserved.
    fn from_bits(bits: u8) -> Option<Opcode> {
        match bits {
            0x0 => Some(Opcode::Continuation),
            0x1 => Some(Opcode::Text),
            0x2 => Some(Opcode::Binary),
            0x8 => Some(Opcode::Close),
            0x9 => Some(Opcode::Ping),
            0xA => Some(Opcode::Pong),
            _ => None,
        }
    }

    /// The four bits that stand for this opcode on the wire.
    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// Whether this is a control opcode (close, ping, pong): never fragmented, at most 125 bytes.
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// One frame received from a client, its payload already unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Whether this is the last frame of its message (always true for control frames).
    pub fin: bool,
    /// What the payload is.
    pub opcode: Opcode,
    /// The application data, unmasked.
    pub payload: Vec<u8>,
}

/// Why frames from a client break RFC 6455. Every one means: fail the connection (§7.1.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The MASK bit is 0: a client must mask every frame (§5.1).
    Unmasked,
    /// An RSV bit is 1, but no extension was negotiated (§5.2).
    ReservedBits,
    /// The opcode is one of the reserved values 0x3-0x7 or 0xB-0xF (§5.2).
    UnknownOpcode(u8),
    /// A control frame announces more than 125 bytes of payload (§5.5).
    ControlTooLong,
    /// A control frame has FIN clear (§5.5).
    FragmentedControl,
    /// A frame or a reassembled message is longer than the limit the caller passed.
    TooLarge {
        /// The length announced by the frame, or reached by the message.
        len: u64,
        /// The limit it exceeds.
        max: usize,
    },
    /// A 16- or 64-bit length that would fit a shorter form, or a 64-bit length with its top bit set (§5.2).
    BadLength,
    /// A complete text message is not valid UTF-8, nor is the reason of a close frame (§8.1).
    BadUtf8,
    /// A continuation frame arrived while no fragmented message was open (§5.4).
    UnexpectedContinuation,
    /// A text or binary frame arrived while a fragmented message was still open (§5.4).
    ExpectedContinuation,
    /// A close payload of one byte, or with a status code a peer may not send (§5.5.1, §7.4).
    BadClosePayload,
}

impl FrameError {
    /// The status code to put in the close frame that answers this error (RFC 6455 §7.4.1):
    /// 1009 (message too big) for [`FrameError::TooLarge`], 1007 (inconsistent data) for
    /// [`FrameError::BadUtf8`], 1002 (protocol error) for everything else.
    pub fn close_code(&self) -> u16 {
        match self {
            FrameError::TooLarge { .. } => 1009,
            FrameError::BadUtf8 => 1007,
            _ => 1002,
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Unmasked => f.write_str("unmasked client frame"),
            FrameError::ReservedBits => f.write_str("reserved frame bits set"),
            FrameError::UnknownOpcode(bits) => write!(f, "unknown frame opcode 0x{bits:x}"),
            FrameError::ControlTooLong => f.write_str("control frame longer than 125 bytes"),
            FrameError::FragmentedControl => f.write_str("fragmented control frame"),
            FrameError::TooLarge { len, max } => {
                write!(
                    f,
                    "frame or message of {len} bytes exceeds the limit of {max}"
                )
            }
            FrameError::BadLength => f.write_str("bad frame length encoding"),
            FrameError::BadUtf8 => f.write_str("text is not valid utf-8"),
            FrameError::UnexpectedContinuation => {
                f.write_str("continuation frame without a fragmented message")
            }
            FrameError::ExpectedContinuation => {
                f.write_str("new data frame inside a fragmented message")
            }
            FrameError::BadClosePayload => f.write_str("bad close frame payload"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Why a helper stopped: the bytes end too early, or they are wrong.
enum Halt {
    NeedMore,
    Bad(FrameError),
}

impl From<FrameError> for Halt {
    fn from(error: FrameError) -> Halt {
        Halt::Bad(error)
    }
}

/// What the header of a frame says, and where its payload lies in the buffer.
struct Header {
    fin: bool,
    opcode: Opcode,
    mask: [u8; 4],
    /// Offset of the first payload byte: header, extended length and masking key.
    start: usize,
    /// Payload length, already checked against `max_payload`.
    len: usize,
}

// ---------------------------------------------------------------------------------------------
// Parsing client frames
// ---------------------------------------------------------------------------------------------

/// Parses the one client frame at the front of `buf`, returning it with the number of bytes it used.
///
/// `used` counts the header, the masking key and the payload; bytes after the frame are left
/// alone (call again on `&buf[used..]`). `Ok(Status::Partial)` means `buf` is a valid beginning:
/// read more and call again with the whole buffer.
///
/// # Errors
///
/// * [`FrameError::ReservedBits`], [`FrameError::UnknownOpcode`], [`FrameError::FragmentedControl`]
///   from the first byte alone.
/// * [`FrameError::Unmasked`], [`FrameError::ControlTooLong`] from the second byte.
/// * [`FrameError::BadLength`] for a length not in its shortest form, or with bit 63 set.
/// * [`FrameError::TooLarge`] when the length exceeds `max_payload`, as soon as it is read.
///
/// # Examples
///
/// ```
/// use redis_gateway::http::Status;
/// use redis_gateway::websocket::frame::{parse, Frame, FrameError, Opcode};
///
/// // RFC 6455 §5.7: a single-frame masked text message, "Hello".
/// let wire = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// let hello = Frame { fin: true, opcode: Opcode::Text, payload: b"Hello".to_vec() };
/// assert_eq!(parse(&wire, 1024), Ok(Status::Complete((hello, 11))));
/// assert_eq!(parse(&wire[..6], 1024), Ok(Status::Partial));
/// // The same message unmasked is what a server sends, never a client.
/// assert_eq!(parse(&[0x81, 0x05, b'H', b'e', b'l', b'l', b'o'], 1024), Err(FrameError::Unmasked));
/// ```
pub fn parse(buf: &[u8], max_payload: usize) -> Result<Status<(Frame, usize)>, FrameError> {
    let result = header(buf, max_payload).and_then(|header| {
        // `start` is at most 14 and `len` at most `max_payload`; overflow means "cannot be in `buf`".
        let end = header.start.checked_add(header.len).ok_or(Halt::NeedMore)?;
        let masked = buf.get(header.start..end).ok_or(Halt::NeedMore)?;
        // The payload is all in `buf`, so this allocation is no larger than what the client sent.
        let payload = masked
            .iter()
            .zip(header.mask.iter().cycle())
            .map(|(byte, key)| byte ^ key)
            .collect();
        let frame = Frame {
            fin: header.fin,
            opcode: header.opcode,
            payload,
        };
        Ok((frame, end))
    });
    match result {
        Ok(done) => Ok(Status::Complete(done)),
        Err(Halt::NeedMore) => Ok(Status::Partial),
        Err(Halt::Bad(error)) => Err(error),
    }
}

/// The byte at `at`, or `NeedMore` if `buf` ends before it.
fn byte(buf: &[u8], at: usize) -> Result<u8, Halt> {
    buf.get(at).copied().ok_or(Halt::NeedMore)
}

/// Reads and checks a frame's header, byte by byte, so that each error is reported as soon as the
/// byte that decides it is in `buf`.
fn header(buf: &[u8], max_payload: usize) -> Result<Header, Halt> {
    let first = byte(buf, 0)?;
    let fin = first & 0x80 != 0;
    if first & 0x70 != 0 {
        return Err(FrameError::ReservedBits.into());
    }
    let bits = first & 0x0f;
    let opcode = Opcode::from_bits(bits).ok_or(FrameError::UnknownOpcode(bits))?;
    if opcode.is_control() && !fin {
        return Err(FrameError::FragmentedControl.into());
    }

    let second = byte(buf, 1)?;
    if second & 0x80 == 0 {
        return Err(FrameError::Unmasked.into());
    }
    let short = second & 0x7f;
    if opcode.is_control() && usize::from(short) > MAX_CONTROL_PAYLOAD {
        return Err(FrameError::ControlTooLong.into());
    }
    let (len, mask_at) = match short {
        126 => {
            let len = u64::from(u16::from_be_bytes([byte(buf, 2)?, byte(buf, 3)?]));
            if len < 126 {
                return Err(FrameError::BadLength.into());
            }
            (len, 4)
        }
        127 => {
            // Bit 63 is checked on the first length byte, without waiting for the other seven.
            if byte(buf, 2)? & 0x80 != 0 {
                return Err(FrameError::BadLength.into());
            }
            let mut len = 0u64;
            for at in 2..10 {
                len = len << 8 | u64::from(byte(buf, at)?);
            }
            if len <= u64::from(u16::MAX) {
                return Err(FrameError::BadLength.into());
            }
            (len, 10)
        }
        short => (u64::from(short), 2),
    };
    // Checked before the masking key and payload are waited for, and before any allocation.
    let len = match usize::try_from(len) {
        Ok(len) if len <= max_payload => len,
        _ => {
            return Err(FrameError::TooLarge {
                len,
                max: max_payload,
            }
            .into())
        }
    };

    let mask = [
        byte(buf, mask_at)?,
        byte(buf, mask_at + 1)?,
        byte(buf, mask_at + 2)?,
        byte(buf, mask_at + 3)?,
    ];
    Ok(Header {
        fin,
        opcode,
        mask,
        start: mask_at + 4,
        len,
    })
}

// ---------------------------------------------------------------------------------------------
// Writing server frames
// ---------------------------------------------------------------------------------------------

/// Appends one unfragmented server frame to `out`: FIN set, never masked (§5.1), and the length in
/// its shortest form (§5.2).
///
/// The caller keeps control payloads (close, ping, pong) to 125 bytes, as §5.5 requires; this
/// function writes what it is given. Answer a ping with the payload of the ping, which [`parse`]
/// already bounded; write close frames with [`write_close`].
///
/// # Examples
///
/// ```
/// use redis_gateway::websocket::frame::{write, Opcode};
///
/// let mut out = Vec::new();
/// write(&mut out, Opcode::Text, b"Hello");
/// assert_eq!(out, [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']); // RFC 6455 §5.7
/// ```
pub fn write(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8]) {
    out.push(0x80 | opcode.bits());
    let len = payload.len();
    if len <= 125 {
        // `len` fits 7 bits here; the cast cannot lose anything.
        out.push(len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(126);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(127);
        // A `usize` fits in 64 bits on every platform Rust supports; bit 63 stays 0 in practice
        // because no slice is that long.
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

/// Appends a close frame with status `code` and `reason` (§5.5.1) to `out`.
///
/// The reason is cut, at a character boundary, to the 123 bytes that fit in a control frame after
/// the 2-byte code. The caller picks a code a peer may send (not 1005, 1006 or 1015, §7.4.1).
///
/// # Examples
///
/// ```
/// use redis_gateway::websocket::frame::write_close;
///
/// let mut out = Vec::new();
/// write_close(&mut out, 1000, "bye");
/// assert_eq!(out, [0x88, 0x05, 0x03, 0xe8, b'b', b'y', b'e']);
/// ```
pub fn write_close(out: &mut Vec<u8>, code: u16, reason: &str) {
    let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1; // 0 is always a boundary, so this stops
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(reason.get(..end).unwrap_or("").as_bytes());
    write(out, Opcode::Close, &payload);
}

// ---------------------------------------------------------------------------------------------
// Reassembling messages
// ---------------------------------------------------------------------------------------------

/// A whole message, reassembled from its frames and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message, valid UTF-8.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping; answer with a pong carrying the same bytes.
    Ping(Vec<u8>),
    /// A pong.
    Pong(Vec<u8>),
    /// A close frame: its status code (`None` if the payload was empty) and its reason (§5.5.1).
    Close(Option<u16>, String),
}

/// Turns the frames of one connection, in order, into messages (§5.4).
///
/// Holds the fragments of at most one open text or binary message. After any error the
/// connection must be failed; the assembler is then in no useful state.
///
/// # Examples
///
/// ```
/// use redis_gateway::websocket::frame::{Assembler, Frame, Message, Opcode};
///
/// let mut assembler = Assembler::default();
/// let first = Frame { fin: false, opcode: Opcode::Text, payload: b"Hel".to_vec() };
/// let last = Frame { fin: true, opcode: Opcode::Continuation, payload: b"lo".to_vec() };
/// assert_eq!(assembler.push(first, 1024), Ok(None));
/// assert_eq!(assembler.push(last, 1024), Ok(Some(Message::Text("Hello".to_string()))));
/// ```
#[derive(Debug, Default)]
pub struct Assembler {
    /// The open fragmented message: its opcode (text or binary) and the payloads so far.
    open: Option<(Opcode, Vec<u8>)>,
}

impl Assembler {
    /// Takes the next frame of the connection; returns a message when one is complete.
    ///
    /// Control frames are returned at once, even between the fragments of a message. A text or
    /// binary frame without FIN opens a message, continuation frames extend it, and the one with
    /// FIN completes it. `max_message` bounds the whole message, fragments added together.
    ///
    /// # Errors
    ///
    /// * [`FrameError::ExpectedContinuation`], [`FrameError::UnexpectedContinuation`] when the
    ///   fragments are out of order.
    /// * [`FrameError::TooLarge`] when the message (so far) exceeds `max_message`.
    /// * [`FrameError::BadUtf8`] for a complete text message, or a close reason, that is not UTF-8.
    /// * [`FrameError::BadClosePayload`] for a close payload of one byte or with a code a peer may
    ///   not send.
    /// * [`FrameError::FragmentedControl`], [`FrameError::ControlTooLong`] for a control frame that
    ///   [`parse`] would have refused (the fields of [`Frame`] are public).
    pub fn push(
        &mut self,
        frame: Frame,
        max_message: usize,
    ) -> Result<Option<Message>, FrameError> {
        if frame.opcode.is_control() {
            if !frame.fin {
                return Err(FrameError::FragmentedControl);
            }
            if frame.payload.len() > MAX_CONTROL_PAYLOAD {
                return Err(FrameError::ControlTooLong);
            }
        }
        match frame.opcode {
            Opcode::Close => close(&frame.payload).map(Some),
            Opcode::Ping => Ok(Some(Message::Ping(frame.payload))),
            Opcode::Pong => Ok(Some(Message::Pong(frame.payload))),
            Opcode::Text | Opcode::Binary => {
                if self.open.is_some() {
                    return Err(FrameError::ExpectedContinuation);
                }
                within(frame.payload.len(), max_message)?;
                if frame.fin {
                    finish(frame.opcode, frame.payload).map(Some)
                } else {
                    self.open = Some((frame.opcode, frame.payload));
                    Ok(None)
                }
            }
            Opcode::Continuation => {
                let (opcode, mut data) =
                    self.open.take().ok_or(FrameError::UnexpectedContinuation)?;
                let total = data.len().checked_add(frame.payload.len());
                within(total.unwrap_or(usize::MAX), max_message)?;
                data.extend_from_slice(&frame.payload);
                if frame.fin {
                    finish(opcode, data).map(Some)
                } else {
                    self.open = Some((opcode, data));
                    Ok(None)
                }
            }
        }
    }
}

/// `Ok` if a message of `len` bytes is within `max`, else [`FrameError::TooLarge`].
fn within(len: usize, max: usize) -> Result<(), FrameError> {
    if len <= max {
        Ok(())
    } else {
        Err(FrameError::TooLarge {
            len: u64::try_from(len).unwrap_or(u64::MAX),
            max,
        })
    }
}

/// The message made of the whole payload of a text or binary message.
fn finish(opcode: Opcode, data: Vec<u8>) -> Result<Message, FrameError> {
    if opcode == Opcode::Text {
        String::from_utf8(data)
            .map(Message::Text)
            .map_err(|_| FrameError::BadUtf8)
    } else {
        Ok(Message::Binary(data))
    }
}

/// Reads a close payload (§5.5.1): nothing, or a status code then a UTF-8 reason.
fn close(payload: &[u8]) -> Result<Message, FrameError> {
    let (code, reason) = match payload {
        [] => return Ok(Message::Close(None, String::new())),
        [high, low, reason @ ..] => (u16::from_be_bytes([*high, *low]), reason),
        [_] => return Err(FrameError::BadClosePayload),
    };
    if !may_receive(code) {
        return Err(FrameError::BadClosePayload);
    }
    let reason = std::str::from_utf8(reason).map_err(|_| FrameError::BadUtf8)?;
    Ok(Message::Close(Some(code), reason.to_string()))
}

/// Whether a peer may send `code` in a close frame (§7.4.1, §7.4.2): the codes RFC 6455 defines
/// for use on the wire (not 1004, 1005, 1006, 1015, which are reserved or for local use only),
/// and the ranges for libraries (3000-3999) and applications (4000-4999). Codes below 1000 are
/// unused; 1012-2999 were unassigned when RFC 6455 was published and are refused.
fn may_receive(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    const MAX: usize = 1 << 20;

    /// A client frame: first byte as given, the shortest length form, MASK set, `payload` masked.
    /// Built here from the RFC's layout, independently of [`write()`].
    fn client_frame(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
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

    fn frame(fin: bool, opcode: Opcode, payload: &[u8]) -> Frame {
        Frame {
            fin,
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
            (frame(true, Opcode::Text, b"Hello"), 11)
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
            (frame(false, Opcode::Text, b"Hel"), first_len)
        );
        let (last, used) = complete(&wire[first_len..], MAX);
        assert_eq!(used, wire.len() - first_len);
        assert_eq!(last, frame(true, Opcode::Continuation, b"lo"));

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
            (frame(true, Opcode::Pong, b"Hello"), 11)
        );
        let masked_ping = client_frame(0x89, b"Hello", RFC_MASK);
        assert_eq!(
            complete(&masked_ping, MAX),
            (frame(true, Opcode::Ping, b"Hello"), 11)
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
                    frame(true, Opcode::Binary, &payload),
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
            (frame(true, Opcode::Binary, b"abc"), len)
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
            let Ok(Some(Message::Close(Some(4000), text))) = Assembler::default().push(got, MAX)
            else {
                panic!("close not read back");
            };
            assert!(reason.starts_with(&text) && text.len() <= 123);
        }
    }

    // -- assembling --------------------------------------------------------------------------

    #[test]
    fn single_frames_become_messages() {
        let cases = [
            (
                frame(true, Opcode::Text, b"hi"),
                Message::Text("hi".to_string()),
            ),
            (frame(true, Opcode::Text, b""), Message::Text(String::new())),
            (
                frame(true, Opcode::Binary, &[0, 0xff]),
                Message::Binary(vec![0, 0xff]),
            ),
            (
                frame(true, Opcode::Ping, b"p"),
                Message::Ping(b"p".to_vec()),
            ),
            (frame(true, Opcode::Pong, b""), Message::Pong(Vec::new())),
            (
                frame(true, Opcode::Close, b""),
                Message::Close(None, String::new()),
            ),
            (
                frame(true, Opcode::Close, &[0x03, 0xe8]),
                Message::Close(Some(1000), String::new()),
            ),
            (
                frame(true, Opcode::Close, b"\x0f\xa0caf\xc3\xa9"),
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
            (frame(false, Opcode::Binary, b"ab"), None),
            (
                frame(true, Opcode::Ping, b"1"),
                Some(Message::Ping(b"1".to_vec())),
            ),
            (frame(false, Opcode::Continuation, b""), None),
            (
                frame(true, Opcode::Pong, b"2"),
                Some(Message::Pong(b"2".to_vec())),
            ),
            (frame(false, Opcode::Continuation, b"cd"), None),
            (
                frame(true, Opcode::Continuation, b"e"),
                Some(Message::Binary(b"abcde".to_vec())),
            ),
            // And the next message starts afresh.
            (
                frame(true, Opcode::Text, b"x"),
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
            assembler.push(frame(true, Opcode::Continuation, b"x"), MAX),
            Err(FrameError::UnexpectedContinuation)
        );
        let mut assembler = Assembler::default();
        assert_eq!(
            assembler.push(frame(false, Opcode::Continuation, b"x"), MAX),
            Err(FrameError::UnexpectedContinuation)
        );
        for opcode in [Opcode::Text, Opcode::Binary] {
            for fin in [true, false] {
                let mut assembler = Assembler::default();
                assert_eq!(
                    assembler.push(frame(false, Opcode::Text, b"a"), MAX),
                    Ok(None)
                );
                assert_eq!(
                    assembler.push(frame(fin, opcode, b"b"), MAX),
                    Err(FrameError::ExpectedContinuation),
                    "{opcode:?} fin {fin}"
                );
            }
        }
    }

    #[test]
    fn utf8_is_judged_on_the_whole_message() {
        // "é" is C3 A9 and "€" is E2 82 AC: split between fragments, each fragment alone is invalid.
        let mut assembler = Assembler::default();
        assert_eq!(
            assembler.push(frame(false, Opcode::Text, b"caf\xc3"), MAX),
            Ok(None)
        );
        assert_eq!(
            assembler.push(frame(false, Opcode::Continuation, b"\xa9 \xe2"), MAX),
            Ok(None)
        );
        assert_eq!(
            assembler.push(frame(false, Opcode::Continuation, b"\x82"), MAX),
            Ok(None)
        );
        assert_eq!(
            assembler.push(frame(true, Opcode::Continuation, b"\xac"), MAX),
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
                result = assembler.push(frame(i == last, opcode, part), MAX);
            }
            assert_eq!(result, Err(FrameError::BadUtf8), "{parts:02x?}");
        }
        // Binary messages are not judged.
        let mut assembler = Assembler::default();
        assert_eq!(
            assembler.push(frame(true, Opcode::Binary, b"\xff"), MAX),
            Ok(Some(Message::Binary(vec![0xff])))
        );
    }

    #[test]
    fn max_message_at_n_and_n_plus_one_across_fragments() {
        let mut assembler = Assembler::default();
        assert_eq!(
            assembler.push(frame(false, Opcode::Binary, &[1; 4]), 10),
            Ok(None)
        );
        assert_eq!(
            assembler.push(frame(false, Opcode::Continuation, &[2; 4]), 10),
            Ok(None)
        );
        assert_eq!(
            assembler.push(frame(true, Opcode::Continuation, &[3; 2]), 10),
            Ok(Some(Message::Binary(
                [[1; 4].as_slice(), &[2; 4], &[3; 2]].concat()
            )))
        );

        let mut assembler = Assembler::default();
        assert_eq!(
            assembler.push(frame(false, Opcode::Text, b"abcd"), 10),
            Ok(None)
        );
        assert_eq!(
            assembler.push(frame(false, Opcode::Continuation, b"efgh"), 10),
            Ok(None)
        );
        assert_eq!(
            assembler.push(frame(false, Opcode::Continuation, b"ijk"), 10),
            Err(FrameError::TooLarge { len: 11, max: 10 })
        );

        // A single frame is bounded too.
        assert_eq!(
            Assembler::default().push(frame(true, Opcode::Text, b"abc"), 3),
            Ok(Some(Message::Text("abc".to_string())))
        );
        assert_eq!(
            Assembler::default().push(frame(false, Opcode::Binary, b"abcd"), 3),
            Err(FrameError::TooLarge { len: 4, max: 3 })
        );
        // Control frames are bounded by 125 bytes, not by `max_message`.
        assert_eq!(
            Assembler::default().push(frame(true, Opcode::Ping, b"abcd"), 3),
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
                Assembler::default().push(frame(true, Opcode::Close, &payload), MAX),
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
                Assembler::default().push(frame(true, Opcode::Close, &code.to_be_bytes()), MAX),
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
                &Assembler::default().push(frame(true, Opcode::Close, payload), MAX),
                want,
                "{payload:02x?}"
            );
        }
        // A close between fragments is returned at once, like any control frame.
        let mut assembler = Assembler::default();
        assert_eq!(
            assembler.push(frame(false, Opcode::Text, b"a"), MAX),
            Ok(None)
        );
        assert_eq!(
            assembler.push(frame(true, Opcode::Close, b"\x03\xe8"), MAX),
            Ok(Some(Message::Close(Some(1000), String::new())))
        );
    }

    #[test]
    fn hand_built_control_frames_are_checked_too() {
        assert_eq!(
            Assembler::default().push(frame(false, Opcode::Ping, b""), MAX),
            Err(FrameError::FragmentedControl)
        );
        assert_eq!(
            Assembler::default().push(frame(true, Opcode::Pong, &[0; 126]), MAX),
            Err(FrameError::ControlTooLong)
        );
    }

    // -- properties --------------------------------------------------------------------------

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
                0 => (true, Opcode::Binary, 0x82),
                1 => (false, Opcode::Text, 0x01),
                _ => (true, Opcode::Continuation, 0x80),
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
                want.push(frame(true, opcode, &payload));
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
}
