//! The simulator driving the real router matches queueing theory: Erlang C for a
//! single FIFO queue with infinite patience (contact-center.md §4.2, A = 48 E,
//! N = 52…56) and Erlang A with exponential patience (§4.2, A = 15 E, patience 120 s).
//!
//! Each check asks that the theoretical value lies inside the simulator's 99 %
//! batch-means confidence interval (30 batches). Runs are seeded, so they are
//! deterministic. Sample sizes are chosen so each test stays within a few seconds in
//! a debug build.

use kontakt_acd::erlang::{erlang_a, erlang_c};
use kontakt_acd::sim::{SingleQueueParams, simulate_single_queue};

fn check_erlang_c(n: u32, hours: f64, seed: u64) {
    let p = SingleQueueParams {
        agents: n,
        calls_per_hour: 720.0,
        aht_s: 240.0,
        patience_s: None,
        wrap_up_s: 0.0,
        hours,
        seed,
        sl_threshold_s: 15.0,
    };
    let sim = simulate_single_queue(&p);
    let th = erlang_c(n, 720.0, 240.0, 15.0);
    eprintln!(
        "N={n}: sim P_w {:.4} [{:.4},{:.4}] th {:.4} | ASA {:.2} [{:.2},{:.2}] th {:.2} | SL {:.4} [{:.4},{:.4}] th {:.4} | calls {}",
        sim.p_wait,
        sim.ci99.p_wait.lo,
        sim.ci99.p_wait.hi,
        th.p_wait,
        sim.asa_s,
        sim.ci99.asa_s.lo,
        sim.ci99.asa_s.hi,
        th.asa_s,
        sim.service_level,
        sim.ci99.service_level.lo,
        sim.ci99.service_level.hi,
        th.service_level,
        sim.offered
    );
    assert_eq!(sim.abandoned, 0);
    assert!(sim.offered > 0 && sim.answered == sim.offered);
    assert!(
        sim.ci99.p_wait.contains(th.p_wait),
        "N={n} P_w {:?} vs {}",
        sim.ci99.p_wait,
        th.p_wait
    );
    assert!(sim.ci99.asa_s.contains(th.asa_s), "N={n} ASA {:?} vs {}", sim.ci99.asa_s, th.asa_s);
    assert!(
        sim.ci99.service_level.contains(th.service_level),
        "N={n} SL {:?} vs {}",
        sim.ci99.service_level,
        th.service_level
    );
    // Occupancy: carried load / N within 1 % absolute.
    assert!(
        (sim.occupancy - th.occupancy).abs() < 0.01,
        "occupancy {} vs {}",
        sim.occupancy,
        th.occupancy
    );
}

const HOURS: f64 = 400.0;

#[test]
fn erlang_c_n52() {
    check_erlang_c(52, HOURS, 52);
}
#[test]
fn erlang_c_n53() {
    check_erlang_c(53, HOURS, 53);
}
#[test]
fn erlang_c_n54() {
    check_erlang_c(54, HOURS, 54);
}
#[test]
fn erlang_c_n55() {
    check_erlang_c(55, HOURS, 55);
}
#[test]
fn erlang_c_n56() {
    check_erlang_c(56, HOURS, 56);
}

fn check_erlang_a(n: u32, hours: f64, seed: u64) {
    let p = SingleQueueParams {
        agents: n,
        calls_per_hour: 300.0,
        aht_s: 180.0,
        patience_s: Some(120.0),
        wrap_up_s: 0.0,
        hours,
        seed,
        sl_threshold_s: 15.0,
    };
    let sim = simulate_single_queue(&p);
    let th = erlang_a(n, 300.0, 180.0, 120.0, 15.0);
    eprintln!(
        "N={n}: sim P_w(all) {:.4} th {:.4} | P_w(answered) {:.4} th {:.4} | P_ab {:.4} th {:.4} | ASA {:.2} th {:.2} | SL {:.4} th {:.4} | calls {}",
        sim.p_wait_all,
        th.p_wait,
        sim.p_wait,
        th.p_wait_answered,
        sim.p_abandon,
        th.p_abandon,
        sim.asa_s,
        th.asa_s,
        sim.service_level,
        th.service_level,
        sim.offered
    );
    let c = &sim.ci99;
    assert!(c.p_wait_all.contains(th.p_wait), "P_w {:?} vs {}", c.p_wait_all, th.p_wait);
    assert!(
        c.p_wait.contains(th.p_wait_answered),
        "P_w|ans {:?} vs {}",
        c.p_wait,
        th.p_wait_answered
    );
    assert!(c.p_abandon.contains(th.p_abandon), "P_ab {:?} vs {}", c.p_abandon, th.p_abandon);
    assert!(c.asa_s.contains(th.asa_s), "ASA {:?} vs {}", c.asa_s, th.asa_s);
    assert!(
        c.service_level.contains(th.service_level),
        "SL {:?} vs {}",
        c.service_level,
        th.service_level
    );
}

#[test]
fn erlang_a_n15() {
    check_erlang_a(15, 600.0, 15);
}
#[test]
fn erlang_a_n18() {
    check_erlang_a(18, 600.0, 18);
}

#[test]
fn wrap_up_blocks_agents_like_longer_handle_time() {
    // AHT 240 s made of 200 s exponential talk + 40 s fixed wrap-up: the handle time is
    // no longer exponential, so only check the load-level facts (occupancy, answered).
    let p = SingleQueueParams {
        agents: 54,
        calls_per_hour: 720.0,
        aht_s: 240.0,
        patience_s: None,
        wrap_up_s: 40.0,
        hours: 20.0,
        seed: 9,
        sl_threshold_s: 15.0,
    };
    let sim = simulate_single_queue(&p);
    assert!((sim.occupancy - 48.0 / 54.0).abs() < 0.02, "{}", sim.occupancy);
    assert_eq!(sim.answered, sim.offered);
}
