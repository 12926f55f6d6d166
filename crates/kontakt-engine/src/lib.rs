mod caller;
mod config;
pub use caller::*;
pub use config::*;
