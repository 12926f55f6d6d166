#![allow(clippy::unwrap_used)]
//! The inbound client against small in-test fake switches over real TCP.

mod common;

use std::time::Duration;

use common::{FakeSwitch, T, event, wait_state, within};
use kontakt_esl::server;
use kontakt_switch::{ConnectionState, Error, InboundClient, RecvError};

#[tokio::test]
async fn wrong_password_is_a_clear_auth_error() {
    let fs = FakeSwitch::start("ClueCon").await;
    let mut cfg = fs.config();
    cfg.credentials = kontakt_switch::Credentials::Password("wrong".into());
    let (r, ok) = tokio::join!(InboundClient::connect(cfg), async {
        let mut c = fs.accept().await;
        c.auth("ClueCon").await
    });
    assert!(!ok);
    let err = r.unwrap_err();
    assert!(matches!(&err, Error::AuthFailed { reply } if reply == "-ERR invalid"), "{err:?}");
    assert!(err.is_permanent());
    assert_eq!(err.to_string(), "authentication refused by FreeSWITCH: -ERR invalid");
}

#[tokio::test]
async fn auth_failure_in_background_client_closes_it_with_the_reason() {
    let fs = FakeSwitch::start("ClueCon").await;
    let mut cfg = fs.config();
    cfg.credentials = kontakt_switch::Credentials::Password("wrong".into());
    let (client, mut events) = InboundClient::start(cfg);
    let mut c = fs.accept().await;
    assert!(!c.auth("ClueCon").await);
    let mut st = client.state();
    let s = wait_state(&mut st, "closed", |s| matches!(s, ConnectionState::Closed { .. })).await;
    assert!(format!("{s:?}").contains("-ERR invalid"), "{s:?}");
    assert!(matches!(client.last_error(), Some(Error::AuthFailed { .. })));
    assert_eq!(within("closed queue", events.recv()).await, Err(RecvError::Closed));
}

