//! Data-driven scenario tests: every `tests/scenarios/*.txt` file is a readable script
//! of configuration lines and timed input events, each followed by the exact outputs it
//! must produce. Run with `SCENARIO_BLESS=1` to rewrite the expected transcripts from
//! the actual outputs (then review the diff before committing).
//!
//! Format (one item per line, `#` starts a comment):
//! ```text
//! router aging=60000 seed=1            # optional, before the first event
//! queue 1 strategy=round-robin ring=15000 wrapup=0 skills=1:2 steps=4@30000,2@30000,0
//!         overflow=queue:2|callback|message:x|voicemail:x maxwait=60000 maxlen=3
//!         ewt=120000 noagents sticky=600000 prefwait=10000 announce=30000 aht=180000
//!         base=0 callbacks=3@60000 sl=20000 short=5000
//! agent 1 queues=1,2 skills=1:5 pos=1 wrapup=5000 maxnoanswer=2 rejectdelay=0
//!         busydelay=0 noanswerdelay=0
//! show offer cancel connect callback announce overflow agent log   # or `show all`
//! @1000 call 10 queue=1 prio=1 caller=+380501 skills=2:3 pref=3 callback
//! > offer call=10 agent=1 ring=15000 kind=inbound
//! = applied                              # optional: how the input was handled
//! ```
//! Events: `login A`, `logout A`, `ready A`, `unpause A`, `pause A REASON`,
//! `force A ready|paused:REASON|logged-out`, `call …`, `accept C A`, `reject C A
//! [rejected|busy|no-answer]`, `hangup C`, `exit C KEY`, `end C`, `wrapup A CODE`, `tick`,
//! `cbreq C`, `cbresult C yes|no`, `move C Q`, `prio C P`, `stats Q`, and `agent …` /
//! `queue …` (same syntax as the configuration lines) to reconfigure at run time.
//! `accept`/`reject` use the id of the latest offer of that call to that agent.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use kontakt_acd::*;

fn kv(tokens: &[&str]) -> HashMap<String, String> {
    tokens
        .iter()
        .map(|t| match t.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (t.to_string(), String::new()),
        })
        .collect()
}

fn num<T: std::str::FromStr>(m: &HashMap<String, String>, k: &str) -> Option<T> {
    m.get(k).and_then(|v| v.parse().ok())
}

fn skills(v: &str) -> Vec<(SkillId, u8)> {
    v.split(',')
        .filter_map(|p| {
            let (s, l) = p.split_once(':')?;
            Some((SkillId(s.parse().ok()?), l.parse().ok()?))
        })
        .collect()
}

fn strategy(s: &str) -> Strategy {
    match s {
        "round-robin" => Strategy::RoundRobin,
        "top-down" => Strategy::TopDown,
        "least-talk-time" => Strategy::LeastTalkTime,
        "fewest-calls" => Strategy::FewestCalls,
        "random" => Strategy::Random,
        "skills-best-proficiency" => Strategy::SkillsBestProficiency,
        _ => Strategy::LongestIdle,
    }
}

