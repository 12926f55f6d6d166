//! Outages through the API: registered by supervisors and executors (for their own
//! organisation), found by address in any common spelling, ended once, every change audited,
//! and bad input refused with stable codes, changing nothing.

use chrono::{Duration, Utc};
use kontakt_store::Role::{self, Admin, Controller, Executor, Operator, Supervisor};
use serde_json::{Value, json};

use crate::harness::*;

crate::on_both_backends!(
    outages_are_registered_found_by_address_and_ended,
    outages_refuse_bad_input_and_change_nothing,
);

/// A field error a refusal must name: (field, code).
type FieldCode = Option<(&'static str, &'static str)>;

fn water_main() -> Value {
    json!({
        "kind": "accident",
        "class": "water",
        "nature": "Порив водогону Д-300",
        "area": [{"street": "вулиця Перемоги"}, {"street": "просп. Соборний", "building": "7а"}],
        "planned_end_at": (Utc::now() + Duration::hours(6)).to_rfc3339(),
        "public_message": "Воду подадуть до 18:00",
    })
}

async fn ids(env: &Env, role: Role, query: &str) -> Vec<i64> {
    let list = env.ok(role, "GET", &format!("/api/v1/outages{query}"), None, 200).await;
    list.as_array().unwrap().iter().map(|o| o["id"].as_i64().unwrap()).collect()
}

async fn audit_entries(env: &Env) -> Vec<Value> {
    let a = env.ok(Admin, "GET", "/api/v1/audit?limit=1000", None, 200).await;
    a.as_array().unwrap().clone()
}

