//! A human's approval of an undo, failing closed.
//!
//! Two ways to ask, each on two protocol paths:
//! - **the form** ([`form`]): sessions with a handshake (2025-06-18, 2025-11-25) get an
//!   `elicitation/create` request during the tool call; 2026-07-28 sessions, which forbid
//!   server-to-client requests, get an `InputRequiredResult` carrying the elicitation and a
//!   sealed `requestState` ([`state`]), and repeat the call with the answer;
//! - **the approval page** ([`page`]), the server's own page in the person's browser, which
//!   shows the whole plan: handed over by URL-mode elicitation (the same two paths), or opened
//!   by the server itself ([`browser`]) for clients that cannot elicit at all.
//!
//! Only an `accept` whose form says `approve: true`, or "Approve rollback" on the page,
//! approves. Everything else (decline, cancel, `approve: false`, a malformed answer, no answer
//! in time, a client that cannot ask) refuses, and the caller writes nothing.

pub mod browser;
pub mod form;
pub mod hosts;
pub mod page;
pub mod state;

use std::time::Duration;

use rmcp::model::{
    ClientCapabilities, CustomNotification, ElicitRequest, ElicitRequestParams, ElicitResult,
    ElicitationAction, InputRequest, InputRequests, InputRequiredResult, ServerNotification,
};
use rmcp::service::{Peer, RoleServer, ServiceError};
use serde_json::Value;
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
    /// The approval page, opened in the browser by the server.
    Browser,
    /// The approval page, handed to the client by URL-mode elicitation.
    Url,
}

impl ApprovalPath {
    /// The name used in results and the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Elicitation => "elicitation",
            Self::InputRequired => "input_required",
            Self::HostConfirmed => "host_confirmed",
            Self::Browser => "browser",
            Self::Url => "url",
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
        "{}. So no human can be asked here, and the undo is refused at once rather than left waiting. Roll back from a client that shows the form (Claude Code, VS Code Copilot, Cursor), or have the operator start the server with `--approval host-confirmed` to rely on this host's own per-call confirmation",
        .0.described()
    )]
    CannotAsk(&'static hosts::CannotAsk),
    #[error(
        "no one can be asked to approve here: {client}, and {browser}. Roll back from a client that shows forms (Claude Code, VS Code Copilot, Cursor), run the server where a person can see a browser (a desktop session), or have the operator start the server with `--approval host-confirmed` to rely on the host's own per-call confirmation"
    )]
    NoWayToAsk { client: String, browser: String },
    #[error("a newer approval request for this workload replaced the approval page")]
    Superseded,
    #[error("another call already took the approval from this page")]
    Taken,
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

/// Whether the client declared URL-mode elicitation.
pub fn client_can_open_urls(capabilities: Option<&ClientCapabilities>) -> bool {
    capabilities
        .and_then(|capabilities| capabilities.elicitation.as_ref())
        .is_some_and(|elicitation| elicitation.url.is_some())
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

/// The `InputRequiredResult` that asks a 2026-07-28 client (`request`: the form, or the
/// approval page's URL), carrying the sealed state.
pub fn input_required(request: ElicitRequestParams, sealed_state: String) -> InputRequiredResult {
    let mut requests = InputRequests::new();
    requests.insert(
        form::INPUT_KEY.to_string(),
        InputRequest::Elicitation(ElicitRequest::new(request)),
    );
    InputRequiredResult::new(Some(requests), Some(sealed_state))
}

/// The URL-mode elicitation that hands the approval page to the client, to show its person.
pub fn url_request(message: String, url: &str, page_id: &str) -> ElicitRequestParams {
    ElicitRequestParams::UrlElicitationParams {
        meta: None,
        message,
        url: url.to_string(),
        elicitation_id: page_id.to_string(),
    }
}

/// Reads the answer to a URL-mode elicitation: `accept` means the person went to the page,
/// where the decision itself is made; decline or cancel refuse.
pub fn url_consent(action: &ElicitationAction) -> Result<(), Refusal> {
    match action {
        ElicitationAction::Accept => Ok(()),
        ElicitationAction::Decline => Err(Refusal::Declined),
        _ => Err(Refusal::Cancelled),
    }
}

/// Tells the client that the URL-mode elicitation `id` is complete
/// (`notifications/elicitation/complete`, 2025-11-25), so it can stop showing the link.
pub async fn notify_url_complete(peer: &Peer<RoleServer>, id: &str) {
    let notification = CustomNotification::new(
        "notifications/elicitation/complete",
        Some(serde_json::json!({"elicitationId": id})),
    );
    if let Err(error) = peer
        .send_notification(ServerNotification::CustomNotification(notification))
        .await
    {
        tracing::debug!(%error, "the elicitation-complete notification could not be sent");
    }
}

/// [`url_consent`] of a 2026-07-28 retry's response.
pub fn url_consent_response(response: Option<&Value>) -> Result<(), Refusal> {
    let answer = response
        .cloned()
        .map(serde_json::from_value::<ElicitResult>)
        .transpose()
        .ok()
        .flatten()
        .ok_or_else(|| {
            Refusal::Malformed("no readable answer to the approval page's URL".into())
        })?;
    url_consent(&answer.action)
}
