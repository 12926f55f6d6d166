//! A FreeSWITCH event, the same type whatever wire format (plain, json, xml) carried it.
//!
//! The event's headers are decoded values (percent-decoding and, for xml, entity
//! unescaping done), in FreeSWITCH's order, duplicates kept. Array-valued channel
//! variables are represented the way FreeSWITCH represents them internally and in plain
//! events: one header whose value is `ARRAY::a|:b` (see [`Event::var_array`]). The inner
//! `Content-Length` that precedes an event body on the wire is framing, not a header, so it
//! is not kept; the body is available through [`Event::body`].

use crate::headers::{BlockError, Headers};
use crate::limits::Limits;

/// A decoded event (or, for the outbound `connect` reply, the channel data).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    headers: Headers,
    body: Option<String>,
}

/// `Call-Direction` / `Channel-Direction` of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Direction {
    /// The channel was created by a call coming into FreeSWITCH.
    Inbound,
    /// The channel was originated by FreeSWITCH.
    Outbound,
}

/// `Channel-State` (FreeSWITCH's `switch_channel_state_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum ChannelState {
    New,
    Init,
    Routing,
    SoftExecute,
    Execute,
    ExchangeMedia,
    Park,
    ConsumeMedia,
    Hibernate,
    Reset,
    Hangup,
    Reporting,
    Destroy,
    None,
}

impl ChannelState {
    /// Parses a `CS_*` name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "CS_NEW" => Self::New,
            "CS_INIT" => Self::Init,
            "CS_ROUTING" => Self::Routing,
            "CS_SOFT_EXECUTE" => Self::SoftExecute,
            "CS_EXECUTE" => Self::Execute,
            "CS_EXCHANGE_MEDIA" => Self::ExchangeMedia,
            "CS_PARK" => Self::Park,
            "CS_CONSUME_MEDIA" => Self::ConsumeMedia,
            "CS_HIBERNATE" => Self::Hibernate,
            "CS_RESET" => Self::Reset,
            "CS_HANGUP" => Self::Hangup,
            "CS_REPORTING" => Self::Reporting,
            "CS_DESTROY" => Self::Destroy,
            "CS_NONE" => Self::None,
            _ => return None,
        })
    }
}

impl Event {
    /// An event from already decoded headers and an optional body (used by the emulator
    /// and by the outbound `connect` reply, whose headers are the channel data).
    pub fn new(headers: Headers, body: Option<String>) -> Self {
        Event { headers, body }
    }

    /// Parses a `text/event-plain` body: a header block with percent-encoded values,
    /// optionally ending in `Content-Length: N`, a blank line and N bytes of body.
    /// Lines without `:` are skipped; invalid UTF-8 is replaced with U+FFFD; an inner
    /// `Content-Length` larger than what follows takes what is there.
    pub(crate) fn parse_plain(
        bytes: &[u8],
        limits: &Limits,
        scratch: &mut Vec<u8>,
    ) -> Result<Event, String> {
        let too_many = |e: BlockError| match e {
            BlockError::TooMany => format!("more than {} event headers", limits.max_event_headers),
            BlockError::NoColon(l) => format!("bad header line {l:?}"),
        };
        // Fast path: valid UTF-8 (every real event), values decoded in place.
        if let Some((mut headers, end)) =
            Headers::parse_block_owned(bytes, limits.max_event_headers).map_err(too_many)?
        {
            let mut body = None;
            if let Some(("Content-Length", v)) = headers.last()
                && let Ok(n) = v.trim().parse::<usize>()
            {
                let tail = headers.tail_from(end).unwrap_or_default();
                let mut cut = n.min(tail.len());
                while !tail.is_char_boundary(cut) {
                    cut -= 1;
                }
                body = Some(tail.get(..cut).unwrap_or_default().to_owned());
                headers.pop();
            }
            return Ok(Event { headers, body });
        }
        // Slow path (invalid UTF-8 somewhere): split on the original bytes so that the
        // inner Content-Length counts original bytes, then decode each part lossily.
        let split = blank_line_end(bytes);
        let text = String::from_utf8_lossy(bytes.get(..split).unwrap_or_default());
        let mut headers = Headers::with_capacity(text.len(), text.len() / 40 + 1);
        crate::headers::parse_block(&text, false, limits.max_event_headers, &mut headers, scratch)
            .map_err(too_many)?;
        let mut body = None;
        if let Some(("Content-Length", v)) = headers.last()
            && let Ok(n) = v.trim().parse::<usize>()
        {
            let stop = split.saturating_add(n).min(bytes.len());
            let b = bytes.get(split..stop).unwrap_or_default();
            body = Some(String::from_utf8_lossy(b).into_owned());
            headers.pop();
        }
        Ok(Event { headers, body })
    }

