//! The rollout domain, free of MCP and of I/O: which revisions a workload has and how kubectl
//! numbers them, what the history says, what an undo would write, and whether a rollout is done.
//! Functions here take API objects and return decisions, so they are unit-tested without a
//! cluster; `crate::cluster` fetches the objects and `crate::mcp` presents the results.

pub mod clip;
pub mod diff;
pub mod evidence;
pub mod history;
pub mod kind;
pub mod names;
pub mod plan;
pub mod revisions;
pub mod status;
pub mod template;
pub mod warnings;
pub mod workload;
