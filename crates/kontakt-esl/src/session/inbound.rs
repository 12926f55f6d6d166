//! The inbound client session: we connect to FreeSWITCH's port 8021.
//!
//! ```text
//! AwaitingAuthRequest --auth/request--> Authenticating --+OK accepted--> Ready
//!                                               \--------anything else--> AuthFailed
//! Ready --exit / disconnect-notice / handle_close--> Closed
//! ```
//! `bgapi` results arrive as `BACKGROUND_JOB` events broadcast to every subscriber, so they
//! are matched by `Job-UUID`, never by order. A `BACKGROUND_JOB` that is not ours is
//! delivered as an ordinary event.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

use super::{CommandId, Core, Expect, FailReason};
use crate::encode::Command;
use crate::error::{DecodeError, SessionError};
use crate::event::Event;
use crate::limits::Limits;
use crate::message::{ContentType, Message};

/// How to authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `auth <password>`
    Password(String),
    /// `userauth <user@domain>:<password>`
    User {
        /// `user@domain`
        user: String,
        /// The password.
        password: String,
    },
}

/// Where the inbound session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InboundState {
    /// Connected, waiting for FreeSWITCH's `auth/request`.
    AwaitingAuthRequest,
    /// `auth` sent, waiting for its reply.
    Authenticating,
    /// Authenticated: commands may be sent.
    Ready,
    /// The password was refused (FreeSWITCH disconnects next).
    AuthFailed,
    /// The connection is closed or closing (`exit`, disconnect notice, rude rejection).
    Closed,
}

impl InboundState {
    fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingAuthRequest => "awaiting auth/request",
            Self::Authenticating => "authenticating",
            Self::Ready => "ready",
            Self::AuthFailed => "auth failed",
            Self::Closed => "closed",
        }
    }
}

/// What the inbound session reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InboundOutput {
    /// `+OK accepted`.
    Authenticated,
    /// Authentication refused; `reply` is FreeSWITCH's text (e.g. `-ERR invalid`).
    AuthFailed {
        /// `Reply-Text`, or a description if the reply was not a `command/reply`.
        reply: String,
    },
    /// The `command/reply` to a command (check `message.is_ok()`, `reply_text()`).
    /// For `bgapi` this is the acceptance (`+OK Job-UUID: ...`); the result follows as
    /// [`InboundOutput::BackgroundJob`].
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
        /// The output of the API command.
        body: Bytes,
    },
    /// The `BACKGROUND_JOB` result of a `bgapi` sent by this session.
    BackgroundJob {
        /// The `bgapi` command.
        id: CommandId,
        /// Its Job-UUID.
        job_uuid: String,
        /// The event; its body is the API output (e.g. `+OK <uuid>\n`).
        event: Event,
    },
    /// Any other event.
    Event(Event),
    /// A `log/data` frame.
    Log(Message),
    /// FreeSWITCH says goodbye (`text/disconnect-notice`) or refused us
    /// (`text/rude-rejection`).
    Disconnected(Message),
    /// A command that will never complete (the connection closed first).
    CommandFailed {
        /// The command.
        id: CommandId,
        /// Why.
        reason: FailReason,
    },
    /// FreeSWITCH sent something that does not fit the conversation (e.g. a reply with
    /// no command pending, or an `api/response` where a `command/reply` was due). The
    /// connection should be dropped.
    ProtocolViolation {
        /// What happened.
        what: String,
        /// The message.
        message: Message,
    },
}

/// The inbound (client) ESL session.
#[derive(Debug)]
pub struct InboundSession {
    core: Core,
    state: InboundState,
    credentials: Credentials,
    /// bgapi Job-UUID -> command, once the bgapi was accepted.
    jobs: HashMap<String, CommandId>,
    outputs: VecDeque<InboundOutput>,
}

impl InboundSession {
    /// A session for a fresh connection.
    pub fn new(credentials: Credentials) -> Self {
        Self::with_limits(credentials, Limits::DEFAULT)
    }

