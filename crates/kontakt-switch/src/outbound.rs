//! The outbound server: FreeSWITCH connects to us once per call (`socket <addr> async full`
//! in the dialplan).
//!
//! [`OutboundServer::serve`] accepts connections and runs one task per call: the handshake
//! (`connect` → channel data, `myevents`, `linger`), then a connection task that owns the
//! socket and the [`OutboundSession`], and the caller's handler with a [`Call`]. The call's
//! events go into a bounded per-call [`EventReceiver`]; [`CallControl::execute`] sends a
//! `sendmsg execute` with its own `Event-UUID` and resolves on the matching
//! `CHANNEL_EXECUTE_COMPLETE`. When the channel hangs up, an application still running
//! resolves with [`Error::Hangup`]; the task ends at the disconnect notice or when the
//! socket closes, and dropping every handle of the call closes the socket.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use kontakt_esl::session::{CommandId, OutboundOutput, OutboundSession};
use kontakt_esl::{Command, Event, EventFormat, Limits};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::error::Error;
use crate::queue::{self, EventReceiver, EventSender, OverloadPolicy, RecvError};

/// Configuration of the outbound server (applies to every call).
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    /// `myevents <format>` after `connect` (`None`: do not subscribe; executions then
    /// cannot be awaited).
    pub myevents: Option<EventFormat>,
    /// Send `linger` so that the final events (hangup, the completion of an application
    /// interrupted by the hangup) still arrive after the channel hangs up.
    pub linger: bool,
    /// `linger <secs>` (`None`: FreeSWITCH's default).
    pub linger_secs: Option<u32>,
    /// Bound on the handshake (`connect`, `myevents`, `linger`).
    pub handshake_timeout: Duration,
    /// Timeout of `hangup` and `api` replies.
    pub command_timeout: Duration,
    /// The per-call event queue.
    pub queue: OverloadPolicy,
    /// Decoder limits.
    pub limits: Limits,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            myevents: Some(EventFormat::Plain),
            linger: true,
            linger_secs: None,
            handshake_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(10),
            queue: OverloadPolicy { capacity: 1_000, max_bytes: 8 << 20, ..Default::default() },
            limits: Limits::DEFAULT,
        }
    }
}

/// Listens for FreeSWITCH's outbound-socket connections.
#[derive(Debug)]
pub struct OutboundServer {
    listener: TcpListener,
    config: OutboundConfig,
}

impl OutboundServer {
    /// Binds `addr` (e.g. `127.0.0.1:8084`; port 0 picks one).
    pub async fn bind(addr: impl ToSocketAddrs, config: OutboundConfig) -> Result<Self, Error> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::io("binding the outbound socket server", &e))?;
        Ok(OutboundServer { listener, config })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.listener.local_addr().map_err(|e| Error::io("local address", &e))
    }

    /// Accepts one connection and performs its handshake (inline: use
    /// [`OutboundServer::serve`] in production, which handshakes in the call's own task).
    pub async fn accept(&self) -> Result<Call, Error> {
        let (stream, _) =
            self.listener.accept().await.map_err(|e| Error::io("accepting a call", &e))?;
        Call::from_stream(stream, &self.config).await
    }

    /// Accepts connections forever; each gets its own task that performs the handshake and
    /// runs `handler`. A failed handshake is logged and the connection dropped (FreeSWITCH
    /// then continues the dialplan if `socket_resume` is set, i.e. degraded mode).
    pub fn serve<F, Fut>(self, handler: F) -> JoinHandle<()>
    where
        F: Fn(Call) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler = std::sync::Arc::new(handler);
        tokio::spawn(async move {
            loop {
                let stream = match self.listener.accept().await {
                    Ok((s, _)) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "outbound accept failed");
                        // Typically EMFILE: give the system a moment instead of spinning.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let cfg = self.config.clone();
                let handler = handler.clone();
                tokio::spawn(async move {
                    match Call::from_stream(stream, &cfg).await {
                        Ok(call) => handler(call).await,
                        Err(e) => tracing::warn!(error = %e, "outbound handshake failed"),
                    }
                });
            }
        })
    }
}

/// What is known about the call's channel and socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallStatus {
    /// `CHANNEL_HANGUP` (or `_COMPLETE`) was received.
    pub hung_up: bool,
    /// Its `Hangup-Cause`.
    pub hangup_cause: Option<String>,
    /// The socket is closed and the call's task has ended.
    pub closed: bool,
    /// Why it closed (disconnect notice, EOF, error, dropped by us).
    pub close_reason: Option<String>,
}

