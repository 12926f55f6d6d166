//! Router and simulator benchmarks.
//!
//! `router/steady_state`: 2,000 agents, 100 queues, 20 skills, 5,000 waiting calls; every
//! agent talks. One cycle is three inputs — an agent ends a call (and immediately takes
//! the next waiting call in global order: an offer), the agent accepts, a new call
//! arrives (and waits) — so the load stays at 5,000 waiting calls. Criterion reports
//! time per input; a separate timed pass prints p50/p99/max latency per input.
//!
//! `sim/month_60_agents`: one month (720 h) of a 60-agent centre, ~300,000 calls, with
//! wrap-up and abandonment, through the real router.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use kontakt_acd::sim::{SingleQueueParams, simulate_single_queue};
use kontakt_acd::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const AGENTS: u32 = 2_000;
const QUEUES: u32 = 100;
const SKILLS: u16 = 20;
const WAITING: u64 = 5_000;

struct Load {
    router: Router,
    rng: StdRng,
    talking: VecDeque<CallId>,
    pending_offer: Option<(CallId, AgentId, OfferId)>,
    next_call: u64,
    now: u64,
    phase: u8,
}

impl Load {
    fn new() -> Load {
        let mut rng = StdRng::seed_from_u64(7);
        let queues: Vec<QueueConfig> = (1..=QUEUES)
            .map(|q| QueueConfig {
                id: QueueId(q),
                skills: vec![SkillReq {
                    skill: SkillId((q % u32::from(SKILLS)) as u16 + 1),
                    min_proficiency: rng.random_range(1..=3),
                }],
                ring_timeout_ms: 20_000,
                strategy: [
                    Strategy::LongestIdle,
                    Strategy::LeastTalkTime,
                    Strategy::FewestCalls,
                    Strategy::SkillsBestProficiency,
                ][(q % 4) as usize],
                ..QueueConfig::default()
            })
            .collect();
        let agents: Vec<AgentConfig> = (1..=AGENTS)
            .map(|a| {
                let qs: Vec<QueueId> =
                    (0..5).map(|_| QueueId(rng.random_range(1..=QUEUES))).collect();
                let mut skills: Vec<(SkillId, u8)> = qs
                    .iter()
                    .map(|q| {
                        (SkillId((q.0 % u32::from(SKILLS)) as u16 + 1), rng.random_range(3..=5))
                    })
                    .collect();
                skills.sort();
                skills.dedup_by_key(|s| s.0);
                AgentConfig {
                    id: AgentId(a),
                    queues: qs,
                    skills,
                    position: a,
                    max_no_answer: 0,
                    ..AgentConfig::default()
                }
            })
            .collect();
        let cfg = RouterConfig {
            queue_log: true,
            agent_events: true,
            queues,
            agents,
            ..RouterConfig::default()
        };
        let mut load = Load {
            router: Router::new(cfg, Millis(0)).unwrap(),
            rng,
            talking: VecDeque::new(),
            pending_offer: None,
            next_call: 0,
            now: 1,
            phase: 0,
        };
        // Log everyone in, give every agent a call, then queue 5,000 more.
        for a in 1..=AGENTS {
            load.router.handle(Input::AgentLogin { agent: AgentId(a) }, Millis(load.now));
        }
        load.drain();
        while load.talking.len() < AGENTS as usize {
            load.arrive();
            load.drain();
            if let Some((c, a, o)) = load.pending_offer.take() {
                load.router
                    .handle(Input::OfferAccepted { call: c, agent: a, offer: o }, Millis(load.now));
                load.talking.push_back(c);
                load.drain();
            }
        }
        for _ in 0..WAITING {
            load.arrive();
        }
        load.drain();
        let waiting: usize = (1..=QUEUES).map(|q| load.router.waiting_count(QueueId(q))).sum();
        // A few calls already waited while agents were being filled (queues whose
        // members were all busy), so the count is slightly above 5,000.
        assert!(waiting as u64 >= WAITING, "set-up must leave 5,000 calls waiting");
        println!("set-up: {} agents talking, {waiting} calls waiting", load.talking.len());
        load
    }

