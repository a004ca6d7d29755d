//! The Kubernetes API, as the rollout workflow uses it: read a workload, list its revisions,
//! write an undo patch, watch a rollout. Every call has a time limit, and every failure
//! becomes a [`ClusterError`] that says what was attempted, on which server, and what to do.
//!
//! Reads and writes go through two clients. Reads are retried a few times on transient
//! failures ([`retry`]); writes never are, by kube or by us: whether a write whose answer was
//! lost took effect is for the undo workflow to find out (`crate::undo::outcome`), not for a
//! blind re-send to decide.
//!
//! What the cluster sends is bounded: LISTs by bytes and pages ([`list`]), watch events by
//! line length ([`watch`]), and large ones are parsed off the runtime thread ([`body`]).

mod body;
mod connect;
pub mod credentials;
mod exec;
pub mod identity;
mod list;
pub mod retry;
pub mod version;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::events::v1::Event;
use kube::Resource;
use kube::api::{
    Api, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::{Request, Selector};
use kube::discovery::ApiResource;
use serde_json::value::RawValue;
use tower::ServiceBuilder;
use tower::buffer::BufferLayer;
use tower::retry::RetryLayer;

use crate::config::{self, Settings};
use crate::rollout::evidence::{self, EventObject, PodObject};
use crate::rollout::kind::{OwnerKind, RevisionStore, UnsupportedKind, WorkloadKind};
use crate::rollout::plan::RollbackPatch;
use crate::rollout::revisions::{self, RevisionSet};
use crate::rollout::workload::Workload;

use credentials::{CredentialError, Credentials};
use identity::KubeUser;
use list::{List, ListPage, Page};
pub use list::{MAX_LIST_BYTES, MAX_LIST_OBJECTS, PAGE_SIZE, REVISION_PAGE_SIZE};
pub use watch::MAX_EVENT_LINE;

/// The field manager our writes are recorded under in `managedFields`.
pub const FIELD_MANAGER: &str = "k8s-rollout-mcp";

/// A connection to one cluster (one kubeconfig context).
#[derive(Clone)]
pub struct Cluster {
    /// GET, LIST and WATCH, retried on transient failures ([`retry::ReadRetry`]).
    reads: kube::Client,
    /// PATCH, never retried: each write the workflow makes reaches the API server at most once.
    writes: kube::Client,
    /// The kubeconfig context.
    pub context: String,
    /// The API server URL.
    pub server: String,
    /// The context's namespace, else "default".
    pub default_namespace: String,
    request_timeout: Duration,
    /// The bearer credential both clients send, obtained on first use.
    credentials: Arc<Credentials>,
    /// The cluster's `insecure-skip-tls-verify`: every approval and result says so.
    pub insecure: bool,
    /// The user the writes run as, when the kubeconfig impersonates one (`as`, `as-uid`,
    /// `as-groups`), as approvals and the audit show it.
    pub impersonating: Option<String>,
    /// The context's Kubernetes user, looked up once (concurrent first callers share the one
    /// lookup).
    kube_user: Arc<tokio::sync::OnceCell<KubeUser>>,
    /// The warning about the context's Kubernetes release ([`version`]), read on first use and
    /// handed to one result.
    release: Arc<ReleaseCheck>,
}

/// Whether `/version` was read, and the warning it gave until a result takes it.
#[derive(Default)]
struct ReleaseCheck {
    read: tokio::sync::OnceCell<()>,
    warning: std::sync::Mutex<Option<String>>,
}

/// The workload's selector, for LISTs of what it owns.
fn selector(workload: &Workload) -> Result<Selector, ClusterError> {
    let selector = workload
        .selector()
        .map_err(|error| ClusterError::Malformed(error.to_string()))?;
    Selector::try_from(selector).map_err(|error| {
        ClusterError::Malformed(
            workload
                .malformed(&format!("spec.selector: {error}"))
                .to_string(),
        )
    })
}

/// One [`Cluster`] per kubeconfig context, each built on first use and kept for the session.
pub struct Clusters {
    kubeconfig: kube::config::Kubeconfig,
    request_timeout: Duration,
    built: tokio::sync::Mutex<std::collections::HashMap<String, Cluster>>,
}

impl Clusters {
    /// The pool, holding the start context's cluster already.
    pub fn new(settings: &Settings, start: Cluster) -> Self {
        let built = std::collections::HashMap::from([(start.context.clone(), start)]);
        Self {
            kubeconfig: settings.kubeconfig.clone(),
            request_timeout: settings.request_timeout,
            built: tokio::sync::Mutex::new(built),
        }
    }

    /// The cluster of `context` (allowed by the caller's policy), built the first time.
    pub async fn get(&self, context: &str) -> Result<Cluster, ClusterError> {
        let mut built = self.built.lock().await;
        if let Some(cluster) = built.get(context) {
            return Ok(cluster.clone());
        }
        let config = config::client_config(&self.kubeconfig, context, self.request_timeout)
            .await
            .map_err(|error| ClusterError::Client {
                context: context.to_string(),
                detail: error_chain(&error),
                fix: "fix that context's cluster and user entries in the kubeconfig",
            })?;
        let cluster = Cluster::new(config, context, self.request_timeout)?;
        built.insert(context.to_string(), cluster.clone());
        Ok(cluster)
    }
}

/// What a request was trying to do, for error messages.
#[derive(Debug, Clone, Copy)]
struct Attempt<'a> {
    verb: &'static str,
    resource: &'static str,
    group: &'static str,
    namespace: &'a str,
    name: Option<&'a str>,
}

