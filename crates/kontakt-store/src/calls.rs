//! Call records: what happened to every call Kontakt handled, written as a stream of small,
//! replayable operations.
//!
//! Every operation names its call by the FreeSWITCH node and channel UUID (never by a
//! database id), so the engine can write it before the database answers, park it in the
//! local journal while the database is down, and replay it later. Replaying is harmless:
//! opening an open call does nothing, a step with a sequence number already stored is
//! skipped, an update sets columns to values (a `None` leaves a column alone), never adds.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::ops::Range;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::StoreFuture;
use crate::error::{Result, StoreError};
use crate::model::Id;

/// Which call: the FreeSWITCH node (its switchname) and the channel UUID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CallKey {
    pub node: String,
    pub uuid: String,
}

/// A call's first, durable record: written before Kontakt does anything with the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCallRecord {
    pub key: CallKey,
    /// `inbound` (a citizen dialled in) or `callback` (Kontakt dialled out).
    pub direction: String,
    /// E.164, when the network gave a usable number.
    pub caller: Option<String>,
    /// What the network gave, verbatim (for disputes and for numbers we could not parse).
    pub caller_raw: String,
    /// `number`, `withheld` (privacy requested), `anonymous` (no number at all), `unparsed`.
    pub presentation: String,
    pub dialled: String,
    /// The configured line the dialled number belongs to, and its carrier.
    pub line: Option<String>,
    pub carrier: Option<String>,
    pub started_at: DateTime<Utc>,
}

/// Columns to set; `None` leaves a column as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallUpdate {
    pub queue: Option<String>,
    pub priority: Option<i64>,
    pub queued_at: Option<DateTime<Utc>>,
    pub agent_user_id: Option<Id>,
    pub offered_at: Option<DateTime<Utc>>,
    pub connected_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub hangup_cause: Option<String>,
    pub hangup_side: Option<String>,
    pub end_reason: Option<String>,
    pub recording: Option<String>,
    pub ivr_ms: Option<i64>,
    pub wait_ms: Option<i64>,
    pub ring_ms: Option<i64>,
    pub talk_ms: Option<i64>,
    pub hold_ms: Option<i64>,
    pub wrap_ms: Option<i64>,
    pub status: Option<CallStatus>,
}

/// Where a call stands in its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// The channel is up (IVR, queue, ringing, talking).
    Live,
    /// The channel is gone; an answered call still waits for its appeal link.
    Ended,
    /// Nothing more will happen: linked, given an outcome, or ended unanswered.
    Closed,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Live => "live",
            CallStatus::Ended => "ended",
            CallStatus::Closed => "closed",
        }
    }
}

impl std::str::FromStr for CallStatus {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "live" => Ok(CallStatus::Live),
            "ended" => Ok(CallStatus::Ended),
            "closed" => Ok(CallStatus::Closed),
            _ => Err(format!("unknown call status {s:?}")),
        }
    }
}

/// What an answered call was about: an appeal, or one of the configured non-appeal outcomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallLink {
    Appeal(Id),
    Outcome(String),
}

/// One replayable write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum CallOp {
    Open(NewCallRecord),
    Step {
        key: CallKey,
        /// Per call, from 1, assigned by the engine; a replayed step is skipped.
        seq: i64,
        at: DateTime<Utc>,
        kind: String,
        detail: serde_json::Value,
    },
    Update {
        key: CallKey,
        set: CallUpdate,
    },
    Link {
        key: CallKey,
        link: CallLink,
        by: Option<Id>,
        at: DateTime<Utc>,
    },
}

impl CallOp {
    pub fn key(&self) -> &CallKey {
        match self {
            CallOp::Open(n) => &n.key,
            CallOp::Step { key, .. } | CallOp::Update { key, .. } | CallOp::Link { key, .. } => key,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallStep {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub detail: serde_json::Value,
}

/// A call as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallRecord {
    pub id: Id,
    pub key: CallKey,
    pub direction: String,
    pub caller: Option<String>,
    pub caller_raw: String,
    pub presentation: String,
    pub dialled: String,
    pub line: Option<String>,
    pub carrier: Option<String>,
    pub started_at: DateTime<Utc>,
    pub queue: Option<String>,
    pub priority: Option<i64>,
    pub queued_at: Option<DateTime<Utc>>,
    pub agent_user_id: Option<Id>,
    pub offered_at: Option<DateTime<Utc>>,
    pub connected_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub hangup_cause: Option<String>,
    pub hangup_side: Option<String>,
    pub end_reason: Option<String>,
    pub recording: Option<String>,
    pub ivr_ms: Option<i64>,
    pub wait_ms: Option<i64>,
    pub ring_ms: Option<i64>,
    pub talk_ms: Option<i64>,
    pub hold_ms: Option<i64>,
    pub wrap_ms: Option<i64>,
    pub link: Option<CallLink>,
    pub linked_at: Option<DateTime<Utc>>,
    pub linked_by: Option<Id>,
    pub status: CallStatus,
    /// Filled by [`CallLog::call_record`]; empty in lists.
    pub steps: Vec<CallStep>,
    /// The highest step sequence number stored (0 when none): where the engine continues
    /// numbering after it adopts a call again.
    pub last_seq: i64,
}

/// Counts over all call records, for summaries and checks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallCounts {
    pub total: i64,
    pub live: i64,
    pub connected: i64,
    pub linked_to_appeal: i64,
    pub other_outcome: i64,
    pub abandoned: i64,
}

/// The most buckets [`CallLog::call_intraday`] returns (a range that needs more is cut at the
/// last one): a month of quarter hours. Each bucket is two bind parameters of one statement.
pub const MAX_INTRADAY_BUCKETS: usize = 3_000;

/// Inbound calls of one interval, counted in the interval in which they *started*.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntradayBucket {
    /// The interval's first instant; it lasts `bucket_secs` (the last one may end earlier, at
    /// the range's end).
    pub start: DateTime<Utc>,
    /// Inbound calls that reached a queue (an operator could have taken them). Calls that
    /// ended in the menu, and callbacks Kontakt dialled, are not offered.
    pub offered: i64,
    /// Of the offered, those an operator answered.
    pub answered: i64,
    /// Of the offered, those whose caller hung up while waiting or ringing (short abandons
    /// included).
    pub abandoned: i64,
}

