//! Discrete-event simulation that drives the *real* [`Router`] with a virtual clock.
//!
//! The simulator plays the switch and the citizens: it generates Poisson arrivals,
//! answers offers after a ring time (or lets them ring out), ends conversations after
//! a sampled talk time, hangs up impatient callers, and answers callback dials. It
//! calls `Router::handle` exactly as production code would, including `Tick` at
//! `next_timeout()`, so what is measured is the router's behaviour, not a model of it.
//!
//! Measurement: only calls that *arrive* after the warm-up and before the horizon are
//! counted; the run continues after the horizon until they are all finished. Batch
//! means over 30 consecutive arrival-time batches give 99 % confidence intervals.

mod dist;
mod report;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

pub use dist::{Arrivals, Dist};
pub use report::{Ci, Cis, SimReport};

use crate::erlang;
use crate::input::{Input, NewCall, RejectReason};
use crate::model::{
    AgentConfig, AgentId, CallId, Millis, OfferId, OverflowAction, QueueConfig, QueueId,
    RouterConfig, SkillReq, SlConvention,
};
use crate::output::Output;
use crate::router::{FastMap, Router};
use crate::stats::StatsSnapshot;
use report::Collector;

/// One stream of arriving calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stream {
    /// Queue the calls enter.
    pub queue: QueueId,
    /// Mean arrival rate.
    pub calls_per_hour: f64,
    /// Optional 24 hourly multipliers of the rate.
    pub day_profile: Option<Vec<f64>>,
    /// Priority class.
    pub priority: u8,
    /// Extra required skills.
    pub skills: Vec<SkillReq>,
    /// Talk time.
    pub talk: Dist,
    /// Patience (time until an unanswered caller hangs up); `None` = infinite.
    pub patience: Option<Dist>,
    /// Fraction of callers identified by a repeat caller id (sticky routing), 0–1.
    pub repeat_caller_fraction: f64,
    /// After-call work the agent actually needs: the simulator submits the disposition
    /// after this long (the queue's wrap-up cap still applies). `None` = the agent never
    /// submits, wrap-up always ends at the cap.
    pub wrap_up: Option<Dist>,
}

impl Default for Stream {
    fn default() -> Self {
        Stream {
            queue: QueueId(0),
            calls_per_hour: 0.0,
            day_profile: None,
            priority: 0,
            skills: Vec::new(),
            talk: Dist::Exp { mean: 180.0 },
            patience: None,
            repeat_caller_fraction: 0.0,
            wrap_up: None,
        }
    }
}

/// A general simulation scenario (serde-deserializable, e.g. from a JSON/TOML file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Scenario {
    /// Router configuration (queues, agents, aging, seed of the random strategy).
    pub router: RouterConfig,
    /// Arrival streams.
    pub streams: Vec<Stream>,
    /// Simulated hours of arrivals.
    pub hours: f64,
    /// Arrivals before this are not measured.
    pub warmup_hours: f64,
    /// Seed of the simulation.
    pub seed: u64,
    /// Time from offer to answer.
    pub ring_time: Dist,
    /// Probability that an offered agent does not answer.
    pub no_answer_prob: f64,
    /// Probability that a callback dial reaches the citizen.
    pub callback_reach_prob: f64,
    /// Agent shifts; agents without a shift are logged in for the whole run.
    pub shifts: Vec<Shift>,
    /// SL threshold used for the simulator's own report (seconds).
    pub sl_threshold_s: f64,
    /// Short-abandon threshold for the simulator's own report (seconds).
    pub short_abandon_s: f64,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            router: RouterConfig::default(),
            streams: Vec::new(),
            hours: 1.0,
            warmup_hours: 0.0,
            seed: 1,
            ring_time: Dist::Const { secs: 0.0 },
            no_answer_prob: 0.0,
            callback_reach_prob: 1.0,
            shifts: Vec::new(),
            sl_threshold_s: 20.0,
            short_abandon_s: 0.0,
        }
    }
}

