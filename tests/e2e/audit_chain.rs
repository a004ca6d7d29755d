//! The tamper-evident audit trail end to end: one call id across a call's records, the plan's
//! resourceVersion and template digest, the Event carrying the written record's hash, and
//! `k8s-rollout-mcp audit verify` passing on a fresh log and naming the line an edit, a deleted
//! middle line or a swapped pair breaks, a torn line accepted once the next record covers it,
//! and a long last line that no longer stops the next undo. kube-sim is enough: the chain is
//! local to the file.

use std::path::Path;
use std::process::Command;

use kube_sim::Scenario;
use serde_json::{Value, json};

use super::host::{Answer, Host, HostOptions, Lifecycle, structured, tempdir};
use k8s_rollout_mcp::rollout::template::sha256_hex;

const BINARY: &str = env!("CARGO_BIN_EXE_k8s-rollout-mcp");

fn verify(path: &Path) -> (i32, String) {
    let output = Command::new(BINARY)
        .args(["audit", "verify"])
        .arg(path)
        .env_remove("KUBECONFIG")
        .output()
        .expect("the binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn undo() -> Value {
    json!({"resource_type": "deployment", "name": "api-server", "namespace": "shop", "to_revision": 3})
}

async fn approved_undo_log() -> (Host, Vec<String>) {
    let host = Host::start(Scenario::demo(), Lifecycle::Handshake).await;
    host.answer(Answer::approve("alice"));
    structured(&host.call("k8s_rollout_undo", undo()).await);
    let text = std::fs::read_to_string(&host.audit_log).unwrap();
    let lines = text.lines().map(str::to_string).collect();
    (host, lines)
}

fn write(dir: &tempdir::Dir, lines: &[String]) -> std::path::PathBuf {
    let path = dir.path().join("edited.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[tokio::test]
async fn a_calls_records_share_a_call_id_and_the_event_carries_the_read_back_records_hash() {
    let (host, lines) = approved_undo_log().await;
    let records: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let call_id = records[0]["call_id"].as_str().unwrap();
    assert_eq!(call_id.len(), 32);
    assert!(call_id.chars().all(|c| c.is_ascii_hexdigit()));
    for record in &records {
        assert_eq!(record["call_id"], call_id);
        assert_eq!(record["template_digest"].as_str().unwrap().len(), 64);
        assert!(record["resource_version"].is_string());
    }
    // `written` as soon as the write was stored, then `read_back` chained to it; the Event
    // anchors the chain's head.
    let events = host.sim().list("events", "shop");
    let [.., written, read_back] = lines.as_slice() else {
        panic!("records: {lines:?}")
    };
    assert!(written.contains(r#""event":"written""#), "{written}");
    assert_eq!(
        serde_json::from_str::<Value>(read_back).unwrap()["prev"],
        sha256_hex(written.as_bytes())
    );
    assert_eq!(
        events[0]["metadata"]["annotations"]["k8s-rollout-mcp.io/audit-record-sha256"],
        sha256_hex(read_back.as_bytes())
    );
}

#[tokio::test]
async fn verify_passes_on_a_fresh_log_and_names_the_last_call() {
    let (host, lines) = approved_undo_log().await;
    let call_id = serde_json::from_str::<Value>(&lines[0]).unwrap()["call_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, out) = verify(&host.audit_log);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("intact, 6 records (1 before the chain began)"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "last call: {call_id} read_back Deployment shop/api-server at "
        )),
        "{out}"
    );
}

#[tokio::test]
async fn verify_fails_at_the_line_an_edit_a_deletion_or_a_swap_breaks() {
    let (_host, lines) = approved_undo_log().await;
    let dir = tempdir::Dir::new("chain");
    // planned, dry_run, approval_requested, approved (by alice), written.
    let mut edited = lines.clone();
    edited[3] = edited[3].replace("\"alice\"", "\"mallory\"");
    assert_ne!(edited[3], lines[3]);
    let (code, out) = verify(&write(&dir, &edited));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("chain broken at line 5: "), "{out}");

    let mut deleted = lines.clone();
    deleted.remove(1);
    let (code, out) = verify(&write(&dir, &deleted));
    assert_eq!(
        (code, out.contains("chain broken at line 2: ")),
        (1, true),
        "{out}"
    );

    let mut swapped = lines.clone();
    swapped.swap(1, 2);
    let (code, out) = verify(&write(&dir, &swapped));
    assert_eq!(
        (code, out.contains("chain broken at line 2: ")),
        (1, true),
        "{out}"
    );
}

/// A server appending to the log at `path` makes one dry run (two records).
async fn dry_run_logged_to(path: &Path) {
    let mut options = HostOptions::new(Lifecycle::Handshake);
    options.audit_log = Some(path.to_path_buf());
    let host = Host::start_with(Scenario::demo(), options).await;
    let mut dry_run = undo();
    dry_run["dry_run"] = json!(true);
    structured(&host.call("k8s_rollout_undo", dry_run).await);
}

#[tokio::test]
async fn a_torn_last_line_verifies_as_torn_and_the_next_record_covers_it() {
    let (_host, lines) = approved_undo_log().await;
    let dir = tempdir::Dir::new("torn");
    let path = dir.path().join("audit.jsonl");
    // A crash (or a full disk) in the middle of writing the `written` record.
    let mut text = (lines[..4].join("\n") + "\n").into_bytes();
    text.extend_from_slice(&lines[4].as_bytes()[..lines[4].len() / 2]);
    std::fs::write(&path, &text).unwrap();
    let (code, out) = verify(&path);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("intact, 4 records (1 before the chain began)")
            && out.contains("line 5 is torn (a record cut short, as by a crash or a full disk); no record covers it yet"),
        "{out}"
    );

    dry_run_logged_to(&path).await;
    let (code, out) = verify(&path);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("intact, 6 records (1 before the chain began)")
            && out.contains("line 5 is torn (a record cut short, as by a crash or a full disk); line 6's `prev` covers it")
            && out.contains(" dry_run Deployment shop/api-server at "),
        "{out}"
    );
}

#[tokio::test]
async fn a_line_cut_short_inside_the_chain_breaks_it_at_the_record_after() {
    let (_host, lines) = approved_undo_log().await;
    let dir = tempdir::Dir::new("cut");
    let mut cut = lines.clone();
    cut[2] = cut[2][..cut[2].len() / 2].to_string();
    let (code, out) = verify(&write(&dir, &cut));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("chain broken at line 4: "), "{out}");
}

#[tokio::test]
async fn a_last_line_longer_than_4_mib_does_not_stop_the_next_undo() {
    let dir = tempdir::Dir::new("long");
    let path = dir.path().join("audit.jsonl");
    // As an earlier build wrote a webhook's 5 MiB message whole.
    let long = json!({"event": "failed", "error": "x".repeat(5 << 20)}).to_string();
    std::fs::write(&path, long + "\n").unwrap();
    dry_run_logged_to(&path).await;
    let (code, out) = verify(&path);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("intact, 3 records (1 before the chain began)"),
        "{out}"
    );
}