#[derive(Debug)]
enum CallRequest {
    Execute { app: String, arg: Option<String>, reply: oneshot::Sender<Result<Event, Error>> },
    Hangup { cause: Option<String>, reply: oneshot::Sender<Result<(), Error>> },
    Api { command: String, reply: oneshot::Sender<Result<String, Error>> },
}

/// Controls one call; cheap to clone. The call's socket closes when the [`Call`] and every
/// clone of its control are dropped.
#[derive(Debug, Clone)]
pub struct CallControl {
    requests: mpsc::Sender<CallRequest>,
    status: watch::Receiver<CallStatus>,
    command_timeout: Duration,
}

/// One call on the outbound socket: channel data, control (via `Deref` to
/// [`CallControl`]) and the call's event stream.
#[derive(Debug)]
pub struct Call {
    channel_data: Event,
    unique_id: String,
    control: CallControl,
    events: EventReceiver,
}

impl std::ops::Deref for Call {
    type Target = CallControl;
    fn deref(&self) -> &CallControl {
        &self.control
    }
}

impl Call {
    /// Performs the handshake on a connection FreeSWITCH opened to us and starts the
    /// call's task.
    ///
    /// Once the `connect` reply named the channel, the call is handed over even if the rest
    /// of the handshake fails because the call ended (the caller hung up, FreeSWITCH closed
    /// the socket): its task then ends at once and says so (`CallStatus`). Dropping it
    /// instead would leave a call Kontakt had seen without its record.
    pub async fn from_stream(stream: TcpStream, config: &OutboundConfig) -> Result<Call, Error> {
        let _ = stream.set_nodelay(true);
        let (mut rd, mut wr) = stream.into_split();
        let mut session = OutboundSession::with_limits(config.limits);
        let mut conn = Conn { buf: vec![0u8; 64 * 1024], early: VecDeque::new() };
        let started = tokio::time::Instant::now();
        let channel_data = timeout(config.handshake_timeout, async {
            flush(&mut wr, &mut session).await?;
            let channel_data = loop {
                conn.read(&mut rd, &mut session).await?;
                let mut data = None;
                while let Some(out) = session.poll_output() {
                    match out {
                        OutboundOutput::Connected { channel_data } => data = Some(channel_data),
                        OutboundOutput::ProtocolViolation { what, .. } => {
                            return Err(Error::Protocol(what));
                        }
                        other => conn.early.push_back(other),
                    }
                }
                if let Some(d) = data {
                    break d;
                }
            };
            Ok(channel_data)
        })
        .await
        .map_err(|_| Error::Timeout {
            what: "outbound handshake".into(),
            after: config.handshake_timeout,
        })??;
        let rest = config.handshake_timeout.saturating_sub(started.elapsed());
        let subscribed = timeout(rest, async {
            if let Some(format) = config.myevents {
                let id = session.send_myevents(format)?;
                conn.await_reply(&mut rd, &mut wr, &mut session, id, "myevents").await?;
            }
            if config.linger {
                let id = session.send_linger(config.linger_secs)?;
                conn.await_reply(&mut rd, &mut wr, &mut session, id, "linger").await?;
            }
            Ok(())
        })
        .await
        .map_err(|_| Error::Timeout {
            what: "outbound handshake".into(),
            after: config.handshake_timeout,
        })?;
        match subscribed {
            Ok(()) => {}
            // The socket closed (FreeSWITCH says goodbye when the channel hangs up before
            // `linger`) or the session was told so: the call ended during the handshake.
            Err(e @ (Error::ConnectionLost { .. } | Error::Io { .. } | Error::Session(_))) => {
                tracing::debug!(error = %e, "the call ended during the outbound handshake");
            }
            Err(e) => return Err(e),
        }
        let unique_id = channel_data.unique_id().unwrap_or_default().to_owned();
        let (events_tx, events) = queue::channel(config.queue.clone());
        let (status_tx, status) = watch::channel(CallStatus::default());
        let (requests, req_rx) = mpsc::channel(64);
        tokio::spawn(run_call(rd, wr, session, conn, req_rx, events_tx, status_tx));
        Ok(Call {
            channel_data,
            unique_id,
            control: CallControl { requests, status, command_timeout: config.command_timeout },
            events,
        })
    }

    /// The channel data of the `connect` reply (`Unique-ID`, `Caller-*`, `variable_*`).
    pub fn channel_data(&self) -> &Event {
        &self.channel_data
    }