/// When an agent works (hours from the start of the run). An agent with several shifts
/// logs in and out several times; a logout during a call takes effect after it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Shift {
    /// Agent.
    pub agent: AgentId,
    /// Log in at this hour.
    pub start_h: f64,
    /// Log out at this hour.
    pub end_h: f64,
}

/// Result of [`simulate`].
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    /// All streams together.
    pub overall: SimReport,
    /// Per stream, in scenario order.
    pub streams: Vec<SimReport>,
    /// Router statistics at the end of the arrival horizon.
    pub router_stats: Option<StatsSnapshot>,
    /// Router inputs handled.
    pub inputs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrival { stream: u32 },
    Answer { call: CallId, agent: AgentId, offer: OfferId },
    NoAnswer { call: CallId, agent: AgentId, offer: OfferId },
    TalkEnd { call: CallId },
    Patience { call: CallId },
    CallbackOutcome { call: CallId, reached: bool },
    WrapDone { agent: AgentId },
    Login { agent: AgentId },
    Logout { agent: AgentId },
}

#[derive(Debug, Clone, Copy)]
struct SimCall {
    stream: u32,
    agent: Option<AgentId>,
    arrival: Millis,
    measured: bool,
    connected: bool,
    callback: bool,
}

struct Engine {
    router: Router,
    rng: StdRng,
    events: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
    calls: FastMap<CallId, SimCall>,
    next_call: u64,
    inputs: u64,
    scenario: Scenario,
    arrivals: Vec<Arrivals>,
    collector: Collector,
}

