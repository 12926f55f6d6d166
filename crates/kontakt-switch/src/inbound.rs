//! The inbound client: Kontakt connects to FreeSWITCH's Event Socket (port 8021).
//!
//! One supervisor task per client owns the connection: it connects, authenticates,
//! subscribes, then runs a select loop over (a) socket reads, (b) requests from the
//! [`InboundClient`] handles, (c) the liveness deadline. Writes go through a separate
//! writer task so a slow write never stops the reading. Events go into a bounded
//! [`EventReceiver`] queue that never blocks the reader (see [`crate::queue`]). When the
//! connection ends, every pending `api`/`bgapi` fails with [`Error::ConnectionLost`], the
//! state becomes [`ConnectionState::Disconnected`], and the supervisor reconnects after an
//! exponential backoff with jitter, then applies the subscription again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kontakt_esl::session::{CommandId, Credentials, InboundOutput, InboundSession, InboundState};
use kontakt_esl::{Command, Event, EventFormat, Limits, Message};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, timeout};

use crate::error::Error;
use crate::queue::{self, EventReceiver, EventSender, OverloadPolicy, QueueStats};

/// Reconnection delays: `initial * factor^attempt`, capped at `max`, then "equal jitter"
/// (a uniformly random delay between half and all of it) so that many clients do not
/// reconnect in lockstep after a FreeSWITCH restart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay before the first retry.
    pub initial: Duration,
    /// Upper bound.
    pub max: Duration,
    /// Growth per failed attempt.
    pub factor: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { initial: Duration::from_millis(500), max: Duration::from_secs(30), factor: 2.0 }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (0-based), with jitter.
    pub fn delay(&self, attempt: u32, rng: &mut impl rand::Rng) -> Duration {
        let base = self.initial.as_secs_f64() * self.factor.powi(attempt.min(64) as i32);
        let capped = base.min(self.max.as_secs_f64()).max(0.0);
        Duration::from_secs_f64(rng.random_range(capped / 2.0..=capped))
    }
}

/// Configuration of an [`InboundClient`].
#[derive(Debug, Clone)]
pub struct InboundConfig {
    /// `host:port` of FreeSWITCH's Event Socket.
    pub addr: String,
    /// `auth` password or `userauth` user.
    pub credentials: Credentials,
    /// Event format to subscribe in.
    pub format: EventFormat,
    /// Events to subscribe to (`ALL`, names, `CUSTOM` followed by subclasses). Empty: only
    /// what the client needs itself (`BACKGROUND_JOB`, `HEARTBEAT`), which is not delivered.
    pub events: Vec<String>,
    /// `filter <header> <value>` to apply after connecting.
    pub filters: Vec<(String, String)>,
    /// Bound on TCP connect + authentication + subscription.
    pub connect_timeout: Duration,
    /// Default timeout of [`InboundClient::api`].
    pub api_timeout: Duration,
    /// Default timeout of [`InboundClient::bgapi`] (acceptance and result).
    pub bgapi_timeout: Duration,
    /// Drop and re-establish the connection when nothing at all was received for this long.
    /// FreeSWITCH sends a `HEARTBEAT` every 20 s (the client subscribes to it), so the
    /// default of 65 s tolerates two lost heartbeats. `None`: no liveness check.
    pub liveness_timeout: Option<Duration>,
    /// Reconnection delays.
    pub backoff: Backoff,
    /// Give up after this many consecutive failed connection attempts (`None`: never).
    pub max_attempts: Option<u32>,
    /// Retry after `-ERR invalid` too (a password change on the switch). Default false:
    /// the client stops with [`ConnectionState::Closed`].
    pub retry_auth_failure: bool,
    /// The event queue's bounds and overload policy.
    pub queue: OverloadPolicy,
    /// Decoder limits.
    pub limits: Limits,
}

impl InboundConfig {
    /// Defaults for `addr` and the `auth` password (plain events, no subscription).
    pub fn new(addr: impl Into<String>, password: impl Into<String>) -> Self {
        InboundConfig {
            addr: addr.into(),
            credentials: Credentials::Password(password.into()),
            format: EventFormat::Plain,
            events: Vec::new(),
            filters: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            api_timeout: Duration::from_secs(30),
            bgapi_timeout: Duration::from_secs(120),
            liveness_timeout: Some(Duration::from_secs(65)),
            backoff: Backoff::default(),
            max_attempts: None,
            retry_auth_failure: false,
            queue: OverloadPolicy::default(),
            limits: Limits::DEFAULT,
        }
    }