    /// The channel's `Unique-ID`.
    pub fn unique_id(&self) -> &str {
        &self.unique_id
    }

    /// A channel variable from the channel data (as set by the dialplan before `socket`).
    pub fn var(&self, name: &str) -> Option<&str> {
        self.channel_data.var(name)
    }

    /// A clonable control handle (to execute from another task while this one reads
    /// events).
    pub fn control(&self) -> CallControl {
        self.control.clone()
    }

    /// The next event of the call (`Closed` once the call's socket closed and every event
    /// was read).
    pub async fn recv_event(&mut self) -> Result<Event, RecvError> {
        self.events.recv().await
    }

    /// The call's event queue.
    pub fn events(&mut self) -> &mut EventReceiver {
        &mut self.events
    }
}

impl CallControl {
    /// Runs `app` with `arg` (`sendmsg execute`, `event-lock: true`, our own `Event-UUID`)
    /// and returns its `CHANNEL_EXECUTE_COMPLETE` (e.g. `var("read_result")` after
    /// `play_and_get_digits`). Fails with [`Error::Hangup`] if the channel hung up before
    /// the application completed, [`Error::CommandFailed`] if FreeSWITCH refused it,
    /// [`Error::ConnectionLost`] if the socket died. Needs `myevents` (the default).
    pub async fn execute(&self, app: &str, arg: Option<&str>) -> Result<Event, Error> {
        let (reply, rx) = oneshot::channel();
        let req = CallRequest::Execute { app: app.to_owned(), arg: arg.map(str::to_owned), reply };
        self.requests.send(req).await.map_err(|_| self.gone())?;
        rx.await.unwrap_or_else(|_| Err(self.gone()))
    }

    /// `set <name>=<value>` on the channel.
    pub async fn set_var(&self, name: &str, value: &str) -> Result<Event, Error> {
        self.execute("set", Some(&format!("{name}={value}"))).await
    }

    /// Hangs the channel up (`sendmsg hangup`) with an optional cause.
    pub async fn hangup(&self, cause: Option<&str>) -> Result<(), Error> {
        let (reply, rx) = oneshot::channel();
        let req = CallRequest::Hangup { cause: cause.map(str::to_owned), reply };
        self.with_timeout("hangup", async {
            self.requests.send(req).await.map_err(|_| self.gone())?;
            rx.await.unwrap_or_else(|_| Err(self.gone()))
        })
        .await
    }

    /// `api <command>` on the call's socket (needs `async full`).
    pub async fn api(&self, command: &str) -> Result<String, Error> {
        let (reply, rx) = oneshot::channel();
        let req = CallRequest::Api { command: command.to_owned(), reply };
        self.with_timeout("api", async {
            self.requests.send(req).await.map_err(|_| self.gone())?;
            rx.await.unwrap_or_else(|_| Err(self.gone()))
        })
        .await
    }

    /// The call's status now.
    pub fn status(&self) -> CallStatus {
        self.status.borrow().clone()
    }

    /// Waits until the call's socket is closed (hangup and disconnect, or error).
    pub async fn closed(&self) -> CallStatus {
        let mut rx = self.status.clone();
        loop {
            let s = rx.borrow_and_update().clone();
            if s.closed || rx.changed().await.is_err() {
                return rx.borrow().clone();
            }
        }
    }

    async fn with_timeout<T>(
        &self,
        what: &str,
        fut: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        timeout(self.command_timeout, fut).await.unwrap_or_else(|_| {
            Err(Error::Timeout { what: what.into(), after: self.command_timeout })
        })
    }

    fn gone(&self) -> Error {
        let s = self.status.borrow();
        if s.hung_up {
            Error::Hangup { cause: s.hangup_cause.clone(), completion: None }
        } else {
            Error::ConnectionLost {
                reason: s.close_reason.clone().unwrap_or_else(|| "call task ended".into()),
            }
        }
    }
}

struct Conn {
    buf: Vec<u8>,
    /// Outputs received during the handshake, processed first by the call task.
    early: VecDeque<OutboundOutput>,
}

impl Conn {
    async fn read(
        &mut self,
        rd: &mut OwnedReadHalf,
        session: &mut OutboundSession,
    ) -> Result<(), Error> {
        let n =
            rd.read(&mut self.buf).await.map_err(|e| Error::io("reading the call socket", &e))?;
        if n == 0 {
            return Err(Error::ConnectionLost {
                reason: "FreeSWITCH closed the call socket during the handshake".into(),
            });
        }
        feed(session, self.buf.get(..n).unwrap_or_default())
    }

