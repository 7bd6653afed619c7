//! Bytes a client sent that are not consumed yet: the input buffer of a connection.
//!
//! A served request is consumed by moving a mark, not by shifting what follows it: a client that
//! pipelines thousands of small requests must not cost a copy of all the others per request (it
//! did: the workers then spent most of their time in `memmove`). What is consumed is dropped from
//! the front only when it is at least half the buffer, so each byte is moved at most once or twice.

/// Largest read into an input in one go (one read per connection visited).
pub const READ_CHUNK: usize = 64 * 1024;
/// An input buffer with more capacity than this is freed once it is empty, so that an idle
/// keep-alive connection does not keep the buffer of a large body.
pub const KEEP_INPUT_BYTES: usize = 256 * 1024;

/// Received bytes; `buf[pos..]` is not consumed yet.
#[derive(Debug, Default)]
pub struct Input {
    buf: Vec<u8>,
    pos: usize,
}

impl Input {
    /// The bytes not consumed yet.
    pub fn bytes(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// How many bytes are not consumed yet.
    pub fn len(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when every byte is consumed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The memory the buffer holds (its capacity), for the memory budget.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Appends received bytes, first dropping what is consumed when that is at least half the
    /// buffer.
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Consumes the first `n` bytes (at most all). A buffer left empty is cleared, and freed when
    /// it grew large (an idle connection keeps no large buffer).
    pub fn consume(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.buf.len());
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            if self.buf.capacity() > KEEP_INPUT_BYTES {
                self.buf = Vec::new();
            }
        }
    }

    /// Drops every byte and frees the buffer.
    pub fn free(&mut self) {
        self.buf = Vec::new();
        self.pos = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consuming_moves_a_mark_and_compacts_at_half() {
        let mut input = Input::default();
        input.extend(b"GET /a\nGET /b\nGET /c\n");
        input.consume(7);
        assert_eq!(input.bytes(), b"GET /b\nGET /c\n");
        assert_eq!(input.pos, 7, "consumed by moving the mark, nothing shifted");
        input.consume(7);
        input.extend(b"GET /d\n");
        assert_eq!(input.bytes(), b"GET /c\nGET /d\n");
        assert_eq!(
            input.pos, 0,
            "the consumed half was dropped before appending"
        );
        input.consume(100);
        assert!(input.is_empty());
    }

    #[test]
    fn a_large_empty_buffer_is_freed() {
        let mut input = Input::default();
        input.extend(&vec![0; KEEP_INPUT_BYTES + 1]);
        input.consume(KEEP_INPUT_BYTES + 1);
        assert_eq!(input.capacity(), 0);
        input.extend(&[1; 10]);
        input.consume(10);
        assert!(input.capacity() >= 10, "a small buffer is kept for reuse");
    }
}
