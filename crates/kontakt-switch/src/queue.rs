//! The bounded event queue between a socket reader and a (possibly slow) consumer.
//!
//! The reader never waits for the consumer: FreeSWITCH queues at most 100,000 events per
//! listener, drops events beyond that and kills a listener after 500 consecutive losses,
//! so a reader that stops reading because its consumer is slow loses *everything*. Instead
//! the reader always pushes, and a full queue sheds according to an explicit policy:
//!
//! 1. the queue is bounded by a count ([`OverloadPolicy::capacity`]) and by an estimate of
//!    the bytes held ([`OverloadPolicy::max_bytes`]);
//! 2. when a push would exceed a bound, the **oldest non-essential** event is dropped;
//! 3. if only essential events are queued, an incoming non-essential event is dropped;
//! 4. only if the queue is full of essential events is the **oldest essential** event
//!    dropped; the consumer is then told by [`RecvError::Lagged`] on its next `recv` and
//!    must resynchronise (e.g. `show channels`): there is no replay in ESL.
//!
//! Every shed event is counted ([`QueueStats`]). Essential events are by default the
//! channel events, `BACKGROUND_JOB`, `DTMF` and Kontakt's own `CUSTOM` events
//! ([`EssentialEvents::default`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use kontakt_esl::Event;
use tokio::sync::Notify;

/// Which events must not be shed while others can be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EssentialEvents {
    /// Event names; a trailing `*` matches a prefix (`CHANNEL_*`).
    pub names: Vec<String>,
    /// `Event-Subclass` of `CUSTOM` events; a trailing `*` matches a prefix.
    pub custom_subclasses: Vec<String>,
}

impl Default for EssentialEvents {
    fn default() -> Self {
        EssentialEvents {
            names: ["CHANNEL_*", "BACKGROUND_JOB", "DTMF", "CALL_UPDATE", "PLAYBACK_*", "RECORD_*"]
                .map(String::from)
                .to_vec(),
            custom_subclasses: ["kontakt::*", "callcenter::*"].map(String::from).to_vec(),
        }
    }
}

fn matches(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

impl EssentialEvents {
    /// Every event is essential (nothing is shed while non-essential events exist,
    /// because there are none): the queue then drops the oldest events when full.
    pub fn all() -> Self {
        EssentialEvents { names: vec!["*".into()], custom_subclasses: Vec::new() }
    }

    /// Whether `ev` is essential.
    pub fn is_essential(&self, ev: &Event) -> bool {
        let Some(name) = ev.name() else { return false };
        if name == "CUSTOM" {
            let sub = ev.subclass().unwrap_or_default();
            return self.custom_subclasses.iter().any(|p| matches(p, sub))
                || self.names.iter().any(|p| p == "*");
        }
        self.names.iter().any(|p| matches(p, name))
    }
}

/// Bounds and policy of an event queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverloadPolicy {
    /// Most events held.
    pub capacity: usize,
    /// Most bytes held, estimated as the sum of header names, values and bodies plus
    /// 32 bytes per header (see [`event_size`]).
    pub max_bytes: usize,
    /// What must not be shed first.
    pub essential: EssentialEvents,
}

impl Default for OverloadPolicy {
    /// 10,000 events / 64 MiB: 10 % of FreeSWITCH's own per-listener queue, and minutes of
    /// a busy hotline's events (tens to hundreds per second).
    fn default() -> Self {
        OverloadPolicy {
            capacity: 10_000,
            max_bytes: 64 << 20,
            essential: EssentialEvents::default(),
        }
    }
}

/// Counters of a queue (monotonic, except `len`/`bytes`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Events offered by the reader.
    pub received: u64,
    /// Events handed to the consumer.
    pub delivered: u64,
    /// Non-essential events dropped because the queue was full.
    pub shed_nonessential: u64,
    /// Essential events dropped because the queue was full of them (the consumer saw
    /// [`RecvError::Lagged`]).
    pub shed_essential: u64,
    /// Events queued now.
    pub len: usize,
    /// Most events ever queued at once (never above the capacity).
    pub max_len: usize,
    /// Estimated bytes queued now.
    pub bytes: usize,
    /// Most estimated bytes ever queued at once.
    pub max_bytes: usize,
}

impl QueueStats {
    /// All events shed.
    pub fn shed(&self) -> u64 {
        self.shed_nonessential + self.shed_essential
    }
}