    async fn await_reply(
        &mut self,
        rd: &mut OwnedReadHalf,
        wr: &mut OwnedWriteHalf,
        session: &mut OutboundSession,
        id: CommandId,
        command: &str,
    ) -> Result<(), Error> {
        flush(wr, session).await?;
        loop {
            self.read(rd, session).await?;
            while let Some(out) = session.poll_output() {
                match out {
                    OutboundOutput::CommandReply { id: got, message } if got == id => {
                        if message.is_ok() {
                            return Ok(());
                        }
                        let reply = message.reply_text().unwrap_or_default().to_owned();
                        return Err(Error::CommandFailed { command: command.into(), reply });
                    }
                    OutboundOutput::ProtocolViolation { what, .. } => {
                        return Err(Error::Protocol(what));
                    }
                    other => self.early.push_back(other),
                }
            }
        }
    }
}

fn feed(session: &mut OutboundSession, bytes: &[u8]) -> Result<(), Error> {
    match session.handle_input(bytes) {
        Ok(()) => Ok(()),
        Err(e) if !e.is_fatal() => {
            tracing::warn!(error = %e, "skipping a malformed event");
            Ok(())
        }
        Err(e) => Err(Error::Decode(e)),
    }
}

async fn flush(wr: &mut OwnedWriteHalf, session: &mut OutboundSession) -> Result<(), Error> {
    while let Some(bytes) = session.poll_transmit() {
        wr.write_all(&bytes).await.map_err(|e| Error::io("writing the call socket", &e))?;
    }
    Ok(())
}

#[derive(Debug)]
enum Pending {
    Execute(oneshot::Sender<Result<Event, Error>>),
    Reply(&'static str, oneshot::Sender<Result<(), Error>>),
    Api(oneshot::Sender<Result<String, Error>>),
}

impl Pending {
    fn fail(self, e: Error) {
        match self {
            Pending::Execute(tx) => drop(tx.send(Err(e))),
            Pending::Reply(_, tx) => drop(tx.send(Err(e))),
            Pending::Api(tx) => drop(tx.send(Err(e))),
        }
    }
}

struct CallState {
    pending: HashMap<CommandId, Pending>,
    events: EventSender,
    status: watch::Sender<CallStatus>,
    hung_up: bool,
    cause: Option<String>,
    /// Set by the disconnect notice: the task ends.
    finished: Option<String>,
}

impl CallState {
    fn submit(&mut self, session: &mut OutboundSession, req: CallRequest) {
        match req {
            CallRequest::Execute { app, arg, reply } => {
                let event_uuid = uuid::Uuid::new_v4().to_string();
                match session.execute(&app, arg.as_deref(), &event_uuid) {
                    Ok(id) => drop(self.pending.insert(id, Pending::Execute(reply))),
                    Err(e) => drop(reply.send(Err(e.into()))),
                }
            }
            CallRequest::Hangup { cause, reply } => match session.hangup(cause.as_deref()) {
                Ok(id) => drop(self.pending.insert(id, Pending::Reply("hangup", reply))),
                Err(e) => drop(reply.send(Err(e.into()))),
            },
            CallRequest::Api { command, reply } => {
                match session.send_command(&Command::Api { command: &command }) {
                    Ok(id) => drop(self.pending.insert(id, Pending::Api(reply))),
                    Err(e) => drop(reply.send(Err(e.into()))),
                }
            }
        }
    }

    fn lost(&self, reason: &str) -> Error {
        if self.hung_up {
            Error::Hangup { cause: self.cause.clone(), completion: None }
        } else {
            Error::ConnectionLost { reason: reason.to_owned() }
        }
    }

