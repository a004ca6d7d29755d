//! Protocol abuse on the real binary's stdin, on both lifecycles, under `RUST_LOG=trace`:
//! malformed JSON, unknown methods and tools, calls before the handshake, a 10 MiB line, EOF in
//! the middle of a call, `server/discover` from a 2025-11-25 client. Every answer is JSON-RPC,
//! the server keeps serving (or exits cleanly on EOF), and stdout carries nothing else.
//!
//! kube-sim only: it is about stdio, not the cluster; any cluster serves it.

use kube_sim::Scenario;
use serde_json::{Value, json};

use super::raw::{
    HANDSHAKE_VERSION, RawServer, STATELESS_VERSION, call, is_response, result_text,
    stateless_call, stateless_meta,
};

/// JSON-RPC's error codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

fn history_args() -> Value {
    json!({"resource_type": "deployment", "name": "api-server", "namespace": "shop"})
}

fn error_code(response: &Value) -> i64 {
    response["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("an error response: {response}"))
}

/// How each lifecycle makes a tool call and other requests.
#[derive(Clone, Copy, Debug)]
enum Session {
    Handshake,
    Stateless,
}

impl Session {
    async fn open(self, server: &mut RawServer) {
        match self {
            Session::Handshake => {
                let answer = server.handshake().await;
                assert_eq!(answer["result"]["protocolVersion"], HANDSHAKE_VERSION);
            }
            Session::Stateless => {
                let answer = server
                    .request(0, "server/discover", json!({"_meta": stateless_meta()}))
                    .await;
                assert!(
                    answer["result"]["supportedVersions"]
                        .as_array()
                        .is_some_and(|versions| versions.contains(&json!(STATELESS_VERSION))),
                    "{answer}"
                );
            }
        }
    }

    fn call(self, tool: &str, arguments: Value) -> Value {
        match self {
            Session::Handshake => call(tool, arguments),
            Session::Stateless => stateless_call(tool, arguments),
        }
    }

    fn params(self) -> Value {
        match self {
            Session::Handshake => json!({}),
            Session::Stateless => json!({"_meta": stateless_meta()}),
        }
    }
}

const SESSIONS: [Session; 2] = [Session::Handshake, Session::Stateless];

/// A tool call that must succeed: the proof the server still serves.
async fn still_serving(server: &mut RawServer, session: Session, id: i64) {
    let response = server
        .request(
            id,
            "tools/call",
            session.call("k8s_rollout_history", history_args()),
        )
        .await;
    assert_ne!(response["result"]["isError"], true, "{response}");
    assert!(
        result_text(&response).contains("live revision 4"),
        "{response}"
    );
}

#[tokio::test]
async fn malformed_messages_get_json_rpc_errors_and_the_server_keeps_serving() {
    for session in SESSIONS {
        let mut server = RawServer::start(Scenario::demo()).await;
        session.open(&mut server).await;

        server
            .send_bytes(b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \n")
            .await;
        let parse = server.next().await;
        assert_eq!(error_code(&parse), PARSE_ERROR, "{session:?}: {parse}");
        assert_eq!(parse["id"], Value::Null);
        server.send_bytes(b"\xff\xfe not even UTF-8\n").await;
        assert_eq!(error_code(&server.next().await), PARSE_ERROR);

        server.send(&json!([1, 2, 3])).await;
        let invalid = server.next().await;
        assert_eq!(error_code(&invalid), INVALID_REQUEST, "{invalid}");
        assert_eq!(invalid["id"], Value::Null);

        let unknown = server.request(2, "rollout/explode", session.params()).await;
        assert_eq!(error_code(&unknown), METHOD_NOT_FOUND, "{unknown}");
        still_serving(&mut server, session, 3).await;

        let tool = server
            .request(
                4,
                "tools/call",
                session.call("k8s_rollout_restart", json!({})),
            )
            .await;
        assert_eq!(error_code(&tool), INVALID_PARAMS, "{tool}");
        let mut not_an_object = session.call("k8s_rollout_history", json!({}));
        not_an_object["arguments"] = json!(["deployment", "api-server"]);
        let bad = server.request(5, "tools/call", not_an_object).await;
        assert_eq!(error_code(&bad), INVALID_PARAMS, "{bad}");
        still_serving(&mut server, session, 6).await;

        assert!(server.is_running());
        assert!(server.sim().mutating_requests().is_empty());
        let bytes = server.assert_clean_stdout();
        assert!(server.stderr_bytes() > 0, "trace logging went to stderr");
        println!("{session:?}: stdout carried {bytes} bytes, all JSON-RPC");
    }
}

#[tokio::test]
async fn a_ten_mebibyte_line_is_answered_and_the_server_keeps_serving() {
    for session in SESSIONS {
        let mut server = RawServer::start(Scenario::demo()).await;
        session.open(&mut server).await;
        let huge = "a".repeat(10 << 20);
        let response = server
            .request(
                1,
                "tools/call",
                session.call(
                    "k8s_rollout_history",
                    json!({"resource_type": "deployment", "name": huge, "namespace": "shop"}),
                ),
            )
            .await;
        assert_eq!(response["result"]["isError"], true, "{session:?}");
        let message = result_text(&response);
        assert!(message.starts_with("invalid name"), "{message}");
        assert!(message.len() < 1024, "{} bytes", message.len());

        let mut garbage = vec![b'['; 10 << 20];
        garbage.push(b'\n');
        server.send_bytes(&garbage).await;
        assert_eq!(error_code(&server.next().await), PARSE_ERROR);
        still_serving(&mut server, session, 2).await;
        println!(
            "{session:?}: peak RSS after two 10 MiB lines: {:.1} MiB",
            server.peak_rss_kib() as f64 / 1024.0
        );
        assert!(server.sim().requests().iter().all(|r| !r.is_mutating()));
        server.assert_clean_stdout();
    }
}

#[tokio::test]
async fn tool_calls_before_the_handshake_are_refused_and_the_handshake_still_works() {
    let mut server = RawServer::start(Scenario::demo()).await;
    // Notifications and stray responses before the session are dropped, not fatal.
    server
        .send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await;
    server
        .send(&json!({"jsonrpc": "2.0", "id": 99, "result": {}}))
        .await;
    let early = server
        .request(1, "tools/call", call("k8s_rollout_history", history_args()))
        .await;
    assert!(is_response(&early), "{early}");
    assert!(
        early.get("error").is_some(),
        "refused before initialize: {early}"
    );
    let listed = server.request(2, "tools/list", json!({})).await;
    assert!(listed.get("error").is_some(), "{listed}");
    server
        .send(&json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}))
        .await;
    assert!(
        server.sim().requests().is_empty(),
        "nothing reached the cluster"
    );
    let answer = server.handshake().await;
    assert_eq!(answer["result"]["protocolVersion"], HANDSHAKE_VERSION);
    still_serving(&mut server, Session::Handshake, 3).await;
    server.assert_clean_stdout();
}

