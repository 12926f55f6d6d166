//! Channel lifecycle: creation, state and call-state changes, answer, hangup, teardown,
//! each producing the events FreeSWITCH 1.10 produces, in the same order.

use std::sync::OnceLock;

use serde::Deserialize;
use tokio::sync::{mpsc, watch};

use crate::core::{
    CallRecord, ChanCmd, Channel, Core, Direction, EvSpec, Shared, Sim, callstate_num, now_us,
};

/// Channel variables of a real FreeSWITCH at each stage of a call (see
/// `tools/extract_profiles.py`).
#[derive(Deserialize)]
struct Profiles {
    inbound: Stages,
    outbound: Stages,
}

#[derive(Deserialize)]
struct Stages {
    create: Vec<(String, String)>,
    answer: Vec<(String, String)>,
    hangup: Vec<(String, String)>,
    complete: Vec<(String, String)>,
}

fn profiles() -> &'static Profiles {
    static P: OnceLock<Profiles> = OnceLock::new();
    P.get_or_init(|| {
        serde_json::from_str(include_str!("../data/profiles.json")).unwrap_or(Profiles {
            inbound: Stages { create: vec![], answer: vec![], hangup: vec![], complete: vec![] },
            outbound: Stages { create: vec![], answer: vec![], hangup: vec![], complete: vec![] },
        })
    })
}

const CAPTURE_CORE_UUID: &str = "c35050cb-48e8-4d8d-a4cd-94e6eec3f24f";

fn fill(sim: &Shared, ch: &Channel, v: &str) -> String {
    if v == CAPTURE_CORE_UUID {
        return sim.core_uuid.clone();
    }
    if !v.contains('{') {
        return v.to_owned();
    }
    let now = chrono::Local::now();
    let us = now_us();
    let callid = ch.uuid.get(..8).unwrap_or("1");
    v.replace("{uuid}", &ch.uuid)
        .replace("{caller_name}", &ch.orig_caller_name)
        .replace("{caller}", &ch.orig_caller_number)
        .replace("{dest}", &ch.dest)
        .replace("{channel_name}", &ch.name)
        .replace("{callid}", callid)
        .replace("{now_us}", &us.to_string())
        .replace("{now_s}", &(us / 1_000_000).to_string())
        .replace("{date_local}", &now.format("%Y-%m-%d %H:%M:%S").to_string())
        .replace(
            "{date_gmt}",
            &now.with_timezone(&chrono::Utc).format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        )
        .replace("{date_rfc2822}", &now.format("%a, %d %b %Y %H:%M:%S %z").to_string())
}

fn add_stage(sim: &Shared, ch: &mut Channel, stage: fn(&Stages) -> &Vec<(String, String)>) {
    add_stage_if(sim, ch, stage, |_| true);
}

fn add_stage_if(
    sim: &Shared,
    ch: &mut Channel,
    stage: fn(&Stages) -> &Vec<(String, String)>,
    keep: impl Fn(&str) -> bool,
) {
    let p = profiles();
    let list = stage(match ch.direction {
        Direction::Inbound => &p.inbound,
        Direction::Outbound => &p.outbound,
    });
    for (n, v) in list {
        if keep(n) && ch.var(n).is_none() {
            let v = fill(sim, ch, v);
            ch.vars.push((n.clone(), v));
        }
    }
}

/// What a new channel looks like.
pub(crate) struct NewChannel {
    pub(crate) direction: Direction,
    pub(crate) uuid: Option<String>,
    pub(crate) name: String,
    pub(crate) caller_number: String,
    pub(crate) caller_name: String,
    pub(crate) dest: String,
    /// Variables set before creation (`{origination_uuid=...}` etc.).
    pub(crate) vars: Vec<(String, String)>,
    /// Keep a call record (simulated incoming calls).
    pub(crate) record: bool,
}

