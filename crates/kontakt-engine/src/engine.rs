//! The engine task: the one owner of the router, the live calls and the operators' state.
//!
//! Everything that happens reaches it as an [`EngineEvent`] on one channel: a call's task
//! reporting its channel, a FreeSWITCH control connection's events, an operator's command
//! from the API. It applies the event, drains the router's outputs, and acts: commands to
//! call tasks, `bgapi`/`api` to FreeSWITCH (in spawned tasks whose results come back as
//! events, so the engine never waits on a socket), record operations to the writer, and
//! messages to the feeds. No lock guards routing state; nothing else can touch it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kontakt_acd::{
    AgentConfig, AgentId, AgentStateKind, CallId, CancelReason, ForcedState, Handled, Input,
    Millis, NewCall, OfferId, OfferKind, Output, OverflowAction, QueueConfig, QueueId,
    RejectReason, Router, RouterConfig, RoutingStep,
};
use kontakt_esl::Event;
use kontakt_store::{CallKey, CallLink, CallOp, CallStatus, CallUpdate, Id, NewCallRecord, Store};
use kontakt_switch::InboundClient;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::board::BoardMirror;
use crate::config::{EngineConfig, OverflowTo};
use crate::feed::*;
use crate::journal::RecordWriter;
use crate::metrics::Metrics;

/// How often the wall boards get the queues' statistics (and the sweep of board.rs), and
/// `/metrics` its gauges. 0.8 s, so that a board's figures are never a second old even when
/// a tick and its delivery come 200 ms late under load.
pub(crate) const STATS_EVERY: Duration = Duration::from_millis(800);

/// How long after a reconciliation that saw callers without a record it looks again: a call
/// being taken has its record well within this; one still without is an orphan.
const ORPHAN_RECHECK: Duration = Duration::from_secs(2);

/// How long after a reconciliation that left records alone because the journal still held
/// writes (the database was behind) it looks again.
const JOURNAL_RECHECK: Duration = Duration::from_secs(5);

/// An operator as the engine knows them: Kontakt user plus phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorBinding {
    pub user_id: Id,
    pub username: String,
    pub endpoint: String,
    pub extension: String,
    pub queues: Vec<String>,
}

/// A supervisor's phone for listen / whisper / barge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SupervisorBinding {
    pub user_id: Id,
    pub username: String,
    pub endpoint: String,
}

/// What a call's task learned from the `connect` reply.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CallInfo {
    pub(crate) record: NewCallRecord,
    pub(crate) language: String,
}

/// What the caller chose in the menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IvrOutcome {
    Queue {
        queue: String,
        priority: u8,
    },
    Callback {
        queue: String,
    },
    /// Served without an operator (status, message) or hung up in the menu.
    Finished {
        reason: String,
    },
}

/// From a call's task: what its channel did.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelEvent {
    Hangup {
        cause: String,
    },
    Bridged {
        other: String,
    },
    Unbridged,
    Held(bool),
    Recording(String),
    /// The waiting caller pressed the digit that turns their wait into a callback.
    CallbackChosen,
    /// The call's socket closed.
    Gone,
}

/// Orders to a call's task.
#[derive(Debug, Clone, PartialEq)]
pub enum CallCmd {
    Announce {
        position: usize,
        ewt_ms: Option<u64>,
    },
    /// An operator is being rung: no more announcements (the bridge interrupts the music).
    Reserved,
    /// The offer failed; keep waiting.
    Unreserved,
    Connected,
    /// Play this prompt and hang up.
    PlayAndHangup(String),
    /// Play the greeting, record the caller's message into `file`, hang up.
    Voicemail {
        prompt: String,
        file: String,
        max_secs: u32,
    },
    Hangup(String),
}

/// Commands from the API (operators and supervisors).
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Login {
        user: Id,
    },
    Logout {
        user: Id,
    },
    Ready {
        user: Id,
    },
    Pause {
        user: Id,
        reason: String,
    },
    /// Link the operator's call (current or in wrap-up) to an appeal or an outcome.
    Link {
        user: Id,
        call: String,
        link: CallLink,
    },
    Hold {
        user: Id,
        hold: bool,
    },
    /// The operator ends their call from the desk (as if they had put the phone down).
    Hangup {
        user: Id,
        /// The call the operator means: a stale click never ends the next call.
        call: String,
    },
    Transfer {
        user: Id,
        target: String,
    },
    Eavesdrop {
        supervisor: Id,
        call: String,
        mode: EavesdropMode,
    },
    ForceState {
        agent: Id,
        state: ForcedState,
    },
    MoveCall {
        call: String,
        queue: String,
    },
    SetPriority {
        call: String,
        priority: u8,
    },
    OperatorStatus {
        user: Id,
    },
    Snapshot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EavesdropMode {
    Listen,
    Whisper,
    Barge,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperatorStatus {
    pub user_id: Id,
    pub state: String,
    pub reason: Option<String>,
    pub since: DateTime<Utc>,
    /// The live call (ringing or talking).
    pub call: Option<String>,
    /// The call whose appeal link is awaited.
    pub wrap_up_call: Option<String>,
    pub outcomes: Vec<String>,
    pub pause_reasons: Vec<String>,
    /// The screen-pop of the live or wrap-up call.
    pub pop: Option<Arc<ScreenPop>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Reply {
    Done,
    Operator(Box<OperatorStatus>),
    Snapshot(Box<SupervisorSnapshot>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("this user is not a configured operator")]
    UnknownOperator,
    #[error("no such call")]
    UnknownCall,
    #[error("this call is not yours")]
    NotYourCall,
    #[error("the call was never answered: there is nothing to link")]
    NotAnswered,
    #[error("the call is already linked")]
    AlreadyLinked,
    #[error("unknown outcome {0:?}")]
    UnknownOutcome(String),
    #[error("unknown pause reason {0:?}")]
    UnknownReason(String),
    #[error("unknown queue {0:?}")]
    UnknownQueue(String),
    #[error("unknown transfer target {0:?}")]
    UnknownTarget(String),
    #[error("no live call")]
    NoLiveCall,
    #[error("not possible now: {0}")]
    Refused(String),
    #[error("the engine is not running")]
    Stopped,
}

/// Everything that reaches the engine task.
pub(crate) enum EngineEvent {
    CallStarted {
        info: Box<CallInfo>,
        cmds: mpsc::UnboundedSender<CallCmd>,
        /// The call was already known (re-attached after a restart or a dropped socket):
        /// the highest step number its record holds, so numbering continues after it.
        resumed: Option<i64>,
    },
    CallerContext {
        uuid: String,
        ctx: Box<CallerContext>,
    },
    IvrStep {
        uuid: String,
        label: String,
        digits: String,
    },
    IvrDone {
        uuid: String,
        outcome: IvrOutcome,
    },
    Channel {
        uuid: String,
        ev: ChannelEvent,
    },
    LegResult {
        call: String,
        leg: String,
        agent: AgentId,
        offer: OfferId,
        ok: Result<(), String>,
        at: Instant,
    },
    CitizenLeg {
        call: String,
        leg: String,
        ok: Result<(), String>,
    },
    Switch {
        node: String,
        ev: Box<Event>,
        at: Instant,
    },
    Attach {
        node: String,
        client: InboundClient,
    },
    SwitchState {
        node: String,
        connected: bool,
    },
    Reconcile {
        node: String,
        alive: Vec<ChannelRow>,
        /// Operators' and citizens' legs this process did not know when it listed them.
        legs: Vec<LegRow>,
        /// Callers waiting in the socket application that no record names.
        orphans: Vec<String>,
        records: Vec<kontakt_store::CallRecord>,
        /// The second look at orphans seen once (`ReconcileAgain`).
        recheck: bool,
    },
    /// Reconcile a node again (orphans seen once are adopted when seen twice).
    ReconcileAgain {
        node: String,
    },
    /// Callbacks still owed from before this start (read once from the store).
    RestoreCallbacks(Vec<kontakt_store::CallRecord>),
    /// An operator's desk opened (`true`) or closed its feed.
    DeskPresence {
        user: Id,
        open: bool,
    },
    /// The screen-pop of this call was written to the operator's desk: ring now.
    PopDelivered {
        call: String,
    },
    /// No desk confirmed the pop in time: ring anyway.
    PopDeadline {
        call: String,
    },
    /// Calls the dialplan took in degraded mode, new to the records (and whether a record
    /// of the call itself already exists: the socket was lost mid-call).
    Degraded(Vec<(crate::cdr::DegradedCall, bool)>),
    Command {
        cmd: Command,
        reply: oneshot::Sender<Result<Reply, CommandError>>,
    },
    Shutdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Ivr,
    Queued,
    Ringing,
    Talking,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Ivr => "ivr",
            Phase::Queued => "queued",
            Phase::Ringing => "ringing",
            Phase::Talking => "talking",
        }
    }
}

struct Offered {
    leg: String,
    at: Millis,
}

struct LiveCall {
    key: CallKey,
    info: NewCallRecord,
    acd: Option<CallId>,
    cmds: Option<mpsc::UnboundedSender<CallCmd>>,
    /// A callback: no channel until the citizen answers; this is their number.
    callback_to: Option<String>,
    /// The citizen's leg of a callback once dialled.
    citizen_leg: Option<String>,
    phase: Phase,
    phase_since: DateTime<Utc>,
    ivr: Vec<String>,
    context: CallerContext,
    queue: Option<String>,
    priority: u8,
    queued: Option<Millis>,
    started: Millis,
    offered: Option<Offered>,
    agent: Option<AgentId>,
    agent_leg: Option<String>,
    connected: Option<Millis>,
    hold_since: Option<Millis>,
    hold_ms: u64,
    /// Talk time before this process took the conversation up (after a restart).
    talk_before_ms: u64,
    seq: i64,
    operator_hung_up: bool,
    link: Option<CallLink>,
    /// Set when Kontakt ends its part of the call itself (a blind transfer).
    end_reason: Option<String>,
}

impl LiveCall {
    fn new(info: NewCallRecord, now: Millis, phase: Phase) -> Self {
        LiveCall {
            key: info.key.clone(),
            info,
            acd: None,
            cmds: None,
            callback_to: None,
            citizen_leg: None,
            phase,
            phase_since: Utc::now(),
            ivr: Vec::new(),
            context: CallerContext::default(),
            queue: None,
            priority: 0,
            queued: None,
            started: now,
            offered: None,
            agent: None,
            agent_leg: None,
            connected: None,
            hold_since: None,
            hold_ms: 0,
            talk_before_ms: 0,
            seq: 0,
            operator_hung_up: false,
            link: None,
            end_reason: None,
        }
    }
}

struct Operator {
    b: OperatorBinding,
    state: AgentStateKind,
    reason: Option<String>,
    since: DateTime<Utc>,
    /// The live call (ringing or talking).
    call: Option<String>,
    /// Ended call whose link is awaited, with when it ended.
    wrap: Option<(CallKey, Millis)>,
    /// The last screen-pop, for a desk opened mid-call (shown while its call is the live
    /// or wrap-up call).
    pop: Option<Arc<ScreenPop>>,
}

/// Handle to a running engine; cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    pub(crate) tx: mpsc::UnboundedSender<EngineEvent>,
    pub(crate) operators: broadcast::Sender<Arc<OperatorMsg>>,
    pub(crate) supervisors: broadcast::Sender<Arc<SupervisorMsg>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) writer: RecordWriter,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: Arc<EngineConfig>,
    pub(crate) node_name: String,
}

impl EngineHandle {
    pub async fn command(&self, cmd: Command) -> Result<Reply, CommandError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(EngineEvent::Command { cmd, reply }).map_err(|_| CommandError::Stopped)?;
        rx.await.unwrap_or(Err(CommandError::Stopped))
    }
    pub fn operator_feed(&self) -> broadcast::Receiver<Arc<OperatorMsg>> {
        self.operators.subscribe()
    }
    pub fn supervisor_feed(&self) -> broadcast::Receiver<Arc<SupervisorMsg>> {
        self.supervisors.subscribe()
    }
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
    pub fn writer(&self) -> &RecordWriter {
        &self.writer
    }
    pub fn config(&self) -> &Arc<EngineConfig> {
        &self.config
    }
    /// True while the engine task runs.
    pub fn is_alive(&self) -> bool {
        !self.tx.is_closed()
    }
    /// Connects a FreeSWITCH node's control connection: its events feed the engine, and
    /// the engine reconciles its calls whenever the connection (re)opens.
    pub fn attach_node(
        &self,
        node: &str,
        client: InboundClient,
        mut events: kontakt_switch::EventReceiver,
    ) {
        let _ = self.tx.send(EngineEvent::Attach { node: node.to_owned(), client: client.clone() });
        let tx = self.tx.clone();
        let name = node.to_owned();
        let mut state = client.state();
        let tx2 = tx.clone();
        let name2 = name.clone();
        tokio::spawn(async move {
            loop {
                let connected = matches!(
                    *state.borrow_and_update(),
                    kontakt_switch::ConnectionState::Connected
                );
                if tx2.send(EngineEvent::SwitchState { node: name2.clone(), connected }).is_err() {
                    return;
                }
                if state.changed().await.is_err() {
                    return;
                }
            }
        });
        tokio::spawn(async move {
            while let Ok(ev) = events.recv().await {
                let at = Instant::now();
                if tx
                    .send(EngineEvent::Switch { node: name.clone(), ev: Box::new(ev), at })
                    .is_err()
                {
                    return;
                }
            }
        });
    }
    /// Asks the engine task to stop (calls keep their records).
    pub fn shutdown(&self) {
        let _ = self.tx.send(EngineEvent::Shutdown);
    }

    /// An operator's desk feed opened or closed. While one is open, each offer's phone
    /// rings only once the desk has the screen-pop (or `screen_pop_lead_ms` has passed).
    pub fn desk_presence(&self, user: Id, open: bool) {
        let _ = self.tx.send(EngineEvent::DeskPresence { user, open });
    }

    /// The screen-pop of `call` has been written to its operator's desk.
    pub fn pop_delivered(&self, call: &str) {
        let _ = self.tx.send(EngineEvent::PopDelivered { call: call.to_owned() });
    }
}

