#![allow(clippy::unwrap_used, clippy::print_stdout)]
//! Back-pressure: a fast fake FreeSWITCH pushes many events while the consumer is slow.
//! The client must keep reading the socket (the server's writes complete), keep its queue
//! within its bounds, shed by the documented policy, count what it shed, and keep memory
//! bounded. Process memory is read from /proc/self/status (this file is its own test
//! binary, and its tests run one after the other under a lock).
//!
//! `KONTAKT_SLOW_EVENTS` sets the event count of the big test: default 1,000,000 in an
//! optimised build (`cargo test --release`), 300,000 in a debug build so that the plain
//! `cargo test` stays well under 30 s on two shared cores (1,000,000 take 25-35 s there;
//! run `KONTAKT_SLOW_EVENTS=1000000 cargo test ...` for the full count in debug).

mod common;

use std::time::{Duration, Instant};

use common::{FakeSwitch, event};
use kontakt_esl::server;
use kontakt_switch::{EssentialEvents, InboundClient, OverloadPolicy, QueueStats, RecvError};
use tokio::io::AsyncWriteExt;

/// The tests measure process memory: never run two at once.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A plausible non-essential event (~1 KB, like PRESENCE_IN / sofia::register) or an
/// essential channel event.
fn sample(i: u64, essential: bool) -> kontakt_esl::Event {
    let idx = i.to_string();
    let mut h: Vec<(&str, &str)> = vec![
        ("Core-UUID", "4f1b5d8e-6c6e-4b9f-9a3e-1e2f3a4b5c6d"),
        ("FreeSWITCH-Hostname", "fs1.kontakt.example"),
        ("FreeSWITCH-Switchname", "fs1"),
        ("FreeSWITCH-IPv4", "10.0.0.5"),
        ("Event-Date-Local", "2026-11-30 09:15:00"),
        ("Event-Date-GMT", "Mon, 30 Nov 2026 07:15:00 GMT"),
        ("Event-Calling-File", "switch_channel.c"),
        ("Event-Calling-Function", "switch_channel_perform_set_callstate"),
        ("Unique-ID", "9b0c6f5e-8f0a-4d1e-b5a3-2c4d6e8f0a1b"),
        ("Caller-Caller-ID-Number", "+380501234567"),
        ("Caller-Destination-Number", "1580"),
        ("Channel-Name", "sofia/external/+380501234567@10.0.0.1"),
        ("variable_kontakt_line", "short_1580"),
        ("variable_sip_from_user", "+380501234567"),
        ("variable_sip_P-Asserted-Identity", "<sip:+380501234567@10.0.0.1>"),
        ("Index", &idx),
    ];
    h.extend([("Presence-Call-Direction", "inbound"), ("Channel-State", "CS_EXECUTE")]);
    event(if essential { "CHANNEL_CALLSTATE" } else { "PRESENCE_IN" }, &h, None)
}

struct Run {
    sent: u64,
    sent_essential: u64,
    delivered: u64,
    delivered_essential: u64,
    lagged: u64,
    stats: QueueStats,
    rss_before_kib: u64,
    rss_peak_kib: u64,
    elapsed: Duration,
}

