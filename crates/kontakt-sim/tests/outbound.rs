#![allow(clippy::unwrap_used, clippy::print_stdout)]
//! Outbound socket (`socket <addr> async full`) against a test server over real TCP.

mod common;

use common::{Client, T, fixture};
use kontakt_sim::conformance::{Options, compare, shapes};
use kontakt_sim::{
    Emulator, EmulatorConfig, EmulatorHandle, EndpointBehaviour, EndpointConfig, ScriptedCall,
};
use tokio::net::TcpListener;

async fn setup(endpoints: Vec<EndpointConfig>) -> (EmulatorHandle, TcpListener) {
    let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cfg = EmulatorConfig {
        listen: "127.0.0.1:0".into(),
        heartbeat_secs: 0.0,
        speed: 20.0,
        outbound_socket: Some(server.local_addr().unwrap().to_string()),
        endpoints,
        ..Default::default()
    };
    (Emulator::start(cfg).await.unwrap(), server)
}

async fn accept(server: &TcpListener) -> Client {
    let (s, _) = tokio::time::timeout(T, server.accept()).await.unwrap().unwrap();
    Client::from_stream(s)
}

async fn execute(c: &mut Client, app: &str, arg: &str) -> String {
    let app_uuid = uuid::Uuid::new_v4().to_string();
    let mut cmd = format!("sendmsg\ncall-command: execute\nexecute-app-name: {app}\n");
    if !arg.is_empty() {
        cmd.push_str(&format!("execute-app-arg: {arg}\n"));
    }
    cmd.push_str(&format!("event-lock: true\nEvent-UUID: {app_uuid}\n\n"));
    assert_eq!(c.cmd(&cmd).await.reply_text(), Some("+OK"));
    app_uuid
}

async fn until_complete(c: &mut Client, app_uuid: &str) -> kontakt_esl::Event {
    loop {
        let ev = c.until_event("CHANNEL_EXECUTE_COMPLETE").await;
        if ev.application_uuid() == Some(app_uuid) {
            return ev;
        }
    }
}

#[tokio::test]
async fn outbound_7002_matches_capture() {
    let (emu, server) = setup(vec![]).await;
    let mut call = ScriptedCall::new("1000", "7002");
    call.caller_name = Some("sipp 1000".into());
    call.hangup_after_secs = Some(6.0);
    // sipp sent an RFC 2833 "1" during the playback
    call.dtmf = vec![kontakt_sim::TimedDigits { at_secs: 2.5, digits: "1".into() }];
    let uuid = emu.place_call(&call);
    let mut c = accept(&server).await;
    let data = c.cmd("connect\n\n").await;
    assert_eq!(data.reply_text(), Some("+OK\n"));
    assert_eq!(data.header("Unique-ID"), Some(uuid.as_str()));
    assert_eq!(data.header("Channel-Destination-Number"), Some("7002"));
    assert_eq!(data.header("variable_current_application"), Some("socket"));
    assert_eq!(c.cmd("myevents plain\n\n").await.reply_text(), Some("+OK Events Enabled"));
    assert_eq!(c.cmd("linger\n\n").await.reply_text(), Some("+OK will linger"));
    // pipelined, as the capture's client did: the three replies come before any event
    c.send(&format!("sendmsg\ncall-command: execute\nexecute-app-name: answer\nevent-lock: true\n\nsendmsg\ncall-command: execute\nexecute-app-name: playback\nexecute-app-arg: {{loops=20}}tone_stream://%(400,200,400,450)\nevent-lock: true\n\napi uuid_getvar {uuid} sip_from_user\n\n")).await;
    let all = c.until_eof().await;
    assert_eq!(all[0].reply_text(), Some("+OK"));
    assert_eq!(all[1].reply_text(), Some("+OK"));
    assert_eq!(all[2].body_text(), "1000");
    let last = all.last().unwrap();
    assert_eq!(last.content_type_str(), Some("text/disconnect-notice"));
    assert_eq!(last.header("Content-Disposition"), Some("linger"));
    assert_eq!(last.header("Linger-Time"), Some("-1"));
    assert_eq!(last.header("Controlled-Session-UUID"), Some(uuid.as_str()));

    let expected = shapes(&fixture("outbound_socket_7002_plain/esl_outbound_plain.rx")).unwrap();
    let actual = shapes(&c.raw).unwrap();
    let opts = Options::default();
    let r = compare(&expected, &actual, &opts);
    println!("== outbound_socket_7002_plain: {r}");
    assert!(r.missing.is_empty() && r.extra.is_empty(), "{r}");
    assert_eq!(r.same_headers, r.matched, "{r}");
    assert!(r.variables_present * 100 >= r.variables_expected * 98, "{r}");
    // the connect reply's header names, in order, are FreeSWITCH's
    let exp_connect = &expected[0];
    let act_connect = &actual[0];
    assert_eq!(exp_connect.headers, act_connect.headers);
    assert!(emu.wait_idle(T).await);
}