async fn outages_are_registered_found_by_address_and_ended(env: &Env) {
    // A supervisor registers an accident: a whole street and one building of another.
    let o = env.ok(Supervisor, "POST", "/api/v1/outages", Some(water_main()), 201).await;
    let id = o["id"].as_i64().unwrap();
    assert_eq!(o["kind"], "accident");
    assert_eq!(o["class"], "water");
    assert_eq!(o["active"], true);
    assert_eq!(o["ended_at"], Value::Null);
    assert_eq!(o["created_by"], env.user_id(Supervisor));
    assert_eq!(o["area"][0], json!({"street": "вулиця Перемоги", "building": null}));
    assert_eq!(o["area"][1], json!({"street": "просп. Соборний", "building": "7а"}));
    assert_eq!(o["public_message"], "Воду подадуть до 18:00");

    // An executor registers for its own organisation, and for no other.
    let mut heat = json!({"kind": "planned_work", "class": "heating",
        "nature": "Гідравлічні випробування", "area": [{"street": "Шевченка", "building": "3"}]});
    let theirs = env.ok(Executor, "POST", "/api/v1/outages", Some(heat.clone()), 201).await;
    assert_eq!(theirs["executor_id"], env.own_executor);
    heat["executor_id"] = json!(env.other_executor);
    let r = env.call(&Who::Role(Executor), "POST", "/api/v1/outages", Some(heat)).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"), "{}", r.body);
    // Operators read outages; they do not register them.
    let r = env.call(&Who::Role(Operator), "POST", "/api/v1/outages", Some(water_main())).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"));

    // Found by address however it is spelt: a street-wide outage covers every building.
    let q = "?active=true&street=%D0%9F%D0%B5%D1%80%D0%B5%D0%BC%D0%BE%D0%B3%D0%B8%20%D0%B2%D1%83%D0%BB.&building=12";
    assert_eq!(ids(env, Operator, q).await, [id]); // "Перемоги вул.", 12
    // A building's outage covers that building only ("Соборний" 7-А, not 7).
    let soborny = "street=%D0%A1%D0%BE%D0%B1%D0%BE%D1%80%D0%BD%D0%B8%D0%B9";
    assert_eq!(ids(env, Controller, &format!("?{soborny}&building=7-%D0%90")).await, [id]);
    assert!(ids(env, Controller, &format!("?{soborny}&building=7")).await.is_empty());
    assert_eq!(ids(env, Executor, &format!("?{soborny}")).await, [id]);
    assert_eq!(
        ids(env, Operator, &format!("?executor_id={}", env.own_executor)).await,
        [theirs["id"].as_i64().unwrap()]
    );

    // Ending: not another organisation's; once; then it covers nothing.
    let r = env
        .call(&Who::Role(Executor), "POST", &format!("/api/v1/outages/{id}/end"), Some(json!({})))
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"), "{}", r.body);
    let ended = env
        .ok(Supervisor, "POST", &format!("/api/v1/outages/{id}/end"), Some(json!({})), 200)
        .await;
    assert_eq!(ended["active"], false);
    assert!(ended["ended_at"].is_string(), "{ended}");
    let r = env
        .call(&Who::Role(Admin), "POST", &format!("/api/v1/outages/{id}/end"), Some(json!({})))
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "already_ended"), "{}", r.body);
    assert!(ids(env, Operator, q).await.is_empty());
    // Still listed without `active`.
    assert!(ids(env, Admin, "").await.contains(&id));

    // Each registration and end is audited with who did it.
    let all = audit_entries(env).await;
    let entry = |action: &str, subject: i64| {
        all.iter()
            .find(|e| e["action"] == action && e["subject_id"] == subject.to_string().as_str())
            .unwrap_or_else(|| panic!("no {action} of {subject}: {all:?}"))
            .clone()
    };
    let created = entry("create_outage", id);
    assert_eq!(created["user_id"], env.user_id(Supervisor));
    assert_eq!(created["subject_kind"], "outage");
    let detail: Value = serde_json::from_str(created["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["places"], 2);
    assert_eq!(
        entry("create_outage", theirs["id"].as_i64().unwrap())["user_id"],
        env.user_id(Executor)
    );
    assert_eq!(entry("end_outage", id)["user_id"], env.user_id(Supervisor));
    let ends = all.iter().filter(|e| e["action"] == "end_outage").count();
    assert_eq!(ends, 1, "refused ends are not audited");
}

async fn outages_refuse_bad_input_and_change_nothing(env: &Env) {
    let started = env.ok(Supervisor, "POST", "/api/v1/outages", Some(water_main()), 201).await;
    let id = started["id"].as_i64().unwrap();
    let before = (ids(env, Admin, "").await, audit_entries(env).await.len());
    let with = |key: &str, v: Value| {
        let mut b = water_main();
        b[key] = v;
        b
    };
    let future = (Utc::now() + Duration::hours(2)).to_rfc3339();
    let past = (Utc::now() - Duration::days(2)).to_rfc3339();
    // (body, status, code, field error)
    let posts: Vec<(Value, u16, &str, FieldCode)> = vec![
        (with("area", json!([])), 422, "validation_failed", Some(("area", "required"))),
        (
            with("area", json!([{"street": " "}])),
            422,
            "validation_failed",
            Some(("area[0].street", "required")),
        ),
        (
            with("area", json!([{"street": "Соборна"}, {"street": "вул. Соборна"}])),
            422,
            "validation_failed",
            Some(("area[1]", "duplicate")),
        ),
        (with("nature", json!("   ")), 422, "validation_failed", Some(("nature", "required"))),
        (
            with("nature", json!("x".repeat(1001))),
            422,
            "validation_failed",
            Some(("nature", "too_long")),
        ),
        (
            with("started_at", json!(future)),
            422,
            "validation_failed",
            Some(("started_at", "in_future")),
        ),
        (
            with("planned_end_at", json!(past)),
            422,
            "validation_failed",
            Some(("planned_end_at", "out_of_range")),
        ),
        (with("executor_id", json!(999_999)), 422, "missing_reference", None),
        (with("kind", json!("flood")), 422, "invalid_body", None),
        (with("class", json!("internet")), 422, "invalid_body", None),
        (with("colour", json!("red")), 422, "invalid_body", None),
        (with("area", json!([{"street": "Соборна", "flat": "1"}])), 422, "invalid_body", None),
    ];
    let mut failures = Vec::new();
    for (body, status, code, field) in posts {
        let r =
            env.call(&Who::Role(Supervisor), "POST", "/api/v1/outages", Some(body.clone())).await;
        let field_ok = field.is_none_or(|(f, c)| r.field_codes().contains(&(f.into(), c.into())));
        if r.status.as_u16() != status || r.code() != code || !field_ok {
            failures.push(format!(
                "POST {body}: expected {status} {code} {field:?}, got {} {}",
                r.status, r.body
            ));
        }
    }
    let gets: &[(&str, u16, &str, FieldCode)] = &[
        ("?building=12", 422, "validation_failed", Some(("street", "required"))),
        ("?limit=0", 422, "validation_failed", Some(("limit", "out_of_range"))),
        ("?limit=501", 422, "validation_failed", Some(("limit", "out_of_range"))),
        ("?active=maybe", 400, "invalid_query", None),
        ("?near=here", 400, "invalid_query", None),
    ];
    for (query, status, code, field) in gets {
        let r =
            env.call(&Who::Role(Operator), "GET", &format!("/api/v1/outages{query}"), None).await;
        let field_ok = field.is_none_or(|(f, c)| r.field_codes().contains(&(f.into(), c.into())));
        if r.status.as_u16() != *status || r.code() != *code || !field_ok {
            failures.push(format!(
                "GET {query}: expected {status} {code}, got {} {}",
                r.status, r.body
            ));
        }
    }
    let long_street = format!("?street={}", "x".repeat(201));
    let r =
        env.call(&Who::Role(Operator), "GET", &format!("/api/v1/outages{long_street}"), None).await;
    assert!(r.field_codes().contains(&("street".into(), "too_long".into())), "{}", r.body);
    let ends: Vec<(String, Value, u16, &str, FieldCode)> = vec![
        (
            format!("{id}"),
            json!({"ended_at": past}),
            422,
            "validation_failed",
            Some(("ended_at", "out_of_range")),
        ),
        (
            format!("{id}"),
            json!({"ended_at": future}),
            422,
            "validation_failed",
            Some(("ended_at", "in_future")),
        ),
        (format!("{id}"), json!({"when": "now"}), 422, "invalid_body", None),
        ("999999".into(), json!({}), 404, "not_found", None),
        ("abc".into(), json!({}), 400, "invalid_path", None),
    ];
    for (path_id, body, status, code, field) in ends {
        let path = format!("/api/v1/outages/{path_id}/end");
        let r = env.call(&Who::Role(Supervisor), "POST", &path, Some(body.clone())).await;
        let field_ok = field.is_none_or(|(f, c)| r.field_codes().contains(&(f.into(), c.into())));
        if r.status.as_u16() != status || r.code() != code || !field_ok {
            failures.push(format!(
                "POST {path} {body}: expected {status} {code}, got {} {}",
                r.status, r.body
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let after = (ids(env, Admin, "").await, audit_entries(env).await.len());
    assert_eq!(after, before, "refused requests store nothing and audit nothing");
    let still = env.ok(Admin, "GET", "/api/v1/outages?active=true", None, 200).await;
    assert!(still.as_array().unwrap().iter().any(|o| o["id"] == id && o["active"] == true));
}
