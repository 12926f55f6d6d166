//! Channel drivers: one task per channel runs its dialplan applications (`answer`,
//! `playback`, `play_and_get_digits`, `bridge`, `park`, `socket`, ...) and, once it is
//! hung up, completes the running application and tears the channel down.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::chan::{self, ChannelIo, NewChannel};
use crate::config::EndpointBehaviour;
use crate::core::{ChanCmd, Dest, Direction, Sim};

/// What the simulated caller does (one instance per incoming call).
#[derive(Debug, Clone, Default)]
pub(crate) struct CallerScript {
    /// Digit strings, one per `play_and_get_digits` / `read` prompt.
    pub(crate) digits: VecDeque<String>,
    /// Hang up if not bridged to an agent within this many seconds of the call start.
    pub(crate) patience_secs: Option<f64>,
    /// Hang up this many seconds after being bridged.
    pub(crate) talk_secs: Option<f64>,
    /// Hang up this many seconds after the call start, whatever happens.
    pub(crate) max_secs: Option<f64>,
    /// Digits sent at times after the call start.
    pub(crate) dtmf: Vec<(f64, String)>,
}

pub(crate) struct Ctx {
    sim: Sim,
    uuid: String,
    hangup: watch::Receiver<bool>,
    bridge: watch::Receiver<Option<String>>,
    brk: watch::Receiver<u64>,
    cmds: tokio::sync::mpsc::UnboundedReceiver<ChanCmd>,
    digits: Arc<Mutex<VecDeque<String>>>,
    recordings: Vec<String>,
}

enum End {
    /// Continue with the next application.
    Next,
    /// Transferred: run the dialplan of this destination (or its inline applications).
    Transfer(Dest),
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Ctx {
    fn hungup(&self) -> bool {
        *self.hangup.borrow()
    }
    async fn wait_hangup(&mut self) {
        let _ = self.hangup.wait_for(|h| *h).await;
    }
    /// Sleeps `secs` simulated seconds like [`Ctx::sleep`], but also returns early (false)
    /// when the playback is broken (`uuid_break`, `uuid_bridge`) after it started.
    async fn sleep_breakable(&mut self, secs: f64) -> bool {
        self.brk.borrow_and_update();
        let d = self.sim.dur(secs);
        let mut h = self.hangup.clone();
        let mut b = self.brk.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => !self.hungup(),
            _ = h.wait_for(|h| *h) => false,
            _ = b.changed() => false,
        }
    }
    /// Sleeps `secs` simulated seconds; false if hung up first.
    async fn sleep(&mut self, secs: f64) -> bool {
        let d = self.sim.dur(secs);
        let mut h = self.hangup.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = h.wait_for(|h| *h) => {}
        }
        !self.hungup()
    }
    fn response(&self) -> String {
        chan::get_var(&self.sim, &self.uuid, "current_application_response")
            .flatten()
            .unwrap_or_else(|| "_none_".into())
    }
}

/// The extension Kontakt's public dialplan transfers a call to when its socket cannot be
/// reached or closes (`dialplans/kontakt_degraded.xml`).
const DEGRADED: &str = "kontakt_degraded";

/// The dialplan of a destination, as FreeSWITCH's default configuration runs it: the
/// `global` extension's `hash` / `export` preamble (optional), then echo test, outbound
/// socket, or park. `kontakt_degraded` runs the configured degraded-mode applications.
pub(crate) fn dialplan(sim: &Sim, uuid: &str, dest: &str) -> Vec<(String, String)> {
    if dest == DEGRADED {
        return sim
            .cfg
            .degraded
            .iter()
            .map(|a| {
                a.split_once(' ').map_or((a.clone(), String::new()), |(app, data)| {
                    (app.to_owned(), data.to_owned())
                })
            })
            .collect();
    }
    let mut apps = Vec::new();
    if sim.cfg.dialplan_preamble {
        let caller =
            sim.lock().channels.get(uuid).map(|ch| ch.caller_number.clone()).unwrap_or_default();
        let d = &sim.cfg.sip_domain;
        apps.push(("hash".into(), format!("insert/{d}-spymap/{caller}/{uuid}")));
        apps.push(("hash".into(), format!("insert/{d}-last_dial/{caller}/{dest}")));
        apps.push(("hash".into(), format!("insert/{d}-last_dial/global/{uuid}")));
        apps.push(("export".into(), "RFC2822_DATE=${strftime(%a, %d %b %Y %T %z)}".into()));
        // the dialplan condition's captures, an array variable as in the captures
        chan::set_var(sim, uuid, "DP_MATCH", &format!("ARRAY::{dest}|:{dest}"));
    }
    if sim.cfg.echo_destinations.iter().any(|d| d == dest) {
        apps.push(("answer".into(), String::new()));
        apps.push(("echo".into(), String::new()));
        return apps;
    }
    match &sim.cfg.outbound_socket {
        Some(addr) => {
            if sim.cfg.socket_resume {
                // What Kontakt's handoff extension sets and a re-attached call still needs
                // (its destination number is then the inline applications' text).
                apps.push(("set".into(), format!("kontakt_dialed_number={dest}")));
                apps.push(("set".into(), "socket_resume=true".into()));
            }
            apps.push(("socket".into(), format!("{addr} async full")));
            if sim.cfg.socket_resume {
                apps.push(("transfer".into(), format!("{DEGRADED} XML {DEGRADED}")));
            }
        }
        None => apps.push(("park".into(), String::new())),
    }
    apps
}

