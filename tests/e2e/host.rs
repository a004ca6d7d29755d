//! A test MCP host: seeds a cluster (kube-sim or kube-real, see [`super::backend`]), writes a
//! kubeconfig for it, launches the real `k8s-rollout-mcp` binary over stdio, and talks to it with
//! rmcp's client, on either lifecycle (2025-11-25 `initialize`, or 2026-07-28 discovery). Its
//! elicitation answers are scripted per test, and every request and progress notification it
//! receives is kept.
//!
//! On kube-real a test's namespaces are fresh ones (`shop-7-4242` for the scenario's `shop`).
//! The host shows them to the test under the scenario's names: the `namespace` argument of a
//! call is translated on the way in, and results, approval messages and audit records on the way
//! out (an exact replacement of names that occur nowhere else), so one test body asserts the same
//! text on both backends.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube_sim::{RequestRecord, Scenario, Sim, SimOptions};

use super::backend::{Backend, TestCluster};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationCapability,
    FormElicitationCapability, Implementation, NumberOrString, ProgressNotificationParam,
    ProgressToken, ProtocolVersion, RequestMetaObject, UrlElicitationCapability,
};
use rmcp::service::{
    ClientLifecycleMode, NotificationContext, RequestContext, RoleClient, RunningService,
    ServiceExt,
};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ClientServiceExt, ErrorData};
use serde_json::{Value, json};
use tokio::process::Command;

/// Which protocol lifecycle the client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// `initialize` handshake, negotiating 2025-11-25: elicitation during the call.
    Handshake,
    /// 2026-07-28 discovery: no handshake, InputRequiredResult rounds.
    Stateless,
}

pub const LIFECYCLES: [Lifecycle; 2] = [Lifecycle::Handshake, Lifecycle::Stateless];

/// Runs `body` once per lifecycle, side by side, each on a host of its own: on kube-real a test
/// then waits for one scenario to seed instead of two.
pub async fn for_each_lifecycle<Fut: std::future::Future<Output = ()>>(
    body: impl Fn(Lifecycle) -> Fut,
) {
    futures::future::join_all(LIFECYCLES.map(body)).await;
}

/// How the scripted human answers an approval request.
#[derive(Clone)]
pub enum Answer {
    Accept(Value),
    Decline,
    Cancel,
    /// Never answers (the server's approval timeout must fire).
    Silence,
}

impl Answer {
    pub fn approve(approver: &str) -> Self {
        Self::Accept(json!({"approve": true, "approver": approver}))
    }
}

/// Runs while the human is "thinking", before the answer is sent (e.g. a concurrent deploy).
pub type Interlude = Arc<dyn Fn() + Send + Sync>;

/// What the scripted client declares and answers.
#[derive(Clone)]
pub struct TestClient {
    elicitation: bool,
    /// Declares URL-mode elicitation too.
    url: bool,
    /// The URLs handed over by URL-mode elicitation.
    urls: Arc<Mutex<Vec<String>>>,
    name: String,
    answer: Arc<Mutex<Answer>>,
    interlude: Arc<Mutex<Option<Interlude>>>,
    asked: Arc<Mutex<Vec<String>>>,
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
}

impl ClientHandler for TestClient {
    fn get_info(&self) -> ClientConfig {
        let mut capabilities = if self.elicitation {
            ClientCapabilities::builder().enable_elicitation().build()
        } else {
            ClientCapabilities::default()
        };
        if self.url {
            let declared = capabilities
                .elicitation
                .take()
                .map_or_else(ElicitationCapability::new, |_| {
                    ElicitationCapability::new().with_form(FormElicitationCapability::default())
                });
            capabilities.elicitation = Some(declared.with_url(UrlElicitationCapability::new()));
        }
        ClientConfig::new(
            capabilities,
            Implementation::new(self.name.clone(), "9.9.9"),
        )
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        match &request {
            ElicitRequestParams::FormElicitationParams { message, .. } => {
                self.asked.lock().unwrap().push(message.clone());
            }
            ElicitRequestParams::UrlElicitationParams { message, url, .. } => {
                self.asked.lock().unwrap().push(message.clone());
                self.urls.lock().unwrap().push(url.clone());
            }
            other => panic!("an elicitation of an unknown mode: {other:?}"),
        }
        let interlude = self.interlude.lock().unwrap().clone();
        if let Some(interlude) = interlude {
            tokio::task::spawn_blocking(move || interlude())
                .await
                .expect("the interlude ran");
        }
        let answer = self.answer.lock().unwrap().clone();
        let url_mode = matches!(request, ElicitRequestParams::UrlElicitationParams { .. });
        Ok(match answer {
            // URL mode: accept means the person went to the page; no content.
            Answer::Accept(_) if url_mode => ElicitResult::new(ElicitationAction::Accept),
            Answer::Accept(content) => {
                ElicitResult::new(ElicitationAction::Accept).with_content(content)
            }
            Answer::Decline => ElicitResult::new(ElicitationAction::Decline),
            Answer::Cancel => ElicitResult::new(ElicitationAction::Cancel),
            Answer::Silence => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                ElicitResult::new(ElicitationAction::Cancel)
            }
        })
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
    }
}

