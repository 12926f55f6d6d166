//! Property tests over random configurations and random input sequences:
//! - the router never panics;
//! - after every input: no agent holds two calls, call and agent agree, and no waiting
//!   call has a ready eligible agent (work conservation, δ = 0 in virtual time) —
//!   `Router::check_invariants`;
//! - every input is idempotent: repeating it at the same instant is reported as
//!   ignored and emits nothing;
//! - every call ends in exactly one terminal queue_log record, and a call the router
//!   no longer knows has one;
//! - with uniform eligibility, offers follow the global order: priority class first,
//!   then FIFO, across queues.

use std::collections::HashMap;

use kontakt_acd::Strategy;
use kontakt_acd::*;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn random_config(seed: u64) -> RouterConfig {
    let mut rng = StdRng::seed_from_u64(seed);
    let nq = rng.random_range(1..=3u32);
    let strategies = [
        Strategy::LongestIdle,
        Strategy::RoundRobin,
        Strategy::TopDown,
        Strategy::LeastTalkTime,
        Strategy::FewestCalls,
        Strategy::Random,
        Strategy::SkillsBestProficiency,
    ];
    let mut queues = Vec::new();
    for q in 1..=nq {
        let overflow = match rng.random_range(0..5) {
            0 => Some(OverflowAction::Queue(QueueId(rng.random_range(1..=nq)))),
            1 => Some(OverflowAction::Callback),
            2 => Some(OverflowAction::Message("full".into())),
            3 => Some(OverflowAction::Voicemail("vm".into())),
            _ => None,
        };
        let steps = if rng.random_bool(0.4) {
            vec![
                RoutingStep { min_proficiency: 4, duration_ms: Some(10_000) },
                RoutingStep { min_proficiency: 2, duration_ms: Some(10_000) },
                RoutingStep { min_proficiency: 0, duration_ms: None },
            ]
        } else {
            vec![]
        };
        queues.push(QueueConfig {
            id: QueueId(q),
            name: format!("q{q}"),
            strategy: strategies[rng.random_range(0..strategies.len())],
            skills: if rng.random_bool(0.5) {
                vec![SkillReq { skill: SkillId(1), min_proficiency: 2 }]
            } else {
                vec![]
            },
            steps,
            base_score_ms: rng.random_range(0..3) * 10_000,
            ring_timeout_ms: [0, 5_000, 15_000][rng.random_range(0..3)],
            wrap_up_ms: [0, 3_000][rng.random_range(0..2)],
            max_wait_ms: if rng.random_bool(0.4) { Some(30_000) } else { None },
            max_len: if rng.random_bool(0.3) { Some(3) } else { None },
            ewt_threshold_ms: if rng.random_bool(0.2) { Some(60_000) } else { None },
            overflow_when_no_agents: rng.random_bool(0.3),
            overflow,
            sticky_window_ms: 60_000,
            preferred_wait_ms: [0, 5_000][rng.random_range(0..2)],
            announce: AnnounceConfig {
                interval_ms: [0, 10_000][rng.random_range(0..2)],
                ..AnnounceConfig::default()
            },
            callback: CallbackConfig {
                max_attempts: 2,
                retry_delay_ms: [0, 5_000][rng.random_range(0..2)],
            },
            ..QueueConfig::default()
        });
    }
    let na = rng.random_range(1..=6u32);
    let mut agents = Vec::new();
    for a in 1..=na {
        let mut qs: Vec<QueueId> = (1..=nq).filter(|_| rng.random_bool(0.6)).map(QueueId).collect();
        if qs.is_empty() {
            qs.push(QueueId(rng.random_range(1..=nq)));
        }
        let mut skills = Vec::new();
        for s in 1..=3u16 {
            if rng.random_bool(0.7) {
                skills.push((SkillId(s), rng.random_range(1..=5u8)));
            }
        }
        agents.push(AgentConfig {
            id: AgentId(a),
            name: format!("a{a}"),
            skills,
            queues: qs,
            position: rng.random_range(0..3),
            wrap_up_ms: if rng.random_bool(0.2) { Some(1_000) } else { None },
            max_no_answer: rng.random_range(0..3),
            reject_delay_ms: [0, 2_000][rng.random_range(0..2)],
            busy_delay_ms: [0, 2_000][rng.random_range(0..2)],
            no_answer_delay_ms: [0, 2_000][rng.random_range(0..2)],
        });
    }
    RouterConfig {
        priority_aging_ms: if rng.random_bool(0.5) { None } else { Some(30_000) },
        seed,
        queue_log: true,
        agent_events: true,
        queues,
        agents,
    }
}

