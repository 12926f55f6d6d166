//! Sans-IO automatic call distribution: `Router::handle(input, now)` / `poll_output()`.
//!
//! One concept per module: [`model`] (ids, time, configuration), [`input`] and
//! [`output`] (the closed enums of the protocol), [`queue_log`] (Asterisk-style event
//! log), [`router`] (state machine and timers), `select`/`strategy` (matching),
//! [`stats`] (real-time statistics), [`erlang`] (queueing formulas) and [`sim`]
//! (discrete-event simulator driving the real router). See `README.md`.

mod agent;
mod call;
pub mod erlang;
pub mod input;
pub mod model;
pub mod output;
pub mod queue_log;
pub mod router;
mod select;
pub mod sim;
pub mod stats;
mod strategy;

pub use input::{ForcedState, Handled, Ignored, Input, NewCall, RejectReason};
pub use model::{
    AgentConfig, AgentId, AnnounceConfig, CallId, CallbackConfig, ConfigError, Millis, OfferId,
    OverflowAction, OverflowReason, QueueConfig, QueueId, RouterConfig, RoutingStep, SkillId,
    SkillReq, SlConvention, Strategy,
};
pub use output::{AgentStateKind, CancelReason, OfferKind, Output};
pub use queue_log::{LogEvent, QueueLogEntry};
pub use router::Router;
pub use stats::{
    AgentCounts, OverallSnapshot, QueueCounters, QueueSnapshot, StatsSnapshot, WaitingCall,
};
