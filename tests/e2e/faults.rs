//! The fault matrix: each request each tool makes (history: GET, LIST; status: GET, LIST, the
//! wait's WATCH; undo: GET, LIST, the dry run's PATCH, the PATCH, the read-back's WATCH and
//! LIST) fails in each way an API server or the network fails it (403, 404, 409, 410, 429,
//! 500, 503, 504, a delay past `--request-timeout`, a dropped connection; for the PATCH also
//! "stored, then the answer fails" with 504, 500 and a reset), through the real binary over
//! stdio on kube-sim. Per case: the PATCH went out at most once per approval (the sim's request
//! log), the result and the audit record agree with what the sim stored, the message says
//! what happened and what to do, and the server answers the next call.
//!
//! One server per tool serves all its cases; undo cases each roll back a deployment of their
//! own, so no case sees another's write.
//!
//! kube-sim only: every failure here is injected.

use std::time::Duration;

use kube_sim::{ControllerMode, Fault, RequestRecord, Scenario, SimOptions, Verb};
use rmcp::model::CallToolResult;
use serde_json::{Value, json};

use super::host::{Answer, Host, HostOptions, Lifecycle, structured, text};

/// The request time limit of the servers under test; a delay fault exceeds it.
const REQUEST_TIMEOUT: &str = "1s";
const PAST_THE_TIME_LIMIT: Duration = Duration::from_millis(1500);

/// One way a request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// The API server answers with this status (and a `Status` body) instead of serving.
    Status(u16),
    /// The answer comes after the request time limit.
    Delay,
    /// The connection drops without an answer.
    Drop,
    /// The write is stored, then the answer fails with this status (None: a reset).
    AfterWrite(Option<u16>),
}

use Failure::{AfterWrite, Delay, Drop, Status};

const REQUEST_FAILURES: [Failure; 10] = [
    Status(403),
    Status(404),
    Status(409),
    Status(410),
    Status(429),
    Status(500),
    Status(503),
    Status(504),
    Delay,
    Drop,
];

const AFTER_WRITE_FAILURES: [Failure; 3] = [
    AfterWrite(Some(504)),
    AfterWrite(Some(500)),
    AfterWrite(None),
];

impl Failure {
    /// The fault, on the next matching request only.
    fn fault(self, verb: Verb, resource: &str, name: Option<&str>) -> Fault {
        let mut fault = Fault::on(verb, resource).in_namespace("shop").once();
        if let Some(name) = name {
            fault = fault.named(name);
        }
        match self {
            Status(code) => fault.status(code),
            Delay => fault.delay(PAST_THE_TIME_LIMIT),
            Drop => fault.drop_connection(),
            AfterWrite(Some(code)) => fault.status(code).after_write(),
            AfterWrite(None) => fault.drop_connection().after_write(),
        }
    }

    /// Whether the read client gets past it by retrying.
    fn retried_by_reads(self) -> bool {
        matches!(self, Status(429 | 503 | 504) | Drop)
    }

    /// What the request log shows for the failed attempt.
    fn logged_status(self) -> u16 {
        match self {
            Status(code) | AfterWrite(Some(code)) => code,
            Delay => 200,
            Drop | AfterWrite(None) => 0,
        }
    }
}

/// A request of a tool: its verb, resource and, for requests naming one, the object.
#[derive(Debug, Clone, Copy)]
struct Request {
    label: &'static str,
    verb: Verb,
    resource: &'static str,
    named: bool,
}

impl Request {
    fn fault(self, failure: Failure, name: &str) -> Fault {
        failure.fault(self.verb, self.resource, self.named.then_some(name))
    }

    /// The attempts of this request in the log.
    fn attempts(self, log: &[RequestRecord], name: &str) -> Vec<u16> {
        let method = match self.verb {
            Verb::Patch => "PATCH",
            _ => "GET",
        };
        log.iter()
            .filter(|record| record.method == method)
            .filter(|record| {
                let named = record.path.ends_with(&format!("/{}/{name}", self.resource));
                let listed = record.path.ends_with(&format!("/{}", self.resource));
                let watch = record.query.contains("watch=true");
                match self.verb {
                    Verb::Get | Verb::Patch => named,
                    Verb::List => listed && !watch,
                    _ => {
                        listed && watch && record.query.contains(&format!("metadata.name%3D{name}"))
                    }
                }
            })
            .map(|record| record.status)
            .collect()
    }

