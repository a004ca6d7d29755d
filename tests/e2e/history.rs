//! `k8s_rollout_history` end to end: kubectl's numbering, the facts beside it, the revision
//! view and diffs, exactly two API requests per call, and every refusal.

use kube_sim::{Fault, Scenario, Verb};
use serde_json::{Value, json};

use super::backend::Backend;
use super::host::{Host, HostOptions, Lifecycle, for_each_lifecycle, refusal, structured, text};

const API_SERVER: &str = "ghcr.io/example/api-server";

fn history(name: &str) -> Value {
    json!({"resource_type": "deployment", "name": name, "namespace": "shop"})
}

fn with(mut arguments: Value, extra: Value) -> Value {
    arguments
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    arguments
}

fn numbers(report: &Value) -> Vec<i64> {
    report["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["revision"].as_i64().unwrap())
        .collect()
}

on_both_backends!(history_numbers_revisions_like_kubectl_and_marks_the_live_one);
async fn history_numbers_revisions_like_kubectl_and_marks_the_live_one(backend: Backend) {
    for_each_lifecycle(|lifecycle| async move {
        let host = Host::start_on(backend, Scenario::demo(), lifecycle).await;
        let result = host
            .call("k8s_rollout_history", history("api-server"))
            .await;
        let report = structured(&result);
        assert_eq!(numbers(report), vec![1, 2, 3, 4], "{lifecycle:?}");
        assert_eq!(report["live_revision"], 4);
        let live: Vec<bool> = report["revisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["live"].as_bool().unwrap())
            .collect();
        assert_eq!(live, vec![false, false, false, true]);
        let newest = &report["revisions"][3];
        assert_eq!(
            newest["change_cause"],
            "1.3.0: migrate to the new config loader"
        );
        assert_eq!(
            newest["images"],
            json!([{"container": "api", "image": kube_sim::DEMO_BAD_IMAGE}])
        );
        assert!(
            newest["health"]
                .as_str()
                .unwrap()
                .contains("exceeded its progress deadline"),
            "the stuck deploy's health: {newest}"
        );
        assert!(report["revisions"][0]["health"].is_null());
        assert_eq!(report["omitted_older"], 0);
        if backend.has_clock() {
            assert_eq!(report["revisions"][0]["age"], "30d");
            assert!(text(&result).contains("4* 3h"), "{}", text(&result));
        }
    })
    .await;
}

on_both_backends!(a_history_call_makes_exactly_two_api_requests_even_with_a_diff);
async fn a_history_call_makes_exactly_two_api_requests_even_with_a_diff(backend: Backend) {
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
    // The demo's api-server crash-loops on its live revision: history also reads its pods and
    // Warning events to say why (two more requests, sent together).
    for (call, arguments) in [
        history("api-server"),
        with(
            history("api-server"),
            json!({"revision": 1, "compare_with": 2}),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        host.cluster.clear_requests();
        structured(&host.call("k8s_rollout_history", arguments).await);
        let mut requests = host.cluster.requests().await;
        // The session's first call reads the release first, once (kube-real's request log
        // holds only the test's namespaces).
        if call == 0 && backend == Backend::Sim {
            assert_eq!(requests.remove(0).path, "/version");
        }
        let mut paths: Vec<(String, String)> = requests
            .iter()
            .map(|r| (r.method.clone(), r.path.clone()))
            .collect();
        paths[2..].sort();
        let shop = host.cluster.ns("shop");
        let get = |path: String| ("GET".to_string(), path);
        assert_eq!(
            paths,
            vec![
                get(format!(
                    "/apis/apps/v1/namespaces/{shop}/deployments/api-server"
                )),
                get(format!("/apis/apps/v1/namespaces/{shop}/replicasets")),
                get(format!("/api/v1/namespaces/{shop}/events")),
                get(format!("/api/v1/namespaces/{shop}/pods")),
            ]
        );
        let list = &requests[1];
        assert!(
            list.query
                .contains("labelSelector=app%3Dapi-server%2Ctier+in+%28backend%29"),
            "listed by the selector, matchExpressions included: {}",
            list.query
        );
    }
    // A healthy one (staging's api-server) costs the two.
    host.cluster.clear_requests();
    let staging =
        json!({"resource_type": "deployment", "name": "api-server", "namespace": "staging"});
    structured(&host.call("k8s_rollout_history", staging).await);
    let requests = host.cluster.requests().await;
    assert_eq!(requests.len(), 2, "{requests:?}");
}

on_both_backends!(the_revision_view_is_the_template_an_undo_restores_with_env_values_redacted);
async fn the_revision_view_is_the_template_an_undo_restores_with_env_values_redacted(
    backend: Backend,
) {
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
    let result = host
        .call(
            "k8s_rollout_history",
            with(history("api-server"), json!({"revision": 1})),
        )
        .await;
    let detail = &structured(&result)["detail"];
    assert_eq!(detail["revision"], 1);
    let template = &detail["template"];
    assert!(
        template["metadata"]["labels"]
            .get("pod-template-hash")
            .is_none(),
        "restorable: {template}"
    );
    let env = &template["spec"]["containers"][0]["env"];
    assert_eq!(env[0], json!({"name": "LOG_LEVEL", "value": "<redacted>"}));
    assert_eq!(
        env[1]["valueFrom"]["secretKeyRef"],
        json!({"key": "url", "name": "api-server-db"})
    );
    assert_eq!(detail["diff"]["from"], "live template (revision 4)");
    assert_eq!(detail["diff"]["to"], "revision 1");
    let changes: Vec<String> = detail["diff"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {} {}",
                c["area"].as_str().unwrap(),
                c["subject"].as_str().unwrap(),
                c["kind"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        changes.contains(&"image container api changed".to_string()),
        "{changes:?}"
    );
    assert!(
        changes.contains(&"env env TRACING_ENABLED (container api) removed".to_string()),
        "{changes:?}"
    );
    assert!(
        changes.contains(&"resources limits.memory (container api) changed".to_string()),
        "{changes:?}"
    );
    assert!(
        !text(&result).contains("\"info\""),
        "an env value leaked: {}",
        text(&result)
    );
    assert!(
        detail["diff"]["unified"]
            .as_str()
            .unwrap()
            .contains(&format!("+        \"image\": \"{API_SERVER}:1.0.0\""))
    );
}

on_both_backends!(env_values_are_shown_only_when_the_operator_opts_in);
async fn env_values_are_shown_only_when_the_operator_opts_in(backend: Backend) {
    let host = Host::start_with(
        Scenario::demo(),
        HostOptions::new(Lifecycle::Handshake)
            .on(backend)
            .arg("--show-env-values"),
    )
    .await;
    let result = host
        .call(
            "k8s_rollout_history",
            with(history("api-server"), json!({"revision": 1})),
        )
        .await;
    let report = structured(&result);
    assert_eq!(report["env_values"], "shown");
    assert_eq!(
        report["detail"]["template"]["spec"]["containers"][0]["env"][0]["value"],
        "info"
    );
}

on_both_backends!(two_revisions_can_be_compared);
async fn two_revisions_can_be_compared(backend: Backend) {
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
    let result = host
        .call(
            "k8s_rollout_history",
            with(
                history("api-server"),
                json!({"revision": 2, "compare_with": 1}),
            ),
        )
        .await;
    let diff = &structured(&result)["detail"]["diff"];
    assert_eq!(
        (diff["from"].as_str(), diff["to"].as_str()),
        (Some("revision 1"), Some("revision 2"))
    );
    assert_eq!(diff["changes"][0]["before"], format!("{API_SERVER}:1.0.0"));
    assert_eq!(diff["changes"][0]["after"], format!("{API_SERVER}:1.1.0"));
}

on_both_backends!(limit_keeps_the_newest_revisions_and_counts_the_rest);
async fn limit_keeps_the_newest_revisions_and_counts_the_rest(backend: Backend) {
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
    let result = host
        .call(
            "k8s_rollout_history",
            with(history("api-server"), json!({"limit": 2})),
        )
        .await;
    let report = structured(&result);
    assert_eq!(numbers(report), vec![3, 4]);
    assert_eq!(report["omitted_older"], 2);
    assert!(text(&result).contains("2 older revisions not shown"));
}

on_both_backends!(daemon_set_and_stateful_set_history_come_from_controller_revisions);
async fn daemon_set_and_stateful_set_history_come_from_controller_revisions(backend: Backend) {
    for_each_lifecycle(|lifecycle| async move {
        let host = Host::start_on(backend, Scenario::demo(), lifecycle).await;
        for (resource_type, name, image) in [
            ("ds", "node-agent", "ghcr.io/example/node-agent:2.5.1"),
            ("sts", "orders-db", "ghcr.io/example/orders-db:15.6"),
        ] {
            let result = host
                .call(
                    "k8s_rollout_history",
                    json!({"resource_type": resource_type, "name": name, "namespace": "shop"}),
                )
                .await;
            let report = structured(&result);
            assert_eq!(numbers(report), vec![1, 2, 3], "{resource_type}");
            assert_eq!(report["live_revision"], 3);
            assert_eq!(report["revisions"][2]["images"][0]["image"], image);
            assert!(
                report["revisions"][2]["health"]
                    .as_str()
                    .unwrap()
                    .contains("rolled out")
                    || report["revisions"][2]["health"]
                        .as_str()
                        .unwrap()
                        .contains("complete"),
                "{report}"
            );
            let detail = host.call("k8s_rollout_history", json!({"resource_type": resource_type, "name": name, "namespace": "shop", "revision": 1})).await;
            assert!(
                structured(&detail)["detail"]["template"]
                    .get("$patch")
                    .is_none()
            );
        }
    })
    .await;
}

on_both_backends!(the_namespace_defaults_to_the_flag_then_the_context_then_default);
async fn the_namespace_defaults_to_the_flag_then_the_context_then_default(backend: Backend) {
    let arguments = json!({"resource_type": "Deployment", "name": "api-server"});
    let flag = Host::start_with(
        Scenario::demo(),
        HostOptions::new(Lifecycle::Handshake)
            .on(backend)
            .arg("--namespace")
            .arg("staging"),
    )
    .await;
    let result = flag.call("k8s_rollout_history", arguments.clone()).await;
    assert_eq!(structured(&result)["namespace"], "staging");
    assert_eq!(numbers(structured(&result)), vec![1, 2]);

    let options = HostOptions::new(Lifecycle::Handshake)
        .on(backend)
        .context_namespace("shop");
    let context = Host::start_with(Scenario::demo(), options).await;
    assert_eq!(
        structured(&context.call("k8s_rollout_history", arguments.clone()).await)["namespace"],
        "shop"
    );

    let plain = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
    let message = refusal(&plain.call("k8s_rollout_history", arguments).await);
    assert!(
        message.contains("not found in namespace \"default\""),
        "{message}"
    );
}

on_both_backends!(an_empty_history_says_so_like_kubectl);
async fn an_empty_history_says_so_like_kubectl(backend: Backend) {
    let scenario = Scenario::builder()
        .namespace("shop")
        .deployment("shop", "fresh", |d| {
            d.paused(true).revision(|t| t.image("app", "app:1"))
        })
        .build();
    let host = Host::start_on(backend, scenario, Lifecycle::Handshake).await;
    let result = host.call("k8s_rollout_history", history("fresh")).await;
    let report = structured(&result);
    assert_eq!(report["message"], "No rollout history found.");
    assert_eq!(numbers(report), Vec::<i64>::new());
}

on_both_backends!(unsupported_types_name_the_three_kinds_or_the_owner_to_roll_back);
async fn unsupported_types_name_the_three_kinds_or_the_owner_to_roll_back(backend: Backend) {
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
    let job = refusal(
        &host
            .call(
                "k8s_rollout_history",
                json!({"resource_type": "job", "name": "x", "namespace": "shop"}),
            )
            .await,
    );
    assert!(
        job.contains("deployment (deploy), daemonset (ds) or statefulset (sts)"),
        "{job}"
    );

    let replica_set = host.cluster.list("replicasets", "shop").await[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let owner_of = |resource_type: &str, name: &str| json!({"resource_type": resource_type, "name": name, "namespace": "shop"});
    let message = refusal(
        &host
            .call("k8s_rollout_history", owner_of("rs", &replica_set))
            .await,
    );
    assert!(
        message.contains("roll back deployment/api-server instead"),
        "{message}"
    );

    let pods = host.cluster.list("pods", "shop").await;
    let agent_pod = pods
        .iter()
        .find(|p| {
            p["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("node-agent")
        })
        .unwrap();
    let message = refusal(
        &host
            .call(
                "k8s_rollout_history",
                owner_of("pod", agent_pod["metadata"]["name"].as_str().unwrap()),
            )
            .await,
    );
    assert!(
        message.contains("roll back daemonset/node-agent instead"),
        "{message}"
    );
    let api_pod = pods
        .iter()
        .find(|p| {
            p["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("api-server")
        })
        .unwrap();
    let message = refusal(
        &host
            .call(
                "k8s_rollout_history",
                owner_of("po", api_pod["metadata"]["name"].as_str().unwrap()),
            )
            .await,
    );
    assert!(
        message.contains("roll back deployment/api-server instead"),
        "{message}"
    );
}

on_both_backends!(bad_names_are_refused_before_any_request);
async fn bad_names_are_refused_before_any_request(backend: Backend) {
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
    for (name, namespace) in [("Api_Server", "shop"), ("api-server", "Shop"), ("", "shop")] {
        let message = refusal(
            &host
                .call(
                    "k8s_rollout_history",
                    json!({"resource_type": "deploy", "name": name, "namespace": namespace}),
                )
                .await,
        );
        assert!(
            message.contains("DNS-1123") || message.contains("must not be empty"),
            "{message}"
        );
    }
    assert!(host.cluster.requests().await.is_empty());
    let message = refusal(
        &host
            .call(
                "k8s_rollout_history",
                json!({"resource_type": "deploy", "name": "x", "revison": 2}),
            )
            .await,
    );
    assert!(message.contains("unknown field `revison`"), "{message}");
    let message = refusal(&host.call("k8s_rollout_history", json!({"resource_type": "deploy", "name": "api-server", "namespace": "shop", "revision": 0})).await);
    assert_eq!(message, "revision must be a positive integer: 0");
}

on_both_backends!(a_missing_workload_is_named_with_close_names_in_its_namespace);
async fn a_missing_workload_is_named_with_close_names_in_its_namespace(backend: Backend) {
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
    let message = refusal(&host.call("k8s_rollout_history", history("api-servr")).await);
    assert_eq!(
        message,
        format!(
            "deployments.apps \"api-servr\" not found in namespace \"shop\"; did you mean api-server?\n(context \"{}\", server {})",
            host.cluster.context(),
            host.cluster.url()
        ),
        "a refusal names the cluster it is about, as every result does"
    );
    let message = refusal(
        &host
            .call(
                "k8s_rollout_history",
                with(history("api-server"), json!({"revision": 9})),
            )
            .await,
    );
    assert!(
        message.contains("unable to find specified revision 9 in history")
            && message
                .lines()
                .next()
                .unwrap()
                .ends_with("revisions are 1, 2, 3, 4"),
        "{message}"
    );
}

// kube-sim only: the denial is injected (RBAC on kube-real is proven with a ServiceAccount).
#[tokio::test]
async fn forbidden_says_which_verb_resource_and_namespace_are_missing() {
    let host = Host::start(Scenario::demo(), Lifecycle::Handshake).await;
    host.sim().deny_in(Verb::List, "replicasets", "shop");
    let message = refusal(
        &host
            .call("k8s_rollout_history", history("api-server"))
            .await,
    );
    assert!(message.starts_with("forbidden: the credentials of context \"kube-sim\" may not list replicasets in namespace \"shop\""), "{message}");
    assert!(
        message.contains("cannot list resource \"replicasets\" in API group \"apps\""),
        "the API's own words: {message}"
    );
}

// No cluster at all: nothing listens on the kubeconfig's port.
#[tokio::test]
async fn an_unreachable_api_server_is_reported_per_call_naming_it() {
    // A kubeconfig for a server nothing listens on (port 1 is never bound): the server starts,
    // and each call says why it cannot answer.
    let dir = super::host::tempdir::Dir::new("unreachable");
    let kubeconfig = dir.path().join("kubeconfig");
    let sim = kube_sim::Sim::start(Scenario::empty()).await;
    let url = "http://127.0.0.1:1";
    std::fs::write(&kubeconfig, sim.kubeconfig().replace(&sim.url(), url)).unwrap();
    let mut options = HostOptions::new(Lifecycle::Handshake);
    options.kubeconfig = Some(kubeconfig);
    let stranded = Host::start_with(Scenario::empty(), options).await;
    let message = refusal(
        &stranded
            .call("k8s_rollout_history", history("api-server"))
            .await,
    );
    assert!(
        message.starts_with(&format!("cannot reach the API server at {url}")),
        "{message}"
    );
}

// kube-sim only: the delay is injected.
#[tokio::test]
async fn a_slow_api_server_is_reported_per_call_with_the_time_limit() {
    let host = Host::start_with(
        Scenario::demo(),
        HostOptions::new(Lifecycle::Handshake)
            .arg("--request-timeout")
            .arg("1s"),
    )
    .await;
    host.sim().inject_fault(
        Fault::on(Verb::Get, "deployments")
            .named("api-server")
            .delay(std::time::Duration::from_secs(3))
            .once(),
    );
    let message = refusal(
        &host
            .call("k8s_rollout_history", history("api-server"))
            .await,
    );
    assert!(
        message.starts_with(&format!(
            "the API server at {} (context \"kube-sim\") did not answer within 1s while trying to get deployments",
            host.sim().url()
        )),
        "{message}"
    );
}
