//! API acceptance tests of issue 2, driven in-process through `kontakt_web::app` on SQLite and
//! (with `KONTAKT_TEST_PG_URL`) on PostgreSQL.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
#![allow(unreachable_pub)] // items shared between the test modules of one binary

mod harness;

mod authz;
mod bad_input;
mod concurrency;
mod e2e;
mod intraday;
mod openapi;
mod outages;
mod telephony;