/// The receiving ends a channel driver needs.
pub(crate) struct ChannelIo {
    pub(crate) uuid: String,
    pub(crate) cmds: mpsc::UnboundedReceiver<ChanCmd>,
    pub(crate) hangup: watch::Receiver<bool>,
    pub(crate) bridge: watch::Receiver<Option<String>>,
    pub(crate) brk: watch::Receiver<u64>,
}

/// Creates a channel and emits its creation events (inbound: `CHANNEL_STATE` CS_NEW ...
/// up to `CHANNEL_STATE` CS_EXECUTE; outbound: `CHANNEL_OUTGOING` ... `CHANNEL_CALLSTATE`
/// RINGING).
pub(crate) fn create(sim: &Sim, nc: NewChannel) -> ChannelIo {
    let uuid = nc.uuid.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let (hangup_tx, hangup_rx) = watch::channel(false);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (bridge_tx, bridge_rx) = watch::channel(None);
    let (break_tx, break_rx) = watch::channel(0u64);
    let created = now_us();
    let mut c = sim.lock();
    c.stats.sessions_since_startup += 1;
    let session_id = c.stats.sessions_since_startup;
    let inbound = nc.direction == Direction::Inbound;
    let (caller_name, caller_number, callee) = if inbound {
        (nc.caller_name.clone(), nc.caller_number.clone(), None)
    } else {
        (
            nc.caller_name.clone(),
            nc.caller_number.clone(),
            Some(("Outbound Call".to_owned(), nc.dest.clone())),
        )
    };
    let record = if nc.record {
        c.records.push(CallRecord {
            uuid: uuid.clone(),
            caller: nc.caller_number.clone(),
            destination: nc.dest.clone(),
            created_us: created,
            answered_us: 0,
            bridged_us: 0,
            hangup_us: 0,
            agent_uuid: None,
            connected_us: 0,
            hangup_cause: None,
            digits: String::new(),
            messages: Vec::new(),
        });
        c.stats.calls_placed += 1;
        let i = c.records.len() - 1;
        c.record_index.insert(uuid.clone(), i);
        i + 1
    } else {
        0
    };
    let mut ch = Channel {
        uuid: uuid.clone(),
        name: nc.name,
        direction: nc.direction,
        state: if inbound { "CS_NEW" } else { "CS_NONE" },
        callstate: "DOWN",
        answer_state: "ringing",
        hit_dialplan: inbound,
        presence_id: None,
        hangup_cause: None,
        media: false,
        codec: if inbound { "PCMA" } else { "PCMU" },
        profile_started: !inbound,
        caller_name: caller_name.clone(),
        caller_number: caller_number.clone(),
        orig_caller_name: caller_name,
        orig_caller_number: caller_number,
        callee,
        dest: nc.dest,
        context: "default".into(),
        created_us: created,
        answered_us: 0,
        progress_us: 0,
        progress_media_us: 0,
        hangup_us: 0,
        transfer_us: 0,
        bridged_us: 0,
        last_hold_us: 0,
        hold_accum_us: 0,
        vars: Vec::new(),
        other_leg: None,
        application: Vec::new(),
        table_app: None,
        held: false,
        hangup_tx,
        cmd_tx,
        bridge_tx,
        break_tx,
        record,
    };
    ch.vars.push(("direction".into(), if inbound { "inbound" } else { "outbound" }.into()));
    if !inbound {
        ch.vars.push(("is_outbound".into(), "true".into()));
    }
    ch.vars.push(("uuid".into(), uuid.clone()));
    ch.vars.push(("session_id".into(), session_id.to_string()));
    add_stage(sim, &mut ch, |s| &s.create);
    ch.set_var("session_id", &session_id.to_string());
    for (n, v) in &nc.vars {
        ch.set_var(n, v);
    }
    if inbound {
        ch.presence_id = Some(format!("{}@{}", ch.orig_caller_number, sim.cfg.sip_domain));
        let pid = ch.presence_id.clone().unwrap_or_default();
        ch.set_var("presence_id", &pid);
        ch.set_var("call_uuid", &uuid);
    }
    c.channels.insert(uuid.clone(), ch);
    c.order.push(uuid.clone());
    let active = c.channels.len();
    if active > c.stats.peak_channels {
        c.stats.peak_channels = active;
    }
    let c = &mut *c;
    if inbound {
        // CS_NEW is reported before the caller profile exists.
        let saved = c.channels.get_mut(&uuid).map(|ch| ch.presence_id.take());
        sim.emit_chan_locked(c, &uuid, "CHANNEL_STATE", EvSpec::basic());
        if let (Some(ch), Some(p)) = (c.channels.get_mut(&uuid), saved) {
            ch.presence_id = p;
            ch.profile_started = true;
        }
        if sim.cfg.sip_auth_events {
            sip_auth_events(sim, c, &uuid);
        }
        set_state_locked(sim, c, &uuid, "CS_INIT");
        sim.emit_chan_locked(c, &uuid, "CHANNEL_CREATE", EvSpec::full());
        with(c, &uuid, |ch| ch.state = "CS_ROUTING");
        set_callstate_locked(sim, c, &uuid, "RINGING");
        sim.emit_chan_locked(c, &uuid, "CHANNEL_STATE", EvSpec::basic());
        presence(sim, c, &uuid, "CS_ROUTING", "alerting", 0);
        set_state_locked(sim, c, &uuid, "CS_EXECUTE");
    } else {
        sim.emit_chan_locked(c, &uuid, "CHANNEL_OUTGOING", EvSpec::basic());
        set_state_locked(sim, c, &uuid, "CS_INIT");
        sim.emit_chan_locked(c, &uuid, "CHANNEL_CREATE", EvSpec::full());
        sim.emit_chan_locked(c, &uuid, "CHANNEL_ORIGINATE", EvSpec::full());
        set_state_locked(sim, c, &uuid, "CS_ROUTING");
        set_state_locked(sim, c, &uuid, "CS_CONSUME_MEDIA");
        with(c, &uuid, |ch| {
            ch.progress_us = now_us();
            // the 180 Ringing's SIP dialog variables
            add_stage_if(sim, ch, |s| &s.answer, |n| n.starts_with("sip_"));
            let u = ch.uuid.clone();
            ch.set_var("call_uuid", &u);
        });
        sim.emit_chan_locked(c, &uuid, "CHANNEL_PROGRESS", EvSpec::full());
        set_callstate_locked(sim, c, &uuid, "RINGING");
    }
    ChannelIo { uuid, cmds: cmd_rx, hangup: hangup_rx, bridge: bridge_rx, brk: break_rx }
}

