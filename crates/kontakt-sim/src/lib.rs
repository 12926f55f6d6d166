//! kontakt-sim: a FreeSWITCH 1.10 emulator that speaks the Event Socket over TCP.
//!
//! * Inbound socket (FreeSWITCH's 8021): `auth`, `event plain|json|xml`, `nixevent`,
//!   `noevents`, `filter`, `myevents`, `api`, `bgapi`, `log`, `linger`, `exit`, `sendmsg`.
//! * Channels with FreeSWITCH's state machine and event sequence; simulated callers
//!   (digits, patience, talk time) and agent phones (ring time, no answer, reject).
//! * Outbound socket: every simulated incoming call connects to the configured
//!   `socket <addr> async full` server and is driven by `sendmsg`.
//! * Scenarios (scripted or random, seeded).
//!
//! Frames are encoded by `kontakt_esl::server`. See README.md for fidelity limits.

mod api;
mod apps;
mod chan;
mod config;
pub mod conformance;
mod conn;
mod core;
mod scenario;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use crate::config::{EmulatorConfig, EndpointBehaviour, EndpointConfig};
pub use crate::core::{CallRecord, Direction, Stats};
pub use crate::scenario::{IvrChoice, RandomScenario, Scenario, ScriptedCall, TimedDigits};

use crate::core::{Shared, Sim};

/// The emulator (constructor namespace).
pub struct Emulator;

/// A channel as listed by [`EmulatorHandle::channels`].
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChannelInfo {
    /// `Unique-ID`.
    pub uuid: String,
    /// `Channel-Name`.
    pub name: String,
    /// Inbound (caller) or outbound (agent leg).
    pub direction: Direction,
    /// `Channel-State`.
    pub state: String,
    /// `Channel-Call-State`.
    pub callstate: String,
    /// `Answer-State`.
    pub answer_state: String,
    /// Caller number.
    pub caller: String,
    /// Destination number.
    pub destination: String,
    /// The bridged leg.
    pub other_leg: Option<String>,
    /// The running application.
    pub application: Option<String>,
}

/// A running emulator. Dropping it stops the listener and the background tasks (calls in
/// progress are abandoned).
pub struct EmulatorHandle {
    sim: Sim,
    addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.sim.kill_connections(true);
        self.sim.kill_connections(false);
    }
}

impl Emulator {
    /// Binds the inbound Event Socket, starts the heartbeat and the scenario (if any).
    pub async fn start(config: EmulatorConfig) -> anyhow::Result<EmulatorHandle> {
        let listener = TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("binding the inbound event socket on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let sim = Shared::new(config);
        let mut tasks = Vec::new();
        let s = sim.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                if s.refuse_inbound.load(std::sync::atomic::Ordering::Relaxed) {
                    continue;
                }
                let _ = stream.set_nodelay(true);
                tokio::spawn(conn::serve(s.clone(), stream, conn::Mode::Inbound, None));
            }
        }));
        if sim.cfg.heartbeat_secs > 0.0 {
            let s = sim.clone();
            tasks.push(tokio::spawn(async move {
                let period = s.dur(s.cfg.heartbeat_secs);
                let mut tick =
                    tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                loop {
                    tick.tick().await;
                    heartbeat(&s);
                }
            }));
        }
        if let Some(sc) = sim.cfg.scenario.clone() {
            let s = sim.clone();
            tasks.push(tokio::spawn(async move {
                let start = tokio::time::Instant::now();
                for call in sc.plan() {
                    tokio::time::sleep_until(start + s.dur(call.at_secs)).await;
                    place(&s, &call);
                }
            }));
        }
        tracing::info!(%addr, "kontakt-sim listening (inbound event socket)");
        Ok(EmulatorHandle { sim, addr, tasks })
    }
}

fn place(sim: &Sim, call: &ScriptedCall) -> String {
    let script = apps::CallerScript {
        digits: call.digits.iter().cloned().collect(),
        patience_secs: call.patience_secs,
        talk_secs: call.talk_secs,
        max_secs: call.hangup_after_secs,
        dtmf: call.dtmf.iter().map(|d| (d.at_secs, d.digits.clone())).collect(),
    };
    let name = call.caller_name.clone().unwrap_or_else(|| call.caller.clone());
    apps::incoming_call(sim, &call.caller, &name, &call.destination, script)
}

fn heartbeat(sim: &Shared) {
    let up = sim.started.elapsed();
    let s = up.as_secs();
    let stats = sim.stats();
    let up_time = format!(
        "0 years, {} days, {} hours, {} minutes, {} seconds, {} milliseconds, {} microseconds",
        s / 86_400,
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60,
        up.subsec_millis(),
        up.subsec_micros() % 1000
    );
    let ms = up.as_millis().to_string();
    let count = stats.active_channels.to_string();
    let since = stats.sessions_since_startup.to_string();
    let peak = stats.peak_channels.to_string();
    sim.emit_global(
        "HEARTBEAT",
        &[
            ("Event-Info", "System Ready"),
            ("Up-Time", &up_time),
            ("FreeSWITCH-Version", "1.10.12-release~64bit"),
            ("Uptime-msec", &ms),
            ("Session-Count", &count),
            ("Max-Sessions", "1000"),
            ("Session-Per-Sec", "30"),
            ("Session-Per-Sec-Last", "0"),
            ("Session-Per-Sec-Max", "2"),
            ("Session-Per-Sec-FiveMin", "2"),
            ("Session-Since-Startup", &since),
            ("Session-Peak-Max", &peak),
            ("Session-Peak-FiveMin", &peak),
            ("Idle-CPU", "99.000000"),
        ],
        None,
    );
}

