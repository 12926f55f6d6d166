//! The hub: one task subscribed to the engine's two broadcasts. It numbers each user's
//! messages, keeps the most recent ones in a ring for clients that reconnect, and hands each
//! message to that user's connections with `try_send`, so it never waits for anyone.
//!
//! It relays and nothing else: it holds no routing state (no agents, no calls), only the
//! serialised messages it passed on. A connection whose queue is full is dropped from its
//! stream and told so (`dropped`); it then starts over from a fresh snapshot.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use kontakt_engine::feed::{OperatorEvent, OperatorMsg, SupervisorMsg};
use kontakt_store::Id;
use serde_json::{Map, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{broadcast, mpsc, oneshot};

/// Messages kept per user stream for resuming.
pub(crate) const RING: usize = 256;
/// Messages queued per connection before it counts as too slow.
pub(crate) const QUEUE: usize = 256;

/// Which feed a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum View {
    /// One operator's own events.
    Desk,
    /// The supervisors' wall board.
    Wallboard,
}

impl View {
    pub(crate) fn name(self) -> &'static str {
        match self {
            View::Desk => "desk",
            View::Wallboard => "wallboard",
        }
    }
}

/// One user's stream: sequence numbers are counted per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct StreamKey {
    pub(crate) view: View,
    pub(crate) user: Id,
}

/// One engine message, serialised once for every stream that carries it.
#[derive(Debug, PartialEq)]
pub(crate) struct Payload {
    /// The message's `type`.
    pub(crate) kind: String,
    /// The message's `data` object, as JSON text.
    pub(crate) data: String,
    /// When the engine published it.
    pub(crate) at: DateTime<Utc>,
    /// For a screen-pop: the call, and the applicant it shows (personal data, so audited).
    pub(crate) pop: Option<(String, Option<Id>)>,
}

/// A message with its place in one stream.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) seq: u64,
    pub(crate) payload: Arc<Payload>,
}

/// What a connection gets from the hub.
#[derive(Debug)]
pub(crate) struct Subscription {
    /// The stream's last sequence number when the subscription started: the queue begins
    /// after it.
    pub(crate) head: u64,
    /// With a resume point still in the ring: the messages after it, up to `head`.
    pub(crate) replay: Option<Vec<Entry>>,
    pub(crate) rx: mpsc::Receiver<Entry>,
    /// Set (before the queue is closed) when the hub dropped this connection because its
    /// queue was full or the hub itself missed messages.
    pub(crate) dropped: Arc<AtomicBool>,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct HubStats {
    pub(crate) connections: AtomicI64,
    pub(crate) relayed: AtomicU64,
    pub(crate) overflows: AtomicU64,
    pub(crate) lagged: AtomicU64,
    pub(crate) resumed: AtomicU64,
    pub(crate) resume_refused: AtomicU64,
}

impl HubStats {
    pub(crate) fn render(&self, o: &mut String) {
        let get = |v: &AtomicU64| v.load(Ordering::Relaxed);
        let _ = writeln!(
            o,
            "# HELP kontakt_feed_connections Open feed WebSockets.\n# TYPE kontakt_feed_connections gauge\nkontakt_feed_connections {}",
            self.connections.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            o,
            "# HELP kontakt_feed_messages_total Feed messages handed to connections' queues.\n# TYPE kontakt_feed_messages_total counter\nkontakt_feed_messages_total {}",
            get(&self.relayed)
        );
        let _ = writeln!(
            o,
            "# HELP kontakt_feed_overflows_total Connections dropped for a full queue (they get a fresh snapshot).\n# TYPE kontakt_feed_overflows_total counter\nkontakt_feed_overflows_total {}",
            get(&self.overflows)
        );
        let _ = writeln!(
            o,
            "# HELP kontakt_feed_lagged_total Engine messages the hub missed (broadcast lag).\n# TYPE kontakt_feed_lagged_total counter\nkontakt_feed_lagged_total {}",
            get(&self.lagged)
        );
        let _ = writeln!(
            o,
            "# HELP kontakt_feed_resumes_total Reconnections by result.\n# TYPE kontakt_feed_resumes_total counter\nkontakt_feed_resumes_total{{result=\"replayed\"}} {}\nkontakt_feed_resumes_total{{result=\"snapshot\"}} {}",
            get(&self.resumed),
            get(&self.resume_refused)
        );
    }
}

enum Cmd {
    Subscribe { key: StreamKey, resume: Option<u64>, reply: oneshot::Sender<Subscription> },
}

/// Handle to the hub task; cheap to clone.
#[derive(Clone)]
pub(crate) struct Hub {
    cmds: mpsc::Sender<Cmd>,
    stream_id: Arc<str>,
    pub(crate) stats: Arc<HubStats>,
}

impl Hub {
    /// The hub of a running engine. Needs a tokio runtime; without one there is no feed.
    pub(crate) fn for_engine(engine: &kontakt_engine::EngineHandle) -> Option<Hub> {
        if tokio::runtime::Handle::try_current().is_err() {
            tracing::warn!("kontakt_web::app called outside a tokio runtime: no live feed");
            return None;
        }
        Some(Hub::start(engine.operator_feed(), engine.supervisor_feed(), RING, QUEUE))
    }

