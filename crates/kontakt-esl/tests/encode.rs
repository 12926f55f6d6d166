//! Encoders against real bytes: client commands against the `.tx` captures, and the
//! server-side encoder by re-encoding every decoded frame of the `.rx` captures.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::*;
use kontakt_esl::server;
use kontakt_esl::{Command, ContentType, Decoder, EventFormat, Headers, Message, SendMsg};

fn encode_all(cmds: &[Command<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in cmds {
        c.encode(&mut out).unwrap();
    }
    out
}

fn assert_tx(rel: &str, cmds: &[Command<'_>]) {
    let want = read(&fixtures_dir().join(rel));
    let got = encode_all(cmds);
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want), "{rel}");
}

const AUTH: Command<'static> = Command::Auth { password: "ClueCon" };
const STATUS: Command<'static> = Command::Api { command: "status" };

#[test]
fn inbound_listener_tx() {
    for (file, format) in [
        ("echo_9196/esl_plain.tx", EventFormat::Plain),
        ("echo_9196/esl_json.tx", EventFormat::Json),
        ("echo_9196/esl_xml.tx", EventFormat::Xml),
        ("originate_bgapi/esl_json.tx", EventFormat::Json),
        ("originate_bgapi/esl_xml.tx", EventFormat::Xml),
    ] {
        assert_tx(
            file,
            &[AUTH, STATUS, Command::Event { format, events: &["ALL"] }, Command::Exit],
        );
    }
    assert_tx("protocol_misc/wrong_password.tx", &[Command::Auth { password: "WrongPassword" }]);
    assert_tx(
        "callcenter_api/esl_json.tx",
        &[
            AUTH,
            STATUS,
            Command::Event { format: EventFormat::Json, events: &["ALL"] },
            STATUS,
            Command::Exit,
        ],
    );
}

#[test]
fn originate_bgapi_tx() {
    let uuid = "5d1e0c5a-0000-4000-8000-0000000e5100";
    let dump = format!("uuid_dump {uuid} json");
    let kill = format!("uuid_kill {uuid} NORMAL_CLEARING");
    assert_tx(
        "originate_bgapi/esl_plain.tx",
        &[
            AUTH,
            STATUS,
            Command::Event { format: EventFormat::Plain, events: &["ALL"] },
            Command::BgApi {
                command: "originate {origination_uuid=5d1e0c5a-0000-4000-8000-0000000e5100,\
                          origination_caller_id_number=5551000,origination_caller_id_name=ESL-Test,\
                          call_timeout=10}sofia/internal/agent1@127.0.0.1:5090 &park()",
                job_uuid: None,
            },
            Command::Api { command: "show channels as json" },
            Command::SendMsg {
                uuid: Some(uuid),
                msg: SendMsg::execute("playback", Some("tone_stream://%(1000,0,350,440)"))
                    .event_lock(true),
            },
            Command::Api { command: &dump },
            Command::Api { command: &kill },
            Command::Exit,
        ],
    );
}

#[test]
fn outbound_tx() {
    assert_tx(
        "outbound_socket_7002_plain/esl_outbound_plain.tx",
        &[
            Command::Connect,
            Command::MyEvents { uuid: None, format: Some(EventFormat::Plain) },
            Command::Linger(None),
            Command::SendMsg { uuid: None, msg: SendMsg::execute("answer", None).event_lock(true) },
            Command::SendMsg {
                uuid: None,
                msg: SendMsg::execute(
                    "playback",
                    Some("{loops=20}tone_stream://%(400,200,400,450)"),
                )
                .event_lock(true),
            },
            Command::Api {
                command: "uuid_getvar dd357e84-7f00-4891-83db-22c6a6c1a221 sip_from_user",
            },
        ],
    );
}

