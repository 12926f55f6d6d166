//! Queueing-theory formulas used for staffing and for checking the simulator:
//! Erlang B, Erlang C (M/M/N) and Erlang A (M/M/N+M, exponential patience).
//!
//! Conventions (see `contact-center.md` §4.1): offered load `A = λ·AHT` in Erlangs,
//! times in seconds. Service level is the fraction of *all arrivals* answered within
//! `T` seconds; for Erlang C nobody abandons, so this equals "answered within T over
//! answered". For Erlang A it equals the router's default convention
//! (answered within T over answered + abandoned) with a short-abandon threshold of 0.
//!
//! All functions are total: invalid inputs (negative, NaN, zero agents, unstable
//! Erlang C) yield well-defined values (`P_w = 1`, infinite ASA, SL 0) instead of panics.

use serde::Serialize;

/// True for a finite, strictly positive number (false for NaN).
fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// Erlang B blocking probability for `n` servers and `a` Erlangs, by the stable
/// recursion `B₀ = 1, B_k = A·B_{k−1}/(k + A·B_{k−1})`.
pub fn erlang_b(n: u32, a: f64) -> f64 {
    if !positive(a) {
        return 0.0;
    }
    let mut b = 1.0;
    for k in 1..=n {
        b = a * b / (f64::from(k) + a * b);
    }
    b
}

/// Erlang C results for one staffing level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ErlangC {
    /// Number of agents.
    pub agents: u32,
    /// Offered load in Erlangs.
    pub load: f64,
    /// Probability that an arrival waits (P_w).
    pub p_wait: f64,
    /// Average speed of answer over all calls, seconds.
    pub asa_s: f64,
    /// Fraction answered within the threshold.
    pub service_level: f64,
    /// Agent occupancy ρ = A/N.
    pub occupancy: f64,
}

/// Erlang C probability of waiting `P_w = N·B_N / (N − A·(1 − B_N))`; 1 when `N ≤ A`.
pub fn erlang_c_p_wait(n: u32, a: f64) -> f64 {
    if !positive(a) {
        return 0.0;
    }
    let nf = f64::from(n);
    if nf <= a {
        return 1.0;
    }
    let b = erlang_b(n, a);
    (nf * b / (nf - a * (1.0 - b))).clamp(0.0, 1.0)
}

/// Erlang C metrics: `ASA = P_w·AHT/(N−A)`, `SL(T) = 1 − P_w·e^{−(N−A)·T/AHT}`.
pub fn erlang_c(n: u32, calls_per_hour: f64, aht_s: f64, sl_threshold_s: f64) -> ErlangC {
    let a = offered_load(calls_per_hour, aht_s);
    let nf = f64::from(n);
    let p_wait = erlang_c_p_wait(n, a);
    let (asa_s, service_level) = if a <= 0.0 {
        (0.0, 1.0)
    } else if nf <= a || !positive(aht_s) {
        (f64::INFINITY, 0.0)
    } else {
        let asa = p_wait * aht_s / (nf - a);
        let sl = 1.0 - p_wait * (-(nf - a) * sl_threshold_s.max(0.0) / aht_s).exp();
        (asa, sl.clamp(0.0, 1.0))
    };
    let occupancy = if n == 0 { 1.0 } else { (a / nf).min(1.0) };
    ErlangC { agents: n, load: a, p_wait, asa_s, service_level, occupancy }
}

/// Offered load in Erlangs from calls per hour and average handle time (seconds).
pub fn offered_load(calls_per_hour: f64, aht_s: f64) -> f64 {
    let a = calls_per_hour * aht_s / 3600.0;
    if a.is_finite() && a > 0.0 { a } else { 0.0 }
}

