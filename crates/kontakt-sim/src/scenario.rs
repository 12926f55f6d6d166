//! Call scenarios: scripted (a list of calls) or random (Poisson arrivals, IVR choices,
//! exponential patience and talk time) with a seeded RNG, so runs repeat.

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// A scenario, as JSON: `{"type":"scripted","calls":[...]}` or
/// `{"type":"random","seed":1,"calls_per_hour":120,...}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Scenario {
    /// Exactly these calls.
    Scripted {
        /// The calls, in any order.
        calls: Vec<ScriptedCall>,
    },
    /// Calls drawn from distributions.
    Random(RandomScenario),
}

/// One call of a scenario (also the argument of `EmulatorHandle::place_call`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScriptedCall {
    /// Seconds after the scenario starts.
    #[serde(default)]
    pub at_secs: f64,
    /// Caller number (`Caller-Caller-ID-Number`).
    pub caller: String,
    /// Caller name; defaults to the number.
    #[serde(default)]
    pub caller_name: Option<String>,
    /// Dialled number (`Caller-Destination-Number`).
    pub destination: String,
    /// What the caller presses at each `play_and_get_digits` / `read` prompt, in order.
    #[serde(default)]
    pub digits: Vec<String>,
    /// Hang up if not bridged to an agent within this many seconds (abandon).
    #[serde(default)]
    pub patience_secs: Option<f64>,
    /// Hang up this many seconds after being bridged to an agent.
    #[serde(default)]
    pub talk_secs: Option<f64>,
    /// Hang up this many seconds after calling, whatever happens.
    #[serde(default)]
    pub hangup_after_secs: Option<f64>,
    /// Digits sent (RFC 2833, `DTMF` events) at given times after calling, whatever
    /// application runs (e.g. a caller pressing keys during a playback).
    #[serde(default)]
    pub dtmf: Vec<TimedDigits>,
}

/// Digits pressed at a time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TimedDigits {
    /// Seconds after the call started.
    pub at_secs: f64,
    /// The digits (`0-9*#A-D`).
    pub digits: String,
}

impl ScriptedCall {
    /// A call from `caller` to `destination` now, with no script.
    pub fn new(caller: &str, destination: &str) -> Self {
        ScriptedCall {
            at_secs: 0.0,
            caller: caller.into(),
            caller_name: None,
            destination: destination.into(),
            digits: Vec::new(),
            patience_secs: None,
            talk_secs: None,
            hangup_after_secs: None,
            dtmf: Vec::new(),
        }
    }
}

/// One IVR choice and its weight.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IvrChoice {
    /// The digits pressed (empty: the caller presses nothing).
    pub digits: String,
    /// Relative weight.
    pub weight: f64,
}

/// Random traffic.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RandomScenario {
    /// RNG seed: the same seed gives the same calls.
    pub seed: u64,
    /// Mean arrival rate (Poisson process).
    pub calls_per_hour: f64,
    /// Length of the arrival window, seconds.
    pub duration_secs: f64,
    /// Stop after this many calls.
    pub max_calls: Option<u64>,
    /// Dialled number.
    pub destination: String,
    /// Caller numbers are this prefix followed by 6 random digits.
    pub caller_prefix: String,
    /// IVR choices (one digit string per call).
    pub ivr: Vec<IvrChoice>,
    /// Mean patience (exponential); `None`: callers wait forever.
    pub mean_patience_secs: Option<f64>,
    /// Mean talk time once bridged (exponential).
    pub mean_talk_secs: f64,
}

impl Default for RandomScenario {
    fn default() -> Self {
        RandomScenario {
            seed: 1,
            calls_per_hour: 60.0,
            duration_secs: 3600.0,
            max_calls: None,
            destination: "7002".into(),
            caller_prefix: "+3120".into(),
            ivr: Vec::new(),
            mean_patience_secs: Some(120.0),
            mean_talk_secs: 180.0,
        }
    }
}

fn exp(rng: &mut StdRng, mean: f64) -> f64 {
    let u: f64 = rng.random();
    -(1.0 - u).max(f64::MIN_POSITIVE).ln() * mean
}

impl Scenario {
    /// Reads a JSON scenario file.
    pub fn from_file(path: &Path) -> anyhow::Result<Scenario> {
        let text = std::fs::read_to_string(path)?;
        Ok(serde_json::from_str(&text)?)
    }

    /// The calls this scenario places, sorted by time (deterministic for a seed).
    pub fn plan(&self) -> Vec<ScriptedCall> {
        let mut calls = match self {
            Scenario::Scripted { calls } => calls.clone(),
            Scenario::Random(r) => random_plan(r),
        };
        calls.sort_by(|a, b| a.at_secs.total_cmp(&b.at_secs));
        calls
    }
}

fn random_plan(r: &RandomScenario) -> Vec<ScriptedCall> {
    let mut rng = StdRng::seed_from_u64(r.seed);
    let mut out = Vec::new();
    if r.calls_per_hour <= 0.0 {
        return out;
    }
    let mean_gap = 3600.0 / r.calls_per_hour;
    let total_weight: f64 = r.ivr.iter().map(|c| c.weight.max(0.0)).sum();
    let mut t = 0.0;
    loop {
        t += exp(&mut rng, mean_gap);
        if t > r.duration_secs || r.max_calls.is_some_and(|m| out.len() as u64 >= m) {
            break;
        }
        let number: u32 = rng.random_range(0..1_000_000);
        let mut digits = Vec::new();
        if total_weight > 0.0 {
            let mut x = rng.random::<f64>() * total_weight;
            for c in &r.ivr {
                x -= c.weight.max(0.0);
                if x <= 0.0 {
                    if !c.digits.is_empty() {
                        digits.push(c.digits.clone());
                    }
                    break;
                }
            }
        }
        let patience = r.mean_patience_secs.map(|m| exp(&mut rng, m));
        let talk = exp(&mut rng, r.mean_talk_secs);
        out.push(ScriptedCall {
            at_secs: t,
            caller: format!("{}{number:06}", r.caller_prefix),
            caller_name: None,
            destination: r.destination.clone(),
            digits,
            patience_secs: patience,
            talk_secs: Some(talk),
            hangup_after_secs: None,
            dtmf: Vec::new(),
        });
    }
    out
}
