//! The API server's own audit log as kube-real's request log: what really reached the API server,
//! from whom, and what it answered. The policy records every request of the admin and harness
//! identities (writes with their bodies) and nothing of the controllers, the scheduler, kwok and
//! kubelets, whose traffic would drown it; `kube-real audit-policy` prints it for other clusters
//! (scripts/kind-e2e.sh gives it to kind).

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

use serde::Deserialize;

/// The audit policy the API server starts with.
pub const POLICY: &str = r#"apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  users: ["kube-real-controller-manager", "kube-real-scheduler", "kube-real-kwok", "system:apiserver",
          "system:kube-controller-manager", "system:kube-scheduler", "system:kube-proxy"]
- level: None
  userGroups: ["system:nodes", "system:serviceaccounts:kube-system"]
- level: None
  nonResourceURLs: ["/readyz*", "/livez*", "/healthz*"]
- level: Request
  verbs: ["create", "update", "patch", "delete", "deletecollection"]
- level: Metadata
"#;

/// One request as the API server recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// The HTTP method (`GET` for get, list and watch).
    pub method: String,
    /// The API verb: get, list, watch, create, update, patch, delete.
    pub verb: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string (may be empty).
    pub query: String,
    /// The namespace of the object, if namespaced.
    pub namespace: Option<String>,
    /// The request body as JSON text (writes only; empty otherwise).
    pub body: String,
    /// The HTTP status answered.
    pub status: u16,
    /// Who sent it (the token file's user name, or `system:serviceaccount:NS:NAME`).
    pub user: String,
    /// Whom the sender impersonated (`Impersonate-User`), if anyone: RBAC authorized the
    /// request as this user.
    pub impersonated_user: Option<String>,
    /// The impersonated UID (`Impersonate-Uid`), if any.
    pub impersonated_uid: Option<String>,
    /// The impersonated groups (`Impersonate-Group`), as the API server resolved them.
    pub impersonated_groups: Vec<String>,
    /// The User-Agent header.
    pub user_agent: String,
}

impl AuditRecord {
    /// Whether the query asked for a dry run.
    pub fn dry_run(&self) -> bool {
        self.query.split('&').any(|pair| pair == "dryRun=All")
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    #[serde(rename = "auditID")]
    audit_id: String,
    stage: String,
    verb: String,
    #[serde(rename = "requestURI")]
    request_uri: String,
    #[serde(default)]
    user: User,
    #[serde(default)]
    impersonated_user: Option<User>,
    #[serde(default)]
    user_agent: String,
    #[serde(default)]
    object_ref: Option<ObjectRef>,
    #[serde(default)]
    response_status: Option<ResponseStatus>,
    #[serde(default)]
    request_object: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct User {
    #[serde(default)]
    username: String,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
}

#[derive(Deserialize)]
struct ObjectRef {
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Deserialize)]
struct ResponseStatus {
    #[serde(default)]
    code: u16,
}

/// A position in the log: records after it are "new".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mark(u64);

/// The current end of the log.
pub fn mark(log: &Path) -> Mark {
    Mark(std::fs::metadata(log).map(|m| m.len()).unwrap_or(0))
}

/// The requests recorded after `since`, one per request in the order they completed (a watch
/// counts when its response started).
pub fn read(log: &Path, since: Mark) -> Vec<AuditRecord> {
    let Ok(mut file) = std::fs::File::open(log) else {
        return Vec::new();
    };
    if file.seek(SeekFrom::Start(since.0)).is_err() {
        return Vec::new();
    }
    let mut seen = std::collections::HashSet::new();
    let mut records = Vec::new();
    for line in BufReader::new(file).lines() {
        let Ok(line) = line else { break };
        // A line still being written is incomplete JSON: it is read next time.
        let Ok(event) = serde_json::from_str::<Event>(&line) else {
            continue;
        };
        let first_answer = event.stage == "ResponseStarted"
            || (event.stage == "ResponseComplete" && event.verb != "watch")
            || event.stage == "Panic";
        if !first_answer || !seen.insert(event.audit_id.clone()) {
            continue;
        }
        let (path, query) = match event.request_uri.split_once('?') {
            Some((path, query)) => (path.to_string(), query.to_string()),
            None => (event.request_uri.clone(), String::new()),
        };
        let method = match event.verb.as_str() {
            "create" => "POST",
            "update" => "PUT",
            "patch" => "PATCH",
            "delete" | "deletecollection" => "DELETE",
            _ => "GET",
        };
        records.push(AuditRecord {
            method: method.to_string(),
            verb: event.verb,
            path,
            query,
            namespace: event.object_ref.and_then(|o| o.namespace),
            body: event
                .request_object
                .map(|body| body.to_string())
                .unwrap_or_default(),
            status: event.response_status.map(|s| s.code).unwrap_or(0),
            user: event.user.username,
            impersonated_groups: event
                .impersonated_user
                .as_ref()
                .map(|user| user.groups.clone())
                .unwrap_or_default(),
            impersonated_uid: event
                .impersonated_user
                .as_ref()
                .and_then(|user| user.uid.clone()),
            impersonated_user: event.impersonated_user.map(|user| user.username),
            user_agent: event.user_agent,
        });
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_record_per_request_after_the_mark() {
        let dir = std::env::temp_dir().join(format!("kube-real-audit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("audit.log");
        let old = r#"{"auditID":"0","stage":"ResponseComplete","verb":"get","requestURI":"/old","user":{"username":"admin"}}"#;
        std::fs::write(&log, format!("{old}\n")).unwrap();
        let since = mark(&log);
        let lines = [
            r#"{"auditID":"1","stage":"ResponseComplete","verb":"patch","requestURI":"/apis/apps/v1/namespaces/a/deployments/x?dryRun=All","user":{"username":"admin"},"impersonatedUser":{"username":"jane","uid":"u-1","groups":["ops","system:authenticated"]},"userAgent":"k/1","objectRef":{"namespace":"a"},"responseStatus":{"code":200},"requestObject":[{"op":"replace"}]}"#,
            r#"{"auditID":"2","stage":"ResponseStarted","verb":"watch","requestURI":"/apis/apps/v1/deployments?watch=1","user":{"username":"admin"},"responseStatus":{"code":200}}"#,
            r#"{"auditID":"2","stage":"ResponseComplete","verb":"watch","requestURI":"/apis/apps/v1/deployments?watch=1","user":{"username":"admin"},"responseStatus":{"code":200}}"#,
            r#"{"auditID":"3","stage":"ResponseCo"#,
        ];
        std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .and_then(|mut f| std::io::Write::write_all(&mut f, lines.join("\n").as_bytes()))
            .unwrap();
        let records = read(&log, since);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(records.len(), 2, "{records:?}");
        assert_eq!(
            (
                records[0].method.as_str(),
                records[0].status,
                records[0].dry_run()
            ),
            ("PATCH", 200, true)
        );
        assert_eq!(records[0].body, r#"[{"op":"replace"}]"#);
        assert_eq!(records[0].namespace.as_deref(), Some("a"));
        assert_eq!(records[0].impersonated_user.as_deref(), Some("jane"));
        assert_eq!(records[0].impersonated_uid.as_deref(), Some("u-1"));
        assert_eq!(
            records[0].impersonated_groups,
            ["ops", "system:authenticated"]
        );
        assert_eq!(records[1].impersonated_user, None);
        assert_eq!(
            (records[1].verb.as_str(), records[1].query.as_str()),
            ("watch", "watch=1")
        );
    }
}