fn parse_queue(tokens: &[&str]) -> QueueConfig {
    let id: u32 = tokens.first().and_then(|t| t.parse().ok()).unwrap_or(0);
    let m = kv(&tokens[1..]);
    let mut q = QueueConfig { id: QueueId(id), name: format!("q{id}"), ..QueueConfig::default() };
    if let Some(s) = m.get("strategy") {
        q.strategy = strategy(s);
    }
    if let Some(v) = m.get("name") {
        q.name = v.clone();
    }
    q.ring_timeout_ms = num(&m, "ring").unwrap_or(q.ring_timeout_ms);
    q.wrap_up_ms = num(&m, "wrapup").unwrap_or(0);
    q.base_score_ms = num(&m, "base").unwrap_or(0);
    q.sl_threshold_ms = num(&m, "sl").unwrap_or(q.sl_threshold_ms);
    q.short_abandon_ms = num(&m, "short").unwrap_or(q.short_abandon_ms);
    q.expected_aht_ms = num(&m, "aht").unwrap_or(q.expected_aht_ms);
    if let Some(v) = m.get("skills") {
        q.skills = skills(v)
            .into_iter()
            .map(|(skill, min_proficiency)| SkillReq { skill, min_proficiency })
            .collect();
    }
    if let Some(v) = m.get("steps") {
        q.steps = v
            .split(',')
            .map(|s| match s.split_once('@') {
                Some((p, d)) => RoutingStep {
                    min_proficiency: p.parse().unwrap_or(0),
                    duration_ms: d.parse().ok(),
                },
                None => RoutingStep { min_proficiency: s.parse().unwrap_or(0), duration_ms: None },
            })
            .collect();
    }
    if let Some(v) = m.get("overflow") {
        q.overflow = Some(match v.split_once(':') {
            Some(("queue", t)) => OverflowAction::Queue(QueueId(t.parse().unwrap_or(0))),
            Some(("message", t)) => OverflowAction::Message(t.to_string()),
            Some(("voicemail", t)) => OverflowAction::Voicemail(t.to_string()),
            _ => OverflowAction::Callback,
        });
    }
    q.max_wait_ms = num(&m, "maxwait");
    q.max_len = num(&m, "maxlen");
    q.ewt_threshold_ms = num(&m, "ewt");
    q.overflow_when_no_agents = m.contains_key("noagents");
    q.sticky_window_ms = num(&m, "sticky").unwrap_or(0);
    q.preferred_wait_ms = num(&m, "prefwait").unwrap_or(0);
    if let Some(i) = num(&m, "announce") {
        q.announce.interval_ms = i;
    }
    if let Some(v) = m.get("callbacks")
        && let Some((n, d)) = v.split_once('@')
    {
        q.callback = CallbackConfig {
            max_attempts: n.parse().unwrap_or(3),
            retry_delay_ms: d.parse().unwrap_or(0),
        };
    }
    q
}

fn parse_agent(tokens: &[&str]) -> AgentConfig {
    let id: u32 = tokens.first().and_then(|t| t.parse().ok()).unwrap_or(0);
    let m = kv(&tokens[1..]);
    AgentConfig {
        id: AgentId(id),
        name: format!("a{id}"),
        skills: m.get("skills").map(|v| skills(v)).unwrap_or_default(),
        queues: m
            .get("queues")
            .map(|v| v.split(',').filter_map(|q| q.parse().ok()).map(QueueId).collect())
            .unwrap_or_default(),
        position: num(&m, "pos").unwrap_or(id),
        wrap_up_ms: num(&m, "wrapup"),
        max_no_answer: num(&m, "maxnoanswer").unwrap_or(0),
        reject_delay_ms: num(&m, "rejectdelay").unwrap_or(0),
        busy_delay_ms: num(&m, "busydelay").unwrap_or(0),
        no_answer_delay_ms: num(&m, "noanswerdelay").unwrap_or(0),
    }
}

fn kind_of(o: &Output) -> &'static str {
    match o {
        Output::Offer { .. } => "offer",
        Output::CancelOffer { .. } => "cancel",
        Output::Connect { .. } => "connect",
        Output::StartCallback { .. } => "callback",
        Output::AnnouncePosition { .. } => "announce",
        Output::Overflow { .. } => "overflow",
        Output::AgentStateChanged { .. } => "agent",
        Output::QueueLog(_) => "log",
    }
}

struct Run {
    router: Option<Router>,
    cfg: RouterConfig,
    show: Vec<String>,
    offers: HashMap<(u64, u32), OfferId>,
}

impl Run {
    fn router(&mut self) -> &mut Router {
        if self.router.is_none() {
            self.router = Some(Router::new(self.cfg.clone(), Millis(0)).expect("scenario config"));
        }
        self.router.as_mut().expect("router")
    }

