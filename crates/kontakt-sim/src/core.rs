//! The switch core: global event sequence, subscribers, channels and the events they
//! produce, all behind one mutex (never held across an `.await`) so that `Event-Sequence`
//! order is delivery order on every connection.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kontakt_esl::{Event, Headers};
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::config::EmulatorConfig;

/// What a connection task receives from the core.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// An event that passed the connection's subscription.
    Event(Arc<Event>),
    /// The controlled channel hung up (outbound socket): send the disconnect-notice.
    Disconnect { linger: bool },
    /// Drop the connection now (test hook).
    Kill,
}

/// `event plain|json|xml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Plain,
    Json,
    Xml,
}

impl Format {
    pub(crate) fn parse(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "plain" => Some(Format::Plain),
            "json" => Some(Format::Json),
            "xml" => Some(Format::Xml),
            _ => None,
        }
    }
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Format::Plain => "plain",
            Format::Json => "json",
            Format::Xml => "xml",
        }
    }
}

/// A connection's event subscription (`event`, `nixevent`, `filter`, `myevents`).
#[derive(Debug, Default, Clone)]
pub(crate) struct Subscription {
    pub(crate) all: bool,
    pub(crate) names: HashSet<String>,
    pub(crate) nixed: HashSet<String>,
    pub(crate) any_custom: bool,
    pub(crate) custom: HashSet<String>,
    pub(crate) filters: Vec<(String, String)>,
    pub(crate) my_uuid: Option<String>,
}

impl Subscription {
    fn wants(&self, ev: &Event) -> bool {
        let name = ev.name().unwrap_or_default();
        if let Some(u) = &self.my_uuid
            && ev.unique_id() != Some(u.as_str())
        {
            return false;
        }
        if self.nixed.contains(name) {
            return false;
        }
        let by_name = if name == "CUSTOM" {
            self.all || self.any_custom || ev.subclass().is_some_and(|s| self.custom.contains(s))
        } else {
            self.all || self.names.contains(name)
        };
        if !by_name {
            return false;
        }
        self.filters.is_empty()
            || self.filters.iter().any(|(h, v)| ev.header(h).is_some_and(|x| x == v))
    }
}

struct Subscriber {
    tx: mpsc::UnboundedSender<Outgoing>,
    /// Events sent to the connection task and not yet taken by it.
    queued: Arc<AtomicUsize>,
    /// Events dropped because the queue was full (mod_event_socket's `lost_events`).
    lost: usize,
    sub: Subscription,
    inbound: bool,
    /// Outbound socket: the channel it controls and whether it lingers.
    controls: Option<String>,
    linger: bool,
}

/// Direction of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// A call coming into the switch (a simulated caller).
    Inbound,
    /// A channel the switch originated (an agent leg).
    Outbound,
}

/// A command for a channel's driver task.
#[derive(Debug)]
pub(crate) enum ChanCmd {
    Execute { app: String, arg: String, event_uuid: Option<String> },
    Bridge { other: String, initiator: bool },
    Transfer { dest: Dest },
    Broadcast { path: String },
}

/// Where a transfer sends a channel: an extension of the XML dialplan, or (`inline`) the
/// applications themselves, `app:arg[,app:arg…]` (`uuid_transfer <uuid> 'socket:… async
/// full' inline`, how Kontakt pulls a call back onto its socket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dest {
    /// The new destination number: the extension, or the inline applications' text, which
    /// FreeSWITCH also takes as the destination number.
    pub(crate) exten: String,
    pub(crate) inline: bool,
}

impl Dest {
    /// `<exten> [<dialplan>] [<context>]`, with single quotes grouping words as
    /// FreeSWITCH's api argument parser does. None without an extension.
    pub(crate) fn parse(args: &[String]) -> Option<Dest> {
        let exten = args.first()?.clone();
        let inline = args.get(1).is_some_and(|d| d.eq_ignore_ascii_case("inline"));
        Some(Dest { exten, inline })
    }

