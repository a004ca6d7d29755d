//! End-to-end tests: the real `k8s-rollout-mcp` binary over stdio, driven by rmcp's client,
//! against `kube-sim`; and upstream kubectl on the same simulated cluster as the oracle.

mod host;
mod kubectl;
mod raw;

mod arguments;
mod audit;
mod cli;
mod differential;
mod history;
mod hostile;
mod load;
mod protocol;
mod status;
mod undo;
