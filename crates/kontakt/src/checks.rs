//! `kontakt check-config`: everything about the deployment Kontakt can see from where it runs —
//! the configuration, the database (reachable, migrated), FreeSWITCH's Event Socket (address
//! and password, by logging in), the outbound-socket port, and the IVR prompt files.
//! Every check is printed; the exit status is non-zero if any failed.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use kontakt_esl::{Command, ContentType, Decoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::{Config, redact_url};
use crate::serve::open_store;

/// The prompts the default menu references, one name a line (deploy/prompts/menu.txt).
const MENU_PROMPTS: &str = include_str!("../../../deploy/prompts/menu.txt");

const ESL_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) async fn check_config(config: &Config) -> anyhow::Result<()> {
    let mut failed = 0;
    let mut report = |name: &str, result: anyhow::Result<String>| match result {
        Ok(detail) => println!("  ok    {name}: {detail}"),
        Err(e) => {
            failed += 1;
            println!("  FAIL  {name}: {e:#}");
        }
    };
    println!("configuration parsed; listen {}", config.server.listen);
    report("database", database(config).await);
    let nodes = config.esl.all_nodes();
    if nodes.is_empty() {
        println!("  skip  telephony: esl.password is empty, so Kontakt runs as a registry only");
    } else {
        for n in &nodes {
            report(
                &format!("event socket of {}", n.name),
                esl_login(&n.address, n.password.expose()).await,
            );
        }
        report("outbound socket port", outbound_port(config).await);
        report("IVR prompts", prompts(&config.ivr.prompts_dir, &config.ivr.languages));
    }
    if failed > 0 {
        bail!("{failed} check(s) failed");
    }
    Ok(())
}

async fn database(config: &Config) -> anyhow::Result<String> {
    let store = open_store(config).await?;
    let pending = store.pending_migrations().await?;
    if pending > 0 {
        bail!("reachable, but {pending} migration(s) are pending: run `kontakt migrate`");
    }
    Ok(format!(
        "{} reachable, schema current, {} user(s)",
        redact_url(config.database.url.expose()),
        store.count_users().await?
    ))
}

/// Logs in to FreeSWITCH's Event Socket the way the inbound client will.
pub(crate) async fn esl_login(address: &str, password: &str) -> anyhow::Result<String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .with_context(|| format!("cannot connect to {address}"))?;
        let mut decoder = Decoder::new();
        let mut buf = vec![0u8; 4096];
        let mut next = async |stream: &mut tokio::net::TcpStream, decoder: &mut Decoder| loop {
            if let Some(msg) = decoder.decode().context("FreeSWITCH sent a malformed frame")? {
                return anyhow::Ok(msg);
            }
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                bail!("{address} closed the connection");
            }
            decoder.feed(&buf[..n]);
        };
        let hello = next(&mut stream, &mut decoder).await?;
        if hello.content_type() != ContentType::AuthRequest {
            bail!("{address} did not ask for authentication: is it FreeSWITCH's event socket?");
        }
        stream.write_all(&Command::Auth { password }.to_bytes()?).await?;
        let reply = next(&mut stream, &mut decoder).await?;
        match reply.reply_text() {
            Some(text) if text.starts_with("+OK") => {
                let _ = stream.write_all(b"exit\n\n").await;
                Ok(format!("logged in to {address}"))
            }
            Some(text) => bail!("{address} refused the password: {text}"),
            None => bail!("{address} answered the login with no reply text"),
        }
    };
    tokio::time::timeout(ESL_TIMEOUT, exchange)
        .await
        .with_context(|| format!("{address} did not answer within {ESL_TIMEOUT:?}"))?
}

async fn outbound_port(config: &Config) -> anyhow::Result<String> {
    let addr = config.esl.listen;
    match tokio::net::TcpListener::bind(addr).await {
        Ok(_) => Ok(format!("{addr} is free for FreeSWITCH's outbound sockets")),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            Ok(format!("{addr} is in use (a running Kontakt listens there)"))
        }
        Err(e) => Err(e).with_context(|| format!("cannot listen on {addr}")),
    }
}

fn prompts(dir: &Path, languages: &[String]) -> anyhow::Result<String> {
    let names: Vec<&str> = MENU_PROMPTS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let missing: Vec<String> = languages
        .iter()
        .flat_map(|lang| names.iter().map(move |name| dir.join(lang).join(format!("{name}.wav"))))
        .filter(|path| !path.is_file())
        .map(|path| path.display().to_string())
        .collect();
    match missing.as_slice() {
        [] => Ok(format!(
            "{} prompts × {} language(s) in {}",
            names.len(),
            languages.len(),
            dir.display()
        )),
        [first, ..] => bail!(
            "{} of {} prompt files missing (first: {first}); generate them with deploy/prompts/generate.sh",
            missing.len(),
            names.len() * languages.len()
        ),
    }
}
