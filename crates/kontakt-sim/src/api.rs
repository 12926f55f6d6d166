//! `api` / `bgapi` commands (mod_commands as far as a contact center uses it).

use std::fmt::Write as _;

use crate::apps;
use crate::chan;
use crate::core::{ChanCmd, Sim};

/// Runs one api command and returns the `api/response` body. Emits the `API` event
/// afterwards (as FreeSWITCH's `switch_api_execute` does) and, for `bgapi`
/// (`job_uuid`), the `BACKGROUND_JOB` event with the body.
pub(crate) async fn execute(sim: &Sim, line: &str, job_uuid: Option<&str>) -> String {
    let line = line.trim();
    let (cmd, args) = line.split_once(' ').map_or((line, ""), |(c, a)| (c, a.trim()));
    let mut deferred = None;
    let body = Box::pin(run(sim, cmd, args, &mut deferred)).await;
    let mut extra = vec![("API-Command", cmd)];
    if !args.is_empty() {
        extra.push(("API-Command-Argument", args));
    }
    sim.emit_global("API", &extra, None);
    if let Some(job) = job_uuid {
        let mut extra = vec![("Job-UUID", job), ("Job-Command", cmd)];
        if !args.is_empty() {
            extra.push(("Job-Command-Arg", args));
        }
        sim.emit_global("BACKGROUND_JOB", &extra, Some(body.clone()));
    }
    // The originated channel starts its application after the API/BACKGROUND_JOB events,
    // as in the originate_bgapi capture.
    if let Some((uuid, cmd)) = deferred {
        chan::send_cmd(sim, &uuid, cmd);
    }
    body
}

async fn run(sim: &Sim, cmd: &str, args: &str, deferred: &mut Option<(String, ChanCmd)>) -> String {
    match cmd {
        "status" => status(sim),
        "version" => "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n".into(),
        "hostname" => sim.cfg.hostname.clone(),
        "uptime" => sim.started.elapsed().as_secs().to_string(),
        "global_getvar" => String::new(),
        "originate" => Box::pin(originate(sim, args, deferred)).await,
        "uuid_kill" => {
            let mut a = args.split_whitespace();
            let uuid = a.next().unwrap_or_default();
            let cause = a.next().unwrap_or("NORMAL_CLEARING");
            if chan::hangup(sim, uuid, cause) || chan::exists(sim, uuid) {
                "+OK\n".into()
            } else {
                "-ERR No such channel!\n".into()
            }
        }
        "uuid_break" => {
            let uuid = args.split_whitespace().next().unwrap_or_default();
            if chan::break_playback(sim, uuid) {
                "+OK\n".into()
            } else {
                "-ERR no such channel\n".into()
            }
        }
        "uuid_exists" => if chan::exists(sim, args.trim()) { "true" } else { "false" }.into(),
        "uuid_getvar" => {
            let mut a = args.split_whitespace();
            let uuid = a.next().unwrap_or_default();
            let var = a.next().unwrap_or_default();
            match chan::get_var(sim, uuid, var) {
                Some(Some(v)) => v,
                Some(None) => "_undef_".into(),
                None => "-ERR No such channel!\n".into(),
            }
        }
        "uuid_setvar" => {
            let mut a = args.splitn(3, ' ');
            let uuid = a.next().unwrap_or_default();
            let var = a.next().unwrap_or_default();
            let val = a.next().unwrap_or_default();
            if var.is_empty() {
                "-USAGE: <uuid> <var> [value]\n".into()
            } else if chan::set_var(sim, uuid, var, val) {
                "+OK\n".into()
            } else {
                "-ERR No such channel!\n".into()
            }
        }
        "uuid_dump" => uuid_dump(sim, args),
        "uuid_bridge" => {
            let mut a = args.split_whitespace();
            let (x, y) = (a.next().unwrap_or_default(), a.next().unwrap_or_default());
            if !chan::exists(sim, x) {
                return format!("-ERR Invalid uuid {x}\n");
            }
            if !chan::exists(sim, y) {
                return format!("-ERR Invalid uuid {y}\n");
            }
            chan::send_cmd(sim, y, ChanCmd::Bridge { other: x.to_owned(), initiator: false });
            chan::send_cmd(sim, x, ChanCmd::Bridge { other: y.to_owned(), initiator: true });
            // Whatever either leg was playing (music on hold) stops for the bridge.
            chan::break_playback(sim, x);
            chan::break_playback(sim, y);
            format!("+OK {y}\n")
        }
        "uuid_transfer" => {
            let parts = crate::core::split_quoted(args);
            let uuid = parts.first().cloned().unwrap_or_default();
            // (-bleg / -both name the other leg; the emulator's transfers are of the leg named)
            let rest: Vec<String> =
                parts.into_iter().skip(1).skip_while(|p| p.starts_with('-')).collect();
            let Some(dest) = crate::core::Dest::parse(&rest) else {
                return "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n"
                    .into();
            };
            if !chan::send_cmd(sim, &uuid, ChanCmd::Transfer { dest }) {
                return "-ERR No such channel!\n".into();
            }
            // The transfer flag makes the channel not ready: a playback running now stops at
            // once (switch_channel_ready), the transfer does not wait for it.
            chan::break_playback(sim, &uuid);
            "+OK\n".into()
        }
        "uuid_hold" => {
            let mut a = args.split_whitespace().peekable();
            let mode = match a.peek().copied() {
                Some("off") | Some("toggle") => a.next(),
                _ => None,
            };
            let uuid = a.next().unwrap_or_default();
            hold(sim, uuid, mode)
        }
        "uuid_broadcast" => {
            let mut a = args.split_whitespace();
            let uuid = a.next().unwrap_or_default();
            let path = a.next().unwrap_or_default();
            if chan::send_cmd(sim, uuid, ChanCmd::Broadcast { path: path.to_owned() }) {
                "+OK Message sent\n".into()
            } else {
                "-ERR No such channel!\n".into()
            }
        }
        "uuid_record" => {
            let mut a = args.split_whitespace();
            let uuid = a.next().unwrap_or_default();
            let action = a.next().unwrap_or_default();
            let path = a.next().unwrap_or_default();
            if !chan::exists(sim, uuid) {
                return "-ERR Cannot locate session!\n".into();
            }
            match action {
                "start" => {
                    chan::event(sim, uuid, "RECORD_START", &[("Record-File-Path", path)]);
                    "+OK Success\n".into()
                }
                "stop" => {
                    chan::event(sim, uuid, "RECORD_STOP", &[("Record-File-Path", path)]);
                    "+OK Success\n".into()
                }
                _ => "-USAGE: <uuid> [start|stop|mask|unmask] <path> [<limit>]\n".into(),
            }
        }
        "show" => show(sim, args),
        _ => format!("-ERR {cmd} Command not found!\n"),
    }
}