/// Options for starting a host.
pub struct HostOptions {
    pub backend: Backend,
    pub lifecycle: Lifecycle,
    pub elicitation: bool,
    /// The client declares URL-mode elicitation.
    pub url_elicitation: bool,
    /// The `clientInfo.name` the client sends.
    pub client_name: String,
    pub extra_args: Vec<String>,
    pub audit_log: Option<PathBuf>,
    /// A kubeconfig to use instead of the cluster's.
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context's namespace (a scenario namespace).
    pub context_namespace: Option<String>,
    /// Settings for kube-sim (kube-real ignores them: its controllers always run on their own).
    pub sim: SimOptions,
    /// Environment variables for the server process.
    pub env: Vec<(String, PathBuf)>,
}

impl HostOptions {
    pub fn new(lifecycle: Lifecycle) -> Self {
        Self {
            backend: Backend::Sim,
            lifecycle,
            elicitation: true,
            url_elicitation: false,
            client_name: "e2e-host".to_string(),
            extra_args: Vec::new(),
            audit_log: None,
            kubeconfig: None,
            context_namespace: None,
            sim: SimOptions::new(),
            env: Vec::new(),
        }
    }

    /// On which cluster.
    pub fn on(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Sets the kubeconfig context's namespace.
    pub fn context_namespace(mut self, namespace: &str) -> Self {
        self.context_namespace = Some(namespace.to_string());
        self
    }

    /// Sets an environment variable for the server; setting XDG_STATE_HOME also leaves the
    /// audit log at its default location (no --audit-log).
    pub fn env(mut self, key: &str, value: &std::path::Path) -> Self {
        self.env.push((key.to_string(), value.to_path_buf()));
        self
    }

    pub fn arg(mut self, arg: &str) -> Self {
        self.extra_args.push(arg.to_string());
        self
    }
}

/// A seeded cluster, the server under test, and the client talking to it.
pub struct Host {
    pub cluster: TestCluster,
    /// Holds the kubeconfig and audit log; removed when the host is dropped.
    _dir: tempdir::Dir,
    pub client: RunningService<RoleClient, TestClient>,
    handler: TestClient,
    pub audit_log: PathBuf,
    /// Every tool's declared output schema, compiled: each structured result is checked
    /// against it, as strict hosts (the Python SDK) do.
    output_schemas: HashMap<String, jsonschema::Validator>,
}

impl Host {
    /// A host on kube-sim.
    pub async fn start(scenario: Scenario, lifecycle: Lifecycle) -> Self {
        Self::start_with(scenario, HostOptions::new(lifecycle)).await
    }

    /// A host on `backend`.
    pub async fn start_on(backend: Backend, scenario: Scenario, lifecycle: Lifecycle) -> Self {
        Self::start_with(scenario, HostOptions::new(lifecycle).on(backend)).await
    }

