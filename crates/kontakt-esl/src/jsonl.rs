//! `kontakt esl decode FILE`: a captured byte stream as one JSON object per message.
//!
//! This output is a stable interface used by outside checks, so its shape is fixed:
//! `{"type", "headers", "event", "body"}` with keys in that order, header objects in wire
//! order, and a header that occurs several times rendered as an array of its values.

use std::io::Write;

use crate::decode::Decoder;
use crate::error::DecodeError;
use crate::headers::Headers;
use crate::message::Message;

/// Decodes `bytes` (a stream as FreeSWITCH sent it) and writes one JSON line per message:
///
/// `{"type": <Content-Type or null>, "headers": {outer headers, decoded},
///   "event": {event headers, decoded} or null, "body": <text or null>}`
///
/// `event` is non-null for `text/event-plain|json|xml` frames. `body` is the event's own
/// body for events (e.g. a `BACKGROUND_JOB` result; the serialized event itself is not
/// repeated), otherwise the frame body; `null` when empty. Invalid UTF-8 in a body is
/// replaced with U+FFFD (a body is text in every FreeSWITCH frame type; the exact bytes
/// remain available from [`Message::body`]).
///
/// Returns the number of messages. On a malformed or truncated stream every message
/// before the fault is written, then the error is returned.
pub fn decode_to_json_lines(bytes: &[u8], out: &mut impl Write) -> Result<usize, DecodeError> {
    let mut dec = Decoder::new();
    dec.feed(bytes);
    let mut count = 0;
    while let Some(msg) = dec.decode()? {
        write_message(&msg, out).map_err(|e| DecodeError::Write { reason: e.to_string() })?;
        count += 1;
    }
    dec.finish()?;
    Ok(count)
}

/// Writes one message as a JSON line (the format of [`decode_to_json_lines`]).
pub fn write_message(msg: &Message, out: &mut impl Write) -> std::io::Result<()> {
    out.write_all(b"{\"type\":")?;
    serde_json::to_writer(&mut *out, &msg.content_type_str())?;
    out.write_all(b",\"headers\":")?;
    write_headers(msg.headers(), out)?;
    out.write_all(b",\"event\":")?;
    let event = if msg.content_type().is_event() { msg.event() } else { None };
    match event {
        Some(ev) => write_headers(ev.headers(), out)?,
        None => out.write_all(b"null")?,
    }
    out.write_all(b",\"body\":")?;
    let body = match event {
        Some(ev) => ev.body().map(std::borrow::Cow::Borrowed),
        None if msg.body().is_empty() => None,
        None => Some(msg.body_text()),
    };
    serde_json::to_writer(&mut *out, &body)?;
    out.write_all(b"}\n")
}

fn write_headers(headers: &Headers, out: &mut impl Write) -> std::io::Result<()> {
    // Group duplicates in first-occurrence order; header counts are small (hundreds).
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::with_capacity(headers.len());
    for (name, value) in headers.iter() {
        match groups.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => groups.push((name, vec![value])),
        }
    }
    out.write_all(b"{")?;
    for (i, (name, values)) in groups.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, name)?;
        out.write_all(b":")?;
        match values.as_slice() {
            [one] => serde_json::to_writer(&mut *out, one)?,
            many => serde_json::to_writer(&mut *out, many)?,
        }
    }
    out.write_all(b"}")
}
