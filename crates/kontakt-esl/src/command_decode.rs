//! Server-side decoding of client commands (what FreeSWITCH's `mod_event_socket` reads),
//! for the emulator.
//!
//! A command is a block of lines ended by a blank line: the first line is the command
//! (`api status`, `sendmsg <uuid>`), the following `name: value` lines are headers
//! (`call-command: execute`, `Job-UUID: ...`), and a `content-length` header (any case)
//! announces a body that follows the blank line (`sendevent` bodies, long
//! `execute-app-arg`s). Like FreeSWITCH, header values are taken verbatim (clients do not
//! URL-encode command headers). The same limits as for the frame decoder apply.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::DecodeError;
use crate::headers::Headers;
use crate::limits::Limits;
use crate::percent::lossy;

/// One command as received from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedCommand {
    line: String,
    headers: Headers,
    body: Bytes,
}

impl ReceivedCommand {
    /// The whole command line, e.g. `event plain CHANNEL_ANSWER DTMF`.
    pub fn line(&self) -> &str {
        &self.line
    }

    /// The command word, e.g. `event`, `api`, `sendmsg`, `filter`.
    pub fn name(&self) -> &str {
        self.line.split(' ').next().unwrap_or_default()
    }

    /// Everything after the command word (and one space), e.g. `plain CHANNEL_ANSWER DTMF`.
    pub fn args(&self) -> &str {
        self.line.split_once(' ').map_or("", |(_, rest)| rest)
    }

    /// The headers after the command line, in order (values verbatim).
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// The body announced by `content-length` (empty if none).
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

#[derive(Debug)]
enum State {
    Head { line_start: usize, lines: usize },
    Body { cmd: ReceivedCommand, len: usize },
    Failed(DecodeError),
}

/// Turns the bytes a client sends into [`ReceivedCommand`]s (the emulator's side of the
/// socket). Same calling convention as [`crate::Decoder`].
#[derive(Debug)]
pub struct CommandDecoder {
    buf: BytesMut,
    limits: Limits,
    state: State,
}

impl Default for CommandDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl CommandDecoder {
    /// A decoder with [`Limits::DEFAULT`].
    pub fn new() -> Self {
        Self::with_limits(Limits::DEFAULT)
    }

    /// A decoder with custom limits.
    pub fn with_limits(limits: Limits) -> Self {
        CommandDecoder {
            buf: BytesMut::new(),
            limits,
            state: State::Head { line_start: 0, lines: 0 },
        }
    }

    /// Appends received bytes (discarded after a fatal error).
    pub fn feed(&mut self, data: &[u8]) {
        if !matches!(self.state, State::Failed(_)) {
            self.buf.extend_from_slice(data);
        }
    }

    /// The next complete command, `Ok(None)` when more bytes are needed.
    pub fn decode(&mut self) -> Result<Option<ReceivedCommand>, DecodeError> {
        loop {
            match std::mem::replace(&mut self.state, State::Head { line_start: 0, lines: 0 }) {
                State::Failed(e) => {
                    self.state = State::Failed(e.clone());
                    return Err(e);
                }
                State::Body { mut cmd, len } => {
                    if self.buf.len() < len {
                        self.state = State::Body { cmd, len };
                        return Ok(None);
                    }
                    cmd.body = self.buf.split_to(len).freeze();
                    return Ok(Some(cmd));
                }
                State::Head { mut line_start, mut lines } => {
                    match self.scan(&mut line_start, &mut lines) {
                        Err(e) => return Err(self.fail(e)),
                        Ok(None) => {
                            self.state = State::Head { line_start, lines };
                            return Ok(None);
                        }
                        Ok(Some(end)) => {
                            let head = self.buf.split_to(end);
                            let cmd = match parse(&head, &self.limits) {
                                Ok(c) => c,
                                Err(e) => return Err(self.fail(e)),
                            };
                            let len = match content_length(&cmd, &self.limits) {
                                Ok(l) => l,
                                Err(e) => return Err(self.fail(e)),
                            };
                            if len == 0 {
                                return Ok(Some(cmd));
                            }
                            self.state = State::Body { cmd, len };
                        }
                    }
                }
            }
        }
    }

