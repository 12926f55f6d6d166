#![allow(clippy::unwrap_used)]
//! api commands over real TCP: originate to simulated phones, uuid_* commands, eavesdrop.

mod common;

use common::{Client, T};
use kontakt_sim::{
    Emulator, EmulatorConfig, EmulatorHandle, EndpointBehaviour, EndpointConfig, ScriptedCall,
};

fn ep(user: &str, answer_after_secs: Option<f64>, reject: Option<&str>) -> EndpointConfig {
    EndpointConfig {
        user: user.into(),
        behaviour: EndpointBehaviour {
            answer_after_secs,
            reject: reject.map(str::to_owned),
            hangup_after_secs: None,
        },
    }
}

async fn start() -> (EmulatorHandle, Client) {
    let emu = Emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".into(),
        heartbeat_secs: 0.0,
        speed: 50.0,
        endpoints: vec![
            ep("1001", Some(1.0), None),
            ep("1002", Some(1.0), None),
            ep("1003", None, None),
            ep("1004", None, Some("USER_BUSY")),
        ],
        ..Default::default()
    })
    .await
    .unwrap();
    let c = Client::control(emu.inbound_addr(), "plain ALL").await;
    (emu, c)
}

async fn api(c: &mut Client, cmd: &str) -> String {
    c.cmd(&format!("api {cmd}\n\n")).await.body_text().into_owned()
}

async fn originate_park(c: &mut Client, ep: &str) -> String {
    let r =
        api(c, &format!("originate {{origination_caller_id_number=5551000}}{ep} &park()")).await;
    let uuid = r.strip_prefix("+OK ").unwrap().trim().to_owned();
    loop {
        let ev = c.until_event("CHANNEL_PARK").await;
        if ev.unique_id() == Some(uuid.as_str()) {
            return uuid;
        }
    }
}

/// An incoming call (five minutes long) parked, as without an outbound socket.
async fn parked_caller(emu: &EmulatorHandle, c: &mut Client) -> String {
    let mut call = ScriptedCall::new("+3161234", "5000");
    call.hangup_after_secs = Some(300.0);
    let caller = emu.place_call(&call);
    until_event_of(c, "CHANNEL_PARK", &caller).await;
    caller
}

/// The channel's next CHANNEL_EXECUTE of `app`.
async fn until_app(c: &mut Client, uuid: &str, app: &str) -> kontakt_esl::Event {
    loop {
        let ev = until_event_of(c, "CHANNEL_EXECUTE", uuid).await;
        if ev.application() == Some(app) {
            return ev;
        }
    }
}

async fn until_event_of(c: &mut Client, name: &str, uuid: &str) -> kontakt_esl::Event {
    loop {
        let ev = c.until_event(name).await;
        if ev.unique_id() == Some(uuid) {
            return ev;
        }
    }
}

#[tokio::test]
async fn originate_failures() {
    let (_emu, mut c) = start().await;
    assert_eq!(
        api(&mut c, "originate {call_timeout=2}user/1003 &park()").await,
        "-ERR NO_ANSWER\n"
    );
    assert_eq!(api(&mut c, "originate user/1004 &park()").await, "-ERR USER_BUSY\n");
    assert_eq!(api(&mut c, "originate foo/bar &park()").await, "-ERR CHAN_NOT_IMPLEMENTED\n");
    let ev = c.until_event("CHANNEL_HANGUP_COMPLETE").await;
    assert_eq!(ev.hangup_cause(), Some("NO_ANSWER"));
}

