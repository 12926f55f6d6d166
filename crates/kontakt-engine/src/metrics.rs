//! Counters and gauges for `/metrics`. Written by the engine task (and the record writer),
//! read by the web layer: atomics only, no routing state behind them.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use crate::journal::WriterStats;

/// A fixed-bucket latency histogram (microseconds), cheap to update from one task.
#[derive(Debug)]
pub struct Histogram {
    bounds_us: &'static [u64],
    counts: Vec<AtomicU64>,
    sum_us: AtomicU64,
    max_us: AtomicU64,
    samples: Mutex<Vec<u32>>,
}

const BOUNDS_US: &[u64] =
    &[100, 250, 500, 1_000, 2_500, 5_000, 10_000, 20_000, 50_000, 100_000, 250_000, 1_000_000];
/// Exact samples kept for percentiles in benchmarks (the newest this many).
const MAX_SAMPLES: usize = 1_000_000;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            bounds_us: BOUNDS_US,
            counts: (0..=BOUNDS_US.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
            samples: Mutex::new(Vec::new()),
        }
    }
}

impl Histogram {
    pub fn observe_us(&self, us: u64) {
        let i = self.bounds_us.iter().position(|b| us <= *b).unwrap_or(self.bounds_us.len());
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
        if let Ok(mut s) = self.samples.lock()
            && s.len() < MAX_SAMPLES
        {
            s.push(u32::try_from(us).unwrap_or(u32::MAX));
        }
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// (p50, p99, max) in microseconds over the kept samples.
    pub fn percentiles(&self) -> Option<(u64, u64, u64)> {
        let mut s = self.samples.lock().ok()?.clone();
        if s.is_empty() {
            return None;
        }
        s.sort_unstable();
        let at = |q: f64| u64::from(s[((s.len() - 1) as f64 * q).round() as usize]);
        Some((at(0.50), at(0.99), u64::from(*s.last()?)))
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut acc = 0;
        for (i, b) in self.bounds_us.iter().enumerate() {
            acc += self.counts[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {acc}", *b as f64 / 1e6);
        }
        acc += self.counts[self.bounds_us.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {acc}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_us.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {acc}");
    }
}

/// Everything `/metrics` shows.
#[derive(Debug, Default)]
pub struct Metrics {
    pub calls_started: AtomicU64,
    pub calls_answered: AtomicU64,
    pub calls_abandoned: AtomicU64,
    pub calls_ivr_ended: AtomicU64,
    pub calls_linked_appeal: AtomicU64,
    pub calls_other_outcome: AtomicU64,
    pub calls_reconciled_closed: AtomicU64,
    pub callbacks_created: AtomicU64,
    pub recordings_deleted: AtomicU64,
    /// Offers rung after the desk confirmed the screen-pop, and after the deadline instead.
    pub pop_before_ring: AtomicU64,
    pub pop_late: AtomicU64,
    pub waiting_calls: AtomicI64,
    pub live_calls: AtomicI64,
    /// Service level of all queues, per mille (-1 when nothing was measured yet).
    pub service_level_permille: AtomicI64,
    /// Agents by state, in `kontakt_acd::AgentStateKind::ALL` order.
    pub agents_by_state: [AtomicI64; 8],
    pub esl_connected: AtomicBool,
    /// Microseconds between FreeSWITCH's `Event-Date-Timestamp` and our receipt of the last
    /// inbound event (clock skew between machines shows here too).
    pub esl_event_lag_us: AtomicI64,
    pub engine_alive: AtomicBool,
    /// ESL event in (the operator's leg answered) → `uuid_bridge` sent.
    pub answer_to_bridge: Histogram,
    /// Offer decided → screen-pop handed to the operator's feed.
    pub offer_to_pop: Histogram,
    /// Offer → screen-pop written to the operator's WebSocket (measured by the web layer).
    pub offer_to_ws: Histogram,
    pub writer: Arc<WriterStats>,
}

impl Metrics {
    pub fn new(writer: Arc<WriterStats>) -> Self {
        Metrics { writer, ..Default::default() }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let g = |v: &AtomicU64| v.load(Ordering::Relaxed);
        let _ = writeln!(
            o,
            "# HELP kontakt_calls_total Calls by outcome.\n# TYPE kontakt_calls_total counter"
        );
        for (outcome, v) in [
            ("started", g(&self.calls_started)),
            ("answered", g(&self.calls_answered)),
            ("abandoned", g(&self.calls_abandoned)),
            ("ended_in_ivr", g(&self.calls_ivr_ended)),
            ("linked_to_appeal", g(&self.calls_linked_appeal)),
            ("other_outcome", g(&self.calls_other_outcome)),
            ("closed_by_reconciliation", g(&self.calls_reconciled_closed)),
            ("callbacks_created", g(&self.callbacks_created)),
        ] {
            let _ = writeln!(o, "kontakt_calls_total{{outcome=\"{outcome}\"}} {v}");
        }
        let _ = writeln!(
            o,
            "# HELP kontakt_screen_pops_total Offers to an operator with the desk open, by whether the desk had the screen-pop before the phone rang.\n# TYPE kontakt_screen_pops_total counter\nkontakt_screen_pops_total{{before_ring=\"true\"}} {}\nkontakt_screen_pops_total{{before_ring=\"false\"}} {}",
            g(&self.pop_before_ring),
            g(&self.pop_late)
        );
        let _ = writeln!(
            o,
            "# HELP kontakt_recordings_deleted_total Recordings and voicemail messages deleted at the end of their retention.\n# TYPE kontakt_recordings_deleted_total counter\nkontakt_recordings_deleted_total {}",
            g(&self.recordings_deleted)
        );
        let gauge = |o: &mut String, name: &str, help: &str, v: i64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge(
            &mut o,
            "kontakt_waiting_calls",
            "Calls waiting in queues.",
            self.waiting_calls.load(Ordering::Relaxed),
        );
        gauge(
            &mut o,
            "kontakt_live_calls",
            "Calls Kontakt is handling.",
            self.live_calls.load(Ordering::Relaxed),
        );
        let sl = self.service_level_permille.load(Ordering::Relaxed);
        if sl >= 0 {
            let _ = writeln!(
                o,
                "# HELP kontakt_service_level Service level over all queues (0..1).\n# TYPE kontakt_service_level gauge\nkontakt_service_level {}",
                sl as f64 / 1000.0
            );
        }
        let _ = writeln!(o, "# HELP kontakt_agents Agents by state.\n# TYPE kontakt_agents gauge");
        for (i, k) in kontakt_acd::AgentStateKind::ALL.iter().enumerate() {
            let _ = writeln!(
                o,
                "kontakt_agents{{state=\"{}\"}} {}",
                k.name(),
                self.agents_by_state[i].load(Ordering::Relaxed)
            );
        }
        gauge(
            &mut o,
            "kontakt_esl_connected",
            "1 when every FreeSWITCH node's control connection is up.",
            i64::from(self.esl_connected.load(Ordering::Relaxed)),
        );
        gauge(
            &mut o,
            "kontakt_esl_event_lag_microseconds",
            "Lag of the last inbound ESL event.",
            self.esl_event_lag_us.load(Ordering::Relaxed),
        );
        gauge(
            &mut o,
            "kontakt_engine_alive",
            "1 while the engine task runs.",
            i64::from(self.engine_alive.load(Ordering::Relaxed)),
        );
        let w = &self.writer;
        gauge(
            &mut o,
            "kontakt_journal_depth",
            "Call-record operations waiting in the local journal.",
            w.journal_depth.load(Ordering::Relaxed) as i64,
        );
        gauge(
            &mut o,
            "kontakt_journal_bytes",
            "Size of the local journal.",
            w.journal_bytes.load(Ordering::Relaxed) as i64,
        );
        gauge(
            &mut o,
            "kontakt_database_up",
            "0 while call-record writes fail.",
            i64::from(w.db_up.load(Ordering::Relaxed)),
        );
        gauge(
            &mut o,
            "kontakt_database_write_last_microseconds",
            "Duration of the last call-record batch.",
            w.last_write_us.load(Ordering::Relaxed) as i64,
        );
        let _ = writeln!(
            o,
            "# HELP kontakt_call_records_total Call-record operations.\n# TYPE kontakt_call_records_total counter"
        );
        for (what, v) in [("written", &w.written), ("rejected", &w.rejected), ("lost", &w.lost)] {
            let _ = writeln!(
                o,
                "kontakt_call_records_total{{result=\"{what}\"}} {}",
                v.load(Ordering::Relaxed)
            );
        }
        self.answer_to_bridge.render(
            &mut o,
            "kontakt_answer_to_bridge_seconds",
            "Operator leg answered (ESL event in) to uuid_bridge sent.",
        );
        self.offer_to_pop.render(
            &mut o,
            "kontakt_offer_to_screen_pop_seconds",
            "Offer decided to screen-pop published.",
        );
        self.offer_to_ws.render(
            &mut o,
            "kontakt_offer_to_websocket_seconds",
            "Offer decided to screen-pop written to the operator's WebSocket.",
        );
        o
    }
}
