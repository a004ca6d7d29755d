//! End-to-end tests: the real `k8s-rollout-mcp` binary over stdio, driven by rmcp's client,
//! against kube-sim and against kube-real (a real control plane, see [`backend`]); and upstream
//! kubectl on the same cluster as the oracle.

/// Declares the test `NAME` once per backend, as `NAME::sim` on kube-sim and `NAME::real` on
/// kube-real (which skips, saying why, when the real backend cannot run here), both calling the
/// body `async fn NAME(backend: Backend)` beside it.
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sim() {
                super::$name(crate::backend::Backend::Sim).await
            }

            #[tokio::test]
            async fn real() {
                if crate::backend::real().is_some() {
                    super::$name(crate::backend::Backend::Real).await
                }
            }
        }
    };
}

mod admission;
mod backend;
mod browser;
mod host;
mod kubectl;
mod raw;

mod arguments;
mod audit;
mod audit_chain;
mod bounds;
mod cli;
mod cluster_event;
mod credentials;
mod differential;
mod dry_run;
mod evidence;
mod exec_plugin;
mod faults;
mod fidelity;
mod history;
mod hostile;
mod identity;
mod incluster;
mod kubeconfigs;
mod load;
mod operator;
mod page;
mod patch;
mod person;
mod protocol;
mod rbac;
mod release;
mod schemas;
mod signals;
mod stale_deadline;
mod status;
mod undo;
