//! One feed connection: the first message (a snapshot, or `resumed` and the missed
//! messages), then the user's stream as the hub queues it. Every write has a deadline, and a
//! connection the hub dropped for a full queue starts over from a fresh snapshot.
//!
//! Generic over the socket and the snapshot source, so the protocol is tested without a
//! network or an engine.

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use kontakt_engine::CommandError;
use serde_json::{Map, Value, json};

use super::hub::{Entry, Hub, Payload, StreamKey, Subscription};

/// The protocol version every message carries (`"v"`).
pub(crate) const VERSION: u32 = 1;

/// What the connection writes to and hears from.
pub(crate) trait Transport: Send {
    /// Writes one text message; false when the socket is gone.
    fn send_text(&mut self, text: String) -> impl Future<Output = bool> + Send;
    /// Waits for the client's next message; `None` when it closed the connection, `Some("")`
    /// for anything but text (pings are answered by the library).
    fn recv(&mut self) -> impl Future<Output = Option<String>> + Send;
    fn ping(&mut self) -> impl Future<Output = bool> + Send;
    fn close(&mut self, code: u16, reason: &'static str) -> impl Future<Output = ()> + Send;
}

/// Where snapshots come from, and what the connection reports.
pub(crate) trait Backend: Send + Sync {
    /// The stream's current state: the operator's desk or the wall board.
    fn snapshot(
        &self,
        key: StreamKey,
    ) -> impl Future<Output = Result<Map<String, Value>, CommandError>> + Send;
    /// Whether the session or token that opened the connection still allows it.
    fn still_allowed(&self) -> impl Future<Output = bool> + Send;
    /// Called after a message was written; `live` is false for replayed messages.
    fn written(&self, payload: &Payload, live: bool);
    /// A text message from the client (docs/websocket.md, "What a client may send").
    fn received(&self, _text: &str) {}
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// How often the connection pings the client and re-checks its session.
    pub(crate) ping: Duration,
    /// How long one write may take before the client counts as gone.
    pub(crate) write_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing { ping: Duration::from_secs(30), write_timeout: Duration::from_secs(10) }
    }
}

/// How the connection begins.
#[derive(Debug)]
pub(crate) enum First {
    /// A snapshot taken after subscribing, and why the client gets one.
    Snapshot { data: Map<String, Value>, reason: &'static str },
    /// The subscription's replay continues from the client's `last` sequence number.
    Resumed { last: u64 },
}

/// Close codes (RFC 6455 §7.4).
const GOING_AWAY: u16 = 1001;
const POLICY: u16 = 1008;
const INTERNAL: u16 = 1011;

/// One server message: `{"v":1,"seq":N,"type":"…","data":{…}}`; `data` is JSON text.
pub(crate) fn envelope(seq: u64, kind: &str, data: &str) -> String {
    format!("{{\"v\":{VERSION},\"seq\":{seq},\"type\":{},\"data\":{data}}}", Value::from(kind))
}

struct Conn<'a, T, B> {
    t: T,
    hub: &'a Hub,
    backend: &'a B,
    timing: Timing,
}

impl<T: Transport, B: Backend> Conn<'_, T, B> {
    async fn send(&mut self, text: String) -> bool {
        matches!(
            tokio::time::timeout(self.timing.write_timeout, self.t.send_text(text)).await,
            Ok(true)
        )
    }

    async fn entry(&mut self, e: &Entry, live: bool) -> bool {
        let ok = self.send(envelope(e.seq, &e.payload.kind, &e.payload.data)).await;
        if ok {
            self.backend.written(&e.payload, live);
        }
        ok
    }

    /// A snapshot covers the stream up to `seq`: the next message is `seq + 1`.
    async fn snapshot(&mut self, seq: u64, mut data: Map<String, Value>, reason: &str) -> bool {
        data.insert("stream".into(), Value::from(self.hub.stream_id()));
        data.insert("reason".into(), Value::from(reason));
        self.send(envelope(seq, "snapshot", &Value::Object(data).to_string())).await
    }
}