    /// The headers, in wire order, duplicates kept.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Mutable access to the headers (for building events to send).
    pub fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// Every value of a header (e.g. both `Hangup-Cause` of `CHANNEL_HANGUP_COMPLETE`).
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.get_all(name)
    }

    /// The event body (e.g. a `BACKGROUND_JOB` result), if any.
    pub fn body(&self) -> Option<&str> {
        self.body.as_deref()
    }

    /// Sets or clears the body.
    pub fn set_body(&mut self, body: Option<String>) {
        self.body = body;
    }

    /// `Event-Name` (e.g. `CHANNEL_ANSWER`, `CUSTOM`).
    pub fn name(&self) -> Option<&str> {
        self.header("Event-Name")
    }

    /// `Event-Subclass` of `CUSTOM` events (e.g. `sofia::register`).
    pub fn subclass(&self) -> Option<&str> {
        self.header("Event-Subclass")
    }

    /// `Unique-ID`: the channel UUID.
    pub fn unique_id(&self) -> Option<&str> {
        self.header("Unique-ID")
    }

    /// `Call-Direction` (falling back to `Channel-Direction`).
    pub fn call_direction(&self) -> Option<Direction> {
        match self.header("Call-Direction").or_else(|| self.header("Channel-Direction"))? {
            "inbound" => Some(Direction::Inbound),
            "outbound" => Some(Direction::Outbound),
            _ => None,
        }
    }

    /// `Caller-Caller-ID-Name` (falling back to `Channel-Caller-ID-Name`).
    pub fn caller_id_name(&self) -> Option<&str> {
        self.header("Caller-Caller-ID-Name").or_else(|| self.header("Channel-Caller-ID-Name"))
    }

    /// `Caller-Caller-ID-Number` (falling back to `Channel-Caller-ID-Number`).
    pub fn caller_id_number(&self) -> Option<&str> {
        self.header("Caller-Caller-ID-Number").or_else(|| self.header("Channel-Caller-ID-Number"))
    }

    /// `Caller-Destination-Number`.
    pub fn destination_number(&self) -> Option<&str> {
        self.header("Caller-Destination-Number")
    }

    /// `Channel-State` as text (e.g. `CS_EXECUTE`).
    pub fn channel_state(&self) -> Option<&str> {
        self.header("Channel-State")
    }

    /// `Channel-State` parsed.
    pub fn channel_state_typed(&self) -> Option<ChannelState> {
        self.channel_state().and_then(ChannelState::parse)
    }

    /// `Channel-Call-State` (e.g. `RINGING`, `ACTIVE`, `HANGUP`).
    pub fn call_state(&self) -> Option<&str> {
        self.header("Channel-Call-State")
    }

    /// `Answer-State` (e.g. `ringing`, `answered`, `hangup`).
    pub fn answer_state(&self) -> Option<&str> {
        self.header("Answer-State")
    }

    /// `Hangup-Cause` (first occurrence), e.g. `NORMAL_CLEARING`.
    pub fn hangup_cause(&self) -> Option<&str> {
        self.header("Hangup-Cause")
    }

    /// `DTMF-Digit` of a `DTMF` event.
    pub fn dtmf_digit(&self) -> Option<&str> {
        self.header("DTMF-Digit")
    }

    /// `Job-UUID` of a `BACKGROUND_JOB` event.
    pub fn job_uuid(&self) -> Option<&str> {
        self.header("Job-UUID")
    }

    /// `Application` of `CHANNEL_EXECUTE` / `CHANNEL_EXECUTE_COMPLETE`.
    pub fn application(&self) -> Option<&str> {
        self.header("Application")
    }

    /// `Application-UUID`: the `Event-UUID` given in the `sendmsg`, if any.
    pub fn application_uuid(&self) -> Option<&str> {
        self.header("Application-UUID")
    }

    /// `Application-Response` of `CHANNEL_EXECUTE_COMPLETE`.
    pub fn application_response(&self) -> Option<&str> {
        self.header("Application-Response")
    }

    /// The channel variable `name`, i.e. header `variable_<name>`.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|(n, v)| {
            let rest = n.strip_prefix("variable_")?;
            rest.eq_ignore_ascii_case(name).then_some(v)
        })
    }

    /// An array variable (`ARRAY::a|:b`) split into its items; a scalar variable yields
    /// one item.
    pub fn var_array(&self, name: &str) -> Option<Vec<&str>> {
        let v = self.var(name)?;
        Some(match v.strip_prefix("ARRAY::") {
            Some(items) => items.split("|:").collect(),
            None => vec![v],
        })
    }

    /// `Event-Sequence`.
    pub fn sequence(&self) -> Option<u64> {
        self.header("Event-Sequence")?.parse().ok()
    }

    /// `Event-Date-Timestamp`: microseconds since the Unix epoch.
    pub fn timestamp_micros(&self) -> Option<u64> {
        self.header("Event-Date-Timestamp")?.parse().ok()
    }
}