    /// Sets the subscription.
    pub fn events<S: Into<String>>(mut self, events: impl IntoIterator<Item = S>) -> Self {
        self.events = events.into_iter().map(Into::into).collect();
        self
    }
}

/// The connection state, published on a `watch` channel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Connecting (TCP, auth, subscription); `attempt` counts from 1 since the last success.
    Connecting {
        /// Attempt number.
        attempt: u32,
    },
    /// Authenticated and subscribed.
    Connected,
    /// The connection ended or could not be made; a retry follows after the backoff.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// The client stopped for good (shut down, authentication refused, attempts exhausted).
    Closed {
        /// Why.
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Subscription {
    /// The event list in the order FreeSWITCH needs: names, then `CUSTOM` and the
    /// subclasses (every word after `CUSTOM` in an `event` command is a subclass, so
    /// lists added at different times must be regrouped, not concatenated).
    events: Vec<String>,
    names: Vec<String>,
    subclasses: Vec<String>,
    custom: bool,
    filters: Vec<(String, String)>,
}

impl Subscription {
    /// Adds one `event` word list (FreeSWITCH's reading: words after `CUSTOM` are
    /// subclasses).
    fn add_events<'a>(&mut self, words: impl IntoIterator<Item = &'a str>) {
        let mut after_custom = false;
        for w in words {
            let list = if w == "CUSTOM" {
                self.custom = true;
                after_custom = true;
                continue;
            } else if after_custom {
                &mut self.subclasses
            } else {
                &mut self.names
            };
            if !list.iter().any(|x| x == w) {
                list.push(w.to_owned());
            }
        }
        self.events = self.names.clone();
        if self.custom {
            self.events.push("CUSTOM".into());
            self.events.extend(self.subclasses.iter().cloned());
        }
    }
}

/// Counters of the client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Successful connections (the first included).
    pub connections: u64,
    /// The event queue.
    pub queue: QueueStats,
}

#[derive(Debug)]
enum Request {
    Api { command: String, reply: oneshot::Sender<Result<String, Error>> },
    BgApi { command: String, job_uuid: String, reply: oneshot::Sender<Result<Event, Error>> },
    Command { command: OwnedCommand, reply: oneshot::Sender<Result<Message, Error>> },
    Shutdown,
}

/// Commands the client can send on behalf of its user (owned, to cross the task boundary).
#[derive(Debug, Clone)]
enum OwnedCommand {
    Event { format: EventFormat, events: Vec<String> },
    Filter { header: String, value: String },
    SendMsg { uuid: String, app: String, arg: Option<String> },
    Hangup { uuid: String, cause: Option<String> },
}

impl OwnedCommand {
    fn name(&self) -> String {
        match self {
            Self::Event { .. } => "event".into(),
            Self::Filter { .. } => "filter".into(),
            Self::SendMsg { app, .. } => format!("sendmsg execute {app}"),
            Self::Hangup { .. } => "sendmsg hangup".into(),
        }
    }

    fn send(&self, s: &mut InboundSession) -> Result<CommandId, Error> {
        use kontakt_esl::SendMsg;
        let id = match self {
            Self::Event { format, events } => {
                let ev: Vec<&str> = events.iter().map(String::as_str).collect();
                s.send_command(&Command::Event { format: *format, events: &ev })?
            }
            Self::Filter { header, value } => s.send_command(&Command::Filter { header, value })?,
            Self::SendMsg { uuid, app, arg } => s.send_command(&Command::SendMsg {
                uuid: Some(uuid),
                msg: SendMsg::execute(app, arg.as_deref()),
            })?,
            Self::Hangup { uuid, cause } => s.send_command(&Command::SendMsg {
                uuid: Some(uuid),
                msg: SendMsg::hangup(cause.as_deref()),
            })?,
        };
        Ok(id)
    }
}

#[derive(Debug)]
struct Shared {
    subscription: Mutex<Subscription>,
    state: watch::Sender<ConnectionState>,
    connections: std::sync::atomic::AtomicU64,
    last_error: Mutex<Option<Error>>,
    /// Stop (instead of retrying) if the very first attempt fails.
    fail_fast: bool,
    /// Set by `shutdown()`: interrupts a connection attempt or a backoff at once.
    stop: watch::Sender<bool>,
    events: EventSender,
}

