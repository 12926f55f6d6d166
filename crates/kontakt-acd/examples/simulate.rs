//! Ad-hoc run of the single-queue simulator: `cargo run --release --example simulate -- N CPH AHT HOURS [PATIENCE]`.
#![allow(clippy::print_stdout, clippy::unwrap_used)]
use kontakt_acd::sim::{SingleQueueParams, simulate_single_queue};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let p = SingleQueueParams {
        agents: a.get(1).and_then(|s| s.parse().ok()).unwrap_or(54),
        calls_per_hour: a.get(2).and_then(|s| s.parse().ok()).unwrap_or(720.0),
        aht_s: a.get(3).and_then(|s| s.parse().ok()).unwrap_or(240.0),
        hours: a.get(4).and_then(|s| s.parse().ok()).unwrap_or(100.0),
        patience_s: a.get(5).and_then(|s| s.parse().ok()),
        wrap_up_s: 0.0,
        seed: a.get(6).and_then(|s| s.parse().ok()).unwrap_or(7),
        sl_threshold_s: 15.0,
    };
    let t = std::time::Instant::now();
    let r = simulate_single_queue(&p);
    println!("{}", serde_json::to_string_pretty(&r).unwrap());
    println!("elapsed {:?}", t.elapsed());
}
