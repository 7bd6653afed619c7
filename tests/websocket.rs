//! WebSockets (`--api webdis --websockets on`) end to end, with a client of the test's own (`ws_client`,
//! below): the opening handshake byte for byte and its refusals (426 for another version or a missing
//! one, each said so; 400 for a bad key), upgrades on any path as webdis accepts, JSON commands on `/.json` and RESP on `/.raw` (300 in one write answered in order),
//! masking and the other framing rules enforced (1002), frames cut anyhow, payload lengths in each of
//! the three forms both ways, a fragmented message with a ping in between, ping and pong, the close
//! handshake, bad UTF-8 (1007), messages over `--max-ws-message` (1009), the ACL of a `webdis.json`,
//! `SUBSCRIBE` over a WebSocket (and a repeated one), `UNSUBSCRIBE`/`PUNSUBSCRIBE` with and without
//! topics, RESP answers in text frames when UTF-8 and binary frames otherwise, a WebSocket that stops reading while being
//! published to, cut at `--max-stream-buffer`, and streams ended cleanly by a drain.
//!
//! The client checks every frame the gateway sends: never masked, no reserved bits, the shortest
//! length form (RFC 6455 §5.1, §5.2).

mod support;

use std::fs;
use std::io::Read;
use std::net::SocketAddr;
use support::*;
use ws_client::{WsClient, BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT};

/// A minimal RFC 6455 client: masked frames out, strictly checked frames in.
mod ws_client {
    use super::support::http::IO_TIMEOUT;
    use super::support::{connect, send, wait_closed, Closed};
    use std::io::{self, Read};
    use std::net::{SocketAddr, TcpStream};

    /// The key of RFC 6455 §1.3 and the accept value it must get.
    pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    /// `base64(SHA-1(KEY ‖ 258EAFA5-E914-47DA-95CA-C5AB0DC85B11))`.
    pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    /// Opcodes (RFC 6455 §5.2).
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;

