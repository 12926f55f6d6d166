//! The record writer: call-record operations go to the database in order, in batches; while
//! the database is slow or away they wait in a bounded, durable local journal (JSON lines,
//! fsync'd), which is replayed in order when the database answers again.
//!
//! One task owns the journal file; nobody else reads or writes it. Order is kept by one
//! rule: once anything is in the journal, new operations go behind it, never straight to
//! the database, until the journal is empty. Operations are idempotent (see
//! `kontakt_store::calls`), so replaying a batch that had reached the database before a
//! crash changes nothing.
//!
//! Trying the database again never holds up new operations: while a replay waits for the
//! database (up to `db_timeout` when it does not answer), operations keep being appended
//! behind it and acknowledged. Only the journal's last piece is written with new operations
//! waiting, and only when the database has just answered quickly, so that the journal empties.
//!
//! Nobody waits on the database for long: a write somebody waits on (a caller is answered
//! once their call's record is durable) gets `durable_within` (500 ms), then its batch is
//! journaled. A database that answers, but slowly, is used again once it answers quickly.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kontakt_store::{CallOp, Store, StoreError};
use tokio::io::{AsyncBufReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};
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
    /// A write somebody waits on (`write_durable`: a caller is answered once the record of
    /// their call is durable) is given the database for this long at most; then its batch
    /// goes to the journal, which is durable in a millisecond. A database that is up but
    /// slow thus slows no caller: slow, it takes the journal's place only once it is quick
    /// again.
    pub durable_within: Duration,
    /// How often a non-empty journal tries the database again.
    pub retry_every: Duration,
}

impl JournalConfig {
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        JournalConfig {
            dir: dir.into(),
            max_bytes: 512 << 20,
            db_timeout: Duration::from_secs(3),
            durable_within: Duration::from_millis(500),
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
        let (bytes, depth) = open_journal(&path).await?;
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
        let task = Task { store, cfg, path, stats: stats.clone() };
        tokio::spawn(task.run(rx));
        Ok(RecordWriter { tx, stats })
    }

