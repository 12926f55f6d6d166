//! Issue 2, acceptance: an applicant by a local phone number, a phone appeal with two
//! questions auto-routed by the responsibility map, one assignment through its whole lifecycle,
//! and the timeline and deadlines checked against values computed here, independently.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Kyiv;
use kontakt_store::Role;
use serde_json::{Value, json};

use crate::harness::*;

crate::on_both_backends!(
    appeal_lifecycle_end_to_end,
    legal_term_of_a_short_appeal_and_month_end,
    the_category_tree_grows_through_the_api,
);

fn ts(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}")))
        .unwrap()
        .with_timezone(&Utc)
}

/// 23:59:59.999 Kyiv time on `date`, in UTC: written out here rather than taken from the
/// deadline module, so a mistake there cannot cancel out.
fn kyiv_end_of_day(date: NaiveDate) -> DateTime<Utc> {
    let t = date.and_time(NaiveTime::from_hms_milli_opt(23, 59, 59, 999).unwrap());
    Kyiv.from_local_datetime(&t).single().unwrap().with_timezone(&Utc)
}

fn kyiv_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&Kyiv).date_naive()
}

/// Art. 20: 15 days, or one month when a question needs study; same day number next month,
/// clamped to that month's last day.
fn expected_legal_due(received: DateTime<Utc>, general: bool) -> DateTime<Utc> {
    let d = kyiv_date(received);
    let due = if general {
        let (y, m) = if d.month() == 12 { (d.year() + 1, 1) } else { (d.year(), d.month() + 1) };
        let mut day = d.day();
        loop {
            if let Some(x) = NaiveDate::from_ymd_opt(y, m, day) {
                break x;
            }
            day -= 1;
        }
    } else {
        d + Duration::days(15)
    };
    kyiv_end_of_day(due)
}

fn category<'a>(categories: &'a [Value], code: &str) -> &'a Value {
    categories.iter().find(|c| c["code"] == code).unwrap_or_else(|| panic!("no category {code}"))
}

async fn transition(env: &Env, who: Role, id: i64, body: Value) -> Value {
    env.ok(who, "POST", &format!("/api/v1/assignments/{id}/transition"), Some(body), 200).await
}

