//! API errors and the `Status` objects they become. Codes, reasons, messages and `details` follow
//! `k8s.io/apimachinery/pkg/api/errors`, because clients branch on them (kube-rs's
//! `is_conflict()`, kubectl's `Error from server (NotFound): ...`).

use serde_json::{Value, json};

use crate::resources::ResourceKind;

/// One field-level validation failure (`field.Error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// `spec.template.metadata.labels`
    pub field: String,
    /// What kind of failure.
    pub kind: FieldErrorKind,
    /// The offending value, rendered as Go's `%#v` would (quoted strings, plain numbers).
    pub value: Option<String>,
    /// The explanation after the value.
    pub detail: String,
}

/// `field.ErrorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// `FieldValueInvalid`
    Invalid,
    /// `FieldValueRequired`
    Required,
    /// `FieldValueNotSupported`
    NotSupported,
    /// `FieldValueDuplicate`
    Duplicate,
    /// `FieldValueForbidden`
    Forbidden,
}

impl FieldError {
    /// `field.Invalid(path, value, detail)`.
    pub fn invalid(
        field: impl Into<String>,
        value: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::Invalid,
            value: Some(value.into()),
            detail: detail.into(),
        }
    }

    /// `field.Required(path, detail)`.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::Required,
            value: None,
            detail: detail.into(),
        }
    }

    /// `field.NotSupported(path, value, supported)`.
    pub fn not_supported(
        field: impl Into<String>,
        value: impl Into<String>,
        supported: &[&str],
    ) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        Self {
            field: field.into(),
            kind: FieldErrorKind::NotSupported,
            value: Some(value.into()),
            detail: format!("supported values: {}", list.join(", ")),
        }
    }

    /// `field.Duplicate(path, value)`.
    pub fn duplicate(field: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::Duplicate,
            value: Some(value.into()),
            detail: String::new(),
        }
    }

    /// `field.Forbidden(path, detail)`.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::Forbidden,
            value: None,
            detail: detail.into(),
        }
    }

    fn reason(&self) -> &'static str {
        match self.kind {
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
        }
    }

    /// `field.Error.ErrorBody()`: the message without the field path.
    pub fn body(&self) -> String {
        let kind = match self.kind {
            FieldErrorKind::Invalid => "Invalid value",
            FieldErrorKind::Required => "Required value",
            FieldErrorKind::NotSupported => "Unsupported value",
            FieldErrorKind::Duplicate => "Duplicate value",
            FieldErrorKind::Forbidden => "Forbidden",
        };
        let mut s = kind.to_string();
        if let Some(v) = &self.value {
            s.push_str(": ");
            s.push_str(v);
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

/// Renders a JSON value roughly as Go's `%#v` of the decoded field would.
pub fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Object(m) if m.values().all(Value::is_string) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{:?}:{:?}", k, v.as_str().unwrap_or_default()))
                .collect();
            format!("map[string]string{{{}}}", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// An error the API returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 404 for a named object.
    #[error("{} \"{name}\" not found", kind.qualified())]
    NotFound {
        /// The resource.
        kind: ResourceKind,
        /// The object's name.
        name: String,
    },
    /// 404 for a path the server does not serve.
    #[error("the server could not find the requested resource")]
    NoRoute,
    /// 409 on create.
    #[error("{} \"{name}\" already exists", kind.qualified())]
    AlreadyExists {
        /// The resource.
        kind: ResourceKind,
        /// The object's name.
        name: String,
    },
    /// 409 on a stale `resourceVersion`.
    #[error(
        "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
        kind.qualified()
    )]
    Conflict {
        /// The resource.
        kind: ResourceKind,
        /// The object's name.
        name: String,
    },
    /// 422 with field causes.
    #[error("{}", invalid_message(*kind, name, causes))]
    Invalid {
        /// The resource.
        kind: ResourceKind,
        /// The object's name.
        name: String,
        /// What is wrong.
        causes: Vec<FieldError>,
    },
    /// 422 from a JSON patch that could not be applied (a failed `test` among others).
    #[error("the server rejected our request due to an error in our request")]
    PatchRejected(String),
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 403 from the deny list.
    #[error("{}", forbidden_message(*kind, subresource, name.as_deref(), user, verb, namespace.as_deref()))]
    Forbidden {
        /// The resource.
        kind: ResourceKind,
        /// `status`, `scale` or empty.
        subresource: &'static str,
        /// The object's name, if the request named one.
        name: Option<String>,
        /// Who asked.
        user: String,
        /// The RBAC verb (`patch`).
        verb: String,
        /// The namespace of the request.
        namespace: Option<String>,
    },
    /// 405.
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    /// 415 for a patch type the sim does not implement.
    #[error(
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json"
    )]
    UnsupportedMediaType,
    /// 410 for a `resourceVersion` older than the watch history.
    #[error("too old resource version: {requested} ({oldest})")]
    Gone {
        /// What the client asked for.
        requested: u64,
        /// The oldest version still available.
        oldest: u64,
    },
    /// 410 for a `continue` token whose list revision has been compacted.
    #[error(
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list."
    )]
    ContinueExpired,
    /// 413.
    #[error("Request entity too large: limit is 3145728")]
    TooLarge,
    /// Any code injected by a test fault.
    #[error("{message}")]
    Injected {
        /// HTTP status.
        code: u16,
        /// Status message.
        message: String,
    },
}