    /// Handles one output; `Some` ends the call's connection with that error.
    fn output(&mut self, out: OutboundOutput, lost_reason: &str) -> Option<Error> {
        match out {
            OutboundOutput::CommandReply { id, message } => match self.pending.remove(&id) {
                Some(Pending::Execute(tx)) if message.is_ok() => {
                    self.pending.insert(id, Pending::Execute(tx));
                }
                Some(Pending::Execute(tx)) => {
                    let reply = message.reply_text().unwrap_or_default().to_owned();
                    let _ = tx.send(Err(Error::CommandFailed { command: "execute".into(), reply }));
                }
                Some(Pending::Reply(command, tx)) => {
                    let r = if message.is_ok() {
                        Ok(())
                    } else {
                        let reply = message.reply_text().unwrap_or_default().to_owned();
                        Err(Error::CommandFailed { command: command.into(), reply })
                    };
                    let _ = tx.send(r);
                }
                Some(p) => p.fail(Error::Protocol("command/reply to an api command".into())),
                None => {}
            },
            OutboundOutput::ApiResponse { id, body } => match self.pending.remove(&id) {
                Some(Pending::Api(tx)) => {
                    let _ = tx.send(Ok(String::from_utf8_lossy(&body).into_owned()));
                }
                Some(p) => p.fail(Error::Protocol("api/response to a non-api command".into())),
                None => {}
            },
            OutboundOutput::ExecuteComplete { id, event } => {
                self.events.push(event.clone());
                if let Some(p) = self.pending.remove(&id) {
                    match p {
                        Pending::Execute(tx) if self.hung_up => {
                            let _ = tx.send(Err(Error::Hangup {
                                cause: self.cause.clone(),
                                completion: Some(Box::new(event)),
                            }));
                        }
                        Pending::Execute(tx) => drop(tx.send(Ok(event))),
                        p => p.fail(Error::Protocol("execute completion for a non-execute".into())),
                    }
                }
            }
            OutboundOutput::Hangup { cause, event } => {
                self.hung_up = true;
                self.cause = cause.clone();
                self.status.send_modify(|s| {
                    s.hung_up = true;
                    s.hangup_cause = cause;
                });
                self.events.push(event);
            }
            OutboundOutput::Event(ev) => self.events.push(ev),
            OutboundOutput::Disconnected { linger, .. } => {
                if !linger && !self.hung_up {
                    // Without linger FreeSWITCH says goodbye when the channel goes down
                    // (before `linger` was set, or when it never was): a hang-up whose
                    // event we did not get.
                    self.hung_up = true;
                    self.status.send_modify(|s| s.hung_up = true);
                }
                self.finished = Some(if linger {
                    "disconnect notice (linger)".into()
                } else {
                    "disconnect notice".into()
                });
            }
            OutboundOutput::CommandFailed { id, .. } => {
                if let Some(p) = self.pending.remove(&id) {
                    p.fail(self.lost(lost_reason));
                }
            }
            OutboundOutput::ProtocolViolation { what, .. } => return Some(Error::Protocol(what)),
            OutboundOutput::Connected { .. } => {}
            _ => {}
        }
        None
    }
}

async fn run_call(
    mut rd: OwnedReadHalf,
    mut wr: OwnedWriteHalf,
    mut session: OutboundSession,
    conn: Conn,
    mut req_rx: mpsc::Receiver<CallRequest>,
    events: EventSender,
    status: watch::Sender<CallStatus>,
) {
    let Conn { mut buf, early } = conn;
    let mut st = CallState {
        pending: HashMap::new(),
        events,
        status,
        hung_up: false,
        cause: None,
        finished: None,
    };
    for out in early {
        let _ = st.output(out, "");
    }
    // Writes are small (commands) and the peer reads them; they are done inline.
    let reason: String = 'call: loop {
        if let Some(r) = st.finished.take() {
            break r;
        }
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) => break "FreeSWITCH closed the call socket".into(),
                Ok(n) => {
                    if let Err(e) = feed(&mut session, buf.get(..n).unwrap_or_default()) {
                        break e.to_string();
                    }
                }
                Err(e) => break Error::io("reading the call socket", &e).to_string(),
            },
            req = req_rx.recv() => match req {
                None => break "closed by Kontakt (call handle dropped)".into(),
                Some(req) => st.submit(&mut session, req),
            },
        }
        while let Some(out) = session.poll_output() {
            if let Some(e) = st.output(out, "") {
                break 'call e.to_string();
            }
        }
        if let Err(e) = flush(&mut wr, &mut session).await {
            break e.to_string();
        }
    };
    session.handle_close();
    while let Some(out) = session.poll_output() {
        let _ = st.output(out, &reason);
    }
    let err = st.lost(&reason);
    for (_, p) in st.pending.drain() {
        p.fail(err.clone());
    }
    req_rx.close();
    while let Ok(req) = req_rx.try_recv() {
        match req {
            CallRequest::Execute { reply, .. } => drop(reply.send(Err(err.clone()))),
            CallRequest::Hangup { reply, .. } => drop(reply.send(Err(err.clone()))),
            CallRequest::Api { reply, .. } => drop(reply.send(Err(err.clone()))),
        }
    }
    let _ = wr.shutdown().await;
    st.events.close();
    tracing::debug!(%reason, "outbound call ended");
    st.status.send_modify(|s| {
        s.closed = true;
        s.close_reason = Some(reason);
    });
}
