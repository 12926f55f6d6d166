//! Session state machines driven by the real captures: the bytes the sessions transmit
//! must equal the client's `.tx` capture, and the outputs must match what happened.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::*;
use kontakt_esl::server;
use kontakt_esl::session::{
    CommandId, Credentials, FailReason, InboundOutput, InboundSession, InboundState,
    OutboundOutput, OutboundSession, OutboundState,
};
use kontakt_esl::{Command, Decoder, Event, EventFormat, Headers, Message, SendMsg, SessionError};

fn messages(rel: &str) -> Vec<Message> {
    let mut dec = Decoder::new();
    dec.feed(&read(&fixtures_dir().join(rel)));
    let mut out = Vec::new();
    while let Some(m) = dec.decode().unwrap() {
        out.push(m);
    }
    out
}

fn drain_in(s: &mut InboundSession) -> Vec<InboundOutput> {
    std::iter::from_fn(|| s.poll_output()).collect()
}

fn drain_out(s: &mut OutboundSession) -> Vec<OutboundOutput> {
    std::iter::from_fn(|| s.poll_output()).collect()
}

#[test]
fn inbound_protocol_misc_replays() {
    let mut s = InboundSession::new(Credentials::Password("ClueCon".into()));
    let mut tx = Vec::new();
    let mut outputs = Vec::new();
    let mut ids: Vec<CommandId> = Vec::new();
    let bg = &["BACKGROUND_JOB"][..];
    for m in messages("protocol_misc/esl_misc.rx") {
        s.handle_message(m);
        let new = drain_in(&mut s);
        if new.contains(&InboundOutput::Authenticated) {
            // Pipeline every command of the capture at once: replies are matched FIFO.
            let version = Command::BgApi { command: "version", job_uuid: None };
            for c in [
                Command::Api { command: "status" },
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
            ] {
                ids.push(s.send_command(&c).unwrap());
            }
            assert_eq!(s.state(), InboundState::Closed, "exit closes");
        }
        outputs.extend(new);
        if let Some(b) = s.poll_transmit() {
            tx.extend(b);
        }
    }
    assert_eq!(
        String::from_utf8(tx).unwrap(),
        String::from_utf8(read(&fixtures_dir().join("protocol_misc/esl_misc.tx"))).unwrap()
    );
    // The first bgapi (status) was sent before subscribing: its result never came.
    assert_eq!(s.pending_jobs(), 1);
    assert_eq!(s.pending_replies(), 0);
    s.handle_close();
    outputs.extend(drain_in(&mut s));

    let jobs: Vec<_> = outputs
        .iter()
        .filter_map(|o| match o {
            InboundOutput::BackgroundJob { id, event, .. } => Some((*id, event.body().unwrap())),
            _ => None,
        })
        .collect();
    let version = "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n";
    assert_eq!(jobs, [(ids[4], version), (ids[7], version), (ids[9], version)]);
    assert!(outputs.contains(&InboundOutput::CommandFailed {
        id: ids[2],
        reason: FailReason::ConnectionClosed
    }));
    let reply = |id: CommandId| {
        outputs.iter().find_map(|o| match o {
            InboundOutput::CommandReply { id: i, message } if *i == id => {
                Some(message.reply_text().unwrap().to_owned())
            }
            _ => None,
        })
    };
    assert_eq!(reply(ids[3]).as_deref(), Some("+OK event listener enabled plain"));
    assert_eq!(reply(ids[21]).as_deref(), Some("-ERR not controlling a session"));
    assert_eq!(reply(ids[22]).as_deref(), Some("+OK bye"));
    let api = |id: CommandId| {
        outputs.iter().find_map(|o| match o {
            InboundOutput::ApiResponse { id: i, body } if *i == id => Some(body.clone()),
            _ => None,
        })
    };
    assert!(api(ids[0]).unwrap().starts_with(b"UP "));
    assert_eq!(&api(ids[1]).unwrap()[..], b"-ERR nosuchcommand Command not found!\n");
    assert!(outputs.iter().any(|o| matches!(o, InboundOutput::Log(_))));
    assert!(matches!(outputs.last(), Some(InboundOutput::CommandFailed { .. })));
    assert!(outputs.iter().any(|o| matches!(o, InboundOutput::Disconnected(_))));
    assert!(!outputs.iter().any(|o| matches!(o, InboundOutput::ProtocolViolation { .. })));
}