async fn appeal_lifecycle_end_to_end(env: &Env) {
    // Reference data through the API: two organisations, two lines of the map.
    let water = executor_for(env, "vodokanal", "water").await;
    let heating = executor_for(env, "teplo", "heating").await;
    // The executor account of the water company.
    let worker = env
        .ok(
            Role::Admin,
            "POST",
            "/api/v1/users",
            Some(json!({"username": "vodokanal.worker", "display_name": "Бригадир",
                        "role": "executor", "password": PASSWORD, "executor_id": water})),
            201,
        )
        .await;
    assert_eq!(worker["executor_id"], water);
    let worker = Who::Session(env.login("vodokanal.worker", PASSWORD).await);

    // An applicant by a local phone number, found again by another local form.
    let applicant = new_applicant(env, "0501234567").await;
    assert_eq!(applicant["phones"], json!(["+380501234567"]));
    let found = env
        .ok(
            Role::Operator,
            "GET",
            "/api/v1/applicants?phone=%2B380%2050%20123%2045%2067",
            None,
            200,
        )
        .await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["id"], applicant["id"]);
    let applicant_id = applicant["id"].as_i64().unwrap();

    let categories = env.ok(Role::Operator, "GET", "/api/v1/categories", None, 200).await;
    let categories = categories.as_array().unwrap();
    let leak = category(categories, "water.leak");
    let billing = category(categories, "heating.billing");
    assert_eq!(billing["legal_track"], "art20_general");
    assert!(leak["sla_hours"].as_u64().is_some());

    // A phone appeal with two questions in different categories.
    let before = Utc::now();
    let reg = env
        .ok(
            Role::Operator,
            "POST",
            "/api/v1/appeals",
            Some(appeal_body(applicant_id, &["water.leak", "heating.billing"])),
            201,
        )
        .await;
    let after = Utc::now();
    let appeal = &reg["appeal"];
    let appeal_id = appeal["id"].as_i64().unwrap();
    let reg_no = appeal["reg_no"].as_str().unwrap();
    let year = kyiv_date(ts(&appeal["registered_at"])).year();
    assert_eq!(reg_no, format!("{year}-000001"));
    assert_eq!(appeal["channel"], "phone");
    assert_eq!(appeal["operator_id"], env.user_id(Role::Operator));
    let registered = ts(&appeal["registered_at"]);
    let received = ts(&appeal["received_at"]);
    assert!(before - Duration::seconds(1) <= registered && registered <= after);
    assert_eq!(received, registered, "received_at defaults to the registration time");

    // Deadlines: one general-track question makes the whole appeal a one-month one.
    let legal = expected_legal_due(received, true);
    assert_eq!(ts(&appeal["legal_due_at"]), legal);
    let qs = appeal["questions"].as_array().unwrap();
    assert_eq!(qs.len(), 2);
    let (q_leak, q_billing) = (&qs[0], &qs[1]);
    assert_eq!(q_leak["category_code"], "water.leak");
    assert_eq!(q_leak["number"], format!("{reg_no}/1"));
    assert_eq!(q_billing["number"], format!("{reg_no}/2"));
    let leak_sla = registered + Duration::hours(leak["sla_hours"].as_i64().unwrap());
    assert_eq!(ts(&q_leak["sla_due_at"]), leak_sla.min(legal));
    // No SLA hours: the legal term is the service term.
    assert!(billing["sla_hours"].is_null());
    assert_eq!(ts(&q_billing["sla_due_at"]), legal);
    assert_eq!(q_leak["deadline_status"], "on_time");
    // Attention at 75 % of the window from registration to the SLA due time.
    let window = ts(&q_leak["sla_due_at"]) - registered;
    let pct = leak["attention_pct"].as_i64().unwrap();
    assert_eq!(pct, 75);
    assert_eq!(
        ts(&q_leak["attention_at"]),
        registered + Duration::milliseconds(window.num_milliseconds() * pct / 100)
    );

    // Both auto-routed by the map.
    let a_leak = &q_leak["assignments"][0];
    let a_billing = &q_billing["assignments"][0];
    assert_eq!(q_leak["assignments"].as_array().unwrap().len(), 1);
    assert_eq!(a_leak["executor_id"], water);
    assert_eq!(a_billing["executor_id"], heating);
    assert_eq!(a_leak["state"], "registered");
    assert_eq!(ts(&a_leak["due_at"]), ts(&q_leak["sla_due_at"]));
    let id = a_leak["id"].as_i64().unwrap();

    // The executor sees its own assignment and not the other one.
    let r = env.call(&worker, "GET", &format!("/api/v1/assignments/{id}"), None).await;
    r.expect(200);
    let other = a_billing["id"].as_i64().unwrap();
    let r = env.call(&worker, "GET", &format!("/api/v1/assignments/{other}"), None).await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "not_found"));

    // The lifecycle, each step by the role the rules name.
    let path = format!("/api/v1/assignments/{id}/transition");
    let step = |body: Value| {
        let req = env.request(&worker, "POST", &path, Some(body));
        env.send(req)
    };
    let s = step(json!({"action": "accept", "expected_version": a_leak["version"]})).await;
    let s = s.expect(200).clone();
    assert_eq!(s["state"], "in_work");
    assert!(s["accepted_at"].is_string());
    let s = step(json!({"action": "report", "result": "done",
                        "public_text": "Витік усунено", "expected_version": s["version"]}))
    .await;
    let s = s.expect(200).clone();
    assert_eq!((s["state"].as_str(), s["result"].as_str()), (Some("on_check"), Some("done")));
    // An executor cannot confirm its own work.
    let r = step(json!({"action": "confirm"})).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "illegal_transition"));
    let issued = ts(&s["issued_at"]);
    let first_due = ts(&s["due_at"]);
    let before_reject = Utc::now() - Duration::milliseconds(1);
    let s = transition(
        env,
        Role::Controller,
        id,
        json!({"action": "reject", "public_text": "Заявник каже: тече далі",
               "private_text": "дзвонили о 10:15", "expected_version": s["version"]}),
    )
    .await;
    let after_reject = Utc::now();
    assert_eq!(s["state"], "rework");
    assert_eq!(s["rework_count"], 1);
    // Rework: a new window from the rejection, half the original one but at least 24 hours.
    let rework_window = ((first_due - issued) / 2).max(Duration::hours(24));
    let due = ts(&s["due_at"]);
    assert!(
        before_reject + rework_window <= due && due <= after_reject + rework_window,
        "rework due {due}, window {rework_window}"
    );
    let s = step(json!({"action": "report", "result": "done", "public_text": "Замінено засувку"}))
        .await;
    let s = s.expect(200).clone();
    assert_eq!(s["state"], "on_check");
    let s = transition(env, Role::Controller, id, json!({"action": "confirm"})).await;
    assert_eq!(s["state"], "closed");
    assert_eq!(s["result"], "done");
    assert!(s["closed_at"].is_string());
    // Closed is final.
    let r = env
        .call(&Who::Role(Role::Controller), "POST", &path, Some(json!({"action": "reject"})))
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "illegal_transition"));

    // The timeline: every step, who did it, from and to.
    let tl = env
        .ok(Role::Supervisor, "GET", &format!("/api/v1/appeals/{appeal_id}/timeline"), None, 200)
        .await;
    let tl = tl.as_array().unwrap();
    let operator = env.user_id(Role::Operator);
    let controller = env.user_id(Role::Controller);
    let rows = serde_json::to_string_pretty(tl).unwrap();
    let registered_rows: Vec<_> = tl.iter().filter(|t| t["kind"] == "registered").collect();
    assert_eq!(registered_rows.len(), 1, "{rows}");
    assert_eq!(registered_rows[0]["actor_user_id"], operator);
    assert_eq!(registered_rows[0]["actor_kind"], "operator");
    let assigned: Vec<_> = tl.iter().filter(|t| t["kind"] == "assigned").collect();
    assert_eq!(assigned.len(), 2, "one per routed question: {rows}");
    assert!(
        assigned.iter().all(|t| t["to_state"] == "registered" && t["actor_user_id"] == operator)
    );
    let routed: BTreeSet<i64> =
        assigned.iter().map(|t| t["assignment_id"].as_i64().unwrap()).collect();
    assert_eq!(routed, BTreeSet::from([id, a_billing["id"].as_i64().unwrap()]));
    let steps: Vec<_> = tl
        .iter()
        .filter(|t| t["kind"] == "transition" && t["assignment_id"] == id)
        .map(|t| {
            (
                t["actor_kind"].as_str().unwrap().to_string(),
                t["from_state"].as_str().unwrap_or("").to_string(),
                t["to_state"].as_str().unwrap_or("").to_string(),
                t["result"].as_str().map(String::from),
                t["actor_user_id"].as_i64(),
            )
        })
        .collect();
    let w = |s: &str| s.to_string();
    let worker_user = match &worker {
        Who::Session(l) => l.user_id,
        _ => unreachable!(),
    };
    assert_eq!(
        steps,
        vec![
            (w("executor"), w("registered"), w("in_work"), None, Some(worker_user)),
            (w("executor"), w("in_work"), w("on_check"), Some(w("done")), Some(worker_user)),
            (w("controller"), w("on_check"), w("rework"), None, Some(controller)),
            (w("executor"), w("rework"), w("on_check"), Some(w("done")), Some(worker_user)),
            (w("controller"), w("on_check"), w("closed"), Some(w("done")), Some(controller)),
        ]
    );
    // Timeline order is chronological and texts are kept.
    let times: Vec<_> = tl.iter().map(|t| ts(&t["created_at"])).collect();
    assert!(times.windows(2).all(|p| p[0] <= p[1]), "{times:?}");
    let reject = tl.iter().find(|t| t["to_state"] == "rework").unwrap();
    assert_eq!(reject["public_text"], "Заявник каже: тече далі");
    assert_eq!(reject["private_text"], "дзвонили о 10:15");
    // The executor sees the public text but not the staff's private note.
    let r = env.call(&worker, "GET", &format!("/api/v1/appeals/{appeal_id}/timeline"), None).await;
    let etl = r.expect(200).as_array().unwrap().clone();
    assert_eq!(etl.len(), tl.len());
    assert!(etl.iter().all(|t| t["private_text"].is_null()), "{etl:?}");
    assert!(etl.iter().any(|t| t["public_text"] == "Заявник каже: тече далі"));

    // The appeal read back: same deadlines, the question closed on time.
    let back =
        env.ok(Role::Controller, "GET", &format!("/api/v1/appeals/{appeal_id}"), None, 200).await;
    assert_eq!(back["legal_due_at"], appeal["legal_due_at"]);
    assert_eq!(back["questions"][0]["sla_due_at"], q_leak["sla_due_at"]);
    assert_eq!(back["questions"][0]["deadline_status"], "closed_on_time");
    assert_eq!(back["questions"][0]["assignments"][0]["state"], "closed");
    assert_eq!(back["questions"][1]["assignments"][0]["state"], "registered");
    let by_no = env
        .ok(Role::Operator, "GET", &format!("/api/v1/appeals/by-number/{reg_no}"), None, 200)
        .await;
    assert_eq!(by_no["id"], appeal_id);
    // Lists: by applicant, by executor, by state.
    let page = env
        .ok(
            Role::Operator,
            "GET",
            &format!("/api/v1/appeals?applicant_id={applicant_id}"),
            None,
            200,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let page = env.call(&worker, "GET", "/api/v1/appeals", None).await;
    assert_eq!(page.expect(200)["items"][0]["id"], appeal_id);

    // Art. 20 extension: only with a notice, up to 45 days from receipt, end of the Kyiv day.
    let ext = format!("/api/v1/appeals/{appeal_id}/extend");
    let wanted = received + Duration::days(40);
    let body = json!({"extended_due_at": wanted, "notice_sent_at": Utc::now()});
    let r = env.call(&worker, "POST", &ext, Some(body.clone())).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"));
    let extended = env.ok(Role::Controller, "POST", &ext, Some(body), 200).await;
    let expected = kyiv_end_of_day(kyiv_date(received) + Duration::days(40));
    assert_eq!(ts(&extended["extended_due_at"]), expected);
    assert_eq!(extended["legal_due_at"], appeal["legal_due_at"], "the original term is kept");
    assert!(extended["extension_notice_sent_at"].is_string());
    let too_far =
        json!({"extended_due_at": received + Duration::days(46), "notice_sent_at": Utc::now()});
    let r = env.call(&Who::Role(Role::Controller), "POST", &ext, Some(too_far)).await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "validation_failed"));
    assert_eq!(
        r.field_codes(),
        vec![("extended_due_at".to_string(), "extension_beyond_maximum".to_string())]
    );
    let tl = env
        .ok(Role::Supervisor, "GET", &format!("/api/v1/appeals/{appeal_id}/timeline"), None, 200)
        .await;
    let ext_rows: Vec<_> =
        tl.as_array().unwrap().iter().filter(|t| t["kind"] == "deadline_extended").collect();
    assert_eq!(ext_rows.len(), 1);
    assert_eq!(ext_rows[0]["actor_user_id"], controller);

    // Art. 8: the same applicant, category and address again after an answer on the merits is a
    // repeat: flagged, and not routed straight to the executor.
    let again = env
        .ok(
            Role::Operator,
            "POST",
            "/api/v1/appeals",
            Some(appeal_body(applicant_id, &["water.leak"])),
            201,
        )
        .await;
    let a = &again["appeal"];
    assert_eq!(a["repeat_of"], appeal_id, "{a}");
    assert_eq!(a["questions"][0]["repeat_of"], q_leak["id"]);
    assert_eq!(a["questions"][0]["assignments"], json!([]));
    // An open question at the same building and category is a duplicate candidate.
    let third = env
        .ok(
            Role::Operator,
            "POST",
            "/api/v1/appeals",
            Some(appeal_body(applicant_id, &["heating.billing"])),
            201,
        )
        .await;
    assert!(
        third["duplicate_candidates"].as_array().unwrap().contains(&q_billing["id"]),
        "{}",
        third["duplicate_candidates"]
    );
}

