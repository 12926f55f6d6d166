//! Measurement of simulated calls: totals and batch means for 99 % confidence
//! intervals (30 batches by arrival time; Student t with 29 degrees of freedom).

use serde::Serialize;

use crate::model::Millis;

const BATCHES: usize = 30;
/// Two-sided 99 % Student t quantile for 29 degrees of freedom.
const T_99_29: f64 = 2.756;

/// A confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ci {
    /// Batch-means estimate.
    pub mean: f64,
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

impl Ci {
    /// Whether `x` lies in the interval.
    pub fn contains(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }
}

/// 99 % confidence intervals of the main metrics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Cis {
    /// Of `p_wait`.
    pub p_wait: Ci,
    /// Of `p_wait_all`.
    pub p_wait_all: Ci,
    /// Of `asa_s`.
    pub asa_s: Ci,
    /// Of `service_level`.
    pub service_level: Ci,
    /// Of `p_abandon`.
    pub p_abandon: Ci,
}

/// What a simulation measured (calls arriving after warm-up and before the horizon).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimReport {
    /// Calls that arrived.
    pub offered: u64,
    /// Calls answered by an agent (callbacks excluded).
    pub answered: u64,
    /// Callers who hung up before being answered (short abandons included).
    pub abandoned: u64,
    /// Of which short abandons.
    pub abandoned_short: u64,
    /// Calls that left by overflow to a message or voicemail.
    pub exited: u64,
    /// Calls turned into callbacks.
    pub callbacks: u64,
    /// Fraction of answered calls that waited at all.
    pub p_wait: f64,
    /// Fraction of all arrivals that found no agent free (waited at all, whether
    /// answered or abandoned): Erlang A's `P(wait)`.
    pub p_wait_all: f64,
    /// Mean wait of answered calls, seconds.
    pub asa_s: f64,
    /// Answered within T / (answered + abandoned after the short threshold).
    pub service_level: f64,
    /// Abandoned / offered.
    pub p_abandon: f64,
    /// Mean time in queue over answered and abandoned calls, seconds.
    pub mean_wait_all_s: f64,
    /// Agent occupancy over the arrival horizon (router statistics).
    pub occupancy: f64,
    /// 99 % confidence intervals by batch means.
    pub ci99: Cis,
}

#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    offered: u64,
    answered: u64,
    waited: u64,
    wait_ms: u64,
    within: u64,
    abandoned: u64,
    abandoned_short: u64,
    abandon_wait_ms: u64,
    abandoned_waited: u64,
    exited: u64,
    callbacks: u64,
}

impl Acc {
    fn add(&mut self, o: &Acc) {
        self.offered += o.offered;
        self.answered += o.answered;
        self.waited += o.waited;
        self.wait_ms += o.wait_ms;
        self.within += o.within;
        self.abandoned += o.abandoned;
        self.abandoned_short += o.abandoned_short;
        self.abandon_wait_ms += o.abandon_wait_ms;
        self.abandoned_waited += o.abandoned_waited;
        self.exited += o.exited;
        self.callbacks += o.callbacks;
    }
    fn p_wait(&self) -> f64 {
        div(self.waited as f64, self.answered as f64)
    }
    fn p_wait_all(&self) -> f64 {
        div((self.waited + self.abandoned_waited) as f64, (self.answered + self.abandoned) as f64)
    }
    fn asa_s(&self) -> f64 {
        div(self.wait_ms as f64 / 1000.0, self.answered as f64)
    }
    fn sl(&self) -> f64 {
        div(self.within as f64, (self.answered + self.abandoned - self.abandoned_short) as f64)
    }
    fn p_abandon(&self) -> f64 {
        div(self.abandoned as f64, self.offered as f64)
    }
}

fn div(n: f64, d: f64) -> f64 {
    if d > 0.0 { n / d } else { 0.0 }
}

pub(crate) struct Collector {
    /// `acc[stream][batch]`.
    acc: Vec<[Acc; BATCHES]>,
    warmup: u64,
    span: u64,
    sl_ms: u64,
    short_ms: u64,
}

