//! `kontakt seed`: the default category tree, and with `--demo` sample executors, a
//! responsibility map and generated appeals (see `kontakt_web::seed`).

use anyhow::Context;
use kontakt_web::seed;

use crate::config::Config;
use crate::serve::open_store;

/// Turns an API error (its code, message and fields) into a readable one-line error.
fn api(e: kontakt_web::error::ApiError) -> anyhow::Error {
    anyhow::anyhow!("{} ({}) {:?}", e.message, e.code, e.fields)
}

pub(crate) async fn run(config: &Config, demo: bool, appeals: usize) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    store.migrate().await.context("migration failed")?;
    let n = seed::reference(store.as_ref()).await.map_err(api)?;
    println!("categories: {n} loaded ({} in total)", store.categories().await?.len());
    if !demo {
        return Ok(());
    }
    let executors = seed::executors(store.as_ref()).await.map_err(api)?;
    println!("executors: {executors} created, responsibility map filled");
    let started = std::time::Instant::now();
    let registered = seed::generate_appeals(store.as_ref(), appeals, 1580).await.map_err(api)?;
    println!(
        "appeals: {registered} registered in {:.1} s ({} in total)",
        started.elapsed().as_secs_f64(),
        store.count_appeals().await?
    );
    Ok(())
}