/// A failed API request, described for a human.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot build a client for context \"{context}\" from the kubeconfig: {detail}; {fix}")]
    Client {
        context: String,
        detail: String,
        fix: &'static str,
    },
    /// No credential could be obtained (a plugin failed, a token file is unreadable): nothing
    /// was sent.
    #[error("{0}")]
    Credentials(String),
    #[error(
        "the API server at {server} rejected the credentials of context \"{context}\" (401 Unauthorized: {message}): the token is expired or wrong; get a fresh one (`kubectl create token ACCOUNT` for a ServiceAccount, or log in again with your cluster's CLI) and update the kubeconfig"
    )]
    Unauthorized {
        server: String,
        context: String,
        message: String,
    },
    #[error(
        "the API server at {server} (context \"{context}\") presented a certificate that the context's certificate authority does not trust ({detail}); check the cluster's certificate-authority-data in the kubeconfig (it may be another cluster's, or the server's certificate was replaced) and that the server URL is this cluster's"
    )]
    UntrustedCertificate {
        server: String,
        context: String,
        detail: String,
    },
    /// The certificate is trusted but names another host: the CA is right, the name is not.
    #[error(
        "the API server at {server} (context \"{context}\") presented a certificate that is not valid for the name it was checked against ({detail}); the server URL's host, or the cluster's tls-server-name when the kubeconfig sets one, must be a name the certificate holds"
    )]
    CertificateNotForName {
        server: String,
        context: String,
        detail: String,
    },
    #[error("{resource}{group} \"{name}\" not found in namespace \"{namespace}\"")]
    NotFound {
        resource: &'static str,
        group: &'static str,
        name: String,
        namespace: String,
    },
    #[error(
        "forbidden: the credentials of context \"{context}\" may not {verb} {resource} in namespace \"{namespace}\" (the API server said: {message}); ask for RBAC permission to {verb} {resource}{group}, or use a context that has it"
    )]
    Forbidden {
        context: String,
        verb: &'static str,
        resource: &'static str,
        group: &'static str,
        namespace: String,
        message: String,
    },
    /// The workload object lacks something every valid one has.
    #[error("{0}")]
    Malformed(String),
    /// A write refused with 409 Conflict (the precondition, or a concurrent writer).
    #[error("conflict: {message}")]
    Conflict { message: String },
    #[error(
        "the API server at {server} refused to {verb} {resource}: {code} {reason}: {message}; {}",
        advice(*.code)
    )]
    Api {
        server: String,
        verb: &'static str,
        resource: &'static str,
        code: u16,
        reason: String,
        message: String,
    },
    #[error(
        "cannot reach the API server at {server} (context \"{context}\") to {verb} {resource}: {detail}; check that the cluster is up and the kubeconfig points at it"
    )]
    Unreachable {
        server: String,
        context: String,
        verb: &'static str,
        resource: &'static str,
        detail: String,
    },
    #[error(
        "the API server at {server} (context \"{context}\") did not answer within {seconds}s while trying to {verb} {resource}; it may be overloaded or unreachable (--request-timeout sets the limit)"
    )]
    Timeout {
        server: String,
        context: String,
        verb: &'static str,
        resource: &'static str,
        seconds: u64,
    },
    /// A LIST whose responses hold more than one call reads ([`MAX_LIST_BYTES`]).
    #[error(
        "the objects that `{kubectl}` lists hold more than the {} MiB of list responses one call reads: stopped after {read} bytes in {pages} page(s) from the API server at {server}; {fix}",
        MAX_LIST_BYTES >> 20
    )]
    ListTooLarge {
        kubectl: String,
        server: String,
        read: usize,
        pages: u32,
        fix: &'static str,
    },
    /// A LIST whose `continue` chain goes on past [`MAX_LIST_OBJECTS`].
    #[error(
        "`{kubectl}` still had more after {pages} pages that asked for {asked} objects from the API server at {server}, past the {MAX_LIST_OBJECTS} one call asks for: an API server fills every page but the last, so its continue chain does not end; check what answers at that address (a proxy?)"
    )]
    ListTooLong {
        kubectl: String,
        server: String,
        pages: u32,
        asked: u32,
    },
    /// A watch event longer than [`MAX_EVENT_LINE`].
    #[error(
        "the API server at {server} sent an event on the watch of {resource}.apps \"{namespace}/{name}\" longer than {} MiB, which no object an API server stores comes near; stopped watching: check what answers at that address (a proxy?)",
        MAX_EVENT_LINE >> 20
    )]
    WatchEventTooLong {
        server: String,
        resource: &'static str,
        namespace: String,
        name: String,
    },
    /// Watches ended by someone else as soon as they were opened ([`crate::follow`]).
    #[error(
        "the watch of {resource}.apps \"{namespace}/{name}\" on the API server at {server} (context \"{context}\") ended {ends} times in a row within a second of being opened, with nothing sent, although each asked to run for its whole wait: something in between (a proxy or load balancer) closes watch requests; let them through, or check the rollout again later without waiting"
    )]
    WatchEndedEarly {
        server: String,
        context: String,
        resource: &'static str,
        namespace: String,
        name: String,
        ends: u32,
    },
}

