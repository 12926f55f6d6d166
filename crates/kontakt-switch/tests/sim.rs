#![allow(clippy::unwrap_used)]
//! Client and server against the FreeSWITCH emulator (`kontakt-sim`) over real TCP.

mod common;

use std::time::Duration;

use common::{T, wait_state, within};
use kontakt_sim::{
    Emulator, EmulatorConfig, EmulatorHandle, EndpointBehaviour, EndpointConfig, ScriptedCall,
};
use kontakt_switch::{
    Call, ConnectionState, Error, EventFormat, InboundClient, InboundConfig, OutboundConfig,
    OutboundServer, RecvError, vars,
};

async fn emulator(
    outbound: Option<String>,
    speed: f64,
    endpoints: Vec<EndpointConfig>,
) -> EmulatorHandle {
    let cfg = EmulatorConfig {
        listen: "127.0.0.1:0".into(),
        heartbeat_secs: 0.0,
        speed,
        outbound_socket: outbound,
        endpoints,
        ..Default::default()
    };
    Emulator::start(cfg).await.unwrap()
}

fn client_config(emu: &EmulatorHandle) -> InboundConfig {
    let mut c = InboundConfig::new(emu.inbound_addr().to_string(), "ClueCon");
    c.backoff.initial = Duration::from_millis(10);
    c.backoff.max = Duration::from_millis(100);
    c.liveness_timeout = None; // heartbeats are off in most tests
    c
}

/// The next event named `name` (others skipped).
async fn next_named(rx: &mut kontakt_switch::EventReceiver, name: &str) -> kontakt_esl::Event {
    within(name, async {
        loop {
            let ev = rx.recv().await.unwrap();
            if ev.name() == Some(name) {
                return ev;
            }
        }
    })
    .await
}

// ---- inbound ----

#[tokio::test]
async fn inbound_wrong_password_against_emulator() {
    let emu = emulator(None, 20.0, vec![]).await;
    let mut cfg = client_config(&emu);
    cfg.credentials = kontakt_switch::Credentials::Password("nope".into());
    let err = within("connect", InboundClient::connect(cfg)).await.unwrap_err();
    assert!(matches!(&err, Error::AuthFailed { reply } if reply == "-ERR invalid"), "{err:?}");
}

#[tokio::test]
async fn inbound_api_bgapi_events_against_emulator() {
    let emu = emulator(None, 20.0, vec![]).await;
    let cfg = client_config(&emu).events(["CHANNEL_CREATE", "CHANNEL_HANGUP_COMPLETE"]);
    let (client, mut events) = within("connect", InboundClient::connect(cfg)).await.unwrap();
    let status = within("api", client.api("status")).await.unwrap();
    assert!(status.starts_with("UP "), "{status}");
    let job = within("bgapi", client.bgapi("status")).await.unwrap();
    assert!(job.body().unwrap().starts_with("UP "), "{job:?}");
    let uuid = emu.place_call(&ScriptedCall::new("+380501234567", "1580"));
    let ev = next_named(&mut events, "CHANNEL_CREATE").await;
    assert_eq!(ev.unique_id(), Some(uuid.as_str()));
    assert_eq!(ev.header(vars::headers::CALLER_CALLER_ID_NUMBER), Some("+380501234567"));
}

#[tokio::test]
async fn inbound_emulator_drops_connection_client_reconnects_and_resubscribes() {
    let emu = emulator(None, 20.0, vec![]).await;
    let cfg = client_config(&emu).events(["CHANNEL_CREATE"]);
    let (client, mut events) = within("connect", InboundClient::connect(cfg)).await.unwrap();
    let mut state = client.state();
    let first = emu.place_call(&ScriptedCall::new("1000", "1580"));
    assert_eq!(next_named(&mut events, "CHANNEL_CREATE").await.unique_id(), Some(first.as_str()));
    assert_eq!(emu.drop_inbound_connections(), 1);
    wait_state(&mut state, "disconnect", |s| matches!(s, ConnectionState::Disconnected { .. }))
        .await;
    wait_state(&mut state, "reconnect", |s| *s == ConnectionState::Connected).await;
    // Events flow again only if the subscription was applied on the new connection.
    let second = emu.place_call(&ScriptedCall::new("1001", "1580"));
    assert_eq!(next_named(&mut events, "CHANNEL_CREATE").await.unique_id(), Some(second.as_str()));
    assert_eq!(client.stats().connections, 2);
}

