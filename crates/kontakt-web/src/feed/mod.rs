//! The live feed over WebSocket (`GET /api/v1/feed`, protocol in docs/websocket.md): the hub
//! that relays the engine's broadcasts, the per-connection loop, and their bindings to axum's
//! WebSocket and to the engine.

pub(crate) mod conn;
pub(crate) mod hub;

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chrono::Utc;
use kontakt_engine::{Command, CommandError, EngineHandle, Reply};
use kontakt_store::{Id, NewAudit, Store};
use serde_json::{Map, Value};

pub(crate) use hub::{Hub, StreamKey, View};

use crate::access::{Permission, allows};
use crate::dto::WallboardDto;

/// axum's WebSocket as the connection's transport.
pub(crate) struct Socket(pub(crate) WebSocket);

impl conn::Transport for Socket {
    async fn send_text(&mut self, text: String) -> bool {
        self.0.send(Message::Text(text.into())).await.is_ok()
    }

    async fn recv(&mut self) -> Option<String> {
        // Text is the only thing a client may say (an acknowledgement); pings are answered
        // by the library; anything else is ignored.
        match self.0.recv().await {
            Some(Ok(Message::Text(t))) => Some(t.as_str().to_owned()),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => None,
            Some(Ok(_)) => Some(String::new()),
        }
    }

    async fn ping(&mut self) -> bool {
        self.0.send(Message::Ping(Default::default())).await.is_ok()
    }

    async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame { code, reason: reason.into() };
        let _ = self.0.send(Message::Close(Some(frame))).await;
    }
}

/// How the connection proved who it is, to check again while it stays open.
#[derive(Debug, Clone)]
pub(crate) enum Credential {
    Session(String),
    Token(String),
}

/// Snapshots from the engine; sessions from the store; screen-pops measured and audited.
pub(crate) struct EngineBackend {
    pub(crate) engine: EngineHandle,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) user: Id,
    pub(crate) credential: Credential,
    pub(crate) view: View,
    /// The desk acknowledges each screen-pop it shows (`?ack=pop`): the engine rings the
    /// phone on that acknowledgement.
    pub(crate) acks_pops: bool,
}

/// The stream's snapshot as a JSON object: the desk (as GET /api/v1/desk) or the wall board
/// (as GET /api/v1/wallboard).
pub(crate) async fn snapshot(
    engine: &EngineHandle,
    key: StreamKey,
) -> Result<Map<String, Value>, CommandError> {
    let value = match key.view {
        View::Desk => match engine.command(Command::OperatorStatus { user: key.user }).await? {
            Reply::Operator(s) => serde_json::to_value(crate::telephony::desk_dto(engine, *s)),
            _ => return Err(CommandError::Refused("unexpected reply".into())),
        },
        View::Wallboard => match engine.command(Command::Snapshot).await? {
            Reply::Snapshot(s) => serde_json::to_value(WallboardDto::from(*s)),
            _ => return Err(CommandError::Refused("unexpected reply".into())),
        },
    };
    match value {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(CommandError::Refused("the snapshot did not serialise".into())),
    }
}

impl conn::Backend for EngineBackend {
    async fn snapshot(&self, key: StreamKey) -> Result<Map<String, Value>, CommandError> {
        snapshot(&self.engine, key).await
    }

    async fn still_allowed(&self) -> bool {
        let user = match &self.credential {
            Credential::Session(hash) => {
                self.store.session(hash, Utc::now()).await.map(|s| s.map(|s| s.user))
            }
            Credential::Token(hash) => self.store.api_token_user(hash).await,
        };
        let permission = match self.view {
            View::Desk => Permission::Desk,
            View::Wallboard => Permission::Supervise,
        };
        match user {
            Ok(Some(u)) => u.id == self.user && u.active && allows(u.role, permission),
            Ok(None) => false,
            // The database is away for a moment: keep the connection rather than drop
            // every operator at once.
            Err(e) => {
                tracing::warn!(error = %e, "feed: cannot re-check the session; keeping it");
                true
            }
        }
    }