/// A handle to the inbound connection (cheap to clone). Dropping every handle shuts the
/// client down.
#[derive(Debug, Clone)]
pub struct InboundClient {
    requests: mpsc::Sender<Request>,
    shared: Arc<Shared>,
    api_timeout: Duration,
    bgapi_timeout: Duration,
    format: EventFormat,
}

impl InboundClient {
    /// Starts the client in the background (it connects and reconnects by itself) and
    /// returns at once with the handle and the event queue. Use [`InboundClient::state`] to
    /// follow the connection.
    pub fn start(config: InboundConfig) -> (InboundClient, EventReceiver) {
        Self::spawn(config, false)
    }

    fn spawn(config: InboundConfig, fail_fast: bool) -> (InboundClient, EventReceiver) {
        let (tx, rx) = queue::channel(config.queue.clone());
        let (state, _) = watch::channel(ConnectionState::Connecting { attempt: 1 });
        let shared = Arc::new(Shared {
            subscription: Mutex::new({
                let mut s = Subscription { filters: config.filters.clone(), ..Default::default() };
                s.add_events(config.events.iter().map(String::as_str));
                s
            }),
            state,
            connections: Default::default(),
            last_error: Mutex::new(None),
            fail_fast,
            stop: watch::channel(false).0,
            events: tx,
        });
        let (requests, req_rx) = mpsc::channel(1024);
        let client = InboundClient {
            requests,
            shared: shared.clone(),
            api_timeout: config.api_timeout,
            bgapi_timeout: config.bgapi_timeout,
            format: config.format,
        };
        tokio::spawn(supervise(config, shared, req_rx));
        (client, rx)
    }

    /// Starts the client and waits for the first connection. Fails with the first
    /// attempt's error (e.g. [`Error::AuthFailed`], refused connection, timeout) and then
    /// stops the client; once connected, later failures are handled by reconnecting.
    pub async fn connect(config: InboundConfig) -> Result<(InboundClient, EventReceiver), Error> {
        let connect_timeout = config.connect_timeout;
        let (client, rx) = Self::spawn(config, true);
        let mut state = client.state();
        let r = timeout(connect_timeout + Duration::from_secs(1), async {
            loop {
                match &*state.borrow_and_update() {
                    ConnectionState::Connected => return true,
                    ConnectionState::Closed { .. } => return false,
                    _ => {}
                }
                if state.changed().await.is_err() {
                    return false;
                }
            }
        })
        .await;
        let err = match r {
            Ok(true) => return Ok((client, rx)),
            Ok(false) => client.last_error().unwrap_or(Error::NotConnected {
                state: format!("{:?}", *client.shared.state.borrow()),
            }),
            Err(_) => Error::Timeout { what: "connect".into(), after: connect_timeout },
        };
        client.shutdown().await;
        Err(err)
    }

    /// The error that ended the last connection or connection attempt.
    pub fn last_error(&self) -> Option<Error> {
        self.shared.last_error.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The connection state; `changed().await` on it to follow transitions.
    pub fn state(&self) -> watch::Receiver<ConnectionState> {
        self.shared.state.subscribe()
    }

    /// Counters (connections, event queue).
    pub fn stats(&self) -> ClientStats {
        ClientStats {
            connections: self.shared.connections.load(std::sync::atomic::Ordering::Relaxed),
            queue: self.shared.events.stats(),
        }
    }

    /// `api <command>` with the default timeout; returns the response body.
    pub async fn api(&self, command: &str) -> Result<String, Error> {
        self.api_with_timeout(command, self.api_timeout).await
    }

    /// `api <command>`: fails with [`Error::Timeout`] after `after`, with
    /// [`Error::ConnectionLost`] if the connection dies first, with
    /// [`Error::NotConnected`] while reconnecting.
    pub async fn api_with_timeout(&self, command: &str, after: Duration) -> Result<String, Error> {
        let (reply, rx) = oneshot::channel();
        self.request(Request::Api { command: command.to_owned(), reply }, rx, "api", after).await
    }

    /// `api <command>`, pipelined: returns once the command is handed to the connection (so
    /// commands sent one after another by one task go out in that order), with the reply
    /// to await separately. FreeSWITCH answers one connection's commands in the order they
    /// came, so a caller can keep many in flight instead of paying a round trip for each —
    /// a control connection that waits for every reply does a few hundred commands a second
    /// at most. The reply fails with [`Error::Timeout`] after the default `api` timeout.
    pub async fn api_send(
        &self,
        command: &str,
    ) -> Result<impl Future<Output = Result<String, Error>> + Send + 'static, Error> {
        let (reply, rx) = oneshot::channel();
        self.requests
            .send(Request::Api { command: command.to_owned(), reply })
            .await
            .map_err(|_| Error::Shutdown)?;
        let after = self.api_timeout;
        Ok(async move {
            match timeout(after, rx).await {
                Ok(Ok(r)) => r,
                Ok(Err(_)) => Err(Error::ConnectionLost { reason: "client task ended".into() }),
                Err(_) => Err(Error::Timeout { what: "api".to_owned(), after }),
            }
        })
    }