    fn arrive(&mut self) {
        self.next_call += 1;
        self.now += 1;
        let q = QueueId(self.rng.random_range(1..=QUEUES));
        let nc = NewCall {
            call: CallId(self.next_call),
            queue: q,
            caller_id: Some("+380".into()),
            ..NewCall::default()
        };
        self.router.handle(Input::CallArrived(nc), Millis(self.now));
    }

    fn drain(&mut self) {
        while let Some(o) = self.router.poll_output() {
            if let Output::Offer { call, agent, offer, .. } = o {
                self.pending_offer = Some((call, agent, offer));
            }
        }
    }

    /// One input of the end → accept → arrive cycle.
    fn step(&mut self) {
        self.now += 1;
        match self.phase {
            0 => {
                let c = self.talking.pop_front().unwrap();
                self.router.handle(Input::CallEnded { call: c }, Millis(self.now));
            }
            1 => {
                if let Some((c, a, o)) = self.pending_offer.take() {
                    self.router.handle(
                        Input::OfferAccepted { call: c, agent: a, offer: o },
                        Millis(self.now),
                    );
                    self.talking.push_back(c);
                } else {
                    self.router.handle(Input::Tick, Millis(self.now));
                }
            }
            _ => self.arrive(),
        }
        self.phase = (self.phase + 1) % 3;
        self.drain();
    }
}

fn latency_report(load: &mut Load) {
    // Warm up past the growth of the router's bounded memories (ended-call ids) so the
    // measurement sees the steady state.
    for _ in 0..400_000 {
        load.step();
    }
    let n = 300_000;
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        load.step();
        samples.push(t.elapsed().as_nanos() as u64);
    }
    let total = start.elapsed();
    samples.sort_unstable();
    let pct = |p: f64| samples[((p * n as f64).ceil() as usize).min(n) - 1];
    println!(
        "router steady state (2,000 agents, 100 queues, 20 skills, 5,000 waiting): {:.0} inputs/s, latency p50 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs, max {:.2} µs",
        n as f64 / total.as_secs_f64(),
        pct(0.50) as f64 / 1000.0,
        pct(0.99) as f64 / 1000.0,
        pct(0.999) as f64 / 1000.0,
        *samples.last().unwrap() as f64 / 1000.0
    );
}

fn bench_router(c: &mut Criterion) {
    let mut load = Load::new();
    latency_report(&mut load);
    c.bench_function("router/steady_state_input", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                load.step();
            }
            t.elapsed()
        })
    });
    black_box(load.router.snapshot(Millis(load.now)));
}

fn month_params() -> SingleQueueParams {
    // ~300,000 calls in 720 h: 417 calls/h, AHT 420 s (incl. 30 s wrap-up) → A ≈ 48.7 E
    // on 60 agents; callers abandon after 5 min on average.
    SingleQueueParams {
        agents: 60,
        calls_per_hour: 417.0,
        aht_s: 420.0,
        patience_s: Some(300.0),
        wrap_up_s: 30.0,
        hours: 720.0,
        seed: 1,
        sl_threshold_s: 20.0,
    }
}

fn bench_sim(c: &mut Criterion) {
    let t = Instant::now();
    let r = simulate_single_queue(&month_params());
    println!(
        "simulation: one month, 60 agents: {} calls in {:.2} s (answered {}, abandoned {}, SL {:.3}, occupancy {:.3})",
        r.offered,
        t.elapsed().as_secs_f64(),
        r.answered,
        r.abandoned,
        r.service_level,
        r.occupancy
    );
    let mut g = c.benchmark_group("sim");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    g.bench_function("month_60_agents", |b| {
        b.iter(|| black_box(simulate_single_queue(&month_params())))
    });
    g.finish();
}

criterion_group!(benches, bench_router, bench_sim);
criterion_main!(benches);