/// Where a ReplicaSet's or Pod's owner chain leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// The workload to roll back instead.
    Workload(WorkloadKind, String),
    /// Another API group's controller (OpenKruise, Argo Rollouts...), with its own tool.
    Foreign {
        kind: String,
        group: String,
        name: String,
    },
    /// The chain ends elsewhere (a bare Pod, a Job...); the text says where.
    DeadEnd(String),
}

/// The objects an owner chain passes through on its way to a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    Pod,
    ReplicaSet,
}

impl Hop {
    fn kind(self) -> &'static str {
        match self {
            Self::Pod => "Pod",
            Self::ReplicaSet => "ReplicaSet",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Self::Pod => "pods",
            Self::ReplicaSet => "replicasets",
        }
    }

    fn group(self) -> &'static str {
        match self {
            Self::Pod => "",
            Self::ReplicaSet => ".apps",
        }
    }

    fn api_resource(self) -> ApiResource {
        match self {
            Self::Pod => ApiResource::erase::<k8s_openapi::api::core::v1::Pod>(&()),
            Self::ReplicaSet => RevisionStore::ReplicaSets.api_resource(),
        }
    }
}

impl ClusterError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// 410 Gone: the resourceVersion a watch started from is no longer available.
    pub fn is_gone(&self) -> bool {
        matches!(self, Self::Api { code: 410, .. })
    }

    /// Whether trying again later may succeed: the connection broke or timed out, or the API
    /// server was busy or briefly unavailable (429, 500, 502, 503, 504).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. }
                | Self::Timeout { .. }
                | Self::Api {
                    code: 429 | 500 | 502 | 503 | 504,
                    ..
                }
        )
    }
}

/// What to do about an API error, by its code.
fn advice(code: u16) -> &'static str {
    match code {
        429 => "the API server is overloaded and asked clients to slow down; try again in a moment",
        410 => "what was asked for is no longer available on the server; try again",
        500..=599 => {
            "the API server could not answer; try again shortly, and check the cluster's health if it keeps failing"
        }
        _ => "check the message above; the request may need other arguments or permissions",
    }
}

impl<'a> Attempt<'a> {
    /// An attempt on a workload kind.
    fn workload(
        verb: &'static str,
        kind: WorkloadKind,
        namespace: &'a str,
        name: Option<&'a str>,
    ) -> Self {
        Self {
            verb,
            resource: kind.plural(),
            group: ".apps",
            namespace,
            name,
        }
    }
}

