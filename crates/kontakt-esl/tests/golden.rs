//! Golden tests over the real FreeSWITCH 1.10.12 captures.
//!
//! Two independent checks: (1) the `decode_to_json_lines` output of every `.rx` file equals
//! the committed `<name>.expected.jsonl` (regenerate with `UPDATE_GOLDEN=1 cargo test`);
//! (2) the decoded frames agree with the capture tool's own `.frames.jsonl` index (byte
//! offset and length of every frame, outer headers, event name, unique id, subclass),
//! which was produced independently of this crate.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::*;
use kontakt_esl::{ContentType, Decoder, Event, decode_to_json_lines, percent_decode};
use serde_json::Value;

#[test]
fn golden_json_lines() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for rx in fixture_files("rx") {
        let mut out = Vec::new();
        let n = decode_to_json_lines(&read(&rx), &mut out)
            .unwrap_or_else(|e| panic!("{}: {e}", rx.display()));
        assert!(n > 0);
        let expected = sibling(&rx, "expected.jsonl");
        if update {
            std::fs::write(&expected, &out).unwrap();
            continue;
        }
        let want = read(&expected);
        assert!(out == want, "{} differs from {}", rx.display(), expected.display());
    }
}

#[test]
fn frames_match_independent_index() {
    for rx in fixture_files("rx") {
        let index = sibling(&rx, "frames.jsonl");
        if !index.exists() {
            continue;
        }
        let bytes = read(&rx);
        let frames: Vec<Value> = String::from_utf8(read(&index))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let mut dec = Decoder::new();
        dec.feed(&bytes);
        let name = rx.display();
        for (i, f) in frames.iter().enumerate() {
            let offset = f["offset"].as_u64().unwrap();
            let length = f["length"].as_u64().unwrap();
            assert_eq!(dec.consumed(), offset, "{name} frame {i} offset");
            let msg = dec.decode().unwrap().unwrap_or_else(|| panic!("{name}: frame {i} missing"));
            assert_eq!(dec.consumed(), offset + length, "{name} frame {i} length");
            let want_headers = f["headers"].as_object().unwrap();
            for (k, v) in want_headers {
                // The index is a Python dict: the last duplicate wins.
                let got = msg.headers().get_all(k).last();
                assert_eq!(got, v.as_str(), "{name} frame {i} header {k}");
            }
            let distinct: std::collections::BTreeSet<_> =
                msg.headers().iter().map(|(n, _)| n).collect();
            assert_eq!(distinct.len(), want_headers.len(), "{name} frame {i} header count");
            if let Some(body) = f.get("body") {
                assert_eq!(msg.body_text(), body.as_str().unwrap(), "{name} frame {i} body");
            }
            if let Some(ev_name) = f.get("event") {
                assert!(msg.content_type().is_event(), "{name} frame {i}");
                let ev = msg.event().unwrap();
                assert_eq!(ev.name(), ev_name.as_str(), "{name} frame {i} event name");
                if let Some(u) = f.get("unique_id") {
                    assert_eq!(ev.unique_id(), u.as_str(), "{name} frame {i} unique id");
                }
                if let Some(s) = f.get("subclass") {
                    // The index leaves xml values URL-encoded.
                    let want = s.as_str().map(percent_decode);
                    assert_eq!(ev.subclass(), want.as_deref(), "{name} frame {i} subclass");
                }
            }
        }
        assert!(dec.decode().unwrap().is_none(), "{name}: more frames than the index");
        dec.finish().unwrap();
    }
}

fn events_by_sequence(bytes: &[u8]) -> std::collections::BTreeMap<u64, Event> {
    let mut dec = Decoder::new();
    dec.feed(bytes);
    let mut out = std::collections::BTreeMap::new();
    while let Some(m) = dec.decode().unwrap() {
        if m.content_type().is_event() {
            let ev = m.into_event().unwrap();
            // API events differ per connection (each ran its own `api status`).
            if ev.name() != Some("API") {
                out.insert(ev.sequence().unwrap(), ev);
            }
        }
    }
    out
}

/// The three connections of one scenario watched the same call: the same
/// `Event-Sequence` must decode to the same `Event` whatever the wire format.
#[test]
fn plain_json_xml_decode_to_the_same_events() {
    for dir in ["echo_9196", "originate_bgapi"] {
        let d = fixtures_dir().join(dir);
        let plain = events_by_sequence(&read(&d.join("esl_plain.rx")));
        let json = events_by_sequence(&read(&d.join("esl_json.rx")));
        let xml = events_by_sequence(&read(&d.join("esl_xml.rx")));
        let mut compared = 0;
        for (seq, p) in &plain {
            for (fmt, other) in [("json", &json), ("xml", &xml)] {
                if let Some(o) = other.get(seq) {
                    assert_eq!(p, o, "{dir} seq {seq} plain vs {fmt} ({:?})", p.name());
                    compared += 1;
                }
            }
        }
        assert!(compared > 40, "{dir}: only {compared} events compared");
    }
}

#[test]
fn content_types_seen() {
    let mut seen = std::collections::BTreeSet::new();
    for rx in fixture_files("rx") {
        let mut dec = Decoder::new();
        dec.feed(&read(&rx));
        while let Some(m) = dec.decode().unwrap() {
            seen.insert(format!("{:?}", m.content_type()));
            assert_ne!(m.content_type(), ContentType::Other);
        }
    }
    for want in [
        "AuthRequest",
        "CommandReply",
        "ApiResponse",
        "EventPlain",
        "EventJson",
        "EventXml",
        "DisconnectNotice",
        "LogData",
    ] {
        assert!(seen.contains(want), "{want} not seen");
    }
}