#[tokio::test]
async fn vars_hold_record_broadcast_dump() {
    let (emu, mut c) = start().await;
    let a = originate_park(&mut c, "user/1001").await;
    assert_eq!(api(&mut c, &format!("uuid_setvar {a} queue sales")).await, "+OK\n");
    assert_eq!(api(&mut c, &format!("uuid_getvar {a} queue")).await, "sales");
    assert_eq!(api(&mut c, &format!("uuid_getvar {a} nonexistent")).await, "_undef_");
    assert_eq!(
        api(&mut c, "uuid_getvar 00000000-0000-0000-0000-000000000000 x").await,
        "-ERR No such channel!\n"
    );
    assert_eq!(api(&mut c, &format!("uuid_hold {a}")).await, "+OK Success\n");
    until_event_of(&mut c, "CHANNEL_HOLD", &a).await;
    let cs = until_event_of(&mut c, "CHANNEL_CALLSTATE", &a).await;
    assert_eq!(cs.call_state(), Some("HELD"));
    assert_eq!(api(&mut c, &format!("uuid_hold off {a}")).await, "+OK Success\n");
    until_event_of(&mut c, "CHANNEL_UNHOLD", &a).await;
    assert_eq!(api(&mut c, &format!("uuid_record {a} start /tmp/a.wav")).await, "+OK Success\n");
    let r = until_event_of(&mut c, "RECORD_START", &a).await;
    assert_eq!(r.header("Record-File-Path"), Some("/tmp/a.wav"));
    assert_eq!(api(&mut c, &format!("uuid_record {a} stop /tmp/a.wav")).await, "+OK Success\n");
    until_event_of(&mut c, "RECORD_STOP", &a).await;
    assert_eq!(
        api(&mut c, &format!("uuid_broadcast {a} ivr/hold.wav aleg")).await,
        "+OK Message sent\n"
    );
    let p = until_event_of(&mut c, "PLAYBACK_STOP", &a).await;
    assert_eq!(p.header("Playback-File-Path"), Some("ivr/hold.wav"));
    let dump = api(&mut c, &format!("uuid_dump {a}")).await;
    assert!(dump.starts_with("Event-Name: CHANNEL_DATA\n"), "{dump}");
    assert!(dump.contains("\nvariable_queue: sales\n"));
    let show = api(&mut c, "show channels as json").await;
    let v: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(v["row_count"], 1);
    assert_eq!(v["rows"][0]["uuid"], a.as_str());
    assert_eq!(v["rows"][0]["application"], "park");
    assert_eq!(emu.channels()[0].uuid, a);
    assert_eq!(api(&mut c, &format!("uuid_kill {a}")).await, "+OK\n");
    assert_eq!(api(&mut c, &format!("uuid_kill {a}")).await, "-ERR No such channel!\n");
    assert!(emu.wait_idle(T).await);
}

#[tokio::test]
async fn uuid_bridge_two_parked_legs() {
    let (emu, mut c) = start().await;
    let a = originate_park(&mut c, "user/1001").await;
    let b = originate_park(&mut c, "sofia/internal/1002@127.0.0.1:5090").await;
    assert_eq!(api(&mut c, &format!("uuid_bridge {a} {b}")).await, format!("+OK {b}\n"));
    let br = until_event_of(&mut c, "CHANNEL_BRIDGE", &a).await;
    assert_eq!(br.header("Other-Leg-Unique-ID"), Some(b.as_str()));
    let chans = emu.channels();
    assert!(chans.iter().all(|ch| ch.other_leg.is_some()));
    api(&mut c, &format!("uuid_kill {b}")).await;
    until_event_of(&mut c, "CHANNEL_UNBRIDGE", &a).await;
    until_event_of(&mut c, "CHANNEL_HANGUP_COMPLETE", &a).await;
    assert!(emu.wait_idle(T).await);
}

/// As `uuid_bridge_on_soft_execute` does, both legs execute `uuid_bridge` (that is what
/// `show channels` lists for them); transferring one side away hangs the other up, as
/// `audio_bridge_on_exchange_media` does with a leg whose partner left the bridge.
#[tokio::test]
async fn a_uuid_bridge_partner_left_alone_by_a_transfer_hangs_up() {
    let (emu, mut c) = start().await;
    let caller = parked_caller(&emu, &mut c).await;
    let leg = originate_park(&mut c, "user/1001").await;
    assert_eq!(api(&mut c, &format!("uuid_bridge {caller} {leg}")).await, format!("+OK {leg}\n"));
    let ex = until_event_of(&mut c, "CHANNEL_EXECUTE", &caller).await;
    assert_eq!(ex.application(), Some("uuid_bridge"));
    assert_eq!(ex.header("Application-Data"), Some(leg.as_str()));
    until_event_of(&mut c, "CHANNEL_BRIDGE", &caller).await;
    let shown = api(&mut c, "show channels as json").await;
    let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["application"] == "uuid_bridge"), "{shown}");
    assert_eq!(api(&mut c, &format!("uuid_transfer {caller} 9196")).await, "+OK\n");
    // The operator's leg hangs up as the caller leaves; the caller runs the new extension.
    let hup = until_event_of(&mut c, "CHANNEL_HANGUP", &leg).await;
    assert_eq!(hup.hangup_cause(), Some("NORMAL_CLEARING"));
    until_app(&mut c, &caller, "echo").await;
    api(&mut c, &format!("uuid_kill {caller}")).await;
    assert!(emu.wait_idle(T).await);
}

