//! What an undo's patch writes beyond the pod template is shown and bound: a ControllerRevision
//! whose data would write more than its template is listed but refused; the annotations a
//! Deployment undo replaces are listed in the question, and an approval does not carry over to
//! a patch whose annotations changed since it was asked.

use kube_sim::Scenario;
use serde_json::{Value, json};

use super::backend::Backend;
use super::host::{Answer, Host, Lifecycle, refusal, structured};

fn database() -> Scenario {
    Scenario::builder()
        .namespace("shop")
        .statefulset("shop", "db", |s| {
            s.replicas(2)
                .revision(|t| t.image("db", "db:1").change_cause("one").days_ago(2))
                .revision(|t| t.image("db", "db:2").change_cause("two").days_ago(1))
        })
        .build()
}

fn web() -> Scenario {
    Scenario::builder()
        .namespace("shop")
        .deployment("shop", "web", |d| {
            d.replicas(1)
                .revision(|t| t.image("app", "web:1").days_ago(2))
                .revision(|t| {
                    t.image("app", "web:2")
                        .annotation("owner", "team-a")
                        .days_ago(1)
                })
        })
        .build()
}

fn undo(resource_type: &str, name: &str, to_revision: i64) -> Value {
    json!({"resource_type": resource_type, "name": name, "namespace": "shop",
           "to_revision": to_revision, "reason": "errors"})
}

/// The revision object (ReplicaSet or ControllerRevision) carrying `number`.
async fn revision_object(host: &Host, resource: &str, number: i64) -> Value {
    host.cluster
        .list(resource, "shop")
        .await
        .into_iter()
        .find(|object| {
            let annotation =
                &object["metadata"]["annotations"]["deployment.kubernetes.io/revision"];
            object["revision"] == number
                || annotation.as_str().and_then(|n| n.parse().ok()) == Some(number)
        })
        .unwrap_or_else(|| panic!("{resource} of revision {number}"))
}

on_both_backends!(a_controller_revision_that_writes_more_than_its_template_is_listed_but_refused);
async fn a_controller_revision_that_writes_more_than_its_template_is_listed_but_refused(
    backend: Backend,
) {
    let host = Host::start_on(backend, database(), Lifecycle::Handshake).await;
    host.answer(Answer::approve("alice"));
    // A snapshot of revision 1's template that also scales the StatefulSet to zero, as a
    // hand-written or foreign ControllerRevision may: kubectl would apply its data whole.
    let first = revision_object(&host, "controllerrevisions", 1).await;
    let mut data = first["data"].clone();
    data["spec"]["replicas"] = json!(0);
    let extra = json!({
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": "db-by-hand", "labels": first["metadata"]["labels"],
                     "ownerReferences": first["metadata"]["ownerReferences"]},
        "revision": 7,
        "data": data,
    });
    host.cluster
        .create("controllerrevisions", "shop", extra)
        .await;

    let history = structured(
        &host
            .call(
                "k8s_rollout_history",
                json!({"resource_type": "statefulset", "name": "db", "namespace": "shop"}),
            )
            .await,
    )
    .clone();
    // Listed, as kubectl lists it. (The StatefulSet controller may renumber the live revision
    // above it, as it does when the highest number is not the live template's.)
    let listed = history["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["revision"] == 7)
        .unwrap_or_else(|| panic!("revision 7 listed: {history}"));
    assert_eq!(listed["object"], "db-by-hand");
    assert!(
        history["warnings"].to_string().contains(
            "controllerrevision db-by-hand's data also sets spec.replicas; an undo writes the data whole"
        ),
        "{history}"
    );
    let message = refusal(
        &host
            .call("k8s_rollout_undo", undo("statefulset", "db", 7))
            .await,
    );
    assert!(
        message.contains("revision 7 cannot be used")
            && message.contains("also sets spec.replicas")
            && message.contains("Nothing was written"),
        "{message}"
    );
    assert!(host.asked().is_empty());
    assert!(
        host.writes_and_dry_runs().await.is_empty(),
        "not even a dry run"
    );
    let live = host
        .cluster
        .get("statefulsets", "shop", "db")
        .await
        .unwrap();
    assert_eq!(live["spec"]["replicas"], 2);
}

on_both_backends!(the_question_lists_the_annotations_a_deployment_undo_replaces);
async fn the_question_lists_the_annotations_a_deployment_undo_replaces(backend: Backend) {
    let host = Host::start_on(backend, web(), Lifecycle::Handshake).await;
    host.answer(Answer::Decline);
    refusal(
        &host
            .call("k8s_rollout_undo", undo("deployment", "web", 1))
            .await,
    );
    let question = &host.asked()[0];
    assert!(
        question.contains("Workload annotation changes (")
            && question.contains("  - annotation owner: removed team-a")
            && question.contains(
                "  - annotation kubernetes.io/change-cause: added rollback to revision 1 approved by <approver> via k8s-rollout-mcp: errors"
            )
            && question.contains("  - annotation k8s-rollout-mcp.io/call-id: added "),
        "{question}"
    );
    let dry = structured(
        &host
            .call("k8s_rollout_undo", {
                let mut arguments = undo("deployment", "web", 1);
                arguments["dry_run"] = json!(true);
                arguments
            })
            .await,
    )
    .clone();
    assert!(
        dry["annotation_changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|change| change["subject"] == "annotation owner" && change["kind"] == "removed"),
        "{dry}"
    );
}

on_both_backends!(an_approval_does_not_carry_over_to_a_patch_whose_annotations_changed);
async fn an_approval_does_not_carry_over_to_a_patch_whose_annotations_changed(backend: Backend) {
    let host = Host::start_on(backend, web(), Lifecycle::Stateless).await;
    let first = revision_object(&host, "replicasets", 1).await;
    let name = first["metadata"]["name"].as_str().unwrap().to_string();
    let cluster = host.cluster.clone();
    // While the human reads the question, someone relabels the target ReplicaSet: the undo
    // would now copy an annotation nobody was shown.
    host.while_asked(move || {
        tokio::runtime::Handle::current().block_on(cluster.update(
            "replicasets",
            "shop",
            &name,
            |rs| rs["metadata"]["annotations"]["team"] = json!("fraud"),
        ));
    });
    host.answer(Answer::approve("alice"));
    let message = refusal(
        &host
            .call("k8s_rollout_undo", undo("deployment", "web", 1))
            .await,
    );
    assert!(
        message.contains(
            "the patch the write would send changed (the target revision's annotations or data)"
        ),
        "{message}"
    );
    assert!(host.writes().await.is_empty(), "nothing written");
    assert_eq!(
        host.audit_events().last().map(String::as_str),
        Some("state_rejected")
    );
}
