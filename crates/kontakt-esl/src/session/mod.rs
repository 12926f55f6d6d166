//! Sans-IO session state machines, in the style of str0m / quinn-proto.
//!
//! The caller owns the socket and the clock. It feeds received bytes
//! (`handle_input`) or already decoded messages (`handle_message`), calls `send_*` to
//! queue commands (each returns a [`CommandId`]), writes whatever `poll_transmit` returns,
//! and drains `poll_output` for results and events. When the connection ends it calls
//! `handle_close`, which fails every command still waiting, so no caller waits forever.
//! Timeouts are the I/O layer's business: it can drop the session and report them.
//!
//! FreeSWITCH answers the commands of one connection strictly in order, exactly one reply
//! per command (`api/response` for `api`, `command/reply` for everything else), so replies
//! are matched to commands first-in first-out.

mod inbound;
mod outbound;

use std::collections::VecDeque;

pub use inbound::{Credentials, InboundOutput, InboundSession, InboundState};
pub use outbound::{OutboundOutput, OutboundSession, OutboundState};

use crate::decode::Decoder;
use crate::encode::Command;
use crate::error::{DecodeError, SessionError};
use crate::limits::Limits;
use crate::message::{ContentType, Message};

/// Identifies a command sent through a session; returned by every `send_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(u64);

impl CommandId {
    /// The numeric value (monotonic per session, starting at 1).
    pub fn get(self) -> u64 {
        self.0
    }
}

/// Why a command will never get its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailReason {
    /// The connection closed before the reply (or the background job result) arrived.
    ConnectionClosed,
    /// FreeSWITCH answered with a reply of the wrong type; the session reported a
    /// protocol violation and the connection should be dropped.
    ProtocolViolation,
}

/// What a pending command expects.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// `command/reply`.
    Reply,
    /// `api/response`.
    Api,
    /// `command/reply` to `bgapi`, then a `BACKGROUND_JOB` with this Job-UUID (if the
    /// caller chose one; otherwise taken from the reply).
    BgApi(Option<String>),
    /// `command/reply` to a `sendmsg execute` with this Event-UUID, then
    /// `CHANNEL_EXECUTE_COMPLETE` with a matching `Application-UUID`.
    Execute(Option<String>),
}

#[derive(Debug)]
struct Pending {
    id: CommandId,
    expect: Expect,
}

/// The part common to both sessions: decoder, outgoing bytes, FIFO of pending commands.
#[derive(Debug)]
struct Core {
    decoder: Decoder,
    transmit: Vec<u8>,
    pending: VecDeque<Pending>,
    next_id: u64,
}

impl Core {
    fn new(limits: Limits) -> Self {
        Core {
            decoder: Decoder::with_limits(limits),
            transmit: Vec::new(),
            pending: VecDeque::new(),
            next_id: 1,
        }
    }

    fn next_id(&mut self) -> CommandId {
        let id = CommandId(self.next_id);
        self.next_id += 1;
        id
    }

    /// Encodes `cmd`, queues its bytes and registers what its reply will be.
    fn send(&mut self, cmd: &Command<'_>, expect: Expect) -> Result<CommandId, SessionError> {
        cmd.encode(&mut self.transmit)?;
        let id = self.next_id();
        self.pending.push_back(Pending { id, expect });
        Ok(id)
    }

    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.transmit.is_empty() { None } else { Some(std::mem::take(&mut self.transmit)) }
    }

    /// Decodes buffered input; `f` is called for every complete message. A non-fatal
    /// error (a malformed event body) does not stop the frames after it from being
    /// delivered; it is returned once everything decodable has been processed.
    fn input(&mut self, bytes: &[u8], mut f: impl FnMut(Message)) -> Result<(), DecodeError> {
        self.decoder.feed(bytes);
        let mut skipped = None;
        loop {
            match self.decoder.decode() {
                Ok(Some(m)) => f(m),
                Ok(None) => break,
                Err(e) if !e.is_fatal() => {
                    skipped.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        skipped.map_or(Ok(()), Err)
    }

    /// The oldest pending command if `msg` is a reply (`command/reply` or `api/response`).
    fn take_reply_target(&mut self, msg: &Message) -> Option<Pending> {
        match msg.content_type() {
            ContentType::CommandReply | ContentType::ApiResponse => self.pending.pop_front(),
            _ => None,
        }
    }
}