/// Why [`EventReceiver::recv`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// This many essential events were shed since the last `recv`: the consumer's view is
    /// incomplete and must be resynchronised. The next `recv` continues with the events
    /// still queued.
    #[error("{0} essential events were shed (consumer too slow); resynchronise")]
    Lagged(u64),
    /// The producer is gone and the queue is drained.
    #[error("event stream closed")]
    Closed,
}

/// Estimated memory of an event: names, values, body, and 32 bytes per header for the
/// index. (Allocator overhead and slack make the real figure higher: the slow-consumer test
/// measured about 2.7 times this estimate in process RSS.)
pub fn event_size(ev: &Event) -> usize {
    let headers: usize = ev.headers().iter().map(|(n, v)| n.len() + v.len() + 32).sum();
    headers + ev.body().map_or(0, str::len) + 64
}

#[derive(Debug)]
struct Item {
    seq: u64,
    size: usize,
    event: Event,
}

#[derive(Debug, Default)]
struct Inner {
    essential: VecDeque<Item>,
    other: VecDeque<Item>,
    next_seq: u64,
    lagged: u64,
    closed: bool,
    receiver_gone: bool,
    stats: QueueStats,
}

impl Inner {
    fn len(&self) -> usize {
        self.essential.len() + self.other.len()
    }

    fn pop(&mut self) -> Option<Item> {
        let take_essential = match (self.essential.front(), self.other.front()) {
            (Some(e), Some(o)) => e.seq < o.seq,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let item =
            if take_essential { self.essential.pop_front() } else { self.other.pop_front() }?;
        self.stats.bytes -= item.size;
        Some(item)
    }
}

#[derive(Debug)]
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    notify: Notify,
    policy: OverloadPolicy,
}

/// Creates a queue: the producer half (kept by the connection task) and the consumer half.
pub(crate) fn channel(policy: OverloadPolicy) -> (EventSender, EventReceiver) {
    let shared = Arc::new(Shared { inner: Mutex::default(), notify: Notify::new(), policy });
    (EventSender { shared: shared.clone() }, EventReceiver { shared })
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The producer side: never blocks.
#[derive(Debug, Clone)]
pub(crate) struct EventSender {
    shared: Arc<Shared>,
}

impl EventSender {
    /// Queues `event`, shedding by the policy if a bound would be exceeded.
    pub(crate) fn push(&self, event: Event) {
        let policy = &self.shared.policy;
        let essential = policy.essential.is_essential(&event);
        let size = event_size(&event);
        let mut q = self.shared.lock();
        q.stats.received += 1;
        if q.closed || q.receiver_gone {
            q.stats.shed_nonessential += u64::from(!essential);
            q.stats.shed_essential += u64::from(essential);
            return;
        }
        let cap = policy.capacity.max(1);
        while q.len() > 0 && (q.len() >= cap || q.stats.bytes + size > policy.max_bytes) {
            if let Some(old) = q.other.pop_front() {
                q.stats.bytes -= old.size;
                q.stats.shed_nonessential += 1;
            } else if !essential {
                q.stats.shed_nonessential += 1;
                return;
            } else if let Some(old) = q.essential.pop_front() {
                q.stats.bytes -= old.size;
                q.stats.shed_essential += 1;
                q.lagged += 1;
            }
        }
        let seq = q.next_seq;
        q.next_seq += 1;
        let item = Item { seq, size, event };
        if essential {
            q.essential.push_back(item)
        } else {
            q.other.push_back(item)
        }
        q.stats.bytes += size;
        q.stats.len = q.len();
        q.stats.max_len = q.stats.max_len.max(q.stats.len);
        q.stats.max_bytes = q.stats.max_bytes.max(q.stats.bytes);
        drop(q);
        self.shared.notify.notify_one();
    }

    /// No more events: the consumer drains what is queued, then gets `Closed`.
    pub(crate) fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.notify.notify_one();
    }

    pub(crate) fn stats(&self) -> QueueStats {
        self.shared.lock().stats
    }
}

/// The consumer side of an event queue (one consumer).
#[derive(Debug)]
pub struct EventReceiver {
    shared: Arc<Shared>,
}

impl Drop for EventReceiver {
    fn drop(&mut self) {
        let mut q = self.shared.lock();
        q.receiver_gone = true;
        q.essential.clear();
        q.other.clear();
        q.stats.bytes = 0;
        q.stats.len = 0;
    }
}

impl EventReceiver {
    /// The next event. Never waits for anything but the next event or the end of the
    /// stream.
    pub async fn recv(&mut self) -> Result<Event, RecvError> {
        loop {
            if let Some(r) = self.try_recv() {
                return r;
            }
            self.shared.notify.notified().await;
        }
    }

