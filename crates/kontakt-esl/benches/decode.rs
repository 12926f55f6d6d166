//! Decode throughput on the real captures: whole `.rx` streams of the echo_9196 and
//! originate_bgapi scenarios, plain and json (and xml for comparison), decoded repeatedly
//! on one core, events parsed. Each stream is measured twice: `<name>/bytes` reports MB/s,
//! `<name>/events` reports events/s (only the events of the stream are counted; the few
//! reply frames are decoded too but not counted, so the figure is conservative).
//!
//! Run: `CARGO_TARGET_DIR=/work/main/target-esl cargo bench -p kontakt-esl`

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
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

fn bench(c: &mut Criterion) {
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

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