    /// How a frame wrote its payload length.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum LengthForm {
        /// 0..=125 in the second byte.
        Short,
        /// 126, then 16 bits.
        Medium,
        /// 127, then 64 bits.
        Long,
    }

    /// One frame from the gateway.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Frame {
        pub fin: bool,
        pub opcode: u8,
        pub payload: Vec<u8>,
        pub form: LengthForm,
    }

    impl Frame {
        /// The status code of a close frame.
        pub fn close_code(&self) -> Option<u16> {
            match self.payload.as_slice() {
                [high, low, ..] if self.opcode == CLOSE => Some(u16::from_be_bytes([*high, *low])),
                _ => None,
            }
        }
    }

    /// The opening handshake request for `path`, with the given version and key.
    pub fn upgrade_request(path: &str, version: &str, key: &str) -> Vec<u8> {
        format!(
            "GET {path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n\r\n"
        )
        .into_bytes()
    }

    /// The exact answer to a valid handshake with [`KEY`].
    pub fn switching_protocols() -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        )
    }

    /// One frame on the wire: the shortest length form, masked with `mask` when given.
    pub fn encode(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        let mask_bit = if mask.is_some() { 0x80 } else { 0 };
        match payload.len() {
            n @ 0..=125 => out.push(mask_bit | n as u8),
            n @ 126..=0xffff => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        match mask {
            Some(key) => {
                out.extend_from_slice(&key);
                out.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
            }
            None => out.extend_from_slice(payload),
        }
        out
    }

    /// A WebSocket connection to the gateway.
    pub struct WsClient {
        pub stream: TcpStream,
        buf: Vec<u8>,
        masks: u32,
    }

    impl WsClient {
        /// Connects, sends the handshake for `path` and checks the `101` byte for byte.
        #[track_caller]
        pub fn connect(addr: SocketAddr, path: &str) -> WsClient {
            let mut stream = connect(addr);
            send(&mut stream, &upgrade_request(path, "13", KEY));
            let head = read_head(&mut stream);
            assert_eq!(
                head,
                switching_protocols(),
                "the 101 answer to a handshake on {path}"
            );
            WsClient::from_stream(stream)
        }

        /// A client on a stream whose handshake is done.
        pub fn from_stream(stream: TcpStream) -> WsClient {
            WsClient {
                stream,
                buf: Vec::new(),
                masks: 0,
            }
        }

        /// The next masking key: a different, nonzero one for every frame.
        fn next_mask(&mut self) -> [u8; 4] {
            self.masks = self.masks.wrapping_add(1);
            (0x37fa_213d_u32 ^ self.masks.wrapping_mul(0x9e37_79b9)).to_be_bytes()
        }

        /// Sends one masked frame.
        pub fn send_frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
            let mask = self.next_mask();
            send(&mut self.stream, &encode(fin, opcode, payload, Some(mask)));
        }

        /// Sends a masked text message in one frame.
        pub fn send_text(&mut self, text: &str) {
            self.send_frame(true, TEXT, text.as_bytes());
        }

        /// Sends a message and returns the text frame that answers it.
        #[track_caller]
        pub fn command(&mut self, json: &str) -> String {
            self.send_text(json);
            let frame = self.expect_frame(TEXT);
            String::from_utf8(frame.payload)
                .unwrap_or_else(|e| panic!("the answer to {json} is not UTF-8: {e}"))
        }

        /// Reads one frame and checks it is a whole one of `opcode`.
        #[track_caller]
        pub fn expect_frame(&mut self, opcode: u8) -> Frame {
            let frame = self
                .read_frame()
                .unwrap_or_else(|e| panic!("waiting for a frame of opcode {opcode:#x}: {e}"));
            assert!(
                frame.fin && frame.opcode == opcode,
                "want a whole frame of opcode {opcode:#x}, got {}",
                describe(&frame)
            );
            frame
        }

        /// Asserts the next frame is a text frame holding exactly `want`.
        #[track_caller]
        pub fn expect_text(&mut self, want: &str) {
            let frame = self.expect_frame(TEXT);
            assert!(
                frame.payload == want.as_bytes(),
                "want text {want:?}, got {}",
                describe(&frame)
            );
        }

        /// Asserts the next frame is a binary frame holding exactly `want`.
        #[track_caller]
        pub fn expect_binary(&mut self, want: &[u8]) {
            let frame = self.expect_frame(BINARY);
            assert!(
                frame.payload == want,
                "want binary {:?}, got {}",
                String::from_utf8_lossy(want),
                describe(&frame)
            );
        }

        /// Asserts a close frame with `code` comes next, then that the gateway closes the connection.
        #[track_caller]
        pub fn expect_close(&mut self, code: u16) {
            let frame = self.expect_frame(CLOSE);
            assert_eq!(
                frame.close_code(),
                Some(code),
                "close code: got {}",
                describe(&frame)
            );
            assert!(
                std::str::from_utf8(&frame.payload[2..]).is_ok(),
                "a close reason is UTF-8: {}",
                describe(&frame)
            );
            self.expect_eof();
        }

        /// Asserts the gateway closes the connection (EOF or reset) without sending more.
        #[track_caller]
        pub fn expect_eof(&mut self) {
            assert!(
                self.buf.is_empty(),
                "bytes after the last frame: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            match wait_closed(&mut self.stream, IO_TIMEOUT) {
                Closed::Eof | Closed::Reset(_) => {}
                Closed::Data(bytes) => panic!(
                    "bytes after the close frame: {:?}",
                    String::from_utf8_lossy(&bytes)
                ),
                Closed::StillOpen => {
                    panic!("the gateway did not close the connection within {IO_TIMEOUT:?}")
                }
            }
        }

        /// Reads one frame, checking what a server must do: no mask, no reserved bits, a known
        /// opcode, the shortest length form, control frames whole and short.
        pub fn read_frame(&mut self) -> Result<Frame, String> {
            loop {
                if let Some(frame) = self.take_frame()? {
                    return Ok(frame);
                }
                let mut scratch = [0u8; 64 * 1024];
                match self.stream.read(&mut scratch) {
                    Ok(0) => {
                        return Err(format!(
                            "connection closed ({} bytes of a frame pending: {:?})",
                            self.buf.len(),
                            String::from_utf8_lossy(&self.buf[..self.buf.len().min(100)])
                        ))
                    }
                    Ok(n) => self.buf.extend_from_slice(&scratch[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("read failed: {e}")),
                }
            }
        }

        /// One whole frame from the buffer, if it holds one.
        fn take_frame(&mut self) -> Result<Option<Frame>, String> {
            let buf = &self.buf;
            if buf.len() < 2 {
                return Ok(None);
            }
            let (fin, rsv, opcode) = (buf[0] & 0x80 != 0, buf[0] & 0x70, buf[0] & 0x0f);
            if rsv != 0 {
                return Err(format!("reserved bits set: {:#04x}", buf[0]));
            }
            if ![CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG].contains(&opcode) {
                return Err(format!("unknown opcode {opcode:#x}"));
            }
            if buf[1] & 0x80 != 0 {
                return Err("a server frame is masked (RFC 6455 §5.1 forbids it)".into());
            }
            let (len, start, form) = match buf[1] & 0x7f {
                126 if buf.len() >= 4 => (
                    u64::from(u16::from_be_bytes([buf[2], buf[3]])),
                    4,
                    LengthForm::Medium,
                ),
                127 if buf.len() >= 10 => {
                    let mut bytes = [0u8; 8];
                    bytes.copy_from_slice(&buf[2..10]);
                    (u64::from_be_bytes(bytes), 10, LengthForm::Long)
                }
                126 | 127 => return Ok(None),
                short => (u64::from(short), 2, LengthForm::Short),
            };
            let minimal = match form {
                LengthForm::Short => true,
                LengthForm::Medium => len >= 126,
                LengthForm::Long => len > 0xffff && len >> 63 == 0,
            };
            if !minimal {
                return Err(format!("length {len} not in its shortest form ({form:?})"));
            }
            if opcode >= CLOSE && (!fin || len > 125) {
                return Err(format!("control frame {opcode:#x}: fin {fin}, {len} bytes"));
            }
            let len = usize::try_from(len).map_err(|_| format!("length {len}"))?;
            if buf.len() < start + len {
                return Ok(None);
            }
            let payload = buf[start..start + len].to_vec();
            self.buf.drain(..start + len);
            Ok(Some(Frame {
                fin,
                opcode,
                payload,
                form,
            }))
        }
    }

    /// A frame for a message: opcode, length, and the start of the payload.
    pub fn describe(frame: &Frame) -> String {
        let shown = &frame.payload[..frame.payload.len().min(200)];
        format!(
            "frame fin={} opcode={:#x} {} bytes ({:?}): {:?}",
            frame.fin,
            frame.opcode,
            frame.payload.len(),
            frame.form,
            String::from_utf8_lossy(shown)
        )
    }

    /// Reads a response head up to the blank line, one byte at a time, so nothing after it is taken.
    #[track_caller]
    pub fn read_head(stream: &mut TcpStream) -> String {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(0) => panic!(
                    "connection closed inside the response head: {:?}",
                    String::from_utf8_lossy(&head)
                ),
                Ok(_) => head.push(byte[0]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!(
                    "reading the response head: {e} (so far {:?})",
                    String::from_utf8_lossy(&head)
                ),
            }
            assert!(head.len() < 16 * 1024, "endless response head");
        }
        String::from_utf8_lossy(&head).into_owned()
    }
}

// ----- set-up -----

/// The flags of every gateway here: the webdis API with WebSockets on, and a small pool.
const WEBSOCKETS: &[&str] = &["--api", "webdis", "--websockets", "on", "--pool-size", "4"];

/// Sends a raw handshake (any version and key) and returns the parsed answer.
fn handshake(addr: SocketAddr, path: &str, version: &str, key: &str) -> Response {
    let mut stream = connect(addr);
    send(&mut stream, &ws_client::upgrade_request(path, version, key));
    read_response(&mut stream).unwrap_or_else(|e| panic!("handshake on {path}: {e}"))
}