#[test]
fn protocol_misc_tx() {
    let bg = &["BACKGROUND_JOB"][..];
    let version = Command::BgApi { command: "version", job_uuid: None };
    assert_tx(
        "protocol_misc/esl_misc.tx",
        &[
            AUTH,
            STATUS,
            Command::Api { command: "nosuchcommand" },
            Command::BgApi { command: "status", job_uuid: None },
            Command::Event {
                format: EventFormat::Plain,
                events: &["BACKGROUND_JOB", "CHANNEL_CREATE", "CUSTOM", "sofia::register"],
            },
            version.clone(),
            Command::NoEvents,
            Command::Event { format: EventFormat::Json, events: bg },
            version.clone(),
            Command::Event { format: EventFormat::Xml, events: bg },
            version,
            Command::Filter { header: "Event-Name", value: "BACKGROUND_JOB" },
            Command::FilterDelete { header: "Event-Name", value: Some("BACKGROUND_JOB") },
            Command::NixEvent { events: bg },
            Command::NoEvents,
            Command::Api { command: r#"json {"command":"status","data":""}"# },
            Command::Api { command: "sofia status profile internal" },
            Command::Api { command: "show channels as json" },
            Command::Api { command: "show modules as json" },
            Command::Log { level: "debug" },
            Command::Api { command: "reloadxml" },
            Command::NoLog,
            Command::Linger(Some(3)),
            Command::Exit,
        ],
    );
}

#[test]
fn callcenter_tx() {
    // Every block of this capture is `auth`, `api ...`, `event plain ALL` or `exit`.
    let want =
        String::from_utf8(read(&fixtures_dir().join("callcenter_api/esl_plain.tx"))).unwrap();
    let mut cmds = Vec::new();
    for block in want.split_terminator("\n\n") {
        cmds.push(match block {
            "auth ClueCon" => AUTH,
            "event plain ALL" => Command::Event { format: EventFormat::Plain, events: &["ALL"] },
            "exit" => Command::Exit,
            api => Command::Api { command: api.strip_prefix("api ").unwrap() },
        });
    }
    assert!(cmds.len() > 10);
    assert_eq!(String::from_utf8(encode_all(&cmds)).unwrap(), want);
}

/// Re-encodes a decoded message with the server-side encoder.
fn reencode(msg: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    match msg.content_type() {
        ContentType::AuthRequest => server::auth_request(&mut out),
        ContentType::CommandReply if msg.header("Event-Name").is_some() => {
            // Outbound connect reply: channel data, then the four reply headers.
            let all: Vec<_> = msg.headers().iter().collect();
            let (data, tail) = all.split_at(all.len() - 4);
            assert_eq!(tail[0], ("Content-Type", "command/reply"));
            assert_eq!(tail[1], ("Reply-Text", "+OK\n"));
            let data: Headers = data.iter().copied().collect();
            server::connect_reply(&mut out, &data, tail[2].1, tail[3].1);
        }
        ContentType::CommandReply => {
            let extra: Vec<_> = msg.headers().iter().skip(2).collect();
            server::command_reply(&mut out, msg.reply_text().unwrap(), &extra);
        }
        ContentType::ApiResponse => server::api_response(&mut out, msg.body()),
        ContentType::EventPlain => server::event_plain(&mut out, msg.event().unwrap()),
        ContentType::EventJson => server::event_json(&mut out, msg.event().unwrap()),
        ContentType::EventXml => server::event_xml(&mut out, msg.event().unwrap()),
        _ => server::raw_frame(&mut out, msg.headers().iter(), msg.body()),
    }
    out
}

/// Decode every frame of every capture and re-encode it: the bytes must be identical.
/// This covers plain, json and xml events, the outbound connect reply, every reply type,
/// log/data and disconnect notices.
#[test]
fn server_encoder_round_trips_every_frame() {
    let mut checked = 0;
    for rx in fixture_files("rx") {
        let bytes = read(&rx);
        let mut dec = Decoder::new();
        dec.feed(&bytes);
        let mut start = 0usize;
        while let Some(msg) = dec.decode().unwrap() {
            let end = usize::try_from(dec.consumed()).unwrap();
            let original = &bytes[start..end];
            start = end;
            let got = reencode(&msg);
            assert!(
                got == original,
                "{} frame at {}: re-encoded differs\n got: {:?}\nwant: {:?}",
                rx.display(),
                end - original.len(),
                String::from_utf8_lossy(&got[..got.len().min(400)]),
                String::from_utf8_lossy(&original[..original.len().min(400)])
            );
            checked += 1;
        }
    }
    assert!(checked > 300, "only {checked} frames checked");
}

#[test]
fn server_helpers() {
    let mut out = Vec::new();
    server::disconnect_notice(&mut out);
    let rx = read(&fixtures_dir().join("protocol_misc/wrong_password.rx"));
    assert!(rx.ends_with(&out));
    out.clear();
    server::disconnect_notice_channel(
        &mut out,
        "dd357e84-7f00-4891-83db-22c6a6c1a221",
        "sofia/internal/1000@127.0.0.1",
        true,
        -1,
    );
    let rx = read(&fixtures_dir().join("outbound_socket_7002_plain/esl_outbound_plain.rx"));
    assert!(rx.ends_with(&out));
    out.clear();
    server::log_data(
        &mut out,
        &server::LogData {
            level: 6,
            text_channel: 0,
            file: "switch_time.c",
            func: "switch_load_timezones",
            line: 1436,
            user_data: "",
            body: "2026-11-30 02:36:29.606530 80.33% [INFO] switch_time.c:1436 Timezone reloaded 597 definitions\n",
        },
    );
    let rx = read(&fixtures_dir().join("protocol_misc/esl_misc.rx"));
    assert!(rx.windows(out.len()).any(|w| w == out.as_slice()));
}

/// The emulator's side: every `.tx` capture decodes into commands that re-serialize to the
/// same bytes, and the command words are the expected ones.
#[test]
fn tx_captures_decode_as_commands() {
    use kontakt_esl::CommandDecoder;
    let mut names = std::collections::BTreeSet::new();
    for tx in fixture_files("tx") {
        let bytes = read(&tx);
        let mut d = CommandDecoder::new();
        d.feed(&bytes);
        let mut again = Vec::new();
        while let Some(c) = d.decode().unwrap() {
            names.insert(c.name().to_owned());
            again.extend_from_slice(c.line().as_bytes());
            for (n, v) in c.headers().iter() {
                again.extend_from_slice(format!("\n{n}: {v}").as_bytes());
            }
            again.extend_from_slice(b"\n\n");
            again.extend_from_slice(c.body());
        }
        d.finish().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&again),
            String::from_utf8_lossy(&bytes),
            "{}",
            tx.display()
        );
    }
    let want = [
        "api", "auth", "bgapi", "connect", "event", "exit", "filter", "linger", "log", "myevents",
        "nixevent", "noevents", "nolog", "sendmsg",
    ];
    assert_eq!(names.iter().map(String::as_str).collect::<Vec<_>>(), want);
}

