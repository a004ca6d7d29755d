//! End-to-end tests: the real `k8s-rollout-mcp` binary over stdio, driven by rmcp's client,
//! against `kube-sim`; and upstream kubectl on the same simulated cluster as the oracle.

mod host;
mod kubectl;

mod audit;
mod cli;
mod differential;
mod dry_run;
mod faults;
mod history;
mod signals;
mod stale_deadline;
mod status;
mod undo;