    /// `bgapi <command>` with our own `Job-UUID`; returns the `BACKGROUND_JOB` event (its
    /// `body()` is the command's output, e.g. `+OK <uuid>\n`).
    pub async fn bgapi(&self, command: &str) -> Result<Event, Error> {
        self.bgapi_with_timeout(command, self.bgapi_timeout).await
    }

    /// `bgapi` with an explicit timeout covering acceptance and result.
    pub async fn bgapi_with_timeout(&self, command: &str, after: Duration) -> Result<Event, Error> {
        let (reply, rx) = oneshot::channel();
        let job_uuid = uuid::Uuid::new_v4().to_string();
        let req = Request::BgApi { command: command.to_owned(), job_uuid, reply };
        self.request(req, rx, "bgapi", after).await
    }

    /// Adds events to the subscription (now, and after every reconnection).
    pub async fn subscribe(&self, events: &[&str]) -> Result<(), Error> {
        {
            let mut s = self.shared.subscription.lock().unwrap_or_else(PoisonError::into_inner);
            s.add_events(events.iter().copied());
        }
        let events = events.iter().map(|e| (*e).to_owned()).collect();
        self.command(OwnedCommand::Event { format: self.format, events }).await.map(drop)
    }

    /// Adds a `filter <header> <value>` (now, and after every reconnection).
    pub async fn filter(&self, header: &str, value: &str) -> Result<(), Error> {
        {
            let mut s = self.shared.subscription.lock().unwrap_or_else(PoisonError::into_inner);
            s.filters.push((header.to_owned(), value.to_owned()));
        }
        let cmd = OwnedCommand::Filter { header: header.to_owned(), value: value.to_owned() };
        self.command(cmd).await.map(drop)
    }

    /// `sendmsg <uuid>` `execute` (not awaited to completion; use the outbound server for
    /// call control that needs completions).
    pub async fn execute_on(&self, uuid: &str, app: &str, arg: Option<&str>) -> Result<(), Error> {
        let cmd = OwnedCommand::SendMsg {
            uuid: uuid.to_owned(),
            app: app.to_owned(),
            arg: arg.map(str::to_owned),
        };
        self.command(cmd).await.map(drop)
    }

    /// `sendmsg <uuid>` `hangup`.
    pub async fn hangup(&self, uuid: &str, cause: Option<&str>) -> Result<(), Error> {
        let cmd = OwnedCommand::Hangup { uuid: uuid.to_owned(), cause: cause.map(str::to_owned) };
        self.command(cmd).await.map(drop)
    }

    async fn command(&self, command: OwnedCommand) -> Result<Message, Error> {
        let (reply, rx) = oneshot::channel();
        self.request(Request::Command { command, reply }, rx, "command", self.api_timeout).await
    }

    async fn request<T>(
        &self,
        req: Request,
        rx: oneshot::Receiver<Result<T, Error>>,
        what: &str,
        after: Duration,
    ) -> Result<T, Error> {
        let fut = async {
            self.requests.send(req).await.map_err(|_| Error::Shutdown)?;
            rx.await.unwrap_or_else(|_| {
                Err(Error::ConnectionLost { reason: "client task ended".into() })
            })
        };
        match timeout(after, fut).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout { what: what.to_owned(), after }),
        }
    }

    /// Stops the client: sends `exit` if connected, closes the socket and the event
    /// queue (the consumer drains it, then gets `Closed`).
    pub async fn shutdown(&self) {
        self.shared.stop.send_replace(true);
        let _ = self.requests.try_send(Request::Shutdown);
        let mut state = self.state();
        let _ = timeout(Duration::from_secs(5), async {
            while !matches!(*state.borrow_and_update(), ConnectionState::Closed { .. }) {
                if state.changed().await.is_err() {
                    break;
                }
            }
        })
        .await;
    }
}