/// sofia's digest-auth events for an incoming INVITE (`sofia::pre_register`,
/// `sofia::register_attempt`), as in the echo_9196 capture.
fn sip_auth_events(sim: &Shared, c: &mut Core, uuid: &str) {
    let Some((caller, dest, callid)) = c.channels.get(uuid).map(|ch| {
        let callid = format!("{}@{}", ch.uuid.get(..8).unwrap_or("1"), sim.cfg.sip_domain);
        (ch.orig_caller_number.clone(), ch.dest.clone(), callid)
    }) else {
        return;
    };
    let d = sim.cfg.sip_domain.as_str();
    let contact = format!("\"\" <sip:{caller}@{d}:5062>");
    let common = [
        ("profile-name", "internal"),
        ("from-user", dest.as_str()),
        ("from-host", d),
        ("contact", contact.as_str()),
        ("call-id", callid.as_str()),
        ("rpid", "unknown"),
        ("status", "Registered(UDP)"),
        ("expires", "300"),
        ("to-user", caller.as_str()),
        ("to-host", d),
        ("network-ip", "127.0.0.1"),
        ("network-port", "5062"),
    ];
    let mut pre: Vec<(&str, &str)> = common.to_vec();
    pre.push(("user-agent", "kontakt-sim"));
    let mut attempt: Vec<(&str, &str)> = common.to_vec();
    attempt.extend([
        ("username", caller.as_str()),
        ("realm", d),
        ("user-agent", "kontakt-sim"),
        ("auth-result", "RENEWED"),
    ]);
    sim.emit_custom_locked(
        c,
        "sofia::pre_register",
        ("sofia_reg.c", "sofia_reg_handle_register_token", 1810),
        &pre,
    );
    sim.emit_custom_locked(
        c,
        "sofia::register_attempt",
        ("sofia_reg.c", "sofia_reg_handle_register_token", 1606),
        &attempt,
    );
}