/// Calls an operator answered in the range (inbound and callbacks alike).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentAnswered {
    pub user_id: Id,
    pub answered: i64,
}

/// What [`CallLog::call_intraday`] counts over a range.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallIntraday {
    /// One per interval from the range's start, in order, empty intervals included.
    pub buckets: Vec<IntradayBucket>,
    /// Operators with at least one answered call, by user id.
    pub agents: Vec<AgentAnswered>,
}

/// The intervals of `[from, to)`: `(start, end)` of each, the last one cut at `to`.
pub(crate) fn intervals(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket_secs: u32,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    if bucket_secs == 0 || to <= from {
        return Vec::new();
    }
    let width = chrono::Duration::seconds(i64::from(bucket_secs));
    let mut out = Vec::new();
    let mut start = from;
    while start < to && out.len() < MAX_INTRADAY_BUCKETS {
        let end = start + width;
        out.push((start, end.min(to)));
        start = end;
    }
    out
}

/// The call-record half of the store; every `Store` is one.
pub trait CallLog: Send + Sync {
    /// Applies the operations in order, in one transaction. `Update`, `Step` and `Link` on a
    /// call that was never opened (or is opened only later in the batch) are
    /// `StoreError::NotFound`; a `Link` to a missing appeal is `StoreError::MissingReference`;
    /// nothing of the batch is then applied. (A batch with both faults gives one of the two.)
    /// The batch costs a few statements whatever its size (see "batches" in `calls.rs`).
    fn apply_call_ops<'a>(&'a self, ops: &'a [CallOp]) -> StoreFuture<'a, ()>;
    /// The call with its steps.
    fn call_record<'a>(&'a self, key: &'a CallKey) -> StoreFuture<'a, Option<CallRecord>>;
    /// Calls in this status (without steps), oldest first; `node` narrows to one node.
    fn calls_in_status<'a>(
        &'a self,
        status: CallStatus,
        node: Option<&'a str>,
    ) -> StoreFuture<'a, Vec<CallRecord>>;
    /// The most recent calls (without steps), newest first.
    fn recent_calls(&self, limit: i64) -> StoreFuture<'_, Vec<CallRecord>>;
    fn call_counts(&self) -> StoreFuture<'_, CallCounts>;
    /// Calls that started in `[from, to)`, per interval of `bucket_secs` from `from`
    /// (see [`IntradayBucket`] for what is counted), and the answered calls per operator.
    /// An empty or reversed range, or `bucket_secs` 0, gives no buckets. Counted in the
    /// database: one range of the `started_at` index per interval.
    fn call_intraday(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket_secs: u32,
    ) -> StoreFuture<'_, CallIntraday>;
    /// Which of these channel UUIDs have a record (any node).
    fn calls_known<'a>(&'a self, uuids: &'a [String]) -> StoreFuture<'a, Vec<String>>;
}

#[derive(sqlx::FromRow)]
pub(crate) struct CallRow {
    id: i64,
    node: String,
    uuid: String,
    direction: String,
    caller: Option<String>,
    caller_raw: String,
    presentation: String,
    dialled: String,
    line: Option<String>,
    carrier: Option<String>,
    started_at: DateTime<Utc>,
    queue: Option<String>,
    priority: Option<i64>,
    queued_at: Option<DateTime<Utc>>,
    agent_user_id: Option<i64>,
    offered_at: Option<DateTime<Utc>>,
    connected_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    hangup_cause: Option<String>,
    hangup_side: Option<String>,
    end_reason: Option<String>,
    recording: Option<String>,
    ivr_ms: Option<i64>,
    wait_ms: Option<i64>,
    ring_ms: Option<i64>,
    talk_ms: Option<i64>,
    hold_ms: Option<i64>,
    wrap_ms: Option<i64>,
    outcome: Option<String>,
    appeal_id: Option<i64>,
    linked_at: Option<DateTime<Utc>>,
    linked_by: Option<i64>,
    status: String,
    last_seq: i64,
}

pub(crate) const CALL_COLUMNS: &str = "c.id, c.node, c.uuid, c.direction, c.caller, \
    c.caller_raw, c.presentation, c.dialled, c.line, c.carrier, c.started_at, c.queue, \
    c.priority, c.queued_at, c.agent_user_id, c.offered_at, c.connected_at, c.ended_at, \
    c.hangup_cause, c.hangup_side, c.end_reason, c.recording, c.ivr_ms, c.wait_ms, c.ring_ms, \
    c.talk_ms, c.hold_ms, c.wrap_ms, c.outcome, c.appeal_id, c.linked_at, c.linked_by, \
    c.status, COALESCE((SELECT MAX(s.seq) FROM call_steps s WHERE s.call_id = c.id), 0) \
    AS last_seq";

/// The outcome column's value for an appeal link.
pub(crate) const OUTCOME_APPEAL: &str = "appeal";

