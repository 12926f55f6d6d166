//! Runs the emulator from a JSON configuration (until Ctrl-C, or with `--until-done` until
//! the scenario's calls have ended), printing the call report as JSON lines.
//!
//! ```sh
//! cargo run -p kontakt-sim --example sim -- crates/kontakt-sim/scenarios/demo-config.json
//! ```
#![allow(clippy::print_stdout)]

use kontakt_sim::EmulatorConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut until_done = false;
    for a in args.by_ref() {
        if a == "--until-done" {
            until_done = true;
        } else {
            path = Some(a);
        }
    }
    let config: EmulatorConfig = match path {
        Some(p) => serde_json::from_str(&std::fs::read_to_string(&p)?)?,
        None => EmulatorConfig::default(),
    };
    println!("kontakt-sim: inbound event socket on {}", config.listen);
    let report = kontakt_sim::run_with(config, until_done).await?;
    for r in report {
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(())
}
