#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]
//! The pages in a real browser: Debian's chromium, driven headless by playwright-core from
//! `tests/browser/` (both installed by `.ci/setup-browser.sh`), against Kontakt served on a
//! real socket with a real engine driving the FreeSWITCH emulator.
//!
//! The Rust side starts everything, places the calls the script asks for (one JSON line on the
//! script's stdout each; the answer goes to its stdin), watches the emulator's own events for
//! the moment each operator's phone starts ringing (`CHANNEL_PROGRESS` of the leg to the
//! operator, stamped by the emulator), and at the end checks what the script could not: that
//! every screen-pop was on the page before that phone rang, and what the database holds.
//!
//! Runs only when `KONTAKT_BROWSER_TESTS` (the folder with `node_modules/playwright-core`) and
//! `KONTAKT_CHROMIUM` are set; otherwise it says why and passes (CI sets both).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use kontakt_appeals::{Address, ApplicantKind, AssuranceLevel};
use kontakt_engine::{
    EngineConfig, EngineHandle, EngineSetup, JournalConfig, OperatorBinding, RecordWriter,
};
use kontakt_sim::{
    Emulator, EmulatorConfig, EmulatorHandle, EndpointBehaviour, EndpointConfig, ScriptedCall,
};
use kontakt_store::{
    CallKey, CallLink, NewApplicant, NewExecutor, NewResponsibility, NewUser, Role, Store,
};
use kontakt_switch::{InboundClient, InboundConfig, OutboundConfig, OutboundServer};
use kontakt_web::{AppState, WebSettings};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command};

const PASSWORD: &str = "correct horse battery";
/// The whole browser run, including chromium's start.
const LIMIT: Duration = Duration::from_secs(240);
/// What a citizen may type into any field, shown back as text everywhere.
const INJECT: &str = "<img src=x onerror=\"window.__pwned=1\"><script>window.__pwned=2</script>";

fn setup() -> Option<(PathBuf, String)> {
    let dir = std::env::var("KONTAKT_BROWSER_TESTS").ok().filter(|s| !s.is_empty());
    let chromium = std::env::var("KONTAKT_CHROMIUM").ok().filter(|s| !s.is_empty());
    match (dir, chromium) {
        (Some(d), Some(c)) => Some((PathBuf::from(d), c)),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "KONTAKT_BROWSER_TESTS and KONTAKT_CHROMIUM must be set in CI (.ci/setup-browser.sh)"
            );
            eprintln!(
                "KONTAKT_BROWSER_TESTS / KONTAKT_CHROMIUM are not set (run .ci/setup-browser.sh): \
                 the browser tests are skipped"
            );
            None
        }
    }
}

struct Center {
    addr: SocketAddr,
    engine: EngineHandle,
    emu: EmulatorHandle,
    store: Arc<dyn Store>,
    /// Citizen call UUID → when the emulator rang the operator's phone (µs since the epoch).
    rings: Arc<Mutex<HashMap<String, i64>>>,
    _dir: tempfile::TempDir,
}

impl Drop for Center {
    fn drop(&mut self) {
        self.engine.shutdown();
    }
}

async fn user(store: &Arc<dyn Store>, name: &str, display: &str, role: Role) -> i64 {
    let hash = kontakt_web::auth::hash_password(PASSWORD).unwrap();
    store
        .create_user(
            NewUser {
                username: name.into(),
                display_name: display.into(),
                role,
                password_hash: hash,
                executor_id: None,
                must_change_password: false,
            },
            Utc::now(),
        )
        .await
        .unwrap()
        .id
}