/// Starts the driver of a channel with its first applications.
pub(crate) fn spawn_driver(
    sim: Sim,
    io: ChannelIo,
    apps: Vec<(String, String)>,
    digits: Arc<Mutex<VecDeque<String>>>,
) {
    tokio::spawn(async move {
        let ChannelIo { uuid, cmds, hangup, bridge, brk } = io;
        let mut ctx = Ctx { sim, uuid, hangup, bridge, brk, cmds, digits, recordings: Vec::new() };
        let mut queue: VecDeque<(String, String)> = apps.into();
        while let Some((app, arg)) = queue.pop_front() {
            if ctx.hungup() {
                break;
            }
            match run_app(&mut ctx, app, arg, None).await {
                End::Next => {}
                End::Transfer(dest) => queue = transferred(&ctx.sim, &ctx.uuid, &dest).into(),
            }
        }
        if !ctx.hungup() {
            chan::hangup(&ctx.sim, &ctx.uuid, "NORMAL_CLEARING");
        }
        finish(&mut ctx);
    });
}

fn finish(ctx: &mut Ctx) {
    for path in std::mem::take(&mut ctx.recordings) {
        chan::event(&ctx.sim, &ctx.uuid, "RECORD_STOP", &[("Record-File-Path", &path)]);
    }
    // (the watch's read guard must be gone before unbridge sends on it)
    let other = ctx.bridge.borrow().clone();
    if let Some(other) = other {
        chan::unbridge(&ctx.sim, &ctx.uuid, &other);
    }
    chan::teardown(&ctx.sim, &ctx.uuid);
}

/// A transfer: the channel routes again, to the destination's dialplan or straight to its
/// inline applications (which skip the dialplan, its preamble included). Returns what the
/// channel runs next.
fn transferred(sim: &Sim, uuid: &str, dest: &Dest) -> Vec<(String, String)> {
    {
        let mut c = sim.lock();
        chan::with(&mut c, uuid, |ch| {
            ch.dest = dest.exten.clone();
            ch.transfer_us = crate::core::now_us();
        });
    }
    chan::set_state(sim, uuid, "CS_ROUTING");
    chan::set_state(sim, uuid, "CS_EXECUTE");
    if dest.inline { dest.inline_apps() } else { dialplan(sim, uuid, &dest.exten) }
}

fn run_app(ctx: &mut Ctx, app: String, arg: String, event_uuid: Option<String>) -> BoxFut<'_, End> {
    Box::pin(async move {
        let app_uuid = event_uuid.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let sim = ctx.sim.clone();
        let uuid = ctx.uuid.clone();
        let app_l = app.to_ascii_lowercase();
        let arg = expand(&sim, &arg);
        chan::execute_start(&sim, &uuid, &app, &arg, &app_uuid);
        let mut end = End::Next;
        let response: String = match app_l.as_str() {
            "answer" | "pre_answer" => {
                chan::answer(&sim, &uuid);
                "_none_".into()
            }
            "playback" | "endless_playback" => playback(ctx, &arg).await,
            "play_and_get_digits" | "read" => {
                get_digits(ctx, &app_l, &arg).await;
                "_none_".into()
            }
            "bridge" => {
                if let Some(dest) = bridge_app(ctx, &arg).await {
                    end = End::Transfer(dest);
                }
                "_none_".into()
            }
            "record_session" => {
                chan::event(&sim, &uuid, "RECORD_START", &[("Record-File-Path", &arg)]);
                ctx.recordings.push(arg.clone());
                "_none_".into()
            }
            "record" => {
                record(ctx, &arg).await;
                "_none_".into()
            }
            "stop_record_session" => {
                ctx.recordings.retain(|p| p != &arg);
                chan::event(&sim, &uuid, "RECORD_STOP", &[("Record-File-Path", &arg)]);
                "_none_".into()
            }
            "hangup" => {
                let cause = if arg.is_empty() { "NORMAL_CLEARING" } else { arg.as_str() };
                chan::hangup(&sim, &uuid, cause);
                "_none_".into()
            }
            "set" | "export" | "set_global" => {
                if let Some((n, v)) = arg.split_once('=') {
                    chan::set_var(&sim, &uuid, n, v);
                    if app_l == "export" {
                        let list = match chan::get_var(&sim, &uuid, "export_vars").flatten() {
                            Some(l) if !l.split(',').any(|x| x == n) => format!("{l},{n}"),
                            Some(l) => l,
                            None => n.to_owned(),
                        };
                        chan::set_var(&sim, &uuid, "export_vars", &list);
                    }
                }
                "_none_".into()
            }
            "sleep" => {
                let ms: f64 = arg.trim().parse().unwrap_or(0.0);
                ctx.sleep(ms / 1000.0).await;
                "_none_".into()
            }
            "echo" | "eavesdrop" => {
                if app_l == "eavesdrop" {
                    eavesdrop(ctx, &arg).await;
                } else {
                    ctx.wait_hangup().await;
                }
                "_none_".into()
            }
            "park" | "socket" => {
                end = parked(ctx, &app_l, &arg).await;
                ctx.response()
            }
            "transfer" => {
                if let Some(dest) = Dest::parse(&crate::core::split_quoted(&arg)) {
                    end = End::Transfer(dest);
                }
                "_none_".into()
            }
            _ => "_none_".into(),
        };
        chan::execute_complete(&sim, &uuid, &app, &arg, &response, &app_uuid);
        end
    })
}

