//! The sans-IO router: `handle(input, now)` applies one input (after firing due
//! timers), `poll_output()` drains commands and records, `next_timeout()` says when to
//! call `handle(Input::Tick, now)` next.
//!
//! Invariants kept after every `handle` (checked by [`Router::check_invariants`]):
//! - an agent holds at most one call (offer, dial or talk), and call and agent agree;
//! - work conservation: no waiting call has a ready agent that is eligible for it;
//! - a ready agent sits in the ready index of exactly the queues it serves.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::agent::{Agent, AgentState, DelayReason, Pending};
use crate::call::{Call, CallState, WaitKey};
use crate::input::{ForcedState, Handled, Ignored, Input, NewCall, RejectReason};
use crate::model::{
    AgentConfig, AgentId, CallId, ConfigError, MAX_ID, MAX_PROFICIENCY, MAX_SKILL, Millis, OfferId,
    OverflowAction, OverflowReason, QueueConfig, QueueId, RouterConfig, SkillReq,
};
use crate::output::{CancelReason, OfferKind, Output};
use crate::queue_log::{LogEvent, QueueLogEntry};
use crate::stats::QueueCounters;

/// A tiny multiplicative hasher: call ids are integers chosen by us or the switch, and
/// SipHash's DoS resistance is not needed inside a single-owner router.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = self.0.rotate_left(29);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(26);
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Timers; each carries what is needed to detect that it became stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    Ring { call: CallId, offer: u64 },
    WrapCap { agent: AgentId, epoch: u64 },
    Delay { agent: AgentId, epoch: u64 },
    Step { call: CallId, epoch: u64 },
    Preferred { call: CallId, epoch: u64 },
    MaxWait { call: CallId, epoch: u64 },
    Announce { call: CallId, epoch: u64 },
    CallbackRetry { call: CallId, epoch: u64 },
}

/// One queue at runtime.
#[derive(Debug)]
pub(crate) struct Queue {
    pub(crate) cfg: QueueConfig,
    /// Waiting calls in global order (keys are comparable across queues).
    pub(crate) waiting: BTreeMap<WaitKey, CallId>,
    /// Ready members ordered by this queue's strategy key.
    pub(crate) ready: BTreeSet<(u64, u64, u32)>,
    pub(crate) members: Vec<AgentId>,
    pub(crate) logged_in: u32,
    pub(crate) staffed: u32,
    /// Last (position, agent) offered, for round-robin.
    pub(crate) rr_last: (u64, u32),
    pub(crate) counters: QueueCounters,
    pub(crate) aht_ewma_ms: f64,
}

/// The automatic call distributor. Single owner, no interior mutability, no IO.
pub struct Router {
    pub(crate) priority_aging_ms: Option<u64>,
    pub(crate) emit_log: bool,
    pub(crate) emit_agent_events: bool,
    pub(crate) queues: Vec<Option<Queue>>,
    pub(crate) agents: Vec<Option<Agent>>,
    pub(crate) calls: FastMap<CallId, Call>,
    timers: BinaryHeap<Reverse<(Millis, u64, Timer)>>,
    timer_seq: u64,
    outputs: VecDeque<Output>,
    seq: u64,
    offer_seq: u64,
    pub(crate) now: Millis,
    pub(crate) rng: StdRng,
    sticky: HashMap<String, (AgentId, Millis)>,
    ended: std::collections::HashSet<CallId, BuildHasherDefault<IdHasher>>,
    ended_fifo: VecDeque<CallId>,
}

/// How many ended call ids are remembered to recognise late events.
const ENDED_MEMORY: usize = 100_000;
/// How many repeat callers are remembered for sticky routing before pruning.
const STICKY_MEMORY: usize = 200_000;

fn slot<T>(v: &mut Vec<Option<T>>, id: u32) -> &mut Option<T> {
    let i = id as usize;
    if v.len() <= i {
        v.resize_with(i + 1, || None);
    }
    &mut v[i]
}

impl Router {
    /// A router with the given configuration, starting at time `now`.
    pub fn new(config: RouterConfig, now: Millis) -> Result<Router, ConfigError> {
        let mut r = Router {
            priority_aging_ms: config.priority_aging_ms,
            emit_log: config.queue_log,
            emit_agent_events: config.agent_events,
            queues: Vec::new(),
            agents: Vec::new(),
            calls: FastMap::default(),
            timers: BinaryHeap::new(),
            timer_seq: 0,
            outputs: VecDeque::new(),
            seq: 0,
            offer_seq: 0,
            now,
            rng: StdRng::seed_from_u64(config.seed),
            sticky: HashMap::new(),
            ended: Default::default(),
            ended_fifo: VecDeque::new(),
        };
        for q in config.queues {
            r.configure_queue(q, now)?;
        }
        for a in config.agents {
            r.configure_agent(a, now)?;
        }
        // Configuration emits nothing worth reporting.
        r.outputs.clear();
        Ok(r)
    }

    /// Apply one input at time `now` (due timers fire first). `now` earlier than a
    /// previous call is treated as the previous time: the router's clock never goes back.
    pub fn handle(&mut self, input: Input, now: Millis) -> Handled {
        let now = now.max(self.now);
        self.now = now;
        self.run_timers(now);
        let result = match input {
            Input::Tick => Ok(()),
            Input::ConfigureQueue(cfg) => {
                self.configure_queue(cfg, now).map_err(Ignored::InvalidConfig)
            }
            Input::ConfigureAgent(cfg) => {
                self.configure_agent(cfg, now).map_err(Ignored::InvalidConfig)
            }
            Input::AgentLogin { agent } => self.login(agent, now),
            Input::AgentLogout { agent } => self.logout(agent, now),
            Input::AgentReady { agent } | Input::AgentUnpause { agent } => self.ready(agent, now),
            Input::AgentPause { agent, reason } => self.pause(agent, reason, now),
            Input::ForceAgentState { agent, state } => match state {
                ForcedState::Ready => match self.agent(agent).map(|a| a.state.clone()) {
                    Some(AgentState::LoggedOut) => self.login(agent, now),
                    _ => self.ready(agent, now),
                },
                ForcedState::Paused(reason) => self.pause(agent, reason, now),
                ForcedState::LoggedOut => self.logout(agent, now),
            },
            Input::CallArrived(call) => self.arrive(call, now),
            Input::ResumeTalking { call, agent } => self.resume_talking(call, agent, now),
            Input::OfferAccepted { call, agent, offer } => self.accept(call, agent, offer, now),
            Input::OfferRejected { call, agent, offer, reason } => {
                self.reject(call, agent, offer, reason, now)
            }
            Input::CallerHangup { call } => self.caller_hangup(call, now),
            Input::CallerExit { call, key } => self.caller_exit(call, key, now),
            Input::CallEnded { call } => self.agent_hangup(call, now),
            Input::WrapUpDone { agent, disposition } => self.wrap_up_done(agent, disposition, now),
            Input::CallbackRequested { call } => self.callback_requested(call, now),
            Input::CallbackResult { call, reached } => self.callback_result(call, reached, now),
            Input::MoveCall { call, queue } => self.move_call(call, queue, now),
            Input::SetPriority { call, priority } => self.set_priority(call, priority, now),
        };
        match result {
            Ok(()) => Handled::Applied,
            Err(e) => Handled::Ignored(e),
        }
    }

    /// Next pending output, oldest first.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When the router next needs `handle(Input::Tick, t)`. Stale timers are dropped
    /// here so the caller is not woken for nothing.
    pub fn next_timeout(&mut self) -> Option<Millis> {
        while let Some(Reverse((at, _, t))) = self.timers.peek() {
            if self.timer_valid(t) {
                return Some(*at);
            }
            self.timers.pop();
        }
        None
    }

