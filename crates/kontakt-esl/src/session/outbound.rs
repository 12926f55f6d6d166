//! The outbound session: FreeSWITCH connected to us (`socket <addr> async full` in the
//! dialplan) for one channel.
//!
//! ```text
//! New --(connect sent by new())--> Connecting --channel data reply--> Connected
//! Connected --CHANNEL_HANGUP--> Connected (hung_up) --disconnect-notice / handle_close--> Closed
//! ```
//! Application execution is tracked by the `Event-UUID` we put in the `sendmsg`:
//! FreeSWITCH copies it into `Application-UUID` of `CHANNEL_EXECUTE_COMPLETE`, which is
//! the only reliable way to match a completion when the same application runs twice.
//! With `linger`, FreeSWITCH keeps the socket open after the hangup and keeps delivering
//! the channel's final events, then sends `text/disconnect-notice`
//! (`Content-Disposition: linger`) and closes.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

use super::{CommandId, Core, Expect, FailReason};
use crate::encode::{Command, EventFormat, SendMsg};
use crate::error::{DecodeError, SessionError};
use crate::event::Event;
use crate::limits::Limits;
use crate::message::{ContentType, Message};

/// Where the outbound session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutboundState {
    /// `connect` queued/sent, waiting for the channel data.
    Connecting,
    /// The channel data arrived; commands may be sent.
    Connected,
    /// Disconnect notice received or connection closed.
    Closed,
}

impl OutboundState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Closed => "closed",
        }
    }
}

/// What the outbound session reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutboundOutput {
    /// The reply to `connect`: the channel's data (headers and variables).
    Connected {
        /// `CHANNEL_DATA`: `Unique-ID`, `Caller-*`, `variable_*`, ...
        channel_data: Event,
    },
    /// The `command/reply` to a command (for an execute: its acceptance; completion
    /// follows as [`OutboundOutput::ExecuteComplete`]).
    CommandReply {
        /// The command.
        id: CommandId,
        /// The reply.
        message: Message,
    },
    /// The `api/response` to an `api` command.
    ApiResponse {
        /// The command.
        id: CommandId,
        /// The output.
        body: Bytes,
    },
    /// `CHANNEL_EXECUTE_COMPLETE` of an application started with [`OutboundSession::execute`]
    /// (delivered instead of a plain [`OutboundOutput::Event`]).
    ExecuteComplete {
        /// The execute command.
        id: CommandId,
        /// The event (`Application`, `Application-Response`, `variable_*` results such as
        /// those of `play_and_get_digits`).
        event: Event,
    },
    /// The channel hung up: the first `CHANNEL_HANGUP` (or `CHANNEL_HANGUP_COMPLETE`) of
    /// the channel, delivered instead of an [`OutboundOutput::Event`]; later hangup events
    /// are ordinary events.
    Hangup {
        /// `Hangup-Cause`.
        cause: Option<String>,
        /// The event.
        event: Event,
    },
    /// Any other event.
    Event(Event),
    /// `text/disconnect-notice`: FreeSWITCH is done with the socket.
    Disconnected {
        /// `Content-Disposition: linger` (the final events were delivered first).
        linger: bool,
        /// The notice.
        message: Message,
    },
    /// A command that will never complete: the connection closed (or the channel went
    /// away) before its reply or completion arrived, or the reply had the wrong type.
    CommandFailed {
        /// The command.
        id: CommandId,
        /// Why.
        reason: FailReason,
    },
    /// FreeSWITCH sent something that does not fit the conversation.
    ProtocolViolation {
        /// What happened.
        what: String,
        /// The message.
        message: Message,
    },
}

/// The outbound ESL session for one channel.
#[derive(Debug)]
pub struct OutboundSession {
    core: Core,
    state: OutboundState,
    unique_id: Option<String>,
    hung_up: bool,
    /// Event-UUID -> execute command, from acceptance until CHANNEL_EXECUTE_COMPLETE.
    executions: HashMap<String, CommandId>,
    outputs: VecDeque<OutboundOutput>,
}

impl Default for OutboundSession {
    fn default() -> Self {
        Self::new()
    }
}

impl OutboundSession {
    /// A session for a connection FreeSWITCH just opened; `connect` is queued at once
    /// (it must be the first thing we send).
    pub fn new() -> Self {
        Self::with_limits(Limits::DEFAULT)
    }