impl Engine {
    fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.events.push(Reverse((at, self.seq, ev)));
    }

    fn handle(&mut self, input: Input, now: u64) -> bool {
        self.inputs += 1;
        let applied = self.router.handle(input, Millis(now)).is_applied();
        self.drain(now);
        applied
    }

    fn drain(&mut self, now: u64) {
        while let Some(out) = self.router.poll_output() {
            match out {
                Output::Offer { call, agent, offer, ring_timeout_ms, .. } => {
                    let ring = self.scenario.ring_time.sample_ms(&mut self.rng);
                    let missed = self.scenario.no_answer_prob > 0.0
                        && self.rng.random::<f64>() < self.scenario.no_answer_prob;
                    if !missed {
                        self.push(now + ring, Ev::Answer { call, agent, offer });
                    } else if ring_timeout_ms == 0 {
                        // Nobody else will end this offer: report the miss ourselves.
                        self.push(now + ring.max(1), Ev::NoAnswer { call, agent, offer });
                    }
                }
                Output::Connect { call, agent } => {
                    if let Some(c) = self.calls.get_mut(&call) {
                        c.connected = true;
                        c.agent = Some(agent);
                        let (stream, arrival, measured, callback) =
                            (c.stream, c.arrival, c.measured, c.callback);
                        if measured && !callback {
                            self.collector.answered(stream, arrival, now.saturating_sub(arrival.0));
                        }
                        let talk = self
                            .scenario
                            .streams
                            .get(stream as usize)
                            .map_or(0, |s| s.talk.sample_ms(&mut self.rng));
                        self.push(now + talk, Ev::TalkEnd { call });
                    }
                }
                Output::StartCallback { call, .. } => {
                    let ring = self.scenario.ring_time.sample_ms(&mut self.rng);
                    let reached = self.rng.random::<f64>() < self.scenario.callback_reach_prob;
                    self.push(now + ring, Ev::CallbackOutcome { call, reached });
                }
                Output::Overflow { call, action, .. } => match action {
                    OverflowAction::Message(_) | OverflowAction::Voicemail(_) => {
                        if let Some(c) = self.calls.remove(&call)
                            && c.measured
                        {
                            self.collector.exited(c.stream, c.arrival);
                        }
                    }
                    OverflowAction::Callback => {
                        if let Some(c) = self.calls.get_mut(&call) {
                            c.callback = true;
                            if c.measured {
                                self.collector.callback(c.stream, c.arrival);
                            }
                        }
                    }
                    OverflowAction::Queue(_) => {}
                },
                Output::QueueLog(entry) => {
                    // A callback that failed all attempts ends here.
                    if let crate::queue_log::LogEvent::CallbackFailed { .. } = entry.event
                        && let Some(call) = entry.call
                    {
                        self.calls.remove(&call);
                    }
                }
                Output::CancelOffer { .. }
                | Output::AnnouncePosition { .. }
                | Output::AgentStateChanged { .. } => {}
            }
        }
    }

    fn process(&mut self, now: u64, ev: Ev, horizon: u64, warmup: u64) {
        match ev {
            Ev::Arrival { stream } => {
                let Some(s) = self.scenario.streams.get(stream as usize).cloned() else { return };
                self.next_call += 1;
                let call = CallId(self.next_call);
                let measured = now >= warmup;
                let caller_id = if s.repeat_caller_fraction > 0.0
                    && self.rng.random::<f64>() < s.repeat_caller_fraction
                {
                    // A small pool of repeat callers so that sticky routing triggers.
                    Some(format!("+380{}", self.rng.random_range(0..200u32)))
                } else {
                    None
                };
                self.calls.insert(
                    call,
                    SimCall {
                        stream,
                        agent: None,
                        arrival: Millis(now),
                        measured,
                        connected: false,
                        callback: false,
                    },
                );
                if measured {
                    self.collector.offered(stream, Millis(now));
                }
                if let Some(p) = s.patience {
                    let pat = p.sample_ms(&mut self.rng);
                    self.push(now + pat, Ev::Patience { call });
                }
                let nc = NewCall {
                    call,
                    queue: s.queue,
                    priority: s.priority,
                    skills: s.skills.clone(),
                    caller_id,
                    preferred_agent: None,
                    callback: false,
                };
                self.handle(Input::CallArrived(nc), now);
                if let Some(a) = self.arrivals.get(stream as usize)
                    && let Some(next) = a.next_after(now as f64, &mut self.rng)
                {
                    let next = next.ceil() as u64;
                    if next < horizon {
                        self.push(next, Ev::Arrival { stream });
                    }
                }
            }
            Ev::Answer { call, agent, offer } => {
                self.handle(Input::OfferAccepted { call, agent, offer }, now);
            }
            Ev::NoAnswer { call, agent, offer } => {
                self.handle(
                    Input::OfferRejected { call, agent, offer, reason: RejectReason::NoAnswer },
                    now,
                );
            }
            Ev::TalkEnd { call } => {
                let c = self.calls.remove(&call);
                self.handle(Input::CallEnded { call }, now);
                let wrap = c.and_then(|c| {
                    Some((c.agent?, self.scenario.streams.get(c.stream as usize)?.wrap_up?))
                });
                if let Some((agent, dist)) = wrap {
                    let w = dist.sample_ms(&mut self.rng);
                    self.push(now + w, Ev::WrapDone { agent });
                }
            }
            Ev::WrapDone { agent } => {
                // Ignored by the router if the cap already ended the wrap-up.
                self.handle(Input::WrapUpDone { agent, disposition: "sim".into() }, now);
            }
            Ev::Login { agent } => {
                self.handle(Input::AgentLogin { agent }, now);
            }
            Ev::Logout { agent } => {
                self.handle(Input::AgentLogout { agent }, now);
            }
            Ev::Patience { call } => {
                let Some(c) = self.calls.get(&call).copied() else { return };
                if c.connected || c.callback {
                    return;
                }
                if self.handle(Input::CallerHangup { call }, now) {
                    self.calls.remove(&call);
                    if c.measured {
                        self.collector.abandoned(
                            c.stream,
                            c.arrival,
                            now.saturating_sub(c.arrival.0),
                        );
                    }
                }
            }
            Ev::CallbackOutcome { call, reached } => {
                self.handle(Input::CallbackResult { call, reached }, now);
            }
        }
    }
}

