//! Simulated operators who work through the API exactly as a browser's desk does: each holds
//! an API token, reads its own events from the WebSocket feed (`/api/v1/feed`) and answers
//! them over HTTP — ready at `/api/v1/desk/state`, and after each call
//! `/api/v1/desk/calls/{uuid}/link`, registering a new appeal from the call or giving an
//! outcome.
//!
//! Shared by `kontakt demo` and the call-flow load benchmark (`benches/callflow.rs` includes
//! this file with `#[path]`), so it names nothing else of this crate.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use kontakt_store::{Id, Store};
use rand::{Rng as _, SeedableRng as _};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

/// A client's end of the feed.
pub(crate) type Feed =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How a simulated person works.
#[derive(Debug, Clone)]
pub(crate) struct OperatorPlan {
    /// Seed of this person's choices.
    pub(crate) seed: u64,
    /// Time taken after a call before linking it (wrap-up), milliseconds.
    pub(crate) wrap_ms: Range<u64>,
    /// Share of answered calls registered as a new appeal; the rest get an outcome.
    pub(crate) appeal_share: f64,
    /// Back from an automatic pause (after missed calls) after this long.
    pub(crate) pause_back: Duration,
    /// Counts requests that failed (a 5xx answer or no connection) and were tried again.
    pub(crate) failed_requests: Arc<AtomicU64>,
}

/// One feed message as the client received it.
#[derive(Debug)]
pub(crate) struct Received {
    /// When the client read the frame off the socket (before parsing it).
    #[allow(dead_code)] // read by the load benchmark's operators, not by the demo's
    pub(crate) at: DateTime<Utc>,
    pub(crate) msg: serde_json::Value,
}

/// Makes a new API token for `user` and returns it (the store keeps only its hash).
pub(crate) async fn issue_token(store: &dyn Store, user: Id, name: &str) -> anyhow::Result<String> {
    let token = kontakt_web::auth::new_token();
    store
        .create_api_token(user, name.into(), kontakt_web::auth::token_hash(&token), Utc::now())
        .await?;
    Ok(token)
}

/// Opens `GET /api/v1/feed[?view=…]` with a bearer token.
pub(crate) async fn connect_feed(
    addr: SocketAddr,
    token: &str,
    view: Option<&str>,
) -> anyhow::Result<Feed> {
    let query = view.map(|v| format!("?view={v}")).unwrap_or_default();
    let mut req = format!("ws://{addr}/api/v1/feed{query}").into_client_request()?;
    req.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
    let (ws, _) = tokio_tungstenite::connect_async(req).await.context("feed")?;
    Ok(ws)
}

