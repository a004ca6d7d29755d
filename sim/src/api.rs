//! The HTTP face of the API server: parses Kubernetes REST paths
//! (`/apis/apps/v1/namespaces/{ns}/deployments/{name}/status`, the all-namespaces lists,
//! discovery), applies the test controls (deny list, injected faults), dispatches to the registry,
//! answers JSON (or a `Table` when kubectl asks for one), and records every request in the log.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::discovery;
use crate::errors::ApiError;
use crate::events;
use crate::faults::{Fault, FaultAction, Target, Verb};
use crate::json;
use crate::patch::{self, PatchType};
use crate::registry::{DeleteRequest, ListPage, ListQuery, Propagation};
use crate::request_log::RequestRecord;
use crate::resources::{ResourceKind, Subresource};
use crate::sim::Shared;
use crate::table;
use crate::watch;

/// The response body type: a whole JSON document or a stream of watch events.
pub type Body = BoxBody<Bytes, Infallible>;

const MAX_BODY: usize = 3 * 1024 * 1024;

/// A parsed resource path.
#[derive(Debug, Clone)]
struct Route {
    kind: ResourceKind,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Subresource,
}

enum Path {
    Discovery(Value),
    Resource(Route),
    Health,
}

/// Parsed query parameters (percent-decoded).
pub struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: &str) -> Self {
        Self(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The same parameters but `key`.
    fn without(&self, key: &str) -> Self {
        Self(self.0.iter().filter(|(k, _)| k != key).cloned().collect())
    }

    /// Whether `key` is `true` or `1`.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_path(path: &str, server_address: &str, minor: u32) -> Result<Path, ApiError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest): (&str, &[&str]) = match segments.as_slice() {
        ["version"] => return Ok(Path::Discovery(discovery::version(minor))),
        ["healthz" | "livez" | "readyz"] => return Ok(Path::Health),
        ["api"] => return Ok(Path::Discovery(discovery::core_versions(server_address))),
        ["apis"] => return Ok(Path::Discovery(discovery::groups())),
        ["api", "v1"] => return Ok(Path::Discovery(discovery::resources(""))),
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, tail @ ..] if discovery::group_names().contains(group) => match tail {
            [] => return Ok(Path::Discovery(discovery::group(group))),
            ["v1"] => return Ok(Path::Discovery(discovery::resources(group))),
            ["v1", rest @ ..] => (*group, rest),
            _ => return Err(ApiError::NoRoute),
        },
        _ => return Err(ApiError::NoRoute),
    };
    let resource = |plural: &str| ResourceKind::from_path(group, plural).ok_or(ApiError::NoRoute);
    let sub = |s: &str| match s {
        "status" => Ok(Subresource::Status),
        "scale" => Ok(Subresource::Scale),
        _ => Err(ApiError::NoRoute),
    };
    let route = match rest {
        [plural] => Route {
            kind: resource(plural)?,
            namespace: None,
            name: None,
            subresource: Subresource::Main,
        },
        ["namespaces", name] if group.is_empty() => Route {
            kind: ResourceKind::Namespace,
            namespace: None,
            name: Some((*name).to_string()),
            subresource: Subresource::Main,
        },
        ["namespaces", name, "status"] if group.is_empty() => Route {
            kind: ResourceKind::Namespace,
            namespace: None,
            name: Some((*name).to_string()),
            subresource: Subresource::Status,
        },
        ["namespaces", ns, plural, tail @ ..] => {
            let kind = resource(plural)?;
            let (name, subresource) = match tail {
                [] => (None, Subresource::Main),
                [name] => (Some((*name).to_string()), Subresource::Main),
                [name, s] => (Some((*name).to_string()), sub(s)?),
                _ => return Err(ApiError::NoRoute),
            };
            Route {
                kind,
                namespace: Some((*ns).to_string()),
                name,
                subresource,
            }
        }
        [plural, name] if !resource(plural)?.namespaced() => Route {
            kind: resource(plural)?,
            namespace: None,
            name: Some((*name).to_string()),
            subresource: Subresource::Main,
        },
        _ => return Err(ApiError::NoRoute),
    };
    if route.kind.namespaced() && route.namespace.is_none() && route.name.is_some() {
        return Err(ApiError::NoRoute);
    }
    let sub_ok = match route.subresource {
        Subresource::Main => true,
        Subresource::Status => route.kind.has_status(),
        Subresource::Scale => route.kind.has_scale(),
    };
    if !sub_ok {
        return Err(ApiError::NoRoute);
    }
    Ok(Path::Resource(route))
}

