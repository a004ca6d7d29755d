//! `k8s_rollout_undo` end to end, on both protocol lifecycles: only what a human approved is
//! written, with the precondition, and every refusal path sends no write at all.

use std::collections::BTreeMap;
use std::time::Duration;

use kube_sim::{ControllerMode, RequestRecord, Scenario, SimOptions};
use rmcp::model::{CallToolResponse, InputRequest, InputRequiredResult};
use serde_json::{Value, json};

use super::backend::Backend;
use super::host::{
    Answer, Host, HostOptions, Lifecycle, for_each_lifecycle, params, refusal, structured, text,
};

const REASON: &str = "1.3.0 never became available";

fn undo(resource_type: &str, name: &str, to_revision: i64) -> Value {
    json!({"resource_type": resource_type, "name": name, "namespace": "shop", "to_revision": to_revision, "reason": REASON})
}

fn api_server_undo(to_revision: i64) -> Value {
    undo("deployment", "api-server", to_revision)
}

/// Writes the API server accepted (not dry runs, not refused ones).
async fn applied(host: &Host) -> Vec<RequestRecord> {
    host.writes()
        .await
        .into_iter()
        .filter(|write| write.status < 300 && !write.dry_run)
        .collect()
}

async fn history_numbers(host: &Host, resource: &str, name: &str) -> Vec<i64> {
    let owned = |object: &Value| object["metadata"]["ownerReferences"][0]["name"] == name;
    let mut numbers: Vec<i64> = match resource {
        "deployments" => host
            .cluster
            .list("replicasets", "shop")
            .await
            .iter()
            .filter(|rs| owned(rs))
            .map(|rs| {
                rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect(),
        _ => host
            .cluster
            .list("controllerrevisions", "shop")
            .await
            .iter()
            .filter(|cr| owned(cr))
            .map(|cr| cr["revision"].as_i64().unwrap())
            .collect(),
    };
    numbers.sort();
    numbers
}

async fn live_image(host: &Host, resource: &str, name: &str) -> String {
    host.cluster.get(resource, "shop", name).await.unwrap()["spec"]["template"]["spec"]
        ["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Only kube-sim records the Content-Type of a request (the API server's audit log does not);
/// on kube-real the body's shape shows the patch type.
fn assert_content_type(write: &RequestRecord, expected: &str) {
    if let Some(content_type) = &write.content_type {
        assert_eq!(content_type, expected);
    }
}

/// A deploy by someone else, finished before the function returns (on kube-real the
/// controller has numbered it by then), from a blocking interlude.
fn deploy_meanwhile(
    host: &Host,
    resource: &'static str,
    name: &'static str,
    image: &'static str,
) -> impl Fn() + Send + Sync + 'static {
    let cluster = host.cluster.clone();
    move || {
        tokio::runtime::Handle::current().block_on(async {
            cluster
                .update(resource, "shop", name, |w| {
                    w["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
                })
                .await;
            cluster.settle(resource, "shop", name).await;
        })
    }
}

on_both_backends!(an_approved_deployment_undo_writes_kubectls_patch_with_the_precondition);
async fn an_approved_deployment_undo_writes_kubectls_patch_with_the_precondition(backend: Backend) {
    for_each_lifecycle(|lifecycle| async move {
        let host = Host::start_on(backend, Scenario::demo(), lifecycle).await;
        let before = host
            .cluster
            .get("deployments", "shop", "api-server")
            .await
            .unwrap();
        host.answer(Answer::approve("alice"));
        let result = host.call("k8s_rollout_undo", api_server_undo(3)).await;
        let report = structured(&result);
        assert_eq!(
            (
                report["outcome"].as_str(),
                report["from_revision"].as_i64(),
                report["to_revision"].as_i64(),
                report["new_revision"].as_i64()
            ),
            (Some("rolled_back"), Some(4), Some(3), Some(5)),
            "{lifecycle:?}: {}",
            text(&result)
        );
        let path = if lifecycle == Lifecycle::Handshake {
            "elicitation"
        } else {
            "input_required"
        };
        assert_eq!(
            report["approval"],
            json!({"path": path, "approver": "alice"})
        );

        let writes = host.writes().await;
        assert_eq!(writes.len(), 1, "exactly one write: {writes:?}");
        let write = &writes[0];
        assert_eq!(
            (write.method.as_str(), write.path.as_str(), write.status),
            (
                "PATCH",
                "/apis/apps/v1/namespaces/shop/deployments/api-server",
                200
            )
        );
        assert_content_type(write, "application/json-patch+json");
        let body = write.json().unwrap();
        assert_eq!(
            body[0],
            json!({"op": "replace", "path": "/metadata/resourceVersion", "value": before["metadata"]["resourceVersion"]})
        );
        assert_eq!(body[1]["path"], "/spec/template");
        assert_eq!(
            body[1]["value"]["spec"]["containers"][0]["image"],
            "ghcr.io/example/api-server:1.2.0"
        );
        assert!(
            body[1]["value"]["metadata"]["labels"]
                .get("pod-template-hash")
                .is_none()
        );
        assert_eq!(body[2]["path"], "/metadata/annotations");
        let cause =
            format!("rollback to revision 3 approved by alice via k8s-rollout-mcp: {REASON}");
        assert_eq!(
            body[2]["value"]["kubernetes.io/change-cause"],
            cause.as_str()
        );

        assert_eq!(
            history_numbers(&host, "deployments", "api-server").await,
            vec![1, 2, 4, 5]
        );
        assert_eq!(
            live_image(&host, "deployments", "api-server").await,
            "ghcr.io/example/api-server:1.2.0"
        );
        let asked = host.asked();
        assert_eq!(asked.len(), 1);
        let context = format!("context \"{}\"", host.context());
        let mut facts = vec![
            "deployment shop/api-server",
            &context,
            "4 (live) -> 3",
            "api: ghcr.io/example/api-server:1.3.0-crashloop -> ghcr.io/example/api-server:1.2.0",
            "change-cause: \"1.2.0: tune the connection pool\"",
            REASON,
        ];
        if backend.has_clock() {
            facts.push("(9d ago)");
        }
        for fact in facts {
            assert!(
                asked[0].contains(fact),
                "the approval shows {fact:?}: {}",
                asked[0]
            );
        }
    })
    .await;
}

on_both_backends!(declined_cancelled_not_approved_and_malformed_answers_write_nothing);
async fn declined_cancelled_not_approved_and_malformed_answers_write_nothing(backend: Backend) {
    for_each_lifecycle(|lifecycle| async move {
        let host = Host::start_on(backend, Scenario::demo(), lifecycle).await;
        let answers = [
            (Answer::Decline, "the approver declined"),
            (Answer::Cancel, "cancelled"),
            (
                Answer::Accept(json!({"approve": false, "approver": "alice"})),
                "approve=false",
            ),
            (Answer::Accept(json!({"approve": "yes"})), "malformed"),
            (
                Answer::Accept(json!({"approver": "alice"})),
                "approve is missing",
            ),
        ];
        for (answer, expected) in answers {
            host.answer(answer);
            let message = refusal(&host.call("k8s_rollout_undo", api_server_undo(3)).await);
            assert!(
                message.contains(expected)
                    && message
                        .lines()
                        .next()
                        .unwrap()
                        .ends_with("Nothing was written."),
                "{lifecycle:?}: {message}"
            );
        }
        assert!(
            host.writes().await.is_empty(),
            "{lifecycle:?}: {:?}",
            host.writes().await
        );
        assert_eq!(host.asked().len(), 5);
        assert_eq!(
            live_image(&host, "deployments", "api-server").await,
            kube_sim::DEMO_BAD_IMAGE
        );
    })
    .await;
}

on_both_backends!(no_answer_within_the_approval_timeout_writes_nothing);
async fn no_answer_within_the_approval_timeout_writes_nothing(backend: Backend) {
    let host = Host::start_with(
        Scenario::demo(),
        HostOptions::new(Lifecycle::Handshake)
            .on(backend)
            .arg("--approval-timeout")
            .arg("1s"),
    )
    .await;
    host.answer(Answer::Silence);
    let message = refusal(&host.call("k8s_rollout_undo", api_server_undo(3)).await);
    assert!(
        message.contains("no answer to the approval request within 1s"),
        "{message}"
    );
    assert!(host.writes().await.is_empty());
}

/// The first round of a 2026-07-28 undo: the InputRequiredResult, unanswered.
async fn input_required(host: &Host, arguments: Value) -> InputRequiredResult {
    match host.call_once(params("k8s_rollout_undo", arguments)).await {
        CallToolResponse::InputRequired(input) => input,
        other => panic!("expected an InputRequiredResult, got {other:?}"),
    }
}

/// The retry of a 2026-07-28 undo with `state` and an approval.
async fn retry(
    host: &Host,
    arguments: Value,
    state: String,
    approve: bool,
) -> rmcp::model::CallToolResult {
    let mut request = params("k8s_rollout_undo", arguments);
    request.request_state = Some(state);
    request.input_responses = Some(BTreeMap::from([(
        "approval".to_string(),
        json!({"action": "accept", "content": {"approve": approve, "approver": "bob"}}),
    )]));
    match host.call_once(request).await {
        CallToolResponse::Complete(result) => result,
        other => panic!("expected a result, got {other:?}"),
    }
}

on_both_backends!(a_stateless_round_asks_with_a_sealed_state_and_the_form);
async fn a_stateless_round_asks_with_a_sealed_state_and_the_form(backend: Backend) {
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Stateless).await;
    let input = input_required(&host, api_server_undo(3)).await;
    let requests = input.input_requests.as_ref().unwrap();
    let Some(InputRequest::Elicitation(request)) = requests.get("approval") else {
        panic!("an elicitation under \"approval\"")
    };
    let request = serde_json::to_value(request).unwrap();
    assert!(
        request["params"]["message"]
            .as_str()
            .unwrap()
            .contains("4 (live) -> 3")
    );
    assert_eq!(
        request["params"]["requestedSchema"]["required"],
        json!(["approve"])
    );
    assert!(
        input
            .request_state
            .as_deref()
            .is_some_and(|state| state.starts_with("rs")),
        "sealed by the codec"
    );
    assert!(host.writes().await.is_empty(), "asking writes nothing");
    let result = retry(
        &host,
        api_server_undo(3),
        input.request_state.unwrap(),
        true,
    )
    .await;
    assert_eq!(structured(&result)["approval"]["approver"], "bob");
    assert_eq!(applied(&host).await.len(), 1);
}

on_both_backends!(tampered_replayed_and_foreign_states_write_nothing);
async fn tampered_replayed_and_foreign_states_write_nothing(backend: Backend) {
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Stateless).await;

    let state = input_required(&host, api_server_undo(3))
        .await
        .request_state
        .unwrap();
    let mut tampered = state.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let message = refusal(
        &retry(
            &host,
            api_server_undo(3),
            String::from_utf8(tampered).unwrap(),
            true,
        )
        .await,
    );
    assert!(
        message.contains("not issued by this server or was modified"),
        "{message}"
    );

    let message = refusal(&retry(&host, api_server_undo(2), state.clone(), true).await);
    assert!(
        message.contains("approves a different plan (target revision: 3 -> 2;"),
        "{message}"
    );

    let message = refusal(&retry(&host, api_server_undo(3), state, true).await);
    assert!(
        message.contains("already used once"),
        "a state is spent by its first use: {message}"
    );

    let mut reason_changed = api_server_undo(3);
    let state = input_required(&host, reason_changed.clone())
        .await
        .request_state
        .unwrap();
    reason_changed["reason"] = json!("something the approver never saw");
    let message = refusal(&retry(&host, reason_changed, state, true).await);
    assert!(message.contains("the reason differs"), "{message}");

    assert!(host.writes().await.is_empty(), "{:?}", host.writes().await);
}

on_both_backends!(an_approval_state_expires_with_the_approval_timeout);
async fn an_approval_state_expires_with_the_approval_timeout(backend: Backend) {
    let host = Host::start_with(
        Scenario::demo(),
        HostOptions::new(Lifecycle::Stateless)
            .on(backend)
            .arg("--approval-timeout")
            .arg("1s"),
    )
    .await;
    let expiring = input_required(&host, api_server_undo(3))
        .await
        .request_state
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let message = refusal(&retry(&host, api_server_undo(3), expiring, true).await);
    assert!(message.contains("expired"), "{message}");
    assert!(host.writes().await.is_empty(), "{:?}", host.writes().await);
}

on_both_backends!(a_deploy_between_plan_and_approval_is_not_overwritten);
async fn a_deploy_between_plan_and_approval_is_not_overwritten(backend: Backend) {
    // Handshake: the deploy lands while the human reads the question; the write's
    // precondition makes the API server refuse it.
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
    host.while_asked(deploy_meanwhile(
        &host,
        "deployments",
        "api-server",
        "ghcr.io/example/api-server:1.3.1",
    ));
    host.answer(Answer::approve("alice"));
    let message = refusal(&host.call("k8s_rollout_undo", api_server_undo(3)).await);
    assert!(
        message.contains("changed since the rollback was approved")
            && message.contains("409 Conflict"),
        "{message}"
    );
    assert!(
        message.contains("spec, labels or annotations changed"),
        "{message}"
    );
    assert!(
        message.contains("its live revision is now 5"),
        "the concurrent deploy's revision is named: {message}"
    );
    assert!(
        applied(&host).await.is_empty(),
        "nothing stale written: {:?}",
        host.writes().await
    );
    assert!(host.writes().await.iter().all(|write| write.status == 409));
    assert_eq!(
        live_image(&host, "deployments", "api-server").await,
        "ghcr.io/example/api-server:1.3.1"
    );

    // Stateless: the deploy lands between the two rounds; the retry's plan no longer matches.
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Stateless).await;
    let state = input_required(&host, api_server_undo(3))
        .await
        .request_state
        .unwrap();
    host.cluster
        .update("deployments", "shop", "api-server", |d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"] =
                json!("ghcr.io/example/api-server:1.3.1");
        })
        .await;
    let message = refusal(&retry(&host, api_server_undo(3), state, true).await);
    assert!(
        message.contains("approves a different plan")
            && message.contains("spec, labels or annotations changed"),
        "{message}"
    );
    assert!(host.writes().await.is_empty());
}