impl Collector {
    pub(crate) fn new(
        streams: usize,
        warmup: u64,
        horizon: u64,
        sl_ms: u64,
        short_ms: u64,
    ) -> Collector {
        Collector {
            acc: vec![[Acc::default(); BATCHES]; streams],
            warmup,
            span: horizon.saturating_sub(warmup).max(1),
            sl_ms,
            short_ms,
        }
    }

    fn slot(&mut self, stream: u32, arrival: Millis) -> Option<&mut Acc> {
        let b = (u128::from(arrival.0.saturating_sub(self.warmup)) * BATCHES as u128
            / u128::from(self.span)) as usize;
        self.acc.get_mut(stream as usize).and_then(|s| s.get_mut(b.min(BATCHES - 1)))
    }

    pub(crate) fn offered(&mut self, stream: u32, arrival: Millis) {
        if let Some(a) = self.slot(stream, arrival) {
            a.offered += 1;
        }
    }
    pub(crate) fn answered(&mut self, stream: u32, arrival: Millis, wait_ms: u64) {
        let sl = self.sl_ms;
        if let Some(a) = self.slot(stream, arrival) {
            a.answered += 1;
            a.wait_ms += wait_ms;
            a.waited += u64::from(wait_ms > 0);
            a.within += u64::from(wait_ms <= sl);
        }
    }
    pub(crate) fn abandoned(&mut self, stream: u32, arrival: Millis, wait_ms: u64) {
        let short = self.short_ms;
        if let Some(a) = self.slot(stream, arrival) {
            a.abandoned += 1;
            a.abandon_wait_ms += wait_ms;
            a.abandoned_short += u64::from(wait_ms < short);
            a.abandoned_waited += u64::from(wait_ms > 0);
        }
    }
    pub(crate) fn exited(&mut self, stream: u32, arrival: Millis) {
        if let Some(a) = self.slot(stream, arrival) {
            a.exited += 1;
        }
    }
    pub(crate) fn callback(&mut self, stream: u32, arrival: Millis) {
        if let Some(a) = self.slot(stream, arrival) {
            a.callbacks += 1;
        }
    }

    /// Report for one stream, or all streams (`None`).
    pub(crate) fn report(&self, stream: Option<usize>, occupancy: f64) -> SimReport {
        let mut batches = [Acc::default(); BATCHES];
        for (i, s) in self.acc.iter().enumerate() {
            if stream.is_some_and(|x| x != i) {
                continue;
            }
            for (b, a) in batches.iter_mut().zip(s.iter()) {
                b.add(a);
            }
        }
        let mut total = Acc::default();
        for b in &batches {
            total.add(b);
        }
        let ci = |f: fn(&Acc) -> f64| -> Ci {
            let xs: Vec<f64> = batches.iter().map(f).collect();
            let n = xs.len() as f64;
            let mean = xs.iter().sum::<f64>() / n;
            let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
            let half = T_99_29 * (var / n).sqrt();
            Ci { mean, lo: mean - half, hi: mean + half }
        };
        SimReport {
            offered: total.offered,
            answered: total.answered,
            abandoned: total.abandoned,
            abandoned_short: total.abandoned_short,
            exited: total.exited,
            callbacks: total.callbacks,
            p_wait: total.p_wait(),
            p_wait_all: total.p_wait_all(),
            asa_s: total.asa_s(),
            service_level: total.sl(),
            p_abandon: total.p_abandon(),
            mean_wait_all_s: div(
                (total.wait_ms + total.abandon_wait_ms) as f64 / 1000.0,
                (total.answered + total.abandoned) as f64,
            ),
            occupancy,
            ci99: Cis {
                p_wait: ci(Acc::p_wait),
                p_wait_all: ci(Acc::p_wait_all),
                asa_s: ci(Acc::asa_s),
                service_level: ci(Acc::sl),
                p_abandon: ci(Acc::p_abandon),
            },
        }
    }
}