fn verb_of(method: &Method, route: &Route, query: &Query) -> Option<Verb> {
    Some(match (method.as_str(), route.name.is_some()) {
        ("GET", true) => Verb::Get,
        ("GET", false) if query.flag("watch") => Verb::Watch,
        ("GET", false) => Verb::List,
        ("POST", false) => Verb::Create,
        ("PUT", true) => Verb::Update,
        ("PATCH", true) => Verb::Patch,
        ("DELETE", true) => Verb::Delete,
        _ => return None,
    })
}

/// A JSON response.
pub fn respond(code: u16, value: &Value) -> Response<Body> {
    respond_bytes(code, json::to_vec(value))
}

fn respond_bytes(code: u16, bytes: Vec<u8>) -> Response<Body> {
    respond_typed(code, bytes, "application/json")
}

fn respond_typed(code: u16, bytes: Vec<u8>, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(bytes)).boxed());
    *response.status_mut() =
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

fn error(err: &ApiError) -> Response<Body> {
    respond(err.code(), &err.status())
}

/// What the client sent, kept for the request log.
struct Received {
    method: Method,
    path: String,
    query_raw: String,
    content_type: Option<String>,
    accept: String,
    user_agent: Option<String>,
    body: Bytes,
}

/// Serves one request.
pub async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
    kill: Arc<Notify>,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let header = |name: hyper::header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(_) => Err(ApiError::TooLarge),
    };
    let incoming = Received {
        method: parts.method.clone(),
        path: parts.uri.path().to_string(),
        query_raw: parts.uri.query().unwrap_or("").to_string(),
        content_type: header(hyper::header::CONTENT_TYPE),
        accept: header(hyper::header::ACCEPT).unwrap_or_default(),
        user_agent: header(hyper::header::USER_AGENT),
        body: body.clone().unwrap_or_default(),
    };
    let query = Query::parse(&incoming.query_raw);
    // Logged when this future ends, including when a dropped connection cancels it (status 0).
    let mut entry = LogEntry {
        log: &shared.log,
        record: Some(RequestRecord {
            method: incoming.method.to_string(),
            path: incoming.path.clone(),
            query: incoming.query_raw.clone(),
            content_type: incoming.content_type.clone(),
            user_agent: incoming.user_agent.clone(),
            body: String::from_utf8_lossy(&incoming.body).into_owned(),
            status: 0,
            dry_run: query.get("dryRun").is_some(),
        }),
    };
    let response = match body {
        Err(err) => error(&err),
        Ok(_) => dispatch(&shared, &incoming, &query, &kill).await,
    };
    if let Some(record) = entry.record.as_mut() {
        record.status = response.status().as_u16();
    }
    response
}

/// Pushes its record to the log when dropped.
struct LogEntry<'a> {
    log: &'a crate::request_log::RequestLog,
    record: Option<RequestRecord>,
}

impl Drop for LogEntry<'_> {
    fn drop(&mut self) {
        if let Some(record) = self.record.take() {
            self.log.push(record);
        }
    }
}

