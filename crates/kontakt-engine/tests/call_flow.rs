//! The call flow end to end over real TCP: the FreeSWITCH emulator (kontakt-sim) places
//! calls into our outbound socket and answers our control connection; the engine routes
//! them to operators whose phones the emulator simulates; records land in SQLite.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::time::Duration;

use chrono::Utc;
use kontakt_engine::feed::OperatorEvent;
use kontakt_engine::*;
use kontakt_sim::{Emulator, EmulatorConfig, EndpointBehaviour, EndpointConfig};
use kontakt_store::*;

use support::{Center, Parts, answer_after, attach, call, next_for, ready, record_of, within};

async fn center(
    endpoints: Vec<(&str, EndpointBehaviour)>,
    tweak: impl FnOnce(&mut EngineConfig),
) -> Center {
    center_with(endpoints, tweak, |_| {}).await
}

/// SQLite, a supervisor, and the switch straight to our outbound socket.
async fn center_with(
    endpoints: Vec<(&str, EndpointBehaviour)>,
    tweak: impl FnOnce(&mut EngineConfig),
    emulator: impl FnOnce(&mut EmulatorConfig),
) -> Center {
    let (store, dir) = support::sqlite().await;
    let phones = support::phones(endpoints);
    let parts = Parts { store, dir, phones, supervisor: true, socket_proxy: false, attached: true };
    support::start(parts, tweak, emulator).await
}