async fn center() -> Center {
    let dir = tempfile::tempdir().unwrap();
    let store =
        kontakt_store::open(&format!("sqlite://{}/k.db", dir.path().display())).await.unwrap();
    store.migrate().await.unwrap();
    kontakt_web::seed::reference(store.as_ref()).await.unwrap();
    let now = Utc::now();
    let water = store
        .create_executor(
            NewExecutor {
                code: "vodokanal".into(),
                name_uk: "КП «Водоканал»".into(),
                name_en: Some("Vodokanal".into()),
                phone: None,
            },
            now,
        )
        .await
        .unwrap();
    store
        .add_responsibility(
            NewResponsibility {
                category_prefix: "water".into(),
                district: None,
                building_key: None,
                executor_id: water.id,
                valid_from: now - chrono::Duration::days(1),
                valid_to: None,
            },
            now,
        )
        .await
        .unwrap();
    // The citizen who calls twice: known to the registry, with a name that tries markup.
    store
        .create_applicant(
            NewApplicant {
                last_name: Some(format!("Шевченко{INJECT}")),
                first_name: Some("Олена".into()),
                patronymic: None,
                email: None,
                kind: ApplicantKind::Individual,
                privileges: Vec::new(),
                confidential: false,
                assurance: AssuranceLevel::None,
                address: Some(Address {
                    city: None,
                    street: "вул. Соборна".into(),
                    building: "12".into(),
                    entrance: Some("2".into()),
                    flat: Some("45".into()),
                    floor: Some(5),
                    district: None,
                    lat: None,
                    lon: None,
                }),
                phones: vec!["+380501234567".into()],
            },
            now,
        )
        .await
        .unwrap();
    let olena = user(&store, "olena", "Олена Коваль", Role::Operator).await;
    let ivan = user(&store, "ivan", "Іван Бондар", Role::Operator).await;
    // A new colleague with a one-time password, not (yet) an operator of the call center.
    store
        .create_user(
            NewUser {
                username: "novak".into(),
                display_name: "Марко Новак".into(),
                role: Role::Operator,
                password_hash: kontakt_web::auth::hash_password(PASSWORD).unwrap(),
                executor_id: None,
                must_change_password: true,
            },
            Utc::now(),
        )
        .await
        .unwrap();

    let server = OutboundServer::bind("127.0.0.1:0", OutboundConfig::default()).await.unwrap();
    let outbound = server.local_addr().unwrap().to_string();
    // The operators' phones answer a second after they start ringing.
    let phone = |ext: &str| EndpointConfig {
        user: ext.into(),
        behaviour: EndpointBehaviour {
            answer_after_secs: Some(1.0),
            reject: None,
            hangup_after_secs: None,
        },
    };
    let emu = Emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".into(),
        heartbeat_secs: 0.0,
        playback_secs: 0.2,
        dtmf_delay_secs: 0.05,
        outbound_socket: Some(outbound),
        endpoints: vec![phone("1001"), phone("1002")],
        ..Default::default()
    })
    .await
    .unwrap();
    let bindings = [(olena, "olena", "1001"), (ivan, "ivan", "1002")]
        .into_iter()
        .map(|(id, name, ext)| OperatorBinding {
            user_id: id,
            username: name.into(),
            endpoint: format!("user/{ext}"),
            extension: ext.into(),
            queues: Vec::new(),
        })
        .collect();
    let writer = RecordWriter::start(store.clone(), JournalConfig::in_dir(dir.path().join("j")))
        .await
        .unwrap();
    let mut config = EngineConfig::default();
    for q in &mut config.queues {
        q.ring_timeout_secs = 15;
        q.announce_every_secs = 0;
        // The repeat caller goes to whoever is free, not after their last operator.
        q.sticky_wait_secs = 0;
    }
    config.recording.dir = "/rec".into();
    // The phone rings when the page says it shows the pop: on a loaded CI machine that can
    // take longer than the production default, and the check below must not race it.
    config.screen_pop_lead_ms = 10_000;
    let engine = kontakt_engine::start(EngineSetup {
        config,
        operators: bindings,
        supervisors: Vec::new(),
        store: store.clone(),
        writer,
        node_name: "kontakt-browser".into(),
        outbound_addr: None,
    })
    .unwrap();
    let ic = InboundConfig::new(emu.inbound_addr().to_string(), "ClueCon").events([
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_HOLD",
        "CHANNEL_UNHOLD",
    ]);
    let (client, events) = InboundClient::connect(ic).await.unwrap();
    engine.attach_node("kontakt-sim", client, events);
    let e = engine.clone();
    server.serve(move |call| kontakt_engine::run_call(e.clone(), call));

    // Our own view of the emulator: when each operator's phone starts ringing.
    let rings = Arc::new(Mutex::new(HashMap::new()));
    let watch =
        InboundConfig::new(emu.inbound_addr().to_string(), "ClueCon").events(["CHANNEL_PROGRESS"]);
    let (watcher, mut progress) = InboundClient::connect(watch).await.unwrap();
    let r = rings.clone();
    tokio::spawn(async move {
        let _keep = watcher;
        while let Ok(ev) = progress.recv().await {
            let (Some(call), Some(at)) = (
                ev.var("kontakt_call").map(str::to_owned),
                ev.header("Event-Date-Timestamp").and_then(|t| t.parse::<i64>().ok()),
            ) else {
                continue;
            };
            r.lock().unwrap().entry(call).or_insert(at);
        }
    });

    let app = kontakt_web::app(AppState {
        store: store.clone(),
        settings: Arc::new(WebSettings::default()),
        engine: Some(engine.clone()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Center { addr, engine, emu, store, rings, _dir: dir }
}

/// The script's process, killed if the test ends before it does.
struct Killed(Child);

impl Killed {
    /// Its exit status, once it closed its stdout (it is exiting then).
    fn wait(mut self) -> std::process::ExitStatus {
        self.0.wait().unwrap()
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where the scripts save screenshots (CI keeps them as artifacts).
fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs a browser script against the server at `addr`: it asks for things one JSON line at
/// a time on its stdout (`answer` replies on its stdin) and ends with a `result` line, which
/// is returned. Fails the test when the script fails or outlives `LIMIT`.
async fn run_script<F, Fut>(
    dir: &std::path::Path,
    chromium: &str,
    addr: std::net::SocketAddr,
    script: &str,
    mut answer: F,
) -> Value
where
    F: FnMut(Value) -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let artifacts = artifacts();
    let mut child = Command::new("node")
        .arg(dir.join(script))
        .env("KONTAKT_URL", format!("http://{addr}"))
        .env("KONTAKT_CHROMIUM", chromium)
        .env("KONTAKT_PASSWORD", PASSWORD)
        .env("KONTAKT_ARTIFACTS", &artifacts)
        .env("KONTAKT_INJECT", INJECT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    // The script's requests, read on a thread of their own (std's pipes block).
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut result = None;
    let run = async {
        while let Some(line) = rx.recv().await {
            let Ok(req) = serde_json::from_str::<Value>(&line) else {
                println!("script: {line}");
                continue;
            };
            if req["cmd"] == "result" {
                result = Some(req);
                continue;
            }
            let reply = answer(req).await;
            stdin.write_all(format!("{reply}\n").as_bytes()).unwrap();
            stdin.flush().unwrap();
        }
    };
    // Until the script closes its stdout: it has finished (or failed) and is exiting.
    tokio::time::timeout(LIMIT, run).await.expect("the browser script timed out");
    let status = child.wait();
    assert!(status.success(), "the browser script failed ({status}); see its output above");
    let result = result.expect("the script ended without a result line");
    println!("browser result: {result}");
    result
}

/// What the script asks for, one JSON object a line.
async fn answer(c: &Center, req: &Value) -> Value {
    match req["cmd"].as_str() {
        Some("call") => {
            let mut call =
                ScriptedCall::new(req["caller"].as_str().unwrap_or("0501234567"), "1580");
            // Ukrainian, then "housing" (the general queue).
            call.digits = vec!["1".into(), "2".into()];
            call.talk_secs = Some(req["talk_secs"].as_f64().unwrap_or(600.0));
            call.patience_secs = Some(120.0);
            json!({"uuid": c.emu.place_call(&call)})
        }
        Some("hangup_caller") => {
            let uuid = req["uuid"].as_str().unwrap_or("");
            json!({"ok": c.emu.hangup(uuid, "NORMAL_CLEARING")})
        }
        other => json!({"error": format!("unknown command {other:?}")}),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_work_a_call_in_a_real_browser() {
    let Some((dir, chromium)) = setup() else { return };
    let c = center().await;
    let center = &c;
    let result =
        run_script(
            &dir,
            &chromium,
            c.addr,
            "desk.mjs",
            |req| async move { answer(center, &req).await },
        )
        .await;

    // The screen-pop and the ring, per call, on one clock (the emulator stamps its events
    // with the system clock; the page with performance.timeOrigin + now()): the desk
    // acknowledges each pop it has drawn (`?ack=pop`) and the engine rings the phone only
    // then, so the pop is on the page before the phone rings (issue 6).
    let rings = c.rings.lock().unwrap().clone();
    let pops = result["pops"].as_array().expect("pops");
    assert!(pops.len() >= 3, "{result}");
    for p in pops {
        let call = p["call"].as_str().unwrap();
        let shown_us = (p["shown_at_ms"].as_f64().unwrap() * 1000.0) as i64;
        let published_us = p["published_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_micros())
            .unwrap_or_else(|| panic!("no publication time for {call}: {p}"));
        let ring_us = *rings.get(call).unwrap_or_else(|| panic!("no ring seen for {call}"));
        println!(
            "call {call}: screen-pop published {} µs and on the page {} µs before the phone rang",
            ring_us - published_us,
            ring_us - shown_us
        );
        assert!(
            published_us <= ring_us,
            "the phone rang {} µs before the screen-pop was published (call {call})",
            published_us - ring_us
        );
        assert!(
            shown_us <= ring_us,
            "the screen-pop reached the page {} µs after the phone rang (call {call})",
            shown_us - ring_us
        );
    }

    // What the pages did is in the database: the first call's appeal with its category,
    // address and emergency; the repeat call linked to that same appeal.
    c.engine.writer().sync().await.unwrap();
    let first = result["first_call"].as_str().unwrap();
    let second = result["second_call"].as_str().unwrap();
    let appeal_id = result["appeal_id"].as_i64().unwrap();
    let appeal = c.store.appeal(appeal_id).await.unwrap();
    assert_eq!(appeal.call_id.as_deref(), Some(first));
    let q = &appeal.questions[0];
    assert_eq!(q.category_code, "water.leak");
    let address = q.address.as_ref().unwrap();
    assert_eq!(
        (address.entrance.as_deref(), address.flat.as_deref(), address.floor),
        (Some("3"), Some("17"), Some(4))
    );
    assert!(address.street.contains(INJECT), "{address:?}");
    let emergency = q.emergency.as_ref().expect("the emergency flag was lost");
    assert!(emergency.nature.contains(INJECT));
    assert!(q.description.contains(INJECT));
    let record = |uuid: &str| {
        let key = CallKey { node: "kontakt-sim".into(), uuid: uuid.into() };
        let store = c.store.clone();
        async move { store.call_record(&key).await.unwrap().expect("a call record") }
    };
    assert_eq!(record(first).await.link, Some(CallLink::Appeal(appeal_id)));
    assert_eq!(record(second).await.link, Some(CallLink::Appeal(appeal_id)));
    // The call whose feed was dropped, linked in wrap-up by the appeal's number.
    let third = result["third_call"].as_str().unwrap();
    assert_eq!(record(third).await.link, Some(CallLink::Appeal(appeal_id)));
    // Two appeals in all: the first call's, and the walk-in one registered without a call.
    assert_eq!(c.store.count_appeals().await.unwrap(), 2, "the repeat call registered one");
    let walk_in = c.store.appeal(appeal_id + 1).await.unwrap();
    assert_eq!((walk_in.channel.as_str(), walk_in.call_id), ("personal_reception", None));
}

// ---- the wall board ------------------------------------------------------------------------

/// What the switch executed as `eavesdrop`: (the leg listened to, `kontakt_supervisor`, the
/// whisper variables), seen on our own event socket to the emulator.
type Eavesdrops = tokio::sync::watch::Receiver<Vec<(String, Option<String>, bool)>>;

/// A center for the wall board: the operators olena and ivan (phones answering after a
/// second), and the supervisor nadia with a phone (user/1900) to listen in from.
async fn wallboard_center() -> (Center, i64, Eavesdrops) {
    let dir = tempfile::tempdir().unwrap();
    let store =
        kontakt_store::open(&format!("sqlite://{}/k.db", dir.path().display())).await.unwrap();
    store.migrate().await.unwrap();
    kontakt_web::seed::reference(store.as_ref()).await.unwrap();
    let olena = user(&store, "olena", "Олена Коваль", Role::Operator).await;
    let ivan = user(&store, "ivan", "Іван Бондар", Role::Operator).await;
    let nadia = user(&store, "nadia", "Надія Мельник", Role::Supervisor).await;
    let server = OutboundServer::bind("127.0.0.1:0", OutboundConfig::default()).await.unwrap();
    let outbound = server.local_addr().unwrap().to_string();
    let phone = |ext: &str, secs: f64| EndpointConfig {
        user: ext.into(),
        behaviour: EndpointBehaviour {
            answer_after_secs: Some(secs),
            reject: None,
            hangup_after_secs: None,
        },
    };
    let emu = Emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".into(),
        heartbeat_secs: 0.0,
        playback_secs: 0.2,
        dtmf_delay_secs: 0.05,
        outbound_socket: Some(outbound),
        endpoints: vec![phone("1001", 1.0), phone("1002", 1.0), phone("1900", 0.3)],
        ..Default::default()
    })
    .await
    .unwrap();
    let operators = [(olena, "olena", "1001"), (ivan, "ivan", "1002")]
        .into_iter()
        .map(|(id, name, ext)| OperatorBinding {
            user_id: id,
            username: name.into(),
            endpoint: format!("user/{ext}"),
            extension: ext.into(),
            queues: Vec::new(),
        })
        .collect();
    let writer = RecordWriter::start(store.clone(), JournalConfig::in_dir(dir.path().join("j")))
        .await
        .unwrap();
    let mut config = EngineConfig::default();
    for q in &mut config.queues {
        q.ring_timeout_secs = 15;
        q.announce_every_secs = 0;
    }
    config.recording.dir = "/rec".into();
    // No callback for the caller who gives up: the records hold exactly the two calls.
    config.abandoned_callback_after_secs = None;
    config.supervisors = vec![kontakt_engine::SupervisorSetup {
        username: "nadia".into(),
        endpoint: "user/1900".into(),
    }];
    let engine = kontakt_engine::start(EngineSetup {
        config,
        operators,
        supervisors: vec![kontakt_engine::SupervisorBinding {
            user_id: nadia,
            username: "nadia".into(),
            endpoint: "user/1900".into(),
        }],
        store: store.clone(),
        writer,
        node_name: "kontakt-browser".into(),
        outbound_addr: None,
    })
    .unwrap();
    let ic = InboundConfig::new(emu.inbound_addr().to_string(), "ClueCon").events([
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_HOLD",
        "CHANNEL_UNHOLD",
    ]);
    let (client, events) = InboundClient::connect(ic).await.unwrap();
    engine.attach_node("kontakt-sim", client, events);
    let e = engine.clone();
    server.serve(move |call| kontakt_engine::run_call(e.clone(), call));

    let (tx, rx) = tokio::sync::watch::channel(Vec::new());
    let watch =
        InboundConfig::new(emu.inbound_addr().to_string(), "ClueCon").events(["CHANNEL_EXECUTE"]);
    let (watcher, mut executed) = InboundClient::connect(watch).await.unwrap();
    tokio::spawn(async move {
        let _keep = watcher;
        while let Ok(ev) = executed.recv().await {
            if ev.header("Application") != Some("eavesdrop") {
                continue;
            }
            let target = ev.header("Application-Data").unwrap_or_default().trim().to_owned();
            let sup = ev.var("kontakt_supervisor").map(str::to_owned);
            let whisper = ev.var("eavesdrop_whisper_aleg").is_some()
                || ev.var("eavesdrop_whisper_bleg").is_some();
            tx.send_modify(|v| v.push((target, sup, whisper)));
        }
    });

    let app = kontakt_web::app(AppState {
        store: store.clone(),
        settings: Arc::new(WebSettings::default()),
        engine: Some(engine.clone()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let rings = Arc::new(Mutex::new(HashMap::new()));
    (Center { addr, engine, emu, store, rings, _dir: dir }, nadia, rx)
}

/// The wall board script's requests: those of the desk's, and `eavesdrop_seen` (waits until
/// the switch executes an eavesdrop on the operator's leg of `uuid`).
async fn wallboard_answer(c: &Center, eavesdrops: &Eavesdrops, req: &Value) -> Value {
    if req["cmd"] != "eavesdrop_seen" {
        return answer(c, req).await;
    }
    let uuid = req["uuid"].as_str().unwrap_or("");
    // The leg the supervisor must hear: the operator's, bridged to the caller's channel.
    let Some(leg) =
        c.emu.channels().into_iter().find(|ch| ch.uuid == uuid).and_then(|ch| ch.other_leg)
    else {
        return json!({"ok": false, "error": "the call is not bridged on the switch"});
    };
    let mut rx = eavesdrops.clone();
    let seen = tokio::time::timeout(
        Duration::from_secs(15),
        rx.wait_for(|v| v.iter().any(|e| e.0 == leg)),
    )
    .await;
    match seen {
        Ok(Ok(v)) => {
            let (target, sup, whisper) = v.iter().find(|e| e.0 == leg).cloned().unwrap();
            json!({"ok": true, "target": target, "supervisor": sup, "whisper": whisper})
        }
        _ => {
            json!({"ok": false, "error": format!("no eavesdrop on {leg}"), "seen": *eavesdrops.borrow()})
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_runs_the_wallboard_in_a_real_browser() {
    let Some((dir, chromium)) = setup() else { return };
    let (c, nadia, eavesdrops) = wallboard_center().await;
    let (center, taps) = (&c, &eavesdrops);
    let result = run_script(&dir, &chromium, c.addr, "wallboard.mjs", |req| async move {
        wallboard_answer(center, taps, &req).await
    })
    .await;

    // The listen session the page started reached the switch as a plain listen (no whisper)
    // from nadia's phone.
    assert_eq!(result["eavesdrop"]["supervisor"], nadia.to_string(), "{result}");
    assert_eq!(result["eavesdrop"]["whisper"], false, "{result}");
    // Every supervisor action of the page is in the audit log, with what was chosen.
    let first = result["first_call"].as_str().unwrap();
    let second = result["waiting_call"].as_str().unwrap();
    let ivan = result["ivan"].as_i64().unwrap().to_string();
    let audit = c.store.audit_log(1000).await.unwrap();
    let done: Vec<(String, String, Value)> = audit
        .iter()
        .filter(|e| e.user_id == Some(nadia))
        .map(|e| {
            let detail = e.detail.as_deref().and_then(|d| serde_json::from_str(d).ok());
            (e.action.clone(), e.subject_id.clone(), detail.unwrap_or(Value::Null))
        })
        .collect();
    let has = |action: &str, subject: &str, detail: Value| {
        assert!(
            done.iter().any(|(a, s, d)| a == action && s == subject && *d == detail),
            "no {action} of {subject} with {detail} in the audit log: {done:?}"
        );
    };
    has("force_agent_state", &ivan, json!({"state": "pause", "reason": "training"}));
    has("eavesdrop", first, json!({"mode": "listen"}));
    has("set_call_priority", second, json!({"priority": 7}));
    has("move_call", second, json!({"queue": "emergency"}));
    assert!(done.iter().any(|(a, _, _)| a == "open_feed"), "opening the board is audited");
    // What the chart counted is what the records say.
    c.engine.writer().sync().await.unwrap();
    let counts = c.store.call_counts().await.unwrap();
    assert_eq!((counts.total, counts.connected, counts.abandoned), (3, 1, 2), "{counts:?}");
    assert_eq!(result["chart"]["offered"], 3, "{result}");
    assert_eq!(result["chart"]["answered"], 1, "{result}");
    assert_eq!(result["chart"]["abandoned"], 2, "{result}");
    // The caller ID with markup was kept as the network gave it, and shown only as text.
    let third =
        CallKey { node: "kontakt-sim".into(), uuid: result["third_call"].as_str().unwrap().into() };
    let record = c.store.call_record(&third).await.unwrap().expect("the third call's record");
    assert_eq!(record.caller, None, "{record:?}");
    assert!(record.caller_raw.contains("onerror"), "{record:?}");
    // The screenshot for the README.
    let shot = artifacts().join("wallboard.png");
    assert!(std::fs::metadata(&shot).map(|m| m.len() > 10_000).unwrap_or(false), "{shot:?}");
}
