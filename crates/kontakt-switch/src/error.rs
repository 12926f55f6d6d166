//! The errors of the client and the server.

use std::time::Duration;

use kontakt_esl::{DecodeError, Event, SessionError};
use thiserror::Error;

/// Why an ESL operation failed. `Clone`, so that one failure (a dead connection) can be
/// delivered to every call that was waiting on it.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket operation failed (connect refused, reset, ...).
    #[error("{context}: {reason}")]
    Io {
        /// What we were doing.
        context: &'static str,
        /// The `io::ErrorKind`.
        kind: std::io::ErrorKind,
        /// The error text.
        reason: String,
    },
    /// FreeSWITCH refused the password (`-ERR invalid`). Permanent until the
    /// configuration changes.
    #[error("authentication refused by FreeSWITCH: {reply}")]
    AuthFailed {
        /// FreeSWITCH's `Reply-Text`.
        reply: String,
    },
    /// FreeSWITCH refused the connection (`text/rude-rejection`: the ACL of
    /// `event_socket.conf` does not admit our address), or said goodbye before we
    /// authenticated.
    #[error("FreeSWITCH rejected the connection: {reason}")]
    Rejected {
        /// FreeSWITCH's text.
        reason: String,
    },
    /// The connection died while the operation was in flight; its result will never come.
    #[error("connection lost before the result arrived: {reason}")]
    ConnectionLost {
        /// Why the connection ended.
        reason: String,
    },
    /// The client is between connections (reconnecting); nothing was sent.
    #[error("not connected to FreeSWITCH ({state})")]
    NotConnected {
        /// The connection state, for the message.
        state: String,
    },
    /// No result within the allotted time (the command may still complete later).
    #[error("{what} timed out after {after:?}")]
    Timeout {
        /// What timed out.
        what: String,
        /// The timeout.
        after: Duration,
    },
    /// FreeSWITCH answered `-ERR ...`.
    #[error("{command} refused: {reply}")]
    CommandFailed {
        /// The command (`event`, `filter`, `bgapi`, `execute playback`, ...).
        command: String,
        /// FreeSWITCH's `Reply-Text`.
        reply: String,
    },
    /// The byte stream from FreeSWITCH could not be decoded (the connection was dropped).
    #[error("ESL stream from FreeSWITCH is malformed: {0}")]
    Decode(#[from] DecodeError),
    /// The command could not be sent (bad argument, wrong state).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// FreeSWITCH sent something that does not fit the conversation.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The channel hung up before the application completed (outbound calls). When the
    /// `CHANNEL_EXECUTE_COMPLETE` still arrived after the hangup (with `linger`), it is in
    /// `completion` (e.g. `variable_read_result=failure` of an interrupted
    /// `play_and_get_digits`).
    #[error("channel hung up ({})", cause.as_deref().unwrap_or("no cause"))]
    Hangup {
        /// `Hangup-Cause` of the channel.
        cause: Option<String>,
        /// The completion event, if FreeSWITCH delivered it after the hangup.
        completion: Option<Box<Event>>,
    },
    /// The client or call was shut down by us.
    #[error("shut down")]
    Shutdown,
}

impl Error {
    pub(crate) fn io(context: &'static str, e: &std::io::Error) -> Self {
        Error::Io { context, kind: e.kind(), reason: e.to_string() }
    }

    /// Whether retrying cannot help without a configuration change (authentication).
    pub fn is_permanent(&self) -> bool {
        matches!(self, Error::AuthFailed { .. } | Error::Rejected { .. })
    }
}
