//! The contract every `Store` backend passes: each test below runs once on SQLite (a fresh
//! file) and once on PostgreSQL (a fresh schema in the database `KONTAKT_TEST_PG_URL` names).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Duration, SubsecRound, TimeZone, Utc};
use kontakt_appeals::{
    ActorKind, Address, AnswerChannel, ApplicantKind, AssignmentState, AssuranceLevel, Category,
    Channel, LegalKind, LegalTrack, OutageClass, OutageDraft, OutageKind, OutagePlace, Resolution,
    Severity,
};
use kontakt_store::*;

// ---- harness ----------------------------------------------------------------------------

struct Harness {
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    pg_schema: Option<(String, String)>,
}

impl Harness {
    async fn finish(self) {
        if let Some((url, schema)) = self.pg_schema {
            drop(self.store);
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&pool)
                .await
                .unwrap();
        }
    }
}

async fn sqlite() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let store = kontakt_store::open(&url).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    store.migrate().await.unwrap();
    Harness { store, _dir: Some(dir), pg_schema: None }
}

static SCHEMA_SEQ: AtomicU32 = AtomicU32::new(0);

async fn postgres() -> Option<Harness> {
    let Ok(url) = std::env::var("KONTAKT_TEST_PG_URL") else {
        assert!(
            std::env::var("CI").is_err(),
            "KONTAKT_TEST_PG_URL must be set in CI: the contract has to run on PostgreSQL"
        );
        eprintln!("KONTAKT_TEST_PG_URL is not set: PostgreSQL half of the contract skipped");
        return None;
    };
    let schema = format!(
        "kt_{}_{}_{}",
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
    store.migrate().await.unwrap();
    Some(Harness { store: Arc::new(store), _dir: None, pg_schema: Some((url, schema)) })
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let h = super::sqlite().await;
                super::$name(h.store.clone()).await;
                h.finish().await;
            })*
        }
        mod on_postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(h) = super::postgres().await else { return };
                super::$name(h.store.clone()).await;
                h.finish().await;
            })*
        }
    };
}

contract!(
    migrations_are_idempotent,
    users_sessions_and_tokens,
    usernames_are_unique,
    categories_round_trip,
    applicants_are_found_by_phone_name_and_address,
    appeal_round_trips_exactly,
    registration_numbers_are_gap_free_under_concurrency,
    registration_numbers_restart_each_year,
    failed_registration_leaves_nothing,
    assignment_changes_are_versioned_and_logged,
    unknown_references_are_domain_errors,
    responsibility_prefixes_match_literally,
    list_filters_and_pages,
    prior_questions_by_applicant_or_building,
    deadline_extension_is_recorded,
    audit_log_keeps_entries,
    call_records_replay_idempotently,
    call_ops_on_unknown_calls_apply_nothing,
    call_batch_is_what_its_ops_do_one_by_one,
    call_batch_refused_writes_nothing,
    call_batch_larger_than_one_statement,
    call_intraday_counts_per_interval,
    outages_cover_their_streets_and_buildings_until_ended,
    outages_end_once_and_refer_to_what_exists,
);

// ---- fixtures ---------------------------------------------------------------------------

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn category(code: &str, parent: Option<&str>, leaf: bool) -> Category {
    Category {
        code: code.into(),
        parent_code: parent.map(Into::into),
        name_uk: format!("Категорія {code}"),
        name_en: Some(format!("Category {code}")),
        is_emergency: false,
        severity: Severity::P2,
        sla_hours: Some(24),
        attention_pct: 75,
        legal_track: LegalTrack::Art20Short,
        attribute_schema: Vec::new(),
        is_leaf: leaf,
        active: true,
    }
}

async fn reference(store: &dyn Store) -> (Executor, Executor) {
    store.upsert_category(category("water", None, false)).await.unwrap();
    store.upsert_category(category("water.no_cold_water", Some("water"), true)).await.unwrap();
    store.upsert_category(category("lifts", None, false)).await.unwrap();
    store.upsert_category(category("lifts.stuck", Some("lifts"), true)).await.unwrap();
    let at = t("2025-01-01T00:00:00Z");
    let a = store
        .create_executor(
            NewExecutor {
                code: "vodokanal".into(),
                name_uk: "Водоканал".into(),
                name_en: None,
                phone: None,
            },
            at,
        )
        .await
        .unwrap();
    let b = store
        .create_executor(
            NewExecutor {
                code: "lift".into(),
                name_uk: "Ліфтсервіс".into(),
                name_en: None,
                phone: Some("+380612000000".into()),
            },
            at,
        )
        .await
        .unwrap();
    (a, b)
}

fn address(street: &str, building: &str) -> Address {
    Address {
        city: Some("Запоріжжя".into()),
        street: street.into(),
        building: building.into(),
        entrance: Some("2".into()),
        flat: Some("15".into()),
        floor: Some(4),
        district: Some("Хортицький".into()),
        lat: Some(47.8),
        lon: Some(35.1),
    }
}

fn applicant(last: &str, phone: &str) -> NewApplicant {
    NewApplicant {
        last_name: Some(last.into()),
        first_name: Some("Олена".into()),
        patronymic: Some("Іванівна".into()),
        email: None,
        kind: ApplicantKind::Individual,
        privileges: Vec::new(),
        confidential: false,
        assurance: AssuranceLevel::None,
        address: Some(address("вул. Перемоги", "12")),
        phones: vec![phone.into()],
    }
}

fn system() -> Actor {
    Actor { user_id: None, kind: ActorKind::System }
}

fn question(code: &str, executor: Option<i64>, at: DateTime<Utc>) -> kontakt_store::NewQuestion {
    let addr = address("вул. Перемоги", "12");
    kontakt_store::NewQuestion {
        category_code: code.into(),
        description: "Немає холодної води з ранку".into(),
        attributes: serde_json::json!({"scope": "building"}),
        building_key: Some(addr.building_key()),
        address: Some(addr),
        object_ref: None,
        emergency: Some(Emergency {
            discovered_at: at - Duration::hours(2),
            nature: "прорив труби".into(),
        }),
        severity: Severity::P1,
        sla_due_at: Some(at + Duration::hours(24)),
        attention_at: Some(at + Duration::hours(18)),
        repeat_of: None,
        assignment: executor.map(|executor_id| NewAssignment {
            executor_id,
            due_at: Some(at + Duration::hours(24)),
        }),
    }
}

fn appeal(
    applicant_id: Option<i64>,
    questions: Vec<kontakt_store::NewQuestion>,
    at: DateTime<Utc>,
) -> NewAppeal {
    NewAppeal {
        reg_year: 2026,
        applicant_id,
        channel: Channel::Phone,
        legal_kind: LegalKind::Complaint,
        answer_channel: Some(AnswerChannel::Phone),
        collective: false,
        call_id: Some("c0ffee".into()),
        operator_id: None,
        received_at: at,
        registered_at: at,
        legal_due_at: Some(at + Duration::days(15)),
        repeat_of: None,
        questions,
        actor: system(),
    }
}