    /// Number of calls currently known (waiting, ringing, talking, callbacks).
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Number of calls waiting in `queue` (callbacks included).
    pub fn waiting_count(&self, queue: QueueId) -> usize {
        self.queue(queue).map_or(0, |q| q.waiting.len())
    }

    // ----- small accessors -------------------------------------------------------

    pub(crate) fn agent(&self, id: AgentId) -> Option<&Agent> {
        self.agents.get(id.0 as usize).and_then(Option::as_ref)
    }
    pub(crate) fn agent_mut(&mut self, id: AgentId) -> Option<&mut Agent> {
        self.agents.get_mut(id.0 as usize).and_then(Option::as_mut)
    }
    pub(crate) fn queue(&self, id: QueueId) -> Option<&Queue> {
        self.queues.get(id.0 as usize).and_then(Option::as_ref)
    }
    pub(crate) fn queue_mut(&mut self, id: QueueId) -> Option<&mut Queue> {
        self.queues.get_mut(id.0 as usize).and_then(Option::as_mut)
    }

    pub(crate) fn emit(&mut self, o: Output) {
        self.outputs.push_back(o);
    }

    pub(crate) fn log(
        &mut self,
        now: Millis,
        call: Option<CallId>,
        queue: Option<QueueId>,
        agent: Option<AgentId>,
        event: LogEvent,
    ) {
        if self.emit_log {
            self.outputs.push_back(Output::QueueLog(QueueLogEntry {
                at: now,
                call,
                queue,
                agent,
                event,
            }));
        }
    }

    fn push_timer(&mut self, at: Millis, t: Timer) {
        // A timer at the end of time never fires. This also guarantees progress: with
        // `now` saturated at u64::MAX a re-armed timer would otherwise be due at once,
        // forever.
        if at.0 == u64::MAX {
            return;
        }
        self.timer_seq += 1;
        self.timers.push(Reverse((at, self.timer_seq, t)));
    }

    // ----- configuration -----------------------------------------------------------

    fn validate_skills(reqs: &[SkillReq]) -> Result<(), ConfigError> {
        for r in reqs {
            if r.skill.0 > MAX_SKILL {
                return Err(ConfigError::SkillTooLarge(r.skill.0));
            }
            if r.min_proficiency == 0 || r.min_proficiency > MAX_PROFICIENCY {
                return Err(ConfigError::BadProficiency(r.min_proficiency));
            }
        }
        Ok(())
    }

    fn configure_queue(&mut self, cfg: QueueConfig, now: Millis) -> Result<(), ConfigError> {
        if cfg.id.0 > MAX_ID {
            return Err(ConfigError::IdTooLarge(cfg.id.0));
        }
        Self::validate_skills(&cfg.skills)?;
        let id = cfg.id;
        let existed = self.queue(id).is_some();
        if !existed {
            let aht = cfg.expected_aht_ms.max(1) as f64;
            *slot(&mut self.queues, id.0) = Some(Queue {
                cfg,
                waiting: BTreeMap::new(),
                ready: BTreeSet::new(),
                members: Vec::new(),
                logged_in: 0,
                staffed: 0,
                rr_last: (0, 0),
                counters: QueueCounters::default(),
                aht_ewma_ms: aht,
            });
            return Ok(());
        }
        // Replace: ready keys may depend on the strategy and skills, so take the ready
        // members out, swap the config, and put them back.
        let members: Vec<AgentId> = self.queue(id).map(|q| q.members.clone()).unwrap_or_default();
        let ready: Vec<AgentId> = members
            .iter()
            .copied()
            .filter(|a| self.agent(*a).is_some_and(|a| a.state == AgentState::Ready))
            .collect();
        for &a in &ready {
            self.unindex_ready(a);
        }
        if let Some(q) = self.queue_mut(id) {
            q.cfg = cfg;
        }
        let waiting: Vec<CallId> =
            self.queue(id).map(|q| q.waiting.values().copied().collect()).unwrap_or_default();
        for c in &waiting {
            self.remerge_skills(*c);
        }
        for &a in &ready {
            self.index_ready(a);
        }
        for c in waiting {
            self.try_match_call(c, now);
        }
        for a in ready {
            self.try_match_agent(a, now);
        }
        Ok(())
    }

    pub(crate) fn remerge_skills(&mut self, cid: CallId) {
        let Some(call) = self.calls.get(&cid) else { return };
        let mut skills: Vec<SkillReq> =
            self.queue(call.queue).map(|q| q.cfg.skills.clone()).unwrap_or_default();
        for r in &call.own_skills {
            match skills.iter_mut().find(|s| s.skill == r.skill) {
                Some(s) => s.min_proficiency = s.min_proficiency.max(r.min_proficiency),
                None => skills.push(*r),
            }
        }
        if let Some(call) = self.calls.get_mut(&cid) {
            call.skills = skills;
        }
    }

    fn configure_agent(&mut self, cfg: AgentConfig, now: Millis) -> Result<(), ConfigError> {
        if cfg.id.0 > MAX_ID {
            return Err(ConfigError::IdTooLarge(cfg.id.0));
        }
        for &(s, p) in &cfg.skills {
            if s.0 > MAX_SKILL {
                return Err(ConfigError::SkillTooLarge(s.0));
            }
            if p == 0 || p > MAX_PROFICIENCY {
                return Err(ConfigError::BadProficiency(p));
            }
        }
        let mut queues = Vec::with_capacity(cfg.queues.len());
        for &q in &cfg.queues {
            if self.queue(q).is_none() {
                return Err(ConfigError::UnknownQueue { agent: cfg.id.0, queue: q.0 });
            }
            queues.push(q);
        }
        queues.sort_unstable();
        queues.dedup();
        let id = cfg.id;
        let was_ready = self.agent(id).is_some_and(|a| a.state == AgentState::Ready);
        if was_ready {
            self.unindex_ready(id);
        }
        // Leave the old queues (membership and counts) before switching.
        if let Some(old) = self.agent(id) {
            let (old_queues, li, st) = (old.queues.clone(), old.logged_in(), old.staffed());
            for q in old_queues {
                if let Some(q) = self.queue_mut(q) {
                    q.members.retain(|m| *m != id);
                    q.logged_in = q.logged_in.saturating_sub(u32::from(li));
                    q.staffed = q.staffed.saturating_sub(u32::from(st));
                }
            }
        }
        match self.agent_mut(id) {
            Some(a) => {
                let fresh = Agent::new(cfg, queues, now);
                a.cfg = fresh.cfg;
                a.skills = fresh.skills;
                a.queues = fresh.queues;
            }
            None => *slot(&mut self.agents, id.0) = Some(Agent::new(cfg, queues, now)),
        }
        if let Some(a) = self.agent(id) {
            let (qs, li, st) = (a.queues.clone(), a.logged_in(), a.staffed());
            for q in qs {
                if let Some(q) = self.queue_mut(q) {
                    q.members.push(id);
                    q.logged_in += u32::from(li);
                    q.staffed += u32::from(st);
                }
            }
        }
        if was_ready {
            self.index_ready(id);
            self.try_match_agent(id, now);
        }
        Ok(())
    }

    // ----- agent state machine -----------------------------------------------------

