//! Tool arguments as they arrive from the client, which may send anything: decoded with the
//! path of the field that is wrong, then checked against what the input schemas promise
//! (ranges, DNS-1123 names, lengths), all before any API request. A bad argument is an
//! `isError` result naming the field, never a panic and never a request to the cluster.
//!
//! [`decode`] is the one entry point; the property tests and the fuzz target drive it directly.

use rmcp::model::JsonObject;
use serde::de::DeserializeOwned;

use crate::rollout::clip;
use crate::rollout::plan::PlanRefusal;
use crate::verify::MAX_WAIT_SECONDS;

use super::history::HistoryArgs;
use super::reply::ToolFailure;
use super::status::StatusArgs;
use super::target::Target;
use super::undo::UndoArgs;

/// The longest `reason` accepted: it is shown to the approver and written into the
/// workload's change-cause annotation.
pub const MAX_REASON_CHARACTERS: usize = 1024;

/// Checks on decoded arguments that the types alone do not express.
pub trait Validate {
    fn validate(&self) -> Result<(), ToolFailure>;
}

/// Decodes and validates one tool's arguments.
pub fn decode<T: DeserializeOwned + Validate>(arguments: JsonObject) -> Result<T, ToolFailure> {
    let value = serde_json::Value::Object(arguments);
    let args: T = serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        // serde quotes the offending value, which may be megabytes long.
        let inner = error.into_inner().to_string();
        let inner = clip::text(&inner, clip::VALUE);
        let field = if path == "." {
            String::new()
        } else {
            format!("{path}: ")
        };
        ToolFailure(format!(
            "invalid arguments: {field}{inner}; see the tool's input schema"
        ))
    })?;
    args.validate()?;
    Ok(args)
}

/// The longest `context` accepted (kubeconfig context names have no limit of their own; cloud
/// providers' ARNs and paths stay well below this).
pub const MAX_CONTEXT_CHARACTERS: usize = 253;

/// `resource_type`, `name`, `namespace` and `context` (when given), as every tool takes them.
fn reference(
    resource_type: &str,
    name: &str,
    namespace: Option<&str>,
    context: Option<&str>,
) -> Result<(), ToolFailure> {
    if let Some(context) = context {
        let length = context.chars().count();
        if length == 0 || length > MAX_CONTEXT_CHARACTERS {
            return Err(ToolFailure(format!(
                "context must be a kubeconfig context name of 1 to {MAX_CONTEXT_CHARACTERS} characters (got {length})"
            )));
        }
    }
    Target::check(resource_type, name, namespace).map(drop)
}

/// kubectl's words for a revision that is not positive.
fn positive(field: &str, value: Option<i64>) -> Result<(), ToolFailure> {
    match value {
        Some(number) if number < 1 => Err(ToolFailure(format!(
            "{field} must be a positive integer: {number}"
        ))),
        _ => Ok(()),
    }
}

/// A wait of 1 to [`MAX_WAIT_SECONDS`] seconds.
fn wait_seconds(timeout_seconds: Option<u64>) -> Result<(), ToolFailure> {
    match timeout_seconds {
        Some(seconds) if !(1..=MAX_WAIT_SECONDS).contains(&seconds) => Err(ToolFailure(format!(
            "timeout_seconds must be between 1 and {MAX_WAIT_SECONDS}: {seconds}"
        ))),
        _ => Ok(()),
    }
}

impl Validate for HistoryArgs {
    fn validate(&self) -> Result<(), ToolFailure> {
        reference(
            &self.resource_type,
            &self.name,
            self.namespace.as_deref(),
            self.context.as_deref(),
        )?;
        positive("revision", self.revision)?;
        positive("compare_with", self.compare_with)?;
        if self.compare_with.is_some() && self.revision.is_none() {
            return Err(ToolFailure(
                "compare_with needs revision: name the revision to compare with it".into(),
            ));
        }
        if self.limit == Some(0) {
            return Err(ToolFailure("limit must be a positive integer: 0".into()));
        }
        Ok(())
    }
}