impl CallRow {
    pub(crate) fn into_record(self) -> Result<CallRecord> {
        let link = match (self.outcome.as_deref(), self.appeal_id) {
            (Some(OUTCOME_APPEAL), Some(id)) => Some(CallLink::Appeal(id)),
            (Some(OUTCOME_APPEAL), None) => {
                return Err(crate::error::corrupt("calls.appeal_id", "NULL", "appeal link"));
            }
            (Some(o), _) => Some(CallLink::Outcome(o.to_owned())),
            (None, _) => None,
        };
        Ok(CallRecord {
            id: self.id,
            key: CallKey { node: self.node, uuid: self.uuid },
            direction: self.direction,
            caller: self.caller,
            caller_raw: self.caller_raw,
            presentation: self.presentation,
            dialled: self.dialled,
            line: self.line,
            carrier: self.carrier,
            started_at: self.started_at,
            queue: self.queue,
            priority: self.priority,
            queued_at: self.queued_at,
            agent_user_id: self.agent_user_id,
            offered_at: self.offered_at,
            connected_at: self.connected_at,
            ended_at: self.ended_at,
            hangup_cause: self.hangup_cause,
            hangup_side: self.hangup_side,
            end_reason: self.end_reason,
            recording: self.recording,
            ivr_ms: self.ivr_ms,
            wait_ms: self.wait_ms,
            ring_ms: self.ring_ms,
            talk_ms: self.talk_ms,
            hold_ms: self.hold_ms,
            wrap_ms: self.wrap_ms,
            link,
            linked_at: self.linked_at,
            linked_by: self.linked_by,
            status: crate::rows::parse("calls.status", &self.status)?,
            steps: Vec::new(),
            last_seq: self.last_seq,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct StepRow {
    seq: i64,
    at: DateTime<Utc>,
    kind: String,
    detail: String,
}

impl StepRow {
    pub(crate) fn into_step(self) -> Result<CallStep> {
        Ok(CallStep {
            seq: self.seq,
            at: self.at,
            kind: self.kind,
            detail: crate::rows::json("call_steps.detail", &self.detail)?,
        })
    }
}

// ---- batches ------------------------------------------------------------------------------
//
// The record writer hands `apply_call_ops` up to about a thousand operations of many calls at
// once. Applied one by one they cost two statements each (find the call's id, then write), and
// on PostgreSQL every statement is a round trip. A batch is instead worked out in memory first
// (`Plan`) and written with a handful of statements, each carrying many rows:
//
// 1. the calls the batch opens, in one `INSERT ... ON CONFLICT DO NOTHING RETURNING` (the ids
//    of the calls it creates come back with it);
// 2. the ids of the other calls the batch names, in one `SELECT`;
// 3. the steps, in one `INSERT ... ON CONFLICT DO NOTHING`;
// 4. the updates and links, folded per call, in one `UPDATE ... FROM` per round (one round
//    unless a call has a link followed by more changes in the same batch).
//
// Each is one statement per chunk when the rows exceed what one statement may carry.

/// One column of the rows a batch statement carries. The rows reach the database as the table
/// `v` of `WITH v(...) AS (...)` at the head of the statement, built by [`BatchRows`].
pub(crate) enum Col<'a> {
    Text(Vec<Option<&'a str>>),
    Int(Vec<Option<i64>>),
    Time(Vec<Option<DateTime<Utc>>>),
}

/// SQLite's limit on bind parameters in one statement (`SQLITE_MAX_VARIABLE_NUMBER`).
const SQLITE_MAX_BINDS: usize = 32_766;

/// SQLite statements of at most this many rows stay in the writer's statement cache. Small
/// batches (the usual case at low load) repeat the same few texts; a large one has a text of
/// its own (the text grows with the rows) and caching it would only push the registrar's
/// statements out.
const SQLITE_CACHED_ROWS: usize = 16;

/// PostgreSQL takes each column as one array parameter, so the bind limit (65,535) is never
/// near; this only bounds the size of one message (a few MB at most).
const PG_ROWS_PER_STATEMENT: usize = 10_000;

/// How a backend receives the rows of a batch statement.
pub(crate) trait BatchRows: sqlx::Database {
    /// The most rows one statement carries with `width` columns.
    fn rows_per_statement(width: usize) -> usize;
    /// Whether a statement of `rows` rows is worth keeping prepared.
    fn persistent(rows: usize) -> bool;
    /// Pushes the body of `WITH v(...) AS (<here>)`: rows `range` of `cols`.
    fn push_rows(q: &mut sqlx::QueryBuilder<Self>, cols: &[Col<'_>], range: Range<usize>);
    /// How a batch's transaction begins, when not with a plain `BEGIN`.
    const BEGIN: Option<&'static str> = None;
}

impl BatchRows for sqlx::Sqlite {
    fn rows_per_statement(width: usize) -> usize {
        (SQLITE_MAX_BINDS / width.max(1)).max(1)
    }

    fn persistent(rows: usize) -> bool {
        rows <= SQLITE_CACHED_ROWS
    }

    /// A VALUES list: SQLite runs in-process, so many bind parameters cost no round trip.
    fn push_rows(q: &mut sqlx::QueryBuilder<Self>, cols: &[Col<'_>], range: Range<usize>) {
        q.push_values(range, |mut row, i| {
            for col in cols {
                match col {
                    Col::Text(v) => row.push_bind(v.get(i).copied().flatten()),
                    Col::Int(v) => row.push_bind(v.get(i).copied().flatten()),
                    Col::Time(v) => row.push_bind(v.get(i).copied().flatten()),
                };
            }
        });
    }
}

impl BatchRows for sqlx::Postgres {
    /// Every statement of a batch finds its calls by key or id, a few rows of a big table:
    /// an index lookup per row. The planner, left to itself, hashes the whole `calls` table
    /// whenever its statistics say the table is small — on a young table (a new centre, a
    /// benchmark) they lag far behind it, and the prepared statements keep the plan: every
    /// batch of the first minutes at 50 calls/s read the table through (auto_explain, about
    /// 1 ms a statement against 0.05). Joins other than nested loops, and sequential scans
    /// where an index serves, are switched off for the transaction; in the same round trip
    /// as its `BEGIN`.
    const BEGIN: Option<&'static str> = Some(
        "BEGIN; SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; \
         SET LOCAL enable_seqscan = off",
    );

    fn rows_per_statement(_width: usize) -> usize {
        PG_ROWS_PER_STATEMENT
    }

    fn persistent(_rows: usize) -> bool {
        true
    }

    /// One array per column (`unnest`): the text does not depend on the number of rows, so it
    /// stays prepared and each statement is one round trip. (A VALUES list would be a new
    /// text for every batch size: prepared afresh, one more round trip, and pushing other
    /// statements out of the connection's cache.)
    fn push_rows(q: &mut sqlx::QueryBuilder<Self>, cols: &[Col<'_>], range: Range<usize>) {
        q.push("SELECT * FROM unnest(");
        for (i, col) in cols.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            match col {
                Col::Text(v) => {
                    q.push_bind(v.get(range.clone()).unwrap_or_default()).push("::text[]")
                }
                Col::Int(v) => {
                    q.push_bind(v.get(range.clone()).unwrap_or_default()).push("::int8[]")
                }
                Col::Time(v) => {
                    q.push_bind(v.get(range.clone()).unwrap_or_default()).push("::timestamptz[]")
                }
            };
        }
        q.push(")");
    }
}

/// `0..len` in consecutive ranges of at most `per`.
pub(crate) fn chunks(len: usize, per: usize) -> impl Iterator<Item = Range<usize>> {
    let per = per.max(1);
    (0..len).step_by(per).map(move |start| start..len.min(start + per))
}

const OPEN_COLUMNS: &str =
    "node, uuid, direction, caller, caller_raw, presentation, dialled, line, carrier, started_at";
/// The calls the rows open that did not exist come back with their ids; an existing call is
/// left as it is (the first open of a call is the one that counts, as when replayed).
/// `WHERE true` is for SQLite, which needs it to tell the upsert's ON from a join's.
const OPEN_INSERT: &str = "INSERT INTO calls (node, uuid, direction, caller, caller_raw, \
    presentation, dialled, line, carrier, started_at, status) \
    SELECT node, uuid, direction, caller, caller_raw, presentation, dialled, line, carrier, \
    started_at, 'live' FROM v WHERE true \
    ON CONFLICT (node, uuid) DO NOTHING RETURNING id, node, uuid";

const KEY_COLUMNS: &str = "node, uuid";
const KEY_SELECT: &str = "SELECT calls.id, calls.node, calls.uuid FROM v \
    JOIN calls ON calls.node = v.node AND calls.uuid = v.uuid";

const STEP_COLUMNS: &str = "call_id, seq, at, kind, detail";
const STEP_INSERT: &str = "INSERT INTO call_steps (call_id, seq, at, kind, detail) \
    SELECT call_id, seq, at, kind, detail FROM v WHERE true \
    ON CONFLICT (call_id, seq) DO NOTHING";

const CHANGE_COLUMNS: &str = "id, queue, priority, queued_at, agent_user_id, offered_at, \
    connected_at, ended_at, hangup_cause, hangup_side, end_reason, recording, ivr_ms, wait_ms, \
    ring_ms, talk_ms, hold_ms, wrap_ms, status, outcome, appeal_id, linked_by, linked_at";
/// An update never sets a column to NULL (`None` leaves it), so a NULL in `v` keeps the stored
/// value. A link sets all four link columns, NULLs included; its row is the one with an
/// outcome (every link has one).
const CHANGE_UPDATE: &str = "UPDATE calls SET \
    queue = COALESCE(v.queue, calls.queue), \
    priority = COALESCE(v.priority, calls.priority), \
    queued_at = COALESCE(v.queued_at, calls.queued_at), \
    agent_user_id = COALESCE(v.agent_user_id, calls.agent_user_id), \
    offered_at = COALESCE(v.offered_at, calls.offered_at), \
    connected_at = COALESCE(v.connected_at, calls.connected_at), \
    ended_at = COALESCE(v.ended_at, calls.ended_at), \
    hangup_cause = COALESCE(v.hangup_cause, calls.hangup_cause), \
    hangup_side = COALESCE(v.hangup_side, calls.hangup_side), \
    end_reason = COALESCE(v.end_reason, calls.end_reason), \
    recording = COALESCE(v.recording, calls.recording), \
    ivr_ms = COALESCE(v.ivr_ms, calls.ivr_ms), \
    wait_ms = COALESCE(v.wait_ms, calls.wait_ms), \
    ring_ms = COALESCE(v.ring_ms, calls.ring_ms), \
    talk_ms = COALESCE(v.talk_ms, calls.talk_ms), \
    hold_ms = COALESCE(v.hold_ms, calls.hold_ms), \
    wrap_ms = COALESCE(v.wrap_ms, calls.wrap_ms), \
    status = COALESCE(v.status, calls.status), \
    outcome = CASE WHEN v.outcome IS NULL THEN calls.outcome ELSE v.outcome END, \
    appeal_id = CASE WHEN v.outcome IS NULL THEN calls.appeal_id ELSE v.appeal_id END, \
    linked_by = CASE WHEN v.outcome IS NULL THEN calls.linked_by ELSE v.linked_by END, \
    linked_at = CASE WHEN v.outcome IS NULL THEN calls.linked_at ELSE v.linked_at END \
    FROM v WHERE calls.id = v.id";

impl CallUpdate {
    /// Folds `later` (applied after `self`) into `self`: setting the result does what setting
    /// both in order does, because each only sets columns to values.
    fn then(&mut self, later: &CallUpdate) {
        // Destructured whole, so that a new column cannot be forgotten here.
        let CallUpdate {
            queue,
            priority,
            queued_at,
            agent_user_id,
            offered_at,
            connected_at,
            ended_at,
            hangup_cause,
            hangup_side,
            end_reason,
            recording,
            ivr_ms,
            wait_ms,
            ring_ms,
            talk_ms,
            hold_ms,
            wrap_ms,
            status,
        } = later;
        fn take<T: Clone>(to: &mut Option<T>, from: &Option<T>) {
            if from.is_some() {
                to.clone_from(from);
            }
        }
        take(&mut self.queue, queue);
        take(&mut self.priority, priority);
        take(&mut self.queued_at, queued_at);
        take(&mut self.agent_user_id, agent_user_id);
        take(&mut self.offered_at, offered_at);
        take(&mut self.connected_at, connected_at);
        take(&mut self.ended_at, ended_at);
        take(&mut self.hangup_cause, hangup_cause);
        take(&mut self.hangup_side, hangup_side);
        take(&mut self.end_reason, end_reason);
        take(&mut self.recording, recording);
        take(&mut self.ivr_ms, ivr_ms);
        take(&mut self.wait_ms, wait_ms);
        take(&mut self.ring_ms, ring_ms);
        take(&mut self.talk_ms, talk_ms);
        take(&mut self.hold_ms, hold_ms);
        take(&mut self.wrap_ms, wrap_ms);
        take(&mut self.status, status);
    }
}

/// What a link writes.
struct LinkSet<'a> {
    outcome: &'a str,
    appeal_id: Option<Id>,
    by: Option<Id>,
    at: DateTime<Utc>,
}

/// Consecutive updates of one call, possibly ending with a link: one row of one `UPDATE`.
#[derive(Default)]
struct Change<'a> {
    set: CallUpdate,
    link: Option<LinkSet<'a>>,
}

/// A step to insert, its detail already as stored.
struct StepWrite<'a> {
    key: &'a CallKey,
    seq: i64,
    at: DateTime<Utc>,
    kind: &'a str,
    detail: String,
}

/// A batch of operations as the statements write it, worked out before any statement runs.
#[derive(Default)]
struct Plan<'a> {
    /// The first open of each call, in batch order. A later open of the same call would do
    /// nothing (the call exists by then), so it is dropped here.
    opens: Vec<&'a NewCallRecord>,
    /// Where in the batch each call is first opened.
    first_open: HashMap<&'a CallKey, usize>,
    /// The calls that steps, updates and links name, in order of first mention, and where.
    used: Vec<&'a CallKey>,
    first_use: HashMap<&'a CallKey, usize>,
    /// The steps, without repeats of a call's sequence number (the first one is kept: a
    /// repeat would be skipped by `ON CONFLICT DO NOTHING` anyway).
    steps: Vec<StepWrite<'a>>,
    /// Per call (in order of first change), its updates and links in batch order, cut after
    /// each link: its `r`-th change goes in round `r`.
    changes: Vec<(&'a CallKey, Vec<Change<'a>>)>,
    change_of: HashMap<&'a CallKey, usize>,
}

impl<'a> Plan<'a> {
    fn new(ops: &'a [CallOp]) -> Self {
        let mut plan = Plan::default();
        let mut seen_steps = HashSet::new();
        for (i, op) in ops.iter().enumerate() {
            match op {
                CallOp::Open(n) => {
                    if let Entry::Vacant(e) = plan.first_open.entry(&n.key) {
                        e.insert(i);
                        plan.opens.push(n);
                    }
                }
                CallOp::Step { key, seq, at, kind, detail } => {
                    plan.mention(key, i);
                    if seen_steps.insert((key, *seq)) {
                        plan.steps.push(StepWrite {
                            key,
                            seq: *seq,
                            at: *at,
                            kind,
                            detail: crate::rows::to_json(detail),
                        });
                    }
                }
                CallOp::Update { key, set } => {
                    plan.mention(key, i);
                    let changes = plan.changes_of(key);
                    match changes.last_mut() {
                        Some(last) if last.link.is_none() => last.set.then(set),
                        _ => changes.push(Change { set: set.clone(), link: None }),
                    }
                }
                CallOp::Link { key, link, by, at } => {
                    plan.mention(key, i);
                    let (outcome, appeal_id) = match link {
                        CallLink::Appeal(a) => (OUTCOME_APPEAL, Some(*a)),
                        CallLink::Outcome(o) => (o.as_str(), None),
                    };
                    let link = LinkSet { outcome, appeal_id, by: *by, at: *at };
                    let changes = plan.changes_of(key);
                    // A link sets the status to closed, after the updates before it.
                    let closed =
                        CallUpdate { status: Some(CallStatus::Closed), ..Default::default() };
                    match changes.last_mut() {
                        Some(last) if last.link.is_none() => {
                            last.set.then(&closed);
                            last.link = Some(link);
                        }
                        _ => changes.push(Change { set: closed, link: Some(link) }),
                    }
                }
            }
        }
        plan
    }

    fn mention(&mut self, key: &'a CallKey, at: usize) {
        if let Entry::Vacant(e) = self.first_use.entry(key) {
            e.insert(at);
            self.used.push(key);
        }
    }

    fn changes_of(&mut self, key: &'a CallKey) -> &mut Vec<Change<'a>> {
        let changes = &mut self.changes;
        let i = *self.change_of.entry(key).or_insert_with(|| {
            changes.push((key, Vec::new()));
            changes.len() - 1
        });
        &mut changes[i].1
    }

    /// Whether an operation on `key` comes before the batch opens it: when the batch is what
    /// creates the call, that operation names a call that did not exist yet.
    fn used_before_opened(&self, key: &CallKey) -> bool {
        match (self.first_use.get(key), self.first_open.get(key)) {
            (Some(used), Some(opened)) => used < opened,
            _ => false,
        }
    }

    /// How many `UPDATE` rounds the changes take.
    fn rounds(&self) -> usize {
        self.changes.iter().map(|(_, c)| c.len()).max().unwrap_or(0)
    }
}

/// The columns of the opens' rows (`OPEN_COLUMNS`).
fn open_columns<'a>(opens: &[&'a NewCallRecord]) -> Vec<Col<'a>> {
    let text = |f: fn(&'a NewCallRecord) -> Option<&'a str>| {
        Col::Text(opens.iter().map(|&n| f(n)).collect())
    };
    vec![
        text(|n| Some(n.key.node.as_str())),
        text(|n| Some(n.key.uuid.as_str())),
        text(|n| Some(n.direction.as_str())),
        text(|n| n.caller.as_deref()),
        text(|n| Some(n.caller_raw.as_str())),
        text(|n| Some(n.presentation.as_str())),
        text(|n| Some(n.dialled.as_str())),
        text(|n| n.line.as_deref()),
        text(|n| n.carrier.as_deref()),
        Col::Time(opens.iter().map(|n| Some(n.started_at)).collect()),
    ]
}

/// The columns of calls' keys (`KEY_COLUMNS`).
fn key_columns<'a>(keys: &[&'a CallKey]) -> Vec<Col<'a>> {
    vec![
        Col::Text(keys.iter().map(|k| Some(k.node.as_str())).collect()),
        Col::Text(keys.iter().map(|k| Some(k.uuid.as_str())).collect()),
    ]
}

