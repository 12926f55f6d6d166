#![allow(clippy::unwrap_used, clippy::print_stdout)]
//! The emulator's bytes for the same call flow as each real capture, compared by shape
//! (message types, header names in order, event order; values ignored).

mod common;

use common::{Client, fixture};
use kontakt_sim::conformance::{Options, Report, compare, shapes};
use kontakt_sim::{Emulator, EmulatorConfig, EndpointBehaviour, EndpointConfig, ScriptedCall};

fn cfg() -> EmulatorConfig {
    EmulatorConfig {
        listen: "127.0.0.1:0".into(),
        heartbeat_secs: 0.0,
        speed: 20.0,
        ..Default::default()
    }
}

fn check(name: &str, expected: &[u8], actual: &[u8], ignore: &[&str]) -> Report {
    let opts = Options {
        ignore: ignore.iter().map(|s| (*s).to_owned()).collect(),
        strict_variables: false,
    };
    let e = shapes(expected).unwrap();
    let a = shapes(actual).unwrap();
    let r = compare(&e, &a, &opts);
    println!("== {name}: {r}");
    r
}

const ECHO_IGNORE: &[&str] = &[];

async fn echo_flow(format: &str) -> Vec<u8> {
    let emu = Emulator::start(cfg()).await.unwrap();
    let mut c = Client::connect(emu.inbound_addr()).await;
    c.next().await;
    c.cmd("auth ClueCon\n\n").await;
    c.cmd("api status\n\n").await;
    c.cmd(&format!("event {format} ALL\n\n")).await;
    let mut call = ScriptedCall::new("1000", "9196");
    call.caller_name = Some("sipp 1000".into());
    call.hangup_after_secs = Some(6.0);
    emu.place_call(&call);
    loop {
        let ev = c.until_event("CHANNEL_STATE").await;
        if ev.channel_state() == Some("CS_DESTROY") {
            break;
        }
    }
    c.cmd("exit\n\n").await;
    c.until_eof().await;
    c.raw
}

/// Identical except for `API` events of other connections' `api status`, which
/// FreeSWITCH delivers asynchronously (whether a connection sees them depends on timing).
fn assert_close(r: &Report, min_matched: usize) {
    assert!(r.extra.is_empty(), "{r}");
    assert!(r.missing.iter().all(|(_, l)| l.ends_with(" API")), "{r}");
    assert!(r.missing.len() <= 2, "{r}");
    assert_eq!(r.same_headers, r.matched, "{r}");
    assert!(r.matched >= min_matched, "{r}");
    assert!(r.variables_present * 100 >= r.variables_expected * 98, "{r}");
}

#[tokio::test]
async fn echo_9196_plain() {
    let actual = echo_flow("plain").await;
    let r = check("echo_9196 plain", &fixture("echo_9196/esl_plain.rx"), &actual, ECHO_IGNORE);
    assert_close(&r, 41);
}

#[tokio::test]
async fn echo_9196_json() {
    let actual = echo_flow("json").await;
    let r = check("echo_9196 json", &fixture("echo_9196/esl_json.rx"), &actual, ECHO_IGNORE);
    assert_close(&r, 41);
}

#[tokio::test]
async fn echo_9196_xml() {
    let actual = echo_flow("xml").await;
    let r = check("echo_9196 xml", &fixture("echo_9196/esl_xml.rx"), &actual, ECHO_IGNORE);
    assert_close(&r, 41);
}

async fn login(emu: &kontakt_sim::EmulatorHandle, format: &str) -> Client {
    let mut c = Client::connect(emu.inbound_addr()).await;
    c.next().await;
    c.cmd("auth ClueCon\n\n").await;
    c.cmd("api status\n\n").await;
    c.cmd(&format!("event {format} ALL\n\n")).await;
    c
}

async fn until_destroyed(c: &mut Client) {
    loop {
        let ev = c.until_event("CHANNEL_STATE").await;
        if ev.channel_state() == Some("CS_DESTROY") {
            break;
        }
    }
}