    /// The verb as the product's messages name it.
    fn verb_word(self) -> &'static str {
        self.verb.as_str()
    }
}

const GET_DEPLOYMENT: Request = Request {
    label: "GET",
    verb: Verb::Get,
    resource: "deployments",
    named: true,
};
const LIST_REPLICA_SETS: Request = Request {
    label: "LIST",
    verb: Verb::List,
    resource: "replicasets",
    named: false,
};
/// A watch of one workload is a collection request with a name field selector: its fault is
/// scoped by namespace only.
const WATCH_DEPLOYMENT: Request = Request {
    label: "WATCH",
    verb: Verb::Watch,
    resource: "deployments",
    named: false,
};
const PATCH_DEPLOYMENT: Request = Request {
    label: "PATCH",
    verb: Verb::Patch,
    resource: "deployments",
    named: true,
};

/// What a read's failure must say when no retry got past it.
fn read_failure_says(request: Request, failure: Failure, name: &str) -> Vec<String> {
    let (verb, resource) = (request.verb_word(), request.resource);
    match failure {
        Status(403) => vec![
            format!(
                "forbidden: the credentials of context \"kube-sim\" may not {verb} {resource} in namespace \"shop\""
            ),
            "ask for RBAC permission".into(),
        ],
        Status(404) if request.named || request.verb == Verb::Watch => vec![format!(
            "{resource}.apps \"{name}\" not found in namespace \"shop\""
        )],
        Status(code) => vec![
            format!("refused to {verb} {resource}: {code}"),
            match code {
                410 => "try again".into(),
                500..=599 => "try again shortly".into(),
                _ => "check the message above".into(),
            },
        ],
        Delay => vec![
            format!("did not answer within 1s while trying to {verb} {resource}"),
            "--request-timeout".into(),
        ],
        Drop | AfterWrite(_) => unreachable!("reads get past dropped connections"),
    }
}

