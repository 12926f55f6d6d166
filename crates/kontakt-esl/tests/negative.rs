//! Hostile and broken input: every limit, malformed framing, truncation, invalid UTF-8.
//! Nothing may panic; fatal errors are sticky; non-fatal ones let decoding continue.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use kontakt_esl::{DecodeError, Decoder, Limits, decode_to_json_lines};

fn decode_one(bytes: &[u8]) -> Result<Option<kontakt_esl::Message>, DecodeError> {
    let mut d = Decoder::new();
    d.feed(bytes);
    d.decode()
}

fn api(cl: &str) -> Vec<u8> {
    format!("Content-Type: api/response\nContent-Length: {cl}\n\nbody").into_bytes()
}

#[test]
fn content_length_negative_non_numeric_empty() {
    for cl in ["-1", "-2", "abc", "", "1e3", "0x10", "+4", "4 4"] {
        assert_eq!(
            decode_one(&api(cl)),
            Err(DecodeError::InvalidContentLength { value: cl.trim().to_owned() }),
            "{cl:?}"
        );
    }
    // Surrounding blanks are tolerated.
    assert_eq!(&decode_one(&api(" 4 ")).unwrap().unwrap().body()[..], b"body");
}

#[test]
fn content_length_above_limit() {
    let limit = Limits::DEFAULT.max_content_length;
    assert_eq!(
        decode_one(&api(&(limit + 1).to_string())),
        Err(DecodeError::ContentLengthTooLarge { length: limit as u64 + 1, limit })
    );
    assert_eq!(
        decode_one(&api("99999999999999999999999999")),
        Err(DecodeError::ContentLengthTooLarge { length: u64::MAX, limit })
    );
    // Exactly at the limit is accepted (and waits for the body).
    assert_eq!(decode_one(&api(&limit.to_string())), Ok(None));
}

#[test]
fn too_many_headers() {
    let mut frame = String::from("Content-Type: command/reply\n");
    for i in 0..Limits::DEFAULT.max_headers {
        frame.push_str(&format!("X-{i}: v\n"));
    }
    frame.push('\n');
    assert_eq!(
        decode_one(frame.as_bytes()),
        Err(DecodeError::TooManyHeaders { limit: Limits::DEFAULT.max_headers })
    );
    // Detected while streaming, before the blank line arrives.
    let mut d = Decoder::with_limits(Limits { max_headers: 3, ..Limits::DEFAULT });
    d.feed(b"A: 1\nB: 2\nC: 3\nD: 4\n");
    assert_eq!(d.decode(), Err(DecodeError::TooManyHeaders { limit: 3 }));
}

#[test]
fn too_long_line_is_rejected_before_the_line_feed() {
    let limit = Limits::DEFAULT.max_line_len;
    let mut d = Decoder::new();
    d.feed(b"Content-Type: ");
    let chunk = vec![b'a'; 4096];
    let mut err = None;
    for _ in 0..100 {
        d.feed(&chunk);
        if let Err(e) = d.decode() {
            err = Some(e);
            break;
        }
        assert!(d.buffered() <= limit + 2 + chunk.len());
    }
    assert_eq!(err, Some(DecodeError::LineTooLong { limit }));
    // Sticky: input is discarded, the error repeats.
    d.feed(b"\n\n");
    assert_eq!(d.buffered(), 0);
    assert_eq!(d.decode(), Err(DecodeError::LineTooLong { limit }));
    assert!(d.finish().is_err());
}

#[test]
fn header_block_too_large() {
    let mut d = Decoder::with_limits(Limits { max_header_block: 100, ..Limits::DEFAULT });
    for _ in 0..20 {
        d.feed(b"Header: value\n");
    }
    assert_eq!(d.decode(), Err(DecodeError::HeaderBlockTooLarge { limit: 100 }));
}

#[test]
fn malformed_header_line_is_fatal() {
    let e = decode_one(b"Content-Type: command/reply\nno colon here\n\n").unwrap_err();
    assert!(matches!(e, DecodeError::MalformedHeaderLine { ref line } if line == "no colon here"));
    assert!(e.is_fatal());
}

#[test]
fn truncated_streams() {
    for cut in [
        &b"Content-Type: api/resp"[..],
        b"Content-Type: api/response\nContent-Length: 10\n",
        b"Content-Type: api/response\nContent-Length: 10\n\n12345",
    ] {
        let mut d = Decoder::new();
        d.feed(cut);
        assert_eq!(d.decode(), Ok(None));
        assert!(matches!(d.finish(), Err(DecodeError::Truncated { .. })), "{cut:?}");
    }
    // Trailing blank lines are not a truncated frame.
    let mut d = Decoder::new();
    d.feed(b"Content-Type: auth/request\n\n\n\r\n");
    assert!(d.decode().unwrap().is_some());
    assert_eq!(d.decode(), Ok(None));
    d.finish().unwrap();
}

