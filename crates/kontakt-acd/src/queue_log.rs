//! Per-attempt event log with the fields of Asterisk's `queue_log`
//! (`time|callid|queue|agent|EVENT|params…`), so SL, ASA, AHT, abandon rate and
//! occupancy can be recomputed from raw events. Durations are kept in milliseconds in
//! the structured form and rendered in whole seconds in the Asterisk-style line.

use std::fmt;

use serde::Serialize;

use crate::model::{AgentId, CallId, Millis, QueueId};

/// One queue_log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueLogEntry {
    /// When it happened.
    pub at: Millis,
    /// Call, if the event concerns one.
    pub call: Option<CallId>,
    /// Queue, if any.
    pub queue: Option<QueueId>,
    /// Agent, if any.
    pub agent: Option<AgentId>,
    /// The event and its parameters.
    pub event: LogEvent,
}

/// queue_log events. Names follow Asterisk where one exists; the others are marked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LogEvent {
    /// Caller entered the queue at `position`.
    EnterQueue {
        /// Caller id.
        caller_id: String,
        /// 1-based position on entry.
        position: usize,
    },
    /// An agent was offered the call (Kontakt; Asterisk's AMI `AgentCalled`).
    Offer,
    /// The offer rang without answer (or was declined/busy).
    RingNoAnswer {
        /// How long it rang.
        ring_ms: u64,
    },
    /// The offer was cancelled (caller hung up, agent paused or logged out).
    RingCanceled {
        /// How long it rang.
        ring_ms: u64,
    },
    /// Caller connected to agent.
    Connect {
        /// Wait since entering the ACD.
        hold_ms: u64,
        /// Ring time of the successful offer.
        ring_ms: u64,
    },
    /// Agent hung up. Terminal.
    CompleteAgent {
        /// Wait.
        hold_ms: u64,
        /// Talk.
        talk_ms: u64,
        /// Original position.
        origposition: usize,
    },
    /// Caller hung up. Terminal.
    CompleteCaller {
        /// Wait.
        hold_ms: u64,
        /// Talk.
        talk_ms: u64,
        /// Original position.
        origposition: usize,
    },
    /// Caller hung up while waiting or ringing. Terminal.
    Abandon {
        /// Position when leaving.
        position: usize,
        /// Original position.
        origposition: usize,
        /// Wait.
        wait_ms: u64,
    },
    /// Left on max wait (overflow to message/voicemail). Terminal.
    ExitWithTimeout {
        /// Position when leaving.
        position: usize,
        /// Original position.
        origposition: usize,
        /// Wait.
        wait_ms: u64,
    },
    /// Caller left with an exit key. Terminal.
    ExitWithKey {
        /// Key.
        key: String,
        /// Position when leaving.
        position: usize,
        /// Original position.
        origposition: usize,
        /// Wait.
        wait_ms: u64,
    },
    /// Left because no agent is logged in. Terminal.
    ExitEmpty {
        /// Position when leaving.
        position: usize,
        /// Original position.
        origposition: usize,
        /// Wait.
        wait_ms: u64,
    },
    /// Refused because the queue is full. Terminal.
    Full {
        /// Position it would have had.
        position: usize,
    },
    /// Left because the EWT is above the threshold (Kontakt). Terminal.
    ExitWithEwt {
        /// Position.
        position: usize,
        /// Estimated wait.
        ewt_ms: u64,
    },
    /// Moved to another queue by overflow or supervisor (Kontakt; not terminal).
    Moved {
        /// Target queue.
        to: QueueId,
        /// Wait so far.
        wait_ms: u64,
    },
    /// Caller left the line keeping their place (Kontakt).
    CallbackRequested {
        /// Position.
        position: usize,
    },
    /// Callback dial attempt failed (Kontakt).
    CallbackAttemptFailed {
        /// Attempt number (1-based).
        attempt: u32,
    },
    /// All callback attempts failed (Kontakt). Terminal.
    CallbackFailed {
        /// Attempts made.
        attempts: u32,
    },
    /// Agent submitted the wrap-up disposition (Kontakt).
    Disposition {
        /// Code.
        code: String,
        /// Wrap-up duration.
        wrap_ms: u64,
    },
    /// Agent paused.
    Pause {
        /// Reason code.
        reason: String,
    },
    /// Agent unpaused.
    Unpause {
        /// Reason code of the pause that ended.
        reason: String,
    },
    /// Agent logged in.
    AgentLogin,
    /// Agent logged off.
    AgentLogoff {
        /// Session length.
        session_ms: u64,
    },
}

