//! Real-time statistics per queue and overall, as a serde-serializable snapshot.
//!
//! Service level convention (configurable per queue, [`SlConvention`]): by default
//! SL = answered within T / (answered + abandoned after the short-abandon threshold).
//! Short abandons (wait < `short_abandon_ms`) are counted separately and excluded from
//! SL and the abandon rate. Queued callbacks are counted separately and excluded from
//! SL, ASA and abandonment (the citizen is not holding). Wait is measured from entry
//! into the ACD, so a call moved between queues keeps its full wait.

use serde::Serialize;

use crate::agent::AgentState;
use crate::call::CallState;
use crate::model::{Millis, QueueId, SlConvention};
use crate::output::AgentStateKind;
use crate::router::Router;

/// Cumulative counters of one queue (since the router started).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounters {
    /// Calls that entered this queue from outside.
    pub entered: u64,
    /// Calls moved in from another queue (overflow or supervisor).
    pub moved_in: u64,
    /// Calls answered (callbacks excluded).
    pub answered: u64,
    /// Calls answered within the SL threshold.
    pub answered_within_sl: u64,
    /// Sum of waits of answered calls, ms.
    pub wait_answered_ms_sum: u64,
    /// Longest wait of an answered call, ms.
    pub max_wait_answered_ms: u64,
    /// Abandons after the short-abandon threshold.
    pub abandoned: u64,
    /// Abandons before the short-abandon threshold.
    pub abandoned_short: u64,
    /// Non-short abandons within the SL threshold (for the SL2 convention).
    pub abandoned_within_sl: u64,
    /// Calls that overflowed out of this queue (any action).
    pub overflowed: u64,
    /// Calls that left the ACD by overflow to a message or voicemail.
    pub exited: u64,
    /// Callbacks requested.
    pub callbacks_requested: u64,
    /// Callbacks that reached the citizen.
    pub callbacks_completed: u64,
    /// Callbacks given up after all attempts.
    pub callbacks_failed: u64,
    /// Conversations completed.
    pub completed: u64,
    /// Sum of talk times, ms.
    pub talk_ms_sum: u64,
    /// Calls whose wrap-up ended.
    pub handled: u64,
    /// Sum of talk + wrap-up, ms.
    pub handle_ms_sum: u64,
}

impl QueueCounters {
    pub(crate) fn record_answer(&mut self, wait_ms: u64, sl_threshold_ms: u64) {
        self.answered += 1;
        self.wait_answered_ms_sum = self.wait_answered_ms_sum.saturating_add(wait_ms);
        self.max_wait_answered_ms = self.max_wait_answered_ms.max(wait_ms);
        if wait_ms <= sl_threshold_ms {
            self.answered_within_sl += 1;
        }
    }

    pub(crate) fn record_abandon(&mut self, wait_ms: u64, short_ms: u64, sl_threshold_ms: u64) {
        if wait_ms < short_ms {
            self.abandoned_short += 1;
        } else {
            self.abandoned += 1;
            if wait_ms <= sl_threshold_ms {
                self.abandoned_within_sl += 1;
            }
        }
    }

    fn add(&mut self, o: &QueueCounters) {
        self.entered += o.entered;
        self.moved_in += o.moved_in;
        self.answered += o.answered;
        self.answered_within_sl += o.answered_within_sl;
        self.wait_answered_ms_sum =
            self.wait_answered_ms_sum.saturating_add(o.wait_answered_ms_sum);
        self.max_wait_answered_ms = self.max_wait_answered_ms.max(o.max_wait_answered_ms);
        self.abandoned += o.abandoned;
        self.abandoned_short += o.abandoned_short;
        self.abandoned_within_sl += o.abandoned_within_sl;
        self.overflowed += o.overflowed;
        self.exited += o.exited;
        self.callbacks_requested += o.callbacks_requested;
        self.callbacks_completed += o.callbacks_completed;
        self.callbacks_failed += o.callbacks_failed;
        self.completed += o.completed;
        self.talk_ms_sum = self.talk_ms_sum.saturating_add(o.talk_ms_sum);
        self.handled += o.handled;
        self.handle_ms_sum = self.handle_ms_sum.saturating_add(o.handle_ms_sum);
    }

    /// (numerator, denominator) of the service level under `conv`.
    pub fn sl_parts(&self, conv: SlConvention) -> (u64, u64) {
        match conv {
            SlConvention::AnsweredAndAbandoned => {
                (self.answered_within_sl, self.answered + self.abandoned)
            }
            SlConvention::AnsweredOnly => (self.answered_within_sl, self.answered),
            SlConvention::AbandonedWithinTIsGood => {
                (self.answered_within_sl + self.abandoned_within_sl, self.answered + self.abandoned)
            }
        }
    }
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    if d == 0 { None } else { Some(n as f64 / d as f64) }
}

