//! `kontakt demo`: the engine, the FreeSWITCH emulator, simulated callers and simulated
//! operators, on the configured database. With `--duration` it stops by itself and prints a
//! JSON summary an outside check can read.
//!
//! The simulated operators use the same API a browser does (`simops`): each holds an API
//! token, reads its own events from the WebSocket feed (`/api/v1/feed`) and answers them over
//! HTTP — ready at `/api/v1/desk/state`, and after each call `/api/v1/desk/calls/{uuid}/link`,
//! registering a new appeal from the call for most calls and giving an outcome for the rest.
//! The free seats are real operator accounts for people to log into.

use std::collections::HashSet;
use std::future::IntoFuture as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use kontakt_engine::{EngineConfig, EngineSetup, JournalConfig, OperatorBinding, RecordWriter};
use kontakt_sim::{Emulator, EmulatorConfig, EndpointBehaviour, EndpointConfig, ScriptedCall};
use kontakt_store::{NewUser, Role};
use kontakt_switch::{InboundClient, InboundConfig, OutboundConfig, OutboundServer};
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::config::Config;
use crate::simops;

#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Stop after this many seconds and print a JSON summary (default: run until Ctrl-C).
    #[arg(long)]
    duration: Option<u64>,
    /// Simulated operators.
    #[arg(long, default_value_t = 8)]
    operators: usize,
    /// Operator seats left free for people (configured, never simulated).
    #[arg(long, default_value_t = 2)]
    free_seats: usize,
    /// New calls per minute.
    #[arg(long, default_value_t = 60.0)]
    calls_per_minute: f64,
    /// Longest conversation a simulated caller has, seconds.
    #[arg(long, default_value_t = 25.0)]
    max_talk_secs: f64,
    /// Seed of the call generator.
    #[arg(long, default_value_t = 1580)]
    seed: u64,
}

#[derive(Debug, Serialize)]
struct Summary {
    calls: usize,
    answered: i64,
    abandoned: i64,
    linked_to_appeal: i64,
    other_outcome: i64,
    call_records: usize,
    lost_records: usize,
    /// Records not closed yet: calls awaiting their link, callbacks not yet reached.
    still_open: i64,
    callbacks: i64,
    journal_depth: u64,
}