/// Expands `${strftime(fmt)}` (emitting the `API` event FreeSWITCH emits for it).
fn expand(sim: &Sim, arg: &str) -> String {
    let Some(start) = arg.find("${strftime(") else { return arg.to_owned() };
    let rest = &arg[start + "${strftime(".len()..];
    let Some(end) = rest.find(")}") else { return arg.to_owned() };
    let fmt = &rest[..end];
    sim.emit_global("API", &[("API-Command", "strftime"), ("API-Command-Argument", fmt)], None);
    let now = chrono::Local::now().format(fmt).to_string();
    format!("{}{}{}", &arg[..start], now, &rest[end + 2..])
}

fn file_type(path: &str) -> &str {
    let p = path.rsplit('}').next().unwrap_or(path);
    p.split_once("://").map_or("native", |(t, _)| t)
}

/// `record <path> [<limit secs>] [<silence threshold>] [<silence hits>]`: the caller speaks
/// for as long as a prompt lasts (or until the limit, or until they hang up); the file is
/// not written, but the events and variables are FreeSWITCH's.
async fn record(ctx: &mut Ctx, arg: &str) {
    let sim = ctx.sim.clone();
    let uuid = ctx.uuid.clone();
    let mut a = arg.split_whitespace();
    let path = a.next().unwrap_or_default().to_owned();
    let limit: f64 =
        a.next().and_then(|l| l.parse().ok()).filter(|l: &f64| *l > 0.0).unwrap_or(1.0e9);
    let started = tokio::time::Instant::now();
    chan::event(&sim, &uuid, "RECORD_START", &[("Record-File-Path", &path)]);
    ctx.sleep_breakable(sim.cfg.playback_secs.min(limit)).await;
    let ms = (started.elapsed().as_secs_f64() * 1000.0 * sim.cfg.speed.max(0.0)) as u64;
    chan::set_var(&sim, &uuid, "record_ms", &ms.to_string());
    chan::set_var(&sim, &uuid, "record_seconds", &(ms / 1000).to_string());
    chan::set_var(&sim, &uuid, "record_samples", &(ms * 8).to_string());
    chan::event(&sim, &uuid, "RECORD_STOP", &[("Record-File-Path", &path)]);
    chan::record_message(&sim, &uuid, &path);
}

async fn playback(ctx: &mut Ctx, arg: &str) -> String {
    let sim = ctx.sim.clone();
    let uuid = ctx.uuid.clone();
    let ftype = file_type(arg).to_owned();
    let started = tokio::time::Instant::now();
    // `{loops=N}file` plays N times; -1 forever.
    let loops: f64 = arg
        .strip_prefix('{')
        .and_then(|r| r.split_once('}'))
        .and_then(|(vars, _)| {
            vars.split(',').find_map(|kv| kv.trim().strip_prefix("loops=")?.parse().ok())
        })
        .unwrap_or(1.0);
    let secs = if loops < 0.0 { 1.0e9 } else { sim.cfg.playback_secs * loops.max(1.0) };
    chan::set_var(&sim, &uuid, "total_loops", &format!("{loops}"));
    chan::set_var(&sim, &uuid, "current_loop", "1");
    chan::event(
        &sim,
        &uuid,
        "PLAYBACK_START",
        &[("Playback-File-Type", &ftype), ("Playback-File-Path", arg)],
    );
    let full = ctx.sleep_breakable(secs).await;
    let ms = (started.elapsed().as_secs_f64() * 1000.0 * sim.cfg.speed.max(0.0)) as u64;
    for (n, v) in [
        ("playback_last_offset_pos", (ms * 8).to_string()),
        ("playback_seconds", (ms / 1000).to_string()),
        ("playback_ms", ms.to_string()),
        ("playback_samples", (ms * 8).to_string()),
    ] {
        chan::set_var(&sim, &uuid, n, &v);
    }
    chan::event(
        &sim,
        &uuid,
        "PLAYBACK_STOP",
        &[
            ("Playback-File-Type", &ftype),
            ("Playback-File-Path", arg),
            ("Playback-Status", if full { "done" } else { "break" }),
        ],
    );
    // switch_ivr_play_file returns SWITCH_STATUS_FALSE on hangup: "PLAYBACK ERROR", as
    // in the outbound capture.
    let r = if full { "FILE PLAYED" } else { "PLAYBACK ERROR" };
    chan::set_var(&sim, &uuid, "current_application_response", r);
    r.into()
}

