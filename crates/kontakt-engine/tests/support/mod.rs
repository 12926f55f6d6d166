//! The contact center the engine's tests run, over real TCP: the FreeSWITCH emulator
//! (kontakt-sim) places calls into our outbound socket and answers our control connection;
//! the engine routes them to operators whose phones the emulator simulates; the record
//! writer keeps the records in the store the test brings (SQLite or PostgreSQL).
//!
//! Every test binary compiles this module on its own (`mod support;`): a helper that some of
//! them do not use carries `#[allow(dead_code)]` and says which use it.

pub(crate) mod proxy;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use kontakt_engine::feed::{OperatorEvent, OperatorMsg};
use kontakt_engine::*;
use kontakt_sim::{
    Emulator, EmulatorConfig, EmulatorHandle, EndpointBehaviour, EndpointConfig, ScriptedCall,
};
use kontakt_store::*;
use kontakt_switch::{InboundClient, InboundConfig, OutboundConfig, OutboundServer};
use tokio::sync::broadcast;

use self::proxy::Proxy;

/// The emulator's node (its switch name): the node of the records of the calls it places.
pub(crate) const NODE: &str = "kontakt-sim";

pub(crate) struct Center {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) engine: EngineHandle,
    pub(crate) emu: EmulatorHandle,
    /// The operators, one per phone, in the order of the phones.
    pub(crate) ops: Vec<Id>,
    /// The supervisor, whose phone is `user/1101`, if one was asked for.
    #[allow(dead_code)]
    // each test binary compiles this module; call_flow's listen-in reads it
    pub(crate) supervisor: Option<Id>,
    /// The emulator's configuration, to start a second node like it.
    #[allow(dead_code)] // each test binary compiles this module; call_flow's two nodes read it
    pub(crate) emu_config: EmulatorConfig,
    /// What the engine was started with, to start it again.
    #[allow(dead_code)] // each test binary compiles this module; call_flow's restart reads it
    pub(crate) setup: (EngineConfig, Vec<OperatorBinding>, Vec<SupervisorBinding>),
    /// The proxy the switch reaches our outbound socket through, if one was asked for.
    #[allow(dead_code)] // each test binary compiles this module; orphans plays with it
    pub(crate) socket_proxy: Option<Proxy>,
    /// Holds the journal, and SQLite's database, for as long as the center lives.
    #[allow(dead_code)] // each test binary compiles this module; call_flow's restart reads it
    pub(crate) dir: tempfile::TempDir,
}

/// What a test's center is made of.
pub(crate) struct Parts {
    /// The records' store, migrated.
    pub(crate) store: Arc<dyn Store>,
    /// The center's directory (the journal goes in it).
    pub(crate) dir: tempfile::TempDir,
    /// The operators' phones; each gets an operator, `op<user>`.
    pub(crate) phones: Vec<EndpointConfig>,
    /// Whether there is a supervisor (phone `user/1101`).
    pub(crate) supervisor: bool,
    /// Whether the switch reaches our outbound socket through a [`Proxy`] the test controls
    /// rather than directly.
    pub(crate) socket_proxy: bool,
    /// Whether the engine is attached to the switch when the center starts; if not, the
    /// test attaches it ([`attach`]) once the switch holds what the engine is to find there.
    pub(crate) attached: bool,
}

/// A fresh SQLite database with the seed categories, in a new temporary directory.
#[allow(dead_code)] // each test binary compiles this module; db_outage brings PostgreSQL
pub(crate) async fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/k.db", dir.path().display());
    let store = kontakt_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    for c in kontakt_appeals::seed::default_categories() {
        store.upsert_category(c).await.unwrap();
    }
    (store, dir)
}

/// Phones dialled as `user/<user>` that behave as given.
#[allow(dead_code)] // each test binary compiles this module; db_outage numbers its own
pub(crate) fn phones(endpoints: Vec<(&str, EndpointBehaviour)>) -> Vec<EndpointConfig> {
    endpoints
        .into_iter()
        .map(|(u, behaviour)| EndpointConfig { user: u.to_owned(), behaviour })
        .collect()
}