/// Run a scenario. Never panics; an invalid router configuration yields an empty report.
pub fn simulate(scenario: &Scenario) -> ScenarioReport {
    let horizon = (scenario.hours.max(0.0) * 3_600_000.0).min(1e15) as u64;
    let warmup = (scenario.warmup_hours.max(0.0) * 3_600_000.0).min(horizon as f64) as u64;
    let nstreams = scenario.streams.len();
    let collector = Collector::new(
        nstreams,
        warmup,
        horizon,
        (scenario.sl_threshold_s.max(0.0) * 1000.0) as u64,
        (scenario.short_abandon_s.max(0.0) * 1000.0) as u64,
    );
    // Failed callbacks are only visible in the queue log: keep it on for scenarios
    // that use callbacks (the single-queue form turns it off for speed).
    let Ok(router) = Router::new(scenario.router.clone(), Millis(0)) else {
        return ScenarioReport {
            overall: collector.report(None, 0.0),
            streams: Vec::new(),
            router_stats: None,
            inputs: 0,
        };
    };
    let mut e = Engine {
        router,
        rng: StdRng::seed_from_u64(scenario.seed),
        events: BinaryHeap::new(),
        seq: 0,
        calls: FastMap::default(),
        next_call: 0,
        inputs: 0,
        scenario: scenario.clone(),
        arrivals: scenario
            .streams
            .iter()
            .map(|s| Arrivals::new(s.calls_per_hour, s.day_profile.as_deref()))
            .collect(),
        collector,
    };
    let agents: Vec<AgentId> = scenario.router.agents.iter().map(|a| a.id).collect();
    for a in agents {
        if !scenario.shifts.iter().any(|s| s.agent == a) {
            e.handle(Input::AgentLogin { agent: a }, 0);
        }
    }
    let hour = |h: f64| {
        if h.is_finite() { (h.max(0.0) * 3_600_000.0).min(1e15) as u64 } else { u64::MAX / 4 }
    };
    for s in &scenario.shifts {
        let (start, end) = (hour(s.start_h), hour(s.end_h));
        if end > start {
            e.push(start, Ev::Login { agent: s.agent });
            e.push(end, Ev::Logout { agent: s.agent });
        }
    }
    for i in 0..nstreams {
        let first = e.arrivals[i].next_after(0.0, &mut e.rng);
        if let Some(t) = first {
            let t = t.ceil() as u64;
            if t < horizon {
                e.push(t, Ev::Arrival { stream: i as u32 });
            }
        }
    }
    // Stop once every call is finished (or a safety horizon is reached).
    let hard_stop = horizon.saturating_add(7 * 24 * 3_600_000);
    let mut stats_at_horizon = None;
    loop {
        let next_ev = e.events.peek().map(|Reverse((t, _, _))| *t);
        let next_timer = e.router.next_timeout().map(|m| m.0);
        let t = match (next_ev, next_timer) {
            (None, None) => break,
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
        };
        if stats_at_horizon.is_none() && t >= horizon {
            stats_at_horizon = Some(e.router.snapshot(Millis(horizon)));
        }
        if t > hard_stop || (t >= horizon && e.calls.is_empty()) {
            break;
        }
        if next_timer == Some(t) && next_ev.is_none_or(|a| a > t) {
            e.handle(Input::Tick, t);
            continue;
        }
        if let Some(Reverse((t, _, ev))) = e.events.pop() {
            e.process(t, ev, horizon, warmup);
        }
    }
    let stats = stats_at_horizon.unwrap_or_else(|| e.router.snapshot(Millis(horizon)));
    let occupancy = stats.overall.occupancy.unwrap_or(0.0);
    let streams = (0..nstreams).map(|i| e.collector.report(Some(i), occupancy)).collect();
    ScenarioReport {
        overall: e.collector.report(None, occupancy),
        streams,
        router_stats: Some(stats),
        inputs: e.inputs,
    }
}

