//! Identities the cluster can confirm: the Kubernetes user a `SelfSubjectReview` names, in
//! the approval prompt and every undo audit record; the OS user; the `User-Agent` of every
//! request. A cluster that cannot say who we are makes the user unknown, not the undo fail.

use kube_sim::{Scenario, Verb};
use serde_json::{Value, json};

use super::backend::Backend;
use super::host::{Answer, Host, Lifecycle, structured};

const USER_AGENT: &str = concat!("k8s-rollout-mcp/", env!("CARGO_PKG_VERSION"));

fn api_server_undo() -> Value {
    json!({"resource_type": "deployment", "name": "api-server", "namespace": "shop", "to_revision": 3, "reason": "errors"})
}

/// The user the backend's kubeconfig authenticates as.
fn admin(backend: Backend) -> &'static str {
    match backend {
        Backend::Sim => "kubernetes-admin",
        Backend::Real => kube_real::ADMIN_USER,
    }
}

on_both_backends!(an_undo_shows_and_records_the_kube_user_it_writes_as);
async fn an_undo_shows_and_records_the_kube_user_it_writes_as(backend: Backend) {
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
    host.answer(Answer::approve("alice"));
    structured(&host.call("k8s_rollout_undo", api_server_undo()).await);
    let user = admin(backend);
    let prompt = &host.asked()[0];
    let cluster_line = prompt
        .lines()
        .position(|l| l.starts_with("Cluster: "))
        .unwrap();
    assert_eq!(
        prompt.lines().nth(cluster_line + 1),
        Some(format!("Writes as: kube user \"{user}\"").as_str()),
        "{prompt}"
    );
    let records = host.audit();
    assert_eq!(
        records.len(),
        6,
        "planned, dry_run, approval_requested, approved, written, read_back"
    );
    for record in &records {
        assert_eq!(record["kube_user"], user, "{record}");
        assert!(record["kube_user_unknown"].is_null(), "{record}");
        assert!(
            record["kube_groups"]
                .as_array()
                .unwrap()
                .contains(&json!("system:masters")),
            "{record}"
        );
        assert!(!record["os_user"].as_str().unwrap().is_empty(), "{record}");
    }
}

#[tokio::test]
async fn every_request_carries_the_user_agent_and_the_user_is_asked_once() {
    let host = Host::start(Scenario::demo(), Lifecycle::Handshake).await;
    host.answer(Answer::approve("alice"));
    structured(&host.call("k8s_rollout_undo", api_server_undo()).await);
    host.answer(Answer::approve("alice"));
    let again = json!({"resource_type": "deployment", "name": "api-server", "namespace": "shop", "to_revision": 4});
    structured(&host.call("k8s_rollout_undo", again).await);
    let requests = host.sim().requests();
    assert!(requests.len() > 5);
    for r in &requests {
        assert_eq!(
            r.user_agent.as_deref(),
            Some(USER_AGENT),
            "{} {}",
            r.method,
            r.path
        );
    }
    let reviews = requests
        .iter()
        .filter(|r| r.path.ends_with("/selfsubjectreviews"))
        .count();
    assert_eq!(reviews, 1, "one SelfSubjectReview per context");
}

#[tokio::test]
async fn a_forbidden_self_subject_review_leaves_the_user_unknown_and_the_undo_intact() {
    let host = Host::start(Scenario::demo(), Lifecycle::Handshake).await;
    host.sim().deny(Verb::Create, "selfsubjectreviews");
    host.answer(Answer::approve("alice"));
    let result = host.call("k8s_rollout_undo", api_server_undo()).await;
    assert_eq!(structured(&result)["outcome"], "rolled_back");
    assert!(
        host.asked()[0].contains(
            "Writes as: kube user unknown (the credentials may not create selfsubjectreviews)"
        ),
        "{}",
        host.asked()[0]
    );
    let written = host.audit().pop().unwrap();
    assert!(written["kube_user"].is_null());
    assert_eq!(
        written["kube_user_unknown"],
        "the credentials may not create selfsubjectreviews"
    );
}
