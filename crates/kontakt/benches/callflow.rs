//! The call flow under load: the FreeSWITCH emulator offers new calls at a steady rate to
//! the engine, which routes them to simulated operators whose phones answer; the operators
//! link every answered call (half to a newly registered appeal, half to an outcome).
//!
//! `cargo bench -p kontakt --bench callflow -- [--rate 100] [--operators 500]
//! [--seconds 60] [--talk 4] [--backend sqlite|postgres]`
//!
//! Reports p50/p99/max of (a) the operator's leg answering (the `BACKGROUND_JOB` of its
//! originate arriving from FreeSWITCH) → `uuid_bridge` queued for FreeSWITCH, and (b) the
//! router's offer → the screen-pop published on the operator feed; the process's CPU and
//! peak memory (the emulator runs in the same process, so both include FreeSWITCH's side);
//! the peak number of concurrent channels; and lost records (calls the emulator placed that
//! have no record — must be 0).
#![allow(clippy::print_stdout, clippy::unwrap_used)] // a benchmark program reports on stdout

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use kontakt_engine::feed::OperatorEvent;
use kontakt_engine::{
    Command, EngineConfig, EngineSetup, JournalConfig, OperatorBinding, RecordWriter,
};
use kontakt_sim::{Emulator, EmulatorConfig, EndpointBehaviour, EndpointConfig, ScriptedCall};
use kontakt_store::{Actor, CallLink, NewAppeal, NewUser, Role, Store};
use kontakt_switch::{InboundClient, InboundConfig, OutboundConfig, OutboundServer};
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;

struct Args {
    rate: f64,
    operators: usize,
    seconds: u64,
    talk: f64,
    backend: String,
}

fn args() -> Args {
    let mut a =
        Args { rate: 100.0, operators: 500, seconds: 60, talk: 4.0, backend: "sqlite".into() };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |d: f64| it.next().and_then(|v| v.parse().ok()).unwrap_or(d);
        match arg.as_str() {
            "--rate" => a.rate = num(a.rate),
            "--operators" => a.operators = num(a.operators as f64) as usize,
            "--seconds" => a.seconds = num(a.seconds as f64) as u64,
            "--talk" => a.talk = num(a.talk),
            "--backend" => a.backend = it.next().unwrap_or_default(),
            _ => {} // cargo passes --bench
        }
    }
    a
}

/// User + system CPU seconds of this process, and its peak resident memory in MiB.
fn cpu_and_peak_mib() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat; 11 and 12 after the ")".
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    (cpu, hwm / 1024.0)
}

async fn open_store(
    backend: &str,
    dir: &std::path::Path,
) -> (Arc<dyn Store>, Option<(String, String)>) {
    if backend == "postgres" {
        let url = std::env::var("KONTAKT_TEST_PG_URL")
            .expect("KONTAKT_TEST_PG_URL for --backend postgres");
        let schema = format!("kt_callflow_{}", std::process::id());
        let admin = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .unwrap();
        let options = sqlx::postgres::PgConnectOptions::from_str(&url)
            .unwrap()
            .options([("search_path", schema.as_str())]);
        let store = kontakt_store::PgStore::connect_with(options).await.unwrap();
        (Arc::new(store), Some((url, schema)))
    } else {
        let url = format!("sqlite://{}/bench.db", dir.display());
        (kontakt_store::open(&url).await.unwrap(), None)
    }
}

