//! Encoding of what FreeSWITCH sends: the server side of ESL, for the emulator.
//!
//! Byte-exact with FreeSWITCH 1.10 (checked by re-encoding every frame of the captures):
//! event frames put `Content-Length` before `Content-Type`, `api/response` and `log/data`
//! the other way round; plain event values and the outbound `connect` reply are
//! percent-encoded with FreeSWITCH's character set ([`crate::percent_encode`]); json events
//! are compact cJSON output in header order with duplicate keys, arrays for `ARRAY::`
//! values and the body under `_body` preceded by a `Content-Length` key.

use std::io::Write as _;

use crate::event::Event;
use crate::headers::Headers;
use crate::percent::percent_encode_into;

/// The body of FreeSWITCH's `text/disconnect-notice`.
pub const DISCONNECT_BODY: &str =
    "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n";

/// `Content-Type: auth/request`, sent on every new inbound connection.
pub fn auth_request(out: &mut Vec<u8>) {
    out.extend_from_slice(b"Content-Type: auth/request\n\n");
}

/// A `command/reply` with `Reply-Text` and extra headers (e.g. `Job-UUID` after
/// `+OK Job-UUID: ...`), written raw as FreeSWITCH does.
pub fn command_reply(out: &mut Vec<u8>, reply_text: &str, extra: &[(&str, &str)]) {
    out.extend_from_slice(b"Content-Type: command/reply\nReply-Text: ");
    out.extend_from_slice(reply_text.as_bytes());
    out.push(b'\n');
    for (n, v) in extra {
        write_raw_header(out, n, v);
    }
    out.push(b'\n');
}

/// An `api/response` with `body`.
pub fn api_response(out: &mut Vec<u8>, body: &[u8]) {
    let _ = write!(out, "Content-Type: api/response\nContent-Length: {}\n\n", body.len());
    out.extend_from_slice(body);
}

/// Any frame with its outer headers written exactly as given (values raw) and `body`.
/// The caller includes `Content-Length` where FreeSWITCH puts it (e.g. `log/data`,
/// `text/disconnect-notice` with linger headers).
pub fn raw_frame<'a>(
    out: &mut Vec<u8>,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    body: &[u8],
) {
    for (n, v) in headers {
        write_raw_header(out, n, v);
    }
    out.push(b'\n');
    out.extend_from_slice(body);
}

/// The `text/disconnect-notice` of an inbound connection (after `exit` or a failed
/// `auth`).
pub fn disconnect_notice(out: &mut Vec<u8>) {
    let _ = write!(
        out,
        "Content-Type: text/disconnect-notice\nContent-Length: {}\n\n{DISCONNECT_BODY}",
        DISCONNECT_BODY.len()
    );
}

/// The `text/disconnect-notice` of an outbound socket when the channel hangs up,
/// `Content-Disposition: linger` if the client asked to linger, `disconnect` otherwise.
/// `linger_time` is `-1` for `linger` without seconds.
pub fn disconnect_notice_channel(
    out: &mut Vec<u8>,
    uuid: &str,
    channel_name: &str,
    linger: bool,
    linger_time: i64,
) {
    let _ = write!(out, "Content-Type: text/disconnect-notice\nControlled-Session-UUID: {uuid}\n");
    if linger {
        let _ = write!(
            out,
            "Content-Disposition: linger\nChannel-Name: {channel_name}\nLinger-Time: {linger_time}\n"
        );
    } else {
        let _ = write!(out, "Content-Disposition: disconnect\nChannel-Name: {channel_name}\n");
    }
    out.extend_from_slice(b"Content-Length: 0\n\n");
}

/// `text/rude-rejection` (ACL refusal).
pub fn rude_rejection(out: &mut Vec<u8>, body: &str) {
    let _ =
        write!(out, "Content-Type: text/rude-rejection\nContent-Length: {}\n\n{body}", body.len());
}

/// A `log/data` frame as sent after `log <level>`.
pub struct LogData<'a> {
    /// `Log-Level` (0-7).
    pub level: u8,
    /// `Text-Channel`.
    pub text_channel: u32,
    /// `Log-File`.
    pub file: &'a str,
    /// `Log-Func`.
    pub func: &'a str,
    /// `Log-Line`.
    pub line: u32,
    /// `User-Data` (often empty).
    pub user_data: &'a str,
    /// The log line.
    pub body: &'a str,
}

/// Writes a `log/data` frame.
pub fn log_data(out: &mut Vec<u8>, log: &LogData<'_>) {
    let _ = write!(
        out,
        "Content-Type: log/data\nContent-Length: {}\nLog-Level: {}\nText-Channel: {}\n\
         Log-File: {}\nLog-Func: {}\nLog-Line: {}\nUser-Data: {}\n\n{}",
        log.body.len(),
        log.level,
        log.text_channel,
        log.file,
        log.func,
        log.line,
        log.user_data,
        log.body
    );
}

