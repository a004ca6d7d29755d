//! The RBAC manifests in `deploy/` against what the server really sends.
//!
//! On kube-sim an exhaustive workflow run (every tool on every kind, with and without `wait`, a
//! dry run and an approved undo, a ReplicaSet and a Pod followed to their workload, a missing
//! name with its "did you mean" list) records every request; each (API group, resource, verb)
//! in that log must be granted by `deploy/rbac.yaml` (and the reads by
//! `deploy/rbac-read-only.yaml`), and each rule the manifests grant must be used by that run or
//! listed in [`RESERVED`] with the reason. A request that new code adds and nobody grants fails
//! here, not with a 403 mid-incident.
//!
//! On kube-real the manifests are applied and the server runs as their ServiceAccounts: the
//! whole flow with no 403, the read-only account refused the undo naming the verb, and the
//! namespaced Role working in its namespace only.

use std::collections::BTreeSet;

use kube_sim::{RequestRecord, Scenario};
use serde_json::{Value, json};

use super::backend::Backend;
use super::host::{Answer, Host, HostOptions, Lifecycle, refusal, structured};

/// (API group, resource, verb); the core group is "".
type Permission = (String, String, String);

const CLUSTER_ROLE: &str = include_str!("../../deploy/rbac.yaml");
const READ_ONLY: &str = include_str!("../../deploy/rbac-read-only.yaml");
const NAMESPACED: &str = include_str!("../../deploy/rbac-namespaced.yaml");

/// Granted but not sent by the workflow run below, each with why it is granted anyway: the
/// read set is the same three verbs on every kind the server reads, so reading one of them
/// another way (a watch, a get by name) needs no new RBAC roll-out, and none of them writes.
const RESERVED: &[(&str, &str, &str, &str)] = &[
    (
        "",
        "pods",
        "watch",
        "the uniform read set (pods are listed for the evidence, got by name as a target)",
    ),
    (
        "",
        "events",
        "get",
        "the uniform read set (events are listed for the evidence)",
    ),
    (
        "",
        "events",
        "watch",
        "the uniform read set (events are listed for the evidence)",
    ),
    (
        "apps",
        "replicasets",
        "watch",
        "the uniform read set (ReplicaSets are listed as revisions, got by name as a target)",
    ),
    (
        "apps",
        "controllerrevisions",
        "get",
        "the uniform read set (ControllerRevisions are listed as revisions)",
    ),
    (
        "apps",
        "controllerrevisions",
        "watch",
        "the uniform read set (ControllerRevisions are listed as revisions)",
    ),
];

/// Every permission the Role and ClusterRole documents in `manifest` grant.
fn granted(manifest: &str) -> BTreeSet<Permission> {
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(manifest).expect("the manifest is YAML");
    let mut granted = BTreeSet::new();
    for document in documents
        .iter()
        .filter(|d| matches!(d["kind"].as_str(), Some("ClusterRole" | "Role")))
    {
        for rule in document["rules"].as_array().into_iter().flatten() {
            let list = |key: &str| -> Vec<String> {
                serde_json::from_value(rule[key].clone()).unwrap_or_default()
            };
            for group in list("apiGroups") {
                for resource in list("resources") {
                    for verb in list("verbs") {
                        granted.insert((group.clone(), resource.clone(), verb));
                    }
                }
            }
        }
    }
    granted
}

/// The permission one request needs, from its method, path and query.
fn needed(request: &RequestRecord) -> Permission {
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    // /api/v1/... or /apis/GROUP/VERSION/...
    let (group, rest) = match segments.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => panic!("not an API path: {}", request.path),
    };
    let (resource, named) = match rest {
        ["namespaces", _, resource, name, ..] => (*resource, Some(*name)),
        ["namespaces", _, resource] => (*resource, None),
        [resource, name, ..] => (*resource, Some(*name)),
        [resource] => (*resource, None),
        [] => panic!("no resource in {}", request.path),
    };
    let watch = request
        .query
        .split('&')
        .any(|pair| pair == "watch=true" || pair == "watch=1");
    let verb = match (request.method.as_str(), named, watch) {
        ("GET", _, true) => "watch",
        ("GET", Some(_), false) => "get",
        ("GET", None, false) => "list",
        ("PATCH", _, _) => "patch",
        ("POST", _, _) => "create",
        ("PUT", _, _) => "update",
        ("DELETE", _, _) => "delete",
        (other, _, _) => panic!("unexpected method {other}"),
    };
    (group.to_string(), resource.to_string(), verb.to_string())
}

fn reserved() -> BTreeSet<Permission> {
    RESERVED
        .iter()
        .map(|(g, r, v, _)| (g.to_string(), r.to_string(), v.to_string()))
        .collect()
}