    /// The single place where an agent changes state: time accounting, per-queue
    /// counts, the ready index, the epoch and the state-change event.
    pub(crate) fn set_state(&mut self, id: AgentId, state: AgentState, now: Millis) {
        let Some(a) = self.agent(id) else { return };
        let was_ready = a.state == AgentState::Ready;
        let (li0, st0) = (a.logged_in(), a.staffed());
        if was_ready {
            self.unindex_ready(id);
        }
        let Some(a) = self.agent_mut(id) else { return };
        let k = a.state.kind().index();
        a.time_in[k] = a.time_in[k].saturating_add(now.since(a.since));
        a.state = state;
        a.since = now;
        a.epoch += 1;
        let (li1, st1) = (a.logged_in(), a.staffed());
        let kind = a.state.kind();
        let reason = match &a.state {
            AgentState::Paused(r) => Some(r.clone()),
            _ => None,
        };
        let is_ready = a.state == AgentState::Ready;
        if li0 != li1 || st0 != st1 {
            let qs = a.queues.clone();
            for q in qs {
                if let Some(q) = self.queue_mut(q) {
                    q.logged_in = (q.logged_in + u32::from(li1)).saturating_sub(u32::from(li0));
                    q.staffed = (q.staffed + u32::from(st1)).saturating_sub(u32::from(st0));
                }
            }
        }
        if is_ready {
            self.index_ready(id);
        }
        if self.emit_agent_events {
            self.emit(Output::AgentStateChanged { agent: id, state: kind, reason, at: now });
        }
    }

    fn login(&mut self, id: AgentId, now: Millis) -> Result<(), Ignored> {
        let a = self.agent_mut(id).ok_or(Ignored::UnknownAgent)?;
        if a.state != AgentState::LoggedOut {
            return Err(Ignored::AlreadyInState);
        }
        a.login_at = now;
        a.idle_since = now;
        a.no_answer_streak = 0;
        a.pending = None;
        self.log(now, None, None, Some(id), LogEvent::AgentLogin);
        self.set_state(id, AgentState::Ready, now);
        self.try_match_agent(id, now);
        Ok(())
    }

    fn logout(&mut self, id: AgentId, now: Millis) -> Result<(), Ignored> {
        let a = self.agent(id).ok_or(Ignored::UnknownAgent)?;
        match a.state.clone() {
            AgentState::LoggedOut => Err(Ignored::AlreadyInState),
            AgentState::Talking(_) | AgentState::Dialing(_) | AgentState::WrapUp(_) => {
                if a.pending == Some(Pending::Logout) {
                    return Err(Ignored::AlreadyInState);
                }
                if let Some(a) = self.agent_mut(id) {
                    a.pending = Some(Pending::Logout);
                }
                Ok(())
            }
            AgentState::Offered(call) => {
                self.withdraw_offer(call, id, CancelReason::AgentLoggedOut, now);
                self.logout_now(id, now);
                Ok(())
            }
            AgentState::Ready | AgentState::Paused(_) | AgentState::Delayed(_) => {
                self.logout_now(id, now);
                Ok(())
            }
        }
    }

    fn logout_now(&mut self, id: AgentId, now: Millis) {
        let Some(a) = self.agent(id) else { return };
        let session_ms = now.since(a.login_at);
        let queues = a.queues.clone();
        self.log(now, None, None, Some(id), LogEvent::AgentLogoff { session_ms });
        self.set_state(id, AgentState::LoggedOut, now);
        // A routing step may have become one that nobody logged in can match: re-run
        // the step choice (which skips such steps) for calls waiting in those queues.
        for &q in &queues {
            let Some(queue) = self.queue(q) else { continue };
            if queue.cfg.steps.is_empty() {
                continue;
            }
            let calls: Vec<CallId> = queue.waiting.values().copied().collect();
            for c in calls {
                if self.calls.get(&c).is_some_and(|c| c.step_min > 0) {
                    self.update_step(c, now);
                    self.try_match_call(c, now);
                }
            }
        }
        // "No agent logged in" overflow for calls left behind.
        for q in queues {
            let Some(queue) = self.queue(q) else { continue };
            if queue.logged_in > 0
                || !queue.cfg.overflow_when_no_agents
                || queue.cfg.overflow.is_none()
            {
                continue;
            }
            let calls: Vec<CallId> = queue.waiting.values().copied().collect();
            for c in calls {
                if self.calls.get(&c).is_some_and(|c| !c.callback) {
                    self.overflow(c, OverflowReason::NoAgents, now);
                }
            }
        }
    }

    fn ready(&mut self, id: AgentId, now: Millis) -> Result<(), Ignored> {
        let a = self.agent(id).ok_or(Ignored::UnknownAgent)?;
        match a.state.clone() {
            AgentState::LoggedOut => Err(Ignored::NotLoggedIn),
            AgentState::Ready | AgentState::Offered(_) => Err(Ignored::AlreadyInState),
            AgentState::Talking(_) | AgentState::Dialing(_) | AgentState::WrapUp(_) => {
                // Cancels a pending pause; otherwise nothing to do.
                if matches!(a.pending, Some(Pending::Pause(_))) {
                    if let Some(a) = self.agent_mut(id) {
                        a.pending = None;
                    }
                    Ok(())
                } else {
                    Err(Ignored::AlreadyInState)
                }
            }
            AgentState::Paused(reason) => {
                if let Some(a) = self.agent_mut(id) {
                    a.no_answer_streak = 0;
                }
                self.log(now, None, None, Some(id), LogEvent::Unpause { reason });
                self.set_state(id, AgentState::Ready, now);
                self.try_match_agent(id, now);
                Ok(())
            }
            AgentState::Delayed(_) => {
                self.set_state(id, AgentState::Ready, now);
                self.try_match_agent(id, now);
                Ok(())
            }
        }
    }

    fn pause(&mut self, id: AgentId, reason: String, now: Millis) -> Result<(), Ignored> {
        let a = self.agent(id).ok_or(Ignored::UnknownAgent)?;
        match a.state.clone() {
            AgentState::LoggedOut => Err(Ignored::NotLoggedIn),
            AgentState::Paused(r) if r == reason => Err(Ignored::AlreadyInState),
            AgentState::Talking(_) | AgentState::Dialing(_) | AgentState::WrapUp(_) => {
                let p = Some(Pending::Pause(reason));
                if a.pending == p {
                    return Err(Ignored::AlreadyInState);
                }
                if let Some(a) = self.agent_mut(id) {
                    a.pending = p;
                }
                Ok(())
            }
            AgentState::Offered(call) => {
                self.withdraw_offer(call, id, CancelReason::AgentPaused, now);
                self.log(now, None, None, Some(id), LogEvent::Pause { reason: reason.clone() });
                self.set_state(id, AgentState::Paused(reason), now);
                Ok(())
            }
            AgentState::Ready | AgentState::Delayed(_) | AgentState::Paused(_) => {
                self.log(now, None, None, Some(id), LogEvent::Pause { reason: reason.clone() });
                self.set_state(id, AgentState::Paused(reason), now);
                Ok(())
            }
        }
    }

    /// The agent is done with a call (and wrap-up): apply a pending pause/logout or
    /// become ready and take the next call.
    fn become_available(&mut self, id: AgentId, now: Millis) {
        let Some(a) = self.agent_mut(id) else { return };
        a.idle_since = now;
        match a.pending.take() {
            Some(Pending::Pause(reason)) => {
                self.log(now, None, None, Some(id), LogEvent::Pause { reason: reason.clone() });
                self.set_state(id, AgentState::Paused(reason), now);
            }
            Some(Pending::Logout) => self.logout_now(id, now),
            None => {
                self.set_state(id, AgentState::Ready, now);
                self.try_match_agent(id, now);
            }
        }
    }

    /// The agent's offer is withdrawn by the router (pause/logout while ringing): the
    /// call goes back to waiting with its place; the agent's state is set by the caller.
    fn withdraw_offer(&mut self, cid: CallId, aid: AgentId, reason: CancelReason, now: Millis) {
        let Some(call) = self.calls.get(&cid) else { return };
        let (queue, at) = match call.state {
            CallState::Offered { at, .. } => (call.queue, at),
            _ => return,
        };
        self.emit(Output::CancelOffer { call: cid, agent: aid, reason });
        self.log(
            now,
            Some(cid),
            Some(queue),
            Some(aid),
            LogEvent::RingCanceled { ring_ms: now.since(at) },
        );
        self.enter_waiting(cid, now);
    }

