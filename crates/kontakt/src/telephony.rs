//! Starting the call center next to the API: the record writer, the engine, the outbound
//! socket FreeSWITCH connects each call to, and the control connection to FreeSWITCH.

use std::sync::Arc;

use anyhow::Context;
use kontakt_engine::{
    EngineHandle, EngineSetup, JournalConfig, OperatorBinding, RecordWriter, SupervisorBinding,
};
use kontakt_store::{Role, Store};
use kontakt_switch::{InboundClient, InboundConfig, OutboundConfig, OutboundServer};

use crate::config::Config;

/// The events the engine needs from the control connection (operators' and callbacks' legs
/// hanging up, hold, which `myevents` does not carry); each call's other events come on its
/// outbound socket.
pub(crate) const CONTROL_EVENTS: [&str; 3] =
    ["CHANNEL_HANGUP_COMPLETE", "CHANNEL_HOLD", "CHANNEL_UNHOLD"];

/// Resolves the configured operators to Kontakt users; an unknown or non-operator user is an
/// error that names the fix.
pub(crate) async fn operators(
    config: &kontakt_engine::EngineConfig,
    store: &dyn Store,
) -> anyhow::Result<Vec<OperatorBinding>> {
    let mut out = Vec::new();
    for o in &config.operators {
        let Some(c) = store.user_credentials(&o.username).await? else {
            anyhow::bail!(
                "callcenter.operators names {:?}, who is not a user: kontakt user add {} --role operator",
                o.username,
                o.username
            );
        };
        if !matches!(c.user.role, Role::Operator | Role::Supervisor) {
            anyhow::bail!(
                "callcenter.operators names {:?}, whose role is not operator",
                o.username
            );
        }
        let extension = o.extension.clone().unwrap_or_else(|| {
            o.endpoint
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .split('@')
                .next()
                .unwrap_or_default()
                .to_owned()
        });
        out.push(OperatorBinding {
            user_id: c.user.id,
            username: o.username.clone(),
            endpoint: o.endpoint.clone(),
            extension,
            queues: o.queues.clone(),
        });
    }
    Ok(out)
}

/// Resolves the configured supervisors' phones to Kontakt users (role supervisor or admin).
pub(crate) async fn supervisors(
    config: &kontakt_engine::EngineConfig,
    store: &dyn Store,
) -> anyhow::Result<Vec<SupervisorBinding>> {
    let mut out = Vec::new();
    for s in &config.supervisors {
        let Some(c) = store.user_credentials(&s.username).await? else {
            anyhow::bail!(
                "callcenter.supervisors names {:?}, who is not a user: kontakt user add {} --role supervisor",
                s.username,
                s.username
            );
        };
        if !matches!(c.user.role, Role::Supervisor | Role::Admin) {
            anyhow::bail!(
                "callcenter.supervisors names {:?}, whose role is not supervisor",
                s.username
            );
        }
        out.push(SupervisorBinding {
            user_id: c.user.id,
            username: s.username.clone(),
            endpoint: s.endpoint.clone(),
        });
    }
    Ok(out)
}

/// Starts the call center when the event socket is configured; `None` otherwise.
pub(crate) async fn start(
    config: &Config,
    store: Arc<dyn Store>,
) -> anyhow::Result<Option<EngineHandle>> {
    let nodes = config.esl.all_nodes();
    let Some(first) = nodes.first() else { return Ok(None) };
    let engine_config = config.engine_config();
    let bindings = operators(&engine_config, store.as_ref()).await?;
    let supervisors = supervisors(&engine_config, store.as_ref()).await?;
    let journal = JournalConfig {
        max_bytes: engine_config.journal_max_mib << 20,
        ..JournalConfig::in_dir(&engine_config.journal_dir)
    };
    let writer = RecordWriter::start(store.clone(), journal).await.with_context(|| {
        format!("cannot open the call-record journal in {}", engine_config.journal_dir)
    })?;
    let server =
        OutboundServer::bind(config.esl.listen, OutboundConfig::default()).await.with_context(
            || format!("cannot listen for FreeSWITCH's call sockets on {}", config.esl.listen),
        )?;
    let engine = kontakt_engine::start(EngineSetup {
        config: engine_config,
        operators: bindings,
        supervisors,
        store,
        writer,
        // Callbacks Kontakt dials itself are recorded under the first node.
        node_name: first.name.clone(),
        outbound_addr: Some(config.esl.listen.to_string()),
    })?;
    for node in &nodes {
        let (client, events) = InboundClient::start(
            InboundConfig::new(node.address.clone(), node.password.expose()).events(CONTROL_EVENTS),
        );
        engine.attach_node(&node.name, client, events);
    }
    let e = engine.clone();
    server.serve(move |call| kontakt_engine::run_call(e.clone(), call));
    Ok(Some(engine))
}
