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
//!
//! The tests are in `frame/tests.rs` (single frames), `frame/assembler_tests.rs` (messages) and
//! `frame/property_tests.rs` (random frames and bytes).

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
    /// The bytes of the open fragmented message held so far (their buffer's capacity).
    pub fn buffered(&self) -> usize {
        self.open
            .as_ref()
            .map_or(0, |(_, payload)| payload.capacity())
    }

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
mod assembler_tests;
#[cfg(test)]
mod property_tests;
#[cfg(test)]
mod tests;
