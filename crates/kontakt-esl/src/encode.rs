//! Encoding of client commands (what an ESL client sends to FreeSWITCH).
//!
//! Every command is a header block terminated by a blank line: the first line is the
//! command itself, following lines are headers, and an optional `content-length` body. The
//! byte layout matches what `fs_cli` / libesl send (checked against the `.tx` captures).
//! Every field that ends up on a line is checked for CR/LF, because a line break inside a
//! value would be read by FreeSWITCH as the start of another header or another command.

use crate::error::EncodeError;

/// The event formats FreeSWITCH can deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventFormat {
    /// `text/event-plain`
    Plain,
    /// `text/event-json`
    Json,
    /// `text/event-xml`
    Xml,
}

impl EventFormat {
    /// The keyword used in `event` / `myevents` commands.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Json => "json",
            Self::Xml => "xml",
        }
    }
}

/// Arguments longer than this (or containing a line break) are sent as a
/// `content-length` body instead of an `execute-app-arg` header: FreeSWITCH reads command
/// headers line by line, and a body has no such constraints.
pub const MAX_INLINE_APP_ARG: usize = 1024;

/// The `call-command` of a `sendmsg`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallCommand<'a> {
    /// Run a dialplan application.
    Execute {
        /// `execute-app-name`, e.g. `playback`.
        app: &'a str,
        /// `execute-app-arg`; sent as a body when long or multi-line.
        arg: Option<&'a str>,
    },
    /// Hang up the channel.
    Hangup {
        /// `hangup-cause`, e.g. `NORMAL_CLEARING`.
        cause: Option<&'a str>,
    },
    /// Send the channel's media to a socket (`unicast`).
    Unicast {
        /// `local-ip`
        local_ip: &'a str,
        /// `local-port`
        local_port: u16,
        /// `remote-ip`
        remote_ip: &'a str,
        /// `remote-port`
        remote_port: u16,
        /// `transport`: `tcp` or `udp`.
        transport: &'a str,
        /// `flag: native` (no transcoding to L16).
        native: bool,
    },
    /// Take the channel out of the media path (`nomedia`).
    NoMedia {
        /// `nomedia-uuid`
        uuid: &'a str,
    },
}

/// A `sendmsg` body: a call command plus its common options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendMsg<'a> {
    /// What to do.
    pub command: CallCommand<'a>,
    /// `event-lock: true`: execute synchronously, in order with other locked messages.
    pub event_lock: bool,
    /// `Event-UUID`: echoed by FreeSWITCH as `Application-UUID` in
    /// `CHANNEL_EXECUTE` / `CHANNEL_EXECUTE_COMPLETE`, so completions can be matched.
    pub event_uuid: Option<&'a str>,
    /// `loops`: how many times to run the application.
    pub loops: Option<u32>,
}

impl<'a> SendMsg<'a> {
    /// `call-command: execute` of `app` with an optional argument.
    pub fn execute(app: &'a str, arg: Option<&'a str>) -> Self {
        Self::new(CallCommand::Execute { app, arg })
    }

    /// `call-command: hangup` with an optional cause.
    pub fn hangup(cause: Option<&'a str>) -> Self {
        Self::new(CallCommand::Hangup { cause })
    }

    /// A message for any call command.
    pub fn new(command: CallCommand<'a>) -> Self {
        SendMsg { command, event_lock: false, event_uuid: None, loops: None }
    }

    /// Sets `event-lock`.
    pub fn event_lock(mut self, lock: bool) -> Self {
        self.event_lock = lock;
        self
    }

    /// Sets `Event-UUID`.
    pub fn event_uuid(mut self, uuid: &'a str) -> Self {
        self.event_uuid = Some(uuid);
        self
    }

    /// Sets `loops`.
    pub fn loops(mut self, loops: u32) -> Self {
        self.loops = Some(loops);
        self
    }
}