/// Pushes `total` events (every `essential_every`-th essential) as fast as the socket
/// takes them, then a final marker; the consumer takes one event per millisecond until
/// the server has written everything, then drains.
async fn run(total: u64, essential_every: u64, policy: OverloadPolicy) -> Run {
    let fs = FakeSwitch::start("ClueCon").await;
    let mut cfg = fs.config().events(["ALL"]);
    cfg.liveness_timeout = None;
    cfg.queue = policy.clone();
    let rss_before_kib = status_kib("VmRSS:");
    let (r, mut conn) = tokio::join!(InboundClient::connect(cfg), fs.accept_and_subscribe());
    let (client, mut rx) = r.unwrap();
    let capacity = policy.capacity;

    // Pre-encode one batch of 1,000 frames (distinct Index values per position).
    const BATCH: u64 = 1_000;
    let mut batch = Vec::new();
    let mut batch_essential = 0;
    for i in 0..BATCH {
        let essential = i % essential_every == 0;
        batch_essential += u64::from(essential);
        server::event_plain(&mut batch, &sample(i, essential));
    }
    assert_eq!(total % BATCH, 0);
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        for _ in 0..total / BATCH {
            conn.stream.write_all(&batch).await.unwrap();
        }
        conn.event(&event("CUSTOM", &[("Event-Subclass", "kontakt::test_done")], None)).await;
        let _ = done_tx.send(());
        conn
    });

    let mut delivered = 0u64;
    let mut delivered_essential = 0u64;
    let mut lagged = 0u64;
    let mut rss_peak_kib = status_kib("VmRSS:");
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut slow = true;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        if slow {
            tokio::select! {
                _ = tick.tick() => {}
                _ = &mut done_rx => { slow = false; }
            }
        }
        let r = tokio::time::timeout_at(deadline, rx.recv()).await.expect("test exceeded 120 s");
        match r {
            Ok(ev) => {
                if ev.subclass() == Some("kontakt::test_done") {
                    break;
                }
                delivered += 1;
                if ev.name() == Some("CHANNEL_CALLSTATE") {
                    delivered_essential += 1;
                }
                if delivered.is_multiple_of(256) {
                    rss_peak_kib = rss_peak_kib.max(status_kib("VmRSS:"));
                    assert!(rx.stats().len <= capacity);
                }
            }
            Err(RecvError::Lagged(n)) => lagged += n,
            Err(RecvError::Closed) => panic!("stream closed early"),
        }
    }
    let elapsed = started.elapsed();
    rss_peak_kib = rss_peak_kib.max(status_kib("VmRSS:"));
    let _conn = tokio::time::timeout(Duration::from_secs(10), writer).await.unwrap().unwrap();
    let stats = client.stats().queue;
    client.shutdown().await;
    Run {
        sent: total,
        sent_essential: total / BATCH * batch_essential,
        delivered,
        delivered_essential,
        lagged,
        stats,
        rss_before_kib,
        rss_peak_kib,
        elapsed,
    }
}

fn report(name: &str, r: &Run) {
    let s = &r.stats;
    println!(
        "{name}: sent {} ({} essential) in {:.1?}; delivered {} ({} essential); shed {} \
         non-essential + {} essential (lagged {}); queue max {} events / {} KiB (est.); \
         RSS {} KiB -> peak {} KiB (+{} KiB)",
        r.sent,
        r.sent_essential,
        r.elapsed,
        r.delivered,
        r.delivered_essential,
        s.shed_nonessential,
        s.shed_essential,
        r.lagged,
        s.max_len,
        s.max_bytes / 1024,
        r.rss_before_kib,
        r.rss_peak_kib,
        r.rss_peak_kib.saturating_sub(r.rss_before_kib),
    );
}

/// The acceptance test: 1,000,000 events (300,000 in debug by default), 0.1 % of them essential, consumer at ~1,000
/// events/s while the switch sends. Nothing essential may be lost; memory stays within
/// the queue's bound plus buffers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn million_events_slow_consumer_bounded_memory() {
    let _serial = SERIAL.lock().await;
    let total: u64 = std::env::var("KONTAKT_SLOW_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 300_000 } else { 1_000_000 });
    let policy = OverloadPolicy { capacity: 10_000, ..OverloadPolicy::default() };
    let r = run(total, 1_000, policy.clone()).await;
    report("million_events_slow_consumer", &r);
    let s = r.stats;
    // The reader read everything (the writer finished), nothing essential was shed.
    assert_eq!(s.received, r.sent + 1);
    assert_eq!(s.received, s.delivered + s.shed());
    assert_eq!(s.delivered, r.delivered + 1);
    assert_eq!(s.shed_essential, 0);
    assert_eq!(r.lagged, 0);
    assert_eq!(r.delivered_essential, r.sent_essential);
    assert!(s.shed_nonessential > 0, "the consumer was not slow enough to test shedding");
    // Bounds: the queue never exceeded its capacity, and memory grew by at most the
    // queue's worth of events (measured ~1.1 KB/event here) plus buffers: 64 MiB.
    assert!(s.max_len <= policy.capacity, "{s:?}");
    let growth_kib = r.rss_peak_kib.saturating_sub(r.rss_before_kib);
    assert!(growth_kib < 64 * 1024, "RSS grew by {growth_kib} KiB");
}

/// Everything essential and a small queue: the oldest are shed, the consumer is told by
/// `Lagged`, and the counts add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_essential_overflow_reports_lag() {
    let _serial = SERIAL.lock().await;
    let policy =
        OverloadPolicy { capacity: 500, essential: EssentialEvents::all(), ..Default::default() };
    let r = run(50_000, 1, policy).await;
    report("all_essential_overflow", &r);
    let s = r.stats;
    assert_eq!(s.received, r.sent + 1);
    assert_eq!(s.received, s.delivered + s.shed());
    assert!(s.shed_essential > 0);
    assert_eq!(r.lagged, s.shed_essential, "every essential loss is reported");
    assert!(s.max_len <= 500);
}