#[test]
fn json_lines_writes_messages_before_the_fault() {
    let mut input =
        b"Content-Type: auth/request\n\nContent-Type: command/reply\nReply-Text: +OK accepted\n\n"
            .to_vec();
    let mut bad = input.clone();
    bad.extend_from_slice(b"Content-Type: api/response\nContent-Length: -1\n\n");
    let mut out = Vec::new();
    let err = decode_to_json_lines(&bad, &mut out).unwrap_err();
    assert_eq!(err, DecodeError::InvalidContentLength { value: "-1".into() });
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 2);

    input.extend_from_slice(b"Content-Type: api/response\nContent-Length: 100\n\nshort");
    let mut out = Vec::new();
    let err = decode_to_json_lines(&input, &mut out).unwrap_err();
    assert!(matches!(err, DecodeError::Truncated { buffered } if buffered == 5));
    assert!(err.to_string().contains("stream ended inside a frame"));
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 2);
}

/// Invalid UTF-8: bodies keep their exact bytes (`Message::body`) and are rendered lossily
/// as text; plain event values are decoded lossily (U+FFFD); a JSON event body that is not
/// UTF-8 is not valid JSON, so it is a non-fatal `MalformedEvent`.
#[test]
fn invalid_utf8() {
    let mut d = Decoder::new();
    d.feed(b"Content-Type: api/response\nContent-Length: 3\n\na\xffb");
    let m = d.decode().unwrap().unwrap();
    assert_eq!(&m.body()[..], b"a\xffb");
    assert_eq!(m.body_text(), "a\u{FFFD}b");

    let body = b"Event-Name: X\nRaw: a\xffb\nEnc: c%FFd\nContent-Length: 2\n\n\xfe!";
    let mut frame =
        format!("Content-Length: {}\nContent-Type: text/event-plain\n\n", body.len()).into_bytes();
    frame.extend_from_slice(body);
    d.feed(&frame);
    let ev = d.decode().unwrap().unwrap().into_event().unwrap();
    assert_eq!(ev.header("Raw"), Some("a\u{FFFD}b"));
    assert_eq!(ev.header("Enc"), Some("c\u{FFFD}d"));
    assert_eq!(ev.body(), Some("\u{FFFD}!"));

    let json = b"{\"Event-Name\":\"a\xff\"}";
    let mut frame =
        format!("Content-Length: {}\nContent-Type: text/event-json\n\n", json.len()).into_bytes();
    frame.extend_from_slice(json);
    frame.extend_from_slice(b"Content-Type: auth/request\n\n");
    d.feed(&frame);
    let e = d.decode().unwrap_err();
    assert!(matches!(e, DecodeError::MalformedEvent { .. }));
    assert!(!e.is_fatal());
    // Framing survived: the next frame decodes.
    assert!(d.decode().unwrap().is_some());
}

#[test]
fn outer_header_invalid_utf8_and_crlf() {
    let m = decode_one(b"Content-Type: command/reply\r\nReply-Text: +OK \xff\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(m.reply_text(), Some("+OK \u{FFFD}"));
    assert!(m.is_ok());
}

#[test]
fn unknown_and_missing_content_type_pass_through() {
    let mut d = Decoder::new();
    d.feed(b"Content-Type: text/future\nContent-Length: 2\n\nhiX-Only: 1\n\n");
    let m = d.decode().unwrap().unwrap();
    assert_eq!(m.content_type(), kontakt_esl::ContentType::Other);
    assert_eq!(m.content_type_str(), Some("text/future"));
    assert_eq!(&m.body()[..], b"hi");
    let m = d.decode().unwrap().unwrap();
    assert_eq!(m.content_type_str(), None);
    assert_eq!(m.header("X-Only"), Some("1"));
}

#[test]
fn malformed_xml_and_json_events_are_not_fatal() {
    for (ct, body) in [
        ("text/event-json", "[1,2]"),
        ("text/event-json", "{\"a\":"),
        ("text/event-xml", "<event><headers><a>x</b>"),
    ] {
        let frame = format!(
            "Content-Length: {}\nContent-Type: {ct}\n\n{body}Content-Type: auth/request\n\n",
            body.len()
        );
        let mut d = Decoder::new();
        d.feed(frame.as_bytes());
        assert!(matches!(d.decode(), Err(DecodeError::MalformedEvent { .. })), "{ct} {body}");
        assert!(d.decode().unwrap().is_some());
    }
}
