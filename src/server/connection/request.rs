//! The request at the front of a connection's input: its parse progress (the head parsed once,
//! the body scanned as it arrives), `100 Continue`, the header and body timeouts, the body's
//! reservation in the memory budget, and taking the complete request off the input.

use std::io::Write;
use std::time::Instant;

use super::{Connection, Phase, SMALL_BODY};
use crate::http::{self, BodyScan, Head, ParseError, Request, Status};

/// Progress of the request at the front of the input.
#[derive(Debug, Default)]
pub(super) struct Progress {
    /// Its parsed head and the head's length, once complete.
    pub(super) head: Option<(Head, usize)>,
    /// How far its body is scanned.
    pub(super) scan: BodyScan,
    /// Whether `100 Continue` was already sent for it.
    pub(super) continue_sent: bool,
    /// When its first byte arrived.
    pub(super) started: Option<Instant>,
    /// Bytes arrived (or were left by a worker) since the input was last parsed.
    pub(super) unparsed: bool,
    /// Its declared body does not fit in the memory budget: it is refused unread.
    pub(super) over_budget: bool,
}

/// Whether a complete request waits at the front of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// A complete request, or bytes the parser rejects: a worker must answer.
    Ready,
    /// More bytes are needed.
    Waiting,
}

/// A request taken off a connection.
#[derive(Debug)]
pub enum Incoming {
    /// A complete request.
    Request(Request),
    /// Bytes the parser refused (the rest of the input is dropped).
    Bad(ParseError),
    /// A request whose declared body the memory budget cannot hold now (the rest of the input is
    /// dropped; it is answered 503 and the connection closes).
    OverBudget,
}

impl Connection {
    /// Advances the parse of the request at the front of the input. When its head asks for
    /// `100 Continue` and passed every check that does not need the body, the interim response
    /// is sent here (RFC 9110 §10.1.1: the client waits for it before sending the body).
    pub fn poll_request(&mut self, limits: &http::Limits) -> Readiness {
        if self.request.head.is_none() {
            match http::parse_head(self.input.bytes(), limits) {
                Ok(Status::Partial) => return Readiness::Waiting,
                Ok(Status::Complete(head)) => {
                    if let http::Framing::Length(declared) = head.0.framing {
                        // Limits before allocation: a large body is counted before it is read,
                        // and refused (before `100 Continue`) when the budget cannot hold it.
                        if declared > SMALL_BODY && !self.reserve_body(head.1 + declared) {
                            // A worker refuses it (503), before its body is read.
                            self.request.over_budget = true;
                            return Readiness::Ready;
                        }
                    }
                    self.request.head = Some(head);
                }
                Err(_) => return Readiness::Ready,
            }
        }
        let Some((head, head_len)) = &self.request.head else {
            return Readiness::Waiting;
        };
        let body = self.input.bytes().get(*head_len..).unwrap_or_default();
        match http::scan_body(body, head.framing, &mut self.request.scan, limits) {
            Ok(Status::Complete(_)) | Err(_) => Readiness::Ready,
            Ok(Status::Partial) => {
                if head.expect_continue && !self.request.continue_sent && body.is_empty() {
                    self.request.continue_sent = true;
                    const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
                    if self.stream.write(CONTINUE).ok() != Some(CONTINUE.len()) {
                        return Readiness::Ready; // the worker will find the socket broken
                    }
                }
                Readiness::Waiting
            }
        }
    }

    /// Whether the request being received has been too slow: its head must be complete within
    /// the header timeout of its first byte (`header_before`); its body may not pause longer
    /// than the body timeout (`body_before`).
    pub fn request_timed_out(
        &self,
        header_before: Option<Instant>,
        body_before: Option<Instant>,
    ) -> bool {
        let expired = |t: Instant, before: Option<Instant>| before.is_some_and(|b| t <= b);
        match (&self.request.head, self.request.started) {
            (None, Some(started)) => expired(started, header_before),
            (Some(_), _) => expired(self.schedule.last_activity, body_before),
            (None, None) => false,
        }
    }

    /// Takes the complete request at the front of the input, with when its first byte arrived;
    /// `None` while it is incomplete or the connection takes no request now (closing, or a
    /// stream). The head the poll loop already parsed (and its body scan) is reused.
    pub fn take_request(
        &mut self,
        limits: &http::Limits,
        now: Instant,
    ) -> Option<(Incoming, Instant)> {
        if !matches!(self.phase, Phase::Open) || self.input.is_empty() {
            return None;
        }
        let started = self.request.started.unwrap_or(now);
        if self.request.over_budget {
            let all = self.input.len();
            self.consume_request(all, now);
            return Some((Incoming::OverBudget, started));
        }
        self.schedule.gap = self
            .schedule
            .answered
            .map(|answered| started.saturating_duration_since(answered));
        match self.next_request(limits) {
            Ok(Status::Partial) => None,
            Ok(Status::Complete((req, used))) => {
                self.consume_request(used, now);
                Some((Incoming::Request(req), started))
            }
            Err(e) => {
                let all = self.input.len();
                self.consume_request(all, now);
                Some((Incoming::Bad(e), started))
            }
        }
    }

    /// Parses the request at the front of the input, reusing the cached head.
    fn next_request(
        &mut self,
        limits: &http::Limits,
    ) -> Result<Status<(Request, usize)>, ParseError> {
        let Some((head, head_len)) = self.request.head.take() else {
            return http::parse(self.input.bytes(), limits);
        };
        let body = self.input.bytes().get(head_len..).unwrap_or_default();
        match http::scan_body(body, head.framing, &mut self.request.scan, limits)? {
            Status::Complete(n) => {
                let body = http::decode_body(body.get(..n).unwrap_or_default(), head.framing);
                Ok(Status::Complete((Request { head, body }, head_len + n)))
            }
            Status::Partial => {
                self.request.head = Some((head, head_len));
                Ok(Status::Partial)
            }
        }
    }

    /// Removes the first request's `used` bytes and forgets its parse progress.
    fn consume_request(&mut self, used: usize, now: Instant) {
        self.input.consume(used);
        self.request = Progress {
            unparsed: !self.input.is_empty(),
            started: if self.input.is_empty() {
                None
            } else {
                Some(now)
            },
            ..Progress::default()
        };
        self.schedule.waiting_since = None;
        self.schedule.last_activity = now;
        self.reserved_body = 0;
        self.reaccount();
    }

    /// Reserves the memory of a request of `bytes` (its head and declared body); false when the
    /// budget cannot hold it.
    fn reserve_body(&mut self, bytes: usize) -> bool {
        let target = bytes.saturating_add(self.output.capacity());
        if !self.account.try_grow_to(target) {
            return false;
        }
        self.reserved_body = bytes;
        true
    }
}
