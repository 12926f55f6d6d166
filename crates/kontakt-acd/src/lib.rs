//! Sans-IO automatic call distribution: `Router::handle(input, now)` / `poll_output()`.
//!
//! The crate is split by concept: [`model`] (ids, time, configuration), [`erlang`]
//! (queueing formulas). See `README.md` for the design and invariants.

pub mod erlang;