pub(crate) fn with<R>(c: &mut Core, uuid: &str, f: impl FnOnce(&mut Channel) -> R) -> Option<R> {
    c.channels.get_mut(uuid).map(f)
}

fn presence(sim: &Shared, c: &mut Core, uuid: &str, status: &str, info: &str, count: u32) {
    let (from, func, line, file) = match c.channels.get(uuid) {
        Some(ch) if ch.direction == Direction::Inbound => {
            let from = ch.presence_id.clone().unwrap_or_default();
            match info {
                "alerting" => (from, "check_presence", "521", "src/switch_core_state_machine.c"),
                "active" => {
                    (from, "switch_channel_perform_mark_answered", "3904", "src/switch_channel.c")
                }
                _ => (from, "switch_channel_perform_hangup", "3484", "src/switch_channel.c"),
            }
        }
        _ => return,
    };
    let count = count.to_string();
    let post = [
        ("proto", "any"),
        ("login", "src/switch_channel.c"),
        ("from", from.as_str()),
        ("rpid", "unknown"),
        ("status", status),
        ("event_type", "presence"),
        ("alt_event_type", "dialog"),
        ("presence-call-info-state", info),
        ("presence-call-direction", "inbound"),
        ("event_count", count.as_str()),
        ("Presence-Calling-File", file),
        ("Presence-Calling-Function", func),
        ("Presence-Calling-Line", line),
    ];
    sim.emit_chan_locked(c, uuid, "PRESENCE_IN", EvSpec::basic().post(&post));
}

pub(crate) fn set_state_locked(sim: &Shared, c: &mut Core, uuid: &str, state: &'static str) {
    with(c, uuid, |ch| ch.state = state);
    sim.emit_chan_locked(c, uuid, "CHANNEL_STATE", EvSpec::basic());
}

pub(crate) fn set_state(sim: &Shared, uuid: &str, state: &'static str) {
    let mut c = sim.lock();
    set_state_locked(sim, &mut c, uuid, state);
}

pub(crate) fn set_callstate_locked(sim: &Shared, c: &mut Core, uuid: &str, cs: &'static str) {
    let Some(orig) = with(c, uuid, |ch| std::mem::replace(&mut ch.callstate, cs)) else { return };
    let num = callstate_num(cs).to_string();
    let pre = [("Original-Channel-Call-State", orig), ("Channel-Call-State-Number", num.as_str())];
    sim.emit_chan_locked(c, uuid, "CHANNEL_CALLSTATE", EvSpec::basic().pre(&pre));
}

fn codec_events(sim: &Shared, c: &mut Core, uuid: &str) {
    let codec = with(c, uuid, |ch| {
        ch.media = true;
        ch.codec
    })
    .unwrap_or("PCMA");
    let read = [
        ("channel-read-codec-name", codec),
        ("channel-read-codec-rate", "8000"),
        ("channel-read-codec-bit-rate", "64000"),
    ];
    sim.emit_chan_locked(
        c,
        uuid,
        "CODEC",
        EvSpec::basic().post(&read).calling(
            "switch_core_codec.c",
            "switch_core_session_set_real_read_codec",
            168,
        ),
    );
    let write = [
        ("Channel-Write-Codec-Name", codec),
        ("Channel-Write-Codec-Rate", "8000"),
        ("Channel-Write-codec-bit-rate", "64000"),
    ];
    sim.emit_chan_locked(
        c,
        uuid,
        "CODEC",
        EvSpec::basic().post(&write).calling(
            "switch_core_codec.c",
            "switch_core_session_set_write_codec",
            450,
        ),
    );
}

