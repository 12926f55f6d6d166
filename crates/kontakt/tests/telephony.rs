//! `kontakt serve` with telephony, against the FreeSWITCH emulator: calls get records, and
//! Kontakt killed with SIGKILL and started again accounts for every call exactly once.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kontakt_sim::{Emulator, EmulatorConfig, EndpointBehaviour, EndpointConfig, ScriptedCall};
use kontakt_store::{CallKey, CallRecord, CallStatus, Store};

fn kontakt(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kontakt"));
    c.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("KONTAKT_") {
            c.env_remove(k);
        }
    }
    c.args(["--config", "kontakt.toml"]);
    c
}

/// Starts `kontakt serve` and returns once it is listening.
async fn serve(dir: &Path) -> Child {
    let mut child = kontakt(dir).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let out = tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(stdout);
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                return all;
            }
            all.push_str(&line);
            if line.starts_with("Press Ctrl-C") {
                // Keep draining so the child never blocks on a full pipe.
                std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
                return all;
            }
        }
    })
    .await
    .unwrap();
    assert!(out.contains("telephony: FreeSWITCH freeswitch at"), "{out}");
    child
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn until<T>(what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn record(store: &dyn Store, uuid: &str) -> Option<CallRecord> {
    let key = CallKey { node: "kontakt-sim".into(), uuid: uuid.into() };
    store.call_record(&key).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_and_restart_leave_exactly_one_record_per_call() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let emu = Emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".into(),
        password: "emu-secret".into(),
        heartbeat_secs: 0.0,
        playback_secs: 0.2,
        dtmf_delay_secs: 0.05,
        outbound_socket: Some(format!("127.0.0.1:{port}")),
        // As Kontakt's dialplans do: a call outlives its socket.
        socket_resume: true,
        endpoints: vec![EndpointConfig {
            user: "1001".into(),
            behaviour: EndpointBehaviour {
                answer_after_secs: None,
                reject: None,
                hangup_after_secs: None,
            },
        }],
        ..Default::default()
    })
    .await
    .unwrap();
    std::fs::write(
        dir.path().join("kontakt.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\
             [database]\nurl = \"sqlite://{db}\"\n\
             [esl]\naddress = \"{esl}\"\npassword = \"emu-secret\"\nlisten = \"127.0.0.1:{port}\"\n\
             [callcenter]\njournal_dir = \"{journal}\"\n\
             operators = [{{ username = \"op1\", endpoint = \"user/1001\" }}]\n",
            db = dir.path().join("k.db").display(),
            esl = emu.inbound_addr(),
            journal = dir.path().join("journal").display(),
        ),
    )
    .unwrap();
    let migrate = kontakt(dir.path()).arg("migrate").output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    let add = kontakt(dir.path())
        .args(["user", "add", "op1", "--role", "operator", "--password", "long enough pw"])
        .output()
        .unwrap();
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    let mut child = serve(dir.path()).await;
    let store = kontakt_store::open(&format!("sqlite://{}", dir.path().join("k.db").display()))
        .await
        .unwrap();

    // Six callers wait in the queue (nobody is ready), two hang up in the menu.
    let mut waiting = Vec::new();
    for i in 0..6 {
        let mut c = ScriptedCall::new(&format!("05010000{i:02}"), "1580");
        c.digits = vec!["1".into(), "2".into()];
        waiting.push(emu.place_call(&c));
    }
    let mut short = Vec::new();
    for i in 0..2 {
        let mut c = ScriptedCall::new(&format!("06720000{i:02}"), "1580");
        c.hangup_after_secs = Some(0.1);
        short.push(emu.place_call(&c));
    }
    for u in &waiting {
        until("queued records", 20, async || {
            record(&*store, u).await.filter(|r| r.queued_at.is_some())
        })
        .await;
    }
    for u in &short {
        until("closed records", 20, async || {
            record(&*store, u).await.filter(|r| r.status == CallStatus::Closed)
        })
        .await;
    }

    // SIGKILL: no chance to write anything more.
    child.kill().unwrap();
    child.wait().unwrap();
    // Two waiting callers give up while Kontakt is down.
    assert!(emu.hangup(&waiting[0], "NORMAL_CLEARING"));
    assert!(emu.hangup(&waiting[1], "NORMAL_CLEARING"));

    let mut child = serve(dir.path()).await;
    for u in &waiting[..2] {
        let r = until("records closed by reconciliation", 20, async || {
            record(&*store, u).await.filter(|r| r.status == CallStatus::Closed)
        })
        .await;
        assert_eq!(r.end_reason.as_deref(), Some("ended_while_kontakt_away"), "{r:?}");
        assert!(r.ended_at.is_some());
    }
    // The four still waiting are tracked again: back on Kontakt's socket and in the queue.
    for u in &waiting[2..] {
        let r = until("calls re-attached and queued again", 20, async || {
            record(&*store, u)
                .await
                .filter(|r| r.steps.iter().filter(|s| s.kind == "queued").count() == 2)
        })
        .await;
        assert_eq!(r.status, CallStatus::Live, "{r:?}");
        let seqs: Vec<i64> = r.steps.iter().map(|s| s.seq).collect();
        assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "{:?}", r.steps);
    }
    // Exactly one record per call the switch reported, none for anything else.
    let all: Vec<String> = waiting.iter().chain(&short).cloned().collect();
    let mut known = store.calls_known(&all).await.unwrap();
    known.sort();
    let mut expected = all.clone();
    expected.sort();
    assert_eq!(known, expected);
    assert_eq!(store.call_counts().await.unwrap().total, 8);
    child.kill().unwrap();
    child.wait().unwrap();
}
