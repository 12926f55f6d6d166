//! Issue 2, acceptance: bad input for every endpoint. Each request gets a 4xx with a stable
//! machine-readable code (never a 500, never SQL in the message), and what is stored is the same
//! before and after it.

use axum::body::Body;
use axum::http::{Request, header};
use chrono::{Duration, Utc};
use kontakt_store::Role;
use serde_json::{Value, json};

use crate::harness::*;

crate::on_both_backends!(
    every_endpoint_refuses_bad_input_and_changes_nothing,
    sql_metacharacters_are_plain_text,
);

/// What the bad-input cases refer to: one appeal with an assignment, its applicant.
struct Known {
    applicant: i64,
    appeal: i64,
    assignment: i64,
    question: i64,
}

async fn known(env: &Env) -> Known {
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
    let q = &reg["appeal"]["questions"][0];
    Known {
        applicant,
        appeal: reg["appeal"]["id"].as_i64().unwrap(),
        assignment: q["assignments"][0]["id"].as_i64().unwrap(),
        question: q["id"].as_i64().unwrap(),
    }
}

/// Everything a bad request could have changed, as comparable text.
async fn snapshot(env: &Env, k: &Known) -> Vec<String> {
    let s = &env.store;
    let mut highest = k.applicant;
    // Ids come from sequences (PostgreSQL may skip some after a rollback): look a little ahead.
    for id in k.applicant + 1..k.applicant + 20 {
        if s.applicant(id).await.is_ok() {
            highest = id;
        }
    }
    let mut appeal =
        env.ok(Role::Admin, "GET", &format!("/api/v1/appeals/{}", k.appeal), None, 200).await;
    for q in appeal["questions"].as_array_mut().unwrap() {
        q["deadline_status"] = Value::Null; // computed at the time of reading
    }
    vec![
        format!("appeals {}", s.count_appeals().await.unwrap()),
        format!("users {:?}", s.users().await.unwrap()),
        format!(
            "admin hash {:?}",
            s.user_credentials("admin").await.unwrap().map(|c| c.password_hash)
        ),
        format!("executors {:?}", s.executors().await.unwrap()),
        format!("map {:?}", s.responsibilities().await.unwrap()),
        format!(
            "outages {:?}",
            s.list_outages(&kontakt_store::OutageFilter { limit: 500, ..Default::default() })
                .await
                .unwrap()
        ),
        format!("categories {:?}", s.categories().await.unwrap()),
        format!("timeline {:?}", s.timeline(k.appeal).await.unwrap()),
        format!("appeal {appeal}"),
        format!("applicant {:?}", s.applicant(k.applicant).await.unwrap()),
        format!("highest applicant id {highest}"),
        format!("audit entries {}", s.audit_log(100_000).await.unwrap().len()),
        // The call center's side: agents' states and live calls, from the engine itself (a
        // read through the API would be audited).
        match env.engine.command(kontakt_engine::Command::Snapshot).await.unwrap() {
            kontakt_engine::Reply::Snapshot(b) => {
                format!("engine agents {:?} calls {:?}", b.agents, b.calls)
            }
            other => panic!("{other:?}"),
        },
    ]
}

enum Payload {
    None,
    Json(Value),
    /// Raw bytes with a content type.
    Raw(&'static str, Vec<u8>),
}

struct Case {
    who: Role,
    method: &'static str,
    path: String,
    send: Payload,
    status: u16,
    code: &'static str,
    /// A field error expected in the body: (field, code).
    field: Option<(&'static str, &'static str)>,
}

fn case(
    who: Role,
    method: &'static str,
    path: impl Into<String>,
    send: Payload,
    status: u16,
    code: &'static str,
) -> Case {
    Case { who, method, path: path.into(), send, status, code, field: None }
}

fn field(mut c: Case, f: &'static str, code: &'static str) -> Case {
    c.field = Some((f, code));
    c
}

/// The same JSON, with one key replaced (or removed when `v` is `None`).
fn with(base: &Value, key: &str, v: Option<Value>) -> Value {
    let mut b = base.clone();
    match v {
        Some(v) => b[key] = v,
        None => {
            b.as_object_mut().unwrap().remove(key);
        }
    }
    b
}

/// The cases every JSON endpoint shares: missing fields, a wrong type, an unknown field, a
/// body over the limit, a non-JSON content type, broken JSON.
fn body_cases(
    out: &mut Vec<Case>,
    who: Role,
    method: &'static str,
    path: &str,
    valid: &Value,
    env: &Env,
) {
    let obj = valid.as_object().unwrap();
    let first_key = required_key(path);
    let required = obj.contains_key(first_key);
    if required {
        out.push(case(who, method, path, Payload::Json(json!({})), 422, "invalid_body"));
    }
    out.push(case(who, method, path, Payload::Json(json!([])), 422, "invalid_body"));
    out.push(case(who, method, path, Payload::Json(json!(null)), 422, "invalid_body"));
    // Each required key missing in turn (`Option` keys may be absent).
    if required {
        out.push(case(
            who,
            method,
            path,
            Payload::Json(with(valid, first_key, None)),
            422,
            "invalid_body",
        ));
    }
    // Wrong types: a string where an object's value is expected and vice versa.
    for (k, v) in obj {
        let wrong = match v {
            Value::String(_) => json!({"nested": true}),
            Value::Number(_) => json!("not a number"),
            Value::Bool(_) => json!("yes"),
            Value::Array(_) => json!("not a list"),
            Value::Object(_) => json!(42),
            Value::Null => continue,
        };
        out.push(case(
            who,
            method,
            path,
            Payload::Json(with(valid, k, Some(wrong))),
            422,
            "invalid_body",
        ));
    }
    out.push(case(
        who,
        method,
        path,
        Payload::Json(with(valid, "unexpected_field", Some(json!(1)))),
        422,
        "invalid_body",
    ));
    let huge = with(valid, "padding", Some(json!("x".repeat(env.settings.max_body_bytes + 1))));
    out.push(case(who, method, path, Payload::Json(huge), 413, "payload_too_large"));
    out.push(case(
        who,
        method,
        path,
        Payload::Raw("text/plain", valid.to_string().into_bytes()),
        415,
        "unsupported_media_type",
    ));
    out.push(case(
        who,
        method,
        path,
        Payload::Raw("application/x-www-form-urlencoded", b"username=admin".to_vec()),
        415,
        "unsupported_media_type",
    ));
    out.push(case(
        who,
        method,
        path,
        Payload::Raw("application/json", b"{not json".to_vec()),
        400,
        "bad_request",
    ));
    out.push(case(
        who,
        method,
        path,
        Payload::Raw("application/json", Vec::new()),
        400,
        "bad_request",
    ));
}

/// A key the endpoint's body cannot do without.
fn required_key(path: &str) -> &'static str {
    match path {
        p if p.starts_with("/api/v1/desk/calls/") => "(exactly one of three, checked below)",
        "/api/v1/desk/state" => "state",
        "/api/v1/desk/hold" => "hold",
        "/api/v1/desk/transfer" => "target",
        p if p.starts_with("/api/v1/wallboard/agents/") => "state",
        p if p.starts_with("/api/v1/wallboard/calls/") && p.ends_with("/queue") => "queue",
        p if p.starts_with("/api/v1/wallboard/calls/") && p.ends_with("/priority") => "priority",
        p if p.starts_with("/api/v1/wallboard/calls/") && p.ends_with("/eavesdrop") => "mode",
        "/api/v1/auth/login" => "username",
        "/api/v1/auth/password" => "new_password",
        "/api/v1/users" => "username",
        "/api/v1/tokens" => "name",
        "/api/v1/applicants" => "(every field is optional)",
        "/api/v1/appeals" => "questions",
        "/api/v1/executors" => "code",
        "/api/v1/responsibilities" => "executor_id",
        "/api/v1/outages" => "nature",
        p if p.starts_with("/api/v1/outages/") => "(every field is optional)",
        p if p.ends_with("/extend") => "extended_due_at",
        p if p.ends_with("/assignments") => "executor_id",
        p if p.ends_with("/transition") => "action",
        p if p.starts_with("/api/v1/categories/") => "code",
        p => panic!("no required key known for {p}"),
    }
}