    // ----- calls ---------------------------------------------------------------------

    pub(crate) fn make_key(&mut self, arrival: Millis, base: i64, priority: u8) -> WaitKey {
        self.seq += 1;
        let t = (arrival.0.min(i64::MAX as u64) as i64).saturating_sub(base);
        match self.priority_aging_ms {
            None => WaitKey { class: -i64::from(priority), time: t, seq: self.seq },
            Some(aging) => WaitKey {
                class: 0,
                time: t.saturating_sub(
                    i64::from(priority).saturating_mul(aging.min(i64::MAX as u64) as i64),
                ),
                seq: self.seq,
            },
        }
    }

    fn arrive(&mut self, nc: NewCall, now: Millis) -> Result<(), Ignored> {
        let queue = self.queue(nc.queue).ok_or(Ignored::UnknownQueue)?;
        if self.calls.contains_key(&nc.call) || self.ended.contains(&nc.call) {
            return Err(Ignored::DuplicateCall);
        }
        Self::validate_skills(&nc.skills).map_err(Ignored::InvalidConfig)?;
        let base = queue.cfg.base_score_ms;
        let sticky_window = queue.cfg.sticky_window_ms;
        let preferred_wait = queue.cfg.preferred_wait_ms;
        let key = self.make_key(now, base, nc.priority);
        // Preferred agent: explicit, else the last agent of a repeat caller.
        let mut preferred = nc.preferred_agent;
        if preferred.is_none()
            && sticky_window > 0
            && let Some(cid) = &nc.caller_id
            && let Some(&(a, at)) = self.sticky.get(cid)
            && now.since(at) <= sticky_window
        {
            preferred = Some(a);
        }
        let preferred = preferred
            .filter(|a| self.agent(*a).is_some_and(|ag| ag.serves(nc.queue) && ag.logged_in()));
        let qref = self.queue(nc.queue).ok_or(Ignored::UnknownQueue)?;
        let position = match qref.waiting.keys().next_back() {
            Some(last) if *last > key => qref.waiting.range(..key).count() + 1,
            _ => qref.waiting.len() + 1,
        };
        let call = Call {
            queue: nc.queue,
            priority: nc.priority,
            skills: Vec::new(),
            own_skills: nc.skills,
            caller_id: nc.caller_id.clone(),
            preferred,
            preferred_until: now.plus(preferred_wait),
            preferred_active: preferred.is_some() && preferred_wait > 0,
            arrival: now,
            queue_entry: now,
            key,
            state: CallState::CallbackRetry,
            callback: nc.callback,
            attempts: 0,
            step: 0,
            step_min: 0,
            epoch: 0,
            orig_position: position,
            last_announce: None,
            hops: 0,
            max_wait_applies: true,
        };
        self.calls.insert(nc.call, call);
        self.remerge_skills(nc.call);
        if let Some(q) = self.queue_mut(nc.queue) {
            q.counters.entered += 1;
        }
        let caller = nc.caller_id.unwrap_or_default();
        self.log(
            now,
            Some(nc.call),
            Some(nc.queue),
            None,
            LogEvent::EnterQueue { caller_id: caller, position },
        );
        if nc.callback {
            if let Some(q) = self.queue_mut(nc.queue) {
                q.counters.callbacks_requested += 1;
            }
            self.log(
                now,
                Some(nc.call),
                Some(nc.queue),
                None,
                LogEvent::CallbackRequested { position },
            );
            self.enter_waiting(nc.call, now);
            return Ok(());
        }
        // Admission checks (only meaningful when an overflow action is configured).
        let q = self.queue(nc.queue).ok_or(Ignored::UnknownQueue)?;
        if q.cfg.overflow.is_some() {
            let reason = if q.cfg.overflow_when_no_agents && q.logged_in == 0 {
                Some(OverflowReason::NoAgents)
            } else if q.cfg.max_len.is_some_and(|m| q.waiting.len() >= m) {
                Some(OverflowReason::MaxLength)
            } else if let Some(thr) = q.cfg.ewt_threshold_ms {
                // Only when the call would have to wait: with a ready eligible agent the
                // real wait is zero whatever the estimate says.
                let ewt = self.ewt(nc.queue, position);
                let would_wait = self.best_agent_for(nc.call).is_none();
                if would_wait && ewt.is_none_or(|e| e > thr) {
                    Some(OverflowReason::EwtAboveThreshold)
                } else {
                    None
                }
            } else {
                None
            };
            if let Some(reason) = reason {
                self.overflow(nc.call, reason, now);
                return Ok(());
            }
        }
        self.enter_waiting(nc.call, now);
        // Announce on entry if the call has to wait.
        if self.calls.get(&nc.call).is_some_and(|c| c.state == CallState::Waiting) {
            self.announce(nc.call, now, true);
        }
        Ok(())
    }

    /// A conversation from before a restart: the call enters already talking to `aid`.
    /// Its wait and answer were counted by the router that connected it, so only its end
    /// is counted here.
    fn resume_talking(&mut self, nc: NewCall, aid: AgentId, now: Millis) -> Result<(), Ignored> {
        let queue = self.queue(nc.queue).ok_or(Ignored::UnknownQueue)?;
        if self.calls.contains_key(&nc.call) || self.ended.contains(&nc.call) {
            return Err(Ignored::DuplicateCall);
        }
        Self::validate_skills(&nc.skills).map_err(Ignored::InvalidConfig)?;
        let base = queue.cfg.base_score_ms;
        let agent = self.agent(aid).ok_or(Ignored::UnknownAgent)?;
        // An agent busy with another call of this router cannot be in this conversation.
        let paused = match &agent.state {
            AgentState::LoggedOut | AgentState::Ready | AgentState::Delayed(_) => None,
            AgentState::Paused(reason) => Some(reason.clone()),
            AgentState::Offered(_)
            | AgentState::Dialing(_)
            | AgentState::Talking(_)
            | AgentState::WrapUp(_) => return Err(Ignored::WrongAgentState),
        };
        let logged_out = agent.state == AgentState::LoggedOut;
        let key = self.make_key(now, base, nc.priority);
        self.calls.insert(
            nc.call,
            Call {
                queue: nc.queue,
                priority: nc.priority,
                skills: Vec::new(),
                own_skills: nc.skills,
                caller_id: nc.caller_id,
                preferred: None,
                preferred_until: now,
                preferred_active: false,
                arrival: now,
                queue_entry: now,
                key,
                state: CallState::Talking { agent: aid, at: now },
                callback: nc.callback,
                attempts: 0,
                step: 0,
                step_min: 0,
                epoch: 0,
                orig_position: 1,
                last_announce: None,
                hops: 0,
                max_wait_applies: false,
            },
        );
        self.remerge_skills(nc.call);
        if let Some(a) = self.agent_mut(aid) {
            if logged_out {
                a.login_at = now;
                a.idle_since = now;
                a.no_answer_streak = 0;
                a.pending = None;
            }
            // A paused agent was paused when the router started again: back to the pause
            // once the conversation is over.
            if let Some(reason) = paused {
                a.pending = Some(Pending::Pause(reason));
            }
            a.calls += 1;
        }
        if logged_out {
            self.log(now, None, None, Some(aid), LogEvent::AgentLogin);
        }
        self.set_state(aid, AgentState::Talking(nc.call), now);
        Ok(())
    }