/// A client command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command<'a> {
    /// `auth <password>`
    Auth {
        /// The ESL password.
        password: &'a str,
    },
    /// `userauth <user>@<domain>:<password>`
    UserAuth {
        /// `user@domain`
        user: &'a str,
        /// The user's ESL password.
        password: &'a str,
    },
    /// `api <command>`: synchronous; answered by an `api/response`.
    Api {
        /// The API command and its arguments, e.g. `status`.
        command: &'a str,
    },
    /// `bgapi <command>` with an optional caller-chosen `Job-UUID` header.
    BgApi {
        /// The API command and its arguments.
        command: &'a str,
        /// The `Job-UUID` to use (FreeSWITCH generates one otherwise).
        job_uuid: Option<&'a str>,
    },
    /// `event <format> <events...>` (`ALL`, event names, `CUSTOM` + subclasses).
    Event {
        /// Wire format of the events.
        format: EventFormat,
        /// Event names; must not be empty.
        events: &'a [&'a str],
    },
    /// `myevents [<format>]` (outbound) or `myevents <uuid> [<format>]` (inbound).
    MyEvents {
        /// The channel (inbound sockets only).
        uuid: Option<&'a str>,
        /// Wire format; FreeSWITCH defaults to plain.
        format: Option<EventFormat>,
    },
    /// `nixevent <events...>`
    NixEvent {
        /// Event names to stop receiving.
        events: &'a [&'a str],
    },
    /// `noevents`
    NoEvents,
    /// `filter <header> <value>`
    Filter {
        /// Header name, e.g. `Unique-ID`.
        header: &'a str,
        /// Value to match.
        value: &'a str,
    },
    /// `filter delete <header> [<value>]` (`filter delete all` with header `all`).
    FilterDelete {
        /// Header name, or `all`.
        header: &'a str,
        /// Value; all filters on the header when absent.
        value: Option<&'a str>,
    },
    /// `divert_events on|off`
    DivertEvents(bool),
    /// `linger [<seconds>]`
    Linger(Option<u32>),
    /// `nolinger`
    NoLinger,
    /// `resume`
    Resume,
    /// `sendevent <name>` with headers and an optional body.
    SendEvent {
        /// Event name, e.g. `CUSTOM` or `NOTIFY`.
        name: &'a str,
        /// Headers, written as given.
        headers: &'a [(&'a str, &'a str)],
        /// Optional body (sent with `content-length`).
        body: Option<&'a str>,
    },
    /// `sendmsg [<uuid>]` with a call command.
    SendMsg {
        /// Target channel; omitted on an outbound socket (its own channel).
        uuid: Option<&'a str>,
        /// The message.
        msg: SendMsg<'a>,
    },
    /// `log <level>` (e.g. `debug`, `7`).
    Log {
        /// Log level name or number.
        level: &'a str,
    },
    /// `nolog`
    NoLog,
    /// `connect` (first command on an outbound socket).
    Connect,
    /// `getvar <name>` (outbound socket).
    GetVar {
        /// Channel variable name.
        name: &'a str,
    },
    /// `exit`
    Exit,
}