#[tokio::test]
async fn inbound_bgapi_fails_when_emulator_drops_the_connection() {
    // The agent never answers: the originate's result would take the emulator's 60 s.
    let agent = EndpointConfig {
        user: "1001".into(),
        behaviour: EndpointBehaviour { answer_after_secs: None, ..Default::default() },
    };
    let emu = emulator(None, 1.0, vec![agent]).await;
    let (client, _events) =
        within("connect", InboundClient::connect(client_config(&emu))).await.unwrap();
    let c2 = client.clone();
    let job = tokio::spawn(async move {
        c2.bgapi_with_timeout("originate user/1001 &park()", Duration::from_secs(600)).await
    });
    // Replies come in order: once this api returned, the bgapi has been accepted.
    tokio::task::yield_now().await;
    within("api", client.api("status")).await.unwrap();
    assert_eq!(emu.drop_inbound_connections(), 1);
    let err = within("bgapi must fail, not hang", job).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::ConnectionLost { .. }), "{err:?}");
}

#[tokio::test]
async fn inbound_heartbeats_keep_the_connection_alive() {
    let cfg =
        EmulatorConfig { listen: "127.0.0.1:0".into(), heartbeat_secs: 0.1, ..Default::default() };
    let emu = Emulator::start(cfg).await.unwrap();
    let mut cfg = client_config(&emu).events(["CHANNEL_CREATE"]);
    cfg.liveness_timeout = Some(Duration::from_millis(400));
    let (client, events) = within("connect", InboundClient::connect(cfg)).await.unwrap();
    let mut state = client.state();
    state.borrow_and_update();
    // 1.5 s of HEARTBEATs every 0.1 s: no state change, and none reaches the consumer.
    let changed = tokio::time::timeout(Duration::from_millis(1500), state.changed()).await;
    assert!(changed.is_err(), "state changed: {:?}", *state.borrow());
    assert_eq!(events.stats().received, 0);
}

// ---- outbound ----

async fn outbound_setup(cfg: OutboundConfig) -> (EmulatorHandle, OutboundServer) {
    let server = OutboundServer::bind("127.0.0.1:0", cfg).await.unwrap();
    let emu = emulator(Some(server.local_addr().unwrap().to_string()), 20.0, vec![]).await;
    (emu, server)
}

async fn accept(server: &OutboundServer) -> Call {
    within("accept", server.accept()).await.unwrap()
}

const PAGD: &str = "1 1 3 5000 # ivr/menu.wav ivr/invalid.wav choice \\d 3000";

