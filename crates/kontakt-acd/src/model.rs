//! Identifiers, virtual time and the configuration types of queues and agents.
//!
//! Ids are small integers chosen by the integrator (the web/DB layer maps names to them);
//! they index dense tables inside the router, so they are bounded by [`MAX_ID`].

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A point in time: milliseconds since an arbitrary epoch. The router never reads a
/// clock; the caller passes `now`, so wall clock and virtual clock run the same code.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Millis(pub u64);

impl Millis {
    /// `self + ms`, saturating.
    pub fn plus(self, ms: u64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }
    /// Milliseconds from `earlier` to `self` (0 if `earlier` is later).
    pub fn since(self, earlier: Millis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// Largest agent or queue id accepted (ids index dense tables).
pub const MAX_ID: u32 = 1_000_000;
/// Largest skill id accepted.
pub const MAX_SKILL: u16 = 1024;
/// Highest proficiency level.
pub const MAX_PROFICIENCY: u8 = 5;

/// A call (or callback task) id, unique while the call is known to the router.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct CallId(pub u64);
/// An agent (operator) id.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct AgentId(pub u32);
/// A queue id.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct QueueId(pub u32);
/// Identifies one offer (reservation) of a call to an agent, so a late accept or
/// reject of an earlier offer of the same call to the same agent is recognised.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct OfferId(pub u64);
/// A skill id.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct SkillId(pub u16);

/// A skill requirement: the agent needs `skill` at proficiency ≥ `min_proficiency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillReq {
    /// Required skill.
    pub skill: SkillId,
    /// Minimum proficiency 1–5.
    pub min_proficiency: u8,
}

/// How a queue picks among ready eligible agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Agent idle the longest since their last call (or missed offer) first.
    #[default]
    LongestIdle,
    /// Rotate through agents by position, starting after the last one offered.
    RoundRobin,
    /// Always the lowest position first.
    TopDown,
    /// Least cumulative talk time first.
    LeastTalkTime,
    /// Fewest answered calls first.
    FewestCalls,
    /// Uniformly random (router's seeded RNG).
    Random,
    /// Highest proficiency in the queue's skills first, then longest idle.
    SkillsBestProficiency,
}

/// One routing step: while a call is in this step only agents whose proficiency (the
/// minimum over the call's required skills) is at least `min_proficiency` may take it.
/// Steps widen over time: a step lasts `duration_ms` (the last step lasts forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingStep {
    /// Minimum proficiency in this step (0 = anyone serving the queue).
    pub min_proficiency: u8,
    /// How long the step lasts; `None` = until the call leaves.
    pub duration_ms: Option<u64>,
}

/// Where an overflowing call goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OverflowAction {
    /// Move the call to another queue (keeps its arrival time).
    Queue(QueueId),
    /// Turn the call into a queued callback that keeps its place.
    Callback,
    /// Play a message and leave the ACD (the call flow decides what the message is).
    Message(String),
    /// Send to a voicemail box and leave the ACD.
    Voicemail(String),
}

/// Why a call overflowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OverflowReason {
    /// Waited longer than the queue's max wait.
    MaxWait,
    /// Queue was at its max length on arrival.
    MaxLength,
    /// Estimated wait above the queue's threshold on arrival.
    EwtAboveThreshold,
    /// No agent serving the queue is logged in.
    NoAgents,
}

/// Service-level convention (see README): which calls are in the denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SlConvention {
    /// answered within T / (answered + abandoned after the short-abandon threshold).
    #[default]
    AnsweredAndAbandoned,
    /// answered within T / answered (Asterisk `SL`, Wazo QoS).
    AnsweredOnly,
    /// (answered within T + abandoned within T) / (answered + abandoned) (Asterisk `SL2`).
    AbandonedWithinTIsGood,
}

/// Position / EWT announcement policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnounceConfig {
    /// Announce on entry and then at most this often (0 = never announce).
    pub interval_ms: u64,
    /// Only announce when position or EWT (rounded to `round_ms`) changed.
    pub only_on_change: bool,
    /// EWT rounding granularity.
    pub round_ms: u64,
}

impl Default for AnnounceConfig {
    fn default() -> Self {
        AnnounceConfig { interval_ms: 0, only_on_change: true, round_ms: 30_000 }
    }
}

/// Queued-callback policy of a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackConfig {
    /// Total dial attempts to the citizen before giving up.
    pub max_attempts: u32,
    /// Delay before the next attempt after a failed one.
    pub retry_delay_ms: u64,
}

impl Default for CallbackConfig {
    fn default() -> Self {
        CallbackConfig { max_attempts: 3, retry_delay_ms: 120_000 }
    }
}