/// Answers a channel (no-op if answered or gone). Inbound: CODEC, CODEC,
/// CHANNEL_PROGRESS_MEDIA, CALLSTATE EARLY, CHANNEL_ANSWER, PRESENCE_IN, CALLSTATE ACTIVE
/// (as the `answer` app on a SIP call); outbound: CODEC, CODEC, CHANNEL_ANSWER, CALLSTATE
/// ACTIVE, CALL_UPDATE (as a called phone picking up).
pub(crate) fn answer(sim: &Shared, uuid: &str) -> bool {
    let mut c = sim.lock();
    let c = &mut *c;
    let Some((answered, dir)) =
        c.channels.get(uuid).map(|ch| (ch.answered_us > 0 || ch.is_hungup(), ch.direction))
    else {
        return false;
    };
    if answered {
        return true;
    }
    codec_events(sim, c, uuid);
    with(c, uuid, |ch| add_stage(sim, ch, |s| &s.answer));
    if dir == Direction::Inbound {
        with(c, uuid, |ch| {
            ch.progress_media_us = now_us();
            ch.answer_state = "early";
            ch.set_var("endpoint_disposition", "EARLY MEDIA");
        });
        sim.emit_chan_locked(c, uuid, "CHANNEL_PROGRESS_MEDIA", EvSpec::full());
        set_callstate_locked(sim, c, uuid, "EARLY");
        with(c, uuid, |ch| {
            ch.answered_us = now_us();
            ch.answer_state = "answered";
            ch.set_var("endpoint_disposition", "ANSWER");
        });
        sim.emit_chan_locked(c, uuid, "CHANNEL_ANSWER", EvSpec::full());
        presence(sim, c, uuid, "answered", "active", 1);
        set_callstate_locked(sim, c, uuid, "ACTIVE");
    } else {
        with(c, uuid, |ch| {
            ch.answered_us = now_us();
            ch.answer_state = "answered";
            let u = ch.uuid.clone();
            ch.set_var("call_uuid", &u);
        });
        sim.emit_chan_locked(c, uuid, "CHANNEL_ANSWER", EvSpec::full());
        set_callstate_locked(sim, c, uuid, "ACTIVE");
        with(c, uuid, |ch| ch.hit_dialplan = true);
        sim.emit_chan_locked(c, uuid, "CALL_UPDATE", EvSpec::full().pre(&[("Direction", "RECV")]));
    }
    let ans = now_us();
    if let Some(i) = c.channels.get(uuid).map(|ch| ch.record).filter(|i| *i > 0)
        && let Some(r) = c.records.get_mut(i - 1)
    {
        r.answered_us = ans;
    }
    true
}

/// Hangs up a channel: `CHANNEL_HANGUP` now, wakes its driver (which completes the
/// running application and then calls [`teardown`]). Returns false if unknown or already
/// hanging up.
pub(crate) fn hangup(sim: &Shared, uuid: &str, cause: &str) -> bool {
    // switch_channel_str2cause: names (any case) or Q.850 numbers; unknown ones clear
    // normally
    let cause = cause.trim().to_ascii_uppercase();
    let cause = match cause.parse::<u32>() {
        Ok(n) => CAUSES.iter().find(|(_, q)| *q == n).map_or("NORMAL_CLEARING", |(c, _)| *c),
        Err(_) => CAUSES.iter().find(|(c, _)| *c == cause).map_or("NORMAL_CLEARING", |(c, _)| *c),
    };
    let mut c = sim.lock();
    let c = &mut *c;
    let ok = with(c, uuid, |ch| {
        if ch.is_hungup() {
            return false;
        }
        ch.hangup_cause = Some(cause.to_owned());
        let q850 = CAUSES.iter().find(|(n, _)| *n == cause).map_or(16, |(_, q)| *q);
        ch.set_var("hangup_cause_q850", &q850.to_string());
        ch.answer_state = "hangup";
        ch.hangup_us = now_us();
        add_stage(sim, ch, |s| &s.hangup);
        let disposition = if ch.direction == Direction::Inbound { "recv_bye" } else { "send_bye" };
        ch.set_var("sip_hangup_disposition", disposition);
        true
    })
    .unwrap_or(false);
    if !ok {
        return false;
    }
    sim.emit_chan_locked(c, uuid, "CHANNEL_HANGUP", EvSpec::full());
    Shared::notify_disconnect(c, uuid, false);
    if let Some(ch) = c.channels.get(uuid) {
        let _ = ch.hangup_tx.send(true);
    }
    let (rec, cause_s, hup) = match c.channels.get(uuid) {
        Some(ch) => (ch.record, cause.to_owned(), ch.hangup_us),
        None => (0, String::new(), 0),
    };
    if rec > 0
        && let Some(r) = c.records.get_mut(rec - 1)
    {
        r.hangup_cause = Some(cause_s);
        r.hangup_us = hup;
    }
    true
}

