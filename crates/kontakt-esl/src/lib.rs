//! Sans-IO FreeSWITCH Event Socket codec and session state machines (no tokio, no clock).