impl Cluster {
    /// Dynamic access to one workload kind in a namespace, for reads.
    fn workload_api(&self, kind: WorkloadKind, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.reads.clone(), namespace, &kind.api_resource())
    }

    /// The read and write clients; must be called within the Tokio runtime (the read client's
    /// retry layer runs a buffer task).
    pub fn new(
        mut config: kube::Config,
        context: &str,
        request_timeout: Duration,
    ) -> Result<Self, ClusterError> {
        let failed = |error: connect::ConnectError| {
            let (detail, fix) = match &error {
                connect::ConnectError::Kube(kube) => (error_chain(kube), credential_fix(kube)),
                other => (other.to_string(), "fix the cluster entry in the kubeconfig"),
            };
            ClusterError::Client {
                context: context.to_string(),
                detail,
                fix,
            }
        };
        let credentials = Credentials::new(context, &config.auth_info, request_timeout)
            .map_err(|error| ClusterError::Credentials(error.to_string()))?;
        let credentials = Arc::new(credentials);
        let impersonating = impersonated(&config.auth_info);
        config.auth_info = Credentials::for_kube(&config.auth_info);
        config.default_retry = false;
        config.headers.push((
            http::header::USER_AGENT,
            http::HeaderValue::from_static(identity::USER_AGENT),
        ));
        let server = config::server_url(&config);
        let insecure = config.accept_invalid_certs;
        let default_namespace = config.default_namespace.clone();
        let writes = connect::client_builder(config.clone(), credentials.clone())
            .map_err(failed)?
            .build();
        let layers = ServiceBuilder::new()
            .layer(RetryLayer::new(retry::ReadRetry::new(request_timeout)))
            // tower's retry needs a cloneable service; kube's stack is boxed and is not.
            .layer(BufferLayer::new(1024));
        let reads = connect::client_builder(config, credentials.clone())
            .map_err(failed)?
            .with_layer(&layers)
            .build();
        Ok(Self {
            reads,
            writes,
            context: context.to_string(),
            server,
            default_namespace,
            request_timeout,
            credentials,
            insecure,
            impersonating,
            kube_user: Arc::default(),
            release: Arc::default(),
        })
    }

    /// Reads `/version` the first time this context reaches the cluster (before its first
    /// workload read, so a call refused by policy still sends nothing); a release outside the tested ones
    /// is warned about on stderr and kept for [`Cluster::take_release_warning`]. A failed read
    /// warns of nothing (the call that follows says what is wrong with the cluster).
    async fn check_release(&self) {
        self.release
            .read
            .get_or_init(|| async {
                let attempt = Attempt {
                    verb: "get",
                    resource: "version",
                    group: "",
                    namespace: "",
                    name: None,
                };
                let request = http::Request::get("/version")
                    .body(Vec::new())
                    .expect("a valid request");
                let answer = self.run(attempt, self.reads.request_text(request)).await;
                let warning = answer
                    .ok()
                    .and_then(|text| serde_json::from_str(&text).ok())
                    .and_then(|answer| version::untested_release(&answer));
                if let Some(warning) = warning {
                    tracing::warn!(context = %self.context, "{warning}");
                    *self
                        .release
                        .warning
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) = Some(warning);
                }
            })
            .await;
    }

    /// Who the writes run as, for approvals: the API server's answer ([`KubeUser::describe`]),
    /// the kubeconfig's impersonation, and whether the server's certificate goes unverified.
    pub fn writes_as(&self, user: &KubeUser) -> String {
        let mut text = user.describe();
        if let Some(impersonated) = &self.impersonating {
            text.push_str(&format!(
                ", impersonating {impersonated} (the kubeconfig user's `as`)"
            ));
        }
        if let Some(warning) = self.connection_warning() {
            text.push_str(&format!("; {warning}"));
        }
        text
    }

    /// What every result and approval on this context says about its connection: that the
    /// API server's certificate is not verified (`insecure-skip-tls-verify`).
    pub fn connection_warning(&self) -> Option<&'static str> {
        self.insecure.then_some(
            "the API server's certificate is NOT verified (the kubeconfig sets insecure-skip-tls-verify): anyone on the network path could answer in its place",
        )
    }

    /// The warning about this context's release, to the first result that asks.
    pub fn take_release_warning(&self) -> Option<String> {
        self.release
            .warning
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// The Kubernetes user the writes run as, from a `SelfSubjectReview` asked once for this
    /// context; unknown (with why) when the API server cannot say.
    pub async fn kube_user(&self) -> KubeUser {
        self.kube_user
            .get_or_init(|| async {
                let attempt = Attempt {
                    verb: "create",
                    resource: "selfsubjectreviews",
                    group: ".authentication.k8s.io",
                    namespace: "",
                    name: None,
                };
                let api = Api::<SelfSubjectReview>::all(self.writes.clone());
                let review = SelfSubjectReview::default();
                match self
                    .run(attempt, api.create(&PostParams::default(), &review))
                    .await
                {
                    Ok(review) => {
                        let info = review.status.and_then(|status| status.user_info);
                        match info.and_then(|info| Some((info.username?, info.groups))) {
                            Some((username, groups)) => KubeUser::Known {
                                username,
                                groups: groups.unwrap_or_default(),
                            },
                            None => KubeUser::Unknown(
                                "the SelfSubjectReview answer names no user".into(),
                            ),
                        }
                    }
                    Err(error) => KubeUser::Unknown(identity_failure(&error)),
                }
            })
            .await
            .clone()
    }

    /// POST an `events.k8s.io/v1` Event; its name.
    pub async fn create_event(
        &self,
        namespace: &str,
        event: &Event,
    ) -> Result<String, ClusterError> {
        let attempt = Attempt {
            verb: "create",
            resource: "events",
            group: ".events.k8s.io",
            namespace,
            name: None,
        };
        let api = Api::<Event>::namespaced(self.writes.clone(), namespace);
        let created = self
            .run(attempt, api.create(&PostParams::default(), event))
            .await?;
        Ok(created.metadata.name.unwrap_or_default())
    }

    /// GET one workload.
    pub async fn workload(
        &self,
        kind: WorkloadKind,
        namespace: &str,
        name: &str,
    ) -> Result<Workload, ClusterError> {
        // Every tool's first request: the context's release is checked before it, once.
        self.check_release().await;
        let attempt = Attempt::workload("get", kind, namespace, Some(name));
        let api = self.workload_api(kind, namespace);
        let object = self.run(attempt, api.get(name)).await?;
        Ok(Workload::new(kind, object))
    }

    /// LIST the workload's revision objects by its selector, numbered by kubectl's rules. The
    /// first page asks for [`REVISION_PAGE_SIZE`] objects, the later ones are sized from it
    /// (`list`); in each, only the objects the workload controls are parsed and kept
    /// (`revisions::controlled_by`), as lean [`revisions::RevisionObject`]s.
    pub async fn revisions(&self, workload: &Workload) -> Result<RevisionSet, ClusterError> {
        let store = workload.kind.revision_store();
        let list = List {
            attempt: Attempt {
                verb: "list",
                resource: store.plural(),
                group: ".apps",
                namespace: workload.namespace(),
                name: None,
            },
            path: DynamicObject::url_path(&store.api_resource(), Some(workload.namespace())),
            params: ListParams::default()
                .labels_from(&selector(workload)?)
                .limit(REVISION_PAGE_SIZE),
            request: Request::list,
            fix: "delete or relabel those that are not this workload's (they match its selector), or lower its revisionHistoryLimit",
        };
        let owner = Arc::new(workload.clone());
        let parse = move |text: &[u8]| {
            let page: ListPage<&RawValue> = serde_json::from_slice(text)?;
            let mut owned = RevisionSet::default();
            owned.add_owned(&owner, revisions::controlled_by(&owner, &page.items)?);
            Ok(Page::new(owned, page.items.len(), page.metadata))
        };
        let mut set = self
            .paginated(list, parse, RevisionSet::default, RevisionSet::append)
            .await?;
        set.sort();
        Ok(set)
    }

    /// LIST the first [`evidence::PODS_READ`] pods matching the workload's selector, and
    /// whether it has more.
    pub async fn pods(&self, workload: &Workload) -> Result<(Vec<PodObject>, bool), ClusterError> {
        let list = List {
            attempt: Attempt {
                verb: "list",
                resource: "pods",
                group: "",
                namespace: workload.namespace(),
                name: None,
            },
            path: format!("/api/v1/namespaces/{}/pods", workload.namespace()),
            params: ListParams::default()
                .labels_from(&selector(workload)?)
                .limit(evidence::PODS_READ),
            request: Request::list,
            fix: "pods are read only to say why the rollout stands where it does",
        };
        let page = self.first_page(list, list::items).await?;
        Ok((page.items, page.next.is_some()))
    }

    /// LIST the first [`evidence::EVENTS_READ`] Warning events (core/v1) of a namespace, and
    /// whether it has more.
    pub async fn warning_events(
        &self,
        namespace: &str,
    ) -> Result<(Vec<EventObject>, bool), ClusterError> {
        let list = List {
            attempt: Attempt {
                verb: "list",
                resource: "events",
                group: "",
                namespace,
                name: None,
            },
            path: format!("/api/v1/namespaces/{namespace}/events"),
            params: ListParams::default()
                .fields("type=Warning")
                .limit(evidence::EVENTS_READ),
            request: Request::list,
            fix: "events are read only to say why the rollout stands where it does",
        };
        let page = self.first_page(list, list::items).await?;
        Ok((page.items, page.next.is_some()))
    }

    /// The names of all workloads of a kind in a namespace (for "did you mean"), from their
    /// metadata only.
    pub async fn workload_names(
        &self,
        kind: WorkloadKind,
        namespace: &str,
    ) -> Result<Vec<String>, ClusterError> {
        /// A listed object's name.
        #[derive(serde::Deserialize)]
        struct Named {
            metadata: Name,
        }
        #[derive(serde::Deserialize)]
        struct Name {
            name: Option<String>,
        }
        let list = List {
            attempt: Attempt::workload("list", kind, namespace, None),
            path: DynamicObject::url_path(&kind.api_resource(), Some(namespace)),
            params: ListParams::default().limit(PAGE_SIZE),
            request: Request::list_metadata,
            fix: "names are listed only to suggest one: check the name asked for",
        };
        self.paginated(list, list::items::<Named>, Vec::new, |names, items| {
            names.extend(items.into_iter().filter_map(|item| item.metadata.name))
        })
        .await
    }

    /// PATCH the workload with an undo patch, or only dry-run it on the server.
    pub async fn patch(
        &self,
        kind: WorkloadKind,
        namespace: &str,
        name: &str,
        patch: &RollbackPatch,
        dry_run: bool,
    ) -> Result<Workload, ClusterError> {
        let attempt = Attempt::workload("patch", kind, namespace, Some(name));
        let api = Api::namespaced_with(self.writes.clone(), namespace, &kind.api_resource());
        let mut params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        params.dry_run = dry_run;
        let object = match patch {
            RollbackPatch::Json(body) => {
                let operations = body.clone();
                self.run(
                    attempt,
                    api.patch(name, &params, &Patch::Json::<()>(operations)),
                )
                .await?
            }
            RollbackPatch::StrategicMerge(body) => {
                self.run(attempt, api.patch(name, &params, &Patch::Strategic(body)))
                    .await?
            }
        };
        Ok(Workload::new(kind, object))
    }

    /// Watches one workload from `resource_version`; events end when the server closes the
    /// watch (after `timeout_seconds` at most). Each event is at most [`MAX_EVENT_LINE`] long.
    pub async fn watch_workload(
        &self,
        kind: WorkloadKind,
        namespace: &str,
        name: &str,
        resource_version: &str,
        timeout_seconds: u32,
    ) -> Result<impl Stream<Item = Result<Workload, ClusterError>> + use<>, ClusterError> {
        let attempt = Attempt::workload("watch", kind, namespace, Some(name));
        let params = WatchParams::default()
            .fields(&format!("metadata.name={name}"))
            .timeout(timeout_seconds);
        let request = Request::new(DynamicObject::url_path(
            &kind.api_resource(),
            Some(namespace),
        ))
        .watch(&params, resource_version)
        .map_err(|error| self.classify(attempt, kube::Error::BuildRequest(error)))?;
        let body = self
            .run(attempt, self.reads.request_stream(request))
            .await?;
        let events = watch::events(Box::pin(body));
        let this = self.clone();
        let owned = (namespace.to_string(), name.to_string());
        Ok(events.filter_map(move |event| {
            let this = this.clone();
            let (namespace, name) = owned.clone();
            async move {
                let attempt = Attempt::workload("watch", kind, &namespace, Some(&name));
                match event {
                    Ok(WatchEvent::Added(object) | WatchEvent::Modified(object)) => {
                        Some(Ok(Workload::new(kind, object)))
                    }
                    Ok(WatchEvent::Deleted(_)) => Some(Err(ClusterError::NotFound {
                        resource: kind.plural(),
                        group: ".apps",
                        name: name.clone(),
                        namespace: namespace.clone(),
                    })),
                    Ok(WatchEvent::Bookmark(_)) => None,
                    Ok(WatchEvent::Error(status)) => {
                        Some(Err(this.classify(attempt, kube::Error::Api(status))))
                    }
                    Err(watch::EventFailure::Kube(error)) => {
                        Some(Err(this.classify(attempt, error)))
                    }
                    Err(watch::EventFailure::TooLong) => {
                        Some(Err(ClusterError::WatchEventTooLong {
                            server: this.server.clone(),
                            resource: kind.plural(),
                            namespace: namespace.clone(),
                            name: name.clone(),
                        }))
                    }
                }
            }
        }))
    }

    /// LIST one workload by name: the object, and the list's resourceVersion to watch from
    /// when a watch from the object's own version got 410 Gone.
    pub async fn list_workload(
        &self,
        kind: WorkloadKind,
        namespace: &str,
        name: &str,
    ) -> Result<(Workload, String), ClusterError> {
        let list = List {
            attempt: Attempt::workload("list", kind, namespace, None),
            path: DynamicObject::url_path(&kind.api_resource(), Some(namespace)),
            params: ListParams::default().fields(&format!("metadata.name={name}")),
            request: Request::list,
            fix: "an API server sends at most a few MiB for one object: check what answers at that address",
        };
        let parse = |text: &[u8]| {
            let page: ListPage<DynamicObject> = serde_json::from_slice(text)?;
            let version = page.metadata.resource_version.clone().unwrap_or_default();
            let listed = page.items.len();
            Ok(Page::new(
                (page.items.into_iter().next(), version),
                listed,
                page.metadata,
            ))
        };
        let (object, version) = self.first_page(list, parse).await?.items;
        let object = object.ok_or_else(|| ClusterError::NotFound {
            resource: kind.plural(),
            group: ".apps",
            name: name.to_string(),
            namespace: namespace.to_string(),
        })?;
        Ok((Workload::new(kind, object), version))
    }

    /// Follows controller owner references from a ReplicaSet or Pod to the workload that has
    /// the rollout history.
    pub async fn owning_workload(
        &self,
        start: &UnsupportedKind,
        namespace: &str,
        name: &str,
    ) -> Result<Owner, ClusterError> {
        let mut hop = match start {
            UnsupportedKind::ReplicaSet => Hop::ReplicaSet,
            UnsupportedKind::Pod => Hop::Pod,
            UnsupportedKind::Other(kind) => {
                return Ok(Owner::DeadEnd(format!("{kind} has no rollout history")));
            }
        };
        let mut object_name = name.to_string();
        loop {
            let attempt = Attempt {
                verb: "get",
                resource: hop.plural(),
                group: hop.group(),
                namespace,
                name: Some(&object_name),
            };
            let api = Api::<DynamicObject>::namespaced_with(
                self.reads.clone(),
                namespace,
                &hop.api_resource(),
            );
            let object = self.run(attempt, api.get(&object_name)).await?;
            let controller = object
                .metadata
                .owner_references
                .unwrap_or_default()
                .into_iter()
                .find(|owner| owner.controller == Some(true));
            let Some(owner) = controller else {
                return Ok(Owner::DeadEnd(format!(
                    "{} {object_name} has no controller owner",
                    hop.kind()
                )));
            };
            match (OwnerKind::of(&owner.api_version, &owner.kind), hop) {
                (OwnerKind::Workload(kind), _) => return Ok(Owner::Workload(kind, owner.name)),
                (OwnerKind::ReplicaSet, Hop::Pod) => {
                    hop = Hop::ReplicaSet;
                    object_name = owner.name;
                }
                (OwnerKind::Foreign { kind, group }, _) => {
                    return Ok(Owner::Foreign {
                        kind,
                        group,
                        name: owner.name,
                    });
                }
                (OwnerKind::ReplicaSet | OwnerKind::Builtin { .. }, _) => {
                    return Ok(Owner::DeadEnd(format!(
                        "{} {object_name} is controlled by {} {} ({}), which has no rollout history",
                        hop.kind(),
                        owner.kind,
                        owner.name,
                        owner.api_version
                    )));
                }
            }
        }
    }

    /// Runs one request with the time limit and classifies its failure.
    async fn run<T>(
        &self,
        attempt: Attempt<'_>,
        request: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, ClusterError> {
        // The credential first, within its own limit (a plugin run is bounded by
        // --request-timeout too), so the request keeps its whole time limit.
        self.credentials
            .header()
            .await
            .map_err(|error| ClusterError::Credentials(error.to_string()))?;
        match tokio::time::timeout(self.request_timeout, request).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.classify(attempt, error)),
            Err(_) => Err(ClusterError::Timeout {
                server: self.server.clone(),
                context: self.context.clone(),
                verb: attempt.verb,
                resource: attempt.resource,
                seconds: self.request_timeout.as_secs(),
            }),
        }
    }

    /// Turns a failed request into what it means. Not found, forbidden and conflict are only
    /// concluded from the API server's own `Status` (its reason, not just the HTTP code: a
    /// proxy's plain-text 404 proves nothing), and conflict only for writes.
    fn classify(&self, attempt: Attempt<'_>, error: kube::Error) -> ClusterError {
        match error {
            kube::Error::Api(status) => match (status.code, status.reason.as_str()) {
                (404, "NotFound") if attempt.name.is_some() => ClusterError::NotFound {
                    resource: attempt.resource,
                    group: attempt.group,
                    name: attempt.name.unwrap_or_default().to_string(),
                    namespace: attempt.namespace.to_string(),
                },
                (403, "Forbidden") => ClusterError::Forbidden {
                    context: self.context.clone(),
                    verb: attempt.verb,
                    resource: attempt.resource,
                    group: attempt.group,
                    namespace: attempt.namespace.to_string(),
                    message: status.message,
                },
                (409, "Conflict") if attempt.verb == "patch" => ClusterError::Conflict {
                    message: status.message,
                },
                (401, "Unauthorized") => ClusterError::Unauthorized {
                    server: self.server.clone(),
                    context: self.context.clone(),
                    message: status.message,
                },
                (code, _) => ClusterError::Api {
                    server: self.server.clone(),
                    verb: attempt.verb,
                    resource: attempt.resource,
                    code,
                    reason: status.reason,
                    message: status.message,
                },
            },
            kube::Error::BuildRequest(error) => ClusterError::Malformed(format!(
                "cannot build the request to {} {}: {error}",
                attempt.verb, attempt.resource
            )),
            kube::Error::Auth(error) => ClusterError::Client {
                context: self.context.clone(),
                detail: error_chain(&error),
                fix: CERTIFICATE_FIX,
            },
            kube::Error::Service(error) if credential_error(&*error).is_some() => {
                ClusterError::Credentials(credential_error(&*error).unwrap_or_default())
            }
            other => {
                let detail = error_chain(&other);
                // rustls' verdict reaches us only as text inside hyper's boxed errors.
                if detail.contains("certificate not valid for name") {
                    ClusterError::CertificateNotForName {
                        server: self.server.clone(),
                        context: self.context.clone(),
                        detail,
                    }
                } else if detail.contains("invalid peer certificate") {
                    ClusterError::UntrustedCertificate {
                        server: self.server.clone(),
                        context: self.context.clone(),
                        detail,
                    }
                } else {
                    ClusterError::Unreachable {
                        server: self.server.clone(),
                        context: self.context.clone(),
                        verb: attempt.verb,
                        resource: attempt.resource,
                        detail,
                    }
                }
            }
        }
    }
}