/// Prints the case count past the test harness's capture, so every run shows it.
fn report_cases(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn assert_says(case: &str, message: &str, expected: &[String]) {
    for part in expected {
        assert!(
            message.contains(part.as_str()),
            "{case}: the message should say {part:?}: {message}"
        );
    }
}

fn options(controllers: ControllerMode) -> HostOptions {
    let mut options = HostOptions::new(Lifecycle::Handshake)
        .arg("--request-timeout")
        .arg(REQUEST_TIMEOUT);
    options.sim = SimOptions::new().controllers(controllers);
    options
}

/// `count` deployments `app-0`.. in `shop`, each with revisions img:1 and img:2.
fn deployments(count: usize) -> Scenario {
    let mut builder = Scenario::builder();
    for i in 0..count {
        builder = builder.deployment("shop", &format!("app-{i}"), |d| {
            d.replicas(2)
                .revision(|t| t.image("app", "img:1").change_cause("first").days_ago(2))
                .revision(|t| t.image("app", "img:2").change_cause("second").days_ago(1))
        });
    }
    builder.build()
}

fn workload(name: &str) -> Value {
    json!({"resource_type": "deployment", "name": name, "namespace": "shop"})
}

/// The server answers the next call, with no fault left.
async fn answers_the_next_call(host: &Host, case: &str, name: &str) {
    host.sim().clear_faults();
    let result = host.call("k8s_rollout_history", workload(name)).await;
    assert_ne!(
        result.is_error,
        Some(true),
        "{case}: the next call: {}",
        text(&result)
    );
}

/// A read that failed: a retried failure is invisible but in the log; any other is reported.
fn check_read(
    case: &str,
    host: &Host,
    result: &CallToolResult,
    request: Request,
    failure: Failure,
    name: &str,
) {
    let attempts = request.attempts(&host.sim().requests(), name);
    if failure.retried_by_reads() {
        assert_ne!(
            result.is_error,
            Some(true),
            "{case}: retried past: {}",
            text(result)
        );
        assert_eq!(
            attempts,
            vec![failure.logged_status(), 200],
            "{case}: one failed attempt, one retry"
        );
    } else {
        assert_eq!(result.is_error, Some(true), "{case}: {}", text(result));
        assert_says(
            case,
            &text(result),
            &read_failure_says(request, failure, name),
        );
        // A delayed attempt is logged when the sim answers it, after the client gave up.
        assert!(attempts.len() <= 1, "{case}: not retried: {attempts:?}");
    }
}

#[tokio::test]
async fn history_reports_or_retries_past_every_failure_of_its_requests() {
    let host = Host::start_with(deployments(1), options(ControllerMode::Sync)).await;
    let mut cases = 0;
    for request in [GET_DEPLOYMENT, LIST_REPLICA_SETS] {
        for failure in REQUEST_FAILURES {
            let case = format!("history {} {failure:?}", request.label);
            host.sim().clear_requests();
            host.sim().inject_fault(request.fault(failure, "app-0"));
            let result = host.call("k8s_rollout_history", workload("app-0")).await;
            check_read(&case, &host, &result, request, failure, "app-0");
            answers_the_next_call(&host, &case, "app-0").await;
            cases += 1;
        }
    }
    report_cases(&format!("fault matrix: k8s_rollout_history: {cases} cases"));
    assert_eq!(cases, 20);
}

#[tokio::test]
async fn status_reports_or_retries_past_every_failure_of_its_requests() {
    // Controllers run only when the test says, so the wait's watch is open before the rollout
    // it waits for happens.
    let host = Host::start_with(deployments(1), options(ControllerMode::OnTick)).await;
    let mut cases = 0;
    for request in [GET_DEPLOYMENT, LIST_REPLICA_SETS] {
        for failure in REQUEST_FAILURES {
            let case = format!("status {} {failure:?}", request.label);
            host.sim().clear_requests();
            host.sim().inject_fault(request.fault(failure, "app-0"));
            let result = host.call("k8s_rollout_status", workload("app-0")).await;
            check_read(&case, &host, &result, request, failure, "app-0");
            if result.is_error != Some(true) {
                assert_eq!(structured(&result)["state"], "complete", "{case}");
            }
            answers_the_next_call(&host, &case, "app-0").await;
            cases += 1;
        }
    }
    for (round, failure) in REQUEST_FAILURES.into_iter().enumerate() {
        let case = format!("status WATCH {failure:?}");
        host.sim()
            .update("deployments", "shop", "app-0", |d| {
                d["spec"]["template"]["spec"]["containers"][0]["image"] =
                    json!(format!("img:{}", round + 3));
            })
            .unwrap();
        host.sim().clear_requests();
        host.sim()
            .inject_fault(WATCH_DEPLOYMENT.fault(failure, "app-0"));
        let mut arguments = workload("app-0");
        arguments["wait"] = json!(true);
        arguments["timeout_seconds"] = json!(20);
        let call = host.call("k8s_rollout_status", arguments);
        tokio::pin!(call);
        // Once the wait watches, the controllers roll the new template out.
        let roll_out = async {
            while host.sim().open_watches() == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            host.sim().reconcile();
        };
        let result = tokio::select! {
            result = &mut call => result,
            () = roll_out => call.await,
        };
        let attempts = WATCH_DEPLOYMENT.attempts(&host.sim().requests(), "app-0");
        match failure {
            Status(410) => {
                let report = structured(&result);
                assert_eq!(report["state"], "complete", "{case}: {report}");
                let relisted = host.sim().requests().iter().any(|record| {
                    record.path.ends_with("/deployments")
                        && !record.query.contains("watch=true")
                        && record.query.contains("metadata.name%3Dapp-0")
                });
                assert!(relisted, "{case}: 410 Gone re-lists before watching again");
                assert_eq!(attempts, vec![410, 200], "{case}");
            }
            failure if failure.retried_by_reads() => {
                assert_eq!(structured(&result)["state"], "complete", "{case}");
                assert_eq!(attempts, vec![failure.logged_status(), 200], "{case}");
            }
            failure => {
                assert_eq!(result.is_error, Some(true), "{case}: {}", text(&result));
                assert_says(
                    &case,
                    &text(&result),
                    &read_failure_says(WATCH_DEPLOYMENT, failure, "app-0"),
                );
                host.sim().reconcile();
            }
        }
        answers_the_next_call(&host, &case, "app-0").await;
        cases += 1;
    }
    report_cases(&format!("fault matrix: k8s_rollout_status: {cases} cases"));
    assert_eq!(cases, 30);
}

/// A watch stream cut mid-way (no closing chunk: a load balancer, a restarting API server) is
/// watched again from the last version seen; the wait still ends with the rollout. (The sim
/// closes the connection, which reads as a broken body, as a reset does: `Follow` watches
/// again after a few of those in a row.)
#[tokio::test]
async fn a_watch_that_breaks_mid_stream_is_watched_again_from_the_last_version() {
    let host = Host::start_with(deployments(1), options(ControllerMode::OnTick)).await;
    host.sim()
        .update("deployments", "shop", "app-0", |d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("img:next");
        })
        .unwrap();
    host.sim().clear_requests();
    host.sim().inject_fault(
        Fault::on(Verb::Watch, "deployments")
            .in_namespace("shop")
            .drop_connection_mid_stream()
            .delay(Duration::from_millis(100))
            .once(),
    );
    let mut arguments = workload("app-0");
    arguments["wait"] = json!(true);
    arguments["timeout_seconds"] = json!(20);
    let watches = || {
        host.sim()
            .requests()
            .into_iter()
            .filter(|record| record.query.contains("watch=true"))
            .collect::<Vec<_>>()
    };
    // The controllers roll the template out only once the second watch is open.
    let roll_out = async {
        while watches().len() < 2 || host.sim().open_watches() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        host.sim().reconcile();
    };
    let (result, ()) = tokio::join!(host.call("k8s_rollout_status", arguments), roll_out);
    let report = structured(&result);
    assert_eq!(report["state"], "complete", "{report}");
    let watches = watches();
    assert_eq!(watches.len(), 2, "{watches:?}");
    let from = |record: &RequestRecord| {
        record
            .query
            .split('&')
            .find(|pair| pair.starts_with("resourceVersion="))
            .map(str::to_string)
    };
    assert_eq!(
        from(&watches[0]),
        from(&watches[1]),
        "resumed from the last version seen, so no event is lost"
    );
    answers_the_next_call(&host, "a broken watch", "app-0").await;
}