    /// A session whose decoder uses custom limits.
    pub fn with_limits(credentials: Credentials, limits: Limits) -> Self {
        InboundSession {
            core: Core::new(limits),
            state: InboundState::AwaitingAuthRequest,
            credentials,
            jobs: HashMap::new(),
            outputs: VecDeque::new(),
        }
    }

    /// The current state.
    pub fn state(&self) -> InboundState {
        self.state
    }

    /// Commands sent and not yet answered (background jobs awaiting their result not
    /// included).
    pub fn pending_replies(&self) -> usize {
        self.core.pending.len()
    }

    /// Background jobs accepted and awaiting their `BACKGROUND_JOB` event.
    pub fn pending_jobs(&self) -> usize {
        self.jobs.len()
    }

    /// Feeds bytes read from the socket. A decode error is fatal for the connection
    /// (except [`DecodeError::MalformedEvent`], after which decoding can continue).
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
            ContentType::AuthRequest => self.on_auth_request(msg),
            ContentType::CommandReply | ContentType::ApiResponse => self.on_reply(msg),
            ContentType::EventPlain | ContentType::EventJson | ContentType::EventXml => {
                if let Some(ev) = msg.into_event() {
                    self.on_event(ev);
                }
            }
            ContentType::LogData => self.outputs.push_back(InboundOutput::Log(msg)),
            ContentType::DisconnectNotice | ContentType::RudeRejection => {
                self.state = match self.state {
                    InboundState::AuthFailed => InboundState::AuthFailed,
                    _ => InboundState::Closed,
                };
                self.outputs.push_back(InboundOutput::Disconnected(msg));
            }
            _ => self.violation("unexpected Content-Type", msg),
        }
    }

    /// The connection is gone: every pending command and background job fails.
    pub fn handle_close(&mut self) {
        if self.state != InboundState::AuthFailed {
            self.state = InboundState::Closed;
        }
        while let Some(p) = self.core.pending.pop_front() {
            self.outputs.push_back(InboundOutput::CommandFailed {
                id: p.id,
                reason: FailReason::ConnectionClosed,
            });
        }
        let mut jobs: Vec<_> = self.jobs.drain().map(|(_, id)| id).collect();
        jobs.sort();
        for id in jobs {
            self.outputs.push_back(InboundOutput::CommandFailed {
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
    pub fn poll_output(&mut self) -> Option<InboundOutput> {
        self.outputs.pop_front()
    }

    /// `api <command>`; the result is an [`InboundOutput::ApiResponse`].
    pub fn send_api(&mut self, command: &str) -> Result<CommandId, SessionError> {
        self.send_command(&Command::Api { command })
    }

    /// `bgapi <command>` with the caller's Job-UUID; acceptance is a
    /// [`InboundOutput::CommandReply`], the result an [`InboundOutput::BackgroundJob`].
    pub fn send_bgapi(&mut self, command: &str, job_uuid: &str) -> Result<CommandId, SessionError> {
        self.send_command(&Command::BgApi { command, job_uuid: Some(job_uuid) })
    }

    /// Any command (`event`, `filter`, `sendmsg <uuid>`, `exit`, ...). `auth`, `userauth`
    /// and `connect` are refused: the session handles authentication itself, and
    /// `connect` belongs to outbound sockets.
    pub fn send_command(&mut self, cmd: &Command<'_>) -> Result<CommandId, SessionError> {
        if self.state != InboundState::Ready
            || matches!(cmd, Command::Auth { .. } | Command::UserAuth { .. } | Command::Connect)
        {
            return Err(SessionError::NotReady { command: cmd.name(), state: self.state.as_str() });
        }
        let expect = match cmd {
            Command::Api { .. } => Expect::Api,
            Command::BgApi { job_uuid, .. } => {
                if let Some(u) = job_uuid
                    && (self.jobs.contains_key(*u) || self.pending_job(u))
                {
                    return Err(SessionError::DuplicateId {
                        kind: "Job-UUID",
                        id: (*u).to_owned(),
                    });
                }
                Expect::BgApi(job_uuid.map(str::to_owned))
            }
            _ => Expect::Reply,
        };
        let id = self.core.send(cmd, expect)?;
        if matches!(cmd, Command::Exit) {
            // FreeSWITCH answers `+OK bye`, sends a disconnect notice and closes.
            self.state = InboundState::Closed;
        }
        Ok(id)
    }

    fn pending_job(&self, uuid: &str) -> bool {
        self.core.pending.iter().any(|p| matches!(&p.expect, Expect::BgApi(Some(u)) if u == uuid))
    }

    fn on_auth_request(&mut self, msg: Message) {
        if self.state != InboundState::AwaitingAuthRequest {
            return self.violation("auth/request after authentication started", msg);
        }
        let cmd = match &self.credentials {
            Credentials::Password(password) => Command::Auth { password },
            Credentials::User { user, password } => Command::UserAuth { user, password },
        };
        match cmd.encode(&mut self.core.transmit) {
            Ok(()) => self.state = InboundState::Authenticating,
            Err(e) => {
                self.state = InboundState::AuthFailed;
                self.outputs.push_back(InboundOutput::AuthFailed { reply: e.to_string() });
            }
        }
    }

    fn on_reply(&mut self, msg: Message) {
        if self.state == InboundState::Authenticating {
            if msg.content_type() == ContentType::CommandReply && msg.is_ok() {
                self.state = InboundState::Ready;
                self.outputs.push_back(InboundOutput::Authenticated);
            } else {
                self.state = InboundState::AuthFailed;
                let reply = msg.reply_text().unwrap_or("reply of unexpected type").to_owned();
                self.outputs.push_back(InboundOutput::AuthFailed { reply });
            }
            return;
        }
        let Some(p) = self.core.take_reply_target(&msg) else {
            return self.violation("reply with no command pending", msg);
        };
        match (msg.content_type(), p.expect) {
            (ContentType::ApiResponse, Expect::Api) => {
                let body = msg.body().clone();
                self.outputs.push_back(InboundOutput::ApiResponse { id: p.id, body });
            }
            (ContentType::CommandReply, Expect::BgApi(chosen)) => {
                if msg.is_ok() {
                    // FreeSWITCH echoes the Job-UUID (ours, or one it generated).
                    let job = msg.header("Job-UUID").map(str::to_owned).or(chosen);
                    if let Some(job) = job {
                        self.jobs.insert(job, p.id);
                    }
                }
                self.outputs.push_back(InboundOutput::CommandReply { id: p.id, message: msg });
            }
            (ContentType::CommandReply, Expect::Reply | Expect::Execute(_)) => {
                self.outputs.push_back(InboundOutput::CommandReply { id: p.id, message: msg });
            }
            (_, expect) => {
                // Keep the command failed rather than silently re-ordered.
                self.outputs.push_back(InboundOutput::CommandFailed {
                    id: p.id,
                    reason: FailReason::ProtocolViolation,
                });
                let what = format!("reply type does not match the pending command ({expect:?})");
                self.violation(&what, msg);
            }
        }
    }

    fn on_event(&mut self, ev: Event) {
        if ev.name() == Some("BACKGROUND_JOB")
            && let Some(job) = ev.job_uuid()
            && let Some(id) = self.jobs.remove(job)
        {
            let job_uuid = job.to_owned();
            self.outputs.push_back(InboundOutput::BackgroundJob { id, job_uuid, event: ev });
            return;
        }
        self.outputs.push_back(InboundOutput::Event(ev));
    }

    fn violation(&mut self, what: &str, message: Message) {
        self.outputs.push_back(InboundOutput::ProtocolViolation { what: what.to_owned(), message });
    }
}