fn cases(env: &Env, k: &Known) -> Vec<Case> {
    use Role::*;
    let mut c = Vec::new();
    let future = (Utc::now() + Duration::days(1)).to_rfc3339();

    // --- auth -----------------------------------------------------------------------------
    let login = json!({"username": "admin", "password": PASSWORD});
    body_cases(&mut c, Admin, "POST", "/api/v1/auth/login", &login, env);
    for u in ["admin' OR '1'='1", "admin'--", "\" OR \"\"=\"", "nobody"] {
        c.push(case(
            Admin,
            "POST",
            "/api/v1/auth/login",
            Payload::Json(json!({"username": u, "password": "x' OR 'x'='x"})),
            401,
            "bad_credentials",
        ));
    }
    let pw = json!({"old_password": PASSWORD, "new_password": "long enough new one"});
    body_cases(&mut c, Admin, "POST", "/api/v1/auth/password", &pw, env);
    c.push(field(
        case(
            Admin,
            "POST",
            "/api/v1/auth/password",
            Payload::Json(with(&pw, "new_password", Some(json!("short")))),
            422,
            "validation_failed",
        ),
        "new_password",
        "too_short",
    ));
    c.push(field(
        case(
            Admin,
            "POST",
            "/api/v1/auth/password",
            Payload::Json(with(&pw, "old_password", Some(json!("' OR 1=1 --")))),
            422,
            "validation_failed",
        ),
        "old_password",
        "mismatch",
    ));

    // --- users and tokens -----------------------------------------------------------------
    let user = json!({"username": "newuser", "display_name": "Новий", "role": "operator",
                      "password": "long enough password", "executor_id": null});
    body_cases(&mut c, Admin, "POST", "/api/v1/users", &user, env);
    c.push(field(
        case(
            Admin,
            "POST",
            "/api/v1/users",
            Payload::Json(with(&user, "role", Some(json!("root")))),
            422,
            "validation_failed",
        ),
        "role",
        "unknown_value",
    ));
    c.push(field(
        case(
            Admin,
            "POST",
            "/api/v1/users",
            Payload::Json(with(&user, "username", Some(json!("x'; DROP TABLE users; --")))),
            422,
            "validation_failed",
        ),
        "username",
        "invalid",
    ));
    c.push(field(
        case(
            Admin,
            "POST",
            "/api/v1/users",
            Payload::Json(with(&user, "username", Some(json!("")))),
            422,
            "validation_failed",
        ),
        "username",
        "invalid",
    ));
    c.push(field(
        case(
            Admin,
            "POST",
            "/api/v1/users",
            Payload::Json(with(&user, "username", Some(json!("a".repeat(65))))),
            422,
            "validation_failed",
        ),
        "username",
        "invalid",
    ));
    c.push(field(
        case(
            Admin,
            "POST",
            "/api/v1/users",
            Payload::Json(with(&user, "password", Some(json!("short")))),
            422,
            "validation_failed",
        ),
        "password",
        "too_short",
    ));
    c.push(field(
        case(
            Admin,
            "POST",
            "/api/v1/users",
            Payload::Json(with(&user, "display_name", Some(json!("   ")))),
            422,
            "validation_failed",
        ),
        "display_name",
        "invalid",
    ));
    c.push(field(
        case(
            Admin,
            "POST",
            "/api/v1/users",
            Payload::Json(with(&user, "role", Some(json!("executor")))),
            422,
            "validation_failed",
        ),
        "executor_id",
        "required",
    ));
    c.push(field(
        case(
            Admin,
            "POST",
            "/api/v1/users",
            Payload::Json(with(&user, "executor_id", Some(json!(env.own_executor)))),
            422,
            "validation_failed",
        ),
        "executor_id",
        "not_allowed",
    ));
    let ghost =
        with(&with(&user, "role", Some(json!("executor"))), "executor_id", Some(json!(999_999)));
    c.push(case(Admin, "POST", "/api/v1/users", Payload::Json(ghost), 422, "missing_reference"));
    c.push(case(
        Admin,
        "POST",
        "/api/v1/users",
        Payload::Json(with(&user, "username", Some(json!("operator")))),
        409,
        "conflict",
    ));
    let token = json!({"name": "integration"});
    body_cases(&mut c, Admin, "POST", "/api/v1/tokens", &token, env);
    c.push(field(
        case(
            Admin,
            "POST",
            "/api/v1/tokens",
            Payload::Json(json!({"name": "  "})),
            422,
            "validation_failed",
        ),
        "name",
        "invalid",
    ));
    c.push(field(
        case(
            Admin,
            "POST",
            "/api/v1/tokens",
            Payload::Json(json!({"name": "x".repeat(101)})),
            422,
            "validation_failed",
        ),
        "name",
        "invalid",
    ));
    for q in ["limit=abc", "limit=1.5", "bogus=1", "limit=99999999999999999999"] {
        c.push(case(
            Admin,
            "GET",
            format!("/api/v1/audit?{q}"),
            Payload::None,
            400,
            "invalid_query",
        ));
    }
    for q in ["limit=0", "limit=-1", "limit=1001"] {
        c.push(field(
            case(
                Admin,
                "GET",
                format!("/api/v1/audit?{q}"),
                Payload::None,
                422,
                "validation_failed",
            ),
            "limit",
            "out_of_range",
        ));
    }

    // --- applicants -----------------------------------------------------------------------
    for p in ["123", "hello", "%27%20OR%201%3D1", "0501234567890123", "%2B1%20202%20555%200100x"] {
        c.push(field(
            case(
                Operator,
                "GET",
                format!("/api/v1/applicants?phone={p}"),
                Payload::None,
                422,
                "validation_failed",
            ),
            "phone",
            "invalid_phone",
        ));
    }
    c.push(case(Operator, "GET", "/api/v1/applicants", Payload::None, 400, "bad_request"));
    c.push(case(
        Operator,
        "GET",
        "/api/v1/applicants?name=%20%20",
        Payload::None,
        400,
        "bad_request",
    ));
    for q in ["limit=abc", "name=x&limit=x", "name=x&extra=1"] {
        c.push(case(
            Operator,
            "GET",
            format!("/api/v1/applicants?{q}"),
            Payload::None,
            400,
            "invalid_query",
        ));
    }
    for q in ["name=x&limit=0", "name=x&limit=-5", "name=x&limit=101"] {
        c.push(field(
            case(
                Operator,
                "GET",
                format!("/api/v1/applicants?{q}"),
                Payload::None,
                422,
                "validation_failed",
            ),
            "limit",
            "out_of_range",
        ));
    }
    let applicant =
        json!({"last_name": "Коваленко", "first_name": "Іван", "phones": ["0671234567"]});
    body_cases(&mut c, Operator, "POST", "/api/v1/applicants", &applicant, env);
    c.push(case(
        Operator,
        "POST",
        "/api/v1/applicants",
        Payload::Json(json!({})),
        422,
        "validation_failed",
    ));
    c.push(case(
        Operator,
        "POST",
        "/api/v1/applicants",
        Payload::Json(json!({"phones": []})),
        422,
        "validation_failed",
    ));
    for p in ["123", "050123", "+1 202 555 0100 ext", "'; DROP TABLE applicants; --"] {
        c.push(field(
            case(
                Operator,
                "POST",
                "/api/v1/applicants",
                Payload::Json(with(&applicant, "phones", Some(json!([p])))),
                422,
                "validation_failed",
            ),
            "phones[0]",
            "invalid_phone",
        ));
    }
    c.push(field(
        case(
            Operator,
            "POST",
            "/api/v1/applicants",
            Payload::Json(with(&applicant, "phones", Some(json!(["0671234567", "bad"])))),
            422,
            "validation_failed",
        ),
        "phones[1]",
        "invalid_phone",
    ));
    c.push(case(
        Operator,
        "POST",
        "/api/v1/applicants",
        Payload::Json(with(&applicant, "kind", Some(json!("alien")))),
        422,
        "invalid_body",
    ));
    c.push(case(
        Operator,
        "POST",
        "/api/v1/applicants",
        Payload::Json(with(&applicant, "phones", Some(json!("0671234567")))),
        422,
        "invalid_body",
    ));
    c.push(field(
        case(
            Operator,
            "POST",
            "/api/v1/applicants",
            Payload::Json(with(&applicant, "email", Some(json!("not-an-email")))),
            422,
            "validation_failed",
        ),
        "email",
        "invalid_email",
    ));
    for id in ["999999", "-1", "0"] {
        c.push(case(
            Operator,
            "GET",
            format!("/api/v1/applicants/{id}"),
            Payload::None,
            404,
            "not_found",
        ));
    }
    for id in ["abc", "1.5", "99999999999999999999", "1%27%20OR%20%271%27%3D%271"] {
        c.push(case(
            Operator,
            "GET",
            format!("/api/v1/applicants/{id}"),
            Payload::None,
            400,
            "invalid_path",
        ));
    }

    // --- appeals --------------------------------------------------------------------------
    let appeal = appeal_body(k.applicant, &["water.leak"]);
    body_cases(&mut c, Operator, "POST", "/api/v1/appeals", &appeal, env);
    let q0 = appeal["questions"][0].clone();
    let with_q = |q: Value| with(&appeal, "questions", Some(json!([q])));
    c.push(case(
        Operator,
        "POST",
        "/api/v1/appeals",
        Payload::Json(with(&appeal, "channel", Some(json!("fax")))),
        422,
        "invalid_body",
    ));
    c.push(case(
        Operator,
        "POST",
        "/api/v1/appeals",
        Payload::Json(with(&appeal, "legal_kind", Some(json!("petition")))),
        422,
        "invalid_body",
    ));
    c.push(field(
        case(
            Operator,
            "POST",
            "/api/v1/appeals",
            Payload::Json(with(&appeal, "questions", Some(json!([])))),
            422,
            "validation_failed",
        ),
        "questions",
        "required",
    ));
    c.push(field(
        case(
            Operator,
            "POST",
            "/api/v1/appeals",
            Payload::Json(with(&appeal, "questions", Some(json!(vec![q0.clone(); 21])))),
            422,
            "validation_failed",
        ),
        "questions",
        "too_many",
    ));
    c.push(field(
        case(
            Operator,
            "POST",
            "/api/v1/appeals",
            Payload::Json(with_q(with(
                &q0,
                "category_code",
                Some(json!("water'; DROP TABLE appeals; --")),
            ))),
            422,
            "validation_failed",
        ),
        "questions[0].category_code",
        "not_found",
    ));
    c.push(field(
        case(
            Operator,
            "POST",
            "/api/v1/appeals",
            Payload::Json(with(&appeal, "applicant_id", Some(json!(999_999)))),
            422,
            "validation_failed",
        ),
        "applicant_id",
        "not_found",
    ));
    c.push(field(
        case(
            Operator,
            "POST",
            "/api/v1/appeals",
            Payload::Json(with(
                &appeal,
                "applicant",
                Some(json!({"last_name": "Х", "phones": ["0501112233"]})),
            )),
            422,
            "validation_failed",
        ),
        "applicant",
        "not_allowed",
    ));
    let fresh = with(
        &with(&appeal, "applicant_id", None),
        "applicant",
        Some(json!({"last_name": "Нова", "phones": ["12345"]})),
    );
    c.push(field(
        case(Operator, "POST", "/api/v1/appeals", Payload::Json(fresh), 422, "validation_failed"),
        "applicant.phones[0]",
        "invalid_phone",
    ));
    // A valid new applicant in an invalid appeal: neither is written.
    let fresh_ok = with(
        &with(
            &with(&appeal, "applicant_id", None),
            "applicant",
            Some(json!({"last_name": "Нова", "phones": ["0991234567"]})),
        ),
        "questions",
        Some(json!([])),
    );
    c.push(field(
        case(
            Operator,
            "POST",
            "/api/v1/appeals",
            Payload::Json(fresh_ok),
            422,
            "validation_failed",
        ),
        "questions",
        "required",
    ));
    c.push(field(
        case(
            Operator,
            "POST",
            "/api/v1/appeals",
            Payload::Json(with(&appeal, "received_at", Some(json!(future)))),
            422,
            "validation_failed",
        ),
        "received_at",
        "in_future",
    ));
    c.push(case(
        Operator,
        "POST",
        "/api/v1/appeals",
        Payload::Json(with(&appeal, "received_at", Some(json!("yesterday")))),
        422,
        "invalid_body",
    ));
    c.push(case(
        Operator,
        "POST",
        "/api/v1/appeals",
        Payload::Json(with(&appeal, "applicant_id", Some(json!("1")))),
        422,
        "invalid_body",
    ));
    c.push(field(
        case(
            Operator,
            "POST",
            "/api/v1/appeals",
            Payload::Json(with(
                &with(&appeal, "applicant_id", None),
                "legal_kind",
                Some(json!("complaint")),
            )),
            422,
            "validation_failed",
        ),
        "applicant",
        "required",
    ));
    c.push(case(
        Operator,
        "POST",
        "/api/v1/appeals",
        Payload::Json(with_q(with(&q0, "attributes", Some(json!("x"))))),
        422,
        "validation_failed",
    ));
    c.push(case(
        Operator,
        "POST",
        "/api/v1/appeals",
        Payload::Json(with_q(with(&q0, "description", Some(json!(""))))),
        422,
        "validation_failed",
    ));
    c.push(case(
        Operator,
        "POST",
        "/api/v1/appeals",
        Payload::Json(with_q(with(&q0, "category_code", Some(json!("water"))))),
        422,
        "validation_failed",
    ));
    c.push(case(
        Operator,
        "POST",
        "/api/v1/appeals",
        Payload::Json(with_q(with(&q0, "category_code", Some(json!("water.burst"))))),
        422,
        "validation_failed",
    ));
    c.push(case(
        Operator,
        "POST",
        "/api/v1/appeals",
        Payload::Json(with_q(with(&q0, "address", Some(json!({"street": "x"}))))),
        422,
        "invalid_body",
    ));
    c.push(case(
        Operator,
        "POST",
        "/api/v1/appeals",
        Payload::Json(with_q(with(
            &q0,
            "address",
            Some(json!({"street": "Соборна", "building": "1", "floor": 1000})),
        ))),
        422,
        "validation_failed",
    ));
    for q in ["limit=0", "limit=501", "limit=-1"] {
        c.push(field(
            case(
                Operator,
                "GET",
                format!("/api/v1/appeals?{q}"),
                Payload::None,
                422,
                "validation_failed",
            ),
            "limit",
            "out_of_range",
        ));
    }
    c.push(field(
        case(
            Operator,
            "GET",
            "/api/v1/appeals?channel=fax",
            Payload::None,
            422,
            "validation_failed",
        ),
        "channel",
        "unknown_value",
    ));
    c.push(field(
        case(
            Operator,
            "GET",
            "/api/v1/appeals?state=%27%20OR%201%3D1",
            Payload::None,
            422,
            "validation_failed",
        ),
        "state",
        "unknown_value",
    ));
    for q in [
        "limit=abc",
        "registered_from=yesterday",
        "applicant_id=x",
        "before_id=1%3B%20DROP",
        "sort=id",
    ] {
        c.push(case(
            Operator,
            "GET",
            format!("/api/v1/appeals?{q}"),
            Payload::None,
            400,
            "invalid_query",
        ));
    }
    for id in ["999999", "-1"] {
        c.push(case(
            Operator,
            "GET",
            format!("/api/v1/appeals/{id}"),
            Payload::None,
            404,
            "not_found",
        ));
        c.push(case(
            Operator,
            "GET",
            format!("/api/v1/appeals/{id}/timeline"),
            Payload::None,
            404,
            "not_found",
        ));
    }
    for id in ["abc", "1e3", "%27"] {
        c.push(case(
            Operator,
            "GET",
            format!("/api/v1/appeals/{id}"),
            Payload::None,
            400,
            "invalid_path",
        ));
        c.push(case(
            Operator,
            "GET",
            format!("/api/v1/appeals/{id}/timeline"),
            Payload::None,
            400,
            "invalid_path",
        ));
    }
    for n in [
        "2026-1",
        "2026-0000001",
        "26-000001",
        "abcd-efghij",
        "2026-000001%27%20OR%20%271%27%3D%271",
        "%20",
        "2026_000001",
    ] {
        c.push(field(
            case(
                Operator,
                "GET",
                format!("/api/v1/appeals/by-number/{n}"),
                Payload::None,
                422,
                "validation_failed",
            ),
            "reg_no",
            "invalid",
        ));
    }
    c.push(case(
        Operator,
        "GET",
        "/api/v1/appeals/by-number/2026-999999",
        Payload::None,
        404,
        "not_found",
    ));
    c.push(case(
        Operator,
        "GET",
        "/api/v1/appeals/by-number/1999-000001",
        Payload::None,
        404,
        "not_found",
    ));

    // --- extension --------------------------------------------------------------------------
    let ext = json!({"extended_due_at": (Utc::now() + Duration::days(40)).to_rfc3339(),
                     "notice_sent_at": Utc::now().to_rfc3339()});
    let ext_path = format!("/api/v1/appeals/{}/extend", k.appeal);
    body_cases(&mut c, Controller, "POST", &ext_path, &ext, env);
    c.push(case(
        Controller,
        "POST",
        "/api/v1/appeals/999999/extend",
        Payload::Json(ext.clone()),
        404,
        "not_found",
    ));
    c.push(case(
        Controller,
        "POST",
        "/api/v1/appeals/x/extend",
        Payload::Json(ext.clone()),
        400,
        "invalid_path",
    ));
    c.push(field(
        case(
            Controller,
            "POST",
            &ext_path,
            Payload::Json(with(&ext, "notice_sent_at", None)),
            422,
            "validation_failed",
        ),
        "notice_sent_at",
        "extension_notice_required",
    ));
    c.push(field(
        case(
            Controller,
            "POST",
            &ext_path,
            Payload::Json(with(
                &ext,
                "extended_due_at",
                Some(json!((Utc::now() + Duration::days(60)).to_rfc3339())),
            )),
            422,
            "validation_failed",
        ),
        "extended_due_at",
        "extension_beyond_maximum",
    ));
    c.push(field(
        case(
            Controller,
            "POST",
            &ext_path,
            Payload::Json(with(&ext, "extended_due_at", Some(json!(Utc::now().to_rfc3339())))),
            422,
            "validation_failed",
        ),
        "extended_due_at",
        "extension_earlier_than_current",
    ));
    // A notice dated in the future has not been sent: the law wants it recorded first.
    c.push(field(
        case(
            Controller,
            "POST",
            &ext_path,
            Payload::Json(with(&ext, "notice_sent_at", Some(json!(future)))),
            422,
            "validation_failed",
        ),
        "notice_sent_at",
        "in_future",
    ));

    // --- assignments ------------------------------------------------------------------------
    let add = json!({"executor_id": env.other_executor});
    let add_path = format!("/api/v1/questions/{}/assignments", k.question);
    body_cases(&mut c, Operator, "POST", &add_path, &add, env);
    c.push(field(
        case(
            Operator,
            "POST",
            &add_path,
            Payload::Json(json!({"executor_id": 999_999})),
            422,
            "validation_failed",
        ),
        "executor_id",
        "not_found",
    ));
    c.push(case(
        Operator,
        "POST",
        "/api/v1/questions/999999/assignments",
        Payload::Json(add.clone()),
        404,
        "not_found",
    ));
    c.push(case(
        Operator,
        "POST",
        "/api/v1/questions/q1/assignments",
        Payload::Json(add),
        400,
        "invalid_path",
    ));
    c.push(case(Operator, "GET", "/api/v1/assignments/999999", Payload::None, 404, "not_found"));
    c.push(case(Operator, "GET", "/api/v1/assignments/abc", Payload::None, 400, "invalid_path"));
    let tr_path = format!("/api/v1/assignments/{}/transition", k.assignment);
    let accept = json!({"action": "accept", "result": null, "public_text": "ok", "private_text": null, "expected_version": 0});
    body_cases(&mut c, Executor, "POST", &tr_path, &accept, env);
    c.push(case(
        Executor,
        "POST",
        "/api/v1/assignments/999999/transition",
        Payload::Json(accept.clone()),
        404,
        "not_found",
    ));
    c.push(case(
        Executor,
        "POST",
        &tr_path,
        Payload::Json(with(&accept, "action", Some(json!("fly")))),
        422,
        "invalid_body",
    ));
    c.push(case(
        Executor,
        "POST",
        &tr_path,
        Payload::Json(with(&accept, "expected_version", Some(json!(5)))),
        409,
        "stale",
    ));
    c.push(case(
        Executor,
        "POST",
        &tr_path,
        Payload::Json(with(&accept, "expected_version", Some(json!(-1)))),
        409,
        "stale",
    ));
    c.push(case(
        Executor,
        "POST",
        &tr_path,
        Payload::Json(json!({"action": "confirm"})),
        409,
        "illegal_transition",
    ));
    c.push(case(
        Controller,
        "POST",
        &tr_path,
        Payload::Json(json!({"action": "confirm"})),
        409,
        "illegal_transition",
    ));
    c.push(case(
        Controller,
        "POST",
        &tr_path,
        Payload::Json(json!({"action": "accept"})),
        409,
        "illegal_transition",
    ));
    c.push(case(
        Executor,
        "POST",
        &tr_path,
        Payload::Json(json!({"action": "report"})),
        409,
        "illegal_transition",
    ));
    c.push(case(
        Executor,
        "POST",
        &tr_path,
        Payload::Json(json!({"action": "report", "result": "done"})),
        409,
        "illegal_transition",
    ));
    c.push(case(
        Executor,
        "POST",
        &tr_path,
        Payload::Json(json!({"action": "accept", "result": "done"})),
        409,
        "illegal_transition",
    ));
    c.push(field(
        case(
            Executor,
            "POST",
            &tr_path,
            Payload::Json(with(&accept, "private_text", Some(json!("я".repeat(10_001))))),
            422,
            "validation_failed",
        ),
        "private_text",
        "too_long",
    ));

    // --- reference data -------------------------------------------------------------------
    let cat = serde_json::to_value(
        kontakt_appeals::default_categories().into_iter().find(|c| c.code == "water.leak").unwrap(),
    )
    .unwrap();
    body_cases(&mut c, Admin, "PUT", "/api/v1/categories/water.leak", &cat, env);
    c.push(field(
        case(
            Admin,
            "PUT",
            "/api/v1/categories/water.quality",
            Payload::Json(cat.clone()),
            422,
            "validation_failed",
        ),
        "code",
        "mismatch",
    ));
    let orphan = with(
        &with(&cat, "code", Some(json!("nowhere.leak"))),
        "parent_code",
        Some(json!("nowhere")),
    );
    c.push(field(
        case(
            Admin,
            "PUT",
            "/api/v1/categories/nowhere.leak",
            Payload::Json(orphan),
            422,
            "validation_failed",
        ),
        "parent_code",
        "not_found",
    ));
    let sqlish = with(&cat, "code", Some(json!("water.x'; DROP TABLE categories; --")));
    c.push(case(
        Admin,
        "PUT",
        "/api/v1/categories/water.x'%3B%20DROP%20TABLE%20categories%3B%20--",
        Payload::Json(sqlish),
        422,
        "validation_failed",
    ));
    c.push(case(
        Admin,
        "PUT",
        "/api/v1/categories/water.leak",
        Payload::Json(with(&cat, "sla_hours", Some(json!(-1)))),
        422,
        "invalid_body",
    ));
    c.push(case(
        Admin,
        "PUT",
        "/api/v1/categories/water.leak",
        Payload::Json(with(&cat, "attention_pct", Some(json!(300)))),
        422,
        "invalid_body",
    ));
    c.push(case(
        Admin,
        "PUT",
        "/api/v1/categories/water.leak",
        Payload::Json(with(&cat, "sla_hours", Some(json!(100_000)))),
        422,
        "validation_failed",
    ));
    // The tree stays a tree of groups and leaves: no child under a leaf, no leaf with children.
    let deeper = with(
        &with(&cat, "code", Some(json!("water.leak.deep"))),
        "parent_code",
        Some(json!("water.leak")),
    );
    c.push(field(
        case(
            Admin,
            "PUT",
            "/api/v1/categories/water.leak.deep",
            Payload::Json(deeper),
            422,
            "validation_failed",
        ),
        "parent_code",
        "not_a_group",
    ));
    let group = serde_json::to_value(
        kontakt_appeals::default_categories().into_iter().find(|c| c.code == "water").unwrap(),
    )
    .unwrap();
    c.push(field(
        case(
            Admin,
            "PUT",
            "/api/v1/categories/water",
            Payload::Json(with(&group, "is_leaf", Some(json!(true)))),
            422,
            "validation_failed",
        ),
        "is_leaf",
        "mismatch",
    ));
    let executor =
        json!({"code": "new-org", "name_uk": "Нова організація", "name_en": null, "phone": null});
    body_cases(&mut c, Admin, "POST", "/api/v1/executors", &executor, env);
    c.push(field(
        case(
            Admin,
            "POST",
            "/api/v1/executors",
            Payload::Json(with(&executor, "code", Some(json!(" ")))),
            422,
            "validation_failed",
        ),
        "code",
        "invalid",
    ));
    c.push(field(
        case(
            Admin,
            "POST",
            "/api/v1/executors",
            Payload::Json(with(&executor, "code", Some(json!("x".repeat(65))))),
            422,
            "validation_failed",
        ),
        "code",
        "invalid",
    ));
    c.push(field(
        case(
            Admin,
            "POST",
            "/api/v1/executors",
            Payload::Json(with(&executor, "name_uk", Some(json!("")))),
            422,
            "validation_failed",
        ),
        "name_uk",
        "invalid",
    ));
    c.push(case(
        Admin,
        "POST",
        "/api/v1/executors",
        Payload::Json(with(&executor, "code", Some(json!("own-org")))),
        409,
        "conflict",
    ));
    let line = json!({"category_prefix": "roads", "district": null, "building_key": null,
                      "executor_id": env.own_executor, "valid_from": "2026-01-01T00:00:00Z", "valid_to": null});
    body_cases(&mut c, Admin, "POST", "/api/v1/responsibilities", &line, env);
    c.push(case(
        Admin,
        "POST",
        "/api/v1/responsibilities",
        Payload::Json(with(&line, "executor_id", Some(json!(999_999)))),
        422,
        "missing_reference",
    ));
    c.push(field(
        case(
            Admin,
            "POST",
            "/api/v1/responsibilities",
            Payload::Json(with(&line, "category_prefix", Some(json!("  ")))),
            422,
            "validation_failed",
        ),
        "category_prefix",
        "required",
    ));
    c.push(field(
        case(
            Admin,
            "POST",
            "/api/v1/responsibilities",
            Payload::Json(with(&line, "valid_to", Some(json!("2025-01-01T00:00:00Z")))),
            422,
            "validation_failed",
        ),
        "valid_to",
        "out_of_range",
    ));
    for p in ["ROADS", "roads'; DROP TABLE responsibilities; --", "roads..pits", "%", "roads.*"] {
        c.push(field(
            case(
                Admin,
                "POST",
                "/api/v1/responsibilities",
                Payload::Json(with(&line, "category_prefix", Some(json!(p)))),
                422,
                "validation_failed",
            ),
            "category_prefix",
            "invalid_format",
        ));
    }
    c.push(field(
        case(
            Admin,
            "POST",
            "/api/v1/responsibilities",
            Payload::Json(with(&line, "district", Some(json!(" ")))),
            422,
            "validation_failed",
        ),
        "district",
        "required",
    ));

    // --- outages (the field-level rules are in outages.rs) --------------------------------------
    let outage = json!({"kind": "accident", "class": "water", "nature": "Порив",
        "area": [{"street": "Соборна"}], "executor_id": env.own_executor});
    body_cases(&mut c, Supervisor, "POST", "/api/v1/outages", &outage, env);
    c.push(field(
        case(
            Supervisor,
            "POST",
            "/api/v1/outages",
            Payload::Json(with(
                &outage,
                "area",
                Some(json!([{"street": "'; DROP TABLE outages; --",
                "building": "x".repeat(31)}])),
            )),
            422,
            "validation_failed",
        ),
        "area[0].building",
        "too_long",
    ));
    // No outage 999999: the body is checked before the outage is looked up.
    body_cases(&mut c, Supervisor, "POST", "/api/v1/outages/999999/end", &json!({}), env);

    // --- the operator's desk ----------------------------------------------------------------
    // The operator is logged out and has no call: valid requests that need a call are refused
    // by the engine, and nothing changes anywhere.
    let no_call = "0b0e0f00-0000-4000-8000-000000000000";
    let state = json!({"state": "pause", "reason": "break"});
    body_cases(&mut c, Operator, "POST", "/api/v1/desk/state", &state, env);
    for (body, f, code) in [
        (json!({"state": "pause"}), "reason", "required"),
        (json!({"state": "pause", "reason": "nap"}), "reason", "unknown_value"),
        (
            json!({"state": "pause", "reason": "break'; DROP TABLE users; --"}),
            "reason",
            "unknown_value",
        ),
        (json!({"state": "ready", "reason": "break"}), "reason", "not_allowed"),
        (json!({"state": "logout", "reason": "lunch"}), "reason", "not_allowed"),
    ] {
        c.push(field(
            case(
                Operator,
                "POST",
                "/api/v1/desk/state",
                Payload::Json(body),
                422,
                "validation_failed",
            ),
            f,
            code,
        ));
    }
    for st in ["dance", "READY", "", "paused"] {
        c.push(case(
            Operator,
            "POST",
            "/api/v1/desk/state",
            Payload::Json(json!({"state": st})),
            422,
            "invalid_body",
        ));
    }
    let link = format!("/api/v1/desk/calls/{no_call}/link");
    body_cases(&mut c, Operator, "POST", &link, &json!({"outcome": "consultation"}), env);
    let appeal = appeal_body(k.applicant, &["water.leak"]);
    for body in [
        json!({}),
        json!({"appeal_id": k.appeal, "outcome": "consultation"}),
        json!({"outcome": "consultation", "appeal": appeal.clone()}),
        json!({"appeal_id": null, "outcome": null}),
    ] {
        c.push(field(
            case(Operator, "POST", link.clone(), Payload::Json(body), 422, "validation_failed"),
            "appeal_id",
            "exactly_one",
        ));
    }
    c.push(field(
        case(
            Operator,
            "POST",
            link.clone(),
            Payload::Json(json!({"outcome": "sales"})),
            422,
            "validation_failed",
        ),
        "outcome",
        "unknown_value",
    ));
    c.push(field(
        case(
            Operator,
            "POST",
            link.clone(),
            Payload::Json(json!({"appeal_id": 999_999})),
            422,
            "validation_failed",
        ),
        "appeal_id",
        "not_found",
    ));
    c.push(field(
        case(
            Operator,
            "POST",
            link.clone(),
            Payload::Json(json!({"appeal": with(&appeal, "channel", Some(json!("web")))})),
            422,
            "validation_failed",
        ),
        "appeal.channel",
        "invalid",
    ));
    c.push(field(
        case(
            Operator,
            "POST",
            link.clone(),
            Payload::Json(json!({"appeal": with(&appeal, "call_id", Some(json!("another")))})),
            422,
            "validation_failed",
        ),
        "appeal.call_id",
        "mismatch",
    ));
    // Valid, but the call is nobody's: no appeal is registered for it.
    for body in [
        json!({"appeal_id": k.appeal}),
        json!({"outcome": "consultation"}),
        json!({"appeal": appeal.clone()}),
    ] {
        c.push(case(Operator, "POST", link.clone(), Payload::Json(body), 404, "not_found"));
    }
    c.push(case(
        Operator,
        "POST",
        link.clone(),
        Payload::Json(json!({"appeal": {}})),
        422,
        "invalid_body",
    ));
    for bad in ["not%20a%20uuid", "x'--", "..", &"a".repeat(65)] {
        c.push(case(
            Operator,
            "POST",
            format!("/api/v1/desk/calls/{bad}/link"),
            Payload::Json(json!({"outcome": "consultation"})),
            400,
            "invalid_path",
        ));
    }
    body_cases(&mut c, Operator, "POST", "/api/v1/desk/hold", &json!({"hold": true}), env);
    c.push(case(
        Operator,
        "POST",
        "/api/v1/desk/hold",
        Payload::Json(json!({"hold": true})),
        409,
        "no_live_call",
    ));
    body_cases(&mut c, Operator, "POST", "/api/v1/desk/transfer", &json!({"target": "101"}), env);
    c.push(case(
        Operator,
        "POST",
        "/api/v1/desk/transfer",
        Payload::Json(json!({"target": "101"})),
        409,
        "no_live_call",
    ));
    for t in ["911", "", "101; uuid_kill all"] {
        c.push(field(
            case(
                Operator,
                "POST",
                "/api/v1/desk/transfer",
                Payload::Json(json!({"target": t})),
                422,
                "validation_failed",
            ),
            "target",
            "unknown_value",
        ));
    }

    // --- the wall board -----------------------------------------------------------------------
    let op = env.user_id(Operator);
    let agent = format!("/api/v1/wallboard/agents/{op}/state");
    let pause = json!({"state": "pause", "reason": "training"});
    body_cases(&mut c, Supervisor, "POST", &agent, &pause, env);
    // The operator is logged out: the router refuses to pause them.
    c.push(case(Supervisor, "POST", agent.clone(), Payload::Json(pause.clone()), 409, "refused"));
    c.push(field(
        case(
            Supervisor,
            "POST",
            agent.clone(),
            Payload::Json(json!({"state": "pause", "reason": "coffee"})),
            422,
            "validation_failed",
        ),
        "reason",
        "unknown_value",
    ));
    c.push(field(
        case(
            Supervisor,
            "POST",
            agent.clone(),
            Payload::Json(json!({"state": "pause"})),
            422,
            "validation_failed",
        ),
        "reason",
        "required",
    ));
    c.push(case(
        Supervisor,
        "POST",
        "/api/v1/wallboard/agents/999999/state",
        Payload::Json(json!({"state": "ready"})),
        404,
        "not_found",
    ));
    for bad in ["abc", "1.5", "99999999999999999999"] {
        c.push(case(
            Supervisor,
            "POST",
            format!("/api/v1/wallboard/agents/{bad}/state"),
            Payload::Json(json!({"state": "ready"})),
            400,
            "invalid_path",
        ));
    }
    let calls = format!("/api/v1/wallboard/calls/{no_call}");
    body_cases(
        &mut c,
        Supervisor,
        "POST",
        &format!("{calls}/queue"),
        &json!({"queue": "general"}),
        env,
    );
    c.push(case(
        Supervisor,
        "POST",
        format!("{calls}/queue"),
        Payload::Json(json!({"queue": "general"})),
        404,
        "not_found",
    ));
    c.push(field(
        case(
            Supervisor,
            "POST",
            format!("{calls}/queue"),
            Payload::Json(json!({"queue": "vip"})),
            422,
            "validation_failed",
        ),
        "queue",
        "unknown_value",
    ));
    body_cases(
        &mut c,
        Supervisor,
        "POST",
        &format!("{calls}/priority"),
        &json!({"priority": 5}),
        env,
    );
    for p in [json!(256), json!(-1), json!(1.5), json!("9")] {
        c.push(case(
            Supervisor,
            "POST",
            format!("{calls}/priority"),
            Payload::Json(json!({"priority": p})),
            422,
            "invalid_body",
        ));
    }
    c.push(case(
        Supervisor,
        "POST",
        format!("{calls}/priority"),
        Payload::Json(json!({"priority": 5})),
        404,
        "not_found",
    ));
    body_cases(
        &mut c,
        Supervisor,
        "POST",
        &format!("{calls}/eavesdrop"),
        &json!({"mode": "listen"}),
        env,
    );
    for m in ["shout", "LISTEN", ""] {
        c.push(case(
            Supervisor,
            "POST",
            format!("{calls}/eavesdrop"),
            Payload::Json(json!({"mode": m})),
            422,
            "invalid_body",
        ));
    }
    c.push(case(
        Supervisor,
        "POST",
        format!("{calls}/eavesdrop"),
        Payload::Json(json!({"mode": "barge"})),
        404,
        "not_found",
    ));
    for (action, body) in [
        ("queue", json!({"queue": "general"})),
        ("priority", json!({"priority": 1})),
        ("eavesdrop", json!({"mode": "listen"})),
    ] {
        c.push(case(
            Supervisor,
            "POST",
            format!("/api/v1/wallboard/calls/bad%20id/{action}"),
            Payload::Json(body),
            400,
            "invalid_path",
        ));
    }

    // --- the feed (these requests carry the cookie; no handshake is made) --------------------
    for q in [
        "resume=abc",
        "resume=abc:-1",
        "resume=:5",
        "resume=abc:1:2",
        "view=nope",
        "bogus=1",
        "ack=everything",
        "view=desk&ack=pops",
    ] {
        c.push(case(
            Operator,
            "GET",
            format!("/api/v1/feed?{q}"),
            Payload::None,
            400,
            "invalid_query",
        ));
    }
    c.push(case(Operator, "GET", "/api/v1/feed", Payload::None, 403, "origin_mismatch"));
    c.push(case(Controller, "GET", "/api/v1/feed", Payload::None, 403, "forbidden"));

    // --- unknown routes and methods ------------------------------------------------------
    c.push(case(Admin, "GET", "/api/v1/nothing-here", Payload::None, 404, "not_found"));
    c.push(case(Admin, "GET", "/api/v2/appeals", Payload::None, 404, "not_found"));
    for (method, path) in [
        ("DELETE", format!("/api/v1/appeals/{}", k.appeal)),
        ("PUT", format!("/api/v1/appeals/{}", k.appeal)),
        ("PATCH", "/api/v1/users".to_string()),
        ("POST", "/api/v1/categories".to_string()),
        ("GET", "/api/v1/auth/login".to_string()),
        ("DELETE", format!("/api/v1/assignments/{}", k.assignment)),
        ("GET", "/api/v1/desk/state".to_string()),
        ("PUT", "/api/v1/desk".to_string()),
        ("DELETE", "/api/v1/wallboard".to_string()),
        ("POST", "/api/v1/feed".to_string()),
        ("POST", "/metrics".to_string()),
        ("POST", "/health".to_string()),
    ] {
        c.push(case(Admin, method, path, Payload::None, 405, "method_not_allowed"));
    }
    c
}