impl LogEvent {
    /// The Asterisk-style event name.
    pub fn name(&self) -> &'static str {
        match self {
            LogEvent::EnterQueue { .. } => "ENTERQUEUE",
            LogEvent::Offer => "OFFER",
            LogEvent::RingNoAnswer { .. } => "RINGNOANSWER",
            LogEvent::RingCanceled { .. } => "RINGCANCELED",
            LogEvent::Connect { .. } => "CONNECT",
            LogEvent::CompleteAgent { .. } => "COMPLETEAGENT",
            LogEvent::CompleteCaller { .. } => "COMPLETECALLER",
            LogEvent::Abandon { .. } => "ABANDON",
            LogEvent::ExitWithTimeout { .. } => "EXITWITHTIMEOUT",
            LogEvent::ExitWithKey { .. } => "EXITWITHKEY",
            LogEvent::ExitEmpty { .. } => "EXITEMPTY",
            LogEvent::Full { .. } => "FULL",
            LogEvent::ExitWithEwt { .. } => "EXITWITHEWT",
            LogEvent::Moved { .. } => "MOVED",
            LogEvent::CallbackRequested { .. } => "CALLBACKREQUESTED",
            LogEvent::CallbackAttemptFailed { .. } => "CALLBACKATTEMPTFAILED",
            LogEvent::CallbackFailed { .. } => "CALLBACKFAILED",
            LogEvent::Disposition { .. } => "DISPOSITION",
            LogEvent::Pause { .. } => "PAUSE",
            LogEvent::Unpause { .. } => "UNPAUSE",
            LogEvent::AgentLogin => "AGENTLOGIN",
            LogEvent::AgentLogoff { .. } => "AGENTLOGOFF",
        }
    }

    /// True for the records that end a call's life in the ACD (exactly one per call).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            LogEvent::CompleteAgent { .. }
                | LogEvent::CompleteCaller { .. }
                | LogEvent::Abandon { .. }
                | LogEvent::ExitWithTimeout { .. }
                | LogEvent::ExitWithKey { .. }
                | LogEvent::ExitEmpty { .. }
                | LogEvent::Full { .. }
                | LogEvent::ExitWithEwt { .. }
                | LogEvent::CallbackFailed { .. }
        )
    }

    /// Parameters in Asterisk order (durations in whole seconds, rounded down).
    pub fn params(&self) -> Vec<String> {
        let s = |ms: &u64| (ms / 1000).to_string();
        match self {
            LogEvent::EnterQueue { caller_id, position } => {
                vec![String::new(), caller_id.clone(), position.to_string()]
            }
            LogEvent::Offer | LogEvent::AgentLogin => vec![],
            LogEvent::RingNoAnswer { ring_ms } | LogEvent::RingCanceled { ring_ms } => {
                vec![ring_ms.to_string()]
            }
            LogEvent::Connect { hold_ms, ring_ms } => vec![s(hold_ms), String::new(), s(ring_ms)],
            LogEvent::CompleteAgent { hold_ms, talk_ms, origposition }
            | LogEvent::CompleteCaller { hold_ms, talk_ms, origposition } => {
                vec![s(hold_ms), s(talk_ms), origposition.to_string()]
            }
            LogEvent::Abandon { position, origposition, wait_ms }
            | LogEvent::ExitWithTimeout { position, origposition, wait_ms }
            | LogEvent::ExitEmpty { position, origposition, wait_ms } => {
                vec![position.to_string(), origposition.to_string(), s(wait_ms)]
            }
            LogEvent::ExitWithKey { key, position, origposition, wait_ms } => {
                vec![key.clone(), position.to_string(), origposition.to_string(), s(wait_ms)]
            }
            LogEvent::Full { position } | LogEvent::CallbackRequested { position } => {
                vec![position.to_string()]
            }
            LogEvent::ExitWithEwt { position, ewt_ms } => vec![position.to_string(), s(ewt_ms)],
            LogEvent::Moved { to, wait_ms } => vec![to.0.to_string(), s(wait_ms)],
            LogEvent::CallbackAttemptFailed { attempt } => vec![attempt.to_string()],
            LogEvent::CallbackFailed { attempts } => vec![attempts.to_string()],
            LogEvent::Disposition { code, wrap_ms } => vec![code.clone(), s(wrap_ms)],
            LogEvent::Pause { reason } | LogEvent::Unpause { reason } => vec![reason.clone()],
            LogEvent::AgentLogoff { session_ms } => vec![String::new(), s(session_ms)],
        }
    }
}

impl fmt::Display for QueueLogEntry {
    /// `time|callid|queue|agent|EVENT|params…` with time in seconds.millis.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let call = self.call.map_or_else(|| "NONE".to_string(), |c| c.0.to_string());
        let queue = self.queue.map_or_else(|| "NONE".to_string(), |q| q.0.to_string());
        let agent = self.agent.map_or_else(|| "NONE".to_string(), |a| a.0.to_string());
        write!(
            f,
            "{}.{:03}|{call}|{queue}|{agent}|{}",
            self.at.0 / 1000,
            self.at.0 % 1000,
            self.event.name()
        )?;
        for p in self.event.params() {
            write!(f, "|{p}")?;
        }
        Ok(())
    }
}