/// What to do about a client that could not be built, by its error.
fn credential_fix(error: &kube::Error) -> &'static str {
    match error {
        kube::Error::Auth(_) => CERTIFICATE_FIX,
        _ => "fix that context's cluster and user entries in the kubeconfig",
    }
}

/// What to do about credentials kube could not load (the client certificate and key are the
/// only ones it loads).
const CERTIFICATE_FIX: &str = "fix that context's client-certificate and client-key in the kubeconfig (files, or inline -data; an RSA, PKCS#8 or EC key in PEM)";

/// The message of a [`CredentialError`] somewhere in an error's chain (our layer's error
/// reaches kube boxed, and through the read client's buffer).
fn credential_error(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(error);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<CredentialError>() {
            return Some(found.to_string());
        }
        next = current.source();
    }
    None
}

/// `as` (with `as-uid` and `as-groups`) of a kubeconfig user, in words; none when it
/// impersonates nobody.
fn impersonated(user: &kube::config::AuthInfo) -> Option<String> {
    let name = user.impersonate.as_ref()?;
    let mut text = format!("{name:?}");
    if let Some(uid) = &user.impersonate_uid {
        text.push_str(&format!(" (uid {uid:?})"));
    }
    if let Some(groups) = user.impersonate_groups.as_ref().filter(|g| !g.is_empty()) {
        text.push_str(&format!(
            " in groups {}",
            crate::rollout::clip::list(
                groups.iter().map(|g| format!("{g:?}")),
                crate::rollout::clip::ITEMS,
                ", "
            )
        ));
    }
    Some(text)
}

/// Why the API server could not say who we are, in a few words.
fn identity_failure(error: &ClusterError) -> String {
    match error {
        ClusterError::Forbidden { .. } => {
            "the credentials may not create selfsubjectreviews".into()
        }
        ClusterError::Api { code: 404, .. } => {
            "the API server does not serve SelfSubjectReview (Kubernetes older than 1.28?)".into()
        }
        other => other.to_string(),
    }
}

/// An error and its sources in one line ("client error (Connect): tcp connect error: ...").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