    fn event(&mut self, at: u64, tokens: &[&str]) -> Vec<String> {
        let c = |i: usize| CallId(tokens.get(i).and_then(|t| t.parse().ok()).unwrap_or(0));
        let a = |i: usize| AgentId(tokens.get(i).and_then(|t| t.parse().ok()).unwrap_or(0));
        let word = |i: usize| tokens.get(i).copied().unwrap_or("").to_string();
        if tokens.first() == Some(&"stats") {
            let q = QueueId(tokens.get(1).and_then(|t| t.parse().ok()).unwrap_or(0));
            let s = self.router().snapshot(Millis(at));
            let mut out = Vec::new();
            if let Some(qs) = s.queues.iter().find(|x| x.id == q) {
                let c = &qs.counters;
                out.push(format!(
                    "stats q={} waiting={} longest={} entered={} answered={} within={} abandoned={} short={} overflowed={} callbacks={}/{}/{} sl={} asa={} aht={} ewt={}",
                    q.0,
                    qs.waiting,
                    qs.longest_wait_ms,
                    c.entered,
                    c.answered,
                    c.answered_within_sl,
                    c.abandoned,
                    c.abandoned_short,
                    c.overflowed,
                    c.callbacks_requested,
                    c.callbacks_completed,
                    c.callbacks_failed,
                    qs.service_level.map_or("-".into(), |v| format!("{v:.3}")),
                    qs.asa_ms.map_or("-".into(), |v| format!("{v:.0}")),
                    qs.aht_ms.map_or("-".into(), |v| format!("{v:.0}")),
                    qs.ewt_new_caller_ms.map_or("-".into(), |v| v.to_string()),
                ));
                let g = &qs.agents;
                out.push(format!(
                    "agents ready={} paused={} delayed={} offered={} dialing={} talking={} wrap-up={} logged-out={}",
                    g.ready, g.paused, g.delayed, g.offered, g.dialing, g.talking, g.wrap_up, g.logged_out
                ));
            }
            return out.into_iter().map(|l| format!("> {l}")).collect();
        }
        let input = match tokens.first().copied().unwrap_or("") {
            "login" => Input::AgentLogin { agent: a(1) },
            "logout" => Input::AgentLogout { agent: a(1) },
            "ready" => Input::AgentReady { agent: a(1) },
            "unpause" => Input::AgentUnpause { agent: a(1) },
            "pause" => Input::AgentPause { agent: a(1), reason: word(2) },
            "force" => Input::ForceAgentState {
                agent: a(1),
                state: match word(2).as_str() {
                    "ready" => ForcedState::Ready,
                    "logged-out" => ForcedState::LoggedOut,
                    w => ForcedState::Paused(w.trim_start_matches("paused:").to_string()),
                },
            },
            "call" => {
                let m = kv(&tokens[2..]);
                Input::CallArrived(NewCall {
                    call: c(1),
                    queue: QueueId(num(&m, "queue").unwrap_or(0)),
                    priority: num(&m, "prio").unwrap_or(0),
                    skills: m
                        .get("skills")
                        .map(|v| skills(v))
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(skill, min_proficiency)| SkillReq { skill, min_proficiency })
                        .collect(),
                    caller_id: m.get("caller").cloned(),
                    preferred_agent: num(&m, "pref").map(AgentId),
                    callback: m.contains_key("callback"),
                })
            }
            "accept" => Input::OfferAccepted {
                call: c(1),
                agent: a(2),
                offer: self.offers.get(&(c(1).0, a(2).0)).copied().unwrap_or_default(),
            },
            "reject" => Input::OfferRejected {
                call: c(1),
                agent: a(2),
                offer: self.offers.get(&(c(1).0, a(2).0)).copied().unwrap_or_default(),
                reason: match word(3).as_str() {
                    "busy" => RejectReason::Busy,
                    "no-answer" => RejectReason::NoAnswer,
                    _ => RejectReason::Rejected,
                },
            },
            "hangup" => Input::CallerHangup { call: c(1) },
            "exit" => Input::CallerExit { call: c(1), key: word(2) },
            "agent" => Input::ConfigureAgent(parse_agent(&tokens[1..])),
            "queue" => Input::ConfigureQueue(parse_queue(&tokens[1..])),
            "end" => Input::CallEnded { call: c(1) },
            "wrapup" => Input::WrapUpDone { agent: a(1), disposition: word(2) },
            "cbreq" => Input::CallbackRequested { call: c(1) },
            "cbresult" => Input::CallbackResult { call: c(1), reached: word(2) == "yes" },
            "move" => Input::MoveCall {
                call: c(1),
                queue: QueueId(tokens.get(2).and_then(|t| t.parse().ok()).unwrap_or(0)),
            },
            "prio" => Input::SetPriority {
                call: c(1),
                priority: tokens.get(2).and_then(|t| t.parse().ok()).unwrap_or(0),
            },
            _ => Input::Tick,
        };
        let show = self.show.clone();
        let r = self.router();
        let handled = r.handle(input, Millis(at));
        let mut lines = Vec::new();
        let mut outs = Vec::new();
        while let Some(o) = r.poll_output() {
            outs.push(o);
        }
        for o in &outs {
            if let Output::Offer { call, agent, offer, .. } = o {
                self.offers.insert((call.0, agent.0), *offer);
            }
            if show.iter().any(|s| s == "all" || s == kind_of(o)) {
                lines.push(format!("> {o}"));
            }
        }
        if let Handled::Ignored(why) = handled {
            lines.push(format!("= ignored: {why}"));
        }
        // Invariants after every input; a violation shows up as a transcript mismatch.
        if let Some(Err(e)) = self.router.as_ref().map(Router::check_invariants) {
            lines.push(format!("= INVARIANT VIOLATED: {e}"));
        }
        lines
    }
}

