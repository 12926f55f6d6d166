//! Inputs to the router (a closed enum) and the report of how each was handled.
//!
//! Every input is idempotent: a repeated or late event (an accept for an offer that
//! already timed out, a hang-up for a call that already ended, a pause of a paused
//! agent) changes nothing and is reported as [`Handled::Ignored`] with the reason.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::{
    AgentConfig, AgentId, CallId, ConfigError, OfferId, QueueConfig, QueueId, SkillReq,
};

/// A new call (or a web/IVR callback request) entering a queue.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NewCall {
    /// Call id (unique while the call is in the router).
    pub call: CallId,
    /// Queue to enter.
    pub queue: QueueId,
    /// Priority class: higher goes first.
    pub priority: u8,
    /// Skills required in addition to the queue's.
    pub skills: Vec<SkillReq>,
    /// Caller identity (ANI) for sticky-agent routing.
    pub caller_id: Option<String>,
    /// Agent to prefer (overrides the sticky lookup).
    pub preferred_agent: Option<AgentId>,
    /// The citizen is not on the line: a queued callback from the start.
    pub callback: bool,
}

/// Why an agent's phone did not take an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RejectReason {
    /// The agent declined (reject delay applies).
    Rejected,
    /// The agent's device was busy (busy delay applies).
    Busy,
    /// Rang without answer (counts towards auto-pause, no-answer delay applies).
    NoAnswer,
}

/// A state a supervisor can force an agent into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForcedState {
    /// Make the agent ready.
    Ready,
    /// Pause with a reason code.
    Paused(String),
    /// Log the agent out.
    LoggedOut,
}

/// Everything that can happen to the router. Time is passed separately to `handle`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Input {
    /// Add or replace a queue.
    ConfigureQueue(QueueConfig),
    /// Add or replace an agent (skills/queues take effect immediately).
    ConfigureAgent(AgentConfig),
    /// Agent logs in and becomes ready.
    AgentLogin {
        /// Agent.
        agent: AgentId,
    },
    /// Agent logs out (after the current call if busy).
    AgentLogout {
        /// Agent.
        agent: AgentId,
    },
    /// Agent becomes ready (ends a pause or a delay).
    AgentReady {
        /// Agent.
        agent: AgentId,
    },
    /// Agent pauses with a reason code (after the current call if busy).
    AgentPause {
        /// Agent.
        agent: AgentId,
        /// Reason code.
        reason: String,
    },
    /// Same as `AgentReady`, logged as UNPAUSE.
    AgentUnpause {
        /// Agent.
        agent: AgentId,
    },
    /// A call enters a queue.
    CallArrived(NewCall),
    /// The agent answered the offer.
    OfferAccepted {
        /// Call.
        call: CallId,
        /// Agent.
        agent: AgentId,
        /// The offer, as given in `Output::Offer`.
        offer: OfferId,
    },
    /// The offer failed on the agent side.
    OfferRejected {
        /// Call.
        call: CallId,
        /// Agent.
        agent: AgentId,
        /// The offer, as given in `Output::Offer`.
        offer: OfferId,
        /// Why.
        reason: RejectReason,
    },
    /// The citizen hung up (waiting, while the agent rings, or while talking).
    CallerHangup {
        /// Call.
        call: CallId,
    },
    /// The waiting caller left the queue with an exit key (IVR menu, self-service):
    /// logged as EXITWITHKEY, not an abandon. Cancels a ringing offer.
    CallerExit {
        /// Call.
        call: CallId,
        /// The key pressed.
        key: String,
    },
    /// The agent ended the conversation.
    CallEnded {
        /// Call.
        call: CallId,
    },
    /// The agent submitted the disposition; wrap-up ends.
    WrapUpDone {
        /// Agent.
        agent: AgentId,
        /// Disposition code (e.g. appeal id / category).
        disposition: String,
    },
    /// Process due timers only.
    Tick,
    /// A waiting caller asks to be called back and hangs up, keeping their place.
    CallbackRequested {
        /// Call.
        call: CallId,
    },
    /// Outcome of a callback dial to the citizen.
    CallbackResult {
        /// Call.
        call: CallId,
        /// The citizen answered.
        reached: bool,
    },
    /// Move a waiting call to another queue.
    MoveCall {
        /// Call.
        call: CallId,
        /// Target queue.
        queue: QueueId,
    },
    /// Change the priority class of a waiting call.
    SetPriority {
        /// Call.
        call: CallId,
        /// New priority class.
        priority: u8,
    },
    /// A conversation that outlived the router (the process was restarted while the agent
    /// talked): the call is back, already talking to the agent, who is logged in for it if
    /// they were not. Nothing is offered or connected again; the call ends as any other
    /// conversation does (`CallerHangup`, `CallEnded`) and wrap-up follows.
    ResumeTalking {
        /// The call, as it would enter its queue.
        call: NewCall,
        /// The agent in the conversation.
        agent: AgentId,
    },
    /// Supervisor forces an agent state.
    ForceAgentState {
        /// Agent.
        agent: AgentId,
        /// Target state.
        state: ForcedState,
    },
}

/// Why an input changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
pub enum Ignored {
    /// No such agent configured.
    #[error("unknown agent")]
    UnknownAgent,
    /// No such queue configured.
    #[error("unknown queue")]
    UnknownQueue,
    /// No such call was ever seen (or it ended too long ago to be remembered).
    #[error("unknown call")]
    UnknownCall,
    /// The call already ended: a late or repeated event.
    #[error("call already ended")]
    AlreadyEnded,
    /// A call with this id is already in the router.
    #[error("duplicate call id")]
    DuplicateCall,
    /// The agent is logged out.
    #[error("agent not logged in")]
    NotLoggedIn,
    /// The agent is already in the requested state.
    #[error("already in that state")]
    AlreadyInState,
    /// The offer is no longer current (timed out, cancelled, other agent).
    #[error("stale offer")]
    StaleOffer,
    /// The call is not in a state where this input applies.
    #[error("call is not in a state where this applies")]
    WrongCallState,
    /// The agent is not in a state where this input applies.
    #[error("agent is not in a state where this applies")]
    WrongAgentState,
    /// The configuration was refused.
    #[error("invalid configuration: {0}")]
    InvalidConfig(#[serde(skip)] ConfigError),
}

/// How `handle` dealt with an input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Handled {
    /// The input changed the state (outputs may be pending).
    Applied,
    /// The input was a duplicate, late or invalid event and changed nothing.
    Ignored(Ignored),
}

impl Handled {
    /// True when applied.
    pub fn is_applied(&self) -> bool {
        matches!(self, Handled::Applied)
    }
}
