//! A small fake FreeSWITCH for tests, built from kontakt-esl's server-side encoder and
//! command decoder, over real TCP on 127.0.0.1.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::time::Duration;

use kontakt_esl::{CommandDecoder, Event, Headers, ReceivedCommand, server};
use kontakt_switch::{ConnectionState, InboundConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Bound of every wait in the tests.
pub const T: Duration = Duration::from_secs(10);

pub async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(T, f).await.unwrap_or_else(|_| panic!("timed out: {what}"))
}

pub struct FakeSwitch {
    pub listener: TcpListener,
    pub password: String,
}

impl FakeSwitch {
    pub async fn start(password: &str) -> FakeSwitch {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        FakeSwitch { listener, password: password.into() }
    }

    pub fn addr(&self) -> String {
        self.listener.local_addr().unwrap().to_string()
    }

    /// A client config with short timeouts and backoff for tests.
    pub fn config(&self) -> InboundConfig {
        let mut c = InboundConfig::new(self.addr(), self.password.clone());
        c.backoff.initial = Duration::from_millis(10);
        c.backoff.max = Duration::from_millis(100);
        c.connect_timeout = Duration::from_secs(5);
        c
    }

    /// Accepts a connection and sends `auth/request`.
    pub async fn accept(&self) -> FakeConn {
        let (stream, _) = within("accept", self.listener.accept()).await.unwrap();
        let mut c = FakeConn { stream, dec: CommandDecoder::new(), commands: Vec::new() };
        let mut out = Vec::new();
        server::auth_request(&mut out);
        c.send(&out).await;
        c
    }

    /// Accepts, checks the password (`-ERR invalid` + disconnect on a wrong one) and
    /// answers `+OK` to every command up to and including the `event` subscription.
    /// Returns the connection; `commands` holds what the client sent.
    pub async fn accept_and_subscribe(&self) -> FakeConn {
        let mut c = self.accept().await;
        assert!(c.auth(&self.password).await, "client sent a wrong password");
        loop {
            let cmd = c.read_command().await.expect("client closed while subscribing");
            c.reply("+OK").await;
            if cmd.name() == "event" {
                return c;
            }
        }
    }
}

pub struct FakeConn {
    pub stream: TcpStream,
    pub dec: CommandDecoder,
    /// Every command line received, in order.
    pub commands: Vec<String>,
}

impl FakeConn {
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next command, or None at EOF.
    pub async fn read_command(&mut self) -> Option<ReceivedCommand> {
        within("reading a command", async {
            let mut buf = vec![0u8; 4096];
            loop {
                if let Some(c) = self.dec.decode().unwrap() {
                    self.commands.push(c.line().to_owned());
                    return Some(c);
                }
                let n = self.stream.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    return None;
                }
                self.dec.feed(&buf[..n]);
            }
        })
        .await
    }

    /// Reads `auth`; replies `+OK accepted` or `-ERR invalid` and a disconnect notice.
    pub async fn auth(&mut self, password: &str) -> bool {
        let cmd = self.read_command().await.unwrap();
        assert_eq!(cmd.name(), "auth");
        let ok = cmd.args() == password;
        let mut out = Vec::new();
        if ok {
            server::command_reply(&mut out, "+OK accepted", &[]);
        } else {
            server::command_reply(&mut out, "-ERR invalid", &[]);
            server::disconnect_notice(&mut out);
        }
        self.send(&out).await;
        ok
    }

    pub async fn reply(&mut self, text: &str) {
        let mut out = Vec::new();
        server::command_reply(&mut out, text, &[]);
        self.send(&out).await;
    }

    pub async fn api_response(&mut self, body: &str) {
        let mut out = Vec::new();
        server::api_response(&mut out, body.as_bytes());
        self.send(&out).await;
    }

    pub async fn event(&mut self, ev: &Event) {
        let mut out = Vec::new();
        server::event_plain(&mut out, ev);
        self.send(&out).await;
    }
}

/// An event with these headers (and optional body).
pub fn event(name: &str, headers: &[(&str, &str)], body: Option<&str>) -> Event {
    let mut h = Headers::new();
    h.push("Event-Name", name);
    for (n, v) in headers {
        h.push(n, v);
    }
    Event::new(h, body.map(str::to_owned))
}

/// Waits until the state satisfies `pred`; returns it.
pub async fn wait_state(
    rx: &mut watch::Receiver<ConnectionState>,
    what: &str,
    pred: impl Fn(&ConnectionState) -> bool,
) -> ConnectionState {
    within(what, async {
        loop {
            let s = rx.borrow_and_update().clone();
            if pred(&s) {
                return s;
            }
            rx.changed().await.unwrap();
        }
    })
    .await
}