/// Serves one connection until the client leaves, the socket stalls, the session ends or
/// the hub stops.
pub(crate) async fn run<T: Transport, B: Backend>(
    t: T,
    hub: Hub,
    backend: B,
    key: StreamKey,
    mut sub: Subscription,
    first: First,
    timing: Timing,
) {
    let stats = hub.stats.clone();
    stats.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut c = Conn { t, hub: &hub, backend: &backend, timing };
    serve(&mut c, key, &mut sub, first).await;
    stats.connections.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

async fn serve<T: Transport, B: Backend>(
    c: &mut Conn<'_, T, B>,
    key: StreamKey,
    sub: &mut Subscription,
    first: First,
) {
    let started = match first {
        First::Snapshot { data, reason } => c.snapshot(sub.head, data, reason).await,
        First::Resumed { last } => {
            let replay = sub.replay.take().unwrap_or_default();
            let note = json!({"stream": c.hub.stream_id(), "from": last + 1,
                              "missed": replay.len()});
            let mut ok = c.send(envelope(last, "resumed", &note.to_string())).await;
            for e in &replay {
                ok = ok && c.entry(e, false).await;
            }
            ok
        }
    };
    if !started {
        return;
    }
    let mut tick = tokio::time::interval(c.timing.ping);
    tick.reset(); // the first tick comes one period from now, not at once
    loop {
        tokio::select! {
            e = sub.rx.recv() => match e {
                Some(e) => {
                    if !c.entry(&e, true).await {
                        return;
                    }
                }
                None if sub.dropped.load(std::sync::atomic::Ordering::Acquire) => {
                    // Too slow (or the hub missed messages): what was queued is gone, and a
                    // fresh snapshot replaces it.
                    let Some(fresh) = c.hub.subscribe(key, None).await else {
                        c.t.close(GOING_AWAY, "server stopping").await;
                        return;
                    };
                    *sub = fresh;
                    match c.backend.snapshot(key).await {
                        Ok(data) => {
                            if !c.snapshot(sub.head, data, "overflow").await {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "feed: no snapshot after an overflow");
                            c.t.close(INTERNAL, "telephony unavailable").await;
                            return;
                        }
                    }
                }
                None => {
                    c.t.close(GOING_AWAY, "server stopping").await;
                    return;
                }
            },
            said = c.t.recv() => match said {
                None => return,
                Some(text) if !text.is_empty() => c.backend.received(&text),
                Some(_) => {}
            },
            _ = tick.tick() => {
                if !c.backend.still_allowed().await {
                    c.t.close(POLICY, "session ended").await;
                    return;
                }
                if !matches!(tokio::time::timeout(c.timing.write_timeout, c.t.ping()).await, Ok(true)) {
                    return;
                }
            }
        }
    }
}

/// Microseconds from the engine's publication to now, for `offer_to_ws`.
pub(crate) fn age_us(payload: &Payload) -> u64 {
    (Utc::now() - payload.at).num_microseconds().and_then(|us| u64::try_from(us).ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use kontakt_engine::feed::{OperatorEvent, OperatorMsg, SupervisorMsg};
    use tokio::sync::{broadcast, mpsc};

    use super::super::hub::View;
    use super::*;

    /// A socket as two channels; a bounded `out` that nobody reads is a client that stalls.
    struct Fake {
        out: mpsc::Sender<String>,
        incoming: mpsc::Receiver<()>,
    }

    impl Transport for Fake {
        async fn send_text(&mut self, text: String) -> bool {
            self.out.send(text).await.is_ok()
        }
        async fn recv(&mut self) -> Option<String> {
            self.incoming.recv().await.map(|()| String::new())
        }
        async fn ping(&mut self) -> bool {
            true
        }
        async fn close(&mut self, code: u16, reason: &'static str) {
            let _ = self.out.send(format!("close {code} {reason}")).await;
        }
    }

    #[derive(Default)]
    struct Snaps {
        taken: AtomicUsize,
        written: Mutex<Vec<(String, bool)>>,
    }

    impl Backend for Arc<Snaps> {
        async fn snapshot(&self, _key: StreamKey) -> Result<Map<String, Value>, CommandError> {
            let n = self.taken.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(json!({"n": n}).as_object().unwrap().clone())
        }
        async fn still_allowed(&self) -> bool {
            true
        }
        fn written(&self, payload: &Payload, live: bool) {
            self.written.lock().unwrap().push((payload.kind.clone(), live));
        }
    }

    const KEY: StreamKey = StreamKey { view: View::Desk, user: 1 };

    fn msg(state: &str) -> Arc<OperatorMsg> {
        Arc::new(OperatorMsg {
            user_id: 1,
            at: Utc::now(),
            event: OperatorEvent::State { state: state.into(), reason: None },
        })
    }

    async fn read(rx: &mut mpsc::Receiver<String>) -> Value {
        let text = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }

    struct Setup {
        hub: Hub,
        ops: broadcast::Sender<Arc<OperatorMsg>>,
        _sups: broadcast::Sender<Arc<SupervisorMsg>>,
        snaps: Arc<Snaps>,
    }

    fn setup(queue: usize) -> Setup {
        let (ops, op_rx) = broadcast::channel(1024);
        let (sups, sup_rx) = broadcast::channel(16);
        Setup {
            hub: Hub::start(op_rx, sup_rx, 64, queue),
            ops,
            _sups: sups,
            snaps: Arc::new(Snaps::default()),
        }
    }

    /// Opens a connection; returns what it writes and a handle that keeps it open.
    async fn connect(
        s: &Setup,
        resume: Option<u64>,
        out_capacity: usize,
    ) -> (mpsc::Receiver<String>, mpsc::Sender<()>) {
        let sub = s.hub.subscribe(KEY, resume).await.unwrap();
        let first = match resume {
            Some(last) if sub.replay.is_some() => First::Resumed { last },
            _ => First::Snapshot {
                data: s.snaps.snapshot(KEY).await.unwrap(),
                reason: if resume.is_some() { "resume_unavailable" } else { "connect" },
            },
        };
        let (out, out_rx) = mpsc::channel(out_capacity);
        let (in_tx, incoming) = mpsc::channel(1);
        let timing =
            Timing { ping: Duration::from_secs(3600), write_timeout: Duration::from_secs(3600) };
        tokio::spawn(run(
            Fake { out, incoming },
            s.hub.clone(),
            s.snaps.clone(),
            KEY,
            sub,
            first,
            timing,
        ));
        (out_rx, in_tx)
    }

    #[tokio::test]
    async fn a_connection_starts_with_a_snapshot_then_numbered_messages() {
        let s = setup(16);
        let (mut rx, _keep) = connect(&s, None, 16).await;
        let first = read(&mut rx).await;
        assert_eq!((first["v"].as_u64(), first["type"].as_str()), (Some(1), Some("snapshot")));
        assert_eq!(first["seq"], 0);
        assert_eq!(first["data"]["reason"], "connect");
        assert_eq!(first["data"]["stream"], s.hub.stream_id());
        assert_eq!(first["data"]["n"], 1);
        s.ops.send(msg("ready")).unwrap();
        let m = read(&mut rx).await;
        assert_eq!((m["seq"].as_u64(), m["type"].as_str()), (Some(1), Some("state")));
        assert_eq!(m["data"]["state"], "ready");
        assert_eq!(s.snaps.written.lock().unwrap().as_slice(), &[("state".to_string(), true)]);
    }

    #[tokio::test]
    async fn reconnecting_with_a_resume_point_replays_what_was_missed() {
        let s = setup(16);
        let (mut rx, keep) = connect(&s, None, 16).await;
        read(&mut rx).await;
        s.ops.send(msg("ready")).unwrap();
        assert_eq!(read(&mut rx).await["seq"], 1);
        drop(keep); // the client leaves
        assert!(tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().is_none());
        // While it is away: two more. A second client of the same user is the signal that
        // the hub has them.
        let (mut other, _k2) = connect(&s, None, 16).await;
        read(&mut other).await;
        s.ops.send(msg("paused")).unwrap();
        s.ops.send(msg("ready")).unwrap();
        assert_eq!(read(&mut other).await["seq"], 2);
        assert_eq!(read(&mut other).await["seq"], 3);
        let (mut rx, _k3) = connect(&s, Some(1), 16).await;
        let resumed = read(&mut rx).await;
        assert_eq!(resumed["type"], "resumed");
        assert_eq!(resumed["seq"], 1);
        assert_eq!(resumed["data"], json!({"stream": s.hub.stream_id(), "from": 2, "missed": 2}));
        let (m2, m3) = (read(&mut rx).await, read(&mut rx).await);
        assert_eq!((m2["seq"].as_u64(), m2["data"]["state"].as_str()), (Some(2), Some("paused")));
        assert_eq!((m3["seq"].as_u64(), m3["data"]["state"].as_str()), (Some(3), Some("ready")));
        // Replayed messages are reported as not live (no latency sample for them).
        let written = s.snaps.written.lock().unwrap().clone();
        assert!(
            written.ends_with(&[("state".into(), false), ("state".into(), false)]),
            "{written:?}"
        );
        // And the stream goes on live.
        s.ops.send(msg("paused")).unwrap();
        assert_eq!(read(&mut rx).await["seq"], 4);
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_gets_a_snapshot_instead_of_the_backlog() {
        let s = setup(4);
        // The client's socket takes one message and then stalls (nobody reads `rx`).
        let (mut rx, _keep) = connect(&s, None, 1).await;
        // A watcher of the same user that keeps up: the hub relays to it throughout.
        let (mut watcher, _k2) = connect(&s, None, 64).await;
        read(&mut watcher).await;
        for i in 0..40 {
            s.ops.send(msg(&format!("s{i}"))).unwrap();
            assert_eq!(read(&mut watcher).await["seq"], i + 1);
        }
        assert_eq!(s.hub.stats.overflows.load(Ordering::Relaxed), 1);
        // The stalled client now reads: its first snapshot, some of the early messages, then a
        // fresh snapshot (reason overflow) that covers what it lost, then the stream goes on.
        let mut got = vec![];
        loop {
            let m = read(&mut rx).await;
            let overflow = m["type"] == "snapshot" && m["data"]["reason"] == "overflow";
            got.push(m);
            if overflow {
                break;
            }
        }
        let snap = got.last().unwrap();
        let covered = snap["seq"].as_u64().unwrap();
        assert!(covered > 5, "the snapshot covers the lost messages: {got:?}");
        assert!(got.len() < 12, "the backlog was not all sent: {} messages", got.len());
        assert!(s.snaps.taken.load(Ordering::SeqCst) >= 3);
        s.ops.send(msg("after")).unwrap();
        let next = read(&mut rx).await;
        assert_eq!(next["seq"].as_u64(), Some(covered + 1));
        assert_eq!(next["data"]["state"], "after");
    }

    #[test]
    fn envelopes_are_json() {
        let e: Value = serde_json::from_str(&envelope(7, "call_gone", r#"{"call":"x"}"#)).unwrap();
        assert_eq!(e, json!({"v": 1, "seq": 7, "type": "call_gone", "data": {"call": "x"}}));
    }
}
