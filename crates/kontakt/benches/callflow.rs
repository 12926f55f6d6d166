//! The call flow under load: the FreeSWITCH emulator offers new calls at a steady rate to
//! the engine, which routes them to simulated operators whose phones answer; the operators
//! link every answered call (half to a newly registered appeal, half to an outcome).
//!
//! ```text
//! cargo bench -p kontakt --bench callflow -- [--rate 100] [--operators 500]
//!     [--seconds 60 | --minutes 10] [--talk 4] [--backend sqlite|postgres]
//!     [--ws-operators [300]] [--ws-supervisors [20]] [--wrap-ms 250] [--progress 60]
//!     [--listen 0.3]
//! ```
//!
//! `--talk S` is the mean conversation (each call's is drawn from ±25 % of it); an operator
//! is held for about a second of ringing more, so 500 operators carry about 100 calls/s at
//! `--talk 4` and 111/s at `--talk 3.5`. `--listen S` is how long a caller listens to each
//! menu prompt before pressing a digit (the two menus then take about 3.7 + 2 × S seconds), which
//! sets how many calls are in the IVR at once.
//!
//! `--progress S` prints the engine's counters every S seconds while calls are offered.
//! With `KONTAKT_BENCH_KEEP=1` the database is kept for a look at the call records
//! afterwards (the PostgreSQL schema or the SQLite file is printed at the end).
//!
//! Reports p50/p99/max of (a) the operator's leg answering (the `BACKGROUND_JOB` of its
//! originate arriving from FreeSWITCH) → `uuid_bridge` queued for FreeSWITCH, and (b) the
//! router's offer → the screen-pop published on the operator feed; the CPU and peak memory of
//! Kontakt's process (with the in-process simulated operators) and of the emulator's; the
//! peak number of concurrent channels; and lost records (calls the emulator placed that have
//! no record — must be 0). The emulator (FreeSWITCH's side) runs in a process of its own —
//! this program started again with `--emulator` — which places the calls.
//!
//! With `--ws-operators` / `--ws-supervisors` the bench also serves the real web application
//! (`kontakt_web::app`) on a local port, and a second process — this program started again
//! with `--ws-clients` — connects real WebSocket clients to `/api/v1/feed` with API tokens:
//! N operators (the first N operator seats; they work as `kontakt demo`'s simulated people do,
//! through the feed and HTTP, see `src/simops.rs`) and M supervisors on `view=wallboard`. The
//! other operators stay in-process. The clients run in their own process so that the server's
//! memory per connection and its CPU are the server's alone. The clients measure:
//!
//! - offer → screen-pop received: the client reads the clock (`Utc::now()`, CLOCK_REALTIME)
//!   when a `screen_pop` frame comes off its socket and subtracts the message's `at`, which
//!   the engine stamps with the same system clock right after deciding the offer, when it
//!   publishes the screen-pop (`Engine::to_operator`). The few microseconds between the
//!   decision and that stamp are the engine's own "offer → published" histogram, printed
//!   beside it. Both processes run on one machine, so they read one clock.
//! - wall board delivery: a periodic `stats` frame's receipt minus its `at` (when the
//!   engine built it); an `agent` or `call` frame's receipt minus its `at`, which the engine
//!   stamps when it publishes the change.
//! - wall board staleness: every 100 ms, for every supervisor client, now minus the `at` of
//!   the newest `stats` that client holds (the snapshot's on connecting). Statistics come
//!   every 0.8 s, so this is that period plus how late they are; the events in between keep
//!   the board current (their delivery is the previous item).
//! - sequence gaps and `overflow` snapshots (messages the server dropped for a slow client).
//!
//! The server's memory per connection is its VmRSS with the clients connected minus before
//! they connected (idle, before the load), and at the end of the load minus after they
//! disconnected, divided by the number of connections.
#![allow(clippy::print_stdout, clippy::unwrap_used)] // a benchmark program reports on stdout

#[allow(dead_code, unreachable_pub)] // the demo's simulated operators; this uses part of it
#[path = "../src/simops.rs"]
mod simops;

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::IntoFuture as _;
use std::io::{BufRead as _, Write as _};
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kontakt_engine::feed::OperatorEvent;
use kontakt_engine::{
    Command, EngineConfig, EngineSetup, JournalConfig, OperatorBinding, RecordWriter,
};
use kontakt_sim::{Emulator, EmulatorConfig, EndpointBehaviour, EndpointConfig, ScriptedCall};
use kontakt_store::{Actor, CallLink, NewAppeal, NewUser, Role, Store};
use kontakt_switch::{InboundClient, InboundConfig, OutboundConfig, OutboundServer};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

struct Args {
    rate: f64,
    operators: usize,
    seconds: u64,
    talk: f64,
    backend: String,
    ws_operators: usize,
    ws_supervisors: usize,
    wrap_ms: u64,
    progress_secs: u64,
    listen: f64,
}