/// What the client adds to the user's subscription for itself, in front of the user's
/// list (FreeSWITCH reads every word after `CUSTOM` as a subclass, so nothing may be
/// appended after it).
fn wire_events(user: &[String], liveness: bool) -> Vec<String> {
    if user.iter().any(|e| e.eq_ignore_ascii_case("ALL")) {
        return user.to_vec();
    }
    let mut v = vec!["BACKGROUND_JOB".to_owned()];
    if liveness {
        v.push("HEARTBEAT".to_owned());
    }
    v.extend(user.iter().filter(|e| !v.contains(e)).cloned().collect::<Vec<_>>());
    v
}

/// Event names the client subscribed to for itself only (not delivered to the consumer).
fn internal_only(user: &[String]) -> Vec<&'static str> {
    if user.iter().any(|e| e.eq_ignore_ascii_case("ALL")) {
        return Vec::new();
    }
    ["BACKGROUND_JOB", "HEARTBEAT"].into_iter().filter(|n| !user.iter().any(|u| u == n)).collect()
}

#[derive(Debug)]
enum Pending {
    Api(oneshot::Sender<Result<String, Error>>),
    BgApi(oneshot::Sender<Result<Event, Error>>),
    Cmd(String, oneshot::Sender<Result<Message, Error>>),
}

impl Pending {
    fn fail(self, e: Error) {
        match self {
            Pending::Api(tx) => drop(tx.send(Err(e))),
            Pending::BgApi(tx) => drop(tx.send(Err(e))),
            Pending::Cmd(_, tx) => drop(tx.send(Err(e))),
        }
    }
}

fn reject(req: Request, e: Error) {
    match req {
        Request::Api { reply, .. } => drop(reply.send(Err(e))),
        Request::BgApi { reply, .. } => drop(reply.send(Err(e))),
        Request::Command { reply, .. } => drop(reply.send(Err(e))),
        Request::Shutdown => {}
    }
}

enum End {
    Shutdown,
    Failed(Error),
}

fn set_state(shared: &Shared, s: ConnectionState) {
    shared.state.send_replace(s);
}

async fn supervise(cfg: InboundConfig, shared: Arc<Shared>, mut req_rx: mpsc::Receiver<Request>) {
    use rand::SeedableRng as _;
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let mut failures: u32 = 0;
    let mut ever_connected = false;
    let mut stop = shared.stop.subscribe();
    let reason = 'outer: loop {
        if *stop.borrow_and_update() {
            break "shut down".to_owned();
        }
        set_state(&shared, ConnectionState::Connecting { attempt: failures + 1 });
        let attempt = tokio::select! {
            r = timeout(cfg.connect_timeout, establish(&cfg, &shared)) => r,
            _ = stop.wait_for(|s| *s) => break "shut down".to_owned(),
        };
        let outcome = match attempt {
            Ok(Ok(conn)) => {
                ever_connected = true;
                failures = 0;
                shared.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                set_state(&shared, ConnectionState::Connected);
                tracing::info!(addr = %cfg.addr, "ESL connected");
                run(conn, &cfg, &shared, &mut req_rx).await
            }
            Ok(Err(e)) => End::Failed(e),
            Err(_) => End::Failed(Error::Timeout {
                what: "connecting, authenticating and subscribing".into(),
                after: cfg.connect_timeout,
            }),
        };
        let e = match outcome {
            End::Shutdown => break "shut down".to_owned(),
            End::Failed(e) => e,
        };
        failures += 1;
        tracing::warn!(addr = %cfg.addr, error = %e, failures, "ESL connection ended");
        *shared.last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(e.clone());
        if e.is_permanent() && !cfg.retry_auth_failure {
            break e.to_string();
        }
        if shared.fail_fast && !ever_connected {
            break e.to_string();
        }
        if cfg.max_attempts.is_some_and(|m| failures >= m) {
            break format!("{e} (gave up after {failures} attempts)");
        }
        let reason = e.to_string();
        set_state(&shared, ConnectionState::Disconnected { reason: reason.clone() });
        let delay = cfg.backoff.delay(failures - 1, &mut rng);
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => break,
                _ = stop.wait_for(|s| *s) => break 'outer "shut down".to_owned(),
                req = req_rx.recv() => match req {
                    None | Some(Request::Shutdown) => break 'outer "shut down".to_owned(),
                    Some(req) => reject(req, Error::NotConnected { state: format!("reconnecting after: {reason}") }),
                },
            }
        }
    };
    set_state(&shared, ConnectionState::Closed { reason: reason.clone() });
    shared.events.close();
    req_rx.close();
    while let Ok(req) = req_rx.try_recv() {
        reject(req, Error::Shutdown);
    }
}