/// Agents by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AgentCounts {
    /// Logged out.
    pub logged_out: u32,
    /// Ready.
    pub ready: u32,
    /// Paused.
    pub paused: u32,
    /// Delayed after reject/busy/no-answer.
    pub delayed: u32,
    /// Ringing.
    pub offered: u32,
    /// Reserved for a callback dial.
    pub dialing: u32,
    /// Talking.
    pub talking: u32,
    /// In wrap-up.
    pub wrap_up: u32,
}

impl AgentCounts {
    fn count(&mut self, k: AgentStateKind) {
        let slot = match k {
            AgentStateKind::LoggedOut => &mut self.logged_out,
            AgentStateKind::Ready => &mut self.ready,
            AgentStateKind::Paused => &mut self.paused,
            AgentStateKind::Delayed => &mut self.delayed,
            AgentStateKind::Offered => &mut self.offered,
            AgentStateKind::Dialing => &mut self.dialing,
            AgentStateKind::Talking => &mut self.talking,
            AgentStateKind::WrapUp => &mut self.wrap_up,
        };
        *slot += 1;
    }
}

/// A waiting call as listed by [`Router::waiting_calls`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WaitingCall {
    /// Call.
    pub call: crate::model::CallId,
    /// Queue.
    pub queue: QueueId,
    /// Priority class.
    pub priority: u8,
    /// Entered the ACD.
    pub arrival: Millis,
    /// Queued callback.
    pub callback: bool,
}

/// Statistics of one queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueSnapshot {
    /// Queue id.
    pub id: QueueId,
    /// Queue name.
    pub name: String,
    /// Calls waiting now (callbacks included).
    pub waiting: usize,
    /// Of which queued callbacks.
    pub waiting_callbacks: usize,
    /// Longest current wait, ms.
    pub longest_wait_ms: u64,
    /// Member agents by state.
    pub agents: AgentCounts,
    /// Cumulative counters.
    pub counters: QueueCounters,
    /// Service level under the queue's convention.
    pub service_level: Option<f64>,
    /// Average speed of answer, ms.
    pub asa_ms: Option<f64>,
    /// Average handle time (talk + wrap-up), ms.
    pub aht_ms: Option<f64>,
    /// Abandoned / (answered + abandoned), short abandons excluded.
    pub abandon_rate: Option<f64>,
    /// EWT a new caller would be told, ms.
    pub ewt_new_caller_ms: Option<u64>,
}

/// Statistics over all queues.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverallSnapshot {
    /// Calls waiting now.
    pub waiting: usize,
    /// Longest current wait, ms.
    pub longest_wait_ms: u64,
    /// All agents by state.
    pub agents: AgentCounts,
    /// Summed counters.
    pub counters: QueueCounters,
    /// Service level (each queue's numerator and denominator under its own convention).
    pub service_level: Option<f64>,
    /// Average speed of answer, ms.
    pub asa_ms: Option<f64>,
    /// Average handle time, ms.
    pub aht_ms: Option<f64>,
    /// Abandon rate, short abandons excluded.
    pub abandon_rate: Option<f64>,
    /// Busy (offered + dialing + talking + wrap-up) / (busy + ready + delayed) time.
    pub occupancy: Option<f64>,
}

/// One agent on the wallboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentSnapshot {
    /// Agent id.
    pub id: crate::model::AgentId,
    /// Display name.
    pub name: String,
    /// Current state.
    pub state: AgentStateKind,
    /// Pause reason, if paused.
    pub reason: Option<String>,
    /// When the current state began.
    pub since: Millis,
    /// Time in the current state, ms.
    pub in_state_ms: u64,
    /// Call held (ringing, dialing, talking or in wrap-up for).
    pub call: Option<crate::model::CallId>,
    /// Calls answered since the router started.
    pub calls: u64,
    /// Cumulative talk time, ms.
    pub talk_ms: u64,
    /// Consecutive missed offers.
    pub no_answer_streak: u32,
    /// A pause ("pause:REASON") or "logout" waiting for the current call to end.
    pub pending: Option<String>,
}

/// A full statistics snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsSnapshot {
    /// When it was taken.
    pub at: Millis,
    /// Per queue, by id.
    pub queues: Vec<QueueSnapshot>,
    /// Per agent, by id.
    pub agents: Vec<AgentSnapshot>,
    /// Overall.
    pub overall: OverallSnapshot,
}