fn build(env: &Env, c: &Case) -> Request<Body> {
    match &c.send {
        Payload::None => env.request(&Who::Role(c.who), c.method, &c.path, None),
        Payload::Json(v) => env.request(&Who::Role(c.who), c.method, &c.path, Some(v.clone())),
        Payload::Raw(ct, bytes) => {
            let mut req = env.request(&Who::Role(c.who), c.method, &c.path, None);
            req.headers_mut().insert(header::CONTENT_TYPE, ct.parse().unwrap());
            *req.body_mut() = Body::from(bytes.clone());
            req
        }
    }
}

const SQL_WORDS: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE ",
    "DELETE",
    "sqlx",
    "SQLITE",
    "syntax error",
    "relation \"",
    "constraint",
];

async fn every_endpoint_refuses_bad_input_and_changes_nothing(env: &Env) {
    let k = known(env).await;
    let all = cases(env, &k);
    let mut failures = Vec::new();
    let mut before = snapshot(env, &k).await;
    for c in &all {
        let r = env.send(build(env, c)).await;
        let s = r.status.as_u16();
        let message = r.body["error"]["message"].as_str().unwrap_or("").to_string();
        let what = format!(
            "{} {} as {}",
            c.method,
            c.path.chars().take(100).collect::<String>(),
            c.who.as_str()
        );
        if s != c.status || r.code() != c.code {
            failures.push(format!(
                "{what}: expected {} {}, got {s} {}",
                c.status,
                c.code,
                r.body.to_string().chars().take(400).collect::<String>()
            ));
        }
        if let Some((f, code)) = c.field
            && !r.field_codes().iter().any(|(rf, rc)| rf == f && rc == code)
        {
            failures.push(format!(
                "{what}: expected field error {f}/{code}, got {:?}",
                r.field_codes()
            ));
        }
        if !crate::openapi::ERROR_CODES.contains(&r.code()) {
            failures.push(format!("{what}: error code {:?} is not documented", r.code()));
        }
        if let Some(w) =
            SQL_WORDS.iter().find(|w| message.to_lowercase().contains(&w.to_lowercase()))
        {
            failures.push(format!("{what}: the message shows SQL ({w}): {message}"));
        }
        let after = snapshot(env, &k).await;
        if after != before {
            let diff: Vec<_> = before
                .iter()
                .zip(&after)
                .filter(|(b, a)| b != a)
                .map(|(b, a)| format!("  before {b}\n  after  {a}"))
                .collect();
            failures.push(format!("{what}: stored data changed:\n{}", diff.join("\n")));
            before = after;
        }
    }
    assert!(all.len() > 250, "{} cases", all.len());
    assert!(
        failures.is_empty(),
        "{} of {} bad requests misbehaved:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

async fn sql_metacharacters_are_plain_text(env: &Env) {
    // Names allow letters, spaces, hyphens and apostrophes: the apostrophe is SQL's quote.
    let name = "О'Браєн-Д'Арк";
    let street = "вул. 'Соборна'; DROP TABLE applicants; -- 100% _ \\";
    let a = env
        .ok(
            Role::Operator,
            "POST",
            "/api/v1/applicants",
            Some(json!({"last_name": name, "first_name": "Роберт", "phones": ["0631234567"],
                        "address": {"street": street, "building": "1'--"}})),
            201,
        )
        .await;
    assert_eq!(a["last_name"], name);
    let id = a["id"].as_i64().unwrap();
    let back = env.ok(Role::Operator, "GET", &format!("/api/v1/applicants/{id}"), None, 200).await;
    assert_eq!(back["last_name"], name);
    assert_eq!(back["address"]["street"], street);
    assert_eq!(back["address"]["building"], "1'--");
    let other = new_applicant(env, "0501234567").await;
    let search = |q: &str| format!("/api/v1/applicants?name={}", enc(q));
    // The exact text finds it; wildcards and injections find nothing else.
    let found = env.ok(Role::Operator, "GET", &search("Браєн-Д'"), None, 200).await;
    assert_eq!(ids(&found), vec![id]);
    for q in ["%", "_", "' OR '1'='1", "\\", "%' --", "ш%о", "'"] {
        let found = env.ok(Role::Operator, "GET", &search(q), None, 200).await;
        assert!(!ids(&found).contains(&other["id"].as_i64().unwrap()), "{q}: {found}");
    }
    for q in ["%", "_", "' OR 1=1 --"] {
        let addr = env
            .ok(Role::Operator, "GET", &format!("/api/v1/applicants?address={}", enc(q)), None, 200)
            .await;
        assert_eq!(ids(&addr), Vec::<i64>::new(), "{q}");
    }

    // In an appeal's description, and the text filter of the list.
    route_to(env, "water", env.own_executor).await;
    let mut body = appeal_body(id, &["water.leak"]);
    let desc = "Тече'); DELETE FROM appeals; -- 100% _ \\ \"";
    body["questions"][0]["description"] = json!(desc);
    body["call_id"] = json!("call' OR 1=1 --");
    let reg = env.ok(Role::Operator, "POST", "/api/v1/appeals", Some(body), 201).await;
    assert_eq!(reg["appeal"]["questions"][0]["description"], desc);
    assert_eq!(reg["appeal"]["call_id"], "call' OR 1=1 --");
    env.ok(
        Role::Operator,
        "POST",
        "/api/v1/appeals",
        Some(appeal_body(other["id"].as_i64().unwrap(), &["water.leak"])),
        201,
    )
    .await;
    let list = |q: &str| format!("/api/v1/appeals?text={}", enc(q));
    let page =
        env.ok(Role::Operator, "GET", &list("DELETE FROM appeals; -- 100% _"), None, 200).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    for q in ["' OR '1'='1", "%", "_", "\\%"] {
        let page = env.ok(Role::Operator, "GET", &list(q), None, 200).await;
        let n = page["items"].as_array().unwrap().len();
        assert!(n <= 1, "{q} matched {n}");
    }
    let page = env
        .ok(
            Role::Operator,
            "GET",
            &format!("/api/v1/appeals?category={}", enc("water%")),
            None,
            200,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
    let page = env
        .ok(
            Role::Operator,
            "GET",
            &format!("/api/v1/appeals?category={}", enc("water.")),
            None,
            200,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(env.store.count_appeals().await.unwrap(), 2);

    // Executor names and the timeline's texts.
    let ex = env
        .ok(
            Role::Admin,
            "POST",
            "/api/v1/executors",
            Some(json!({"code": "x'--", "name_uk": "ТОВ \"Ремонт'; DROP TABLE executors;--\""})),
            201,
        )
        .await;
    assert_eq!(ex["name_uk"], "ТОВ \"Ремонт'; DROP TABLE executors;--\"");
    let assignment = reg["appeal"]["questions"][0]["assignments"][0]["id"].as_i64().unwrap();
    env.ok(Role::Executor, "POST", &format!("/api/v1/assignments/{assignment}/transition"),
        Some(json!({"action": "accept", "public_text": "'; UPDATE assignments SET state='closed'; --"})), 200).await;
    let tl = env
        .ok(
            Role::Operator,
            "GET",
            &format!("/api/v1/appeals/{}/timeline", reg["appeal"]["id"]),
            None,
            200,
        )
        .await;
    assert!(
        tl.as_array()
            .unwrap()
            .iter()
            .any(|t| t["public_text"] == "'; UPDATE assignments SET state='closed'; --")
    );
    let a = env
        .ok(Role::Operator, "GET", &format!("/api/v1/assignments/{assignment}"), None, 200)
        .await;
    assert_eq!(a["state"], "in_work");
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect()
}

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
