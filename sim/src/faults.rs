//! Test-controlled misbehaviour: injected faults (a status code, optionally with `Retry-After`,
//! a delay, a dropped connection, before or after the write takes effect; a watch ended at
//! once, a list whose `continue` chain never ends; once, n times or always) and a deny list
//! that answers with the API server's real 403. Requests are matched by verb, resource
//! (`deployments`, or a subresource such as `deployments/scale`), and optionally namespace and
//! name.

use std::time::Duration;

use crate::resources::{ResourceKind, Subresource};

/// An API verb, as RBAC names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// GET of one object.
    Get,
    /// GET of a collection.
    List,
    /// GET of a collection with `watch=true`.
    Watch,
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl Verb {
    /// The lower-case RBAC verb (`patch`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }

    /// Whether the verb writes.
    pub fn is_mutating(self) -> bool {
        matches!(
            self,
            Verb::Create | Verb::Update | Verb::Patch | Verb::Delete
        )
    }
}

/// What a request addresses, for matching faults and denials.
#[derive(Debug, Clone)]
pub struct Target {
    /// The verb.
    pub verb: Verb,
    /// The resource.
    pub kind: ResourceKind,
    /// The subresource.
    pub subresource: Subresource,
    /// The namespace, for namespaced requests.
    pub namespace: Option<String>,
    /// The object name, for requests naming one.
    pub name: Option<String>,
    /// Whether a list request carries a `continue` token (asks for a later page).
    pub continued: bool,
    /// Whether the request carries `dryRun=All`.
    pub dry_run: bool,
}

impl Target {
    /// `deployments` or `deployments/status`.
    pub fn resource(&self) -> String {
        match self.subresource {
            Subresource::Main => self.kind.plural().to_string(),
            sub => format!("{}/{}", self.kind.plural(), sub.as_str()),
        }
    }
}

/// Which requests a rule applies to.
#[derive(Debug, Clone)]
struct Matcher {
    verb: Verb,
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
    continued: bool,
    /// Only requests without `dryRun`.
    not_dry_run: bool,
}

impl Matcher {
    fn new(verb: Verb, resource: &str) -> Self {
        let resource = match resource.split_once('/') {
            Some((base, sub)) => format!("{}/{sub}", normalize(base)),
            None => normalize(resource),
        };
        Self {
            verb,
            resource,
            namespace: None,
            name: None,
            continued: false,
            not_dry_run: false,
        }
    }

    fn matches(&self, target: &Target) -> bool {
        self.verb == target.verb
            && (self.resource == "*" || self.resource == target.resource())
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| target.namespace.as_ref() == Some(ns))
            && self
                .name
                .as_ref()
                .is_none_or(|n| target.name.as_ref() == Some(n))
            && (!self.continued || target.continued)
            && (!self.not_dry_run || !target.dry_run)
    }
}

fn normalize(resource: &str) -> String {
    ResourceKind::parse(resource)
        .map(|k| k.plural().to_string())
        .unwrap_or_else(|| resource.to_string())
}

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with this HTTP status and a `Status` body.
    Status(u16),
    /// Close the connection without an answer.
    DropConnection,
    /// Answer, then close the connection after [`Fault::delay`]: a watch's stream breaks in
    /// the middle, as when a load balancer or a restarting API server cuts it.
    DropMidStream,
    /// Answer a paged list's `continue` request with the API server's 410 `Expired`.
    ExpireContinue,
    /// Serve a `dryRun=All` request as a real one, as an intermediary that drops the query
    /// parameter would.
    IgnoreDryRun,
    /// Answer a list with no items and a `continue` token, whichever page it asks for.
    EndlessContinue,
    /// Answer a watch with a stream that ends at once, cleanly, with no event.
    EndAtOnce,
    /// Only wait (see [`Fault::delay`]); then serve normally.
    None,
}

/// A fault to inject, built with [`Fault::on`].
#[derive(Debug, Clone)]
pub struct Fault {
    matcher: Matcher,
    pub(crate) action: FaultAction,
    pub(crate) delay: Option<Duration>,
    pub(crate) after_write: bool,
    pub(crate) retry_after: Option<u64>,
    remaining: Option<u32>,
}

impl Fault {
    /// A fault on `verb` requests to `resource` (`deployments`, `deployments/scale`, `deploy`,
    /// or `*` for any resource). By itself it does nothing; add an action. It fires on every
    /// matching request until limited with [`Fault::once`] or [`Fault::times`].
    pub fn on(verb: Verb, resource: &str) -> Self {
        Self {
            matcher: Matcher::new(verb, resource),
            action: FaultAction::None,
            delay: None,
            after_write: false,
            retry_after: None,
            remaining: None,
        }
    }

    /// Only requests naming this object.
    pub fn named(mut self, name: &str) -> Self {
        self.matcher.name = Some(name.to_string());
        self
    }

    /// Only requests that write (not dry runs).
    pub fn not_dry_run(mut self) -> Self {
        self.matcher.not_dry_run = true;
        self
    }