async fn originate_flow(format: &str) -> Vec<u8> {
    let mut config = cfg();
    config.endpoints.push(EndpointConfig {
        user: "agent1".into(),
        behaviour: EndpointBehaviour { answer_after_secs: Some(0.5), ..Default::default() },
    });
    let emu = Emulator::start(config).await.unwrap();
    // As in the capture: the plain connection issues the commands, json/xml only listen.
    let mut listener = if format == "plain" { None } else { Some(login(&emu, format).await) };
    let mut c = login(&emu, "plain").await;
    let uuid = "5d1e0c5a-0000-4000-8000-0000000e5100";
    c.cmd(&format!("bgapi originate {{origination_uuid={uuid},origination_caller_id_number=5551000,origination_caller_id_name=ESL-Test,call_timeout=10}}sofia/internal/agent1@127.0.0.1:5090 &park()\n\n")).await;
    c.until_event("CHANNEL_PARK").await;
    let show = c.cmd("api show channels as json\n\n").await;
    assert!(show.body_text().starts_with("{\"row_count\":1,\"rows\":[{\"uuid\":\"5d1e0c5a"));
    let r = c.cmd(&format!("sendmsg {uuid}\ncall-command: execute\nexecute-app-name: playback\nexecute-app-arg: tone_stream://%(1000,0,350,440)\nevent-lock: true\n\n")).await;
    assert_eq!(r.reply_text(), Some("+OK"));
    c.until_event("PLAYBACK_START").await;
    let dump = c.cmd(&format!("api uuid_dump {uuid} json\n\n")).await;
    assert!(dump.body_text().starts_with("{\"Event-Name\":\"CHANNEL_DATA\""));
    c.until_event("CHANNEL_EXECUTE_COMPLETE").await;
    let k = c.cmd(&format!("api uuid_kill {uuid} NORMAL_CLEARING\n\n")).await;
    assert_eq!(k.body_text(), "+OK\n");
    until_destroyed(&mut c).await;
    emu.heartbeat_now();
    c.until_event("HEARTBEAT").await;
    c.cmd("exit\n\n").await;
    c.until_eof().await;
    match listener.as_mut() {
        None => c.raw,
        Some(l) => {
            l.until_event("HEARTBEAT").await;
            l.cmd("exit\n\n").await;
            l.until_eof().await;
            std::mem::take(&mut l.raw)
        }
    }
}

/// `PRIVATE_COMMAND` (the sendmsg as an event) and `RE_SCHEDULE` are not modelled.
const ORIG_IGNORE: &[&str] = &["PRIVATE_COMMAND", "RE_SCHEDULE"];

#[tokio::test]
async fn originate_bgapi_plain() {
    let actual = originate_flow("plain").await;
    let r = check(
        "originate_bgapi plain",
        &fixture("originate_bgapi/esl_plain.rx"),
        &actual,
        ORIG_IGNORE,
    );
    assert_close(&r, 46);
}

#[tokio::test]
async fn originate_bgapi_json() {
    let actual = originate_flow("json").await;
    let r = check(
        "originate_bgapi json",
        &fixture("originate_bgapi/esl_json.rx"),
        &actual,
        ORIG_IGNORE,
    );
    assert_close(&r, 42);
}

#[tokio::test]
async fn originate_bgapi_xml() {
    let actual = originate_flow("xml").await;
    let r =
        check("originate_bgapi xml", &fixture("originate_bgapi/esl_xml.rx"), &actual, ORIG_IGNORE);
    assert_close(&r, 42);
}

#[test]
fn compare_detects_differences() {
    let raw = fixture("echo_9196/esl_plain.rx");
    let e = shapes(&raw).unwrap();
    let same = compare(&e, &e, &Options::default());
    assert!(same.is_exact(), "{same}");
    assert_eq!(same.matched, e.len());
    // drop one event, rename a header in another, reorder two headers in a third
    let mut a = e.clone();
    let removed = a.remove(10);
    a[20].headers[3] = "Renamed-Header".into();
    a[25].headers.swap(0, 1);
    let r = compare(&e, &a, &Options::default());
    assert_eq!(r.missing.len(), 1, "{r}");
    assert!(r.missing[0].1.ends_with(&removed.label), "{r}");
    assert!(r.extra.is_empty(), "{r}");
    assert_eq!(r.header_diffs.len(), 2, "{r}");
    assert!(r.header_diffs.iter().any(|(_, d)| d.contains("Renamed-Header")), "{r}");
    assert!(r.header_diffs.iter().any(|(_, d)| d.contains("different order")), "{r}");
    // an ignored label disappears from both sides
    let opts = Options { ignore: vec![removed.label.clone()], strict_variables: false };
    assert!(compare(&e, &a, &opts).missing.is_empty());
}