#[tokio::test]
async fn connection_refused_is_an_io_error() {
    let fs = FakeSwitch::start("ClueCon").await;
    let cfg = fs.config();
    drop(fs); // nothing listens any more
    let err = within("connect", InboundClient::connect(cfg)).await.unwrap_err();
    assert!(
        matches!(err, Error::Io { kind: std::io::ErrorKind::ConnectionRefused, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn subscribes_with_filters_and_delivers_events() {
    let fs = FakeSwitch::start("ClueCon").await;
    let mut cfg = fs.config().events(["CHANNEL_ANSWER", "CUSTOM", "kontakt::degraded_call"]);
    cfg.filters = vec![("Unique-ID".into(), "abc".into())];
    let (r, mut c) = tokio::join!(InboundClient::connect(cfg), fs.accept_and_subscribe());
    let (client, mut events) = r.unwrap();
    assert_eq!(
        c.commands,
        [
            "auth ClueCon",
            "filter Unique-ID abc",
            "filter Event-Name BACKGROUND_JOB",
            "filter Event-Name HEARTBEAT",
            "event plain BACKGROUND_JOB HEARTBEAT CHANNEL_ANSWER CUSTOM kontakt::degraded_call",
        ]
    );
    // HEARTBEAT is the client's own (liveness): not delivered; the rest is, in order.
    c.event(&event("HEARTBEAT", &[], None)).await;
    c.event(&event("CHANNEL_ANSWER", &[("Unique-ID", "abc")], None)).await;
    let ev = within("event", events.recv()).await.unwrap();
    assert_eq!(ev.name(), Some("CHANNEL_ANSWER"));
    assert_eq!(ev.unique_id(), Some("abc"));
    assert_eq!(client.stats().connections, 1);
    // A filter added later is sent now and remembered for reconnections.
    let (r, cmd) = tokio::join!(client.filter("Unique-ID", "def"), async {
        let cmd = c.read_command().await.unwrap();
        c.reply("+OK filter added. [Unique-ID]=[def]").await;
        cmd
    });
    r.unwrap();
    assert_eq!(cmd.line(), "filter Unique-ID def");
}

#[tokio::test]
async fn api_and_bgapi_matched_by_our_job_uuid() {
    let fs = FakeSwitch::start("ClueCon").await;
    let (r, mut c) = tokio::join!(InboundClient::connect(fs.config()), fs.accept_and_subscribe());
    let (client, _events) = r.unwrap();
    let (r, ()) = tokio::join!(client.api("status"), async {
        let cmd = c.read_command().await.unwrap();
        assert_eq!(cmd.line(), "api status");
        c.api_response("UP 0 years\n").await;
    });
    assert_eq!(r.unwrap(), "UP 0 years\n");
    let (r, ()) = tokio::join!(client.bgapi("originate user/1001 &park()"), async {
        let cmd = c.read_command().await.unwrap();
        assert_eq!(cmd.line(), "bgapi originate user/1001 &park()");
        let job = cmd.header("Job-UUID").unwrap().to_owned();
        let mut out = Vec::new();
        let text = format!("+OK Job-UUID: {job}");
        server::command_reply(&mut out, &text, &[("Job-UUID", &job)]);
        c.send(&out).await;
        // Someone else's job first: must not complete ours.
        c.event(&event("BACKGROUND_JOB", &[("Job-UUID", "other")], Some("-ERR other\n"))).await;
        c.event(&event("BACKGROUND_JOB", &[("Job-UUID", &job)], Some("+OK 1234\n"))).await;
    });
    let ev = r.unwrap();
    assert_eq!(ev.body(), Some("+OK 1234\n"));
}

#[tokio::test]
async fn bgapi_refused_is_a_command_error() {
    let fs = FakeSwitch::start("ClueCon").await;
    let (r, mut c) = tokio::join!(InboundClient::connect(fs.config()), fs.accept_and_subscribe());
    let (client, _events) = r.unwrap();
    let (r, ()) = tokio::join!(client.bgapi("nosuch"), async {
        c.read_command().await.unwrap();
        c.reply("-ERR nosuch command").await;
    });
    let err = r.unwrap_err();
    assert!(matches!(&err, Error::CommandFailed { reply, .. } if reply == "-ERR nosuch command"));
}

#[tokio::test]
async fn bgapi_whose_connection_dies_fails_instead_of_hanging() {
    let fs = FakeSwitch::start("ClueCon").await;
    let (r, mut c) = tokio::join!(InboundClient::connect(fs.config()), fs.accept_and_subscribe());
    let (client, _events) = r.unwrap();
    // The client's own timeout is long: only the connection's death can end the call.
    let call = client.bgapi_with_timeout("originate user/1001 &park()", Duration::from_secs(600));
    let (r, ()) = tokio::join!(within("bgapi must fail, not hang", call), async {
        let cmd = c.read_command().await.unwrap();
        let job = cmd.header("Job-UUID").unwrap().to_owned();
        let mut out = Vec::new();
        server::command_reply(&mut out, &format!("+OK Job-UUID: {job}"), &[("Job-UUID", &job)]);
        c.send(&out).await;
        drop(c); // accepted, then the switch goes away before the result
    });
    let err = r.unwrap_err();
    assert!(matches!(&err, Error::ConnectionLost { .. }), "{err:?}");
    assert!(err.to_string().contains("connection lost"), "{err}");
    // While reconnecting, calls fail at once with NotConnected (the fake accepts no more).
    let err = within("api while down", client.api("status")).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotConnected { .. } | Error::ConnectionLost { .. } | Error::Timeout { .. }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn api_without_answer_times_out() {
    let fs = FakeSwitch::start("ClueCon").await;
    let (r, mut c) = tokio::join!(InboundClient::connect(fs.config()), fs.accept_and_subscribe());
    let (client, _events) = r.unwrap();
    let r = client.api_with_timeout("status", Duration::from_millis(200)).await;
    assert!(matches!(r, Err(Error::Timeout { .. })), "{r:?}");
    assert_eq!(c.read_command().await.unwrap().line(), "api status");
}

#[tokio::test]
async fn dropped_mid_stream_reconnects_and_resubscribes() {
    let fs = FakeSwitch::start("ClueCon").await;
    let mut cfg = fs.config().events(["CHANNEL_CREATE", "CHANNEL_HANGUP"]);
    cfg.filters = vec![("Caller-Destination-Number".into(), "1580".into())];
    let (r, mut c1) = tokio::join!(InboundClient::connect(cfg), fs.accept_and_subscribe());
    let (client, mut events) = r.unwrap();
    let mut state = client.state();
    c1.event(&event("CHANNEL_CREATE", &[("Unique-ID", "1")], None)).await;
    // Half a frame, then the connection drops.
    let mut out = Vec::new();
    server::event_plain(&mut out, &event("CHANNEL_HANGUP", &[("Unique-ID", "1")], None));
    c1.send(&out[..out.len() / 2]).await;
    let first = c1.commands.clone();
    drop(c1);
    let s = wait_state(&mut state, "disconnected", |s| {
        matches!(s, ConnectionState::Disconnected { .. })
    })
    .await;
    assert!(format!("{s:?}").contains("closed the connection"), "{s:?}");
    let mut c2 = fs.accept_and_subscribe().await;
    assert_eq!(c2.commands, first, "the same subscription is applied again");
    wait_state(&mut state, "reconnected", |s| *s == ConnectionState::Connected).await;
    c2.event(&event("CHANNEL_CREATE", &[("Unique-ID", "2")], None)).await;
    let a = within("event 1", events.recv()).await.unwrap();
    let b = within("event 2", events.recv()).await.unwrap();
    assert_eq!((a.unique_id(), b.unique_id()), (Some("1"), Some("2")));
    assert_eq!(client.stats().connections, 2);
}

#[tokio::test]
async fn silence_trips_the_liveness_timeout_and_reconnects() {
    let fs = FakeSwitch::start("ClueCon").await;
    let mut cfg = fs.config();
    cfg.liveness_timeout = Some(Duration::from_millis(300));
    let (r, c1) = tokio::join!(InboundClient::connect(cfg), fs.accept_and_subscribe());
    let (client, _events) = r.unwrap();
    let mut state = client.state();
    // No HEARTBEAT from the fake: the client gives up on the connection and reconnects.
    let s =
        wait_state(&mut state, "liveness", |s| matches!(s, ConnectionState::Disconnected { .. }))
            .await;
    assert!(format!("{s:?}").contains("liveness timeout"), "{s:?}");
    let _c2 = fs.accept_and_subscribe().await;
    wait_state(&mut state, "reconnected", |s| *s == ConnectionState::Connected).await;
    drop(c1);
}

#[tokio::test]
async fn shutdown_sends_exit_and_closes_the_queue() {
    let fs = FakeSwitch::start("ClueCon").await;
    let (r, mut c) = tokio::join!(InboundClient::connect(fs.config()), fs.accept_and_subscribe());
    let (client, mut events) = r.unwrap();
    c.event(&event("CHANNEL_CREATE", &[], None)).await;
    within("first event", events.recv()).await.unwrap();
    let ((), cmd) = tokio::join!(client.shutdown(), c.read_command());
    assert_eq!(cmd.unwrap().line(), "exit");
    assert_eq!(within("closed", events.recv()).await, Err(RecvError::Closed));
    assert!(matches!(*client.state().borrow(), ConnectionState::Closed { .. }));
    let err = client.api("status").await.unwrap_err();
    assert!(matches!(err, Error::Shutdown), "{err:?}");
    let _ = T;
}

#[tokio::test]
async fn shutdown_interrupts_a_hanging_connection_attempt() {
    let fs = FakeSwitch::start("ClueCon").await;
    let mut cfg = fs.config();
    cfg.connect_timeout = Duration::from_secs(600);
    let (client, _events) = InboundClient::start(cfg);
    // Accepted, but no auth/request ever comes.
    let (_stream, _) = within("accept", fs.listener.accept()).await.unwrap();
    let mut state = client.state();
    wait_state(&mut state, "connecting", |s| matches!(s, ConnectionState::Connecting { .. })).await;
    let started = std::time::Instant::now();
    within("shutdown", client.shutdown()).await;
    assert!(matches!(*client.state().borrow(), ConnectionState::Closed { .. }));
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn userauth_credentials() {
    let fs = FakeSwitch::start("unused").await;
    let mut cfg = fs.config();
    cfg.credentials = kontakt_switch::Credentials::User {
        user: "kontakt@default".into(),
        password: "s3cret".into(),
    };
    let (r, cmd) = within("connect", async {
        tokio::join!(InboundClient::connect(cfg), async {
            let mut c = fs.accept().await;
            let cmd = c.read_command().await.unwrap();
            c.reply("+OK accepted").await;
            let ev = c.read_command().await.unwrap();
            c.reply("+OK").await;
            (cmd, ev, c)
        })
    })
    .await;
    r.unwrap();
    assert_eq!(cmd.0.line(), "userauth kontakt@default:s3cret");
    assert_eq!(cmd.1.name(), "event");
}