    /// The applications an inline destination runs, in order.
    pub(crate) fn inline_apps(&self) -> Vec<(String, String)> {
        self.exten
            .split(',')
            .filter(|a| !a.trim().is_empty())
            .map(|a| match a.split_once(':') {
                Some((app, arg)) => (app.trim().to_owned(), arg.to_owned()),
                None => (a.trim().to_owned(), String::new()),
            })
            .collect()
    }
}

/// Splits an api command's arguments at spaces, keeping 'single-quoted words' together
/// (without their quotes), as `switch_separate_string` does.
pub(crate) fn split_quoted(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut any) = (false, false);
    for c in s.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// A channel as the core sees it.
pub(crate) struct Channel {
    pub(crate) uuid: String,
    pub(crate) name: String,
    pub(crate) direction: Direction,
    pub(crate) state: &'static str,
    pub(crate) callstate: &'static str,
    pub(crate) answer_state: &'static str,
    pub(crate) hit_dialplan: bool,
    pub(crate) presence_id: Option<String>,
    pub(crate) hangup_cause: Option<String>,
    pub(crate) media: bool,
    pub(crate) codec: &'static str,
    pub(crate) profile_started: bool,
    pub(crate) caller_name: String,
    pub(crate) caller_number: String,
    pub(crate) orig_caller_name: String,
    pub(crate) orig_caller_number: String,
    pub(crate) callee: Option<(String, String)>,
    pub(crate) dest: String,
    pub(crate) context: String,
    pub(crate) created_us: u64,
    pub(crate) answered_us: u64,
    pub(crate) progress_us: u64,
    pub(crate) progress_media_us: u64,
    pub(crate) hangup_us: u64,
    pub(crate) transfer_us: u64,
    pub(crate) bridged_us: u64,
    pub(crate) last_hold_us: u64,
    pub(crate) hold_accum_us: u64,
    pub(crate) vars: Vec<(String, String)>,
    pub(crate) other_leg: Option<String>,
    /// Running applications, outermost first (`park` with a `playback` inside).
    pub(crate) application: Vec<(String, String)>,
    /// What `show channels` reports instead while set (`uuid_bridge` while bridged by it).
    pub(crate) table_app: Option<(String, String)>,
    pub(crate) held: bool,
    pub(crate) hangup_tx: watch::Sender<bool>,
    pub(crate) cmd_tx: mpsc::UnboundedSender<ChanCmd>,
    pub(crate) bridge_tx: watch::Sender<Option<String>>,
    /// Bumped by `uuid_break` and `uuid_bridge`: the running playback stops.
    pub(crate) break_tx: watch::Sender<u64>,
    pub(crate) record: usize,
}

impl Channel {
    pub(crate) fn var(&self, name: &str) -> Option<&str> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
    pub(crate) fn set_var(&mut self, name: &str, value: &str) {
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.to_owned(),
            None => self.vars.push((name.to_owned(), value.to_owned())),
        }
    }
    pub(crate) fn state_number(&self) -> u32 {
        match self.state {
            "CS_NEW" => 0,
            "CS_INIT" => 1,
            "CS_ROUTING" => 2,
            "CS_SOFT_EXECUTE" => 3,
            "CS_EXECUTE" => 4,
            "CS_EXCHANGE_MEDIA" => 5,
            "CS_PARK" => 6,
            "CS_CONSUME_MEDIA" => 7,
            "CS_HIBERNATE" => 8,
            "CS_RESET" => 9,
            "CS_HANGUP" => 10,
            "CS_REPORTING" => 11,
            "CS_DESTROY" => 12,
            _ => 13,
        }
    }
    pub(crate) fn is_hungup(&self) -> bool {
        self.hangup_cause.is_some()
    }
}

pub(crate) fn callstate_num(s: &str) -> u32 {
    match s {
        "DOWN" => 0,
        "DIALING" => 1,
        "RINGING" => 2,
        "EARLY" => 3,
        "ACTIVE" => 4,
        "HELD" => 5,
        "RING_WAIT" => 6,
        "HANGUP" => 7,
        "UNHELD" => 8,
        _ => 0,
    }
}