#[tokio::test]
async fn outbound_play_and_get_digits_returns_the_digits() {
    let (emu, server) = outbound_setup(OutboundConfig::default()).await;
    let mut sc = ScriptedCall::new("+380671112233", "1580");
    sc.digits = vec!["2".into()];
    sc.hangup_after_secs = Some(60.0);
    let uuid = emu.place_call(&sc);
    let mut call = accept(&server).await;
    assert_eq!(call.unique_id(), uuid);
    assert_eq!(call.channel_data().caller_id_number(), Some("+380671112233"));
    within("answer", call.execute("answer", None)).await.unwrap();
    let done = within("pagd", call.execute("play_and_get_digits", Some(PAGD))).await.unwrap();
    assert_eq!(done.var(vars::channel::READ_RESULT), Some("success"));
    assert_eq!(done.var("choice"), Some("2"));
    within("set", call.set_var(vars::kontakt_sets::ACCEPTED, "true")).await.unwrap();
    within("hangup", call.hangup(Some("NORMAL_CLEARING"))).await.unwrap();
    let st = within("closed", call.closed()).await;
    assert!(st.hung_up && st.closed, "{st:?}");
    assert_eq!(st.hangup_cause.as_deref(), Some("NORMAL_CLEARING"));
    // The event stream saw the DTMF, then ends.
    let mut names = Vec::new();
    loop {
        match within("drain", call.recv_event()).await {
            Ok(ev) => names.push(ev.name().unwrap_or_default().to_owned()),
            Err(RecvError::Closed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(names.iter().any(|n| n == "DTMF"), "{names:?}");
    assert!(names.iter().any(|n| n == "CHANNEL_HANGUP"), "{names:?}");
    assert!(emu.wait_idle(T).await);
}

#[tokio::test]
async fn outbound_caller_hangs_up_during_play_and_get_digits_ends_cleanly() {
    let (emu, server) = outbound_setup(OutboundConfig::default()).await;
    let mut sc = ScriptedCall::new("1000", "1580");
    sc.hangup_after_secs = Some(2.0); // no digits: the prompt is still running
    emu.place_call(&sc);
    let call = accept(&server).await;
    within("answer", call.execute("answer", None)).await.unwrap();
    let err =
        within("pagd must end", call.execute("play_and_get_digits", Some(PAGD))).await.unwrap_err();
    let Error::Hangup { cause, completion } = err else { panic!("{err:?}") };
    assert_eq!(cause.as_deref(), Some("NORMAL_CLEARING"));
    // With linger the completion still arrived, and says the read failed.
    let completion = completion.expect("linger delivers the completion");
    assert_eq!(completion.var(vars::channel::READ_RESULT), Some("failure"));
    let st = within("closed", call.closed()).await;
    assert!(st.closed && st.hung_up, "{st:?}");
    assert!(st.close_reason.unwrap().contains("disconnect notice"));
    // Further commands fail at once with the hangup.
    let err = within("after", call.execute("playback", Some("x.wav"))).await.unwrap_err();
    assert!(matches!(err, Error::Hangup { .. }), "{err:?}");
    assert!(emu.wait_idle(T).await);
}

#[tokio::test]
async fn outbound_without_linger_hangup_still_ends_the_execute() {
    let cfg = OutboundConfig { linger: false, ..Default::default() };
    let (emu, server) = outbound_setup(cfg).await;
    let mut sc = ScriptedCall::new("1000", "1580");
    sc.hangup_after_secs = Some(2.0);
    emu.place_call(&sc);
    let call = accept(&server).await;
    within("answer", call.execute("answer", None)).await.unwrap();
    let err =
        within("pagd must end", call.execute("play_and_get_digits", Some(PAGD))).await.unwrap_err();
    assert!(matches!(err, Error::Hangup { .. }), "{err:?}");
    assert!(within("closed", call.closed()).await.closed);
    assert!(emu.wait_idle(T).await);
}

#[tokio::test]
async fn outbound_socket_dropped_by_switch_fails_execute_with_connection_lost() {
    let (emu, server) = outbound_setup(OutboundConfig::default()).await;
    let mut sc = ScriptedCall::new("1000", "1580");
    sc.hangup_after_secs = Some(60.0);
    emu.place_call(&sc);
    let call = accept(&server).await;
    within("answer", call.execute("answer", None)).await.unwrap();
    let control = call.control();
    let play = tokio::spawn(async move { control.execute("playback", Some("ivr/long.wav")).await });
    tokio::task::yield_now().await;
    assert_eq!(emu.drop_outbound_connections(), 1);
    let r = within("execute must end", play).await.unwrap();
    assert!(matches!(r, Err(Error::ConnectionLost { .. } | Error::Hangup { .. })), "{r:?}");
    assert!(within("closed", call.closed()).await.closed);
}

#[tokio::test]
async fn outbound_serve_runs_one_task_per_call() {
    let server = OutboundServer::bind(
        "127.0.0.1:0",
        OutboundConfig { myevents: Some(EventFormat::Json), ..Default::default() },
    )
    .await
    .unwrap();
    let emu = emulator(Some(server.local_addr().unwrap().to_string()), 20.0, vec![]).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = server.serve(move |call| {
        let tx = tx.clone();
        async move {
            let r = call.execute("answer", None).await.map(|_| ());
            let _ = call.hangup(None).await;
            let _ = tx.send((call.unique_id().to_owned(), r.is_ok()));
        }
    });
    let mut placed = Vec::new();
    for i in 0..3 {
        placed.push(emu.place_call(&ScriptedCall::new(&format!("100{i}"), "1580")));
    }
    let mut done = Vec::new();
    for _ in 0..3 {
        let (uuid, ok) = within("handler", rx.recv()).await.unwrap();
        assert!(ok);
        done.push(uuid);
    }
    placed.sort();
    done.sort();
    assert_eq!(placed, done);
    assert!(emu.wait_idle(T).await);
    task.abort();
}
