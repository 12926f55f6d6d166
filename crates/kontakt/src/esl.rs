//! `kontakt esl decode FILE`: decode a captured ESL byte stream (as FreeSWITCH sent it) and
//! print one JSON object per message — an operator's debugging tool and a stable interface
//! for outside checks.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum EslCommand {
    /// Decode a captured stream: one JSON object per message and line. On a malformed stream
    /// every message before the fault is printed, then the error, with a non-zero exit.
    Decode { file: PathBuf },
}

pub(crate) fn run(cmd: EslCommand) -> anyhow::Result<()> {
    match cmd {
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