impl Validate for StatusArgs {
    fn validate(&self) -> Result<(), ToolFailure> {
        reference(
            &self.resource_type,
            &self.name,
            self.namespace.as_deref(),
            self.context.as_deref(),
        )?;
        positive("revision", self.revision)?;
        wait_seconds(self.timeout_seconds)
    }
}

impl Validate for UndoArgs {
    fn validate(&self) -> Result<(), ToolFailure> {
        reference(
            &self.resource_type,
            &self.name,
            self.namespace.as_deref(),
            self.context.as_deref(),
        )?;
        if self.to_revision < 1 {
            return Err(ToolFailure(
                PlanRefusal::InvalidRevision(self.to_revision).to_string(),
            ));
        }
        if let Some(reason) = &self.reason {
            let length = reason.chars().count();
            if length > MAX_REASON_CHARACTERS {
                return Err(ToolFailure(format!(
                    "reason must be at most {MAX_REASON_CHARACTERS} characters (got {length})"
                )));
            }
        }
        wait_seconds(self.timeout_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn object(value: Value) -> JsonObject {
        let Value::Object(object) = value else {
            panic!("an object")
        };
        object
    }

    fn refusal<T: DeserializeOwned + Validate + std::fmt::Debug>(value: Value) -> String {
        decode::<T>(object(value)).unwrap_err().0
    }

    #[test]
    fn a_wrong_type_names_its_field() {
        let message = refusal::<UndoArgs>(
            json!({"resource_type": "deploy", "name": "web", "to_revision": "two"}),
        );
        assert!(
            message.starts_with("invalid arguments: to_revision: invalid type: string \"two\""),
            "{message}"
        );
    }

    #[test]
    fn out_of_schema_values_are_refused_before_any_request() {
        let cases = [
            (
                json!({"resource_type": "deploy", "name": "web", "wait": true, "timeout_seconds": 601}),
                "timeout_seconds must be between 1 and 600: 601",
            ),
            (
                json!({"resource_type": "deploy", "name": "web", "namespace": "../kube-system"}),
                "invalid namespace \"../kube-system\"",
            ),
            (
                json!({"resource_type": "cronjob", "name": "web"}),
                "resource_type \"cronjob\" has no rollout history",
            ),
        ];
        for (arguments, expected) in cases {
            let message = refusal::<StatusArgs>(arguments);
            assert!(message.starts_with(expected), "{message}");
        }
        let message = refusal::<UndoArgs>(
            json!({"resource_type": "deploy", "name": "web", "to_revision": 1, "reason": "x".repeat(1025)}),
        );
        assert_eq!(message, "reason must be at most 1024 characters (got 1025)");
        let message =
            refusal::<HistoryArgs>(json!({"resource_type": "deploy", "name": "web", "limit": 0}));
        assert_eq!(message, "limit must be a positive integer: 0");
    }

    #[test]
    fn a_huge_bad_value_is_clipped_in_the_message() {
        let huge = "x".repeat(1 << 20);
        let message = refusal::<UndoArgs>(
            json!({"resource_type": "deploy", "name": "web", "to_revision": huge}),
        );
        assert!(message.len() < 1024, "{} bytes", message.len());
        assert!(message.contains("more characters"), "{message}");
        let message = refusal::<HistoryArgs>(json!({"resource_type": "deploy", "name": huge}));
        assert!(message.len() < 1024, "{} bytes", message.len());
    }

    #[test]
    fn valid_arguments_pass() {
        let args: UndoArgs = decode(object(json!({
            "resource_type": "rs", "name": "web-5d8f", "namespace": "shop", "to_revision": 3,
            "reason": "checkout errors", "wait": true, "timeout_seconds": 600
        })))
        .unwrap();
        assert_eq!(args.to_revision, 3);
    }
}
