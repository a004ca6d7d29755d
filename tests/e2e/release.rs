//! The Kubernetes releases the server is tested against (1.34 to 1.37, `src/cluster/version.rs`):
//! a cluster outside them is warned about once per context, in its first result's warnings
//! (and on stderr), and never refused.

use kube_sim::{Scenario, SimOptions};
use serde_json::{Value, json};

use super::backend::Backend;
use super::host::{Host, HostOptions, Lifecycle, structured, text};

const UNTESTED: &str = "outside the releases this server is tested against (1.34 to 1.37)";

fn warned(report: &Value) -> Vec<String> {
    report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|warning| warning.contains(UNTESTED))
        .map(str::to_string)
        .collect()
}

on_both_backends!(the_first_result_of_a_context_warns_once_of_an_untested_release);
async fn the_first_result_of_a_context_warns_once_of_an_untested_release(backend: Backend) {
    // kube-sim answers /version as 1.33 unless told otherwise; kube-real runs a tested release.
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
    let target = json!({"resource_type": "deployment", "name": "api-server", "namespace": "shop"});
    let first = host.call("k8s_rollout_status", target.clone()).await;
    let second = host.call("k8s_rollout_history", target).await;
    match backend {
        Backend::Sim => {
            assert_eq!(
                warned(structured(&first)),
                [format!(
                    "the API server runs Kubernetes v1.33.0 (minor 1.33), {UNTESTED}: rollbacks most likely work, but this release's controllers and kubectl have not been compared"
                )]
            );
            assert!(text(&first).contains(&format!(
                "warning: the API server runs Kubernetes v1.33.0 (minor 1.33), {UNTESTED}"
            )));
        }
        Backend::Real => assert_eq!(warned(structured(&first)), Vec::<String>::new()),
    }
    assert_eq!(warned(structured(&second)), Vec::<String>::new(), "once");
}

#[tokio::test]
async fn a_tested_release_is_not_warned_about() {
    let mut options = HostOptions::new(Lifecycle::Handshake);
    options.sim = SimOptions::new().kube_version(36);
    let host = Host::start_with(Scenario::demo(), options).await;
    let target = json!({"resource_type": "deployment", "name": "api-server", "namespace": "shop"});
    let result = host.call("k8s_rollout_history", target).await;
    assert_eq!(warned(structured(&result)), Vec::<String>::new());
}