fn status(sim: &Sim) -> String {
    let up = sim.started.elapsed();
    let s = up.as_secs();
    let stats = sim.stats();
    format!(
        "UP 0 years, {} days, {} hours, {} minutes, {} seconds, {} milliseconds, {} microseconds\n\
         FreeSWITCH (Version 1.10.12-release  64bit) is ready\n\
         {} session(s) since startup\n\
         {} session(s) - peak {}, last 5min {} \n\
         0 session(s) per Sec out of max 30, peak 2, last 5min 2 \n\
         1000 session(s) max\nmin idle cpu 0.00/99.00\nCurrent Stack Size/Max 240K/8192K\n",
        s / 86_400,
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60,
        up.subsec_millis(),
        up.subsec_micros() % 1000,
        stats.sessions_since_startup,
        stats.active_channels,
        stats.peak_channels,
        stats.peak_channels,
    )
}

fn hold(sim: &Sim, uuid: &str, mode: Option<&str>) -> String {
    let mut c = sim.lock();
    let c = &mut *c;
    let Some(held) = c.channels.get(uuid).map(|ch| ch.held) else {
        return "-ERR Operation failed\n".into();
    };
    let want = match mode {
        Some("off") => false,
        Some(_) => !held,
        None => true,
    };
    if want == held {
        return "+OK Success\n".into();
    }
    let now = crate::core::now_us();
    chan::with(c, uuid, |ch| {
        ch.held = want;
        if want {
            ch.last_hold_us = now;
        } else {
            ch.hold_accum_us += now.saturating_sub(ch.last_hold_us);
        }
    });
    let name = if want { "CHANNEL_HOLD" } else { "CHANNEL_UNHOLD" };
    sim.emit_chan_locked(c, uuid, name, crate::core::EvSpec::full());
    chan::set_callstate_locked(sim, c, uuid, if want { "HELD" } else { "ACTIVE" });
    "+OK Success\n".into()
}