/// Configuration of one queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QueueConfig {
    /// Queue id.
    pub id: QueueId,
    /// Display name.
    pub name: String,
    /// Agent-selection strategy.
    pub strategy: Strategy,
    /// Skills every call of this queue requires.
    pub skills: Vec<SkillReq>,
    /// Routing steps (empty = one open step with no extra proficiency requirement).
    pub steps: Vec<RoutingStep>,
    /// Added to waited time in the global order (ms of "virtual waiting").
    pub base_score_ms: i64,
    /// How long an offer rings before it counts as no-answer.
    pub ring_timeout_ms: u64,
    /// Wrap-up cap after a call of this queue (0 = none; agents may override).
    pub wrap_up_ms: u64,
    /// Service-level threshold T.
    pub sl_threshold_ms: u64,
    /// Abandons faster than this are "short" and excluded from SL and abandon rate.
    pub short_abandon_ms: u64,
    /// Service-level convention.
    pub sl_convention: SlConvention,
    /// Overflow after waiting this long.
    pub max_wait_ms: Option<u64>,
    /// Overflow on arrival when this many calls are already waiting.
    pub max_len: Option<usize>,
    /// Overflow on arrival when the EWT exceeds this.
    pub ewt_threshold_ms: Option<u64>,
    /// Overflow on arrival (and for waiting calls when the last agent logs out) when no
    /// agent serving the queue is logged in.
    pub overflow_when_no_agents: bool,
    /// Action for every overflow reason (`None` = no overflow, the triggers are ignored).
    pub overflow: Option<OverflowAction>,
    /// A repeat caller is offered to their last agent if they call again within this.
    pub sticky_window_ms: u64,
    /// How long a call waits for its preferred agent before anyone may take it.
    pub preferred_wait_ms: u64,
    /// Handle time assumed for EWT until real calls have been measured.
    pub expected_aht_ms: u64,
    /// Position / EWT announcements.
    pub announce: AnnounceConfig,
    /// Queued-callback policy.
    pub callback: CallbackConfig,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            id: QueueId(0),
            name: String::new(),
            strategy: Strategy::LongestIdle,
            skills: Vec::new(),
            steps: Vec::new(),
            base_score_ms: 0,
            ring_timeout_ms: 15_000,
            wrap_up_ms: 0,
            sl_threshold_ms: 20_000,
            short_abandon_ms: 5_000,
            sl_convention: SlConvention::AnsweredAndAbandoned,
            max_wait_ms: None,
            max_len: None,
            ewt_threshold_ms: None,
            overflow_when_no_agents: false,
            overflow: None,
            sticky_window_ms: 0,
            preferred_wait_ms: 0,
            expected_aht_ms: 180_000,
            announce: AnnounceConfig::default(),
            callback: CallbackConfig::default(),
        }
    }
}

/// Configuration of one agent (operator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentConfig {
    /// Agent id.
    pub id: AgentId,
    /// Display name.
    pub name: String,
    /// Skills with proficiency 1–5.
    pub skills: Vec<(SkillId, u8)>,
    /// Queues the agent serves.
    pub queues: Vec<QueueId>,
    /// Position for top-down / round-robin (lower first).
    pub position: u32,
    /// Wrap-up cap overriding the queue's.
    pub wrap_up_ms: Option<u64>,
    /// Auto-pause with reason `no-answer` after this many consecutive missed offers (0 = never).
    pub max_no_answer: u32,
    /// Not offered calls for this long after rejecting an offer.
    pub reject_delay_ms: u64,
    /// Not offered calls for this long after reporting busy.
    pub busy_delay_ms: u64,
    /// Not offered calls for this long after a missed offer.
    pub no_answer_delay_ms: u64,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            id: AgentId(0),
            name: String::new(),
            skills: Vec::new(),
            queues: Vec::new(),
            position: 0,
            wrap_up_ms: None,
            max_no_answer: 3,
            reject_delay_ms: 0,
            busy_delay_ms: 0,
            no_answer_delay_ms: 0,
        }
    }
}

/// Router-wide settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RouterConfig {
    /// Aging: one priority class is worth this many ms of waiting. `None` = strict
    /// priority (a higher class always goes first; FIFO inside a class).
    pub priority_aging_ms: Option<u64>,
    /// Seed for the `random` strategy.
    pub seed: u64,
    /// Emit `QueueLog` outputs.
    pub queue_log: bool,
    /// Emit `AgentStateChanged` outputs.
    pub agent_events: bool,
    /// Queues.
    pub queues: Vec<QueueConfig>,
    /// Agents.
    pub agents: Vec<AgentConfig>,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            priority_aging_ms: None,
            seed: 0,
            queue_log: true,
            agent_events: true,
            queues: Vec::new(),
            agents: Vec::new(),
        }
    }
}

/// A configuration that the router refuses.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// Agent or queue id above [`MAX_ID`].
    #[error("id {0} is above the maximum {MAX_ID}")]
    IdTooLarge(u32),
    /// Skill id above [`MAX_SKILL`].
    #[error("skill id {0} is above the maximum {MAX_SKILL}")]
    SkillTooLarge(u16),
    /// Proficiency outside 1–5.
    #[error("proficiency {0} is outside 1..=5")]
    BadProficiency(u8),
    /// An agent serves a queue that is not configured.
    #[error("agent {agent} serves unknown queue {queue}")]
    UnknownQueue {
        /// Agent.
        agent: u32,
        /// Queue.
        queue: u32,
    },
    /// An overflow target queue is not configured.
    #[error("queue {0} overflows to an unknown queue {1}")]
    UnknownOverflowQueue(u32, u32),
}
