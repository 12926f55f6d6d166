//! The test harness: a fresh store per test (a SQLite file, or a fresh PostgreSQL schema when
//! `KONTAKT_TEST_PG_URL` is set), the default category tree, one account of every role logged
//! in through the API, a call-center engine (with no FreeSWITCH attached: `telephony.rs` adds
//! the emulator where calls are needed), and a small client that drives `kontakt_web::app`
//! in-process.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::Utc;
use http_body_util::BodyExt;
use kontakt_engine::{
    EngineConfig, EngineHandle, EngineSetup, JournalConfig, OperatorBinding, RecordWriter,
    SupervisorBinding,
};
use kontakt_store::{Backend, NewExecutor, NewUser, PgStore, Role, Store};
use kontakt_web::{AppState, WebSettings};
use serde_json::{Value, json};
use tower::ServiceExt;

pub const PASSWORD: &str = "correct horse battery";

/// Every role, in a fixed order.
pub const ROLES: [Role; 6] = [
    Role::Admin,
    Role::Supervisor,
    Role::Operator,
    Role::Controller,
    Role::Executor,
    Role::Citizen,
];

/// A logged-in session.
#[derive(Debug, Clone)]
pub struct Login {
    pub user_id: i64,
    pub cookie: String,
    pub csrf: String,
}

/// Who makes a request.
#[derive(Debug, Clone)]
pub enum Who {
    Anonymous,
    /// The role's session cookie with its CSRF token.
    Role(Role),
    /// The role's session cookie without the CSRF header.
    NoCsrf(Role),
    Session(Login),
    Bearer(String),
}

pub use Who::Anonymous as ANON;

pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub headers: axum::http::HeaderMap,
}

impl Resp {
    /// The machine-readable error code, or "" for a body without one.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn field_codes(&self) -> Vec<(String, String)> {
        self.body["error"]["fields"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| {
                        (
                            f["field"].as_str().unwrap_or("").to_string(),
                            f["code"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        &self.body
    }
}

pub struct Env {
    pub app: Router,
    pub store: Arc<dyn Store>,
    /// Knows the operator and the supervisor accounts as operators (phones user/1001 and
    /// user/1002) and the supervisor's phone for listening in (user/1900).
    pub engine: EngineHandle,
    pub settings: WebSettings,
    pub logins: HashMap<Role, Login>,
    /// An API token per role (bearer).
    pub tokens: HashMap<Role, String>,
    /// The organisation the executor account belongs to, and one it does not.
    pub own_executor: i64,
    pub other_executor: i64,
    _dir: Option<tempfile::TempDir>,
    _journal: tempfile::TempDir,
    /// Last, so the store's connections are gone before the schema is dropped.
    _pg_schema: Option<SchemaGuard>,
}

/// Drops a test's PostgreSQL schema when the test ends, also when it panicked, so failed runs
/// leave nothing behind in the shared database.
struct SchemaGuard {
    url: String,
    schema: String,
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        // Its own thread and runtime: Drop cannot await, and may run while unwinding.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let pool = sqlx::PgPool::connect(&url).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .execute(&pool)
                    .await
                    .unwrap();
            });
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("could not drop the test schema {}", self.schema);
        }
    }
}

static SCHEMA_SEQ: AtomicU32 = AtomicU32::new(0);