fn named(items: &[Value]) -> String {
    items[0]["metadata"]["name"].as_str().unwrap().to_string()
}

/// Every tool on every kind; returns the requests of the read-only calls and of all.
async fn exhaustive_run(host: &Host) -> (Vec<RequestRecord>, Vec<RequestRecord>) {
    host.answer(Answer::approve("alice"));
    let workloads = [
        ("deployment", "api-server"),
        ("daemonset", "node-agent"),
        ("statefulset", "orders-db"),
    ];
    for (kind, name) in workloads {
        let target = json!({"resource_type": kind, "name": name, "namespace": "shop"});
        let report = structured(&host.call("k8s_rollout_history", target.clone()).await).clone();
        let earlier = report["revisions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|revision| revision["live"] == false)
            .map(|revision| revision["revision"].clone())
            .expect("an earlier revision");
        let mut detail = target.clone();
        detail["revision"] = earlier.clone();
        structured(&host.call("k8s_rollout_history", detail).await);
        structured(&host.call("k8s_rollout_status", target.clone()).await);
        let mut wait = target.clone();
        wait["wait"] = json!(true);
        wait["timeout_seconds"] = json!(5);
        structured(&host.call("k8s_rollout_status", wait).await);
    }
    let replicaset = named(&host.cluster.list("replicasets", "shop").await);
    let pod = named(&host.cluster.list("pods", "shop").await);
    for (kind, name) in [
        ("replicaset", replicaset.as_str()),
        ("pod", pod.as_str()),
        ("deployment", "api-servr"),
        ("daemonset", "node-agnt"),
        ("statefulset", "orders-d"),
    ] {
        let call = json!({"resource_type": kind, "name": name, "namespace": "shop"});
        refusal(&host.call("k8s_rollout_history", call).await);
    }
    let reads = host.cluster.requests().await;
    for (kind, name) in workloads {
        let target = json!({"resource_type": kind, "name": name, "namespace": "shop"});
        let report = structured(&host.call("k8s_rollout_history", target.clone()).await).clone();
        let earlier = report["revisions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|revision| revision["live"] == false)
            .map(|revision| revision["revision"].clone())
            .expect("an earlier revision");
        let mut undo = target.clone();
        undo["to_revision"] = earlier;
        undo["reason"] = json!("rbac coverage");
        let mut dry_run = undo.clone();
        dry_run["dry_run"] = json!(true);
        structured(&host.call("k8s_rollout_undo", dry_run).await);
        undo["wait"] = json!(true);
        undo["timeout_seconds"] = json!(5);
        structured(&host.call("k8s_rollout_undo", undo).await);
    }
    (
        api_requests(reads),
        api_requests(host.cluster.requests().await),
    )
}

/// The requests on API resources: the release check's `GET /version` is a non-resource URL
/// every user may read (Kubernetes' default `system:public-info-viewer` ClusterRole), so no
/// manifest of ours grants it.
fn api_requests(mut requests: Vec<RequestRecord>) -> Vec<RequestRecord> {
    requests.retain(|request| request.path != "/version");
    requests
}

#[tokio::test]
async fn the_manifests_grant_exactly_what_the_workflow_sends() {
    let host = Host::start(Scenario::demo(), Lifecycle::Handshake).await;
    let (reads, all) = exhaustive_run(&host).await;
    let sent: BTreeSet<Permission> = all.iter().map(needed).collect();
    let read: BTreeSet<Permission> = reads.iter().map(needed).collect();
    let (full, read_only, namespaced) = (
        granted(CLUSTER_ROLE),
        granted(READ_ONLY),
        granted(NAMESPACED),
    );
    println!(
        "{} requests, {} permissions used: {sent:?}",
        all.len(),
        sent.len()
    );

    let reserved = reserved();
    let missing: Vec<&Permission> = sent.difference(&full).collect();
    assert!(
        missing.is_empty(),
        "deploy/rbac.yaml does not grant {missing:?}"
    );
    let unused: Vec<&Permission> = full
        .iter()
        .filter(|p| !sent.contains(*p) && !reserved.contains(*p))
        .collect();
    assert!(
        unused.is_empty(),
        "deploy/rbac.yaml grants {unused:?}, which nothing uses: remove them, or list them in RESERVED with the reason"
    );
    let now_used: Vec<&Permission> = reserved.intersection(&sent).collect();
    assert!(
        now_used.is_empty(),
        "RESERVED lists {now_used:?}, which the workflow sends: take them out of RESERVED"
    );
    let stale: Vec<&Permission> = reserved.iter().filter(|p| !full.contains(*p)).collect();
    assert!(
        stale.is_empty(),
        "RESERVED lists {stale:?}, which deploy/rbac.yaml does not grant"
    );

    let missing: Vec<&Permission> = read.difference(&read_only).collect();
    assert!(
        missing.is_empty(),
        "deploy/rbac-read-only.yaml does not grant {missing:?}"
    );
    assert!(
        read_only.iter().all(|(_, _, verb)| verb == "get"
            || verb == "list"
            || verb == "watch"
            || verb == "create"),
        "{read_only:?}"
    );
    assert!(!read_only.iter().any(|(_, _, verb)| verb == "patch"));
    assert_eq!(
        read_only.difference(&full).count(),
        0,
        "the read-only role is a subset of the full one"
    );
    // The Role is the ClusterRole but for cluster-scoped SelfSubjectReviews.
    let cluster_scoped: BTreeSet<Permission> = full
        .iter()
        .filter(|(group, _, _)| group == "authentication.k8s.io")
        .cloned()
        .collect();
    assert_eq!(
        namespaced,
        full.difference(&cluster_scoped).cloned().collect()
    );
}

#[test]
fn requests_map_to_the_permission_they_need() {
    let request = |method: &str, path: &str, query: &str| RequestRecord {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        content_type: None,
        body: String::new(),
        status: 200,
        dry_run: false,
        user_agent: None,
    };
    let cases = [
        (
            request("GET", "/apis/apps/v1/namespaces/shop/deployments/web", ""),
            ("apps", "deployments", "get"),
        ),
        (
            request(
                "GET",
                "/apis/apps/v1/namespaces/shop/replicasets",
                "labelSelector=a%3Db&limit=500",
            ),
            ("apps", "replicasets", "list"),
        ),
        (
            request(
                "GET",
                "/apis/apps/v1/namespaces/shop/deployments",
                "fieldSelector=x&watch=true",
            ),
            ("apps", "deployments", "watch"),
        ),
        (
            request(
                "PATCH",
                "/apis/apps/v1/namespaces/shop/statefulsets/db",
                "dryRun=All",
            ),
            ("apps", "statefulsets", "patch"),
        ),
        (
            request("GET", "/api/v1/namespaces/shop/pods/web-1", ""),
            ("", "pods", "get"),
        ),
        (
            request(
                "POST",
                "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                "",
            ),
            ("authentication.k8s.io", "selfsubjectreviews", "create"),
        ),
        (
            request("POST", "/api/v1/namespaces/shop/events", ""),
            ("", "events", "create"),
        ),
    ];
    for (request, (group, resource, verb)) in cases {
        assert_eq!(
            needed(&request),
            (group.to_string(), resource.to_string(), verb.to_string()),
            "{} {}",
            request.method,
            request.path
        );
    }
}

/// The manifests' objects, created on the real cluster (kept if they exist: one per run).
async fn apply(client: &kube::Client, manifest: &str, namespace: Option<&str>) {
    use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    use kube::api::{Api, PostParams};
    let text = match namespace {
        Some(namespace) => manifest.replace("my-app", namespace),
        None => manifest.to_string(),
    };
    let documents: Vec<Value> = serde_saphyr::from_multiple(&text).expect("YAML");
    for document in documents {
        let ns = document["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let params = PostParams::default();
        let created = match document["kind"].as_str().unwrap_or_default() {
            "Namespace" => Api::<Namespace>::all(client.clone())
                .create(&params, &serde_json::from_value(document).unwrap())
                .await
                .map(drop),
            "ServiceAccount" => Api::<ServiceAccount>::namespaced(client.clone(), &ns)
                .create(&params, &serde_json::from_value(document).unwrap())
                .await
                .map(drop),
            "ClusterRole" => Api::<ClusterRole>::all(client.clone())
                .create(&params, &serde_json::from_value(document).unwrap())
                .await
                .map(drop),
            "ClusterRoleBinding" => Api::<ClusterRoleBinding>::all(client.clone())
                .create(&params, &serde_json::from_value(document).unwrap())
                .await
                .map(drop),
            "Role" => Api::<Role>::namespaced(client.clone(), &ns)
                .create(&params, &serde_json::from_value(document).unwrap())
                .await
                .map(drop),
            "RoleBinding" => Api::<RoleBinding>::namespaced(client.clone(), &ns)
                .create(&params, &serde_json::from_value(document).unwrap())
                .await
                .map(drop),
            other => panic!("unexpected kind {other} in a manifest"),
        };
        match created {
            Ok(()) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(error) => panic!("cannot apply the manifest: {error}"),
        }
    }
}

/// A kubeconfig for ServiceAccount `account` of namespace k8s-rollout-mcp, on kube-real.
async fn account_kubeconfig(account: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let cluster = kube_real::shared().expect("kube-real");
    let client = cluster.harness_client().await;
    let text = kube_real::service_account_kubeconfig(cluster, &client, "k8s-rollout-mcp", account)
        .await
        .expect("a token for the ServiceAccount");
    let path = dir.join(format!("{account}.kubeconfig"));
    std::fs::write(&path, text).unwrap();
    path
}

/// On kube-real only: the manifests applied, the flow as their ServiceAccounts.
#[tokio::test]
async fn the_service_accounts_run_the_flow_their_manifests_allow() {
    let Some(super::backend::RealCluster::Local(cluster)) = super::backend::real() else {
        return;
    };
    let admin = cluster.harness_client().await;
    apply(&admin, CLUSTER_ROLE, None).await;
    apply(&admin, READ_ONLY, None).await;
    let dir = super::host::tempdir::Dir::new("rbac");
    let full = account_kubeconfig("k8s-rollout-mcp", dir.path()).await;
    let read_only = account_kubeconfig("k8s-rollout-mcp-read-only", dir.path()).await;

    // The whole flow as k8s-rollout-mcp: no 403 anywhere.
    let mut options = HostOptions::new(Lifecycle::Handshake).on(Backend::Real);
    options.kubeconfig = Some(full.clone());
    let host = Host::start_with(Scenario::demo(), options).await;
    let (_, all) = exhaustive_run(&host).await;
    let forbidden: Vec<&RequestRecord> = all.iter().filter(|r| r.status == 403).collect();
    assert!(forbidden.is_empty(), "403s: {forbidden:?}");
    // The writes run as the ServiceAccount, as the API server confirms (SelfSubjectReview):
    // the approver is told so, and every record of the undo says so.
    let account = "system:serviceaccount:k8s-rollout-mcp:k8s-rollout-mcp";
    let asked = host.asked();
    assert!(
        asked
            .iter()
            .all(|question| question.contains(&format!("Writes as: kube user \"{account}\""))),
        "{asked:?}"
    );
    // (Undo records carry the kube user; a failure seen by a status wait has none.)
    let undo_records: Vec<Value> = host
        .audit()
        .into_iter()
        .filter(|record| record["event"] == "planned" || record["event"] == "written")
        .collect();
    assert!(!undo_records.is_empty(), "{:?}", host.audit_events());
    for record in &undo_records {
        assert_eq!(record["kube_user"], account, "{record}");
    }

    // As the read-only account: history and status work, the undo is forbidden by verb.
    let mut options = HostOptions::new(Lifecycle::Handshake).on(Backend::Real);
    options.kubeconfig = Some(read_only);
    let host = Host::start_with(Scenario::demo(), options).await;
    host.answer(Answer::approve("alice"));
    let target = json!({"resource_type": "deployment", "name": "api-server", "namespace": "shop"});
    structured(&host.call("k8s_rollout_history", target.clone()).await);
    structured(&host.call("k8s_rollout_status", target.clone()).await);
    let mut undo = target.clone();
    undo["to_revision"] = json!(1);
    let message = refusal(&host.call("k8s_rollout_undo", undo).await);
    assert!(
        message.contains("may not patch deployments in namespace \"shop\"")
            && message.contains("ask for RBAC permission to patch deployments.apps"),
        "{message}"
    );
}

/// On kube-real only: the namespaced Role grants its namespace and nothing else.
#[tokio::test]
async fn the_namespaced_role_works_in_its_namespace_only() {
    let Some(super::backend::RealCluster::Local(cluster)) = super::backend::real() else {
        return;
    };
    let admin = cluster.harness_client().await;
    let account = "k8s-rollout-mcp-namespaced";
    kube_real::create_namespace_named(&admin, "k8s-rollout-mcp")
        .await
        .unwrap();
    let seeded = Host::start_on(Backend::Real, Scenario::demo(), Lifecycle::Handshake).await;
    let shop = seeded.cluster.ns("shop");
    let staging = seeded.cluster.ns("staging");
    let role = NAMESPACED.replace(
        "name: k8s-rollout-mcp\n    namespace: k8s-rollout-mcp",
        &format!("name: {account}\n    namespace: k8s-rollout-mcp"),
    );
    apply(&admin, &role, Some(&shop)).await;
    let dir = super::host::tempdir::Dir::new("rbac");
    let kubeconfig = account_kubeconfig(account, dir.path()).await;
    // A host with nothing of its own to seed, talking about the seeded namespaces by name.
    let mut options = HostOptions::new(Lifecycle::Handshake).on(Backend::Real);
    options.kubeconfig = Some(kubeconfig);
    let host = Host::start_with(Scenario::empty(), options).await;
    let call =
        |ns: &str| json!({"resource_type": "deployment", "name": "api-server", "namespace": ns});
    structured(&host.call("k8s_rollout_history", call(&shop)).await);
    let message = refusal(&host.call("k8s_rollout_history", call(&staging)).await);
    assert!(message.contains("may not get deployments"), "{message}");
    drop(seeded);
}