/// `play_and_get_digits <min> <max> <tries> <timeout> <terminators> <file> <invalid_file>
/// <var_name> <regexp> [<digit_timeout>]` and `read <min> <max> <file> <var_name>
/// <timeout> <terminators>`.
async fn get_digits(ctx: &mut Ctx, app: &str, arg: &str) {
    let sim = ctx.sim.clone();
    let uuid = ctx.uuid.clone();
    let a: Vec<&str> = arg.split_whitespace().collect();
    let get = |i: usize| a.get(i).copied().unwrap_or_default();
    let (max, tries, timeout_ms, file, var) = if app == "read" {
        (get(1), "1", get(4), get(2), get(3))
    } else {
        (get(1), get(2), get(3), get(5), get(7))
    };
    let max: usize = max.parse().unwrap_or(128);
    let tries: u32 = tries.parse().unwrap_or(1).max(1);
    let timeout = timeout_ms.parse::<f64>().unwrap_or(5000.0) / 1000.0;
    let var = if var.is_empty() { "read_result_digits" } else { var };
    let pressed = ctx.digits.lock().ok().and_then(|mut d| d.pop_front());
    let ftype = file_type(file).to_owned();
    chan::event(
        &sim,
        &uuid,
        "PLAYBACK_START",
        &[("Playback-File-Type", &ftype), ("Playback-File-Path", file)],
    );
    let mut got = String::new();
    match pressed {
        Some(digits) => {
            let mut alive = ctx.sleep(sim.cfg.dtmf_delay_secs).await;
            chan::event(
                &sim,
                &uuid,
                "PLAYBACK_STOP",
                &[
                    ("Playback-File-Type", &ftype),
                    ("Playback-File-Path", file),
                    ("Playback-Status", "break"),
                ],
            );
            for d in digits.chars().filter(|c| c.is_ascii_digit() || *c == '*' || *c == '#') {
                if !alive || got.len() >= max {
                    break;
                }
                let ds = d.to_string();
                chan::event_basic(
                    &sim,
                    &uuid,
                    "DTMF",
                    &[("DTMF-Digit", &ds), ("DTMF-Duration", "2000"), ("DTMF-Source", "RTP")],
                );
                got.push(d);
                alive = ctx.sleep(0.2).await;
            }
            chan::record_digits(&sim, &uuid, &got);
        }
        None => {
            let alive = ctx.sleep(sim.cfg.playback_secs).await;
            chan::event(
                &sim,
                &uuid,
                "PLAYBACK_STOP",
                &[
                    ("Playback-File-Type", &ftype),
                    ("Playback-File-Path", file),
                    ("Playback-Status", if alive { "done" } else { "break" }),
                ],
            );
            if alive {
                ctx.sleep(timeout * f64::from(tries)).await;
            }
        }
    }
    let result = if !got.is_empty() {
        "success"
    } else if ctx.hungup() {
        "failure"
    } else {
        "timeout"
    };
    chan::set_var(&sim, &uuid, "read_result", result);
    chan::set_var(&sim, &uuid, var, &got);
}