/// One call placed by the emulator (for reports: a demo can count lost records).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CallRecord {
    /// Channel UUID.
    pub uuid: String,
    /// Caller number.
    pub caller: String,
    /// Dialled number.
    pub destination: String,
    /// Unix time of creation, microseconds.
    pub created_us: u64,
    /// Unix time of answer, microseconds (0 if never).
    pub answered_us: u64,
    /// Unix time of the bridge to an agent, microseconds (0 if never).
    pub bridged_us: u64,
    /// Unix time of hangup, microseconds (0 while up).
    pub hangup_us: u64,
    /// The agent leg's UUID, if bridged.
    pub agent_uuid: Option<String>,
    /// Unix time, microseconds, at which an application server last took the call: sent
    /// `connect` on its outbound socket and got the channel data (0 if none ever did).
    pub connected_us: u64,
    /// The hangup cause, once hung up.
    pub hangup_cause: Option<String>,
    /// Digits the caller pressed.
    pub digits: String,
    /// Files the caller's messages were recorded into (`record`).
    pub messages: Vec<String>,
}

/// Counters.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    /// Channels created since start.
    pub sessions_since_startup: u64,
    /// Channels up now.
    pub active_channels: usize,
    /// Peak simultaneous channels.
    pub peak_channels: usize,
    /// Events produced (the last `Event-Sequence`).
    pub events: u64,
    /// Inbound connections accepted.
    pub inbound_connections: u64,
    /// Outbound socket connections made.
    pub outbound_connections: u64,
    /// Calls placed by `place_call` or a scenario.
    pub calls_placed: u64,
    /// Events not delivered because a connection's queue was full.
    pub events_dropped: u64,
}

/// mod_event_socket's `MAX_MISSED`: lost events before a slow listener is killed.
pub(crate) const MAX_MISSED: usize = 500;

pub(crate) struct Core {
    max_queue: usize,
    seq: u64,
    next_sub: u64,
    subs: HashMap<u64, Subscriber>,
    /// Subscribers by the one channel they follow (`myevents`), and the others: an event
    /// is offered only to these, not to every connection — thousands of call sockets
    /// would otherwise make each event cost thousands of checks under the core's lock.
    subs_by_uuid: HashMap<String, Vec<u64>>,
    subs_global: Vec<u64>,
    pub(crate) channels: HashMap<String, Channel>,
    pub(crate) order: Vec<String>,
    pub(crate) stats: Stats,
    pub(crate) records: Vec<CallRecord>,
    pub(crate) record_index: HashMap<String, usize>,
}

/// State shared by every task of one emulator.
pub(crate) struct Shared {
    pub(crate) cfg: EmulatorConfig,
    pub(crate) core_uuid: String,
    pub(crate) started: std::time::Instant,
    /// Inbound Event Socket connections are closed as soon as they are accepted (tests:
    /// the control port unreachable for a while).
    pub(crate) refuse_inbound: std::sync::atomic::AtomicBool,
    core: Mutex<Core>,
}

pub(crate) type Sim = Arc<Shared>;

pub(crate) fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