    /// Put a call (back) into its queue's waiting set, arm its timers and try to
    /// serve it at once (work conservation).
    pub(crate) fn enter_waiting(&mut self, cid: CallId, now: Millis) {
        let Some(call) = self.calls.get_mut(&cid) else { return };
        call.state = CallState::Waiting;
        call.epoch += 1;
        let (qid, key, epoch) = (call.queue, call.key, call.epoch);
        let (callback, entry, pref_until, pref_active) =
            (call.callback, call.queue_entry, call.preferred_until, call.preferred_active);
        let max_wait_applies = call.max_wait_applies;
        let Some(q) = self.queue_mut(qid) else { return };
        q.waiting.insert(key, cid);
        let max_wait = q.cfg.max_wait_ms;
        let announce = q.cfg.announce.interval_ms;
        let has_overflow = q.cfg.overflow.is_some();
        self.update_step(cid, now);
        if pref_active {
            self.push_timer(pref_until.max(now), Timer::Preferred { call: cid, epoch });
        }
        if !callback {
            if let (Some(mw), true, true) = (max_wait, has_overflow, max_wait_applies) {
                self.push_timer(entry.plus(mw).max(now), Timer::MaxWait { call: cid, epoch });
            }
            if announce > 0 {
                self.push_timer(now.plus(announce), Timer::Announce { call: cid, epoch });
            }
        }
        self.try_match_call(cid, now);
    }

    /// Take a waiting call out of its queue's waiting set.
    pub(crate) fn leave_waiting(&mut self, cid: CallId) {
        let Some(call) = self.calls.get_mut(&cid) else { return };
        if call.state != CallState::Waiting {
            return;
        }
        call.epoch += 1;
        let (qid, key) = (call.queue, call.key);
        if let Some(q) = self.queue_mut(qid) {
            q.waiting.remove(&key);
        }
    }

    /// Routing steps: pick the step for the time spent in the queue, skipping steps
    /// nobody logged in could match, and arm the timer for the next widening.
    fn update_step(&mut self, cid: CallId, now: Millis) {
        let Some(call) = self.calls.get(&cid) else { return };
        let Some(q) = self.queue(call.queue) else { return };
        let steps = &q.cfg.steps;
        if steps.is_empty() {
            return;
        }
        let elapsed = now.since(call.queue_entry);
        let mut idx = 0;
        let mut end = 0u64; // cumulative end of step idx
        loop {
            match steps.get(idx).and_then(|s| s.duration_ms) {
                Some(d) if idx + 1 < steps.len() => {
                    end = end.saturating_add(d);
                    if elapsed >= end {
                        idx += 1;
                        continue;
                    }
                }
                _ => end = u64::MAX,
            }
            break;
        }
        // Skip steps that no logged-in member could ever match.
        while idx + 1 < steps.len() {
            let min = steps[idx].min_proficiency;
            let possible = q.members.iter().any(|m| {
                self.agent(*m)
                    .is_some_and(|a| a.logged_in() && crate::select::meets(a, &call.skills, min))
            });
            if possible {
                break;
            }
            idx += 1;
            end = match steps.get(idx).and_then(|s| s.duration_ms) {
                Some(d) if idx + 1 < steps.len() => end.saturating_add(d),
                _ => u64::MAX,
            };
        }
        let min = steps.get(idx).map_or(0, |s| s.min_proficiency);
        let (entry, epoch) = (call.queue_entry, call.epoch);
        if let Some(call) = self.calls.get_mut(&cid) {
            call.step = idx;
            call.step_min = min;
        }
        if end != u64::MAX {
            self.push_timer(entry.plus(end).max(now), Timer::Step { call: cid, epoch });
        }
    }

    /// Reserve `aid` for `cid` and ring it.
    pub(crate) fn offer(&mut self, cid: CallId, aid: AgentId, now: Millis) {
        self.leave_waiting(cid);
        self.offer_seq += 1;
        let offer = self.offer_seq;
        let Some(call) = self.calls.get_mut(&cid) else { return };
        call.state = CallState::Offered { agent: aid, offer, at: now };
        let (qid, callback) = (call.queue, call.callback);
        let position = self.agent(aid).map_or(0, |a| u64::from(a.cfg.position));
        let ring = match self.queue_mut(qid) {
            Some(q) => {
                q.rr_last = (position, aid.0);
                q.cfg.ring_timeout_ms
            }
            None => 0,
        };
        self.set_state(aid, AgentState::Offered(cid), now);
        if ring > 0 {
            self.push_timer(now.plus(ring), Timer::Ring { call: cid, offer });
        }
        let kind = if callback { OfferKind::Callback } else { OfferKind::Inbound };
        self.emit(Output::Offer {
            call: cid,
            agent: aid,
            offer: OfferId(offer),
            ring_timeout_ms: ring,
            kind,
        });
        self.log(now, Some(cid), Some(qid), Some(aid), LogEvent::Offer);
    }

    /// The call, or why an event about it is ignored (never seen vs already ended).
    fn known_call(&self, cid: CallId) -> Result<&Call, Ignored> {
        match self.calls.get(&cid) {
            Some(c) => Ok(c),
            None if self.ended.contains(&cid) => Err(Ignored::AlreadyEnded),
            None => Err(Ignored::UnknownCall),
        }
    }

    fn offered_to(
        &self,
        cid: CallId,
        aid: AgentId,
        offer_id: OfferId,
    ) -> Result<(QueueId, Millis), Ignored> {
        let call = self.known_call(cid)?;
        if self.agent(aid).is_none() {
            return Err(Ignored::UnknownAgent);
        }
        match call.state {
            CallState::Offered { agent, at, offer } if agent == aid && offer == offer_id.0 => {
                Ok((call.queue, at))
            }
            _ => Err(Ignored::StaleOffer),
        }
    }

    fn accept(
        &mut self,
        cid: CallId,
        aid: AgentId,
        offer: OfferId,
        now: Millis,
    ) -> Result<(), Ignored> {
        let (qid, offered_at) = self.offered_to(cid, aid, offer)?;
        let callback = self.calls.get(&cid).is_some_and(|c| c.callback);
        if let Some(a) = self.agent_mut(aid) {
            a.no_answer_streak = 0;
        }
        if callback {
            let attempt = match self.calls.get_mut(&cid) {
                Some(c) => {
                    c.state = CallState::Dialing { agent: aid, at: now };
                    c.attempts += 1;
                    c.attempts
                }
                None => 0,
            };
            self.set_state(aid, AgentState::Dialing(cid), now);
            self.emit(Output::StartCallback { call: cid, agent: aid, attempt });
            return Ok(());
        }
        self.connect(cid, aid, qid, now.since(offered_at), now);
        Ok(())
    }

    fn connect(&mut self, cid: CallId, aid: AgentId, qid: QueueId, ring_ms: u64, now: Millis) {
        let Some(call) = self.calls.get_mut(&cid) else { return };
        call.state = CallState::Talking { agent: aid, at: now };
        let hold_ms = now.since(call.arrival);
        let callback = call.callback;
        if let Some(q) = self.queue_mut(qid) {
            if callback {
                q.counters.callbacks_completed += 1;
            } else {
                q.counters.record_answer(hold_ms, q.cfg.sl_threshold_ms);
            }
        }
        if let Some(a) = self.agent_mut(aid) {
            a.calls += 1;
        }
        self.set_state(aid, AgentState::Talking(cid), now);
        self.emit(Output::Connect { call: cid, agent: aid });
        self.log(now, Some(cid), Some(qid), Some(aid), LogEvent::Connect { hold_ms, ring_ms });
    }

    fn reject(
        &mut self,
        cid: CallId,
        aid: AgentId,
        offer: OfferId,
        reason: RejectReason,
        now: Millis,
    ) -> Result<(), Ignored> {
        self.offered_to(cid, aid, offer)?;
        self.missed_offer(cid, aid, reason, false, now);
        Ok(())
    }