impl Command<'_> {
    /// A short name for messages and logs (`api`, `sendmsg`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Auth { .. } => "auth",
            Self::UserAuth { .. } => "userauth",
            Self::Api { .. } => "api",
            Self::BgApi { .. } => "bgapi",
            Self::Event { .. } => "event",
            Self::MyEvents { .. } => "myevents",
            Self::NixEvent { .. } => "nixevent",
            Self::NoEvents => "noevents",
            Self::Filter { .. } => "filter",
            Self::FilterDelete { .. } => "filter delete",
            Self::DivertEvents(_) => "divert_events",
            Self::Linger(_) => "linger",
            Self::NoLinger => "nolinger",
            Self::Resume => "resume",
            Self::SendEvent { .. } => "sendevent",
            Self::SendMsg { .. } => "sendmsg",
            Self::Log { .. } => "log",
            Self::NoLog => "nolog",
            Self::Connect => "connect",
            Self::GetVar { .. } => "getvar",
            Self::Exit => "exit",
        }
    }

    /// Appends the encoded command to `out`. On error nothing is appended.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut w = Writer { out: Vec::with_capacity(64) };
        self.write(&mut w)?;
        out.extend_from_slice(&w.out);
        Ok(())
    }

    /// The encoded command.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode(&mut out)?;
        Ok(out)
    }

    fn write(&self, w: &mut Writer) -> Result<(), EncodeError> {
        match self {
            Self::Auth { password } => w.line(&["auth ", check("password", password)?])?,
            Self::UserAuth { user, password } => {
                w.line(&["userauth ", nonempty("user", user)?, ":", check("password", password)?])?
            }
            Self::Api { command } => w.line(&["api ", nonempty("api command", command)?])?,
            Self::BgApi { command, job_uuid } => {
                w.line(&["bgapi ", nonempty("bgapi command", command)?])?;
                if let Some(u) = job_uuid {
                    w.header("Job-UUID", nonempty("Job-UUID", u)?)?;
                }
            }
            Self::Event { format, events } => {
                w.line(&["event ", format.as_str()])?;
                w.words(events)?;
            }
            Self::MyEvents { uuid, format } => {
                w.raw("myevents");
                if let Some(u) = uuid {
                    w.line(&[" ", nonempty("uuid", u)?])?;
                }
                if let Some(f) = format {
                    w.raw(" ");
                    w.raw(f.as_str());
                }
            }
            Self::NixEvent { events } => {
                w.raw("nixevent");
                w.words(events)?;
            }
            Self::NoEvents => w.raw("noevents"),
            Self::Filter { header, value } => w.line(&[
                "filter ",
                word("filter header", header)?,
                " ",
                check("filter value", value)?,
            ])?,
            Self::FilterDelete { header, value } => {
                w.line(&["filter delete ", word("filter header", header)?])?;
                if let Some(v) = value {
                    w.line(&[" ", check("filter value", v)?])?;
                }
            }
            Self::DivertEvents(on) => {
                w.raw(if *on { "divert_events on" } else { "divert_events off" })
            }
            Self::Linger(secs) => {
                w.raw("linger");
                if let Some(s) = secs {
                    w.raw(" ");
                    w.raw(&s.to_string());
                }
            }
            Self::NoLinger => w.raw("nolinger"),
            Self::Resume => w.raw("resume"),
            Self::SendEvent { name, headers, body } => {
                w.line(&["sendevent ", word("event name", name)?])?;
                for (n, v) in headers.iter() {
                    w.header(n, v)?;
                }
                if let Some(b) = body {
                    w.body(None, b);
                    return Ok(());
                }
            }
            Self::SendMsg { uuid, msg } => {
                w.raw("sendmsg");
                if let Some(u) = uuid {
                    w.line(&[" ", word("uuid", u)?])?;
                }
                return write_sendmsg(msg, w);
            }
            Self::Log { level } => w.line(&["log ", word("log level", level)?])?,
            Self::NoLog => w.raw("nolog"),
            Self::Connect => w.raw("connect"),
            Self::GetVar { name } => w.line(&["getvar ", word("variable name", name)?])?,
            Self::Exit => w.raw("exit"),
        }
        w.raw("\n\n");
        Ok(())
    }
}