impl Router {
    /// Statistics at `now` (O(agents + waiting calls)).
    pub fn snapshot(&self, now: Millis) -> StatsSnapshot {
        let now = now.max(self.now);
        let mut queues = Vec::new();
        let mut total = QueueCounters::default();
        let (mut sl_n, mut sl_d) = (0u64, 0u64);
        let mut waiting_all = 0;
        let mut longest_all = 0;
        for q in self.queues.iter().flatten() {
            let mut agents = AgentCounts::default();
            for m in &q.members {
                if let Some(a) = self.agent(*m) {
                    agents.count(a.state.kind());
                }
            }
            let mut longest = 0;
            let mut callbacks = 0;
            for cid in q.waiting.values() {
                if let Some(c) = self.calls.get(cid) {
                    if c.callback {
                        callbacks += 1;
                    } else {
                        longest = longest.max(now.since(c.arrival));
                    }
                }
            }
            let c = &q.counters;
            let (n, d) = c.sl_parts(q.cfg.sl_convention);
            sl_n += n;
            sl_d += d;
            total.add(c);
            waiting_all += q.waiting.len();
            longest_all = longest_all.max(longest);
            queues.push(QueueSnapshot {
                id: q.cfg.id,
                name: q.cfg.name.clone(),
                waiting: q.waiting.len(),
                waiting_callbacks: callbacks,
                longest_wait_ms: longest,
                agents,
                counters: c.clone(),
                service_level: ratio(n, d),
                asa_ms: ratio(c.wait_answered_ms_sum, c.answered),
                aht_ms: ratio(c.handle_ms_sum, c.handled),
                abandon_rate: ratio(c.abandoned, c.answered + c.abandoned),
                ewt_new_caller_ms: self.ewt(q.cfg.id, q.waiting.len() + 1),
            });
        }
        let mut agents = AgentCounts::default();
        let mut agent_list = Vec::new();
        let (mut busy, mut avail) = (0u64, 0u64);
        for a in self.agents.iter().flatten() {
            agents.count(a.state.kind());
            let (reason, call) = match &a.state {
                AgentState::Paused(r) => (Some(r.clone()), None),
                AgentState::Offered(c)
                | AgentState::Dialing(c)
                | AgentState::Talking(c)
                | AgentState::WrapUp(c) => (None, Some(*c)),
                _ => (None, None),
            };
            agent_list.push(AgentSnapshot {
                id: a.cfg.id,
                name: a.cfg.name.clone(),
                state: a.state.kind(),
                reason,
                since: a.since,
                in_state_ms: now.since(a.since),
                call,
                calls: a.calls,
                talk_ms: a.talk_ms,
                no_answer_streak: a.no_answer_streak,
                pending: a.pending.as_ref().map(|p| match p {
                    crate::agent::Pending::Pause(r) => format!("pause:{r}"),
                    crate::agent::Pending::Logout => "logout".to_string(),
                }),
            });
            let mut t = a.time_in;
            let k = a.state.kind().index();
            t[k] = t[k].saturating_add(now.since(a.since));
            let sum = |ks: &[AgentStateKind]| {
                ks.iter().fold(0u64, |acc, k| acc.saturating_add(t[k.index()]))
            };
            busy = busy.saturating_add(sum(&[
                AgentStateKind::Offered,
                AgentStateKind::Dialing,
                AgentStateKind::Talking,
                AgentStateKind::WrapUp,
            ]));
            avail = avail.saturating_add(sum(&[AgentStateKind::Ready, AgentStateKind::Delayed]));
        }
        let overall = OverallSnapshot {
            waiting: waiting_all,
            longest_wait_ms: longest_all,
            agents,
            service_level: ratio(sl_n, sl_d),
            asa_ms: ratio(total.wait_answered_ms_sum, total.answered),
            aht_ms: ratio(total.handle_ms_sum, total.handled),
            abandon_rate: ratio(total.abandoned, total.answered + total.abandoned),
            occupancy: ratio(busy, busy.saturating_add(avail)),
            counters: total,
        };
        StatsSnapshot { at: now, queues, agents: agent_list, overall }
    }

    /// Whether the router still knows the call (waiting, ringing, talking, callback).
    pub fn has_call(&self, id: crate::model::CallId) -> bool {
        self.calls.contains_key(&id)
    }

    /// All waiting calls in the global order (priority class, then score), e.g. for a
    /// wallboard or a supervisor picking a call. O(waiting · log).
    pub fn waiting_calls(&self) -> Vec<WaitingCall> {
        let mut v: Vec<(crate::call::WaitKey, WaitingCall)> = Vec::new();
        for q in self.queues.iter().flatten() {
            for (k, cid) in &q.waiting {
                if let Some(c) = self.calls.get(cid) {
                    v.push((
                        *k,
                        WaitingCall {
                            call: *cid,
                            queue: c.queue,
                            priority: c.priority,
                            arrival: c.arrival,
                            callback: c.callback,
                        },
                    ));
                }
            }
        }
        v.sort_by_key(|a| a.0);
        v.into_iter().map(|(_, w)| w).collect()
    }

    /// Current state of an agent, if configured.
    pub fn agent_state(&self, id: crate::model::AgentId) -> Option<AgentStateKind> {
        self.agent(id).map(|a| a.state.kind())
    }

    /// Whether a call is currently waiting in a queue.
    pub fn is_waiting(&self, id: crate::model::CallId) -> bool {
        self.calls.get(&id).is_some_and(|c| c.state == CallState::Waiting)
    }

    /// Accumulated ms the agent spent in each state (open interval included).
    pub fn agent_time_in_state(&self, id: crate::model::AgentId, now: Millis) -> Option<[u64; 8]> {
        let a = self.agent(id)?;
        let mut t = a.time_in;
        let k = a.state.kind().index();
        t[k] = t[k].saturating_add(now.max(self.now).since(a.since));
        Some(t)
    }
}