struct Conn {
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    session: InboundSession,
    early: Vec<Event>,
    buf: Vec<u8>,
}

const READ_BUF: usize = 64 * 1024;

async fn read_into(
    rd: &mut OwnedReadHalf,
    buf: &mut [u8],
    session: &mut InboundSession,
) -> Result<(), Error> {
    let n = rd.read(buf).await.map_err(|e| Error::io("reading from FreeSWITCH", &e))?;
    if n == 0 {
        return Err(Error::ConnectionLost { reason: "FreeSWITCH closed the connection".into() });
    }
    feed(session, buf.get(..n).unwrap_or_default())
}

fn feed(session: &mut InboundSession, bytes: &[u8]) -> Result<(), Error> {
    match session.handle_input(bytes) {
        Ok(()) => Ok(()),
        Err(e) if !e.is_fatal() => {
            tracing::warn!(error = %e, "skipping a malformed event");
            Ok(())
        }
        Err(e) => Err(Error::Decode(e)),
    }
}

async fn flush(wr: &mut OwnedWriteHalf, session: &mut InboundSession) -> Result<(), Error> {
    while let Some(bytes) = session.poll_transmit() {
        wr.write_all(&bytes).await.map_err(|e| Error::io("writing to FreeSWITCH", &e))?;
    }
    Ok(())
}

/// TCP connect, authentication and subscription.
async fn establish(cfg: &InboundConfig, shared: &Shared) -> Result<Conn, Error> {
    let stream = TcpStream::connect(&cfg.addr)
        .await
        .map_err(|e| Error::io("connecting to FreeSWITCH", &e))?;
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let mut session = InboundSession::with_limits(cfg.credentials.clone(), cfg.limits);
    let mut buf = vec![0u8; READ_BUF];
    let mut early = Vec::new();
    while session.state() != InboundState::Ready {
        read_into(&mut rd, &mut buf, &mut session).await.map_err(|e| match e {
            Error::ConnectionLost { .. } => Error::ConnectionLost {
                reason: "FreeSWITCH closed the connection during authentication".into(),
            },
            e => e,
        })?;
        while let Some(out) = session.poll_output() {
            match out {
                InboundOutput::AuthFailed { reply } => return Err(Error::AuthFailed { reply }),
                InboundOutput::Disconnected(msg) => {
                    return Err(Error::Rejected { reason: msg.body_text().trim().to_owned() });
                }
                InboundOutput::Event(ev) => early.push(ev),
                InboundOutput::ProtocolViolation { what, .. } => return Err(Error::Protocol(what)),
                _ => {}
            }
        }
        flush(&mut wr, &mut session).await?;
    }
    let sub = shared.subscription.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let mut waiting: Vec<(CommandId, String)> = Vec::new();
    let mut filters = sub.filters.clone();
    if !filters.is_empty() {
        for name in internal_only(&sub.events) {
            if name != "HEARTBEAT" || cfg.liveness_timeout.is_some() {
                filters.push(("Event-Name".into(), name.into()));
            }
        }
    }
    for (header, value) in &filters {
        let id = session.send_command(&Command::Filter { header, value })?;
        waiting.push((id, format!("filter {header} {value}")));
    }
    let wire = wire_events(&sub.events, cfg.liveness_timeout.is_some());
    let events: Vec<&str> = wire.iter().map(String::as_str).collect();
    let id = session.send_command(&Command::Event { format: cfg.format, events: &events })?;
    waiting.push((id, format!("event {} {}", cfg.format.as_str(), wire.join(" "))));
    flush(&mut wr, &mut session).await?;
    while !waiting.is_empty() {
        read_into(&mut rd, &mut buf, &mut session).await?;
        while let Some(out) = session.poll_output() {
            match out {
                InboundOutput::CommandReply { id, message } => {
                    if let Some(i) = waiting.iter().position(|(w, _)| *w == id) {
                        let (_, command) = waiting.swap_remove(i);
                        if !message.is_ok() {
                            let reply = message.reply_text().unwrap_or_default().to_owned();
                            return Err(Error::CommandFailed { command, reply });
                        }
                    }
                }
                InboundOutput::Event(ev) => early.push(ev),
                InboundOutput::ProtocolViolation { what, .. } => return Err(Error::Protocol(what)),
                InboundOutput::Disconnected(_) => {
                    return Err(Error::ConnectionLost {
                        reason: "FreeSWITCH sent a disconnect notice while subscribing".into(),
                    });
                }
                _ => {}
            }
        }
    }
    Ok(Conn { rd, wr, session, early, buf })
}

