//! Issue 2, acceptance: every endpoint × every role against the expected allow/deny, plus the
//! executor's organisation scope, the personal-data boundary, CSRF, and one-time passwords.

use std::collections::BTreeSet;

use kontakt_store::{NewUser, Role};
use serde_json::{Value, json};

use crate::harness::*;

crate::on_both_backends!(
    every_endpoint_for_every_role,
    executors_see_only_their_organisation,
    cookie_writes_need_csrf_and_tokens_do_not,
    one_time_password_blocks_everything_but_the_change,
    the_feed_takes_a_cookie_only_from_its_own_origin,
    supervisor_actions_are_audited,
    without_telephony_the_call_center_endpoints_say_so,
);

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy)]
enum Allow {
    /// Anyone, logged in or not.
    Public,
    /// Any logged-in user.
    Authenticated,
    Roles(&'static [Role]),
}

use Role::{Admin, Controller, Executor, Operator, Supervisor};

const STAFF: &[Role] = &[Admin, Supervisor, Operator, Controller];
const STAFF_AND_EXECUTORS: &[Role] = &[Admin, Supervisor, Operator, Controller, Executor];
const REGISTRARS: &[Role] = &[Admin, Supervisor, Operator];
/// Who takes calls: operators, and supervisors the call center knows as operators.
const DESK: &[Role] = &[Supervisor, Operator];
const SUPERVISORS: &[Role] = &[Admin, Supervisor];
/// Who registers and ends outages (executors for their own organisation).
const OUTAGE_KEEPERS: &[Role] = &[Admin, Supervisor, Executor];

/// A call nobody has: allowed roles reach the engine, which answers 404.
const NO_CALL: &str = "0b0e0f00-0000-4000-8000-000000000000";

/// One row per route of `routes/mod.rs`: method, OpenAPI path, who may call it.
const MATRIX: &[(&str, &str, Allow)] = &[
    ("GET", "/health", Allow::Public),
    ("GET", "/metrics", Allow::Public),
    ("GET", "/api/v1/openapi.json", Allow::Public),
    ("POST", "/api/v1/auth/login", Allow::Public),
    ("POST", "/api/v1/auth/logout", Allow::Authenticated),
    ("GET", "/api/v1/auth/me", Allow::Authenticated),
    ("POST", "/api/v1/auth/password", Allow::Authenticated),
    ("GET", "/api/v1/users", Allow::Roles(&[Admin])),
    ("POST", "/api/v1/users", Allow::Roles(&[Admin])),
    ("POST", "/api/v1/tokens", Allow::Roles(&[Admin])),
    ("GET", "/api/v1/audit", Allow::Roles(&[Admin])),
    ("GET", "/api/v1/applicants", Allow::Roles(STAFF)),
    ("POST", "/api/v1/applicants", Allow::Roles(REGISTRARS)),
    ("GET", "/api/v1/applicants/{id}", Allow::Roles(STAFF)),
    ("GET", "/api/v1/appeals", Allow::Roles(STAFF_AND_EXECUTORS)),
    ("POST", "/api/v1/appeals", Allow::Roles(REGISTRARS)),
    ("GET", "/api/v1/appeals/{id}", Allow::Roles(STAFF_AND_EXECUTORS)),
    ("GET", "/api/v1/appeals/by-number/{reg_no}", Allow::Roles(STAFF_AND_EXECUTORS)),
    ("GET", "/api/v1/appeals/suggestions", Allow::Roles(REGISTRARS)),
    ("GET", "/api/v1/appeals/{id}/timeline", Allow::Roles(STAFF_AND_EXECUTORS)),
    ("POST", "/api/v1/appeals/{id}/extend", Allow::Roles(&[Admin, Supervisor, Controller])),
    ("POST", "/api/v1/questions/{id}/assignments", Allow::Roles(STAFF)),
    ("GET", "/api/v1/assignments/{id}", Allow::Roles(STAFF_AND_EXECUTORS)),
    ("POST", "/api/v1/assignments/{id}/transition", Allow::Roles(STAFF_AND_EXECUTORS)),
    ("GET", "/api/v1/categories", Allow::Authenticated),
    ("PUT", "/api/v1/categories/{code}", Allow::Roles(&[Admin])),
    ("GET", "/api/v1/executors", Allow::Authenticated),
    ("POST", "/api/v1/executors", Allow::Roles(&[Admin])),
    ("GET", "/api/v1/responsibilities", Allow::Authenticated),
    ("POST", "/api/v1/responsibilities", Allow::Roles(&[Admin])),
    ("GET", "/api/v1/outages", Allow::Roles(STAFF_AND_EXECUTORS)),
    ("POST", "/api/v1/outages", Allow::Roles(OUTAGE_KEEPERS)),
    ("POST", "/api/v1/outages/{id}/end", Allow::Roles(OUTAGE_KEEPERS)),
    ("GET", "/api/v1/desk", Allow::Roles(DESK)),
    ("POST", "/api/v1/desk/state", Allow::Roles(DESK)),
    ("POST", "/api/v1/desk/calls/{uuid}/link", Allow::Roles(DESK)),
    ("POST", "/api/v1/desk/hold", Allow::Roles(DESK)),
    ("POST", "/api/v1/desk/hangup", Allow::Roles(DESK)),
    ("POST", "/api/v1/desk/transfer", Allow::Roles(DESK)),
    ("GET", "/api/v1/wallboard", Allow::Roles(SUPERVISORS)),
    ("POST", "/api/v1/wallboard/agents/{user_id}/state", Allow::Roles(SUPERVISORS)),
    ("POST", "/api/v1/wallboard/calls/{uuid}/queue", Allow::Roles(SUPERVISORS)),
    ("POST", "/api/v1/wallboard/calls/{uuid}/priority", Allow::Roles(SUPERVISORS)),
    ("POST", "/api/v1/wallboard/calls/{uuid}/eavesdrop", Allow::Roles(SUPERVISORS)),
    ("GET", "/api/v1/wallboard/intraday", Allow::Roles(SUPERVISORS)),
    // Operators get their desk, supervisors and administrators the wall board.
    ("GET", "/api/v1/feed", Allow::Roles(&[Admin, Supervisor, Operator])),
];

fn allowed(allow: Allow, who: Option<Role>) -> bool {
    match (allow, who) {
        (Allow::Public, _) => true,
        (_, None) => false,
        (Allow::Authenticated, Some(_)) => true,
        (Allow::Roles(roles), Some(r)) => roles.contains(&r),
    }
}

/// What a matrix cell sends: real ids (visible to the executor account) and valid bodies, so
/// an allowed call reaches the handler's logic and a denied one is refused for the role alone.
struct Fixture {
    operator: i64,
    applicant: i64,
    appeal: i64,
    reg_no: String,
    question: i64,
    assignment: i64,
    /// The executor account's organisation's: every role allowed may end it (or hear that
    /// it has ended).
    outage: i64,
}

async fn fixture(env: &Env) -> Fixture {
    route_to(env, "water", env.own_executor).await;
    let applicant = new_applicant(env, "0501234567").await["id"].as_i64().unwrap();
    let reg = env
        .ok(
            Role::Operator,
            "POST",
            "/api/v1/appeals",
            Some(appeal_body(applicant, &["water.leak"])),
            201,
        )
        .await;
    let a = &reg["appeal"];
    let q = &a["questions"][0];
    assert_eq!(q["assignments"][0]["executor_id"], env.own_executor);
    let outage = env
        .ok(
            Role::Supervisor,
            "POST",
            "/api/v1/outages",
            Some(json!({"kind": "accident", "class": "water", "nature": "Порив",
                "area": [{"street": "Соборна"}], "executor_id": env.own_executor})),
            201,
        )
        .await["id"]
        .as_i64()
        .unwrap();
    Fixture {
        operator: env.user_id(Operator),
        applicant,
        appeal: a["id"].as_i64().unwrap(),
        reg_no: a["reg_no"].as_str().unwrap().to_string(),
        question: q["id"].as_i64().unwrap(),
        assignment: q["assignments"][0]["id"].as_i64().unwrap(),
        outage,
    }
}

/// The concrete path and body of a cell; `tag` makes created names unique per cell.
fn cell(f: &Fixture, method: &str, path: &str, tag: &str) -> (String, Option<Value>) {
    let uri = path
        .replace("{reg_no}", &f.reg_no)
        .replace("{code}", "water.leak")
        .replace("{uuid}", NO_CALL)
        .replace("{user_id}", &f.operator.to_string());
    let uri = uri.replace(
        "{id}",
        &match path {
            p if p.starts_with("/api/v1/applicants") => f.applicant,
            p if p.starts_with("/api/v1/questions") => f.question,
            p if p.starts_with("/api/v1/assignments") => f.assignment,
            p if p.starts_with("/api/v1/outages") => f.outage,
            _ => f.appeal,
        }
        .to_string(),
    );
    // A search needs a term; with one an allowed role gets 200, not 400.
    let uri = match (method, path) {
        ("GET", "/api/v1/applicants") => format!("{uri}?phone=0501234567"),
        ("GET", "/api/v1/appeals/suggestions") => {
            format!("{uri}?category_code=water.leak&street=Soborna&building=12")
        }
        _ => uri,
    };
    let body = match (method, path) {
        ("POST", "/api/v1/auth/login") => Some(json!({"username": "admin", "password": PASSWORD})),
        ("POST", "/api/v1/auth/password") => {
            // The wrong old password: reaches the handler, changes nothing.
            Some(json!({"old_password": "not the password", "new_password": "a new long password"}))
        }
        ("POST", "/api/v1/users") => Some(json!({"username": format!("u-{tag}"),
            "display_name": "X", "role": "operator", "password": "long enough password"})),
        ("POST", "/api/v1/tokens") => Some(json!({"name": format!("t-{tag}")})),
        ("POST", "/api/v1/applicants") => Some(json!({"last_name": "Коваль",
            "phones": ["0671112233"]})),
        ("POST", "/api/v1/appeals") => Some(appeal_body(f.applicant, &["water.leak"])),
        ("POST", "/api/v1/appeals/{id}/extend") => {
            // Refused by the law (no notice), but only after the permission check.
            Some(json!({"extended_due_at": "2099-01-01T00:00:00Z"}))
        }
        ("POST", "/api/v1/questions/{id}/assignments") => Some(json!({"executor_id": 999_999})),
        ("POST", "/api/v1/assignments/{id}/transition") => {
            // A version nobody has: 409 stale for anyone allowed, nothing changes.
            Some(json!({"action": "accept", "expected_version": -1}))
        }
        ("PUT", "/api/v1/categories/{code}") => {
            let c = kontakt_appeals::default_categories()
                .into_iter()
                .find(|c| c.code == "water.leak")
                .unwrap();
            Some(serde_json::to_value(c).unwrap())
        }
        ("POST", "/api/v1/executors") => {
            Some(json!({"code": format!("ex-{tag}"), "name_uk": "Організація"}))
        }
        ("POST", "/api/v1/responsibilities") => {
            Some(json!({"category_prefix": "roads", "executor_id": 999_999}))
        }
        ("POST", "/api/v1/outages") => Some(json!({"kind": "planned_work", "class": "heating",
            "nature": "Гідравлічні випробування", "area": [{"street": "Перемоги", "building": "1"}]})),
        // The first allowed caller ends it; the rest hear 409 already_ended.
        ("POST", "/api/v1/outages/{id}/end") => Some(json!({})),
        ("POST", "/api/v1/desk/state") => Some(json!({"state": "pause", "reason": "break"})),
        // A call nobody has: 404 from the engine for anyone allowed.
        ("POST", "/api/v1/desk/calls/{uuid}/link") => Some(json!({"outcome": "consultation"})),
        // No call in conversation: 409.
        ("POST", "/api/v1/desk/hold") => Some(json!({"hold": true})),
        ("POST", "/api/v1/desk/hangup") => Some(json!({"call": NO_CALL})),
        ("POST", "/api/v1/desk/transfer") => Some(json!({"target": "101"})),
        ("POST", "/api/v1/wallboard/agents/{user_id}/state") => {
            Some(json!({"state": "pause", "reason": "training"}))
        }
        ("POST", "/api/v1/wallboard/calls/{uuid}/queue") => Some(json!({"queue": "general"})),
        ("POST", "/api/v1/wallboard/calls/{uuid}/priority") => Some(json!({"priority": 5})),
        ("POST", "/api/v1/wallboard/calls/{uuid}/eavesdrop") => Some(json!({"mode": "listen"})),
        _ => None,
    };
    (uri, body)
}

async fn every_endpoint_for_every_role(env: &Env) {
    let f = fixture(env).await;
    let mut cells = 0;
    let mut failures = Vec::new();
    let roles: Vec<Option<Role>> =
        std::iter::once(None).chain(ROLES.iter().copied().map(Some)).collect();
    for &(method, path, allow) in MATRIX {
        // Each role twice: by session cookie (with CSRF) and by bearer token.
        for (who, by_token) in roles.iter().flat_map(|w| {
            let both: &[bool] = if w.is_some() { &[false, true] } else { &[false] };
            both.iter().map(move |b| (w, *b))
        }) {
            let tag = format!("{}-{}", who.map_or("anon", |r| r.as_str()), cells);
            let (uri, body) = cell(&f, method, path, &tag);
            let caller = match who {
                None => Who::Anonymous,
                Some(r) if by_token => Who::Bearer(env.tokens[r].clone()),
                // Logging out ends the session: use a fresh one so later cells keep theirs.
                Some(r) if path == "/api/v1/auth/logout" => {
                    Who::Session(env.login(r.as_str(), PASSWORD).await)
                }
                Some(r) => Who::Role(*r),
            };
            let mut req = env.request(&caller, method, &uri, body);
            if path == "/api/v1/feed" {
                // What a browser sends with the cookie (the handshake itself is not made here:
                // allowed callers get 426 upgrade_required).
                req.headers_mut().insert("host", "kontakt.test".parse().unwrap());
                req.headers_mut().insert("origin", "https://kontakt.test".parse().unwrap());
            }
            let r = env.send(req).await;
            cells += 1;
            let s = r.status.as_u16();
            let expected_ok = allowed(allow, *who);
            let ok = match (expected_ok, who) {
                // No FreeSWITCH is attached here, so health says 503 (public all the same).
                (true, _) if path == "/health" => {
                    s == 503 && r.body["telephony"] == "esl_disconnected"
                }
                (true, _) if path == "/api/v1/feed" => s == 426 && r.code() == "upgrade_required",
                (true, _) => s != 401 && s != 403 && s < 500,
                (false, None) => s == 401 && r.code() == "unauthenticated",
                (false, Some(_)) => s == 403 && r.code() == "forbidden",
            };
            if !ok {
                failures.push(format!(
                    "{method} {path} as {}{}: expected {}, got {s} {}",
                    who.map_or("anonymous", |r| r.as_str()),
                    if by_token { " (token)" } else { "" },
                    if expected_ok { "allowed" } else { "denied" },
                    r.body
                ));
            }
        }
    }
    assert_eq!(cells, MATRIX.len() * (1 + 2 * ROLES.len()));
    assert!(
        failures.is_empty(),
        "{} of {cells} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // The same for bearer tokens, which need no CSRF header: one allowed and one denied write.
    let bearer = |r: Role| Who::Bearer(env.tokens[&r].clone());
    let (uri, body) = cell(&f, "POST", "/api/v1/applicants", "bearer");
    let r = env.call(&bearer(Operator), "POST", &uri, body.clone()).await;
    r.expect(201);
    let r = env.call(&bearer(Controller), "POST", &uri, body).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"));
    let r = env.call(&Who::Bearer("0".repeat(64)), "GET", "/api/v1/auth/me", None).await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "unauthenticated"));
}