/// Hangup causes and their Q.850 codes (the ones a contact center meets).
const CAUSES: &[(&str, u32)] = &[
    ("UNALLOCATED_NUMBER", 1),
    ("NO_ROUTE_DESTINATION", 3),
    ("NORMAL_CLEARING", 16),
    ("USER_BUSY", 17),
    ("NO_USER_RESPONSE", 18),
    ("NO_ANSWER", 19),
    ("SUBSCRIBER_ABSENT", 20),
    ("CALL_REJECTED", 21),
    ("NUMBER_CHANGED", 22),
    ("DESTINATION_OUT_OF_ORDER", 27),
    ("INVALID_NUMBER_FORMAT", 28),
    ("NORMAL_UNSPECIFIED", 31),
    ("NORMAL_CIRCUIT_CONGESTION", 34),
    ("NETWORK_OUT_OF_ORDER", 38),
    ("NORMAL_TEMPORARY_FAILURE", 41),
    ("SWITCH_CONGESTION", 42),
    ("SERVICE_UNAVAILABLE", 63),
    ("CHAN_NOT_IMPLEMENTED", 66),
    ("RECOVERY_ON_TIMER_EXPIRE", 102),
    ("ORIGINATOR_CANCEL", 487),
    ("ALLOTTED_TIMEOUT", 602),
    ("LOSE_RACE", 502),
    ("MANAGER_REQUEST", 503),
    ("BLIND_TRANSFER", 600),
    ("ATTENDED_TRANSFER", 601),
    ("USER_CHALLENGE", 603),
    ("MEDIA_TIMEOUT", 604),
    ("PICKED_OFF", 605),
];

/// The end of a channel after its applications completed: CS_HANGUP, CALLSTATE HANGUP,
/// CS_REPORTING, CHANNEL_HANGUP_COMPLETE, (lingering outbound sockets are told here),
/// CHANNEL_DESTROY, CS_DESTROY; the channel is removed.
pub(crate) fn teardown(sim: &Shared, uuid: &str) {
    let mut c = sim.lock();
    let c = &mut *c;
    if !c.channels.contains_key(uuid) {
        return;
    }
    set_state_locked(sim, c, uuid, "CS_HANGUP");
    set_callstate_locked(sim, c, uuid, "HANGUP");
    presence(sim, c, uuid, "CS_HANGUP", "terminated", 1);
    set_state_locked(sim, c, uuid, "CS_REPORTING");
    let cause = with(c, uuid, |ch| {
        add_stage(sim, ch, |s| &s.complete);
        let cause = ch.hangup_cause.clone().unwrap_or_else(|| "NORMAL_CLEARING".into());
        ch.set_var("hangup_cause", &cause);
        let dur = ch.hangup_us.saturating_sub(ch.created_us) / 1_000_000;
        let bill = if ch.answered_us > 0 {
            ch.hangup_us.saturating_sub(ch.answered_us) / 1_000_000
        } else {
            0
        };
        ch.set_var("duration", &dur.to_string());
        ch.set_var("billsec", &bill.to_string());
        ch.set_var("answer_epoch", &(ch.answered_us / 1_000_000).to_string());
        ch.set_var("end_epoch", &(ch.hangup_us / 1_000_000).to_string());
        ch.set_var("start_epoch", &(ch.created_us / 1_000_000).to_string());
        cause
    })
    .unwrap_or_default();
    // CHANNEL_HANGUP_COMPLETE carries Hangup-Cause first, and again in the basic data.
    let pre = [("Hangup-Cause", cause.as_str())];
    sim.emit_chan_locked(c, uuid, "CHANNEL_HANGUP_COMPLETE", EvSpec::full().pre(&pre));
    Shared::notify_disconnect(c, uuid, true);
    sim.emit_chan_locked(c, uuid, "CHANNEL_DESTROY", EvSpec::full());
    set_state_locked(sim, c, uuid, "CS_DESTROY");
    c.channels.remove(uuid);
    c.order.retain(|u| u != uuid);
}

