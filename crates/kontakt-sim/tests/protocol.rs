#![allow(clippy::unwrap_used)]
//! Inbound socket protocol over real TCP: replies byte-exact with FreeSWITCH's.

mod common;

use common::{Client, fixture};
use kontakt_sim::{Emulator, EmulatorConfig};

fn cfg() -> EmulatorConfig {
    EmulatorConfig { listen: "127.0.0.1:0".into(), heartbeat_secs: 0.0, ..Default::default() }
}

#[tokio::test]
async fn wrong_password_is_byte_exact() {
    let emu = Emulator::start(cfg()).await.unwrap();
    let mut c = Client::connect(emu.inbound_addr()).await;
    c.send("auth wrong\n\n").await;
    c.until_eof().await;
    assert_eq!(
        String::from_utf8_lossy(&c.raw),
        String::from_utf8_lossy(&fixture("protocol_misc/wrong_password.rx"))
    );
}

#[tokio::test]
async fn replies_match_protocol_misc() {
    let emu = Emulator::start(cfg()).await.unwrap();
    let mut c = Client::connect(emu.inbound_addr()).await;
    assert_eq!(c.next().await.unwrap().content_type_str(), Some("auth/request"));
    let r = |m: kontakt_esl::Message| m.reply_text().unwrap().to_owned();
    assert_eq!(r(c.cmd("auth ClueCon\n\n").await), "+OK accepted");
    let status = c.cmd("api status\n\n").await;
    assert!(status.body_text().starts_with("UP 0 years, 0 days"), "{}", status.body_text());
    assert!(status.body_text().contains("FreeSWITCH (Version 1.10.12-release  64bit) is ready\n"));
    let nosuch = c.cmd("api nosuchcommand\n\n").await;
    assert_eq!(nosuch.body_text(), "-ERR nosuchcommand Command not found!\n");
    let bg = c.cmd("bgapi status\n\n").await;
    let job = bg.header("Job-UUID").unwrap().to_owned();
    assert_eq!(r(bg), format!("+OK Job-UUID: {job}"));
    assert_eq!(
        r(c.cmd("event plain BACKGROUND_JOB CHANNEL_CREATE CUSTOM sofia::register\n\n").await),
        "+OK event listener enabled plain"
    );
    let bg = c.cmd("bgapi version\n\n").await;
    let job = bg.header("Job-UUID").unwrap().to_owned();
    let ev = c.until_event("BACKGROUND_JOB").await;
    assert_eq!(ev.job_uuid(), Some(job.as_str()));
    assert_eq!(ev.header("Job-Command"), Some("version"));
    assert_eq!(ev.header("Job-Command-Arg"), None);
    assert_eq!(ev.body(), Some("FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"));
    assert_eq!(r(c.cmd("noevents\n\n").await), "+OK no longer listening for events");
    assert_eq!(r(c.cmd("event json BACKGROUND_JOB\n\n").await), "+OK event listener enabled json");
    // caller-supplied Job-UUID is honoured
    let bg = c.cmd("bgapi version\nJob-UUID: 11111111-2222-3333-4444-555555555555\n\n").await;
    assert_eq!(r(bg), "+OK Job-UUID: 11111111-2222-3333-4444-555555555555");
    let ev = c.until_event("BACKGROUND_JOB").await;
    assert_eq!(ev.job_uuid(), Some("11111111-2222-3333-4444-555555555555"));
    assert_eq!(r(c.cmd("event xml BACKGROUND_JOB\n\n").await), "+OK event listener enabled xml");
    c.cmd("bgapi version\n\n").await;
    let ev = c.until_event("BACKGROUND_JOB").await;
    assert_eq!(ev.body(), Some("FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"));
    assert_eq!(
        r(c.cmd("filter Event-Name BACKGROUND_JOB\n\n").await),
        "+OK filter added. [Event-Name]=[BACKGROUND_JOB]"
    );
    assert_eq!(
        r(c.cmd("filter delete Event-Name BACKGROUND_JOB\n\n").await),
        "+OK filter deleted. [Event-Name][BACKGROUND_JOB]"
    );
    assert_eq!(r(c.cmd("nixevent BACKGROUND_JOB\n\n").await), "+OK events nixed");
    assert_eq!(r(c.cmd("noevents\n\n").await), "+OK no longer listening for events");
    assert_eq!(c.cmd("api show channels as json\n\n").await.body_text(), "{\"row_count\": 0}\n");
    assert_eq!(r(c.cmd("log debug\n\n").await), "+OK log level debug [7]");
    assert_eq!(r(c.cmd("nolog\n\n").await), "+OK no longer logging");
    assert_eq!(r(c.cmd("linger 3\n\n").await), "-ERR not controlling a session");
    assert_eq!(r(c.cmd("exit\n\n").await), "+OK bye");
    let rest = c.until_eof().await;
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].content_type_str(), Some("text/disconnect-notice"));
    // the tail of the stream is byte-identical with the capture's
    let tail = b"Content-Type: command/reply\nReply-Text: +OK bye\n\nContent-Type: text/disconnect-notice\nContent-Length: 67\n\nDisconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n";
    assert!(c.raw.ends_with(tail));
    assert!(fixture("protocol_misc/esl_misc.rx").ends_with(tail));
}