/// The matrix names every path of the OpenAPI document and nothing else, so a new endpoint
/// without a row fails here.
#[test]
fn matrix_covers_every_documented_operation() {
    let doc: Value = serde_json::from_str(&kontakt_web::openapi_json()).unwrap();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .filter(|m| {
                    ["get", "post", "put", "patch", "delete", "head", "options"]
                        .contains(&m.as_str())
                })
                .map(|m| (m.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let in_matrix: BTreeSet<(String, String)> =
        MATRIX.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
    assert_eq!(in_matrix.len(), MATRIX.len(), "duplicate rows in the matrix");
    let missing: Vec<_> = documented.difference(&in_matrix).collect();
    let extra: Vec<_> = in_matrix.difference(&documented).collect();
    assert!(missing.is_empty(), "operations without a row in the matrix: {missing:?}");
    assert!(extra.is_empty(), "rows for operations the OpenAPI document lacks: {extra:?}");
}

async fn executors_see_only_their_organisation(env: &Env) {
    let f = fixture(env).await;
    // A second appeal routed to the other organisation only.
    route_to(env, "heating", env.other_executor).await;
    let reg = env
        .ok(
            Role::Operator,
            "POST",
            "/api/v1/appeals",
            Some(appeal_body(f.applicant, &["heating.no_heating"])),
            422,
        )
        .await;
    // heating.no_heating needs its attributes; the 422 names them.
    assert!(reg["error"]["fields"].to_string().contains("attributes"), "{reg}");
    let mut body = appeal_body(f.applicant, &["heating.billing"]);
    body["questions"][0]["description"] = json!("Перерахунок за опалення");
    let reg = env.ok(Role::Operator, "POST", "/api/v1/appeals", Some(body), 201).await;
    let other = &reg["appeal"];
    let other_id = other["id"].as_i64().unwrap();
    let other_assignment = other["questions"][0]["assignments"][0]["id"].as_i64().unwrap();
    assert_eq!(other["questions"][0]["assignments"][0]["executor_id"], env.other_executor);
    let other_question = other["questions"][0]["id"].as_i64().unwrap();
    let _ = other_question;
    let ex = Who::Role(Executor);
    let not_found = |r: &Resp, what: &str| {
        assert_eq!((r.status.as_u16(), r.code()), (404, "not_found"), "{what}: {}", r.body);
    };
    // Others' appeal, its number, timeline and assignment: as if they did not exist.
    let reg_no = other["reg_no"].as_str().unwrap();
    for path in [
        format!("/api/v1/appeals/{other_id}"),
        format!("/api/v1/appeals/by-number/{reg_no}"),
        format!("/api/v1/appeals/{other_id}/timeline"),
        format!("/api/v1/assignments/{other_assignment}"),
    ] {
        not_found(&env.call(&ex, "GET", &path, None).await, &path);
    }
    let r = env
        .call(
            &ex,
            "POST",
            &format!("/api/v1/assignments/{other_assignment}/transition"),
            Some(json!({"action": "accept"})),
        )
        .await;
    not_found(&r, "transition of another organisation's assignment");
    let still =
        env.ok(Admin, "GET", &format!("/api/v1/assignments/{other_assignment}"), None, 200).await;
    assert_eq!(still["state"], "registered");
    // Its own are visible.
    env.call(&ex, "GET", &format!("/api/v1/appeals/{}", f.appeal), None).await.expect(200);
    env.call(&ex, "GET", &format!("/api/v1/assignments/{}", f.assignment), None).await.expect(200);
    // Lists: only its own, whatever executor_id it asks for.
    for q in ["", "?executor_id=", "?limit=500&executor_id="] {
        let path = if q.ends_with('=') {
            format!("/api/v1/appeals{q}{}", env.other_executor)
        } else {
            format!("/api/v1/appeals{q}")
        };
        let page = env.call(&ex, "GET", &path, None).await;
        let ids: Vec<i64> = page.expect(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, vec![f.appeal], "{path}");
    }
    let all = env.ok(Admin, "GET", "/api/v1/appeals", None, 200).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    // No personal data: applicants are closed to executors altogether.
    for path in [
        format!("/api/v1/applicants/{}", f.applicant),
        "/api/v1/applicants?phone=0501234567".to_string(),
    ] {
        let r = env.call(&ex, "GET", &path, None).await;
        assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"), "{path}");
    }
    let appeal = env.call(&ex, "GET", &format!("/api/v1/appeals/{}", f.appeal), None).await;
    let text = appeal.body.to_string();
    for personal in ["Шевченко", "Олена", "380501234567"] {
        assert!(!text.contains(personal), "executor sees {personal}: {text}");
    }
    // An executor account without an organisation sees nothing at all.
    let hash = kontakt_web::auth::hash_password(PASSWORD).unwrap();
    env.store
        .create_user(
            NewUser {
                username: "orphan".into(),
                display_name: "Без організації".into(),
                role: Executor,
                password_hash: hash,
                executor_id: None,
                must_change_password: false,
            },
            kontakt_web::registration::now(),
        )
        .await
        .unwrap();
    let orphan = Who::Session(env.login("orphan", PASSWORD).await);
    for path in [
        "/api/v1/appeals".to_string(),
        format!("/api/v1/appeals/{}", f.appeal),
        format!("/api/v1/assignments/{}", f.assignment),
    ] {
        let r = env.call(&orphan, "GET", &path, None).await;
        assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"), "{path}: {}", r.body);
    }
    // The staff's private notes are hidden from the executor, public ones shown.
    env.ok(
        Controller,
        "POST",
        &format!("/api/v1/assignments/{}/transition", f.assignment),
        Some(json!({"action": "reroute", "public_text": "public", "private_text": "секрет"})),
        409,
    )
    .await;
    env.ok(
        Supervisor,
        "POST",
        &format!("/api/v1/assignments/{}/transition", f.assignment),
        Some(json!({"action": "reroute", "public_text": "public", "private_text": "секрет"})),
        200,
    )
    .await;
    let staff =
        env.ok(Admin, "GET", &format!("/api/v1/appeals/{}/timeline", f.appeal), None, 200).await;
    assert!(staff.to_string().contains("секрет"));
    let tl = env.call(&ex, "GET", &format!("/api/v1/appeals/{}/timeline", f.appeal), None).await;
    let tl = tl.expect(200).to_string();
    assert!(!tl.contains("секрет"), "{tl}");
    assert!(tl.contains("public"), "{tl}");
    // Reads of personal data by people are audited.
    env.ok(Operator, "GET", &format!("/api/v1/applicants/{}", f.applicant), None, 200).await;
    let audit = env.ok(Admin, "GET", "/api/v1/audit", None, 200).await;
    assert!(
        audit.as_array().unwrap().iter().any(|e| e["user_id"] == env.user_id(Operator)
            && e["subject_id"].as_str().and_then(|s| s.parse().ok()) == Some(f.applicant)
            && e["action"] == "read_personal_data"),
        "{audit}"
    );
}

async fn cookie_writes_need_csrf_and_tokens_do_not(env: &Env) {
    let body = json!({"last_name": "Бондар", "phones": ["0931234567"]});
    let r =
        env.call(&Who::NoCsrf(Operator), "POST", "/api/v1/applicants", Some(body.clone())).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "csrf_failed"), "{}", r.body);
    // A wrong token, or another session's token, is no better.
    let mut wrong = env.logins[&Operator].clone();
    wrong.csrf = env.logins[&Admin].csrf.clone();
    let r = env.call(&Who::Session(wrong), "POST", "/api/v1/applicants", Some(body.clone())).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "csrf_failed"));
    let mut empty = env.logins[&Operator].clone();
    empty.csrf = String::new();
    let r = env.call(&Who::Session(empty), "POST", "/api/v1/applicants", Some(body.clone())).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "csrf_failed"));
    // Also for logout and the password change, and for PUT.
    let r = env.call(&Who::NoCsrf(Admin), "POST", "/api/v1/auth/logout", None).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "csrf_failed"));
    let r = env
        .call(
            &Who::NoCsrf(Admin),
            "POST",
            "/api/v1/auth/password",
            Some(json!({"old_password": PASSWORD, "new_password": "something else entirely"})),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "csrf_failed"));
    let cat = serde_json::to_value(
        kontakt_appeals::default_categories().into_iter().find(|c| c.code == "water").unwrap(),
    )
    .unwrap();
    let r = env.call(&Who::NoCsrf(Admin), "PUT", "/api/v1/categories/water", Some(cat)).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "csrf_failed"));
    // A JSON content type with parameters is still JSON.
    let mut req =
        env.request(&Who::Role(Operator), "POST", "/api/v1/applicants", Some(body.clone()));
    req.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        "application/json; charset=utf-8".parse().unwrap(),
    );
    env.send(req).await.expect(201);
    // Reads need none.
    env.call(&Who::NoCsrf(Operator), "GET", "/api/v1/auth/me", None).await.expect(200);
    // The session still works with the header; a bearer token needs none.
    env.ok(Operator, "POST", "/api/v1/applicants", Some(body.clone()), 201).await;
    let r = env
        .call(&Who::Bearer(env.tokens[&Operator].clone()), "POST", "/api/v1/applicants", Some(body))
        .await;
    r.expect(201);
    // Admin still logged in (the refused logout did nothing); a real logout ends the session.
    let l = env.login("supervisor", PASSWORD).await;
    env.call(&Who::Session(l.clone()), "POST", "/api/v1/auth/logout", None).await.expect(204);
    let r = env.call(&Who::Session(l), "GET", "/api/v1/auth/me", None).await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "unauthenticated"));
    env.ok(Admin, "GET", "/api/v1/auth/me", None, 200).await;
    // An expired session, or a cookie nobody issued, is not logged in.
    let now = kontakt_web::registration::now();
    let token = kontakt_web::auth::new_token();
    env.store
        .create_session(
            kontakt_web::auth::token_hash(&token),
            env.user_id(Admin),
            "csrf".into(),
            now - chrono::Duration::hours(13),
            now - chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    for cookie in [format!("kontakt_session={token}"), "kontakt_session=forged".to_string()] {
        let l = Login { user_id: 0, cookie, csrf: "csrf".into() };
        let r = env.call(&Who::Session(l), "GET", "/api/v1/auth/me", None).await;
        assert_eq!((r.status.as_u16(), r.code()), (401, "unauthenticated"));
    }
    // A wrong password and an unknown user look the same.
    let bad = |u: &str, p: &str| json!({"username": u, "password": p});
    for body in [bad("admin", "nope"), bad("nobody", PASSWORD)] {
        let r = env.call(&ANON, "POST", "/api/v1/auth/login", Some(body)).await;
        assert_eq!((r.status.as_u16(), r.code()), (401, "bad_credentials"));
    }
}