/// `park` and `socket`: the channel waits (CHANNEL_PARK) and runs what it is sent
/// (`sendmsg`, `uuid_bridge`, `uuid_transfer`, `uuid_broadcast`) until it hangs up.
async fn parked(ctx: &mut Ctx, app: &str, arg: &str) -> End {
    let sim = ctx.sim.clone();
    let uuid = ctx.uuid.clone();
    // Fires when this socket's connection ends with `socket_resume`: the application returns
    // and the channel goes on with its dialplan.
    let mut resumed = None;
    if app == "socket" {
        let addr = arg.split_whitespace().next().unwrap_or_default().to_owned();
        if let Some((host, _)) = addr.split_once(':') {
            chan::set_var(&sim, &uuid, "socket_host", host);
        }
        match crate::conn::connect_outbound(&sim, &uuid, &addr).await {
            Some(rx) => resumed = Some(rx),
            None => return End::Next,
        }
    }
    chan::event(&sim, &uuid, "CHANNEL_PARK", &[]);
    let mut h = ctx.hangup.clone();
    let mut pending: VecDeque<ChanCmd> = VecDeque::new();
    let end = loop {
        // `uuid_bridge` and `uuid_transfer` do not wait behind queued applications
        // (FreeSWITCH acts at once): the first of them already sent goes first.
        while let Ok(c) = ctx.cmds.try_recv() {
            pending.push_back(c);
        }
        let cmd = if let Some(i) = pending
            .iter()
            .position(|c| matches!(c, ChanCmd::Bridge { .. } | ChanCmd::Transfer { .. }))
        {
            pending.remove(i)
        } else if let Some(c) = pending.pop_front() {
            Some(c)
        } else {
            tokio::select! {
                _ = h.wait_for(|h| *h) => break End::Next,
                cmd = ctx.cmds.recv() => cmd,
                r = async {
                    match resumed.as_mut() {
                        Some(rx) => rx.await,
                        None => std::future::pending().await,
                    }
                }, if resumed.is_some() => {
                    if r.is_ok() {
                        break End::Next;
                    }
                    // Ended without `socket_resume`: the connection hangs the call up.
                    resumed = None;
                    continue;
                }
            }
        };
        match cmd {
            None => {
                ctx.wait_hangup().await;
                break End::Next;
            }
            Some(ChanCmd::Execute { app, arg, event_uuid }) => {
                if let End::Transfer(d) = run_app(ctx, app, arg, event_uuid).await {
                    chan::event(&sim, &uuid, "CHANNEL_UNPARK", &[]);
                    return End::Transfer(d);
                }
            }
            Some(ChanCmd::Broadcast { path }) => {
                run_app(ctx, "playback".into(), path, None).await;
            }
            Some(ChanCmd::Transfer { dest }) => {
                chan::event(&sim, &uuid, "CHANNEL_UNPARK", &[]);
                return End::Transfer(dest);
            }
            Some(ChanCmd::Bridge { other, initiator }) => {
                chan::event(&sim, &uuid, "CHANNEL_UNPARK", &[]);
                if initiator {
                    return uuid_bridged(ctx, &other, &mut pending).await;
                }
                ctx.wait_hangup().await;
                return End::Next;
            }
        }
    };
    chan::event(&sim, &uuid, "CHANNEL_UNPARK", &[]);
    end
}

/// The initiating side of `uuid_bridge`: both legs hang up when either does.
/// A `uuid_transfer` of this side leaves the bridge and runs the new destination's dialplan;
/// the other side is hung up then, as FreeSWITCH's `audio_bridge_on_exchange_media` does
/// with a leg whose partner left the bridge (unless it has `park_after_bridge=true`).
async fn uuid_bridged(ctx: &mut Ctx, other: &str, pending: &mut VecDeque<ChanCmd>) -> End {
    let sim = ctx.sim.clone();
    let uuid = ctx.uuid.clone();
    // A transfer sent right after the bridge may already be waiting. FreeSWITCH acts on
    // `uuid_transfer` in the api call itself, so it wins even when this task comes to the
    // bridge only after the partner is gone (a blind transfer's `uuid_kill` of the
    // operator's leg can overtake a caller still finishing its music).
    while let Ok(c) = ctx.cmds.try_recv() {
        pending.push_back(c);
    }
    let mut early = pending
        .iter()
        .position(|c| matches!(c, ChanCmd::Transfer { .. }))
        .and_then(|i| pending.remove(i));
    let unbridged = |early: Option<ChanCmd>| match early {
        Some(ChanCmd::Transfer { dest }) => End::Transfer(dest),
        _ => End::Next,
    };
    let Some(mut other_hangup) = hangup_rx(&sim, other) else { return unbridged(early) };
    // `uuid_bridge_on_soft_execute` fires a CHANNEL_EXECUTE of `uuid_bridge` for each leg
    // "that will change the data table from show channels": both show it while bridged.
    for (leg, peer) in [(uuid.as_str(), other), (other, uuid.as_str())] {
        chan::set_table_app(&sim, leg, Some(("uuid_bridge".into(), peer.to_owned())));
        sim.emit_chan(
            leg,
            "CHANNEL_EXECUTE",
            crate::core::EvSpec::full()
                .post(&[("Application", "uuid_bridge"), ("Application-Data", peer)])
                .calling("switch_ivr_bridge.c", "uuid_bridge_on_soft_execute", 0),
        );
    }
    if !chan::bridge(&sim, &uuid, other) {
        return unbridged(early);
    }
    let mut h = ctx.hangup.clone();
    let transfer = loop {
        if let Some(ChanCmd::Transfer { dest }) = early.take() {
            break Some(dest);
        }
        // FreeSWITCH acts on `uuid_transfer` in the api call itself: a transfer already
        // delivered wins over the partner's hang-up that a later command caused (the blind
        // transfer's `uuid_kill` of the operator's leg), whatever order the wake-ups come in.
        tokio::select! {
            biased;
            _ = h.wait_for(|h| *h) => break None,
            cmd = ctx.cmds.recv() => match cmd {
                Some(ChanCmd::Transfer { dest }) => break Some(dest),
                Some(_) => {}
                None => break None,
            },
            _ = other_hangup.wait_for(|h| *h) => {
                // (a transfer that arrived meanwhile still goes first)
                let mut transfer = None;
                while let Ok(cmd) = ctx.cmds.try_recv() {
                    if let ChanCmd::Transfer { dest } = cmd {
                        transfer = Some(dest);
                        break;
                    }
                }
                break transfer;
            }
        }
    };
    chan::unbridge(&sim, &uuid, other);
    if let Some(dest) = transfer {
        if chan::get_var(&sim, other, "park_after_bridge").flatten().as_deref() != Some("true") {
            chan::hangup(&sim, other, "NORMAL_CLEARING");
        }
        return End::Transfer(dest);
    }
    chan::hangup(&sim, other, "NORMAL_CLEARING");
    chan::hangup(&sim, &uuid, "NORMAL_CLEARING");
    End::Next
}

