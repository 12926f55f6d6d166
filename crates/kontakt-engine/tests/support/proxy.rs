//! A TCP proxy the test puts between a client and its server, to cut, black-hole or slow
//! down the network between them: in front of PostgreSQL (`db_outage.rs`: the database goes
//! away), or in front of our outbound socket (`orphans.rs`: the process FreeSWITCH hands a
//! caller to takes the socket and hangs).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the network between the client and the server does.
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(dead_code)] // each test binary compiles this module; orphans only black-holes
pub(crate) enum Link {
    Up,
    /// Every chunk of bytes toward the server waits this long (so does every round trip).
    Slow(Duration),
    /// The server is down: connections are closed and nothing listens (connect is refused).
    Refused,
    /// A partition: connections are closed; new ones are accepted and never answered.
    BlackHole,
    /// The server froze: new connections are accepted and never answered, and stay open
    /// after the link changes (until the proxy goes) — a hung process keeps its sockets.
    Frozen,
}

impl Link {
    fn cut(self) -> bool {
        matches!(self, Link::Refused | Link::BlackHole | Link::Frozen)
    }
}

/// A TCP proxy in front of a server that the test can cut, black-hole or slow down.
pub(crate) struct Proxy {
    /// Where clients connect instead of the server.
    pub(crate) addr: SocketAddr,
    /// Set it to change what the network does.
    #[allow(dead_code)] // each test binary compiles this module; call_flow sets no link
    pub(crate) link: watch::Sender<Link>,
    /// How many connections the black hole holds now (accepted, never answered).
    held: watch::Sender<usize>,
}

impl Proxy {
    pub(crate) async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (link, rx) = watch::channel(Link::Up);
        let held = watch::Sender::new(0);
        tokio::spawn(listen(Some(listener), addr, target, rx, held.clone()));
        Proxy { addr, link, held }
    }

    /// Waits until the black hole holds `n` connections: the client has connected and
    /// nobody will answer it.
    #[allow(dead_code)] // each test binary compiles this module; only orphans waits for it
    pub(crate) async fn holding(&self, n: usize) {
        let mut held = self.held.subscribe();
        let _ = held.wait_for(|h| *h >= n).await;
    }
}

async fn listen(
    mut listener: Option<TcpListener>,
    addr: SocketAddr,
    target: String,
    mut rx: watch::Receiver<Link>,
    held: watch::Sender<usize>,
) {
    loop {
        let link = *rx.borrow_and_update();
        if link == Link::Refused {
            // Nothing listens on the port: a connect is refused, as with the server down.
            listener = None;
            if rx.changed().await.is_err() {
                return;
            }
            continue;
        }
        if listener.is_none() {
            listener = Some(rebind(addr).await);
        }
        let Some(l) = &listener else { continue };
        tokio::select! {
            accepted = l.accept() => {
                if let Ok((socket, _)) = accepted {
                    tokio::spawn(carry(socket, target.clone(), rx.clone(), held.clone()));
                }
            }
            changed = rx.changed() => if changed.is_err() { return },
        }
    }
}

/// The same port again (the client knows only that address).
async fn rebind(addr: SocketAddr) -> TcpListener {
    for _ in 0..100 {
        if let Ok(l) = TcpListener::bind(addr).await {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the proxy could not listen on {addr} again");
}

/// One connection through the proxy, until either side closes it or the link is cut.
async fn carry(
    inbound: TcpStream,
    target: String,
    mut rx: watch::Receiver<Link>,
    held: watch::Sender<usize>,
) {
    let link = *rx.borrow_and_update();
    if link == Link::BlackHole || link == Link::Frozen {
        // Accepted, never answered; closed once the partition ends, or (frozen) never.
        held.send_modify(|h| *h += 1);
        while rx.changed().await.is_ok() && link == Link::Frozen {}
        held.send_modify(|h| *h -= 1);
        return;
    }
    if link.cut() {
        return;
    }
    let Ok(outbound) = TcpStream::connect(&target).await else { return };
    let (from_client, to_client) = inbound.into_split();
    let (from_server, to_server) = outbound.into_split();
    let mut cut = rx.clone();
    tokio::select! {
        () = pump(from_client, to_server, Some(rx.clone())) => {}
        () = pump(from_server, to_client, None) => {}
        _ = cut.wait_for(|l| l.cut()) => {}
    }
    // Dropping the halves closes both sockets: what a restart or a partition does to them.
}

/// Copies bytes one way; with `slow`, each chunk waits while the link is slow.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    slow: Option<watch::Receiver<Link>>,
) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let delay = match slow.as_ref().map(|rx| *rx.borrow()) {
            Some(Link::Slow(d)) => Some(d),
            _ => None,
        };
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
