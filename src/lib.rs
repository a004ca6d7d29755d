//! k8s-rollout-mcp: an MCP server that turns Kubernetes rollbacks into a safe workflow:
//! inspect history, pick the target revision, get a human's approval, undo, verify, and keep
//! an audit trail.

pub mod access;
pub mod approval;
pub mod audit;
pub mod cluster;
pub mod config;
pub mod follow;
pub mod mcp;
pub mod platform;
pub mod rollout;
pub mod transport;
pub mod undo;
pub mod verify;