async fn one_time_password_blocks_everything_but_the_change(env: &Env) {
    let hash = kontakt_web::auth::hash_password("one-time-pass").unwrap();
    env.store
        .create_user(
            NewUser {
                username: "newbie".into(),
                display_name: "Новий оператор".into(),
                role: Operator,
                password_hash: hash,
                executor_id: None,
                must_change_password: true,
            },
            kontakt_web::registration::now(),
        )
        .await
        .unwrap();
    let l = env.login("newbie", "one-time-pass").await;
    let who = Who::Session(l.clone());
    for (method, path) in [
        ("GET", "/api/v1/appeals"),
        ("GET", "/api/v1/categories"),
        ("GET", "/api/v1/applicants?name=x"),
        ("POST", "/api/v1/applicants"),
        ("GET", "/api/v1/auth/me/"),
    ] {
        let body = (method == "POST").then(|| json!({"last_name": "X"}));
        let r = env.call(&who, method, path, body).await;
        if path.ends_with('/') {
            // Not a route at all.
            assert_eq!(r.status.as_u16(), 404, "{path}");
            continue;
        }
        assert_eq!((r.status.as_u16(), r.code()), (403, "password_change_required"), "{path}");
    }
    let me = env.call(&who, "GET", "/api/v1/auth/me", None).await;
    assert_eq!(me.expect(200)["must_change_password"], true);
    let r = env
        .call(
            &who,
            "POST",
            "/api/v1/auth/password",
            Some(json!({"old_password": "one-time-pass", "new_password": "short"})),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "validation_failed"));
    env.call(
        &who,
        "POST",
        "/api/v1/auth/password",
        Some(json!({"old_password": "one-time-pass", "new_password": "a much longer secret"})),
    )
    .await
    .expect(204);
    // Changing the password ends every session of the account, this one included.
    let r = env.call(&who, "GET", "/api/v1/appeals", None).await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "unauthenticated"));
    // The old password no longer works, the new one does and has no restriction.
    let r = env
        .call(
            &ANON,
            "POST",
            "/api/v1/auth/login",
            Some(json!({"username": "newbie", "password": "one-time-pass"})),
        )
        .await;
    assert_eq!(r.status.as_u16(), 401);
    let fresh = Who::Session(env.login("newbie", "a much longer secret").await);
    env.call(&fresh, "GET", "/api/v1/appeals", None).await.expect(200);
    // Logging out is allowed while the change is pending.
    let hash = kontakt_web::auth::hash_password("another-one-time").unwrap();
    env.store.set_password(l.user_id, hash, true).await.unwrap();
    let l2 = env.login("newbie", "another-one-time").await;
    let r = env.call(&Who::Session(l2.clone()), "GET", "/api/v1/appeals", None).await;
    assert_eq!(r.code(), "password_change_required");
    env.call(&Who::Session(l2), "POST", "/api/v1/auth/logout", None).await.expect(204);
}

