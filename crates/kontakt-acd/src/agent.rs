//! Agent runtime state: the state machine's current state with its timestamp, the
//! counters the strategies order by, and time accounting per state.

use crate::model::{AgentConfig, CallId, Millis, QueueId};
use crate::output::AgentStateKind;

/// Why an agent is temporarily unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DelayReason {
    Rejected,
    Busy,
    NoAnswer,
}

/// The agent state machine:
/// logged out → ready ⇄ paused(reason); ready → offered → talking (or dialing →
/// talking for callbacks) → wrap-up → ready; delays after reject / busy / no-answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AgentState {
    LoggedOut,
    Ready,
    Paused(String),
    Delayed(DelayReason),
    Offered(CallId),
    Dialing(CallId),
    Talking(CallId),
    WrapUp(CallId),
}

impl AgentState {
    pub(crate) fn kind(&self) -> AgentStateKind {
        match self {
            AgentState::LoggedOut => AgentStateKind::LoggedOut,
            AgentState::Ready => AgentStateKind::Ready,
            AgentState::Paused(_) => AgentStateKind::Paused,
            AgentState::Delayed(_) => AgentStateKind::Delayed,
            AgentState::Offered(_) => AgentStateKind::Offered,
            AgentState::Dialing(_) => AgentStateKind::Dialing,
            AgentState::Talking(_) => AgentStateKind::Talking,
            AgentState::WrapUp(_) => AgentStateKind::WrapUp,
        }
    }
}

/// What to do once the current call (and its wrap-up) is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pending {
    Pause(String),
    Logout,
}

/// One agent.
#[derive(Debug, Clone)]
pub(crate) struct Agent {
    pub(crate) cfg: AgentConfig,
    /// Proficiency by skill id (0 = lacks the skill); dense for O(1) lookups.
    pub(crate) skills: Vec<u8>,
    /// Configured queues the agent serves, sorted, deduplicated.
    pub(crate) queues: Vec<QueueId>,
    pub(crate) state: AgentState,
    /// When the current state began.
    pub(crate) since: Millis,
    /// Bumped on every state change; timers carry it to detect staleness.
    pub(crate) epoch: u64,
    /// Longest-idle key: end of the last call, missed offer or login.
    pub(crate) idle_since: Millis,
    pub(crate) talk_ms: u64,
    pub(crate) calls: u64,
    pub(crate) no_answer_streak: u32,
    pub(crate) pending: Option<Pending>,
    /// Keys under which the agent sits in queues' ready sets (to remove exactly them).
    pub(crate) ready_keys: Vec<(QueueId, (u64, u64, u32))>,
    /// Accumulated ms per `AgentStateKind` (closed intervals only).
    pub(crate) time_in: [u64; 8],
    pub(crate) login_at: Millis,
    /// Talk start and queue of the last call (for wrap-up accounting).
    pub(crate) last_talk_ms: u64,
    pub(crate) last_queue: Option<QueueId>,
}

impl Agent {
    pub(crate) fn new(cfg: AgentConfig, queues: Vec<QueueId>, now: Millis) -> Agent {
        let mut skills = Vec::new();
        for &(s, p) in &cfg.skills {
            let i = usize::from(s.0);
            if skills.len() <= i {
                skills.resize(i + 1, 0);
            }
            skills[i] = p;
        }
        Agent {
            cfg,
            skills,
            queues,
            state: AgentState::LoggedOut,
            since: now,
            epoch: 0,
            idle_since: now,
            talk_ms: 0,
            calls: 0,
            no_answer_streak: 0,
            pending: None,
            ready_keys: Vec::new(),
            time_in: [0; 8],
            login_at: now,
            last_talk_ms: 0,
            last_queue: None,
        }
    }

    pub(crate) fn proficiency(&self, skill: u16) -> u8 {
        self.skills.get(usize::from(skill)).copied().unwrap_or(0)
    }

    pub(crate) fn serves(&self, q: QueueId) -> bool {
        self.queues.binary_search(&q).is_ok()
    }

    pub(crate) fn logged_in(&self) -> bool {
        self.state != AgentState::LoggedOut
    }

    /// Counts as staffed for EWT: logged in and not paused.
    pub(crate) fn staffed(&self) -> bool {
        !matches!(self.state, AgentState::LoggedOut | AgentState::Paused(_))
    }
}