/// Erlang A (M/M/N+M) results for one staffing level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ErlangA {
    /// Number of agents.
    pub agents: u32,
    /// Offered load in Erlangs.
    pub load: f64,
    /// Probability that an arrival has to wait (finds all agents busy).
    pub p_wait: f64,
    /// Probability that an answered call had to wait (P(wait | answered)), the
    /// simulator's `p_wait` definition.
    pub p_wait_answered: f64,
    /// Probability that an arrival abandons.
    pub p_abandon: f64,
    /// Mean wait of answered calls, seconds.
    pub asa_s: f64,
    /// Mean time in queue over all arrivals (answered and abandoned), seconds.
    pub mean_wait_all_s: f64,
    /// Fraction of all arrivals answered within the threshold.
    pub service_level: f64,
    /// Agent occupancy: carried load / N.
    pub occupancy: f64,
}

/// Erlang A with mean patience `patience_s` (abandon rate θ = 1/patience).
///
/// The birth–death chain is solved directly (π_k ∝ A^k/k! up to N, then multiplied by
/// λ/(Nμ + jθ)), truncated where terms become negligible. The answered-within-T
/// probability follows a tagged arrival through the queue: with `m` callers ahead it
/// advances at rate `Nμ + mθ` and abandons at rate θ; the transient solution is
/// computed by uniformization.
pub fn erlang_a(
    n: u32,
    calls_per_hour: f64,
    aht_s: f64,
    patience_s: f64,
    sl_threshold_s: f64,
) -> ErlangA {
    let a = offered_load(calls_per_hour, aht_s);
    let empty = ErlangA {
        agents: n,
        load: a,
        p_wait: 0.0,
        p_wait_answered: 0.0,
        p_abandon: 0.0,
        asa_s: 0.0,
        mean_wait_all_s: 0.0,
        service_level: 1.0,
        occupancy: 0.0,
    };
    if a <= 0.0 || !positive(aht_s) {
        return empty;
    }
    let lambda = calls_per_hour / 3600.0;
    let mu = 1.0 / aht_s;
    // Infinite/absent patience would make the chain unstable for N ≤ A; clamp to a huge
    // but finite patience so the function stays total.
    let theta = if patience_s.is_finite() && patience_s > 0.0 { 1.0 / patience_s } else { 1e-9 };
    let nmu = f64::from(n) * mu;

    // Unnormalized π_k in log space is unnecessary for realistic sizes if we scale as we
    // go: compute terms relative to π_0 = 1, rescaling when they grow large.
    let mut head: Vec<f64> = Vec::with_capacity(n as usize + 1); // k = 0..=n
    let mut term = 1.0f64;
    head.push(term);
    for k in 1..=n {
        term *= a / f64::from(k);
        head.push(term);
        if term > 1e250 {
            for v in &mut head {
                *v /= 1e250;
            }
            term /= 1e250;
        }
    }
    // Tail k = n + j, j ≥ 1; `queue[j]` = π_{n+j}.
    let mut queue: Vec<f64> = vec![term];
    let mut t = term;
    let mut j = 1u32;
    loop {
        t *= lambda / (nmu + f64::from(j) * theta);
        queue.push(t);
        j += 1;
        let decaying = lambda < nmu + f64::from(j) * theta;
        if !t.is_finite() || (decaying && t / term.max(1e-300) < 1e-18) || j > 200_000 {
            break;
        }
    }
    let sum_head: f64 = head.iter().take(n as usize).sum(); // k < n
    let sum_queue: f64 = queue.iter().sum(); // k ≥ n
    let z = sum_head + sum_queue;
    if !positive(z) {
        return empty;
    }
    let p_wait = sum_queue / z;
    // queue[j] (j = number already waiting when the arrival comes) for j ≥ 0.
    let mut served = sum_head / z; // immediate service
    let mut wait_served = 0.0;
    let mut s_prev = 1.0; // s_{-1}
    let mut w_prev = 0.0; // w_{-1}
    let mut mean_q = 0.0;
    let mut s_by_m: Vec<f64> = Vec::with_capacity(queue.len());
    for (m, &pi) in queue.iter().enumerate() {
        let mf = m as f64;
        let adv = nmu + mf * theta;
        let total = adv + theta;
        let p_adv = adv / total;
        let s = p_adv * s_prev;
        let w = p_adv * (s_prev / total + w_prev);
        let p = pi / z;
        served += p * s;
        wait_served += p * w;
        mean_q += mf * p;
        s_by_m.push(s);
        s_prev = s;
        w_prev = w;
    }
    let p_abandon = (1.0 - served).clamp(0.0, 1.0);
    let asa_s = if served > 0.0 { wait_served / served } else { f64::INFINITY };
    let p_wait_answered =
        if served > 0.0 { ((served - sum_head / z) / served).clamp(0.0, 1.0) } else { 1.0 };
    let mean_wait_all_s = mean_q / lambda;
    let sl_queue = served_within(&queue, &s_by_m, z, nmu, theta, sl_threshold_s.max(0.0));
    let service_level = (sum_head / z + sl_queue).clamp(0.0, 1.0);
    let carried = a * (1.0 - p_abandon);
    let occupancy = if n == 0 { 1.0 } else { (carried / f64::from(n)).min(1.0) };
    ErlangA {
        agents: n,
        load: a,
        p_wait,
        p_wait_answered,
        p_abandon,
        asa_s,
        mean_wait_all_s,
        service_level,
        occupancy,
    }
}