    /// Queues operations; they are written in order, later.
    pub fn write(&self, ops: Vec<CallOp>) {
        let n = ops.len() as u64;
        if self.tx.send(Msg { ops, ack: None }).is_err() {
            self.stats.lost.fetch_add(n, Ordering::Relaxed);
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

/// The journal's size and operations. A last line torn by a crash is cut off: what is
/// appended next would otherwise join it and be unreadable too.
async fn open_journal(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    let data = match tokio::fs::read(path).await {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(e),
    };
    let whole = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if whole < data.len() {
        tracing::error!(
            bytes = data.len() - whole,
            "torn last line of the call-record journal cut off"
        );
        let f = tokio::fs::OpenOptions::new().write(true).open(path).await?;
        f.set_len(whole as u64).await?;
        f.sync_all().await?;
    }
    let lines = data[..whole].iter().filter(|b| **b == b'\n').count() as u64;
    Ok((whole as u64, lines))
}

/// Operations written to the database in one batch of a replay.
const REPLAY_OPS: usize = 500;
/// A journal holding no more than this is written with new operations waiting.
const LAST_PIECE_BYTES: u64 = 256 << 10;

struct Task {
    store: Arc<dyn Store>,
    cfg: JournalConfig,
    path: PathBuf,
    stats: Arc<WriterStats>,
}

enum DbOutcome {
    Written,
    /// The database is unavailable or too slow: try again later.
    Unavailable(String),
}

/// How a piece of the journal's replay went.
enum Replayed {
    /// The journal up to byte `upto` is in the database; `lines` operations.
    Written {
        upto: u64,
        lines: u64,
    },
    Failed(String),
}

/// Where the replay stands. The journal's first `flushed` bytes are in the database; the
/// file is emptied once all of it is.
struct Backlog {
    flushed: u64,
    /// Not before then: the next try of a database that failed.
    next_try: Instant,
}

type ReplayFuture<'a> = Pin<Box<dyn Future<Output = Replayed> + Send + 'a>>;

impl Task {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        let mut backlog = Backlog { flushed: 0, next_try: Instant::now() };
        // A replay waiting for the database while new operations are appended behind it.
        let mut replay: Option<ReplayFuture<'_>> = None;
        loop {
            let bytes = self.stats.journal_bytes.load(Ordering::Relaxed);
            if replay.is_none() && bytes > 0 && Instant::now() >= backlog.next_try {
                if backlog.flushed >= bytes {
                    self.empty(&mut backlog).await;
                    continue;
                }
                if self.stats.db_up.load(Ordering::Relaxed)
                    && self.db_quick()
                    && bytes - backlog.flushed <= LAST_PIECE_BYTES
                {
                    // The last piece, the database answering quickly: new operations wait
                    // for it (`durable_within` at most), so that the journal empties even
                    // while they keep coming. A slow database would make them (and the
                    // callers behind them) wait.
                    let r = self.replay(backlog.flushed, bytes, self.cfg.durable_within).await;
                    self.replayed(r, &mut backlog);
                    continue;
                }
                replay = Some(Box::pin(self.replay(backlog.flushed, bytes, self.cfg.db_timeout)));
            }
            let retry_at = tokio::time::Instant::from_std(backlog.next_try);
            tokio::select! {
                r = async {
                    match replay.as_mut() {
                        Some(piece) => piece.await,
                        None => std::future::pending().await,
                    }
                } => {
                    replay = None;
                    self.replayed(r, &mut backlog);
                }
                m = rx.recv() => match m {
                    Some(m) => self.take(m, &mut rx, &mut backlog).await,
                    None => return,
                },
                () = tokio::time::sleep_until(retry_at), if replay.is_none() && bytes > 0 => {}
            }
        }
    }

    /// Writes a message, with whatever else is queued (up to a batch), and acknowledges
    /// them: to the database when the journal is empty, else (or when the database fails)
    /// to the journal.
    async fn take(&self, first: Msg, rx: &mut mpsc::UnboundedReceiver<Msg>, b: &mut Backlog) {
        let mut n = first.ops.len();
        let mut msgs = vec![first];
        while n < 1024 {
            match rx.try_recv() {
                Ok(m) => {
                    n += m.ops.len();
                    msgs.push(m);
                }
                Err(_) => break,
            }
        }
        let ops: Vec<CallOp> = msgs.iter().flat_map(|m| m.ops.iter().cloned()).collect();
        let result = if ops.is_empty() {
            Ok(())
        } else if self.stats.journal_bytes.load(Ordering::Relaxed) > 0 {
            self.append(&ops).await
        } else {
            // With somebody waiting, the database gets `durable_within`, not `db_timeout`.
            let waited = msgs.iter().any(|m| m.ack.is_some());
            let limit = if waited {
                self.cfg.durable_within.min(self.cfg.db_timeout)
            } else {
                self.cfg.db_timeout
            };
            match self.to_db(&ops, limit).await {
                DbOutcome::Written => Ok(()),
                DbOutcome::Unavailable(why) => {
                    tracing::warn!(%why, ops = ops.len(), "database unavailable: journaling call records");
                    b.next_try = Instant::now() + self.cfg.retry_every;
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

    /// Writes a batch; a batch the database refuses as wrong is retried one operation at a
    /// time so that one bad operation does not take the others with it.
    async fn to_db(&self, ops: &[CallOp], limit: Duration) -> DbOutcome {
        match self.try_db(ops, limit).await {
            Ok(()) => DbOutcome::Written,
            Err(Some(e)) if is_refusal(&e) && ops.len() > 1 => {
                for op in ops {
                    match self.try_db(std::slice::from_ref(op), limit).await {
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

    /// Whether the last database write took less than `durable_within`.
    fn db_quick(&self) -> bool {
        let last = Duration::from_micros(self.stats.last_write_us.load(Ordering::Relaxed));
        last < self.cfg.durable_within
    }

    /// `Err(None)` is a timeout. A write cancelled by it is rolled back (on PostgreSQL the
    /// pool checks that no transaction is left open: `kontakt-store/src/pg.rs`); one whose
    /// commit got through before the timeout is written again from the journal, which
    /// changes nothing (operations are idempotent).
    async fn try_db(&self, ops: &[CallOp], limit: Duration) -> Result<(), Option<StoreError>> {
        let started = Instant::now();
        let r = tokio::time::timeout(limit, self.store.apply_call_ops(ops)).await;
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
        let mut lines = 0;
        for op in ops {
            if serde_json::to_writer(&mut buf, op).is_err() {
                continue;
            }
            buf.push(b'\n');
            lines += 1;
        }
        let bytes = self.stats.journal_bytes.load(Ordering::Relaxed);
        if bytes + buf.len() as u64 > self.cfg.max_bytes {
            tracing::error!(bytes, "call-record journal full: records are being lost");
            return Err(WriteError::JournalFull(bytes));
        }
        if let Err(e) = append_file(&self.path, &buf).await {
            // Part of it may be in the file: cut it off, or it would join the next line.
            if let Ok(f) = tokio::fs::OpenOptions::new().write(true).open(&self.path).await {
                let _ = f.set_len(bytes).await;
            }
            return Err(WriteError::Journal(e.to_string()));
        }
        self.stats.journal_bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
        self.stats.journal_depth.fetch_add(lines, Ordering::Relaxed);
        Ok(())
    }

    /// Writes the journal's next piece, from byte `from` (never past `to`, what had been
    /// appended when it started), to the database in one batch.
    async fn replay(&self, from: u64, to: u64, limit: Duration) -> Replayed {
        let (ops, upto, lines) = match self.read_piece(from, to).await {
            Ok(piece) => piece,
            Err(e) => return Replayed::Failed(format!("cannot read the journal: {e}")),
        };
        if !ops.is_empty()
            && let DbOutcome::Unavailable(why) = self.to_db(&ops, limit).await
        {
            return Replayed::Failed(why);
        }
        Replayed::Written { upto, lines }
    }

    /// Up to `REPLAY_OPS` operations from byte `from`: the operations, where they end, and
    /// how many lines that was (a line that is not an operation is logged and skipped).
    async fn read_piece(&self, from: u64, to: u64) -> std::io::Result<(Vec<CallOp>, u64, u64)> {
        let mut f = tokio::fs::File::open(&self.path).await?;
        f.seek(std::io::SeekFrom::Start(from)).await?;
        let mut reader = tokio::io::BufReader::new(f);
        let (mut at, mut lines, mut ops) = (from, 0, Vec::new());
        let mut line = Vec::new();
        while at < to && ops.len() < REPLAY_OPS {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).await?;
            if n == 0 {
                // Shorter than what was appended (cut by hand?): what is missing is gone.
                tracing::error!(at, expected = to, "the call-record journal ends early");
                at = to;
                break;
            }
            at += n as u64;
            lines += 1;
            match serde_json::from_slice::<CallOp>(&line) {
                Ok(op) => ops.push(op),
                Err(e) => {
                    tracing::error!(error = %e, "unreadable line in the call-record journal skipped")
                }
            }
        }
        Ok((ops, at, lines))
    }

    fn replayed(&self, r: Replayed, b: &mut Backlog) {
        match r {
            Replayed::Written { upto, lines } => {
                b.flushed = upto;
                let _ = self.stats.journal_depth.fetch_update(
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                    |d| Some(d.saturating_sub(lines)),
                );
                b.next_try = Instant::now();
            }
            Replayed::Failed(why) => {
                tracing::debug!(%why, "the call-record journal waits for the database");
                b.next_try = Instant::now() + self.cfg.retry_every;
            }
        }
    }

    /// All of the journal is in the database: the file is emptied, and operations go
    /// straight to the database again.
    async fn empty(&self, b: &mut Backlog) {
        let emptied = async {
            let f = tokio::fs::File::create(&self.path).await?;
            f.sync_all().await
        };
        match emptied.await {
            Ok(()) => {
                tracing::info!("call-record journal drained into the database");
                self.stats.journal_bytes.store(0, Ordering::Relaxed);
                self.stats.journal_depth.store(0, Ordering::Relaxed);
                b.flushed = 0;
            }
            Err(e) => {
                tracing::error!(error = %e, "could not truncate the drained journal");
                b.next_try = Instant::now() + self.cfg.retry_every;
            }
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