#[tokio::test]
async fn play_and_get_digits_returns_caller_digits() {
    let (emu, server) = setup(vec![]).await;
    let mut call = ScriptedCall::new("+31201234567", "7002");
    call.digits = vec!["2".into(), "1234#".into()];
    call.hangup_after_secs = Some(60.0);
    let uuid = emu.place_call(&call);
    let mut c = accept(&server).await;
    c.cmd("connect\n\n").await;
    c.cmd("myevents\n\n").await;
    let a = execute(&mut c, "answer", "").await;
    until_complete(&mut c, &a).await;
    let p = execute(
        &mut c,
        "play_and_get_digits",
        "1 1 3 5000 # ivr/menu.wav ivr/invalid.wav choice \\d 3000",
    )
    .await;
    let mut dtmf = Vec::new();
    loop {
        let m = c.next().await.unwrap();
        let ev = m.event().unwrap();
        match ev.name() {
            Some("DTMF") => dtmf.push(ev.dtmf_digit().unwrap().to_owned()),
            Some("CHANNEL_EXECUTE_COMPLETE") if ev.application_uuid() == Some(p.as_str()) => {
                assert_eq!(ev.application(), Some("play_and_get_digits"));
                assert_eq!(ev.var("choice"), Some("2"));
                assert_eq!(ev.var("read_result"), Some("success"));
                break;
            }
            _ => {}
        }
    }
    assert_eq!(dtmf, ["2"]);
    let p = execute(&mut c, "read", "1 10 ivr/account.wav account 5000 #").await;
    let ev = until_complete(&mut c, &p).await;
    assert_eq!(ev.var("account"), Some("1234#"));
    let h = c.cmd("sendmsg\ncall-command: hangup\nhangup-cause: NORMAL_CLEARING\n\n").await;
    assert_eq!(h.reply_text(), Some("+OK"));
    let rest = c.until_eof().await;
    let notice = rest.last().unwrap();
    assert_eq!(notice.content_type_str(), Some("text/disconnect-notice"));
    assert_eq!(notice.header("Content-Disposition"), Some("disconnect"));
    assert!(emu.wait_idle(T).await);
    let rec = &emu.report()[0];
    assert_eq!(rec.uuid, uuid);
    assert_eq!(rec.digits, "21234#");
    assert_eq!(rec.hangup_cause.as_deref(), Some("NORMAL_CLEARING"));
}

#[tokio::test]
async fn caller_hangs_up_during_play_and_get_digits() {
    let (emu, server) = setup(vec![]).await;
    let mut call = ScriptedCall::new("1000", "7002");
    call.hangup_after_secs = Some(2.0); // no digits: the prompt is still running
    emu.place_call(&call);
    let mut c = accept(&server).await;
    c.cmd("connect\n\n").await;
    c.cmd("myevents\n\n").await;
    c.cmd("linger\n\n").await;
    let a = execute(&mut c, "answer", "").await;
    until_complete(&mut c, &a).await;
    let p = execute(
        &mut c,
        "play_and_get_digits",
        "1 1 3 5000 # ivr/menu.wav ivr/invalid.wav choice \\d",
    )
    .await;
    c.until_event("CHANNEL_HANGUP").await;
    let ev = until_complete(&mut c, &p).await;
    assert_eq!(ev.var("read_result"), Some("failure"));
    assert_eq!(ev.hangup_cause(), Some("NORMAL_CLEARING"));
    let hc = c.until_event("CHANNEL_HANGUP_COMPLETE").await;
    assert_eq!(hc.header_all("Hangup-Cause").count(), 2);
    let rest = c.until_eof().await;
    assert_eq!(rest.last().unwrap().header("Content-Disposition"), Some("linger"));
    assert!(emu.wait_idle(T).await);
}

