//! `GET /api/v1/wallboard/intraday`: the wall board's chart of the Kyiv day, from the call
//! records (it needs no telephony), in 15-minute intervals.

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Europe::Kyiv;
use kontakt_store::{CallKey, CallOp, CallUpdate, NewCallRecord, Role};
use serde_json::Value;

use crate::harness::*;

crate::on_both_backends!(the_day_is_counted_per_quarter_hour);

fn call(uuid: &str, at: DateTime<Utc>, agent: Option<i64>, end: Option<&str>) -> Vec<CallOp> {
    let key = CallKey { node: "fs1".into(), uuid: uuid.into() };
    vec![
        CallOp::Open(NewCallRecord {
            key: key.clone(),
            direction: "inbound".into(),
            caller: Some("+380501234567".into()),
            caller_raw: "0501234567".into(),
            presentation: "number".into(),
            dialled: "1580".into(),
            line: None,
            carrier: None,
            started_at: at,
        }),
        CallOp::Update {
            key,
            set: CallUpdate {
                queue: Some("general".into()),
                queued_at: Some(at + Duration::seconds(5)),
                agent_user_id: agent,
                connected_at: agent.map(|_| at + Duration::seconds(20)),
                end_reason: end.map(str::to_string),
                ..Default::default()
            },
        },
    ]
}

async fn the_day_is_counted_per_quarter_hour(env: &Env) {
    // A fixed winter day: midnight in Kyiv is 22:00 UTC the day before.
    let midnight = Kyiv.with_ymd_and_hms(2026, 1, 15, 0, 0, 0).unwrap().with_timezone(&Utc);
    assert_eq!(midnight, Utc.with_ymd_and_hms(2026, 1, 14, 22, 0, 0).unwrap());
    let op = env.user_id(Role::Operator);
    let mut ops = Vec::new();
    // 09:05 Kyiv: answered; 09:10: abandoned; 09:20: answered; 23:59: answered.
    let at = |h: i64, m: i64| midnight + Duration::hours(h) + Duration::minutes(m);
    ops.extend(call("c1", at(9, 5), Some(op), None));
    ops.extend(call("c2", at(9, 10), None, Some("abandoned")));
    ops.extend(call("c3", at(9, 20), Some(op), None));
    ops.extend(call("c4", at(23, 59), Some(op), None));
    // The evening before (23:50 Kyiv on the 14th) belongs to the day before.
    ops.extend(call("c0", midnight - Duration::minutes(10), Some(op), None));
    env.store.apply_call_ops(&ops).await.unwrap();

    let day = env
        .ok(Role::Supervisor, "GET", "/api/v1/wallboard/intraday?date=2026-01-15", None, 200)
        .await;
    assert_eq!(day["date"], "2026-01-15");
    assert_eq!(day["time_zone"], "Europe/Kyiv");
    assert_eq!(day["bucket_secs"], 900);
    assert_eq!(day["from"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(), midnight);
    let buckets = day["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 96);
    let counts = |b: &Value| {
        (
            b["offered"].as_i64().unwrap(),
            b["answered"].as_i64().unwrap(),
            b["abandoned"].as_i64().unwrap(),
        )
    };
    // 09:00–09:15 is interval 36, 09:15–09:30 is 37, 23:45–24:00 is 95.
    for (i, b) in buckets.iter().enumerate() {
        let expected = match i {
            36 => (2, 1, 1),
            37 | 95 => (1, 1, 0),
            _ => (0, 0, 0),
        };
        assert_eq!(counts(b), expected, "interval {i}: {b}");
    }
    let start = buckets[36]["start"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    assert_eq!(start, at(9, 0));
    assert_eq!(
        (day["offered"].as_i64(), day["answered"].as_i64(), day["abandoned"].as_i64()),
        (Some(4), Some(3), Some(1))
    );
    assert_eq!(day["agents"], serde_json::json!([{"user_id": op, "answered": 3}]));

    let before =
        env.ok(Role::Admin, "GET", "/api/v1/wallboard/intraday?date=2026-01-14", None, 200).await;
    assert_eq!(before["offered"], 1);

    // Today by default: the day of now in Kyiv.
    let today = env.ok(Role::Supervisor, "GET", "/api/v1/wallboard/intraday", None, 200).await;
    let now = Utc::now();
    let from = today["from"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    let to = today["to"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    assert!(from <= now && now < to, "{from} {now} {to}");
    assert_eq!(today["date"], now.with_timezone(&Kyiv).format("%Y-%m-%d").to_string());

    // Without telephony it works all the same: it reads only the records.
    let r = send(
        env.app_without_telephony(),
        env.request(
            &Who::Role(Role::Supervisor),
            "GET",
            "/api/v1/wallboard/intraday?date=2026-01-15",
            None,
        ),
    )
    .await;
    assert_eq!(r.expect(200)["offered"], 4);

    for bad in ["date=15.01.2026", "date=2026-02-30", "date=", "day=2026-01-15"] {
        let r = env
            .call(
                &Who::Role(Role::Supervisor),
                "GET",
                &format!("/api/v1/wallboard/intraday?{bad}"),
                None,
            )
            .await;
        assert_eq!((r.status.as_u16(), r.code()), (400, "invalid_query"), "{bad}: {}", r.body);
    }
    let r = env.call(&Who::Role(Role::Operator), "GET", "/api/v1/wallboard/intraday", None).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"));
}
