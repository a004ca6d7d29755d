//! The record of every HTTP request the sim answered, in arrival order, so tests can assert what a
//! client sent (method, path, query, content type, user agent, body) and what it got back (status), and count
//! the writes (dry-run writes included and flagged).

use std::sync::Mutex;

/// One request and the status it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// `GET`, `PATCH`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string (may be empty).
    pub query: String,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The `User-Agent` header, if any: who the API server's audit log would say wrote.
    pub user_agent: Option<String>,
    /// The body as text (lossy UTF-8).
    pub body: String,
    /// The HTTP status sent (0 if the connection was dropped without a response).
    pub status: u16,
    /// Whether the query asked for `dryRun=All`.
    pub dry_run: bool,
}

impl RequestRecord {
    /// Whether the request writes: POST, PUT, PATCH, DELETE, but for a `SelfSubjectReview`,
    /// whose POST only asks who the caller is and stores nothing.
    pub fn is_mutating(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
            && !self.path.ends_with("/selfsubjectreviews")
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// The log.
#[derive(Debug, Default)]
pub struct RequestLog {
    records: Mutex<Vec<RequestRecord>>,
}

impl RequestLog {
    /// Appends a record.
    pub fn push(&self, record: RequestRecord) {
        self.lock().push(record);
    }

    /// A copy of every record.
    pub fn all(&self) -> Vec<RequestRecord> {
        self.lock().clone()
    }

    /// Forgets every record.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RequestRecord>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }
}