impl EmulatorHandle {
    /// The address of the inbound Event Socket.
    pub fn inbound_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Places a simulated incoming call now (`at_secs` is ignored) and returns its UUID.
    /// The call runs the dialplan: echo destinations, else the outbound socket, else park.
    pub fn place_call(&self, call: &ScriptedCall) -> String {
        place(&self.sim, call)
    }

    /// Hangs up a channel with `cause` (as `uuid_kill`). False if there is no such channel.
    pub fn hangup(&self, uuid: &str, cause: &str) -> bool {
        chan::hangup(&self.sim, uuid, cause)
    }

    /// Runs an api command as a client would (`status`, `originate ...`) and returns the
    /// `api/response` body.
    pub async fn api(&self, command: &str) -> String {
        api::execute(&self.sim, command, None).await
    }

    /// Emits a `HEARTBEAT` now.
    pub fn heartbeat_now(&self) {
        heartbeat(&self.sim);
    }

    /// Drops every inbound Event Socket connection (test of reconnection). Returns how
    /// many were dropped.
    pub fn drop_inbound_connections(&self) -> usize {
        self.sim.kill_connections(true)
    }

    /// While `refuse` is true, inbound Event Socket connections are closed as soon as they
    /// are accepted (the control port unreachable); connections already up are not touched
    /// ([`Self::drop_inbound_connections`] drops them).
    pub fn refuse_inbound_connections(&self, refuse: bool) {
        self.sim.refuse_inbound.store(refuse, std::sync::atomic::Ordering::Relaxed);
    }

    /// Drops every outbound socket connection. Their calls are hung up, as when a socket
    /// application dies — unless the dialplan set `socket_resume` (see
    /// [`EmulatorConfig::socket_resume`]), when they go on to degraded mode.
    pub fn drop_outbound_connections(&self) -> usize {
        self.sim.kill_connections(false)
    }

    /// The channels up now, in creation order.
    pub fn channels(&self) -> Vec<ChannelInfo> {
        let c = self.sim.lock();
        c.order
            .iter()
            .filter_map(|u| c.channels.get(u))
            .map(|ch| ChannelInfo {
                uuid: ch.uuid.clone(),
                name: ch.name.clone(),
                direction: ch.direction,
                state: ch.state.to_owned(),
                callstate: ch.callstate.to_owned(),
                answer_state: ch.answer_state.to_owned(),
                caller: ch.caller_number.clone(),
                destination: ch.dest.clone(),
                other_leg: ch.other_leg.clone(),
                application: ch
                    .table_app
                    .as_ref()
                    .or(ch.application.first())
                    .map(|(a, _)| a.clone()),
            })
            .collect()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.sim.stats()
    }

    /// One record per simulated incoming call, in order of placement.
    pub fn report(&self) -> Vec<CallRecord> {
        self.sim.lock().records.clone()
    }

    /// Waits until no channel is up (or `timeout` passes); true if idle.
    pub async fn wait_idle(&self, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.sim.lock().channels.is_empty() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &EmulatorConfig {
        &self.sim.cfg
    }
}

/// Runs the emulator until Ctrl-C (or, with a scenario, until the scenario's calls are
/// all over and `exit_when_done` is set), then logs the call report. The entry point for
/// `kontakt sim`.
pub async fn run(config: EmulatorConfig) -> anyhow::Result<()> {
    run_with(config, false).await.map(|_| ())
}

/// Like [`run`]; with `exit_when_done` it returns once the scenario has placed all its
/// calls and they have ended. Returns the call report.
pub async fn run_with(
    config: EmulatorConfig,
    exit_when_done: bool,
) -> anyhow::Result<Vec<CallRecord>> {
    let planned = config.scenario.as_ref().map_or(0, |s| s.plan().len());
    let handle = Emulator::start(config).await?;
    let done = async {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let st = handle.stats();
            if exit_when_done && st.calls_placed as usize >= planned && st.active_channels == 0 {
                break;
            }
        }
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        () = done => {}
    }
    let report = handle.report();
    let answered = report.iter().filter(|r| r.answered_us > 0).count();
    let bridged = report.iter().filter(|r| r.bridged_us > 0).count();
    tracing::info!(calls = report.len(), answered, bridged, "kontakt-sim finished");
    Ok(report)
}

/// The emulator is `Send + Sync` so tests can share the handle.
const _: fn() = || {
    fn assert<T: Send + Sync>() {}
    assert::<EmulatorHandle>();
    assert::<Arc<EmulatorHandle>>();
};