#[tokio::test]
async fn filters_and_sequence() {
    let emu = Emulator::start(cfg()).await.unwrap();
    let mut c = Client::connect(emu.inbound_addr()).await;
    c.next().await;
    c.cmd("auth ClueCon\n\n").await;
    c.cmd("event plain API HEARTBEAT\n\n").await;
    c.cmd("filter Event-Name HEARTBEAT\n\n").await;
    emu.api("status").await; // filtered out
    emu.heartbeat_now();
    emu.heartbeat_now();
    let a = c.until_event("HEARTBEAT").await;
    let m = c.next().await.unwrap();
    let b = m.event().unwrap();
    assert_eq!(b.name(), Some("HEARTBEAT"));
    assert_eq!(b.sequence().unwrap(), a.sequence().unwrap() + 1);
    let names: Vec<&str> = a.headers().iter().map(|(n, _)| n).collect();
    assert_eq!(
        &names[..13],
        [
            "Event-Name",
            "Core-UUID",
            "FreeSWITCH-Hostname",
            "FreeSWITCH-Switchname",
            "FreeSWITCH-IPv4",
            "FreeSWITCH-IPv6",
            "Event-Date-Local",
            "Event-Date-GMT",
            "Event-Date-Timestamp",
            "Event-Calling-File",
            "Event-Calling-Function",
            "Event-Calling-Line-Number",
            "Event-Sequence"
        ]
    );
}

#[tokio::test]
async fn heartbeat_interval_under_paused_time() {
    tokio::time::pause();
    let emu = Emulator::start(EmulatorConfig { heartbeat_secs: 5.0, ..cfg() }).await.unwrap();
    let mut c = Client::connect(emu.inbound_addr()).await;
    c.next().await;
    c.cmd("auth ClueCon\n\n").await;
    c.cmd("event json HEARTBEAT\n\n").await;
    let ev = c.until_event("HEARTBEAT").await;
    assert_eq!(ev.header("Event-Info"), Some("System Ready"));
}

#[tokio::test]
async fn slow_listener_loses_events_then_is_disconnected() {
    let emu = Emulator::start(EmulatorConfig { max_event_queue: 50, ..cfg() }).await.unwrap();
    let mut c = Client::connect(emu.inbound_addr()).await;
    c.next().await;
    c.cmd("auth ClueCon\n\n").await;
    c.cmd("event plain HEARTBEAT\n\n").await;
    // The client reads nothing while the switch produces events; its TCP buffers fill,
    // then the emulator's queue, then events are lost and the listener is killed.
    let mut emitted = 0u64;
    while emu.stats().events_dropped <= 500 && emitted < 1_000_000 {
        for _ in 0..1000 {
            emu.heartbeat_now();
        }
        emitted += 1000;
        tokio::task::yield_now().await;
    }
    assert!(emu.stats().events_dropped > 500, "{:?}", emu.stats());
    let got = c.until_eof().await.len() as u64;
    assert!(got < emitted, "{got} of {emitted}");
}
