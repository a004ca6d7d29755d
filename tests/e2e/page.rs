//! The approval page over HTTP, with the person played by the test (`person.rs`): handed over
//! by URL-mode elicitation on both lifecycles; every forged or late decision writes nothing; a
//! host that gives up on the call resumes the same page when it calls again, and the write
//! goes out once. The page in a real browser is `browser.rs`.

use std::time::Duration;

use kube_sim::Scenario;
use rmcp::model::{CallToolRequestParams, ClientRequest, Request};
use rmcp::service::PeerRequestOptions;
use serde_json::{Value, json};

use super::backend::Backend;
use super::host::{
    Answer, Host, HostOptions, Lifecycle, for_each_lifecycle, params, refusal, structured,
};
use super::person::{self, Dress};

fn undo() -> Value {
    json!({"resource_type": "deployment", "name": "api-server", "namespace": "shop",
           "to_revision": 3, "reason": "checkout errors"})
}

/// A host whose client declares URL-mode elicitation only (no forms).
async fn url_host(backend: Backend, lifecycle: Lifecycle, extra: &[&str]) -> Host {
    let mut options = HostOptions::new(lifecycle).on(backend);
    options.elicitation = false;
    options.url_elicitation = true;
    for arg in extra {
        options = options.arg(arg);
    }
    let host = Host::start_with(Scenario::demo(), options).await;
    host.answer(Answer::approve("ignored: the page decides"));
    host
}