#[test]
fn inbound_wrong_password() {
    let mut s = InboundSession::new(Credentials::Password("WrongPassword".into()));
    for m in messages("protocol_misc/wrong_password.rx") {
        s.handle_message(m);
    }
    assert_eq!(s.poll_transmit().unwrap(), b"auth WrongPassword\n\n");
    let out = drain_in(&mut s);
    assert_eq!(out[0], InboundOutput::AuthFailed { reply: "-ERR invalid".into() });
    assert!(matches!(out[1], InboundOutput::Disconnected(_)));
    assert_eq!(s.state(), InboundState::AuthFailed);
    assert!(matches!(s.send_api("status"), Err(SessionError::NotReady { .. })));
}

#[test]
fn inbound_before_auth_and_duplicates() {
    let mut s = InboundSession::new(Credentials::User {
        user: "1000@default".into(),
        password: "p".into(),
    });
    assert!(s.send_api("status").is_err());
    let mut out = Vec::new();
    server::auth_request(&mut out);
    server::command_reply(&mut out, "+OK accepted", &[]);
    s.handle_input(&out).unwrap();
    assert_eq!(s.poll_transmit().unwrap(), b"userauth 1000@default:p\n\n");
    assert_eq!(s.state(), InboundState::Ready);
    let a = s.send_bgapi("originate x &park()", "job-1").unwrap();
    assert!(matches!(s.send_bgapi("status", "job-1"), Err(SessionError::DuplicateId { .. })));
    assert!(s.send_command(&Command::Auth { password: "x" }).is_err());
    // Reply and result, delivered in tiny chunks.
    let mut bytes = Vec::new();
    server::command_reply(&mut bytes, "+OK Job-UUID: job-1", &[("Job-UUID", "job-1")]);
    let mut ev = Event::default();
    ev.headers_mut().push("Event-Name", "BACKGROUND_JOB");
    ev.headers_mut().push("Job-UUID", "job-1");
    ev.set_body(Some("+OK abc\n".into()));
    server::event_json(&mut bytes, &ev);
    for chunk in bytes.chunks(3) {
        s.handle_input(chunk).unwrap();
    }
    let outs = drain_in(&mut s);
    assert!(
        matches!(&outs[1], InboundOutput::CommandReply { id, message } if *id == a && message.is_ok())
    );
    assert_eq!(
        outs[2],
        InboundOutput::BackgroundJob { id: a, job_uuid: "job-1".into(), event: ev }
    );
    // An unsolicited reply is a protocol violation.
    let mut bytes = Vec::new();
    server::command_reply(&mut bytes, "+OK", &[]);
    s.handle_input(&bytes).unwrap();
    assert!(matches!(s.poll_output(), Some(InboundOutput::ProtocolViolation { .. })));
}