fn uuid_dump(sim: &Sim, args: &str) -> String {
    let mut a = args.split_whitespace();
    let uuid = a.next().unwrap_or_default();
    let json = a.next() == Some("json");
    let Some(ev) = sim.channel_data(uuid, "mod_commands.c", "uuid_dump_function", 6468) else {
        return "-ERR No such channel!\n".into();
    };
    let mut out = Vec::new();
    if json {
        kontakt_esl::server::serialize_json(&ev, &mut out);
    } else {
        for (n, v) in ev.headers().iter() {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            kontakt_esl::percent_encode_into(v, &mut out);
            out.push(b'\n');
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn show(sim: &Sim, args: &str) -> String {
    let words: Vec<&str> = args.split_whitespace().collect();
    let what = words.first().copied().unwrap_or_default();
    let as_json = words.windows(2).any(|w| w == ["as", "json"]);
    if what != "channels" && what != "calls" {
        return format!("-ERR show {what} not supported by kontakt-sim\n");
    }
    let c = sim.lock();
    let mut rows = Vec::new();
    for uuid in &c.order {
        let Some(ch) = c.channels.get(uuid) else { continue };
        let created = chrono::DateTime::from_timestamp_micros(ch.created_us as i64)
            .map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        let (app, app_data) =
            ch.table_app.clone().or_else(|| ch.application.first().cloned()).unwrap_or_default();
        let dir =
            if ch.direction == crate::core::Direction::Inbound { "inbound" } else { "outbound" };
        let (callee_name, callee_num) = ch.callee.clone().unwrap_or_default();
        let codec = if ch.media { ch.codec } else { "" };
        let rate = if ch.media { "8000" } else { "" };
        let bit = if ch.media { "64000" } else { "" };
        let fields: Vec<(&str, String)> = vec![
            ("uuid", ch.uuid.clone()),
            ("direction", dir.into()),
            ("created", created),
            ("created_epoch", (ch.created_us / 1_000_000).to_string()),
            ("name", ch.name.clone()),
            ("state", ch.state.into()),
            ("cid_name", ch.caller_name.clone()),
            ("cid_num", ch.caller_number.clone()),
            ("ip_addr", if dir == "inbound" { "127.0.0.1".into() } else { String::new() }),
            ("dest", ch.dest.clone()),
            ("application", app),
            ("application_data", app_data),
            ("dialplan", if dir == "inbound" { "XML".into() } else { String::new() }),
            ("context", ch.context.clone()),
            ("read_codec", codec.into()),
            ("read_rate", rate.into()),
            ("read_bit_rate", bit.into()),
            ("write_codec", codec.into()),
            ("write_rate", rate.into()),
            ("write_bit_rate", bit.into()),
            ("secure", String::new()),
            ("hostname", sim.cfg.hostname.clone()),
            ("presence_id", ch.presence_id.clone().unwrap_or_default()),
            ("presence_data", String::new()),
            ("accountcode", String::new()),
            ("callstate", ch.callstate.into()),
            ("callee_name", callee_name),
            ("callee_num", callee_num),
            ("callee_direction", if dir == "outbound" { "RECV".into() } else { String::new() }),
            ("call_uuid", ch.uuid.clone()),
            ("sent_callee_name", String::new()),
            ("sent_callee_num", String::new()),
            ("initial_cid_name", ch.orig_caller_name.clone()),
            ("initial_cid_num", ch.orig_caller_number.clone()),
            ("initial_ip_addr", String::new()),
            ("initial_dest", ch.dest.clone()),
            ("initial_dialplan", String::new()),
            ("initial_context", ch.context.clone()),
        ];
        rows.push(fields);
    }
    if as_json {
        if rows.is_empty() {
            return "{\"row_count\": 0}\n".into();
        }
        let mut out = format!("{{\"row_count\":{},\"rows\":[", rows.len());
        for (i, r) in rows.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('{');
            for (j, (k, v)) in r.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                let _ = write!(
                    out,
                    "{}:{}",
                    serde_json::Value::from(*k),
                    serde_json::Value::from(v.as_str())
                );
            }
            out.push('}');
        }
        out.push_str("]}");
        return out;
    }
    let mut out = String::new();
    if let Some(first) = rows.first() {
        out.push_str(&first.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(","));
        out.push('\n');
    } else {
        out.push_str("uuid,direction,created,created_epoch,name,state,cid_name,cid_num\n");
    }
    for r in &rows {
        out.push_str(&r.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    let _ = write!(out, "\n{} total.\n", rows.len());
    out
}

/// `originate <dial string> <&app(arg)|extension> [dialplan] [context] [cid_name]
/// [cid_num] [timeout]`.
async fn originate(sim: &Sim, args: &str, deferred: &mut Option<(String, ChanCmd)>) -> String {
    let mut parts = split_originate(args);
    if parts.len() < 2 {
        return "-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n".into();
    }
    let dial = parts.remove(0);
    let target = parts.remove(0);
    let cid_name = parts.get(2).cloned().unwrap_or_else(|| "FreeSWITCH".into());
    let cid_num = parts.get(3).cloned().unwrap_or_else(|| "0000000000".into());
    let mut dial = dial;
    if let Some(t) = parts.get(4).filter(|t| t.parse::<f64>().is_ok()) {
        dial = if let Some(rest) = dial.strip_prefix('{') {
            format!("{{originate_timeout={t},{rest}")
        } else {
            format!("{{originate_timeout={t}}}{dial}")
        };
    }
    match apps::originate_leg(sim, &dial, &cid_name, &cid_num, None).await {
        Ok(uuid) => {
            let (app, arg) = match target.strip_prefix('&') {
                Some(a) => match a.split_once('(') {
                    Some((n, rest)) => (n.to_owned(), rest.trim_end_matches(')').to_owned()),
                    None => (a.to_owned(), String::new()),
                },
                None => ("transfer".to_owned(), target.clone()),
            };
            let body = format!("+OK {uuid}\n");
            *deferred = Some((uuid, ChanCmd::Execute { app, arg, event_uuid: None }));
            body
        }
        Err(cause) => format!("-ERR {cause}\n"),
    }
}

/// Splits on spaces outside `{}` and `()` (dial strings and `&app(args with spaces)`).
fn split_originate(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' => depth -= 1,
            _ => {}
        }
        if c == ' ' && depth <= 0 {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}
