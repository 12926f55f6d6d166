//! `kontakt esl decode FILE`: decode a captured ESL byte stream (as FreeSWITCH sent it) and
//! print one JSON object per message — an operator's debugging tool and a stable interface
//! for outside checks. `kontakt esl tail`: watch a live FreeSWITCH's events as JSON lines.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum EslCommand {
    /// Decode a captured stream: one JSON object per message and line. On a malformed stream
    /// every message before the fault is printed, then the error, with a non-zero exit.
    Decode { file: PathBuf },
    /// Connect to FreeSWITCH's event socket ([esl] address and password, or the flags) and
    /// print its events as JSON lines until interrupted; reconnects by itself.
    Tail {
        /// host:port of the event socket; default: [esl] address.
        #[arg(long)]
        address: Option<String>,
        /// Default: [esl] password.
        #[arg(long)]
        password: Option<String>,
        /// Event names to subscribe to (comma-separated); default ALL.
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
        /// Only the events of this channel (Unique-ID).
        #[arg(long)]
        uuid: Option<String>,
    },
}

/// `tail` needs the configuration and the runtime; `decode` needs neither.
pub(crate) async fn tail(config: &crate::config::Config, cmd: EslCommand) -> anyhow::Result<()> {
    let EslCommand::Tail { address, password, events, uuid } = cmd else {
        return run(cmd);
    };
    let address = address.unwrap_or_else(|| config.esl.address.clone());
    let password = password.unwrap_or_else(|| config.esl.password.expose().to_string());
    if password.is_empty() {
        anyhow::bail!(
            "no event socket password: set [esl] password, KONTAKT_ESL_PASSWORD or --password"
        );
    }
    eprintln!("tailing {address} (Ctrl-C to stop)");
    let stdout = std::io::stdout();
    tokio::select! {
        result = kontakt_switch::tail(&address, &password, &events, uuid, stdout.lock()) => {
            let n = result.with_context(|| format!("event socket {address}"))?;
            eprintln!("{n} event(s)");
        }
        _ = tokio::signal::ctrl_c() => eprintln!("stopped"),
    }
    Ok(())
}

pub(crate) fn run(cmd: EslCommand) -> anyhow::Result<()> {
    match cmd {
        EslCommand::Tail { .. } => {
            anyhow::bail!("internal error: tail runs with the configuration and the runtime")
        }
        EslCommand::Decode { file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let result = kontakt_esl::decode_to_json_lines(&bytes, &mut out);
            out.flush()?;
            let n =
                result.with_context(|| format!("{} is not a valid ESL stream", file.display()))?;
            eprintln!("{n} message(s)");
            Ok(())
        }
    }
}
