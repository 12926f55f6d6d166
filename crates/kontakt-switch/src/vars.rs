//! Every channel variable, header and event name Kontakt relies on, in one place.
//!
//! Channel variables appear in events as `variable_<name>` headers; read them with
//! `Event::var(name)`. The dialplan variables ([`dialplan`]) must match
//! `dialplans/VARIABLES.md` and the `set`/`export` actions of `dialplans/**/*.xml` exactly;
//! `tests/vars.rs` checks both ways.

/// Variables the dialplans (and the user directory) set and Kontakt reads.
pub mod dialplan {
    /// Which hotline line the call came in on (`short_1580`, `city_landline`, ...).
    pub const LINE: &str = "kontakt_line";
    /// The carrier of that line.
    pub const CARRIER: &str = "kontakt_carrier";
    /// The hotline number dialled, normalised (`1580` or E.164).
    pub const DIALED_NUMBER: &str = "kontakt_dialed_number";
    /// The destination number exactly as the carrier sent it.
    pub const RAW_DESTINATION: &str = "kontakt_raw_destination";
    /// The caller's number as received.
    pub const CALLER_NUMBER: &str = "kontakt_caller_number";
    /// The FreeSWITCH node that took the call.
    pub const NODE: &str = "kontakt_node";
    /// The prompt language to start with.
    pub const LANGUAGE: &str = "kontakt_language";
    /// Directory of the prompt files on this node.
    pub const PROMPTS_DIR: &str = "kontakt_prompts_dir";
    /// Unix time at which the dialplan handed the call over.
    pub const RECEIVED_EPOCH: &str = "kontakt_received_epoch";
    /// Version of the dialplans; Kontakt refuses versions it does not know.
    pub const DIALPLAN_VERSION: &str = "kontakt_dialplan_version";
    /// `true` when the call was taken in degraded mode.
    pub const DEGRADED: &str = "kontakt_degraded";
    /// `esl_unreachable` or `esl_lost`.
    pub const DEGRADED_REASON: &str = "kontakt_degraded_reason";
    /// Local time the call entered degraded mode.
    pub const DEGRADED_AT: &str = "kontakt_degraded_at";
    /// `operator_answered`, `abandoned`, `callback_requested`.
    pub const DEGRADED_OUTCOME: &str = "kontakt_degraded_outcome";
    /// Number to call back.
    pub const CALLBACK_NUMBER: &str = "kontakt_callback_number";
    /// Path of the caller's voice message (degraded mode).
    pub const DEGRADED_RECORDING: &str = "kontakt_degraded_recording";
    /// `emergency` or `dispatch`.
    pub const TRANSFER_KIND: &str = "kontakt_transfer_kind";
    /// The service transferred to.
    pub const TRANSFER_TARGET: &str = "kontakt_transfer_target";
    /// The operator's extension on the legs of that user.
    pub const OPERATOR: &str = "kontakt_operator";
    /// `operator` or `supervisor`.
    pub const ROLE: &str = "kontakt_role";
    /// The supervisor listening in.
    pub const SUPERVISOR: &str = "kontakt_supervisor";
    /// The operator extension the supervisor listens to.
    pub const EAVESDROP_TARGET: &str = "kontakt_eavesdrop_target";

    /// All of the above.
    pub const ALL: &[&str] = &[
        LINE,
        CARRIER,
        DIALED_NUMBER,
        RAW_DESTINATION,
        CALLER_NUMBER,
        NODE,
        LANGUAGE,
        PROMPTS_DIR,
        RECEIVED_EPOCH,
        DIALPLAN_VERSION,
        DEGRADED,
        DEGRADED_REASON,
        DEGRADED_AT,
        DEGRADED_OUTCOME,
        CALLBACK_NUMBER,
        DEGRADED_RECORDING,
        TRANSFER_KIND,
        TRANSFER_TARGET,
        OPERATOR,
        ROLE,
        SUPERVISOR,
        EAVESDROP_TARGET,
    ];
}

/// Variables Kontakt sets over the socket and the dialplans read.
pub mod kontakt_sets {
    /// Set to `true` as soon as Kontakt takes a call (`esl_lost` vs `esl_unreachable`).
    pub const ACCEPTED: &str = "kontakt_accepted";
    /// The FreeSWITCH `db` realm of the supervisors' spymap (not a channel variable).
    pub const SPYMAP_DB_REALM: &str = "kontakt_spymap";

    /// The channel variables among the above.
    pub const ALL: &[&str] = &[ACCEPTED];
}

/// Where Kontakt sends calls in the dialplans.
pub mod extensions {
    /// Degraded mode: the extension and context of `dialplans/kontakt_degraded.xml`, as the
    /// argument of a `transfer` (`<extension> XML <context>`). The public dialplan goes
    /// there when Kontakt's socket cannot be reached or closes; a caller Kontakt pulls back
    /// onto its socket (`uuid_transfer … inline`) is given the same way out.
    pub const DEGRADED_TRANSFER: &str = "kontakt_degraded XML kontakt_degraded";
}

/// Standard FreeSWITCH / Sofia channel variables Kontakt reads.
pub mod channel {
    /// The user part of the SIP From (caller id before normalisation).
    pub const SIP_FROM_USER: &str = "sip_from_user";
    /// The SIP `P-Asserted-Identity` header (network-asserted caller id).
    pub const SIP_P_ASSERTED_IDENTITY: &str = "sip_P-Asserted-Identity";
    /// The user part of the SIP Request-URI / To (dialled number).
    pub const SIP_TO_USER: &str = "sip_to_user";
    /// `play_and_get_digits` / `read`: `success`, `failure`, `timeout`.
    pub const READ_RESULT: &str = "read_result";
    /// The channel's UUID as a variable.
    pub const UUID: &str = "uuid";
    /// The hangup cause as a variable (`NORMAL_CLEARING`, ...).
    pub const HANGUP_CAUSE: &str = "hangup_cause";
    /// Result of the last `bridge`.
    pub const ORIGINATE_DISPOSITION: &str = "originate_disposition";
    /// Whether the dialplan resumes after the socket application ends.
    pub const SOCKET_RESUME: &str = "socket_resume";
}