fn args() -> Args {
    let mut a = Args {
        rate: 100.0,
        operators: 500,
        seconds: 60,
        talk: 4.0,
        backend: "sqlite".into(),
        ws_operators: 0,
        ws_supervisors: 0,
        wrap_ms: 250,
        progress_secs: 60,
        listen: 0.3,
    };
    let (mut ws_ops, mut ws_sups) = (None, None);
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.into_iter().peekable();
    // A number after the flag, or None (the flag's default) when the next argument is not one.
    let opt = |it: &mut std::iter::Peekable<std::vec::IntoIter<String>>| {
        let n = it.peek().and_then(|v| v.parse::<f64>().ok());
        if n.is_some() {
            it.next();
        }
        n
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--rate" => a.rate = opt(&mut it).unwrap_or(a.rate),
            "--operators" => a.operators = opt(&mut it).map_or(a.operators, |v| v as usize),
            "--seconds" => a.seconds = opt(&mut it).map_or(a.seconds, |v| v as u64),
            "--minutes" => a.seconds = opt(&mut it).map_or(a.seconds, |v| (v * 60.0) as u64),
            "--talk" => a.talk = opt(&mut it).unwrap_or(a.talk),
            "--listen" => a.listen = opt(&mut it).unwrap_or(a.listen),
            "--backend" => a.backend = it.next().unwrap_or_default(),
            "--ws-operators" => ws_ops = Some(opt(&mut it).map_or(300, |v| v as usize)),
            "--ws-supervisors" => ws_sups = Some(opt(&mut it).map_or(20, |v| v as usize)),
            "--wrap-ms" => a.wrap_ms = opt(&mut it).map_or(a.wrap_ms, |v| v as u64),
            "--progress" => {
                a.progress_secs = opt(&mut it).map_or(a.progress_secs, |v| (v as u64).max(1));
            }
            _ => {} // cargo passes --bench
        }
    }
    if ws_ops.is_some() || ws_sups.is_some() {
        a.ws_operators = ws_ops.unwrap_or(300).min(a.operators);
        a.ws_supervisors = ws_sups.unwrap_or(20);
    }
    a
}

/// User + system CPU seconds of this process.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat; 11 and 12 after the ")".
    (ticks(11) + ticks(12)) / 100.0
}

/// A `/proc/self/status` field in KiB (VmRSS, VmHWM).
fn status_kib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// The engine's agents by state (as `/metrics` has them, refreshed every second).
fn agents(m: &kontakt_engine::Metrics) -> String {
    let by_state: Vec<String> = kontakt_acd::AgentStateKind::ALL
        .iter()
        .zip(&m.agents_by_state)
        .map(|(k, n)| (k.name(), n.load(Ordering::Relaxed)))
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    by_state.join(", ")
}