async fn the_feed_takes_a_cookie_only_from_its_own_origin(env: &Env) {
    let feed = |who: Who, origin: Option<&str>| {
        let mut req = env.request(&who, "GET", "/api/v1/feed", None);
        req.headers_mut().insert("host", "kontakt.test:8443".parse().unwrap());
        if let Some(o) = origin {
            req.headers_mut().insert("origin", o.parse().unwrap());
        }
        env.send(req)
    };
    for origin in [None, Some("https://evil.example"), Some("https://kontakt.test"), Some("null")] {
        let r = feed(Who::Role(Operator), origin).await;
        assert_eq!((r.status.as_u16(), r.code()), (403, "origin_mismatch"), "{origin:?}");
    }
    let r = feed(Who::Role(Operator), Some("https://kontakt.test:8443")).await;
    assert_eq!((r.status.as_u16(), r.code()), (426, "upgrade_required"), "{}", r.body);
    // A bearer token is not sent by browsers on their own: no origin needed.
    let r = feed(Who::Bearer(env.tokens[&Operator].clone()), None).await;
    assert_eq!((r.status.as_u16(), r.code()), (426, "upgrade_required"), "{}", r.body);
    // The view must be one the role may watch.
    let token = Who::Bearer(env.tokens[&Operator].clone());
    let mut req = env.request(&token, "GET", "/api/v1/feed?view=wallboard", None);
    req.headers_mut().insert("host", "kontakt.test".parse().unwrap());
    let r = env.send(req).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"));
    // An account the engine does not know as an operator has no desk.
    let ctrl = Who::Bearer(env.tokens[&Controller].clone());
    let r = env.call(&ctrl, "GET", "/api/v1/desk", None).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"));
    let hash = kontakt_web::auth::hash_password(PASSWORD).unwrap();
    env.store
        .create_user(
            NewUser {
                username: "unbound".into(),
                display_name: "Оператор без телефону".into(),
                role: Operator,
                password_hash: hash,
                executor_id: None,
                must_change_password: false,
            },
            kontakt_web::registration::now(),
        )
        .await
        .unwrap();
    let unbound = Who::Session(env.login("unbound", PASSWORD).await);
    let r = env.call(&unbound, "GET", "/api/v1/desk", None).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "not_an_operator"), "{}", r.body);
    let r = env.call(&unbound, "POST", "/api/v1/desk/state", Some(json!({"state": "ready"}))).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "not_an_operator"), "{}", r.body);
}