// ---- the contract -----------------------------------------------------------------------

async fn migrations_are_idempotent(store: Arc<dyn Store>) {
    assert_eq!(store.pending_migrations().await.unwrap(), 0);
    assert_eq!(store.migrate().await.unwrap(), 0);
}

async fn users_sessions_and_tokens(store: Arc<dyn Store>) {
    let at = t("2026-03-01T10:00:00Z");
    let u = store
        .create_user(
            NewUser {
                username: "olena".into(),
                display_name: "Олена".into(),
                role: Role::Operator,
                password_hash: "$argon2id$fake".into(),
                executor_id: None,
                must_change_password: true,
            },
            at,
        )
        .await
        .unwrap();
    assert_eq!(u.role, Role::Operator);
    assert!(u.must_change_password);
    assert_eq!(store.count_users().await.unwrap(), 1);
    let creds = store.user_credentials("olena").await.unwrap().unwrap();
    assert_eq!(creds.password_hash, "$argon2id$fake");
    assert!(store.user_credentials("nobody").await.unwrap().is_none());

    store
        .create_session("h1".into(), u.id, "csrf".into(), at, at + Duration::hours(1))
        .await
        .unwrap();
    let s = store.session("h1", at + Duration::minutes(59)).await.unwrap().unwrap();
    assert_eq!((s.user.id, s.csrf_token.as_str()), (u.id, "csrf"));
    assert!(store.session("h1", at + Duration::hours(2)).await.unwrap().is_none(), "expired");
    // A new password ends the sessions.
    store.set_password(u.id, "$argon2id$new".into(), false).await.unwrap();
    assert!(store.session("h1", at).await.unwrap().is_none());
    assert!(!store.user(u.id).await.unwrap().must_change_password);

    store.create_session("h2".into(), u.id, "c".into(), at, at + Duration::hours(1)).await.unwrap();
    store.delete_session("h2").await.unwrap();
    assert!(store.session("h2", at).await.unwrap().is_none());

    store.create_api_token(u.id, "crm".into(), "tokhash".into(), at).await.unwrap();
    assert_eq!(store.api_token_user("tokhash").await.unwrap().unwrap().id, u.id);
    assert!(store.api_token_user("other").await.unwrap().is_none());
    assert!(matches!(
        store.set_password(9999, "x".into(), false).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn usernames_are_unique(store: Arc<dyn Store>) {
    let at = t("2026-03-01T10:00:00Z");
    let new = || NewUser {
        username: "same".into(),
        display_name: "x".into(),
        role: Role::Admin,
        password_hash: "h".into(),
        executor_id: None,
        must_change_password: false,
    };
    store.create_user(new(), at).await.unwrap();
    match store.create_user(new(), at).await {
        Err(StoreError::Conflict(what)) => {
            assert!(!what.to_lowercase().contains("insert"), "{what}")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.users().await.unwrap().len(), 1);
}

async fn categories_round_trip(store: Arc<dyn Store>) {
    let mut c = category("lifts", None, false);
    c.attribute_schema = vec![kontakt_appeals::AttributeDef {
        code: "people_inside".into(),
        name_uk: "Люди в кабіні".into(),
        kind: kontakt_appeals::AttributeKind::Bool,
        required: true,
    }];
    c.sla_hours = None;
    store.upsert_category(c.clone()).await.unwrap();
    assert_eq!(store.category("lifts").await.unwrap().unwrap(), c);
    c.name_uk = "Ліфти".into();
    store.upsert_category(c.clone()).await.unwrap();
    assert_eq!(store.categories().await.unwrap(), vec![c]);
    assert!(store.category("nope").await.unwrap().is_none());
}

async fn applicants_are_found_by_phone_name_and_address(store: Arc<dyn Store>) {
    let at = t("2026-03-01T10:00:00Z");
    let a = store.create_applicant(applicant("Шевченко", "+380501234567"), at).await.unwrap();
    store.create_applicant(applicant("Коваленко", "+380661112233"), at).await.unwrap();
    assert_eq!(a.phones, vec!["+380501234567".to_string()]);
    assert_eq!(a.address.as_ref().unwrap().floor, Some(4));
    let by_phone = store
        .find_applicants(&ApplicantQuery {
            phone: Some("+380501234567".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_phone, vec![a.clone()]);
    // Cyrillic case folding happens in Rust, so lower-case search finds capitalised names.
    let by_name = store
        .find_applicants(&ApplicantQuery {
            name: Some("шевч".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_name.len(), 1);
    assert_eq!(by_name[0].id, a.id);
    let key = address("вул. Перемоги", "12").building_key();
    let by_address = store
        .find_applicants(&ApplicantQuery { address: Some(key), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(by_address.len(), 2);
    // LIKE wildcards in user input match literally.
    let none = store
        .find_applicants(&ApplicantQuery {
            name: Some("%".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(store.applicant(a.id).await.unwrap(), a);
    assert!(matches!(store.applicant(999).await, Err(StoreError::NotFound { what: "applicant" })));
}

async fn appeal_round_trips_exactly(store: Arc<dyn Store>) {
    let (vodokanal, _) = reference(store.as_ref()).await;
    let at = t("2026-05-31T21:30:00.123456Z");
    let who = store.create_applicant(applicant("Мельник", "+380501112233"), at).await.unwrap();
    let saved = store
        .register_appeal(appeal(
            Some(who.id),
            vec![
                question("water.no_cold_water", Some(vodokanal.id), at),
                question("lifts.stuck", None, at),
            ],
            at,
        ))
        .await
        .unwrap();
    assert_eq!(saved.reg_no.to_string(), "2026-000001");
    assert_eq!(saved.received_at, at, "microseconds survive");
    assert_eq!(saved.questions.len(), 2);
    let q = &saved.questions[0];
    assert_eq!(q.position, 1);
    assert_eq!(q.attributes, serde_json::json!({"scope": "building"}));
    assert_eq!(q.emergency.as_ref().unwrap().nature, "прорив труби");
    assert_eq!(q.address.as_ref().unwrap().lat, Some(47.8));
    assert_eq!(q.assignments.len(), 1);
    assert_eq!(q.assignments[0].state, AssignmentState::Registered);
    assert!(saved.questions[1].assignments.is_empty());
    assert_eq!(store.appeal(saved.id).await.unwrap(), saved);
    assert_eq!(store.appeal_by_reg_no(saved.reg_no).await.unwrap(), saved);
    let timeline = store.timeline(saved.id).await.unwrap();
    let kinds: Vec<&str> = timeline.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["registered", "assigned"]);
    assert_eq!(store.count_appeals().await.unwrap(), 1);
}

async fn registration_numbers_are_gap_free_under_concurrency(store: Arc<dyn Store>) {
    let (vodokanal, _) = reference(store.as_ref()).await;
    let at = t("2026-06-01T08:00:00Z");
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut numbers = Vec::new();
            for _ in 0..20 {
                let a = store
                    .register_appeal(appeal(
                        None,
                        vec![question("water.no_cold_water", Some(vodokanal.id), at)],
                        at,
                    ))
                    .await
                    .unwrap();
                numbers.push(a.reg_no.seq);
            }
            numbers
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let distinct: BTreeSet<u32> = all.iter().copied().collect();
    assert_eq!(all.len(), 1000);
    assert_eq!(distinct.len(), 1000, "numbers are distinct");
    assert_eq!(distinct, (1..=1000).collect::<BTreeSet<u32>>(), "and gap-free");
}

async fn registration_numbers_restart_each_year(store: Arc<dyn Store>) {
    reference(store.as_ref()).await;
    let at = t("2026-12-31T20:00:00Z");
    let mut a = appeal(None, vec![question("lifts.stuck", None, at)], at);
    assert_eq!(store.register_appeal(a.clone()).await.unwrap().reg_no.to_string(), "2026-000001");
    assert_eq!(store.register_appeal(a.clone()).await.unwrap().reg_no.to_string(), "2026-000002");
    a.reg_year = 2027;
    assert_eq!(store.register_appeal(a).await.unwrap().reg_no.to_string(), "2027-000001");
}

async fn failed_registration_leaves_nothing(store: Arc<dyn Store>) {
    reference(store.as_ref()).await;
    let at = t("2026-06-01T08:00:00Z");
    let ok = appeal(None, vec![question("lifts.stuck", None, at)], at);
    store.register_appeal(ok.clone()).await.unwrap();
    // The second question names a category that does not exist: the whole appeal fails.
    let bad =
        appeal(None, vec![question("lifts.stuck", None, at), question("no.such", None, at)], at);
    assert!(matches!(store.register_appeal(bad).await, Err(StoreError::MissingReference(_))));
    assert_eq!(store.count_appeals().await.unwrap(), 1);
    // And the counter did not move: the next number follows without a gap.
    assert_eq!(store.register_appeal(ok).await.unwrap().reg_no.seq, 2);
}

async fn assignment_changes_are_versioned_and_logged(store: Arc<dyn Store>) {
    let (vodokanal, lift) = reference(store.as_ref()).await;
    let at = t("2026-06-01T08:00:00Z");
    let saved = store
        .register_appeal(appeal(
            None,
            vec![question("water.no_cold_water", Some(vodokanal.id), at)],
            at,
        ))
        .await
        .unwrap();
    let a = saved.questions[0].assignments[0].clone();
    let change = |expected_version, to, result| AssignmentChange {
        assignment_id: a.id,
        expected_version,
        to,
        result,
        accepted_at: Some(at + Duration::minutes(5)),
        closed_at: None,
        due_at: None,
        rework_increment: false,
        actor: Actor { user_id: None, kind: ActorKind::Executor },
        public_text: Some("Бригада виїхала".into()),
        private_text: Some("внутрішнє".into()),
        at: at + Duration::minutes(5),
    };
    let moved = store.change_assignment(change(0, AssignmentState::InWork, None)).await.unwrap();
    assert_eq!((moved.state, moved.version), (AssignmentState::InWork, 1));
    assert_eq!(moved.accepted_at, Some(at + Duration::minutes(5)));
    // A change computed from the old version is refused and changes nothing.
    assert!(matches!(
        store.change_assignment(change(0, AssignmentState::OnCheck, Some(Resolution::Done))).await,
        Err(StoreError::Stale { .. })
    ));
    assert_eq!(store.assignment(a.id).await.unwrap().0, moved);
    let mut rework = change(1, AssignmentState::Rework, None);
    rework.rework_increment = true;
    rework.due_at = Some(at + Duration::days(2));
    let r = store.change_assignment(rework).await.unwrap();
    assert_eq!((r.rework_count, r.due_at), (1, Some(at + Duration::days(2))));
    let timeline = store.timeline(saved.id).await.unwrap();
    let last = timeline.last().unwrap();
    assert_eq!(
        (last.from_state.as_deref(), last.to_state.as_deref()),
        (Some("in_work"), Some("rework"))
    );
    assert_eq!(last.private_text.as_deref(), Some("внутрішнє"));
    assert_eq!(timeline.len(), 4, "registered, assigned, two transitions");
    let second = store
        .add_assignment(
            saved.questions[0].id,
            NewAssignment { executor_id: lift.id, due_at: None },
            system(),
            at,
        )
        .await
        .unwrap();
    assert_eq!(second.executor_id, lift.id);
    assert!(matches!(
        store
            .change_assignment(AssignmentChange {
                assignment_id: 999,
                ..change(0, AssignmentState::InWork, None)
            })
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn unknown_references_are_domain_errors(store: Arc<dyn Store>) {
    reference(store.as_ref()).await;
    let at = t("2026-06-01T08:00:00Z");
    let bad_executor = appeal(None, vec![question("lifts.stuck", Some(4242), at)], at);
    assert!(matches!(
        store.register_appeal(bad_executor).await,
        Err(StoreError::MissingReference(_))
    ));
    let bad_applicant = appeal(Some(4242), vec![question("lifts.stuck", None, at)], at);
    assert!(matches!(
        store.register_appeal(bad_applicant).await,
        Err(StoreError::MissingReference(_))
    ));
    assert!(matches!(
        store
            .add_assignment(4242, NewAssignment { executor_id: 1, due_at: None }, system(), at)
            .await,
        Err(StoreError::NotFound { what: "question" })
    ));
    assert_eq!(store.count_appeals().await.unwrap(), 0);
}

async fn responsibility_prefixes_match_literally(store: Arc<dyn Store>) {
    let (vodokanal, lift) = reference(store.as_ref()).await;
    let at = t("2026-06-01T08:00:00Z");
    let line = |prefix: &str, executor_id, valid_to| NewResponsibility {
        category_prefix: prefix.into(),
        district: None,
        building_key: None,
        executor_id,
        valid_from: at - Duration::days(1),
        valid_to,
    };
    store.add_responsibility(line("water", vodokanal.id, None), at).await.unwrap();
    // '_' is a LIKE wildcard; "water_no" must not match "water.no_cold_water".
    store.add_responsibility(line("water_no", lift.id, None), at).await.unwrap();
    store
        .add_responsibility(line("water.no_cold_water", lift.id, Some(at - Duration::hours(1))), at)
        .await
        .unwrap();
    let found = store.responsibilities_for("water.no_cold_water", at).await.unwrap();
    assert_eq!(found.iter().map(|r| r.category_prefix.as_str()).collect::<Vec<_>>(), ["water"]);
    assert_eq!(store.responsibilities().await.unwrap().len(), 3);
}

async fn list_filters_and_pages(store: Arc<dyn Store>) {
    let (vodokanal, lift) = reference(store.as_ref()).await;
    let at = t("2026-06-01T08:00:00Z");
    for i in 0..7 {
        let (code, ex) = if i % 2 == 0 {
            ("water.no_cold_water", vodokanal.id)
        } else {
            ("lifts.stuck", lift.id)
        };
        let mut q = question(code, Some(ex), at);
        q.description = format!("випадок {i} 100%");
        store.register_appeal(appeal(None, vec![q], at + Duration::minutes(i))).await.unwrap();
    }
    let page = |f: AppealFilter| {
        let store = store.clone();
        async move { store.list_appeals(&f).await.unwrap() }
    };
    let first = page(AppealFilter { limit: 3, ..Default::default() }).await;
    assert_eq!(first.iter().map(|a| a.reg_no.seq).collect::<Vec<_>>(), [7, 6, 5]);
    let second =
        page(AppealFilter { limit: 3, before_id: Some(first[2].id), ..Default::default() }).await;
    assert_eq!(second.iter().map(|a| a.reg_no.seq).collect::<Vec<_>>(), [4, 3, 2]);
    let water = page(AppealFilter {
        limit: 50,
        category_prefix: Some("water".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(water.len(), 4);
    let lifts =
        page(AppealFilter { limit: 50, executor_id: Some(lift.id), ..Default::default() }).await;
    assert_eq!(lifts.len(), 3);
    let none = page(AppealFilter {
        limit: 50,
        state: Some(AssignmentState::Closed),
        ..Default::default()
    })
    .await;
    assert!(none.is_empty());
    let text =
        page(AppealFilter {
            limit: 50, text: Some("випадок 3 100%".into()), ..Default::default()
        })
        .await;
    assert_eq!(text.len(), 1);
    // Case folding is the same on both backends, Cyrillic included.
    let upper =
        page(AppealFilter {
            limit: 50, text: Some("ВИПАДОК 3".into()), ..Default::default()
        })
        .await;
    assert_eq!(upper.len(), 1);
    let late = page(AppealFilter {
        limit: 50,
        registered_from: Some(at + Duration::minutes(5)),
        ..Default::default()
    })
    .await;
    assert_eq!(late.len(), 2);
    let injected = page(AppealFilter {
        limit: 50,
        text: Some("'; DROP TABLE appeals; --".into()),
        ..Default::default()
    })
    .await;
    assert!(injected.is_empty());
    assert_eq!(store.count_appeals().await.unwrap(), 7);
    // By building: every question above is at вул. Перемоги, 12; one more elsewhere.
    let mut elsewhere = question("water.no_cold_water", Some(vodokanal.id), at);
    let addr = address("просп. Соборний", "7");
    elsewhere.building_key = Some(addr.building_key());
    elsewhere.address = Some(addr.clone());
    store.register_appeal(appeal(None, vec![elsewhere], at + Duration::minutes(30))).await.unwrap();
    let there = page(AppealFilter {
        limit: 50,
        building_key: Some(addr.building_key()),
        ..Default::default()
    })
    .await;
    assert_eq!(there.iter().map(|a| a.reg_no.seq).collect::<Vec<_>>(), [8]);
    let here = page(AppealFilter {
        limit: 50,
        building_key: Some(address("вулиця Перемоги", "12").building_key()),
        category_prefix: Some("lifts".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(here.len(), 3, "the same building however the street is written");
}

async fn prior_questions_by_applicant_or_building(store: Arc<dyn Store>) {
    let (vodokanal, _) = reference(store.as_ref()).await;
    let at = t("2026-06-01T08:00:00Z");
    let who = store.create_applicant(applicant("Лисенко", "+380671234567"), at).await.unwrap();
    let saved = store
        .register_appeal(appeal(
            Some(who.id),
            vec![question("water.no_cold_water", Some(vodokanal.id), at)],
            at,
        ))
        .await
        .unwrap();
    let key = address("вул. Перемоги", "12").building_key();
    let by_applicant =
        store.prior_questions(Some(who.id), None, "water.no_cold_water").await.unwrap();
    assert_eq!(by_applicant.len(), 1);
    assert_eq!(by_applicant[0].question_id, saved.questions[0].id);
    assert_eq!(by_applicant[0].state, Some(AssignmentState::Registered));
    let by_building = store.prior_questions(None, Some(&key), "water.no_cold_water").await.unwrap();
    assert_eq!(by_building.len(), 1);
    assert!(store.prior_questions(None, Some(&key), "lifts.stuck").await.unwrap().is_empty());
    assert!(
        store
            .prior_questions(Some(4242), Some("elsewhere|1"), "water.no_cold_water")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn deadline_extension_is_recorded(store: Arc<dyn Store>) {
    reference(store.as_ref()).await;
    let at = t("2026-06-01T08:00:00Z");
    let saved = store
        .register_appeal(appeal(None, vec![question("lifts.stuck", None, at)], at))
        .await
        .unwrap();
    let due = at + Duration::days(40);
    let extended =
        store.extend_deadline(saved.id, due, at + Duration::days(1), system(), at).await.unwrap();
    assert_eq!(extended.extended_due_at, Some(due));
    assert_eq!(extended.extension_notice_sent_at, Some(at + Duration::days(1)));
    assert_eq!(store.timeline(saved.id).await.unwrap().last().unwrap().kind, "deadline_extended");
    assert!(matches!(
        store.extend_deadline(4242, due, at, system(), at).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn audit_log_keeps_entries(store: Arc<dyn Store>) {
    let at = Utc.with_ymd_and_hms(2026, 6, 1, 8, 0, 0).unwrap().trunc_subsecs(0);
    for i in 0..3 {
        store
            .audit(NewAudit {
                user_id: None,
                action: "read_personal_data".into(),
                subject_kind: "applicant".into(),
                subject_id: i.to_string(),
                detail: None,
                at,
            })
            .await
            .unwrap();
    }
    let log = store.audit_log(2).await.unwrap();
    assert_eq!(log.iter().map(|e| e.subject_id.as_str()).collect::<Vec<_>>(), ["2", "1"]);
}

fn call_key(uuid: &str) -> CallKey {
    CallKey { node: "fs1".into(), uuid: uuid.into() }
}

fn open_call(uuid: &str, at: DateTime<Utc>) -> CallOp {
    CallOp::Open(NewCallRecord {
        key: call_key(uuid),
        direction: "inbound".into(),
        caller: Some("+380501234567".into()),
        caller_raw: "<sip:0501234567@carrier>".into(),
        presentation: "number".into(),
        dialled: "1580".into(),
        line: Some("short".into()),
        carrier: None,
        started_at: at,
    })
}

async fn call_records_replay_idempotently(store: Arc<dyn Store>) {
    reference(&*store).await;
    let at = t("2026-03-02T09:00:00Z");
    let registered = store
        .register_appeal(appeal(None, vec![question("water.no_cold_water", None, at)], at))
        .await
        .unwrap();
    let key = call_key("u-1");
    let ops = vec![
        open_call("u-1", at),
        CallOp::Step {
            key: key.clone(),
            seq: 1,
            at,
            kind: "ivr".into(),
            detail: serde_json::json!({"menu": "main", "digits": "1"}),
        },
        CallOp::Update {
            key: key.clone(),
            set: CallUpdate {
                queue: Some("general".into()),
                queued_at: Some(at + Duration::seconds(20)),
                ..Default::default()
            },
        },
        CallOp::Update {
            key: key.clone(),
            set: CallUpdate {
                connected_at: Some(at + Duration::seconds(40)),
                ended_at: Some(at + Duration::seconds(160)),
                talk_ms: Some(120_000),
                hangup_cause: Some("NORMAL_CLEARING".into()),
                status: Some(CallStatus::Ended),
                ..Default::default()
            },
        },
        CallOp::Link {
            key: key.clone(),
            link: CallLink::Appeal(registered.id),
            by: Some(7),
            at: at + Duration::seconds(200),
        },
    ];
    store.apply_call_ops(&ops).await.unwrap();
    let first = store.call_record(&key).await.unwrap().unwrap();
    // The journal may replay a batch that already reached the database: nothing changes.
    store.apply_call_ops(&ops).await.unwrap();
    let again = store.call_record(&key).await.unwrap().unwrap();
    assert_eq!(first, again);
    assert_eq!(first.steps.len(), 1);
    assert_eq!(first.steps[0].detail["digits"], "1");
    assert_eq!(first.last_seq, 1);
    assert_eq!(first.queue.as_deref(), Some("general"));
    assert_eq!(first.queued_at, Some(at + Duration::seconds(20)));
    assert_eq!(first.talk_ms, Some(120_000));
    assert_eq!(first.link, Some(CallLink::Appeal(registered.id)));
    assert_eq!(first.status, CallStatus::Closed);
    let counts = store.call_counts().await.unwrap();
    assert_eq!(
        (counts.total, counts.connected, counts.linked_to_appeal, counts.live),
        (1, 1, 1, 0)
    );
    assert_eq!(store.calls_known(&["u-1".into(), "u-2".into()]).await.unwrap(), ["u-1"]);
}

async fn call_ops_on_unknown_calls_apply_nothing(store: Arc<dyn Store>) {
    let at = t("2026-03-02T09:00:00Z");
    let err = store
        .apply_call_ops(&[
            open_call("u-1", at),
            CallOp::Update { key: call_key("u-missing"), set: CallUpdate::default() },
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert_eq!(store.call_record(&call_key("u-1")).await.unwrap(), None);
    // A link to an appeal that does not exist is refused, and the call stays live.
    store.apply_call_ops(&[open_call("u-1", at)]).await.unwrap();
    let err = store
        .apply_call_ops(&[CallOp::Link {
            key: call_key("u-1"),
            link: CallLink::Appeal(999_999),
            by: None,
            at,
        }])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::MissingReference(_)), "{err:?}");
    let live = store.calls_in_status(CallStatus::Live, Some("fs1")).await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].link, None);
}

/// `open_call` on another node.
fn open_on(node: &str, uuid: &str, at: DateTime<Utc>) -> CallOp {
    let mut op = open_call(uuid, at);
    if let CallOp::Open(n) = &mut op {
        n.key.node = node.into();
    }
    op
}

/// A batch of several calls, interleaved the way the record writer gathers them, with the
/// cases a batched write has to keep in order: updates around links, two links of one call,
/// a status set after the link closed the call, repeated opens and steps, and a call opened
/// by an earlier batch (`pre`, opened by `mixed_batch_before`).
fn mixed_batch(node: &str, at: DateTime<Utc>, appeal_id: i64) -> Vec<CallOp> {
    let key = |uuid: &str| CallKey { node: node.into(), uuid: uuid.into() };
    let step = |uuid: &str, seq: i64, kind: &str, n: i64| CallOp::Step {
        key: key(uuid),
        seq,
        at: at + Duration::seconds(n),
        kind: kind.into(),
        detail: serde_json::json!({"n": n}),
    };
    let update = |uuid: &str, set: CallUpdate| CallOp::Update { key: key(uuid), set };
    let link = |uuid: &str, link: CallLink, by: Option<i64>, n: i64| CallOp::Link {
        key: key(uuid),
        link,
        by,
        at: at + Duration::seconds(n),
    };
    let mut second_open = open_on(node, "b", at + Duration::seconds(99));
    if let CallOp::Open(n) = &mut second_open {
        n.caller = None;
        n.dialled = "other".into();
    }
    vec![
        open_on(node, "a", at),
        open_on(node, "b", at + Duration::seconds(1)),
        step("a", 1, "ivr", 1),
        step("b", 1, "ivr", 2),
        update(
            "a",
            CallUpdate { queue: Some("general".into()), priority: Some(2), ..Default::default() },
        ),
        step("pre", 1, "again", 3), // a replayed step: the stored one stays
        step("pre", 2, "queue", 4),
        open_on(node, "pre", at), // opened by an earlier batch: nothing changes, nothing refused
        second_open,              // the call is open already: nothing changes
        update("b", CallUpdate { queue: Some("vip".into()), ..Default::default() }),
        update(
            "pre",
            CallUpdate { queued_at: Some(at + Duration::seconds(5)), ..Default::default() },
        ),
        step("a", 2, "queue", 5),
        step("b", 2, "queue", 6),
        step("b", 2, "repeated", 7), // the same sequence number again: the first one stays
        update(
            "a",
            CallUpdate {
                queue: Some("general-2".into()),
                agent_user_id: Some(7),
                connected_at: Some(at + Duration::seconds(30)),
                ..Default::default()
            },
        ),
        open_on(node, "c", at + Duration::seconds(8)),
        update(
            "a",
            CallUpdate {
                ended_at: Some(at + Duration::seconds(90)),
                talk_ms: Some(60_000),
                status: Some(CallStatus::Ended),
                ..Default::default()
            },
        ),
        link("a", CallLink::Appeal(appeal_id), Some(7), 100),
        update("a", CallUpdate { wrap_ms: Some(15_000), ..Default::default() }),
        link("b", CallLink::Outcome("info".into()), Some(8), 101),
        step("c", 1, "ivr", 9),
        link("b", CallLink::Outcome("spam".into()), None, 102), // the later link wins, by too
        update("b", CallUpdate { status: Some(CallStatus::Ended), ..Default::default() }),
        update(
            "c",
            CallUpdate {
                end_reason: Some("abandoned".into()),
                ended_at: Some(at + Duration::seconds(12)),
                status: Some(CallStatus::Closed),
                ..Default::default()
            },
        ),
        link("pre", CallLink::Outcome("info".into()), Some(9), 103),
        update("pre", CallUpdate { hold_ms: Some(1_000), ..Default::default() }),
        update("pre", CallUpdate { hold_ms: Some(2_000), ..Default::default() }),
        link("pre", CallLink::Appeal(appeal_id), Some(9), 104),
    ]
}

/// What `mixed_batch` expects to exist already.
fn mixed_batch_before(node: &str, at: DateTime<Utc>) -> Vec<CallOp> {
    vec![
        open_on(node, "pre", at - Duration::seconds(60)),
        CallOp::Step {
            key: CallKey { node: node.into(), uuid: "pre".into() },
            seq: 1,
            at: at - Duration::seconds(59),
            kind: "ivr".into(),
            detail: serde_json::json!({"n": 0}),
        },
    ]
}

/// The stored records of these calls, without what differs between two nodes' copies.
async fn records_of(store: &dyn Store, node: &str, uuids: &[&str]) -> Vec<CallRecord> {
    let mut out = Vec::new();
    for uuid in uuids {
        let key = CallKey { node: node.into(), uuid: (*uuid).into() };
        let mut record = store.call_record(&key).await.unwrap().expect("stored");
        record.id = 0;
        record.key.node = String::new();
        out.push(record);
    }
    out
}

async fn call_batch_is_what_its_ops_do_one_by_one(store: Arc<dyn Store>) {
    reference(&*store).await;
    let at = t("2026-03-02T09:00:00Z");
    let appeal_id = store
        .register_appeal(appeal(None, vec![question("water.no_cold_water", None, at)], at))
        .await
        .unwrap()
        .id;
    let uuids = ["a", "b", "c", "pre"];
    for node in ["one", "all"] {
        store.apply_call_ops(&mixed_batch_before(node, at)).await.unwrap();
    }
    for op in mixed_batch("one", at, appeal_id) {
        store.apply_call_ops(std::slice::from_ref(&op)).await.unwrap();
    }
    let batch = mixed_batch("all", at, appeal_id);
    store.apply_call_ops(&batch).await.unwrap();
    let one_by_one = records_of(&*store, "one", &uuids).await;
    let together = records_of(&*store, "all", &uuids).await;
    assert_eq!(together, one_by_one);

    // What applying in order means, spelled out for the cases that need it.
    let [a, b, c, pre] = &together[..] else { unreachable!() };
    assert_eq!(a.queue.as_deref(), Some("general-2"));
    assert_eq!(
        (a.priority, a.agent_user_id, a.talk_ms, a.wrap_ms),
        (Some(2), Some(7), Some(60_000), Some(15_000))
    );
    assert_eq!(
        (a.link.clone(), a.linked_by, a.status),
        (Some(CallLink::Appeal(appeal_id)), Some(7), CallStatus::Closed)
    );
    assert_eq!(a.steps.len(), 2);
    assert_eq!((b.caller.as_deref(), b.dialled.as_str()), (Some("+380501234567"), "1580"));
    assert_eq!(b.started_at, at + Duration::seconds(1));
    assert_eq!((b.link.clone(), b.linked_by), (Some(CallLink::Outcome("spam".into())), None));
    assert_eq!(b.linked_at, Some(at + Duration::seconds(102)));
    assert_eq!(b.status, CallStatus::Ended, "an update after the link sets the status again");
    assert_eq!(b.steps.iter().map(|s| s.kind.as_str()).collect::<Vec<_>>(), ["ivr", "queue"]);
    assert_eq!(
        (c.status, c.end_reason.as_deref(), c.last_seq),
        (CallStatus::Closed, Some("abandoned"), 1)
    );
    assert_eq!(pre.steps.iter().map(|s| s.kind.as_str()).collect::<Vec<_>>(), ["ivr", "queue"]);
    assert_eq!(
        (pre.link.clone(), pre.hold_ms, pre.status),
        (Some(CallLink::Appeal(appeal_id)), Some(2_000), CallStatus::Closed)
    );
    assert_eq!(pre.queued_at, Some(at + Duration::seconds(5)));

    // The journal may replay a batch that already reached the database: nothing changes.
    store.apply_call_ops(&batch).await.unwrap();
    assert_eq!(records_of(&*store, "all", &uuids).await, together);
    assert_eq!(store.call_counts().await.unwrap().total, 8);
}

async fn call_batch_refused_writes_nothing(store: Arc<dyn Store>) {
    let at = t("2026-03-02T09:00:00Z");
    store.apply_call_ops(&mixed_batch_before("fs1", at)).await.unwrap();
    let pre = CallKey { node: "fs1".into(), uuid: "pre".into() };
    let stored = store.call_record(&pre).await.unwrap().unwrap();
    let missing = CallKey { node: "fs1".into(), uuid: "missing".into() };
    let updated = CallUpdate { queue: Some("general".into()), ..Default::default() };
    let refused = |err: StoreError| assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");

    // An operation on a call that does not exist, amid others that would succeed.
    let mut batch = mixed_batch("fs1", at, 1);
    batch.insert(9, CallOp::Update { key: missing.clone(), set: updated.clone() });
    batch.retain(|op| !matches!(op, CallOp::Link { link: CallLink::Appeal(_), .. }));
    refused(store.apply_call_ops(&batch).await.unwrap_err());
    // An operation before the batch opens its call: the call does not exist yet at that point.
    let early = vec![
        open_call("d", at),
        CallOp::Update { key: call_key("e"), set: updated.clone() },
        open_call("e", at),
        CallOp::Update { key: pre.clone(), set: updated.clone() },
    ];
    refused(store.apply_call_ops(&early).await.unwrap_err());
    // Nothing of either batch is stored.
    assert_eq!(store.call_record(&pre).await.unwrap().unwrap(), stored);
    assert_eq!(store.call_counts().await.unwrap().total, 1);
    assert_eq!(
        store
            .calls_known(&["a".into(), "b".into(), "c".into(), "d".into(), "e".into()])
            .await
            .unwrap(),
        Vec::<String>::new()
    );

    // A link to an appeal that does not exist, even one a later link of the same call replaces.
    let bad_link = vec![
        open_call("d", at),
        CallOp::Link { key: pre.clone(), link: CallLink::Appeal(999_999), by: None, at },
        CallOp::Link { key: pre.clone(), link: CallLink::Outcome("info".into()), by: None, at },
    ];
    let err = store.apply_call_ops(&bad_link).await.unwrap_err();
    assert!(matches!(err, StoreError::MissingReference(_)), "{err:?}");
    assert_eq!(store.call_record(&pre).await.unwrap().unwrap(), stored);
    assert_eq!(store.call_counts().await.unwrap().total, 1);

    // Opened first, the same operations are fine.
    let mut fixed = early.clone();
    fixed.swap(1, 2);
    store.apply_call_ops(&fixed).await.unwrap();
    assert_eq!(store.call_counts().await.unwrap().total, 3);
}

async fn call_batch_larger_than_one_statement(store: Arc<dyn Store>) {
    // More rows of every kind than one statement may carry on SQLite (32,766 bind parameters:
    // 16,383 keys of 2 columns, 1,424 changes of 23), so each statement is cut in several;
    // on PostgreSQL (10,000 rows a statement) too.
    const CALLS: usize = 16_500;
    let at = t("2026-03-02T09:00:00Z");
    let key = |i: usize| call_key(&format!("u-{i}"));
    let mut first = Vec::new();
    for i in 0..CALLS {
        first.push(open_call(&format!("u-{i}"), at));
        first.push(CallOp::Step {
            key: key(i),
            seq: 1,
            at,
            kind: "ivr".into(),
            detail: serde_json::json!({"i": i}),
        });
    }
    store.apply_call_ops(&first).await.unwrap();
    let mut second = Vec::new();
    for i in 0..CALLS {
        let answered = i % 3 == 0;
        second.push(CallOp::Step {
            key: key(i),
            seq: 2,
            at,
            kind: "queue".into(),
            detail: serde_json::json!({}),
        });
        second.push(CallOp::Update {
            key: key(i),
            set: CallUpdate {
                queue: Some("general".into()),
                connected_at: answered.then_some(at + Duration::seconds(30)),
                status: Some(CallStatus::Ended),
                ..Default::default()
            },
        });
        if answered {
            second.push(CallOp::Link {
                key: key(i),
                link: CallLink::Outcome("info".into()),
                by: Some(7),
                at,
            });
        }
    }
    // One unknown call at the very end refuses all of it.
    let mut refused = second.clone();
    refused.push(CallOp::Update { key: call_key("missing"), set: CallUpdate::default() });
    let err = store.apply_call_ops(&refused).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert_eq!(store.calls_in_status(CallStatus::Ended, None).await.unwrap().len(), 0);

    store.apply_call_ops(&second).await.unwrap();
    store.apply_call_ops(&second).await.unwrap(); // replayed
    let counts = store.call_counts().await.unwrap();
    let answered = CALLS.div_ceil(3);
    assert_eq!(
        (counts.total, counts.connected, counts.other_outcome),
        (CALLS as i64, answered as i64, answered as i64)
    );
    assert_eq!(
        store.calls_in_status(CallStatus::Ended, None).await.unwrap().len(),
        CALLS - answered
    );
    for i in [0, 1, 1_423, 1_424, 6_553, 10_000, 16_382, 16_383, CALLS - 1] {
        let record = store.call_record(&key(i)).await.unwrap().unwrap();
        assert_eq!(record.steps.len(), 2, "call {i}");
        assert_eq!(record.steps[0].detail["i"], i, "call {i}");
        assert_eq!(record.queue.as_deref(), Some("general"), "call {i}");
        let status = if i % 3 == 0 { CallStatus::Closed } else { CallStatus::Ended };
        assert_eq!(record.status, status, "call {i}");
    }
}

/// One call's ops for the intraday test: opened at `at` (inbound unless `callback`), queued
/// unless `queued` is false, then answered by `agent` or ended with `end_reason`.
fn intraday_call(
    uuid: &str,
    at: DateTime<Utc>,
    callback: bool,
    queued: bool,
    agent: Option<i64>,
    end_reason: Option<&str>,
) -> Vec<CallOp> {
    let mut open = open_call(uuid, at);
    if let CallOp::Open(n) = &mut open
        && callback
    {
        n.direction = "callback".into();
    }
    let set = CallUpdate {
        queue: queued.then(|| "general".to_string()),
        queued_at: queued.then_some(at + Duration::seconds(10)),
        agent_user_id: agent,
        connected_at: agent.map(|_| at + Duration::seconds(30)),
        end_reason: end_reason.map(str::to_string),
        ..Default::default()
    };
    vec![open, CallOp::Update { key: call_key(uuid), set }]
}

async fn call_intraday_counts_per_interval(store: Arc<dyn Store>) {
    // Midnight in Kyiv (UTC+2 in early March) to the next one: 96 quarter hours.
    let from = t("2026-03-01T22:00:00Z");
    let to = from + Duration::hours(24);
    let quarter = Duration::minutes(15);
    let micro = Duration::microseconds(1);
    let mut ops = Vec::new();
    // Interval 0: one answered at its very first instant, one abandoned at its very last.
    ops.extend(intraday_call("a", from, false, true, Some(7), None));
    ops.extend(intraday_call("b", from + quarter - micro, false, true, None, Some("abandoned")));
    // Interval 1: one still waiting (offered only); one that ended in the menu (not offered).
    ops.extend(intraday_call("c", from + quarter, false, true, None, None));
    ops.extend(intraday_call(
        "d",
        from + quarter + Duration::milliseconds(500),
        false,
        false,
        None,
        Some("ended_in_ivr"),
    ));
    // A callback: not offered, but its operator answered it.
    ops.extend(intraday_call("e", from + quarter + quarter, true, true, Some(8), None));
    // The last interval, and two calls just outside the range.
    ops.extend(intraday_call("h", to - micro, false, true, Some(7), None));
    ops.extend(intraday_call("f", from - micro, false, true, Some(7), None));
    ops.extend(intraday_call("g", to, false, true, Some(8), Some("abandoned")));
    store.apply_call_ops(&ops).await.unwrap();

    let day = store.call_intraday(from, to, 900).await.unwrap();
    assert_eq!(day.buckets.len(), 96);
    for (i, b) in day.buckets.iter().enumerate() {
        assert_eq!(b.start, from + quarter * i32::try_from(i).unwrap(), "interval {i}");
        let counts = (b.offered, b.answered, b.abandoned);
        let expected = match i {
            0 => (2, 1, 1),
            1 => (1, 0, 0),
            95 => (1, 1, 0),
            _ => (0, 0, 0),
        };
        assert_eq!(counts, expected, "interval {i}");
    }
    assert_eq!(
        day.agents,
        [AgentAnswered { user_id: 7, answered: 2 }, AgentAnswered { user_id: 8, answered: 1 }]
    );

    // A range that is not a whole number of intervals ends with a short one.
    let part = store.call_intraday(from, from + Duration::minutes(20), 900).await.unwrap();
    let starts: Vec<_> = part.buckets.iter().map(|b| b.start).collect();
    assert_eq!(starts, [from, from + quarter]);
    assert_eq!(part.buckets[1].offered, 1, "c only: the callback e starts after the range");
    assert_eq!(part.agents, [AgentAnswered { user_id: 7, answered: 1 }]);

    // Nothing to count: no error, no intervals.
    assert_eq!(store.call_intraday(to, from, 900).await.unwrap(), CallIntraday::default());
    assert_eq!(store.call_intraday(from, from, 900).await.unwrap(), CallIntraday::default());
    assert_eq!(store.call_intraday(from, to, 0).await.unwrap(), CallIntraday::default());
    // A huge range is cut, not refused.
    let long = store.call_intraday(from, from + Duration::days(3650), 60).await.unwrap();
    assert_eq!(long.buckets.len(), MAX_INTRADAY_BUCKETS);
    assert_eq!(long.buckets[0].offered, 1, "a cut range still counts from its start (a)");
}

// ---- outages ------------------------------------------------------------------------------

fn place(street: &str, building: Option<&str>) -> OutagePlace {
    OutagePlace { street: street.into(), building: building.map(Into::into) }
}

fn outage(area: Vec<OutagePlace>, executor_id: Option<i64>, at: DateTime<Utc>) -> NewOutage {
    NewOutage {
        draft: OutageDraft {
            kind: OutageKind::Accident,
            class: OutageClass::Water,
            nature: "Порив водогону Д-300".into(),
            area,
            executor_id,
            started_at: at - Duration::hours(1),
            planned_end_at: Some(at + Duration::hours(6)),
            public_message: Some("Воду подадуть до 18:00".into()),
        },
        created_by: None,
        created_at: at,
    }
}

/// The outages a filter finds, by id, in the order found.
async fn found(store: &dyn Store, filter: OutageFilter) -> Vec<i64> {
    store.list_outages(&filter).await.unwrap().iter().map(|o| o.id).collect()
}

fn covering(at: DateTime<Utc>, address: &Address) -> OutageFilter {
    let key = address.building_key();
    OutageFilter {
        active_at: Some(at),
        street_key: Some(kontakt_appeals::address::street_key(&address.street)),
        building_key: Some(key),
        limit: 50,
        ..Default::default()
    }
}

async fn outages_cover_their_streets_and_buildings_until_ended(store: Arc<dyn Store>) {
    let (vodokanal, _) = reference(store.as_ref()).await;
    let at = t("2026-11-30T10:00:00.123456Z");
    // The whole street, one building of another street, and a planned work not begun yet.
    let street = store
        .create_outage(outage(vec![place("вулиця Перемоги", None)], Some(vodokanal.id), at))
        .await
        .unwrap();
    let building = store
        .create_outage(outage(
            vec![place("просп. Соборний", Some("7 а")), place("Соборний просп.", Some("9"))],
            None,
            at,
        ))
        .await
        .unwrap();
    let mut later = outage(vec![place("Перемоги", None)], None, at);
    later.draft.kind = OutageKind::PlannedWork;
    later.draft.started_at = at + Duration::days(1);
    later.draft.planned_end_at = Some(at + Duration::days(2));
    later.draft.public_message = None;
    let later = store.create_outage(later).await.unwrap();
    // What was written is what is read, exactly, place order included.
    assert_eq!(street.area, vec![place("вулиця Перемоги", None)]);
    assert_eq!(street.executor_id, Some(vodokanal.id));
    assert_eq!(street.started_at, at - Duration::hours(1));
    assert_eq!(street.ended_at, None);
    assert_eq!(store.outage(building.id).await.unwrap(), building);
    assert_eq!(store.outage(later.id).await.unwrap(), later);
    assert!(street.active_at(at) && !later.active_at(at));

    // A street-wide outage covers every building of the street, however it is spelt.
    let mine = address("вул. Перемоги", "12");
    assert_eq!(found(store.as_ref(), covering(at, &mine)).await, [street.id]);
    assert_eq!(
        found(store.as_ref(), covering(at, &address("Перемоги вул.", "40"))).await,
        [street.id]
    );
    // A building's outage covers that building only.
    assert_eq!(
        found(store.as_ref(), covering(at, &address("Соборний", "7-А"))).await,
        [building.id]
    );
    assert!(found(store.as_ref(), covering(at, &address("Соборний", "8"))).await.is_empty());
    // A street alone finds every outage with a place on it.
    let on_street = OutageFilter {
        active_at: Some(at),
        street_key: Some("соборний".into()),
        limit: 50,
        ..Default::default()
    };
    assert_eq!(found(store.as_ref(), on_street).await, [building.id]);
    // Once it has started, the planned work is active too (newest start first).
    let tomorrow = at + Duration::days(1) + Duration::minutes(1);
    assert_eq!(found(store.as_ref(), covering(tomorrow, &mine)).await, [later.id, street.id]);
    // Without `active_at`, everything, newest start first; by executor.
    let all = OutageFilter { limit: 50, ..Default::default() };
    assert_eq!(found(store.as_ref(), all).await, [later.id, building.id, street.id]);
    let theirs = OutageFilter { executor_id: Some(vodokanal.id), limit: 50, ..Default::default() };
    assert_eq!(found(store.as_ref(), theirs).await, [street.id]);

    // Ended, it covers nothing any more, and keeps when it ended.
    let end = at + Duration::minutes(30);
    let ended = store.end_outage(street.id, end).await.unwrap();
    assert_eq!(ended.ended_at, Some(end));
    assert_eq!(ended.area, street.area);
    assert!(found(store.as_ref(), covering(at + Duration::hours(1), &mine)).await.is_empty());
    assert_eq!(store.outage(street.id).await.unwrap(), ended);
    let limited = OutageFilter { limit: 1, ..Default::default() };
    assert_eq!(found(store.as_ref(), limited).await, [later.id]);
}

async fn outages_end_once_and_refer_to_what_exists(store: Arc<dyn Store>) {
    let at = t("2026-11-30T10:00:00Z");
    let o = store.create_outage(outage(vec![place("Соборна", None)], None, at)).await.unwrap();
    store.end_outage(o.id, at).await.unwrap();
    // A second end would rewrite when the service came back.
    assert!(matches!(
        store.end_outage(o.id, at + Duration::hours(1)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.outage(o.id).await.unwrap().ended_at, Some(at));
    assert!(matches!(
        store.end_outage(4242, at).await,
        Err(StoreError::NotFound { what: "outage" })
    ));
    assert!(matches!(store.outage(4242).await, Err(StoreError::NotFound { what: "outage" })));
    // An unknown executor or author is refused, and nothing of the outage is left behind.
    let before =
        store.list_outages(&OutageFilter { limit: 50, ..Default::default() }).await.unwrap();
    assert!(matches!(
        store.create_outage(outage(vec![place("Соборна", None)], Some(4242), at)).await,
        Err(StoreError::MissingReference(_))
    ));
    let mut by_nobody = outage(vec![place("Соборна", None)], None, at);
    by_nobody.created_by = Some(4242);
    assert!(matches!(store.create_outage(by_nobody).await, Err(StoreError::MissingReference(_))));
    let after =
        store.list_outages(&OutageFilter { limit: 50, ..Default::default() }).await.unwrap();
    assert_eq!(after, before);
    // A large area is written whole (more places than one multi-row INSERT holds).
    let many: Vec<OutagePlace> =
        (1..=300).map(|n| place("вул. Шевченка", Some(&n.to_string()))).collect();
    let big = store.create_outage(outage(many.clone(), None, at)).await.unwrap();
    assert_eq!(store.outage(big.id).await.unwrap().area, many);
}