fn us(v: u64) -> String {
    format!("{:.2} ms", v as f64 / 1000.0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let a = args();
    let dir = tempfile::tempdir().unwrap();
    let (store, pg) = open_store(&a.backend, dir.path()).await;
    store.migrate().await.unwrap();
    kontakt_web::seed::reference(store.as_ref()).await.unwrap();
    let mut bindings = Vec::new();
    for i in 0..a.operators {
        let u = store
            .create_user(
                NewUser {
                    username: format!("load-op-{i:04}"),
                    display_name: format!("Load operator {i}"),
                    role: Role::Operator,
                    password_hash: "-".into(),
                    executor_id: None,
                    must_change_password: false,
                },
                Utc::now(),
            )
            .await
            .unwrap();
        bindings.push(OperatorBinding {
            user_id: u.id,
            username: u.username,
            endpoint: format!("user/{}", 3000 + i),
            extension: (3000 + i).to_string(),
            queues: Vec::new(),
        });
    }
    let server = OutboundServer::bind("127.0.0.1:0", OutboundConfig::default()).await.unwrap();
    let outbound = server.local_addr().unwrap().to_string();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let emu = Emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".into(),
        heartbeat_secs: 20.0,
        playback_secs: 3.0,
        dtmf_delay_secs: 0.3,
        dialplan_preamble: false,
        sip_auth_events: false,
        outbound_socket: Some(outbound.clone()),
        endpoints: (0..a.operators)
            .map(|i| EndpointConfig {
                user: (3000 + i).to_string(),
                behaviour: EndpointBehaviour {
                    answer_after_secs: Some(rng.random_range(0.5..1.5)),
                    reject: None,
                    hangup_after_secs: None,
                },
            })
            .collect(),
        ..Default::default()
    })
    .await
    .unwrap();
    let writer =
        RecordWriter::start(store.clone(), JournalConfig::in_dir(dir.path().join("journal")))
            .await
            .unwrap();
    let mut config = EngineConfig::default();
    for q in &mut config.queues {
        q.announce_every_secs = 30;
    }
    let engine = kontakt_engine::start(EngineSetup {
        config,
        operators: bindings.clone(),
        supervisors: Vec::new(),
        store: store.clone(),
        writer,
        node_name: "kontakt-bench".into(),
        outbound_addr: Some(outbound),
    })
    .unwrap();
    let (client, events) = InboundClient::connect(
        InboundConfig::new(emu.inbound_addr().to_string(), "ClueCon").events([
            "CHANNEL_HANGUP_COMPLETE",
            "CHANNEL_HOLD",
            "CHANNEL_UNHOLD",
        ]),
    )
    .await
    .unwrap();
    engine.attach_node("kontakt-sim", client, events);
    let e = engine.clone();
    server.serve(move |call| kontakt_engine::run_call(e.clone(), call));

    // Simulated operators: one dispatcher reads the feed and hands each operator its own
    // messages; each operator links what it answered and is ready again.
    let mut per_op: HashMap<i64, mpsc::UnboundedSender<Arc<kontakt_engine::feed::OperatorMsg>>> =
        HashMap::new();
    for b in &bindings {
        let (tx, mut rx) = mpsc::unbounded_channel::<Arc<kontakt_engine::feed::OperatorMsg>>();
        per_op.insert(b.user_id, tx);
        let (engine, store, user) = (engine.clone(), store.clone(), b.user_id);
        tokio::spawn(async move {
            let mut n = 0u64;
            while let Some(m) = rx.recv().await {
                let OperatorEvent::Ended { call, wrap_up: true, .. } = &m.event else { continue };
                n += 1;
                let link = if n.is_multiple_of(2) {
                    let at = Utc::now();
                    let appeal = NewAppeal {
                        reg_year: 2026,
                        applicant_id: None,
                        channel: kontakt_appeals::Channel::Phone,
                        legal_kind: kontakt_appeals::LegalKind::Application,
                        answer_channel: None,
                        collective: false,
                        call_id: Some(call.clone()),
                        operator_id: Some(user),
                        received_at: at,
                        registered_at: at,
                        legal_due_at: None,
                        repeat_of: None,
                        questions: Vec::new(),
                        actor: Actor {
                            user_id: Some(user),
                            kind: kontakt_appeals::ActorKind::Operator,
                        },
                    };
                    match store.register_appeal(appeal).await {
                        Ok(a) => CallLink::Appeal(a.id),
                        Err(_) => CallLink::Outcome("consultation".into()),
                    }
                } else {
                    CallLink::Outcome("consultation".into())
                };
                let _ = engine.command(Command::Link { user, call: call.clone(), link }).await;
            }
        });
    }
    let mut feed = engine.operator_feed();
    tokio::spawn(async move {
        loop {
            match feed.recv().await {
                Ok(m) => {
                    if let Some(tx) = per_op.get(&m.user_id) {
                        let _ = tx.send(m);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("operator feed: dispatcher lagged by {n} messages");
                }
                Err(_) => return,
            }
        }
    });
    for b in &bindings {
        engine.command(Command::Ready { user: b.user_id }).await.unwrap();
    }

    println!(
        "callflow bench: backend {}, {} calls/s for {} s, {} operators, talk ~{} s",
        a.backend, a.rate, a.seconds, a.operators, a.talk
    );
    let (cpu0, _) = cpu_and_peak_mib();
    let started = Instant::now();
    let gap = Duration::from_secs_f64(1.0 / a.rate);
    let mut placed = Vec::new();
    let mut next = tokio::time::Instant::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    while started.elapsed() < Duration::from_secs(a.seconds) {
        tokio::time::sleep_until(next).await;
        next += gap;
        let mut c = ScriptedCall::new(&format!("050{:07}", rng.random_range(0..9_999_999)), "1580");
        c.digits = vec!["1".into(), if rng.random::<f64>() < 0.1 { "1" } else { "2" }.into()];
        c.talk_secs = Some(a.talk * rng.random_range(0.75..1.25));
        c.patience_secs = Some(60.0);
        placed.push(emu.place_call(&c));
    }
    let offered_secs = started.elapsed().as_secs_f64();
    let (cpu1, _) = cpu_and_peak_mib();
    emu.wait_idle(Duration::from_secs(120)).await;
    engine.writer().sync().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    engine.writer().sync().await.unwrap();
    let (_, peak_mib) = cpu_and_peak_mib();
    let peak_channels = emu.stats().peak_channels;
    let known: std::collections::HashSet<String> =
        store.calls_known(&placed).await.unwrap().into_iter().collect();
    let lost = placed.iter().filter(|u| !known.contains(*u)).count();
    let counts = store.call_counts().await.unwrap();
    let m = engine.metrics();
    println!(
        "  calls placed         {} ({:.1}/s)",
        placed.len(),
        placed.len() as f64 / offered_secs
    );
    println!("  peak channels        {peak_channels} (callers and operators' legs)");
    println!(
        "  answered {}  abandoned {}  linked to appeal {}  other outcome {}",
        counts.connected, counts.abandoned, counts.linked_to_appeal, counts.other_outcome
    );
    for (name, h) in [
        ("(a) leg answered → uuid_bridge", &m.answer_to_bridge),
        ("(b) offer → screen-pop published", &m.offer_to_pop),
    ] {
        match h.percentiles() {
            Some((p50, p99, max)) => println!(
                "  {name:34} n={:6}  p50 {}  p99 {}  max {}",
                h.count(),
                us(p50),
                us(p99),
                us(max)
            ),
            None => println!("  {name:34} no samples"),
        }
    }
    println!(
        "  CPU                  {:.0} % of one core while offering (process incl. emulator; 2 cores = 200 %)",
        (cpu1 - cpu0) / offered_secs * 100.0
    );
    println!("  peak memory          {peak_mib:.0} MiB (VmHWM, process incl. emulator)");
    println!("  lost records         {lost}");
    println!(
        "  journal              {} operations waiting, {} lost by the writer",
        m.writer.journal_depth.load(std::sync::atomic::Ordering::Relaxed),
        m.writer.lost.load(std::sync::atomic::Ordering::Relaxed)
    );
    engine.shutdown();
    if let Some((url, schema)) = pg {
        drop(store);
        let admin = sqlx::PgPool::connect(&url).await.unwrap();
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&admin)
            .await;
    }
}
