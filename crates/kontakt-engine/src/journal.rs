//! The record writer: call-record operations go to the database in order, in batches; while
//! the database is slow or away they wait in a bounded, durable local journal (JSON lines,
//! fsync'd), which is replayed in order when the database answers again.
//!
//! One task owns the journal file; nobody else reads or writes it. Order is kept by one
//! rule: once anything is in the journal, new operations go behind it, never straight to
//! the database, until the journal is empty. Operations are idempotent (see
//! `kontakt_store::calls`), so replaying a batch that had reached the database before a
//! crash changes nothing.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kontakt_store::{CallOp, Store, StoreError};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{mpsc, oneshot};

/// Where the journal lives and how big it may grow.
#[derive(Debug, Clone)]
pub struct JournalConfig {
    pub dir: PathBuf,
    /// Beyond this many bytes new operations are refused (and counted as lost): a full
    /// disk must not take the machine down with it.
    pub max_bytes: u64,
    /// A database write slower than this is abandoned and its batch journaled.
    pub db_timeout: Duration,
    /// How often a non-empty journal tries the database again.
    pub retry_every: Duration,
}

impl JournalConfig {
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        JournalConfig {
            dir: dir.into(),
            max_bytes: 512 << 20,
            db_timeout: Duration::from_secs(3),
            retry_every: Duration::from_millis(500),
        }
    }
}

/// Counters for `/metrics` and the demo summary.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Operations now waiting in the journal.
    pub journal_depth: AtomicU64,
    pub journal_bytes: AtomicU64,
    /// Operations that reached the database.
    pub written: AtomicU64,
    /// Operations the database refused as wrong (kept in `rejected.jsonl`).
    pub rejected: AtomicU64,
    /// Operations neither written nor journaled (journal full or disk failing).
    pub lost: AtomicU64,
    /// Duration of the last database batch, microseconds.
    pub last_write_us: AtomicU64,
    pub db_batches: AtomicU64,
    pub db_write_us_sum: AtomicU64,
    /// False while the database is failing.
    pub db_up: AtomicBool,
}

/// Why an operation could not be made durable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("the journal is full ({0} bytes) and the database is unavailable")]
    JournalFull(u64),
    #[error("the journal could not be written: {0}")]
    Journal(String),
    #[error("the record writer has stopped")]
    Stopped,
}

struct Msg {
    ops: Vec<CallOp>,
    ack: Option<oneshot::Sender<Result<(), WriteError>>>,
}

/// Handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct RecordWriter {
    tx: mpsc::UnboundedSender<Msg>,
    stats: Arc<WriterStats>,
}

