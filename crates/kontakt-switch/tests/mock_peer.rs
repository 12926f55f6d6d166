#![allow(clippy::unwrap_used)]
//! Our client and server against an independent ESL implementation: the scripted
//! FreeSWITCH of the `freeswitch-esl-tokio` crate (`test-util`). Its encoder
//! percent-encodes more than FreeSWITCH does, and it writes frames its own way.

mod common;

use std::time::Duration;

use common::within;
use freeswitch_esl_tokio::mock::{MockBackgroundJob, MockConnection, MockEslServer};
use kontakt_switch::{Error, InboundClient, InboundConfig, OutboundConfig, OutboundServer};

async fn mock() -> MockEslServer {
    MockEslServer::bind("127.0.0.1:0", "ClueCon").await.unwrap()
}

fn config(server: &MockEslServer, password: &str) -> InboundConfig {
    let mut c = InboundConfig::new(server.addr().to_string(), password);
    c.liveness_timeout = None;
    c.backoff.initial = Duration::from_millis(10);
    c
}

/// Accepts (the mock handles `auth`) and answers the subscription.
async fn accept_subscribed(server: &MockEslServer) -> (MockConnection, String) {
    let mut switch = within("accept", server.accept()).await.unwrap();
    let cmd = within("event", switch.read_command()).await.unwrap();
    switch.reply_ok().await.unwrap();
    (switch, cmd)
}

#[tokio::test]
async fn mock_auth_failure() {
    let server = mock().await;
    let (r, accepted) = within("auth", async {
        tokio::join!(InboundClient::connect(config(&server, "wrong")), server.accept())
    })
    .await;
    assert_eq!(accepted.unwrap_err().kind(), std::io::ErrorKind::PermissionDenied);
    let err = r.unwrap_err();
    assert!(matches!(&err, Error::AuthFailed { reply } if reply == "-ERR invalid"), "{err:?}");
}

#[tokio::test]
async fn mock_auth_api_events_bgapi() {
    let server = mock().await;
    let cfg = config(&server, "ClueCon").events(["CHANNEL_ANSWER", "CHANNEL_HANGUP"]);
    let (r, (mut switch, sub)) = within("connect", async {
        tokio::join!(InboundClient::connect(cfg), accept_subscribed(&server))
    })
    .await;
    let (client, mut events) = r.unwrap();
    assert_eq!(sub, "event plain BACKGROUND_JOB CHANNEL_ANSWER CHANNEL_HANGUP\n\n");

    // api
    let (r, cmd) = within("api", async {
        tokio::join!(client.api("status"), async {
            let cmd = switch.read_command().await.unwrap();
            switch.reply_api("UP 0 years, 0 days\n").await.unwrap();
            cmd
        })
    })
    .await;
    assert_eq!(cmd, "api status\n\n");
    assert_eq!(r.unwrap(), "UP 0 years, 0 days\n");

    // events, with values the mock percent-encodes widely
    switch
        .send_event_plain(
            "CHANNEL_ANSWER",
            [("Unique-ID", "u-1"), ("Caller-Caller-ID-Name", "Олена Коваль+1 (test)")],
        )
        .await
        .unwrap();
    let ev = within("event", events.recv()).await.unwrap();
    assert_eq!(ev.name(), Some("CHANNEL_ANSWER"));
    assert_eq!(ev.unique_id(), Some("u-1"));
    assert_eq!(ev.caller_id_name(), Some("Олена Коваль+1 (test)"));

    // bgapi: the mock answers with the Job-UUID we chose
    let (r, ()) = within("bgapi", async {
        tokio::join!(client.bgapi("originate user/1001 &park()"), async {
            let cmd = switch.read_command().await.unwrap();
            assert!(cmd.starts_with("bgapi originate user/1001 &park()\n"), "{cmd}");
            let job = cmd
                .lines()
                .find_map(|l| l.strip_prefix("Job-UUID: "))
                .expect("our Job-UUID header")
                .to_owned();
            switch.reply_bgapi(&job).await.unwrap();
            let other = MockBackgroundJob::new("not-ours", "status");
            switch.send_background_job(&other, "-ERR not ours\n").await.unwrap();
            let mine = MockBackgroundJob::new(job, "originate").with_arg("user/1001 &park()");
            switch.send_background_job(&mine, "+OK 5d7e\n").await.unwrap();
        })
    })
    .await;
    let job = r.unwrap();
    assert_eq!(job.body(), Some("+OK 5d7e\n"));
    assert_eq!(job.header("Job-Command"), Some("originate"));

    // heartbeats and logs do not disturb anything; a disconnect notice ends the connection
    switch.send_heartbeat().await.unwrap();
    switch.send_event_plain("CHANNEL_HANGUP", [("Unique-ID", "u-1")]).await.unwrap();
    let ev = within("hangup", events.recv()).await.unwrap();
    assert_eq!(ev.name(), Some("CHANNEL_HANGUP"));
    let mut state = client.state();
    switch.send_disconnect_notice("Disconnected, goodbye.\n").await.unwrap();
    switch.drop_connection().await;
    let s = common::wait_state(&mut state, "disconnected", |s| {
        matches!(s, kontakt_switch::ConnectionState::Disconnected { .. })
    })
    .await;
    assert!(format!("{s:?}").contains("disconnect notice"), "{s:?}");
    // and the client comes back, subscribing again
    let (_switch, sub2) = accept_subscribed(&server).await;
    assert_eq!(sub2, sub);
}