    fn received(&self, text: &str) {
        // `{"type":"shown","call":"…"}`: the page shows this call's screen-pop. Anything
        // else, or from a connection that did not ask to acknowledge, is ignored.
        if !self.acks_pops || self.view != View::Desk || text.len() > 512 {
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(text) else { return };
        if let (Some("shown"), Some(call)) = (v["type"].as_str(), v["call"].as_str()) {
            self.engine.pop_delivered(call);
        }
    }

    fn written(&self, payload: &hub::Payload, live: bool) {
        let Some((call, applicant)) = &payload.pop else { return };
        if live {
            self.engine.metrics().offer_to_ws.observe_us(conn::age_us(payload));
        }
        // The screen-pop shows the applicant's personal data to a person: audited, off the
        // connection's path.
        if let Some(applicant) = applicant {
            let store = self.store.clone();
            let entry = NewAudit {
                user_id: Some(self.user),
                action: "read_personal_data".into(),
                subject_kind: "applicant".into(),
                subject_id: applicant.to_string(),
                detail: Some(format!("screen-pop of call {call}")),
                at: crate::registration::now(),
            };
            tokio::spawn(async move {
                if let Err(e) = store.audit(entry.clone()).await {
                    tracing::error!(error = %e, user = ?entry.user_id, applicant = %entry.subject_id,
                        "screen-pop shown but NOT audited");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::Utc;
    use kontakt_engine::feed::{
        AgentView, LiveCallView, SupervisorEvent, SupervisorMsg, SupervisorSnapshot,
    };

    use super::*;

    /// The wall board has one shape: GET /api/v1/wallboard and the feed's first snapshot
    /// (`WallboardDto`) hold the same statistics, agents and calls as the feed's `stats`,
    /// `agent` and `call` messages (relayed as the engine serialises them, plus `at`).
    #[test]
    fn the_wallboard_dto_and_the_feed_messages_have_one_shape() {
        let router =
            kontakt_acd::Router::new(kontakt_acd::RouterConfig::default(), kontakt_acd::Millis(0))
                .unwrap();
        let at = Utc::now();
        let snap = SupervisorSnapshot {
            at,
            stats: router.snapshot(kontakt_acd::Millis(0)),
            agents: vec![AgentView {
                user_id: 3,
                username: "op3".into(),
                state: "talking".into(),
                reason: None,
                since: at,
                call: Some("u-1".into()),
            }],
            calls: vec![LiveCallView {
                call: "u-1".into(),
                node: "fs1".into(),
                caller: Some("+380501234567".into()),
                line: Some("short_1580".into()),
                phase: "talking".into(),
                queue: Some("general".into()),
                priority: 9,
                agent: Some(3),
                since: at,
                started_at: at,
            }],
            queue_names: vec!["general".into()],
        };
        let dto = serde_json::to_value(WallboardDto::from(snap.clone())).unwrap();
        let relayed = |event: SupervisorEvent| {
            let p = hub::supervisor_payload(&SupervisorMsg { at, event });
            let mut data: Value = serde_json::from_str(&p.data).unwrap();
            assert_eq!(data["at"], serde_json::to_value(at).unwrap());
            data.as_object_mut().unwrap().remove("at");
            (p.kind, data)
        };
        let (kind, stats) = relayed(SupervisorEvent::Stats { stats: Box::new(snap.stats) });
        assert_eq!((kind.as_str(), &stats["stats"]), ("stats", &dto["stats"]));
        let (kind, agent) = relayed(SupervisorEvent::Agent(snap.agents[0].clone()));
        assert_eq!((kind.as_str(), &agent), ("agent", &dto["agents"][0]));
        let (kind, call) = relayed(SupervisorEvent::Call(snap.calls[0].clone()));
        assert_eq!((kind.as_str(), &call), ("call", &dto["calls"][0]));
    }
}
