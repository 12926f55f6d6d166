//! The contact center as configuration: lines, the IVR menu, queues, operators, outcomes.
//!
//! Read from the `[callcenter]` table of `kontakt.toml` (documented key by key in
//! `deploy/kontakt.example.toml`). `Default` is a working center for the demo and a first
//! installation: the short number 15-80 and three ordinary numbers, a Ukrainian/English
//! menu with an emergency queue that goes first, and the usual non-appeal outcomes.

use serde::{Deserialize, Serialize};

/// Everything the engine needs besides the store and the switch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// The hotline's numbers. A call's line is taken from the dialplan's `kontakt_line`
    /// variable when it is set, else from the dialled number.
    pub lines: Vec<LineConfig>,
    /// Prompt languages, the first is the default; with two or more the caller is asked.
    /// (Set from `[ivr] languages` by the binary, not from `[callcenter]`.)
    #[serde(skip)]
    pub languages: Vec<String>,
    /// Where prompts live on the FreeSWITCH nodes: `<dir>/<language>/<name>.wav`. The
    /// dialplan's `kontakt_prompts_dir` wins when set. (Set from `[ivr] prompts_dir`.)
    #[serde(skip)]
    pub prompts_dir: String,
    /// The local journal where call records wait while the database is away.
    pub journal_dir: String,
    /// Its size limit, MiB.
    pub journal_max_mib: u64,
    /// Music on hold while waiting (a FreeSWITCH file or `local_stream://` URL).
    pub music_on_hold: String,
    /// The main menu, read once per call (up to `menu_tries` times on a wrong digit).
    pub menu: Vec<MenuItem>,
    pub menu_tries: u32,
    /// Seconds to wait for a digit after each prompt.
    pub digit_timeout_secs: u32,
    pub queues: Vec<QueueSetup>,
    /// The queue a call goes to when the caller presses nothing.
    pub default_queue: String,
    pub operators: Vec<OperatorSetup>,
    /// Non-appeal outcomes an operator may give an answered call.
    pub outcomes: Vec<String>,
    /// Pause reasons an operator may choose.
    pub pause_reasons: Vec<String>,
    /// Record calls with `uuid_record` from the moment an operator answers.
    pub recording: RecordingConfig,
    /// A caller who hung up after waiting at least this long gets a callback task.
    pub abandoned_callback_after_secs: Option<u64>,
    /// After this long in the queue a caller whose number is known hears the
    /// `callback-offer` prompt once: pressing `callback_offer_digit` turns the wait into a
    /// queued callback that keeps their place. No offer when unset.
    pub callback_offer_after_secs: Option<u64>,
    pub callback_offer_digit: String,
    /// Blind-transfer targets: executors' dispatch lines and emergency services.
    pub directory: Vec<TransferTarget>,
    /// How callbacks dial a citizen: `{number}` is replaced by the E.164 number.
    pub callback_dial: String,
    /// Caller id presented on callbacks.
    pub callback_caller_id: String,
    /// Supervisors' phones for listen/whisper/barge, by username.
    pub supervisors: Vec<SupervisorSetup>,
    /// FreeSWITCH's CDR files (cdr_csv, template `kontakt`), read every minute: calls the
    /// dialplan took in degraded mode get a record and, when the caller asked, a callback.
    /// A file that is not on this machine is skipped.
    pub degraded_cdr_files: Vec<String>,
    /// With the operator's desk open, their phone rings once the desk has the screen-pop,
    /// or after this many milliseconds at most (0: ring at once).
    pub screen_pop_lead_ms: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            lines: vec![
                LineConfig::new("1580", "short_1580", None),
                LineConfig::new("+380617871580", "city_landline", Some("ukrtelecom")),
                LineConfig::new("+380677871580", "mobile_kyivstar", Some("kyivstar")),
                LineConfig::new("+380637871580", "mobile_lifecell", Some("lifecell")),
            ],
            languages: vec!["uk".into(), "en".into()],
            prompts_dir: "/usr/share/freeswitch/sounds/kontakt".into(),
            journal_dir: "kontakt-data/journal".into(),
            journal_max_mib: 512,
            music_on_hold: "local_stream://moh".into(),
            menu: vec![
                MenuItem {
                    digit: "1".into(),
                    label: "emergency".into(),
                    action: MenuAction::Queue { queue: "emergency".into(), priority: 9 },
                },
                MenuItem {
                    digit: "2".into(),
                    label: "housing".into(),
                    action: MenuAction::Queue { queue: "general".into(), priority: 0 },
                },
                MenuItem {
                    digit: "3".into(),
                    label: "status".into(),
                    action: MenuAction::AppealStatus,
                },
                MenuItem {
                    digit: "4".into(),
                    label: "callback".into(),
                    action: MenuAction::Callback { queue: "general".into() },
                },
                MenuItem {
                    digit: "0".into(),
                    label: "operator".into(),
                    action: MenuAction::Queue { queue: "general".into(), priority: 0 },
                },
            ],
            menu_tries: 3,
            digit_timeout_secs: 5,
            queues: vec![
                QueueSetup { name: "emergency".into(), ..QueueSetup::default() },
                QueueSetup { name: "general".into(), ..QueueSetup::default() },
            ],
            default_queue: "general".into(),
            operators: Vec::new(),
            outcomes: vec![
                "consultation".into(),
                "wrong_number".into(),
                "silent_line".into(),
                "test".into(),
            ],
            pause_reasons: vec![
                "break".into(),
                "lunch".into(),
                "training".into(),
                "outbound_work".into(),
            ],
            recording: RecordingConfig::default(),
            abandoned_callback_after_secs: Some(30),
            callback_offer_after_secs: Some(90),
            callback_offer_digit: "1".into(),
            directory: vec![
                TransferTarget::new("101", "Пожежна служба / Fire", "101"),
                TransferTarget::new("103", "Швидка допомога / Ambulance", "103"),
                TransferTarget::new("104", "Газова служба / Gas", "104"),
                TransferTarget::new("water", "Водоканал: диспетчер", "dispatch_water"),
            ],
            callback_dial: "sofia/gateway/carrier/{number}".into(),
            callback_caller_id: "1580".into(),
            supervisors: Vec::new(),
            degraded_cdr_files: vec!["/var/log/freeswitch/cdr-csv/Master.csv".into()],
            screen_pop_lead_ms: 300,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    /// As dialled: the short number or E.164.
    pub number: String,
    pub name: String,
    #[serde(default)]
    pub carrier: Option<String>,
}

