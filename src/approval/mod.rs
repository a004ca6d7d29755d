//! A human's approval of an undo, obtained through MCP elicitation and failing closed.
//!
//! Two protocol paths reach the same question and the same decision:
//! - sessions with a handshake (2025-06-18, 2025-11-25) get an `elicitation/create` request
//!   during the tool call;
//! - 2026-07-28 sessions, which forbid server-to-client requests, get an
//!   `InputRequiredResult` carrying the elicitation and a sealed `requestState`
//!   ([`state`]), and repeat the call with the answer.
//!
//! Only an `accept` whose form says `approve: true` approves. Everything else (decline,
//! cancel, `approve: false`, a malformed answer, no answer in time, a client that cannot ask)
//! refuses, and the caller writes nothing.

pub mod form;
pub mod hosts;
pub mod state;

use std::time::Duration;

use rmcp::model::{
    ClientCapabilities, ElicitRequest, InputRequest, InputRequests, InputRequiredResult,
};
use rmcp::service::{Peer, RoleServer, ServiceError};
use tokio_util::sync::CancellationToken;

/// How the approval was obtained, named in results and the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalPath {
    /// `elicitation/create` during the call (handshake sessions).
    Elicitation,
    /// `InputRequiredResult` and a retried call (2026-07-28 sessions).
    InputRequired,
    /// The operator's `--approval host-confirmed`: the client cannot elicit and the host's own
    /// per-call confirmation is trusted.
    HostConfirmed,
}

impl ApprovalPath {
    /// The name used in results and the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Elicitation => "elicitation",
            Self::InputRequired => "input_required",
            Self::HostConfirmed => "host_confirmed",
        }
    }
}

/// Why no approval was given. Each refusal means no write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the approver declined the rollback")]
    Declined,
    #[error("the approval request was cancelled (dismissed without an answer)")]
    Cancelled,
    #[error("the approver answered approve=false")]
    NotApproved,
    #[error(
        "the approval answer was malformed ({0}); only an accepted form with approve=true approves"
    )]
    Malformed(String),
    #[error("no answer to the approval request within {0}s")]
    TimedOut(u64),
    #[error(
        "this MCP client did not declare the elicitation capability, so no human can be asked to approve. Use a client that supports elicitation (Claude Code, Cursor, VS Code Copilot, Codex, goose; Claude Desktop is not known to), or have the operator start the server with `--approval host-confirmed` to rely on the host's own per-call confirmation"
    )]
    NotSupported,
    #[error(
        "this MCP client (\"{}\": {}) declares elicitation but cannot show the approval form: {} ({}). So no human can be asked here, and the undo is refused at once rather than left waiting. Roll back from a client that shows the form (Claude Code, VS Code Copilot, Cursor), or have the operator start the server with `--approval host-confirmed` to rely on this host's own per-call confirmation",
        .0.client_name, .0.hosts, .0.behaviour, .0.source
    )]
    CannotAsk(&'static hosts::CannotAsk),
    #[error("the approval state sent back was rejected: {0}")]
    StateRejected(#[from] state::StateRejection),
    #[error("the approval request failed: {0}")]
    Failed(String),
}

/// The outcome of asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalDecision {
    Approved {
        approver: Option<String>,
        path: ApprovalPath,
    },
    Refused(Refusal),
}

/// Whether the client declared form elicitation (an empty `elicitation` object means form).
pub fn client_can_elicit(capabilities: Option<&ClientCapabilities>) -> bool {
    capabilities
        .and_then(|capabilities| capabilities.elicitation.as_ref())
        .is_some_and(|elicitation| elicitation.form.is_some() || elicitation.url.is_none())
}

/// Asks during the call with `elicitation/create` (handshake sessions). A cancelled tool
/// call or no answer within `timeout` refuses.
pub async fn ask_during_call(
    peer: &Peer<RoleServer>,
    message: String,
    timeout: Duration,
    cancelled: &CancellationToken,
) -> ApprovalDecision {
    let asking = peer.create_elicitation_with_timeout(form::request(message), Some(timeout));
    let answer = tokio::select! {
        answer = asking => answer,
        () = cancelled.cancelled() => return ApprovalDecision::Refused(Refusal::Cancelled),
    };
    match answer {
        Ok(answer) => form::decide(&answer, ApprovalPath::Elicitation),
        Err(ServiceError::Timeout { .. }) => {
            ApprovalDecision::Refused(Refusal::TimedOut(timeout.as_secs()))
        }
        Err(ServiceError::Cancelled { .. }) => ApprovalDecision::Refused(Refusal::Cancelled),
        Err(error) => ApprovalDecision::Refused(Refusal::Failed(error.to_string())),
    }
}

/// The `InputRequiredResult` that asks a 2026-07-28 client, carrying the sealed state.
pub fn input_required(message: String, sealed_state: String) -> InputRequiredResult {
    let mut requests = InputRequests::new();
    requests.insert(
        form::INPUT_KEY.to_string(),
        InputRequest::Elicitation(ElicitRequest::new(form::request(message))),
    );
    InputRequiredResult::new(Some(requests), Some(sealed_state))
}