/// A blind transfer as Kontakt sends it: bridge, transfer of the caller, kill of the
/// operator's leg, back to back while the caller is still busy with its music. FreeSWITCH
/// acts on `uuid_transfer` in the api call, so the caller reaches the new extension even
/// though the partner it was to be bridged to is gone before its own task gets there.
#[tokio::test]
async fn a_transfer_right_behind_the_bridge_wins_over_the_partner_s_hang_up() {
    let (emu, mut c) = start().await;
    let caller = parked_caller(&emu, &mut c).await;
    let leg = originate_park(&mut c, "user/1001").await;
    assert_eq!(
        api(&mut c, &format!("uuid_broadcast {caller} ivr/hold.wav aleg")).await,
        "+OK Message sent\n"
    );
    until_event_of(&mut c, "PLAYBACK_START", &caller).await;
    // One write: the emulator's connection runs all three before the caller's task wakes.
    c.send(&format!(
        "api uuid_bridge {caller} {leg}\n\napi uuid_transfer {caller} 9196\n\napi uuid_kill {leg}\n\n"
    ))
    .await;
    until_event_of(&mut c, "CHANNEL_HANGUP", &leg).await;
    let ev = until_app(&mut c, &caller, "echo").await;
    assert_eq!(ev.destination_number(), Some("9196"));
    assert!(emu.channels().iter().any(|ch| ch.uuid == caller), "the caller was hung up");
    api(&mut c, &format!("uuid_kill {caller}")).await;
    assert!(emu.wait_idle(T).await);
}

/// How Kontakt pulls a call back onto its socket: an inline transfer runs the `socket`
/// application at the address given, without the dialplan, and (as in FreeSWITCH) the
/// inline text becomes the destination number.
#[tokio::test]
async fn an_inline_transfer_runs_the_socket_application_at_the_address_given() {
    let (emu, mut c) = start().await;
    let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let caller = parked_caller(&emu, &mut c).await;
    let r = api(&mut c, &format!("uuid_transfer {caller} 'socket:{addr} async full' inline")).await;
    assert_eq!(r, "+OK\n");
    let (s, _) = tokio::time::timeout(T, server.accept()).await.unwrap().unwrap();
    let mut app = Client::from_stream(s);
    let data = app.cmd("connect\n\n").await;
    assert_eq!(data.header("Unique-ID"), Some(caller.as_str()));
    let inline = format!("socket:{addr} async full");
    assert_eq!(data.header("Channel-Destination-Number"), Some(inline.as_str()));
    assert_eq!(data.header("variable_current_application"), Some("socket"));
    // No word of the usage for a transfer without a destination.
    assert!(api(&mut c, &format!("uuid_transfer {caller}")).await.starts_with("-USAGE"));
    api(&mut c, &format!("uuid_kill {caller}")).await;
    assert!(emu.wait_idle(T).await);
}

#[tokio::test]
async fn uuid_transfer_and_eavesdrop() {
    let (emu, mut c) = start().await;
    // an incoming call parks (no outbound socket configured)
    let caller = parked_caller(&emu, &mut c).await;
    let spy = api(&mut c, &format!("originate user/1002 &eavesdrop({caller})")).await;
    let spy = spy.strip_prefix("+OK ").unwrap().trim().to_owned();
    let ex = until_event_of(&mut c, "CHANNEL_EXECUTE", &spy).await;
    assert_eq!(ex.application(), Some("eavesdrop"));
    assert_eq!(ex.header("Application-Data"), Some(caller.as_str()));
    // transfer the caller to the echo extension: park ends, the new dialplan runs
    assert_eq!(api(&mut c, &format!("uuid_transfer {caller} 9196")).await, "+OK\n");
    until_event_of(&mut c, "CHANNEL_UNPARK", &caller).await;
    let ev = until_app(&mut c, &caller, "echo").await;
    assert_eq!(ev.destination_number(), Some("9196"));
    api(&mut c, &format!("uuid_kill {caller} NORMAL_CLEARING")).await;
    // the eavesdropper's target is gone: its call ends too
    until_event_of(&mut c, "CHANNEL_HANGUP_COMPLETE", &spy).await;
    assert!(emu.wait_idle(T).await);
}

#[tokio::test]
async fn dropped_inbound_connection_can_reconnect() {
    let (emu, mut c) = start().await;
    assert_eq!(emu.drop_inbound_connections(), 1);
    assert!(c.until_eof().await.is_empty());
    let mut c2 = Client::connect(emu.inbound_addr()).await;
    c2.next().await;
    assert_eq!(c2.cmd("auth ClueCon\n\n").await.reply_text(), Some("+OK accepted"));
    assert_eq!(emu.stats().inbound_connections, 2);
}