/// Starts the emulator and the engine on `parts`, the engine attached to the emulator as
/// the binary does (unless `parts.attached` says not yet); `tweak` and `emulator` change the
/// configurations first.
pub(crate) async fn start(
    parts: Parts,
    tweak: impl FnOnce(&mut EngineConfig),
    emulator: impl FnOnce(&mut EmulatorConfig),
) -> Center {
    let Parts { store, dir, phones, supervisor, socket_proxy, attached } = parts;
    let mut bindings = Vec::new();
    for phone in &phones {
        let ext = &phone.user;
        let u = user(&*store, format!("op{ext}"), format!("Operator {ext}"), Role::Operator).await;
        bindings.push(OperatorBinding {
            user_id: u.id,
            username: u.username,
            endpoint: format!("user/{ext}"),
            extension: ext.clone(),
            queues: Vec::new(),
        });
    }
    let server = OutboundServer::bind("127.0.0.1:0", OutboundConfig::default()).await.unwrap();
    let mut addr = server.local_addr().unwrap().to_string();
    let socket_proxy = if socket_proxy { Some(Proxy::start(addr.clone()).await) } else { None };
    if let Some(p) = &socket_proxy {
        // The switch and the engine (re-attaching calls) name the proxy's address.
        addr = p.addr.to_string();
    }
    let mut emu_config = EmulatorConfig {
        listen: "127.0.0.1:0".into(),
        heartbeat_secs: 0.0,
        playback_secs: 0.2,
        dtmf_delay_secs: 0.05,
        outbound_socket: Some(addr.clone()),
        endpoints: phones,
        ..Default::default()
    };
    emulator(&mut emu_config);
    let emu = Emulator::start(emu_config.clone()).await.unwrap();
    // The journal as `kontakt serve` configures it (timeouts and retry included).
    let writer =
        RecordWriter::start(store.clone(), JournalConfig::in_dir(dir.path().join("journal")))
            .await
            .unwrap();
    let mut config = EngineConfig::default();
    for q in &mut config.queues {
        q.ring_timeout_secs = 2;
        q.announce_every_secs = 0;
    }
    config.recording.dir = "/rec".into();
    tweak(&mut config);
    let ops = bindings.iter().map(|b| b.user_id).collect();
    let mut supervisors = Vec::new();
    if supervisor {
        let sup = user(&*store, "sup".into(), "Supervisor".into(), Role::Supervisor).await;
        supervisors.push(SupervisorBinding {
            user_id: sup.id,
            username: "sup".into(),
            endpoint: "user/1101".into(),
        });
    }
    let setup = (config.clone(), bindings.clone(), supervisors.clone());
    let engine = kontakt_engine::start(EngineSetup {
        config,
        operators: bindings,
        supervisors: supervisors.clone(),
        store: store.clone(),
        writer,
        node_name: "kontakt-test".into(),
        outbound_addr: Some(addr),
    })
    .unwrap();
    if attached {
        attach(&engine, &emu, NODE).await;
    }
    let e = engine.clone();
    server.serve(move |call| kontakt_engine::run_call(e.clone(), call));
    Center {
        store,
        engine,
        emu,
        ops,
        supervisor: supervisors.first().map(|s| s.user_id),
        emu_config,
        setup,
        socket_proxy,
        dir,
    }
}

/// A user with a password hash nothing matches (tests never sign in).
async fn user(store: &dyn Store, username: String, display_name: String, role: Role) -> User {
    let new = NewUser {
        username,
        display_name,
        role,
        password_hash: "x".into(),
        executor_id: None,
        must_change_password: false,
    };
    store.create_user(new, Utc::now()).await.unwrap()
}

/// Connects the engine to FreeSWITCH over the Event Socket, as the binary does.
pub(crate) async fn attach(engine: &EngineHandle, emu: &EmulatorHandle, node: &str) {
    let mut ic = InboundConfig::new(emu.inbound_addr().to_string(), "ClueCon").events([
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_HOLD",
        "CHANNEL_UNHOLD",
    ]);
    ic.backoff.initial = Duration::from_millis(10);
    let (client, events) = within("ESL connect", 5, InboundClient::connect(ic)).await.unwrap();
    engine.attach_node(node, client, events);
}

/// `f`'s output, or a panic naming `what` after `secs` seconds.
pub(crate) async fn within<T>(what: &str, secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// A phone that answers after `secs` and never hangs up by itself.
#[allow(dead_code)] // each test binary compiles this module; db_outage's phones vary
pub(crate) fn answer_after(secs: f64) -> EndpointBehaviour {
    EndpointBehaviour { answer_after_secs: Some(secs), reject: None, hangup_after_secs: None }
}

#[allow(dead_code)] // each test binary compiles this module; db_outage's operators do it
pub(crate) async fn ready(c: &Center, user: Id) {
    c.engine.command(Command::Ready { user }).await.unwrap();
}

/// The next event for `user`, skipping other operators' and state messages.
#[allow(dead_code)] // each test binary compiles this module; db_outage's operators do it
pub(crate) async fn next_for(
    feed: &mut broadcast::Receiver<Arc<OperatorMsg>>,
    user: Id,
) -> OperatorEvent {
    loop {
        let m = within("operator event", 10, feed.recv()).await.unwrap();
        if m.user_id == user && !matches!(m.event, OperatorEvent::State { .. }) {
            return m.event.clone();
        }
    }
}

/// A call from `caller` to the short number 1580 that presses `digits` in the menu.
#[allow(dead_code)] // each test binary compiles this module; db_outage places its own
pub(crate) fn call(caller: &str, digits: &[&str]) -> ScriptedCall {
    let mut c = ScriptedCall::new(caller, "1580");
    c.digits = digits.iter().map(|d| (*d).to_owned()).collect();
    c
}

/// The record of the emulator's call `uuid` once `until` holds for it (10 s at the most).
#[allow(dead_code)] // each test binary compiles this module; db_outage reads PostgreSQL
pub(crate) async fn record_of(
    c: &Center,
    uuid: &str,
    until: impl Fn(&CallRecord) -> bool,
) -> CallRecord {
    within("call record", 10, async {
        loop {
            let _ = c.engine.writer().sync().await;
            let key = CallKey { node: NODE.into(), uuid: uuid.into() };
            if let Some(r) = c.store.call_record(&key).await.unwrap()
                && until(&r)
            {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}
