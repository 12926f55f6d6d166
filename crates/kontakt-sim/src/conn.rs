//! One Event Socket connection, inbound (a client connected to our 8021) or outbound (we
//! connected to the application's `socket` server for one channel). Commands are decoded
//! with `kontakt_esl::CommandDecoder`, replies and events encoded with
//! `kontakt_esl::server`, byte for byte as FreeSWITCH 1.10 writes them.

use std::sync::Arc;

use kontakt_esl::{CommandDecoder, ReceivedCommand, server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::api;
use crate::chan;
use crate::core::{ChanCmd, Format, Outgoing, Sim};

/// The events `myevents` subscribes to (mod_event_socket's list; no CALLSTATE, CODEC,
/// PRESENCE_IN or PLAYBACK_*, as the outbound capture shows).
const MYEVENTS: &[&str] = &[
    "CHANNEL_ANSWER",
    "CHANNEL_APPLICATION",
    "CHANNEL_BRIDGE",
    "CHANNEL_CREATE",
    "CHANNEL_DATA",
    "CHANNEL_DESTROY",
    "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_ORIGINATE",
    "CHANNEL_OUTGOING",
    "CHANNEL_PARK",
    "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_STATE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_UNPARK",
    "DETECTED_SPEECH",
    "DTMF",
    "NOTALK",
    "TALK",
];

pub(crate) enum Mode {
    Inbound,
    Outbound { uuid: String },
}

struct Conn {
    sim: Sim,
    id: u64,
    mode: Mode,
    authed: bool,
    connected: bool,
    format: Format,
    out: Vec<u8>,
    close: bool,
}

/// Serves a connection until it closes.
/// `resumed` (outbound sockets) is told when the connection has ended on a channel with
/// `socket_resume`, so that its `socket` application returns.
pub(crate) async fn serve(
    sim: Sim,
    stream: TcpStream,
    mode: Mode,
    resumed: Option<tokio::sync::oneshot::Sender<()>>,
) {
    let controls = match &mode {
        Mode::Inbound => None,
        Mode::Outbound { uuid } => Some(uuid.clone()),
    };
    let inbound = controls.is_none();
    let (id, mut rx, queued) = sim.subscribe(inbound, controls.clone());
    let (mut rd, mut wr) = stream.into_split();
    let mut conn = Conn {
        sim: sim.clone(),
        id,
        mode,
        authed: !inbound,
        connected: false,
        format: Format::Plain,
        out: Vec::with_capacity(64 * 1024),
        close: false,
    };
    if inbound {
        server::auth_request(&mut conn.out);
    }
    let mut dec = CommandDecoder::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !conn.out.is_empty() {
            if wr.write_all(&conn.out).await.is_err() {
                break;
            }
            conn.out.clear();
        }
        if conn.close {
            let _ = wr.shutdown().await;
            break;
        }
        tokio::select! {
            n = rd.read(&mut buf) => {
                let n = match n {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                dec.feed(buf.get(..n).unwrap_or_default());
                loop {
                    match dec.decode() {
                        Ok(Some(cmd)) => {
                            Box::pin(conn.handle(cmd)).await;
                            if conn.close {
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(_) => {
                            conn.close = true;
                            break;
                        }
                    }
                }
            }
            msg = rx.recv() => match msg {
                Some(Outgoing::Event(ev)) => {
                    queued.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                    conn.write_event(&ev);
                }
                Some(Outgoing::Disconnect { linger }) => {
                    if let Mode::Outbound { uuid } = &conn.mode {
                        let name = sim
                            .lock()
                            .channels
                            .get(uuid)
                            .map(|c| c.name.clone())
                            .unwrap_or_default();
                        server::disconnect_notice_channel(&mut conn.out, uuid, &name, linger, -1);
                    }
                    conn.close = true;
                }
                Some(Outgoing::Kill) | None => break,
            },
        }
    }
    sim.unsubscribe(id);
    if let Mode::Outbound { uuid } = &conn.mode {
        // The socket application ends when its connection does: the call is hung up —
        // unless `socket_resume` is set, when FreeSWITCH goes on with the rest of the
        // dialplan (Kontakt's: the transfer to degraded mode).
        if chan::get_var(&sim, uuid, "socket_resume").flatten().as_deref() == Some("true") {
            if let Some(tx) = resumed {
                let _ = tx.send(());
            }
        } else {
            chan::hangup(&sim, uuid, "NORMAL_CLEARING");
        }
    }
}

impl Conn {
    fn reply(&mut self, text: &str) {
        server::command_reply(&mut self.out, text, &[]);
    }

    fn write_event(&mut self, ev: &kontakt_esl::Event) {
        match self.format {
            Format::Plain => server::event_plain(&mut self.out, ev),
            Format::Json => server::event_json(&mut self.out, ev),
            Format::Xml => server::event_xml(&mut self.out, ev),
        }
    }

    fn controlled(&self) -> Option<String> {
        match &self.mode {
            Mode::Outbound { uuid } => Some(uuid.clone()),
            Mode::Inbound => None,
        }
    }

    async fn handle(&mut self, cmd: ReceivedCommand) {
        let name = cmd.name().to_ascii_lowercase();
        let args = cmd.args().trim().to_owned();
        if !self.authed {
            match name.as_str() {
                "auth" => {
                    if args == self.sim.cfg.password {
                        self.authed = true;
                        self.reply("+OK accepted");
                    } else {
                        self.reply("-ERR invalid");
                        server::disconnect_notice(&mut self.out);
                        self.close = true;
                    }
                }
                "exit" => self.exit(),
                _ => self.reply("-ERR command not found"),
            }
            return;
        }
        if let Some(uuid) = self.controlled()
            && !self.connected
        {
            if name == "connect" {
                self.connected = true;
                chan::record_connected(&self.sim, &uuid);
                let data =
                    self.sim.channel_data(&uuid, "mod_event_socket.c", "parse_command", 2021);
                let headers = data.map(|e| e.headers().clone()).unwrap_or_default();
                server::connect_reply(&mut self.out, &headers, "async", "full");
            } else {
                self.reply("-ERR command not found");
            }
            return;
        }
        match name.as_str() {
            "api" => {
                let body = Box::pin(api::execute(&self.sim, &args, None)).await;
                server::api_response(&mut self.out, body.as_bytes());
            }
            "bgapi" => {
                let job = cmd
                    .header("Job-UUID")
                    .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
                server::command_reply(
                    &mut self.out,
                    &format!("+OK Job-UUID: {job}"),
                    &[("Job-UUID", &job)],
                );
                let sim = self.sim.clone();
                tokio::spawn(async move {
                    api::execute(&sim, &args, Some(&job)).await;
                });
            }
            "event" => self.event(&args),
            "myevents" => {
                let mut it = args.split_whitespace();
                let (uuid, fmt) = match (self.controlled(), it.next(), it.next()) {
                    (Some(u), f, _) => (Some(u), f),
                    (None, Some(u), f) => (Some(u.to_owned()), f),
                    (None, None, _) => (None, None),
                };
                let Some(uuid) = uuid else {
                    self.reply("-ERR Usage: myevents <uuid>");
                    return;
                };
                if let Some(f) = fmt.and_then(Format::parse) {
                    self.format = f;
                }
                self.sim.update_sub(self.id, |s| {
                    s.names.extend(MYEVENTS.iter().map(|n| (*n).to_owned()));
                    s.my_uuid = Some(uuid);
                });
                self.reply("+OK Events Enabled");
            }
            "nixevent" => {
                let names: Vec<String> = args.split_whitespace().map(str::to_owned).collect();
                self.sim.update_sub(self.id, |s| {
                    for n in names {
                        s.names.remove(&n);
                        if s.all {
                            s.nixed.insert(n);
                        }
                    }
                });
                self.reply("+OK events nixed");
            }
            "noevents" => {
                self.sim.update_sub(self.id, |s| {
                    let my = s.my_uuid.take();
                    *s = crate::core::Subscription::default();
                    s.my_uuid = my.filter(|_| false);
                });
                self.reply("+OK no longer listening for events");
            }
            "filter" => self.filter(&args),
            "divert_events" => self.reply("+OK events diverted"),
            "linger" => {
                if self.controlled().is_some() {
                    self.sim.set_linger(self.id, true);
                    self.reply("+OK will linger");
                } else {
                    self.reply("-ERR not controlling a session");
                }
            }
            "nolinger" => {
                if self.controlled().is_some() {
                    self.sim.set_linger(self.id, false);
                    self.reply("+OK will not linger");
                } else {
                    self.reply("-ERR not controlling a session");
                }
            }
            "resume" => {
                if self.controlled().is_some() {
                    self.reply("+OK");
                } else {
                    self.reply("-ERR not controlling a session");
                }
            }
            "getvar" => {
                let v = self
                    .controlled()
                    .and_then(|u| chan::get_var(&self.sim, &u, &args).flatten())
                    .unwrap_or_default();
                self.reply(&v);
            }
            "log" => {
                let level = args.split_whitespace().next().unwrap_or("debug");
                let (name, n) = match level.to_ascii_lowercase().as_str() {
                    "0" | "console" => ("console", 0),
                    "1" | "alert" => ("alert", 1),
                    "2" | "crit" => ("crit", 2),
                    "3" | "err" => ("err", 3),
                    "4" | "warning" => ("warning", 4),
                    "5" | "notice" => ("notice", 5),
                    "6" | "info" => ("info", 6),
                    _ => ("debug", 7),
                };
                self.reply(&format!("+OK log level {name} [{n}]"));
            }
            "nolog" => self.reply("+OK no longer logging"),
            "sendmsg" => self.sendmsg(&cmd, &args),
            "sendevent" => {
                self.reply(&format!("+OK {}", uuid::Uuid::new_v4()));
            }
            "exit" => self.exit(),
            "connect" => self.reply("-ERR already connected"),
            _ => self.reply("-ERR command not found"),
        }
    }

    fn exit(&mut self) {
        self.reply("+OK bye");
        if self.controlled().is_none() {
            server::disconnect_notice(&mut self.out);
        }
        self.close = true;
    }

    fn event(&mut self, args: &str) {
        let mut words = args.split_whitespace();
        let Some(fmt) = words.next().and_then(Format::parse) else {
            self.reply("-ERR invalid event format");
            return;
        };
        self.format = fmt;
        // event names are case-insensitive (`event plain all`), subclasses are not
        let names: Vec<String> = words
            .map(|w| if w.contains("::") { w.to_owned() } else { w.to_ascii_uppercase() })
            .collect();
        self.sim.update_sub(self.id, |s| {
            let mut custom = false;
            for n in names {
                if custom && n != "ALL" && n.contains("::") {
                    s.custom.insert(n);
                    continue;
                }
                match n.as_str() {
                    "ALL" => {
                        s.all = true;
                        s.nixed.clear();
                    }
                    "CUSTOM" => custom = true,
                    _ => {
                        s.nixed.remove(&n);
                        s.names.insert(n);
                    }
                }
            }
            if custom && s.custom.is_empty() {
                s.any_custom = true;
            }
        });
        self.reply(&format!("+OK event listener enabled {}", fmt.as_str()));
    }

    fn filter(&mut self, args: &str) {
        if let Some(rest) = args.strip_prefix("delete") {
            let rest = rest.trim();
            let (h, v) = rest.split_once(' ').map_or((rest, ""), |(h, v)| (h, v.trim()));
            self.sim.update_sub(self.id, |s| {
                if h == "all" {
                    s.filters.clear();
                } else {
                    s.filters.retain(|(fh, fv)| !(fh == h && (v.is_empty() || fv == v)));
                }
            });
            self.reply(&format!("+OK filter deleted. [{h}][{v}]"));
            return;
        }
        let Some((h, v)) = args.split_once(' ') else {
            self.reply("-ERR invalid syntax");
            return;
        };
        let (h, v) = (h.to_owned(), v.trim().to_owned());
        let reply = format!("+OK filter added. [{h}]=[{v}]");
        self.sim.update_sub(self.id, |s| s.filters.push((h, v)));
        self.reply(&reply);
    }

    fn sendmsg(&mut self, cmd: &ReceivedCommand, args: &str) {
        let uuid = match (args.split_whitespace().next(), self.controlled()) {
            (Some(u), _) => u.to_owned(),
            (None, Some(u)) => u,
            (None, None) => {
                self.reply("-ERR invalid session id []");
                return;
            }
        };
        if !chan::exists(&self.sim, &uuid) {
            self.reply(&format!("-ERR invalid session id [{uuid}]"));
            return;
        }
        let call_command = cmd.header("call-command").unwrap_or_default().to_ascii_lowercase();
        match call_command.as_str() {
            "execute" => {
                let app = cmd.header("execute-app-name").unwrap_or_default().to_owned();
                let mut arg = cmd.header("execute-app-arg").unwrap_or_default().to_owned();
                if arg.is_empty() && !cmd.body().is_empty() {
                    arg = String::from_utf8_lossy(cmd.body()).into_owned();
                }
                let event_uuid = cmd.header("Event-UUID").map(str::to_owned);
                let loops: u32 = cmd.header("loops").and_then(|l| l.parse().ok()).unwrap_or(1);
                for _ in 0..loops.clamp(1, 100) {
                    chan::send_cmd(
                        &self.sim,
                        &uuid,
                        ChanCmd::Execute {
                            app: app.clone(),
                            arg: arg.clone(),
                            event_uuid: event_uuid.clone(),
                        },
                    );
                }
                self.reply("+OK");
            }
            "hangup" => {
                let cause = cmd.header("hangup-cause").unwrap_or("NORMAL_CLEARING");
                chan::hangup(&self.sim, &uuid, cause);
                self.reply("+OK");
            }
            _ => self.reply("+OK"),
        }
    }
}

/// Connects the outbound socket of channel `uuid` to `addr` (like `socket <addr> async
/// full`). None if the server cannot be reached; else what fires when the connection ends
/// and the channel is to go on with its dialplan (`socket_resume`). Each `socket`
/// application waits on its own connection's: a late end of an earlier one is not its.
pub(crate) async fn connect_outbound(
    sim: &Sim,
    uuid: &str,
    addr: &str,
) -> Option<tokio::sync::oneshot::Receiver<()>> {
    let conn =
        tokio::time::timeout(std::time::Duration::from_secs(5), TcpStream::connect(addr)).await;
    match conn {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            let sim2: Sim = Arc::clone(sim);
            let uuid = uuid.to_owned();
            let (tx, rx) = tokio::sync::oneshot::channel();
            tokio::spawn(serve(sim2, stream, Mode::Outbound { uuid }, Some(tx)));
            Some(rx)
        }
        _ => None,
    }
}
