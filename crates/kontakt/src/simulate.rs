//! `kontakt simulate` and `kontakt staffing`: the ACD simulator (the real router on a virtual
//! clock) and Erlang C / Erlang A staffing, for supervisors planning shifts. The `--json`
//! forms are a stable interface for outside checks.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use kontakt_acd::sim::{self, Scenario, SimReport, SingleQueueParams};

#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// A JSON scenario (several queues, skills, day profile…); overrides the single-queue flags.
    #[arg(long)]
    scenario: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    agents: u32,
    #[arg(long, default_value_t = 100.0)]
    calls_per_hour: f64,
    /// Average handle time in seconds, wrap-up included.
    #[arg(long, default_value_t = 180.0)]
    aht: f64,
    /// Mean patience in seconds (exponential); without it callers never abandon.
    #[arg(long)]
    patience: Option<f64>,
    #[arg(long, default_value_t = 0.0)]
    wrap_up: f64,
    #[arg(long, default_value_t = 8.0)]
    hours: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Service-level threshold T in seconds ("answered within T").
    #[arg(long, default_value_t = 20.0)]
    sl_threshold: f64,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StaffingArgs {
    #[arg(long)]
    calls_per_hour: f64,
    /// Average handle time in seconds, wrap-up included.
    #[arg(long)]
    aht: f64,
    /// Target fraction answered within the threshold, e.g. 0.8.
    #[arg(long, default_value_t = 0.8)]
    sl_target: f64,
    #[arg(long, default_value_t = 20.0)]
    sl_threshold: f64,
    /// Mean patience in seconds: use Erlang A (with abandonment) instead of Erlang C.
    #[arg(long)]
    patience: Option<f64>,
    #[arg(long)]
    json: bool,
}

fn positive(name: &str, v: f64) -> anyhow::Result<()> {
    if !(v.is_finite() && v > 0.0) {
        bail!("--{name} must be a positive number, got {v}");
    }
    Ok(())
}

pub(crate) fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    let report = match &args.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let scenario: Scenario = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a valid scenario", path.display()))?;
            sim::simulate(&scenario).overall
        }
        None => {
            positive("calls-per-hour", args.calls_per_hour)?;
            positive("aht", args.aht)?;
            positive("hours", args.hours)?;
            if args.agents == 0 {
                bail!("--agents must be at least 1");
            }
            if let Some(p) = args.patience {
                positive("patience", p)?;
            }
            if !(args.wrap_up >= 0.0 && args.wrap_up < args.aht) {
                bail!("--wrap-up must be at least 0 and less than --aht (AHT includes wrap-up)");
            }
            sim::simulate_single_queue(&SingleQueueParams {
                agents: args.agents,
                calls_per_hour: args.calls_per_hour,
                aht_s: args.aht,
                patience_s: args.patience,
                wrap_up_s: args.wrap_up,
                hours: args.hours,
                seed: args.seed,
                sl_threshold_s: args.sl_threshold,
            })
        }
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report, args.sl_threshold);
    }
    Ok(())
}

fn print_report(r: &SimReport, threshold: f64) {
    println!("{:<34} {:>12}", "calls offered", r.offered);
    println!("{:<34} {:>12}", "answered", r.answered);
    println!("{:<34} {:>12}", "abandoned (short abandons incl.)", r.abandoned);
    println!("{:<34} {:>11.1}%", "probability of waiting", r.p_wait * 100.0);
    println!("{:<34} {:>11.1}s", "average speed of answer", r.asa_s);
    println!(
        "{:<34} {:>11.1}%",
        format!("service level (within {threshold} s)"),
        r.service_level * 100.0
    );
    println!("{:<34} {:>11.1}%", "occupancy", r.occupancy * 100.0);
}

pub(crate) fn staffing(args: StaffingArgs) -> anyhow::Result<()> {
    positive("calls-per-hour", args.calls_per_hour)?;
    positive("aht", args.aht)?;
    positive("sl-threshold", args.sl_threshold)?;
    if !(args.sl_target > 0.0 && args.sl_target < 1.0) {
        bail!("--sl-target must be between 0 and 1 (e.g. 0.8), got {}", args.sl_target);
    }
    if let Some(p) = args.patience {
        positive("patience", p)?;
    }
    let r = sim::staffing(
        args.calls_per_hour,
        args.aht,
        args.sl_target,
        args.sl_threshold,
        args.patience,
    );
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!("model: {}  load: {:.2} Erlang", r.model, r.load);
        println!("agents needed: {}", r.agents);
        println!(
            "at that staffing: P(wait) {:.1}%, ASA {:.1} s, service level {:.1}% within {} s, \
             abandonment {:.1}%, occupancy {:.1}%",
            r.p_wait * 100.0,
            r.asa_s,
            r.service_level * 100.0,
            args.sl_threshold,
            r.p_abandon * 100.0,
            r.occupancy * 100.0
        );
    }
    Ok(())
}
