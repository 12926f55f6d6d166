//! The binary's stable interfaces, run as a user runs them: `serve` with no configuration,
//! `user`, `check-config`, `esl decode`, `simulate --json`, `staffing --json`.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

fn kontakt(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kontakt"));
    c.current_dir(dir);
    // The tests' own environment must not leak configuration into the program.
    for (k, _) in std::env::vars() {
        if k.starts_with("KONTAKT_") {
            c.env_remove(k);
        }
    }
    c
}

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../kontakt-esl/tests/fixtures"))
}

#[test]
fn serve_with_no_configuration_creates_everything_and_prints_how_to_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = kontakt(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let done = line.starts_with("Press Ctrl-C");
        lines.push(line);
        if done {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let out = lines.concat();
    assert!(out.contains("sqlite://kontakt-data/kontakt.db"), "{out}");
    assert!(out.contains("one-time password"), "{out}");
    assert!(out.contains("http://127.0.0.1:"), "{out}");
    assert!(dir.path().join("kontakt-data/kontakt.db").exists());

    // The admin account exists, the schema is current, and a second account can be added.
    let list = kontakt(dir.path()).args(["user", "list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).contains("admin"));
    let check = kontakt(dir.path()).arg("check-config").output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let add = kontakt(dir.path())
        .args(["user", "add", "olena", "--role", "operator", "--password", "long enough pw"])
        .output()
        .unwrap();
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    let again = kontakt(dir.path())
        .args(["user", "add", "olena", "--role", "operator", "--password", "long enough pw"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("that username is taken"));
    let bad_role =
        kontakt(dir.path()).args(["user", "add", "x", "--role", "boss"]).output().unwrap();
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("unknown role"));
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = kontakt(dir.path())
        .env("KONTAKT_DATABASE_URL", "mysql://somewhere")
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must start with sqlite://"));
    let out = kontakt(dir.path()).args(["--config", "missing.toml", "migrate"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read configuration file"));
}

#[test]
fn esl_decode_prints_one_json_object_per_frame() {
    let dir = tempfile::tempdir().unwrap();
    for capture in ["echo_9196/esl_plain", "echo_9196/esl_json", "originate_bgapi/esl_xml"] {
        let rx = fixtures().join(format!("{capture}.rx"));
        let index =
            std::fs::read_to_string(fixtures().join(format!("{capture}.frames.jsonl"))).unwrap();
        let out = kontakt(dir.path()).args(["esl", "decode"]).arg(&rx).output().unwrap();
        assert!(out.status.success(), "{capture}: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout.lines().count(), index.lines().count(), "{capture}");
        for (line, frame) in stdout.lines().zip(index.lines()) {
            let got: serde_json::Value = serde_json::from_str(line).unwrap();
            let want: serde_json::Value = serde_json::from_str(frame).unwrap();
            assert_eq!(
                got["headers"]["Content-Type"], want["headers"]["Content-Type"],
                "{capture}"
            );
        }
    }
}

#[test]
fn esl_decode_of_a_broken_stream_prints_what_it_could_then_fails() {
    let dir = tempfile::tempdir().unwrap();
    let rx = std::fs::read(fixtures().join("protocol_misc/esl_misc.rx")).unwrap();
    let cut = dir.path().join("cut.rx");
    std::fs::write(&cut, &rx[..300]).unwrap();
    let out = kontakt(dir.path()).args(["esl", "decode"]).arg(&cut).output().unwrap();
    assert!(!out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.lines().count() >= 2, "the frames before the fault are printed");
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a valid ESL stream"));
}

#[test]
fn simulate_and_staffing_speak_json() {
    let dir = tempfile::tempdir().unwrap();
    let sim = kontakt(dir.path())
        .args(["simulate", "--agents", "12", "--calls-per-hour", "200", "--aht", "180"])
        .args(["--hours", "4", "--seed", "7", "--sl-threshold", "20", "--json"])
        .output()
        .unwrap();
    assert!(sim.status.success(), "{}", String::from_utf8_lossy(&sim.stderr));
    let r: serde_json::Value = serde_json::from_slice(&sim.stdout).unwrap();
    for key in ["offered", "answered", "abandoned", "p_wait", "asa_s", "service_level", "occupancy"]
    {
        assert!(r.get(key).is_some(), "simulate --json lacks {key}: {r}");
    }
    assert_eq!(r["abandoned"], 0, "no patience given: nobody abandons");
    let staff = kontakt(dir.path())
        .args(["staffing", "--calls-per-hour", "200", "--aht", "180", "--sl-target", "0.8"])
        .args(["--sl-threshold", "20", "--json"])
        .output()
        .unwrap();
    let s: serde_json::Value = serde_json::from_slice(&staff.stdout).unwrap();
    // 10 Erlang: 14 agents give SL 88.8 %, 13 give less than 80 %.
    assert_eq!(s["agents"], 14, "{s}");
    assert!(s["service_level"].as_f64().unwrap() >= 0.8);
    let bad = kontakt(dir.path())
        .args(["staffing", "--calls-per-hour=-3", "--aht", "180"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("must be a positive number"));
}

/// A one-connection stand-in for FreeSWITCH's event socket login, with the reply bytes of the
/// captures (protocol_misc): `+OK accepted` for the right password, `-ERR invalid` otherwise.
fn fake_event_socket(password: &'static str) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(b"Content-Type: auth/request\n\n").unwrap();
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        while !got.ends_with(b"\n\n") && s.read(&mut byte).unwrap() == 1 {
            got.push(byte[0]);
        }
        let ok = got == format!("auth {password}\n\n").into_bytes();
        let reply = if ok { "+OK accepted" } else { "-ERR invalid" };
        s.write_all(format!("Content-Type: command/reply\nReply-Text: {reply}\n\n").as_bytes())
            .unwrap();
    });
    addr
}

#[test]
fn check_config_checks_the_event_socket_the_port_and_the_prompts() {
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("prompts");
    let menu = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/prompts/menu.txt"
    ))
    .unwrap();
    let names: Vec<&str> =
        menu.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    std::fs::create_dir_all(prompts.join("uk")).unwrap();
    for name in &names {
        std::fs::write(prompts.join("uk").join(format!("{name}.wav")), b"RIFF").unwrap();
    }
    let check = |password: &str, esl: std::net::SocketAddr| {
        kontakt(dir.path())
            .env("KONTAKT_ESL_ADDRESS", esl.to_string())
            .env("KONTAKT_ESL_PASSWORD", password)
            .env("KONTAKT_ESL_LISTEN", "127.0.0.1:0")
            .env("KONTAKT_IVR_PROMPTS_DIR", &prompts)
            .env("KONTAKT_IVR_LANGUAGES", "uk")
            .arg("check-config")
            .output()
            .unwrap()
    };
    // The schema must exist first: check-config only reports, it never migrates.
    assert!(kontakt(dir.path()).arg("migrate").output().unwrap().status.success());

    let good = check("s3cret", fake_event_socket("s3cret"));
    let out = String::from_utf8_lossy(&good.stdout);
    assert!(good.status.success(), "{out}");
    assert!(out.contains("ok    event socket of freeswitch: logged in to"), "{out}");
    assert!(out.contains(&format!("{} prompts × 1 language(s)", names.len())), "{out}");

    let wrong = check("guess", fake_event_socket("s3cret"));
    let out = String::from_utf8_lossy(&wrong.stdout);
    assert!(!wrong.status.success());
    assert!(
        out.contains("FAIL  event socket of freeswitch:") && out.contains("-ERR invalid"),
        "{out}"
    );

    std::fs::remove_file(prompts.join("uk").join(format!("{}.wav", names[0]))).unwrap();
    let missing = check("s3cret", fake_event_socket("s3cret"));
    let out = String::from_utf8_lossy(&missing.stdout);
    assert!(!missing.status.success());
    assert!(out.contains("FAIL  IVR prompts: 1 of"), "{out}");

    let refused = kontakt(dir.path())
        .env("KONTAKT_ESL_PASSWORD", "ClueCon")
        .arg("check-config")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("well-known default"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esl_tail_prints_a_live_switch_s_events_as_json_lines() {
    let emulator = kontakt_sim::Emulator::start(kontakt_sim::EmulatorConfig {
        listen: "127.0.0.1:0".into(),
        password: "s3cret".into(),
        heartbeat_secs: 0.2,
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut child = kontakt(dir.path())
        .args(["esl", "tail", "--address", &emulator.inbound_addr().to_string()])
        .args(["--password", "s3cret", "--events", "HEARTBEAT"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        }),
    )
    .await
    .expect("a heartbeat within 20 s")
    .unwrap()
    .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["event"]["Event-Name"], "HEARTBEAT", "{line}");
}

#[test]
fn demo_runs_a_center_and_accounts_for_every_call() {
    let dir = tempfile::tempdir().unwrap();
    let out = kontakt(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .args(["demo", "--duration", "6", "--calls-per-minute", "120", "--operators", "4"])
        .args(["--free-seats", "1", "--max-talk-secs", "2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "calls",
        "answered",
        "abandoned",
        "linked_to_appeal",
        "other_outcome",
        "call_records",
        "lost_records",
    ] {
        assert!(s.get(key).and_then(|v| v.as_i64()).is_some(), "demo summary lacks {key}: {s}");
    }
    let calls = s["calls"].as_i64().unwrap();
    assert!(calls >= 5, "{s}");
    assert_eq!(s["call_records"], calls, "every placed call has a record: {s}");
    assert_eq!(s["lost_records"], 0, "{s}");
    assert!(s["answered"].as_i64().unwrap() > 0, "{s}");
    // The operators linked what they answered (a call still in wrap-up may remain).
    let linked = s["linked_to_appeal"].as_i64().unwrap() + s["other_outcome"].as_i64().unwrap();
    assert!(linked > 0, "{s}");
    assert_eq!(s["journal_depth"], 0, "{s}");
}