impl Shared {
    pub(crate) fn new(cfg: EmulatorConfig) -> Sim {
        let max_queue = cfg.max_event_queue.max(1);
        Arc::new(Shared {
            cfg,
            core_uuid: uuid::Uuid::new_v4().to_string(),
            started: std::time::Instant::now(),
            refuse_inbound: std::sync::atomic::AtomicBool::new(false),
            core: Mutex::new(Core {
                max_queue,
                seq: 0,
                next_sub: 1,
                subs: HashMap::new(),
                subs_by_uuid: HashMap::new(),
                subs_global: Vec::new(),
                channels: HashMap::new(),
                order: Vec::new(),
                stats: Stats::default(),
                records: Vec::new(),
                record_index: HashMap::new(),
            }),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A simulated duration in real time.
    pub(crate) fn dur(&self, secs: f64) -> Duration {
        let speed = if self.cfg.speed > 0.0 { self.cfg.speed } else { 1.0 };
        Duration::from_secs_f64((secs / speed).clamp(0.0, 1.0e9))
    }

    pub(crate) async fn sleep(&self, secs: f64) {
        tokio::time::sleep(self.dur(secs)).await;
    }

    pub(crate) fn subscribe(
        &self,
        inbound: bool,
        controls: Option<String>,
    ) -> (u64, mpsc::UnboundedReceiver<Outgoing>, Arc<AtomicUsize>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let mut c = self.lock();
        let id = c.next_sub;
        c.next_sub += 1;
        c.subs.insert(
            id,
            Subscriber {
                tx,
                queued: queued.clone(),
                lost: 0,
                sub: Subscription::default(),
                inbound,
                controls,
                linger: false,
            },
        );
        c.subs_global.push(id);
        if inbound {
            c.stats.inbound_connections += 1;
        } else {
            c.stats.outbound_connections += 1;
        }
        (id, rx, queued)
    }

    pub(crate) fn unsubscribe(&self, id: u64) {
        let mut c = self.lock();
        if let Some(s) = c.subs.remove(&id) {
            Self::unindex(&mut c, id, s.sub.my_uuid.as_deref());
        }
    }

    fn unindex(c: &mut Core, id: u64, my_uuid: Option<&str>) {
        match my_uuid {
            Some(u) => {
                if let Some(ids) = c.subs_by_uuid.get_mut(u) {
                    ids.retain(|x| *x != id);
                    if ids.is_empty() {
                        c.subs_by_uuid.remove(u);
                    }
                }
            }
            None => c.subs_global.retain(|x| *x != id),
        }
    }

    pub(crate) fn update_sub<R>(&self, id: u64, f: impl FnOnce(&mut Subscription) -> R) -> R {
        let mut c = self.lock();
        let mut tmp = Subscription::default();
        let s = c.subs.get_mut(&id).map_or(&mut tmp, |s| &mut s.sub);
        let before = s.my_uuid.clone();
        let r = f(s);
        let after = s.my_uuid.clone();
        if before != after && c.subs.contains_key(&id) {
            Self::unindex(&mut c, id, before.as_deref());
            match after {
                Some(u) => c.subs_by_uuid.entry(u).or_default().push(id),
                None => c.subs_global.push(id),
            }
        }
        r
    }

    pub(crate) fn set_linger(&self, id: u64, linger: bool) {
        if let Some(s) = self.lock().subs.get_mut(&id) {
            s.linger = linger;
        }
    }

    /// Kills every inbound (or outbound) connection.
    pub(crate) fn kill_connections(&self, inbound: bool) -> usize {
        let c = self.lock();
        let mut n = 0;
        for s in c.subs.values().filter(|s| s.inbound == inbound) {
            if s.tx.send(Outgoing::Kill).is_ok() {
                n += 1;
            }
        }
        n
    }

    /// Builds the 13 base headers of every FreeSWITCH event.
    fn base(&self, c: &mut Core, name: &str, file: &str, func: &str, line: u32) -> Headers {
        self.base_sub(c, None, name, file, func, line)
    }

    /// Base headers; a `CUSTOM` event has `Event-Subclass` first, as FreeSWITCH sends it.
    fn base_sub(
        &self,
        c: &mut Core,
        subclass: Option<&str>,
        name: &str,
        file: &str,
        func: &str,
        line: u32,
    ) -> Headers {
        c.seq += 1;
        c.stats.events = c.seq;
        let now = chrono::Local::now();
        let mut h = Headers::with_capacity(8192, 256);
        if let Some(sub) = subclass {
            h.push("Event-Subclass", sub);
        }
        h.push("Event-Name", name);
        h.push("Core-UUID", &self.core_uuid);
        h.push("FreeSWITCH-Hostname", &self.cfg.hostname);
        h.push("FreeSWITCH-Switchname", &self.cfg.hostname);
        h.push("FreeSWITCH-IPv4", &self.cfg.ipv4);
        h.push("FreeSWITCH-IPv6", &self.cfg.ipv6);
        h.push("Event-Date-Local", &now.format("%Y-%m-%d %H:%M:%S").to_string());
        h.push(
            "Event-Date-GMT",
            &now.with_timezone(&chrono::Utc).format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        );
        h.push("Event-Date-Timestamp", &now.timestamp_micros().to_string());
        h.push("Event-Calling-File", file);
        h.push("Event-Calling-Function", func);
        h.push("Event-Calling-Line-Number", &line.to_string());
        h.push("Event-Sequence", &c.seq.to_string());
        h
    }

    /// Queues an event for every subscriber that wants it. Like mod_event_socket, a
    /// listener whose queue holds `max_event_queue` events loses the next ones, and is
    /// disconnected once it has lost more than [`MAX_MISSED`].
    fn deliver(c: &mut Core, ev: Event) {
        let ev = Arc::new(ev);
        let max = c.max_queue;
        let mut dropped = 0;
        let mut ids = c.subs_global.clone();
        if let Some(followers) = ev.unique_id().and_then(|u| c.subs_by_uuid.get(u)) {
            ids.extend_from_slice(followers);
        }
        for id in ids {
            let Some(s) = c.subs.get_mut(&id) else { continue };
            if !s.sub.wants(&ev) {
                continue;
            }
            if s.queued.load(Ordering::Relaxed) >= max {
                s.lost += 1;
                dropped += 1;
                if s.lost == MAX_MISSED + 1 {
                    let _ = s.tx.send(Outgoing::Kill);
                }
                continue;
            }
            s.queued.fetch_add(1, Ordering::Relaxed);
            let _ = s.tx.send(Outgoing::Event(ev.clone()));
        }
        c.stats.events_dropped += dropped as u64;
    }

    /// Emits a non-channel event: base headers, then `extra`, then an optional body.
    pub(crate) fn emit_global(&self, name: &str, extra: &[(&str, &str)], body: Option<String>) {
        let (file, func, line) = calling(name);
        let mut c = self.lock();
        let mut h = self.base(&mut c, name, file, func, line);
        for (n, v) in extra {
            h.push(n, v);
        }
        Self::deliver(&mut c, Event::new(h, body));
    }

    /// Emits a `CUSTOM` event with `subclass` under an already held lock.
    pub(crate) fn emit_custom_locked(
        &self,
        c: &mut Core,
        subclass: &str,
        calling: (&str, &str, u32),
        extra: &[(&str, &str)],
    ) {
        let mut h = self.base_sub(c, Some(subclass), "CUSTOM", calling.0, calling.1, calling.2);
        for (n, v) in extra {
            h.push(n, v);
        }
        Self::deliver(c, Event::new(h, None));
    }

    /// Emits a channel event under an already held lock.
    pub(crate) fn emit_chan_locked(
        &self,
        c: &mut Core,
        uuid: &str,
        name: &str,
        spec: EvSpec<'_>,
    ) -> bool {
        let (file, func, line) = spec.calling.unwrap_or_else(|| calling(name));
        let Some(ch) = c.channels.get(uuid) else { return false };
        let data = self.channel_headers(c, ch, spec.vars, spec.profile);
        let mut h = self.base(c, name, file, func, line);
        for (n, v) in spec.pre {
            h.push(n, v);
        }
        for (n, v) in data.iter() {
            h.push(n, v);
        }
        for (n, v) in spec.post {
            h.push(n, v);
        }
        Self::deliver(c, Event::new(h, spec.body));
        true
    }

    /// Emits a channel event.
    pub(crate) fn emit_chan(&self, uuid: &str, name: &str, spec: EvSpec<'_>) -> bool {
        let mut c = self.lock();
        self.emit_chan_locked(&mut c, uuid, name, spec)
    }

    /// `switch_channel_event_set_data`: basic data, caller profile, other leg, variables.
    pub(crate) fn channel_headers(
        &self,
        c: &Core,
        ch: &Channel,
        with_vars: bool,
        with_profile: bool,
    ) -> Headers {
        let mut h = Headers::with_capacity(8192, 256);
        let dir = match ch.direction {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        };
        h.push("Channel-State", ch.state);
        h.push("Channel-Call-State", ch.callstate);
        h.push("Channel-State-Number", &ch.state_number().to_string());
        h.push("Channel-Name", &ch.name);
        h.push("Unique-ID", &ch.uuid);
        h.push("Call-Direction", dir);
        h.push("Presence-Call-Direction", dir);
        h.push("Channel-HIT-Dialplan", if ch.hit_dialplan { "true" } else { "false" });
        if let Some(p) = &ch.presence_id {
            h.push("Channel-Presence-ID", p);
        }
        h.push("Channel-Call-UUID", &ch.uuid);
        h.push("Answer-State", ch.answer_state);
        if let Some(cause) = &ch.hangup_cause {
            h.push("Hangup-Cause", cause);
        }
        if ch.media {
            h.push("Channel-Read-Codec-Name", ch.codec);
            h.push("Channel-Read-Codec-Rate", "8000");
            h.push("Channel-Read-Codec-Bit-Rate", "64000");
            h.push("Channel-Write-Codec-Name", ch.codec);
            h.push("Channel-Write-Codec-Rate", "8000");
            h.push("Channel-Write-Codec-Bit-Rate", "64000");
        }
        if with_profile && ch.profile_started {
            push_profile(&mut h, "Caller", ch);
            if let Some(o) = ch.other_leg.as_ref().and_then(|u| c.channels.get(u)) {
                push_profile(&mut h, "Other-Leg", o);
            }
        }
        if with_vars {
            for (n, v) in &ch.vars {
                h.push(&format!("variable_{n}"), v);
            }
        }
        h
    }

    /// The `CHANNEL_DATA` headers (outbound `connect` reply, `uuid_dump`).
    pub(crate) fn channel_data(
        &self,
        uuid: &str,
        file: &str,
        func: &str,
        line: u32,
    ) -> Option<Event> {
        let mut c = self.lock();
        let data = {
            let ch = c.channels.get(uuid)?;
            let mut profile = Headers::new();
            if func == "parse_command" {
                push_profile(&mut profile, "Channel", ch);
            }
            let data = self.channel_headers(&c, ch, true, true);
            (profile, data)
        };
        let mut h = self.base(&mut c, "CHANNEL_DATA", file, func, line);
        // CHANNEL_DATA is built, not fired: FreeSWITCH does not consume a sequence number
        // for it either way that a client can observe, so we keep the one we took.
        for (n, v) in data.0.iter().chain(data.1.iter()) {
            h.push(n, v);
        }
        Some(Event::new(h, None))
    }

    /// Sends `Outgoing::Disconnect` to outbound sockets controlling `uuid` that `linger`
    /// (or not).
    pub(crate) fn notify_disconnect(c: &Core, uuid: &str, lingering: bool) {
        for s in c.subs.values() {
            if s.controls.as_deref() == Some(uuid) && s.linger == lingering {
                let _ = s.tx.send(Outgoing::Disconnect { linger: lingering });
            }
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        let c = self.lock();
        let mut s = c.stats.clone();
        s.active_channels = c.channels.len();
        s
    }
}

/// How to build one channel event.
#[derive(Default)]
pub(crate) struct EvSpec<'a> {
    pub(crate) pre: &'a [(&'a str, &'a str)],
    pub(crate) post: &'a [(&'a str, &'a str)],
    pub(crate) vars: bool,
    pub(crate) profile: bool,
    pub(crate) body: Option<String>,
    pub(crate) calling: Option<(&'static str, &'static str, u32)>,
}

impl<'a> EvSpec<'a> {
    /// Basic data and caller profile, no variables (CHANNEL_STATE, CALLSTATE, CODEC, DTMF).
    pub(crate) fn basic() -> Self {
        EvSpec { profile: true, ..Default::default() }
    }
    /// Everything (CHANNEL_CREATE, EXECUTE, ANSWER, HANGUP...).
    pub(crate) fn full() -> Self {
        EvSpec { profile: true, vars: true, ..Default::default() }
    }
    pub(crate) fn pre(mut self, pre: &'a [(&'a str, &'a str)]) -> Self {
        self.pre = pre;
        self
    }
    pub(crate) fn post(mut self, post: &'a [(&'a str, &'a str)]) -> Self {
        self.post = post;
        self
    }
    pub(crate) fn calling(mut self, f: &'static str, func: &'static str, line: u32) -> Self {
        self.calling = Some((f, func, line));
        self
    }
}

fn push_profile(h: &mut Headers, prefix: &str, ch: &Channel) {
    let dir = match ch.direction {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    };
    let mut p = |n: &str, v: &str| h.push(&format!("{prefix}-{n}"), v);
    p("Direction", dir);
    p("Logical-Direction", dir);
    if ch.direction == Direction::Inbound {
        p("Username", &ch.orig_caller_number);
        p("Dialplan", "XML");
    }
    p("Caller-ID-Name", &ch.caller_name);
    p("Caller-ID-Number", &ch.caller_number);
    p("Orig-Caller-ID-Name", &ch.orig_caller_name);
    p("Orig-Caller-ID-Number", &ch.orig_caller_number);
    if let Some((name, num)) = &ch.callee {
        p("Callee-ID-Name", name);
        p("Callee-ID-Number", num);
    }
    if ch.direction == Direction::Inbound || ch.progress_us > 0 {
        p("Network-Addr", "127.0.0.1");
    }
    p("ANI", &ch.orig_caller_number);
    p("Destination-Number", &ch.dest);
    p("Unique-ID", &ch.uuid);
    p(
        "Source",
        if ch.direction == Direction::Inbound { "mod_sofia" } else { "src/switch_ivr_originate.c" },
    );
    p("Context", &ch.context);
    p("Channel-Name", &ch.name);
    p("Profile-Index", "1");
    let t = |v: u64| v.to_string();
    p("Profile-Created-Time", &t(ch.created_us));
    p("Channel-Created-Time", &t(ch.created_us));
    p("Channel-Answered-Time", &t(ch.answered_us));
    p("Channel-Progress-Time", &t(ch.progress_us));
    p("Channel-Progress-Media-Time", &t(ch.progress_media_us));
    p("Channel-Hangup-Time", &t(ch.hangup_us));
    p("Channel-Transfer-Time", &t(ch.transfer_us));
    p("Channel-Resurrect-Time", "0");
    p("Channel-Bridged-Time", &t(ch.bridged_us));
    p("Channel-Last-Hold", &t(ch.last_hold_us));
    p("Channel-Hold-Accum", &t(ch.hold_accum_us));
    p("Screen-Bit", "true");
    p("Privacy-Hide-Name", "false");
    p("Privacy-Hide-Number", "false");
}

/// `Event-Calling-File`, `-Function`, `-Line-Number` as FreeSWITCH 1.10.12 reports them
/// (from the captures; entries marked "approx" were not captured and follow the source).
pub(crate) fn calling(name: &str) -> (&'static str, &'static str, u32) {
    match name {
        "CHANNEL_STATE" => ("switch_channel.c", "switch_channel_perform_set_running_state", 2408),
        "CHANNEL_CALLSTATE" => ("switch_channel.c", "switch_channel_perform_set_callstate", 301),
        "CHANNEL_CREATE" => ("switch_core_state_machine.c", "switch_core_session_run", 626),
        "CHANNEL_ORIGINATE" => ("switch_core_state_machine.c", "switch_core_session_run", 632),
        "CHANNEL_OUTGOING" => {
            ("switch_core_session.c", "switch_core_session_outgoing_channel", 768)
        }
        "CHANNEL_EXECUTE" => ("switch_core_session.c", "switch_core_session_exec", 2944),
        "CHANNEL_EXECUTE_COMPLETE" => ("switch_core_session.c", "switch_core_session_exec", 2967),
        "CHANNEL_ANSWER" => ("switch_channel.c", "switch_channel_perform_mark_answered", 3846),
        "CHANNEL_PROGRESS_MEDIA" => {
            ("switch_channel.c", "switch_channel_perform_mark_pre_answered", 3560)
        }
        "CHANNEL_PROGRESS" => {
            ("switch_channel.c", "switch_channel_perform_mark_ring_ready_value", 3505)
        }
        "CHANNEL_HANGUP" => ("switch_channel.c", "switch_channel_perform_hangup", 3445),
        "CHANNEL_HANGUP_COMPLETE" => {
            ("switch_core_state_machine.c", "switch_core_session_reporting_state", 943)
        }
        "CHANNEL_DESTROY" => ("switch_core_session.c", "switch_core_session_perform_destroy", 1584),
        "CHANNEL_PARK" => ("switch_ivr.c", "switch_ivr_park", 1002),
        "CHANNEL_UNPARK" => ("switch_ivr.c", "switch_ivr_park", 1213),
        "PLAYBACK_START" => ("switch_ivr_play_say.c", "switch_ivr_play_file", 1646),
        "PLAYBACK_STOP" => ("switch_ivr_play_say.c", "switch_ivr_play_file", 2020),
        "DTMF" => ("switch_channel.c", "switch_channel_dequeue_dtmf", 677),
        "PRESENCE_IN" => ("switch_channel.c", "switch_channel_perform_presence", 805),
        "CALL_UPDATE" => ("switch_channel.c", "switch_channel_flip_cid", 3277),
        "API" => ("switch_loadable_module.c", "switch_api_execute", 2954),
        "BACKGROUND_JOB" => ("mod_event_socket.c", "api_exec", 1572),
        "HEARTBEAT" => ("switch_core.c", "send_heartbeat", 95),
        "PRIVATE_COMMAND" => ("switch_ivr.c", "switch_ivr_parse_next_event", 804),
        // approx (not in the captures)
        "CHANNEL_BRIDGE" => ("switch_ivr_bridge.c", "audio_bridge_on_exchange_media", 1010),
        "CHANNEL_UNBRIDGE" => ("switch_ivr_bridge.c", "audio_bridge_on_exchange_media", 1140),
        "CHANNEL_HOLD" => ("switch_channel.c", "switch_channel_perform_mark_hold", 1231),
        "CHANNEL_UNHOLD" => ("switch_channel.c", "switch_channel_perform_mark_hold", 1231),
        "RECORD_START" => ("switch_ivr_async.c", "record_callback", 1216),
        "RECORD_STOP" => ("switch_ivr_async.c", "record_callback", 1400),
        _ => ("switch_event.c", "switch_event_fire_detailed", 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_group_words_and_vanish() {
        assert_eq!(
            split_quoted("u1 'socket:127.0.0.1:8040 async full'  inline"),
            ["u1", "socket:127.0.0.1:8040 async full", "inline"]
        );
        assert_eq!(split_quoted("u1 ''"), ["u1", ""]);
        assert!(split_quoted("   ").is_empty());
    }

    #[test]
    fn an_inline_destination_lists_its_applications() {
        let words = split_quoted("'set:a=b,socket:127.0.0.1:8040 async full' inline");
        let d = Dest::parse(&words).unwrap_or_else(|| panic!("no destination"));
        assert!(d.inline);
        assert_eq!(
            d.inline_apps(),
            [
                ("set".to_owned(), "a=b".to_owned()),
                ("socket".to_owned(), "127.0.0.1:8040 async full".to_owned())
            ]
        );
        let xml = Dest::parse(&split_quoted("dispatch_water XML kontakt_outbound"));
        assert_eq!(xml, Some(Dest { exten: "dispatch_water".into(), inline: false }));
        assert_eq!(Dest::parse(&[]), None);
    }
}
