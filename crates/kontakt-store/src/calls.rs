//! Call records: what happened to every call Kontakt handled, written as a stream of small,
//! replayable operations.
//!
//! Every operation names its call by the FreeSWITCH node and channel UUID (never by a
//! database id), so the engine can write it before the database answers, park it in the
//! local journal while the database is down, and replay it later. Replaying is harmless:
//! opening an open call does nothing, a step with a sequence number already stored is
//! skipped, an update sets columns to values (a `None` leaves a column alone), never adds.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::Id;
use crate::{StoreFuture, error::Result};

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
    /// call that was never opened are `StoreError::NotFound`; a `Link` to a missing appeal is
    /// `StoreError::MissingReference`; nothing of the batch is then applied.
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

macro_rules! call_log {
    ($store:ty, $db:ty) => {
        use sqlx::QueryBuilder;

        use crate::StoreFuture;
        use crate::calls::*;
        use crate::error::{Result, StoreError};

        async fn call_id(tx: &mut sqlx::Transaction<'_, $db>, key: &CallKey) -> Result<i64> {
            let row: Option<(i64,)> =
                sqlx::query_as("SELECT id FROM calls WHERE node = $1 AND uuid = $2")
                    .bind(&key.node)
                    .bind(&key.uuid)
                    .fetch_optional(&mut **tx)
                    .await?;
            row.map(|r| r.0).ok_or(StoreError::NotFound { what: "call" })
        }

        async fn apply_one(tx: &mut sqlx::Transaction<'_, $db>, op: &CallOp) -> Result<()> {
            match op {
                CallOp::Open(n) => {
                    sqlx::query(
                        "INSERT INTO calls (node, uuid, direction, caller, caller_raw, \
                         presentation, dialled, line, carrier, started_at, status) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'live') \
                         ON CONFLICT (node, uuid) DO NOTHING",
                    )
                    .bind(&n.key.node)
                    .bind(&n.key.uuid)
                    .bind(&n.direction)
                    .bind(&n.caller)
                    .bind(&n.caller_raw)
                    .bind(&n.presentation)
                    .bind(&n.dialled)
                    .bind(&n.line)
                    .bind(&n.carrier)
                    .bind(n.started_at)
                    .execute(&mut **tx)
                    .await?;
                }
                CallOp::Step { key, seq, at, kind, detail } => {
                    let id = call_id(tx, key).await?;
                    sqlx::query(
                        "INSERT INTO call_steps (call_id, seq, at, kind, detail) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (call_id, seq) DO NOTHING",
                    )
                    .bind(id)
                    .bind(*seq)
                    .bind(*at)
                    .bind(kind)
                    .bind(crate::rows::to_json(detail))
                    .execute(&mut **tx)
                    .await?;
                }
                CallOp::Update { key, set } => {
                    let id = call_id(tx, key).await?;
                    let mut q: QueryBuilder<$db> = QueryBuilder::new("UPDATE calls SET node = node");
                    macro_rules! col {
                        ($name:literal, $v:expr) => {
                            if let Some(v) = $v {
                                q.push(concat!(", ", $name, " = ")).push_bind(v);
                            }
                        };
                    }
                    col!("queue", set.queue.clone());
                    col!("priority", set.priority);
                    col!("queued_at", set.queued_at);
                    col!("agent_user_id", set.agent_user_id);
                    col!("offered_at", set.offered_at);
                    col!("connected_at", set.connected_at);
                    col!("ended_at", set.ended_at);
                    col!("hangup_cause", set.hangup_cause.clone());
                    col!("hangup_side", set.hangup_side.clone());
                    col!("end_reason", set.end_reason.clone());
                    col!("recording", set.recording.clone());
                    col!("ivr_ms", set.ivr_ms);
                    col!("wait_ms", set.wait_ms);
                    col!("ring_ms", set.ring_ms);
                    col!("talk_ms", set.talk_ms);
                    col!("hold_ms", set.hold_ms);
                    col!("wrap_ms", set.wrap_ms);
                    col!("status", set.status.map(|s| s.as_str()));
                    q.push(" WHERE id = ").push_bind(id);
                    q.build().execute(&mut **tx).await?;
                }
                CallOp::Link { key, link, by, at } => {
                    let id = call_id(tx, key).await?;
                    let (outcome, appeal) = match link {
                        CallLink::Appeal(a) => (OUTCOME_APPEAL.to_owned(), Some(*a)),
                        CallLink::Outcome(o) => (o.clone(), None),
                    };
                    sqlx::query(
                        "UPDATE calls SET outcome = $1, appeal_id = $2, linked_by = $3, \
                         linked_at = $4, status = 'closed' WHERE id = $5",
                    )
                    .bind(outcome)
                    .bind(appeal)
                    .bind(*by)
                    .bind(*at)
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
                }
            }
            Ok(())
        }

        impl CallLog for $store {
            fn apply_call_ops<'a>(&'a self, ops: &'a [CallOp]) -> StoreFuture<'a, ()> {
                Box::pin(async move {
                    let mut tx = self.writer().begin().await?;
                    for op in ops {
                        apply_one(&mut tx, op).await?;
                    }
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
