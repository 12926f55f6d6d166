//! What the engine tells the people watching: operators (their own offers and calls) and
//! supervisors (queues, agents, calls). Published on broadcast channels; the engine never
//! waits for a reader. A reader that falls behind gets `Lagged` from tokio and asks for a
//! fresh snapshot instead of the messages it missed.

use chrono::{DateTime, Utc};
use kontakt_acd::StatsSnapshot;
use kontakt_appeals::{OutageClass, OutageKind};
use kontakt_store::{CallLink, Id};
use serde::Serialize;

/// The caller as the screen-pop shows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CallerContext {
    pub applicant: Option<KnownApplicant>,
    /// The applicant's most recent appeals, newest first.
    pub appeals: Vec<AppealSummary>,
    /// The operator who handled the applicant's last appeal (sticky routing).
    pub last_operator: Option<Id>,
    /// Other people's appeals with questions still open at the applicant's building (only
    /// those questions), newest first: the same burst pipe is often reported ten times.
    pub at_address: Vec<AppealSummary>,
    /// Outages in force at the applicant's address, looked up with the rest of the context.
    /// Not serialised here: the screen-pop carries them as its own `outages`.
    #[serde(skip)]
    pub outages: Vec<OutageNotice>,
}

/// An outage in force at the caller's address, as the screen-pop shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutageNotice {
    pub id: Id,
    pub kind: OutageKind,
    pub class: OutageClass,
    pub nature: String,
    pub started_at: DateTime<Utc>,
    pub planned_end_at: Option<DateTime<Utc>>,
    /// What the caller may be told, word for word.
    pub public_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KnownApplicant {
    pub id: Id,
    pub name: String,
    pub address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppealSummary {
    pub id: Id,
    pub reg_no: String,
    pub registered_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    pub questions: Vec<QuestionSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuestionSummary {
    pub category: String,
    pub address: Option<String>,
    /// Assignment states and executors.
    pub state: Option<String>,
    pub executor_id: Option<Id>,
    pub due_at: Option<DateTime<Utc>>,
}

/// Everything an operator needs before picking up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScreenPop {
    pub call: String,
    pub node: String,
    pub offer: u64,
    pub kind: String,
    pub caller: Option<String>,
    pub presentation: String,
    pub line: Option<String>,
    pub carrier: Option<String>,
    pub dialled: String,
    pub queue: String,
    pub priority: u8,
    pub waited_ms: u64,
    pub ring_timeout_ms: u64,
    /// Menu choices in order, e.g. `["uk", "emergency"]`.
    pub ivr: Vec<String>,
    pub context: CallerContext,
    /// Outages in force at the caller's known address (a street-wide one covers every
    /// building of the street), newest start first; empty when the address is unknown.
    pub outages: Vec<OutageNotice>,
}

/// One message for one operator.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OperatorEvent {
    /// Published before the operator's phone is rung.
    ScreenPop(Box<ScreenPop>),
    OfferCancelled {
        call: String,
        reason: String,
    },
    Connected {
        call: String,
    },
    /// The call ended; `wrap_up` tells whether an appeal link (or outcome) is now awaited.
    Ended {
        call: String,
        wrap_up: bool,
        cause: Option<String>,
    },
    Linked {
        call: String,
        link: CallLink,
    },
    State {
        state: String,
        reason: Option<String>,
    },
    Held {
        call: String,
        held: bool,
    },
    Transferred {
        call: String,
        target: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperatorMsg {
    pub user_id: Id,
    pub at: DateTime<Utc>,
    pub event: OperatorEvent,
}

/// A live call as supervisors see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveCallView {
    pub call: String,
    pub node: String,
    pub caller: Option<String>,
    pub line: Option<String>,
    pub phase: String,
    pub queue: Option<String>,
    pub priority: u8,
    pub agent: Option<Id>,
    pub since: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentView {
    pub user_id: Id,
    pub username: String,
    pub state: String,
    pub reason: Option<String>,
    pub since: DateTime<Utc>,
    pub call: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SupervisorSnapshot {
    pub at: DateTime<Utc>,
    pub stats: StatsSnapshot,
    pub agents: Vec<AgentView>,
    pub calls: Vec<LiveCallView>,
    pub queue_names: Vec<String>,
}

/// One message of the wall boards' feed, stamped when the engine published it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SupervisorMsg {
    pub at: DateTime<Utc>,
    pub event: SupervisorEvent,
}

/// What the wall boards are told between snapshots. Agents and calls are told when they
/// change (each message sets the whole view of one thing); only the statistics are sent
/// periodically, because they move with time. The full state goes out only in the snapshot
/// a connection starts from (`Command::Snapshot`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SupervisorEvent {
    /// Every 0.8 s (`STATS_EVERY`): the router's queue and agent statistics.
    Stats {
        stats: Box<StatsSnapshot>,
    },
    Agent(AgentView),
    Call(LiveCallView),
    CallGone {
        call: String,
    },
}