impl Env {
    pub async fn sqlite() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let store = kontakt_store::open(&url).await.unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        Env::build(store, Some(dir), None).await
    }

    /// `None` when `KONTAKT_TEST_PG_URL` is unset (which fails loudly under CI).
    pub async fn postgres() -> Option<Env> {
        let Ok(url) = std::env::var("KONTAKT_TEST_PG_URL") else {
            assert!(
                std::env::var("CI").is_err(),
                "KONTAKT_TEST_PG_URL must be set in CI: the API tests have to run on PostgreSQL"
            );
            eprintln!("KONTAKT_TEST_PG_URL is not set: PostgreSQL half of the API tests skipped");
            return None;
        };
        let schema = format!(
            "kw_{}_{}_{}",
            std::process::id(),
            SCHEMA_SEQ.fetch_add(1, Ordering::Relaxed),
            Utc::now().timestamp_subsec_nanos()
        );
        let admin = sqlx::PgPool::connect(&url).await.expect("connect to KONTAKT_TEST_PG_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let options = sqlx::postgres::PgConnectOptions::from_str(&url)
            .unwrap()
            .options([("search_path", schema.as_str())]);
        let store = PgStore::connect_with(options).await.unwrap();
        assert_eq!(store.backend(), Backend::Postgres);
        Some(Env::build(Arc::new(store), None, Some(SchemaGuard { url, schema })).await)
    }

    async fn build(
        store: Arc<dyn Store>,
        dir: Option<tempfile::TempDir>,
        pg_schema: Option<SchemaGuard>,
    ) -> Env {
        store.migrate().await.unwrap();
        kontakt_web::seed::reference(store.as_ref()).await.unwrap();
        let now = kontakt_web::registration::now();
        let executor = |code: &str| NewExecutor {
            code: code.into(),
            name_uk: format!("Виконавець {code}"),
            name_en: None,
            phone: None,
        };
        let own = store.create_executor(executor("own-org"), now).await.unwrap().id;
        let other = store.create_executor(executor("other-org"), now).await.unwrap().id;
        let hash = kontakt_web::auth::hash_password(PASSWORD).unwrap();
        let mut ids = HashMap::new();
        for role in ROLES {
            let user = store
                .create_user(
                    NewUser {
                        username: role.as_str().to_string(),
                        display_name: format!("Test {}", role.as_str()),
                        role,
                        password_hash: hash.clone(),
                        executor_id: (role == Role::Executor).then_some(own),
                        must_change_password: false,
                    },
                    now,
                )
                .await
                .unwrap();
            ids.insert(role, user.id);
        }
        let settings = WebSettings::default();
        let journal = tempfile::tempdir().unwrap();
        let bindings = [(Role::Operator, "1001"), (Role::Supervisor, "1002")]
            .map(|(role, ext)| OperatorBinding {
                user_id: ids[&role],
                username: role.as_str().to_string(),
                endpoint: format!("user/{ext}"),
                extension: ext.to_string(),
                queues: Vec::new(),
            })
            .to_vec();
        let phones = vec![SupervisorBinding {
            user_id: ids[&Role::Supervisor],
            username: "supervisor".into(),
            endpoint: "user/1900".into(),
        }];
        let engine = start_engine(store.clone(), journal.path(), bindings, phones, |_| {}).await;
        let app = kontakt_web::app(AppState {
            store: store.clone(),
            settings: Arc::new(settings.clone()),
            engine: Some(engine.clone()),
        });
        let mut env = Env {
            app,
            store,
            engine,
            settings,
            logins: HashMap::new(),
            tokens: HashMap::new(),
            own_executor: own,
            other_executor: other,
            _dir: dir,
            _journal: journal,
            _pg_schema: pg_schema,
        };
        for role in ROLES {
            let login = env.login(role.as_str(), PASSWORD).await;
            assert_eq!(login.user_id, ids[&role]);
            env.logins.insert(role, login);
            let token = kontakt_web::auth::new_token();
            env.store
                .create_api_token(
                    ids[&role],
                    format!("{} token", role.as_str()),
                    kontakt_web::auth::token_hash(&token),
                    now,
                )
                .await
                .unwrap();
            env.tokens.insert(role, token);
        }
        env
    }

    /// Ends the test: the engine stops, and the PostgreSQL schema (if any) is dropped with
    /// the `Env`.
    pub async fn finish(self) {
        self.engine.shutdown();
        drop(self);
    }

    /// The same application without telephony (the registry alone).
    pub fn app_without_telephony(&self) -> Router {
        kontakt_web::app(AppState {
            store: self.store.clone(),
            settings: Arc::new(self.settings.clone()),
            engine: None,
        })
    }

    /// Logs in through the API; panics unless it works.
    pub async fn login(&self, username: &str, password: &str) -> Login {
        let r = self
            .call(
                &ANON,
                "POST",
                "/api/v1/auth/login",
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "login of {username}: {}", r.body);
        let set_cookie = r.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
        assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
        assert!(set_cookie.contains("SameSite=Strict"), "{set_cookie}");
        let cookie = set_cookie.split(';').next().unwrap().to_string();
        Login {
            user_id: r.body["user"]["id"].as_i64().unwrap(),
            cookie,
            csrf: r.body["csrf_token"].as_str().unwrap().to_string(),
        }
    }

    pub fn user_id(&self, role: Role) -> i64 {
        self.logins[&role].user_id
    }

    /// A request as `who`, with an optional JSON body.
    pub fn request(
        &self,
        who: &Who,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Request<Body> {
        let mut b = Request::builder().method(Method::from_str(method).unwrap()).uri(path);
        match who {
            Who::Anonymous => {}
            Who::Role(role) => {
                let l = &self.logins[role];
                b = b.header(header::COOKIE, &l.cookie).header("x-csrf-token", &l.csrf);
            }
            Who::NoCsrf(role) => b = b.header(header::COOKIE, &self.logins[role].cookie),
            Who::Session(l) => {
                b = b.header(header::COOKIE, &l.cookie).header("x-csrf-token", &l.csrf);
            }
            Who::Bearer(token) => b = b.header(header::AUTHORIZATION, format!("Bearer {token}")),
        }
        match body {
            Some(v) => b
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(&v).unwrap()))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        }
    }

    pub async fn call(&self, who: &Who, method: &str, path: &str, body: Option<Value>) -> Resp {
        let req = self.request(who, method, path, body);
        self.send(req).await
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        send(self.app.clone(), req).await
    }

    /// Shorthand: as a role, expecting `status`, returning the body.
    pub async fn ok(
        &self,
        role: Role,
        method: &str,
        path: &str,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        let r = self.call(&Who::Role(role), method, path, body).await;
        assert_eq!(r.status.as_u16(), status, "{method} {path} as {}: {}", role.as_str(), r.body);
        r.body
    }
}