/// Sets (or clears) what `show channels` reports as the channel's application when an
/// event other than an application's start changed it (`uuid_bridge`).
pub(crate) fn set_table_app(sim: &Shared, uuid: &str, app: Option<(String, String)>) {
    with(&mut sim.lock(), uuid, |ch| ch.table_app = app);
}

/// Emits `CHANNEL_EXECUTE` and records the running application.
pub(crate) fn execute_start(sim: &Shared, uuid: &str, app: &str, arg: &str, app_uuid: &str) {
    let mut c = sim.lock();
    let c = &mut *c;
    with(c, uuid, |ch| {
        ch.application.push((app.to_owned(), arg.to_owned()));
        ch.set_var("current_application", app);
        if arg.is_empty() {
            ch.vars.retain(|(n, _)| n != "current_application_data");
        } else {
            ch.set_var("current_application_data", arg);
        }
    });
    let mut post = vec![("Application", app)];
    if !arg.is_empty() {
        post.push(("Application-Data", arg));
    }
    post.push(("Application-UUID", app_uuid));
    sim.emit_chan_locked(c, uuid, "CHANNEL_EXECUTE", EvSpec::full().post(&post));
}

/// Emits `CHANNEL_EXECUTE_COMPLETE`.
pub(crate) fn execute_complete(
    sim: &Shared,
    uuid: &str,
    app: &str,
    arg: &str,
    response: &str,
    app_uuid: &str,
) {
    let mut c = sim.lock();
    let c = &mut *c;
    with(c, uuid, |ch| {
        ch.set_var("current_application_response", response);
        ch.set_var("last_app", app);
        if !arg.is_empty() {
            ch.set_var("last_arg", arg);
        }
        ch.application.pop();
    });
    let mut post = vec![("Application", app)];
    if !arg.is_empty() {
        post.push(("Application-Data", arg));
    }
    post.push(("Application-Response", response));
    post.push(("Application-UUID", app_uuid));
    sim.emit_chan_locked(c, uuid, "CHANNEL_EXECUTE_COMPLETE", EvSpec::full().post(&post));
}

/// Emits a channel event with all data and `post` headers.
pub(crate) fn event(sim: &Shared, uuid: &str, name: &str, post: &[(&str, &str)]) {
    sim.emit_chan(uuid, name, EvSpec::full().post(post));
}

/// Emits a channel event with basic data (no variables) and `post` headers.
pub(crate) fn event_basic(sim: &Shared, uuid: &str, name: &str, post: &[(&str, &str)]) {
    sim.emit_chan(uuid, name, EvSpec::basic().post(post));
}

pub(crate) fn set_var(sim: &Shared, uuid: &str, name: &str, value: &str) -> bool {
    with(&mut sim.lock(), uuid, |ch| ch.set_var(name, value)).is_some()
}

pub(crate) fn get_var(sim: &Shared, uuid: &str, name: &str) -> Option<Option<String>> {
    sim.lock().channels.get(uuid).map(|ch| ch.var(name).map(str::to_owned))
}

pub(crate) fn exists(sim: &Shared, uuid: &str) -> bool {
    sim.lock().channels.contains_key(uuid)
}