on_both_backends!(a_status_update_while_asking_does_not_block_the_approved_undo);
async fn a_status_update_while_asking_does_not_block_the_approved_undo(backend: Backend) {
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
    let cluster = host.cluster.clone();
    host.while_asked(move || {
        tokio::runtime::Handle::current().block_on(cluster.update_status(
            "deployments",
            "shop",
            "api-server",
            |d| d["status"]["collisionCount"] = json!(1),
        ));
    });
    host.answer(Answer::approve("alice"));
    let result = host.call("k8s_rollout_undo", api_server_undo(3)).await;
    let report = structured(&result);
    assert_eq!(report["new_revision"], 5);
    let statuses: Vec<u16> = host
        .writes()
        .await
        .iter()
        .map(|write| write.status)
        .collect();
    assert_eq!(
        statuses,
        vec![409, 200],
        "the first write hit the precondition, the re-checked one applied"
    );
    assert!(report["warnings"].as_array().unwrap().iter().any(|w| {
        w.as_str()
            .unwrap()
            .contains("status changed while approval was pending")
    }));
    let bodies: Vec<Value> = host
        .writes()
        .await
        .iter()
        .map(|write| write.json().unwrap())
        .collect();
    let version = |body: &Value| body[0]["value"].as_str().unwrap().parse::<u64>().unwrap();
    assert!(
        version(&bodies[1]) > version(&bodies[0]),
        "the retry carries the new resourceVersion"
    );
    assert_eq!(
        bodies[0][1], bodies[1][1],
        "and exactly the approved template"
    );
    assert_eq!(bodies[0][2], bodies[1][2], "and the same annotations");
    assert_eq!(
        host.audit_events(),
        vec![
            "planned",
            "dry_run",
            "approval_requested",
            "approved",
            "conflict",
            "written",
            "read_back"
        ],
        "both write attempts are on the record"
    );
}