    pub async fn start_with(scenario: Scenario, options: HostOptions) -> Self {
        let mut sim_options = options.sim.clone();
        if let Some(ns) = &options.context_namespace {
            sim_options = sim_options.context_namespace(ns);
        }
        let cluster = TestCluster::seed(options.backend, scenario, sim_options).await;
        let dir = tempdir::Dir::new("host");
        let kubeconfig = options
            .kubeconfig
            .clone()
            .unwrap_or_else(|| dir.path().join("kubeconfig"));
        if options.kubeconfig.is_none() {
            std::fs::write(
                &kubeconfig,
                cluster.kubeconfig(options.context_namespace.as_deref()),
            )
            .expect("kubeconfig written");
        }
        let mut command = Command::new(env!("CARGO_BIN_EXE_k8s-rollout-mcp"));
        // A test that sets KUBECONFIG (a list, say) means the server to read it.
        if !options.env.iter().any(|(key, _)| key == "KUBECONFIG") {
            command.arg("--kubeconfig").arg(&kubeconfig);
        }
        let xdg_state = options
            .env
            .iter()
            .find(|(key, _)| key == "XDG_STATE_HOME")
            .map(|(_, value)| value.clone());
        let audit_log = match (&options.audit_log, &xdg_state) {
            (Some(path), _) => path.clone(),
            (None, Some(state)) => state.join("k8s-rollout-mcp").join("audit.jsonl"),
            (None, None) => dir.path().join("state").join("audit.jsonl"),
        };
        if options.audit_log.is_some() || xdg_state.is_none() {
            command.arg("--audit-log").arg(&audit_log);
        }
        // A namespace flag names a scenario namespace too.
        let mut extra_args = options.extra_args.clone();
        for i in 1..extra_args.len() {
            if extra_args[i - 1] == "--namespace" {
                extra_args[i] = cluster.ns(&extra_args[i]);
            }
        }
        // Whether the server can open a browser comes from these; a test sets them itself.
        command
            .env_remove("BROWSER")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .envs(
                options
                    .env
                    .iter()
                    .map(|(key, value)| (key.clone(), value.clone())),
            )
            .args(&extra_args)
            .env("RUST_LOG", "warn")
            .stderr(std::process::Stdio::inherit());
        let transport = TokioChildProcess::new(command).expect("the server starts");
        let handler = TestClient {
            elicitation: options.elicitation,
            url: options.url_elicitation,
            urls: Arc::default(),
            name: options.client_name.clone(),
            answer: Arc::new(Mutex::new(Answer::Decline)),
            interlude: Arc::new(Mutex::new(None)),
            asked: Arc::default(),
            progress: Arc::default(),
        };
        let client = match options.lifecycle {
            Lifecycle::Handshake => handler.clone().serve(transport).await.expect("initialize"),
            Lifecycle::Stateless => handler
                .clone()
                .serve_with_lifecycle(
                    transport,
                    ClientLifecycleMode::Discover {
                        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                    },
                )
                .await
                .expect("discover"),
        };
        let output_schemas = client
            .list_all_tools()
            .await
            .expect("tools/list")
            .into_iter()
            .map(|tool| {
                let schema = Value::Object(
                    tool.output_schema
                        .as_deref()
                        .cloned()
                        .expect("an output schema"),
                );
                let validator = jsonschema::validator_for(&schema).expect("a valid output schema");
                (tool.name.to_string(), validator)
            })
            .collect();
        cluster.clear_requests();
        Self {
            cluster,
            _dir: dir,
            client,
            handler,
            audit_log,
            output_schemas,
        }
    }

    /// The sim, for steps only it can do.
    pub fn sim(&self) -> &Arc<Sim> {
        self.cluster.sim()
    }

    pub fn backend(&self) -> Backend {
        self.cluster.backend()
    }

    /// The context the product was given (`kube-sim`, `kube-real`, ...).
    pub fn context(&self) -> String {
        self.cluster.context()
    }

    /// Arguments as the server must get them (scenario namespaces made real).
    pub fn translated(&self, arguments: Value) -> Value {
        self.translated_in(arguments)
    }

    /// The client's side of the session, for requests sent with options of their own.
    pub fn peer(&self) -> &rmcp::service::Peer<RoleClient> {
        self.client.peer()
    }

    /// The call's namespace argument, translated to the real namespace.
    fn translated_in(&self, mut arguments: Value) -> Value {
        if let Some(ns) = arguments.get("namespace").and_then(Value::as_str) {
            arguments["namespace"] = json!(self.cluster.ns(ns));
        }
        arguments
    }

    /// Text with the real namespaces named as in the scenario.
    fn translated_text(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (actual, logical) in self.cluster.namespace_names() {
            text = text.replace(&actual, &logical);
        }
        text
    }

    fn translated_value(&self, value: &Value) -> Value {
        if self.backend() == Backend::Sim {
            return value.clone();
        }
        serde_json::from_str(&self.translated_text(&value.to_string()))
            .expect("renaming namespaces keeps JSON valid")
    }

    fn translated_result(&self, mut result: CallToolResult) -> CallToolResult {
        if self.backend() == Backend::Sim {
            return result;
        }
        let value = serde_json::to_value(&result).expect("a result serialises");
        result = serde_json::from_value(self.translated_value(&value)).expect("a result parses");
        result
    }

