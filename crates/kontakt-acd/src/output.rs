//! Outputs of the router (a closed enum): commands for the call flow, agent state
//! changes and queue_log records. The caller drains them with `poll_output()`.

use std::fmt;

use serde::Serialize;

use crate::model::{AgentId, CallId, Millis, OfferId, OverflowAction, OverflowReason, QueueId};
use crate::queue_log::QueueLogEntry;

/// What an offer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OfferKind {
    /// A caller is on the line: ring the agent, bridge on answer.
    Inbound,
    /// A queued callback: the agent is reserved first, then the citizen is dialled.
    Callback,
}

/// Why an offer was cancelled by the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CancelReason {
    /// The ring timeout expired.
    RingTimeout,
    /// The caller hung up while the agent's phone rang.
    CallerHangup,
    /// The agent paused or was paused by a supervisor.
    AgentPaused,
    /// The agent logged out or was logged out.
    AgentLoggedOut,
}

/// Coarse agent state for events and statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentStateKind {
    /// Not logged in.
    LoggedOut,
    /// Available for calls.
    Ready,
    /// Paused with a reason.
    Paused,
    /// Temporarily unavailable after a reject / busy / missed offer.
    Delayed,
    /// Reserved by an offer that rings.
    Offered,
    /// Reserved for a callback while the citizen is dialled.
    Dialing,
    /// In a conversation.
    Talking,
    /// After-call work.
    WrapUp,
}

impl AgentStateKind {
    /// All kinds, in index order.
    pub const ALL: [AgentStateKind; 8] = [
        AgentStateKind::LoggedOut,
        AgentStateKind::Ready,
        AgentStateKind::Paused,
        AgentStateKind::Delayed,
        AgentStateKind::Offered,
        AgentStateKind::Dialing,
        AgentStateKind::Talking,
        AgentStateKind::WrapUp,
    ];
    /// Dense index.
    pub fn index(self) -> usize {
        self as usize
    }
    /// Kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            AgentStateKind::LoggedOut => "logged-out",
            AgentStateKind::Ready => "ready",
            AgentStateKind::Paused => "paused",
            AgentStateKind::Delayed => "delayed",
            AgentStateKind::Offered => "offered",
            AgentStateKind::Dialing => "dialing",
            AgentStateKind::Talking => "talking",
            AgentStateKind::WrapUp => "wrap-up",
        }
    }
}

/// A command or event from the router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Output {
    /// Ring `agent` for `call`; the agent is reserved until accept/reject/timeout.
    Offer {
        /// Call.
        call: CallId,
        /// Agent.
        agent: AgentId,
        /// Echo this in `OfferAccepted` / `OfferRejected`.
        offer: OfferId,
        /// The router cancels the offer after this long (0 = no timeout).
        ring_timeout_ms: u64,
        /// Inbound or callback.
        kind: OfferKind,
    },
    /// Stop ringing `agent` for `call`.
    CancelOffer {
        /// Call.
        call: CallId,
        /// Agent.
        agent: AgentId,
        /// Why.
        reason: CancelReason,
    },
    /// Bridge the caller and the agent.
    Connect {
        /// Call.
        call: CallId,
        /// Agent.
        agent: AgentId,
    },
    /// Dial the citizen for a callback; `agent` is already reserved.
    StartCallback {
        /// Call.
        call: CallId,
        /// Agent.
        agent: AgentId,
        /// Attempt number, 1-based.
        attempt: u32,
    },
    /// Tell the caller their position and estimated wait.
    AnnouncePosition {
        /// Call.
        call: CallId,
        /// 1-based position in its queue.
        position: usize,
        /// Estimated wait (rounded up to the queue's rounding), `None` if no agent is staffed.
        ewt_ms: Option<u64>,
    },
    /// The call overflowed.
    Overflow {
        /// Call.
        call: CallId,
        /// Queue it overflowed from.
        queue: QueueId,
        /// Trigger.
        reason: OverflowReason,
        /// What to do with it.
        action: OverflowAction,
    },
    /// An agent changed state.
    AgentStateChanged {
        /// Agent.
        agent: AgentId,
        /// New state.
        state: AgentStateKind,
        /// Pause reason, if paused.
        reason: Option<String>,
        /// When.
        at: Millis,
    },
    /// A queue_log record.
    QueueLog(QueueLogEntry),
}

impl fmt::Display for Output {
    /// Compact one-line rendering used by the scenario tests.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Offer { call, agent, ring_timeout_ms, kind, .. } => {
                let k = match kind {
                    OfferKind::Inbound => "inbound",
                    OfferKind::Callback => "callback",
                };
                write!(
                    f,
                    "offer call={} agent={} ring={} kind={k}",
                    call.0, agent.0, ring_timeout_ms
                )
            }
            Output::CancelOffer { call, agent, reason } => {
                let r = match reason {
                    CancelReason::RingTimeout => "ring-timeout",
                    CancelReason::CallerHangup => "caller-hangup",
                    CancelReason::AgentPaused => "agent-paused",
                    CancelReason::AgentLoggedOut => "agent-logged-out",
                };
                write!(f, "cancel call={} agent={} reason={r}", call.0, agent.0)
            }
            Output::Connect { call, agent } => {
                write!(f, "connect call={} agent={}", call.0, agent.0)
            }
            Output::StartCallback { call, agent, attempt } => {
                write!(f, "start-callback call={} agent={} attempt={attempt}", call.0, agent.0)
            }
            Output::AnnouncePosition { call, position, ewt_ms } => match ewt_ms {
                Some(e) => {
                    write!(f, "announce call={} position={position} ewt={}", call.0, e / 1000)
                }
                None => write!(f, "announce call={} position={position} ewt=unknown", call.0),
            },
            Output::Overflow { call, queue, reason, action } => {
                let r = match reason {
                    OverflowReason::MaxWait => "max-wait",
                    OverflowReason::MaxLength => "max-length",
                    OverflowReason::EwtAboveThreshold => "ewt",
                    OverflowReason::NoAgents => "no-agents",
                };
                let a = match action {
                    OverflowAction::Queue(q) => format!("queue:{}", q.0),
                    OverflowAction::Callback => "callback".to_string(),
                    OverflowAction::Message(m) => format!("message:{m}"),
                    OverflowAction::Voicemail(v) => format!("voicemail:{v}"),
                };
                write!(f, "overflow call={} queue={} reason={r} action={a}", call.0, queue.0)
            }
            Output::AgentStateChanged { agent, state, reason, .. } => match reason {
                Some(r) => write!(f, "agent {} {} {r}", agent.0, state.name()),
                None => write!(f, "agent {} {}", agent.0, state.name()),
            },
            Output::QueueLog(entry) => write!(f, "log {entry}"),
        }
    }
}