#[test]
fn outbound_capture_replays() {
    let mut s = OutboundSession::new();
    let mut tx = s.poll_transmit().unwrap();
    assert_eq!(tx, b"connect\n\n");
    let mut outputs = Vec::new();
    let mut ids = Vec::new();
    for m in messages("outbound_socket_7002_plain/esl_outbound_plain.rx") {
        s.handle_message(m);
        let new = drain_out(&mut s);
        if matches!(new.first(), Some(OutboundOutput::Connected { .. })) {
            ids.push(s.send_myevents(EventFormat::Plain).unwrap());
            ids.push(s.send_linger(None).unwrap());
            ids.push(
                s.send_command(&Command::SendMsg {
                    uuid: None,
                    msg: SendMsg::execute("answer", None).event_lock(true),
                })
                .unwrap(),
            );
            ids.push(
                s.send_command(&Command::SendMsg {
                    uuid: None,
                    msg: SendMsg::execute(
                        "playback",
                        Some("{loops=20}tone_stream://%(400,200,400,450)"),
                    )
                    .event_lock(true),
                })
                .unwrap(),
            );
            ids.push(
                s.send_command(&Command::Api {
                    command: "uuid_getvar dd357e84-7f00-4891-83db-22c6a6c1a221 sip_from_user",
                })
                .unwrap(),
            );
        }
        outputs.extend(new);
        if let Some(b) = s.poll_transmit() {
            tx.extend(b);
        }
    }
    assert_eq!(tx, read(&fixtures_dir().join("outbound_socket_7002_plain/esl_outbound_plain.tx")));
    let OutboundOutput::Connected { channel_data } = &outputs[0] else { panic!() };
    assert_eq!(channel_data.unique_id(), Some("dd357e84-7f00-4891-83db-22c6a6c1a221"));
    assert_eq!(channel_data.destination_number(), Some("7002"));
    assert_eq!(channel_data.caller_id_name(), Some("sipp 1000"));
    assert_eq!(s.unique_id(), Some("dd357e84-7f00-4891-83db-22c6a6c1a221"));
    assert!(outputs.iter().any(|o| matches!(o, OutboundOutput::ApiResponse { id, body } if *id == ids[4] && &body[..] == b"1000")));
    let hangups: Vec<_> = outputs
        .iter()
        .filter_map(|o| match o {
            OutboundOutput::Hangup { cause, .. } => Some(cause.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(hangups, [Some("NORMAL_CLEARING".to_owned())]);
    assert!(s.is_hung_up());
    assert!(matches!(outputs.last(), Some(OutboundOutput::Disconnected { linger: true, .. })));
    assert_eq!(s.state(), OutboundState::Closed);
    let dtmf: Vec<_> = outputs
        .iter()
        .filter_map(|o| match o {
            OutboundOutput::Event(e) => e.dtmf_digit(),
            _ => None,
        })
        .collect();
    assert_eq!(dtmf, ["1"]);
    assert!(!outputs.iter().any(|o| matches!(o, OutboundOutput::ProtocolViolation { .. })));
}

fn event(headers: &[(&str, &str)]) -> Vec<u8> {
    let ev = Event::new(headers.iter().copied().collect::<Headers>(), None);
    let mut out = Vec::new();
    server::event_plain(&mut out, &ev);
    out
}

#[test]
fn outbound_execute_tracking() {
    let mut s = OutboundSession::new();
    s.poll_transmit();
    assert!(s.execute("answer", None, "e1").is_err(), "not connected yet");
    let mut data = Headers::new();
    data.push("Event-Name", "CHANNEL_DATA");
    data.push("Unique-ID", "u1");
    let mut bytes = Vec::new();
    server::connect_reply(&mut bytes, &data, "async", "full");
    s.handle_input(&bytes).unwrap();
    assert!(matches!(s.poll_output(), Some(OutboundOutput::Connected { .. })));

    let a = s.execute("playback", Some("x.wav"), "e1").unwrap();
    let b = s.execute("playback", Some("x.wav"), "e2").unwrap();
    assert!(matches!(s.execute("answer", None, "e1"), Err(SessionError::DuplicateId { .. })));
    let sent = String::from_utf8(s.poll_transmit().unwrap()).unwrap();
    assert!(sent.contains("Event-UUID: e1\n") && sent.contains("Event-UUID: e2\n"));
    assert_eq!(s.pending_executions(), 2);

    let mut bytes = Vec::new();
    server::command_reply(&mut bytes, "+OK", &[]);
    server::command_reply(&mut bytes, "+OK", &[]);
    // Completions out of order: matched by Application-UUID, not by order.
    bytes.extend(event(&[
        ("Event-Name", "CHANNEL_EXECUTE_COMPLETE"),
        ("Unique-ID", "u1"),
        ("Application-UUID", "e2"),
        ("Application-Response", "FILE PLAYED"),
    ]));
    bytes.extend(event(&[
        ("Event-Name", "CHANNEL_HANGUP"),
        ("Unique-ID", "u1"),
        ("Hangup-Cause", "NORMAL_CLEARING"),
    ]));
    s.handle_input(&bytes).unwrap();
    let outs = drain_out(&mut s);
    assert!(
        matches!(&outs[2], OutboundOutput::ExecuteComplete { id, event } if *id == b && event.application_response() == Some("FILE PLAYED"))
    );
    assert!(
        matches!(&outs[3], OutboundOutput::Hangup { cause: Some(c), .. } if c == "NORMAL_CLEARING")
    );
    // The connection drops before e1 completes: it fails instead of hanging.
    s.handle_close();
    assert_eq!(
        drain_out(&mut s),
        [OutboundOutput::CommandFailed { id: a, reason: FailReason::ConnectionClosed }]
    );
}

#[test]
fn malformed_event_does_not_stall_the_session() {
    let mut s = InboundSession::new(Credentials::Password("ClueCon".into()));
    let mut bytes = Vec::new();
    server::auth_request(&mut bytes);
    server::command_reply(&mut bytes, "+OK accepted", &[]);
    bytes.extend_from_slice(b"Content-Length: 5\nContent-Type: text/event-json\n\n{bad}");
    let ev = Event::new([("Event-Name", "HEARTBEAT")].into_iter().collect(), None);
    server::event_plain(&mut bytes, &ev);
    let err = s.handle_input(&bytes).unwrap_err();
    assert!(!err.is_fatal());
    let outs = drain_in(&mut s);
    assert_eq!(outs.last(), Some(&InboundOutput::Event(ev)));
}