/// When an undo's fault is injected: before the call (the plan's and the dry run's requests),
/// or while the human is asked (the write's and the read-back's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Plan,
    DryRun,
    Write,
    ReadBack,
}

/// What an undo call answered, as far as the matrix is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Told {
    /// Rolled back (read back as this revision, if it was).
    RolledBack(Option<i64>),
    DryRun,
    /// Refused, saying nothing was written.
    NothingWritten,
    /// Said the outcome is unknown and may still apply.
    MayStillApply,
    /// A read before any approval failed.
    ReadFailed,
}

fn told(result: &CallToolResult) -> Told {
    if result.is_error != Some(true) {
        let report = structured(result);
        return match report["outcome"].as_str() {
            Some("dry_run") => Told::DryRun,
            _ => Told::RolledBack(report["new_revision"].as_i64()),
        };
    }
    let message = text(result);
    if message.contains("is unknown") {
        Told::MayStillApply
    } else if message.contains("nothing was written") || message.contains("writes nothing") {
        Told::NothingWritten
    } else {
        Told::ReadFailed
    }
}

/// The audit events recorded about one deployment.
fn audit_events(host: &Host, name: &str) -> Vec<Value> {
    host.audit()
        .into_iter()
        .filter(|record| record["name"] == name)
        .collect()
}

fn stored(host: &Host, name: &str) -> bool {
    host.sim().get("deployments", "shop", name).unwrap()["spec"]["template"]["spec"]["containers"]
        [0]["image"]
        == "img:1"
}