/// Test-side memory used to pick plausible inputs (the router is the source of truth).
#[derive(Default)]
struct Harness {
    calls: Vec<CallId>,
    offers: Vec<(CallId, AgentId, OfferId)>,
    dialing: Vec<CallId>,
    talking: Vec<CallId>,
    terminal: HashMap<CallId, u32>,
    next_call: u64,
}

fn pick<T: Copy>(v: &[T], i: u8) -> Option<T> {
    if v.is_empty() { None } else { Some(v[i as usize % v.len()]) }
}

/// Weighted choice of input kinds (index = kind number used in `make_input`): more
/// arrivals, logins, accepts and ends than anything else so that calls get through.
const KINDS: [u8; 32] = [
    0, 0, 0, 0, 3, 3, 3, 4, 5, 6, 7, 7, 7, 8, 9, 10, 10, 11, 11, 11, 12, 12, 13, 14, 14, 15, 16,
    17, 18, 18, 19, 19,
];

fn make_input(h: &mut Harness, nq: u32, na: u32, op: (u8, u8, u8)) -> Input {
    let (kind, a, b) = op;
    let agent = AgentId(u32::from(a) % (na + 1)); // includes id 0: unknown agent
    let call_any = pick(&h.calls, a).unwrap_or(CallId(999_999));
    let kind = KINDS[usize::from(kind) % KINDS.len()];
    match kind {
        18 if a % 2 == 0 => {
            // Reconfigure an agent: new queue set and skills taken from the bits of b.
            let id = AgentId(u32::from(a) % na.max(1) + 1);
            let mut queues: Vec<QueueId> =
                (1..=nq).filter(|q| b & (1 << (q - 1)) != 0).map(QueueId).collect();
            if queues.is_empty() {
                queues.push(QueueId(1));
            }
            let skills = (1..=3u16)
                .filter(|s| b & (1 << (s + 2)) != 0)
                .map(|s| (SkillId(s), (b % 5) + 1))
                .collect();
            Input::ConfigureAgent(AgentConfig {
                id,
                queues,
                skills,
                position: u32::from(b % 3),
                ..AgentConfig::default()
            })
        }
        18 => {
            // Reconfigure a queue: another strategy, maybe skills and steps.
            let strategies = [
                Strategy::LongestIdle,
                Strategy::RoundRobin,
                Strategy::TopDown,
                Strategy::LeastTalkTime,
                Strategy::FewestCalls,
                Strategy::Random,
                Strategy::SkillsBestProficiency,
            ];
            Input::ConfigureQueue(QueueConfig {
                id: QueueId(u32::from(a) % nq.max(1) + 1),
                strategy: strategies[usize::from(b) % strategies.len()],
                skills: if b % 2 == 0 {
                    vec![SkillReq { skill: SkillId(1), min_proficiency: 2 }]
                } else {
                    vec![]
                },
                steps: if b % 3 == 0 {
                    vec![
                        RoutingStep { min_proficiency: 4, duration_ms: Some(5_000) },
                        RoutingStep { min_proficiency: 0, duration_ms: None },
                    ]
                } else {
                    vec![]
                },
                ring_timeout_ms: 8_000,
                wrap_up_ms: 2_000,
                ..QueueConfig::default()
            })
        }
        0..=2 => {
            h.next_call += 1;
            let id = CallId(h.next_call);
            h.calls.push(id);
            Input::CallArrived(NewCall {
                call: id,
                queue: QueueId(u32::from(a) % (nq + 1)),
                priority: b % 3,
                skills: if b % 5 == 0 {
                    vec![SkillReq { skill: SkillId(2), min_proficiency: 3 }]
                } else {
                    vec![]
                },
                caller_id: Some(format!("c{}", b % 4)),
                preferred_agent: if b % 7 == 0 { Some(agent) } else { None },
                callback: b % 11 == 0,
            })
        }
        3 => Input::AgentLogin { agent },
        4 => Input::AgentLogout { agent },
        5 => Input::AgentReady { agent },
        6 => Input::AgentPause { agent, reason: ["lunch", "training"][usize::from(b % 2)].into() },
        7 | 8 => match pick(&h.offers, a) {
            Some((c, ag, o)) => Input::OfferAccepted { call: c, agent: ag, offer: o },
            None => Input::OfferAccepted { call: call_any, agent, offer: OfferId(u64::from(b)) },
        },
        9 => match pick(&h.offers, a) {
            Some((c, ag, o)) => Input::OfferRejected {
                call: c,
                agent: ag,
                offer: o,
                reason: [RejectReason::Rejected, RejectReason::Busy, RejectReason::NoAnswer]
                    [usize::from(b % 3)],
            },
            None => Input::OfferRejected {
                call: call_any,
                agent,
                offer: OfferId(u64::from(b)),
                reason: RejectReason::NoAnswer,
            },
        },
        10 if b % 4 == 0 => Input::CallerExit { call: call_any, key: "0".into() },
        10 => Input::CallerHangup { call: call_any },
        11 => Input::CallEnded { call: pick(&h.talking, a).unwrap_or(call_any) },
        12 => Input::WrapUpDone { agent, disposition: format!("d{b}") },
        13 => Input::CallbackRequested { call: call_any },
        14 => Input::CallbackResult {
            call: pick(&h.dialing, a).unwrap_or(call_any),
            reached: b % 2 == 0,
        },
        15 => Input::MoveCall { call: call_any, queue: QueueId(u32::from(b) % (nq + 1)) },
        16 => Input::SetPriority { call: call_any, priority: b % 3 },
        19 => Input::Tick,
        _ => Input::ForceAgentState {
            agent,
            state: match b % 3 {
                0 => ForcedState::Ready,
                1 => ForcedState::Paused("supervisor".into()),
                _ => ForcedState::LoggedOut,
            },
        },
    }
}