/// Probability that an arrival who finds `m` callers waiting (weight `queue[m]/z`) is
/// answered within `t` seconds: uniformization of the tagged-customer chain.
fn served_within(
    queue: &[f64],
    served_eventually: &[f64],
    z: f64,
    nmu: f64,
    theta: f64,
    t: f64,
) -> f64 {
    if queue.is_empty() || t.is_nan() || t <= 0.0 {
        return 0.0;
    }
    // Only states with non-negligible initial mass matter; the chain only moves down.
    let mut len = queue.len();
    while len > 1 && queue[len - 1] / z < 1e-15 {
        len -= 1;
    }
    let mut v: Vec<f64> = queue[..len].iter().map(|p| p / z).collect();
    let rate_max = nmu + (len as f64) * theta + theta;
    let lt = rate_max * t;
    if !lt.is_finite() || lt > 1e5 {
        // T is far beyond any realistic wait: everyone who will be served is served by T.
        return queue.iter().zip(served_eventually).map(|(p, s)| p / z * s).sum();
    }
    let mut served = 0.0; // absorbed mass after k jumps
    let mut result = 0.0;
    // Poisson weights computed iteratively in log space for numerical range.
    let mut log_w = -lt; // log P(K = 0)
    let mut cum = 0.0;
    let max_k = (lt + 12.0 * lt.sqrt() + 50.0) as usize;
    let mut next = vec![0.0; len];
    for k in 0..=max_k {
        let w = log_w.exp();
        result += w * served;
        cum += w;
        if cum > 1.0 - 1e-13 && k as f64 > lt {
            break;
        }
        // one DTMC step
        for x in next.iter_mut() {
            *x = 0.0;
        }
        for m in 0..len {
            let p = v[m];
            if p == 0.0 {
                continue;
            }
            let adv = (nmu + m as f64 * theta) / rate_max;
            let ab = theta / rate_max;
            let stay = 1.0 - adv - ab;
            next[m] += p * stay;
            if m == 0 {
                served += p * adv;
            } else {
                next[m - 1] += p * adv;
            }
        }
        std::mem::swap(&mut v, &mut next);
        log_w += lt.ln() - ((k + 1) as f64).ln();
    }
    // Remaining Poisson mass (if truncated early) contributes at most its weight.
    result += (1.0 - cum).max(0.0) * served;
    result
}

/// Result of a staffing search.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StaffingReport {
    /// Smallest number of agents meeting the target.
    pub agents: u32,
    /// Offered load in Erlangs.
    pub load: f64,
    /// Probability of waiting at that staffing.
    pub p_wait: f64,
    /// Mean wait of answered calls, seconds.
    pub asa_s: f64,
    /// Service level at that staffing.
    pub service_level: f64,
    /// Probability of abandonment (0 for Erlang C).
    pub p_abandon: f64,
    /// Agent occupancy.
    pub occupancy: f64,
    /// "erlang-c" or "erlang-a".
    pub model: &'static str,
}

