//! Orphans: callers FreeSWITCH handed to a Kontakt process that hung before recording them.
//! They sit in the socket application with no call record at all. Reconciliation adopts one
//! it sees in two looks two seconds apart (`adopt_orphans` in `engine.rs`): the caller is
//! pulled onto our socket (`uuid_transfer`) and taken from the start. Callers with a record,
//! and callers in any other application, are not adopted.
//!
//! The hung process is a proxy in front of our outbound socket that accepts the socket
//! FreeSWITCH opens for the caller and never answers or closes it, so the caller stays in the
//! socket application. (A process that dies closes its sockets, and the dialplan goes on to
//! degraded mode: `call_flow.rs` covers that.) What the engine asks of the switch is read
//! from the switch's `API` events (one for each api command it runs).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::collections::HashMap;
use std::time::Duration;

use kontakt_engine::feed::OperatorEvent;
use kontakt_engine::*;
use kontakt_sim::ScriptedCall;
use kontakt_store::*;
use kontakt_switch::{InboundClient, InboundConfig};
use tokio::sync::watch;

use support::proxy::Link;
use support::{Center, NODE, Parts, answer_after, call, ready, record_of, within};

/// One api command the switch ran.
#[derive(Debug, Clone)]
struct Asked {
    command: String,
    args: String,
    /// When the switch ran it (its event's timestamp), Unix µs.
    at_us: u64,
}

impl Asked {
    /// A look at the switch's channels (reconciliation lists them).
    fn is_look(&self) -> bool {
        self.command == "show" && self.args.starts_with("channels")
    }

    /// `uuid_transfer` of this channel.
    fn transfers(&self) -> Option<&str> {
        (self.command == "uuid_transfer").then(|| self.args.split(' ').next().unwrap_or(""))
    }
}

/// The api commands the switch runs from now on, as it runs them.
async fn asked_of_the_switch(c: &Center) -> watch::Receiver<Vec<Asked>> {
    let config = InboundConfig::new(c.emu.inbound_addr().to_string(), "ClueCon").events(["API"]);
    let (client, mut events) =
        within("ESL connect", 5, InboundClient::connect(config)).await.unwrap();
    let (tx, rx) = watch::channel(Vec::new());
    tokio::spawn(async move {
        let _connection = client;
        while let Ok(ev) = events.recv().await {
            let header = |h: &str| ev.header(h).unwrap_or_default().to_owned();
            if ev.name() == Some("API") {
                let at_us = header("Event-Date-Timestamp").parse().unwrap();
                let asked = Asked {
                    command: header("API-Command"),
                    args: header("API-Command-Argument"),
                    at_us,
                };
                tx.send_modify(|all| all.push(asked));
            }
        }
    });
    rx
}

/// The emulator's own view of call `uuid`: when an application server last took it (sent
/// `connect` on its socket); 0 if none ever did.
fn connected_us(c: &Center, uuid: &str) -> u64 {
    c.emu.report().into_iter().find(|r| r.uuid == uuid).unwrap().connected_us
}