/// Stops the channel's running playback (`uuid_break`); false if there is no such channel.
pub(crate) fn break_playback(sim: &Shared, uuid: &str) -> bool {
    sim.lock().channels.get(uuid).is_some_and(|ch| {
        ch.break_tx.send_modify(|n| *n += 1);
        true
    })
}

pub(crate) fn send_cmd(sim: &Shared, uuid: &str, cmd: ChanCmd) -> bool {
    sim.lock().channels.get(uuid).is_some_and(|ch| ch.cmd_tx.send(cmd).is_ok())
}

pub(crate) fn record_digits(sim: &Shared, uuid: &str, digits: &str) {
    let mut c = sim.lock();
    if let Some(i) = c.channels.get(uuid).map(|ch| ch.record).filter(|i| *i > 0)
        && let Some(r) = c.records.get_mut(i - 1)
    {
        r.digits.push_str(digits);
    }
}

/// An application server took the call on its outbound socket (`connect`).
pub(crate) fn record_connected(sim: &Shared, uuid: &str) {
    let mut c = sim.lock();
    if let Some(i) = c.channels.get(uuid).map(|ch| ch.record).filter(|i| *i > 0)
        && let Some(r) = c.records.get_mut(i - 1)
    {
        r.connected_us = now_us();
    }
}

/// A message the caller left with `record`.
pub(crate) fn record_message(sim: &Shared, uuid: &str, path: &str) {
    let mut c = sim.lock();
    if let Some(i) = c.channels.get(uuid).map(|ch| ch.record).filter(|i| *i > 0)
        && let Some(r) = c.records.get_mut(i - 1)
    {
        r.messages.push(path.to_owned());
    }
}

/// Links two legs as bridged (Other-Leg headers, bridge times), emits `CHANNEL_BRIDGE` on
/// `a` and tells both drivers.
pub(crate) fn bridge(sim: &Shared, a: &str, b: &str) -> bool {
    let mut c = sim.lock();
    let c = &mut *c;
    if !c.channels.contains_key(a) || !c.channels.contains_key(b) {
        return false;
    }
    let now = now_us();
    for (x, y) in [(a, b), (b, a)] {
        with(c, x, |ch| {
            ch.other_leg = Some(y.to_owned());
            ch.bridged_us = now;
            ch.set_var("bridge_uuid", y);
            ch.set_var("signal_bond", y);
            ch.set_var("last_bridge_to", y);
        });
    }
    for x in [a, b] {
        set_state_locked(sim, c, x, "CS_EXCHANGE_MEDIA");
    }
    let bpost = [("Bridge-A-Unique-ID", a), ("Bridge-B-Unique-ID", b)];
    sim.emit_chan_locked(c, a, "CHANNEL_BRIDGE", EvSpec::full().post(&bpost));
    for (x, y) in [(a, b), (b, a)] {
        if let Some(ch) = c.channels.get(x) {
            let _ = ch.bridge_tx.send(Some(y.to_owned()));
        }
    }
    for x in [a, b] {
        if let Some(i) = c.channels.get(x).map(|ch| ch.record).filter(|i| *i > 0)
            && let Some(r) = c.records.get_mut(i - 1)
        {
            r.bridged_us = now;
            r.agent_uuid = Some(if x == a { b } else { a }.to_owned());
        }
    }
    true
}

/// Ends a bridge: `CHANNEL_UNBRIDGE` on `a` (if it still exists).
pub(crate) fn unbridge(sim: &Shared, a: &str, b: &str) {
    let mut c = sim.lock();
    let c = &mut *c;
    let bpost = [("Bridge-A-Unique-ID", a), ("Bridge-B-Unique-ID", b)];
    sim.emit_chan_locked(c, a, "CHANNEL_UNBRIDGE", EvSpec::full().post(&bpost));
    for x in [a, b] {
        with(c, x, |ch| {
            ch.other_leg = None;
            ch.table_app = None;
            let _ = ch.bridge_tx.send(None);
        });
    }
}