fn drain(r: &mut Router, h: &mut Harness) -> Vec<Output> {
    let mut outs = Vec::new();
    while let Some(o) = r.poll_output() {
        match &o {
            Output::Offer { call, agent, offer, .. } => {
                h.offers.retain(|(c, _, _)| c != call);
                h.offers.push((*call, *agent, *offer));
            }
            Output::Connect { call, .. } => h.talking.push(*call),
            Output::StartCallback { call, .. } => {
                h.offers.retain(|(c, _, _)| c != call);
                h.dialing.push(*call);
            }
            Output::QueueLog(e) if e.event.is_terminal() => {
                if let Some(c) = e.call {
                    *h.terminal.entry(c).or_default() += 1;
                }
            }
            _ => {}
        }
        outs.push(o);
    }
    outs
}

fn run(seed: u64, ops: &[(u8, u8, u8, u16)]) -> Result<(), TestCaseError> {
    let cfg = random_config(seed);
    let (nq, na) = (cfg.queues.len() as u32, cfg.agents.len() as u32);
    let mut r = Router::new(cfg, Millis(0)).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut h = Harness::default();
    let mut now = 0u64;
    for &(kind, a, b, dt) in ops {
        now += u64::from(dt) * 10;
        let input = make_input(&mut h, nq, na, (kind, a, b));
        r.handle(input.clone(), Millis(now));
        drain(&mut r, &mut h);
        r.check_invariants().map_err(TestCaseError::fail)?;
        // Idempotency: after the due timers at this instant, the same input again
        // changes nothing and emits nothing.
        r.handle(Input::Tick, Millis(now));
        drain(&mut r, &mut h);
        let again = r.handle(input.clone(), Millis(now));
        let outs = drain(&mut r, &mut h);
        // Configuration is declarative: re-applying it is fine, but must change nothing.
        let config =
            matches!(input, Input::ConfigureAgent(_) | Input::ConfigureQueue(_) | Input::Tick);
        prop_assert!(config || !again.is_applied(), "repeated input was applied: {input:?}");
        prop_assert!(outs.is_empty(), "repeated input emitted {outs:?}");
        r.check_invariants().map_err(TestCaseError::fail)?;
        // Forget entities that are gone.
        h.offers.retain(|(c, _, _)| r.has_call(*c));
        h.dialing.retain(|c| r.has_call(*c));
        h.talking.retain(|c| r.has_call(*c));
    }
    // Let every timer run out, far in the future.
    for _ in 0..50 {
        match r.next_timeout() {
            Some(t) => {
                r.handle(Input::Tick, t);
                drain(&mut r, &mut h);
                r.check_invariants().map_err(TestCaseError::fail)?;
            }
            None => break,
        }
    }
    for c in &h.calls {
        let n = h.terminal.get(c).copied().unwrap_or(0);
        prop_assert!(n <= 1, "call {c:?} has {n} terminal records");
        if !r.has_call(*c) {
            // Arrivals at unknown queues and duplicates never entered: no record either.
            prop_assert!(
                n == 1 || !h.terminal.contains_key(c),
                "call {c:?} left without a terminal record"
            );
        } else {
            prop_assert!(n == 0, "call {c:?} still known but has a terminal record");
        }
    }
    // Every call accepted into the router and gone has exactly one terminal record.
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, .. ProptestConfig::default() })]

    #[test]
    fn invariants_hold_for_random_inputs(
        seed in any::<u64>(),
        ops in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), 0u16..500), 1..200),
    ) {
        run(seed, &ops)?;
    }

    #[test]
    fn global_order_priority_then_fifo_across_queues(
        ops in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), 0u16..2_000), 1..150),
        nq in 1u32..4,
        na in 1u32..5,
    ) {
        // Every agent serves every queue, no skills, no steps, no sticky/preferred,
        // strict priority, equal base scores: any offer must go to the first call in
        // (priority desc, arrival asc) order among all queues. No timers at all (no
        // ring timeout, wrap-up or delays), so every offer answers the input itself and
        // "everything still waiting" is exactly what competed with the offered call.
        let queues: Vec<QueueConfig> = (1..=nq)
            .map(|q| QueueConfig { id: QueueId(q), ring_timeout_ms: 0, ..QueueConfig::default() })
            .collect();
        let agents: Vec<AgentConfig> = (1..=na)
            .map(|a| AgentConfig { id: AgentId(a), queues: (1..=nq).map(QueueId).collect(), ..AgentConfig::default() })
            .collect();
        let cfg = RouterConfig { queues, agents, ..RouterConfig::default() };
        let mut r = Router::new(cfg, Millis(0)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut h = Harness::default();
        let mut now = 0u64;
        // (priority, arrival) of every call, maintained from the inputs.
        let mut meta: HashMap<CallId, (u8, u64)> = HashMap::new();
        for &(kind, a, b, dt) in &ops {
            now += u64::from(dt) * 10;
            let mut input = make_input(&mut h, nq, na, (kind, a, b));
            // No preferred agents or callbacks here: they legitimately bend the order.
            if let Input::CallArrived(nc) = &mut input {
                nc.preferred_agent = None;
                nc.caller_id = None;
                nc.skills.clear();
                nc.callback = false;
                if nc.queue.0 == 0 { nc.queue = QueueId(1); }
                meta.insert(nc.call, (nc.priority, now));
            }
            if matches!(input, Input::CallbackRequested { .. } | Input::ConfigureAgent(_) | Input::ConfigureQueue(_)) {
                continue;
            }
            let prio_change = match &input {
                Input::SetPriority { call, priority } => Some((*call, *priority)),
                _ => None,
            };
            let handled = r.handle(input, Millis(now));
            if let (Some((c, p)), true) = (prio_change, handled.is_applied())
                && let Some(m) = meta.get_mut(&c) { m.0 = p; }
            let outs = drain(&mut r, &mut h);
            let waiting = r.waiting_calls();
            // The waiting list itself is in global order: priority desc, arrival asc.
            for pair in waiting.windows(2) {
                let (x, y) = (pair[0], pair[1]);
                prop_assert!(
                    x.priority > y.priority || (x.priority == y.priority && x.arrival <= y.arrival),
                    "order violated: {x:?} before {y:?}"
                );
            }
            // Any offer made at this step went to a call ahead of every call still waiting.
            for o in &outs {
                if let Output::Offer { call, .. } = o {
                    let Some(&(p, t)) = meta.get(call) else { continue };
                    for w in &waiting {
                        prop_assert!(
                            p > w.priority || (p == w.priority && t <= w.arrival.0),
                            "offered {call:?} (prio {p}, t {t}) while {w:?} waits"
                        );
                    }
                }
            }
            r.check_invariants().map_err(TestCaseError::fail)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// Absurd but representable values (times near u64::MAX, extreme base scores,
    /// aging and durations) must not panic (debug builds check arithmetic overflow)
    /// nor break the invariants.
    #[test]
    fn extreme_values_never_panic(
        base in any::<i64>(),
        aging in any::<Option<u64>>(),
        t0 in any::<u64>(),
        big in any::<u64>(),
        ops in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), any::<u16>()), 1..80),
    ) {
        let queues = vec![
            QueueConfig {
                id: QueueId(1),
                base_score_ms: base,
                ring_timeout_ms: big,
                wrap_up_ms: big,
                max_wait_ms: Some(big),
                ewt_threshold_ms: Some(big / 2),
                overflow: Some(OverflowAction::Queue(QueueId(2))),
                sticky_window_ms: big,
                preferred_wait_ms: big,
                expected_aht_ms: big,
                announce: AnnounceConfig { interval_ms: big, only_on_change: false, round_ms: big },
                callback: CallbackConfig { max_attempts: u32::MAX, retry_delay_ms: big },
                steps: vec![
                    RoutingStep { min_proficiency: 5, duration_ms: Some(big) },
                    RoutingStep { min_proficiency: 0, duration_ms: Some(big) },
                ],
                ..QueueConfig::default()
            },
            QueueConfig { id: QueueId(2), base_score_ms: base.wrapping_neg(), overflow: Some(OverflowAction::Queue(QueueId(1))), max_len: Some(0), ..QueueConfig::default() },
        ];
        let agents = (1..=3)
            .map(|a| AgentConfig {
                id: AgentId(a),
                queues: vec![QueueId(1), QueueId(2)],
                skills: vec![(SkillId(1), 5)],
                wrap_up_ms: if a == 1 { Some(big) } else { None },
                max_no_answer: 1,
                reject_delay_ms: big,
                busy_delay_ms: big,
                no_answer_delay_ms: big,
                ..AgentConfig::default()
            })
            .collect();
        let cfg = RouterConfig { priority_aging_ms: aging, queues, agents, ..RouterConfig::default() };
        let mut r = Router::new(cfg, Millis(t0)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut h = Harness::default();
        let mut now = t0;
        for &(kind, a, b, dt) in &ops {
            // Often land exactly on the end of time, where saturating timers pile up.
            now = if dt % 7 == 0 { u64::MAX } else { now.saturating_add(u64::from(dt).saturating_mul(big % 1_000_000_007)) };
            let input = make_input(&mut h, 2, 3, (kind, a, b));
            r.handle(input, Millis(now));
            drain(&mut r, &mut h);
            // Time going backwards is clamped, not a panic.
            r.handle(Input::Tick, Millis(now / 2));
            drain(&mut r, &mut h);
            r.check_invariants().map_err(TestCaseError::fail)?;
        }
        let _ = r.next_timeout();
        let _ = r.snapshot(Millis(u64::MAX));
        let _ = r.waiting_calls();
    }
}
