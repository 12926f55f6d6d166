//! Sans-IO FreeSWITCH Event Socket codec and session state machines (no tokio, no clock).
//!
//! * [`Decoder`] turns bytes (any chunking) into [`Message`]s; events are parsed into the
//!   format-independent [`Event`].
//! * [`Command`] encodes every client command; [`server`] encodes what FreeSWITCH sends
//!   and [`CommandDecoder`] decodes what clients send (both for the emulator).
//! * [`session::InboundSession`] and [`session::OutboundSession`] are state machines
//!   driven by the caller's I/O.
//! * [`decode_to_json_lines`] backs `kontakt esl decode FILE`.

mod command_decode;
mod decode;
mod encode;
mod error;
mod event;
mod headers;
mod json;
mod jsonl;
mod limits;
mod message;
mod percent;
pub mod server;
pub mod session;
mod xml;

pub use command_decode::{CommandDecoder, ReceivedCommand};
pub use decode::Decoder;
pub use encode::{CallCommand, Command, EventFormat, MAX_INLINE_APP_ARG, SendMsg};
pub use error::{DecodeError, EncodeError, SessionError};
pub use event::{ChannelState, Direction, Event};
pub use headers::Headers;
pub use jsonl::{decode_to_json_lines, write_message};
pub use limits::Limits;
pub use message::{ContentType, Message};
pub use percent::{percent_decode, percent_encode, percent_encode_into};