/// One row of `show channels as json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChannelRow {
    uuid: String,
    application: String,
    /// `outbound` for a leg the switch originated (an operator's or a callback's).
    direction: String,
}

/// A leg Kontakt rang (it carries `kontakt_call`), found on the switch during
/// reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LegRow {
    uuid: String,
    /// `kontakt_call`: the call the leg serves.
    call: String,
    /// `kontakt_operator`: the operator's extension (none on a callback's citizen leg).
    operator: Option<String>,
}

fn parse_channels(json: &str) -> Vec<ChannelRow> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    v.get("rows")
        .and_then(|r| r.as_array())
        .map(|rows| {
            rows.iter()
                .filter_map(|r| {
                    let field = |name: &str| {
                        r.get(name).and_then(|a| a.as_str()).unwrap_or_default().to_owned()
                    };
                    Some(ChannelRow {
                        uuid: r.get("uuid")?.as_str()?.to_owned(),
                        application: field("application"),
                        direction: field("direction"),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a caller in this application (`show channels`) is only waiting — parked, in the
/// socket, hearing a prompt or music —, so that pulling it onto Kontakt's socket takes
/// nothing from it. In any other (`bridge`, `record`, …) the dialplan is busy with it.
fn waits_for_kontakt(application: &str) -> bool {
    matches!(
        application,
        "" | "park" | "socket" | "playback" | "endless_playback" | "play_and_get_digits"
    )
}

/// A channel variable of a leg (`uuid_getvar`); `None` when unset, or when the leg or the
/// control connection is gone.
async fn leg_var(client: &InboundClient, uuid: &str, name: &str) -> Option<String> {
    let reply = client.api(&format!("uuid_getvar {uuid} {name}")).await.ok()?;
    let v = reply.trim();
    (!v.is_empty() && v != "_undef_" && !v.starts_with("-ERR")).then(|| v.to_owned())
}

/// A live call with a record that no process drives, waiting for its hang-up.
#[derive(Debug, Clone)]
struct Outside {
    key: CallKey,
    /// The record's last step: the hang-up is the one after it.
    last_seq: i64,
    answered: bool,
    /// The `phase` its hang-up step names and what its `end_reason` says.
    phase: &'static str,
    end_reason: &'static str,
}

/// What the engine needs to start.
pub struct EngineSetup {
    pub config: EngineConfig,
    pub operators: Vec<OperatorBinding>,
    pub supervisors: Vec<SupervisorBinding>,
    pub store: Arc<dyn Store>,
    pub writer: RecordWriter,
    /// Name used for this Kontakt's own records (callbacks) and as the default node.
    pub node_name: String,
    /// Where FreeSWITCH reaches our outbound socket (to re-attach calls after a restart).
    pub outbound_addr: Option<String>,
}

pub(crate) struct Engine {
    cfg: Arc<EngineConfig>,
    store: Arc<dyn Store>,
    router: Router,
    clock: Instant,
    calls: HashMap<String, LiveCall>,
    by_acd: HashMap<CallId, String>,
    next_acd: u64,
    ops: HashMap<AgentId, Operator>,
    queues: HashMap<String, QueueId>,
    queue_names: Vec<String>,
    writer: RecordWriter,
    feed_ops: broadcast::Sender<Arc<OperatorMsg>>,
    feed_sup: broadcast::Sender<Arc<SupervisorMsg>>,
    /// What the wall boards were last told (see board.rs).
    board: BoardMirror,
    metrics: Arc<Metrics>,
    tx: mpsc::UnboundedSender<EngineEvent>,
    node_name: String,
    outbound_addr: Option<String>,
    nodes_up: HashMap<String, bool>,
    /// Each FreeSWITCH node's control connection (cloned into the tasks that use it).
    nodes: HashMap<String, InboundClient>,
    /// Each node's `api` commands, sent in the order the engine decided them (a transfer
    /// must not overtake the bridge it follows) by one task per node.
    node_cmds: HashMap<String, mpsc::UnboundedSender<String>>,
    /// Ended calls kept until linked: key → (agent, connected?)
    ended: HashMap<String, (CallKey, Option<AgentId>, i64)>,
    /// Operator legs → the call they serve.
    legs: HashMap<String, String>,
    supervisors: HashMap<Id, SupervisorBinding>,
    /// When this engine started: older live records may need re-attaching.
    started_at: DateTime<Utc>,
    /// Live calls Kontakt does not drive — in conversation when it restarted, handled by
    /// the dialplan in degraded mode, or asked back onto our socket and not there yet —,
    /// noted once; their record is closed when the control connection reports their
    /// hang-up (or dropped from here when their socket arrives).
    noted_outside: HashMap<String, Outside>,
    /// Callers without a record seen waiting in the socket application by the last
    /// reconciliation; adopted if the next one still sees them.
    /// Per node, when each was first seen. Per node: one node's round must not forget what
    /// another's saw.
    orphans_seen: HashMap<String, HashMap<String, Instant>>,
    /// Nodes already warned about for a switchname other than their configured name.
    misnamed: std::collections::HashSet<String>,
    /// Open desk feeds per operator.
    desks: HashMap<Id, u32>,
    /// Offers whose phone rings once the desk has the screen-pop, by call.
    pending_rings: HashMap<String, PendingRing>,
}

/// The degraded-mode rows of a CDR file new since `tail`, each with whether a record of
/// the call exists; rows whose callback exists already are left out (imported before).
async fn degraded_rows(
    file: &str,
    tail: &mut crate::cdr::CdrTail,
    store: &dyn kontakt_store::Store,
) -> std::io::Result<Vec<(crate::cdr::DegradedCall, bool)>> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut f = tokio::fs::File::open(file).await?;
    let len = f.metadata().await?.len();
    let from = tail.offset(len);
    if from >= len {
        return Ok(Vec::new());
    }
    f.seek(std::io::SeekFrom::Start(from)).await?;
    // At most 8 MiB a round: a large backlog is read over several minutes.
    let mut buf = Vec::new();
    f.take(8 << 20).read_to_end(&mut buf).await?;
    let mut next = tail.clone();
    let mut calls = Vec::new();
    for (i, line) in next.lines(&buf).into_iter().enumerate() {
        match crate::cdr::parse_line(line) {
            Ok(Some(c)) => calls.push(c),
            Ok(None) => {}
            Err(e) => tracing::warn!(file, row = i + 1, error = %e, "CDR row skipped"),
        }
    }
    if !calls.is_empty() {
        let mut ids: Vec<String> = calls.iter().map(|c| c.uuid.clone()).collect();
        ids.extend(calls.iter().map(|c| format!("cb-{}", c.uuid)));
        let known = store.calls_known(&ids).await.map_err(std::io::Error::other)?;
        let known: std::collections::HashSet<String> = known.into_iter().collect();
        calls.retain(|c| !(known.contains(&c.uuid) && known.contains(&format!("cb-{}", c.uuid))));
        *tail = next;
        return Ok(calls
            .into_iter()
            .map(|c| {
                let k = known.contains(&c.uuid);
                (c, k)
            })
            .collect());
    }
    *tail = next;
    Ok(Vec::new())
}

/// An offer's originate, held until the operator's desk has the screen-pop.
struct PendingRing {
    uuid: String,
    node: String,
    cmd: String,
    leg: String,
    agent: AgentId,
    offer: OfferId,
}

/// The end reason of an inbound call turned into a queued callback that is still owed.
const CALLBACK_QUEUED: &str = "callback_queued";

/// A live record that is a callback not yet made: Kontakt's own callback task, or a
/// caller's wait turned into one.
fn owed_callback(r: &kontakt_store::CallRecord) -> bool {
    r.connected_at.is_none()
        && (r.direction == "callback" || r.end_reason.as_deref() == Some(CALLBACK_QUEUED))
}

/// What a stored record says of the call's start, to track the call again.
fn record_of(r: &kontakt_store::CallRecord) -> NewCallRecord {
    NewCallRecord {
        key: r.key.clone(),
        direction: r.direction.clone(),
        caller: r.caller.clone(),
        caller_raw: r.caller_raw.clone(),
        presentation: r.presentation.clone(),
        dialled: r.dialled.clone(),
        line: r.line.clone(),
        carrier: r.carrier.clone(),
        started_at: r.started_at,
    }
}

/// Starts the engine task.
pub fn start(setup: EngineSetup) -> Result<EngineHandle, crate::config::ConfigError> {
    setup.config.validate()?;
    let cfg = Arc::new(setup.config);
    let (tx, rx) = mpsc::unbounded_channel();
    let (feed_ops, _) = broadcast::channel(4096);
    let (feed_sup, _) = broadcast::channel(1024);
    let metrics = Arc::new(Metrics::new(setup.writer.stats().clone()));
    let queues: HashMap<String, QueueId> =
        cfg.queues.iter().enumerate().map(|(i, q)| (q.name.clone(), QueueId(i as u32))).collect();
    let mut queue_names = Vec::new();
    let mut qcfgs = Vec::new();
    for (i, q) in cfg.queues.iter().enumerate() {
        let id = QueueId(i as u32);
        queue_names.push(q.name.clone());
        let overflow = q.overflow.as_ref();
        qcfgs.push(QueueConfig {
            id,
            name: q.name.clone(),
            ring_timeout_ms: q.ring_timeout_secs * 1000,
            // Wrap-up lasts until the call is linked; this is only the safety cap.
            wrap_up_ms: 12 * 3600 * 1000,
            sl_threshold_ms: q.sl_threshold_secs * 1000,
            sticky_window_ms: q.sticky_hours * 3600 * 1000,
            preferred_wait_ms: q.sticky_wait_secs * 1000,
            // A caller hears where they stand at every interval, even when it has not
            // changed: silence is what makes people hang up.
            announce: kontakt_acd::AnnounceConfig {
                interval_ms: q.announce_every_secs * 1000,
                only_on_change: false,
                ..Default::default()
            },
            callback: kontakt_acd::CallbackConfig {
                max_attempts: q.callback_attempts,
                retry_delay_ms: q.callback_retry_secs * 1000,
            },
            steps: vec![RoutingStep { min_proficiency: 0, duration_ms: None }],
            max_wait_ms: overflow.and_then(|o| o.max_wait_secs).map(|s| s * 1000),
            max_len: overflow.and_then(|o| o.max_waiting),
            ewt_threshold_ms: overflow.and_then(|o| o.ewt_above_secs).map(|s| s * 1000),
            overflow_when_no_agents: overflow.is_some_and(|o| o.when_no_operators),
            // validate() has checked every action and queue name.
            overflow: overflow.and_then(|o| o.target()).and_then(|t| match t {
                OverflowTo::Callback => Some(OverflowAction::Callback),
                OverflowTo::Voicemail(p) => Some(OverflowAction::Voicemail(p)),
                OverflowTo::Message(p) => Some(OverflowAction::Message(p)),
                OverflowTo::Queue(n) => queues.get(&n).map(|q| OverflowAction::Queue(*q)),
            }),
            ..QueueConfig::default()
        });
    }
    let mut agents = Vec::new();
    let mut ops = HashMap::new();
    for o in &setup.operators {
        let id = AgentId(u32::try_from(o.user_id).unwrap_or(u32::MAX));
        let member: Vec<QueueId> = if o.queues.is_empty() {
            queues.values().copied().collect()
        } else {
            o.queues.iter().filter_map(|q| queues.get(q).copied()).collect()
        };
        agents.push(AgentConfig {
            id,
            name: o.username.clone(),
            queues: member,
            max_no_answer: 3,
            no_answer_delay_ms: 5_000,
            ..AgentConfig::default()
        });
        ops.insert(
            id,
            Operator {
                b: o.clone(),
                state: AgentStateKind::LoggedOut,
                reason: None,
                since: Utc::now(),
                call: None,
                wrap: None,
                pop: None,
            },
        );
    }
    let router = Router::new(
        RouterConfig {
            priority_aging_ms: None,
            seed: 1580,
            queue_log: false,
            agent_events: true,
            queues: qcfgs,
            agents,
        },
        Millis(0),
    )
    .map_err(|e| crate::config::ConfigError::Router(e.to_string()))?;
    let handle = EngineHandle {
        tx: tx.clone(),
        operators: feed_ops.clone(),
        supervisors: feed_sup.clone(),
        metrics: metrics.clone(),
        writer: setup.writer.clone(),
        store: setup.store.clone(),
        config: cfg.clone(),
        node_name: setup.node_name.clone(),
    };
    let engine = Engine {
        cfg,
        store: setup.store,
        router,
        clock: Instant::now(),
        calls: HashMap::new(),
        by_acd: HashMap::new(),
        next_acd: 1,
        ops,
        queues,
        queue_names,
        writer: setup.writer,
        feed_ops,
        feed_sup,
        board: BoardMirror::default(),
        metrics,
        tx,
        node_name: setup.node_name,
        outbound_addr: setup.outbound_addr,
        nodes_up: HashMap::new(),
        nodes: HashMap::new(),
        node_cmds: HashMap::new(),
        ended: HashMap::new(),
        legs: HashMap::new(),
        supervisors: setup.supervisors.into_iter().map(|s| (s.user_id, s)).collect(),
        started_at: Utc::now(),
        noted_outside: Default::default(),
        orphans_seen: Default::default(),
        misnamed: Default::default(),
        desks: HashMap::new(),
        pending_rings: HashMap::new(),
    };
    crate::retention::spawn(
        engine.cfg.recording.dir.clone(),
        engine.cfg.recording.retention_days,
        handle.metrics().clone(),
    );
    tokio::spawn(engine.run(rx));
    Ok(handle)
}

impl Engine {
    fn now(&self) -> Millis {
        Millis(self.clock.elapsed().as_millis() as u64)
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<EngineEvent>) {
        self.metrics.engine_alive.store(true, Ordering::Relaxed);
        self.load_owed_callbacks();
        self.watch_degraded_cdrs();
        let mut stats = tokio::time::interval(STATS_EVERY);
        let mut sweep = tokio::time::interval(Duration::from_secs(60));
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        stats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let wake = self
                .router
                .next_timeout()
                .map(|t| tokio::time::Instant::from_std(self.clock + Duration::from_millis(t.0)));
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(EngineEvent::Shutdown) | None => break,
                    Some(ev) => self.handle(ev),
                },
                () = sleep => {
                    let now = self.now();
                    self.router.handle(Input::Tick, now);
                }
                _ = stats.tick() => self.publish_stats(),
                _ = sweep.tick() => {
                    let up: Vec<String> =
                        self.nodes_up.iter().filter(|(_, u)| **u).map(|(n, _)| n.clone()).collect();
                    for node in up {
                        self.start_reconcile(node, false);
                    }
                }
            }
            self.drain_outputs();
            self.flush_board();
        }
        self.metrics.engine_alive.store(false, Ordering::Relaxed);
    }

    // ---- record helpers ----------------------------------------------------------------

    fn step(&mut self, uuid: &str, kind: &str, detail: serde_json::Value) {
        let Some(c) = self.calls.get_mut(uuid) else { return };
        c.seq += 1;
        let op = CallOp::Step {
            key: c.key.clone(),
            seq: c.seq,
            at: Utc::now(),
            kind: kind.to_owned(),
            detail,
        };
        self.writer.write(vec![op]);
    }

    fn update(&self, key: &CallKey, set: CallUpdate) {
        self.writer.write(vec![CallOp::Update { key: key.clone(), set }]);
    }

    fn set_phase(&mut self, uuid: &str, phase: Phase) {
        if let Some(c) = self.calls.get_mut(uuid) {
            c.phase = phase;
            c.phase_since = Utc::now();
        }
        self.publish_call(uuid);
    }

    fn to_operator(&self, agent: AgentId, event: OperatorEvent) {
        let Some(op) = self.ops.get(&agent) else { return };
        let _ = self.feed_ops.send(Arc::new(OperatorMsg {
            user_id: op.b.user_id,
            at: Utc::now(),
            event,
        }));
    }

    /// The wall boards hear of this call's change at the end of the current event.
    fn publish_call(&mut self, uuid: &str) {
        self.board.call_changed(uuid);
    }

    /// The wall boards hear of this operator's change at the end of the current event.
    fn publish_agent(&mut self, agent: AgentId) {
        self.board.agent_changed(agent);
    }

    /// One message for each call and agent changed by the event just handled, however many
    /// times it changed (board.rs).
    fn flush_board(&mut self) {
        let (calls, agents) = self.board.take_changed();
        for uuid in calls {
            let Some(c) = self.calls.get(&uuid) else { continue };
            let view = self.call_view(c);
            if let Some(ev) = self.board.call(view) {
                self.to_boards(ev);
            }
        }
        for agent in agents {
            let Some(o) = self.ops.get(&agent) else { continue };
            let view = self.agent_view(o);
            if let Some(ev) = self.board.agent(view) {
                self.to_boards(ev);
            }
        }
    }

    fn publish_call_gone(&mut self, uuid: &str) {
        let ev = self.board.call_gone(uuid);
        self.to_boards(ev);
    }

    fn to_boards(&self, event: SupervisorEvent) {
        let _ = self.feed_sup.send(Arc::new(SupervisorMsg { at: Utc::now(), event }));
    }

    fn call_view(&self, c: &LiveCall) -> LiveCallView {
        LiveCallView {
            call: c.key.uuid.clone(),
            node: c.key.node.clone(),
            caller: c.info.caller.clone(),
            line: c.info.line.clone(),
            phase: Self::board_phase(c).into(),
            queue: c.queue.clone(),
            priority: c.priority,
            agent: self.user_of(c.agent),
            since: c.phase_since,
            started_at: c.info.started_at,
        }
    }

    /// `*v == self.call_view(c)`, without building the view (the sweep's comparison; in
    /// debug builds the sweep checks that the two agree).
    fn call_view_is(&self, v: &LiveCallView, c: &LiveCall) -> bool {
        v.phase == Self::board_phase(c)
            && v.since == c.phase_since
            && v.priority == c.priority
            && v.queue == c.queue
            && v.agent == self.user_of(c.agent)
            && v.caller == c.info.caller
            && v.line == c.info.line
            && v.started_at == c.info.started_at
            && v.node == c.key.node
            && v.call == c.key.uuid
    }

    fn board_phase(c: &LiveCall) -> &'static str {
        if c.callback_to.is_some() && c.phase == Phase::Queued {
            "callback"
        } else {
            c.phase.name()
        }
    }

    fn user_of(&self, agent: Option<AgentId>) -> Option<Id> {
        agent.and_then(|a| self.ops.get(&a)).map(|o| o.b.user_id)
    }

    fn agent_view(&self, o: &Operator) -> AgentView {
        AgentView {
            user_id: o.b.user_id,
            username: o.b.username.clone(),
            state: o.state.name().into(),
            reason: o.reason.clone(),
            since: o.since,
            call: o.call.clone().or_else(|| o.wrap.as_ref().map(|w| w.0.uuid.clone())),
        }
    }

    fn snapshot(&self) -> SupervisorSnapshot {
        let mut agents: Vec<AgentView> = self.ops.values().map(|o| self.agent_view(o)).collect();
        agents.sort_by_key(|a| a.user_id);
        let mut calls: Vec<LiveCallView> = self.calls.values().map(|c| self.call_view(c)).collect();
        calls.sort_by_key(|c| c.started_at);
        SupervisorSnapshot {
            at: Utc::now(),
            stats: self.router.snapshot(self.now()),
            agents,
            calls,
            queue_names: self.queue_names.clone(),
        }
    }

    fn publish_stats(&mut self) {
        let stats = self.router.snapshot(self.now());
        let m = &self.metrics;
        m.waiting_calls.store(stats.overall.waiting as i64, Ordering::Relaxed);
        m.live_calls.store(self.calls.len() as i64, Ordering::Relaxed);
        m.service_level_permille.store(
            stats.overall.service_level.map_or(-1, |s| (s * 1000.0).round() as i64),
            Ordering::Relaxed,
        );
        let mut by_state = [0i64; 8];
        for o in self.ops.values() {
            by_state[o.state.index()] += 1;
        }
        for (i, v) in by_state.iter().enumerate() {
            m.agents_by_state[i].store(*v, Ordering::Relaxed);
        }
        m.esl_connected.store(
            !self.nodes_up.is_empty() && self.nodes_up.values().all(|u| *u),
            Ordering::Relaxed,
        );
        self.sweep_board();
        self.to_boards(SupervisorEvent::Stats { stats: Box::new(stats) });
    }

    /// The second look at every call and agent (board.rs). Also done before each snapshot:
    /// the mirror must know what a board starting from that snapshot holds, or a later change
    /// back to what the mirror last had would be dropped as a repeat.
    fn sweep_board(&mut self) {
        // (what was marked changed is compared below like everything else)
        self.board.take_changed();
        // Every live call is compared in place: under a backlog there are thousands, and
        // building each one's view every tick would hold the engine up for milliseconds.
        let stale: Vec<String> = self
            .calls
            .values()
            .filter(|c| {
                let told = self.board.told_call(&c.key.uuid);
                let same = told.is_some_and(|v| self.call_view_is(v, c));
                debug_assert_eq!(same, told.is_some_and(|v| *v == self.call_view(c)));
                !same
            })
            .map(|c| c.key.uuid.clone())
            .collect();
        for uuid in stale {
            self.board.call_changed(&uuid);
        }
        for agent in self.ops.keys().copied().collect::<Vec<_>>() {
            self.board.agent_changed(agent);
        }
        self.flush_board();
        for uuid in self.board.vanished(|u| self.calls.contains_key(u)) {
            self.publish_call_gone(&uuid);
        }
    }

    // ---- events ------------------------------------------------------------------------

    fn handle(&mut self, ev: EngineEvent) {
        match ev {
            EngineEvent::CallStarted { info, cmds, resumed } => {
                self.call_started(*info, cmds, resumed)
            }
            EngineEvent::CallerContext { uuid, ctx } => {
                if let Some(c) = self.calls.get_mut(&uuid) {
                    c.context = *ctx;
                }
            }
            EngineEvent::IvrStep { uuid, label, digits } => {
                if let Some(c) = self.calls.get_mut(&uuid) {
                    c.ivr.push(label.clone());
                }
                self.step(&uuid, "ivr", serde_json::json!({"choice": label, "digits": digits}));
            }
            EngineEvent::IvrDone { uuid, outcome } => self.ivr_done(&uuid, outcome),
            EngineEvent::Channel { uuid, ev } => self.channel_event(&uuid, ev),
            EngineEvent::LegResult { call, leg, agent, offer, ok, at } => {
                self.leg_result(&call, leg, agent, offer, ok, at);
            }
            EngineEvent::CitizenLeg { call, leg, ok } => self.citizen_leg(&call, leg, ok),
            EngineEvent::Switch { node, ev, at } => self.switch_event(&node, &ev, at),
            EngineEvent::Attach { node, client } => {
                let (tx, mut rx) = mpsc::unbounded_channel::<String>();
                let c = client.clone();
                // Pipelined: each command goes out in queue order without waiting for the
                // previous reply (FreeSWITCH runs one connection's commands in order), so
                // the bridge of one call never waits behind the round trips of others.
                tokio::spawn(async move {
                    while let Some(cmd) = rx.recv().await {
                        let reply = match c.api_send(&cmd).await {
                            Ok(reply) => reply,
                            Err(e) => {
                                tracing::warn!(%cmd, error = %e, "FreeSWITCH command failed");
                                continue;
                            }
                        };
                        tokio::spawn(async move {
                            match reply.await {
                                Ok(r) if r.starts_with("-ERR") => {
                                    tracing::debug!(%cmd, reply = r.trim(), "FreeSWITCH refused");
                                }
                                Ok(_) => {}
                                Err(e) => {
                                    tracing::warn!(%cmd, error = %e, "FreeSWITCH command failed");
                                }
                            }
                        });
                    }
                });
                self.node_cmds.insert(node.clone(), tx);
                self.nodes.insert(node, client);
            }
            EngineEvent::SwitchState { node, connected } => {
                let was = self.nodes_up.insert(node.clone(), connected);
                if connected && was != Some(true) {
                    self.start_reconcile(node, false);
                }
            }
            EngineEvent::Reconcile { node, alive, legs, orphans, records, recheck } => {
                self.reconcile(&node, &alive, &legs, &orphans, records, recheck)
            }
            EngineEvent::ReconcileAgain { node } => {
                if self.nodes_up.get(&node) == Some(&true) {
                    self.start_reconcile(node, true);
                }
            }
            EngineEvent::RestoreCallbacks(records) => self.restore_callbacks(records),
            EngineEvent::DeskPresence { user, open } => {
                let n = self.desks.entry(user).or_default();
                *n = if open { n.saturating_add(1) } else { n.saturating_sub(1) };
            }
            EngineEvent::PopDelivered { call } => {
                if let Some(r) = self.pending_rings.remove(&call) {
                    self.metrics.pop_before_ring.fetch_add(1, Ordering::Relaxed);
                    self.ring(r);
                }
            }
            EngineEvent::PopDeadline { call } => {
                if let Some(r) = self.pending_rings.remove(&call) {
                    self.metrics.pop_late.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(call, "no desk confirmed the screen-pop in time; ringing");
                    self.ring(r);
                }
            }
            EngineEvent::Degraded(calls) => self.import_degraded(calls),
            EngineEvent::Command { cmd, reply } => {
                let r = self.command(cmd);
                let _ = reply.send(r);
            }
            EngineEvent::Shutdown => {}
        }
    }

    fn call_started(
        &mut self,
        info: CallInfo,
        cmds: mpsc::UnboundedSender<CallCmd>,
        resumed: Option<i64>,
    ) {
        let rec = info.record;
        let uuid = rec.key.uuid.clone();
        if let Some(existing) = self.calls.get_mut(&uuid) {
            // The socket came back for a call we track (re-attached): keep its state.
            if existing.phase == Phase::Ringing {
                let _ = cmds.send(CallCmd::Reserved);
            }
            existing.cmds = Some(cmds);
            self.step(&uuid, "reattached", serde_json::json!({}));
            return;
        }
        // Its socket arrived: this process drives it from now on, hang-up included.
        self.noted_outside.remove(&uuid);
        self.metrics.calls_started.fetch_add(u64::from(resumed.is_none()), Ordering::Relaxed);
        let now = self.now();
        let mut call = LiveCall::new(rec, now, Phase::Ivr);
        call.cmds = Some(cmds);
        call.seq = resumed.unwrap_or(0);
        call.ivr = vec![info.language];
        self.calls.insert(uuid.clone(), call);
        self.publish_call(&uuid);
    }

    fn ivr_done(&mut self, uuid: &str, outcome: IvrOutcome) {
        let now = self.now();
        let Some(c) = self.calls.get(uuid) else { return };
        let ivr_ms = now.since(c.started) as i64;
        let key = c.key.clone();
        match outcome {
            IvrOutcome::Queue { .. } if c.acd.is_some() => {}
            IvrOutcome::Queue { queue, priority } => {
                self.enqueue(uuid, &queue, priority, false, ivr_ms);
            }
            IvrOutcome::Callback { queue } => {
                let number = c.info.caller.clone();
                self.update(&key, CallUpdate { ivr_ms: Some(ivr_ms), ..Default::default() });
                match number {
                    Some(n) => {
                        self.create_callback(&key, &queue, n, "requested_in_ivr");
                    }
                    None => {
                        self.step(
                            uuid,
                            "callback_refused",
                            serde_json::json!({"why": "no caller number"}),
                        );
                    }
                }
            }
            IvrOutcome::Finished { reason } => {
                self.step(uuid, "ivr_finished", serde_json::json!({"reason": reason}));
                self.update(&key, CallUpdate { ivr_ms: Some(ivr_ms), ..Default::default() });
            }
        }
    }

    fn enqueue(&mut self, uuid: &str, queue: &str, priority: u8, callback: bool, ivr_ms: i64) {
        let Some(&qid) = self.queues.get(queue) else { return };
        let now = self.now();
        let acd = CallId(self.next_acd);
        self.next_acd += 1;
        let Some(c) = self.calls.get_mut(uuid) else { return };
        c.acd = Some(acd);
        c.queue = Some(queue.to_owned());
        c.priority = priority;
        c.queued = Some(now);
        let preferred = c
            .context
            .last_operator
            .map(|u| AgentId(u32::try_from(u).unwrap_or(u32::MAX)))
            .filter(|a| self.ops.contains_key(a));
        let caller = c.info.caller.clone().or_else(|| c.callback_to.clone());
        let key = c.key.clone();
        self.by_acd.insert(acd, uuid.to_owned());
        self.update(
            &key,
            CallUpdate {
                queue: Some(queue.to_owned()),
                priority: Some(i64::from(priority)),
                queued_at: Some(Utc::now()),
                ivr_ms: (!callback).then_some(ivr_ms),
                ..Default::default()
            },
        );
        self.step(uuid, "queued", serde_json::json!({"queue": queue, "priority": priority, "preferred_agent": preferred.map(|a| a.0)}));
        self.set_phase(uuid, Phase::Queued);
        let h = self.router.handle(
            Input::CallArrived(NewCall {
                call: acd,
                queue: qid,
                priority,
                skills: Vec::new(),
                caller_id: caller,
                preferred_agent: preferred,
                callback,
            }),
            now,
        );
        if let Handled::Ignored(why) = h {
            tracing::warn!(call = uuid, %why, "router refused the call");
        }
    }

    /// A callback task: its own record (direction `callback`), queued as a callback.
    fn create_callback(&mut self, origin: &CallKey, queue: &str, number: String, why: &str) {
        // One callback per call, named after it: importing or replaying twice cannot make
        // a second one.
        let key = CallKey { node: self.node_name.clone(), uuid: format!("cb-{}", origin.uuid) };
        if self.calls.contains_key(&key.uuid) {
            return;
        }
        let rec = NewCallRecord {
            key: key.clone(),
            direction: "callback".into(),
            caller: Some(number.clone()),
            caller_raw: number.clone(),
            presentation: "number".into(),
            dialled: number.clone(),
            line: None,
            carrier: None,
            started_at: Utc::now(),
        };
        self.writer.write(vec![CallOp::Open(rec.clone())]);
        self.metrics.callbacks_created.fetch_add(1, Ordering::Relaxed);
        let now = self.now();
        let uuid = key.uuid.clone();
        let mut call = LiveCall::new(rec, now, Phase::Queued);
        call.callback_to = Some(number);
        self.calls.insert(uuid.clone(), call);
        self.step(
            &uuid,
            "callback_for",
            serde_json::json!({"call": origin.uuid, "node": origin.node, "why": why}),
        );
        self.enqueue(&uuid, queue, 0, true, 0);
    }

    fn channel_event(&mut self, uuid: &str, ev: ChannelEvent) {
        let now = self.now();
        match ev {
            ChannelEvent::Hangup { cause } => self.caller_gone(uuid, &cause),
            ChannelEvent::Gone => self.detached(uuid),
            ChannelEvent::CallbackChosen => {
                // Only a call still waiting: one an operator was reserved for meanwhile goes
                // on to the operator (the caller's task resumes the music if it must).
                let Some(c) = self.calls.get(uuid) else { return };
                let (Some(acd), Phase::Queued, Some(_)) = (c.acd, c.phase, c.info.caller.as_ref())
                else {
                    return;
                };
                if self.router.handle(Input::CallbackRequested { call: acd }, now)
                    == Handled::Applied
                {
                    self.metrics.callbacks_created.fetch_add(1, Ordering::Relaxed);
                    self.step(uuid, "callback_chosen", serde_json::json!({"in_queue": true}));
                    self.becomes_callback(uuid);
                }
            }
            ChannelEvent::Bridged { other } => {
                self.step(uuid, "bridged", serde_json::json!({"other": other}));
            }
            ChannelEvent::Unbridged => {
                let talking = self.calls.get(uuid).is_some_and(|c| c.phase == Phase::Talking);
                if talking {
                    // The operator's leg left the bridge: the conversation is over.
                    if let Some(c) = self.calls.get_mut(uuid) {
                        c.operator_hung_up = true;
                        if let Some(tx) = &c.cmds {
                            let _ = tx.send(CallCmd::Hangup("NORMAL_CLEARING".into()));
                        }
                    }
                }
                self.step(uuid, "unbridged", serde_json::json!({}));
            }
            ChannelEvent::Held(held) => {
                let agent = if let Some(c) = self.calls.get_mut(uuid) {
                    if held {
                        c.hold_since.get_or_insert(now);
                    } else if let Some(s) = c.hold_since.take() {
                        c.hold_ms += now.since(s);
                    }
                    c.agent
                } else {
                    None
                };
                self.step(uuid, if held { "hold" } else { "unhold" }, serde_json::json!({}));
                if let Some(a) = agent {
                    self.to_operator(a, OperatorEvent::Held { call: uuid.to_owned(), held });
                }
            }
            ChannelEvent::Recording(path) => {
                if let Some(c) = self.calls.get(uuid) {
                    let key = c.key.clone();
                    self.update(
                        &key,
                        CallUpdate { recording: Some(path.clone()), ..Default::default() },
                    );
                }
                self.step(uuid, "recording", serde_json::json!({"path": path}));
            }
        }
    }

    /// The call's socket closed without a hang-up (FreeSWITCH or the network dropped it):
    /// the channel may well be alive. A waiting call is pulled back onto our socket; a
    /// bridged one is left alone (re-attaching would break the conversation) and followed
    /// by its hang-up event on the control connection.
    fn detached(&mut self, uuid: &str) {
        let Some(c) = self.calls.get_mut(uuid) else { return };
        c.cmds = None;
        let (node, phase) = (c.key.node.clone(), c.phase);
        self.step(uuid, "socket_lost", serde_json::json!({"phase": phase.name()}));
        if phase != Phase::Talking {
            self.reattach(&node, uuid);
        }
    }

    /// Brings a live channel (back) onto our outbound socket: FreeSWITCH runs the `socket`
    /// application inline, without its dialplan, and a new call task starts for it. False
    /// when this Kontakt has no outbound address to give.
    ///
    /// The inline extension replaces the rest of the public dialplan, so it carries the
    /// same way out: should this socket close too, the call goes on to degraded mode
    /// (`socket_resume` is still set on the channel) instead of ending with the extension.
    fn reattach(&self, node: &str, uuid: &str) -> bool {
        let Some(addr) = &self.outbound_addr else { return false };
        let degraded = kontakt_switch::vars::extensions::DEGRADED_TRANSFER;
        self.switch_api(
            node,
            format!("uuid_transfer {uuid} 'socket:{addr} async full,transfer:{degraded}' inline"),
        );
        true
    }

    /// The caller's channel hung up.
    fn caller_gone(&mut self, uuid: &str, cause: &str) {
        let now = self.now();
        let Some(c) = self.calls.get(uuid) else { return };
        if c.callback_to.is_some() {
            // A callback's "caller" is the citizen leg, reported by the switch events.
            return;
        }
        let phase = c.phase;
        let key = c.key.clone();
        let acd = c.acd;
        let mut set = CallUpdate {
            ended_at: Some(Utc::now()),
            hangup_cause: Some(cause.to_owned()),
            ..Default::default()
        };
        match phase {
            Phase::Ivr => {
                self.metrics.calls_ivr_ended.fetch_add(1, Ordering::Relaxed);
                set.end_reason = Some("ended_in_ivr".into());
                set.hangup_side = Some("caller".into());
                set.status = Some(CallStatus::Closed);
                if c.queue.is_none() {
                    set.ivr_ms = Some(now.since(c.started) as i64);
                }
            }
            Phase::Queued | Phase::Ringing if c.end_reason.is_some() => {
                // It left the queue by overflow (a message or voicemail): not an abandon.
                set.wait_ms = Some(c.queued.map_or(0, |q| now.since(q)) as i64);
                set.end_reason = c.end_reason.clone();
                set.status = Some(CallStatus::Closed);
            }
            Phase::Queued | Phase::Ringing => {
                let waited = c.queued.map_or(0, |q| now.since(q));
                set.wait_ms = Some(waited as i64);
                set.end_reason = Some("abandoned".into());
                set.hangup_side = Some("caller".into());
                set.status = Some(CallStatus::Closed);
                self.metrics.calls_abandoned.fetch_add(1, Ordering::Relaxed);
                let number = c.info.caller.clone();
                let queue = c.queue.clone();
                if let Some(acd) = acd {
                    self.router.handle(Input::CallerHangup { call: acd }, now);
                }
                if let (Some(min), Some(n), Some(q)) =
                    (self.cfg.abandoned_callback_after_secs, number, queue)
                    && waited >= min * 1000
                {
                    self.create_callback(&key, &q, n, "abandoned");
                }
            }
            Phase::Talking => {
                let talk = c.talk_before_ms + c.connected.map_or(0, |t| now.since(t));
                let mut hold = c.hold_ms;
                if let Some(s) = c.hold_since {
                    hold += now.since(s);
                }
                set.talk_ms = Some(talk as i64);
                set.hold_ms = Some(hold as i64);
                set.hangup_side = Some(
                    if c.end_reason.is_some() {
                        "kontakt"
                    } else if c.operator_hung_up {
                        "operator"
                    } else {
                        "caller"
                    }
                    .into(),
                );
                set.end_reason = Some(c.end_reason.clone().unwrap_or_else(|| "completed".into()));
                let agent = c.agent;
                let linked = c.link.is_some();
                set.status = Some(if linked { CallStatus::Closed } else { CallStatus::Ended });
                if let Some(acd) = acd {
                    self.router.handle(Input::CallerHangup { call: acd }, now);
                }
                if let Some(leg) = c.agent_leg.clone() {
                    self.legs.remove(&leg);
                    self.switch_api(&key.node, format!("uuid_kill {leg}"));
                }
                if let Some(a) = agent {
                    let ext = self.ops.get(&a).map(|o| o.b.extension.clone()).unwrap_or_default();
                    self.switch_api(&key.node, format!("db delete/kontakt_spymap/{ext}"));
                    if let Some(o) = self.ops.get_mut(&a) {
                        o.call = None;
                        if !linked {
                            o.wrap = Some((key.clone(), now));
                        }
                    }
                    self.publish_agent(a);
                    if linked {
                        self.router.handle(
                            Input::WrapUpDone { agent: a, disposition: "linked".into() },
                            now,
                        );
                    } else {
                        self.ended.insert(key.uuid.clone(), (key.clone(), Some(a), 0));
                    }
                    self.to_operator(
                        a,
                        OperatorEvent::Ended {
                            call: uuid.to_owned(),
                            wrap_up: !linked,
                            cause: Some(cause.to_owned()),
                        },
                    );
                }
            }
        }
        self.update(&key, set);
        self.step(uuid, "hangup", serde_json::json!({"cause": cause, "phase": phase.name()}));
        // The router's reaction (a withdrawn offer) still needs this call's identity.
        self.drain_outputs();
        self.forget_call(uuid);
    }

    /// Drops a call Kontakt no longer drives: from the live calls and the indexes that lead
    /// to it (its router id, its ringing offer's leg), and from the wall boards.
    fn forget_call(&mut self, uuid: &str) -> Option<LiveCall> {
        let c = self.calls.remove(uuid)?;
        if let Some(acd) = c.acd {
            self.by_acd.remove(&acd);
        }
        if let Some(o) = &c.offered {
            self.legs.remove(&o.leg);
        }
        self.publish_call_gone(uuid);
        Some(c)
    }

    fn leg_result(
        &mut self,
        uuid: &str,
        leg: String,
        agent: AgentId,
        offer: OfferId,
        ok: Result<(), String>,
        at: Instant,
    ) {
        let now = self.now();
        let Some(c) = self.calls.get(uuid) else {
            if ok.is_ok() {
                self.kill_leg_anywhere(&leg);
            }
            return;
        };
        let Some(acd) = c.acd else { return };
        let node = c.key.node.clone();
        match ok {
            Ok(()) => {
                if let Some(c) = self.calls.get_mut(uuid) {
                    c.agent_leg = Some(leg.clone());
                }
                match self.router.handle(Input::OfferAccepted { call: acd, agent, offer }, now) {
                    Handled::Applied => {
                        // Connect (or StartCallback) is among the outputs: act on it now,
                        // so the bridge command leaves before anything else is looked at.
                        self.drain_outputs_timed(Some(at));
                    }
                    Handled::Ignored(why) => {
                        tracing::info!(call = uuid, %why, "operator answered a stale offer; hanging the leg up");
                        self.switch_api(&node, format!("uuid_kill {leg}"));
                    }
                }
            }
            Err(cause) => {
                let reason = match cause.as_str() {
                    "USER_BUSY" => RejectReason::Busy,
                    "CALL_REJECTED" => RejectReason::Rejected,
                    _ => RejectReason::NoAnswer,
                };
                self.step(
                    uuid,
                    "offer_failed",
                    serde_json::json!({"agent": agent.0, "cause": cause}),
                );
                self.legs.remove(&leg);
                let h = self
                    .router
                    .handle(Input::OfferRejected { call: acd, agent, offer, reason }, now);
                if h.is_applied() {
                    self.to_operator(
                        agent,
                        OperatorEvent::OfferCancelled { call: uuid.to_owned(), reason: cause },
                    );
                    if let Some(c) = self.calls.get_mut(uuid) {
                        c.offered = None;
                        if let Some(tx) = &c.cmds {
                            let _ = tx.send(CallCmd::Unreserved);
                        }
                    }
                    if self.calls.get(uuid).is_some_and(|c| c.phase == Phase::Ringing) {
                        self.set_phase(uuid, Phase::Queued);
                    }
                }
            }
        }
    }

    fn citizen_leg(&mut self, uuid: &str, leg: String, ok: Result<(), String>) {
        let now = self.now();
        let Some(c) = self.calls.get_mut(uuid) else { return };
        let Some(acd) = c.acd else { return };
        let reached = ok.is_ok();
        if !reached {
            self.legs.remove(&leg);
        }
        if reached {
            c.citizen_leg = Some(leg.clone());
            self.legs.insert(leg.clone(), uuid.to_owned());
        } else if let Some(agent_leg) = c.agent_leg.take() {
            let node = c.key.node.clone();
            self.legs.remove(&agent_leg);
            self.switch_api(&node, format!("uuid_kill {agent_leg}"));
        }
        self.step(
            uuid,
            "callback_attempt",
            serde_json::json!({"reached": reached, "cause": ok.as_ref().err()}),
        );
        let cause = ok.err();
        self.router.handle(Input::CallbackResult { call: acd, reached }, now);
        if !reached && !self.router.has_call(acd) {
            // That was the last attempt: the router has let the callback go.
            self.callback_failed(uuid, cause);
            return;
        }
        if !reached {
            if let Some(c) = self.calls.get_mut(uuid) {
                c.agent = None;
                c.offered = None;
            }
            if self.calls.get(uuid).is_some_and(|c| c.phase != Phase::Queued) {
                self.set_phase(uuid, Phase::Queued);
            }
        }
    }

    fn switch_event(&mut self, node: &str, ev: &Event, at: Instant) {
        // Records are keyed by FreeSWITCH's switchname: a node configured under another
        // name would have its calls' commands sent nowhere once there are several nodes.
        if let Some(said) = ev.header("FreeSWITCH-Switchname")
            && said != node
            && self.misnamed.insert(node.to_owned())
        {
            tracing::warn!(
                configured = node,
                switchname = said,
                "a FreeSWITCH node calls itself by another name: set [esl] name (or the node's name) to its switchname"
            );
        }
        if let Some(ts) = ev.timestamp_micros() {
            let now_us = Utc::now().timestamp_micros();
            self.metrics.esl_event_lag_us.store(now_us - ts as i64, Ordering::Relaxed);
        }
        let _ = at;
        // Hold is not among the events FreeSWITCH's `myevents` sends on a call's socket: it
        // comes on the control connection, for the caller's channel (or a callback's
        // citizen leg).
        if let Some(held) = match ev.name() {
            Some("CHANNEL_HOLD") => Some(true),
            Some("CHANNEL_UNHOLD") => Some(false),
            _ => None,
        } {
            let Some(id) = ev.unique_id() else { return };
            let uuid = if self.calls.contains_key(id) {
                Some(id.to_owned())
            } else {
                self.legs
                    .get(id)
                    .filter(|u| {
                        self.calls.get(*u).is_some_and(|c| c.citizen_leg.as_deref() == Some(id))
                    })
                    .cloned()
            };
            if let Some(uuid) = uuid {
                self.channel_event(&uuid, ChannelEvent::Held(held));
            }
            return;
        }
        if ev.name() != Some("CHANNEL_HANGUP_COMPLETE") && ev.name() != Some("CHANNEL_HANGUP") {
            return;
        }
        let Some(leg) = ev.unique_id() else { return };
        if let Some(Outside { key, last_seq, answered, phase, end_reason }) =
            self.noted_outside.remove(leg)
        {
            // A call we no longer drove has hung up: its record is closed now, at the time
            // the switch gives, rather than by the next reconciliation.
            let cause = ev.hangup_cause().unwrap_or("NORMAL_CLEARING").to_owned();
            let at = ev
                .timestamp_micros()
                .and_then(|us| DateTime::<Utc>::from_timestamp_micros(us as i64))
                .unwrap_or_else(Utc::now);
            self.writer.write(vec![
                CallOp::Step {
                    key: key.clone(),
                    seq: last_seq + 1,
                    at,
                    kind: "hangup".into(),
                    detail: serde_json::json!({"cause": cause, "phase": phase}),
                },
                CallOp::Update {
                    key,
                    set: CallUpdate {
                        ended_at: Some(at),
                        hangup_cause: Some(cause),
                        end_reason: Some(end_reason.into()),
                        // An answered call still wants its appeal link.
                        status: Some(if answered { CallStatus::Ended } else { CallStatus::Closed }),
                        ..Default::default()
                    },
                },
            ]);
            return;
        }
        if self.calls.get(leg).is_some_and(|c| c.cmds.is_none() && c.callback_to.is_none()) {
            // A call whose socket we lost: the control connection tells us it ended.
            let cause = ev.hangup_cause().unwrap_or("NORMAL_CLEARING").to_owned();
            self.caller_gone(leg, &cause);
            return;
        }
        let Some(uuid) = self.legs.remove(leg) else { return };
        let cause = ev.hangup_cause().unwrap_or("NORMAL_CLEARING").to_owned();
        let Some(c) = self.calls.get_mut(&uuid) else { return };
        if c.callback_to.is_some() {
            // Either leg of a connected callback hanging up ends it.
            if c.phase == Phase::Talking {
                let other = if c.citizen_leg.as_deref() == Some(leg) {
                    c.agent_leg.clone()
                } else {
                    c.operator_hung_up = true;
                    c.citizen_leg.clone()
                };
                let node = c.key.node.clone();
                if let Some(o) = other {
                    self.legs.remove(&o);
                    self.switch_api(&node, format!("uuid_kill {o}"));
                }
                self.end_callback(&uuid, &cause);
            }
            return;
        }
        if c.phase == Phase::Talking && c.agent_leg.as_deref() == Some(leg) {
            c.operator_hung_up = true;
            if let Some(tx) = &c.cmds {
                let _ = tx.send(CallCmd::Hangup("NORMAL_CLEARING".into()));
            } else {
                // No socket (taken up again after a restart): the caller is hung up over
                // the control connection, or the switch would run the rest of the dialplan.
                let node = c.key.node.clone();
                self.switch_api(&node, format!("uuid_kill {uuid} NORMAL_CLEARING"));
            }
        }
    }

    /// A connected callback ended: same bookkeeping as an inbound call's end.
    fn end_callback(&mut self, uuid: &str, cause: &str) {
        if let Some(c) = self.calls.get_mut(uuid) {
            // Reuse the inbound path: it treats the call as talking and starts wrap-up.
            c.callback_to = None;
        }
        self.caller_gone(uuid, cause);
    }

    // ---- router outputs ----------------------------------------------------------------

    fn drain_outputs(&mut self) {
        self.drain_outputs_timed(None);
    }

    fn drain_outputs_timed(&mut self, event_at: Option<Instant>) {
        while let Some(out) = self.router.poll_output() {
            self.output(out, event_at);
        }
    }

    fn output(&mut self, out: Output, event_at: Option<Instant>) {
        let now = self.now();
        match out {
            Output::Offer { call, agent, offer, ring_timeout_ms, kind } => {
                let decided = Instant::now();
                let Some(uuid) = self.by_acd.get(&call).cloned() else { return };
                let Some(op) = self.ops.get(&agent) else { return };
                let b = op.b.clone();
                let leg = uuid::Uuid::new_v4().to_string();
                let Some(c) = self.calls.get_mut(&uuid) else { return };
                c.offered = Some(Offered { leg: leg.clone(), at: now });
                c.agent = Some(agent);
                let waited = c.queued.map_or(0, |q| now.since(q));
                let pop = ScreenPop {
                    call: uuid.clone(),
                    node: c.key.node.clone(),
                    offer: offer.0,
                    kind: match kind {
                        OfferKind::Inbound => "inbound".into(),
                        OfferKind::Callback => "callback".into(),
                    },
                    caller: c.info.caller.clone(),
                    presentation: c.info.presentation.clone(),
                    line: c.info.line.clone(),
                    carrier: c.info.carrier.clone(),
                    dialled: c.info.dialled.clone(),
                    queue: c.queue.clone().unwrap_or_default(),
                    priority: c.priority,
                    waited_ms: waited,
                    ring_timeout_ms,
                    ivr: c.ivr.clone(),
                    context: c.context.clone(),
                    outages: c.context.outages.clone(),
                };
                let node = c.key.node.clone();
                let caller = c.info.caller.clone().unwrap_or_default();
                if let Some(tx) = &c.cmds {
                    let _ = tx.send(CallCmd::Reserved);
                }
                if let Some(o) = self.ops.get_mut(&agent) {
                    o.call = Some(uuid.clone());
                }
                self.publish_agent(agent);
                // The screen-pop goes out before the phone rings.
                if let Some(o) = self.ops.get_mut(&agent) {
                    o.pop = Some(Arc::new(pop.clone()));
                }
                self.to_operator(agent, OperatorEvent::ScreenPop(Box::new(pop)));
                self.metrics.offer_to_pop.observe_us(decided.elapsed().as_micros() as u64);
                self.legs.insert(leg.clone(), uuid.clone());
                self.step(
                    &uuid,
                    "offer",
                    serde_json::json!({"agent": b.user_id, "offer": offer.0, "leg": leg}),
                );
                self.set_phase(&uuid, Phase::Ringing);
                if let Some(c) = self.calls.get(&uuid)
                    && c.info.direction == "inbound"
                    && kind == OfferKind::Inbound
                {
                    let key = c.key.clone();
                    self.update(
                        &key,
                        CallUpdate { offered_at: Some(Utc::now()), ..Default::default() },
                    );
                }
                let secs = ring_timeout_ms.div_ceil(1000) + 1;
                let cmd = format!(
                    "originate {{origination_uuid={leg},originate_timeout={secs},ignore_early_media=true,kontakt_call={uuid},kontakt_operator={ext},origination_caller_id_number={cid},origination_caller_id_name=Kontakt}}{ep} &park()",
                    ext = b.extension,
                    cid = if caller.is_empty() { "anonymous".to_owned() } else { caller },
                    ep = b.endpoint,
                );
                let ring = PendingRing { uuid: uuid.clone(), node, cmd, leg, agent, offer };
                let lead = self.cfg.screen_pop_lead_ms;
                if lead > 0 && self.desks.get(&b.user_id).is_some_and(|n| *n > 0) {
                    // The person sees who calls before their phone rings.
                    self.pending_rings.insert(uuid.clone(), ring);
                    let tx = self.tx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(lead)).await;
                        let _ = tx.send(EngineEvent::PopDeadline { call: uuid });
                    });
                } else {
                    self.ring(ring);
                }
            }
            Output::CancelOffer { call, agent, reason } => {
                let Some(uuid) = self.by_acd.get(&call).cloned() else { return };
                // Not rung yet: nothing to cancel on the switch.
                self.pending_rings.remove(&uuid);
                let reason_s = match reason {
                    CancelReason::RingTimeout => "ring_timeout",
                    CancelReason::CallerHangup => "caller_hangup",
                    CancelReason::AgentPaused => "agent_paused",
                    CancelReason::AgentLoggedOut => "agent_logged_out",
                };
                if let Some(c) = self.calls.get_mut(&uuid) {
                    let node = c.key.node.clone();
                    if let Some(o) = c.offered.take() {
                        self.legs.remove(&o.leg);
                        let leg = o.leg;
                        self.switch_api(&node, format!("uuid_kill {leg} ORIGINATOR_CANCEL"));
                    }
                    if let Some(c) = self.calls.get_mut(&uuid) {
                        c.agent = None;
                        if reason != CancelReason::CallerHangup
                            && let Some(tx) = &c.cmds
                        {
                            let _ = tx.send(CallCmd::Unreserved);
                        }
                    }
                }
                if let Some(o) = self.ops.get_mut(&agent) {
                    o.call = None;
                }
                self.publish_agent(agent);
                self.step(
                    &uuid,
                    "offer_cancelled",
                    serde_json::json!({"agent": agent.0, "reason": reason_s}),
                );
                self.to_operator(
                    agent,
                    OperatorEvent::OfferCancelled { call: uuid.clone(), reason: reason_s.into() },
                );
                if self.calls.get(&uuid).is_some_and(|c| c.phase == Phase::Ringing) {
                    self.set_phase(&uuid, Phase::Queued);
                }
            }
            Output::Connect { call, agent } => {
                let Some(uuid) = self.by_acd.get(&call).cloned() else { return };
                let Some(c) = self.calls.get_mut(&uuid) else { return };
                let node = c.key.node.clone();
                let Some(agent_leg) = c.agent_leg.clone() else { return };
                let (a, b) = match &c.citizen_leg {
                    Some(citizen) => (citizen.clone(), agent_leg.clone()),
                    None => (uuid.clone(), agent_leg.clone()),
                };
                // First the bridge: nothing else on this path may delay it.
                self.switch_api(&node, format!("uuid_bridge {a} {b}"));
                if let Some(at) = event_at {
                    self.metrics.answer_to_bridge.observe_us(at.elapsed().as_micros() as u64);
                }
                let Some(c) = self.calls.get_mut(&uuid) else { return };
                let ring_ms = c.offered.as_ref().map_or(0, |o| now.since(o.at));
                let wait_ms = c.queued.map_or(0, |q| now.since(q));
                c.connected = Some(now);
                c.offered = None;
                c.agent = Some(agent);
                if let Some(tx) = &c.cmds {
                    let _ = tx.send(CallCmd::Connected);
                }
                let key = c.key.clone();
                let user = self.ops.get(&agent).map(|o| o.b.user_id);
                let ext = self.ops.get(&agent).map(|o| o.b.extension.clone()).unwrap_or_default();
                self.metrics.calls_answered.fetch_add(1, Ordering::Relaxed);
                self.update(
                    &key,
                    CallUpdate {
                        agent_user_id: user,
                        connected_at: Some(Utc::now()),
                        ring_ms: Some(ring_ms as i64),
                        wait_ms: Some(wait_ms as i64),
                        ..Default::default()
                    },
                );
                self.step(&uuid, "connected", serde_json::json!({"agent": user, "leg": agent_leg}));
                if self.cfg.recording.enabled {
                    let day = Utc::now().format("%Y/%m/%d");
                    let path = format!("{}/{day}/{}.wav", self.cfg.recording.dir, key.uuid);
                    self.switch_api(&node, format!("uuid_record {a} start {path}"));
                    self.update(&key, CallUpdate { recording: Some(path), ..Default::default() });
                }
                self.switch_api(&node, format!("db insert/kontakt_spymap/{ext}/{agent_leg}"));
                self.set_phase(&uuid, Phase::Talking);
                self.to_operator(agent, OperatorEvent::Connected { call: uuid });
            }
            Output::StartCallback { call, agent, attempt } => {
                let Some(uuid) = self.by_acd.get(&call).cloned() else { return };
                let Some(c) = self.calls.get(&uuid) else { return };
                let Some(number) = c.callback_to.clone() else { return };
                let node = self.default_node();
                let leg = uuid::Uuid::new_v4().to_string();
                // Known from the dial on: reconciliation hangs up legs nobody knows.
                self.legs.insert(leg.clone(), uuid.clone());
                let dial = self.cfg.callback_dial.replace("{number}", &number);
                self.step(
                    &uuid,
                    "callback_dial",
                    serde_json::json!({"attempt": attempt, "agent": agent.0, "leg": leg}),
                );
                let cmd = format!(
                    "originate {{origination_uuid={leg},originate_timeout=40,kontakt_call={uuid},origination_caller_id_number={cid}}}{dial} &park()",
                    cid = self.cfg.callback_caller_id,
                );
                self.spawn_originate(node, cmd, move |ok| {
                    Some(EngineEvent::CitizenLeg { call: uuid, leg, ok })
                });
            }
            Output::AnnouncePosition { call, position, ewt_ms } => {
                let Some(uuid) = self.by_acd.get(&call) else { return };
                if let Some(tx) = self.calls.get(uuid).and_then(|c| c.cmds.as_ref()) {
                    let _ = tx.send(CallCmd::Announce { position, ewt_ms });
                }
                let uuid = uuid.clone();
                self.step(
                    &uuid,
                    "announce",
                    serde_json::json!({"position": position, "ewt_ms": ewt_ms}),
                );
            }
            Output::Overflow { call, queue, reason, action } => {
                let Some(uuid) = self.by_acd.get(&call).cloned() else { return };
                self.step(
                    &uuid,
                    "overflow",
                    serde_json::json!({"queue": queue.0, "reason": reason, "action": action}),
                );
                match action {
                    OverflowAction::Queue(q) => {
                        let name = self.queue_names.get(q.0 as usize).cloned();
                        if let Some(c) = self.calls.get_mut(&uuid) {
                            c.queue = name.clone();
                            let key = c.key.clone();
                            self.update(&key, CallUpdate { queue: name, ..Default::default() });
                        }
                        self.publish_call(&uuid);
                    }
                    OverflowAction::Callback => self.becomes_callback(&uuid),
                    OverflowAction::Message(prompt) => {
                        if let Some(c) = self.calls.get_mut(&uuid) {
                            c.end_reason = Some("overflow_message".into());
                            if let Some(tx) = &c.cmds {
                                let _ = tx.send(CallCmd::PlayAndHangup(prompt));
                            }
                        }
                    }
                    OverflowAction::Voicemail(prompt) => self.voicemail(&uuid, prompt),
                }
            }
            Output::AgentStateChanged { agent, state, reason, .. } => {
                let Some(o) = self.ops.get_mut(&agent) else { return };
                o.state = state;
                o.reason = reason.clone();
                o.since = Utc::now();
                self.to_operator(
                    agent,
                    OperatorEvent::State { state: state.name().into(), reason },
                );
                self.publish_agent(agent);
            }
            Output::QueueLog(_) => {}
        }
    }

    /// The router let a waiting call go to voicemail: the caller hears the greeting and
    /// leaves a message, recorded next to the call recordings; the record names the file
    /// and, when the number is known, a callback task answers the message.
    fn voicemail(&mut self, uuid: &str, prompt: String) {
        let Some(c) = self.calls.get_mut(uuid) else { return };
        let file = format!(
            "{}/voicemail/{}/{uuid}.wav",
            self.cfg.recording.dir.trim_end_matches('/'),
            Utc::now().format("%Y/%m/%d")
        );
        c.end_reason = Some("voicemail".into());
        if let Some(tx) = &c.cmds {
            let _ = tx.send(CallCmd::Voicemail {
                prompt,
                file: file.clone(),
                max_secs: self.cfg.recording.voicemail_max_secs,
            });
        }
        let (key, number, queue) = (c.key.clone(), c.info.caller.clone(), c.queue.clone());
        self.step(uuid, "voicemail", serde_json::json!({"file": file}));
        if let (Some(n), Some(q)) = (number, queue) {
            self.create_callback(&key, &q, n, "voicemail");
        }
    }

    /// Rings the operator's phone for an offer.
    fn ring(&self, r: PendingRing) {
        let PendingRing { uuid, node, cmd, leg, agent, offer } = r;
        self.spawn_originate(node, cmd, move |ok| {
            Some(EngineEvent::LegResult { call: uuid, leg, agent, offer, ok, at: Instant::now() })
        });
    }

    /// A waiting call the router now holds as a queued callback (keeping its place): the
    /// caller hears the confirmation and is hung up; the router dials them back later.
    fn becomes_callback(&mut self, uuid: &str) {
        let Some(c) = self.calls.get_mut(uuid) else { return };
        if let Some(tx) = &c.cmds {
            let _ = tx.send(CallCmd::PlayAndHangup("callback-confirmed".into()));
        }
        c.callback_to = c.info.caller.clone();
        c.cmds = None;
        // The record says a callback is owed, so a restart before it is made restores it.
        let key = c.key.clone();
        self.update(
            &key,
            CallUpdate { end_reason: Some(CALLBACK_QUEUED.into()), ..Default::default() },
        );
    }

    /// Reads the callbacks owed from before this start, retrying while the database is away.
    fn load_owed_callbacks(&self) {
        let (tx, store) = (self.tx.clone(), self.store.clone());
        tokio::spawn(async move {
            loop {
                match store.calls_in_status(CallStatus::Live, None).await {
                    Ok(records) => {
                        let owed = records.into_iter().filter(owed_callback).collect();
                        let _ = tx.send(EngineEvent::RestoreCallbacks(owed));
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read owed callbacks yet; retrying");
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                }
            }
        });
    }

    /// Every minute, the new rows of FreeSWITCH's CDR files: calls taken in degraded mode
    /// that no record knows yet go to the engine. A file is read from where the last round
    /// stopped (from its start after a rotation or a restart); a round that cannot ask the
    /// database is read again next time.
    fn watch_degraded_cdrs(&self) {
        if self.cfg.degraded_cdr_files.is_empty() {
            return;
        }
        let (tx, store) = (self.tx.clone(), self.store.clone());
        let files = self.cfg.degraded_cdr_files.clone();
        tokio::spawn(async move {
            let mut tails: HashMap<String, crate::cdr::CdrTail> = HashMap::new();
            let mut absent = std::collections::HashSet::new();
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                for f in &files {
                    let tail = tails.entry(f.clone()).or_default();
                    match degraded_rows(f, tail, &*store).await {
                        Ok(calls) => {
                            absent.remove(f);
                            if !calls.is_empty() && tx.send(EngineEvent::Degraded(calls)).is_err() {
                                return;
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            if absent.insert(f.clone()) {
                                tracing::info!(file = %f, "no CDR file here: degraded-mode calls are not imported from it");
                            }
                        }
                        Err(e) => {
                            tracing::warn!(file = %f, error = %e, "cannot read the CDR file; retrying")
                        }
                    }
                }
            }
        });
    }

    /// Gives degraded-mode calls their records and owed callbacks.
    fn import_degraded(&mut self, calls: Vec<(crate::cdr::DegradedCall, bool)>) {
        let mut imported = 0;
        for (d, known) in calls {
            let node = if d.node.is_empty() { self.node_name.clone() } else { d.node.clone() };
            let key = CallKey { node, uuid: d.uuid.clone() };
            let detail = serde_json::json!({
                "reason": d.reason, "outcome": d.outcome, "callback_number": d.callback_number,
                "recording": d.recording, "bridged_to": d.bridged_to,
            });
            if self.calls.contains_key(&d.uuid) {
                // Still tracked from before its socket was lost: the call's own record.
                self.step(&d.uuid, "degraded", detail);
            } else if !known {
                let ident = crate::caller::identify(|_| None, Some(d.caller.as_str()));
                let line = self.cfg.line_for(&d.dialled);
                let rec = NewCallRecord {
                    key: key.clone(),
                    direction: "inbound".into(),
                    caller: ident.e164.clone(),
                    caller_raw: ident.raw.clone(),
                    presentation: ident.presentation.as_str().into(),
                    dialled: d.dialled.clone(),
                    line: d.line.clone().or_else(|| line.map(|l| l.name.clone())),
                    carrier: d.carrier.clone().or_else(|| line.and_then(|l| l.carrier.clone())),
                    started_at: d.started_at,
                };
                let ended = d.ended_at.unwrap_or(d.started_at);
                self.writer.write(vec![
                    CallOp::Open(rec),
                    CallOp::Step {
                        key: key.clone(),
                        seq: 1,
                        at: ended,
                        kind: "degraded".into(),
                        detail,
                    },
                    CallOp::Update {
                        key: key.clone(),
                        set: CallUpdate {
                            connected_at: d
                                .answered_at
                                .filter(|_| d.outcome == "operator_answered"),
                            ended_at: Some(ended),
                            hangup_cause: Some(d.hangup_cause.clone()),
                            end_reason: Some(format!("degraded_{}", d.outcome)),
                            status: Some(CallStatus::Closed),
                            ..Default::default()
                        },
                    },
                ]);
                imported += 1;
            }
            // The number the caller keyed (or called from) when they asked for a callback;
            // a caller who hung up unheard is called back like any abandoned caller.
            let number = match d.outcome.as_str() {
                "callback_requested" => d.callback_number.as_deref().or(Some(d.caller.as_str())),
                "abandoned" if self.cfg.abandoned_callback_after_secs.is_some() => {
                    Some(d.caller.as_str())
                }
                _ => None,
            };
            if let Some(n) = number.and_then(|n| crate::caller::identify(|_| None, Some(n)).e164) {
                let queue = self.cfg.default_queue.clone();
                self.create_callback(&key, &queue, n, "degraded");
            }
        }
        if imported > 0 {
            tracing::info!(imported, "calls taken in degraded mode imported from the CDR");
        }
    }

    /// Puts callbacks owed from before this start back in their queues (the router does not
    /// survive a restart; the records do).
    fn restore_callbacks(&mut self, records: Vec<kontakt_store::CallRecord>) {
        let now = self.now();
        let mut restored = 0;
        for r in records {
            let Some(number) = r.caller.clone() else { continue };
            if self.calls.contains_key(&r.key.uuid) {
                continue;
            }
            let queue = r
                .queue
                .clone()
                .filter(|q| self.queues.contains_key(q))
                .unwrap_or_else(|| self.cfg.default_queue.clone());
            let uuid = r.key.uuid.clone();
            let mut call = LiveCall::new(record_of(&r), now, Phase::Queued);
            call.callback_to = Some(number);
            call.seq = r.last_seq;
            self.calls.insert(uuid.clone(), call);
            self.step(&uuid, "callback_restored", serde_json::json!({"queue": queue}));
            self.enqueue(&uuid, &queue, 0, true, 0);
            restored += 1;
        }
        if restored > 0 {
            tracing::info!(restored, "callbacks owed from before the restart are queued again");
        }
    }

    /// The router gave up on a callback after its last attempt: the record is closed.
    fn callback_failed(&mut self, uuid: &str, last_cause: Option<String>) {
        let Some(key) = self.calls.get(uuid).map(|c| c.key.clone()) else { return };
        self.update(
            &key,
            CallUpdate {
                ended_at: Some(Utc::now()),
                end_reason: Some("callback_failed".into()),
                status: Some(CallStatus::Closed),
                ..Default::default()
            },
        );
        self.step(uuid, "callback_failed", serde_json::json!({"last_cause": last_cause}));
        self.forget_call(uuid);
    }

    /// The control connection of a node; with a single node, that one.
    fn client(&self, node: &str) -> Option<InboundClient> {
        self.nodes.get(node).cloned().or_else(|| {
            if self.nodes.len() == 1 { self.nodes.values().next().cloned() } else { None }
        })
    }

    fn default_node(&self) -> String {
        self.nodes_up.keys().next().cloned().unwrap_or_else(|| self.node_name.clone())
    }

    fn kill_leg_anywhere(&self, leg: &str) {
        let node = self.default_node();
        self.switch_api(&node, format!("uuid_kill {leg}"));
    }

    /// Queues an `api` command for a node; commands run in the order they were queued.
    fn switch_api(&self, node: &str, cmd: String) {
        self.switch_api_seq(node, vec![cmd]);
    }

    /// Queues `api` commands for a node, in order.
    fn switch_api_seq(&self, node: &str, cmds: Vec<String>) {
        let tx = self.node_cmds.get(node).or_else(|| {
            if self.node_cmds.len() == 1 { self.node_cmds.values().next() } else { None }
        });
        let Some(tx) = tx else {
            tracing::warn!(node, ?cmds, "no control connection to this node");
            return;
        };
        for cmd in cmds {
            let _ = tx.send(cmd);
        }
    }

    /// `bgapi originate …`; the result (answered, or the hang-up cause) comes back as an
    /// event.
    fn spawn_originate(
        &self,
        node: String,
        cmd: String,
        done: impl FnOnce(Result<(), String>) -> Option<EngineEvent> + Send + 'static,
    ) {
        let tx = self.tx.clone();
        let client = self.client(&node);
        tokio::spawn(async move {
            let ok = match client {
                None => Err("NO_CONTROL_CONNECTION".to_owned()),
                Some(c) => match c.bgapi_with_timeout(&cmd, Duration::from_secs(120)).await {
                    Ok(ev) => {
                        let body = ev.body().unwrap_or_default().trim().to_owned();
                        if body.starts_with("+OK") {
                            Ok(())
                        } else {
                            Err(body.trim_start_matches("-ERR").trim().to_owned())
                        }
                    }
                    Err(e) => Err(format!("ESL: {e}")),
                },
            };
            if let Some(ev) = done(ok) {
                let _ = tx.send(ev);
            }
        });
    }

    // ---- reconciliation ----------------------------------------------------------------

    fn start_reconcile(&self, node: String, recheck: bool) {
        let tx = self.tx.clone();
        let store = self.store.clone();
        let Some(client) = self.client(&node) else { return };
        // Legs rung by this process need no questions (at a start there are none).
        let known: std::collections::HashSet<String> = self.legs.keys().cloned().collect();
        tokio::spawn(async move {
            // Records first, channels second: a record in the list was opened before the
            // channels were listed, so a live channel of it cannot be missed.
            let records = match store.calls_in_status(CallStatus::Live, None).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read live call records for reconciliation");
                    return;
                }
            };
            let channels = match client.api("show channels as json").await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list channels for reconciliation");
                    return;
                }
            };
            let alive = parse_channels(&channels);
            let mut legs = Vec::new();
            for ch in alive.iter().filter(|c| c.direction == "outbound" && !known.contains(&c.uuid))
            {
                // `show channels` has no channel variables: ask the leg which call it serves.
                let Some(call) = leg_var(&client, &ch.uuid, "kontakt_call").await else {
                    continue;
                };
                let operator = leg_var(&client, &ch.uuid, "kontakt_operator").await;
                legs.push(LegRow { uuid: ch.uuid.clone(), call, operator });
            }
            // Callers sitting in the socket application of a process that hung before it
            // recorded them.
            let live: std::collections::HashSet<&str> =
                records.iter().map(|r| r.key.uuid.as_str()).collect();
            let waiting: Vec<String> = alive
                .iter()
                .filter(|c| c.direction == "inbound" && c.application == "socket")
                .filter(|c| !live.contains(c.uuid.as_str()))
                .map(|c| c.uuid.clone())
                .collect();
            let orphans = if waiting.is_empty() {
                Vec::new()
            } else {
                match store.calls_known(&waiting).await {
                    Ok(known) => {
                        let known: std::collections::HashSet<String> = known.into_iter().collect();
                        waiting.into_iter().filter(|u| !known.contains(u)).collect()
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot look up callers without a live record");
                        Vec::new()
                    }
                }
            };
            let _ =
                tx.send(EngineEvent::Reconcile { node, alive, legs, orphans, records, recheck });
        });
    }

    /// After (re)connecting, and every minute: records of calls that ended while nobody
    /// watched are closed with an explicit reason; calls from before this engine started that
    /// are still waiting (parked, in the menu, on music) are re-attached to our socket; calls
    /// the dialplan took over (degraded mode) are left alone and noted.
    fn reconcile(
        &mut self,
        node: &str,
        alive: &[ChannelRow],
        legs: &[LegRow],
        orphans: &[String],
        records: Vec<kontakt_store::CallRecord>,
        recheck: bool,
    ) {
        let alive: HashMap<&str, &ChannelRow> =
            alive.iter().map(|c| (c.uuid.as_str(), c)).collect();
        let resumed = self.reconcile_legs(node, &alive, legs, &records);
        let adopted = self.adopt_orphans(node, orphans, recheck);
        // Calls whose socket we lost: gone → closed; still waiting → asked for again (the
        // first request may have gone down with the control connection).
        // A call named after a node that is not attached belongs to the only node there is
        // (a switchname other than the configured name; warned about once).
        let ours = |n: &str| n == node || (self.nodes.len() == 1 && !self.nodes.contains_key(n));
        // A caller the dialplan took over meanwhile (degraded mode: ringing the fallback
        // phones, in conversation on one, leaving a message) is left to it: pulling it back
        // could cut a conversation off, and FreeSWITCH does not say whether one is going on.
        let detached: Vec<(String, Option<String>, Phase)> = self
            .calls
            .values()
            .filter(|c| c.cmds.is_none() && c.callback_to.is_none() && ours(&c.key.node))
            .map(|c| {
                let app = alive.get(c.key.uuid.as_str()).map(|ch| ch.application.clone());
                (c.key.uuid.clone(), app, c.phase)
            })
            .collect();
        for (uuid, app, phase) in detached {
            match app {
                None => self.caller_gone(&uuid, "LOST_WHILE_DETACHED"),
                Some(_) if phase == Phase::Talking => {}
                Some(app) if waits_for_kontakt(&app) => {
                    self.reattach(node, &uuid);
                }
                Some(app) => self.leave_to_dialplan(&uuid, &app),
            }
        }
        let mut closed = 0;
        let mut reattached = 0;
        let mut behind_journal = 0;
        for r in records {
            // Another attached node's call is that node's business.
            if r.key.node != node && self.nodes.contains_key(&r.key.node) {
                continue;
            }
            if self.calls.contains_key(&r.key.uuid) || owed_callback(&r) {
                continue;
            }
            if let Some(ch) = alive.get(r.key.uuid.as_str()) {
                let waiting = waits_for_kontakt(&ch.application);
                if r.started_at < self.started_at && waiting {
                    if self.reattach(node, &r.key.uuid) {
                        reattached += 1;
                        // A caller who hangs up before the socket arrives is closed by
                        // that hang-up, not a minute later by the next round.
                        self.noted_outside.insert(
                            r.key.uuid.clone(),
                            Outside {
                                key: r.key.clone(),
                                last_seq: r.last_seq,
                                answered: r.connected_at.is_some(),
                                phase: "reattaching",
                                end_reason: "ended_while_kontakt_away",
                            },
                        );
                    }
                } else if !waiting && !self.noted_outside.contains_key(&r.key.uuid) {
                    self.noted_outside.insert(
                        r.key.uuid.clone(),
                        Outside {
                            key: r.key.clone(),
                            last_seq: r.last_seq + 1,
                            answered: r.connected_at.is_some(),
                            phase: "outside_kontakt",
                            end_reason: "ended_outside_kontakt",
                        },
                    );
                    self.writer.write(vec![CallOp::Step {
                        key: r.key.clone(),
                        seq: r.last_seq + 1,
                        at: Utc::now(),
                        kind: "outside_kontakt".into(),
                        detail: serde_json::json!({"application": ch.application}),
                    }]);
                }
                continue;
            }
            // Only another process's calls can have ended unseen: this one's own records
            // get their end from this process. And while the journal holds writes, the
            // database is behind — a record still "live" there may be closed in the queue;
            // closing it here would overwrite how the call really ended (next round).
            if r.started_at >= self.started_at {
                continue;
            }
            if self.writer.stats().journal_depth.load(Ordering::Relaxed) > 0 {
                behind_journal += 1;
                continue;
            }
            closed += 1;
            self.noted_outside.remove(&r.key.uuid);
            let ended = [r.connected_at, r.queued_at, r.offered_at]
                .into_iter()
                .flatten()
                .max()
                .unwrap_or(r.started_at);
            self.metrics.calls_reconciled_closed.fetch_add(1, Ordering::Relaxed);
            self.writer.write(vec![CallOp::Update {
                key: r.key.clone(),
                set: CallUpdate {
                    ended_at: Some(ended),
                    end_reason: Some("ended_while_kontakt_away".into()),
                    hangup_cause: Some("UNKNOWN".into()),
                    status: Some(CallStatus::Closed),
                    ..Default::default()
                },
            }]);
        }
        if behind_journal > 0 {
            // Those records are looked at again soon rather than at the next minute's
            // round: the journal drains in seconds once the database answers. (While it
            // does not, the next look fails to read the records and stops there.)
            self.reconcile_again(node, JOURNAL_RECHECK);
        }
        if closed + reattached + resumed + adopted + behind_journal > 0 {
            tracing::info!(
                node,
                closed,
                reattached,
                resumed,
                adopted,
                behind_journal,
                "reconciled call records with FreeSWITCH"
            );
        }
    }

    /// A call whose socket is gone and which the dialplan has taken over (degraded mode)
    /// leaves Kontakt: out of the queue (an exit, not an abandon: the caller did not give
    /// up), a ringing operator's leg cancelled, no longer on the boards. Its record stays
    /// live, with an `outside_kontakt` step, and is closed when the control connection
    /// reports the hang-up.
    fn leave_to_dialplan(&mut self, uuid: &str, application: &str) {
        let now = self.now();
        let Some(c) = self.calls.get(uuid) else { return };
        if let Some(acd) = c.acd {
            self.router.handle(Input::CallerExit { call: acd, key: "degraded".into() }, now);
        }
        self.step(uuid, "outside_kontakt", serde_json::json!({"application": application}));
        // The router's reaction (a cancelled offer) still needs this call's identity.
        self.drain_outputs();
        let Some(c) = self.forget_call(uuid) else { return };
        tracing::info!(
            call = uuid,
            application,
            "the dialplan took over a call whose socket was lost"
        );
        self.noted_outside.insert(
            uuid.to_owned(),
            Outside {
                key: c.key,
                last_seq: c.seq,
                answered: c.connected.is_some(),
                phase: "outside_kontakt",
                end_reason: "ended_outside_kontakt",
            },
        );
    }

    /// A second look at `node` (`ReconcileAgain`) after `after`.
    fn reconcile_again(&self, node: &str, after: Duration) {
        let (tx, node) = (self.tx.clone(), node.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = tx.send(EngineEvent::ReconcileAgain { node });
        });
    }

    /// Callers waiting in the socket application that no record names: their socket is held
    /// by a process that hung (or lost its network) before recording them. (A process that
    /// dies closes its sockets, and the dialplan takes its callers on to degraded mode.) One
    /// seen by rounds of its node at least `ORPHAN_RECHECK` apart is no call being taken
    /// right now (that one has its record by then): it is pulled onto our socket and taken
    /// from the start. Returns how many.
    ///
    /// Only a first look schedules a second one; what a second look (or the journal's
    /// re-check) sees first is adopted by a later round. Under load every round finds
    /// callers whose socket is being taken at that very moment; if each look scheduled
    /// another, the full reconciliation (every live record, every channel) would run every
    /// two seconds for good.
    fn adopt_orphans(&mut self, node: &str, orphans: &[String], recheck: bool) -> usize {
        let before = self.orphans_seen.remove(node).unwrap_or_default();
        let mut seen = HashMap::new();
        let mut adopted = 0;
        for uuid in orphans.iter().filter(|u| !self.calls.contains_key(*u)) {
            // Adopted only when first seen ORPHAN_RECHECK ago or more, whichever round
            // looks: a caller being taken right now has its record well within that.
            match before.get(uuid) {
                Some(first) if first.elapsed() >= ORPHAN_RECHECK => {
                    if self.reattach(node, uuid) {
                        adopted += 1;
                    }
                }
                Some(first) => {
                    seen.insert(uuid.clone(), *first);
                }
                None => {
                    seen.insert(uuid.clone(), Instant::now());
                }
            }
        }
        // Only a first look schedules a second one; callers first seen in a second look
        // are adopted by the next round (the minute's, or another look's).
        if !recheck && !seen.is_empty() {
            self.reconcile_again(node, ORPHAN_RECHECK);
        }
        if !seen.is_empty() {
            self.orphans_seen.insert(node.to_owned(), seen);
        }
        adopted
    }

    /// Legs Kontakt rang that this process does not know: the process that rang them is
    /// gone (or lost them). A leg in conversation with its caller (the caller is up and its
    /// record says connected) is followed again with its operator, who is talking; every
    /// other one is hung up, so that no operator's phone stays busy with a leg nobody
    /// drives. Returns how many conversations were taken up again.
    fn reconcile_legs(
        &mut self,
        node: &str,
        alive: &HashMap<&str, &ChannelRow>,
        legs: &[LegRow],
        records: &[kontakt_store::CallRecord],
    ) -> usize {
        let connected: HashMap<&str, &kontakt_store::CallRecord> = records
            .iter()
            .filter(|r| r.connected_at.is_some() && r.direction == "inbound")
            .map(|r| (r.key.uuid.as_str(), r))
            .collect();
        let mut resumed = 0;
        for leg in legs {
            // Rung by this process after the list was asked for: it is ours.
            if self.legs.contains_key(&leg.uuid) {
                continue;
            }
            let operator = leg.operator.as_deref().and_then(|ext| {
                self.ops.iter().find(|(_, o)| o.b.extension == ext).map(|(a, _)| *a)
            });
            let talking = match (connected.get(leg.call.as_str()), operator) {
                (Some(r), Some(agent))
                    if alive.contains_key(leg.call.as_str())
                        && !self.calls.contains_key(&leg.call)
                        && r.agent_user_id.is_none_or(|u| {
                            self.ops.get(&agent).is_some_and(|o| o.b.user_id == u)
                        }) =>
                {
                    self.resume_conversation(r, &leg.uuid, agent)
                }
                _ => false,
            };
            if talking {
                resumed += 1;
            } else {
                tracing::info!(leg = %leg.uuid, call = %leg.call, "hanging up a leg no process drives");
                self.switch_api(node, format!("uuid_kill {}", leg.uuid));
            }
        }
        resumed
    }

    /// Takes up a conversation that outlived the process that connected it: the call is
    /// tracked again (without a socket: its end comes on the control connection) and its
    /// operator is talking. False if the router cannot put the operator in it.
    fn resume_conversation(
        &mut self,
        r: &kontakt_store::CallRecord,
        leg: &str,
        agent: AgentId,
    ) -> bool {
        let now = self.now();
        let queue = r
            .queue
            .clone()
            .filter(|q| self.queues.contains_key(q))
            .unwrap_or_else(|| self.cfg.default_queue.clone());
        let Some(&qid) = self.queues.get(&queue) else { return false };
        let acd = CallId(self.next_acd);
        let priority = u8::try_from(r.priority.unwrap_or(0)).unwrap_or(0);
        let input = Input::ResumeTalking {
            call: NewCall {
                call: acd,
                queue: qid,
                priority,
                skills: Vec::new(),
                caller_id: r.caller.clone(),
                preferred_agent: None,
                callback: false,
            },
            agent,
        };
        if let Handled::Ignored(why) = self.router.handle(input, now) {
            tracing::warn!(call = %r.key.uuid, %why, "cannot take up the conversation again");
            return false;
        }
        self.next_acd += 1;
        let uuid = r.key.uuid.clone();
        let mut call = LiveCall::new(record_of(r), now, Phase::Talking);
        call.acd = Some(acd);
        call.queue = Some(queue);
        call.priority = priority;
        call.agent = Some(agent);
        call.agent_leg = Some(leg.to_owned());
        call.connected = Some(now);
        call.talk_before_ms =
            r.connected_at.map_or(0, |t| (Utc::now() - t).num_milliseconds().max(0) as u64);
        call.seq = r.last_seq;
        self.calls.insert(uuid.clone(), call);
        self.by_acd.insert(acd, uuid.clone());
        self.legs.insert(leg.to_owned(), uuid.clone());
        if let Some(o) = self.ops.get_mut(&agent) {
            o.call = Some(uuid.clone());
        }
        self.publish_agent(agent);
        let user = self.ops.get(&agent).map(|o| o.b.user_id);
        self.step(&uuid, "resumed", serde_json::json!({"agent": user, "leg": leg}));
        self.set_phase(&uuid, Phase::Talking);
        self.to_operator(agent, OperatorEvent::Connected { call: uuid });
        true
    }

    // ---- commands ----------------------------------------------------------------------

    fn agent_of(&self, user: Id) -> Result<AgentId, CommandError> {
        let a = AgentId(u32::try_from(user).map_err(|_| CommandError::UnknownOperator)?);
        if self.ops.contains_key(&a) { Ok(a) } else { Err(CommandError::UnknownOperator) }
    }

    fn applied(h: Handled) -> Result<Reply, CommandError> {
        match h {
            Handled::Applied => Ok(Reply::Done),
            Handled::Ignored(kontakt_acd::Ignored::AlreadyInState) => Ok(Reply::Done),
            Handled::Ignored(why) => Err(CommandError::Refused(why.to_string())),
        }
    }

    fn command(&mut self, cmd: Command) -> Result<Reply, CommandError> {
        let now = self.now();
        match cmd {
            Command::Login { user } => {
                let a = self.agent_of(user)?;
                Self::applied(self.router.handle(Input::AgentLogin { agent: a }, now))
            }
            Command::Logout { user } => {
                let a = self.agent_of(user)?;
                Self::applied(self.router.handle(Input::AgentLogout { agent: a }, now))
            }
            Command::Ready { user } => {
                let a = self.agent_of(user)?;
                if self.ops.get(&a).is_some_and(|o| o.state == AgentStateKind::LoggedOut) {
                    self.router.handle(Input::AgentLogin { agent: a }, now);
                }
                if self.ops.get(&a).is_some_and(|o| o.wrap.is_some()) {
                    return Err(CommandError::Refused(
                        "link the last call to an appeal or an outcome first".into(),
                    ));
                }
                Self::applied(self.router.handle(Input::AgentReady { agent: a }, now))
            }
            Command::Pause { user, reason } => {
                let a = self.agent_of(user)?;
                if !self.cfg.pause_reasons.contains(&reason) {
                    return Err(CommandError::UnknownReason(reason));
                }
                Self::applied(self.router.handle(Input::AgentPause { agent: a, reason }, now))
            }
            Command::Link { user, call, link } => self.link(user, &call, link),
            Command::Hold { user, hold } => {
                let a = self.agent_of(user)?;
                let c = self.talking_call(a)?;
                let target = c.citizen_leg.clone().unwrap_or_else(|| c.key.uuid.clone());
                let node = c.key.node.clone();
                self.switch_api(
                    &node,
                    format!("uuid_hold {}{target}", if hold { "" } else { "off " }),
                );
                Ok(Reply::Done)
            }
            Command::Hangup { user, call } => {
                let a = self.agent_of(user)?;
                let c = self.talking_call(a)?;
                if c.key.uuid != call {
                    return Err(CommandError::NotYourCall);
                }
                let uuid = c.key.uuid.clone();
                let node = c.key.node.clone();
                let agent_leg = c.agent_leg.clone();
                let citizen = c.citizen_leg.clone().unwrap_or_else(|| uuid.clone());
                self.step(&uuid, "hangup_requested", serde_json::json!({"by": user}));
                let mut cmds = Vec::new();
                if let Some(c) = self.calls.get_mut(&uuid) {
                    c.operator_hung_up = true;
                    // The call's own task hangs the citizen up when it has one; a call whose
                    // socket is lost (or a callback) is ended through the control connection.
                    match &c.cmds {
                        Some(tx) if c.callback_to.is_none() => {
                            let _ = tx.send(CallCmd::Hangup("NORMAL_CLEARING".into()));
                        }
                        _ => cmds.push(format!("uuid_kill {citizen} NORMAL_CLEARING")),
                    }
                }
                if let Some(leg) = agent_leg {
                    cmds.push(format!("uuid_kill {leg} NORMAL_CLEARING"));
                }
                self.switch_api_seq(&node, cmds);
                Ok(Reply::Done)
            }
            Command::Transfer { user, target } => {
                let a = self.agent_of(user)?;
                let t = self
                    .cfg
                    .directory
                    .iter()
                    .find(|t| t.code == target)
                    .cloned()
                    .ok_or(CommandError::UnknownTarget(target))?;
                let c = self.talking_call(a)?;
                let caller = c.citizen_leg.clone().unwrap_or_else(|| c.key.uuid.clone());
                let uuid = c.key.uuid.clone();
                let node = c.key.node.clone();
                self.step(
                    &uuid,
                    "transfer",
                    serde_json::json!({"target": t.code, "destination": t.destination, "by": user}),
                );
                // The caller leaves for the target first; only then is the operator's leg,
                // now back in park, hung up (the other order would end the caller's call).
                let mut cmds =
                    vec![format!("uuid_transfer {caller} {} XML {}", t.destination, t.context)];
                if let Some(c) = self.calls.get_mut(&uuid) {
                    if let Some(leg) = c.agent_leg.take() {
                        self.legs.remove(&leg);
                        cmds.push(format!("uuid_kill {leg}"));
                    }
                    c.end_reason = Some("transferred".into());
                    c.cmds = None;
                }
                self.switch_api_seq(&node, cmds);
                self.caller_gone(&uuid, "BLIND_TRANSFER");
                self.to_operator(a, OperatorEvent::Transferred { call: uuid, target: t.code });
                Ok(Reply::Done)
            }
            Command::Eavesdrop { supervisor, call, mode } => {
                let sup = self.supervisors.get(&supervisor).cloned().ok_or(
                    CommandError::Refused("no phone configured for this supervisor".into()),
                )?;
                let c = self.calls.get(&call).ok_or(CommandError::UnknownCall)?;
                if c.phase != Phase::Talking {
                    return Err(CommandError::NoLiveCall);
                }
                let target = c.agent_leg.clone().unwrap_or_else(|| c.key.uuid.clone());
                let node = c.key.node.clone();
                let vars = match mode {
                    EavesdropMode::Listen => "",
                    EavesdropMode::Whisper => "eavesdrop_whisper_aleg=true,",
                    EavesdropMode::Barge => {
                        "eavesdrop_whisper_aleg=true,eavesdrop_whisper_bleg=true,"
                    }
                };
                self.step(
                    &call,
                    "eavesdrop",
                    serde_json::json!({"supervisor": supervisor, "mode": mode}),
                );
                let cmd = format!(
                    "originate {{{vars}kontakt_supervisor={supervisor}}}{} &eavesdrop({target})",
                    sup.endpoint
                );
                self.spawn_originate(node, cmd, |ok| {
                    if let Err(e) = ok {
                        tracing::info!(error = %e, "eavesdrop leg ended without answer");
                    }
                    None
                });
                Ok(Reply::Done)
            }
            Command::ForceState { agent, state } => {
                let a = self.agent_of(agent)?;
                // A supervisor's pause names a configured reason, as an operator's does.
                if let ForcedState::Paused(r) = &state
                    && !self.cfg.pause_reasons.contains(r)
                {
                    return Err(CommandError::UnknownReason(r.clone()));
                }
                Self::applied(self.router.handle(Input::ForceAgentState { agent: a, state }, now))
            }
            Command::MoveCall { call, queue } => {
                let q =
                    *self.queues.get(&queue).ok_or(CommandError::UnknownQueue(queue.clone()))?;
                let acd =
                    self.calls.get(&call).and_then(|c| c.acd).ok_or(CommandError::UnknownCall)?;
                let r = Self::applied(
                    self.router.handle(Input::MoveCall { call: acd, queue: q }, now),
                )?;
                if let Some(c) = self.calls.get_mut(&call) {
                    c.queue = Some(queue.clone());
                }
                self.publish_call(&call);
                self.step(&call, "moved", serde_json::json!({"queue": queue}));
                Ok(r)
            }
            Command::SetPriority { call, priority } => {
                let acd =
                    self.calls.get(&call).and_then(|c| c.acd).ok_or(CommandError::UnknownCall)?;
                let r = Self::applied(
                    self.router.handle(Input::SetPriority { call: acd, priority }, now),
                )?;
                if let Some(c) = self.calls.get_mut(&call) {
                    c.priority = priority;
                }
                self.publish_call(&call);
                self.step(&call, "priority", serde_json::json!({"priority": priority}));
                Ok(r)
            }
            Command::OperatorStatus { user } => {
                let a = self.agent_of(user)?;
                let o = self.ops.get(&a).ok_or(CommandError::UnknownOperator)?;
                let wrap_up_call = o.wrap.as_ref().map(|w| w.0.uuid.clone());
                let pop = o
                    .pop
                    .clone()
                    .filter(|p| o.call.as_ref().or(wrap_up_call.as_ref()) == Some(&p.call));
                Ok(Reply::Operator(Box::new(OperatorStatus {
                    user_id: user,
                    state: o.state.name().into(),
                    reason: o.reason.clone(),
                    since: o.since,
                    call: o.call.clone(),
                    wrap_up_call,
                    outcomes: self.cfg.outcomes.clone(),
                    pause_reasons: self.cfg.pause_reasons.clone(),
                    pop,
                })))
            }
            Command::Snapshot => {
                self.sweep_board();
                Ok(Reply::Snapshot(Box::new(self.snapshot())))
            }
        }
    }

    fn talking_call(&self, a: AgentId) -> Result<&LiveCall, CommandError> {
        let uuid = self.ops.get(&a).and_then(|o| o.call.clone()).ok_or(CommandError::NoLiveCall)?;
        self.calls.get(&uuid).filter(|c| c.phase == Phase::Talking).ok_or(CommandError::NoLiveCall)
    }

    fn link(&mut self, user: Id, call: &str, link: CallLink) -> Result<Reply, CommandError> {
        let a = self.agent_of(user)?;
        if let CallLink::Outcome(o) = &link
            && !self.cfg.outcomes.contains(o)
        {
            return Err(CommandError::UnknownOutcome(o.clone()));
        }
        let now = self.now();
        // The operator's call in wrap-up: linked below, even when the same channel is live
        // again for Kontakt (transferred on to a target that came back to our socket).
        let in_wrap_up = self.ended.get(call).is_some_and(|(_, agent, _)| *agent == Some(a));
        // A live call being talked: remember the link; wrap-up ends as the call does.
        if let Some(c) = self.calls.get_mut(call).filter(|_| !in_wrap_up) {
            if c.agent != Some(a) {
                return Err(CommandError::NotYourCall);
            }
            if c.phase != Phase::Talking {
                return Err(CommandError::NotAnswered);
            }
            if c.link.is_some() {
                return Err(CommandError::AlreadyLinked);
            }
            c.link = Some(link.clone());
            let key = c.key.clone();
            self.write_link(&key, &link, user);
            self.to_operator(a, OperatorEvent::Linked { call: call.to_owned(), link });
            return Ok(Reply::Done);
        }
        let Some((key, agent, _)) = self.ended.get(call).cloned() else {
            return Err(CommandError::UnknownCall);
        };
        if agent != Some(a) {
            return Err(CommandError::NotYourCall);
        }
        self.ended.remove(call);
        self.write_link(&key, &link, user);
        let wrap_ms = self.ops.get(&a).and_then(|o| o.wrap.as_ref()).map(|w| now.since(w.1));
        self.update(&key, CallUpdate { wrap_ms: wrap_ms.map(|w| w as i64), ..Default::default() });
        if let Some(o) = self.ops.get_mut(&a)
            && o.wrap.as_ref().is_some_and(|w| w.0 == key)
        {
            o.wrap = None;
        }
        self.publish_agent(a);
        self.router.handle(Input::WrapUpDone { agent: a, disposition: "linked".into() }, now);
        self.to_operator(a, OperatorEvent::Linked { call: call.to_owned(), link });
        Ok(Reply::Done)
    }

    fn write_link(&self, key: &CallKey, link: &CallLink, user: Id) {
        match link {
            CallLink::Appeal(_) => self.metrics.calls_linked_appeal.fetch_add(1, Ordering::Relaxed),
            CallLink::Outcome(_) => {
                self.metrics.calls_other_outcome.fetch_add(1, Ordering::Relaxed)
            }
        };
        self.writer.write(vec![CallOp::Link {
            key: key.clone(),
            link: link.clone(),
            by: Some(user),
            at: Utc::now(),
        }]);
    }
}
