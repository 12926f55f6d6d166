//! General scenario simulations: several queues and skill groups, day profile,
//! log-normal talk, ring time and no-answer, overflow to callback, sticky callers.
//! These check conservation of calls and plausibility (pooling, priorities), not
//! closed-form values (multi-skill systems have none).

use kontakt_acd::sim::{Dist, Scenario, Stream, simulate};
use kontakt_acd::*;

fn queue(id: u32, skill: u16) -> QueueConfig {
    QueueConfig {
        id: QueueId(id),
        name: format!("q{id}"),
        skills: vec![SkillReq { skill: SkillId(skill), min_proficiency: 1 }],
        ring_timeout_ms: 20_000,
        wrap_up_ms: 10_000,
        ..QueueConfig::default()
    }
}

fn agent(id: u32, queues: &[u32], skills: &[(u16, u8)]) -> AgentConfig {
    AgentConfig {
        id: AgentId(id),
        queues: queues.iter().map(|q| QueueId(*q)).collect(),
        skills: skills.iter().map(|(s, p)| (SkillId(*s), *p)).collect(),
        max_no_answer: 3,
        no_answer_delay_ms: 10_000,
        ..AgentConfig::default()
    }
}

/// "N" design: a specialist group per queue plus a flexible group serving both.
fn n_design(flex: bool) -> Scenario {
    let mut agents = Vec::new();
    for i in 0..6 {
        agents.push(agent(i + 1, &[1], &[(1, 5)]));
        agents.push(agent(i + 101, &[2], &[(2, 5)]));
    }
    for i in 0..4 {
        if flex {
            agents.push(agent(i + 201, &[1, 2], &[(1, 3), (2, 3)]));
        } else if i % 2 == 0 {
            agents.push(agent(i + 201, &[1], &[(1, 3)]));
        } else {
            agents.push(agent(i + 201, &[2], &[(2, 3)]));
        }
    }
    Scenario {
        router: RouterConfig {
            queues: vec![queue(1, 1), queue(2, 2)],
            agents,
            ..RouterConfig::default()
        },
        streams: vec![
            Stream {
                queue: QueueId(1),
                calls_per_hour: 110.0,
                talk: Dist::LogNormal { mean: 180.0, sd: 120.0 },
                patience: Some(Dist::Exp { mean: 180.0 }),
                ..Stream::default()
            },
            Stream {
                queue: QueueId(2),
                calls_per_hour: 110.0,
                priority: 1,
                talk: Dist::Exp { mean: 180.0 },
                patience: Some(Dist::Exp { mean: 180.0 }),
                repeat_caller_fraction: 0.3,
                ..Stream::default()
            },
        ],
        hours: 48.0,
        warmup_hours: 1.0,
        seed: 3,
        ring_time: Dist::Exp { mean: 4.0 },
        no_answer_prob: 0.03,
        sl_threshold_s: 20.0,
        ..Scenario::default()
    }
}

#[test]
fn every_call_is_accounted_for_in_a_multi_skill_centre() {
    let r = simulate(&n_design(true));
    let o = &r.overall;
    assert!(o.offered > 8_000, "{o:?}");
    assert_eq!(o.offered, o.answered + o.abandoned + o.exited, "{o:?}");
    assert_eq!(r.streams.len(), 2);
    assert_eq!(r.streams[0].offered + r.streams[1].offered, o.offered);
    assert!(o.occupancy > 0.3 && o.occupancy < 1.0, "{}", o.occupancy);
    let stats = r.router_stats.expect("stats");
    assert_eq!(stats.queues.len(), 2);
    assert!(stats.overall.counters.answered > 0);
}

#[test]
fn pooling_flexible_agents_does_not_hurt() {
    let pooled = simulate(&n_design(true)).overall;
    let split = simulate(&n_design(false)).overall;
    // Same agents, same calls: letting the flexible group serve both queues must not
    // make the centre worse (allow a little sampling noise).
    assert!(
        pooled.service_level + 0.02 >= split.service_level,
        "pooled {pooled:?} split {split:?}"
    );
    assert!(pooled.p_abandon <= split.p_abandon + 0.01, "pooled {pooled:?} split {split:?}");
}

#[test]
fn priority_stream_is_served_faster_by_shared_agents() {
    // One shared pool, two streams, stream 2 has priority 1.
    let mut s = n_design(true);
    s.router.agents = (1..=14).map(|i| agent(i, &[1, 2], &[(1, 3), (2, 3)])).collect();
    let r = simulate(&s);
    let (low, high) = (&r.streams[0], &r.streams[1]);
    assert!(high.asa_s < low.asa_s, "high {} low {}", high.asa_s, low.asa_s);
}

#[test]
fn day_profile_and_overflow_to_callback() {
    let mut s = n_design(true);
    // Quiet nights, a busy late morning.
    let mut profile = vec![0.2; 24];
    for (h, m) in profile.iter_mut().enumerate().take(18).skip(8) {
        *m = if (10..13).contains(&h) { 2.5 } else { 1.5 };
    }
    for st in &mut s.streams {
        st.day_profile = Some(profile.clone());
    }
    for q in &mut s.router.queues {
        q.max_wait_ms = Some(60_000);
        q.overflow = Some(OverflowAction::Callback);
        q.callback = CallbackConfig { max_attempts: 2, retry_delay_ms: 60_000 };
    }
    s.callback_reach_prob = 0.8;
    let r = simulate(&s);
    let o = &r.overall;
    assert!(o.callbacks > 0, "{o:?}");
    let stats = r.router_stats.expect("stats");
    let c = &stats.overall.counters;
    assert!(c.callbacks_requested > 0 && c.callbacks_completed > 0, "{c:?}");
}