/// The columns of the steps' rows (`STEP_COLUMNS`), with their calls' ids.
fn step_columns<'a>(
    steps: &'a [StepWrite<'a>],
    ids: &HashMap<CallKey, i64>,
) -> Result<Vec<Col<'a>>> {
    let call_ids = steps
        .iter()
        .map(|s| ids.get(s.key).copied().map(Some).ok_or(StoreError::NotFound { what: "call" }))
        .collect::<Result<_>>()?;
    Ok(vec![
        Col::Int(call_ids),
        Col::Int(steps.iter().map(|s| Some(s.seq)).collect()),
        Col::Time(steps.iter().map(|s| Some(s.at)).collect()),
        Col::Text(steps.iter().map(|s| Some(s.kind)).collect()),
        Col::Text(steps.iter().map(|s| Some(s.detail.as_str())).collect()),
    ])
}

/// The columns of one round of changes (`CHANGE_COLUMNS`): `(call id, change)` rows.
fn change_columns<'a>(rows: &[(i64, &'a Change<'a>)]) -> Vec<Col<'a>> {
    let text = |f: fn(&'a Change<'a>) -> Option<&'a str>| {
        Col::Text(rows.iter().map(|&(_, c)| f(c)).collect())
    };
    let int =
        |f: fn(&'a Change<'a>) -> Option<i64>| Col::Int(rows.iter().map(|&(_, c)| f(c)).collect());
    let time = |f: fn(&'a Change<'a>) -> Option<DateTime<Utc>>| {
        Col::Time(rows.iter().map(|&(_, c)| f(c)).collect())
    };
    vec![
        Col::Int(rows.iter().map(|&(id, _)| Some(id)).collect()),
        text(|c| c.set.queue.as_deref()),
        int(|c| c.set.priority),
        time(|c| c.set.queued_at),
        int(|c| c.set.agent_user_id),
        time(|c| c.set.offered_at),
        time(|c| c.set.connected_at),
        time(|c| c.set.ended_at),
        text(|c| c.set.hangup_cause.as_deref()),
        text(|c| c.set.hangup_side.as_deref()),
        text(|c| c.set.end_reason.as_deref()),
        text(|c| c.set.recording.as_deref()),
        int(|c| c.set.ivr_ms),
        int(|c| c.set.wait_ms),
        int(|c| c.set.ring_ms),
        int(|c| c.set.talk_ms),
        int(|c| c.set.hold_ms),
        int(|c| c.set.wrap_ms),
        text(|c| c.set.status.map(CallStatus::as_str)),
        text(|c| c.link.as_ref().map(|l| l.outcome)),
        int(|c| c.link.as_ref().and_then(|l| l.appeal_id)),
        int(|c| c.link.as_ref().and_then(|l| l.by)),
        time(|c| c.link.as_ref().map(|l| l.at)),
    ]
}