    /// Fails the test if a result's structured content does not match the tool's schema.
    fn checked(&self, tool: &str, result: CallToolResult) -> CallToolResult {
        if let Some(content) = &result.structured_content {
            let validator = &self.output_schemas[tool];
            let errors: Vec<String> = validator
                .iter_errors(content)
                .map(|error| format!("{error} at {}", error.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{tool}: structuredContent does not match its outputSchema: {errors:?}"
            );
        }
        result
    }

    /// Closes the session as a host does (stdin closed, then SIGTERM, then kill), leaving the
    /// cluster running.
    pub async fn disconnect(self) -> TestCluster {
        let _ = self.client.cancel().await;
        self.cluster
    }

    /// Scripts the human's next answers.
    pub fn answer(&self, answer: Answer) {
        *self.handler.answer.lock().unwrap() = answer;
    }

    /// Runs `interlude` after the question arrives and before the answer is sent.
    pub fn while_asked(&self, interlude: impl Fn() + Send + Sync + 'static) {
        *self.handler.interlude.lock().unwrap() = Some(Arc::new(interlude));
    }

    /// The approval messages shown to the human so far.
    pub fn asked(&self) -> Vec<String> {
        let asked = self.handler.asked.lock().unwrap().clone();
        asked.iter().map(|m| self.translated_text(m)).collect()
    }

    /// The URLs handed over by URL-mode elicitation so far (secrets: the test is the person).
    pub fn urls(&self) -> Vec<String> {
        self.handler.urls.lock().unwrap().clone()
    }

    pub fn progress(&self) -> Vec<ProgressNotificationParam> {
        self.handler.progress.lock().unwrap().clone()
    }

    /// Calls a tool to completion (MRTR rounds are driven by the client).
    pub async fn call(&self, tool: &str, arguments: Value) -> CallToolResult {
        let result = self
            .client
            .call_tool(params(tool, self.translated_in(arguments)))
            .await
            .expect("the tool call completes");
        self.checked(tool, self.translated_result(result))
    }

    /// Calls a tool with a progress token.
    pub async fn call_with_progress(&self, tool: &str, arguments: Value) -> CallToolResult {
        let mut request = params(tool, self.translated_in(arguments));
        request.meta = Some(RequestMetaObject::with_progress_token(ProgressToken(
            NumberOrString::Number(7),
        )));
        let result = self
            .client
            .call_tool(request)
            .await
            .expect("the tool call completes");
        self.checked(tool, self.translated_result(result))
    }

    /// One round only: an InputRequiredResult comes back as is.
    pub async fn call_once(&self, mut request: CallToolRequestParams) -> CallToolResponse {
        if let Some(arguments) = request.arguments.take() {
            let translated = self.translated_in(Value::Object(arguments));
            request.arguments = translated.as_object().cloned();
        }
        let response = self
            .client
            .call_tool_once(request)
            .await
            .expect("the tool call answers");
        match response {
            CallToolResponse::Complete(result) => {
                CallToolResponse::Complete(self.translated_result(result))
            }
            CallToolResponse::InputRequired(input) => {
                let value = serde_json::to_value(&input).expect("an input request serialises");
                CallToolResponse::InputRequired(
                    serde_json::from_value(self.translated_value(&value))
                        .expect("an input request parses"),
                )
            }
            other => other,
        }
    }

    /// Requests that changed (or tried to change) the workloads, not dry runs (which store
    /// nothing; every undo that asks sends one first), with namespaces named as in the
    /// scenario. The `RollbackApproved` Event an approved undo creates is left out
    /// (`cluster_event.rs` checks it), so "exactly one write" means the one PATCH.
    pub async fn writes(&self) -> Vec<RequestRecord> {
        let mut writes = self.writes_and_dry_runs().await;
        writes.retain(|write| !write.dry_run);
        writes
    }

    /// [`Host::writes`] and the dry runs.
    pub async fn writes_and_dry_runs(&self) -> Vec<RequestRecord> {
        let mut writes = self.cluster.mutating_requests().await;
        writes.retain(|write| !is_event_write(write));
        for write in &mut writes {
            write.path = self.translated_text(&write.path);
            write.body = self.translated_text(&write.body);
        }
        writes
    }

    /// The audit records written so far.
    pub fn audit(&self) -> Vec<Value> {
        match std::fs::read_to_string(&self.audit_log) {
            Ok(text) => text
                .lines()
                .map(|line| {
                    let record = serde_json::from_str(line).expect("an audit line is JSON");
                    self.translated_value(&record)
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    pub fn audit_events(&self) -> Vec<String> {
        self.audit()
            .iter()
            .map(|record| record["event"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

pub fn params(tool: &str, arguments: Value) -> CallToolRequestParams {
    let Value::Object(arguments) = arguments else {
        panic!("arguments are an object")
    };
    CallToolRequestParams::new(tool.to_string()).with_arguments(arguments)
}

/// The structured content of a successful result.
pub fn structured(result: &CallToolResult) -> &Value {
    assert_ne!(
        result.is_error,
        Some(true),
        "expected success, got: {}",
        text(result)
    );
    result
        .structured_content
        .as_ref()
        .expect("structured content")
}

/// The text of a result.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The text of a refusal (asserting it is one).
pub fn refusal(result: &CallToolResult) -> String {
    assert_eq!(
        result.is_error,
        Some(true),
        "expected a refusal, got: {}",
        text(result)
    );
    assert!(
        result.structured_content.is_none(),
        "refusals carry no structured content"
    );
    text(result)
}

/// Temporary directories removed on drop.
pub mod tempdir {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new(label: &str) -> Self {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "k8s-rollout-mcp-{label}-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path).expect("a temporary directory");
            Self(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Whether a request writes an Event (the record of an approved undo, not a workload write).
pub fn is_event_write(request: &RequestRecord) -> bool {
    request.path.ends_with("/events")
}