async fn legal_term_of_a_short_appeal_and_month_end(env: &Env) {
    let water = executor_for(env, "vodokanal", "water").await;
    let applicant = new_applicant(env, "80671234567").await;
    assert_eq!(applicant["phones"], json!(["+380671234567"]));
    let id = applicant["id"].as_i64().unwrap();
    let categories = env.ok(Role::Operator, "GET", "/api/v1/categories", None, 200).await;
    let categories = categories.as_array().unwrap();
    let sla = category(categories, "water.leak")["sla_hours"].as_i64().unwrap();

    // Service-request questions only: the 15-day term.
    let reg = env
        .ok(Role::Operator, "POST", "/api/v1/appeals", Some(appeal_body(id, &["water.leak"])), 201)
        .await;
    let a = &reg["appeal"];
    let received = ts(&a["received_at"]);
    let legal = expected_legal_due(received, false);
    assert_eq!(ts(&a["legal_due_at"]), legal);
    assert_eq!(
        ts(&a["questions"][0]["sla_due_at"]),
        (ts(&a["registered_at"]) + Duration::hours(sla)).min(legal)
    );
    assert_eq!(a["questions"][0]["assignments"][0]["executor_id"], water);

    // Received late on 30 January UTC, which is already 31 January in Kyiv: one month is the
    // end of 28 February Kyiv time; the SLA (counted from registration) is capped by it.
    let mut body = appeal_body(id, &["water.meter"]);
    body["received_at"] = json!("2026-01-30T22:30:00Z");
    let reg = env.ok(Role::Operator, "POST", "/api/v1/appeals", Some(body), 201).await;
    let a = &reg["appeal"];
    assert_eq!(ts(&a["received_at"]), Utc.with_ymd_and_hms(2026, 1, 30, 22, 30, 0).unwrap());
    let due = ts(&a["legal_due_at"]);
    assert_eq!(due, kyiv_end_of_day(NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()));
    assert_eq!(due.to_rfc3339(), "2026-02-28T21:59:59.999+00:00");
    assert_eq!(ts(&a["questions"][0]["sla_due_at"]), due);

    // 17 March Kyiv (after the DST change on 29 March the offset differs): 15 days → 1 April,
    // ending at 20:59:59.999 UTC (EEST, UTC+3).
    let mut body = appeal_body(id, &["water.leak"]);
    body["received_at"] = json!("2026-03-17T09:00:00Z");
    let reg = env.ok(Role::Operator, "POST", "/api/v1/appeals", Some(body), 201).await;
    let due = ts(&reg["appeal"]["legal_due_at"]);
    assert_eq!(due.to_rfc3339(), "2026-04-01T20:59:59.999+00:00");

    // An incident report has no legal term, only the SLA.
    let body = json!({"channel": "phone", "legal_kind": "incident_report",
        "questions": [{"category_code": "water.leak", "description": "Тече на розі"}]});
    let reg = env.ok(Role::Operator, "POST", "/api/v1/appeals", Some(body), 201).await;
    let a = &reg["appeal"];
    assert!(a["legal_due_at"].is_null());
    // ... so there is nothing to extend.
    let r = env
        .call(
            &Who::Role(Role::Controller),
            "POST",
            &format!("/api/v1/appeals/{}/extend", a["id"]),
            Some(json!({"extended_due_at": Utc::now() + Duration::days(30), "notice_sent_at": Utc::now()})),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "validation_failed"));
    assert_eq!(r.field_codes(), vec![("extended_due_at".to_string(), "no_legal_term".to_string())]);
    assert_eq!(
        ts(&a["questions"][0]["sla_due_at"]),
        ts(&a["registered_at"]) + Duration::hours(sla)
    );
}