#[test]
fn encoded_commands_decode_back() {
    use kontakt_esl::CommandDecoder;
    let long = "x".repeat(3000);
    let mut bytes = Vec::new();
    for c in [
        Command::BgApi { command: "originate a b", job_uuid: Some("j-1") },
        Command::SendMsg {
            uuid: Some("u1"),
            msg: SendMsg::execute("speak", Some(&long)).event_uuid("e1"),
        },
        Command::SendEvent {
            name: "CUSTOM",
            headers: &[("Event-Subclass", "a::b")],
            body: Some("hi"),
        },
    ] {
        c.encode(&mut bytes).unwrap();
    }
    let mut d = CommandDecoder::new();
    for chunk in bytes.chunks(7) {
        d.feed(chunk);
    }
    let a = d.decode().unwrap().unwrap();
    assert_eq!((a.name(), a.args(), a.header("Job-UUID")), ("bgapi", "originate a b", Some("j-1")));
    let b = d.decode().unwrap().unwrap();
    assert_eq!((b.name(), b.args()), ("sendmsg", "u1"));
    assert_eq!(b.header("execute-app-name"), Some("speak"));
    assert_eq!(b.header("Event-UUID"), Some("e1"));
    assert_eq!(b.header("content-type"), Some("text/plain"));
    assert_eq!(b.body().len(), 3000);
    let c = d.decode().unwrap().unwrap();
    assert_eq!(
        (c.line(), c.header("event-subclass"), &c.body()[..]),
        ("sendevent CUSTOM", Some("a::b"), &b"hi"[..])
    );
    assert_eq!(d.decode(), Ok(None));
}