    /// An offer failed on the agent side (timeout, no answer, reject, busy): the call
    /// goes back to its place first, then the agent is delayed, auto-paused or ready.
    fn missed_offer(
        &mut self,
        cid: CallId,
        aid: AgentId,
        reason: RejectReason,
        timeout: bool,
        now: Millis,
    ) {
        let Some(call) = self.calls.get(&cid) else { return };
        let CallState::Offered { at, .. } = call.state else { return };
        let qid = call.queue;
        if timeout {
            self.emit(Output::CancelOffer {
                call: cid,
                agent: aid,
                reason: CancelReason::RingTimeout,
            });
        }
        self.log(
            now,
            Some(cid),
            Some(qid),
            Some(aid),
            LogEvent::RingNoAnswer { ring_ms: now.since(at) },
        );
        let Some(a) = self.agent_mut(aid) else { return };
        a.idle_since = now;
        let (delay, dreason) = match reason {
            RejectReason::Rejected => (a.cfg.reject_delay_ms, DelayReason::Rejected),
            RejectReason::Busy => (a.cfg.busy_delay_ms, DelayReason::Busy),
            RejectReason::NoAnswer => {
                a.no_answer_streak += 1;
                (a.cfg.no_answer_delay_ms, DelayReason::NoAnswer)
            }
        };
        let auto_pause = reason == RejectReason::NoAnswer
            && a.cfg.max_no_answer > 0
            && a.no_answer_streak >= a.cfg.max_no_answer;
        // The call goes back first, while the agent still looks reserved, so it cannot
        // be handed straight back to the agent who just missed it if anyone else is ready.
        self.enter_waiting(cid, now);
        if auto_pause {
            let reason = "no-answer".to_string();
            self.log(now, None, None, Some(aid), LogEvent::Pause { reason: reason.clone() });
            self.set_state(aid, AgentState::Paused(reason), now);
        } else if delay > 0 {
            self.set_state(aid, AgentState::Delayed(dreason), now);
            let epoch = self.agent(aid).map_or(0, |a| a.epoch);
            self.push_timer(now.plus(delay), Timer::Delay { agent: aid, epoch });
        } else {
            self.set_state(aid, AgentState::Ready, now);
            self.try_match_agent(aid, now);
        }
    }

    fn caller_hangup(&mut self, cid: CallId, now: Millis) -> Result<(), Ignored> {
        let call = self.known_call(cid)?;
        if call.callback && !matches!(call.state, CallState::Talking { .. }) {
            // The citizen is not on the line: a hang-up can only be a late event.
            return Err(Ignored::WrongCallState);
        }
        let qid = call.queue;
        let wait_ms = now.since(call.arrival);
        let orig = call.orig_position;
        match call.state {
            CallState::Waiting => {
                let position = self.position(cid);
                self.leave_waiting(cid);
                self.finish_abandon(cid, qid, position, orig, wait_ms, now);
            }
            CallState::Offered { agent, at, .. } => {
                self.emit(Output::CancelOffer {
                    call: cid,
                    agent,
                    reason: CancelReason::CallerHangup,
                });
                self.log(
                    now,
                    Some(cid),
                    Some(qid),
                    Some(agent),
                    LogEvent::RingCanceled { ring_ms: now.since(at) },
                );
                self.finish_abandon(cid, qid, 1, orig, wait_ms, now);
                // The agent did nothing wrong: back to ready, keeping their idle rank.
                self.set_state(agent, AgentState::Ready, now);
                self.try_match_agent(agent, now);
            }
            CallState::Talking { agent, at } => self.complete(cid, agent, qid, at, false, now),
            CallState::Dialing { .. } | CallState::CallbackRetry => {
                return Err(Ignored::WrongCallState);
            }
        }
        Ok(())
    }

    fn caller_exit(&mut self, cid: CallId, key: String, now: Millis) -> Result<(), Ignored> {
        let call = self.known_call(cid)?;
        if call.callback {
            return Err(Ignored::WrongCallState);
        }
        let (qid, wait_ms, orig) = (call.queue, now.since(call.arrival), call.orig_position);
        let (position, freed) = match call.state {
            CallState::Waiting => {
                let p = self.position(cid);
                self.leave_waiting(cid);
                (p, None)
            }
            CallState::Offered { agent, at, .. } => {
                self.emit(Output::CancelOffer {
                    call: cid,
                    agent,
                    reason: CancelReason::CallerHangup,
                });
                self.log(
                    now,
                    Some(cid),
                    Some(qid),
                    Some(agent),
                    LogEvent::RingCanceled { ring_ms: now.since(at) },
                );
                (1, Some(agent))
            }
            _ => return Err(Ignored::WrongCallState),
        };
        self.forget_call(cid);
        if let Some(q) = self.queue_mut(qid) {
            q.counters.exited += 1;
        }
        self.log(
            now,
            Some(cid),
            Some(qid),
            None,
            LogEvent::ExitWithKey { key, position, origposition: orig, wait_ms },
        );
        if let Some(agent) = freed {
            // The agent did nothing wrong: ready again, keeping their idle rank.
            self.set_state(agent, AgentState::Ready, now);
            self.try_match_agent(agent, now);
        }
        Ok(())
    }

    fn finish_abandon(
        &mut self,
        cid: CallId,
        qid: QueueId,
        position: usize,
        orig: usize,
        wait_ms: u64,
        now: Millis,
    ) {
        self.forget_call(cid);
        if let Some(q) = self.queue_mut(qid) {
            let (short, t) = (q.cfg.short_abandon_ms, q.cfg.sl_threshold_ms);
            q.counters.record_abandon(wait_ms, short, t);
        }
        self.log(
            now,
            Some(cid),
            Some(qid),
            None,
            LogEvent::Abandon { position, origposition: orig, wait_ms },
        );
    }

    fn agent_hangup(&mut self, cid: CallId, now: Millis) -> Result<(), Ignored> {
        let call = self.known_call(cid)?;
        match call.state {
            CallState::Talking { agent, at } => {
                let qid = call.queue;
                self.complete(cid, agent, qid, at, true, now);
                Ok(())
            }
            _ => Err(Ignored::WrongCallState),
        }
    }

    /// End of a conversation: terminal record, sticky memory, then wrap-up.
    fn complete(
        &mut self,
        cid: CallId,
        aid: AgentId,
        qid: QueueId,
        talk_at: Millis,
        by_agent: bool,
        now: Millis,
    ) {
        let Some(call) = self.forget_call(cid) else { return };
        let hold_ms = talk_at.since(call.arrival);
        let talk_ms = now.since(talk_at);
        let origposition = call.orig_position;
        let event = if by_agent {
            LogEvent::CompleteAgent { hold_ms, talk_ms, origposition }
        } else {
            LogEvent::CompleteCaller { hold_ms, talk_ms, origposition }
        };
        self.log(now, Some(cid), Some(qid), Some(aid), event);
        if let Some(caller) = call.caller_id
            && !caller.is_empty()
        {
            self.sticky.insert(caller, (aid, now));
            self.prune_sticky(now);
        }
        let queue_wrap = self.queue(qid).map_or(0, |q| q.cfg.wrap_up_ms);
        if let Some(q) = self.queue_mut(qid) {
            q.counters.talk_ms_sum = q.counters.talk_ms_sum.saturating_add(talk_ms);
            q.counters.completed += 1;
        }
        let Some(a) = self.agent_mut(aid) else { return };
        a.talk_ms = a.talk_ms.saturating_add(talk_ms);
        a.last_talk_ms = talk_ms;
        a.last_queue = Some(qid);
        let wrap = a.cfg.wrap_up_ms.unwrap_or(queue_wrap);
        if wrap > 0 {
            self.set_state(aid, AgentState::WrapUp(cid), now);
            let epoch = self.agent(aid).map_or(0, |a| a.epoch);
            self.push_timer(now.plus(wrap), Timer::WrapCap { agent: aid, epoch });
        } else {
            self.finish_wrap(aid, None, now);
        }
    }