pub(crate) fn hangup_rx(sim: &Sim, uuid: &str) -> Option<watch::Receiver<bool>> {
    sim.lock().channels.get(uuid).map(|ch| ch.hangup_tx.subscribe())
}

async fn eavesdrop(ctx: &mut Ctx, target: &str) {
    let sim = ctx.sim.clone();
    chan::answer(&sim, &ctx.uuid);
    let Some(mut t) = hangup_rx(&sim, target.trim()) else { return };
    tokio::select! {
        _ = ctx.hangup.wait_for(|h| *h) => {}
        _ = t.wait_for(|h| *h) => {}
    }
}

/// The `bridge` application: dial, ring, bridge on answer; when the agent hangs up the
/// caller continues with its next application (FreeSWITCH's default
/// `hangup_after_bridge=false`). A `uuid_transfer` of the caller, while the phone rings or
/// during the conversation, ends it (the phone's leg is cancelled or hung up) and is
/// returned: the caller goes where it says. (Other commands sent meanwhile are dropped.)
async fn bridge_app(ctx: &mut Ctx, dial: &str) -> Option<Dest> {
    let sim = ctx.sim.clone();
    let uuid = ctx.uuid.clone();
    let (cid_name, cid_num) = {
        let c = sim.lock();
        c.channels
            .get(&uuid)
            .map(|ch| (ch.caller_name.clone(), ch.caller_number.clone()))
            .unwrap_or_default()
    };
    // The ringing is cancelled by the caller's hang-up or by a transfer.
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let ringing = originate_leg(&sim, dial, &cid_name, &cid_num, Some(cancel_rx));
    tokio::pin!(ringing);
    let mut a_hangup = ctx.hangup.clone();
    let mut transfer = None;
    let mut cmds_open = true;
    let leg = loop {
        tokio::select! {
            r = &mut ringing => break r,
            _ = a_hangup.wait_for(|h| *h), if !*cancel_tx.borrow() => {
                let _ = cancel_tx.send(true);
            }
            cmd = ctx.cmds.recv(), if transfer.is_none() && cmds_open => match cmd {
                Some(ChanCmd::Transfer { dest }) => {
                    transfer = Some(dest);
                    let _ = cancel_tx.send(true);
                }
                Some(_) => {}
                None => cmds_open = false,
            }
        }
    };
    let b = match leg {
        Ok(b) if transfer.is_some() => {
            // Answered just as the transfer came: that phone is hung up again.
            chan::hangup(&sim, &b, "ORIGINATOR_CANCEL");
            return transfer;
        }
        Ok(b) => b,
        Err(cause) => {
            chan::set_var(&sim, &uuid, "originate_disposition", &cause);
            chan::set_var(&sim, &uuid, "DIALSTATUS", &cause);
            chan::set_var(&sim, &uuid, "bridge_hangup_cause", &cause);
            return transfer;
        }
    };
    chan::answer(&sim, &uuid);
    let mut b_hangup = hangup_rx(&sim, &b)?;
    chan::set_var(&sim, &uuid, "originate_disposition", "SUCCESS");
    chan::set_var(&sim, &uuid, "DIALSTATUS", "SUCCESS");
    if !chan::bridge(&sim, &uuid, &b) {
        return None;
    }
    let mut cmds_open = true;
    let (a_hung, transfer) = loop {
        tokio::select! {
            _ = ctx.hangup.wait_for(|h| *h) => break (true, None),
            _ = b_hangup.wait_for(|h| *h) => break (false, None),
            cmd = ctx.cmds.recv(), if cmds_open => match cmd {
                Some(ChanCmd::Transfer { dest }) => break (true, Some(dest)),
                Some(_) => {}
                None => cmds_open = false,
            },
        }
    };
    chan::unbridge(&sim, &uuid, &b);
    if a_hung {
        // The caller left the bridge (hung up, or transferred away): so does the phone.
        chan::hangup(&sim, &b, "NORMAL_CLEARING");
    } else {
        chan::set_var(&sim, &uuid, "last_bridge_hangup_cause", "NORMAL_CLEARING");
        chan::set_state(&sim, &uuid, "CS_EXECUTE");
    }
    transfer
}