/// Smallest staffing whose service level reaches `sl_target`: Erlang A when `patience_s`
/// is given, Erlang C otherwise. The search is bounded (A + 20·√A + 50 agents), so the
/// result is the bound if the target cannot be met (e.g. a target of 1.0).
pub fn staffing(
    calls_per_hour: f64,
    aht_s: f64,
    sl_target: f64,
    sl_threshold_s: f64,
    patience_s: Option<f64>,
) -> StaffingReport {
    let a = offered_load(calls_per_hour, aht_s);
    let upper = (a + 20.0 * a.sqrt() + 50.0).min(1_000_000.0) as u32;
    let start = match patience_s {
        Some(_) => 1,
        None => (a.floor() as u32).saturating_add(1).max(1),
    };
    let mut last = None;
    for n in start..=upper.max(start) {
        let report = staffing_at(n, calls_per_hour, aht_s, sl_threshold_s, patience_s);
        let ok = report.service_level >= sl_target;
        last = Some(report);
        if ok {
            break;
        }
    }
    last.unwrap_or_else(|| staffing_at(start, calls_per_hour, aht_s, sl_threshold_s, patience_s))
}

/// Metrics for a given staffing level, in the same shape as [`staffing`].
pub fn staffing_at(
    n: u32,
    calls_per_hour: f64,
    aht_s: f64,
    sl_threshold_s: f64,
    patience_s: Option<f64>,
) -> StaffingReport {
    match patience_s {
        Some(p) => {
            let r = erlang_a(n, calls_per_hour, aht_s, p, sl_threshold_s);
            StaffingReport {
                agents: n,
                load: r.load,
                p_wait: r.p_wait,
                asa_s: r.asa_s,
                service_level: r.service_level,
                p_abandon: r.p_abandon,
                occupancy: r.occupancy,
                model: "erlang-a",
            }
        }
        None => {
            let r = erlang_c(n, calls_per_hour, aht_s, sl_threshold_s);
            StaffingReport {
                agents: n,
                load: r.load,
                p_wait: r.p_wait,
                asa_s: r.asa_s,
                service_level: r.service_level,
                p_abandon: 0.0,
                occupancy: r.occupancy,
                model: "erlang-c",
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn erlang_c_golden_a48() {
        // contact-center.md §4.2: 360 calls / 30 min = 720/h, AHT 240 s, T = 15 s.
        let golden = [
            (52, 0.4660, 27.96, 0.6371, 0.923),
            (53, 0.3765, 18.07, 0.7245, 0.906),
            (54, 0.3013, 12.05, 0.7929, 0.889),
            (55, 0.2387, 8.18, 0.8459, 0.873),
            (56, 0.1872, 5.61, 0.8865, 0.857),
        ];
        for (n, pw, asa, sl, occ) in golden {
            let r = erlang_c(n, 720.0, 240.0, 15.0);
            assert!(close(r.p_wait, pw, 6e-5), "N={n} P_w {}", r.p_wait);
            assert!(close(r.asa_s, asa, 6e-3), "N={n} ASA {}", r.asa_s);
            assert!(close(r.service_level, sl, 6e-5), "N={n} SL {}", r.service_level);
            assert!(close(r.occupancy, occ, 6e-4), "N={n} occ {}", r.occupancy);
        }
    }

    #[test]
    fn erlang_c_small_cases_and_staffing() {
        let r6 = erlang_c(6, 100.0, 180.0, 20.0);
        assert!(close(r6.p_wait, 0.5875, 6e-5), "{}", r6.p_wait);
        assert!(close(r6.asa_s, 105.8, 0.06), "{}", r6.asa_s);
        assert!(close(r6.service_level, 0.474, 6e-4), "{}", r6.service_level);
        let r7 = erlang_c(7, 100.0, 180.0, 20.0);
        assert!(close(r7.p_wait, 0.3241, 6e-5));
        assert!(close(r7.asa_s, 29.2, 0.06));
        assert!(close(r7.service_level, 0.740, 6e-4));

        let s = staffing(720.0, 240.0, 0.8, 20.0, None);
        assert_eq!(s.agents, 54);
        assert!(close(s.service_level, 0.817, 6e-4), "{}", s.service_level);
    }

    #[test]
    fn municipal_sizing_table() {
        // (calls/h, AHT, N for 80/20, N for 80/60)
        let rows = [
            (150.0, 180.0, 11, 10),
            (300.0, 180.0, 19, 18),
            (500.0, 180.0, 30, 28),
            (500.0, 240.0, 39, 37),
            (1000.0, 180.0, 56, 54),
            (2000.0, 180.0, 107, 104),
        ];
        for (cph, aht, n20, n60) in rows {
            assert_eq!(staffing(cph, aht, 0.8, 20.0, None).agents, n20, "{cph} {aht} 80/20");
            assert_eq!(staffing(cph, aht, 0.8, 60.0, None).agents, n60, "{cph} {aht} 80/60");
        }
    }

    #[test]
    fn erlang_a_golden() {
        // λ = 300/h, AHT 180 s (A = 15), patience 120 s.
        let golden = [
            (14, 0.583, 0.149, 17.8),
            (15, 0.488, 0.113, 13.5),
            (16, 0.395, 0.083, 9.9),
            (18, 0.232, 0.041, 4.9),
            (20, 0.117, 0.017, 2.1),
        ];
        for (n, pw, pab, wait) in golden {
            let r = erlang_a(n, 300.0, 180.0, 120.0, 20.0);
            assert!(close(r.p_wait, pw, 6e-4), "N={n} P_w {}", r.p_wait);
            assert!(close(r.p_abandon, pab, 6e-4), "N={n} P_ab {}", r.p_abandon);
            assert!(close(r.mean_wait_all_s, wait, 0.06), "N={n} W {}", r.mean_wait_all_s);
            // Little's law cross-check: P(ab) = θ·E[W_all].
            assert!(close(r.p_abandon, r.mean_wait_all_s / 120.0, 1e-6));
            assert!(r.service_level > 0.0 && r.service_level < 1.0);
            assert!(r.asa_s < r.mean_wait_all_s / (1.0 - r.p_abandon) + 1e-9);
        }
        // Cross-checked against long runs of the simulator (2,000 h, two seeds):
        // N=15: P(wait|answered) 0.424, ASA 12.35 s, SL(15) 0.640;
        // N=18: 0.197, 4.28 s, 0.857.
        let r = erlang_a(15, 300.0, 180.0, 120.0, 15.0);
        assert!(close(r.p_wait_answered, 0.424, 0.005), "{r:?}");
        assert!(close(r.asa_s, 12.35, 0.2), "{r:?}");
        assert!(close(r.service_level, 0.640, 0.005), "{r:?}");
        let r = erlang_a(18, 300.0, 180.0, 120.0, 15.0);
        assert!(close(r.p_wait_answered, 0.197, 0.005), "{r:?}");
        assert!(close(r.asa_s, 4.28, 0.1), "{r:?}");
        assert!(close(r.service_level, 0.857, 0.005), "{r:?}");
    }

    #[test]
    fn erlang_a_tends_to_erlang_c_with_huge_patience() {
        let a = erlang_a(54, 720.0, 240.0, 1e9, 15.0);
        let c = erlang_c(54, 720.0, 240.0, 15.0);
        assert!(close(a.p_wait, c.p_wait, 1e-4), "{} {}", a.p_wait, c.p_wait);
        assert!(close(a.asa_s, c.asa_s, 0.02), "{} {}", a.asa_s, c.asa_s);
        assert!(
            close(a.service_level, c.service_level, 1e-4),
            "{} {}",
            a.service_level,
            c.service_level
        );
    }

    #[test]
    fn total_on_garbage() {
        for v in [f64::NAN, -1.0, 0.0, f64::INFINITY] {
            let _ = erlang_c(0, v, v, v);
            let _ = erlang_a(0, v, v, v, v);
            let _ = staffing(v, v, v, v, Some(v));
            let _ = erlang_b(3, v);
        }
    }
}