    fn finish_wrap(&mut self, aid: AgentId, disposition: Option<String>, now: Millis) {
        let Some(a) = self.agent(aid) else { return };
        let wrap_ms = if matches!(a.state, AgentState::WrapUp(_)) { now.since(a.since) } else { 0 };
        let (qid, talk) = (a.last_queue, a.last_talk_ms);
        if let Some(qid) = qid
            && let Some(q) = self.queue_mut(qid)
        {
            q.counters.handled += 1;
            let handle = talk.saturating_add(wrap_ms) as f64;
            q.counters.handle_ms_sum =
                q.counters.handle_ms_sum.saturating_add(talk.saturating_add(wrap_ms));
            // EWMA of handle time for EWT; α = 0.05 smooths over ~20 calls.
            q.aht_ewma_ms = 0.95 * q.aht_ewma_ms + 0.05 * handle;
        }
        if let Some(code) = disposition {
            self.log(now, None, qid, Some(aid), LogEvent::Disposition { code, wrap_ms });
        }
        self.become_available(aid, now);
    }

    fn wrap_up_done(
        &mut self,
        aid: AgentId,
        disposition: String,
        now: Millis,
    ) -> Result<(), Ignored> {
        let a = self.agent(aid).ok_or(Ignored::UnknownAgent)?;
        if !matches!(a.state, AgentState::WrapUp(_)) {
            return Err(Ignored::WrongAgentState);
        }
        self.finish_wrap(aid, Some(disposition), now);
        Ok(())
    }

    fn callback_requested(&mut self, cid: CallId, now: Millis) -> Result<(), Ignored> {
        let call = self.known_call(cid)?;
        if call.callback || call.state != CallState::Waiting {
            return Err(Ignored::WrongCallState);
        }
        self.make_callback(cid, now);
        Ok(())
    }

    fn make_callback(&mut self, cid: CallId, now: Millis) {
        let position = self.position(cid);
        let Some(call) = self.calls.get_mut(&cid) else { return };
        call.callback = true;
        let qid = call.queue;
        if let Some(q) = self.queue_mut(qid) {
            q.counters.callbacks_requested += 1;
        }
        self.log(now, Some(cid), Some(qid), None, LogEvent::CallbackRequested { position });
    }

    fn callback_result(&mut self, cid: CallId, reached: bool, now: Millis) -> Result<(), Ignored> {
        let call = self.known_call(cid)?;
        let CallState::Dialing { agent, at } = call.state else {
            return Err(Ignored::WrongCallState);
        };
        let (qid, attempts) = (call.queue, call.attempts);
        if reached {
            self.connect(cid, agent, qid, now.since(at), now);
            return Ok(());
        }
        self.log(
            now,
            Some(cid),
            Some(qid),
            Some(agent),
            LogEvent::CallbackAttemptFailed { attempt: attempts },
        );
        let cfg = self.queue(qid).map(|q| q.cfg.callback).unwrap_or_default();
        if attempts >= cfg.max_attempts {
            self.forget_call(cid);
            if let Some(q) = self.queue_mut(qid) {
                q.counters.callbacks_failed += 1;
            }
            self.log(now, Some(cid), Some(qid), None, LogEvent::CallbackFailed { attempts });
        } else if let Some(c) = self.calls.get_mut(&cid) {
            c.state = CallState::CallbackRetry;
            c.epoch += 1;
            let epoch = c.epoch;
            self.push_timer(
                now.plus(cfg.retry_delay_ms),
                Timer::CallbackRetry { call: cid, epoch },
            );
        }
        self.become_available(agent, now);
        Ok(())
    }

    fn move_call(&mut self, cid: CallId, target: QueueId, now: Millis) -> Result<(), Ignored> {
        if self.queue(target).is_none() {
            return Err(Ignored::UnknownQueue);
        }
        let call = self.known_call(cid)?;
        if call.queue == target {
            return Err(Ignored::AlreadyInState);
        }
        if !matches!(call.state, CallState::Waiting | CallState::CallbackRetry) {
            return Err(Ignored::WrongCallState);
        }
        self.move_to_queue(cid, target, now);
        Ok(())
    }

    fn move_to_queue(&mut self, cid: CallId, target: QueueId, now: Millis) {
        let Some(call) = self.calls.get(&cid) else { return };
        let (from, waiting, wait_ms) =
            (call.queue, call.state == CallState::Waiting, now.since(call.arrival));
        let (arrival, priority) = (call.arrival, call.priority);
        self.leave_waiting(cid);
        self.log(now, Some(cid), Some(from), None, LogEvent::Moved { to: target, wait_ms });
        let base = self.queue(target).map_or(0, |q| q.cfg.base_score_ms);
        let key = self.make_key(arrival, base, priority);
        if let Some(c) = self.calls.get_mut(&cid) {
            c.queue = target;
            c.queue_entry = now;
            c.key = key;
            c.hops = c.hops.saturating_add(1);
            c.max_wait_applies = true;
            // The preferred agent may not serve the new queue.
            c.preferred_active = false;
        }
        if let Some(q) = self.queue_mut(target) {
            q.counters.moved_in += 1;
        }
        self.remerge_skills(cid);
        if waiting {
            self.enter_waiting(cid, now);
        }
    }

    fn set_priority(&mut self, cid: CallId, priority: u8, now: Millis) -> Result<(), Ignored> {
        let call = self.known_call(cid)?;
        if call.priority == priority {
            return Err(Ignored::AlreadyInState);
        }
        if !matches!(call.state, CallState::Waiting | CallState::CallbackRetry) {
            return Err(Ignored::WrongCallState);
        }
        let (qid, arrival, waiting) = (call.queue, call.arrival, call.state == CallState::Waiting);
        let base = self.queue(qid).map_or(0, |q| q.cfg.base_score_ms);
        let key = self.make_key(arrival, base, priority);
        let Some(c) = self.calls.get_mut(&cid) else { return Err(Ignored::UnknownCall) };
        let old = c.key;
        c.key = key;
        c.priority = priority;
        if waiting {
            if let Some(q) = self.queue_mut(qid) {
                q.waiting.remove(&old);
                q.waiting.insert(key, cid);
            }
            // Eligibility does not depend on priority, so this finds nobody unless an
            // invariant was already broken; it is cheap insurance.
            self.try_match_call(cid, now);
        }
        Ok(())
    }