async fn dispatch(
    shared: &Arc<Shared>,
    req: &Received,
    query: &Query,
    kill: &Arc<Notify>,
) -> Response<Body> {
    let minor = shared.options.kube_minor;
    let route = match parse_path(&req.path, &shared.server_address, minor) {
        Ok(Path::Discovery(doc)) => return respond(200, &doc),
        Ok(Path::Health) => return respond_typed(200, b"ok".to_vec(), "text/plain; charset=utf-8"),
        Ok(Path::Resource(route)) => route,
        Err(err) => return error(&err),
    };
    let Some(verb) = verb_of(&req.method, &route, query)
        .filter(|verb| route.kind.verbs().contains(&verb.as_str()))
    else {
        return error(&ApiError::MethodNotAllowed);
    };
    let target = Target {
        verb,
        kind: route.kind,
        subresource: route.subresource,
        namespace: route.namespace.clone(),
        name: route.name.clone(),
        continued: query.get("continue").is_some_and(|token| !token.is_empty()),
        dry_run: query.get("dryRun").is_some(),
    };
    if shared.faults().is_denied(&target) {
        return error(&ApiError::Forbidden {
            kind: route.kind,
            subresource: route.subresource.as_str(),
            name: route.name.clone(),
            user: shared.options.user.clone(),
            verb: verb.as_str().to_string(),
            namespace: route.namespace.clone(),
        });
    }
    let fault = shared.faults().take(&target);
    if let Some(fault) = fault
        .as_ref()
        .filter(|f| f.action == FaultAction::DropMidStream)
    {
        let (kill, delay) = (kill.clone(), fault.delay.unwrap_or_default());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            kill.notify_one();
        });
        return serve(shared, req, query, &route, verb);
    }
    if let Some(fault) = fault.as_ref().filter(|f| !f.after_write) {
        if let Some(delay) = fault.delay {
            tokio::time::sleep(delay).await;
        }
        if let Some(response) = fault_response(fault, kill).await {
            return response;
        }
    }
    let ignore_dry_run = fault
        .as_ref()
        .is_some_and(|f| f.action == FaultAction::IgnoreDryRun);
    let response = if ignore_dry_run {
        serve(shared, req, &query.without("dryRun"), &route, verb)
    } else {
        serve(shared, req, query, &route, verb)
    };
    if let Some(fault) = fault.filter(|f| f.after_write) {
        if let Some(delay) = fault.delay {
            tokio::time::sleep(delay).await;
        }
        if let Some(response) = fault_response(&fault, kill).await {
            return response;
        }
    }
    response
}

async fn fault_response(fault: &Fault, kill: &Notify) -> Option<Response<Body>> {
    match &fault.action {
        FaultAction::None => None,
        FaultAction::Status(code) => {
            let reason = crate::errors::reason_for_code(*code);
            let err = ApiError::Injected {
                code: *code,
                message: format!("injected fault: {reason} ({code})"),
            };
            let Some(seconds) = fault.retry_after else {
                return Some(error(&err));
            };
            let mut status = err.status();
            status["details"] = json!({"retryAfterSeconds": seconds});
            let mut response = respond(err.code(), &status);
            response.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                hyper::header::HeaderValue::from(seconds),
            );
            Some(response)
        }
        FaultAction::ExpireContinue => Some(error(&ApiError::ContinueExpired)),
        FaultAction::EndlessContinue => Some(respond(
            200,
            &json!({"kind": "List", "apiVersion": "v1", "metadata": {"continue": "endless"}, "items": []}),
        )),
        FaultAction::EndAtOnce => Some(respond_bytes(200, Vec::new())),
        FaultAction::DropMidStream | FaultAction::IgnoreDryRun => None,
        FaultAction::DropConnection => {
            kill.notify_one();
            // The connection task drops this future with the connection.
            std::future::pending::<()>().await;
            None
        }
    }
}