fn loadavg() -> String {
    let l = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

// ---- latency summaries ---------------------------------------------------------------------

/// Latencies in microseconds: 10 µs buckets below 100 ms, 1 ms buckets below 10 s, 100 ms
/// buckets up to 1,000 s; the maximum exact. Percentiles are the upper edge of their bucket
/// (capped at the maximum).
#[derive(Debug, Default)]
struct Lat {
    counts: Vec<u64>,
    n: u64,
    sum: u64,
    max: u64,
}

/// (first value, bucket width) of each tier, in µs; 10,000 buckets each.
const TIERS: [(u64, u64); 3] = [(0, 10), (100_000, 1_000), (10_000_000, 100_000)];
const PER_TIER: u64 = 10_000;

impl Lat {
    fn observe(&mut self, us: u64) {
        if self.counts.is_empty() {
            self.counts = vec![0; (PER_TIER as usize) * TIERS.len()];
        }
        let t = TIERS.iter().rposition(|(from, _)| us >= *from).unwrap_or(0);
        let (from, width) = TIERS[t];
        let i = (t as u64 * PER_TIER + ((us - from) / width).min(PER_TIER - 1)) as usize;
        self.counts[i] += 1;
        self.n += 1;
        self.sum += us;
        self.max = self.max.max(us);
    }

    fn quantile(&self, q: f64) -> u64 {
        let rank = ((q * self.n as f64).ceil() as u64).max(1);
        let mut acc = 0;
        for (i, c) in self.counts.iter().enumerate() {
            acc += c;
            if acc >= rank {
                let i = i as u64;
                let (from, width) = TIERS[(i / PER_TIER) as usize];
                return (from + (i % PER_TIER + 1) * width).min(self.max);
            }
        }
        self.max
    }

    fn summary(&self) -> Summary {
        if self.n == 0 {
            return Summary::default();
        }
        Summary {
            n: self.n,
            p50_us: self.quantile(0.50),
            p99_us: self.quantile(0.99),
            max_us: self.max,
            mean_us: self.sum / self.n,
        }
    }
}

#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
struct Summary {
    n: u64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    mean_us: u64,
}

impl Summary {
    fn from_engine(h: &kontakt_engine::Histogram) -> Summary {
        match h.percentiles() {
            Some((p50, p99, max)) => {
                Summary { n: h.count(), p50_us: p50, p99_us: p99, max_us: max, mean_us: 0 }
            }
            None => Summary::default(),
        }
    }

    fn line(&self, name: &str) -> String {
        if self.n == 0 {
            return format!("  {name:44} no samples");
        }
        let ms = |v: u64| format!("{:.2} ms", v as f64 / 1000.0);
        format!(
            "  {name:44} n={:8}  p50 {}  p99 {}  max {}",
            self.n,
            ms(self.p50_us),
            ms(self.p99_us),
            ms(self.max_us)
        )
    }
}

// ---- the WebSocket clients' process ----------------------------------------------------------

/// What the bench tells the clients' process (the first line of its stdin).
#[derive(Debug, Serialize, Deserialize)]
struct ClientPlan {
    addr: SocketAddr,
    /// API tokens of the operators and of the supervisors.
    operators: Vec<String>,
    supervisors: Vec<String>,
    wrap_ms: u64,
    seed: u64,
}

/// What the clients' process measured (one JSON line on its stdout after `stop`).
#[derive(Debug, Default, Serialize, Deserialize)]
struct ClientReport {
    operators_connected: usize,
    supervisors_connected: usize,
    /// Offer (the screen-pop's `at`) → the frame read by the operator's client.
    screen_pop: Summary,
    /// Every desk message: its `at` → read by the client.
    desk_message: Summary,
    /// Periodic wall board statistics: their `at` → read by the supervisor's client.
    wallboard_stats: Summary,
    /// Wall board `agent` and `call` messages: their `at` → read by the client.
    wallboard_event: Summary,
    /// Sampled every 100 ms per supervisor client: age of the newest statistics it holds.
    wallboard_staleness: Summary,
    /// Age of a supervisor client's newest statistics when the next replace them: the
    /// peaks of the staleness saw-tooth, exact.
    wallboard_staleness_peak: Summary,
    /// Time between two `stats` messages read by the same supervisor client.
    wallboard_stats_gap: Summary,
    messages: u64,
    bytes: u64,
    overflow_snapshots: u64,
    seq_gaps: u64,
    /// Messages whose time stamp was later than their receipt (clock stepped); not counted.
    negative: u64,
    /// Clients whose connection or HTTP request failed before the end.
    client_errors: u64,
    /// The operators' HTTP requests answered 5xx (or not at all), each tried again a second
    /// later.
    failed_requests: u64,
    cpu_secs: f64,
    window_secs: f64,
}

#[derive(Default)]
struct ClientStats {
    measuring: AtomicBool,
    screen_pop: Mutex<Lat>,
    desk_message: Mutex<Lat>,
    wallboard_stats: Mutex<Lat>,
    wallboard_event: Mutex<Lat>,
    wallboard_staleness: Mutex<Lat>,
    wallboard_staleness_peak: Mutex<Lat>,
    wallboard_stats_gap: Mutex<Lat>,
    messages: AtomicU64,
    bytes: AtomicU64,
    overflow_snapshots: AtomicU64,
    seq_gaps: AtomicU64,
    negative: AtomicU64,
    client_errors: AtomicU64,
    failed_requests: Arc<AtomicU64>,
    /// Operators that have seen themselves ready; supervisors that have their first snapshot.
    operators_ready: AtomicUsize,
    supervisors_connected: AtomicUsize,
}

impl ClientStats {
    fn observe(&self, lat: &Mutex<Lat>, received: DateTime<Utc>, stamp: Option<&str>) {
        if !self.measuring.load(Ordering::Relaxed) {
            return;
        }
        let Some(at) = stamp.and_then(|s| DateTime::parse_from_rfc3339(s).ok()) else { return };
        match (received - at.with_timezone(&Utc)).num_microseconds() {
            Some(us) if us >= 0 => lat.lock().unwrap().observe(us as u64),
            _ => {
                self.negative.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Checks a stream's sequence numbers: a snapshot restarts it.
struct SeqCheck(Option<u64>);

impl SeqCheck {
    fn check(&mut self, stats: &ClientStats, kind: &str, reason: Option<&str>, seq: u64) {
        let restart = matches!(kind, "snapshot" | "resumed");
        if restart {
            if reason == Some("overflow") {
                stats.overflow_snapshots.fetch_add(1, Ordering::Relaxed);
            }
        } else if let Some(last) = self.0
            && seq != last + 1
        {
            stats.seq_gaps.fetch_add(1, Ordering::Relaxed);
        }
        self.0 = Some(seq);
    }
}

#[derive(Deserialize)]
struct Frame<'a> {
    seq: u64,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    data: FrameData<'a>,
}

/// The few fields the clients look at; serde skips the rest (agents and calls of a snapshot).
#[derive(Deserialize)]
struct FrameData<'a> {
    #[serde(borrow, default)]
    at: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reason: Option<Cow<'a, str>>,
}

async fn supervisor_client(
    addr: SocketAddr,
    token: String,
    stats: Arc<ClientStats>,
    newest: Arc<AtomicI64>,
) -> anyhow::Result<()> {
    use futures_util::StreamExt as _;
    use tokio_tungstenite::tungstenite::Message;
    let mut ws = simops::connect_feed(addr, &token, Some("wallboard")).await?;
    let mut seq = SeqCheck(None);
    let mut last_stats: Option<DateTime<Utc>> = None;
    let mut connected = false;
    while let Some(msg) = ws.next().await {
        let received = Utc::now();
        let text = match msg? {
            Message::Text(t) => t,
            Message::Close(_) => break,
            _ => continue,
        };
        stats.messages.fetch_add(1, Ordering::Relaxed);
        stats.bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
        let f: Frame<'_> = serde_json::from_str(text.as_str())?;
        let reason = f.data.reason.as_deref();
        seq.check(&stats, &f.kind, reason, f.seq);
        let at = f.data.at.as_deref();
        match f.kind.as_ref() {
            "snapshot" | "stats" => {
                let held = newest.load(Ordering::Relaxed);
                if held > 0 && stats.measuring.load(Ordering::Relaxed) {
                    let age = received.timestamp_micros() - held;
                    stats.wallboard_staleness_peak.lock().unwrap().observe(age.max(0) as u64);
                }
                if let Some(at) = at.and_then(|s| s.parse::<DateTime<Utc>>().ok()) {
                    newest.store(at.timestamp_micros(), Ordering::Relaxed);
                }
                if f.kind == "stats" {
                    stats.observe(&stats.wallboard_stats, received, at);
                    if let Some(prev) = last_stats
                        && stats.measuring.load(Ordering::Relaxed)
                    {
                        let us = (received - prev).num_microseconds().unwrap_or(0).max(0);
                        stats.wallboard_stats_gap.lock().unwrap().observe(us as u64);
                    }
                    last_stats = Some(received);
                } else if !connected {
                    connected = true;
                    stats.supervisors_connected.fetch_add(1, Ordering::Relaxed);
                }
            }
            "agent" | "call" => stats.observe(&stats.wallboard_event, received, at),
            _ => {}
        }
    }
    Ok(())
}

/// `--ws-clients`: the clients' process. Reads its plan from stdin, connects, says
/// `connected`; `start` and `stop` bound the measured window (then it prints its report as
/// one JSON line); `close` drops every connection and says `closed`; end of stdin ends it.
fn clients_main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (tx, mut lines) = mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let plan: ClientPlan = serde_json::from_str(&lines.recv().await.unwrap()).unwrap();
        let stats = Arc::new(ClientStats::default());
        let addr = plan.addr;
        let mut tasks = Vec::new();
        let mut newest = Vec::new();
        for (i, token) in plan.supervisors.iter().enumerate() {
            let at = Arc::new(AtomicI64::new(0));
            newest.push(at.clone());
            let (stats, token) = (stats.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = supervisor_client(addr, token, stats.clone(), at).await {
                    eprintln!("supervisor client {i}: {e:#}");
                    stats.client_errors.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for (i, token) in plan.operators.iter().enumerate() {
            let op = simops::OperatorPlan {
                seed: plan.seed ^ i as u64,
                wrap_ms: 0..plan.wrap_ms,
                appeal_share: 0.5,
                pause_back: Duration::from_secs(5),
                failed_requests: stats.failed_requests.clone(),
            };
            let (stats, token) = (stats.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                let mut seq = SeqCheck(None);
                let mut ready = false;
                let s = stats.clone();
                let watch = move |m: &simops::Received| {
                    s.messages.fetch_add(1, Ordering::Relaxed);
                    let kind = m.msg["type"].as_str().unwrap_or_default();
                    let data = &m.msg["data"];
                    seq.check(
                        &s,
                        kind,
                        data["reason"].as_str(),
                        m.msg["seq"].as_u64().unwrap_or(0),
                    );
                    if kind == "snapshot" {
                        return;
                    }
                    s.observe(&s.desk_message, m.at, data["at"].as_str());
                    if kind == "screen_pop" {
                        s.observe(&s.screen_pop, m.at, data["at"].as_str());
                    }
                    if !ready && kind == "state" && data["state"] == "ready" {
                        ready = true;
                        s.operators_ready.fetch_add(1, Ordering::Relaxed);
                    }
                };
                if let Err(e) = simops::operator(addr, token, op, watch).await {
                    eprintln!("operator client {i}: {e:#}");
                    stats.client_errors.fetch_add(1, Ordering::Relaxed);
                }
            }));
            if i % 50 == 49 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        // Everyone connected (operators ready), or 60 s.
        let deadline = Instant::now() + Duration::from_secs(60);
        while (stats.operators_ready.load(Ordering::Relaxed) < plan.operators.len()
            || stats.supervisors_connected.load(Ordering::Relaxed) < plan.supervisors.len())
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!(
            "connected {} {}",
            stats.operators_ready.load(Ordering::Relaxed),
            stats.supervisors_connected.load(Ordering::Relaxed)
        );
        let (mut cpu0, mut t0) = (cpu_secs(), Instant::now());
        let mut sampler: Option<tokio::task::JoinHandle<()>> = None;
        while let Some(line) = lines.recv().await {
            match line.as_str() {
                "start" => {
                    (cpu0, t0) = (cpu_secs(), Instant::now());
                    stats.measuring.store(true, Ordering::Relaxed);
                    let (stats, newest) = (stats.clone(), newest.clone());
                    sampler = Some(tokio::spawn(async move {
                        let mut tick = tokio::time::interval(Duration::from_millis(100));
                        loop {
                            tick.tick().await;
                            let now = Utc::now().timestamp_micros();
                            let mut lat = stats.wallboard_staleness.lock().unwrap();
                            for at in &newest {
                                let at = at.load(Ordering::Relaxed);
                                if at > 0 {
                                    lat.observe((now - at).max(0) as u64);
                                }
                            }
                        }
                    }));
                }
                "stop" => {
                    stats.measuring.store(false, Ordering::Relaxed);
                    if let Some(s) = sampler.take() {
                        s.abort();
                    }
                    let sum = |l: &Mutex<Lat>| l.lock().unwrap().summary();
                    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
                    let report = ClientReport {
                        operators_connected: stats.operators_ready.load(Ordering::Relaxed),
                        supervisors_connected: stats.supervisors_connected.load(Ordering::Relaxed),
                        screen_pop: sum(&stats.screen_pop),
                        desk_message: sum(&stats.desk_message),
                        wallboard_stats: sum(&stats.wallboard_stats),
                        wallboard_event: sum(&stats.wallboard_event),
                        wallboard_staleness: sum(&stats.wallboard_staleness),
                        wallboard_staleness_peak: sum(&stats.wallboard_staleness_peak),
                        wallboard_stats_gap: sum(&stats.wallboard_stats_gap),
                        messages: load(&stats.messages),
                        bytes: load(&stats.bytes),
                        overflow_snapshots: load(&stats.overflow_snapshots),
                        seq_gaps: load(&stats.seq_gaps),
                        negative: load(&stats.negative),
                        client_errors: load(&stats.client_errors),
                        failed_requests: load(&stats.failed_requests),
                        cpu_secs: cpu_secs() - cpu0,
                        window_secs: t0.elapsed().as_secs_f64(),
                    };
                    println!("{}", serde_json::to_string(&report).unwrap());
                }
                "close" => {
                    for t in &tasks {
                        t.abort();
                    }
                    for t in tasks.drain(..) {
                        let _ = t.await;
                    }
                    println!("closed");
                }
                _ => {}
            }
            std::io::stdout().flush().unwrap();
        }
    });
}

/// A helper process (this program started again with a mode flag), seen from the bench: its
/// stdin and its stdout's lines. Its first stdin line is its plan, as JSON.
struct Child {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Child {
    fn spawn(mode: &str, plan: &impl Serialize) -> Child {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .arg(mode)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        writeln!(stdin, "{}", serde_json::to_string(plan).unwrap()).unwrap();
        Child { child, stdin, lines }
    }

    fn say(&mut self, what: &str) {
        writeln!(self.stdin, "{what}").unwrap();
        self.stdin.flush().unwrap();
    }

    async fn hear(&mut self) -> String {
        self.lines.recv().await.expect("the helper process ended")
    }

    /// Closes its stdin (which ends it) and waits for it.
    fn finish(self) {
        let Child { mut child, stdin, .. } = self;
        drop(stdin);
        let _ = child.wait();
    }
}

// ---- the emulator's process --------------------------------------------------------------------

/// What the bench tells the emulator's process.
#[derive(Debug, Serialize, Deserialize)]
struct EmulatorPlan {
    /// Kontakt's outbound socket, where the emulator sends each call.
    outbound: String,
    operators: usize,
    rate: f64,
    seconds: u64,
    talk: f64,
    /// Seconds a caller listens to each menu prompt before pressing a digit.
    listen: f64,
}

/// What the emulator's process reports when it has offered every call.
#[derive(Debug, Serialize, Deserialize)]
struct Offered {
    calls: usize,
    secs: f64,
}

/// What it reports when every channel has ended (or two minutes have passed).
#[derive(Debug, Serialize, Deserialize)]
struct EmulatorReport {
    /// The UUIDs of the calls it placed.
    placed: Vec<String>,
    peak_channels: usize,
    cpu_secs: f64,
    peak_rss_mib: f64,
}

/// `--emulator`: FreeSWITCH's side in a process of its own, so that the bench process's CPU
/// and memory are Kontakt's. Reads its plan, starts the emulator and says `ready <inbound
/// address>`; on `go` offers calls at the planned rate, says `offered <json>`, waits until
/// every channel has ended and says `idle <json>`.
fn emulator_main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut stdin = std::io::stdin().lock().lines();
        let plan: EmulatorPlan = serde_json::from_str(&stdin.next().unwrap().unwrap()).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let emu = Emulator::start(EmulatorConfig {
            listen: "127.0.0.1:0".into(),
            heartbeat_secs: 20.0,
            playback_secs: 3.0,
            dtmf_delay_secs: plan.listen,
            dialplan_preamble: false,
            sip_auth_events: false,
            outbound_socket: Some(plan.outbound.clone()),
            endpoints: (0..plan.operators)
                .map(|i| EndpointConfig {
                    user: (3000 + i).to_string(),
                    behaviour: EndpointBehaviour {
                        answer_after_secs: Some(rng.random_range(0.5..1.5)),
                        reject: None,
                        hangup_after_secs: None,
                    },
                })
                .collect(),
            // Everyone else is a citizen the engine calls back (a caller who gave up after
            // 30 s of waiting is owed a callback): they pick up and talk as long as a caller
            // does. Left at the default, a citizen never hung up, so each callback held its
            // operator `talking` for good — under a growing backlog that took operators one
            // by one until the queue ran away (the 2026-12-01 PostgreSQL run).
            default_endpoint: EndpointBehaviour {
                answer_after_secs: Some(3.0),
                reject: None,
                hangup_after_secs: Some(plan.talk),
            },
            ..Default::default()
        })
        .await
        .unwrap();
        println!("ready {}", emu.inbound_addr());
        std::io::stdout().flush().unwrap();
        let go = tokio::task::block_in_place(|| stdin.next());
        assert_eq!(go.and_then(Result::ok).as_deref(), Some("go"));
        let cpu0 = cpu_secs();
        let started = Instant::now();
        let gap = Duration::from_secs_f64(1.0 / plan.rate);
        let mut placed = Vec::new();
        let mut next = tokio::time::Instant::now();
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        while started.elapsed() < Duration::from_secs(plan.seconds) {
            tokio::time::sleep_until(next).await;
            next += gap;
            let number = format!("050{:07}", rng.random_range(0..9_999_999));
            let mut c = ScriptedCall::new(&number, "1580");
            c.digits = vec!["1".into(), if rng.random::<f64>() < 0.1 { "1" } else { "2" }.into()];
            c.talk_secs = Some(plan.talk * rng.random_range(0.75..1.25));
            c.patience_secs = Some(60.0);
            placed.push(emu.place_call(&c));
        }
        let offered = Offered { calls: placed.len(), secs: started.elapsed().as_secs_f64() };
        println!("offered {}", serde_json::to_string(&offered).unwrap());
        std::io::stdout().flush().unwrap();
        emu.wait_idle(Duration::from_secs(120)).await;
        let report = EmulatorReport {
            placed,
            peak_channels: emu.stats().peak_channels,
            cpu_secs: cpu_secs() - cpu0,
            peak_rss_mib: status_kib("VmHWM:") / 1024.0,
        };
        println!("idle {}", serde_json::to_string(&report).unwrap());
        std::io::stdout().flush().unwrap();
        // Stay up (the control connection open) until the bench closes stdin.
        tokio::task::block_in_place(|| for _ in stdin.by_ref() {});
    });
}