/// The offset just after the first empty line (LF or CRLF), or `bytes.len()`.
fn blank_line_end(bytes: &[u8]) -> usize {
    let mut pos = 0;
    for nl in memchr::memchr_iter(b'\n', bytes) {
        let line = bytes.get(pos..nl).unwrap_or_default();
        if line.is_empty() || line == b"\r" {
            return nl + 1;
        }
        pos = nl + 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_with_inner_body() {
        let raw = b"Event-Name: BACKGROUND_JOB\nJob-UUID: j1\nContent-Length: 4\n\n+OK\nignored";
        let ev = Event::parse_plain(raw, &Limits::DEFAULT, &mut Vec::new()).unwrap();
        assert_eq!(ev.name(), Some("BACKGROUND_JOB"));
        assert_eq!(ev.job_uuid(), Some("j1"));
        assert_eq!(ev.body(), Some("+OK\n"));
        assert_eq!(ev.header("Content-Length"), None);
    }

    #[test]
    fn short_inner_body_is_tolerated() {
        let raw = b"Event-Name: X\nContent-Length: 40\n\nshort";
        let ev = Event::parse_plain(raw, &Limits::DEFAULT, &mut Vec::new()).unwrap();
        assert_eq!(ev.body(), Some("short"));
    }

    #[test]
    fn variables() {
        let raw = b"variable_DP_MATCH: ARRAY%3A%3Aa%7C%3Ab\nvariable_x: 1\n\n";
        let ev = Event::parse_plain(raw, &Limits::DEFAULT, &mut Vec::new()).unwrap();
        assert_eq!(ev.var("DP_MATCH"), Some("ARRAY::a|:b"));
        assert_eq!(ev.var_array("DP_MATCH"), Some(vec!["a", "b"]));
        assert_eq!(ev.var_array("x"), Some(vec!["1"]));
        assert_eq!(ev.var("y"), None);
    }
}