    /// Like [`OutboundSession::new`], with custom decoder limits.
    pub fn with_limits(limits: Limits) -> Self {
        let mut core = Core::new(limits);
        // `connect` has no arguments: encoding cannot fail.
        let _ = core.send(&Command::Connect, Expect::Reply);
        OutboundSession {
            core,
            state: OutboundState::Connecting,
            unique_id: None,
            hung_up: false,
            executions: HashMap::new(),
            outputs: VecDeque::new(),
        }
    }

    /// The current state.
    pub fn state(&self) -> OutboundState {
        self.state
    }

    /// The channel's `Unique-ID` (after [`OutboundOutput::Connected`]).
    pub fn unique_id(&self) -> Option<&str> {
        self.unique_id.as_deref()
    }

    /// Whether `CHANNEL_HANGUP` was seen for the channel.
    pub fn is_hung_up(&self) -> bool {
        self.hung_up
    }

    /// Applications started and not completed yet.
    pub fn pending_executions(&self) -> usize {
        self.executions.len()
            + self.core.pending.iter().filter(|p| matches!(p.expect, Expect::Execute(_))).count()
    }

    /// Feeds bytes read from the socket.
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        let mut msgs = Vec::new();
        let r = self.core.input(bytes, |m| msgs.push(m));
        for m in msgs {
            self.handle_message(m);
        }
        r
    }

    /// Processes one decoded message.
    pub fn handle_message(&mut self, msg: Message) {
        match msg.content_type() {
            ContentType::CommandReply | ContentType::ApiResponse => self.on_reply(msg),
            ContentType::EventPlain | ContentType::EventJson | ContentType::EventXml => {
                if let Some(ev) = msg.into_event() {
                    self.on_event(ev);
                }
            }
            ContentType::DisconnectNotice => {
                self.state = OutboundState::Closed;
                let linger = msg.header("Content-Disposition") == Some("linger");
                self.outputs.push_back(OutboundOutput::Disconnected { linger, message: msg });
            }
            _ => self.violation("unexpected Content-Type", msg),
        }
    }

    /// The connection is gone: pending commands and executions fail.
    pub fn handle_close(&mut self) {
        self.state = OutboundState::Closed;
        while let Some(p) = self.core.pending.pop_front() {
            self.outputs.push_back(OutboundOutput::CommandFailed {
                id: p.id,
                reason: FailReason::ConnectionClosed,
            });
        }
        let mut ids: Vec<_> = self.executions.drain().map(|(_, id)| id).collect();
        ids.sort();
        for id in ids {
            self.outputs.push_back(OutboundOutput::CommandFailed {
                id,
                reason: FailReason::ConnectionClosed,
            });
        }
    }

    /// Bytes to write to the socket, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.core.poll_transmit()
    }

    /// The next result or event, if any.
    pub fn poll_output(&mut self) -> Option<OutboundOutput> {
        self.outputs.pop_front()
    }

    /// `myevents [format]`: receive the events of this channel.
    pub fn send_myevents(&mut self, format: EventFormat) -> Result<CommandId, SessionError> {
        self.send_command(&Command::MyEvents { uuid: None, format: Some(format) })
    }

    /// `linger [secs]`: keep the socket open after hangup to receive the final events.
    pub fn send_linger(&mut self, secs: Option<u32>) -> Result<CommandId, SessionError> {
        self.send_command(&Command::Linger(secs))
    }

    /// `sendmsg` `execute` of `app` with `Event-UUID: event_uuid` (caller-chosen, unique
    /// per session) and `event-lock: true`. Completion is reported as
    /// [`OutboundOutput::ExecuteComplete`] with the same id.
    pub fn execute(
        &mut self,
        app: &str,
        arg: Option<&str>,
        event_uuid: &str,
    ) -> Result<CommandId, SessionError> {
        let msg = SendMsg::execute(app, arg).event_lock(true).event_uuid(event_uuid);
        self.send_command(&Command::SendMsg { uuid: None, msg })
    }

    /// `sendmsg` `hangup` with an optional cause.
    pub fn hangup(&mut self, cause: Option<&str>) -> Result<CommandId, SessionError> {
        self.send_command(&Command::SendMsg { uuid: None, msg: SendMsg::hangup(cause) })
    }

    /// Any command. A `sendmsg` `execute` with an `Event-UUID` is tracked to its
    /// completion, like [`OutboundSession::execute`].
    pub fn send_command(&mut self, cmd: &Command<'_>) -> Result<CommandId, SessionError> {
        if self.state != OutboundState::Connected || matches!(cmd, Command::Connect) {
            return Err(SessionError::NotReady { command: cmd.name(), state: self.state.as_str() });
        }
        let expect = match cmd {
            Command::Api { .. } => Expect::Api,
            Command::BgApi { .. } => Expect::BgApi(None),
            Command::SendMsg { msg, .. }
                if matches!(msg.command, crate::encode::CallCommand::Execute { .. }) =>
            {
                if let Some(u) = msg.event_uuid
                    && (self.executions.contains_key(u) || self.pending_execution(u))
                {
                    return Err(SessionError::DuplicateId { kind: "Event-UUID", id: u.to_owned() });
                }
                Expect::Execute(msg.event_uuid.map(str::to_owned))
            }
            _ => Expect::Reply,
        };
        self.core.send(cmd, expect)
    }

    fn pending_execution(&self, uuid: &str) -> bool {
        self.core.pending.iter().any(|p| matches!(&p.expect, Expect::Execute(Some(u)) if u == uuid))
    }

    fn on_reply(&mut self, msg: Message) {
        if self.state == OutboundState::Connecting {
            let _ = self.core.pending.pop_front();
            match msg.event().cloned() {
                Some(channel_data) if msg.content_type() == ContentType::CommandReply => {
                    self.state = OutboundState::Connected;
                    self.unique_id = channel_data.unique_id().map(str::to_owned);
                    self.outputs.push_back(OutboundOutput::Connected { channel_data });
                }
                _ => self.violation("connect reply without channel data", msg),
            }
            return;
        }
        let Some(p) = self.core.take_reply_target(&msg) else {
            return self.violation("reply with no command pending", msg);
        };
        match (msg.content_type(), p.expect) {
            (ContentType::ApiResponse, Expect::Api) => {
                let body = msg.body().clone();
                self.outputs.push_back(OutboundOutput::ApiResponse { id: p.id, body });
            }
            (ContentType::CommandReply, Expect::Execute(Some(uuid))) => {
                // A refused execute (-ERR) will never complete: do not track it.
                if msg.is_ok() {
                    self.executions.insert(uuid, p.id);
                }
                self.outputs.push_back(OutboundOutput::CommandReply { id: p.id, message: msg });
            }
            (ContentType::CommandReply, _) => {
                self.outputs.push_back(OutboundOutput::CommandReply { id: p.id, message: msg });
            }
            (_, expect) => {
                self.outputs.push_back(OutboundOutput::CommandFailed {
                    id: p.id,
                    reason: FailReason::ProtocolViolation,
                });
                let what = format!("reply type does not match the pending command ({expect:?})");
                self.violation(&what, msg);
            }
        }
    }

    fn on_event(&mut self, ev: Event) {
        match ev.name() {
            Some("CHANNEL_EXECUTE_COMPLETE") => {
                if let Some(id) = ev.application_uuid().and_then(|u| self.executions.remove(u)) {
                    self.outputs.push_back(OutboundOutput::ExecuteComplete { id, event: ev });
                    return;
                }
            }
            // CHANNEL_HANGUP_COMPLETE counts too, for subscriptions without CHANNEL_HANGUP.
            Some("CHANNEL_HANGUP" | "CHANNEL_HANGUP_COMPLETE")
                if !self.hung_up && self.is_own(&ev) =>
            {
                self.hung_up = true;
                let cause = ev.hangup_cause().map(str::to_owned);
                self.outputs.push_back(OutboundOutput::Hangup { cause, event: ev });
                return;
            }
            _ => {}
        }
        self.outputs.push_back(OutboundOutput::Event(ev));
    }

    fn is_own(&self, ev: &Event) -> bool {
        match (&self.unique_id, ev.unique_id()) {
            (Some(own), Some(u)) => own == u,
            _ => true,
        }
    }

    fn violation(&mut self, what: &str, message: Message) {
        self.outputs
            .push_back(OutboundOutput::ProtocolViolation { what: what.to_owned(), message });
    }
}
