//! One appeal's life told end to end through the public API, the way the storage and REST layers
//! will drive it: a caller phones 15-80 about no cold water and a stuck lift, the operator
//! registers both questions, they are routed, one goes through a failed check and is closed, and
//! the caller's next identical call is recognised as a repeat.

use chrono::{DateTime, TimeDelta, Utc};
use kontakt_appeals::*;
use serde_json::json;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("RFC 3339 literal").with_timezone(&Utc)
}

#[test]
fn phone_appeal_from_call_to_closure() {
    // 23:40 Kyiv on 30 January 2027 (21:40 UTC): still a 30 January receipt.
    let received = utc("2027-01-30T21:40:00Z");
    let registered = received + TimeDelta::minutes(4);

    // The caller dictates the number in local form; the switch gave a SIP URI.
    assert_eq!(
        phone_from_caller_id("sip:0501234567@gw").map(|p| p.to_string()).as_deref(),
        Some("+380501234567")
    );
    let home = Address {
        city: Some("Запоріжжя".into()),
        street: "просп. Соборний".into(),
        building: "12а".into(),
        entrance: Some("2".into()),
        flat: Some("45".into()),
        floor: Some(5),
        district: Some("Комунарський".into()),
        lat: Some(47.8388),
        lon: Some(35.1396),
    };
    let applicant = NewApplicant {
        last_name: Some("Шевченко".into()),
        first_name: Some("Олена".into()),
        patronymic: Some("Петрівна".into()),
        phones: vec!["050 123 45 67".into()],
        email: None,
        address: Some(home.clone()),
        kind: ApplicantKind::Individual,
        privileges: vec![Privilege::Combatant],
        confidential: true,
        assurance: AssuranceLevel::None,
    }
    .validate()
    .expect("valid applicant");
    assert!(applicant.has_priority(), "Art. 20: a combatant's appeal is considered first");

    let categories = default_categories();
    let category = |code: &str| categories.iter().find(|c| c.code == code);
    let appeal = NewAppeal {
        channel: Channel::Phone,
        legal_kind: LegalKind::Application,
        received_at: received,
        answer_channel: Some(AnswerChannel::Phone),
        applicant_present: true,
        collective: false,
        call_id: Some("call-42".into()),
        questions: vec![
            NewQuestion {
                category_code: "water.no_cold_water".into(),
                description: "Немає холодної води в усьому під'їзді".into(),
                attributes: json!({"scope": "riser"}),
                address: Some(home.clone()),
                object_ref: None,
                emergency: None,
            },
            NewQuestion {
                category_code: "lift.stopped".into(),
                description: "Ліфт стоїть між поверхами, людей немає".into(),
                attributes: json!({"people_inside": false}),
                address: Some(home.clone()),
                object_ref: None,
                emergency: None,
            },
        ],
    };
    appeal.validate_with_categories(registered, category).expect("valid appeal");
    appeal.check_applicant(&applicant).expect("answer channel reachable");
    assert!(appeal.art5_missing(Some(&applicant)).is_empty());

    // Registration number: first of the year.
    let reg =
        RegNo::next_after(Some(RegNo { year: 2026, seq: 120_000 }), RegNo::year_of(registered))
            .expect("numbers left");
    assert_eq!(reg.to_string(), "2027-000001");
    assert_eq!(reg.question_no(2), "2027-000001/2");

    // Legal clock: both categories are service requests, so the 15-day term applies, counted
    // from the local date of receipt (30 January) and ending at 23:59:59.999 Kyiv on 14 February.
    let water = category("water.no_cold_water").expect("seeded");
    let legal = appeal_legal_due(received, appeal.legal_kind, water.legal_track);
    assert_eq!(legal, Some(utc("2027-02-14T21:59:59.999Z")));
    // The SLA (24 h, 24/7) runs out first.
    let due = sla_due(registered, water.sla_hours, legal).expect("has SLA");
    assert_eq!(due, registered + TimeDelta::hours(24));
    let attention = attention_at(registered, due, water.attention_pct);
    assert_eq!(attention, registered + TimeDelta::hours(18));

    // Routing: the district was typed under its old name; the map knows the new one.
    let map = [
        ResponsibilityLine {
            id: 1,
            category_prefix: "water".into(),
            district: None,
            building_key: None,
            executor_id: 10,
            valid_from: utc("2026-01-01T00:00:00Z"),
            valid_to: None,
        },
        ResponsibilityLine {
            id: 2,
            category_prefix: "lift".into(),
            district: Some("Космічний".into()),
            building_key: None,
            executor_id: 20,
            valid_from: utc("2026-01-01T00:00:00Z"),
            valid_to: None,
        },
    ];
    let key = home.building_key();
    assert_eq!(key, "соборний|12а");
    let lift_line = route(&map, "lift.stopped", home.district.as_deref(), Some(&key), registered);
    assert_eq!(lift_line.map(|l| l.executor_id), Some(20));

    // The water assignment: accepted, reported done, rejected on the call-back, redone, closed.
    let mut state = AssignmentState::Registered;
    let mut reworks = 0u32;
    let mut now = registered;
    let mut assignment_due = due;
    let steps = [
        (Action::Accept, None, ActorKind::Executor, AssignmentState::InWork),
        (Action::Report, Some(Resolution::Done), ActorKind::Executor, AssignmentState::OnCheck),
        (Action::Reject, None, ActorKind::Controller, AssignmentState::Rework),
        (Action::Report, Some(Resolution::Done), ActorKind::Executor, AssignmentState::OnCheck),
        (Action::Confirm, None, ActorKind::Controller, AssignmentState::Closed),
    ];
    for (action, result, actor, want) in steps {
        now += TimeDelta::hours(3);
        state = transition(state, action, result, actor).expect("allowed");
        assert_eq!(state, want);
        if action.increments_rework() {
            reworks += 1;
            assignment_due = rework_due(now, due - registered);
            assert_eq!(
                assignment_due,
                now + TimeDelta::hours(24),
                "half of 24 h is below the 24 h floor"
            );
        }
    }
    assert_eq!(reworks, 1);
    assert_eq!(status(now, attention, assignment_due, Some(now)), DeadlineStatus::ClosedOnTime);
    let shown = public_status(state, Some(Resolution::Done));
    assert_eq!((shown.label_uk(), shown.open311()), ("Виконано", "FIXED"));
    // Nothing moves a closed assignment.
    assert!(transition(state, Action::Cancel, None, ActorKind::Admin).is_err());

    // A week later the same caller reports the same problem at the same building: a repeat
    // (Art. 8), routed to the supervisor. Another resident's open report is a duplicate
    // candidate instead.
    let prior = [
        PriorQuestion {
            appeal_id: 1,
            question_id: 11,
            applicant_id: Some(7),
            category_code: "water.no_cold_water".into(),
            building_key: Some(key.clone()),
            state,
            resolved_on_merits: Resolution::Done.is_on_merits(),
            closed_at: Some(now),
        },
        PriorQuestion {
            appeal_id: 2,
            question_id: 12,
            applicant_id: Some(8),
            category_code: "water.no_cold_water".into(),
            building_key: Some(key.clone()),
            state: AssignmentState::InWork,
            resolved_on_merits: false,
            closed_at: None,
        },
    ];
    let retyped = Address {
        street: "Соборний проспект".into(), building: "12-А".into(), ..home
    };
    let again = retyped.building_key();
    assert_eq!(again, key, "the same building however it is typed");
    assert_eq!(
        find_repeat(Some(7), "water.no_cold_water", Some(&again), &prior).map(|p| p.question_id),
        Some(11)
    );
    let dups: Vec<i64> = duplicate_candidates("water.no_cold_water", Some(&again), &prior)
        .iter()
        .map(|p| p.question_id)
        .collect();
    assert_eq!(dups, [12]);
}