fn serve(
    shared: &Arc<Shared>,
    req: &Received,
    query: &Query,
    route: &Route,
    verb: Verb,
) -> Response<Body> {
    let dry_run = match query.get("dryRun") {
        None => false,
        Some("All") => true,
        Some(other) => {
            return error(&ApiError::BadRequest(format!(
                "dryRun[0]: Unsupported value: \"{other}\": supported values: \"All\""
            )));
        }
    };
    let ns = route.namespace.as_deref().unwrap_or("");
    let name = route.name.as_deref().unwrap_or("");
    let kind = route.kind;
    // Requests name the served version; the world keeps the stored one.
    let stored_kind = kind.stored_as();
    let wants_table = req.accept.contains("as=Table");
    let result: Result<(u16, Value), ApiError> = match verb {
        Verb::Watch => {
            return watch::start(shared, kind, route.namespace.as_deref(), query, wants_table)
                .unwrap_or_else(|e| error(&e));
        }
        Verb::List => return list(shared, kind, route.namespace.as_deref(), query, wants_table),
        Verb::Create if kind == ResourceKind::SelfSubjectReview => {
            parse_body(&req.body, kind).map(|_| {
                let options = &shared.options;
                (
                    201,
                    events::self_subject_review(&options.user, &options.groups),
                )
            })
        }
        Verb::Get => {
            let world = shared.world();
            match route.subresource {
                Subresource::Scale => world.get_scale(kind, ns, name).map(|v| (200, v)),
                _ => world.get(stored_kind, ns, name).map(|v| {
                    if wants_table {
                        (
                            200,
                            table::table(
                                stored_kind,
                                [&*v],
                                world.store.revision(),
                                None,
                                world.clock.now(),
                            ),
                        )
                    } else {
                        (200, events::served(kind, &v))
                    }
                }),
            }
        }
        Verb::Create => parse_body(&req.body, kind).and_then(|body| {
            if kind == ResourceKind::EventsEvent {
                events::validate_events_v1(&body)?;
            }
            let mut world = shared.world();
            let created = world.create(stored_kind, ns, events::stored(kind, &body), dry_run)?;
            if !dry_run {
                shared.after_write(&mut world);
            }
            Ok((201, events::served(kind, &created)))
        }),
        Verb::Update => parse_body(&req.body, kind).and_then(|body| {
            let mut world = shared.world();
            let value = match route.subresource {
                Subresource::Scale => world.write_scale(kind, ns, name, |_| Ok(body), dry_run)?,
                sub => {
                    let body = events::stored(kind, &body);
                    events::served(
                        kind,
                        &*world.update(stored_kind, ns, name, body, sub, dry_run)?,
                    )
                }
            };
            if !dry_run {
                shared.after_write(&mut world);
            }
            Ok((200, value))
        }),
        Verb::Patch => patch_type(req).and_then(|patch_type| {
            let mut world = shared.world();
            let value = match route.subresource {
                Subresource::Scale => world.write_scale(
                    kind,
                    ns,
                    name,
                    |scale| patch::apply(patch_type, scale, &req.body),
                    dry_run,
                )?,
                sub if kind != stored_kind => {
                    // A patch applies to the version it was written against.
                    let existing = events::served(kind, &*world.get(stored_kind, ns, name)?);
                    let patched = patch::apply(patch_type, &existing, &req.body)?;
                    let body = events::stored(kind, &patched);
                    events::served(
                        kind,
                        &*world.update(stored_kind, ns, name, body, sub, dry_run)?,
                    )
                }
                sub => (*world.patch(kind, ns, name, patch_type, &req.body, sub, dry_run)?).clone(),
            };
            if !dry_run {
                shared.after_write(&mut world);
            }
            Ok((200, value))
        }),
        Verb::Delete => delete_request(query, &req.body).and_then(|options| {
            let mut world = shared.world();
            let status = world.delete(stored_kind, ns, name, &options, dry_run)?;
            if !dry_run {
                shared.after_write(&mut world);
            }
            Ok((200, status))
        }),
    };
    match result {
        Ok((code, value)) => respond(code, &value),
        Err(err) => error(&err),
    }
}

fn list(
    shared: &Arc<Shared>,
    kind: ResourceKind,
    namespace: Option<&str>,
    query: &Query,
    wants_table: bool,
) -> Response<Body> {
    let list_query = match list_query(kind, query) {
        Ok(q) => q,
        Err(e) => return error(&e),
    };
    let world = shared.world();
    let page = match world.list(kind.stored_as(), namespace, &list_query) {
        Ok(p) => p,
        Err(e) => return error(&e),
    };
    if wants_table {
        let t = table::table(
            kind.stored_as(),
            page.items.iter().map(|v| &**v),
            page.revision,
            page.continue_token.as_deref(),
            world.clock.now(),
        );
        return respond(200, &t);
    }
    drop(world);
    respond_bytes(200, list_bytes(kind, &page))
}

