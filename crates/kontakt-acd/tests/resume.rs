//! `Input::ResumeTalking`: a conversation that outlived a restart comes back talking, keeps
//! its agent from other offers while it lasts, and ends like any conversation.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use kontakt_acd::*;

fn router() -> Router {
    let queue = QueueConfig {
        id: QueueId(0),
        name: "general".into(),
        ring_timeout_ms: 15_000,
        wrap_up_ms: 0,
        ..QueueConfig::default()
    };
    let agents = (1..=2)
        .map(|i| AgentConfig { id: AgentId(i), queues: vec![QueueId(0)], ..AgentConfig::default() })
        .collect();
    let cfg =
        RouterConfig { agent_events: true, queues: vec![queue], agents, ..Default::default() };
    Router::new(cfg, Millis(0)).unwrap()
}

fn call(id: u64) -> NewCall {
    NewCall {
        call: CallId(id),
        queue: QueueId(0),
        caller_id: Some("+380501234567".into()),
        ..NewCall::default()
    }
}

fn outputs(r: &mut Router) -> Vec<String> {
    std::iter::from_fn(|| r.poll_output()).map(|o| o.to_string()).collect()
}

#[test]
fn a_resumed_conversation_keeps_its_agent_until_it_ends() {
    let mut r = router();
    // Agent 1 was talking when the process died; they are logged out in the new router.
    let h = r.handle(Input::ResumeTalking { call: call(1), agent: AgentId(1) }, Millis(10));
    assert_eq!(h, Handled::Applied);
    // Logged in for it (the queue log says so), then talking.
    assert_eq!(outputs(&mut r), ["log 0.010|NONE|NONE|1|AGENTLOGIN", "agent 1 talking"]);
    r.check_invariants().unwrap();
    // No second conversation for the same agent, nor the same call twice.
    let busy = Input::ResumeTalking { call: call(2), agent: AgentId(1) };
    assert_eq!(r.handle(busy, Millis(20)), Handled::Ignored(Ignored::WrongAgentState));
    let twice = Input::ResumeTalking { call: call(1), agent: AgentId(2) };
    assert_eq!(r.handle(twice, Millis(20)), Handled::Ignored(Ignored::DuplicateCall));
    // A new caller waits for a ready agent: agent 1 is not offered while talking.
    r.handle(Input::AgentLogin { agent: AgentId(2) }, Millis(30));
    r.handle(Input::AgentPause { agent: AgentId(2), reason: "break".into() }, Millis(30));
    outputs(&mut r);
    r.handle(Input::CallArrived(call(3)), Millis(40));
    assert!(outputs(&mut r).iter().all(|o| !o.starts_with("offer")));
    // The caller hangs up: the conversation ends, agent 1 takes the waiting call.
    assert_eq!(r.handle(Input::CallerHangup { call: CallId(1) }, Millis(50)), Handled::Applied);
    let out = outputs(&mut r);
    assert!(out.iter().any(|o| o.starts_with("offer call=3 agent=1")), "{out:?}");
    r.check_invariants().unwrap();
}