#[tokio::test]
async fn undo_tells_and_records_what_the_cluster_stored_whatever_fails() {
    let requests = [
        (Phase::Plan, GET_DEPLOYMENT),
        (Phase::Plan, LIST_REPLICA_SETS),
        (Phase::DryRun, PATCH_DEPLOYMENT),
        (Phase::Write, PATCH_DEPLOYMENT),
        (Phase::ReadBack, WATCH_DEPLOYMENT),
        (Phase::ReadBack, LIST_REPLICA_SETS),
    ];
    let mut cases: Vec<(Phase, Request, Failure)> = requests
        .iter()
        .flat_map(|(phase, request)| REQUEST_FAILURES.map(|failure| (*phase, *request, failure)))
        .collect();
    cases.extend(AFTER_WRITE_FAILURES.map(|failure| (Phase::Write, PATCH_DEPLOYMENT, failure)));
    let host = Host::start_with(deployments(cases.len()), options(ControllerMode::Sync)).await;
    host.answer(Answer::approve("alice"));
    for (index, (phase, request, failure)) in cases.iter().copied().enumerate() {
        let name = format!("app-{index}");
        let case = format!("undo {phase:?} {} {failure:?} ({name})", request.label);
        let fault = request.fault(failure, &name);
        let sim = host.sim().clone();
        match phase {
            Phase::Plan | Phase::DryRun => {
                host.while_asked(|| {});
                host.sim().inject_fault(fault);
            }
            Phase::Write | Phase::ReadBack => {
                host.while_asked(move || sim.inject_fault(fault.clone()));
            }
        }
        host.sim().clear_requests();
        let asked_before = host.asked().len();
        let mut arguments = workload(&name);
        arguments["to_revision"] = json!(1);
        arguments["reason"] = json!("the fault matrix");
        arguments["dry_run"] = json!(phase == Phase::DryRun);
        let result = host.call("k8s_rollout_undo", arguments).await;
        let message = text(&result);
        let told = told(&result);
        if failure == Delay && matches!(phase, Phase::DryRun | Phase::Write) {
            // The sim logs the delayed PATCH when its delay is over, after the client gave up.
            tokio::time::sleep(PAST_THE_TIME_LIMIT + Duration::from_millis(300)).await;
        }
        let log = host.sim().requests();
        let patches: Vec<&RequestRecord> = log
            .iter()
            .filter(|record| record.method == "PATCH" && record.path.ends_with(&format!("/{name}")))
            .collect();
        let writes = patches.iter().filter(|record| !record.dry_run).count();
        assert!(writes <= 1, "{case}: the PATCH went out {writes} times");
        let stored_now = stored(&host, &name);
        let audit = audit_events(&host, &name);
        let last = audit
            .last()
            .map(|record| record["event"].as_str().unwrap_or_default().to_string());

        // What it told agrees with what the sim stored, and the audit trail with both.
        match told {
            Told::RolledBack(_) => {
                assert!(stored_now, "{case}: told rolled back, but not stored");
                let written = audit.iter().find(|record| record["event"] == "written");
                assert!(written.is_some(), "{case}: no written record: {audit:?}");
            }
            Told::DryRun | Told::NothingWritten | Told::ReadFailed => {
                assert!(!stored_now, "{case}: told nothing was written, but it was");
                assert_eq!(
                    writes,
                    if told == Told::NothingWritten && phase == Phase::Write {
                        1
                    } else {
                        0
                    },
                    "{case}"
                );
            }
            Told::MayStillApply => {
                assert_eq!(last.as_deref(), Some("unknown"), "{case}: {audit:?}");
                // A delayed write may land right after the re-read; any other would have
                // been seen by it.
                assert!(
                    failure == Delay || !stored_now,
                    "{case}: the re-read would have seen it"
                );
                assert_says(
                    &case,
                    &message,
                    &[
                        "It was not sent again".into(),
                        "k8s_rollout_history".into(),
                        "do not simply retry".into(),
                    ],
                );
            }
        }

        // What each fault must lead to, in words that say what to do.
        match (phase, failure) {
            (Phase::Plan, failure) if failure.retried_by_reads() => {
                assert!(
                    matches!(told, Told::RolledBack(Some(3))),
                    "{case}: {message}"
                );
            }
            (Phase::Plan, failure) => {
                assert_eq!(told, Told::ReadFailed, "{case}: {message}");
                assert_says(&case, &message, &read_failure_says(request, failure, &name));
                assert!(
                    audit.is_empty(),
                    "{case}: nothing planned, nothing recorded: {audit:?}"
                );
                assert_eq!(host.asked().len(), asked_before, "{case}: nobody was asked");
            }
            (Phase::DryRun, _) => {
                assert_eq!(told, Told::NothingWritten, "{case}: {message}");
                assert_says(
                    &case,
                    &message,
                    &[
                        "failed restoring revision 1 (server dry run)".into(),
                        "A dry run writes nothing".into(),
                    ],
                );
                assert_eq!(patches.len(), 1, "{case}: the dry run is not retried");
                assert_eq!(last.as_deref(), Some("dry_run"), "{case}");
            }
            (Phase::Write, Status(403 | 404)) => {
                assert_eq!(told, Told::NothingWritten, "{case}: {message}");
                assert_says(
                    &case,
                    &message,
                    &["refused the write before applying it".into()],
                );
                assert_eq!(last.as_deref(), Some("failed"), "{case}");
            }
            (Phase::Write, Status(409)) => {
                assert_eq!(told, Told::NothingWritten, "{case}: {message}");
                assert_says(
                    &case,
                    &message,
                    &[
                        "409 Conflict, so nothing was written".into(),
                        "resourceVersion did not move".into(),
                        "k8s_rollout_history".into(),
                    ],
                );
                assert_eq!(last.as_deref(), Some("conflict"), "{case}");
            }
            (Phase::Write, Delay) => {
                // The client gave up on the write; whether it lands is the server's affair. The
                // answer must agree with what the re-read saw and say it may still apply.
                assert!(
                    matches!(told, Told::MayStillApply | Told::RolledBack(_)),
                    "{case}: {message}"
                );
                if told == Told::MayStillApply {
                    assert_says(&case, &message, &["but may still".into()]);
                }
                assert_eq!(writes, 1, "{case}");
            }
            (Phase::Write, AfterWrite(_)) => {
                assert!(
                    matches!(told, Told::RolledBack(Some(3))),
                    "{case}: {message}"
                );
                let written = audit
                    .iter()
                    .find(|record| record["event"] == "written")
                    .unwrap();
                assert!(
                    written["note"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("the response was lost"),
                    "{case}: {written}"
                );
                assert!(
                    message.contains("the response was lost"),
                    "{case}: {message}"
                );
                assert_eq!(writes, 1, "{case}");
            }
            (Phase::Write, _) => {
                assert_eq!(told, Told::MayStillApply, "{case}: {message}");
                assert_says(
                    &case,
                    &message,
                    &["has not applied so far, but may still".into()],
                );
                assert_eq!(writes, 1, "{case}");
            }
            (Phase::ReadBack, failure)
                if failure.retried_by_reads()
                    || (failure == Status(410) && request.verb == Verb::Watch) =>
            {
                assert_eq!(told, Told::RolledBack(Some(3)), "{case}: {message}");
            }
            (Phase::ReadBack, _) => {
                assert_eq!(told, Told::RolledBack(None), "{case}: {message}");
                assert_says(
                    &case,
                    &message,
                    &[
                        "could not be read back".into(),
                        "k8s_rollout_history".into(),
                    ],
                );
                assert_eq!(last.as_deref(), Some("read_back"), "{case}");
            }
        }
        answers_the_next_call(&host, &case, &name).await;
    }
    report_cases(&format!(
        "fault matrix: k8s_rollout_undo: {} cases",
        cases.len()
    ));
    assert_eq!(cases.len(), 63);
}

#[tokio::test]
async fn reads_wait_as_retry_after_asks_and_give_up_at_once_when_it_asks_too_much() {
    // The default --request-timeout (30s): a one-second Retry-After fits in it, a minute not.
    let host = Host::start(deployments(1), Lifecycle::Handshake).await;
    host.sim()
        .inject_fault(GET_DEPLOYMENT.fault(Status(429), "app-0").retry_after(1));
    let started = std::time::Instant::now();
    let result = host.call("k8s_rollout_history", workload("app-0")).await;
    assert_ne!(result.is_error, Some(true), "{}", text(&result));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the retry waited the second Retry-After asked for ({:?})",
        started.elapsed()
    );

    // A wait past the request time limit is not slept through: the 429 is reported at once.
    host.sim().clear_requests();
    host.sim().inject_fault(
        Fault::on(Verb::Get, "deployments")
            .named("app-0")
            .status(429)
            .retry_after(60)
            .always(),
    );
    let started = std::time::Instant::now();
    let result = host.call("k8s_rollout_history", workload("app-0")).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_says(
        "Retry-After: 60",
        &text(&result),
        &[
            "refused to get deployments: 429 TooManyRequests".into(),
            "try again in a moment".into(),
        ],
    );
    assert_eq!(
        GET_DEPLOYMENT.attempts(&host.sim().requests(), "app-0"),
        vec![429]
    );
    answers_the_next_call(&host, "Retry-After: 60", "app-0").await;
}

