//! Random variates for the simulator: service-time distributions and Poisson
//! arrivals (optionally with an hourly day profile, by thinning).

use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

/// A duration distribution, parameters in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Dist {
    /// Always `secs`.
    Const {
        /// Value.
        secs: f64,
    },
    /// Exponential with mean `mean`.
    Exp {
        /// Mean.
        mean: f64,
    },
    /// Log-normal with the given mean and standard deviation.
    LogNormal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        sd: f64,
    },
}

impl Dist {
    /// Mean in seconds.
    pub fn mean(&self) -> f64 {
        match *self {
            Dist::Const { secs } => secs,
            Dist::Exp { mean } | Dist::LogNormal { mean, .. } => mean,
        }
    }

    /// One sample in seconds (never negative, never NaN).
    pub fn sample_s(&self, rng: &mut StdRng) -> f64 {
        let v = match *self {
            Dist::Const { secs } => secs,
            Dist::Exp { mean } => exp(rng, mean),
            Dist::LogNormal { mean, sd } => {
                if mean.is_nan() || mean <= 0.0 {
                    0.0
                } else {
                    let s2 = (1.0 + (sd * sd) / (mean * mean)).ln();
                    let mu = mean.ln() - s2 / 2.0;
                    (mu + s2.sqrt() * normal(rng)).exp()
                }
            }
        };
        if v.is_finite() && v > 0.0 { v } else { 0.0 }
    }

    /// One sample in whole milliseconds (rounded).
    pub fn sample_ms(&self, rng: &mut StdRng) -> u64 {
        (self.sample_s(rng) * 1000.0).round().min(1e15) as u64
    }
}

/// Exponential variate with mean `mean` (0 for a non-positive mean).
pub(crate) fn exp(rng: &mut StdRng, mean: f64) -> f64 {
    if !mean.is_finite() || mean <= 0.0 {
        return 0.0;
    }
    let u: f64 = rng.random();
    -mean * (1.0 - u).ln()
}

/// Standard normal variate (Box–Muller).
pub(crate) fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random();
    let u2: f64 = rng.random();
    (-2.0 * (1.0 - u1).ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Poisson arrival process with rate `calls_per_hour` × `profile[hour of day]`.
#[derive(Debug, Clone)]
pub struct Arrivals {
    base_per_ms: f64,
    profile: Vec<f64>,
    max_mult: f64,
}

impl Arrivals {
    /// `profile` (24 multipliers, cycled by hour) is optional; missing = flat.
    pub fn new(calls_per_hour: f64, profile: Option<&[f64]>) -> Arrivals {
        let profile: Vec<f64> = match profile {
            Some(p) if !p.is_empty() => {
                p.iter().map(|m| if m.is_finite() { m.max(0.0) } else { 0.0 }).collect()
            }
            _ => vec![1.0],
        };
        let max_mult = profile.iter().copied().fold(0.0, f64::max);
        let base = if calls_per_hour.is_finite() { calls_per_hour.max(0.0) } else { 0.0 };
        Arrivals { base_per_ms: base / 3_600_000.0, profile, max_mult }
    }

    fn mult(&self, t_ms: f64) -> f64 {
        if self.profile.len() == 1 {
            return self.profile[0];
        }
        let hour = (t_ms / 3_600_000.0).floor() as usize % 24;
        self.profile.get(hour % self.profile.len()).copied().unwrap_or(0.0)
    }

    /// Next arrival strictly after `t_ms` (None if the rate is zero), by thinning.
    pub fn next_after(&self, t_ms: f64, rng: &mut StdRng) -> Option<f64> {
        let max_rate = self.base_per_ms * self.max_mult;
        if !max_rate.is_finite() || max_rate <= 0.0 {
            return None;
        }
        let mut t = t_ms;
        // Bounded loop: with a profile that is zero for most hours thinning rejects a
        // lot, but each rejection still advances time.
        for _ in 0..10_000_000 {
            t += exp(rng, 1.0 / max_rate);
            let accept: f64 = rng.random();
            if accept * self.max_mult <= self.mult(t) {
                return Some(t);
            }
        }
        None
    }
}