on_both_backends!(a_client_without_elicitation_is_refused_unless_the_operator_trusts_the_host);
async fn a_client_without_elicitation_is_refused_unless_the_operator_trusts_the_host(
    backend: Backend,
) {
    for_each_lifecycle(|lifecycle| async move {
        let mut options = HostOptions::new(lifecycle).on(backend);
        options.elicitation = false;
        let host = Host::start_with(Scenario::demo(), options).await;
        let message = refusal(&host.call("k8s_rollout_undo", api_server_undo(3)).await);
        assert!(
            message.contains("did not declare the elicitation capability")
                && message.contains("--approval host-confirmed"),
            "{message}"
        );
        assert!(host.writes().await.is_empty());

        let mut options = HostOptions::new(lifecycle)
            .on(backend)
            .arg("--approval")
            .arg("host-confirmed");
        options.elicitation = false;
        let trusting = Host::start_with(Scenario::demo(), options).await;
        let result = trusting.call("k8s_rollout_undo", api_server_undo(3)).await;
        let report = structured(&result);
        assert_eq!(
            report["approval"],
            json!({"path": "host_confirmed", "approver": null})
        );
        assert!(
            report["change_cause"]
                .as_str()
                .unwrap()
                .contains("confirmed by the MCP host (--approval host-confirmed)")
        );
        assert!(
            text(&result).contains("host-confirmed"),
            "named in the result: {}",
            text(&result)
        );
        assert!(trusting.asked().is_empty());
        assert_eq!(applied(&trusting).await.len(), 1);
        // Nobody was asked here, but the dry run ran first and the result carries the
        // briefing an approver would have been shown.
        let sent = trusting.writes_and_dry_runs().await;
        assert_eq!(
            sent.iter().map(|r| r.dry_run).collect::<Vec<_>>(),
            vec![true, false],
            "a dry run, then the write"
        );
        let briefing = report["briefing"].as_str().unwrap();
        assert!(
            briefing.starts_with("Approve rolling back deployment shop/api-server?")
                && briefing.contains("Server dry run: the API server accepted this exact patch"),
            "{briefing}"
        );
        assert!(text(&result).contains("briefing (what an approver would have been shown)"));
    })
    .await;
}

