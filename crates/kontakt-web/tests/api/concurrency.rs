//! Issue 2, acceptance: 1,000 appeals registered through the API from 50 concurrent tasks get
//! 1,000 distinct, gap-free registration numbers.

use std::collections::BTreeMap;

use kontakt_store::Role;
use serde_json::json;

use crate::harness::*;

crate::on_both_backends!(concurrent_registrations_get_gap_free_numbers);

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