/// Serializes an event as FreeSWITCH's `switch_event_serialize` does: encoded headers,
/// then either a blank line or `Content-Length`, blank line and the body.
pub fn serialize_plain(event: &Event, out: &mut Vec<u8>) {
    write_encoded_headers(out, event.headers());
    match event.body() {
        Some(b) => {
            let _ = write!(out, "Content-Length: {}\n\n", b.len());
            out.extend_from_slice(b.as_bytes());
        }
        None => out.push(b'\n'),
    }
}

/// A `text/event-plain` frame.
pub fn event_plain(out: &mut Vec<u8>, event: &Event) {
    let mut body = Vec::with_capacity(4096);
    serialize_plain(event, &mut body);
    let _ = write!(out, "Content-Length: {}\nContent-Type: text/event-plain\n\n", body.len());
    out.extend_from_slice(&body);
}

/// Serializes an event as FreeSWITCH's `switch_event_serialize_json` (cJSON, unformatted).
pub fn serialize_json(event: &Event, out: &mut Vec<u8>) {
    out.push(b'{');
    let mut first = true;
    for (name, value) in event.headers().iter() {
        if !first {
            out.push(b',');
        }
        first = false;
        json_string(out, name);
        out.push(b':');
        match value.strip_prefix("ARRAY::") {
            Some(items) => {
                out.push(b'[');
                for (i, item) in items.split("|:").enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    json_string(out, item);
                }
                out.push(b']');
            }
            None => json_string(out, value),
        }
    }
    if let Some(b) = event.body() {
        if !first {
            out.push(b',');
        }
        let _ = write!(out, "\"Content-Length\":\"{}\",\"_body\":", b.len());
        json_string(out, b);
    }
    out.push(b'}');
}

/// A `text/event-json` frame.
pub fn event_json(out: &mut Vec<u8>, event: &Event) {
    let mut body = Vec::with_capacity(4096);
    serialize_json(event, &mut body);
    let _ = write!(out, "Content-Length: {}\nContent-Type: text/event-json\n\n", body.len());
    out.extend_from_slice(&body);
}

/// Serializes an event as FreeSWITCH's `switch_event_xmlize` + `switch_xml_toxml` do:
/// two-space indentation, header values URL-encoded then XML-escaped, an `ARRAY::` value
/// as the element repeated once per item, and with a body a `<Content-Length>` element
/// followed by `<body>` (the pretty-printer puts the closing tag's indentation right after
/// the body text).
pub fn serialize_xml(event: &Event, out: &mut Vec<u8>) {
    out.extend_from_slice(b"<event>\n  <headers>\n");
    let mut enc = Vec::new();
    for (name, value) in event.headers().iter() {
        let mut one = |v: &str| {
            enc.clear();
            percent_encode_into(v, &mut enc);
            out.extend_from_slice(b"    <");
            out.extend_from_slice(name.as_bytes());
            out.push(b'>');
            xml_escape_into(&enc, out);
            out.extend_from_slice(b"</");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b">\n");
        };
        match value.strip_prefix("ARRAY::") {
            Some(items) => items.split("|:").for_each(&mut one),
            None => one(value),
        }
    }
    out.extend_from_slice(b"  </headers>\n");
    if let Some(b) = event.body() {
        let _ = write!(out, "  <Content-Length>{}</Content-Length>\n  <body>", b.len());
        xml_escape_into(b.as_bytes(), out);
        out.extend_from_slice(b"  </body>\n");
    }
    out.extend_from_slice(b"</event>\n");
}

/// A `text/event-xml` frame.
pub fn event_xml(out: &mut Vec<u8>, event: &Event) {
    let mut body = Vec::with_capacity(8192);
    serialize_xml(event, &mut body);
    let _ = write!(out, "Content-Length: {}\nContent-Type: text/event-xml\n\n", body.len());
    out.extend_from_slice(&body);
}

fn xml_escape_into(text: &[u8], out: &mut Vec<u8>) {
    for &b in text {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            _ => out.push(b),
        }
    }
}

/// The outbound `connect` reply: the channel data headers, then `Content-Type`,
/// `Reply-Text: +OK\n`, `Socket-Mode` and `Control`, all percent-encoded as FreeSWITCH
/// does for this one `command/reply`.
pub fn connect_reply(out: &mut Vec<u8>, channel_data: &Headers, socket_mode: &str, control: &str) {
    write_encoded_headers(out, channel_data);
    let tail: [(&str, &str); 4] = [
        ("Content-Type", "command/reply"),
        ("Reply-Text", "+OK\n"),
        ("Socket-Mode", socket_mode),
        ("Control", control),
    ];
    for (n, v) in tail {
        write_encoded_header(out, n, v);
    }
    out.push(b'\n');
}

fn write_raw_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.push(b'\n');
}

fn write_encoded_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    percent_encode_into(value, out);
    out.push(b'\n');
}

fn write_encoded_headers(out: &mut Vec<u8>, headers: &Headers) {
    for (n, v) in headers.iter() {
        write_encoded_header(out, n, v);
    }
}

/// cJSON's string escaping: `"` `\` and the short escapes, other controls as `\u00xx`,
/// everything else (including `/` and non-ASCII) verbatim.
fn json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..0x20 => b"",
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        if esc.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
}