async fn write_loop(mut wr: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Vec<u8>>) {
    while let Some(bytes) = rx.recv().await {
        if wr.write_all(&bytes).await.is_err() {
            return;
        }
    }
    let _ = wr.shutdown().await;
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

struct Dispatch<'a> {
    pending: HashMap<CommandId, Pending>,
    internal: Vec<&'static str>,
    events: &'a EventSender,
    disconnect: Option<String>,
}

impl Dispatch<'_> {
    fn submit(&mut self, session: &mut InboundSession, req: Request) {
        match req {
            Request::Api { command, reply } => match session.send_api(&command) {
                Ok(id) => drop(self.pending.insert(id, Pending::Api(reply))),
                Err(e) => drop(reply.send(Err(e.into()))),
            },
            Request::BgApi { command, job_uuid, reply } => {
                match session.send_bgapi(&command, &job_uuid) {
                    Ok(id) => drop(self.pending.insert(id, Pending::BgApi(reply))),
                    Err(e) => drop(reply.send(Err(e.into()))),
                }
            }
            Request::Command { command, reply } => match command.send(session) {
                Ok(id) => drop(self.pending.insert(id, Pending::Cmd(command.name(), reply))),
                Err(e) => drop(reply.send(Err(e))),
            },
            Request::Shutdown => {}
        }
    }

    /// Handles one session output; `Some` ends the connection.
    fn output(&mut self, out: InboundOutput, lost_reason: &str) -> Option<Error> {
        match out {
            InboundOutput::CommandReply { id, message } => match self.pending.remove(&id) {
                Some(Pending::BgApi(tx)) if message.is_ok() => {
                    self.pending.insert(id, Pending::BgApi(tx));
                }
                Some(Pending::BgApi(tx)) => {
                    let reply = message.reply_text().unwrap_or_default().to_owned();
                    let _ = tx.send(Err(Error::CommandFailed { command: "bgapi".into(), reply }));
                }
                Some(Pending::Cmd(command, tx)) => {
                    let r = if message.is_ok() {
                        Ok(message)
                    } else {
                        let reply = message.reply_text().unwrap_or_default().to_owned();
                        Err(Error::CommandFailed { command, reply })
                    };
                    let _ = tx.send(r);
                }
                Some(p) => p.fail(Error::Protocol("command/reply to an api command".into())),
                None => {}
            },
            InboundOutput::ApiResponse { id, body } => {
                if let Some(p) = self.pending.remove(&id) {
                    match p {
                        Pending::Api(tx) => {
                            let _ = tx.send(Ok(String::from_utf8_lossy(&body).into_owned()));
                        }
                        p => p.fail(Error::Protocol("api/response to a non-api command".into())),
                    }
                }
            }
            InboundOutput::BackgroundJob { id, event, .. } => {
                if let Some(Pending::BgApi(tx)) = self.pending.remove(&id) {
                    let _ = tx.send(Ok(event));
                }
            }
            InboundOutput::Event(ev) if !ev.name().is_some_and(|n| self.internal.contains(&n)) => {
                self.events.push(ev);
            }
            InboundOutput::Disconnected(msg) => {
                let text = msg.body_text();
                let first = text.lines().next().unwrap_or_default();
                self.disconnect = Some(format!("FreeSWITCH sent a disconnect notice: {first}"));
            }
            InboundOutput::CommandFailed { id, .. } => {
                if let Some(p) = self.pending.remove(&id) {
                    p.fail(Error::ConnectionLost { reason: lost_reason.to_owned() });
                }
            }
            InboundOutput::ProtocolViolation { what, .. } => return Some(Error::Protocol(what)),
            _ => {}
        }
        None
    }
}

fn send_exit(session: &mut InboundSession, wtx: &mpsc::UnboundedSender<Vec<u8>>) {
    let _ = session.send_command(&Command::Exit);
    while let Some(bytes) = session.poll_transmit() {
        let _ = wtx.send(bytes);
    }
}