on_both_backends!(kubectls_refusals_come_before_asking_anyone);
async fn kubectls_refusals_come_before_asking_anyone(backend: Backend) {
    for_each_lifecycle(|lifecycle| async move {
        let host = Host::start_on(backend, Scenario::demo(), lifecycle).await;
        host.answer(Answer::approve("alice"));
        let message = refusal(&host.call("k8s_rollout_undo", api_server_undo(9)).await);
        assert!(
            message.contains(
                "unable to find specified revision 9 in history; existing revisions: 1, 2, 3, 4"
            ),
            "{message}"
        );
        let message = refusal(&host.call("k8s_rollout_undo", api_server_undo(4)).await);
        assert!(
            message.contains("skipped rollback (current template already matches revision 4)"),
            "{message}"
        );
        let message = refusal(&host.call("k8s_rollout_undo", api_server_undo(0)).await);
        assert!(
            message.contains("to_revision must be a positive integer"),
            "{message}"
        );
        let message = refusal(&host.call("k8s_rollout_undo", json!({"resource_type": "deployment", "name": "api-server", "namespace": "shop"})).await);
        assert!(message.contains("missing field `to_revision`"), "{message}");
        host.cluster
            .update("deployments", "shop", "api-server", |d| {
                d["spec"]["paused"] = json!(true)
            })
            .await;
        let message = refusal(&host.call("k8s_rollout_undo", api_server_undo(3)).await);
        assert!(
            message.contains("you cannot rollback a paused deployment"),
            "{message}"
        );
        assert!(host.writes().await.is_empty());
        assert!(
            host.asked().is_empty(),
            "nobody is asked about a plan kubectl would refuse"
        );
    })
    .await;
}