fn appeal_for(uuid: &str, operator: Id) -> NewAppeal {
    let at = Utc::now();
    NewAppeal {
        reg_year: 2026,
        applicant_id: None,
        channel: kontakt_appeals::Channel::Phone,
        legal_kind: kontakt_appeals::LegalKind::Complaint,
        answer_channel: None,
        collective: false,
        call_id: Some(uuid.into()),
        operator_id: Some(operator),
        received_at: at,
        registered_at: at,
        legal_due_at: None,
        repeat_of: None,
        questions: Vec::new(),
        actor: Actor { user_id: Some(operator), kind: kontakt_appeals::ActorKind::Operator },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_call_ends_linked_to_a_new_appeal() {
    let c = center(vec![("1001", answer_after(0.3))], |_| {}).await;
    let op = c.ops[0];
    let mut feed = c.engine.operator_feed();
    ready(&c, op).await;
    let mut sc = call("0501234567", &["1", "2"]);
    sc.talk_secs = Some(0.5);
    let uuid = c.emu.place_call(&sc);
    // The screen-pop reaches the operator first, with the caller and the menu path.
    let OperatorEvent::ScreenPop(pop) = next_for(&mut feed, op).await else {
        panic!("no screen-pop")
    };
    assert_eq!(pop.call, uuid);
    assert_eq!(pop.caller.as_deref(), Some("+380501234567"));
    assert_eq!(pop.line.as_deref(), Some("short_1580"));
    assert_eq!(pop.queue, "general");
    assert_eq!(pop.ivr, ["uk", "language:uk", "housing"]);
    assert!(matches!(next_for(&mut feed, op).await, OperatorEvent::Connected { .. }));
    let OperatorEvent::Ended { wrap_up, .. } = next_for(&mut feed, op).await else { panic!() };
    assert!(wrap_up, "an answered call waits for its appeal link");
    // Wrap-up: the operator cannot take the next call before linking this one.
    let refused = c.engine.command(Command::Ready { user: op }).await;
    assert!(matches!(refused, Err(CommandError::Refused(_))), "{refused:?}");
    let appeal = c.store.register_appeal(appeal_for(&uuid, op)).await.unwrap();
    c.engine
        .command(Command::Link { user: op, call: uuid.clone(), link: CallLink::Appeal(appeal.id) })
        .await
        .unwrap();
    let r = record_of(&c, &uuid, |r| r.status == CallStatus::Closed).await;
    assert_eq!(r.link, Some(CallLink::Appeal(appeal.id)));
    assert_eq!(r.agent_user_id, Some(op));
    assert_eq!(r.caller.as_deref(), Some("+380501234567"));
    assert_eq!(r.end_reason.as_deref(), Some("completed"));
    assert!(r.connected_at.is_some() && r.talk_ms.unwrap() > 0, "{r:?}");
    assert!(r.recording.as_deref().unwrap().starts_with("/rec/"), "{r:?}");
    assert!(r.wrap_ms.is_some());
    let kinds: Vec<&str> = r.steps.iter().map(|s| s.kind.as_str()).collect();
    for k in ["ivr", "queued", "offer", "connected", "hangup"] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    // Linked: the operator is free again.
    ready(&c, op).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_offer_goes_to_the_next_operator() {
    let sleepy =
        EndpointBehaviour { answer_after_secs: None, reject: None, hangup_after_secs: None };
    let c = center(vec![("1001", sleepy), ("1002", answer_after(0.2))], |_| {}).await;
    let (a, b) = (c.ops[0], c.ops[1]);
    let mut feed = c.engine.operator_feed();
    ready(&c, a).await;
    let mut sc = call("0671112233", &["1", "2"]);
    sc.talk_secs = Some(0.3);
    let uuid = c.emu.place_call(&sc);
    assert!(matches!(next_for(&mut feed, a).await, OperatorEvent::ScreenPop(_)));
    ready(&c, b).await;
    // Ring timeout (2 s): the offer is withdrawn from A and made to B.
    let OperatorEvent::OfferCancelled { reason, .. } = next_for(&mut feed, a).await else {
        panic!()
    };
    assert_eq!(reason, "ring_timeout");
    assert!(matches!(next_for(&mut feed, b).await, OperatorEvent::ScreenPop(_)));
    assert!(matches!(next_for(&mut feed, b).await, OperatorEvent::Connected { .. }));
    let r = record_of(&c, &uuid, |r| r.status == CallStatus::Ended).await;
    assert_eq!(r.agent_user_id, Some(b));
    let offers = r.steps.iter().filter(|s| s.kind == "offer").count();
    assert_eq!(offers, 2, "{:?}", r.steps);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_hanging_up_while_the_operator_rings_cancels_the_leg() {
    let c = center(vec![("1001", answer_after(5.0))], |_| {}).await;
    let op = c.ops[0];
    let mut feed = c.engine.operator_feed();
    ready(&c, op).await;
    let mut sc = call("0501234567", &["1", "2"]);
    sc.patience_secs = Some(1.5);
    let uuid = c.emu.place_call(&sc);
    assert!(matches!(next_for(&mut feed, op).await, OperatorEvent::ScreenPop(_)));
    let OperatorEvent::OfferCancelled { reason, .. } = next_for(&mut feed, op).await else {
        panic!()
    };
    assert_eq!(reason, "caller_hangup");
    let r = record_of(&c, &uuid, |r| r.status == CallStatus::Closed).await;
    assert_eq!(r.end_reason.as_deref(), Some("abandoned"));
    assert_eq!(r.connected_at, None);
    // The operator's ringing leg is gone too.
    within("operator leg gone", 5, async {
        while c.emu.channels().iter().any(|ch| ch.name.contains("1001")) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emergencies_overtake_the_queue() {
    let c = center(vec![("1001", answer_after(0.1))], |_| {}).await;
    let op = c.ops[0];
    let mut feed = c.engine.operator_feed();
    // Nobody ready: both calls wait; the emergency arrives second.
    let mut normal = call("0501111111", &["1", "2"]);
    normal.talk_secs = Some(0.2);
    let mut urgent = call("0502222222", &["1", "1"]);
    urgent.talk_secs = Some(0.2);
    let n = c.emu.place_call(&normal);
    record_of(&c, &n, |r| r.queued_at.is_some()).await;
    let u = c.emu.place_call(&urgent);
    record_of(&c, &u, |r| r.queued_at.is_some()).await;
    ready(&c, op).await;
    let OperatorEvent::ScreenPop(pop) = next_for(&mut feed, op).await else { panic!() };
    assert_eq!(pop.call, u, "the emergency call goes first");
    assert_eq!(pop.queue, "emergency");
    assert_eq!(pop.priority, 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_caller_is_recognised_and_offered_to_their_operator_first() {
    let c = center(vec![("1001", answer_after(0.2)), ("1002", answer_after(0.2))], |_| {}).await;
    let (a, b) = (c.ops[0], c.ops[1]);
    let applicant = c
        .store
        .create_applicant(
            NewApplicant {
                last_name: Some("Шевченко".into()),
                first_name: Some("Олена".into()),
                patronymic: None,
                email: None,
                kind: kontakt_appeals::ApplicantKind::Individual,
                privileges: Vec::new(),
                confidential: false,
                assurance: kontakt_appeals::AssuranceLevel::ContactVerified,
                address: Some(address("вул. Перемоги", "12")),
                phones: vec!["+380507654321".into()],
            },
            Utc::now(),
        )
        .await
        .unwrap();
    // Her last appeal was taken by operator B.
    let mut earlier = appeal_for("earlier-call", b);
    earlier.applicant_id = Some(applicant.id);
    let earlier = c.store.register_appeal(earlier).await.unwrap();
    // A neighbour reported no water in the same building (still open), and a lift in
    // another one: the screen-pop shows the first only.
    let mut neighbour = appeal_for("neighbour-call", a);
    neighbour.questions = vec![
        question_at("water.no_cold_water", address("вулиця Перемоги", "12")),
        question_at("lift.stopped", address("просп. Соборний", "7")),
    ];
    let neighbour = c.store.register_appeal(neighbour).await.unwrap();
    let mut feed = c.engine.operator_feed();
    // A has been idle longest and would normally get the call.
    ready(&c, a).await;
    ready(&c, b).await;
    let mut sc = call("0507654321", &["1", "2"]);
    sc.talk_secs = Some(0.3);
    let uuid = c.emu.place_call(&sc);
    let OperatorEvent::ScreenPop(pop) = next_for(&mut feed, b).await else { panic!() };
    assert_eq!(pop.call, uuid);
    let known = pop.context.applicant.as_ref().expect("the caller is recognised");
    assert_eq!(known.id, applicant.id);
    assert_eq!(pop.context.appeals[0].reg_no, earlier.reg_no.to_string());
    assert_eq!(pop.context.last_operator, Some(b));
    let nearby: Vec<(&str, Vec<&str>)> = pop
        .context
        .at_address
        .iter()
        .map(|a| (a.reg_no.as_str(), a.questions.iter().map(|q| q.category.as_str()).collect()))
        .collect();
    let reg = neighbour.reg_no.to_string();
    assert_eq!(nearby, [(reg.as_str(), vec!["water.no_cold_water"])]);
}

fn address(street: &str, building: &str) -> kontakt_appeals::Address {
    kontakt_appeals::Address {
        city: Some("Запоріжжя".into()),
        street: street.into(),
        building: building.into(),
        entrance: None,
        flat: Some("15".into()),
        floor: None,
        district: None,
        lat: None,
        lon: None,
    }
}

fn question_at(code: &str, addr: kontakt_appeals::Address) -> NewQuestion {
    NewQuestion {
        category_code: code.into(),
        description: "Немає води".into(),
        attributes: serde_json::json!({}),
        building_key: Some(addr.building_key()),
        address: Some(addr),
        object_ref: None,
        emergency: None,
        severity: kontakt_appeals::Severity::P3,
        sla_due_at: None,
        attention_at: None,
        repeat_of: None,
        assignment: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_caller_is_called_back() {
    let c = center(vec![("1001", answer_after(0.2))], |cfg| {
        cfg.abandoned_callback_after_secs = Some(1);
        cfg.callback_dial = "user/{number}".into();
    })
    .await;
    let op = c.ops[0];
    let mut feed = c.engine.operator_feed();
    let mut sc = call("0503334455", &["1", "2"]);
    // Patience counts from the call's start: it must cover the menu (well under a second
    // alone, seconds on a CI machine running every test at once) and 1 s in the queue.
    sc.patience_secs = Some(6.0);
    let uuid = c.emu.place_call(&sc);
    let r = record_of(&c, &uuid, |r| r.status == CallStatus::Closed).await;
    assert_eq!(r.end_reason.as_deref(), Some("abandoned"));
    // The operator becomes ready: the callback is offered, then dialled once they answer.
    ready(&c, op).await;
    let OperatorEvent::ScreenPop(pop) = next_for(&mut feed, op).await else { panic!() };
    assert_eq!(pop.kind, "callback");
    assert_eq!(pop.caller.as_deref(), Some("+380503334455"));
    assert!(matches!(next_for(&mut feed, op).await, OperatorEvent::Connected { .. }));
    let cb = CallKey { node: "kontakt-test".into(), uuid: pop.call.clone() };
    let rec = within("callback record", 10, async {
        loop {
            c.engine.writer().sync().await.unwrap();
            if let Some(r) = c.store.call_record(&cb).await.unwrap()
                && r.connected_at.is_some()
            {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(rec.direction, "callback");
    assert_eq!(rec.agent_user_id, Some(op));
    assert!(
        rec.steps.iter().any(|s| s.kind == "callback_for" && s.detail["call"] == uuid.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_survive_the_switch_dropping_both_sockets() {
    // As Kontakt's dialplans do, the channel outlives its socket and goes on to degraded
    // mode, which here holds the caller (parked) until Kontakt takes it back.
    let c = center_with(
        vec![("1001", answer_after(0.2))],
        |_| {},
        |e| {
            e.socket_resume = true;
            e.degraded = vec!["park".into()];
        },
    )
    .await;
    let op = c.ops[0];
    let mut feed = c.engine.operator_feed();
    let mut sc = call("0501000001", &["1", "2"]);
    sc.talk_secs = Some(0.3);
    let uuid = c.emu.place_call(&sc);
    record_of(&c, &uuid, |r| r.queued_at.is_some()).await;
    // FreeSWITCH (or the network) drops the call's socket and the control connection.
    assert!(c.emu.drop_outbound_connections() >= 1);
    assert!(c.emu.drop_inbound_connections() >= 1);
    // The control connection comes back, the waiting call is pulled back onto our socket.
    let r = record_of(&c, &uuid, |r| r.steps.iter().any(|s| s.kind == "reattached")).await;
    assert_eq!(r.status, CallStatus::Live);
    assert!(r.steps.iter().any(|s| s.kind == "socket_lost"), "{:?}", r.steps);
    // And it is still in the queue: the operator gets it.
    ready(&c, op).await;
    let OperatorEvent::ScreenPop(pop) = next_for(&mut feed, op).await else { panic!() };
    assert_eq!(pop.call, uuid);
    assert!(matches!(next_for(&mut feed, op).await, OperatorEvent::Connected { .. }));
    let r = record_of(&c, &uuid, |r| r.status == CallStatus::Ended).await;
    assert_eq!(r.agent_user_id, Some(op));
    let queued = r.steps.iter().filter(|s| s.kind == "queued").count();
    assert_eq!(queued, 1, "queued once, not again after re-attaching: {:?}", r.steps);
    let seqs: Vec<i64> = r.steps.iter().map(|s| s.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "no step lost or reused");
}

/// A caller cut off from Kontakt (its socket closed while the control connection was down
/// too) goes on to degraded mode, where the fallback phone answers. When the control
/// connection returns, Kontakt leaves that conversation alone — pulling the caller back
/// would cut it off, and the switch's channel list does not say whether a `bridge` still
/// rings —: the call leaves the queue, and its record is closed when the caller hangs up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_the_fallback_phone_answered_while_kontakt_was_cut_off_is_left_to_it() {
    let c = center_with(
        vec![("1001", answer_after(0.2))],
        |_| {},
        |e| {
            e.socket_resume = true;
            e.degraded = vec!["bridge user/1999".into()];
            // The fallback phone (not an operator's): answers at once.
            e.default_endpoint = answer_after(0.05);
        },
    )
    .await;
    let op = c.ops[0];
    let mut feed = c.engine.operator_feed();
    let mut sc = call("0501000003", &["1", "2"]);
    sc.talk_secs = Some(2.0);
    let cut_off = c.emu.place_call(&sc);
    record_of(&c, &cut_off, |r| r.queued_at.is_some()).await;
    // The control connection goes and stays away; then the caller's socket closes.
    c.emu.refuse_inbound_connections(true);
    assert!(c.emu.drop_inbound_connections() >= 1);
    within("the engine to see the switch gone", 5, async {
        while c.engine.metrics().esl_connected.load(std::sync::atomic::Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(c.emu.drop_outbound_connections() >= 1);
    within("the caller in conversation on the fallback phone", 5, async {
        while !c.emu.channels().iter().any(|ch| ch.uuid == cut_off && ch.other_leg.is_some()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // The control connection comes back: the call is left to the dialplan.
    c.emu.refuse_inbound_connections(false);
    let r = record_of(&c, &cut_off, |r| r.steps.iter().any(|s| s.kind == "outside_kontakt")).await;
    assert_eq!(r.status, CallStatus::Live, "{r:?}");
    let step = r.steps.iter().find(|s| s.kind == "outside_kontakt").unwrap();
    assert_eq!(step.detail["application"], "bridge", "{step:?}");
    assert!(r.steps.iter().all(|s| s.kind != "reattached"), "{:?}", r.steps);
    // Out of the queue: a caller after it is the operator's first.
    let next = c.emu.place_call(&call("0501000004", &["1", "2"]));
    ready(&c, op).await;
    let OperatorEvent::ScreenPop(pop) = next_for(&mut feed, op).await else { panic!() };
    assert_eq!(pop.call, next);
    // The conversation on the fallback phone ends: the record is closed.
    let r = record_of(&c, &cut_off, |r| r.status != CallStatus::Live).await;
    assert_eq!(r.status, CallStatus::Closed, "{r:?}");
    assert_eq!(r.end_reason.as_deref(), Some("ended_outside_kontakt"), "{r:?}");
    assert!(r.ended_at.is_some() && r.hangup_cause.is_some(), "{r:?}");
    assert_eq!(r.agent_user_id, None, "{r:?}");
    let seqs: Vec<i64> = r.steps.iter().map(|s| s.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "no step lost or reused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_callers_hear_their_position_and_the_bridge_does_not_wait_for_it() {
    // Long prompts (5 s each): a bridge that waited for the playback would show.
    let c = center_with(
        vec![("1001", answer_after(0.1))],
        |cfg| {
            for q in &mut cfg.queues {
                q.announce_every_secs = 1;
            }
        },
        |e| e.playback_secs = 5.0,
    )
    .await;
    let op = c.ops[0];
    let mut feed = c.engine.operator_feed();
    let mut sc = call("0501234000", &["1", "2"]);
    sc.talk_secs = Some(0.2);
    let uuid = c.emu.place_call(&sc);
    let r = within("two announcements", 20, async {
        loop {
            let r = record_of(&c, &uuid, |_| true).await;
            if r.steps.iter().filter(|s| s.kind == "announce").count() >= 2 {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let a = r.steps.iter().find(|s| s.kind == "announce").unwrap();
    assert_eq!(a.detail["position"], 1);
    // The operator becomes ready while an announcement plays: the call is bridged at once
    // (uuid_bridge breaks the playback), not when the 5-second prompt ends.
    ready(&c, op).await;
    assert!(matches!(next_for(&mut feed, op).await, OperatorEvent::ScreenPop(_)));
    assert!(matches!(next_for(&mut feed, op).await, OperatorEvent::Connected { .. }));
    let connected_us = Utc::now().timestamp_micros() as u64;
    let bridged_us = within("the bridge in the switch", 10, async {
        loop {
            if let Some(b) = c.emu.report().iter().find(|r| r.uuid == uuid).map(|r| r.bridged_us)
                && b > 0
            {
                return b;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(
        bridged_us < connected_us + 1_500_000,
        "bridged {} ms after the engine connected",
        (bridged_us.saturating_sub(connected_us)) / 1000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_requested_in_the_menu_is_dialled_when_an_operator_is_free() {
    let c = center(vec![("1001", answer_after(0.1))], |cfg| {
        cfg.callback_dial = "user/{number}".into();
    })
    .await;
    let op = c.ops[0];
    let mut feed = c.engine.operator_feed();
    let uuid = c.emu.place_call(&call("0504445566", &["1", "4"]));
    let r = record_of(&c, &uuid, |r| r.status == CallStatus::Closed).await;
    assert!(r.steps.iter().any(|s| s.kind == "ivr" && s.detail["choice"] == "callback"), "{r:?}");
    assert_eq!(r.connected_at, None);
    ready(&c, op).await;
    let OperatorEvent::ScreenPop(pop) = next_for(&mut feed, op).await else { panic!() };
    assert_eq!(pop.kind, "callback");
    assert_eq!(pop.caller.as_deref(), Some("+380504445566"));
    assert!(matches!(next_for(&mut feed, op).await, OperatorEvent::Connected { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blind_transfer_sends_the_caller_on_and_frees_the_operator_for_wrap_up() {
    let c = center_with(
        vec![("1001", answer_after(0.1))],
        |_| {},
        |e| {
            // The dispatch line answers (an echo stands in for the utility's dispatcher).
            e.echo_destinations.push("dispatch_water".into());
        },
    )
    .await;
    let op = c.ops[0];
    let mut feed = c.engine.operator_feed();
    ready(&c, op).await;
    let uuid = c.emu.place_call(&call("0501112200", &["1", "2"]));
    assert!(matches!(next_for(&mut feed, op).await, OperatorEvent::ScreenPop(_)));
    assert!(matches!(next_for(&mut feed, op).await, OperatorEvent::Connected { .. }));
    c.engine.command(Command::Transfer { user: op, target: "water".into() }).await.unwrap();
    let r = record_of(&c, &uuid, |r| r.end_reason.as_deref() == Some("transferred")).await;
    assert_eq!(r.hangup_side.as_deref(), Some("kontakt"));
    let t = r.steps.iter().find(|s| s.kind == "transfer").unwrap();
    assert_eq!(t.detail["destination"], "dispatch_water");
    // The caller is now talking to the dispatcher; the operator's leg is gone.
    within("caller at the dispatcher, operator leg gone", 5, async {
        loop {
            let chans = c.emu.channels();
            let caller_there = chans.iter().any(|ch| ch.uuid == uuid);
            let operator_gone = !chans.iter().any(|ch| ch.name.contains("1001"));
            if caller_there && operator_gone {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // The operator wraps up the transferred call like any other.
    c.engine
        .command(Command::Link {
            user: op,
            call: uuid.clone(),
            link: CallLink::Outcome("consultation".into()),
        })
        .await
        .unwrap();
    ready(&c, op).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_listens_in_on_a_live_call() {
    let c = center(vec![("1001", answer_after(0.1))], |_| {}).await;
    let (op, supervisor) = (c.ops[0], c.supervisor.unwrap());
    let mut feed = c.engine.operator_feed();
    ready(&c, op).await;
    let uuid = c.emu.place_call(&call("0501112211", &["1", "2"]));
    assert!(matches!(next_for(&mut feed, op).await, OperatorEvent::ScreenPop(_)));
    assert!(matches!(next_for(&mut feed, op).await, OperatorEvent::Connected { .. }));
    // Not a supervisor's phone: refused.
    let refused = c
        .engine
        .command(Command::Eavesdrop {
            supervisor: op,
            call: uuid.clone(),
            mode: EavesdropMode::Listen,
        })
        .await;
    assert!(matches!(refused, Err(CommandError::Refused(_))), "{refused:?}");
    c.engine
        .command(Command::Eavesdrop {
            supervisor,
            call: uuid.clone(),
            mode: EavesdropMode::Whisper,
        })
        .await
        .unwrap();
    within("the supervisor's phone to join", 5, async {
        while !c.emu.channels().iter().any(|ch| ch.name.contains("1101")) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let r = record_of(&c, &uuid, |r| r.steps.iter().any(|s| s.kind == "eavesdrop")).await;
    let e = r.steps.iter().find(|s| s.kind == "eavesdrop").unwrap();
    assert_eq!(e.detail["mode"], "whisper");
    assert_eq!(e.detail["supervisor"], supervisor);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_is_reported_and_counted() {
    let c = center(vec![("1001", answer_after(0.1))], |_| {}).await;
    let op = c.ops[0];
    let mut feed = c.engine.operator_feed();
    ready(&c, op).await;
    let mut sc = call("0501112299", &["1", "2"]);
    sc.talk_secs = Some(1.5);
    let uuid = c.emu.place_call(&sc);
    assert!(matches!(next_for(&mut feed, op).await, OperatorEvent::ScreenPop(_)));
    assert!(matches!(next_for(&mut feed, op).await, OperatorEvent::Connected { .. }));
    c.engine.command(Command::Hold { user: op, hold: true }).await.unwrap();
    assert_eq!(
        next_for(&mut feed, op).await,
        OperatorEvent::Held { call: uuid.clone(), held: true }
    );
    tokio::time::sleep(Duration::from_millis(300)).await; // time on hold, to be counted
    c.engine.command(Command::Hold { user: op, hold: false }).await.unwrap();
    assert_eq!(
        next_for(&mut feed, op).await,
        OperatorEvent::Held { call: uuid.clone(), held: false }
    );
    let r = record_of(&c, &uuid, |r| r.status == CallStatus::Ended).await;
    assert!(r.hold_ms.unwrap() >= 250, "{r:?}");
    assert!(r.steps.iter().any(|s| s.kind == "hold") && r.steps.iter().any(|s| s.kind == "unhold"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_hangs_up_from_the_desk_and_wraps_up() {
    let c = center(vec![("1001", answer_after(0.1))], |_| {}).await;
    let op = c.ops[0];
    let mut feed = c.engine.operator_feed();
    ready(&c, op).await;
    // Without the desk's hang-up, this caller would talk for a minute.
    let mut sc = call("0501112277", &["1", "2"]);
    sc.talk_secs = Some(60.0);
    let uuid = c.emu.place_call(&sc);
    // Nothing to hang up before the call is connected.
    let early = c.engine.command(Command::Hangup { user: op, call: uuid.clone() }).await;
    assert!(matches!(early, Err(CommandError::NoLiveCall)), "{early:?}");
    assert!(matches!(next_for(&mut feed, op).await, OperatorEvent::ScreenPop(_)));
    assert!(matches!(next_for(&mut feed, op).await, OperatorEvent::Connected { .. }));
    let other = c.engine.command(Command::Hangup { user: op, call: "someone-else".into() }).await;
    assert!(matches!(other, Err(CommandError::NotYourCall)), "{other:?}");
    c.engine.command(Command::Hangup { user: op, call: uuid.clone() }).await.unwrap();
    assert!(
        matches!(next_for(&mut feed, op).await, OperatorEvent::Ended { wrap_up: true, .. }),
        "the operator is in wrap-up after hanging up"
    );
    let r = record_of(&c, &uuid, |r| r.status == CallStatus::Ended).await;
    assert_eq!(r.hangup_side.as_deref(), Some("operator"), "{r:?}");
    assert_eq!(r.end_reason.as_deref(), Some("completed"));
    assert!(r.steps.iter().any(|s| s.kind == "hangup_requested"));
    within("both legs gone from the switch", 5, async {
        while c.emu.channels().iter().any(|ch| ch.uuid == uuid || ch.name.contains("1001")) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_caller_takes_the_callback_offer_and_keeps_their_place() {
    let c = center(vec![("1001", answer_after(0.1))], |cfg| {
        cfg.callback_offer_after_secs = Some(1);
        cfg.callback_dial = "user/{number}".into();
    })
    .await;
    let op = c.ops[0];
    let mut feed = c.engine.operator_feed();
    // Language, housing queue, then "1" at the callback offer.
    let first = c.emu.place_call(&call("0505550001", &["1", "2", "1"]));
    let r = record_of(&c, &first, |r| r.steps.iter().any(|s| s.kind == "queued")).await;
    assert_eq!(r.connected_at, None);
    // A second caller queues behind and never takes the offer (presses nothing).
    let second = c.emu.place_call(&call("0505550002", &["1", "2"]));
    let r = record_of(&c, &first, |r| r.steps.iter().any(|s| s.kind == "callback_chosen")).await;
    let chosen = r.steps.iter().position(|s| s.kind == "callback_chosen").unwrap();
    assert!(r.steps[..chosen].iter().any(|s| s.kind == "queued"), "{r:?}");
    // The first caller is off the line; the second still waits.
    within("the first caller to hang up after the confirmation", 10, async {
        while c.emu.channels().iter().any(|ch| ch.uuid == first) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(c.emu.channels().iter().any(|ch| ch.uuid == second));
    // The operator becomes free: the callback kept its place ahead of the second caller.
    ready(&c, op).await;
    let OperatorEvent::ScreenPop(pop) = next_for(&mut feed, op).await else { panic!() };
    assert_eq!((pop.call.as_str(), pop.kind.as_str()), (first.as_str(), "callback"));
    assert_eq!(pop.caller.as_deref(), Some("+380505550001"));
    assert!(matches!(next_for(&mut feed, op).await, OperatorEvent::Connected { .. }));
    let r = record_of(&c, &first, |r| r.connected_at.is_some()).await;
    assert!(r.steps.iter().any(|s| s.kind == "callback_dial"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nobody_logged_in_the_caller_leaves_a_voicemail_and_gets_a_callback() {
    let c = center(vec![("1001", answer_after(0.1))], |cfg| {
        let general = cfg.queues.iter_mut().find(|q| q.name == "general").unwrap();
        general.overflow = Some(OverflowSetup {
            action: "voicemail".into(),
            max_wait_secs: None,
            max_waiting: None,
            ewt_above_secs: None,
            when_no_operators: true,
        });
        cfg.recording.dir = "/recordings/".into();
    })
    .await;
    let uuid = c.emu.place_call(&call("0505550003", &["1", "2"]));
    let r = record_of(&c, &uuid, |r| r.status == CallStatus::Closed).await;
    assert_eq!(r.end_reason.as_deref(), Some("voicemail"), "{r:?}");
    let vm = r.steps.iter().find(|s| s.kind == "voicemail").expect("a voicemail step");
    let file = vm.detail["file"].as_str().unwrap().to_owned();
    assert!(file.starts_with("/recordings/voicemail/") && file.ends_with(&format!("/{uuid}.wav")));
    // The switch recorded the caller's message into that file.
    let placed = c.emu.report().into_iter().find(|p| p.uuid == uuid).unwrap();
    assert_eq!(placed.messages, vec![file]);
    // Someone calls them back once an operator is there.
    let op = c.ops[0];
    let mut feed = c.engine.operator_feed();
    ready(&c, op).await;
    let OperatorEvent::ScreenPop(pop) = next_for(&mut feed, op).await else { panic!() };
    assert_eq!((pop.kind.as_str(), pop.caller.as_deref()), ("callback", Some("+380505550003")));
    let cb = CallKey { node: "kontakt-test".into(), uuid: pop.call.clone() };
    c.engine.writer().sync().await.unwrap();
    let rec = c.store.call_record(&cb).await.unwrap().expect("the callback's record");
    assert!(rec.steps.iter().any(|s| s.kind == "callback_for" && s.detail["why"] == "voicemail"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_freeswitch_nodes_each_bridge_their_own_calls() {
    let c = center(vec![("1001", answer_after(0.1)), ("1002", answer_after(0.1))], |_| {}).await;
    // A second FreeSWITCH node, behind the same Kamailio, with the same operators' phones.
    let cfg2 = EmulatorConfig { hostname: "kontakt-sim-2".into(), ..c.emu_config.clone() };
    let emu2 = Emulator::start(cfg2).await.unwrap();
    attach(&c.engine, &emu2, "kontakt-sim-2").await;
    let mut feed = c.engine.operator_feed();
    for op in &c.ops {
        ready(&c, *op).await;
    }
    let mut one = call("0505550011", &["1", "2"]);
    one.talk_secs = Some(30.0);
    let mut two = call("0505550012", &["1", "2"]);
    two.talk_secs = Some(30.0);
    let a = c.emu.place_call(&one);
    let b = emu2.place_call(&two);
    let mut connected = Vec::new();
    while connected.len() < 2 {
        let m = within("both calls connected", 10, feed.recv()).await.unwrap();
        if let OperatorEvent::Connected { call } = &m.event {
            connected.push(call.clone());
        }
    }
    connected.sort();
    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    assert_eq!(connected, want);
    // Each call's record names its node, and each node bridged its own caller to an
    // operator's leg it originated itself (a bridge cannot cross nodes).
    for (emu, uuid, node) in [(&c.emu, &a, "kontakt-sim"), (&emu2, &b, "kontakt-sim-2")] {
        c.engine.writer().sync().await.unwrap();
        let key = CallKey { node: node.into(), uuid: uuid.clone() };
        let r = c.store.call_record(&key).await.unwrap().expect("a record under its node");
        assert!(r.connected_at.is_some(), "{r:?}");
        let chans = emu.channels();
        let caller = chans.iter().find(|ch| &ch.uuid == uuid).expect("the caller on its node");
        let other = caller.other_leg.clone().expect("bridged");
        assert!(chans.iter().any(|ch| ch.uuid == other), "the operator leg on the same node");
    }
    // Hanging up from the desk reaches the right node too.
    let op_of_b = c
        .store
        .call_record(&CallKey { node: "kontakt-sim-2".into(), uuid: b.clone() })
        .await
        .unwrap()
        .unwrap()
        .agent_user_id
        .unwrap();
    c.engine.command(Command::Hangup { user: op_of_b, call: b.clone() }).await.unwrap();
    within("the second node's caller hung up", 5, async {
        while emu2.channels().iter().any(|ch| ch.uuid == b) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(c.emu.channels().iter().any(|ch| ch.uuid == a), "the first node's call goes on");
}

/// Stops the engine and starts a new one on the same database and switch, as a restart of
/// Kontakt does (the new engine knows nothing but what the records say).
async fn restart(c: &mut Center) {
    c.engine.writer().sync().await.unwrap();
    c.engine.shutdown();
    let journal = c.dir.path().join(format!("journal-{}", uuid::Uuid::new_v4()));
    let writer =
        RecordWriter::start(c.store.clone(), JournalConfig::in_dir(journal)).await.unwrap();
    let (config, operators, supervisors) = c.setup.clone();
    c.engine = kontakt_engine::start(EngineSetup {
        config,
        operators,
        supervisors,
        store: c.store.clone(),
        writer,
        node_name: "kontakt-test".into(),
        outbound_addr: None,
    })
    .unwrap();
    attach(&c.engine, &c.emu, "kontakt-sim").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_owed_survive_a_restart() {
    let mut c = center(vec![("1001", answer_after(0.1))], |cfg| {
        cfg.abandoned_callback_after_secs = Some(1);
        cfg.callback_offer_after_secs = Some(1);
        cfg.callback_dial = "user/{number}".into();
    })
    .await;
    // One caller gives up after waiting; another takes the callback offer in the queue.
    let mut sc = call("0505550021", &["1", "2"]);
    sc.patience_secs = Some(2.5);
    let abandoned = c.emu.place_call(&sc);
    let chose = c.emu.place_call(&call("0505550022", &["1", "2", "1"]));
    record_of(&c, &abandoned, |r| r.end_reason.as_deref() == Some("abandoned")).await;
    record_of(&c, &chose, |r| r.end_reason.as_deref() == Some("callback_queued")).await;
    within("both callers off the line", 10, async {
        while c.emu.channels().iter().any(|ch| ch.uuid == chose || ch.uuid == abandoned) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    restart(&mut c).await;
    // Both callbacks are owed after the restart: an operator gets them, oldest first.
    let op = c.ops[0];
    let mut feed = c.engine.operator_feed();
    ready(&c, op).await;
    let mut called = Vec::new();
    for _ in 0..2 {
        let ev = next_for(&mut feed, op).await;
        let OperatorEvent::ScreenPop(pop) = ev else { panic!("{ev:?}") };
        assert_eq!(pop.kind, "callback");
        called.push(pop.caller.clone().unwrap());
        assert!(matches!(next_for(&mut feed, op).await, OperatorEvent::Connected { .. }));
        // The citizen answered the callback and the call ends; the operator links it.
        c.engine.command(Command::Hangup { user: op, call: pop.call.clone() }).await.unwrap();
        assert!(matches!(next_for(&mut feed, op).await, OperatorEvent::Ended { .. }));
        c.engine
            .command(Command::Link {
                user: op,
                call: pop.call.clone(),
                link: CallLink::Outcome("consultation".into()),
            })
            .await
            .unwrap();
        assert!(matches!(next_for(&mut feed, op).await, OperatorEvent::Linked { .. }));
        ready(&c, op).await;
    }
    called.sort();
    assert_eq!(called, ["+380505550021", "+380505550022"]);
    let r = record_of(&c, &chose, |r| r.connected_at.is_some()).await;
    assert!(r.steps.iter().any(|s| s.kind == "callback_restored"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_nobody_answers_is_closed_after_its_last_attempt() {
    let c = center_with(
        vec![("1001", answer_after(0.1))],
        |cfg| {
            cfg.abandoned_callback_after_secs = Some(1);
            cfg.callback_dial = "user/{number}".into();
            for q in &mut cfg.queues {
                q.callback_attempts = 1;
            }
        },
        |e| {
            e.endpoints.push(EndpointConfig {
                user: "+380505550031".into(),
                behaviour: EndpointBehaviour {
                    answer_after_secs: None,
                    reject: Some("USER_BUSY".into()),
                    hangup_after_secs: None,
                },
            });
        },
    )
    .await;
    let mut sc = call("0505550031", &["1", "2"]);
    sc.patience_secs = Some(2.5);
    let uuid = c.emu.place_call(&sc);
    record_of(&c, &uuid, |r| r.end_reason.as_deref() == Some("abandoned")).await;
    let op = c.ops[0];
    let mut feed = c.engine.operator_feed();
    ready(&c, op).await;
    let OperatorEvent::ScreenPop(pop) = next_for(&mut feed, op).await else { panic!() };
    assert_eq!(pop.kind, "callback");
    // Callbacks Kontakt makes itself are recorded under its own node name.
    let cb = CallKey { node: "kontakt-test".into(), uuid: pop.call.clone() };
    let r = within("the callback closed", 10, async {
        loop {
            c.engine.writer().sync().await.unwrap();
            if let Some(r) = c.store.call_record(&cb).await.unwrap()
                && r.status == CallStatus::Closed
            {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(r.end_reason.as_deref(), Some("callback_failed"), "{r:?}");
    assert!(r.steps.iter().any(|s| s.kind == "callback_failed"), "{r:?}");
    let attempts = r.steps.iter().filter(|s| s.kind == "callback_attempt").count();
    assert_eq!(attempts, 1, "one attempt configured");
    // Closed, so a restart would not dial it again; and the operator is free.
    let status = c.engine.command(Command::OperatorStatus { user: op }).await.unwrap();
    let Reply::Operator(s) = status else { panic!() };
    assert_eq!(s.state, "ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_taken_in_degraded_mode_are_imported_from_the_cdr() {
    let dir = tempfile::tempdir().unwrap();
    let cdr = dir.path().join("Master.csv");
    let row = |uuid: &str, caller: &str, outcome: &str, keyed: &str, degraded: &str| {
        format!(
            "\"{uuid}\",\"2026-11-30 16:40:43\",\"\",\"2026-11-30 16:42:10\",\"NORMAL_CLEARING\",\"fs1\",\"short_1580\",\"\",\"1580\",\"{caller}\",\"{degraded}\",\"esl_unreachable\",\"{outcome}\",\"{keyed}\",\"\",\"\"\n"
        )
    };
    let asked = "0b7c6a52-0000-4000-8000-000000000001";
    let answered = "0b7c6a52-0000-4000-8000-000000000002";
    let served = "0b7c6a52-0000-4000-8000-000000000003";
    let text = [
        row(asked, "0671112233", "callback_requested", "0501112233", "true"),
        row(answered, "0671112244", "operator_answered", "", "true"),
        row(served, "0671112255", "", "", ""),
        "a broken row\n".to_owned(),
    ]
    .concat();
    std::fs::write(&cdr, text).unwrap();
    let path = cdr.display().to_string();
    let c = center(vec![("1001", answer_after(0.1))], |cfg| {
        cfg.degraded_cdr_files = vec![path, "/nonexistent/Master.csv".into()];
        cfg.callback_dial = "user/{number}".into();
    })
    .await;
    let record = |uuid: &str| {
        let key = CallKey { node: "fs1".into(), uuid: uuid.into() };
        let (store, engine) = (c.store.clone(), c.engine.clone());
        async move {
            within("an imported record", 10, async {
                loop {
                    engine.writer().sync().await.unwrap();
                    if let Some(r) = store.call_record(&key).await.unwrap() {
                        return r;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await
        }
    };
    let r = record(asked).await;
    assert_eq!(r.end_reason.as_deref(), Some("degraded_callback_requested"), "{r:?}");
    assert_eq!(r.caller.as_deref(), Some("+380671112233"));
    assert_eq!(r.line.as_deref(), Some("short_1580"));
    assert_eq!(r.status, CallStatus::Closed);
    assert_eq!(r.started_at.to_rfc3339(), "2026-11-30T14:40:43+00:00");
    assert_eq!(r.steps[0].detail["reason"], "esl_unreachable");
    let r = record(answered).await;
    assert_eq!(r.end_reason.as_deref(), Some("degraded_operator_answered"));
    let key = CallKey { node: "fs1".into(), uuid: served.into() };
    assert!(c.store.call_record(&key).await.unwrap().is_none(), "Kontakt served it: not imported");
    // The callback goes to the number the caller keyed, and only the one who asked gets one.
    let op = c.ops[0];
    let mut feed = c.engine.operator_feed();
    ready(&c, op).await;
    let OperatorEvent::ScreenPop(pop) = next_for(&mut feed, op).await else { panic!() };
    assert_eq!((pop.kind.as_str(), pop.caller.as_deref()), ("callback", Some("+380501112233")));
    assert_eq!(pop.call, format!("cb-{asked}"));
    let Reply::Snapshot(snap) = c.engine.command(Command::Snapshot).await.unwrap() else {
        panic!()
    };
    assert!(snap.calls.iter().all(|l| l.call != format!("cb-{answered}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_desk_open_the_phone_rings_only_once_the_desk_has_the_screen_pop() {
    let c = center(vec![("1001", answer_after(0.1))], |cfg| cfg.screen_pop_lead_ms = 60_000).await;
    let op = c.ops[0];
    let mut feed = c.engine.operator_feed();
    c.engine.desk_presence(op, true);
    ready(&c, op).await;
    let uuid = c.emu.place_call(&call("0505550041", &["1", "2"]));
    let OperatorEvent::ScreenPop(pop) = next_for(&mut feed, op).await else { panic!() };
    // The engine has made the offer (it is on the record) but holds the ring.
    record_of(&c, &uuid, |r| r.steps.iter().any(|s| s.kind == "offer")).await;
    assert!(!c.emu.channels().iter().any(|ch| ch.name.contains("1001")), "rang before the pop");
    // The desk wrote the pop to the operator's screen: now the phone rings.
    c.engine.pop_delivered(&pop.call);
    assert!(matches!(next_for(&mut feed, op).await, OperatorEvent::Connected { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desk_that_never_confirms_the_pop_delays_the_ring_only_briefly() {
    let c = center(vec![("1001", answer_after(0.1))], |cfg| cfg.screen_pop_lead_ms = 200).await;
    let op = c.ops[0];
    let mut feed = c.engine.operator_feed();
    c.engine.desk_presence(op, true);
    ready(&c, op).await;
    let uuid = c.emu.place_call(&call("0505550042", &["1", "2"]));
    assert!(matches!(next_for(&mut feed, op).await, OperatorEvent::ScreenPop(_)));
    assert!(matches!(next_for(&mut feed, op).await, OperatorEvent::Connected { .. }));
    let r = record_of(&c, &uuid, |r| r.connected_at.is_some()).await;
    let (offered, connected) = (r.offered_at.unwrap(), r.connected_at.unwrap());
    assert!(connected - offered >= chrono::Duration::milliseconds(200), "{r:?}");
    assert_eq!(c.engine.metrics().pop_late.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_pause_names_a_configured_reason() {
    let c = center(vec![("1001", answer_after(0.1))], |_| {}).await;
    let op = c.ops[0];
    ready(&c, op).await;
    let bad = kontakt_acd::ForcedState::Paused("coffee with friends".into());
    let r = c.engine.command(Command::ForceState { agent: op, state: bad }).await;
    assert!(matches!(r, Err(CommandError::UnknownReason(_))), "{r:?}");
    let good = kontakt_acd::ForcedState::Paused("training".into());
    c.engine.command(Command::ForceState { agent: op, state: good }).await.unwrap();
    let Reply::Operator(s) = c.engine.command(Command::OperatorStatus { user: op }).await.unwrap()
    else {
        panic!()
    };
    assert_eq!((s.state.as_str(), s.reason.as_deref()), ("paused", Some("training")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_screen_pop_shows_the_outages_in_force_at_the_caller_s_street() {
    use kontakt_appeals::{OutageClass, OutageDraft, OutageKind, OutagePlace};
    let c = center(vec![("1001", answer_after(0.2))], |_| {}).await;
    let op = c.ops[0];
    c.store
        .create_applicant(
            NewApplicant {
                last_name: Some("Коваль".into()),
                first_name: Some("Ірина".into()),
                patronymic: None,
                email: None,
                kind: kontakt_appeals::ApplicantKind::Individual,
                privileges: Vec::new(),
                confidential: false,
                assurance: kontakt_appeals::AssuranceLevel::ContactVerified,
                address: Some(address("вул. Перемоги", "12")),
                phones: vec!["+380503334455".into()],
            },
            Utc::now(),
        )
        .await
        .unwrap();
    let now = Utc::now();
    let outage = |street: &str, nature: &str| NewOutage {
        draft: OutageDraft {
            kind: OutageKind::Accident,
            class: OutageClass::Water,
            nature: nature.into(),
            // The whole street: it covers the caller's building.
            area: vec![OutagePlace { street: street.into(), building: None }],
            executor_id: None,
            started_at: now - chrono::Duration::hours(2),
            planned_end_at: Some(now + chrono::Duration::hours(4)),
            public_message: Some("Воду подадуть до 18:00".into()),
        },
        created_by: None,
        created_at: now,
    };
    let active = c.store.create_outage(outage("вулиця Перемоги", "Порив водогону")).await.unwrap();
    // One on the same street that is over, and one on another street: neither is shown.
    let ended = c.store.create_outage(outage("Перемоги", "Заміна засувки")).await.unwrap();
    c.store.end_outage(ended.id, now - chrono::Duration::minutes(30)).await.unwrap();
    c.store.create_outage(outage("просп. Соборний", "Ремонт мережі")).await.unwrap();
    let mut feed = c.engine.operator_feed();
    ready(&c, op).await;
    let mut sc = call("0503334455", &["1", "2"]);
    sc.talk_secs = Some(0.3);
    let uuid = c.emu.place_call(&sc);
    let OperatorEvent::ScreenPop(pop) = next_for(&mut feed, op).await else { panic!() };
    assert_eq!(pop.call, uuid);
    assert!(pop.context.applicant.is_some(), "the caller is recognised");
    let shown: Vec<(i64, &str)> = pop.outages.iter().map(|o| (o.id, o.nature.as_str())).collect();
    assert_eq!(shown, [(active.id, "Порив водогону")]);
    let o = &pop.outages[0];
    assert_eq!((o.kind, o.class), (OutageKind::Accident, OutageClass::Water));
    assert_eq!(o.started_at, active.started_at);
    assert_eq!(o.planned_end_at, active.planned_end_at);
    assert_eq!(o.public_message.as_deref(), Some("Воду подадуть до 18:00"));
    // On the wire: the screen-pop's own `outages`, typed, and not a second copy in `context`.
    let json = serde_json::to_value(&*pop).unwrap();
    assert_eq!(json["outages"][0]["kind"], "accident");
    assert_eq!(json["outages"][0]["class"], "water");
    assert_eq!(json["outages"][0]["public_message"], "Воду подадуть до 18:00");
    assert!(json["context"].get("outages").is_none(), "{json}");
}