/// The application channel `uuid` runs now, if it is up.
fn application(c: &Center, uuid: &str) -> Option<String> {
    c.emu.channels().into_iter().find(|ch| ch.uuid == uuid).and_then(|ch| ch.application)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_left_in_the_socket_without_a_record_is_adopted_once_and_served() {
    let (store, dir) = support::sqlite().await;
    let phones = support::phones(vec![("1001", answer_after(0.1)), ("1002", answer_after(0.1))]);
    // The engine attaches to the switch only once the callers below are there.
    let parts =
        Parts { store, dir, phones, supervisor: false, socket_proxy: true, attached: false };
    let c = support::start(parts, |_| {}, |e| e.socket_resume = true).await;
    let front = c.socket_proxy.as_ref().unwrap();
    let mut asked = asked_of_the_switch(&c).await;
    let mut feed = c.engine.operator_feed();

    // The process FreeSWITCH hands the caller to takes the socket and never speaks: it hangs,
    // and its socket stays open. The caller stays in the socket application. (Had the socket
    // closed, the dialplan would have taken the caller on to degraded mode.)
    front.link.send_replace(Link::Frozen);
    let mut sc = call("0505550061", &["1", "2"]);
    sc.talk_secs = Some(0.3);
    let orphan = c.emu.place_call(&sc);
    within("the hung process to take the caller's socket", 5, front.holding(1)).await;
    front.link.send_replace(Link::Up);

    // A caller Kontakt takes as usual: recorded, waiting in the queue.
    let mut sc = call("0505550062", &["1", "2"]);
    sc.talk_secs = Some(0.3);
    let served = c.emu.place_call(&sc);
    record_of(&c, &served, |r| r.queued_at.is_some()).await;
    // A caller the dialplan sent to another application (an echo test), with no record.
    let elsewhere = c.emu.place_call(&ScriptedCall::new("0505550063", "9196"));
    within("the echo caller in its application", 5, async {
        while application(&c, &elsewhere).as_deref() != Some("echo") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // The orphan: in the socket application, taken by no application server, unrecorded.
    assert_eq!(application(&c, &orphan).as_deref(), Some("socket"));
    assert_eq!(connected_us(&c, &orphan), 0);
    c.engine.writer().sync().await.unwrap();
    let key = CallKey { node: NODE.into(), uuid: orphan.clone() };
    assert!(c.store.call_record(&key).await.unwrap().is_none(), "recorded before adoption");

    // Kontakt attaches to the switch: reconciliation looks at its channels, and again.
    support::attach(&c.engine, &c.emu, NODE).await;
    let seen = within("the orphan's adoption", 10, async {
        let all = asked.wait_for(|all| all.iter().any(|a| a.transfers() == Some(&orphan))).await;
        all.unwrap().clone()
    })
    .await;
    let transfer = seen.iter().position(|a| a.transfers() == Some(&orphan)).unwrap();
    assert!(seen[transfer].args.contains("socket:"), "{:?}", seen[transfer]);
    // Adopted at the second look, not the first: a caller being taken at the first look
    // has its record by the second. (Two seconds of the switch's wall clock.)
    let looks: Vec<&Asked> = seen[..transfer].iter().filter(|a| a.is_look()).collect();
    assert!(looks.len() >= 2, "adopted after {} look(s): {seen:?}", looks.len());
    let waited_ms = (seen[transfer].at_us - looks[0].at_us) / 1000;
    assert!(waited_ms >= 1950, "adopted {waited_ms} ms after the first look");
    let r = record_of(&c, &orphan, |r| r.queued_at.is_some()).await;
    assert!(connected_us(&c, &orphan) > 0, "{r:?}");

    // Operators become ready: both callers are answered, talk, hang up and are linked.
    for &op in &c.ops {
        ready(&c, op).await;
    }
    let mut answered_by = HashMap::new();
    let mut linked = 0;
    while linked < 2 {
        let m = within("both callers answered and linked", 15, feed.recv()).await.unwrap();
        match &m.event {
            OperatorEvent::Connected { call } => {
                answered_by.insert(call.clone(), m.user_id);
            }
            OperatorEvent::Ended { call, wrap_up: true, .. } => {
                let link = CallLink::Outcome("consultation".into());
                let user = m.user_id;
                c.engine.command(Command::Link { user, call: call.clone(), link }).await.unwrap();
                linked += 1;
            }
            _ => {}
        }
    }

    // The orphan: one record, taken from the start (menu, queue, operator) once, closed
    // with its end and outcome.
    let r = record_of(&c, &orphan, |r| r.status == CallStatus::Closed).await;
    assert!(r.agent_user_id.is_some(), "{r:?}");
    assert_eq!(r.agent_user_id, answered_by.get(&orphan).copied(), "{r:?}");
    assert_eq!(r.end_reason.as_deref(), Some("completed"), "{r:?}");
    // The number the caller dialled, not the inline applications that brought it back.
    assert_eq!(r.dialled, "1580", "{r:?}");
    assert_eq!(r.link, Some(CallLink::Outcome("consultation".into())));
    assert!(r.connected_at.is_some() && r.ended_at.is_some() && r.hangup_cause.is_some());
    let kinds: Vec<&str> = r.steps.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"ivr"), "{kinds:?}");
    for (kind, n) in [("queued", 1), ("connected", 1), ("hangup", 1)] {
        assert_eq!(kinds.iter().filter(|k| **k == kind).count(), n, "{kind} in {kinds:?}");
    }
    let seqs: Vec<i64> = r.steps.iter().map(|s| s.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "no step lost or reused");
    // The caller with a record: served on its first socket, to its end.
    let r = record_of(&c, &served, |r| r.status == CallStatus::Closed).await;
    assert_eq!(r.end_reason.as_deref(), Some("completed"), "{r:?}");
    assert_eq!(r.steps.iter().filter(|s| s.kind == "queued").count(), 1, "{:?}", r.steps);
    // The echo caller: still in its application, never taken.
    assert_eq!(application(&c, &elsewhere).as_deref(), Some("echo"));
    assert_eq!(connected_us(&c, &elsewhere), 0);

    // Pulled onto our socket: the orphan, once; neither the caller with a record nor the
    // one in another application.
    let transferred: Vec<String> =
        asked.borrow().iter().filter_map(|a| a.transfers().map(str::to_owned)).collect();
    assert_eq!(transferred, std::slice::from_ref(&orphan));
    // Recorded: the orphan and the caller served as usual, once each.
    let mut recorded: Vec<String> =
        c.store.recent_calls(100).await.unwrap().into_iter().map(|r| r.key.uuid).collect();
    recorded.sort();
    let mut want = vec![orphan, served];
    want.sort();
    assert_eq!(recorded, want);
}

/// A second FreeSWITCH node attaching between a node's two looks must not make the engine
/// forget what the first look saw: each node's orphans are its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphan_is_adopted_while_another_node_attaches_between_the_looks() {
    let (store, dir) = support::sqlite().await;
    let phones = support::phones(vec![("1001", answer_after(0.1))]);
    let parts =
        Parts { store, dir, phones, supervisor: false, socket_proxy: true, attached: false };
    let c = support::start(parts, |_| {}, |e| e.socket_resume = true).await;
    let front = c.socket_proxy.as_ref().unwrap();
    let mut asked = asked_of_the_switch(&c).await;
    let second =
        kontakt_sim::EmulatorConfig { hostname: "kontakt-sim-2".into(), ..c.emu_config.clone() };
    let second = kontakt_sim::Emulator::start(second).await.unwrap();
    front.link.send_replace(Link::Frozen);
    let orphan = c.emu.place_call(&call("0505550061", &["1", "2"]));
    within("the orphan's socket held", 5, front.holding(1)).await;
    front.link.send_replace(Link::Up);

    // Node A attaches and looks once; node B attaches (and looks) within the two seconds.
    support::attach(&c.engine, &c.emu, NODE).await;
    within("the first look at node A", 5, asked.wait_for(|a| a.iter().any(Asked::is_look)))
        .await
        .unwrap();
    support::attach(&c.engine, &second, "kontakt-sim-2").await;
    within(
        "the orphan on node A adopted",
        10,
        asked.wait_for(|a| a.iter().any(|x| x.transfers() == Some(orphan.as_str()))),
    )
    .await
    .unwrap();
    let transfers =
        asked.borrow().iter().filter(|x| x.transfers() == Some(orphan.as_str())).count();
    assert_eq!(transfers, 1, "adopted once");
}
