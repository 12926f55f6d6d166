//! The running contact center. See ARCHITECTURE.md, "kontakt-engine".

mod board;
mod call;
mod caller;
pub mod cdr;
mod config;
mod engine;
pub mod feed;
mod journal;
mod metrics;
pub mod retention;

pub use call::run_call;
pub use caller::*;
pub use config::*;
pub use engine::{
    CallCmd, ChannelEvent, Command, CommandError, EavesdropMode, EngineHandle, EngineSetup,
    IvrOutcome, OperatorBinding, OperatorStatus, Reply, SupervisorBinding, start,
};
pub use journal::*;
pub use metrics::{Histogram, Metrics};