    /// Overflow a call that is waiting (or has just arrived and is not yet waiting).
    pub(crate) fn overflow(&mut self, cid: CallId, reason: OverflowReason, now: Millis) {
        let Some(call) = self.calls.get(&cid) else { return };
        let qid = call.queue;
        let Some(action) = self.queue(qid).and_then(|q| q.cfg.overflow.clone()) else { return };
        let position =
            if call.state == CallState::Waiting { self.position(cid) } else { call.orig_position };
        let (orig, wait_ms, hops, was_waiting) = (
            call.orig_position,
            now.since(call.arrival),
            call.hops,
            call.state == CallState::Waiting,
        );
        let valid_target = match &action {
            OverflowAction::Queue(t) => *t != qid && self.queue(*t).is_some() && hops < 8,
            _ => true,
        };
        if !valid_target {
            // Misconfigured or looping overflow: keep the call where it is, stop re-triggering.
            if let Some(c) = self.calls.get_mut(&cid) {
                c.max_wait_applies = false;
            }
            if !was_waiting {
                self.enter_waiting(cid, now);
            }
            return;
        }
        if let Some(q) = self.queue_mut(qid) {
            q.counters.overflowed += 1;
        }
        self.emit(Output::Overflow { call: cid, queue: qid, reason, action: action.clone() });
        match action {
            OverflowAction::Queue(t) => {
                // move_to_queue re-enters waiting only for waiting calls; a fresh arrival
                // is not yet waiting, so mark it to be admitted in the target.
                if !was_waiting && let Some(c) = self.calls.get_mut(&cid) {
                    c.state = CallState::Waiting;
                }
                self.move_to_queue(cid, t, now);
            }
            OverflowAction::Callback => {
                self.make_callback(cid, now);
                if !was_waiting {
                    self.enter_waiting(cid, now);
                }
            }
            OverflowAction::Message(_) | OverflowAction::Voicemail(_) => {
                self.leave_waiting(cid);
                self.forget_call(cid);
                let event = match reason {
                    OverflowReason::MaxWait => {
                        LogEvent::ExitWithTimeout { position, origposition: orig, wait_ms }
                    }
                    OverflowReason::NoAgents => {
                        LogEvent::ExitEmpty { position, origposition: orig, wait_ms }
                    }
                    OverflowReason::MaxLength => LogEvent::Full { position },
                    OverflowReason::EwtAboveThreshold => LogEvent::ExitWithEwt {
                        position,
                        ewt_ms: self.ewt(qid, position).unwrap_or(u64::MAX),
                    },
                };
                if let Some(q) = self.queue_mut(qid) {
                    q.counters.exited += 1;
                }
                self.log(now, Some(cid), Some(qid), None, event);
            }
        }
    }

    /// Bound the sticky-caller memory: past a size limit, forget entries older than the
    /// longest sticky window of any queue (they can no longer match anyway).
    fn prune_sticky(&mut self, now: Millis) {
        if self.sticky.len() <= STICKY_MEMORY {
            return;
        }
        let window =
            self.queues.iter().flatten().map(|q| q.cfg.sticky_window_ms).max().unwrap_or(0);
        self.sticky.retain(|_, (_, at)| now.since(*at) <= window);
        if self.sticky.len() > STICKY_MEMORY {
            // Still too many recent callers: keep the newest half.
            let mut ages: Vec<u64> = self.sticky.values().map(|(_, at)| at.0).collect();
            ages.sort_unstable();
            let cut = ages.get(ages.len() / 2).copied().unwrap_or(0);
            self.sticky.retain(|_, (_, at)| at.0 >= cut);
        }
    }

    /// Remove a call for good, remembering its id so that late or repeated events
    /// about it are recognised (bounded memory: the most recent ids only).
    pub(crate) fn forget_call(&mut self, cid: CallId) -> Option<Call> {
        let call = self.calls.remove(&cid)?;
        if self.ended.insert(cid) {
            self.ended_fifo.push_back(cid);
            if self.ended_fifo.len() > ENDED_MEMORY
                && let Some(old) = self.ended_fifo.pop_front()
            {
                self.ended.remove(&old);
            }
        }
        Some(call)
    }

    // ----- position / EWT ----------------------------------------------------------

    /// 1-based position of a waiting call in its queue (0 if not waiting).
    pub fn position(&self, cid: CallId) -> usize {
        let Some(call) = self.calls.get(&cid) else { return 0 };
        if call.state != CallState::Waiting {
            return 0;
        }
        self.queue(call.queue).map_or(0, |q| q.waiting.range(..call.key).count() + 1)
    }

    /// Estimated wait for the caller at `position`: position × recent handle time /
    /// staffed agents (logged in, not paused), rounded up; `None` if nobody is staffed.
    pub fn ewt(&self, queue: QueueId, position: usize) -> Option<u64> {
        let q = self.queue(queue)?;
        if q.staffed == 0 {
            return None;
        }
        let raw = (position as f64) * q.aht_ewma_ms / f64::from(q.staffed);
        let round = q.cfg.announce.round_ms.max(1);
        let ms = if raw.is_finite() { raw.clamp(0.0, 1e15) as u64 } else { 0 };
        Some(ms.div_ceil(round).saturating_mul(round))
    }

    fn announce(&mut self, cid: CallId, now: Millis, entry: bool) {
        let Some(call) = self.calls.get(&cid) else { return };
        if call.state != CallState::Waiting || call.callback {
            return;
        }
        let qid = call.queue;
        let last = call.last_announce;
        let Some(q) = self.queue(qid) else { return };
        let cfg = q.cfg.announce;
        if cfg.interval_ms == 0 {
            return;
        }
        let position = self.position(cid);
        let ewt_ms = self.ewt(qid, position);
        if !entry && cfg.only_on_change && last == Some((position, ewt_ms)) {
            return;
        }
        if let Some(c) = self.calls.get_mut(&cid) {
            c.last_announce = Some((position, ewt_ms));
        }
        self.emit(Output::AnnouncePosition { call: cid, position, ewt_ms });
        let _ = now;
    }

    // ----- timers -----------------------------------------------------------------

    fn call_epoch_is(&self, cid: CallId, epoch: u64, state: CallState) -> bool {
        self.calls.get(&cid).is_some_and(|c| c.epoch == epoch && c.state == state)
    }

    fn timer_valid(&self, t: &Timer) -> bool {
        match *t {
            Timer::Ring { call, offer } => self.calls.get(&call).is_some_and(
                |c| matches!(c.state, CallState::Offered { offer: o, .. } if o == offer),
            ),
            Timer::WrapCap { agent, epoch } | Timer::Delay { agent, epoch } => {
                self.agent(agent).is_some_and(|a| a.epoch == epoch)
            }
            Timer::Step { call, epoch }
            | Timer::Preferred { call, epoch }
            | Timer::MaxWait { call, epoch }
            | Timer::Announce { call, epoch } => {
                self.call_epoch_is(call, epoch, CallState::Waiting)
            }
            Timer::CallbackRetry { call, epoch } => {
                self.call_epoch_is(call, epoch, CallState::CallbackRetry)
            }
        }
    }

    fn run_timers(&mut self, now: Millis) {
        while let Some(Reverse((at, _, t))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            if !self.timer_valid(&t) {
                continue;
            }
            // Timers fire at their own instant so durations in records are exact.
            self.fire(t, at);
        }
    }

    fn fire(&mut self, t: Timer, at: Millis) {
        match t {
            Timer::Ring { call, .. } => {
                if let Some(CallState::Offered { agent, .. }) =
                    self.calls.get(&call).map(|c| c.state)
                {
                    self.missed_offer(call, agent, RejectReason::NoAnswer, true, at);
                }
            }
            Timer::WrapCap { agent, .. } => self.finish_wrap(agent, None, at),
            Timer::Delay { agent, .. } => {
                self.set_state(agent, AgentState::Ready, at);
                self.try_match_agent(agent, at);
            }
            Timer::Step { call, .. } => {
                self.update_step(call, at);
                self.try_match_call(call, at);
            }
            Timer::Preferred { call, .. } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.preferred_active = false;
                }
                self.try_match_call(call, at);
            }
            Timer::MaxWait { call, .. } => {
                if self.calls.get(&call).is_some_and(|c| !c.callback) {
                    self.overflow(call, OverflowReason::MaxWait, at);
                }
            }
            Timer::Announce { call, epoch } => {
                self.announce(call, at, false);
                let interval = self
                    .calls
                    .get(&call)
                    .and_then(|c| self.queue(c.queue))
                    .map_or(0, |q| q.cfg.announce.interval_ms);
                if interval > 0 && self.calls.get(&call).is_some_and(|c| !c.callback) {
                    self.push_timer(at.plus(interval), Timer::Announce { call, epoch });
                }
            }
            Timer::CallbackRetry { call, .. } => self.enter_waiting(call, at),
        }
    }
}