/// The list document, written item by item: items carry no `kind`/`apiVersion`, as a typed list's
/// items do not on a real server.
fn list_bytes(kind: ResourceKind, page: &ListPage) -> Vec<u8> {
    let mut meta = json!({"resourceVersion": page.revision.to_string()});
    if let Some(c) = &page.continue_token {
        meta["continue"] = json!(c);
    }
    if let Some(r) = page.remaining {
        meta["remainingItemCount"] = json!(r);
    }
    let mut out = Vec::with_capacity(64 + page.items.len() * 2048);
    out.extend_from_slice(br#"{"apiVersion":""#);
    out.extend_from_slice(kind.api_version().as_bytes());
    out.extend_from_slice(br#"","items":["#);
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if kind == kind.stored_as() {
            json::write_without(&mut out, item, &["kind", "apiVersion"]);
        } else {
            json::write_without(
                &mut out,
                &events::served(kind, item),
                &["kind", "apiVersion"],
            );
        }
    }
    out.extend_from_slice(br#"],"kind":""#);
    out.extend_from_slice(kind.kind().as_bytes());
    out.extend_from_slice(br#"List","metadata":"#);
    out.extend_from_slice(&json::to_vec(&meta));
    out.push(b'}');
    out
}

fn list_query(kind: ResourceKind, query: &Query) -> Result<ListQuery, ApiError> {
    let limit = match query.get("limit") {
        None | Some("") => 0,
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| ApiError::BadRequest(format!("limit: Invalid value: {l:?}")))?,
    };
    Ok(ListQuery {
        label_selector: query.get("labelSelector").map(str::to_string),
        field_selector: query
            .get("fieldSelector")
            .map(|s| events::stored_field_selector(kind, s)),
        limit,
        continue_token: query.get("continue").map(str::to_string),
    })
}

fn parse_body(body: &[u8], kind: ResourceKind) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!("couldn't get version/kind; json parse error: {e}"))
    })?;
    let body_kind = json::str_at(&value, &["kind"]);
    let body_version = json::str_at(&value, &["apiVersion"]);
    if (!body_kind.is_empty() && body_kind != kind.kind())
        || (!body_version.is_empty() && body_version != kind.api_version())
    {
        return Err(ApiError::BadRequest(format!(
            "the API version in the data ({body_version}) does not match the expected API version ({})",
            kind.api_version()
        )));
    }
    Ok(value)
}

fn patch_type(req: &Received) -> Result<PatchType, ApiError> {
    req.content_type
        .as_deref()
        .and_then(PatchType::from_content_type)
        .ok_or(ApiError::UnsupportedMediaType)
}

fn delete_request(query: &Query, body: &[u8]) -> Result<DeleteRequest, ApiError> {
    let options: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("error decoding DeleteOptions: {e}")))?
    };
    let policy = query
        .get("propagationPolicy")
        .map(str::to_string)
        .unwrap_or_else(|| json::str_at(&options, &["propagationPolicy"]).to_string());
    let orphan = policy == "Orphan"
        || json::at(&options, &["orphanDependents"]).and_then(Value::as_bool) == Some(true);
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Ok(DeleteRequest {
        propagation: if orphan {
            Propagation::Orphan
        } else {
            Propagation::Cascade
        },
        uid: some(json::str_at(&options, &["preconditions", "uid"])),
        resource_version: some(json::str_at(
            &options,
            &["preconditions", "resourceVersion"],
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: &str) -> Route {
        match parse_path(path, "127.0.0.1", 33) {
            Ok(Path::Resource(r)) => r,
            _ => panic!("no route for {path}"),
        }
    }

    #[test]
    fn parses_resource_paths() {
        let r = route("/apis/apps/v1/namespaces/shop/deployments/api/status");
        assert_eq!(
            (
                r.kind,
                r.namespace.as_deref(),
                r.name.as_deref(),
                r.subresource
            ),
            (
                ResourceKind::Deployment,
                Some("shop"),
                Some("api"),
                Subresource::Status
            )
        );
        let r = route("/apis/apps/v1/replicasets");
        assert_eq!((r.kind, r.namespace), (ResourceKind::ReplicaSet, None));
        let r = route("/api/v1/namespaces/shop");
        assert_eq!(
            (r.kind, r.name.as_deref()),
            (ResourceKind::Namespace, Some("shop"))
        );
        let r = route("/api/v1/namespaces/shop/pods");
        assert_eq!(
            (r.kind, r.namespace.as_deref()),
            (ResourceKind::Pod, Some("shop"))
        );
        for bad in [
            "/apis/batch/v1/jobs",
            "/apis/apps/v1/namespaces/x/daemonsets/d/scale",
            "/apis/apps/v1/deployments/x",
            "/nope",
            "/apis/apps/v1/namespaces/x/controllerrevisions/c/status",
        ] {
            assert!(parse_path(bad, "", 33).is_err(), "{bad}");
        }
    }

    #[test]
    fn decodes_queries() {
        let q = Query::parse("labelSelector=app%3Dx%2Ctier+in+%28a%29&watch=1&bad=%zz%");
        assert_eq!(q.get("labelSelector"), Some("app=x,tier in (a)"));
        assert!(q.flag("watch"));
        assert_eq!(q.get("bad"), Some("%zz%"));
    }
}