async fn the_category_tree_grows_through_the_api(env: &Env) {
    let base =
        kontakt_appeals::default_categories().into_iter().find(|c| c.code == "roads").unwrap();
    let mut group = serde_json::to_value(&base).unwrap();
    group["code"] = json!("parks");
    group["name_uk"] = json!("Парки і сквери");
    group["is_leaf"] = json!(false);
    env.ok(Role::Admin, "PUT", "/api/v1/categories/parks", Some(group), 200).await;
    let mut leaf = serde_json::to_value(&base).unwrap();
    leaf["code"] = json!("parks.benches");
    leaf["parent_code"] = json!("parks");
    leaf["name_uk"] = json!("Зламані лавки");
    leaf["is_leaf"] = json!(true);
    leaf["sla_hours"] = json!(120);
    leaf["legal_track"] = json!("art20_short");
    let put = env.ok(Role::Admin, "PUT", "/api/v1/categories/parks.benches", Some(leaf), 200).await;
    assert_eq!(put["sla_hours"], 120);
    let ex = executor_for(env, "zelenbud", "parks").await;
    let applicant = new_applicant(env, "0501234567").await["id"].as_i64().unwrap();
    let reg = env
        .ok(
            Role::Operator,
            "POST",
            "/api/v1/appeals",
            Some(appeal_body(applicant, &["parks.benches"])),
            201,
        )
        .await;
    let q = &reg["appeal"]["questions"][0];
    assert_eq!(q["assignments"][0]["executor_id"], ex);
    assert_eq!(ts(&q["sla_due_at"]), ts(&reg["appeal"]["registered_at"]) + Duration::hours(120));
    // The group itself takes no questions.
    let r = env
        .call(
            &Who::Role(Role::Operator),
            "POST",
            "/api/v1/appeals",
            Some(appeal_body(applicant, &["parks"])),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "validation_failed"));
}
