//! Issue 2, acceptance: 1,000 appeals registered through the API from 50 concurrent tasks get
//! 1,000 distinct, gap-free registration numbers.

use std::collections::BTreeMap;

use kontakt_store::Role;
use serde_json::json;

use crate::harness::*;

crate::on_both_backends!(
    concurrent_registrations_get_gap_free_numbers,
    racing_writes_to_one_record_let_exactly_one_win,
);

const TASKS: usize = 50;
const PER_TASK: usize = 20;

async fn concurrent_registrations_get_gap_free_numbers(env: &Env) {
    route_to(env, "water", env.own_executor).await;
    let applicant = new_applicant(env, "0501234567").await["id"].as_i64().unwrap();
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let app = env.app.clone();
        // Half the tasks use the operator's session, half an API token.
        let who = if task % 2 == 0 {
            Who::Role(Role::Operator)
        } else {
            Who::Bearer(env.tokens[&Role::Operator].clone())
        };
        let requests: Vec<_> = (0..PER_TASK)
            .map(|i| {
                let mut body = appeal_body(applicant, &["water.leak"]);
                // Different buildings: no duplicate search over a thousand open questions.
                body["questions"][0]["address"]["building"] = json!(format!("{task}-{i}"));
                body["questions"][0]["description"] = json!(format!("Витік {task}/{i}"));
                env.request(&who, "POST", "/api/v1/appeals", Some(body))
            })
            .collect();
        handles.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(PER_TASK);
            for req in requests {
                let r = send(app.clone(), req).await;
                assert_eq!(r.status.as_u16(), 201, "{}", r.body);
                out.push((
                    r.body["appeal"]["reg_no"].as_str().unwrap().to_string(),
                    r.body["appeal"]["id"].as_i64().unwrap(),
                ));
            }
            out
        }));
    }
    let mut by_year: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
    let mut ids = Vec::new();
    for h in handles {
        for (reg_no, id) in h.await.unwrap() {
            let (y, n) = reg_no.split_once('-').unwrap();
            assert_eq!(n.len(), 6, "{reg_no}");
            by_year.entry(y.parse().unwrap()).or_default().push(n.parse().unwrap());
            ids.push(id);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), TASKS * PER_TASK);
    // One year, unless the test ran across a Kyiv new year: then each year starts at 1.
    let mut total = 0;
    for (year, mut seqs) in by_year {
        seqs.sort_unstable();
        let n = u32::try_from(seqs.len()).unwrap();
        assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "{year}: numbers not distinct and gap-free");
        total += seqs.len();
    }
    assert_eq!(total, TASKS * PER_TASK);
    assert_eq!(env.store.count_appeals().await.unwrap(), 1000);
    // Keyset pages of 300 cover every appeal once, newest first, and end with null.
    let mut seen = Vec::new();
    let mut before: Option<i64> = None;
    let mut pages = 0;
    loop {
        let path = match before {
            Some(b) => format!("/api/v1/appeals?limit=300&before_id={b}"),
            None => "/api/v1/appeals?limit=300".to_string(),
        };
        let page = env.ok(Role::Operator, "GET", &path, None, 200).await;
        pages += 1;
        seen.extend(page["items"].as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()));
        match page["next_before_id"].as_i64() {
            Some(b) => before = Some(b),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "not newest first");
    assert_eq!(pages, 4);
    seen.sort_unstable();
    assert_eq!(seen, ids);
    // Every number reads back as its appeal.
    let page = env.ok(Role::Operator, "GET", "/api/v1/appeals?limit=500", None, 200).await;
    for a in page["items"].as_array().unwrap() {
        let back = env
            .ok(
                Role::Operator,
                "GET",
                &format!("/api/v1/appeals/by-number/{}", a["reg_no"].as_str().unwrap()),
                None,
                200,
            )
            .await;
        assert_eq!(back["id"], a["id"]);
    }
}

async fn racing_writes_to_one_record_let_exactly_one_win(env: &Env) {
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
    let assignment = reg["appeal"]["questions"][0]["assignments"][0]["id"].as_i64().unwrap();
    let appeal = reg["appeal"]["id"].as_i64().unwrap();
    let path = format!("/api/v1/assignments/{assignment}/transition");
    let race = |requests: Vec<axum::http::Request<axum::body::Body>>| {
        let app = env.app.clone();
        async move {
            let handles: Vec<_> =
                requests.into_iter().map(|r| tokio::spawn(send(app.clone(), r))).collect();
            let mut statuses = Vec::new();
            for h in handles {
                let r = h.await.unwrap();
                statuses.push((r.status.as_u16(), r.code().to_string()));
            }
            statuses
        }
    };
    // Twenty executors' clicks on "accept": one moves it, the others are told it moved.
    let who = Who::Role(Role::Executor);
    let clicks = (0..20)
        .map(|_| {
            env.request(
                &who,
                "POST",
                &path,
                Some(json!({"action": "accept", "expected_version": 0})),
            )
        })
        .collect();
    let statuses = race(clicks).await;
    assert_eq!(statuses.iter().filter(|s| s.0 == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| s.0 == 200 || (s.0 == 409 && s.1 == "stale")), "{statuses:?}");
    // Without expected_version the loser may also see the new state: still exactly one wins.
    let reports = (0..20)
        .map(|_| {
            env.request(&who, "POST", &path, Some(json!({"action": "report", "result": "done"})))
        })
        .collect();
    let statuses = race(reports).await;
    assert_eq!(statuses.iter().filter(|s| s.0 == 200).count(), 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| s.0 == 200 || (s.0 == 409 && (s.1 == "stale" || s.1 == "illegal_transition"))),
        "{statuses:?}"
    );
    let a = env
        .ok(Role::Operator, "GET", &format!("/api/v1/assignments/{assignment}"), None, 200)
        .await;
    assert_eq!((a["state"].as_str(), a["version"].as_i64()), (Some("on_check"), Some(2)));
    let tl = env
        .ok(Role::Operator, "GET", &format!("/api/v1/appeals/{appeal}/timeline"), None, 200)
        .await;
    let transitions = tl.as_array().unwrap().iter().filter(|t| t["kind"] == "transition").count();
    assert_eq!(transitions, 2, "one timeline entry per applied change");
    // Twenty admins creating the same account: one is created, the rest conflict.
    let admin = Who::Role(Role::Admin);
    let creates = (0..20)
        .map(|_| {
            env.request(&admin, "POST", "/api/v1/users", Some(json!({"username": "twin",
                "display_name": "Близнюк", "role": "operator", "password": "long enough password"})))
        })
        .collect();
    let statuses = race(creates).await;
    assert_eq!(statuses.iter().filter(|s| s.0 == 201).count(), 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| s.0 == 201 || (s.0 == 409 && s.1 == "conflict")),
        "{statuses:?}"
    );
}