fn write_sendmsg(msg: &SendMsg<'_>, w: &mut Writer) -> Result<(), EncodeError> {
    let mut body = None;
    match &msg.command {
        CallCommand::Execute { app, arg } => {
            w.header("call-command", "execute")?;
            w.header("execute-app-name", word("execute-app-name", app)?)?;
            if let Some(a) = arg {
                if a.len() > MAX_INLINE_APP_ARG || a.contains(['\n', '\r']) {
                    body = Some(*a);
                } else {
                    w.header("execute-app-arg", a)?;
                }
            }
        }
        CallCommand::Hangup { cause } => {
            w.header("call-command", "hangup")?;
            if let Some(c) = cause {
                w.header("hangup-cause", word("hangup-cause", c)?)?;
            }
        }
        CallCommand::Unicast {
            local_ip,
            local_port,
            remote_ip,
            remote_port,
            transport,
            native,
        } => {
            w.header("call-command", "unicast")?;
            w.header("local-ip", word("local-ip", local_ip)?)?;
            w.header("local-port", &local_port.to_string())?;
            w.header("remote-ip", word("remote-ip", remote_ip)?)?;
            w.header("remote-port", &remote_port.to_string())?;
            w.header("transport", word("transport", transport)?)?;
            if *native {
                w.header("flag", "native")?;
            }
        }
        CallCommand::NoMedia { uuid } => {
            w.header("call-command", "nomedia")?;
            w.header("nomedia-uuid", word("nomedia-uuid", uuid)?)?;
        }
    }
    if let Some(l) = msg.loops {
        w.header("loops", &l.to_string())?;
    }
    if msg.event_lock {
        w.header("event-lock", "true")?;
    }
    if let Some(u) = msg.event_uuid {
        w.header("Event-UUID", word("Event-UUID", u)?)?;
    }
    match body {
        Some(b) => w.body(Some("text/plain"), b),
        None => w.raw("\n\n"),
    }
    Ok(())
}

/// Builds the command; `raw` pieces are trusted constants, everything else goes through
/// `line`/`header`, which refuse line breaks.
struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn raw(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    fn line(&mut self, parts: &[&str]) -> Result<(), EncodeError> {
        for p in parts {
            if p.contains(['\n', '\r']) {
                return Err(EncodeError::LineBreak { field: "command argument" });
            }
            self.raw(p);
        }
        Ok(())
    }

    fn words(&mut self, words: &[&str]) -> Result<(), EncodeError> {
        if words.is_empty() {
            return Err(EncodeError::Empty { field: "event list" });
        }
        for e in words {
            self.raw(" ");
            self.raw(word("event name", e)?);
        }
        Ok(())
    }

    fn header(&mut self, name: &str, value: &str) -> Result<(), EncodeError> {
        if name.is_empty() || name.contains([':', ' ', '\t', '\n', '\r']) {
            return Err(EncodeError::InvalidHeaderName { name: name.to_owned() });
        }
        self.raw("\n");
        self.raw(name);
        self.raw(": ");
        self.raw(check("header value", value)?);
        Ok(())
    }

    /// `content-type` (optional), `content-length`, blank line, body. Ends the command.
    fn body(&mut self, content_type: Option<&str>, body: &str) {
        if let Some(ct) = content_type {
            self.raw("\ncontent-type: ");
            self.raw(ct);
        }
        self.raw("\ncontent-length: ");
        self.raw(&body.len().to_string());
        self.raw("\n\n");
        self.raw(body);
    }
}

fn check<'s>(field: &'static str, v: &'s str) -> Result<&'s str, EncodeError> {
    if v.contains(['\n', '\r']) {
        return Err(EncodeError::LineBreak { field });
    }
    Ok(v)
}

fn nonempty<'s>(field: &'static str, v: &'s str) -> Result<&'s str, EncodeError> {
    if v.trim().is_empty() {
        return Err(EncodeError::Empty { field });
    }
    check(field, v)
}