async fn run(
    conn: Conn,
    cfg: &InboundConfig,
    shared: &Shared,
    req_rx: &mut mpsc::Receiver<Request>,
) -> End {
    let Conn { mut rd, wr, mut session, early, mut buf } = conn;
    let (wtx, wrx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(write_loop(wr, wrx));
    let sub = shared.subscription.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let mut d = Dispatch {
        pending: HashMap::new(),
        internal: internal_only(&sub.events),
        events: &shared.events,
        disconnect: None,
    };
    for ev in early {
        d.output(InboundOutput::Event(ev), "");
    }
    let mut last_rx = Instant::now();
    let mut stop = shared.stop.subscribe();
    let end = 'conn: loop {
        let deadline = cfg.liveness_timeout.map(|t| last_rx + t);
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) => {
                    let reason = d.disconnect.take()
                        .unwrap_or_else(|| "FreeSWITCH closed the connection".into());
                    break End::Failed(Error::ConnectionLost { reason });
                }
                Ok(n) => {
                    last_rx = Instant::now();
                    if let Err(e) = feed(&mut session, buf.get(..n).unwrap_or_default()) {
                        break End::Failed(e);
                    }
                }
                Err(e) => break End::Failed(Error::io("reading from FreeSWITCH", &e)),
            },
            req = req_rx.recv() => match req {
                None | Some(Request::Shutdown) => {
                    send_exit(&mut session, &wtx);
                    break End::Shutdown;
                }
                Some(req) => d.submit(&mut session, req),
            },
            _ = stop.wait_for(|s| *s) => {
                send_exit(&mut session, &wtx);
                break End::Shutdown;
            }
            () = sleep_until_opt(deadline) => {
                let t = cfg.liveness_timeout.unwrap_or_default();
                break End::Failed(Error::ConnectionLost {
                    reason: format!("liveness timeout: nothing received from FreeSWITCH for {t:?} (no HEARTBEAT)"),
                });
            }
        }
        while let Some(out) = session.poll_output() {
            if let Some(e) = d.output(out, "") {
                break 'conn End::Failed(e);
            }
        }
        while let Some(bytes) = session.poll_transmit() {
            if wtx.send(bytes).is_err() {
                break 'conn End::Failed(Error::ConnectionLost {
                    reason: "writing to FreeSWITCH failed".into(),
                });
            }
        }
    };
    let reason = match &end {
        End::Shutdown => "client shut down".to_owned(),
        End::Failed(e) => e.to_string(),
    };
    session.handle_close();
    while let Some(out) = session.poll_output() {
        let _ = d.output(out, &reason);
    }
    for (_, p) in d.pending.drain() {
        p.fail(match &end {
            End::Shutdown => Error::Shutdown,
            End::Failed(_) => Error::ConnectionLost { reason: reason.clone() },
        });
    }
    drop(wtx);
    drop(rd);
    let _ = timeout(Duration::from_secs(1), writer).await;
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_events_put_internal_first() {
        let user =
            vec!["CHANNEL_ANSWER".to_owned(), "CUSTOM".into(), "kontakt::degraded_call".into()];
        assert_eq!(
            wire_events(&user, true),
            ["BACKGROUND_JOB", "HEARTBEAT", "CHANNEL_ANSWER", "CUSTOM", "kontakt::degraded_call"]
        );
        assert_eq!(wire_events(&["ALL".into()], true), ["ALL"]);
        assert_eq!(internal_only(&["HEARTBEAT".into()]), ["BACKGROUND_JOB"]);
    }

    #[test]
    fn merged_subscriptions_keep_subclasses_after_custom() {
        let mut s = Subscription::default();
        s.add_events(["CHANNEL_CREATE", "CUSTOM", "kontakt::degraded_call"]);
        assert_eq!(s.events, ["CHANNEL_CREATE", "CUSTOM", "kontakt::degraded_call"]);
        s.add_events(["CHANNEL_ANSWER", "CHANNEL_CREATE", "CUSTOM", "callcenter::info"]);
        assert_eq!(
            s.events,
            [
                "CHANNEL_CREATE",
                "CHANNEL_ANSWER",
                "CUSTOM",
                "kontakt::degraded_call",
                "callcenter::info"
            ]
        );
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        use rand::SeedableRng as _;
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            factor: 2.0,
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for attempt in 0..20 {
            let d = b.delay(attempt, &mut rng);
            let full = (0.1 * 2f64.powi(attempt as i32)).min(1.0);
            assert!(d.as_secs_f64() >= full / 2.0 - 1e-9 && d.as_secs_f64() <= full + 1e-9);
        }
    }
}