/// A parsed dial string: `{a=b,c=d}user/1001`, `sofia/internal/1001@host`,
/// `loopback/1001`.
pub(crate) struct Dial {
    pub(crate) vars: Vec<(String, String)>,
    pub(crate) user: String,
    pub(crate) name: String,
}

pub(crate) fn parse_dial(sim: &Sim, dial: &str) -> Option<Dial> {
    let dial = dial.trim();
    let (vars, ep) = match dial.strip_prefix('{').and_then(|r| r.split_once('}')) {
        Some((v, rest)) => (
            v.split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect(),
            rest,
        ),
        None => (Vec::new(), dial),
    };
    let ep = ep.split([',', '|']).next().unwrap_or_default();
    let mut parts = ep.splitn(3, '/');
    let tech = parts.next()?;
    let (user, name) = match tech {
        "user" => {
            let rest = parts.next()?;
            let user = rest.split('@').next().unwrap_or(rest).to_owned();
            let name = format!("sofia/internal/{user}@{}", sim.cfg.sip_domain);
            (user, name)
        }
        "sofia" => {
            let _profile = parts.next()?;
            let rest = parts.next()?;
            let rest = rest.trim_start_matches("sip:");
            let user = rest.split('@').next().unwrap_or(rest).to_owned();
            (user, ep.to_owned())
        }
        "loopback" => {
            let rest = parts.next()?;
            let user = rest.split('/').next().unwrap_or(rest).to_owned();
            (user, ep.to_owned())
        }
        _ => return None,
    };
    if user.is_empty() {
        return None;
    }
    Some(Dial { vars, user, name })
}