    /// Only requests in this namespace.
    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.matcher.namespace = Some(namespace.to_string());
        self
    }

    /// Answer with `code` (500, 503, 429, 409, ...) and a `Status` body.
    pub fn status(mut self, code: u16) -> Self {
        self.action = FaultAction::Status(code);
        self
    }

    /// With [`Fault::status`]: send `Retry-After: seconds` (and `details.retryAfterSeconds`),
    /// as the API server does with 429 and some 503 and 504 answers.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Wait this long before answering (combined with the other actions, or alone).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Only list requests for a later page (carrying a `continue` token), answered with the
    /// API server's 410 `Expired`, as it answers once etcd has compacted the revision the
    /// list started at. Combine with [`Fault::once`] to expire one token.
    pub fn expire_continue(mut self) -> Self {
        self.matcher.continued = true;
        self.action = FaultAction::ExpireContinue;
        self
    }

    /// Serve the request as if it carried no `dryRun=All`: it is stored, as when a proxy
    /// between the client and the API server drops the query parameter.
    pub fn ignore_dry_run(mut self) -> Self {
        self.action = FaultAction::IgnoreDryRun;
        self
    }

    /// Answer every matching list with an empty page that still has a `continue` token, as no
    /// API server does: a continue chain that never ends.
    pub fn endless_continue(mut self) -> Self {
        self.action = FaultAction::EndlessContinue;
        self
    }

    /// Answer a watch with `200 OK` and a body that ends at once, as a proxy that closes watch
    /// requests does; an API server ends a watch only after its `timeoutSeconds`.
    pub fn end_at_once(mut self) -> Self {
        self.action = FaultAction::EndAtOnce;
        self
    }

    /// Close the connection without sending a response.
    pub fn drop_connection(mut self) -> Self {
        self.action = FaultAction::DropConnection;
        self
    }

    /// Answer normally, then close the connection once [`Fault::delay`] has passed (at once
    /// without one): for a watch, the stream breaks mid-way with no closing chunk.
    pub fn drop_connection_mid_stream(mut self) -> Self {
        self.action = FaultAction::DropMidStream;
        self
    }

    /// Let the request take effect (write stored, controllers run) and only then fail it: the
    /// client sees an error although the change landed.
    pub fn after_write(mut self) -> Self {
        self.after_write = true;
        self
    }

    /// Fire on the next matching request only.
    pub fn once(self) -> Self {
        self.times(1)
    }

    /// Fire on the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Fire on every matching request (the default).
    pub fn always(mut self) -> Self {
        self.remaining = None;
        self
    }
}

/// A denial: the verb on the resource (optionally in one namespace) gets 403 Forbidden.
#[derive(Debug, Clone)]
struct Denial(Matcher);

/// The active faults and denials.
#[derive(Debug, Default)]
pub struct Faults {
    faults: Vec<Fault>,
    denials: Vec<Denial>,
}

impl Faults {
    /// Adds a fault.
    pub fn inject(&mut self, fault: Fault) {
        self.faults.push(fault);
    }

    /// Denies `verb` on `resource`, in `namespace` only if given.
    pub fn deny(&mut self, verb: Verb, resource: &str, namespace: Option<&str>) {
        let mut m = Matcher::new(verb, resource);
        m.namespace = namespace.map(str::to_string);
        self.denials.push(Denial(m));
    }

    /// Removes every fault.
    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// Removes every denial.
    pub fn clear_denials(&mut self) {
        self.denials.clear();
    }

    /// Whether the request is denied.
    pub fn is_denied(&self, target: &Target) -> bool {
        self.denials.iter().any(|d| d.0.matches(target))
    }

    /// The fault that fires for this request, consuming one use of it.
    pub fn take(&mut self, target: &Target) -> Option<Fault> {
        let index = self
            .faults
            .iter()
            .position(|f| f.remaining != Some(0) && f.matcher.matches(target))?;
        let fault = self.faults[index].clone();
        match &mut self.faults[index].remaining {
            Some(n) if *n <= 1 => {
                self.faults.remove(index);
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(verb: Verb, name: &str) -> Target {
        Target {
            verb,
            kind: ResourceKind::Deployment,
            subresource: Subresource::Main,
            namespace: Some("shop".into()),
            name: Some(name.into()),
            continued: false,
            dry_run: false,
        }
    }

    #[test]
    fn once_fires_once_and_always_keeps_firing() {
        let mut f = Faults::default();
        f.inject(
            Fault::on(Verb::Patch, "deploy")
                .named("api")
                .status(500)
                .once(),
        );
        assert!(f.take(&target(Verb::Patch, "web")).is_none());
        assert_eq!(
            f.take(&target(Verb::Patch, "api")).unwrap().action,
            FaultAction::Status(500)
        );
        assert!(f.take(&target(Verb::Patch, "api")).is_none());
        f.inject(Fault::on(Verb::Get, "*").drop_connection());
        assert!(f.take(&target(Verb::Get, "a")).is_some());
        assert!(f.take(&target(Verb::Get, "a")).is_some());
    }

    #[test]
    fn a_fault_for_writes_skips_dry_runs() {
        let mut f = Faults::default();
        f.inject(
            Fault::on(Verb::Patch, "deploy")
                .not_dry_run()
                .status(504)
                .once(),
        );
        let dry_run = Target {
            dry_run: true,
            ..target(Verb::Patch, "api")
        };
        assert!(f.take(&dry_run).is_none());
        assert!(f.take(&target(Verb::Patch, "api")).is_some());
    }

    #[test]
    fn continue_expiry_fires_only_on_later_pages() {
        let mut f = Faults::default();
        f.inject(Fault::on(Verb::List, "deploy").expire_continue().once());
        let mut first = target(Verb::List, "");
        first.name = None;
        assert!(f.take(&first).is_none());
        let later = Target {
            continued: true,
            ..first
        };
        assert_eq!(f.take(&later).unwrap().action, FaultAction::ExpireContinue);
        assert!(f.take(&later).is_none());
    }

    #[test]
    fn denials_match_namespace_and_subresource() {
        let mut f = Faults::default();
        f.deny(Verb::Patch, "deployments", Some("shop"));
        assert!(f.is_denied(&target(Verb::Patch, "api")));
        let mut other = target(Verb::Patch, "api");
        other.namespace = Some("staging".into());
        assert!(!f.is_denied(&other));
        let mut scale = target(Verb::Patch, "api");
        scale.subresource = Subresource::Scale;
        assert!(!f.is_denied(&scale));
    }
}
