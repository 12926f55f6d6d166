//! `kontakt esl tail`: connect, subscribe, print events as JSON lines.

use std::io::Write;

use kontakt_esl::{Event, EventFormat};

use crate::error::Error;
use crate::inbound::{ConnectionState, InboundClient, InboundConfig};
use crate::queue::{EssentialEvents, RecvError};

/// What `tail` subscribes to.
#[derive(Debug, Clone)]
pub struct TailOptions {
    /// `host:port` of the Event Socket.
    pub addr: String,
    /// ESL password.
    pub password: String,
    /// Event names (`ALL` when empty; `CUSTOM` followed by subclasses works too).
    pub events: Vec<String>,
    /// Only events whose `Unique-ID` is this (filtered by FreeSWITCH and again here).
    pub uuid: Option<String>,
    /// Stop after this many events (`None`: until the stream ends).
    pub max_events: Option<u64>,
}

/// Connects to `addr`, subscribes to `events` (all when empty) in json format, optionally
/// filtered to one channel's `Unique-ID`, and writes one JSON object per event and line:
/// `{"event": {headers, URL-decoded; a repeated header as an array}, "body": text|null}`.
/// Reconnects by itself (a line `{"kontakt_tail": "..."}` notes each reconnection and
/// every loss of events). Runs until the output fails or the first connection fails
/// (e.g. [`Error::AuthFailed`]); wrap it in a `select!` with Ctrl-C.
pub async fn tail(
    addr: &str,
    password: &str,
    events: &[String],
    uuid_filter: Option<String>,
    out: impl Write,
) -> Result<u64, Error> {
    let opts = TailOptions {
        addr: addr.to_owned(),
        password: password.to_owned(),
        events: events.to_vec(),
        uuid: uuid_filter,
        max_events: None,
    };
    tail_with(opts, out).await
}

/// [`tail`] with all options; returns the number of events written.
pub async fn tail_with(opts: TailOptions, mut out: impl Write) -> Result<u64, Error> {
    let mut cfg = InboundConfig::new(opts.addr.clone(), opts.password.clone());
    cfg.format = EventFormat::Json;
    cfg.events = if opts.events.is_empty() { vec!["ALL".into()] } else { opts.events.clone() };
    if let Some(u) = &opts.uuid {
        cfg.filters = vec![("Unique-ID".into(), u.clone())];
    }
    // An operator's tool: losing the oldest of anything is the same trouble.
    cfg.queue.essential = EssentialEvents::all();
    let (client, mut rx) = InboundClient::connect(cfg).await?;
    let mut state = client.state();
    let write_err = |e: std::io::Error| Error::io("writing tail output", &e);
    let mut written = 0u64;
    loop {
        if opts.max_events.is_some_and(|m| written >= m) {
            break;
        }
        tokio::select! {
            r = rx.recv() => match r {
                Ok(ev) => {
                    if let Some(u) = &opts.uuid
                        && ev.unique_id() != Some(u.as_str())
                    {
                        continue;
                    }
                    write_event(&ev, &mut out).map_err(write_err)?;
                    out.flush().map_err(write_err)?;
                    written += 1;
                }
                Err(RecvError::Lagged(n)) => {
                    writeln!(out, "{}", serde_json::json!({"kontakt_tail": "events lost (output too slow)", "lost": n}))
                        .map_err(write_err)?;
                }
                Err(RecvError::Closed) => {
                    // The client stopped by itself: a permanent error (e.g. the password
                    // was changed on the switch while we were reconnecting).
                    return match client.last_error() {
                        Some(e) => Err(e),
                        None => Ok(written),
                    };
                }
            },
            changed = state.changed() => {
                if changed.is_err() { break; }
                let s = state.borrow_and_update().clone();
                let note = match s {
                    ConnectionState::Disconnected { reason } => format!("disconnected: {reason}"),
                    ConnectionState::Connected => "reconnected".to_owned(),
                    ConnectionState::Closed { reason } => format!("closed: {reason}"),
                    _ => continue,
                };
                writeln!(out, "{}", serde_json::json!({"kontakt_tail": note})).map_err(write_err)?;
            }
        }
    }
    client.shutdown().await;
    Ok(written)
}

/// Writes `ev` as `{"event": {...}, "body": ...}` and a newline.
pub fn write_event(ev: &Event, out: &mut impl Write) -> std::io::Result<()> {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::with_capacity(ev.headers().len());
    for (name, value) in ev.headers().iter() {
        match groups.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => groups.push((name, vec![value])),
        }
    }
    out.write_all(b"{\"event\":{")?;
    for (i, (name, values)) in groups.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, name)?;
        out.write_all(b":")?;
        match values.as_slice() {
            [one] => serde_json::to_writer(&mut *out, one)?,
            many => serde_json::to_writer(&mut *out, many)?,
        }
    }
    out.write_all(b"},\"body\":")?;
    serde_json::to_writer(&mut *out, &ev.body())?;
    out.write_all(b"}\n")
}
