//! A tiny ESL test client over real TCP, decoding with kontakt-esl and keeping the raw
//! bytes (for comparison with the captures).
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use kontakt_esl::{Decoder, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const T: Duration = Duration::from_secs(10);

/// Backstop for a hang that no tokio timeout can catch (a blocked runtime thread): the
/// whole test binary aborts after 5 minutes (every binary here finishes in seconds).
pub fn watchdog() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_secs(300));
            eprintln!("kontakt-sim tests: watchdog fired after 300 s, aborting");
            std::process::abort();
        });
    });
}

pub fn fixture(path: &str) -> Vec<u8> {
    let p = format!("{}/../kontakt-esl/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

pub struct Client {
    pub stream: TcpStream,
    pub dec: Decoder,
    pub raw: Vec<u8>,
    pub eof: bool,
    pub pending: Vec<Message>,
}

impl Client {
    pub async fn connect(addr: std::net::SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        Client::from_stream(stream)
    }

    /// A control connection to the inbound socket at `addr`: authenticated with the default
    /// password and subscribed to `events` (`plain ALL`, `plain CHANNEL_EXECUTE ...`).
    pub async fn control(addr: std::net::SocketAddr, events: &str) -> Client {
        let mut c = Client::connect(addr).await;
        c.next().await;
        c.cmd("auth ClueCon\n\n").await;
        c.cmd(&format!("event {events}\n\n")).await;
        c
    }

    pub fn from_stream(stream: TcpStream) -> Client {
        watchdog();
        Client { stream, dec: Decoder::new(), raw: Vec::new(), eof: false, pending: Vec::new() }
    }

    pub async fn send(&mut self, cmd: &str) {
        self.stream.write_all(cmd.as_bytes()).await.unwrap();
    }

    /// The next message (panics after the timeout); None at EOF.
    pub async fn next(&mut self) -> Option<Message> {
        if !self.pending.is_empty() {
            return Some(self.pending.remove(0));
        }
        tokio::time::timeout(T, self.next_inner()).await.expect("timed out waiting for a message")
    }

    async fn next_inner(&mut self) -> Option<Message> {
        let mut buf = vec![0u8; 65536];
        loop {
            if let Some(m) = self.dec.decode().unwrap() {
                return Some(m);
            }
            if self.eof {
                return None;
            }
            let n = self.stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                self.eof = true;
                self.dec.finish().unwrap();
                continue;
            }
            self.raw.extend_from_slice(&buf[..n]);
            self.dec.feed(&buf[..n]);
        }
    }

    /// Sends a command and returns the next non-event message (its reply).
    pub async fn cmd(&mut self, cmd: &str) -> Message {
        self.send(cmd).await;
        loop {
            let m = tokio::time::timeout(T, self.next_inner())
                .await
                .expect("timed out waiting for a reply")
                .expect("connection closed before the reply");
            if !m.content_type().is_event() {
                return m;
            }
            self.pending.push(m);
        }
    }

    /// Reads until an event named `name` arrives (returns it).
    pub async fn until_event(&mut self, name: &str) -> kontakt_esl::Event {
        loop {
            let m = self.next().await.expect("connection closed");
            if let Some(ev) = m.event()
                && ev.name() == Some(name)
            {
                return ev.clone();
            }
        }
    }

    /// Reads until EOF, returning every message.
    pub async fn until_eof(&mut self) -> Vec<Message> {
        let mut v = Vec::new();
        while let Some(m) = self.next().await {
            v.push(m);
        }
        v
    }
}
