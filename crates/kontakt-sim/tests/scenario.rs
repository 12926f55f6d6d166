#![allow(clippy::unwrap_used)]
//! Scenarios: deterministic random plans, scripted files, and whole runs.

use std::path::Path;
use std::time::Duration;

use kontakt_sim::{EmulatorConfig, IvrChoice, RandomScenario, Scenario, ScriptedCall};

fn random(seed: u64) -> Scenario {
    Scenario::Random(RandomScenario {
        seed,
        calls_per_hour: 3600.0,
        duration_secs: 200.0,
        ivr: vec![
            IvrChoice { digits: "1".into(), weight: 3.0 },
            IvrChoice { digits: "2".into(), weight: 1.0 },
        ],
        mean_patience_secs: Some(60.0),
        mean_talk_secs: 120.0,
        ..Default::default()
    })
}

#[test]
fn random_plans_repeat_for_a_seed() {
    let a = random(7).plan();
    assert_eq!(a, random(7).plan());
    assert_ne!(a, random(8).plan());
    // Poisson arrivals at 1/s over 200 s
    assert!((140..=260).contains(&a.len()), "{}", a.len());
    assert!(a.windows(2).all(|w| w[0].at_secs <= w[1].at_secs));
    let ones = a.iter().filter(|c| c.digits == ["1"]).count();
    let twos = a.iter().filter(|c| c.digits == ["2"]).count();
    assert_eq!(ones + twos, a.len());
    assert!(ones > twos * 2, "{ones} vs {twos}");
    let mean_talk: f64 = a.iter().map(|c| c.talk_secs.unwrap()).sum::<f64>() / a.len() as f64;
    assert!((80.0..160.0).contains(&mean_talk), "{mean_talk}");
}

#[test]
fn scenario_files_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let s = Scenario::from_file(&dir.join("demo-scripted.json")).unwrap();
    let plan = s.plan();
    assert_eq!(plan.len(), 3);
    assert_eq!(plan[0].caller_name.as_deref(), Some("Alice"));
    let r = Scenario::from_file(&dir.join("demo-random.json")).unwrap();
    assert!(!r.plan().is_empty());
    let demo: EmulatorConfig =
        serde_json::from_str(&std::fs::read_to_string(dir.join("demo-config.json")).unwrap())
            .unwrap();
    assert_eq!(demo.endpoint("1004").reject.as_deref(), Some("USER_BUSY"));
    assert!(demo.scenario.unwrap().plan().len() > 20);
    // the whole configuration is deserializable too
    let cfg: EmulatorConfig = serde_json::from_str(
        r#"{"listen":"127.0.0.1:0","outbound_socket":"127.0.0.1:8084","speed":10,
            "endpoints":[{"user":"1001","answer_after_secs":2.5},{"user":"1002","answer_after_secs":null}],
            "scenario":{"type":"scripted","calls":[{"caller":"1","destination":"2"}]}}"#,
    )
    .unwrap();
    assert_eq!(cfg.endpoint("1001").answer_after_secs, Some(2.5));
    assert_eq!(cfg.endpoint("1002").answer_after_secs, None);
    assert_eq!(cfg.endpoint("9999").answer_after_secs, Some(1.0));
}

#[tokio::test]
async fn run_with_a_scripted_scenario_reports_every_call() {
    let mut calls = Vec::new();
    for (i, at) in [0.0, 1.0, 2.5].into_iter().enumerate() {
        let mut c = ScriptedCall::new(&format!("10{i}"), "9196");
        c.at_secs = at;
        c.hangup_after_secs = Some(3.0);
        calls.push(c);
    }
    let cfg = EmulatorConfig {
        listen: "127.0.0.1:0".into(),
        heartbeat_secs: 0.0,
        speed: 50.0,
        scenario: Some(Scenario::Scripted { calls }),
        ..Default::default()
    };
    let report = tokio::time::timeout(Duration::from_secs(20), kontakt_sim::run_with(cfg, true))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.len(), 3);
    assert!(report.iter().all(|r| r.answered_us > 0 && r.hangup_us >= r.answered_us));
    assert_eq!(report.iter().map(|r| r.caller.as_str()).collect::<Vec<_>>(), ["100", "101", "102"]);
}