/// Every supervisor action leaves an audit entry naming who did what to whom; a refused one
/// leaves none.
async fn supervisor_actions_are_audited(env: &Env) {
    let entries = || async {
        let a = env.ok(Admin, "GET", "/api/v1/audit?limit=1000", None, 200).await;
        a.as_array().unwrap().clone()
    };
    let op = env.user_id(Operator);
    let before = entries().await.len();
    // Refused: the operator is logged out, and nobody has this call.
    let r = env
        .call(
            &Who::Role(Supervisor),
            "POST",
            &format!("/api/v1/wallboard/calls/{NO_CALL}/priority"),
            Some(json!({"priority": 3})),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "not_found"), "{}", r.body);
    let r = env
        .call(
            &Who::Role(Supervisor),
            "POST",
            &format!("/api/v1/wallboard/agents/{op}/state"),
            Some(json!({"state": "pause", "reason": "training"})),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "refused"), "logged out: {}", r.body);
    assert_eq!(entries().await.len(), before, "a refused action is not audited");
    // Done: the operator logs in, is forced into a pause, then the board is read.
    let desk =
        env.ok(Operator, "POST", "/api/v1/desk/state", Some(json!({"state": "ready"})), 200).await;
    assert_eq!(desk["state"], "ready");
    env.ok(
        Supervisor,
        "POST",
        &format!("/api/v1/wallboard/agents/{op}/state"),
        Some(json!({"state": "pause", "reason": "training"})),
        204,
    )
    .await;
    let desk = env.ok(Operator, "GET", "/api/v1/desk", None, 200).await;
    assert_eq!(
        (desk["state"].as_str(), desk["reason"].as_str()),
        (Some("paused"), Some("training"))
    );
    let board = env.ok(Supervisor, "GET", "/api/v1/wallboard", None, 200).await;
    let agent = board["agents"].as_array().unwrap().iter().find(|a| a["user_id"] == op).unwrap();
    assert_eq!(agent["state"], "paused");
    let all = entries().await;
    let sup = env.user_id(Supervisor);
    let forced = all
        .iter()
        .find(|e| e["action"] == "force_agent_state")
        .unwrap_or_else(|| panic!("no audit entry: {all:?}"));
    assert_eq!(forced["user_id"], sup);
    assert_eq!(forced["subject_kind"], "operator");
    assert_eq!(forced["subject_id"], op.to_string());
    let detail: Value = serde_json::from_str(forced["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail, json!({"state": "pause", "reason": "training"}));
    assert!(all.iter().any(|e| e["action"] == "read_wallboard" && e["user_id"] == sup));
    assert_eq!(all.len(), before + 2, "{all:?}");
}

/// Kontakt as a registry alone: every endpoint that needs the engine answers 503
/// `telephony_disabled` (after the role check), and /metrics still serves `kontakt_up`.
async fn without_telephony_the_call_center_endpoints_say_so(env: &Env) {
    let f = fixture(env).await;
    let app = env.app_without_telephony();
    let mut checked = 0;
    for &(method, path, allow) in MATRIX {
        // The intraday chart reads only the call records.
        let needs_engine = (path.starts_with("/api/v1/desk")
            || path.starts_with("/api/v1/wallboard"))
            && path != "/api/v1/wallboard/intraday";
        if !needs_engine {
            continue;
        }
        let Allow::Roles(roles) = allow else { panic!("{path}") };
        let (uri, body) = cell(&f, method, path, "no-telephony");
        let r = send(app.clone(), env.request(&Who::Role(roles[0]), method, &uri, body)).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (503, "telephony_disabled"),
            "{method} {path}: {}",
            r.body
        );
        assert_eq!(r.body["error"]["message"], "telephony is not configured");
        checked += 1;
    }
    assert_eq!(checked, 11);
    let r = send(app, env.request(&ANON, "GET", "/metrics", None)).await;
    assert_eq!(r.status.as_u16(), 200);
    let text = r.body.as_str().unwrap();
    assert!(text.ends_with("kontakt_up 1\n"), "{text}");
    assert!(!text.contains("kontakt_calls_total"), "no engine, no engine metrics: {text}");
    let ct = r.headers.get("content-type").unwrap().to_str().unwrap();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
}