#[tokio::test]
async fn api_send_pipelines_commands_in_order() {
    let server = mock().await;
    let (r, (mut switch, _)) = within("connect", async {
        tokio::join!(InboundClient::connect(config(&server, "ClueCon")), accept_subscribed(&server))
    })
    .await;
    let (client, _events) = r.unwrap();
    // Three commands go out before the switch has answered any of them: the peer reads all
    // three first, and each reply reaches the command it answers.
    let mut replies = Vec::new();
    for cmd in ["uuid_bridge a b", "uuid_record a start /r.wav", "db insert/spy/3000/b"] {
        replies.push(within("send", client.api_send(cmd)).await.unwrap());
    }
    let mut read = Vec::new();
    for _ in 0..3 {
        read.push(within("read", switch.read_command()).await.unwrap());
    }
    assert_eq!(
        read,
        [
            "api uuid_bridge a b\n\n",
            "api uuid_record a start /r.wav\n\n",
            "api db insert/spy/3000/b\n\n"
        ]
    );
    for body in ["+OK bridged\n", "-ERR no such channel\n", "+OK\n"] {
        switch.reply_api(body).await.unwrap();
    }
    let mut got = Vec::new();
    for r in replies {
        got.push(within("reply", r).await.unwrap());
    }
    assert_eq!(got, ["+OK bridged\n", "-ERR no such channel\n", "+OK\n"]);
}

#[tokio::test]
async fn mock_plays_freeswitch_towards_our_outbound_server() {
    let server = OutboundServer::bind("127.0.0.1:0", OutboundConfig::default()).await.unwrap();
    let addr = server.local_addr().unwrap();
    let switch = async {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut fs = MockConnection::from_stream(stream);
        assert_eq!(fs.read_command().await.unwrap(), "connect\n\n");
        // Real FreeSWITCH sends `Event-Name: CHANNEL_DATA` in the connect reply; kontakt-esl
        // recognises the channel data by it.
        fs.send_connect_response([
            ("Event-Name", "CHANNEL_DATA"),
            ("Unique-ID", "chan-1"),
            ("Caller-Caller-ID-Number", "+380501234567"),
            ("variable_kontakt_line", "short_1580"),
        ])
        .await
        .unwrap();
        assert_eq!(fs.read_command().await.unwrap(), "myevents plain\n\n");
        fs.reply_ok().await.unwrap();
        assert_eq!(fs.read_command().await.unwrap(), "linger\n\n");
        fs.reply_ok().await.unwrap();
        let cmd = fs.read_command().await.unwrap();
        assert!(cmd.contains("execute-app-name: playback\n"), "{cmd}");
        let app_uuid = cmd.lines().find_map(|l| l.strip_prefix("Event-UUID: ")).unwrap().to_owned();
        fs.reply_ok().await.unwrap();
        fs.send_event_plain(
            "CHANNEL_EXECUTE_COMPLETE",
            [
                ("Unique-ID", "chan-1"),
                ("Application", "playback"),
                ("Application-UUID", app_uuid.as_str()),
                ("Application-Response", "FILE PLAYED"),
            ],
        )
        .await
        .unwrap();
        fs
    };
    let kontakt = async {
        let call = server.accept().await.unwrap();
        assert_eq!(call.unique_id(), "chan-1");
        assert_eq!(call.var("kontakt_line"), Some("short_1580"));
        assert_eq!(call.channel_data().caller_id_number(), Some("+380501234567"));
        let done = call.execute("playback", Some("ivr/hello.wav")).await.unwrap();
        assert_eq!(done.application_response(), Some("FILE PLAYED"));
        call
    };
    let (call, fs) = within("call", async { tokio::join!(kontakt, switch) }).await;
    fs.drop_connection().await;
    let st = within("closed", call.closed()).await;
    assert!(st.closed, "{st:?}");
}

/// The caller hangs up after the `connect` reply named the channel but before `linger`:
/// FreeSWITCH says goodbye and closes the socket. The call is handed over all the same,
/// hung up and closed, so that Kontakt can record a call it has seen.
#[tokio::test]
async fn a_hangup_during_the_outbound_handshake_still_hands_the_call_over() {
    let server = OutboundServer::bind("127.0.0.1:0", OutboundConfig::default()).await.unwrap();
    let addr = server.local_addr().unwrap();
    let switch = async {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut fs = MockConnection::from_stream(stream);
        assert_eq!(fs.read_command().await.unwrap(), "connect\n\n");
        fs.send_connect_response([("Event-Name", "CHANNEL_DATA"), ("Unique-ID", "chan-2")])
            .await
            .unwrap();
        assert_eq!(fs.read_command().await.unwrap(), "myevents plain\n\n");
        fs.reply_ok().await.unwrap();
        fs.send_raw(
            "Content-Type: text/disconnect-notice\nControlled-Session-UUID: chan-2\n\
             Content-Disposition: disconnect\nContent-Length: 23\n\nDisconnected, goodbye.\n",
        )
        .await
        .unwrap();
        // (read before closing, so that no reset can discard the notice)
        assert_eq!(fs.read_command().await.unwrap(), "linger\n\n");
        fs.drop_connection().await;
    };
    let (call, ()) = within("handshake", async { tokio::join!(server.accept(), switch) }).await;
    let call = call.unwrap();
    assert_eq!(call.unique_id(), "chan-2");
    let st = within("closed", call.closed()).await;
    assert!(st.closed && st.hung_up, "{st:?}");
    let err = call.execute("answer", None).await.unwrap_err();
    assert!(matches!(err, Error::Hangup { .. }), "{err:?}");
}