#[test]
fn simulate_is_deterministic_for_a_seed() {
    let a = simulate(&n_design(true)).overall;
    let b = simulate(&n_design(true)).overall;
    assert_eq!(a, b);
}

#[test]
fn scenario_round_trips_through_json() {
    let s = n_design(true);
    let json = serde_json::to_string(&s).expect("serialize");
    let back: Scenario = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(s, back);
    // A minimal hand-written scenario with defaults.
    let minimal: Scenario = serde_json::from_str(
        r#"{"router":{"queues":[{"id":1}],"agents":[{"id":1,"queues":[1]}]},
            "streams":[{"queue":1,"calls_per_hour":10,"talk":{"kind":"exp","mean":60}}],"hours":2}"#,
    )
    .expect("minimal scenario");
    let r = simulate(&minimal);
    assert!(r.overall.offered > 0);
}

#[test]
fn garbage_scenarios_do_not_panic() {
    let mut s = n_design(true);
    s.hours = f64::NAN;
    let _ = simulate(&s);
    s.hours = -3.0;
    let _ = simulate(&s);
    s.hours = 1.0;
    s.streams[0].calls_per_hour = f64::INFINITY;
    s.streams[0].calls_per_hour = -5.0;
    s.streams[1].talk = Dist::LogNormal { mean: -1.0, sd: f64::NAN };
    let _ = simulate(&s);
    s.router.agents.push(agent(5000, &[99], &[])); // unknown queue: invalid config
    let r = simulate(&s);
    assert_eq!(r.overall.offered, 0);
}

#[test]
fn cli_contract_json_fields() {
    use kontakt_acd::sim::{SingleQueueParams, simulate_single_queue, staffing};
    let p = SingleQueueParams {
        agents: 7,
        calls_per_hour: 100.0,
        aht_s: 180.0,
        patience_s: Some(120.0),
        wrap_up_s: 10.0,
        hours: 5.0,
        seed: 1,
        sl_threshold_s: 20.0,
    };
    let v = serde_json::to_value(simulate_single_queue(&p)).expect("json");
    for k in ["offered", "answered", "abandoned", "p_wait", "asa_s", "service_level", "occupancy"] {
        assert!(v.get(k).is_some_and(|x| x.is_number()), "simulate JSON lacks {k}: {v}");
    }
    let s = serde_json::to_value(staffing(720.0, 240.0, 0.8, 20.0, None)).expect("json");
    for k in ["agents", "p_wait", "asa_s", "service_level"] {
        assert!(s.get(k).is_some_and(|x| x.is_number()), "staffing JSON lacks {k}: {s}");
    }
    assert_eq!(s["agents"], 54);
    let a = staffing(300.0, 180.0, 0.8, 20.0, Some(120.0));
    assert_eq!(a.model, "erlang-a");
    assert!(a.service_level >= 0.8 && a.agents >= 15 && a.agents <= 19, "{a:?}");
    let below = kontakt_acd::erlang::staffing_at(a.agents - 1, 300.0, 180.0, 20.0, Some(120.0));
    assert!(below.service_level < 0.8, "{below:?}");
}

#[test]
fn router_snapshot_serializes() {
    let r = simulate(&n_design(true));
    let stats = r.router_stats.expect("stats");
    let v = serde_json::to_value(&stats).expect("json");
    assert!(v["overall"]["occupancy"].is_number());
    assert_eq!(v["agents"].as_array().map(Vec::len), Some(16));
    assert_eq!(v["queues"].as_array().map(Vec::len), Some(2));
}

#[test]
fn shifts_and_wrap_up_submitted_before_the_cap() {
    use kontakt_acd::sim::Shift;
    let q = QueueConfig {
        id: QueueId(1),
        wrap_up_ms: 60_000,
        ring_timeout_ms: 15_000,
        ..QueueConfig::default()
    };
    let agents: Vec<AgentConfig> = (1..=6).map(|i| agent(i, &[1], &[])).collect();
    // Agents 1–3 work the first 4 h, agents 4–6 the next 4 h.
    let shifts: Vec<Shift> = (1..=6)
        .map(|i| Shift {
            agent: AgentId(i),
            start_h: if i <= 3 { 0.0 } else { 4.0 },
            end_h: if i <= 3 { 4.0 } else { 8.0 },
        })
        .collect();
    let mk = |wrap: Option<Dist>| Scenario {
        router: RouterConfig {
            queues: vec![q.clone()],
            agents: agents.clone(),
            ..RouterConfig::default()
        },
        streams: vec![Stream {
            queue: QueueId(1),
            calls_per_hour: 20.0,
            talk: Dist::Exp { mean: 120.0 },
            wrap_up: wrap,
            ..Stream::default()
        }],
        shifts: shifts.clone(),
        hours: 8.0,
        seed: 5,
        ..Scenario::default()
    };
    let quick = simulate(&mk(Some(Dist::Const { secs: 5.0 })));
    let capped = simulate(&mk(None));
    assert_eq!(quick.overall.answered, quick.overall.offered);
    let aht = |r: &kontakt_acd::sim::ScenarioReport| {
        r.router_stats.as_ref().and_then(|s| s.overall.aht_ms).unwrap_or(0.0)
    };
    // Talk ≈ 120 s; wrap-up 5 s when submitted vs 60 s at the cap.
    assert!(aht(&quick) + 40_000.0 < aht(&capped), "quick {} capped {}", aht(&quick), aht(&capped));
    let stats = quick.router_stats.expect("stats");
    // At the 8 h horizon agents 1–3 have logged out.
    assert!(stats.overall.agents.logged_out >= 3, "{:?}", stats.overall.agents);
}