/// The page's URL once the client was handed it (the `n`th, counting from 1).
async fn handed_url(host: &Host, n: usize) -> String {
    for _ in 0..400 {
        if let Some(url) = host.urls().get(n - 1) {
            return url.clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no approval page URL was handed to the client")
}

on_both_backends!(url_mode_elicitation_hands_over_the_page_where_the_person_approves);
async fn url_mode_elicitation_hands_over_the_page_where_the_person_approves(backend: Backend) {
    for_each_lifecycle(|lifecycle| async move {
        let host = url_host(backend, lifecycle, &[]).await;
        let (result, ()) = tokio::join!(host.call("k8s_rollout_undo", undo()), async {
            let url = handed_url(&host, 1).await;
            assert!(url.starts_with("http://127.0.0.1:"), "{url}");
            let page = person::get(&url, &Dress::default()).await;
            assert_eq!(page.status, 200);
            for shown in [
                "Approve rolling back deployment",
                "api-server",
                "ghcr.io/example/api-server:1.2.0",
                "Approve rollback",
                "Decline",
                "Your name",
                "checkout errors",
            ] {
                assert!(page.body.contains(shown), "{lifecycle:?}: {shown}");
            }
            let csp = page.headers["content-security-policy"].to_str().unwrap();
            assert!(
                csp.starts_with("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
                "{csp}"
            );
            assert_eq!(page.headers["cache-control"], "no-store");
            assert_eq!(page.headers["referrer-policy"], "no-referrer");
            let decided = person::decide(&url, "approve", "Jane Doe").await;
            assert_eq!(decided.status, 303, "{}", decided.body);
        });
        let report = structured(&result);
        assert_eq!(report["outcome"], "rolled_back", "{lifecycle:?}");
        assert_eq!(report["approval"]["path"], "url");
        assert!(
            report["change_cause"]
                .as_str()
                .unwrap()
                .contains("approved by Jane Doe"),
            "{report}"
        );
        assert!(
            !serde_json::to_string(&result)
                .unwrap()
                .contains("/approval/"),
            "the URL never reaches the agent"
        );
        assert_eq!(host.writes().await.len(), 1);
        let audit = host.audit();
        let approved = audit.iter().find(|r| r["event"] == "approved").unwrap();
        assert_eq!(approved["approval_path"], "url");
        assert_eq!(approved["approver"], "Jane Doe");
        assert!(
            !serde_json::to_string(&audit)
                .unwrap()
                .contains("/approval/")
        );
        // A reload shows the outcome in place of the buttons.
        let url = host.urls()[0].clone();
        let reloaded = person::get(&url, &Dress::default()).await;
        assert!(
            reloaded.body.contains("Written:") && !reloaded.body.contains("Approve rollback"),
            "{}",
            reloaded.body
        );
    })
    .await;
}

on_both_backends!(forged_replayed_and_late_decisions_write_nothing);
async fn forged_replayed_and_late_decisions_write_nothing(backend: Backend) {
    let host = url_host(backend, Lifecycle::Handshake, &[]).await;
    let (result, ()) = tokio::join!(host.call("k8s_rollout_undo", undo()), async {
        let url = handed_url(&host, 1).await;
        let page = person::get(&url, &Dress::default()).await;
        let csrf = person::csrf(&page.body);
        let own = Dress::own(&url);
        let port = url.trim_start_matches("http://127.0.0.1:");
        let port = port.split('/').next().unwrap();
        let foreign_host = Dress {
            host: Some(format!("rebound.example:{port}")),
            origin: Some(format!("http://rebound.example:{port}")),
        };
        let wrong_secret = format!("{}x", &url[..url.len() - 1]);
        let forgeries = [
            (
                "a wrong secret",
                wrong_secret.as_str(),
                own.clone(),
                csrf.clone(),
                404,
            ),
            (
                "a foreign Host",
                url.as_str(),
                foreign_host.clone(),
                csrf.clone(),
                403,
            ),
            (
                "no Origin",
                url.as_str(),
                Dress {
                    origin: None,
                    ..own.clone()
                },
                csrf.clone(),
                403,
            ),
            (
                "a foreign Origin",
                url.as_str(),
                Dress {
                    origin: Some("http://evil.example".into()),
                    ..own.clone()
                },
                csrf.clone(),
                403,
            ),
            (
                "no form token",
                url.as_str(),
                own.clone(),
                String::new(),
                403,
            ),
            (
                "a wrong form token",
                url.as_str(),
                own.clone(),
                format!("{csrf}x"),
                403,
            ),
        ];
        for (what, target, dress, token, status) in forgeries {
            let answer = person::post(target, &dress, &token, "approve", "mallory").await;
            assert_eq!(answer.status, status, "{what}: {}", answer.body);
        }
        assert_eq!(
            person::get(&url, &foreign_host).await.status,
            403,
            "a DNS-rebound page cannot even read it"
        );
        // The person declines; a replayed approval afterwards changes nothing.
        assert_eq!(
            person::post(&url, &own, &csrf, "decline", "alice")
                .await
                .status,
            303
        );
        let replayed = person::post(&url, &own, &csrf, "approve", "mallory").await;
        assert_eq!(replayed.status, 303);
        let shown = person::get(&url, &Dress::default()).await;
        assert!(shown.body.contains("Declined"), "{}", shown.body);
    });
    let message = refusal(&result);
    assert!(message.contains("declined"), "{message}");
    assert!(host.writes().await.is_empty(), "nothing was written");
    let audit = host.audit();
    assert_eq!(audit.last().unwrap()["event"], "declined");
    assert_eq!(audit.last().unwrap()["approval_path"], "url");

    // A page past its time: the decision comes too late, and nothing is written.
    let late = url_host(backend, Lifecycle::Handshake, &["--approval-timeout", "2s"]).await;
    let (result, ()) = tokio::join!(late.call("k8s_rollout_undo", undo()), async {
        let url = handed_url(&late, 1).await;
        let page = person::get(&url, &Dress::default()).await;
        let csrf = person::csrf(&page.body);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let answer = person::post(&url, &Dress::own(&url), &csrf, "approve", "alice").await;
        assert!(
            matches!(answer.status, 0 | 404),
            "expired, and the listener closed with its last page: {answer:?}"
        );
    });
    assert!(
        refusal(&result).contains("no answer"),
        "{}",
        refusal(&result)
    );
    assert!(late.writes().await.is_empty());
}

on_both_backends!(a_deploy_while_the_page_is_open_is_not_overwritten);
async fn a_deploy_while_the_page_is_open_is_not_overwritten(backend: Backend) {
    let host = url_host(backend, Lifecycle::Handshake, &[]).await;
    let (result, ()) = tokio::join!(host.call("k8s_rollout_undo", undo()), async {
        let url = handed_url(&host, 1).await;
        host.cluster
            .update("deployments", "shop", "api-server", |d| {
                d["spec"]["template"]["spec"]["containers"][0]["image"] =
                    json!("ghcr.io/example/api-server:1.3.1");
            })
            .await;
        person::decide(&url, "approve", "alice").await;
    });
    let message = refusal(&result);
    assert!(
        message.contains("409 Conflict") && message.contains("nothing was written"),
        "{message}"
    );
    let shown = person::get(&host.urls()[0], &Dress::default()).await;
    assert!(
        shown.body.contains("409 Conflict"),
        "the page tells the outcome: {}",
        shown.body
    );
}

on_both_backends!(a_host_that_gives_up_on_the_call_resumes_the_page_and_writes_once);
async fn a_host_that_gives_up_on_the_call_resumes_the_page_and_writes_once(backend: Backend) {
    let host = url_host(backend, Lifecycle::Handshake, &[]).await;
    // The host's own time limit (60 s in hosts built on the TypeScript SDK; 3 s here): it
    // cancels the call while the person is still reading.
    let mut options = PeerRequestOptions::no_options();
    options.timeout = Some(Duration::from_secs(3));
    let request: CallToolRequestParams = params("k8s_rollout_undo", host.translated(undo()));
    let handle = host
        .peer()
        .send_request_with_option(
            ClientRequest::CallToolRequest(Request::new(request)),
            options,
        )
        .await
        .expect("the call is sent");
    let gave_up = handle.await_response().await;
    assert!(
        matches!(gave_up, Err(rmcp::service::ServiceError::Timeout { .. })),
        "the host gave up: {gave_up:?}"
    );
    let url = handed_url(&host, 1).await;
    // The person decides after the host gave up; the page is still valid.
    assert_eq!(person::decide(&url, "approve", "alice").await.status, 303);
    // The agent calls again: the same page is resumed, already approved.
    let result = host.call("k8s_rollout_undo", undo()).await;
    assert_eq!(structured(&result)["outcome"], "rolled_back");
    assert_eq!(
        host.urls(),
        vec![url.clone(), url],
        "one page, handed over twice"
    );
    assert_eq!(host.writes().await.len(), 1, "written once");
    let events = host.audit_events();
    assert_eq!(
        events.iter().filter(|e| *e == "approval_requested").count(),
        2
    );
    assert!(events.contains(&"cancelled".to_string()), "{events:?}");
}
