//! Typed accessors of `Event` on real events, in all three wire formats.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::*;
use kontakt_esl::{ChannelState, Decoder, Direction, Event};

fn events(rel: &str) -> Vec<Event> {
    let mut d = Decoder::new();
    d.feed(&read(&fixtures_dir().join(rel)));
    let mut out = Vec::new();
    while let Some(m) = d.decode().unwrap() {
        if m.content_type().is_event() {
            out.push(m.into_event().unwrap());
        }
    }
    out
}

fn find<'a>(evs: &'a [Event], name: &str) -> &'a Event {
    evs.iter().find(|e| e.name() == Some(name)).unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn echo_call_accessors_in_every_format() {
    for fmt in ["plain", "json", "xml"] {
        let evs = events(&format!("echo_9196/esl_{fmt}.rx"));
        let create = find(&evs, "CHANNEL_CREATE");
        assert_eq!(create.unique_id(), Some("d558f16b-6c39-406c-bd67-5affb04edf95"), "{fmt}");
        assert_eq!(create.call_direction(), Some(Direction::Inbound));
        assert_eq!(create.caller_id_number(), Some("1000"));
        assert_eq!(create.destination_number(), Some("9196"));
        assert_eq!(create.channel_state_typed(), Some(ChannelState::Init));
        assert!(create.sequence().unwrap() > 0);
        assert!(create.timestamp_micros().unwrap() > 1_700_000_000_000_000);

        let complete = find(&evs, "CHANNEL_HANGUP_COMPLETE");
        assert_eq!(complete.header_all("Hangup-Cause").count(), 2, "{fmt}");
        assert_eq!(complete.hangup_cause(), Some("NORMAL_CLEARING"));
        assert_eq!(complete.call_state(), Some("HANGUP"));
        assert_eq!(complete.answer_state(), Some("hangup"));

        let exec = find(&evs, "CHANNEL_EXECUTE_COMPLETE");
        assert!(exec.application().is_some() && exec.application_uuid().is_some(), "{fmt}");

        let custom = evs.iter().find(|e| e.subclass() == Some("sofia::pre_register")).unwrap();
        assert_eq!(custom.name(), Some("CUSTOM"));
        assert_eq!(custom.unique_id(), None);
    }
}

#[test]
fn outbound_dtmf_and_array_variable() {
    let evs = events("outbound_socket_7002_plain/esl_outbound_plain.rx");
    assert_eq!(find(&evs, "DTMF").dtmf_digit(), Some("1"));
    let ev = find(&evs, "CHANNEL_EXECUTE_COMPLETE");
    assert_eq!(ev.var_array("DP_MATCH"), Some(vec!["DELAYED NEGOTIATION", "DELAYED NEGOTIATION"]));
    assert_eq!(ev.var("sip_from_user"), Some("1000"));
    assert!(ev.var("switch_r_sdp").unwrap().contains("\r\nm=audio 6000 RTP/AVP 8 101\r\n"));
}

#[test]
fn background_job_in_every_format() {
    let evs = events("protocol_misc/esl_misc.rx");
    let jobs: Vec<_> = evs.iter().filter(|e| e.name() == Some("BACKGROUND_JOB")).collect();
    assert_eq!(jobs.len(), 3, "plain, json, xml");
    for j in jobs {
        assert!(j.job_uuid().is_some());
        assert_eq!(j.header("Job-Command"), Some("version"));
        assert_eq!(j.body(), Some("FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"));
        assert_eq!(j.header("Content-Length"), None);
    }
}

#[test]
fn originate_bgapi_result() {
    let evs = events("originate_bgapi/esl_plain.rx");
    let job = find(&evs, "BACKGROUND_JOB");
    assert_eq!(job.body(), Some("+OK 5d1e0c5a-0000-4000-8000-0000000e5100\n"));
    let out = evs.iter().find(|e| {
        e.unique_id() == Some("5d1e0c5a-0000-4000-8000-0000000e5100")
            && e.call_direction() == Some(Direction::Outbound)
    });
    assert!(out.is_some());
}