/// An engine on `store` with the test configuration (short ring timeouts, no announcements),
/// changed by `tweak`; `supervisors` are the phones for listening in.
pub async fn start_engine(
    store: Arc<dyn Store>,
    journal: &std::path::Path,
    operators: Vec<OperatorBinding>,
    supervisors: Vec<SupervisorBinding>,
    tweak: impl FnOnce(&mut EngineConfig),
) -> EngineHandle {
    let writer =
        RecordWriter::start(store.clone(), JournalConfig::in_dir(journal.join("j"))).await.unwrap();
    let mut config = EngineConfig::default();
    for q in &mut config.queues {
        q.ring_timeout_secs = 5;
        q.announce_every_secs = 0;
    }
    config.recording.dir = "/rec".into();
    tweak(&mut config);
    kontakt_engine::start(EngineSetup {
        config,
        operators,
        supervisors,
        store,
        writer,
        node_name: "kontakt-test".into(),
        outbound_addr: None,
    })
    .unwrap()
}

pub async fn send(app: Router, req: Request<Body>) -> Resp {
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Resp { status, body, headers }
}

/// Runs each named `async fn(&Env)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let env = $crate::harness::Env::sqlite().await;
                super::$name(&env).await;
                env.finish().await;
            })*
        }
        mod on_postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some(env) = $crate::harness::Env::postgres().await else { return };
                super::$name(&env).await;
                env.finish().await;
            })*
        }
    };
}

// ---- fixtures shared by the test modules -----------------------------------------------------

/// Creates an executor through the API and a city-wide responsibility line for `prefix`.
pub async fn executor_for(env: &Env, code: &str, prefix: &str) -> i64 {
    let ex = env
        .ok(
            Role::Admin,
            "POST",
            "/api/v1/executors",
            Some(json!({"code": code, "name_uk": format!("Організація {code}")})),
            201,
        )
        .await;
    let id = ex["id"].as_i64().unwrap();
    route_to(env, prefix, id).await;
    id
}

pub async fn route_to(env: &Env, prefix: &str, executor_id: i64) {
    env.ok(
        Role::Admin,
        "POST",
        "/api/v1/responsibilities",
        Some(json!({
            "category_prefix": prefix,
            "executor_id": executor_id,
            "valid_from": "2020-01-01T00:00:00Z"
        })),
        201,
    )
    .await;
}

pub fn address() -> Value {
    json!({"city": "Запоріжжя", "street": "вул. Соборна", "building": "12", "entrance": "2",
           "flat": "45", "floor": 3, "district": "Олександрівський"})
}

/// A valid appeal body with one question per category code.
pub fn appeal_body(applicant_id: i64, categories: &[&str]) -> Value {
    let questions: Vec<Value> = categories
        .iter()
        .map(|c| {
            json!({"category_code": c, "description": format!("Питання щодо {c}"),
                   "address": address()})
        })
        .collect();
    json!({
        "applicant_id": applicant_id,
        "channel": "phone",
        "legal_kind": "application",
        "answer_channel": "phone",
        "questions": questions,
    })
}

pub async fn new_applicant(env: &Env, phone: &str) -> Value {
    env.ok(
        Role::Operator,
        "POST",
        "/api/v1/applicants",
        Some(json!({"last_name": "Шевченко", "first_name": "Олена", "patronymic": "Петрівна",
                    "phones": [phone], "address": address()})),
        201,
    )
    .await
}
