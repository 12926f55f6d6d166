#![allow(clippy::unwrap_used)]
//! `kontakt esl tail` (library side): json subscription, UUID filter, JSON lines out.

mod common;

use common::{FakeSwitch, event, within};
use kontakt_esl::server;
use kontakt_switch::{Error, TailOptions, tail, tail_with};

#[tokio::test]
async fn tail_prints_filtered_events_as_json_lines() {
    let fs = FakeSwitch::start("ClueCon").await;
    let opts = TailOptions {
        addr: fs.addr(),
        password: "ClueCon".into(),
        events: vec!["CHANNEL_ANSWER".into(), "CHANNEL_HANGUP_COMPLETE".into()],
        uuid: Some("abc".into()),
        max_events: Some(2),
    };
    let mut out = Vec::new();
    let (r, c) = within("tail", async {
        tokio::join!(tail_with(opts, &mut out), async {
            let mut c = fs.accept_and_subscribe().await;
            let mut bytes = Vec::new();
            let answer = event(
                "CHANNEL_ANSWER",
                &[("Unique-ID", "abc"), ("Caller-Caller-ID-Name", "Олена")],
                None,
            );
            server::event_json(&mut bytes, &answer);
            // Someone else's channel (a real switch filters it; tail filters again).
            server::event_json(&mut bytes, &event("CHANNEL_ANSWER", &[("Unique-ID", "zzz")], None));
            let hangup = event(
                "CHANNEL_HANGUP_COMPLETE",
                &[
                    ("Unique-ID", "abc"),
                    ("Hangup-Cause", "NORMAL_CLEARING"),
                    ("Hangup-Cause", "NORMAL_CLEARING"),
                ],
                Some("body text"),
            );
            server::event_json(&mut bytes, &hangup);
            c.send(&bytes).await;
            // tail sends `exit` when it is done
            while let Some(cmd) = c.read_command().await {
                if cmd.name() == "exit" {
                    break;
                }
            }
            c
        })
    })
    .await;
    assert_eq!(r.unwrap(), 2);
    assert_eq!(
        c.commands,
        [
            "auth ClueCon",
            "filter Unique-ID abc",
            "filter Event-Name BACKGROUND_JOB",
            "filter Event-Name HEARTBEAT",
            "event json BACKGROUND_JOB HEARTBEAT CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE",
            "exit",
        ]
    );
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["event"]["Event-Name"], "CHANNEL_ANSWER");
    assert_eq!(lines[0]["event"]["Caller-Caller-ID-Name"], "Олена");
    assert_eq!(lines[0]["body"], serde_json::Value::Null);
    assert_eq!(
        lines[1]["event"]["Hangup-Cause"],
        serde_json::json!(["NORMAL_CLEARING", "NORMAL_CLEARING"])
    );
    assert_eq!(lines[1]["body"], "body text");
}

#[tokio::test]
async fn tail_with_a_wrong_password_fails_clearly() {
    let fs = FakeSwitch::start("ClueCon").await;
    let mut out = Vec::new();
    let addr = fs.addr();
    let (r, ok) = within("tail", async {
        tokio::join!(tail(&addr, "nope", &[], None, &mut out), async {
            let mut c = fs.accept().await;
            c.auth("ClueCon").await
        })
    })
    .await;
    assert!(!ok);
    assert!(matches!(r, Err(Error::AuthFailed { .. })), "{r:?}");
    assert!(out.is_empty());
}