    pub(crate) fn start(
        ops: broadcast::Receiver<Arc<OperatorMsg>>,
        sups: broadcast::Receiver<Arc<SupervisorMsg>>,
        ring: usize,
        queue: usize,
    ) -> Hub {
        let (tx, rx) = mpsc::channel(1024);
        let stats = Arc::new(HubStats::default());
        // A new id every start: sequence numbers of an earlier process mean nothing here.
        let stream_id: Arc<str> = crate::auth::new_token()[..16].into();
        let task = Relay {
            streams: HashMap::new(),
            ring: ring.max(1),
            queue: queue.max(1),
            stats: stats.clone(),
        };
        tokio::spawn(task.run(ops, sups, rx));
        Hub { cmds: tx, stream_id, stats }
    }

    /// Names this process's streams; a resume point from another id gets a snapshot.
    pub(crate) fn stream_id(&self) -> &str {
        &self.stream_id
    }

    /// Joins a user's stream. With `resume` (the last sequence number the client saw) the
    /// subscription carries the messages after it, if the ring still has all of them.
    pub(crate) async fn subscribe(
        &self,
        key: StreamKey,
        resume: Option<u64>,
    ) -> Option<Subscription> {
        let (reply, rx) = oneshot::channel();
        self.cmds.send(Cmd::Subscribe { key, resume, reply }).await.ok()?;
        rx.await.ok()
    }
}

struct Sub {
    tx: mpsc::Sender<Entry>,
    dropped: Arc<AtomicBool>,
}

#[derive(Default)]
struct Stream {
    head: u64,
    ring: VecDeque<Entry>,
    subs: Vec<Sub>,
}

struct Relay {
    streams: HashMap<StreamKey, Stream>,
    ring: usize,
    queue: usize,
    stats: Arc<HubStats>,
}

/// Receives from a broadcast until it closes, then never again.
async fn recv_from<T: Clone>(rx: &mut Option<broadcast::Receiver<T>>) -> Result<T, RecvError> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

impl Relay {
    async fn run(
        mut self,
        ops: broadcast::Receiver<Arc<OperatorMsg>>,
        sups: broadcast::Receiver<Arc<SupervisorMsg>>,
        mut cmds: mpsc::Receiver<Cmd>,
    ) {
        let (mut ops, mut sups) = (Some(ops), Some(sups));
        loop {
            tokio::select! {
                cmd = cmds.recv() => match cmd {
                    Some(Cmd::Subscribe { key, resume, reply }) => {
                        let _ = reply.send(self.subscribe(key, resume));
                    }
                    // Every handle is gone: the application was dropped.
                    None => return,
                },
                m = recv_from(&mut ops) => match m {
                    Ok(m) => {
                        let key = StreamKey { view: View::Desk, user: m.user_id };
                        // Only users who connected since the start have a stream to resume.
                        if self.streams.contains_key(&key) {
                            let payload = Arc::new(operator_payload(&m));
                            self.push(key, payload);
                        }
                    }
                    Err(RecvError::Lagged(n)) => self.lost(View::Desk, n),
                    Err(RecvError::Closed) => ops = None,
                },
                m = recv_from(&mut sups) => match m {
                    Ok(m) => {
                        let payload = Arc::new(supervisor_payload(&m));
                        let keys: Vec<StreamKey> = self
                            .streams
                            .keys()
                            .filter(|k| k.view == View::Wallboard)
                            .copied()
                            .collect();
                        for key in keys {
                            self.push(key, payload.clone());
                        }
                    }
                    Err(RecvError::Lagged(n)) => self.lost(View::Wallboard, n),
                    Err(RecvError::Closed) => sups = None,
                },
            }
        }
    }