    /// The next event if one is queued; `None` if the queue is empty but open.
    pub fn try_recv(&mut self) -> Option<Result<Event, RecvError>> {
        let mut q = self.shared.lock();
        if q.lagged > 0 {
            let n = std::mem::take(&mut q.lagged);
            return Some(Err(RecvError::Lagged(n)));
        }
        if let Some(item) = q.pop() {
            q.stats.delivered += 1;
            q.stats.len = q.len();
            return Some(Ok(item.event));
        }
        if q.closed { Some(Err(RecvError::Closed)) } else { None }
    }

    /// The queue's counters.
    pub fn stats(&self) -> QueueStats {
        self.shared.lock().stats
    }

    /// The policy in force.
    pub fn policy(&self) -> &OverloadPolicy {
        &self.shared.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kontakt_esl::Headers;

    fn ev(name: &str, n: u32) -> Event {
        let mut h = Headers::new();
        h.push("Event-Name", name);
        h.push("N", &n.to_string());
        Event::new(h, None)
    }

    fn n(e: &Event) -> u32 {
        e.header("N").and_then(|v| v.parse().ok()).unwrap_or(u32::MAX)
    }

    fn policy(capacity: usize) -> OverloadPolicy {
        OverloadPolicy { capacity, ..OverloadPolicy::default() }
    }

    #[test]
    fn sheds_oldest_nonessential_first_and_keeps_order() {
        let (tx, mut rx) = channel(policy(3));
        tx.push(ev("HEARTBEAT", 0));
        tx.push(ev("CHANNEL_CREATE", 1));
        tx.push(ev("PRESENCE_IN", 2));
        tx.push(ev("CHANNEL_ANSWER", 3)); // sheds 0
        tx.push(ev("RE_SCHEDULE", 4)); // sheds 2
        let got: Vec<u32> =
            std::iter::from_fn(|| rx.try_recv()).map_while(Result::ok).map(|e| n(&e)).collect();
        assert_eq!(got, vec![1, 3, 4]);
        let s = rx.stats();
        assert_eq!((s.received, s.delivered, s.shed_nonessential, s.shed_essential), (5, 3, 2, 0));
        assert_eq!(s.max_len, 3);
    }

    #[test]
    fn full_of_essential_drops_incoming_nonessential_then_oldest_essential() {
        let (tx, mut rx) = channel(policy(2));
        tx.push(ev("CHANNEL_CREATE", 0));
        tx.push(ev("CHANNEL_ANSWER", 1));
        tx.push(ev("HEARTBEAT", 2)); // dropped
        tx.push(ev("CHANNEL_HANGUP", 3)); // sheds 0
        assert_eq!(rx.try_recv(), Some(Err(RecvError::Lagged(1))));
        assert_eq!(rx.try_recv().and_then(Result::ok).map(|e| n(&e)), Some(1));
        assert_eq!(rx.try_recv().and_then(Result::ok).map(|e| n(&e)), Some(3));
        assert_eq!(rx.try_recv(), None);
        tx.close();
        assert_eq!(rx.try_recv(), Some(Err(RecvError::Closed)));
        let s = rx.stats();
        assert_eq!((s.shed_nonessential, s.shed_essential), (1, 1));
    }

    #[test]
    fn byte_bound() {
        let one = event_size(&ev("HEARTBEAT", 0));
        let p = OverloadPolicy { capacity: 100, max_bytes: one * 2, ..OverloadPolicy::default() };
        let (tx, rx) = channel(p);
        for i in 0..10 {
            tx.push(ev("HEARTBEAT", i));
        }
        let s = rx.stats();
        assert_eq!(s.len, 2);
        assert!(s.max_bytes <= one * 2);
        assert_eq!(s.shed_nonessential, 8);
    }

    #[test]
    fn custom_subclasses() {
        let e = EssentialEvents::default();
        let mut h = Headers::new();
        h.push("Event-Name", "CUSTOM");
        h.push("Event-Subclass", "kontakt::degraded_call");
        assert!(e.is_essential(&Event::new(h, None)));
        let mut h = Headers::new();
        h.push("Event-Name", "CUSTOM");
        h.push("Event-Subclass", "sofia::register");
        assert!(!e.is_essential(&Event::new(h, None)));
        assert!(EssentialEvents::all().is_essential(&ev("HEARTBEAT", 0)));
    }
}