impl RecordWriter {
    /// Opens (creating) the journal directory and starts the writer. A journal left by a
    /// previous run is replayed first.
    pub async fn start(store: Arc<dyn Store>, cfg: JournalConfig) -> std::io::Result<Self> {
        tokio::fs::create_dir_all(&cfg.dir).await?;
        let path = cfg.dir.join("calls.jsonl");
        let bytes = tokio::fs::metadata(&path).await.map(|m| m.len()).unwrap_or(0);
        let depth = if bytes > 0 { count_lines(&path).await? } else { 0 };
        let stats = Arc::new(WriterStats::default());
        stats.journal_bytes.store(bytes, Ordering::Relaxed);
        stats.journal_depth.store(depth, Ordering::Relaxed);
        stats.db_up.store(true, Ordering::Relaxed);
        if depth > 0 {
            tracing::warn!(
                operations = depth,
                "replaying the call-record journal of a previous run"
            );
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let task = Task { store, cfg, path, rx, stats: stats.clone() };
        tokio::spawn(task.run());
        Ok(RecordWriter { tx, stats })
    }

    /// Queues operations; they are written in order, later.
    pub fn write(&self, ops: Vec<CallOp>) {
        if self.tx.send(Msg { ops, ack: None }).is_err() {
            self.stats.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes operations and returns once they are durable: committed to the database or
    /// fsync'd into the journal.
    pub async fn write_durable(&self, ops: Vec<CallOp>) -> Result<(), WriteError> {
        let (ack, rx) = oneshot::channel();
        self.tx.send(Msg { ops, ack: Some(ack) }).map_err(|_| WriteError::Stopped)?;
        rx.await.unwrap_or(Err(WriteError::Stopped))
    }

    pub fn stats(&self) -> &Arc<WriterStats> {
        &self.stats
    }

    /// Resolves once everything queued so far is durable (in the database or the journal).
    pub async fn sync(&self) -> Result<(), WriteError> {
        self.write_durable(Vec::new()).await
    }
}

async fn count_lines(path: &std::path::Path) -> std::io::Result<u64> {
    let data = tokio::fs::read(path).await?;
    Ok(data.iter().filter(|b| **b == b'\n').count() as u64)
}

struct Task {
    store: Arc<dyn Store>,
    cfg: JournalConfig,
    path: PathBuf,
    rx: mpsc::UnboundedReceiver<Msg>,
    stats: Arc<WriterStats>,
}

enum DbOutcome {
    Written,
    /// The database is unavailable or too slow: try again later.
    Unavailable(String),
}

impl Task {
    async fn run(mut self) {
        loop {
            let backlog = self.stats.journal_depth.load(Ordering::Relaxed) > 0;
            let first = if backlog {
                match tokio::time::timeout(self.cfg.retry_every, self.rx.recv()).await {
                    Ok(Some(m)) => Some(m),
                    Ok(None) => return,
                    Err(_) => None,
                }
            } else {
                match self.rx.recv().await {
                    Some(m) => Some(m),
                    None => return,
                }
            };
            let mut msgs: Vec<Msg> = first.into_iter().collect();
            let mut n: usize = msgs.iter().map(|m| m.ops.len()).sum();
            while n < 1024 {
                match self.rx.try_recv() {
                    Ok(m) => {
                        n += m.ops.len();
                        msgs.push(m);
                    }
                    Err(_) => break,
                }
            }
            if self.stats.journal_depth.load(Ordering::Relaxed) > 0 {
                self.flush_journal().await;
            }
            if msgs.is_empty() {
                continue;
            }
            let ops: Vec<CallOp> = msgs.iter().flat_map(|m| m.ops.iter().cloned()).collect();
            let result = if ops.is_empty() {
                Ok(())
            } else if self.stats.journal_depth.load(Ordering::Relaxed) > 0 {
                self.append(&ops).await
            } else {
                match self.to_db(&ops).await {
                    DbOutcome::Written => Ok(()),
                    DbOutcome::Unavailable(why) => {
                        tracing::warn!(%why, ops = ops.len(), "database unavailable: journaling call records");
                        self.append(&ops).await
                    }
                }
            };
            if result.is_err() {
                self.stats.lost.fetch_add(ops.len() as u64, Ordering::Relaxed);
            }
            for m in msgs {
                if let Some(ack) = m.ack {
                    let _ = ack.send(result.clone());
                }
            }
        }
    }

    /// Writes a batch; a batch the database refuses as wrong is retried one operation at a
    /// time so that one bad operation does not take the others with it.
    async fn to_db(&self, ops: &[CallOp]) -> DbOutcome {
        match self.try_db(ops).await {
            Ok(()) => DbOutcome::Written,
            Err(Some(e)) if is_refusal(&e) && ops.len() > 1 => {
                for op in ops {
                    match self.try_db(std::slice::from_ref(op)).await {
                        Ok(()) => {}
                        Err(Some(e)) if is_refusal(&e) => self.reject(op, &e).await,
                        Err(e) => return DbOutcome::Unavailable(describe(e)),
                    }
                }
                DbOutcome::Written
            }
            Err(Some(e)) if is_refusal(&e) => {
                if let Some(op) = ops.first() {
                    self.reject(op, &e).await;
                }
                DbOutcome::Written
            }
            Err(e) => DbOutcome::Unavailable(describe(e)),
        }
    }

    /// `Err(None)` is a timeout.
    async fn try_db(&self, ops: &[CallOp]) -> Result<(), Option<StoreError>> {
        let started = Instant::now();
        let r = tokio::time::timeout(self.cfg.db_timeout, self.store.apply_call_ops(ops)).await;
        let us = started.elapsed().as_micros() as u64;
        self.stats.last_write_us.store(us, Ordering::Relaxed);
        self.stats.db_batches.fetch_add(1, Ordering::Relaxed);
        self.stats.db_write_us_sum.fetch_add(us, Ordering::Relaxed);
        match r {
            Ok(Ok(())) => {
                self.stats.written.fetch_add(ops.len() as u64, Ordering::Relaxed);
                self.stats.db_up.store(true, Ordering::Relaxed);
                Ok(())
            }
            Ok(Err(e)) => {
                if !is_refusal(&e) {
                    self.stats.db_up.store(false, Ordering::Relaxed);
                }
                Err(Some(e))
            }
            Err(_) => {
                self.stats.db_up.store(false, Ordering::Relaxed);
                Err(None)
            }
        }
    }

    async fn reject(&self, op: &CallOp, e: &StoreError) {
        tracing::error!(error = %e, call = %op.key().uuid, "call-record operation refused; kept in rejected.jsonl");
        self.stats.rejected.fetch_add(1, Ordering::Relaxed);
        let line = serde_json::json!({"error": e.to_string(), "op": op}).to_string() + "\n";
        let _ = append_file(&self.cfg.dir.join("rejected.jsonl"), line.as_bytes()).await;
    }

    async fn append(&self, ops: &[CallOp]) -> Result<(), WriteError> {
        let mut buf = Vec::new();
        for op in ops {
            if serde_json::to_writer(&mut buf, op).is_err() {
                continue;
            }
            buf.push(b'\n');
        }
        let bytes = self.stats.journal_bytes.load(Ordering::Relaxed);
        if bytes + buf.len() as u64 > self.cfg.max_bytes {
            tracing::error!(bytes, "call-record journal full: records are being lost");
            return Err(WriteError::JournalFull(bytes));
        }
        append_file(&self.path, &buf).await.map_err(|e| WriteError::Journal(e.to_string()))?;
        self.stats.journal_bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
        self.stats.journal_depth.fetch_add(ops.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Replays the journal into the database, in order; stops at the first batch the
    /// database cannot take and leaves the journal as it was (replay is idempotent).
    async fn flush_journal(&self) {
        let Ok(data) = tokio::fs::read(&self.path).await else { return };
        let mut ops = Vec::new();
        for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<CallOp>(line) {
                Ok(op) => ops.push(op),
                // A torn last line (crash during append) or a foreign line: say so, skip it.
                Err(e) => {
                    tracing::error!(error = %e, "unreadable line in the call-record journal skipped")
                }
            }
        }
        for chunk in ops.chunks(500) {
            if let DbOutcome::Unavailable(_) = self.to_db(chunk).await {
                return;
            }
        }
        match tokio::fs::File::create(&self.path).await {
            Ok(f) => {
                let _ = f.sync_all().await;
                tracing::info!(
                    operations = ops.len(),
                    "call-record journal drained into the database"
                );
                self.stats.journal_bytes.store(0, Ordering::Relaxed);
                self.stats.journal_depth.store(0, Ordering::Relaxed);
            }
            Err(e) => tracing::error!(error = %e, "could not truncate the drained journal"),
        }
    }
}

async fn append_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = tokio::fs::OpenOptions::new().create(true).append(true).open(path).await?;
    f.write_all(bytes).await?;
    f.sync_data().await
}

/// The database understood the operation and said no (it will say no again).
fn is_refusal(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::NotFound { .. }
            | StoreError::Conflict(_)
            | StoreError::MissingReference(_)
            | StoreError::Stale { .. }
            | StoreError::Corrupt(_)
    )
}

fn describe(e: Option<StoreError>) -> String {
    e.map_or_else(|| "timed out".to_owned(), |e| e.to_string())
}