on_both_backends!(a_dry_run_asks_nobody_and_only_sends_a_server_dry_run);
async fn a_dry_run_asks_nobody_and_only_sends_a_server_dry_run(backend: Backend) {
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
    let mut arguments = api_server_undo(3);
    arguments["dry_run"] = json!(true);
    let result = host.call("k8s_rollout_undo", arguments).await;
    let report = structured(&result);
    assert_eq!(report["outcome"], "dry_run");
    assert_eq!(
        report["diff"]["changes"][0]["after"],
        "ghcr.io/example/api-server:1.2.0"
    );
    let writes = host.writes_and_dry_runs().await;
    assert_eq!(writes.len(), 1);
    assert!(
        writes[0].dry_run && writes[0].query.contains("dryRun=All"),
        "{:?}",
        writes[0]
    );
    assert!(host.asked().is_empty());
    assert_eq!(
        live_image(&host, "deployments", "api-server").await,
        kube_sim::DEMO_BAD_IMAGE
    );
    assert_eq!(
        history_numbers(&host, "deployments", "api-server").await,
        vec![1, 2, 3, 4]
    );
}

on_both_backends!(daemon_set_and_stateful_set_undos_patch_with_the_controller_revision);
async fn daemon_set_and_stateful_set_undos_patch_with_the_controller_revision(backend: Backend) {
    for_each_lifecycle(|lifecycle| async move {
        for (resource_type, resource, name, target, image) in [
            (
                "daemonset",
                "daemonsets",
                "node-agent",
                1,
                "ghcr.io/example/node-agent:2.4.0",
            ),
            (
                "statefulset",
                "statefulsets",
                "orders-db",
                2,
                "ghcr.io/example/orders-db:15.5",
            ),
        ] {
            let host = Host::start_on(backend, Scenario::demo(), lifecycle).await;
            let before = host.cluster.get(resource, "shop", name).await.unwrap();
            host.answer(Answer::Decline);
            refusal(
                &host
                    .call("k8s_rollout_undo", undo(resource_type, name, target))
                    .await,
            );
            let message = refusal(
                &host
                    .call("k8s_rollout_undo", undo(resource_type, name, 3))
                    .await,
            );
            assert!(message.contains("already matches revision 3"), "{message}");
            assert!(host.writes().await.is_empty());

            host.answer(Answer::approve("carol"));
            let result = host
                .call("k8s_rollout_undo", undo(resource_type, name, target))
                .await;
            let report = structured(&result);
            assert_eq!(
                report["new_revision"],
                4,
                "{resource_type} {lifecycle:?}: {}",
                text(&result)
            );
            let writes = host.writes().await;
            assert_eq!(writes.len(), 1);
            assert_content_type(&writes[0], "application/strategic-merge-patch+json");
            let body = writes[0].json().unwrap();
            assert_eq!(
                body["metadata"]["resourceVersion"],
                before["metadata"]["resourceVersion"]
            );
            assert_eq!(body["spec"]["template"]["$patch"], "replace");
            assert_eq!(live_image(&host, resource, name).await, image);
            let expected: Vec<i64> = [1, 2, 3]
                .into_iter()
                .filter(|n| *n != target)
                .chain([4])
                .collect();
            assert_eq!(
                history_numbers(&host, resource, name).await,
                expected,
                "{resource_type}: the old revision is renumbered, not copied"
            );
            assert!(
                report["warnings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|w| w.as_str().unwrap().contains("original change-cause"))
            );
        }
    })
    .await;
}

on_both_backends!(the_new_revision_is_read_back_when_controllers_lag_behind_the_write);
async fn the_new_revision_is_read_back_when_controllers_lag_behind_the_write(backend: Backend) {
    let mut options = HostOptions::new(Lifecycle::Handshake).on(backend);
    options.sim =
        SimOptions::new().controllers(ControllerMode::Delayed(Duration::from_millis(400)));
    let host = Host::start_with(Scenario::demo(), options).await;
    host.answer(Answer::approve("alice"));
    let mut arguments = api_server_undo(3);
    arguments["wait"] = json!(true);
    arguments["timeout_seconds"] = json!(30);
    let result = host.call("k8s_rollout_undo", arguments).await;
    let report = structured(&result);
    assert_eq!(report["new_revision"], 5, "{}", text(&result));
    assert_eq!(report["status"]["done"], true, "{}", text(&result));
    assert_eq!(
        report["status"]["message"],
        "deployment \"api-server\" successfully rolled out"
    );
}

/// DaemonSet and StatefulSet undo targets in the demo: (resource_type, resource, name, target,
/// image restored).
const CONTROLLER_REVISION_KINDS: [(&str, &str, &str, i64, &str); 2] = [
    (
        "daemonset",
        "daemonsets",
        "node-agent",
        1,
        "ghcr.io/example/node-agent:2.4.0",
    ),
    (
        "statefulset",
        "statefulsets",
        "orders-db",
        2,
        "ghcr.io/example/orders-db:15.5",
    ),
];

on_both_backends!(daemon_set_and_stateful_set_refusal_paths_write_nothing);
async fn daemon_set_and_stateful_set_refusal_paths_write_nothing(backend: Backend) {
    for (resource_type, resource, name, target, _) in CONTROLLER_REVISION_KINDS {
        let live_before = live_image(
            &Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await,
            resource,
            name,
        )
        .await;

        // A dry run asks nobody and sends only a server-side dry run.
        let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
        let mut dry = undo(resource_type, name, target);
        dry["dry_run"] = json!(true);
        assert_eq!(
            structured(&host.call("k8s_rollout_undo", dry).await)["outcome"],
            "dry_run"
        );
        assert!(
            host.writes().await.iter().all(|write| write.dry_run),
            "{:?}",
            host.writes().await
        );
        assert!(host.asked().is_empty());

        // The approval message shows what a human must see.
        host.answer(Answer::Decline);
        refusal(
            &host
                .call("k8s_rollout_undo", undo(resource_type, name, target))
                .await,
        );
        let asked = &host.asked()[0];
        for fact in [
            format!("{resource_type} shop/{name}"),
            format!("3 (live) -> {target}"),
            live_before.clone(),
        ] {
            assert!(
                asked.contains(&fact),
                "{resource_type}: the approval shows {fact:?}: {asked}"
            );
        }

        // A deploy while the human reads the question is not overwritten.
        let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
        host.while_asked(deploy_meanwhile(
            &host,
            resource,
            name,
            "ghcr.io/example/hotfix:9",
        ));
        host.answer(Answer::approve("alice"));
        let message = refusal(
            &host
                .call("k8s_rollout_undo", undo(resource_type, name, target))
                .await,
        );
        assert!(
            message.contains("409 Conflict") && message.contains("its live revision is now 4"),
            "{resource_type}: {message}"
        );
        assert!(
            applied(&host).await.is_empty(),
            "{resource_type}: {:?}",
            host.writes().await
        );
        assert_eq!(
            live_image(&host, resource, name).await,
            "ghcr.io/example/hotfix:9"
        );

        // A stateless approval for one revision cannot be spent on another.
        let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Stateless).await;
        let state = input_required(&host, undo(resource_type, name, target))
            .await
            .request_state
            .unwrap();
        let other = if target == 1 { 2 } else { 1 };
        let message = refusal(&retry(&host, undo(resource_type, name, other), state, true).await);
        assert!(
            message.contains("approves a different plan"),
            "{resource_type}: {message}"
        );
        assert!(host.writes().await.is_empty());
    }
}

on_both_backends!(daemon_set_and_stateful_set_read_back_waits_for_lagging_controllers);
async fn daemon_set_and_stateful_set_read_back_waits_for_lagging_controllers(backend: Backend) {
    for (resource_type, resource, name, target, image) in CONTROLLER_REVISION_KINDS {
        let mut options = HostOptions::new(Lifecycle::Handshake).on(backend);
        options.sim =
            SimOptions::new().controllers(ControllerMode::Delayed(Duration::from_millis(400)));
        let host = Host::start_with(Scenario::demo(), options).await;
        host.answer(Answer::approve("alice"));
        let result = host
            .call("k8s_rollout_undo", undo(resource_type, name, target))
            .await;
        let report = structured(&result);
        assert_eq!(
            report["new_revision"],
            4,
            "{resource_type}: {}",
            text(&result)
        );
        assert_eq!(live_image(&host, resource, name).await, image);
    }
}