#[tokio::test]
async fn server_discover_from_a_handshake_client_is_answered() {
    let mut server = RawServer::start(Scenario::demo()).await;
    server.handshake().await;
    // Not a 2025-11-25 method: rmcp answers -32602, naming the 2026-07-28 `_meta` it lacks.
    let discover = server.request(1, "server/discover", json!({})).await;
    assert_eq!(error_code(&discover), INVALID_PARAMS, "{discover}");
    still_serving(&mut server, Session::Handshake, 2).await;
    let ping = server.request(3, "ping", json!({})).await;
    assert_eq!(ping["result"], json!({}));
    server.assert_clean_stdout();
}

#[tokio::test]
async fn eof_in_the_middle_of_a_call_exits_cleanly() {
    for session in SESSIONS {
        // Half a line, then EOF.
        let mut server = RawServer::start(Scenario::demo()).await;
        session.open(&mut server).await;
        server
            .send_bytes(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"k8s_rollout_hist")
            .await;
        server.close_stdin();
        assert_eq!(server.exit_code().await, Some(0), "{session:?}");
        server.assert_clean_stdout();

        // A whole call still running (waiting on a rollout that never finishes), then EOF.
        let stuck = Scenario::builder()
            .deployment("shop", "api-server", |d| {
                d.progress_deadline_seconds(3600)
                    .revision(|t| t.image("app", "web:1").days_ago(1))
                    .revision(|t| t.image("app", "web:stuck-notready").minutes_ago(5))
            })
            .build();
        let mut server = RawServer::start(stuck).await;
        session.open(&mut server).await;
        let mut waiting = history_args();
        waiting["wait"] = json!(true);
        waiting["timeout_seconds"] = json!(600);
        server
            .send(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": session.call("k8s_rollout_status", waiting)}))
            .await;
        // The watch is open once the sim sees it.
        for _ in 0..200 {
            if server.sim().open_watches() > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        assert_eq!(server.sim().open_watches(), 1);
        server.close_stdin();
        assert_eq!(server.exit_code().await, Some(0), "{session:?}");
        assert!(server.sim().mutating_requests().is_empty());
        server.assert_clean_stdout();
    }
}