#[tokio::test]
async fn a_read_that_keeps_failing_is_retried_three_times_and_reported() {
    let host = Host::start_with(deployments(1), options(ControllerMode::Sync)).await;
    host.sim().inject_fault(
        Fault::on(Verb::List, "replicasets")
            .in_namespace("shop")
            .status(503)
            .always(),
    );
    let result = host.call("k8s_rollout_history", workload("app-0")).await;
    assert_says(
        "503 always",
        &text(&result),
        &[
            "refused to list replicasets: 503 ServiceUnavailable".into(),
            "try again shortly".into(),
        ],
    );
    assert_eq!(
        LIST_REPLICA_SETS.attempts(&host.sim().requests(), "app-0"),
        vec![503; 4],
        "one attempt and three retries"
    );
    answers_the_next_call(&host, "503 always", "app-0").await;
}

#[tokio::test]
async fn a_read_back_whose_watch_start_was_forgotten_lists_again_and_resumes() {
    // The sim remembers only the last event: by the time the read-back watches from the
    // write's resourceVersion, the controller's updates have pushed it out, and the watch
    // answers with a 410 Gone event.
    let mut options = options(ControllerMode::Sync);
    options.sim = SimOptions::new().watch_history(1);
    let host = Host::start_with(deployments(1), options).await;
    host.answer(Answer::approve("alice"));
    let mut arguments = workload("app-0");
    arguments["to_revision"] = json!(1);
    let result = host.call("k8s_rollout_undo", arguments).await;
    let report = structured(&result);
    assert_eq!(report["new_revision"], 3, "{}", text(&result));
    let relisted = host.sim().requests().iter().any(|record| {
        record.method == "GET"
            && record.path.ends_with("/deployments")
            && !record.query.contains("watch=true")
            && record.query.contains("metadata.name%3Dapp-0")
    });
    assert!(relisted, "the 410 made it list again");
}

