//! The sans-IO frame decoder: bytes in any chunking in, complete [`Message`]s out.
//!
//! The decoder owns one growable buffer. Scanning for the end of the header block is
//! incremental (we remember where the current line starts and how many lines we have
//! seen), so feeding a frame one byte at a time costs linear, not quadratic, time, and
//! every limit is checked *before* the corresponding bytes could pile up: a line without
//! a line feed is rejected as soon as it exceeds the line limit, a body only has to be
//! buffered once its `Content-Length` has passed the size check. Bodies are split off the
//! buffer without copying.

use bytes::{Buf, BytesMut};

use crate::error::DecodeError;
use crate::headers::{BlockError, Headers};
use crate::limits::Limits;
use crate::message::Message;

#[derive(Debug)]
enum State {
    /// Reading the outer header block.
    Head { line_start: usize, lines: usize },
    /// Waiting for `len` body bytes.
    Body { headers: Headers, len: usize },
    /// A fatal error happened; the connection's framing is lost.
    Failed(DecodeError),
}

/// Turns a byte stream from FreeSWITCH into [`Message`]s.
///
/// Memory: as long as `decode` is called after each `feed`, the buffer holds at most one
/// incomplete frame, i.e. about `max_header_block + max_line_len` bytes while reading
/// headers or `max_content_length` bytes while reading a body, plus the last chunk fed.
///
/// ```ignore
/// let mut dec = Decoder::new();
/// dec.feed(&bytes_read);
/// while let Some(msg) = dec.decode()? { /* ... */ }
/// // at end of stream:
/// dec.finish()?; // errors if a frame was cut off
/// ```
#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    limits: Limits,
    state: State,
    consumed: u64,
    scratch: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder with [`Limits::DEFAULT`].
    pub fn new() -> Self {
        Self::with_limits(Limits::DEFAULT)
    }

    /// A decoder with custom limits.
    pub fn with_limits(limits: Limits) -> Self {
        Decoder {
            buf: BytesMut::with_capacity(16 * 1024),
            limits,
            state: State::Head { line_start: 0, lines: 0 },
            consumed: 0,
            scratch: Vec::new(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Appends received bytes. Nothing is parsed until [`Decoder::decode`] is called.
    /// After a fatal error the input is discarded.
    pub fn feed(&mut self, data: &[u8]) {
        if !matches!(self.state, State::Failed(_)) {
            self.buf.extend_from_slice(data);
        }
    }

    /// Bytes of complete frames returned so far (plus skipped blank lines between frames).
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Bytes received but not yet returned as a message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Returns the next complete message, `Ok(None)` when more bytes are needed.
    ///
    /// A fatal error is returned again on every later call.
    pub fn decode(&mut self) -> Result<Option<Message>, DecodeError> {
        loop {
            match &mut self.state {
                State::Failed(e) => return Err(e.clone()),
                State::Head { line_start, lines } => {
                    let mut ls = *line_start;
                    let mut n = *lines;
                    let scan = self.scan_head(&mut ls, &mut n);
                    self.state = State::Head { line_start: ls, lines: n };
                    match scan {
                        Err(e) => return Err(self.fail(e)),
                        Ok(None) => return Ok(None),
                        Ok(Some(end)) => {
                            let head = self.buf.get(..end).unwrap_or_default();
                            let parsed = parse_head(head, n, &self.limits, &mut self.scratch);
                            self.buf.advance(end);
                            self.consumed += end as u64;
                            self.state = State::Head { line_start: 0, lines: 0 };
                            let headers = match parsed {
                                Ok(h) => h,
                                Err(e) => return Err(self.fail(e)),
                            };
                            let len = match self.content_length(&headers) {
                                Ok(l) => l,
                                Err(e) => return Err(self.fail(e)),
                            };
                            if len == 0 {
                                return self.build(headers, bytes::Bytes::new()).map(Some);
                            }
                            self.state = State::Body { headers, len };
                        }
                    }
                }
                State::Body { len, .. } => {
                    let len = *len;
                    if self.buf.len() < len {
                        return Ok(None);
                    }
                    let prev =
                        std::mem::replace(&mut self.state, State::Head { line_start: 0, lines: 0 });
                    let State::Body { headers, .. } = prev else {
                        return Ok(None);
                    };
                    let body = self.buf.split_to(len).freeze();
                    self.consumed += len as u64;
                    return self.build(headers, body).map(Some);
                }
            }
        }
    }

    /// Call at end of stream: an error if the stream stopped inside a frame (or had
    /// already failed). Blank lines left over between frames are not an error.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match &self.state {
            State::Failed(e) => Err(e.clone()),
            State::Body { .. } => Err(DecodeError::Truncated { buffered: self.buf.len() }),
            State::Head { .. } => {
                if self.buf.iter().all(|b| matches!(b, b'\n' | b'\r')) {
                    Ok(())
                } else {
                    Err(DecodeError::Truncated { buffered: self.buf.len() })
                }
            }
        }
    }

    fn fail(&mut self, e: DecodeError) -> DecodeError {
        self.state = State::Failed(e.clone());
        self.buf = BytesMut::new();
        e
    }

    fn build(&mut self, headers: Headers, body: bytes::Bytes) -> Result<Message, DecodeError> {
        Message::with_limits(headers, body, &self.limits, &mut self.scratch)
    }

    /// Scans for the blank line that ends the header block. Returns its end offset.
    fn scan_head(
        &mut self,
        line_start: &mut usize,
        lines: &mut usize,
    ) -> Result<Option<usize>, DecodeError> {
        let max_line = self.limits.max_line_len;
        loop {
            let rest = self.buf.get(*line_start..).unwrap_or_default();
            let Some(i) = memchr::memchr(b'\n', rest) else {
                // +1: a CR may still precede the line feed that has not arrived yet.
                if rest.len() > max_line + 1 {
                    return Err(DecodeError::LineTooLong { limit: max_line });
                }
                return Ok(None);
            };
            let line = rest.get(..i).unwrap_or_default();
            let line_len = line.strip_suffix(b"\r").unwrap_or(line).len();
            if line_len > max_line {
                return Err(DecodeError::LineTooLong { limit: max_line });
            }
            if line_len == 0 {
                if *lines == 0 {
                    // Blank line before any header: tolerate and discard it.
                    self.buf.advance(i + 1);
                    self.consumed += (i + 1) as u64;
                    *line_start = 0;
                    continue;
                }
                return Ok(Some(*line_start + i + 1));
            }
            *lines += 1;
            if *lines > self.limits.max_headers {
                return Err(DecodeError::TooManyHeaders { limit: self.limits.max_headers });
            }
            *line_start += i + 1;
            if *line_start > self.limits.max_header_block {
                return Err(DecodeError::HeaderBlockTooLarge {
                    limit: self.limits.max_header_block,
                });
            }
        }
    }

    fn content_length(&self, headers: &Headers) -> Result<usize, DecodeError> {
        let Some(v) = headers.get("Content-Length") else {
            return Ok(0);
        };
        let t = v.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DecodeError::InvalidContentLength { value: v.to_owned() });
        }
        let limit = self.limits.max_content_length;
        match t.parse::<u64>() {
            Ok(n) => match usize::try_from(n) {
                Ok(len) if len <= limit => Ok(len),
                _ => Err(DecodeError::ContentLengthTooLarge { length: n, limit }),
            },
            // All digits but does not fit in u64: certainly too large.
            Err(_) => Err(DecodeError::ContentLengthTooLarge { length: u64::MAX, limit }),
        }
    }
}

/// Parses the outer header block `head` (up to and including its blank line), which has
/// `lines` header lines. The plain-event fast path does the work when the block is valid
/// UTF-8 and every line is a `Name: value` header (then it finds exactly `lines`
/// headers); otherwise the strict general parser runs, replaces invalid UTF-8 before
/// decoding as it always did, and reports a malformed line.
fn parse_head(
    head: &[u8],
    lines: usize,
    limits: &Limits,
    scratch: &mut Vec<u8>,
) -> Result<Headers, DecodeError> {
    let text = crate::percent::lossy(head);
    if matches!(text, std::borrow::Cow::Borrowed(_))
        && let Ok(Some((headers, _))) = Headers::parse_block_owned(head, limits.max_headers)
        && headers.len() == lines
    {
        return Ok(headers);
    }
    let mut headers = Headers::with_capacity(text.len(), 4);
    crate::headers::parse_block(&text, true, limits.max_headers, &mut headers, scratch).map_err(
        |e| match e {
            BlockError::NoColon(line) => DecodeError::MalformedHeaderLine { line },
            BlockError::TooMany => DecodeError::TooManyHeaders { limit: limits.max_headers },
        },
    )?;
    Ok(headers)
}