/// Runs one scenario; returns (actual transcript of the whole file, mismatches).
fn run_file(text: &str) -> (String, Vec<String>) {
    let mut run = Run {
        router: None,
        cfg: RouterConfig::default(),
        show: ["offer", "cancel", "connect", "callback", "announce", "overflow", "log"]
            .map(String::from)
            .to_vec(),
        offers: HashMap::new(),
    };
    let mut out = String::new();
    let mut errors = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim();
        i += 1;
        if trimmed.starts_with('>') || trimmed.starts_with('=') {
            continue; // expectations are consumed with their event
        }
        out.push_str(line);
        out.push('\n');
        let content = trimmed.split(" #").next().unwrap_or("").trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let tokens: Vec<&str> = content.split_whitespace().collect();
        match tokens[0] {
            "router" => {
                let m = kv(&tokens[1..]);
                run.cfg.priority_aging_ms = num(&m, "aging");
                run.cfg.seed = num(&m, "seed").unwrap_or(0);
            }
            "queue" => run.cfg.queues.push(parse_queue(&tokens[1..])),
            "agent" => run.cfg.agents.push(parse_agent(&tokens[1..])),
            "show" => run.show = tokens[1..].iter().map(|s| s.to_string()).collect(),
            t if t.starts_with('@') => {
                let at: u64 = t[1..].parse().unwrap_or(0);
                let actual = run.event(at, &tokens[1..]);
                let mut expected = Vec::new();
                while i < lines.len()
                    && (lines[i].trim().starts_with('>') || lines[i].trim().starts_with('='))
                {
                    expected.push(lines[i].trim().to_string());
                    i += 1;
                }
                if actual != expected {
                    errors.push(format!(
                        "line {}: `{content}`\n  expected:\n    {}\n  actual:\n    {}",
                        i,
                        expected.join("\n    "),
                        actual.join("\n    ")
                    ));
                }
                for l in actual {
                    out.push_str(&l);
                    out.push('\n');
                }
            }
            other => errors.push(format!("unknown directive `{other}`")),
        }
    }
    if let Some(r) = run.router.as_ref()
        && let Err(e) = r.check_invariants()
    {
        errors.push(format!("invariant violated at the end: {e}"));
    }
    (out, errors)
}

#[test]
fn scenarios() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let bless = std::env::var("SCENARIO_BLESS").is_ok();
    let mut entries: Vec<_> = fs::read_dir(&dir)
        .expect("scenario dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    let mut failures = Vec::new();
    let mut count = 0;
    for path in entries.iter().filter(|p| p.extension().is_some_and(|e| e == "txt")) {
        count += 1;
        let text = fs::read_to_string(path).expect("read scenario");
        let (actual, errors) = run_file(&text);
        if bless {
            fs::write(path, actual).expect("bless");
        } else if !errors.is_empty() {
            failures.push(format!("{}:\n{}", path.display(), errors.join("\n")));
        }
    }
    assert!(count >= 10, "expected the scenario files, found {count}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
