#![allow(clippy::unwrap_used, clippy::print_stdout)]
//! Independent ESL implementations against the emulator: the Python clients
//! `greenswitch` (gevent) and `genesis` (asyncio) authenticate, subscribe, run
//! `bgapi`/`api`, and must receive the same events, with the same header values, that
//! kontakt-esl decodes on a parallel connection.
//!
//! Runs only when `KONTAKT_PY_PEERS` names a Python with both installed
//! (`tests/peers/setup.sh DIR`, then `KONTAKT_PY_PEERS=DIR/bin/python`).

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use common::Client;
use kontakt_esl::Event;
use kontakt_sim::{Emulator, EmulatorConfig, ScriptedCall};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const LIMIT: Duration = Duration::from_secs(60);

fn python() -> Option<String> {
    std::env::var("KONTAKT_PY_PEERS").ok().filter(|p| !p.is_empty())
}

async fn run_peer(python: &str, peer: &str) {
    let emu = Emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".into(),
        heartbeat_secs: 0.0,
        speed: 20.0,
        ..Default::default()
    })
    .await
    .unwrap();
    let addr = emu.inbound_addr();
    // kontakt-esl's view, subscribed first
    let mut ours = Client::connect(addr).await;
    ours.next().await;
    ours.cmd("auth ClueCon\n\n").await;
    ours.cmd("event plain ALL\n\n").await;

    let script = format!("{}/tests/peers/peer_check.py", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(python)
        .arg(&script)
        .arg(peer)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .arg("ClueCon")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_line = async || {
        tokio::time::timeout(LIMIT, lines.next_line())
            .await
            .expect("peer timed out")
            .unwrap()
            .unwrap_or_else(|| panic!("{peer} exited early (see stderr)"))
    };
    assert_eq!(next_line().await, "READY", "{peer} did not get ready");

    let mut call = ScriptedCall::new("1000", "9196");
    call.caller_name = Some("Peer Test".into());
    call.hangup_after_secs = Some(2.0);
    emu.place_call(&call);
    let mut mine: Vec<Event> = Vec::new();
    loop {
        let m = ours.next().await.unwrap();
        let Some(ev) = m.event() else { continue };
        mine.push(ev.clone());
        if ev.name() == Some("CHANNEL_STATE") && ev.channel_state() == Some("CS_DESTROY") {
            break;
        }
    }
    emu.heartbeat_now();
    mine.push(ours.until_event("HEARTBEAT").await);

    let mut theirs: Vec<Value> = Vec::new();
    loop {
        let line = next_line().await;
        if let Some(j) = line.strip_prefix("EVENT ") {
            theirs.push(serde_json::from_str(j).unwrap());
        } else if line.starts_with("DONE") {
            break;
        }
    }
    let status = tokio::time::timeout(LIMIT, child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{peer} exited with {status}");

    // The peer saw exactly our events from its subscription on (by Event-Sequence).
    let first: u64 = theirs[0]["seq"].as_str().unwrap().parse().unwrap();
    let by_seq: HashMap<u64, &Event> = mine.iter().map(|e| (e.sequence().unwrap(), e)).collect();
    let expected: Vec<u64> = {
        let mut v: Vec<u64> = by_seq.keys().copied().filter(|s| *s >= first).collect();
        v.sort_unstable();
        v
    };
    let got: Vec<u64> =
        theirs.iter().map(|e| e["seq"].as_str().unwrap().parse().unwrap()).collect();
    assert_eq!(got, expected, "{peer}: event sequence differs");
    assert!(got.len() >= 30, "{peer}: only {} events", got.len());

    let mut compared = 0usize;
    let mut bg_job = false;
    for t in &theirs {
        let seq: u64 = t["seq"].as_str().unwrap().parse().unwrap();
        let e = by_seq[&seq];
        assert_eq!(t["name"].as_str(), e.name(), "{peer}: event {seq}");
        let th = t["headers"].as_object().unwrap();
        for (name, value) in e.headers().iter() {
            let dup = e.header_all(name).count() > 1;
            if dup || value.contains(['\n', '\r']) {
                continue; // greenswitch keeps the last duplicate and joins lines
            }
            let theirs_v = th.get(name).and_then(Value::as_str);
            let theirs_v = theirs_v.or_else(|| {
                th.get(name)
                    .and_then(Value::as_array)
                    .and_then(|a| a.last())
                    .and_then(Value::as_str)
            });
            assert_eq!(
                theirs_v.map(str::trim),
                Some(value.trim()),
                "{peer}: {name} of event {seq}"
            );
            compared += 1;
        }
        if e.name() == Some("BACKGROUND_JOB") {
            bg_job = true;
            assert_eq!(e.job_uuid(), Some("7b0e8c1e-0000-4000-8000-00000000beef"));
            if let Some(body) = t["body"].as_str() {
                assert_eq!(Some(body), e.body(), "{peer}: BACKGROUND_JOB body");
            }
        }
    }
    assert!(bg_job, "{peer}: no BACKGROUND_JOB");
    println!(
        "{peer}: {} events, {compared} header values identical to kontakt-esl's",
        theirs.len()
    );
}

#[tokio::test]
async fn greenswitch_sees_what_kontakt_esl_sees() {
    let Some(py) = python() else {
        println!("KONTAKT_PY_PEERS not set: skipped (see tests/peers/setup.sh)");
        return;
    };
    run_peer(&py, "greenswitch").await;
}

#[tokio::test]
async fn genesis_sees_what_kontakt_esl_sees() {
    let Some(py) = python() else {
        println!("KONTAKT_PY_PEERS not set: skipped (see tests/peers/setup.sh)");
        return;
    };
    run_peer(&py, "genesis").await;
}

/// The peer is the outbound `socket` server: it answers, plays a prompt, collects the
/// caller's digit with play_and_get_digits and hangs up.
async fn run_outbound_peer(python: &str, peer: &str) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let script = format!("{}/tests/peers/peer_check.py", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(python)
        .arg(&script)
        .arg(format!("{peer}-outbound"))
        .arg("127.0.0.1")
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_line = async || {
        tokio::time::timeout(LIMIT, lines.next_line())
            .await
            .expect("peer timed out")
            .unwrap()
            .unwrap_or_else(|| panic!("{peer} exited early (see stderr)"))
    };
    assert_eq!(next_line().await, "LISTENING");
    let emu = Emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".into(),
        heartbeat_secs: 0.0,
        speed: 20.0,
        outbound_socket: Some(format!("127.0.0.1:{port}")),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut call = ScriptedCall::new("+31205550123", "7002");
    call.digits = vec!["3".into()];
    call.hangup_after_secs = Some(300.0);
    let uuid = emu.place_call(&call);
    let line = next_line().await;
    let result: Value = serde_json::from_str(line.strip_prefix("RESULT ").unwrap()).unwrap();
    assert_eq!(result["uuid"].as_str(), Some(uuid.as_str()), "{peer}: {result}");
    assert_eq!(result["caller"].as_str(), Some("+31205550123"), "{peer}: {result}");
    assert_eq!(result["digits"].as_str(), Some("3"), "{peer}: {result}");
    let status = tokio::time::timeout(LIMIT, child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{peer} exited with {status}");
    assert!(emu.wait_idle(LIMIT).await);
    let rec = &emu.report()[0];
    assert_eq!(rec.digits, "3");
    assert!(rec.answered_us > 0);
    assert_eq!(rec.hangup_cause.as_deref(), Some("NORMAL_CLEARING"));
    println!("{peer} outbound: answered, played, read digit {}, hung up", rec.digits);
}

#[tokio::test]
async fn greenswitch_outbound_server_drives_a_call() {
    let Some(py) = python() else {
        println!("KONTAKT_PY_PEERS not set: skipped (see tests/peers/setup.sh)");
        return;
    };
    run_outbound_peer(&py, "greenswitch").await;
}

#[tokio::test]
async fn genesis_outbound_server_drives_a_call() {
    let Some(py) = python() else {
        println!("KONTAKT_PY_PEERS not set: skipped (see tests/peers/setup.sh)");
        return;
    };
    run_outbound_peer(&py, "genesis").await;
}