macro_rules! call_log {
    ($store:ty, $db:ty) => {
        use std::collections::HashMap;
        use std::ops::Range;

        use sqlx::QueryBuilder;

        use crate::StoreFuture;
        use crate::calls::*;
        use crate::error::{Result, StoreError};

        /// `WITH v(<columns>) AS (<rows>) <body>`, for rows `range` of `cols`.
        fn with_rows(
            columns: &str,
            cols: &[Col<'_>],
            range: Range<usize>,
            body: &str,
        ) -> QueryBuilder<$db> {
            let mut q: QueryBuilder<$db> = QueryBuilder::new(format!("WITH v({columns}) AS ("));
            <$db as BatchRows>::push_rows(&mut q, cols, range);
            q.push(") ").push(body);
            q
        }

        /// Runs `body` over all `len` rows of `cols`, in as many statements as the rows need,
        /// and gives back the `(id, node, uuid)` rows it returns.
        async fn call_rows(
            tx: &mut sqlx::Transaction<'_, $db>,
            columns: &str,
            cols: &[Col<'_>],
            len: usize,
            body: &str,
        ) -> Result<Vec<(i64, String, String)>> {
            let mut out = Vec::new();
            for range in chunks(len, <$db as BatchRows>::rows_per_statement(cols.len())) {
                let persistent = <$db as BatchRows>::persistent(range.len());
                let mut q = with_rows(columns, cols, range, body);
                out.extend(
                    q.build_query_as::<(i64, String, String)>()
                        .persistent(persistent)
                        .fetch_all(&mut **tx)
                        .await?,
                );
            }
            Ok(out)
        }

        /// Runs `body` over all `len` rows of `cols`, in as many statements as the rows need.
        async fn write_rows(
            tx: &mut sqlx::Transaction<'_, $db>,
            columns: &str,
            cols: &[Col<'_>],
            len: usize,
            body: &str,
        ) -> Result<()> {
            for range in chunks(len, <$db as BatchRows>::rows_per_statement(cols.len())) {
                let persistent = <$db as BatchRows>::persistent(range.len());
                let mut q = with_rows(columns, cols, range, body);
                q.build().persistent(persistent).execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// Writes a planned batch inside `tx` (see "batches" above for the statements).
        async fn apply(tx: &mut sqlx::Transaction<'_, $db>, plan: &Plan<'_>) -> Result<()> {
            let not_found = || StoreError::NotFound { what: "call" };

            // The calls the batch creates, with their ids.
            let mut ids: HashMap<CallKey, i64> = HashMap::new();
            if !plan.opens.is_empty() {
                let cols = open_columns(&plan.opens);
                let created =
                    call_rows(tx, OPEN_COLUMNS, &cols, plan.opens.len(), OPEN_INSERT).await?;
                for (id, node, uuid) in created {
                    ids.insert(CallKey { node, uuid }, id);
                }
            }
            // A call this batch creates did not exist before its open: an operation on it
            // that comes earlier names a missing call, as it would applied in order.
            if plan.used.iter().any(|k| ids.contains_key(*k) && plan.used_before_opened(k)) {
                return Err(not_found());
            }

            // The ids of the other calls the batch names; each must exist.
            let lookup: Vec<&CallKey> =
                plan.used.iter().copied().filter(|k| !ids.contains_key(*k)).collect();
            if !lookup.is_empty() {
                let cols = key_columns(&lookup);
                for (id, node, uuid) in
                    call_rows(tx, KEY_COLUMNS, &cols, lookup.len(), KEY_SELECT).await?
                {
                    ids.insert(CallKey { node, uuid }, id);
                }
                if lookup.iter().any(|k| !ids.contains_key(*k)) {
                    return Err(not_found());
                }
            }

            if !plan.steps.is_empty() {
                let cols = step_columns(&plan.steps, &ids)?;
                write_rows(tx, STEP_COLUMNS, &cols, plan.steps.len(), STEP_INSERT).await?;
            }

            // Round r holds each call's r-th change: a call's changes keep their order, and
            // no statement touches a row twice.
            for round in 0..plan.rounds() {
                let rows = plan
                    .changes
                    .iter()
                    .filter_map(|(key, changes)| changes.get(round).map(|c| (key, c)))
                    .map(|(key, c)| ids.get(*key).map(|&id| (id, c)).ok_or_else(not_found))
                    .collect::<Result<Vec<_>>>()?;
                let cols = change_columns(&rows);
                write_rows(tx, CHANGE_COLUMNS, &cols, rows.len(), CHANGE_UPDATE).await?;
            }
            Ok(())
        }

        impl CallLog for $store {
            fn apply_call_ops<'a>(&'a self, ops: &'a [CallOp]) -> StoreFuture<'a, ()> {
                Box::pin(async move {
                    let plan = Plan::new(ops);
                    let mut tx = match <$db as BatchRows>::BEGIN {
                        Some(begin) => self.writer().begin_with(sqlx::AssertSqlSafe(begin)).await?,
                        None => self.writer().begin().await?,
                    };
                    apply(&mut tx, &plan).await?;
                    tx.commit().await?;
                    Ok(())
                })
            }

            fn call_record<'a>(
                &'a self,
                key: &'a CallKey,
            ) -> StoreFuture<'a, Option<CallRecord>> {
                Box::pin(async move {
                    let row: Option<CallRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {CALL_COLUMNS} FROM calls c WHERE c.node = $1 AND c.uuid = $2"
                    )))
                    .bind(&key.node)
                    .bind(&key.uuid)
                    .fetch_optional(self.reader())
                    .await?;
                    let Some(row) = row else { return Ok(None) };
                    let mut record = row.into_record()?;
                    let steps: Vec<StepRow> = sqlx::query_as(
                        "SELECT seq, at, kind, detail FROM call_steps WHERE call_id = $1 \
                         ORDER BY seq",
                    )
                    .bind(record.id)
                    .fetch_all(self.reader())
                    .await?;
                    record.steps =
                        steps.into_iter().map(StepRow::into_step).collect::<Result<_>>()?;
                    Ok(Some(record))
                })
            }

            fn calls_in_status<'a>(
                &'a self,
                status: CallStatus,
                node: Option<&'a str>,
            ) -> StoreFuture<'a, Vec<CallRecord>> {
                Box::pin(async move {
                    let rows: Vec<CallRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {CALL_COLUMNS} FROM calls c WHERE c.status = $1 \
                         AND ($2 IS NULL OR c.node = $2) ORDER BY c.id"
                    )))
                    .bind(status.as_str())
                    .bind(node)
                    .fetch_all(self.reader())
                    .await?;
                    rows.into_iter().map(CallRow::into_record).collect()
                })
            }

            fn recent_calls(&self, limit: i64) -> StoreFuture<'_, Vec<CallRecord>> {
                Box::pin(async move {
                    let rows: Vec<CallRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {CALL_COLUMNS} FROM calls c ORDER BY c.id DESC LIMIT $1"
                    )))
                    .bind(limit.clamp(0, 10_000))
                    .fetch_all(self.reader())
                    .await?;
                    rows.into_iter().map(CallRow::into_record).collect()
                })
            }

            fn call_counts(&self) -> StoreFuture<'_, CallCounts> {
                Box::pin(async move {
                    let row: (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
                        "SELECT COUNT(*), \
                         COALESCE(SUM(CASE WHEN status = 'live' THEN 1 ELSE 0 END), 0), \
                         COALESCE(SUM(CASE WHEN connected_at IS NOT NULL THEN 1 ELSE 0 END), 0), \
                         COALESCE(SUM(CASE WHEN outcome = 'appeal' THEN 1 ELSE 0 END), 0), \
                         COALESCE(SUM(CASE WHEN outcome IS NOT NULL AND outcome <> 'appeal' \
                           THEN 1 ELSE 0 END), 0), \
                         COALESCE(SUM(CASE WHEN end_reason = 'abandoned' THEN 1 ELSE 0 END), 0) \
                         FROM calls",
                    )
                    .fetch_one(self.reader())
                    .await?;
                    Ok(CallCounts {
                        total: row.0,
                        live: row.1,
                        connected: row.2,
                        linked_to_appeal: row.3,
                        other_outcome: row.4,
                        abandoned: row.5,
                    })
                })
            }

            fn call_intraday(
                &self,
                from: DateTime<Utc>,
                to: DateTime<Utc>,
                bucket_secs: u32,
            ) -> StoreFuture<'_, CallIntraday> {
                Box::pin(async move {
                    let spans = intervals(from, to, bucket_secs);
                    let (Some(first), Some(last)) = (spans.first(), spans.last()) else {
                        return Ok(CallIntraday::default());
                    };
                    let (from, to) = (first.0, last.1);
                    // The intervals are a table of bind parameters joined to the calls, so the
                    // counting happens in the database (one range of the started_at index per
                    // interval) in the same text for both: SQLite compares the stored RFC 3339
                    // texts, PostgreSQL the timestamps.
                    let mut q: QueryBuilder<$db> = QueryBuilder::new("WITH b(i, lo, hi) AS (VALUES ");
                    for (i, (lo, hi)) in spans.iter().enumerate() {
                        if i > 0 {
                            q.push(", ");
                        }
                        q.push(format!("({i}, ")).push_bind(*lo).push(", ").push_bind(*hi).push(")");
                    }
                    q.push(
                        ") SELECT CAST(b.i AS BIGINT), COUNT(*), \
                         COALESCE(SUM(CASE WHEN c.connected_at IS NOT NULL THEN 1 ELSE 0 END), 0), \
                         COALESCE(SUM(CASE WHEN c.connected_at IS NULL \
                           AND c.end_reason = 'abandoned' THEN 1 ELSE 0 END), 0) \
                         FROM b JOIN calls c ON c.started_at >= b.lo AND c.started_at < b.hi \
                         WHERE c.direction = 'inbound' AND c.queued_at IS NOT NULL GROUP BY b.i",
                    );
                    let counted: Vec<(i64, i64, i64, i64)> =
                        q.build_query_as().fetch_all(self.reader()).await?;
                    let mut buckets: Vec<IntradayBucket> = spans
                        .iter()
                        .map(|(start, _)| IntradayBucket {
                            start: *start,
                            offered: 0,
                            answered: 0,
                            abandoned: 0,
                        })
                        .collect();
                    for (i, offered, answered, abandoned) in counted {
                        if let Some(b) = usize::try_from(i).ok().and_then(|i| buckets.get_mut(i)) {
                            (b.offered, b.answered, b.abandoned) = (offered, answered, abandoned);
                        }
                    }
                    let agents: Vec<(i64, i64)> = sqlx::query_as(
                        "SELECT agent_user_id, COUNT(*) FROM calls WHERE started_at >= $1 \
                         AND started_at < $2 AND connected_at IS NOT NULL \
                         AND agent_user_id IS NOT NULL GROUP BY agent_user_id ORDER BY agent_user_id",
                    )
                    .bind(from)
                    .bind(to)
                    .fetch_all(self.reader())
                    .await?;
                    let agents = agents
                        .into_iter()
                        .map(|(user_id, answered)| AgentAnswered { user_id, answered })
                        .collect();
                    Ok(CallIntraday { buckets, agents })
                })
            }

            fn calls_known<'a>(&'a self, uuids: &'a [String]) -> StoreFuture<'a, Vec<String>> {
                Box::pin(async move {
                    let mut known = Vec::new();
                    for chunk in uuids.chunks(500) {
                        let mut q: QueryBuilder<$db> =
                            QueryBuilder::new("SELECT uuid FROM calls WHERE uuid IN (");
                        let mut sep = q.separated(", ");
                        for u in chunk {
                            sep.push_bind(u);
                        }
                        q.push(")");
                        let rows: Vec<(String,)> =
                            q.build_query_as().fetch_all(self.reader()).await?;
                        known.extend(rows.into_iter().map(|r| r.0));
                    }
                    Ok(known)
                })
            }
        }
    };
}

mod sqlite_impl {
    call_log!(crate::SqliteStore, sqlx::Sqlite);
}

mod pg_impl {
    call_log!(crate::PgStore, sqlx::Postgres);
}