/// A JSON command `["SET", key, value]` whose text is exactly `total` bytes long (value of `x`s).
fn set_command_of_length(key: &str, total: usize) -> (String, String) {
    let overhead = format!(r#"["SET","{key}",""]"#).len();
    let value = "x".repeat(total - overhead);
    let command = format!(r#"["SET","{key}","{value}"]"#);
    assert_eq!(command.len(), total);
    (command, value)
}

// ----- the tests -----

#[test]
fn the_handshake_is_answered_byte_for_byte() {
    let (redis, gateway) = Gateway::with_redis(WEBSOCKETS);
    let addr = gateway.addr();
    redis.cmd(&[b"SET", b"hello", b"world"]);
    for path in ["/", "/.json"] {
        let mut ws = WsClient::connect(addr, path);
        assert_eq!(
            ws.command(r#"["GET","hello"]"#),
            r#"{"GET":"world"}"#,
            "{path}"
        );
    }
    let mut raw = WsClient::connect(addr, "/.raw");
    raw.send_frame(true, BINARY, b"*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n");
    raw.expect_text("$5\r\nworld\r\n");

    let old = handshake(addr, "/.json", "8", ws_client::KEY);
    expect_status(&old, 426);
    assert_eq!(
        old.header("sec-websocket-version"),
        Some("13"),
        "a 426 names the version spoken:\n{old:?}"
    );
    for key in ["c2hvcnQ=", "not base64!", ""] {
        let bad = handshake(addr, "/.json", "13", key);
        expect_status(&bad, 400);
        expect_text_error(&bad);
    }
    // Without `Connection: Upgrade` it is no handshake either.
    let mut stream = connect(addr);
    send(
        &mut stream,
        format!(
            "GET /.json HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n",
            ws_client::KEY
        )
        .as_bytes(),
    );
    let no_connection = read_response(&mut stream).expect("an answer");
    expect_status(&no_connection, 400);
}

#[test]
fn json_and_raw_commands_are_answered_in_order() {
    let (redis, gateway) = Gateway::with_redis(WEBSOCKETS);
    let addr = gateway.addr();
    let mut ws = WsClient::connect(addr, "/.json");
    assert_eq!(
        ws.command(r#"["SET","hello","world"]"#),
        r#"{"SET":[true,"OK"]}"#
    );
    assert_eq!(
        redis.cmd(&[b"GET", b"hello"]).bulk(),
        Some(b"world".to_vec())
    );
    assert_eq!(ws.command(r#"["GET","hello"]"#), r#"{"GET":"world"}"#);
    assert_eq!(ws.command(r#"["INCRBY","n",5]"#), r#"{"INCRBY":5}"#);
    assert_eq!(ws.command(r#"["GET","nothing"]"#), r#"{"GET":null}"#);
    let bad = ws.command(r#"{"GET":"hello"}"#);
    assert!(
        bad.starts_with(r#"{"message":"#) && bad.ends_with(r#","error":true,"http_status":400}"#),
        "a message that is no command: {bad}"
    );
    // Three messages in one write: three answers, in order.
    let mut batch = Vec::new();
    for (i, text) in [r#"["INCR","n"]"#, r#"["INCR","n"]"#, r#"["GET","n"]"#]
        .iter()
        .enumerate()
    {
        let mask = [i as u8 + 1, 0x55, 0xaa, 0x0f];
        batch.extend(ws_client::encode(true, TEXT, text.as_bytes(), Some(mask)));
    }
    send(&mut ws.stream, &batch);
    ws.expect_text(r#"{"INCR":6}"#);
    ws.expect_text(r#"{"INCR":7}"#);
    ws.expect_text(r#"{"GET":"7"}"#);
    // 300 in one write: more than a worker serves in one turn; all answered, in order.
    let mut flood = Vec::new();
    for i in 0..300u32 {
        let mask = (i.wrapping_mul(0x9e37_79b9) | 1).to_be_bytes();
        flood.extend(ws_client::encode(
            true,
            TEXT,
            br#"["INCR","flood"]"#,
            Some(mask),
        ));
    }
    send(&mut ws.stream, &flood);
    for i in 1..=300 {
        ws.expect_text(&format!(r#"{{"INCR":{i}}}"#));
    }

    let mut raw = WsClient::connect(addr, "/.raw");
    raw.send_frame(true, BINARY, b"*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n");
    raw.expect_text("$5\r\nworld\r\n");
    raw.send_frame(
        true,
        BINARY,
        b"*3\r\n$3\r\nSET\r\n$3\r\nbin\r\n$3\r\na\r\n\r\n",
    );
    raw.expect_text("+OK\r\n");
    assert_eq!(redis.cmd(&[b"GET", b"bin"]).bulk(), Some(b"a\r\n".to_vec()));
    // RESP in a text frame is read the same way.
    raw.send_frame(true, TEXT, b"*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n");
    raw.expect_text(":8\r\n");
    raw.send_frame(true, BINARY, b"*1\r\n$4\r\nNOPE\r\n");
    let error = raw.expect_frame(TEXT);
    assert!(
        error.payload.starts_with(b"-ERR unknown command") && error.payload.ends_with(b"\r\n"),
        "{}",
        ws_client::describe(&error)
    );
    raw.send_frame(true, BINARY, b"GET hello\r\n");
    let refused = raw.expect_frame(TEXT);
    assert!(
        refused.payload.starts_with(b"-ERR ") && refused.payload.ends_with(b"\r\n"),
        "inline commands are not RESP arrays: {}",
        ws_client::describe(&refused)
    );
}

#[test]
fn an_unmasked_frame_is_refused_with_1002() {
    let (_redis, gateway) = Gateway::with_redis(WEBSOCKETS);
    let mut ws = WsClient::connect(gateway.addr(), "/.json");
    assert_eq!(ws.command(r#"["PING"]"#), r#"{"PING":[true,"PONG"]}"#);
    send(
        &mut ws.stream,
        &ws_client::encode(true, TEXT, br#"["PING"]"#, None),
    );
    ws.expect_close(1002);
}

#[test]
fn protocol_errors_close_with_1002() {
    let (redis, gateway) = Gateway::with_redis(WEBSOCKETS);
    let masked = |first: u8, payload: &[u8]| {
        let mut frame = ws_client::encode(true, 0, payload, Some([9, 8, 7, 6]));
        frame[0] = first;
        frame
    };
    let mut non_minimal = vec![0x81, 0x80 | 126, 0, 5, 1, 2, 3, 4];
    non_minimal.extend(
        b"hello"
            .iter()
            .zip([1u8, 2, 3, 4].iter().cycle())
            .map(|(b, k)| b ^ k),
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a continuation without a start", masked(0x80, b"x")),
        (
            "a new text frame inside a fragmented message",
            [masked(0x01, br#"["SET","#), masked(0x81, br#"["PING"]"#)].concat(),
        ),
        ("a fragmented ping", masked(0x09, b"")),
        ("a ping of 126 bytes", masked(0x89, &[b'p'; 126])),
        ("the RSV1 bit", masked(0xc1, br#"["PING"]"#)),
        ("reserved data opcode 3", masked(0x83, b"")),
        ("reserved control opcode 0xB", masked(0x8b, b"")),
        ("a 16-bit length of 5", non_minimal),
        ("a close payload of one byte", masked(0x88, &[3])),
        ("close code 1005", masked(0x88, &1005u16.to_be_bytes())),
        ("close code 999", masked(0x88, &999u16.to_be_bytes())),
    ];
    for (what, bytes) in cases {
        let mut ws = WsClient::connect(gateway.addr(), "/.json");
        send(&mut ws.stream, &bytes);
        let frame = ws
            .read_frame()
            .unwrap_or_else(|e| panic!("{what}: want a close frame, got: {e}"));
        assert_eq!(
            frame.close_code(),
            Some(1002),
            "{what}: {}",
            ws_client::describe(&frame)
        );
        ws.expect_eof();
    }
    assert_eq!(redis.cmd(&[b"DBSIZE"]).integer(), 0, "no command ran");
}

#[test]
fn frames_are_read_however_they_are_cut() {
    let (_redis, gateway) = Gateway::with_redis(WEBSOCKETS);
    let addr = gateway.addr();
    // One byte per write.
    let mut ws = WsClient::connect(addr, "/.json");
    ws.stream.set_nodelay(true).expect("TCP_NODELAY");
    let frame = ws_client::encode(true, TEXT, br#"["SET","slow","ly"]"#, Some([1, 2, 3, 4]));
    for byte in frame {
        send(&mut ws.stream, &[byte]);
    }
    ws.expect_text(r#"{"SET":[true,"OK"]}"#);
    // The handshake and the first two frames in one write.
    let mut stream = connect(addr);
    let mut bytes = ws_client::upgrade_request("/.json", "13", ws_client::KEY);
    bytes.extend(ws_client::encode(
        true,
        TEXT,
        br#"["GET","slow"]"#,
        Some([5, 6, 7, 8]),
    ));
    bytes.extend(ws_client::encode(true, PING, b"p", Some([1, 1, 1, 1])));
    send(&mut stream, &bytes);
    assert_eq!(
        ws_client::read_head(&mut stream),
        ws_client::switching_protocols()
    );
    let mut ws = WsClient::from_stream(stream);
    ws.expect_text(r#"{"GET":"ly"}"#);
    assert_eq!(ws.expect_frame(PONG).payload, b"p");
}

#[test]
fn payloads_of_every_length_form_go_both_ways() {
    let (redis, gateway) = Gateway::with_redis(WEBSOCKETS);
    let mut ws = WsClient::connect(gateway.addr(), "/.json");
    // 125 bytes: the 7-bit length; 126: the first 16-bit one.
    for total in [125, 126] {
        let key = format!("k{total}");
        let (command, value) = set_command_of_length(&key, total);
        assert_eq!(ws.command(&command), r#"{"SET":[true,"OK"]}"#, "{total}");
        assert_eq!(
            redis.cmd(&[b"GET", key.as_bytes()]).bulk(),
            Some(value.into_bytes()),
            "the {total}-byte message arrived whole"
        );
    }
    // Replies of 125 and 126 bytes: `{"GET":"…"}` is 10 bytes around the value.
    for (total, form) in [
        (125, ws_client::LengthForm::Short),
        (126, ws_client::LengthForm::Medium),
    ] {
        let value = "y".repeat(total - 10);
        redis.cmd(&[b"SET", b"reply", value.as_bytes()]);
        ws.send_text(r#"["GET","reply"]"#);
        let frame = ws.expect_frame(TEXT);
        assert_eq!(frame.payload.len(), total);
        assert_eq!(frame.form, form, "{}", ws_client::describe(&frame));
        assert_eq!(
            frame.payload,
            format!(r#"{{"GET":"{value}"}}"#).into_bytes()
        );
    }
    // 70,000 bytes: the 64-bit length, both ways.
    let (command, value) = set_command_of_length("big", 70_000);
    assert_eq!(ws.command(&command), r#"{"SET":[true,"OK"]}"#);
    ws.send_text(r#"["GET","big"]"#);
    let frame = ws.expect_frame(TEXT);
    assert_eq!(frame.form, ws_client::LengthForm::Long);
    assert!(
        frame.payload == format!(r#"{{"GET":"{value}"}}"#).into_bytes(),
        "the 70,000-byte value came back whole: {}",
        ws_client::describe(&frame)
    );
    // And on /.raw, as RESP.
    let mut raw = WsClient::connect(gateway.addr(), "/.raw");
    raw.send_frame(true, BINARY, b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n");
    let frame = raw.expect_frame(TEXT);
    assert_eq!(frame.form, ws_client::LengthForm::Long);
    let mut want = format!("${}\r\n", value.len()).into_bytes();
    want.extend_from_slice(value.as_bytes());
    want.extend_from_slice(b"\r\n");
    assert!(frame.payload == want, "{}", ws_client::describe(&frame));
}

#[test]
fn a_fragmented_message_with_a_ping_in_between_is_one_command() {
    let (redis, gateway) = Gateway::with_redis(WEBSOCKETS);
    let mut ws = WsClient::connect(gateway.addr(), "/.json");
    // "héllo" split inside the two bytes of é: only the whole message must be UTF-8.
    let message = r#"["SET","frag","héllo"]"#.as_bytes();
    let split = message.iter().position(|&b| b == 0xc3).expect("é") + 1;
    ws.send_frame(false, TEXT, &message[..10]);
    ws.send_frame(true, PING, b"between");
    let pong = ws.expect_frame(PONG);
    assert_eq!(pong.payload, b"between", "the pong echoes the ping");
    ws.send_frame(false, CONTINUATION, &message[10..split]);
    ws.send_frame(true, CONTINUATION, &message[split..]);
    ws.expect_text(r#"{"SET":[true,"OK"]}"#);
    assert_eq!(
        redis.cmd(&[b"GET", b"frag"]).bulk(),
        Some("héllo".as_bytes().to_vec())
    );
    assert_eq!(ws.command(r#"["GET","frag"]"#), r#"{"GET":"héllo"}"#);
}

#[test]
fn ping_gets_a_pong_and_close_is_echoed() {
    let (_redis, gateway) = Gateway::with_redis(WEBSOCKETS);
    let mut ws = WsClient::connect(gateway.addr(), "/.json");
    for payload in [&b""[..], b"are you there?", &[0u8, 255, 10, 13]] {
        ws.send_frame(true, PING, payload);
        let pong = ws.expect_frame(PONG);
        assert_eq!(pong.payload, payload, "{}", ws_client::describe(&pong));
    }
    ws.send_frame(true, CLOSE, &[0x03, 0xe8, b'b', b'y', b'e']);
    ws.expect_close(1000);

    // A close without a status is answered with an empty close.
    let mut quiet = WsClient::connect(gateway.addr(), "/.raw");
    quiet.send_frame(true, CLOSE, b"");
    let frame = quiet.expect_frame(CLOSE);
    assert!(frame.payload.is_empty(), "{}", ws_client::describe(&frame));
    quiet.expect_eof();
}

#[test]
fn invalid_utf8_in_a_text_message_closes_with_1007() {
    let (redis, gateway) = Gateway::with_redis(WEBSOCKETS);
    let mut ws = WsClient::connect(gateway.addr(), "/.json");
    ws.send_frame(true, TEXT, b"[\"SET\",\"u\",\"\xff\xfe\"]");
    ws.expect_close(1007);
    assert_eq!(redis.cmd(&[b"EXISTS", b"u"]).integer(), 0, "nothing ran");

    // Split over fragments too.
    let mut ws = WsClient::connect(gateway.addr(), "/.json");
    ws.send_frame(false, TEXT, b"[\"SET\",\"u\",\"\xc3");
    ws.send_frame(true, CONTINUATION, b"(\"]");
    ws.expect_close(1007);
}

#[test]
fn a_message_over_max_ws_message_closes_with_1009() {
    let (redis, gateway) =
        Gateway::with_redis(&[WEBSOCKETS, &["--max-ws-message", "1000"]].concat());
    let addr = gateway.addr();
    let mut ws = WsClient::connect(addr, "/.json");
    let (at_limit, _) = set_command_of_length("limit", 1000);
    assert_eq!(
        ws.command(&at_limit),
        r#"{"SET":[true,"OK"]}"#,
        "1000 bytes is allowed"
    );
    let (over, _) = set_command_of_length("over", 1001);
    ws.send_text(&over);
    ws.expect_close(1009);

    // Fragments that add up to more.
    let mut ws = WsClient::connect(addr, "/.json");
    let (over, _) = set_command_of_length("over", 1200);
    ws.send_frame(false, TEXT, &over.as_bytes()[..600]);
    ws.send_frame(true, CONTINUATION, &over.as_bytes()[600..]);
    ws.expect_close(1009);

    // A header announcing 2^40 bytes is refused at once, before any payload.
    let mut ws = WsClient::connect(addr, "/.raw");
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 40).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    send(&mut ws.stream, &header);
    ws.expect_close(1009);
    assert_eq!(redis.cmd(&[b"EXISTS", b"over"]).integer(), 0);
}

#[test]
fn the_acl_applies_to_websocket_commands() {
    let redis = RedisServer::start();
    let dir = TempDir::new("ws-acl");
    let config = dir.path().join("webdis.json");
    fs::write(&config, r#"{"acl":[{"disabled":["FLUSHALL"]}]}"#).expect("write webdis.json");
    let config = config.to_string_lossy().into_owned();
    let gateway = Gateway::start(
        &redis,
        &[WEBSOCKETS, &["--webdis-config", &config]].concat(),
    );
    gateway.wait_ready();
    redis.cmd(&[b"SET", b"keep", b"me"]);

    let mut ws = WsClient::connect(gateway.addr(), "/.json");
    assert_eq!(
        ws.command(r#"["FLUSHALL"]"#),
        r#"{"message":"Forbidden","error":true,"http_status":403}"#
    );
    assert_eq!(
        ws.command(r#"["flushall"]"#),
        r#"{"message":"Forbidden","error":true,"http_status":403}"#,
        "command names are case-insensitive"
    );
    let multi = ws.command(r#"["MULTI"]"#);
    assert!(
        multi.starts_with(r#"{"message":"#)
            && multi.ends_with(r#","error":true,"http_status":403}"#),
        "MULTI would change a shared connection: {multi}"
    );
    assert_eq!(ws.command(r#"["GET","keep"]"#), r#"{"GET":"me"}"#);

    let mut raw = WsClient::connect(gateway.addr(), "/.raw");
    raw.send_frame(true, BINARY, b"*1\r\n$8\r\nFLUSHALL\r\n");
    raw.expect_text("-ERR Forbidden\r\n");
    assert_eq!(
        redis.cmd(&[b"GET", b"keep"]).bulk(),
        Some(b"me".to_vec()),
        "FLUSHALL never ran"
    );
}

#[test]
fn subscribe_over_a_websocket_then_commands_still_work() {
    let (redis, gateway) = Gateway::with_redis(WEBSOCKETS);
    let addr = gateway.addr();
    redis.cmd(&[b"SET", b"hello", b"world"]);
    let mut ws = WsClient::connect(addr, "/.json");
    ws.send_text(r#"["SUBSCRIBE","ch"]"#);
    ws.expect_text(r#"{"SUBSCRIBE":["subscribe","ch",1]}"#);
    let mut raw = WsClient::connect(addr, "/.raw");
    raw.send_frame(true, BINARY, b"*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n");
    raw.expect_text("*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
    let numsub = redis.cmd(&[b"PUBSUB", b"NUMSUB", b"ch"]);
    assert_eq!(
        numsub,
        RespReply::Array(vec![RespReply::Bulk(b"ch".to_vec()), RespReply::Integer(1)]),
        "two WebSockets, one Redis subscription"
    );

    assert_eq!(
        redis.cmd(&[b"PUBLISH", b"ch", b"payload"]).integer(),
        1,
        "Redis delivers to the gateway's one connection"
    );
    ws.expect_text(r#"{"SUBSCRIBE":["message","ch","payload"]}"#);
    raw.expect_text("*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$7\r\npayload\r\n");

    // Commands on the subscribed socket are still answered, and messages keep coming.
    assert_eq!(ws.command(r#"["GET","hello"]"#), r#"{"GET":"world"}"#);
    ws.send_text(r#"["PSUBSCRIBE","c*"]"#);
    ws.expect_text(r#"{"PSUBSCRIBE":["psubscribe","c*",2]}"#);
    redis.cmd(&[b"PUBLISH", b"cx", b"second"]);
    ws.expect_text(r#"{"PSUBSCRIBE":["pmessage","c*","cx","second"]}"#);
    raw.send_frame(true, BINARY, b"*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n");
    raw.expect_text("$5\r\nworld\r\n");

    // Leaving: the close handshake, then Redis sees the last subscriber of c* go.
    ws.send_frame(true, CLOSE, &1000u16.to_be_bytes());
    ws.expect_close(1000);
    let unsubscribed = poll_until(START_TIMEOUT, || {
        redis.cmd(&[b"PUBSUB", b"NUMPAT"]).integer() == 0
    });
    assert!(
        unsubscribed,
        "the pattern's last subscriber left, yet Redis still has it"
    );
}

#[test]
fn subscribing_twice_is_confirmed_twice() {
    let (redis, gateway) = Gateway::with_redis(WEBSOCKETS);
    redis.cmd(&[b"SET", b"hello", b"world"]);
    let mut ws = WsClient::connect(gateway.addr(), "/.json");
    ws.send_text(r#"["SUBSCRIBE","twice"]"#);
    ws.expect_text(r#"{"SUBSCRIBE":["subscribe","twice",1]}"#);
    // Redis confirms a repeated SUBSCRIBE again, with the same count; a client waits for one answer
    // per command. The next command tells an answer that never came from one that is late.
    ws.send_text(r#"["SUBSCRIBE","twice"]"#);
    ws.send_text(r#"["GET","hello"]"#);
    ws.expect_text(r#"{"SUBSCRIBE":["subscribe","twice",1]}"#);
    ws.expect_text(r#"{"GET":"world"}"#);
}

#[test]
fn a_websocket_that_does_not_read_is_cut_at_the_stream_limit() {
    let (redis, gateway) =
        Gateway::with_redis(&[WEBSOCKETS, &["--max-stream-buffer", "65536"]].concat());
    let mut stalled = WsClient::connect(gateway.addr(), "/.json");
    stalled.send_text(r#"["SUBSCRIBE","flood"]"#);
    stalled.expect_text(r#"{"SUBSCRIBE":["subscribe","flood",1]}"#);
    let payload = "z".repeat(1024);
    let mut published = 0;
    while gateway.metric("redis_gateway_stream_overflows_total") < 1.0 {
        assert!(
            published < 20_000,
            "{published} KiB published and a WebSocket that reads nothing was never cut"
        );
        for _ in 0..500 {
            redis.cmd(&[b"PUBLISH", b"flood", payload.as_bytes()]);
            published += 1;
        }
    }
    // What reached the socket is whole frames of the messages, then the end.
    let mut n = 0;
    let ending = loop {
        match stalled.read_frame() {
            Ok(frame) => {
                assert_eq!(
                    frame.payload,
                    format!(r#"{{"SUBSCRIBE":["message","flood","{payload}"]}}"#).into_bytes(),
                    "message {n}: {}",
                    ws_client::describe(&frame)
                );
                n += 1;
            }
            Err(e) => break e,
        }
    };
    assert!(n < published, "cut, yet all {published} messages arrived");
    assert!(
        ending.starts_with("connection closed") || ending.contains("reset"),
        "after {n} messages: {ending}"
    );
    let gone = poll_until(START_TIMEOUT, || {
        redis.cmd(&[b"PUBSUB", b"NUMSUB", b"flood"])
            == RespReply::Array(vec![
                RespReply::Bulk(b"flood".to_vec()),
                RespReply::Integer(0),
            ])
    });
    assert!(gone, "the cut WebSocket was the last subscriber of flood");
}

#[test]
fn a_drain_ends_streams_cleanly() {
    let (_redis, mut gateway) = Gateway::with_redis(WEBSOCKETS);
    let admin = gateway.admin();
    let mut ws = WsClient::connect(gateway.addr(), "/.json");
    ws.send_text(r#"["SUBSCRIBE","drain"]"#);
    ws.expect_text(r#"{"SUBSCRIBE":["subscribe","drain",1]}"#);
    let mut chunked = connect(gateway.addr());
    send(
        &mut chunked,
        &format_request("GET", "/SUBSCRIBE/drain", &[], b""),
    );
    let head = read_response(&mut chunked).expect("the subscription's head");
    expect_status(&head, 200);
    let confirmation = b"25\r\n{\"SUBSCRIBE\":[\"subscribe\",\"drain\",1]}\r\n";
    let mut first = vec![0u8; confirmation.len()];
    chunked
        .read_exact(&mut first)
        .expect("the confirmation chunk");
    assert_eq!(
        String::from_utf8_lossy(&first),
        String::from_utf8_lossy(confirmation)
    );

    let shutdown = request(admin, "POST", "/shutdown", &[SHUTDOWN_HEADER], b"");
    expect_status(&shutdown, 202);
    // The WebSocket gets a close "going away"; the chunked stream its last chunk; both are closed.
    ws.expect_close(1001);
    let mut rest = Vec::new();
    chunked
        .read_to_end(&mut rest)
        .expect("the rest of the chunked stream, up to its close");
    assert_eq!(
        String::from_utf8_lossy(&rest),
        "0\r\n\r\n",
        "the last chunk ends the stream"
    );
    let exited = poll_until(START_TIMEOUT, || !gateway.is_running());
    assert!(
        exited,
        "the gateway did not exit after draining its streams"
    );
    // Checked last, so that the drain itself is checked whatever this says (RFC 9110 §15.3.3).
    assert_eq!(
        shutdown.reason, "Accepted",
        "the reason phrase of 202:\n{shutdown:?}"
    );
}

#[test]
fn an_answer_pipelined_before_the_handshake_comes_first() {
    let (_redis, gateway) = Gateway::with_redis(WEBSOCKETS);
    let mut stream = connect(gateway.addr());
    let mut bytes = format_request("GET", "/SET/before/1", &[], b"");
    bytes.extend(ws_client::upgrade_request("/.json", "13", ws_client::KEY));
    send(&mut stream, &bytes);
    let set = read_response(&mut stream).expect("the SET answer");
    assert_eq!(set.body, br#"{"SET":[true,"OK"]}"#, "{set:?}");
    let head = ws_client::read_head(&mut stream);
    assert_eq!(head, ws_client::switching_protocols());
    let mut ws = ws_client::WsClient::from_stream(stream);
    assert_eq!(ws.command(r#"["GET","before"]"#), r#"{"GET":"1"}"#);
}

#[test]
fn a_subscribe_is_confirmed_before_the_next_command_is_answered() {
    let (_redis, gateway) = Gateway::with_redis(WEBSOCKETS);
    let mut ws = WsClient::connect(gateway.addr(), "/.json");
    // SUBSCRIBE then PUBLISH in one write, 50 times: the confirmation always comes first; the
    // PUBLISH answer and the message it sends may come in either order.
    for i in 0..50 {
        let channel = format!("order-{i}");
        let mut bytes = Vec::new();
        for text in [
            format!(r#"["SUBSCRIBE","{channel}"]"#),
            format!(r#"["PUBLISH","{channel}","hello"]"#),
        ] {
            bytes.extend(ws_client::encode(
                true,
                TEXT,
                text.as_bytes(),
                Some([1, 2, 3, 4]),
            ));
        }
        send(&mut ws.stream, &bytes);
        ws.expect_text(&format!(
            r#"{{"SUBSCRIBE":["subscribe","{channel}",{}]}}"#,
            i + 1
        ));
        let mut next: Vec<String> = (0..2)
            .map(|_| String::from_utf8_lossy(&ws.expect_frame(TEXT).payload).into_owned())
            .collect();
        next.sort();
        assert_eq!(
            next,
            [
                r#"{"PUBLISH":1}"#.to_string(),
                format!(r#"{{"SUBSCRIBE":["message","{channel}","hello"]}}"#)
            ]
        );
    }
}

#[test]
fn unsubscribe_and_punsubscribe_are_answered_as_webdis_does() {
    let (redis, gateway) = Gateway::with_redis(WEBSOCKETS);
    let addr = gateway.addr();
    redis.cmd(&[b"SET", b"hello", b"world"]);
    let mut ws = WsClient::connect(addr, "/.json");
    let mut other = WsClient::connect(addr, "/.json");
    other.send_text(r#"["SUBSCRIBE","a"]"#);
    other.expect_text(r#"{"SUBSCRIBE":["subscribe","a",1]}"#);
    ws.send_text(r#"["SUBSCRIBE","a"]"#);
    ws.expect_text(r#"{"SUBSCRIBE":["subscribe","a",1]}"#);
    ws.send_text(r#"["SUBSCRIBE","b"]"#);
    ws.expect_text(r#"{"SUBSCRIBE":["subscribe","b",2]}"#);
    ws.send_text(r#"["PSUBSCRIBE","p*"]"#);
    ws.expect_text(r#"{"PSUBSCRIBE":["psubscribe","p*",3]}"#);

    // One topic: Redis's answer, with the count of topics this socket still has.
    assert_eq!(
        ws.command(r#"["UNSUBSCRIBE","a"]"#),
        r#"{"UNSUBSCRIBE":["unsubscribe","a",2]}"#
    );
    // Nothing more of `a` reaches it; the other socket still listens to `a` (one shared
    // subscription, which Redis keeps).
    redis.cmd(&[b"PUBLISH", b"a", b"gone"]);
    redis.cmd(&[b"PUBLISH", b"b", b"next"]);
    ws.expect_text(r#"{"SUBSCRIBE":["message","b","next"]}"#);
    other.expect_text(r#"{"SUBSCRIBE":["message","a","gone"]}"#);
    let numsub = redis.cmd(&[b"PUBSUB", b"NUMSUB", b"a"]);
    assert_eq!(
        numsub,
        RespReply::Array(vec![RespReply::Bulk(b"a".to_vec()), RespReply::Integer(1)]),
        "another socket still listens to a"
    );

    // No argument: every pattern, then every channel, one answer each.
    assert_eq!(
        ws.command(r#"["PUNSUBSCRIBE"]"#),
        r#"{"PUNSUBSCRIBE":["punsubscribe","p*",1]}"#
    );
    assert_eq!(
        ws.command(r#"["unsubscribe"]"#),
        r#"{"UNSUBSCRIBE":["unsubscribe","b",0]}"#
    );
    // Nothing left to leave: Redis answers with a nil topic.
    assert_eq!(
        ws.command(r#"["UNSUBSCRIBE"]"#),
        r#"{"UNSUBSCRIBE":["unsubscribe",null,0]}"#
    );
    assert_eq!(
        ws.command(r#"["UNSUBSCRIBE","never"]"#),
        r#"{"UNSUBSCRIBE":["unsubscribe","never",0]}"#
    );
    assert_eq!(ws.command(r#"["GET","hello"]"#), r#"{"GET":"world"}"#);
    let left = poll_until(START_TIMEOUT, || {
        redis.cmd(&[b"PUBSUB", b"NUMPAT"]).integer() == 0
            && redis.cmd(&[b"PUBSUB", b"NUMSUB", b"b"])
                == RespReply::Array(vec![RespReply::Bulk(b"b".to_vec()), RespReply::Integer(0)])
    });
    assert!(
        left,
        "the last listeners of b and p* left, yet Redis still has them"
    );

    // Several at once, on /.raw, in RESP; and subscribing again after leaving works.
    let mut raw = WsClient::connect(addr, "/.raw");
    raw.send_frame(
        true,
        TEXT,
        b"*3\r\n$9\r\nSUBSCRIBE\r\n$1\r\nx\r\n$1\r\ny\r\n",
    );
    raw.expect_text("*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n");
    raw.expect_text("*3\r\n$9\r\nsubscribe\r\n$1\r\ny\r\n:2\r\n");
    raw.send_frame(
        true,
        TEXT,
        b"*3\r\n$11\r\nUNSUBSCRIBE\r\n$1\r\ny\r\n$1\r\nx\r\n",
    );
    raw.expect_text("*3\r\n$11\r\nunsubscribe\r\n$1\r\ny\r\n:1\r\n");
    raw.expect_text("*3\r\n$11\r\nunsubscribe\r\n$1\r\nx\r\n:0\r\n");
    raw.send_frame(true, TEXT, b"*2\r\n$9\r\nSUBSCRIBE\r\n$1\r\nx\r\n");
    raw.expect_text("*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n");
    redis.cmd(&[b"PUBLISH", b"x", b"again"]);
    raw.expect_text("*3\r\n$7\r\nmessage\r\n$1\r\nx\r\n$5\r\nagain\r\n");

    // Over HTTP a subscription ends with its stream: UNSUBSCRIBE stays refused there.
    let http = request(addr, "GET", "/UNSUBSCRIBE/a", &[], b"");
    expect_status(&http, 403);
}

#[test]
fn an_upgrade_is_accepted_on_any_path_as_webdis_does() {
    let (redis, gateway) = Gateway::with_redis(WEBSOCKETS);
    let addr = gateway.addr();
    redis.cmd(&[b"SET", b"hello", b"world"]);
    for path in ["/GET/hello", "/anything", "/x.json?jsonp=f"] {
        let mut ws = WsClient::connect(addr, path);
        assert_eq!(
            ws.command(r#"["GET","hello"]"#),
            r#"{"GET":"world"}"#,
            "JSON on {path}"
        );
    }
    for path in ["/socket.raw", "/.raw?x=1"] {
        let mut raw = WsClient::connect(addr, path);
        raw.send_frame(true, TEXT, b"*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n");
        raw.expect_text("$5\r\nworld\r\n");
    }
    // A plain GET of such a path is still a command.
    let plain = request(addr, "GET", "/GET/hello", &[], b"");
    expect_status(&plain, 200);
    assert_eq!(plain.body, br#"{"GET":"world"}"#);
}

#[test]
fn raw_answers_are_text_frames_when_utf8_and_binary_frames_otherwise() {
    let (redis, gateway) = Gateway::with_redis(WEBSOCKETS);
    redis.cmd(&[b"SET", b"utf8", "héllo €".as_bytes()]);
    redis.cmd(&[b"SET", b"bytes", b"\xff\xfe\x00"]);
    let mut raw = WsClient::connect(gateway.addr(), "/.raw");
    raw.send_frame(true, TEXT, b"*2\r\n$3\r\nGET\r\n$4\r\nutf8\r\n");
    raw.expect_text("$10\r\nhéllo €\r\n");
    // A text frame may carry only UTF-8 (RFC 6455 §5.6): these bytes come in a binary frame.
    raw.send_frame(true, BINARY, b"*2\r\n$3\r\nGET\r\n$5\r\nbytes\r\n");
    raw.expect_binary(b"$3\r\n\xff\xfe\x00\r\n");
    // Pushed messages follow the same rule.
    raw.send_frame(true, TEXT, b"*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n");
    raw.expect_text("*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
    redis.cmd(&[b"PUBLISH", b"ch", b"\xc3"]);
    raw.expect_binary(b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\n\xc3\r\n");
    redis.cmd(&[b"PUBLISH", b"ch", b"ok"]);
    raw.expect_text("*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nok\r\n");
}

#[test]
fn a_handshake_without_a_version_is_told_it_is_missing() {
    let (_redis, gateway) = Gateway::with_redis(WEBSOCKETS);
    let addr = gateway.addr();
    let mut stream = connect(addr);
    send(
        &mut stream,
        format!(
            "GET /.json HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {}\r\n\r\n",
            ws_client::KEY
        )
        .as_bytes(),
    );
    let missing = read_response(&mut stream).expect("an answer");
    expect_status(&missing, 426);
    expect_text_error(&missing);
    assert_eq!(missing.header("sec-websocket-version"), Some("13"));
    assert!(
        missing.text().contains("missing sec-websocket-version"),
        "{missing:?}"
    );
    let wrong = handshake(addr, "/.json", "8", ws_client::KEY);
    expect_status(&wrong, 426);
    assert_eq!(wrong.header("sec-websocket-version"), Some("13"));
    assert!(
        wrong.text().contains("unsupported sec-websocket-version"),
        "{wrong:?}"
    );
}
