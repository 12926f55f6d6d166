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

/// A running `kontakt serve`, killed (SIGKILL) when dropped: a failed test leaves none behind.
struct Serving(Option<Child>);

impl Serving {
    /// SIGKILL: no chance to write anything more.
    fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `kontakt serve` and returns once it is listening.
async fn serve(dir: &Path) -> Serving {
    serve_at(dir).await.0
}

/// Starts `kontakt serve`; returns it and the address of its API.
async fn serve_at(dir: &Path) -> (Serving, String) {
    // Each process's log goes to a file of its own in the test's directory, which a failing
    // test prints (`logs`).
    let n = std::fs::read_dir(dir).unwrap().filter_map(Result::ok).count();
    let log = std::fs::File::create(dir.join(format!("kontakt-{n}.log"))).unwrap();
    let mut child = kontakt(dir).stdout(Stdio::piped()).stderr(Stdio::from(log)).spawn().unwrap();
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
    (Serving(Some(child)), addr)
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

/// Logs an operator in: their session cookie and CSRF token.
async fn login(addr: &str, user: &str) -> (String, String) {
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
    (cookie, v["csrf_token"].as_str().unwrap().to_owned())
}

/// An operator at their desk until the task is aborted: logged in, ready, and every call of
/// theirs that ends is linked to the outcome `test` at once, as a person does before the next
/// call (wrap-up lasts until the link, so without it each operator would take one call).
fn desk(addr: String, user: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let (cookie, csrf) = login(&addr, &user).await;
        let auth = [("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str())];
        loop {
            let (status, head, body) = http(&addr, "GET", "/api/v1/desk", &auth, "").await;
            assert_eq!(status, 200, "{head}{body}");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            // A conversation taken up after a restart may have ended before the desk opened:
            // its link comes first, ready after (the engine refuses the other order).
            let (path, body) = match (v["wrap_up_call"].as_str(), v["state"].as_str()) {
                (Some(call), _) => {
                    (format!("/api/v1/desk/calls/{call}/link"), r#"{"outcome":"test"}"#)
                }
                (None, Some("logged-out")) => ("/api/v1/desk/state".into(), r#"{"state":"ready"}"#),
                _ => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (status, head, body) = http(&addr, "POST", &path, &auth, body).await;
            assert_eq!(status, 200, "{head}{body}");
        }
    })
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

/// The logs of the test's Kontakt processes, for a failure message.
fn logs(dir: &Path) -> String {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| format!("--- {}\n{}", p.display(), std::fs::read_to_string(p).unwrap_or_default()))
        .collect()
}

async fn record(store: &dyn Store, uuid: &str) -> Option<CallRecord> {
    let key = CallKey { node: "kontakt-sim".into(), uuid: uuid.into() };
    store.call_record(&key).await.unwrap()
}

/// What both SIGKILL tests run against: the emulator, whose calls go to Kontakt's outbound
/// socket on a free port through the shape of Kontakt's public dialplan (`socket_resume`,
/// and degraded mode after the socket: a call outlives its socket and runs `degraded`), and,
/// in `dir`, a `kontakt.toml` naming it, a migrated SQLite database and one operator
/// `op<ext>` per phone, ringing `user/<ext>`.
async fn emulator_and_kontakt(
    dir: &Path,
    phones: &[(&str, EndpointBehaviour)],
    degraded: &[&str],
) -> kontakt_sim::EmulatorHandle {
    let port = free_port();
    let emu = Emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".into(),
        password: "emu-secret".into(),
        heartbeat_secs: 0.0,
        playback_secs: 0.2,
        dtmf_delay_secs: 0.05,
        outbound_socket: Some(format!("127.0.0.1:{port}")),
        socket_resume: true,
        degraded: degraded.iter().map(|a| (*a).to_owned()).collect(),
        endpoints: phones
            .iter()
            .map(|(user, behaviour)| EndpointConfig {
                user: (*user).into(),
                behaviour: behaviour.clone(),
            })
            .collect(),
        ..Default::default()
    })
    .await
    .unwrap();
    let operators: Vec<String> = phones
        .iter()
        .map(|(u, _)| format!("{{ username = \"op{u}\", endpoint = \"user/{u}\" }}"))
        .collect();
    std::fs::write(
        dir.join("kontakt.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\
             [database]\nurl = \"sqlite://{db}\"\n\
             [esl]\naddress = \"{esl}\"\npassword = \"emu-secret\"\nlisten = \"127.0.0.1:{port}\"\n\
             [callcenter]\njournal_dir = \"{journal}\"\ndegraded_cdr_files = []\n\
             operators = [{operators}]\n",
            db = dir.join("k.db").display(),
            esl = emu.inbound_addr(),
            journal = dir.join("journal").display(),
            operators = operators.join(", "),
        ),
    )
    .unwrap();
    let migrate = kontakt(dir).arg("migrate").output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    for (u, _) in phones {
        let add = kontakt(dir)
            .args(["user", "add", &format!("op{u}"), "--role", "operator"])
            .args(["--password", "long enough pw"])
            .output()
            .unwrap();
        assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    }
    emu
}

/// The test's own connection to Kontakt's database.
async fn open_store(dir: &Path) -> std::sync::Arc<dyn Store> {
    kontakt_store::open(&format!("sqlite://{}", dir.join("k.db").display())).await.unwrap()
}

fn now_us() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    u64::try_from(now.as_micros()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_and_restart_leave_exactly_one_record_per_call() {
    let dir = tempfile::tempdir().unwrap();
    // The operator's phone never answers: nobody is ready anyway.
    let never =
        EndpointBehaviour { answer_after_secs: None, reject: None, hangup_after_secs: None };
    // Degraded mode holds the caller (parked) until Kontakt takes it back.
    let emu = emulator_and_kontakt(dir.path(), &[("1001", never)], &["park"]).await;
    let mut child = serve(dir.path()).await;
    let store = open_store(dir.path()).await;

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
    child.kill();
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
    child.kill();
}

/// Issue 5's fault test at scale: Kontakt is killed mid-load and started again at once.
///
/// Every call the switch placed ends, and every call that reached Kontakt has exactly one
/// record, closed with a cause. "Reached" is what Kontakt could know: a call gets its record
/// before anything is done to it, so every call the switch saw answered has one. The calls
/// without one are those Kontakt never had: placed while nothing listened on the outbound
/// socket, or taken by the killed process in the milliseconds before their record was
/// durable. The dialplan's degraded mode takes both (here a fallback phone answers them;
/// Kontakt imports them from FreeSWITCH's CDR, which `cdr.rs` and the engine's tests cover).
/// Callers still waiting at the kill go on to degraded mode too when their socket closes;
/// the restarted Kontakt leaves them to it (it cannot tell whether the fallback phone is
/// ringing or in conversation) and closes their records when they hang up. Conversations in
/// progress go on with their operator, and no operator's leg is left parked (the emulator
/// only goes idle once every leg is gone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_accounts_for_every_call() {
    let dir = tempfile::tempdir().unwrap();
    let ops = ["1001", "1002", "1003", "1004"];
    let phone =
        EndpointBehaviour { answer_after_secs: Some(0.2), reject: None, hangup_after_secs: None };
    let phones: Vec<(&str, EndpointBehaviour)> = ops.iter().map(|u| (*u, phone.clone())).collect();
    // Degraded mode as the shipped dialplan has it: the fallback phone (answering after a
    // second) takes every caller whose socket closed with the killed process, and every
    // caller placed while nothing listened.
    let degraded = ["bridge user/1009"];
    let emu = std::sync::Arc::new(emulator_and_kontakt(dir.path(), &phones, &degraded).await);
    let (mut child, addr) = serve_at(dir.path()).await;
    let desks: Vec<_> = ops.iter().map(|u| desk(addr.clone(), format!("op{u}"))).collect();
    let store = open_store(dir.path()).await;

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
                // (a caller the fallback phone answers talks until this)
                c.hangup_after_secs = Some(30.0);
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
    for d in &desks {
        d.abort();
    }
    child.kill();
    // The process is gone (killed and reaped): until the signal landed it could still take
    // a call, and die before that call's record was durable.
    let killed_us = now_us();
    let (mut child, addr) = serve_at(dir.path()).await;
    // Kontakt listens on its outbound socket before it says it is up.
    let restarted_us = now_us();
    let desks: Vec<_> = ops.iter().map(|u| desk(addr.clone(), format!("op{u}"))).collect();
    generator.await.unwrap();
    assert!(emu.wait_idle(Duration::from_secs(40)).await, "calls still up: {:?}", emu.channels());
    let placed = placed.lock().unwrap().clone();
    assert_eq!(placed.len(), 60);
    let switch: std::collections::HashMap<String, kontakt_sim::CallRecord> =
        emu.report().into_iter().map(|r| (r.uuid.clone(), r)).collect();
    let known: std::collections::HashSet<String> =
        store.calls_known(&placed).await.unwrap().into_iter().collect();
    let (mut while_down, mut at_kill) = (0, 0);
    for u in placed.iter().filter(|u| !known.contains(*u)) {
        let r = &switch[u];
        if r.connected_us == 0 {
            // No Kontakt ever took it: placed while none listened (or just starting up); the
            // dialplan's degraded mode did (the fallback phone may have answered it).
            assert!(r.created_us < restarted_us, "placed after the restart, never taken: {r:?}");
            while_down += 1;
        } else {
            // Taken by the killed process in the moment before its record was durable: it
            // did nothing to the call (not even answer it) before the kill closed the
            // socket and the dialplan went on to degraded mode, whose fallback phone
            // answers a second later. At most a call or two at ten a second.
            assert!(r.connected_us < killed_us, "taken after the kill, no record: {r:?}");
            assert!(
                r.answered_us == 0 || r.answered_us >= killed_us,
                "answered by Kontakt without a record: {r:?}"
            );
            at_kill += 1;
        }
    }
    assert!(at_kill <= 2, "{at_kill} calls of the killed process outlived it without a record");
    assert!(while_down <= 20, "{while_down} calls never taken while Kontakt was down");
    // Exactly one record per call that reached Kontakt, each ended with a cause once its
    // channel is gone.
    let recorded: Vec<&String> = placed.iter().filter(|u| known.contains(*u)).collect();
    let all_closed = async || {
        let mut all = Vec::new();
        for u in &recorded {
            all.push(record(&*store, u).await.expect("recorded"));
        }
        all
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let records = loop {
        let all = all_closed().await;
        let live: Vec<_> = all.iter().filter(|r| r.status == CallStatus::Live).collect();
        if live.is_empty() {
            break all;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "records still live 20 s after the last call ended: {live:#?}\n{}",
                logs(dir.path())
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut reasons = std::collections::BTreeMap::<String, usize>::new();
    for r in &records {
        assert!(r.end_reason.is_some() && r.ended_at.is_some(), "no end: {r:?}");
        *reasons.entry(r.end_reason.clone().unwrap_or_default()).or_default() += 1;
    }
    let resumed = records.iter().filter(|r| r.steps.iter().any(|s| s.kind == "resumed")).count();
    eprintln!(
        "{} records {reasons:?}, {resumed} conversations taken up again; without a record: \
         {while_down} never taken while Kontakt was down, {at_kill} taken at the kill",
        records.len()
    );
    let inbound: Vec<_> = store.recent_calls(1000).await.unwrap();
    let inbound = inbound.iter().filter(|r| r.direction == "inbound").count();
    assert_eq!(inbound, recorded.len(), "no record for anything else");
    for d in &desks {
        d.abort();
    }
    child.kill();
}