pub(crate) async fn run(config: &Config, args: DemoArgs) -> anyhow::Result<()> {
    let store = crate::serve::open_store(config).await?;
    store.migrate().await.context("migration failed")?;
    kontakt_web::seed::reference(store.as_ref())
        .await
        .map_err(|e| anyhow::anyhow!("cannot load the category tree: {}", e.message))?;
    let seats = args.operators + args.free_seats;
    let mut bindings = Vec::new();
    for i in 0..seats {
        let username = format!("demo-op-{:03}", i + 1);
        let user = match store.user_credentials(&username).await? {
            Some(c) => c.user,
            None => {
                store
                    .create_user(
                        NewUser {
                            username: username.clone(),
                            display_name: format!("Демо-оператор {}", i + 1),
                            role: Role::Operator,
                            password_hash: kontakt_web::auth::hash_password(
                                &kontakt_web::auth::new_password(),
                            )
                            .map_err(|e| anyhow::anyhow!(e.message))?,
                            executor_id: None,
                            must_change_password: true,
                        },
                        Utc::now(),
                    )
                    .await?
            }
        };
        bindings.push(OperatorBinding {
            user_id: user.id,
            username,
            endpoint: format!("user/{}", 2001 + i),
            extension: (2001 + i).to_string(),
            queues: Vec::new(),
        });
    }
    let server = OutboundServer::bind("127.0.0.1:0", OutboundConfig::default()).await?;
    let outbound = server.local_addr()?.to_string();
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let endpoints = (0..seats)
        .map(|i| EndpointConfig {
            user: (2001 + i).to_string(),
            behaviour: EndpointBehaviour {
                // Simulated people take a moment to pick up; a few miss the call.
                answer_after_secs: (rng.random::<f64>() > 0.05).then(|| rng.random_range(1.0..4.0)),
                reject: None,
                hangup_after_secs: None,
            },
        })
        .collect();
    let emu = Emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".into(),
        heartbeat_secs: 20.0,
        playback_secs: 2.0,
        dtmf_delay_secs: 0.5,
        outbound_socket: Some(outbound.clone()),
        endpoints,
        // Citizens called back pick up after a few seconds and talk a little.
        default_endpoint: EndpointBehaviour {
            answer_after_secs: Some(3.0),
            reject: None,
            hangup_after_secs: Some(args.max_talk_secs.max(1.5) / 2.0),
        },
        ..Default::default()
    })
    .await?;
    let data_dir = config.sqlite_dir().unwrap_or_else(|| "kontakt-data".into());
    let writer =
        RecordWriter::start(store.clone(), JournalConfig::in_dir(data_dir.join("journal")))
            .await
            .context("cannot open the call-record journal")?;
    let engine = kontakt_engine::start(EngineSetup {
        config: EngineConfig::default(),
        operators: bindings.clone(),
        supervisors: Vec::new(),
        store: store.clone(),
        writer,
        node_name: "kontakt-demo".into(),
        outbound_addr: Some(outbound),
    })?;
    let ic = InboundConfig::new(emu.inbound_addr().to_string(), "ClueCon").events([
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_HOLD",
        "CHANNEL_UNHOLD",
    ]);
    let (client, events) =
        InboundClient::connect(ic).await.context("emulator control connection")?;
    engine.attach_node("kontakt-sim", client, events);
    let e = engine.clone();
    server.serve(move |call| kontakt_engine::run_call(e.clone(), call));
    // The API, as `serve` runs it: the simulated operators use it, people can too.
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    let state = kontakt_web::AppState {
        store: store.clone(),
        settings: Arc::new(kontakt_web::WebSettings::default()),
        engine: Some(engine.clone()),
    };
    tokio::spawn(
        axum::serve(kontakt_web::listener(listener), kontakt_web::app(state)).into_future(),
    );
    for b in bindings.iter().take(args.operators) {
        let token = simops::issue_token(store.as_ref(), b.user_id, "demo").await?;
        let plan = simops::OperatorPlan {
            seed: args.seed ^ b.user_id as u64,
            wrap_ms: 500..3000,
            appeal_share: 0.8,
            pause_back: Duration::from_secs(5),
            failed_requests: Default::default(),
        };
        let name = b.username.clone();
        tokio::spawn(async move {
            if let Err(e) = simops::operator(addr, token, plan, |_| {}).await {
                tracing::error!(operator = %name, error = %e, "simulated operator stopped");
            }
        });
    }
    let mut seats = Vec::new();
    for b in bindings.iter().skip(args.operators) {
        let password = kontakt_web::auth::new_password();
        let hash =
            kontakt_web::auth::hash_password(&password).map_err(|e| anyhow::anyhow!(e.message))?;
        store.set_password(b.user_id, hash, false).await?;
        seats.push(format!("{} / {password}", b.username));
    }
    eprintln!(
        "kontakt demo: API on http://{addr}/api/v1 (feed: ws://{addr}/api/v1/feed); {} simulated operators; \
         free seats for people: {}; {} calls/min; Ctrl-C stops",
        args.operators,
        if seats.is_empty() { "none".to_owned() } else { seats.join(", ") },
        args.calls_per_minute
    );
    let placed = place_calls(&emu, &args).await;
    // Let the calls in progress finish.
    emu.wait_idle(Duration::from_secs(90)).await;
    let _ = engine.writer().sync().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = engine.writer().sync().await;
    let counts = store.call_counts().await?;
    let known: HashSet<String> = store.calls_known(&placed).await?.into_iter().collect();
    let summary = Summary {
        calls: placed.len(),
        answered: counts.connected,
        abandoned: counts.abandoned,
        linked_to_appeal: counts.linked_to_appeal,
        other_outcome: counts.other_outcome,
        call_records: placed.iter().filter(|u| known.contains(*u)).count(),
        lost_records: placed.iter().filter(|u| !known.contains(*u)).count(),
        still_open: counts.live,
        callbacks: engine.metrics().callbacks_created.load(std::sync::atomic::Ordering::Relaxed)
            as i64,
        journal_depth: engine
            .writer()
            .stats()
            .journal_depth
            .load(std::sync::atomic::Ordering::Relaxed),
    };
    println!("{}", serde_json::to_string_pretty(&summary)?);
    engine.shutdown();
    Ok(())
}

/// Places calls at the configured rate until the duration ends or Ctrl-C; returns their
/// channel UUIDs.
async fn place_calls(emu: &kontakt_sim::EmulatorHandle, args: &DemoArgs) -> Vec<String> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed.wrapping_add(1));
    let started = tokio::time::Instant::now();
    let gap = Duration::from_secs_f64(60.0 / args.calls_per_minute.max(0.1));
    let mut placed = Vec::new();
    let stop = async {
        match args.duration {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(stop);
    let mut next = started;
    loop {
        tokio::select! {
            () = &mut stop => break,
            () = tokio::time::sleep_until(next) => {}
        }
        // A few repeat callers, so sticky routing and the screen-pop history show.
        let range = if rng.random::<f64>() < 0.2 { 20 } else { 9_999_999 };
        let caller = format!("050{:07}", rng.random_range(0..range));
        let menu = match rng.random_range(0..10) {
            0 => "1",
            1 => "3",
            _ => "2",
        };
        let mut call = ScriptedCall::new(&caller, "1580");
        call.digits = vec!["1".into(), menu.into()];
        if menu == "3" {
            call.digits.push("2026000001".into());
        }
        call.patience_secs = Some(rng.random_range(15.0..90.0));
        call.talk_secs = Some(rng.random_range(1.0..args.max_talk_secs.max(1.5)));
        placed.push(emu.place_call(&call));
        next += gap.mul_f64(rng.random_range(0.5..1.5));
    }
    placed
}