// ---- the bench -------------------------------------------------------------------------------

async fn open_store(
    backend: &str,
    dir: &std::path::Path,
) -> (Arc<dyn Store>, Option<(String, String)>) {
    if backend == "postgres" {
        let url = std::env::var("KONTAKT_TEST_PG_URL").unwrap_or_else(|_| PG_URL.into());
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

async fn new_user(store: &dyn Store, username: String, role: Role) -> kontakt_store::User {
    store
        .create_user(
            NewUser {
                display_name: username.clone(),
                username,
                role,
                password_hash: "-".into(),
                executor_id: None,
                must_change_password: false,
            },
            Utc::now(),
        )
        .await
        .unwrap()
}

fn main() {
    // Warnings and errors (a simulated operator that could not register an appeal, …) on
    // stderr; RUST_LOG overrides.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match std::env::args().nth(1).as_deref() {
        Some("--ws-clients") => return clients_main(),
        Some("--emulator") => return emulator_main(),
        _ => {}
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(bench(args()));
}

async fn bench(a: Args) {
    let load_start = loadavg();
    let dir = tempfile::tempdir().unwrap();
    let (store, pg) = open_store(&a.backend, dir.path()).await;
    store.migrate().await.unwrap();
    kontakt_web::seed::reference(store.as_ref()).await.unwrap();
    let mut bindings = Vec::new();
    for i in 0..a.operators {
        let u = new_user(store.as_ref(), format!("load-op-{i:04}"), Role::Operator).await;
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
    let mut emu = Child::spawn(
        "--emulator",
        &EmulatorPlan {
            outbound: outbound.clone(),
            operators: a.operators,
            rate: a.rate,
            seconds: a.seconds,
            talk: a.talk,
            listen: a.listen,
        },
    );
    let ready = emu.hear().await;
    let inbound = ready.strip_prefix("ready ").expect("the emulator's address").to_owned();
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
    let (client, events) = InboundClient::connect(InboundConfig::new(inbound, "ClueCon").events([
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_HOLD",
        "CHANNEL_UNHOLD",
    ]))
    .await
    .unwrap();
    engine.attach_node("kontakt-sim", client, events);
    let e = engine.clone();
    server.serve(move |call| kontakt_engine::run_call(e.clone(), call));

    // The first `ws_operators` seats work through the web application from the clients'
    // process; the others stay in-process.
    let (ws_seats, local_seats) = bindings.split_at(a.ws_operators);
    let ws_mode = a.ws_operators + a.ws_supervisors > 0;

    // Simulated operators in-process: one dispatcher reads the feed and hands each operator
    // its own messages; each operator links what it answered and is ready again.
    let mut per_op: HashMap<i64, mpsc::UnboundedSender<Arc<kontakt_engine::feed::OperatorMsg>>> =
        HashMap::new();
    for b in local_seats {
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
    for b in local_seats {
        engine.command(Command::Ready { user: b.user_id }).await.unwrap();
    }

    // The web application and its WebSocket clients.
    let mut clients = None;
    let mut rss_idle = (0.0, 0.0);
    if ws_mode {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = kontakt_web::AppState {
            store: store.clone(),
            settings: Arc::new(kontakt_web::WebSettings::default()),
            engine: Some(engine.clone()),
        };
        tokio::spawn(
            axum::serve(kontakt_web::listener(listener), kontakt_web::app(state)).into_future(),
        );
        let mut operators = Vec::new();
        for b in ws_seats {
            operators.push(simops::issue_token(store.as_ref(), b.user_id, "bench").await.unwrap());
        }
        let mut supervisors = Vec::new();
        for i in 0..a.ws_supervisors {
            let u = new_user(store.as_ref(), format!("load-sup-{i:02}"), Role::Supervisor).await;
            supervisors.push(simops::issue_token(store.as_ref(), u.id, "bench").await.unwrap());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = status_kib("VmRSS:");
        let mut c = Child::spawn(
            "--ws-clients",
            &ClientPlan { addr, operators, supervisors, wrap_ms: a.wrap_ms, seed: 5 },
        );
        let hello = c.hear().await;
        println!("websocket clients: {hello} (operators ready, supervisors with a snapshot)");
        tokio::time::sleep(Duration::from_secs(3)).await;
        rss_idle = (before, status_kib("VmRSS:"));
        c.say("start");
        clients = Some(c);
    }

    println!(
        "callflow bench: backend {}, {} calls/s for {} s, {} operators ({} over WebSocket + HTTP, wrap-up 0–{} ms), {} wall boards, talk ~{} s, {} s listening to each menu; load average {}",
        a.backend,
        a.rate,
        a.seconds,
        a.operators,
        a.ws_operators,
        a.wrap_ms,
        a.ws_supervisors,
        a.talk,
        a.listen,
        load_start
    );
    let cpu0 = cpu_secs();
    let started = Instant::now();
    emu.say("go");
    let every = Duration::from_secs(a.progress_secs);
    let mut progress = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let offered: Offered = loop {
        tokio::select! {
            line = emu.hear() => {
                let json = line.strip_prefix("offered ").expect("the emulator's offered line");
                break serde_json::from_str(json).unwrap();
            }
            _ = progress.tick() => {
                let m = engine.metrics();
                eprintln!(
                    "  … {:.0} s: {} answered, {} abandoned, {} waiting, {} live; agents: {}; ESL event lag {:.1} ms; load average {}",
                    started.elapsed().as_secs_f64(),
                    m.calls_answered.load(Ordering::Relaxed),
                    m.calls_abandoned.load(Ordering::Relaxed),
                    m.waiting_calls.load(Ordering::Relaxed),
                    m.live_calls.load(Ordering::Relaxed),
                    agents(m),
                    m.esl_event_lag_us.load(Ordering::Relaxed) as f64 / 1000.0,
                    loadavg()
                );
            }
        }
    };
    let offered_secs = offered.secs;
    let cpu1 = cpu_secs();
    let load_end = loadavg();
    let agents_end = agents(engine.metrics());
    let idle = emu.hear().await;
    let emu_report: EmulatorReport =
        serde_json::from_str(idle.strip_prefix("idle ").expect("the emulator's idle line"))
            .unwrap();
    let placed = emu_report.placed;
    engine.writer().sync().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    engine.writer().sync().await.unwrap();
    let window_secs = started.elapsed().as_secs_f64();
    let cpu2 = cpu_secs();
    let peak_mib = status_kib("VmHWM:") / 1024.0;
    let mut report = None;
    let mut rss_loaded = (0.0, 0.0);
    if let Some(c) = &mut clients {
        c.say("stop");
        let r: ClientReport = serde_json::from_str(&c.hear().await).unwrap();
        report = Some(r);
        let with = status_kib("VmRSS:");
        c.say("close");
        let _ = c.hear().await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        rss_loaded = (status_kib("VmRSS:"), with);
    }
    let peak_channels = emu_report.peak_channels;
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
    println!(
        "  callbacks            {} owed to callers who gave up",
        m.callbacks_created.load(Ordering::Relaxed)
    );
    let a_lat = Summary::from_engine(&m.answer_to_bridge);
    let b_pub = Summary::from_engine(&m.offer_to_pop);
    let b_written = Summary::from_engine(&m.offer_to_ws);
    println!("{}", a_lat.line("(a) leg answered → uuid_bridge"));
    println!("{}", b_pub.line("(b) offer → screen-pop published"));
    let server_cpu = (cpu1 - cpu0) / offered_secs * 100.0;
    let server_cpu_window = (cpu2 - cpu0) / window_secs * 100.0;
    let connections = (a.ws_operators + a.ws_supervisors) as f64;
    let per_conn_idle = (rss_idle.1 - rss_idle.0) / connections.max(1.0);
    let per_conn_loaded = (rss_loaded.1 - rss_loaded.0) / connections.max(1.0);
    if let Some(r) = &report {
        println!("{}", b_written.line("(b) offer → screen-pop written (server)"));
        println!("{}", r.screen_pop.line("(b) offer → screen-pop received (client)"));
        println!("{}", r.desk_message.line("    desk message at → received"));
        println!("{}", r.wallboard_stats.line("(c) wall board stats at → received"));
        println!("{}", r.wallboard_event.line("(c) wall board agent/call at → received"));
        println!("{}", r.wallboard_staleness.line("(c) newest stats' age (every 100 ms)"));
        println!("{}", r.wallboard_staleness_peak.line("(c) newest stats' age when replaced"));
        println!("{}", r.wallboard_stats_gap.line("    time between stats"));
        println!(
            "  websocket            {} operators + {} wall boards connected; {} messages, {:.1} MiB; {} overflow snapshots, {} sequence gaps, {} client errors, {} HTTP requests failed and retried, {} negative",
            r.operators_connected,
            r.supervisors_connected,
            r.messages,
            r.bytes as f64 / 1048576.0,
            r.overflow_snapshots,
            r.seq_gaps,
            r.client_errors,
            r.failed_requests,
            r.negative
        );
        println!(
            "  server memory        {:.0} KiB per connection idle ({:.0} → {:.0} MiB), {:.0} KiB after the load ({:.0} MiB connected, {:.0} MiB after they left)",
            per_conn_idle,
            rss_idle.0 / 1024.0,
            rss_idle.1 / 1024.0,
            per_conn_loaded,
            rss_loaded.1 / 1024.0,
            rss_loaded.0 / 1024.0
        );
        println!(
            "  clients' process     {:.0} % of one core over {:.0} s",
            r.cpu_secs / r.window_secs.max(1.0) * 100.0,
            r.window_secs
        );
    }
    println!(
        "  CPU                  {server_cpu:.0} % of one core while offering, {server_cpu_window:.0} % until drained (Kontakt and the in-process operators; 2 cores = 200 %)"
    );
    let emu_cpu = emu_report.cpu_secs / window_secs * 100.0;
    println!(
        "  emulator's process   {emu_cpu:.0} % of one core until drained, peak {:.0} MiB",
        emu_report.peak_rss_mib
    );
    println!(
        "  peak memory          {peak_mib:.0} MiB (VmHWM: Kontakt and the in-process operators)"
    );
    println!("  agents               {agents_end} (when the last call was placed)");
    let agents_drained = agents(m);
    println!(
        "  agents after drain   {agents_drained} ({} live calls left)",
        m.live_calls.load(Ordering::Relaxed)
    );
    println!("  lost records         {lost}");
    println!(
        "  journal              {} operations waiting, {} lost by the writer",
        m.writer.journal_depth.load(Ordering::Relaxed),
        m.writer.lost.load(Ordering::Relaxed)
    );
    println!("  load average         {load_start} at the start, {load_end} at the end of offering");
    let json = serde_json::json!({
        "bench": "callflow",
        "backend": a.backend,
        "rate": a.rate,
        "seconds": a.seconds,
        "operators": a.operators,
        "ws_operators": a.ws_operators,
        "ws_supervisors": a.ws_supervisors,
        "wrap_ms": a.wrap_ms,
        "talk": a.talk,
        "listen": a.listen,
        "calls": placed.len(),
        "answered": counts.connected,
        "abandoned": counts.abandoned,
        "callbacks_created": m.callbacks_created.load(Ordering::Relaxed),
        "linked_to_appeal": counts.linked_to_appeal,
        "other_outcome": counts.other_outcome,
        "lost_records": lost,
        "agents_at_end_of_offering": agents_end,
        "agents_after_drain": agents_drained,
        "writer_lost": m.writer.lost.load(Ordering::Relaxed),
        "peak_channels": peak_channels,
        "answer_to_bridge": a_lat,
        "offer_to_pop_published": b_pub,
        "offer_to_pop_written": b_written,
        "clients": report,
        "server_cpu_pct": server_cpu,
        "server_cpu_pct_until_drained": server_cpu_window,
        "peak_rss_mib": peak_mib,
        "emulator_cpu_pct_until_drained": emu_cpu,
        "rss_per_connection_kib_idle": per_conn_idle,
        "rss_per_connection_kib_after_load": per_conn_loaded,
        "loadavg_start": load_start,
        "loadavg_end": load_end,
    });
    println!("{json}");
    // The end of their stdin ends the helper processes.
    if let Some(c) = clients {
        c.finish();
    }
    emu.finish();
    engine.shutdown();
    if std::env::var_os("KONTAKT_BENCH_KEEP").is_some() {
        match &pg {
            Some((_, schema)) => println!("  kept                 PostgreSQL schema {schema}"),
            None => println!("  kept                 {}", dir.keep().join("bench.db").display()),
        }
        return;
    }
    if let Some((url, schema)) = pg {
        drop(store);
        let admin = sqlx::PgPool::connect(&url).await.unwrap();
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&admin)
            .await;
    }
}