fn invalid_message(kind: ResourceKind, name: &str, causes: &[FieldError]) -> String {
    let qualified = if kind.group().is_empty() {
        kind.kind().to_string()
    } else {
        format!("{}.{}", kind.kind(), kind.group())
    };
    let parts: Vec<String> = causes
        .iter()
        .map(|c| format!("{}: {}", c.field, c.body()))
        .collect();
    let joined = if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("[{}]", parts.join(", "))
    };
    format!("{qualified} \"{name}\" is invalid: {joined}")
}

fn forbidden_message(
    kind: ResourceKind,
    subresource: &str,
    name: Option<&str>,
    user: &str,
    verb: &str,
    namespace: Option<&str>,
) -> String {
    let subject = match name {
        Some(n) => format!("{} \"{n}\"", kind.qualified()),
        None => kind.qualified(),
    };
    let resource = if subresource.is_empty() {
        kind.plural().to_string()
    } else {
        format!("{}/{subresource}", kind.plural())
    };
    let scope = match namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    format!(
        "{subject} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{}\" {scope}",
        kind.group()
    )
}

impl ApiError {
    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound { .. } | ApiError::NoRoute => 404,
            ApiError::AlreadyExists { .. } | ApiError::Conflict { .. } => 409,
            ApiError::Invalid { .. } | ApiError::PatchRejected(_) => 422,
            ApiError::BadRequest(_) => 400,
            ApiError::Forbidden { .. } => 403,
            ApiError::MethodNotAllowed => 405,
            ApiError::UnsupportedMediaType => 415,
            ApiError::Gone { .. } | ApiError::ContinueExpired => 410,
            ApiError::TooLarge => 413,
            ApiError::Injected { code, .. } => *code,
        }
    }

    /// `metav1.StatusReason`.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } | ApiError::NoRoute => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::Invalid { .. } | ApiError::PatchRejected(_) => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Forbidden { .. } => "Forbidden",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::UnsupportedMediaType => "UnsupportedMediaType",
            ApiError::Gone { .. } | ApiError::ContinueExpired => "Expired",
            ApiError::TooLarge => "RequestEntityTooLarge",
            ApiError::Injected { code, .. } => reason_for_code(*code),
        }
    }

    /// The `Status` object the server sends.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        let details = match self {
            ApiError::NotFound { kind, name }
            | ApiError::AlreadyExists { kind, name }
            | ApiError::Conflict { kind, name } => Some(details(*kind, Some(name), None)),
            ApiError::Forbidden { kind, name, .. } => Some(details(*kind, name.as_deref(), None)),
            ApiError::Invalid { kind, name, causes } => {
                let causes: Vec<Value> = causes
                    .iter()
                    .map(|c| json!({"reason": c.reason(), "message": c.body(), "field": c.field}))
                    .collect();
                let mut d = details(*kind, Some(name), None);
                d["kind"] = json!(kind.kind());
                d["causes"] = json!(causes);
                Some(d)
            }
            ApiError::PatchRejected(msg) => {
                Some(json!({"causes": [{"reason": "UnexpectedServerResponse", "message": msg}]}))
            }
            ApiError::NoRoute => Some(json!({})),
            _ => None,
        };
        if let Some(d) = details {
            status["details"] = d;
        }
        status
    }
}

fn details(kind: ResourceKind, name: Option<&str>, uid: Option<&str>) -> Value {
    let mut d = json!({"kind": kind.plural()});
    if let Some(n) = name {
        d["name"] = json!(n);
    }
    if !kind.group().is_empty() {
        d["group"] = json!(kind.group());
    }
    if let Some(u) = uid {
        d["uid"] = json!(u);
    }
    d
}

/// The `Status` a successful delete returns.
pub fn delete_success(kind: ResourceKind, name: &str, uid: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details(kind, Some(name), Some(uid)),
    })
}

/// The reason the API server gives a bare status code.
pub fn reason_for_code(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Expired",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_and_conflict_read_like_the_api_server() {
        let e = ApiError::NotFound {
            kind: ResourceKind::Deployment,
            name: "x".into(),
        };
        assert_eq!(e.to_string(), "deployments.apps \"x\" not found");
        assert_eq!(
            e.status()["details"],
            json!({"name": "x", "group": "apps", "kind": "deployments"})
        );
        let c = ApiError::Conflict {
            kind: ResourceKind::Deployment,
            name: "x".into(),
        };
        assert_eq!(
            c.to_string(),
            "Operation cannot be fulfilled on deployments.apps \"x\": the object has been modified; please apply your changes to the latest version and try again"
        );
        let p = ApiError::NotFound {
            kind: ResourceKind::Pod,
            name: "p".into(),
        };
        assert_eq!(p.status()["details"], json!({"name": "p", "kind": "pods"}));
    }

    #[test]
    fn forbidden_names_user_verb_and_scope() {
        let e = ApiError::Forbidden {
            kind: ResourceKind::Deployment,
            subresource: "",
            name: Some("api".into()),
            user: "alice".into(),
            verb: "patch".into(),
            namespace: Some("shop".into()),
        };
        assert_eq!(
            e.to_string(),
            "deployments.apps \"api\" is forbidden: User \"alice\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"shop\""
        );
        assert_eq!(e.code(), 403);
    }

    #[test]
    fn invalid_lists_causes() {
        let e = ApiError::Invalid {
            kind: ResourceKind::Deployment,
            name: "x".into(),
            causes: vec![FieldError::required("spec.selector", "")],
        };
        assert_eq!(
            e.to_string(),
            "Deployment.apps \"x\" is invalid: spec.selector: Required value"
        );
        assert_eq!(
            e.status()["details"]["causes"][0]["reason"],
            "FieldValueRequired"
        );
        assert_eq!(e.status()["details"]["kind"], "Deployment");
    }
}