impl LineConfig {
    fn new(number: &str, name: &str, carrier: Option<&str>) -> Self {
        LineConfig { number: number.into(), name: name.into(), carrier: carrier.map(Into::into) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MenuItem {
    pub digit: String,
    /// Recorded in the call's IVR path and shown in the screen-pop.
    pub label: String,
    pub action: MenuAction,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum MenuAction {
    /// Queue the call with this priority class (higher goes first).
    Queue { queue: String, priority: u8 },
    /// Self-service: the status of an appeal by its registration number.
    AppealStatus,
    /// Leave the line; an operator calls back.
    Callback { queue: String },
    /// Play a prompt and hang up.
    Message { prompt: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueSetup {
    pub name: String,
    pub ring_timeout_secs: u64,
    /// Service-level threshold.
    pub sl_threshold_secs: u64,
    /// Seconds between position/estimated-wait announcements (0: never).
    pub announce_every_secs: u64,
    /// Sticky routing: a caller is offered to the operator who handled them within this
    /// many hours first.
    pub sticky_hours: u64,
    /// How long a sticky call waits for its operator before anyone may take it.
    pub sticky_wait_secs: u64,
    pub callback_attempts: u32,
    pub callback_retry_secs: u64,
    /// What happens to calls this queue cannot take in time (none when unset).
    pub overflow: Option<OverflowSetup>,
}

/// When a queue overflows and what becomes of the call. Any trigger that is set fires the
/// one action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverflowSetup {
    /// `callback` (hang up, keep the place as a queued callback), `voicemail` (the
    /// `voicemail-greeting` prompt, then the caller's message is recorded and a callback
    /// task made), `voicemail:<prompt>`, `message:<prompt>` (play and hang up) or
    /// `queue:<name>` (move on, keeping the time waited).
    pub action: String,
    /// A waiting call overflows after this long.
    #[serde(default)]
    pub max_wait_secs: Option<u64>,
    /// A new call overflows when this many already wait.
    #[serde(default)]
    pub max_waiting: Option<usize>,
    /// A new call overflows when its estimated wait is longer.
    #[serde(default)]
    pub ewt_above_secs: Option<u64>,
    /// A new call overflows (and waiting ones do when the last operator logs out) when no
    /// operator of the queue is logged in.
    #[serde(default)]
    pub when_no_operators: bool,
}

/// [`OverflowSetup::action`], parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverflowTo {
    Callback,
    Voicemail(String),
    Message(String),
    Queue(String),
}

impl OverflowSetup {
    pub fn target(&self) -> Option<OverflowTo> {
        let (kind, arg) = match self.action.split_once(':') {
            Some((k, a)) if !a.is_empty() => (k, Some(a.to_owned())),
            Some(_) => return None,
            None => (self.action.as_str(), None),
        };
        Some(match (kind, arg) {
            ("callback", None) => OverflowTo::Callback,
            ("voicemail", a) => OverflowTo::Voicemail(a.unwrap_or("voicemail-greeting".into())),
            ("message", Some(a)) => OverflowTo::Message(a),
            ("queue", Some(a)) => OverflowTo::Queue(a),
            _ => return None,
        })
    }
}

impl Default for QueueSetup {
    fn default() -> Self {
        QueueSetup {
            name: String::new(),
            ring_timeout_secs: 15,
            sl_threshold_secs: 20,
            announce_every_secs: 45,
            sticky_hours: 72,
            sticky_wait_secs: 20,
            callback_attempts: 3,
            callback_retry_secs: 300,
            overflow: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorSetup {
    /// The operator's Kontakt user name.
    pub username: String,
    /// How to ring the operator: `user/1001`, `sofia/gateway/…`, a WebRTC endpoint.
    pub endpoint: String,
    /// The extension recorded in the supervisors' spymap (defaults to the user part).
    #[serde(default)]
    pub extension: Option<String>,
    /// Queue names; empty means every queue.
    #[serde(default)]
    pub queues: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisorSetup {
    pub username: String,
    pub endpoint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordingConfig {
    pub enabled: bool,
    /// Directory on the FreeSWITCH node; files are `<dir>/<yyyy>/<mm>/<dd>/<uuid>.wav`.
    pub dir: String,
    /// Kept for this many days: Kontakt deletes older files when the directory is on its
    /// own machine; a FreeSWITCH node elsewhere runs the cleanup timer in deploy/freeswitch.
    pub retention_days: u32,
    /// Longest voicemail message a caller may leave (overflow action `voicemail`).
    pub voicemail_max_secs: u32,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            enabled: true,
            dir: "/var/lib/freeswitch/recordings/kontakt".into(),
            retention_days: 90,
            voicemail_max_secs: 120,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferTarget {
    pub code: String,
    pub name: String,
    /// Destination in the transfer context: `uuid_transfer <uuid> <destination> XML
    /// <context>` (dialplans/kontakt_outbound.xml routes 101–104, 112 and dispatch_*).
    pub destination: String,
    #[serde(default = "default_transfer_context")]
    pub context: String,
}

fn default_transfer_context() -> String {
    "kontakt_outbound".into()
}

impl TransferTarget {
    fn new(code: &str, name: &str, destination: &str) -> Self {
        TransferTarget {
            code: code.into(),
            name: name.into(),
            destination: destination.into(),
            context: default_transfer_context(),
        }
    }
}

/// A configuration mistake, named precisely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("menu digit {0:?} names queue {1:?}, which is not configured")]
    UnknownQueue(String, String),
    #[error("default_queue {0:?} is not configured")]
    UnknownDefaultQueue(String),
    #[error("queue {0:?} is configured twice")]
    DuplicateQueue(String),
    #[error("menu digit {0:?} is used twice")]
    DuplicateDigit(String),
    #[error("menu digit {0:?} must be one of 0-9, * or #")]
    BadDigit(String),
    #[error("operator {0:?} lists queue {1:?}, which is not configured")]
    OperatorQueue(String, String),
    #[error("at least one language is needed")]
    NoLanguage,
    #[error("callback_dial must contain {{number}}")]
    CallbackDial,
    #[error(
        "queue {0:?}: overflow action {1:?} is not callback, voicemail[:prompt], message:<prompt> or queue:<name>"
    )]
    OverflowAction(String, String),
    #[error("queue {0:?} overflows to queue {1:?}, which is not configured (or is itself)")]
    OverflowQueue(String, String),
    #[error("callback_offer_digit {0:?} must be one digit 0-9")]
    CallbackOfferDigit(String),
    #[error("the router refused the queues or operators: {0}")]
    Router(String),
}

impl EngineConfig {
    /// Checks what serde cannot: references between sections.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.languages.is_empty() {
            return Err(ConfigError::NoLanguage);
        }
        if !self.callback_dial.contains("{number}") {
            return Err(ConfigError::CallbackDial);
        }
        let d = &self.callback_offer_digit;
        if d.len() != 1 || !d.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError::CallbackOfferDigit(d.clone()));
        }
        let mut names = std::collections::HashSet::new();
        for q in &self.queues {
            if !names.insert(q.name.as_str()) {
                return Err(ConfigError::DuplicateQueue(q.name.clone()));
            }
        }
        for q in &self.queues {
            let Some(o) = &q.overflow else { continue };
            match o.target() {
                None => return Err(ConfigError::OverflowAction(q.name.clone(), o.action.clone())),
                Some(OverflowTo::Queue(t)) if t == q.name || !names.contains(t.as_str()) => {
                    return Err(ConfigError::OverflowQueue(q.name.clone(), t));
                }
                Some(_) => {}
            }
        }
        if !names.contains(self.default_queue.as_str()) {
            return Err(ConfigError::UnknownDefaultQueue(self.default_queue.clone()));
        }
        let mut digits = std::collections::HashSet::new();
        for m in &self.menu {
            if m.digit.len() != 1
                || !m.digit.chars().all(|c| c.is_ascii_digit() || c == '*' || c == '#')
            {
                return Err(ConfigError::BadDigit(m.digit.clone()));
            }
            if !digits.insert(m.digit.as_str()) {
                return Err(ConfigError::DuplicateDigit(m.digit.clone()));
            }
            if let MenuAction::Queue { queue, .. } | MenuAction::Callback { queue } = &m.action
                && !names.contains(queue.as_str())
            {
                return Err(ConfigError::UnknownQueue(m.digit.clone(), queue.clone()));
            }
        }
        for o in &self.operators {
            if let Some(q) = o.queues.iter().find(|q| !names.contains(q.as_str())) {
                return Err(ConfigError::OperatorQueue(o.username.clone(), q.clone()));
            }
        }
        Ok(())
    }

    /// The line a dialled number belongs to.
    pub fn line_for(&self, dialled: &str) -> Option<&LineConfig> {
        let norm = |s: &str| s.chars().filter(|c| c.is_ascii_digit()).collect::<String>();
        let d = norm(dialled);
        self.lines.iter().find(|l| {
            let n = norm(&l.number);
            !n.is_empty() && (d == n || (n.len() > 9 && d.ends_with(&n[n.len() - 9..])))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_finds_lines_in_any_form() {
        let c = EngineConfig::default();
        c.validate().unwrap();
        assert_eq!(c.line_for("1580").map(|l| l.name.as_str()), Some("short_1580"));
        assert_eq!(c.line_for("0677871580").map(|l| l.name.as_str()), Some("mobile_kyivstar"));
        assert_eq!(c.line_for("+380617871580").map(|l| l.name.as_str()), Some("city_landline"));
        assert_eq!(c.line_for("9196"), None);
    }

    #[test]
    fn references_are_checked() {
        let mut c = EngineConfig::default();
        c.menu[0].action = MenuAction::Queue { queue: "nope".into(), priority: 1 };
        assert_eq!(c.validate(), Err(ConfigError::UnknownQueue("1".into(), "nope".into())));
        let mut c = EngineConfig::default();
        c.menu[1].digit = "1".into();
        assert_eq!(c.validate(), Err(ConfigError::DuplicateDigit("1".into())));
        let mut c = EngineConfig::default();
        for (action, ok) in [
            ("callback", true),
            ("voicemail", true),
            ("voicemail:vm-night", true),
            ("message:closed", true),
            ("queue:emergency", true),
            ("queue:general", false),
            ("queue:nope", false),
            ("message:", false),
            ("message", false),
            ("voicemal", false),
        ] {
            c.queues[1].overflow = Some(OverflowSetup {
                action: action.into(),
                max_wait_secs: Some(600),
                max_waiting: None,
                ewt_above_secs: None,
                when_no_operators: false,
            });
            assert_eq!(c.validate().is_ok(), ok, "{action}: {:?}", c.validate());
        }
        let c = EngineConfig { callback_offer_digit: "#".into(), ..Default::default() };
        assert!(matches!(c.validate(), Err(ConfigError::CallbackOfferDigit(_))));
        let c = EngineConfig { callback_dial: "sofia/gateway/x/".into(), ..Default::default() };
        assert_eq!(c.validate(), Err(ConfigError::CallbackDial));
    }
}
