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
    serve_at(dir).await.0
}

/// Starts `kontakt serve`; returns it and the address of its API.
async fn serve_at(dir: &Path) -> (Child, String) {
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
    let addr = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("API:")?.trim().strip_prefix("http://"))
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no API address in: {out}"))
        .to_owned();
    (child, addr)
}

/// One HTTP/1.1 request with `Connection: close`; the status, the headers and the body.
async fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

/// Logs an operator in and makes them ready, as their desk would.
async fn ready(addr: &str, user: &str) {
    let login = format!(r#"{{"username":"{user}","password":"long enough pw"}}"#);
    let (status, head, body) = http(addr, "POST", "/api/v1/auth/login", &[], &login).await;
    assert_eq!(status, 200, "{head}{body}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: ")))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let csrf = v["csrf_token"].as_str().unwrap().to_owned();
    let (status, head, body) = http(
        addr,
        "POST",
        "/api/v1/desk/state",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        r#"{"state":"ready"}"#,
    )
    .await;
    assert_eq!(status, 200, "{head}{body}");
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

/// Issue 5's fault test at scale. It fails today, and that is a finding, not a flake. After
/// the restart about 30 callers sit in the `socket` application with nobody serving them,
/// among them calls placed after the restart. Also, the operators' legs of calls that were in
/// conversation at the kill stay up, parked, unknown to the new process, so those phones
/// stay busy. Seen in the log: outbound handshakes failing ("FreeSWITCH closed the call
/// socket during the handshake"). To be found and fixed in the engine before this runs in CI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known failure: callers left unserved after a restart under load (see the doc comment)"]
async fn sigkill_under_load_accounts_for_every_call() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let ops = ["1001", "1002", "1003", "1004"];
    let emu = std::sync::Arc::new(
        Emulator::start(EmulatorConfig {
            listen: "127.0.0.1:0".into(),
            password: "emu-secret".into(),
            heartbeat_secs: 0.0,
            playback_secs: 0.2,
            dtmf_delay_secs: 0.05,
            outbound_socket: Some(format!("127.0.0.1:{port}")),
            socket_resume: true,
            endpoints: ops
                .iter()
                .map(|u| EndpointConfig {
                    user: (*u).into(),
                    behaviour: EndpointBehaviour {
                        answer_after_secs: Some(0.2),
                        reject: None,
                        hangup_after_secs: None,
                    },
                })
                .collect(),
            ..Default::default()
        })
        .await
        .unwrap(),
    );
    let operators: Vec<String> = ops
        .iter()
        .map(|u| format!("{{ username = \"op{u}\", endpoint = \"user/{u}\" }}"))
        .collect();
    std::fs::write(
        dir.path().join("kontakt.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\
             [database]\nurl = \"sqlite://{db}\"\n\
             [esl]\naddress = \"{esl}\"\npassword = \"emu-secret\"\nlisten = \"127.0.0.1:{port}\"\n\
             [callcenter]\njournal_dir = \"{journal}\"\ndegraded_cdr_files = []\n\
             operators = [{operators}]\n",
            db = dir.path().join("k.db").display(),
            esl = emu.inbound_addr(),
            journal = dir.path().join("journal").display(),
            operators = operators.join(", "),
        ),
    )
    .unwrap();
    assert!(kontakt(dir.path()).arg("migrate").output().unwrap().status.success());
    for u in ops {
        let add = kontakt(dir.path())
            .args(["user", "add", &format!("op{u}"), "--role", "operator"])
            .args(["--password", "long enough pw"])
            .output()
            .unwrap();
        assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    }
    let (mut child, addr) = serve_at(dir.path()).await;
    for u in ops {
        ready(&addr, &format!("op{u}")).await;
    }
    let store = kontakt_store::open(&format!("sqlite://{}", dir.path().join("k.db").display()))
        .await
        .unwrap();

    // Ten calls a second for six seconds: some hang up in the menu, some give up waiting,
    // the rest talk for a second or two. Kontakt is killed after three seconds, with calls
    // in every phase, and started again at once.
    let placed = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let generator = {
        let (emu, placed) = (emu.clone(), placed.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            for i in 0..60u32 {
                tick.tick().await;
                let mut c = ScriptedCall::new(&format!("0502{i:06}"), "1580");
                match i % 5 {
                    0 => c.hangup_after_secs = Some(0.15),
                    1 => {
                        c.digits = vec!["1".into(), "2".into()];
                        c.patience_secs = Some(0.8);
                    }
                    _ => {
                        c.digits = vec!["1".into(), "2".into()];
                        c.talk_secs = Some(1.0 + f64::from(i % 3) * 0.5);
                    }
                }
                placed.lock().unwrap().push(emu.place_call(&c));
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let (mut child, addr) = serve_at(dir.path()).await;
    for u in ops {
        ready(&addr, &format!("op{u}")).await;
    }
    generator.await.unwrap();
    // Callers left waiting are answered by the operators again; every call ends.
    assert!(emu.wait_idle(Duration::from_secs(60)).await, "calls still up: {:?}", emu.channels());
    let placed = placed.lock().unwrap().clone();
    assert_eq!(placed.len(), 60);
    // Exactly one record per call, each ended with a cause once its channel is gone.
    let records = until("every record closed", 90, async || {
        let mut all = Vec::new();
        for u in &placed {
            let r = record(&*store, u).await?;
            if r.status == CallStatus::Live {
                return None;
            }
            all.push(r);
        }
        Some(all)
    })
    .await;
    for r in &records {
        assert!(r.end_reason.is_some() && r.ended_at.is_some(), "no end: {r:?}");
    }
    let mut known = store.calls_known(&placed).await.unwrap();
    known.sort();
    let mut expected = placed.clone();
    expected.sort();
    assert_eq!(known, expected, "one record per call the switch reported");
    let inbound: Vec<_> = store.recent_calls(1000).await.unwrap();
    let inbound = inbound.iter().filter(|r| r.direction == "inbound").count();
    assert_eq!(inbound, placed.len(), "no record for anything else");
    child.kill().unwrap();
    child.wait().unwrap();
}
