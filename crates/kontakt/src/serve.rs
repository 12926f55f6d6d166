//! `kontakt serve`, `migrate` and `check-config`: open the store, make it current, serve.

use std::sync::Arc;

use anyhow::Context;
use kontakt_store::{NewUser, Role, Store};
use kontakt_web::{AppState, WebSettings, auth};

use crate::config::{Config, redact_url};

/// Opens the configured database, creating a SQLite file's directory first.
pub(crate) async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    if let Some(dir) = config.sqlite_dir()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    }
    let url = config.database.url.expose();
    kontakt_store::open(url)
        .await
        .with_context(|| format!("cannot open the database {}", redact_url(url)))
}

pub(crate) async fn migrate(config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let applied = store.migrate().await.context("migration failed")?;
    println!(
        "database {}: {applied} migration(s) applied, schema is current",
        redact_url(config.database.url.expose())
    );
    Ok(())
}

pub(crate) async fn serve(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let applied = store.migrate().await.context("migration failed")?;
    println!("Kontakt {}", env!("CARGO_PKG_VERSION"));
    println!(
        "  database: {} ({applied} migration(s) applied)",
        redact_url(config.database.url.expose())
    );
    let seeded = kontakt_web::seed::reference(store.as_ref())
        .await
        .map_err(|e| anyhow::anyhow!("cannot load the category tree: {}", e.message))?;
    if seeded > 0 {
        println!("  loaded the default category tree ({seeded} categories)");
    }
    if store.count_users().await? == 0 {
        let password = auth::new_password();
        store
            .create_user(
                NewUser {
                    username: "admin".into(),
                    display_name: "Administrator".into(),
                    role: Role::Admin,
                    password_hash: auth::hash_password(&password)
                        .map_err(|e| anyhow::anyhow!(e.message))?,
                    executor_id: None,
                    must_change_password: true,
                },
                kontakt_web::registration::now(),
            )
            .await?;
        println!("  created the first account: user \"admin\", one-time password {password}");
        println!(
            "  (shown only now; the first login must change it — or use `kontakt user passwd admin`)"
        );
    }
    let engine = crate::telephony::start(&config, store.clone()).await?;
    match &engine {
        Some(e) => println!(
            "  telephony: FreeSWITCH {}, call sockets on {}, {} operator(s) configured",
            config
                .esl
                .all_nodes()
                .iter()
                .map(|n| format!("{} at {}", n.name, n.address))
                .collect::<Vec<_>>()
                .join(", "),
            config.esl.listen,
            e.config().operators.len()
        ),
        None => {
            println!("  telephony: not configured ([esl] password is empty): appeals registry only")
        }
    }
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    println!("  API:      http://{addr}/api/v1  (OpenAPI: http://{addr}/api/v1/openapi.json)");
    println!("  log in:   POST http://{addr}/api/v1/auth/login {{\"username\":…,\"password\":…}}");
    println!("Press Ctrl-C to stop.");
    let state = AppState {
        store,
        settings: Arc::new(WebSettings {
            session_hours: config.auth.session_hours,
            cookie_secure: config.auth.cookie_secure,
            max_body_bytes: config.server.max_body_bytes,
        }),
        engine,
    };
    axum::serve(kontakt_web::listener(listener), kontakt_web::app(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("the HTTP server failed")?;
    println!("stopped");
    Ok(())
}
