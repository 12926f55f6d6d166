//! Call runtime state and the time-invariant key of the global waiting order.

use crate::model::{AgentId, Millis, QueueId, SkillReq};

/// Position in the global order over all waiting calls of all queues: smaller first.
///
/// The score of a call is "waited time + base score (+ priority × aging)"; at time `t`
/// that is `t − (arrival − base − priority·aging)`, so ordering by the bracket is the
/// same at every instant. This is what lets each queue keep its calls in a sorted set
/// that never needs re-sorting as time passes. With strict priority, the class comes
/// first and the bracket breaks ties; `seq` makes keys unique (FIFO on equal scores).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct WaitKey {
    pub(crate) class: i64,
    pub(crate) time: i64,
    pub(crate) seq: u64,
}

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallState {
    /// In its queue's waiting set.
    Waiting,
    /// An agent is reserved and rings (`offer` identifies this attempt).
    Offered { agent: AgentId, offer: u64, at: Millis },
    /// Callback: agent reserved, citizen being dialled.
    Dialing { agent: AgentId, at: Millis },
    /// Connected.
    Talking { agent: AgentId, at: Millis },
    /// Callback waiting for its retry delay (out of the waiting set, keeps its key).
    CallbackRetry,
}

#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) queue: QueueId,
    pub(crate) priority: u8,
    /// Call skills merged with the queue's (max of the minimums per skill).
    pub(crate) skills: Vec<SkillReq>,
    /// Skills the call brought itself (kept to re-merge after a move).
    pub(crate) own_skills: Vec<SkillReq>,
    pub(crate) caller_id: Option<String>,
    pub(crate) preferred: Option<AgentId>,
    /// Only the preferred agent may take the call before this instant.
    pub(crate) preferred_until: Millis,
    /// While set, nobody but the preferred agent is eligible (cleared by a timer).
    pub(crate) preferred_active: bool,
    /// Entered the ACD (wait is measured from here).
    pub(crate) arrival: Millis,
    /// Entered the current queue (routing steps and max wait run from here).
    pub(crate) queue_entry: Millis,
    pub(crate) key: WaitKey,
    pub(crate) state: CallState,
    pub(crate) callback: bool,
    pub(crate) attempts: u32,
    pub(crate) step: usize,
    pub(crate) step_min: u8,
    pub(crate) epoch: u64,
    pub(crate) orig_position: usize,
    pub(crate) last_announce: Option<(usize, Option<u64>)>,
    pub(crate) hops: u8,
    /// Cleared after a max-wait overflow that could not move the call, so the timer
    /// does not fire forever.
    pub(crate) max_wait_applies: bool,
}