/// A single word: non-empty, no whitespace (it is one of several space-separated tokens).
fn word<'s>(field: &'static str, v: &'s str) -> Result<&'s str, EncodeError> {
    let v = nonempty(field, v)?;
    if v.contains([' ', '\t']) {
        return Err(EncodeError::Whitespace { field });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(c: Command<'_>) -> String {
        String::from_utf8(c.to_bytes().unwrap()).unwrap()
    }

    #[test]
    fn simple_commands() {
        assert_eq!(enc(Command::Auth { password: "ClueCon" }), "auth ClueCon\n\n");
        assert_eq!(
            enc(Command::UserAuth { user: "1000@default", password: "pw" }),
            "userauth 1000@default:pw\n\n"
        );
        assert_eq!(
            enc(Command::BgApi { command: "status", job_uuid: Some("j-1") }),
            "bgapi status\nJob-UUID: j-1\n\n"
        );
        assert_eq!(
            enc(Command::MyEvents { uuid: Some("u"), format: Some(EventFormat::Json) }),
            "myevents u json\n\n"
        );
        assert_eq!(enc(Command::MyEvents { uuid: None, format: None }), "myevents\n\n");
        assert_eq!(enc(Command::Linger(Some(30))), "linger 30\n\n");
        assert_eq!(enc(Command::Linger(None)), "linger\n\n");
        assert_eq!(enc(Command::DivertEvents(true)), "divert_events on\n\n");
        assert_eq!(enc(Command::NoLinger), "nolinger\n\n");
        assert_eq!(enc(Command::Resume), "resume\n\n");
        assert_eq!(enc(Command::GetVar { name: "x" }), "getvar x\n\n");
        assert_eq!(
            enc(Command::FilterDelete { header: "all", value: None }),
            "filter delete all\n\n"
        );
    }

    #[test]
    fn sendevent_with_body() {
        assert_eq!(
            enc(Command::SendEvent {
                name: "CUSTOM",
                headers: &[("Event-Subclass", "kontakt::x")],
                body: Some("hi\n"),
            }),
            "sendevent CUSTOM\nEvent-Subclass: kontakt::x\ncontent-length: 3\n\nhi\n"
        );
    }

    #[test]
    fn sendmsg_variants() {
        let long = "x".repeat(MAX_INLINE_APP_ARG + 1);
        assert_eq!(
            enc(Command::SendMsg {
                uuid: None,
                msg: SendMsg::execute("speak", Some("a\nb")).event_lock(true).event_uuid("e1")
            }),
            "sendmsg\ncall-command: execute\nexecute-app-name: speak\nevent-lock: true\n\
             Event-UUID: e1\ncontent-type: text/plain\ncontent-length: 3\n\na\nb"
        );
        assert!(
            enc(Command::SendMsg { uuid: None, msg: SendMsg::execute("log", Some(&long)) })
                .ends_with(&format!("content-length: {}\n\n{long}", long.len()))
        );
        assert_eq!(
            enc(Command::SendMsg {
                uuid: Some("u"),
                msg: SendMsg::hangup(Some("USER_BUSY")).loops(2)
            }),
            "sendmsg u\ncall-command: hangup\nhangup-cause: USER_BUSY\nloops: 2\n\n"
        );
        assert_eq!(
            enc(Command::SendMsg {
                uuid: None,
                msg: SendMsg::new(CallCommand::Unicast {
                    local_ip: "127.0.0.1",
                    local_port: 8025,
                    remote_ip: "127.0.0.1",
                    remote_port: 8026,
                    transport: "udp",
                    native: true
                })
            }),
            "sendmsg\ncall-command: unicast\nlocal-ip: 127.0.0.1\nlocal-port: 8025\n\
             remote-ip: 127.0.0.1\nremote-port: 8026\ntransport: udp\nflag: native\n\n"
        );
        assert_eq!(
            enc(Command::SendMsg {
                uuid: None,
                msg: SendMsg::new(CallCommand::NoMedia { uuid: "b" })
            }),
            "sendmsg\ncall-command: nomedia\nnomedia-uuid: b\n\n"
        );
    }

    #[test]
    fn injection_is_refused() {
        for c in [
            Command::Api { command: "status\n\nexit" },
            Command::Auth { password: "a\rb" },
            Command::Filter { header: "Unique-ID", value: "x\nevent plain ALL" },
            Command::Event { format: EventFormat::Plain, events: &[] },
            Command::Event { format: EventFormat::Plain, events: &["A B"] },
            Command::Api { command: "" },
            Command::SendEvent { name: "X", headers: &[("a:b", "c")], body: None },
            Command::SendMsg { uuid: Some("u\n"), msg: SendMsg::hangup(None) },
        ] {
            let mut out = b"keep".to_vec();
            assert!(c.encode(&mut out).is_err(), "{c:?}");
            assert_eq!(out, b"keep");
        }
    }
}