/// A person at the desk, through the API: reads the feed, links every call it answered
/// (to a newly registered appeal or an outcome, as `plan` says), and comes back from
/// automatic pauses. `watch` sees every message with the time it was read off the socket;
/// the socket is read while the person waits for HTTP, so that time is the arrival's.
/// Returns when the feed closes.
pub(crate) async fn operator(
    addr: SocketAddr,
    token: String,
    plan: OperatorPlan,
    mut watch: impl FnMut(&Received) + Send,
) -> anyhow::Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(plan.seed);
    let mut ws = connect_feed(addr, &token, None).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(DateTime<Utc>, String)>();
    let reader = async move {
        while let Some(msg) = ws.next().await {
            match msg? {
                Message::Text(t) => {
                    let Ok(()) = tx.send((Utc::now(), t.as_str().to_owned())) else { break };
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
        anyhow::Ok(())
    };
    let failed = &plan.failed_requests;
    let person = async {
        let (status, body) = ready(addr, &token, failed).await?;
        anyhow::ensure!(status == 200, "ready: {status} {body}");
        // The caller of the call on screen, as its screen-pop showed them.
        let mut caller = serde_json::Value::Null;
        while let Some((at, text)) = rx.recv().await {
            let m = Received { at, msg: serde_json::from_str(&text)? };
            watch(&m);
            let m = m.msg;
            match m["type"].as_str() {
                Some("screen_pop") => {
                    let d = &m["data"];
                    caller = serde_json::json!({
                        "call": d["call"],
                        "phone": d["caller"],
                        "applicant": d["context"]["applicant"]["id"],
                    });
                }
                Some("state") if m["data"]["state"] == "paused" => {
                    tokio::time::sleep(plan.pause_back).await;
                    ready(addr, &token, failed).await?;
                }
                Some("ended") if m["data"]["wrap_up"] == true => {
                    let Some(call) = m["data"]["call"].as_str() else { continue };
                    if !plan.wrap_ms.is_empty() {
                        let ms = rng.random_range(plan.wrap_ms.clone());
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    let body = if rng.random::<f64>() < plan.appeal_share {
                        let (category, attributes) = [
                            ("water.leak", serde_json::json!({})),
                            ("heating.no_heating", serde_json::json!({"scope": "building"})),
                            ("water.quality", serde_json::json!({})),
                        ][rng.random_range(0..3)]
                        .clone();
                        let mut appeal = serde_json::json!({
                            "channel": "phone",
                            "legal_kind": "application",
                            "answer_channel": "phone",
                            "questions": [{
                                "category_code": category,
                                "description": "Зареєстровано під час демонстрації",
                                "attributes": attributes,
                                "address": {"street": "вул. Соборна", "building": format!("{}", rng.random_range(1..200))},
                            }],
                        });
                        // The caller the screen-pop recognised, or a new applicant with the
                        // number they called from; without a number, an incident report.
                        let known = caller["call"].as_str() == Some(call);
                        if let Some(id) = caller["applicant"].as_i64().filter(|_| known) {
                            appeal["applicant_id"] = id.into();
                        } else if let Some(phone) = caller["phone"].as_str().filter(|_| known) {
                            appeal["applicant"] = serde_json::json!({
                                "last_name": "Петренко",
                                "first_name": "Олена",
                                "phones": [phone],
                            });
                        } else {
                            appeal["legal_kind"] = "incident_report".into();
                            appeal["answer_channel"] = serde_json::Value::Null;
                        }
                        serde_json::json!({"appeal": appeal})
                    } else {
                        serde_json::json!({"outcome": "consultation"})
                    };
                    let path = format!("/api/v1/desk/calls/{call}/link");
                    let (status, reply) = post(addr, &token, &path, &body, failed).await?;
                    if status != 200 {
                        // A category the configuration lacks: the call still gets an outcome.
                        tracing::warn!(status, %reply, "simulated operator could not register an appeal");
                        let outcome = serde_json::json!({"outcome": "consultation"});
                        post(addr, &token, &path, &outcome, failed).await?;
                    }
                    ready(addr, &token, failed).await?;
                }
                _ => {}
            }
        }
        anyhow::Ok(())
    };
    // One task: the reader keeps reading while the person waits for an answer.
    tokio::select! {
        r = reader => r,
        r = person => r,
    }
}

async fn ready(addr: SocketAddr, token: &str, failed: &AtomicU64) -> anyhow::Result<(u16, String)> {
    post(addr, token, "/api/v1/desk/state", &serde_json::json!({"state": "ready"}), failed).await
}

/// `POST path`, as a person clicks: when the server answers 5xx or cannot be reached, again a
/// second later, up to ten times (each failure counted in `failed`).
pub(crate) async fn post(
    addr: SocketAddr,
    token: &str,
    path: &str,
    body: &serde_json::Value,
    failed: &AtomicU64,
) -> anyhow::Result<(u16, String)> {
    let mut tries = 0;
    loop {
        tries += 1;
        match post_once(addr, token, path, body).await {
            Ok((status, reply)) if status < 500 || tries >= 10 => return Ok((status, reply)),
            Err(e) if tries >= 10 => return Err(e),
            _ => {
                failed.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// `POST path` with a JSON body and a bearer token; the status and the body.
async fn post_once(
    addr: SocketAddr,
    token: &str,
    path: &str,
    body: &serde_json::Value,
) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let body = body.to_string();
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    let text = String::from_utf8_lossy(&out);
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}