    fn subscribe(&mut self, key: StreamKey, resume: Option<u64>) -> Subscription {
        let stream = self.streams.entry(key).or_default();
        // Connections that went away since the last message.
        stream.subs.retain(|s| !s.tx.is_closed());
        let (tx, rx) = mpsc::channel(self.queue);
        let dropped = Arc::new(AtomicBool::new(false));
        stream.subs.push(Sub { tx, dropped: dropped.clone() });
        let head = stream.head;
        let replay = resume.and_then(|last| {
            let complete = last == head
                || (last < head && stream.ring.front().is_some_and(|e| e.seq <= last + 1));
            complete.then(|| stream.ring.iter().filter(|e| e.seq > last).cloned().collect())
        });
        if resume.is_some() {
            let counter =
                if replay.is_some() { &self.stats.resumed } else { &self.stats.resume_refused };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        Subscription { head, replay, rx, dropped }
    }

    fn push(&mut self, key: StreamKey, payload: Arc<Payload>) {
        let Some(stream) = self.streams.get_mut(&key) else { return };
        stream.head += 1;
        let entry = Entry { seq: stream.head, payload };
        if stream.ring.len() >= self.ring {
            stream.ring.pop_front();
        }
        stream.ring.push_back(entry.clone());
        let stats = &self.stats;
        stream.subs.retain(|s| match s.tx.try_send(entry.clone()) {
            Ok(()) => {
                stats.relayed.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(_)) => {
                s.dropped.store(true, Ordering::Release);
                stats.overflows.fetch_add(1, Ordering::Relaxed);
                false
            }
            Err(TrySendError::Closed(_)) => false,
        });
    }

    /// The hub fell behind the engine and `n` messages of this view are lost for everyone:
    /// no ring can replay across the gap, and every connection starts over from a snapshot.
    fn lost(&mut self, view: View, n: u64) {
        tracing::warn!(view = view.name(), missed = n, "the feed hub lagged behind the engine");
        self.stats.lagged.fetch_add(n, Ordering::Relaxed);
        for (_, stream) in self.streams.iter_mut().filter(|(k, _)| k.view == view) {
            // A sequence number nobody will ever see marks the gap.
            stream.head += 1;
            stream.ring.clear();
            for s in stream.subs.drain(..) {
                s.dropped.store(true, Ordering::Release);
            }
        }
    }
}

/// Splits a serialised `#[serde(tag = "type")]` enum into its type and the other fields.
fn split_tagged(v: Result<Value, serde_json::Error>) -> (String, Map<String, Value>) {
    match v {
        Ok(Value::Object(mut m)) => {
            let kind = match m.remove("type") {
                Some(Value::String(s)) => s,
                _ => "unknown".into(),
            };
            (kind, m)
        }
        other => {
            tracing::error!(?other, "a feed message did not serialise to an object");
            ("unknown".into(), Map::new())
        }
    }
}

pub(crate) fn operator_payload(m: &OperatorMsg) -> Payload {
    let pop = match &m.event {
        OperatorEvent::ScreenPop(p) => {
            Some((p.call.clone(), p.context.applicant.as_ref().map(|a| a.id)))
        }
        _ => None,
    };
    stamped(serde_json::to_value(&m.event), m.at, pop)
}

pub(crate) fn supervisor_payload(m: &SupervisorMsg) -> Payload {
    stamped(serde_json::to_value(&m.event), m.at, None)
}

/// A feed message: the event's fields, with `at` (when the engine published it) added.
fn stamped(
    event: Result<Value, serde_json::Error>,
    at: DateTime<Utc>,
    pop: Option<(String, Option<Id>)>,
) -> Payload {
    let (kind, mut data) = split_tagged(event);
    data.insert("at".into(), serde_json::to_value(at).unwrap_or(Value::Null));
    Payload { kind, data: Value::Object(data).to_string(), at, pop }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use kontakt_engine::feed::{AgentView, SupervisorEvent};

    fn state_msg(user: Id, state: &str) -> Arc<OperatorMsg> {
        Arc::new(OperatorMsg {
            user_id: user,
            at: Utc::now(),
            event: OperatorEvent::State { state: state.into(), reason: None },
        })
    }

    fn agent_msg(user: Id) -> Arc<SupervisorMsg> {
        Arc::new(SupervisorMsg {
            at: Utc::now(),
            event: SupervisorEvent::Agent(AgentView {
                user_id: user,
                username: format!("op{user}"),
                state: "ready".into(),
                reason: None,
                since: Utc::now(),
                call: None,
            }),
        })
    }

    struct Fixture {
        hub: Hub,
        ops: broadcast::Sender<Arc<OperatorMsg>>,
        sups: broadcast::Sender<Arc<SupervisorMsg>>,
    }

    fn fixture(ring: usize, queue: usize, capacity: usize) -> Fixture {
        let (ops, op_rx) = broadcast::channel(capacity);
        let (sups, sup_rx) = broadcast::channel(capacity);
        Fixture { hub: Hub::start(op_rx, sup_rx, ring, queue), ops, sups }
    }

    const A: StreamKey = StreamKey { view: View::Desk, user: 1 };
    const B: StreamKey = StreamKey { view: View::Desk, user: 2 };
    const S: StreamKey = StreamKey { view: View::Wallboard, user: 9 };

    async fn next(sub: &mut Subscription) -> Entry {
        tokio::time::timeout(std::time::Duration::from_secs(5), sub.rx.recv())
            .await
            .expect("a message within 5 s")
            .expect("the queue is open")
    }

    #[tokio::test]
    async fn each_user_gets_only_their_own_numbered_messages() {
        let f = fixture(8, 8, 64);
        let mut a = f.hub.subscribe(A, None).await.unwrap();
        let mut b = f.hub.subscribe(B, None).await.unwrap();
        let mut s = f.hub.subscribe(S, None).await.unwrap();
        assert_eq!((a.head, b.head, s.head), (0, 0, 0));
        f.ops.send(state_msg(1, "ready")).unwrap();
        f.ops.send(state_msg(2, "paused")).unwrap();
        f.ops.send(state_msg(1, "paused")).unwrap();
        f.sups.send(agent_msg(1)).unwrap();
        let (a1, a2) = (next(&mut a).await, next(&mut a).await);
        assert_eq!((a1.seq, a2.seq), (1, 2));
        assert!(a1.payload.data.contains("\"ready\""), "{:?}", a1.payload);
        assert_eq!(a1.payload.kind, "state");
        let b1 = next(&mut b).await;
        assert_eq!(b1.seq, 1);
        assert!(b1.payload.data.contains("paused"));
        let s1 = next(&mut s).await;
        assert_eq!((s1.seq, s1.payload.kind.as_str()), (1, "agent"));
        // Nothing else is queued for anyone: B never sees A's, operators never see agents.
        assert!(a.rx.try_recv().is_err() && b.rx.try_recv().is_err() && s.rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn resume_replays_from_the_ring_or_refuses() {
        let f = fixture(4, 16, 64);
        let mut a = f.hub.subscribe(A, None).await.unwrap();
        for i in 0..3 {
            f.ops.send(state_msg(1, &format!("s{i}"))).unwrap();
        }
        for _ in 0..3 {
            next(&mut a).await;
        }
        drop(a);
        // Seen up to 1: 2 and 3 come back.
        let r = f.hub.subscribe(A, Some(1)).await.unwrap();
        let seqs: Vec<u64> = r.replay.unwrap().iter().map(|e| e.seq).collect();
        assert_eq!((seqs, r.head), (vec![2, 3], 3));
        // Up to date: an empty replay, not a snapshot.
        assert_eq!(f.hub.subscribe(A, Some(3)).await.unwrap().replay.unwrap().len(), 0);
        // Ahead of the stream (another process's numbers): refused.
        assert!(f.hub.subscribe(A, Some(7)).await.unwrap().replay.is_none());
        // The ring holds 4: after 3 more, message 2 is gone and a resume from 1 is refused.
        let mut live = f.hub.subscribe(A, None).await.unwrap();
        for i in 0..3 {
            f.ops.send(state_msg(1, &format!("t{i}"))).unwrap();
        }
        for _ in 0..3 {
            next(&mut live).await;
        }
        assert!(f.hub.subscribe(A, Some(1)).await.unwrap().replay.is_none());
        let r = f.hub.subscribe(A, Some(2)).await.unwrap();
        let seqs: Vec<u64> = r.replay.unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![3, 4, 5, 6]);
        assert_eq!(f.hub.stats.resumed.load(Ordering::Relaxed), 3);
        assert_eq!(f.hub.stats.resume_refused.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn a_stuck_connection_is_dropped_without_holding_up_the_others() {
        let f = fixture(64, 2, 1024);
        let stuck = f.hub.subscribe(A, None).await.unwrap();
        let mut other = f.hub.subscribe(A, None).await.unwrap();
        for i in 0..20 {
            f.ops.send(state_msg(1, &format!("s{i}"))).unwrap();
            // The other connection reads everything, in order, while `stuck` reads nothing.
            assert_eq!(next(&mut other).await.seq, i + 1);
        }
        assert!(stuck.dropped.load(Ordering::Acquire), "the stuck connection is dropped");
        let mut stuck = stuck;
        // What it had queued is still there; then the queue ends.
        assert_eq!(next(&mut stuck).await.seq, 1);
        assert_eq!(next(&mut stuck).await.seq, 2);
        assert!(stuck.rx.recv().await.is_none());
        assert_eq!(f.hub.stats.overflows.load(Ordering::Relaxed), 1);
        assert!(!other.dropped.load(Ordering::Acquire));
    }

    #[tokio::test]
    async fn after_the_hub_lags_nobody_resumes_across_the_gap() {
        // A broadcast of 2: the hub cannot keep up with a burst sent while it is busy.
        let f = fixture(64, 64, 2);
        let mut a = f.hub.subscribe(A, None).await.unwrap();
        f.ops.send(state_msg(1, "first")).unwrap();
        assert_eq!(next(&mut a).await.seq, 1);
        // A current-thread test: the hub task does not run until we wait, so this burst
        // overruns the broadcast before the hub reads any of it.
        for i in 0..10 {
            let _ = f.ops.send(state_msg(1, &format!("flood{i}")));
        }
        let mut seen = vec![];
        while let Some(e) = a.rx.recv().await {
            seen.push(e.seq);
        }
        assert!(a.dropped.load(Ordering::Acquire), "dropped after the lag; saw {seen:?}");
        assert!(f.hub.stats.lagged.load(Ordering::Relaxed) > 0);
        // Resuming from anything before the gap needs a snapshot.
        assert!(f.hub.subscribe(A, Some(1)).await.unwrap().replay.is_none());
    }

    #[test]
    fn payloads_are_the_engine_messages_without_their_tag() {
        let m = state_msg(5, "paused");
        let p = operator_payload(&m);
        let data: Value = serde_json::from_str(&p.data).unwrap();
        assert_eq!(p.kind, "state");
        assert_eq!(data["state"], "paused");
        assert!(data.get("type").is_none());
        assert_eq!(data["at"], serde_json::to_value(m.at).unwrap());
        let at = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let gone = SupervisorMsg { at, event: SupervisorEvent::CallGone { call: "u-1".into() } };
        let p = supervisor_payload(&gone);
        assert_eq!(
            (p.kind.as_str(), p.data.as_str()),
            ("call_gone", r#"{"at":"2026-05-28T20:26:40Z","call":"u-1"}"#)
        );
    }
}
