//! One complete ESL frame: outer headers, body, and the parsed event when it carries one.

use std::borrow::Cow;

use bytes::Bytes;

use crate::error::DecodeError;
use crate::event::Event;
use crate::headers::Headers;
use crate::limits::Limits;

/// The `Content-Type` of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentType {
    /// `auth/request`: FreeSWITCH asks an inbound client to authenticate.
    AuthRequest,
    /// `command/reply`: the reply to a command (`Reply-Text`), or the outbound `connect`
    /// reply that carries the channel data.
    CommandReply,
    /// `api/response`: the body is the output of an `api` command.
    ApiResponse,
    /// `text/event-plain`.
    EventPlain,
    /// `text/event-json`.
    EventJson,
    /// `text/event-xml`.
    EventXml,
    /// `text/disconnect-notice`: FreeSWITCH is closing (or lingering).
    DisconnectNotice,
    /// `text/rude-rejection`: refused by ACL.
    RudeRejection,
    /// `log/data`: a log line (after `log <level>`).
    LogData,
    /// Anything else, or no `Content-Type` at all; see [`Message::content_type_str`].
    Other,
}

impl ContentType {
    /// Classifies a `Content-Type` value.
    pub fn parse(s: &str) -> Self {
        match s {
            "auth/request" => Self::AuthRequest,
            "command/reply" => Self::CommandReply,
            "api/response" => Self::ApiResponse,
            "text/event-plain" => Self::EventPlain,
            "text/event-json" => Self::EventJson,
            "text/event-xml" => Self::EventXml,
            "text/disconnect-notice" => Self::DisconnectNotice,
            "text/rude-rejection" => Self::RudeRejection,
            "log/data" => Self::LogData,
            _ => Self::Other,
        }
    }

    /// The wire value, `None` for [`ContentType::Other`].
    pub fn as_str(self) -> Option<&'static str> {
        Some(match self {
            Self::AuthRequest => "auth/request",
            Self::CommandReply => "command/reply",
            Self::ApiResponse => "api/response",
            Self::EventPlain => "text/event-plain",
            Self::EventJson => "text/event-json",
            Self::EventXml => "text/event-xml",
            Self::DisconnectNotice => "text/disconnect-notice",
            Self::RudeRejection => "text/rude-rejection",
            Self::LogData => "log/data",
            Self::Other => return None,
        })
    }

    /// Whether this is one of the three event formats.
    pub fn is_event(self) -> bool {
        matches!(self, Self::EventPlain | Self::EventJson | Self::EventXml)
    }
}

/// A complete frame as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    content_type: ContentType,
    headers: Headers,
    body: Bytes,
    event: Option<Event>,
}

impl Message {
    /// Builds a message from outer headers (values already decoded) and the body, parsing
    /// the event of `text/event-*` frames and the channel data of an outbound `connect`
    /// reply. Fails only with [`DecodeError::MalformedEvent`].
    pub fn new(headers: Headers, body: Bytes) -> Result<Message, DecodeError> {
        Self::with_limits(headers, body, &Limits::DEFAULT, &mut Vec::new())
    }

    pub(crate) fn with_limits(
        headers: Headers,
        body: Bytes,
        limits: &Limits,
        scratch: &mut Vec<u8>,
    ) -> Result<Message, DecodeError> {
        let content_type =
            headers.get("Content-Type").map_or(ContentType::Other, ContentType::parse);
        let malformed = |reason: String| DecodeError::MalformedEvent {
            content_type: content_type.as_str().unwrap_or_default().to_owned(),
            reason,
        };
        let event = match content_type {
            ContentType::EventPlain => {
                Some(Event::parse_plain(&body, limits, scratch).map_err(malformed)?)
            }
            ContentType::EventJson => Some(
                crate::json::parse_json_event(&body, limits.max_event_headers)
                    .map_err(malformed)?,
            ),
            ContentType::EventXml => Some(
                crate::xml::parse_xml_event(&body, limits.max_event_headers).map_err(malformed)?,
            ),
            // The outbound `connect` reply: the outer block *is* the channel data event.
            ContentType::CommandReply if headers.contains("Event-Name") => {
                Some(Event::new(headers.clone(), None))
            }
            _ => None,
        };
        Ok(Message { content_type, headers, body, event })
    }

    /// The classified `Content-Type`.
    pub fn content_type(&self) -> ContentType {
        self.content_type
    }

    /// The raw `Content-Type` header value, if present.
    pub fn content_type_str(&self) -> Option<&str> {
        self.headers.get("Content-Type")
    }

    /// The outer headers, values percent-decoded (as libesl does), in wire order.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The first value of an outer header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// The body bytes (`Content-Length` of them; empty when there is none).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body as text, invalid UTF-8 replaced with U+FFFD.
    pub fn body_text(&self) -> Cow<'_, str> {
        crate::percent::lossy(&self.body)
    }

    /// `Reply-Text` of a `command/reply` (e.g. `+OK accepted`, `-ERR invalid`).
    pub fn reply_text(&self) -> Option<&str> {
        self.header("Reply-Text")
    }

    /// Whether this is a successful reply: `Reply-Text` (command/reply) or body
    /// (api/response) starting with `+OK`.
    pub fn is_ok(&self) -> bool {
        match self.content_type {
            ContentType::CommandReply => self.reply_text().is_some_and(|t| t.starts_with("+OK")),
            ContentType::ApiResponse => self.body.starts_with(b"+OK"),
            _ => false,
        }
    }

    /// The event carried by a `text/event-*` frame, or the channel data of an outbound
    /// `connect` reply.
    pub fn event(&self) -> Option<&Event> {
        self.event.as_ref()
    }

    /// Takes the event out of the message.
    pub fn into_event(self) -> Option<Event> {
        self.event
    }
}