#[tokio::test]
async fn bridge_to_agent_and_caller_hangs_up() {
    let agent = EndpointConfig {
        user: "1001".into(),
        behaviour: EndpointBehaviour { answer_after_secs: Some(2.0), ..Default::default() },
    };
    let (emu, server) = setup(vec![agent]).await;
    let mut call = ScriptedCall::new("1000", "7002");
    call.talk_secs = Some(3.0);
    call.hangup_after_secs = Some(100.0);
    let uuid = emu.place_call(&call);
    let mut c = accept(&server).await;
    c.cmd("connect\n\n").await;
    c.cmd("myevents\n\n").await;
    c.cmd("linger\n\n").await;
    let b = execute(&mut c, "bridge", "{origination_caller_id_number=1000}user/1001").await;
    let br = c.until_event("CHANNEL_BRIDGE").await;
    let agent_uuid = br.header("Other-Leg-Unique-ID").unwrap().to_owned();
    assert_eq!(br.header("Bridge-A-Unique-ID"), Some(uuid.as_str()));
    assert_eq!(br.header("Bridge-B-Unique-ID"), Some(agent_uuid.as_str()));
    assert_eq!(emu.channels().len(), 2);
    c.until_event("CHANNEL_UNBRIDGE").await;
    let done = until_complete(&mut c, &b).await;
    assert_eq!(done.application(), Some("bridge"));
    c.until_eof().await;
    assert!(emu.wait_idle(T).await);
    let rec = &emu.report()[0];
    assert!(rec.bridged_us > 0 && rec.answered_us > 0);
    assert_eq!(rec.agent_uuid.as_deref(), Some(agent_uuid.as_str()));
}

#[tokio::test]
async fn bridge_to_agent_that_does_not_answer() {
    let agent = EndpointConfig {
        user: "1002".into(),
        behaviour: EndpointBehaviour { answer_after_secs: None, ..Default::default() },
    };
    let (emu, server) = setup(vec![agent]).await;
    let mut call = ScriptedCall::new("1000", "7002");
    call.hangup_after_secs = Some(100.0);
    emu.place_call(&call);
    let mut c = accept(&server).await;
    c.cmd("connect\n\n").await;
    c.cmd("myevents\n\n").await;
    let b = execute(&mut c, "bridge", "{call_timeout=5}user/1002").await;
    let done = until_complete(&mut c, &b).await;
    assert_eq!(done.var("originate_disposition"), Some("NO_ANSWER"));
    // the caller is still up and under control of the socket
    let p = execute(&mut c, "playback", "ivr/sorry.wav").await;
    let ev = until_complete(&mut c, &p).await;
    assert_eq!(ev.application_response(), Some("FILE PLAYED"));
    c.cmd("exit\n\n").await;
    c.until_eof().await;
    assert!(emu.wait_idle(T).await);
}

#[tokio::test]
async fn patience_abandons_while_parked() {
    let (emu, server) = setup(vec![]).await;
    let mut call = ScriptedCall::new("1000", "7002");
    call.patience_secs = Some(1.0);
    emu.place_call(&call);
    let mut c = accept(&server).await;
    c.cmd("connect\n\n").await;
    c.cmd("myevents\n\n").await;
    let ev = c.until_event("CHANNEL_HANGUP").await;
    assert_eq!(ev.hangup_cause(), Some("NORMAL_CLEARING"));
    c.until_eof().await;
    assert!(emu.wait_idle(T).await);
    assert_eq!(emu.report()[0].bridged_us, 0);
}

#[tokio::test]
async fn dropping_outbound_connections_hangs_up_calls() {
    let (emu, server) = setup(vec![]).await;
    emu.place_call(&ScriptedCall::new("1000", "7002"));
    let mut c = accept(&server).await;
    c.cmd("connect\n\n").await;
    assert_eq!(emu.drop_outbound_connections(), 1);
    c.until_eof().await;
    assert!(emu.wait_idle(T).await);
}

#[tokio::test]
async fn unreachable_socket_server_ends_the_call() {
    // a port with nothing listening
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let emu = Emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".into(),
        heartbeat_secs: 0.0,
        speed: 20.0,
        outbound_socket: Some(addr),
        ..Default::default()
    })
    .await
    .unwrap();
    let events = "plain CHANNEL_EXECUTE_COMPLETE CHANNEL_HANGUP_COMPLETE";
    let mut c = Client::control(emu.inbound_addr(), events).await;
    emu.place_call(&ScriptedCall::new("1000", "7002"));
    loop {
        let ev = c.until_event("CHANNEL_EXECUTE_COMPLETE").await;
        if ev.application() == Some("socket") {
            break;
        }
    }
    let hc = c.until_event("CHANNEL_HANGUP_COMPLETE").await;
    assert_eq!(hc.hangup_cause(), Some("NORMAL_CLEARING"));
    assert!(emu.wait_idle(T).await);
}

/// The emulator with Kontakt's public dialplan (`socket_resume`, then degraded mode) whose
/// degraded mode rings the fallback phone `user/1999`, which answers after `fallback_secs`;
/// calls go to `socket` (an address), and a control connection hears the channel events.
async fn degraded_setup(socket: String, fallback_secs: f64) -> (EmulatorHandle, Client) {
    let emu = Emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".into(),
        heartbeat_secs: 0.0,
        speed: 20.0,
        outbound_socket: Some(socket),
        socket_resume: true,
        degraded: vec!["bridge user/1999".into()],
        endpoints: vec![EndpointConfig {
            user: "1999".into(),
            behaviour: EndpointBehaviour {
                answer_after_secs: Some(fallback_secs),
                reject: None,
                hangup_after_secs: None,
            },
        }],
        ..Default::default()
    })
    .await
    .unwrap();
    let events = "plain CHANNEL_EXECUTE CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE";
    let c = Client::control(emu.inbound_addr(), events).await;
    (emu, c)
}

