//! Decode throughput on the real captures: whole `.rx` streams of the echo_9196 and
//! originate_bgapi scenarios, plain and json (and xml for comparison), decoded repeatedly
//! on one core, events parsed. Each stream is measured twice: `<name>/bytes` reports MB/s,
//! `<name>/events` reports events/s (only the events of the stream are counted; the few
//! reply frames are decoded too but not counted, so the figure is conservative).
//!
//! Run: `CARGO_TARGET_DIR=/work/main/target-esl cargo bench -p kontakt-esl`
//!
//! With `KONTAKT_BENCH_CLOCK=cpu` the clock is the bench thread's CPU time (Linux,
//! `/proc/thread-self/schedstat`) instead of the wall clock: on a shared machine the wall
//! clock also counts the time other processes held the core, which is what made the same
//! binary measure anywhere between 170k and 280k events/s. CPU time still feels the
//! neighbours through shared caches, but not through time slicing.

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput};
use kontakt_esl::Decoder;

fn load(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)).unwrap()
}

fn decode_all(bytes: &[u8]) -> usize {
    let mut dec = Decoder::new();
    dec.feed(bytes);
    let mut n = 0;
    while let Some(m) = dec.decode().unwrap() {
        black_box(&m);
        n += 1;
    }
    n
}

fn bench<M: Measurement>(c: &mut Criterion<M>) {
    for (name, rel) in [
        ("echo_plain", "echo_9196/esl_plain.rx"),
        ("echo_json", "echo_9196/esl_json.rx"),
        ("echo_xml", "echo_9196/esl_xml.rx"),
        ("originate_plain", "originate_bgapi/esl_plain.rx"),
        ("originate_json", "originate_bgapi/esl_json.rx"),
    ] {
        let bytes = load(rel);
        let frames = decode_all(&bytes);
        // Count the events alone (the other frames are a handful of replies).
        let events = {
            let mut dec = Decoder::new();
            dec.feed(&bytes);
            let mut n = 0;
            while let Some(m) = dec.decode().unwrap() {
                n += usize::from(m.content_type().is_event());
            }
            n
        };
        eprintln!("{name}: {} bytes, {frames} frames, {events} events", bytes.len());
        let mut g = c.benchmark_group("decode");
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(format!("{name}/bytes"), |b| b.iter(|| decode_all(black_box(&bytes))));
        g.throughput(Throughput::Elements(events as u64));
        g.bench_function(format!("{name}/events"), |b| b.iter(|| decode_all(black_box(&bytes))));
        g.finish();
    }
}

/// CPU time of the calling thread, with the wall clock's formatting (both are
/// nanoseconds).
struct ThreadCpuTime(WallTime);

/// Nanoseconds the calling thread has run (0 where `/proc` does not say).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = Duration;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> Duration {
        Duration::from_nanos(thread_cpu_ns().saturating_sub(start))
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, d: &Duration) -> f64 {
        d.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self.0.formatter()
    }
}

fn config<M: Measurement>(c: Criterion<M>) -> Criterion<M> {
    c.sample_size(30).measurement_time(Duration::from_secs(3)).configure_from_args()
}

fn main() {
    if std::env::var("KONTAKT_BENCH_CLOCK").is_ok_and(|v| v == "cpu") {
        let mut c = config(Criterion::default().with_measurement(ThreadCpuTime(WallTime)));
        bench(&mut c);
        c.final_summary();
    } else {
        let mut c = config(Criterion::default());
        bench(&mut c);
        c.final_summary();
    }
}
