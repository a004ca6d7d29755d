//! Watches: a chunked stream of newline-delimited `{"type":...,"object":...}` events. Without a
//! `resourceVersion` (or with `0`) the stream starts with an ADDED event per existing object;
//! with one it replays the remembered events after it (or sends a 410 `ERROR` event when they are
//! no longer remembered, which makes clients re-list). Selectors apply to the object before and
//! after each change, so an object leaving a selector arrives as DELETED and one entering as ADDED.
//! Streams end after `timeoutSeconds`; `allowWatchBookmarks` adds periodic BOOKMARK events and
//! `sendInitialEvents` the `k8s.io/initial-events-end` bookmark.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::api::{Body, Query};
use crate::clock::Clock;
use crate::errors::ApiError;
use crate::events;
use crate::json;
use crate::resources::ResourceKind;
use crate::selector::{FieldSelector, Selector};
use crate::sim::Shared;
use crate::store::{Event, EventType};
use crate::table;

/// The API server's default watch length (`--min-request-timeout`).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(30);

/// Which events a watch wants.
struct Filter {
    /// The served resource (events arrive under its stored kind).
    kind: ResourceKind,
    namespace: Option<String>,
    labels: Option<Selector>,
    fields: Option<FieldSelector>,
    table: bool,
    clock: Clock,
}

impl Filter {
    fn selects(&self, object: &Value) -> bool {
        self.namespace
            .as_ref()
            .is_none_or(|ns| json::str_at(object, &["metadata", "namespace"]) == ns)
            && self
                .labels
                .as_ref()
                .is_none_or(|s| s.matches_object(object))
            && self.fields.as_ref().is_none_or(|f| f.matches(object))
    }

    /// The event this watcher sees for a store event, if any.
    fn translate(&self, event: &Event) -> Option<Bytes> {
        if event.kind != self.kind.stored_as() {
            return None;
        }
        let now = self.selects(&event.object);
        let event_type = match event.event_type {
            EventType::Modified => {
                let before = event.previous.as_ref().is_some_and(|p| self.selects(p));
                match (before, now) {
                    (true, true) => EventType::Modified,
                    (false, true) => EventType::Added,
                    (true, false) => EventType::Deleted,
                    (false, false) => return None,
                }
            }
            other if now => other,
            _ => return None,
        };
        Some(self.line(event_type.as_str(), &event.object, event.revision))
    }

    fn line(&self, event_type: &str, object: &Value, revision: u64) -> Bytes {
        let object = if self.table {
            table::table(
                self.kind.stored_as(),
                [object],
                revision,
                None,
                self.clock.now(),
            )
        } else {
            events::served(self.kind, object)
        };
        let mut bytes = json::to_vec(&json!({"type": event_type, "object": object}));
        bytes.push(b'\n');
        Bytes::from(bytes)
    }

    fn bookmark(&self, revision: u64, initial_events_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": revision.to_string()});
        if initial_events_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({"kind": self.kind.kind(), "apiVersion": self.kind.api_version(), "metadata": meta});
        let mut bytes = json::to_vec(&json!({"type": "BOOKMARK", "object": object}));
        bytes.push(b'\n');
        Bytes::from(bytes)
    }
}

/// Counts a watch as open from its start until its stream task ends.
struct OpenWatch(Arc<Shared>);

impl OpenWatch {
    fn new(shared: &Arc<Shared>) -> Self {
        shared
            .open_watches
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(shared.clone())
    }
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.0
            .open_watches
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A response body fed by a channel.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

/// Starts a watch and returns the streaming response.
pub fn start(
    shared: &Arc<Shared>,
    kind: ResourceKind,
    namespace: Option<&str>,
    query: &Query,
    table: bool,
) -> Result<Response<Body>, ApiError> {
    let labels = match query.get("labelSelector").filter(|s| !s.trim().is_empty()) {
        Some(s) => Some(Selector::parse(s).map_err(ApiError::BadRequest)?),
        None => None,
    };
    let fields = match query.get("fieldSelector").filter(|s| !s.trim().is_empty()) {
        Some(s) => Some(
            FieldSelector::parse(
                &events::stored_field_selector(kind, s),
                kind.stored_as().selectable_fields(),
            )
            .map_err(ApiError::BadRequest)?,
        ),
        None => None,
    };
    let timeout = match query.get("timeoutSeconds") {
        Some(t) => Duration::from_secs(
            t.parse()
                .map_err(|_| ApiError::BadRequest(format!("invalid timeoutSeconds {t:?}")))?,
        ),
        None => DEFAULT_TIMEOUT,
    };
    let from = match query
        .get("resourceVersion")
        .filter(|rv| !rv.is_empty() && *rv != "0")
    {
        Some(rv) => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::BadRequest(format!("invalid resource version: {rv}")))?,
        ),
        None => None,
    };
    let send_initial = query.flag("sendInitialEvents");
    let bookmarks = query.flag("allowWatchBookmarks");
    let world = shared.world();
    let filter = Filter {
        kind,
        namespace: namespace.filter(|_| kind.namespaced()).map(str::to_string),
        labels,
        fields,
        table,
        clock: world.clock.clone(),
    };
    let receiver = world.store.subscribe();
    let start_revision = world.store.revision();
    let mut initial = Vec::new();
    let mut gone = false;
    match from.filter(|_| !send_initial) {
        None => {
            let ns = filter.namespace.as_deref();
            for obj in world.store.list(kind.stored_as(), ns, None) {
                if filter.selects(obj) {
                    let revision = json::str_at(obj, &["metadata", "resourceVersion"])
                        .parse()
                        .unwrap_or(0);
                    initial.push(filter.line("ADDED", obj, revision));
                }
            }
            if send_initial && bookmarks {
                initial.push(filter.bookmark(start_revision, true));
            }
        }
        Some(rv) => match world.store.events_since(rv) {
            Ok(events) => initial.extend(events.iter().filter_map(|e| filter.translate(e))),
            Err(err) => {
                gone = true;
                let mut line = json::to_vec(&json!({"type": "ERROR", "object": err.status()}));
                line.push(b'\n');
                initial.push(Bytes::from(line));
            }
        },
    }
    drop(world);
    let (tx, rx) = mpsc::channel(1024);
    let shared = shared.clone();
    let open = OpenWatch::new(&shared);
    tokio::spawn(async move {
        let _open = open;
        for line in initial {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        if !gone {
            stream(
                shared,
                filter,
                receiver,
                start_revision,
                tx,
                timeout,
                bookmarks,
            )
            .await;
        }
    });
    let mut response = Response::new(ChannelBody(rx).boxed());
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

async fn stream(
    shared: Arc<Shared>,
    filter: Filter,
    mut receiver: broadcast::Receiver<Arc<Event>>,
    start_revision: u64,
    tx: mpsc::Sender<Bytes>,
    timeout: Duration,
    bookmarks: bool,
) {
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut ticker = tokio::time::interval(BOOKMARK_INTERVAL);
    ticker.tick().await;
    loop {
        let line = tokio::select! {
            _ = &mut deadline => return,
            _ = tx.closed() => return,
            _ = ticker.tick(), if bookmarks => {
                let revision = shared.world().store.revision();
                Some(filter.bookmark(revision, false))
            }
            received = receiver.recv() => match received {
                Ok(event) if event.revision > start_revision => filter.translate(&event),
                Ok(_) => None,
                // A watcher that fell behind is closed, as the API server closes slow watchers;
                // the client resumes from the last resourceVersion it saw.
                Err(_) => return,
            },
        };
        if let Some(line) = line
            && tx.send(line).await.is_err()
        {
            return;
        }
    }
}