/// The next CHANNEL_EXECUTE of `app`, by any channel.
async fn until_app(c: &mut Client, app: &str) -> kontakt_esl::Event {
    loop {
        let ev = c.until_event("CHANNEL_EXECUTE").await;
        if ev.application() == Some(app) {
            return ev;
        }
    }
}

#[tokio::test]
async fn a_closed_socket_with_socket_resume_goes_on_to_degraded_mode() {
    let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (emu, mut events) = degraded_setup(server.local_addr().unwrap().to_string(), 0.5).await;
    let mut call = ScriptedCall::new("1000", "1580");
    call.hangup_after_secs = Some(30.0);
    let caller = emu.place_call(&call);
    let mut app = accept(&server).await;
    app.cmd("connect\n\n").await;
    // The application server goes away: the dialplan goes on after the socket.
    drop(app);
    let ev = until_app(&mut events, "transfer").await;
    assert_eq!(ev.unique_id(), Some(caller.as_str()));
    assert_eq!(ev.header("Application-Data"), Some("kontakt_degraded XML kontakt_degraded"));
    let ev = until_app(&mut events, "bridge").await;
    assert_eq!(ev.unique_id(), Some(caller.as_str()));
    assert_eq!(ev.destination_number(), Some("kontakt_degraded"));
    // The fallback phone answers: the caller is in conversation on it.
    loop {
        let ev = events.until_event("CHANNEL_ANSWER").await;
        if ev.unique_id() != Some(caller.as_str()) {
            break;
        }
    }
    let up = emu.channels();
    let on_caller = up.iter().find(|ch| ch.uuid == caller).unwrap();
    assert!(on_caller.other_leg.is_some(), "{up:?}");
    assert!(emu.hangup(&caller, "NORMAL_CLEARING"));
    assert!(emu.wait_idle(T).await);
}

#[tokio::test]
async fn an_unreachable_socket_with_socket_resume_goes_on_to_degraded_mode() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let (emu, mut events) = degraded_setup(addr, 0.5).await;
    let caller = emu.place_call(&ScriptedCall::new("1000", "1580"));
    let ev = until_app(&mut events, "bridge").await;
    assert_eq!(ev.unique_id(), Some(caller.as_str()));
    assert!(emu.hangup(&caller, "NORMAL_CLEARING"));
    assert!(emu.wait_idle(T).await);
}

/// How Kontakt takes a caller back from degraded mode: `uuid_transfer` while the fallback
/// phone rings cancels that phone's leg, and the caller goes where the transfer says.
#[tokio::test]
async fn a_transfer_ends_the_fallback_ringing() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    // The fallback phone would answer after 100 s (5 s of real time at speed 20).
    let (emu, mut events) = degraded_setup(addr, 100.0).await;
    let mut call = ScriptedCall::new("1000", "1580");
    call.hangup_after_secs = Some(300.0);
    let caller = emu.place_call(&call);
    until_app(&mut events, "bridge").await;
    let fallback = loop {
        if let Some(ch) = emu.channels().into_iter().find(|ch| ch.uuid != caller) {
            break ch.uuid;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    };
    let r = events.cmd(&format!("api uuid_transfer {caller} 9196\n\n")).await;
    assert_eq!(r.body_text(), "+OK\n");
    // Both, in either order: the fallback leg cancelled, the caller in the new extension.
    let (mut cancelled, mut echo) = (None, false);
    while cancelled.is_none() || !echo {
        let Some(m) = events.next().await else { panic!("the switch closed the connection") };
        let Some(ev) = m.event() else { continue };
        match ev.name() {
            Some("CHANNEL_HANGUP_COMPLETE") if ev.unique_id() == Some(fallback.as_str()) => {
                cancelled = ev.hangup_cause().map(str::to_owned);
            }
            Some("CHANNEL_EXECUTE") if ev.application() == Some("echo") => {
                assert_eq!(ev.unique_id(), Some(caller.as_str()));
                echo = true;
            }
            _ => {}
        }
    }
    assert_eq!(cancelled.as_deref(), Some("ORIGINATOR_CANCEL"));
    assert!(emu.channels().iter().all(|ch| ch.uuid == caller), "{:?}", emu.channels());
    assert!(emu.hangup(&caller, "NORMAL_CLEARING"));
    assert!(emu.wait_idle(T).await);
}
