//! Emulator configuration (serde-deserializable, e.g. from the `[sim]` table of a TOML file).

use serde::{Deserialize, Serialize};

use crate::scenario::Scenario;

/// Everything the emulator needs. `Default` gives FreeSWITCH's defaults (`127.0.0.1:8021`,
/// password `ClueCon`, heartbeat every 20 s, no outbound socket).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmulatorConfig {
    /// Address of the inbound Event Socket (FreeSWITCH's `8021`); port 0 picks a free port.
    pub listen: String,
    /// Password expected by `auth`.
    pub password: String,
    /// `FreeSWITCH-Hostname` / `FreeSWITCH-Switchname`.
    pub hostname: String,
    /// `FreeSWITCH-IPv4`.
    pub ipv4: String,
    /// `FreeSWITCH-IPv6`.
    pub ipv6: String,
    /// SIP domain used in channel names and variables (`sofia/internal/<caller>@<domain>`).
    pub sip_domain: String,
    /// Seconds between `HEARTBEAT` events; 0 disables them.
    pub heartbeat_secs: f64,
    /// Simulated time runs this many times faster than real time (durations are divided by
    /// it). 1.0 is real time.
    pub speed: f64,
    /// Where each incoming call is sent by the dialplan (`socket <addr> async full`), e.g.
    /// `127.0.0.1:8084`. Without it incoming calls are parked.
    pub outbound_socket: Option<String>,
    /// Run incoming calls through the shape of Kontakt's public dialplan: `socket_resume=true`,
    /// the `socket`, then `transfer kontakt_degraded XML kontakt_degraded`. A channel whose
    /// socket cannot be reached, or whose socket connection ends while it is still in the
    /// `socket` application, goes on to that transfer (degraded mode) instead of being hung
    /// up. Without it the dialplan is the `socket` alone, and a closed connection hangs the
    /// call up.
    pub socket_resume: bool,
    /// The applications of the `kontakt_degraded` extension (Kontakt's degraded-mode context,
    /// `dialplans/kontakt_degraded.xml`), each `"app data"`, e.g. `"bridge user/1009"` for a
    /// fallback phone and `"play_and_get_digits …"` for the leave-a-number prompt. Empty: the
    /// extension is not installed, and a call sent there is hung up.
    pub degraded: Vec<String>,
    /// Destinations that run `answer` + `echo` (like FreeSWITCH's demo extension 9196)
    /// instead of the outbound socket.
    pub echo_destinations: Vec<String>,
    /// Run the `hash` / `export` applications of FreeSWITCH's default `global` extension
    /// before each incoming call's own dialplan (as the captured FreeSWITCH does).
    pub dialplan_preamble: bool,
    /// Emit sofia's `CUSTOM sofia::pre_register` / `sofia::register_attempt` events for each
    /// incoming call (digest authentication of the caller, as the captured FreeSWITCH does).
    pub sip_auth_events: bool,
    /// Events queued per connection before further events are lost (FreeSWITCH's
    /// `MAX_QUEUE_LEN`, 100,000); a connection that lost more than 500 is disconnected.
    pub max_event_queue: usize,
    /// Simulated duration of one `playback` / `uuid_broadcast` file, seconds.
    pub playback_secs: f64,
    /// Delay between the prompt of `play_and_get_digits` and the caller's first digit.
    pub dtmf_delay_secs: f64,
    /// Agent phones (endpoints that `originate` and `bridge` can dial).
    pub endpoints: Vec<EndpointConfig>,
    /// Behaviour of endpoints not listed in `endpoints`.
    pub default_endpoint: EndpointBehaviour,
    /// Calls to place automatically.
    pub scenario: Option<Scenario>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            listen: "127.0.0.1:8021".into(),
            password: "ClueCon".into(),
            hostname: "kontakt-sim".into(),
            ipv4: "127.0.0.1".into(),
            ipv6: "::1".into(),
            sip_domain: "127.0.0.1".into(),
            heartbeat_secs: 20.0,
            speed: 1.0,
            outbound_socket: None,
            socket_resume: false,
            degraded: Vec::new(),
            echo_destinations: vec!["9196".into()],
            max_event_queue: 100_000,
            dialplan_preamble: true,
            sip_auth_events: true,
            playback_secs: 3.0,
            dtmf_delay_secs: 1.0,
            endpoints: Vec::new(),
            default_endpoint: EndpointBehaviour::default(),
            scenario: None,
        }
    }
}

/// One simulated agent phone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// The user part the endpoint is dialled by: `1001` matches `user/1001`,
    /// `sofia/internal/1001@host` and `loopback/1001`.
    pub user: String,
    /// How the phone behaves.
    #[serde(flatten)]
    pub behaviour: EndpointBehaviour,
}

/// How a simulated phone reacts to a call.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EndpointBehaviour {
    /// Ring time before answering, seconds; `None` never answers (the caller's timeout,
    /// `call_timeout` or `originate_timeout`, default 60 s, ends with `NO_ANSWER`).
    pub answer_after_secs: Option<f64>,
    /// Reject instead of ringing, with this hangup cause (e.g. `CALL_REJECTED`, `USER_BUSY`).
    pub reject: Option<String>,
    /// The agent hangs up this many seconds after answering (`None`: never by itself).
    pub hangup_after_secs: Option<f64>,
}

impl Default for EndpointBehaviour {
    fn default() -> Self {
        EndpointBehaviour { answer_after_secs: Some(1.0), reject: None, hangup_after_secs: None }
    }
}

impl EmulatorConfig {
    /// The behaviour of the endpoint dialled as `user`.
    pub fn endpoint(&self, user: &str) -> EndpointBehaviour {
        self.endpoints
            .iter()
            .find(|e| e.user == user)
            .map_or_else(|| self.default_endpoint.clone(), |e| e.behaviour.clone())
    }
}
