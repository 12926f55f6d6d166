//! kontakt-switch: the tokio adapter for the FreeSWITCH Event Socket, built on the
//! sans-IO `kontakt-esl`.
//!
//! * [`InboundClient`]: connects to FreeSWITCH's Event Socket, authenticates, subscribes,
//!   runs `api`/`bgapi` with timeouts, reconnects with backoff and jitter, re-subscribes,
//!   reports its [`ConnectionState`] and never stops reading the socket: events go into a
//!   bounded [`EventReceiver`] with an explicit overload policy ([`OverloadPolicy`]).
//! * [`OutboundServer`]: accepts FreeSWITCH's per-call connections (`socket … async full`),
//!   one task per call; [`Call`] runs applications and awaits their completion.
//! * [`tail`]: `kontakt esl tail`.
//! * [`vars`]: every channel variable, header and event name Kontakt relies on.

mod error;
mod inbound;
mod outbound;
pub mod queue;
mod tail;
pub mod vars;

pub use error::Error;
pub use inbound::{Backoff, ClientStats, ConnectionState, InboundClient, InboundConfig};
pub use kontakt_esl::session::Credentials;
pub use kontakt_esl::{Event, EventFormat, Limits};
pub use outbound::{Call, CallControl, CallStatus, OutboundConfig, OutboundServer};
pub use queue::{EssentialEvents, EventReceiver, OverloadPolicy, QueueStats, RecvError};
pub use tail::{TailOptions, tail, tail_with, write_event};