/// Parameters of the single-queue simulation (the stable interface of `kontakt simulate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SingleQueueParams {
    /// Number of agents.
    pub agents: u32,
    /// Poisson arrival rate.
    pub calls_per_hour: f64,
    /// Average handle time in seconds, *including* wrap-up (contact-center.md §4.1):
    /// talk is exponential with mean `aht_s − wrap_up_s`.
    pub aht_s: f64,
    /// Mean of exponential patience; `None` = infinite patience.
    pub patience_s: Option<f64>,
    /// Fixed wrap-up after each call, seconds.
    pub wrap_up_s: f64,
    /// Simulated hours of arrivals.
    pub hours: f64,
    /// RNG seed.
    pub seed: u64,
    /// Service-level threshold T, seconds.
    pub sl_threshold_s: f64,
}

impl Default for SingleQueueParams {
    fn default() -> Self {
        SingleQueueParams {
            agents: 1,
            calls_per_hour: 10.0,
            aht_s: 180.0,
            patience_s: None,
            wrap_up_s: 0.0,
            hours: 1.0,
            seed: 1,
            sl_threshold_s: 20.0,
        }
    }
}

impl SingleQueueParams {
    /// The equivalent general scenario: one FIFO queue, longest-idle agents, no ring
    /// time, exponential talk and patience, SL convention "answered within T over
    /// answered + abandoned" with no short-abandon exclusion (so it equals the Erlang
    /// definition: fraction of all arrivals answered within T).
    pub fn scenario(&self) -> Scenario {
        let q = QueueId(1);
        let wrap_ms = (self.wrap_up_s.max(0.0) * 1000.0).min(1e12) as u64;
        let queue = QueueConfig {
            id: q,
            name: "single".into(),
            ring_timeout_ms: 0,
            wrap_up_ms: wrap_ms,
            sl_threshold_ms: (self.sl_threshold_s.max(0.0) * 1000.0).min(1e12) as u64,
            short_abandon_ms: 0,
            sl_convention: SlConvention::AnsweredAndAbandoned,
            expected_aht_ms: (self.aht_s.max(0.0) * 1000.0).min(1e12) as u64,
            ..QueueConfig::default()
        };
        let agents = (1..=self.agents.min(100_000))
            .map(|i| AgentConfig {
                id: AgentId(i),
                queues: vec![q],
                position: i,
                max_no_answer: 0,
                ..AgentConfig::default()
            })
            .collect();
        let talk_mean = (self.aht_s - self.wrap_up_s.max(0.0)).max(0.0);
        let hours = if self.hours.is_finite() { self.hours.max(0.0) } else { 0.0 };
        Scenario {
            router: RouterConfig {
                queue_log: false,
                agent_events: false,
                queues: vec![queue],
                agents,
                ..RouterConfig::default()
            },
            streams: vec![Stream {
                queue: q,
                calls_per_hour: self.calls_per_hour,
                talk: Dist::Exp { mean: talk_mean },
                patience: self.patience_s.map(|p| Dist::Exp { mean: p }),
                ..Stream::default()
            }],
            hours,
            // Start measuring once the queue has reached steady state (bounded by 1 h).
            warmup_hours: (hours * 0.05).min(1.0),
            seed: self.seed,
            sl_threshold_s: self.sl_threshold_s,
            short_abandon_s: 0.0,
            ..Scenario::default()
        }
    }
}

/// Simulate one FIFO queue (the stable interface of `kontakt simulate`).
pub fn simulate_single_queue(p: &SingleQueueParams) -> SimReport {
    simulate(&p.scenario()).overall
}

/// Staffing for an SL target: Erlang A when `patience_s` is given, else Erlang C.
pub fn staffing(
    calls_per_hour: f64,
    aht_s: f64,
    sl_target: f64,
    sl_threshold_s: f64,
    patience_s: Option<f64>,
) -> erlang::StaffingReport {
    erlang::staffing(calls_per_hour, aht_s, sl_target, sl_threshold_s, patience_s)
}

pub use erlang::StaffingReport;
