//! The `kontakt esl decode` output format, spelled out on small inputs.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use kontakt_esl::decode_to_json_lines;
use serde_json::{Value, json};

fn lines(input: &[u8]) -> Vec<Value> {
    let mut out = Vec::new();
    decode_to_json_lines(input, &mut out).unwrap();
    String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn shape_of_each_message_kind() {
    let body = "Event-Name: CHANNEL_HANGUP_COMPLETE\nHangup-Cause: NORMAL_CLEARING\nX: a%20b%2Bc\n\
                Hangup-Cause: NORMAL_CLEARING\nContent-Length: 3\n\nok\n";
    let input = format!(
        "Content-Type: command/reply\nReply-Text: +OK accepted\n\n\
         Content-Type: api/response\nContent-Length: 2\n\nhi\
         Content-Length: {}\nContent-Type: text/event-plain\n\n{body}",
        body.len()
    );
    let got = lines(input.as_bytes());
    assert_eq!(
        got[0],
        json!({"type": "command/reply", "headers": {"Content-Type": "command/reply", "Reply-Text": "+OK accepted"}, "event": null, "body": null})
    );
    assert_eq!(got[1]["body"], "hi");
    assert_eq!(got[1]["event"], Value::Null);
    assert_eq!(
        got[2]["event"],
        json!({"Event-Name": "CHANNEL_HANGUP_COMPLETE", "Hangup-Cause": ["NORMAL_CLEARING", "NORMAL_CLEARING"], "X": "a b+c"})
    );
    assert_eq!(got[2]["body"], "ok\n");
    assert_eq!(got[2]["type"], "text/event-plain");
    // Keys keep wire order.
    let line = {
        let mut out = Vec::new();
        decode_to_json_lines(input.as_bytes(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    };
    assert!(line.contains(r#"{"Event-Name":"CHANNEL_HANGUP_COMPLETE","Hangup-Cause":["#));
}