/// Creates an outbound leg to a simulated phone and rings it. `Ok(uuid)` once answered
/// (the leg has a driver that waits for its hangup); `Err(cause)` if it was rejected, not
/// answered within `call_timeout`/`originate_timeout` (default 60 s), or `cancel` fired.
pub(crate) async fn originate_leg(
    sim: &Sim,
    dial: &str,
    cid_name: &str,
    cid_num: &str,
    cancel: Option<watch::Receiver<bool>>,
) -> Result<String, String> {
    let Some(d) = parse_dial(sim, dial) else { return Err("CHAN_NOT_IMPLEMENTED".into()) };
    let var = |n: &str| d.vars.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let behaviour: EndpointBehaviour = sim.cfg.endpoint(&d.user);
    let timeout: f64 = var("originate_timeout")
        .or_else(|| var("call_timeout"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(60.0);
    let io = chan::create(
        sim,
        NewChannel {
            direction: Direction::Outbound,
            uuid: var("origination_uuid"),
            name: d.name.clone(),
            caller_number: var("origination_caller_id_number").unwrap_or_else(|| cid_num.into()),
            caller_name: var("origination_caller_id_name").unwrap_or_else(|| cid_name.into()),
            dest: d.user.clone(),
            vars: d.vars.clone(),
            record: false,
        },
    );
    let uuid = io.uuid.clone();
    let ring = async {
        if let Some(cause) = &behaviour.reject {
            sim.sleep(0.05).await;
            return Err(cause.clone());
        }
        match behaviour.answer_after_secs {
            Some(s) if s <= timeout => {
                sim.sleep(s).await;
                Ok(())
            }
            _ => {
                sim.sleep(timeout).await;
                Err("NO_ANSWER".to_owned())
            }
        }
    };
    let mut own_hangup = io.hangup.clone();
    let killed = async move {
        let _ = own_hangup.wait_for(|h| *h).await;
    };
    let cancelled = async {
        match cancel {
            Some(mut c) => {
                let _ = c.wait_for(|h| *h).await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    let result = tokio::select! {
        r = ring => r,
        _ = cancelled => Err("ORIGINATOR_CANCEL".to_owned()),
        _ = killed => Err("ORIGINATOR_CANCEL".to_owned()),
    };
    let digits = Arc::new(Mutex::new(VecDeque::new()));
    match result {
        Ok(()) => {
            chan::answer(sim, &uuid);
            if let Some(after) = behaviour.hangup_after_secs {
                let sim2 = sim.clone();
                let u = uuid.clone();
                tokio::spawn(async move {
                    sim2.sleep(after).await;
                    chan::hangup(&sim2, &u, "NORMAL_CLEARING");
                });
            }
            // The leg waits (bridged or parked by the caller of this function).
            spawn_leg_driver(sim.clone(), io, digits);
            Ok(uuid)
        }
        Err(cause) => {
            chan::hangup(sim, &uuid, &cause);
            spawn_driver(sim.clone(), io, Vec::new(), digits);
            Err(cause)
        }
    }
}

/// The driver of an answered outbound leg before it is given an application: it waits
/// for commands (originate sends `Execute` for `&park()` etc.) or for its hangup.
fn spawn_leg_driver(sim: Sim, io: ChannelIo, digits: Arc<Mutex<VecDeque<String>>>) {
    tokio::spawn(async move {
        let ChannelIo { uuid, cmds, hangup, bridge, brk } = io;
        let mut ctx = Ctx { sim, uuid, hangup, bridge, brk, cmds, digits, recordings: Vec::new() };
        let mut h = ctx.hangup.clone();
        loop {
            if ctx.hungup() {
                break;
            }
            let cmd = tokio::select! {
                _ = h.wait_for(|h| *h) => break,
                cmd = ctx.cmds.recv() => cmd,
            };
            match cmd {
                Some(ChanCmd::Execute { app, arg, event_uuid }) => {
                    chan::set_state(&ctx.sim, &ctx.uuid, "CS_EXECUTE");
                    let mut next: VecDeque<(String, String)> = VecDeque::new();
                    next.push_back((app, arg));
                    let mut first_uuid = event_uuid;
                    while let Some((app, arg)) = next.pop_front() {
                        if ctx.hungup() {
                            break;
                        }
                        if let End::Transfer(d) =
                            run_app(&mut ctx, app, arg, first_uuid.take()).await
                        {
                            next = transferred(&ctx.sim, &ctx.uuid, &d).into();
                        }
                    }
                    let bridged = ctx.bridge.borrow().is_some();
                    if !ctx.hungup() && !bridged {
                        chan::hangup(&ctx.sim, &ctx.uuid, "NORMAL_CLEARING");
                    }
                }
                Some(_) => {}
                None => {
                    ctx.wait_hangup().await;
                    break;
                }
            }
        }
        finish(&mut ctx);
    });
}

/// Places a simulated incoming call: creates the inbound channel, starts the caller's
/// behaviour and the dialplan. Returns the channel UUID.
pub(crate) fn incoming_call(
    sim: &Sim,
    caller: &str,
    caller_name: &str,
    dest: &str,
    script: CallerScript,
) -> String {
    let io = chan::create(
        sim,
        NewChannel {
            direction: Direction::Inbound,
            uuid: None,
            name: format!("sofia/internal/{caller}@{}", sim.cfg.sip_domain),
            caller_number: caller.to_owned(),
            caller_name: caller_name.to_owned(),
            dest: dest.to_owned(),
            vars: Vec::new(),
            record: true,
        },
    );
    let uuid = io.uuid.clone();
    let mut hang = io.hangup.clone();
    let mut bridged = io.bridge.clone();
    let digits = Arc::new(Mutex::new(script.digits.clone()));
    let plan = dialplan(sim, &uuid, dest);
    spawn_driver(sim.clone(), io, plan, digits);
    for (at, digits) in script.dtmf.clone() {
        let sim2 = sim.clone();
        let u = uuid.clone();
        tokio::spawn(async move {
            sim2.sleep(at).await;
            for d in digits.chars() {
                if !chan::exists(&sim2, &u) || hangup_rx(&sim2, &u).is_none_or(|h| *h.borrow()) {
                    return;
                }
                let ds = d.to_string();
                chan::event_basic(
                    &sim2,
                    &u,
                    "DTMF",
                    &[("DTMF-Digit", &ds), ("DTMF-Duration", "2000"), ("DTMF-Source", "RTP")],
                );
                chan::record_digits(&sim2, &u, &ds);
                sim2.sleep(0.2).await;
            }
        });
    }
    let sim2 = sim.clone();
    let u = uuid.clone();
    tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        let deadline = |secs: Option<f64>| secs.map(|s| start + sim2.dur(s));
        let max = deadline(script.max_secs);
        let patience = deadline(script.patience_secs);
        let sleep_until = |t: Option<tokio::time::Instant>| async move {
            match t {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        let mut talk_deadline: Option<tokio::time::Instant> = None;
        let mut ever_bridged = false;
        loop {
            let is_bridged = bridged.borrow().is_some();
            let patience_now = if ever_bridged { None } else { patience };
            tokio::select! {
                _ = hang.wait_for(|h| *h) => return,
                _ = sleep_until(max) => break,
                _ = sleep_until(patience_now), if !is_bridged => break,
                _ = sleep_until(talk_deadline), if is_bridged => break,
                r = bridged.changed() => {
                    if r.is_err() { return; }
                    if bridged.borrow().is_some() {
                        ever_bridged = true;
                        talk_deadline = script
                            .talk_secs
                            .map(|s| tokio::time::Instant::now() + sim2.dur(s));
                    } else {
                        talk_deadline = None;
                    }
                }
            }
        }
        chan::hangup(&sim2, &u, "NORMAL_CLEARING");
    });
    uuid
}