#[test]
fn anonymous_gas_smell_is_an_incident_report() {
    let now = utc("2026-10-25T00:30:00Z"); // 03:30 Kyiv, the night clocks go back
    assert!(is_withheld("anonymous"));
    let categories = default_categories();
    let gas = categories.iter().find(|c| c.code == "gas.smell").expect("seeded");
    let q = NewQuestion {
        category_code: "gas.smell".into(),
        description: "Сильний запах газу в під'їзді".into(),
        attributes: json!({}),
        address: None,
        object_ref: Some("під'їзд 3, будинок біля зупинки".into()),
        emergency: Some(Emergency {
            discovered_at: now - TimeDelta::minutes(5),
            nature: "запах газу".into(),
        }),
    };
    let mut appeal = NewAppeal {
        channel: Channel::Phone,
        legal_kind: LegalKind::Application,
        received_at: now,
        answer_channel: None,
        applicant_present: false,
        collective: false,
        call_id: None,
        questions: vec![q],
    };
    // Art. 8: a formal appeal without an author is not considered...
    let errs = appeal.validate(now).expect_err("anonymous application");
    assert!(errs.has("applicant", "required"));
    // ...but the emergency is still acted on, outside the Law.
    appeal.legal_kind = LegalKind::IncidentReport;
    appeal
        .validate_with_categories(now, |c| categories.iter().find(|x| x.code == c))
        .expect("incident report");
    assert_eq!(appeal_legal_due(now, appeal.legal_kind, gas.legal_track), None);
    assert_eq!(sla_due(now, gas.sla_hours, None), Some(now + TimeDelta::hours(1)));
    assert!(appeal.art5_missing(None).is_empty());
}