/// Event (and outer frame) header names Kontakt reads.
pub mod headers {
    /// `Event-Name`.
    pub const EVENT_NAME: &str = "Event-Name";
    /// `Event-Subclass` (CUSTOM events).
    pub const EVENT_SUBCLASS: &str = "Event-Subclass";
    /// `Unique-ID`.
    pub const UNIQUE_ID: &str = "Unique-ID";
    /// `Other-Leg-Unique-ID`.
    pub const OTHER_LEG_UNIQUE_ID: &str = "Other-Leg-Unique-ID";
    /// `Caller-Caller-ID-Number`.
    pub const CALLER_CALLER_ID_NUMBER: &str = "Caller-Caller-ID-Number";
    /// `Caller-Caller-ID-Name`.
    pub const CALLER_CALLER_ID_NAME: &str = "Caller-Caller-ID-Name";
    /// `Caller-Destination-Number`.
    pub const CALLER_DESTINATION_NUMBER: &str = "Caller-Destination-Number";
    /// `Call-Direction`.
    pub const CALL_DIRECTION: &str = "Call-Direction";
    /// `Channel-State`.
    pub const CHANNEL_STATE: &str = "Channel-State";
    /// `Channel-Call-State`.
    pub const CHANNEL_CALL_STATE: &str = "Channel-Call-State";
    /// `Answer-State`.
    pub const ANSWER_STATE: &str = "Answer-State";
    /// `Hangup-Cause`.
    pub const HANGUP_CAUSE: &str = "Hangup-Cause";
    /// `DTMF-Digit`.
    pub const DTMF_DIGIT: &str = "DTMF-Digit";
    /// `Application`.
    pub const APPLICATION: &str = "Application";
    /// `Application-UUID` (echo of our `Event-UUID`).
    pub const APPLICATION_UUID: &str = "Application-UUID";
    /// `Application-Response`.
    pub const APPLICATION_RESPONSE: &str = "Application-Response";
    /// `Job-UUID` (bgapi).
    pub const JOB_UUID: &str = "Job-UUID";
    /// `Core-UUID` (identifies a FreeSWITCH process; changes on restart).
    pub const CORE_UUID: &str = "Core-UUID";
    /// `FreeSWITCH-Hostname`.
    pub const FREESWITCH_HOSTNAME: &str = "FreeSWITCH-Hostname";
    /// `Event-Sequence`.
    pub const EVENT_SEQUENCE: &str = "Event-Sequence";
    /// `Kontakt-Stage` of `CUSTOM kontakt::degraded_call`.
    pub const KONTAKT_STAGE: &str = "Kontakt-Stage";
    /// `Content-Disposition` of a disconnect notice (`linger`, `disconnect`).
    pub const CONTENT_DISPOSITION: &str = "Content-Disposition";
}

/// Event names Kontakt subscribes to or reacts to.
pub mod events {
    /// `CHANNEL_CREATE`.
    pub const CHANNEL_CREATE: &str = "CHANNEL_CREATE";
    /// `CHANNEL_ANSWER`.
    pub const CHANNEL_ANSWER: &str = "CHANNEL_ANSWER";
    /// `CHANNEL_BRIDGE`.
    pub const CHANNEL_BRIDGE: &str = "CHANNEL_BRIDGE";
    /// `CHANNEL_UNBRIDGE`.
    pub const CHANNEL_UNBRIDGE: &str = "CHANNEL_UNBRIDGE";
    /// `CHANNEL_HANGUP`.
    pub const CHANNEL_HANGUP: &str = "CHANNEL_HANGUP";
    /// `CHANNEL_HANGUP_COMPLETE`.
    pub const CHANNEL_HANGUP_COMPLETE: &str = "CHANNEL_HANGUP_COMPLETE";
    /// `CHANNEL_EXECUTE`.
    pub const CHANNEL_EXECUTE: &str = "CHANNEL_EXECUTE";
    /// `CHANNEL_EXECUTE_COMPLETE`.
    pub const CHANNEL_EXECUTE_COMPLETE: &str = "CHANNEL_EXECUTE_COMPLETE";
    /// `CHANNEL_HOLD`.
    pub const CHANNEL_HOLD: &str = "CHANNEL_HOLD";
    /// `CHANNEL_UNHOLD`.
    pub const CHANNEL_UNHOLD: &str = "CHANNEL_UNHOLD";
    /// `CHANNEL_PARK`.
    pub const CHANNEL_PARK: &str = "CHANNEL_PARK";
    /// `DTMF`.
    pub const DTMF: &str = "DTMF";
    /// `BACKGROUND_JOB` (bgapi results).
    pub const BACKGROUND_JOB: &str = "BACKGROUND_JOB";
    /// `HEARTBEAT` (liveness, every ~20 s).
    pub const HEARTBEAT: &str = "HEARTBEAT";
    /// `CUSTOM` (with a subclass).
    pub const CUSTOM: &str = "CUSTOM";
    /// Subclass of the degraded-mode event fired by `dialplans/kontakt_degraded.xml`.
    pub const SUBCLASS_DEGRADED_CALL: &str = "kontakt::degraded_call";
}