    /// At end of stream: an error if a command was cut off.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match &self.state {
            State::Failed(e) => Err(e.clone()),
            State::Body { .. } => Err(DecodeError::Truncated { buffered: self.buf.len() }),
            State::Head { .. } if self.buf.iter().all(|b| matches!(b, b'\n' | b'\r')) => Ok(()),
            State::Head { .. } => Err(DecodeError::Truncated { buffered: self.buf.len() }),
        }
    }

    fn fail(&mut self, e: DecodeError) -> DecodeError {
        self.state = State::Failed(e.clone());
        self.buf = BytesMut::new();
        e
    }

    fn scan(
        &mut self,
        line_start: &mut usize,
        lines: &mut usize,
    ) -> Result<Option<usize>, DecodeError> {
        let max_line = self.limits.max_line_len;
        loop {
            let rest = self.buf.get(*line_start..).unwrap_or_default();
            let Some(i) = memchr::memchr(b'\n', rest) else {
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
                    // Stray blank lines between commands (e.g. `\n\n\n`) are ignored.
                    self.buf.advance(i + 1);
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
}

fn parse(head: &[u8], limits: &Limits) -> Result<ReceivedCommand, DecodeError> {
    let text = lossy(head);
    let mut lines = text.lines().filter(|l| !l.is_empty());
    let line = lines.next().unwrap_or_default().to_owned();
    let mut headers = Headers::new();
    for l in lines {
        let Some((name, value)) = l.split_once(':') else {
            return Err(DecodeError::MalformedHeaderLine { line: l.chars().take(200).collect() });
        };
        if headers.len() >= limits.max_headers {
            return Err(DecodeError::TooManyHeaders { limit: limits.max_headers });
        }
        headers.push(name, value.trim_start_matches(' '));
    }
    Ok(ReceivedCommand { line, headers, body: Bytes::new() })
}

fn content_length(cmd: &ReceivedCommand, limits: &Limits) -> Result<usize, DecodeError> {
    let Some(v) = cmd.header("content-length") else {
        return Ok(0);
    };
    let t = v.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecodeError::InvalidContentLength { value: v.to_owned() });
    }
    let limit = limits.max_content_length;
    match t.parse::<u64>() {
        Ok(n) => match usize::try_from(n) {
            Ok(len) if len <= limit => Ok(len),
            _ => Err(DecodeError::ContentLengthTooLarge { length: n, limit }),
        },
        Err(_) => Err(DecodeError::ContentLengthTooLarge { length: u64::MAX, limit }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_with_headers_and_body() {
        let mut d = CommandDecoder::new();
        d.feed(b"auth ClueCon\n\nbgapi status\nJob-UUID: j1\n\n\nsendmsg\ncall-command: execute\n");
        let c = d.decode().unwrap().unwrap();
        assert_eq!((c.name(), c.args()), ("auth", "ClueCon"));
        let c = d.decode().unwrap().unwrap();
        assert_eq!(c.header("job-uuid"), Some("j1"));
        assert_eq!(d.decode(), Ok(None));
        d.feed(b"execute-app-name: speak\nContent-Type: text/plain\nContent-Length: 3\n\na\nb");
        let c = d.decode().unwrap().unwrap();
        assert_eq!(c.name(), "sendmsg");
        assert_eq!(c.args(), "");
        assert_eq!(&c.body()[..], b"a\nb");
        d.finish().unwrap();
        d.feed(b"exit\n");
        assert!(d.finish().is_err());
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut d = CommandDecoder::new();
        d.feed(b"sendevent X\nbroken\n\n");
        assert!(matches!(d.decode(), Err(DecodeError::MalformedHeaderLine { .. })));
        let mut d = CommandDecoder::new();
        d.feed(b"sendevent X\ncontent-length: -1\n\n");
        assert!(matches!(d.decode(), Err(DecodeError::InvalidContentLength { .. })));
    }
}