#[tokio::test]
async fn two_undos_with_the_same_approver_and_reason_never_both_claim_one_write() {
    let host = Host::start(Scenario::demo(), Lifecycle::Handshake).await;
    host.answer(Answer::approve("alice"));
    // The first write to arrive is held and answered 504 without being stored; the other one
    // is stored meanwhile, with the same template and change-cause.
    host.sim().inject_fault(
        Fault::on(Verb::Patch, "deployments")
            .named("api-server")
            .not_dry_run()
            .delay(Duration::from_secs(1))
            .status(504)
            .once(),
    );
    let undo = || {
        json!({"resource_type": "deployment", "name": "api-server", "namespace": "shop",
               "to_revision": 3, "reason": "errors"})
    };
    let (first, second) = tokio::join!(
        host.call("k8s_rollout_undo", undo()),
        host.call("k8s_rollout_undo", undo())
    );
    let mut written = 0;
    for result in [&first, &second] {
        if result.is_error == Some(true) {
            let message = text(result);
            assert!(
                message.contains("is unknown")
                    && message.contains("without this call's change-cause and call id"),
                "{message}"
            );
        } else {
            assert_eq!(structured(result)["outcome"], "rolled_back");
            written += 1;
        }
    }
    assert_eq!(
        written, 1,
        "one write was stored, and only its call claims it"
    );
    let stored = host
        .sim()
        .mutating_requests()
        .into_iter()
        .filter(|request| request.method == "PATCH" && !request.dry_run && request.status < 300)
        .count();
    assert_eq!(stored, 1);
}
