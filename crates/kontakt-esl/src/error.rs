//! Typed errors of the codec and the session state machines.

use thiserror::Error;

/// Why a byte stream could not be decoded.
///
/// Every variant except [`DecodeError::MalformedEvent`] is fatal for the connection:
/// the framing can no longer be trusted and the decoder refuses further input (it keeps
/// returning the same error). `MalformedEvent` leaves framing intact: the frame has been
/// consumed and the decoder can continue with the next one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A header line (or the bytes buffered while waiting for its line feed) is longer
    /// than [`crate::Limits::max_line_len`].
    #[error("header line longer than {limit} bytes")]
    LineTooLong {
        /// The configured limit.
        limit: usize,
    },
    /// A header block has more lines than [`crate::Limits::max_headers`].
    #[error("more than {limit} headers in one header block")]
    TooManyHeaders {
        /// The configured limit.
        limit: usize,
    },
    /// A header block is larger than [`crate::Limits::max_header_block`].
    #[error("header block larger than {limit} bytes")]
    HeaderBlockTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// A header line without a `:` separator.
    #[error("malformed header line (no ':'): {line:?}")]
    MalformedHeaderLine {
        /// The offending line, lossily decoded and truncated to 200 bytes.
        line: String,
    },
    /// `Content-Length` is not a non-negative decimal integer (libesl rejects `-1`).
    #[error("invalid Content-Length {value:?}")]
    InvalidContentLength {
        /// The value as received.
        value: String,
    },
    /// `Content-Length` is above [`crate::Limits::max_content_length`].
    #[error("Content-Length {length} exceeds the limit of {limit} bytes")]
    ContentLengthTooLarge {
        /// The announced length.
        length: u64,
        /// The configured limit.
        limit: usize,
    },
    /// The stream ended in the middle of a frame.
    #[error("stream ended inside a frame ({buffered} bytes of an incomplete frame buffered)")]
    Truncated {
        /// How many bytes of the incomplete frame had been received.
        buffered: usize,
    },
    /// A `text/event-json` or `text/event-xml` body that cannot be parsed, or an event with
    /// too many headers. Not fatal: the frame was consumed.
    #[error("malformed {content_type} event: {reason}")]
    MalformedEvent {
        /// The frame's Content-Type.
        content_type: String,
        /// What was wrong.
        reason: String,
    },
    /// Writing decoded output failed (only from [`crate::decode_to_json_lines`]).
    #[error("writing output failed: {reason}")]
    Write {
        /// The I/O error, as text (so that this type stays `Clone` and `Eq`).
        reason: String,
    },
}

impl DecodeError {
    /// Whether the connection must be dropped (framing is lost).
    pub fn is_fatal(&self) -> bool {
        !matches!(self, DecodeError::MalformedEvent { .. } | DecodeError::Write { .. })
    }
}

/// Why a command could not be encoded.
///
/// ESL is line-based: a line feed inside a command argument or header value would let the
/// rest of the value be read as another header or even another command (command
/// injection), so the encoder refuses such input instead of sending it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A field that is written on a header or command line contains CR or LF.
    #[error("{field} must not contain a line break")]
    LineBreak {
        /// Which field.
        field: &'static str,
    },
    /// A field that must not be empty is empty (e.g. an `api` command, an event name).
    #[error("{field} must not be empty")]
    Empty {
        /// Which field.
        field: &'static str,
    },
    /// A field that is one space-separated word contains whitespace.
    #[error("{field} must be a single word (no whitespace)")]
    Whitespace {
        /// Which field.
        field: &'static str,
    },
    /// A header name contains `:` or whitespace.
    #[error("invalid header name {name:?}")]
    InvalidHeaderName {
        /// The name.
        name: String,
    },
}

/// Why a session refused an operation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The session is not in a state where this command may be sent (e.g. before
    /// authentication, or after the connection was closed).
    #[error("cannot send {command}: session is {state}")]
    NotReady {
        /// The command attempted.
        command: &'static str,
        /// The session state, for the message.
        state: &'static str,
    },
    /// The command could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A `bgapi` Job-UUID or execute Event-UUID is already pending.
    #[error("{kind} {id} is already pending")]
    DuplicateId {
        /// `Job-UUID` or `Event-UUID`.
        kind: &'static str,
        /// The duplicate id.
        id: String,
    },
}
