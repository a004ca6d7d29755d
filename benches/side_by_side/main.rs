//! Side by side in one run: the server against the physical limit (the same API requests sent
//! by a minimal client, "the floor"), against kubectl, on kube-sim and on kube-real. Prints
//! figures as Markdown tables; asserts no timing.
//!
//! ```text
//! cargo bench --bench side_by_side              # the full run (about 8 minutes here)
//! cargo bench --bench side_by_side -- --short   # a few iterations of everything (CI)
//! ```
//!
//! Where two things are compared they are measured alternately, in ABBA order, so the load of a
//! shared machine falls on both alike; ratios are of the two medians (and of the two p99s).
//! `KUBE_REAL=off` leaves kube-real out (it is required in CI, `REQUIRE_KUBE_REAL=1`).

mod floor;
mod kubectl;
mod process;
mod real;
mod server;
mod stats;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, WatchEvent, WatchParams};
use kube_sim::{Scenario, Sim};
use serde_json::{Value, json};

use floor::Sent;
use real::Real;
use server::Server;
use stats::{Samples, mib, ms, ratio};

/// How many of each measurement a run takes.
struct Plan {
    short: bool,
    warm_up: usize,
    /// (revisions, A/B pairs) of the warm history calls, per backend.
    sim_sizes: Vec<(usize, usize)>,
    real_sizes: Vec<(usize, usize)>,
    /// Rounds of the cold one-shot comparison (each runs every contender once).
    cold_rounds: usize,
    undo_rounds: usize,
    status_rounds: usize,
    noise_pairs: usize,
}

impl Plan {
    fn new(short: bool) -> Self {
        if short {
            Self {
                short,
                warm_up: 2,
                sim_sizes: vec![(10, 5), (100, 5), (1_000, 3)],
                real_sizes: vec![(10, 5), (100, 3), (1_000, 2)],
                cold_rounds: 1,
                undo_rounds: 1,
                status_rounds: 1,
                noise_pairs: 5,
            }
        } else {
            Self {
                short,
                warm_up: 20,
                sim_sizes: vec![(10, 300), (100, 200), (1_000, 60)],
                real_sizes: vec![(10, 200), (100, 100), (1_000, 40)],
                cold_rounds: 10,
                undo_rounds: 5,
                status_rounds: 5,
                noise_pairs: 300,
            }
        }
    }
}

/// A cluster the warm and cold measurements run against.
enum Backend<'a> {
    Sim(&'a Sim),
    Real(&'a Real),
}

impl Backend<'_> {
    fn label(&self) -> &'static str {
        match self {
            Backend::Sim(_) => "kube-sim",
            Backend::Real(_) => "kube-real",
        }
    }

    /// The requests the admin sent in `ns` while `f` ran.
    async fn requests_of<F: Future<Output = ()>>(&self, ns: &str, f: F) -> Vec<Sent> {
        match self {
            Backend::Sim(sim) => {
                sim.clear_requests();
                f.await;
                sim.requests()
                    .into_iter()
                    .map(|record| Sent {
                        method: record.method,
                        path: record.path,
                        query: record.query,
                    })
                    .collect()
            }
            Backend::Real(real) => {
                let mark = real.mark();
                f.await;
                real.requests(mark, ns).await
            }
        }
    }
}

/// One row of the warm history table, with what the bytes and RSS tables need.
struct WarmRow {
    backend: &'static str,
    revisions: usize,
    ours: Samples,
    floor: Samples,
    requests: usize,
    received: usize,
    peak_rss_kib: u64,
    text_per_revision: f64,
    structured_per_revision: f64,
}

#[tokio::main]
async fn main() {
    let plan = Plan::new(std::env::args().any(|arg| arg == "--short"));
    let dir = std::env::temp_dir().join(format!("k8s-rollout-side-by-side-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let began = Instant::now();
    print_machine(&plan);

    let real = match Real::start().await {
        Ok(real) => Some(real),
        Err(why) => {
            assert!(
                std::env::var("REQUIRE_KUBE_REAL").as_deref() != Ok("1"),
                "REQUIRE_KUBE_REAL=1 but kube-real cannot run: {why}"
            );
            println!("\nkube-real left out: {why}");
            None
        }
    };
    if let Some(real) = &real {
        let endpoint = real.cluster.endpoint();
        println!(
            "kube-real {} at {} (ready in {:.1} s)",
            endpoint.version,
            endpoint.url,
            endpoint.ready_time.as_secs_f64()
        );
    }
    let kubectls = kubectl::installed(&dir.join("kubectl-cache"));

    // 1 and 5: warm history against the floor, with RSS and bytes per revision.
    let mut warm = Vec::new();
    for &(revisions, pairs) in &plan.sim_sizes {
        let sim = Sim::start(sim_scenario(revisions, 0)).await;
        let kubeconfig = dir.join(format!("sim-{revisions}.kubeconfig"));
        sim.write_kubeconfig(&kubeconfig)
            .expect("kubeconfig written");
        let backend = Backend::Sim(&sim);
        warm.push(
            warm_history(
                &plan,
                &backend,
                &kubeconfig,
                "bench",
                revisions,
                pairs,
                &dir,
            )
            .await,
        );
    }
    let mut real_namespaces = Vec::new();
    if let Some(real) = &real {
        let kubeconfig = dir.join("real.kubeconfig");
        std::fs::write(&kubeconfig, real.kubeconfig()).expect("kubeconfig written");
        for &(revisions, pairs) in &plan.real_sizes {
            let seeding = Instant::now();
            let ns = real.seed(&format!("history-{revisions}"), revisions).await;
            println!(
                "seeded {ns}: Deployment web with {revisions} revisions in {:.1} s",
                seeding.elapsed().as_secs_f64()
            );
            let backend = Backend::Real(real);
            warm.push(
                warm_history(&plan, &backend, &kubeconfig, &ns, revisions, pairs, &dir).await,
            );
            real_namespaces.push((revisions, ns));
        }
    }
    print_warm(&warm);

    // 2 and 5: cold one-shot against each kubectl.
    if let Some(real) = &real {
        let kubeconfig = dir.join("real.kubeconfig");
        let sizes: Vec<&(usize, String)> = if plan.short {
            real_namespaces.iter().take(1).collect()
        } else {
            real_namespaces.iter().collect()
        };
        let mut cold = Vec::new();
        for (revisions, ns) in sizes {
            cold.push(cold_one_shot(&plan, &kubectls, &kubeconfig, ns, *revisions, &dir).await);
        }
        print_cold(&cold);
        print_bytes(&warm, &cold);

        // 3 and 4: undo end to end and the status wait, on kube-real.
        undo_end_to_end(&plan, real, &kubeconfig, &dir).await;
        status_wait(&plan, real, &kubeconfig, &dir).await;
    } else {
        print_bytes(&warm, &[]);
    }

    // 6: noise.
    noise(&plan, &dir).await;

    println!(
        "\nwhole run: {:.0} s; load at the end: {}",
        began.elapsed().as_secs_f64(),
        load()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Deployment `web` in namespace `bench` with `revisions` revisions, and `noise` unrelated
/// ReplicaSets beside it (other Deployments' histories, 1,000 each).
fn sim_scenario(revisions: usize, noise: usize) -> Scenario {
    let mut builder = Scenario::builder()
        .namespace("bench")
        .deployment("bench", "web", |d| {
            d.replicas(2).bulk_history(revisions, |i, t| {
                t.image("app", &format!("registry.example.com/team/web:1.{i}.0"))
                    .change_cause(&format!("release 1.{i}.0"))
            })
        });
    for other in 0..noise.div_ceil(1_000) {
        builder = builder.deployment("bench", &format!("noise-{other:02}"), |d| {
            d.replicas(1).bulk_history(1_000, |i, t| {
                t.image(
                    "app",
                    &format!("registry.example.com/noise-{other:02}:1.{i}.0"),
                )
                .change_cause(&format!("release 1.{i}.0"))
            })
        });
    }
    builder.build()
}

/// Our warm history call against the floor, alternated, on one backend at one size.
async fn warm_history(
    plan: &Plan,
    backend: &Backend<'_>,
    kubeconfig: &Path,
    ns: &str,
    revisions: usize,
    pairs: usize,
    dir: &Path,
) -> WarmRow {
    let server = Server::start(kubeconfig, &server_dir(dir, backend.label(), revisions)).await;
    let floor_client = floor::client(kubeconfig).await;
    let arguments = server::history(ns, None);
    for _ in 0..plan.warm_up {
        server.call("k8s_rollout_history", arguments.clone()).await;
    }
    let ours_sent = backend
        .requests_of(ns, async {
            server.call("k8s_rollout_history", arguments.clone()).await;
        })
        .await;
    let floor_sent = backend
        .requests_of(ns, async {
            floor::replay(&floor_client, &ours_sent).await;
        })
        .await;
    let shapes = |sent: &[Sent]| sent.iter().map(Sent::shape).collect::<Vec<_>>();
    assert_eq!(
        shapes(&ours_sent),
        shapes(&floor_sent),
        "the floor sends what the server sends"
    );
    for _ in 0..plan.warm_up {
        floor::replay(&floor_client, &ours_sent).await;
    }

    let mut ours = Samples::default();
    let mut floor = Samples::default();
    let mut received = 0;
    for pair in 0..pairs {
        for first in [pair % 2 == 0, pair % 2 == 1] {
            let started = Instant::now();
            if first {
                server.call("k8s_rollout_history", arguments.clone()).await;
                ours.push(started.elapsed());
            } else {
                received = floor::replay(&floor_client, &ours_sent).await;
                floor.push(started.elapsed());
            }
        }
    }
    let peak_rss_kib = server.peak_rss_kib();
    let everything = server
        .call("k8s_rollout_history", server::history(ns, Some(revisions)))
        .await;
    let text = server::text(&everything);
    let header: usize = text.lines().take(2).map(|line| line.len() + 1).sum();
    let structured = everything
        .structured_content
        .as_ref()
        .map_or(0, |value| value.to_string().len());
    server.stop().await;
    println!(
        "{} {revisions}: ours {} / floor {} (p50, {pairs} pairs); load {}",
        backend.label(),
        ms(ours.median()),
        ms(floor.median()),
        load()
    );
    WarmRow {
        backend: backend.label(),
        revisions,
        ours,
        floor,
        requests: ours_sent.len(),
        received,
        peak_rss_kib,
        text_per_revision: (text.len() - header) as f64 / revisions as f64,
        structured_per_revision: structured as f64 / revisions as f64,
    }
}

fn server_dir(dir: &Path, label: &str, revisions: usize) -> PathBuf {
    let path = dir.join(format!("{label}-{revisions}"));
    std::fs::create_dir_all(&path).expect("a directory for the server");
    path
}

fn print_warm(rows: &[WarmRow]) {
    println!("\n### 1. Warm `k8s_rollout_history` (default limit 20) against the floor\n");
    println!(
        "| backend | revisions | pairs | requests | bytes received | ours p50 | floor p50 | ratio p50 | ours p99 | floor p99 | ratio p99 | server peak RSS |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.backend,
            row.revisions,
            row.ours.len(),
            row.requests,
            row.received,
            ms(row.ours.median()),
            ms(row.floor.median()),
            ratio(row.ours.median(), row.floor.median()),
            ms(row.ours.p99()),
            ms(row.floor.p99()),
            ratio(row.ours.p99(), row.floor.p99()),
            mib(row.peak_rss_kib),
        );
    }
}

/// One size of the cold comparison: each contender's runs.
struct ColdRow {
    revisions: usize,
    /// (label, times, peak RSS of each run, stdout of the last run)
    contenders: Vec<(String, Samples, Vec<u64>, Vec<u8>)>,
}

/// Spawn, initialize, one call (listing every revision, as kubectl does), exit; against
/// `kubectl rollout history` of each installed kubectl, in rotating order.
async fn cold_one_shot(
    plan: &Plan,
    kubectls: &[kubectl::Kubectl],
    kubeconfig: &Path,
    ns: &str,
    revisions: usize,
    dir: &Path,
) -> ColdRow {
    let server_dir = server_dir(dir, "cold", revisions);
    let arguments = server::history(ns, Some(revisions));
    let contenders = 1 + kubectls.len();
    let mut row = ColdRow {
        revisions,
        contenders: std::iter::once("ours (one-shot)".to_string())
            .chain(kubectls.iter().map(|k| k.label.clone()))
            .map(|label| (label, Samples::default(), Vec::new(), Vec::new()))
            .collect(),
    };
    let run = |index: usize| {
        if index == 0 {
            server::one_shot(kubeconfig, &server_dir, "k8s_rollout_history", &arguments)
        } else {
            kubectls[index - 1].history(kubeconfig, ns)
        }
    };
    tokio::task::block_in_place(|| {
        for index in 0..contenders {
            run(index); // warms kubectl's discovery cache and the page cache
        }
        for round in 0..plan.cold_rounds.max(1) {
            for offset in 0..contenders {
                let index = (round + offset) % contenders;
                let result = run(index);
                let (_, times, rss, stdout) = &mut row.contenders[index];
                times.push(result.elapsed);
                rss.push(result.peak_rss_kib);
                *stdout = result.stdout;
            }
        }
    });
    println!(
        "cold {revisions}: ours {} (p50, {} rounds); load {}",
        ms(row.contenders[0].1.median()),
        plan.cold_rounds,
        load()
    );
    row
}

fn print_cold(rows: &[ColdRow]) {
    println!(
        "\n### 2. Cold one-shot on kube-real: spawn, initialize, one call, exit, against `kubectl rollout history`\n"
    );
    println!("| revisions | what | runs | p50 | p99 | peak RSS (median) | p50 over ours |");
    println!("|---:|---|---:|---:|---:|---:|---:|");
    for row in rows {
        let ours = row.contenders[0].1.median();
        for (label, times, rss, _) in &row.contenders {
            let mut rss = rss.clone();
            rss.sort();
            println!(
                "| {} | {label} | {} | {} | {} | {} | {} |",
                row.revisions,
                times.len(),
                ms(times.median()),
                ms(times.p99()),
                mib(rss.get(rss.len() / 2).copied().unwrap_or(0)),
                ratio(times.median(), ours),
            );
        }
    }
}

fn print_bytes(warm: &[WarmRow], cold: &[ColdRow]) {
    println!("\n### 5. Bytes per revision of a history listing every revision\n");
    println!("| backend | revisions | our text | our structured content | kubectl.1.33's output |");
    println!("|---|---:|---:|---:|---:|");
    for row in warm {
        let kubectl = cold
            .iter()
            .filter(|c| row.backend == "kube-real" && c.revisions == row.revisions)
            .flat_map(|c| &c.contenders)
            .find(|(label, ..)| label == "kubectl.1.33")
            .map(|(.., stdout)| {
                let text = String::from_utf8_lossy(stdout);
                let body: usize = text
                    .lines()
                    .skip_while(|line| !line.starts_with("REVISION"))
                    .skip(1)
                    .filter(|line| !line.is_empty())
                    .map(|line| line.len() + 1)
                    .sum();
                format!("{:.0}", body as f64 / row.revisions as f64)
            })
            .unwrap_or_else(|| "-".into());
        println!(
            "| {} | {} | {:.0} | {:.0} | {kubectl} |",
            row.backend, row.revisions, row.text_per_revision, row.structured_per_revision
        );
    }
}

/// Undo to the previous revision with an auto-approving host: call to result, then (after
/// the rollout settles) with `wait`, call to "rollout complete"; the requests each sent.
async fn undo_end_to_end(plan: &Plan, real: &Real, kubeconfig: &Path, dir: &Path) {
    let revisions = 10;
    let ns = real.seed("undo", revisions).await;
    let server = Server::start(kubeconfig, &server_dir(dir, "undo", revisions)).await;
    let mut numbers: Vec<usize> = (1..=revisions).collect();
    let mut to_result = Samples::default();
    let mut to_complete = Samples::default();
    let mut sequences: Vec<(bool, Vec<Sent>)> = Vec::new();
    for _ in 0..plan.undo_rounds {
        for wait in [false, true] {
            let previous = numbers[numbers.len() - 2];
            let arguments = json!({"resource_type": "deployment", "name": "web",
                "namespace": ns, "to_revision": previous, "reason": "side-by-side",
                "wait": wait, "timeout_seconds": 120});
            let mark = real.mark();
            let started = Instant::now();
            let result = server.call("k8s_rollout_undo", arguments).await;
            let elapsed = started.elapsed();
            if wait {
                to_complete.push(elapsed);
                let state = result.structured_content.as_ref().and_then(find_state);
                assert_eq!(
                    state.as_deref(),
                    Some("complete"),
                    "the waited undo ends with the rollout complete: {}",
                    server::text(&result)
                );
            } else {
                to_result.push(elapsed);
            }
            sequences.push((wait, real.requests(mark, &ns).await));
            numbers.retain(|&n| n != previous);
            numbers.push(numbers.last().copied().unwrap_or(0) + 1);
            real.objects
                .settle(kube_sim::ResourceKind::Deployment, &ns, "web")
                .await;
        }
    }
    server.stop().await;
    println!(
        "\n### 3. Undo end to end on kube-real (auto-approving host; load {})\n",
        load()
    );
    println!("| what | runs | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    println!(
        "| call to result | {} | {} | {} |",
        to_result.len(),
        ms(to_result.median()),
        ms(to_result.p99())
    );
    println!(
        "| call to \"rollout complete\" (`wait`) | {} | {} | {} |",
        to_complete.len(),
        ms(to_complete.median()),
        ms(to_complete.p99())
    );
    for wait in [false, true] {
        if let Some((_, sent)) = sequences.iter().find(|(w, _)| *w == wait) {
            println!(
                "\nrequests per undo{} (API server audit log): {}: {}",
                if wait { " with `wait`" } else { "" },
                sent.len(),
                sent.iter().map(describe).collect::<Vec<_>>().join(", ")
            );
        }
    }
}

/// `PATCH deployments/web (dry run)`; a GET of a collection is a LIST.
fn describe(sent: &Sent) -> String {
    let mut segments = sent.path.rsplit('/');
    let last = segments.next().unwrap_or_default();
    let resource = if last == "web" {
        format!("{}/web", segments.next().unwrap_or_default())
    } else {
        last.to_string()
    };
    let dry = if sent.query.contains("dryRun=All") {
        " (dry run)"
    } else {
        ""
    };
    let verb = match sent.method.as_str() {
        "GET" if last != "web" => "LIST",
        method => method,
    };
    format!("{verb} {resource}{dry}")
}

/// A change rolled out while `k8s_rollout_status` waits: the time from the last status update
/// the harness's own watch saw before our answer to the answer.
async fn status_wait(plan: &Plan, real: &Real, kubeconfig: &Path, dir: &Path) {
    let ns = real.seed("status", 2).await;
    let server = Server::start(kubeconfig, &server_dir(dir, "status", 2)).await;
    let api: Api<Deployment> = Api::namespaced(real.harness.clone(), &ns);
    let mut latency = Samples::default();
    let mut updates = Vec::new();
    for round in 0..plan.status_rounds {
        let version = api
            .get("web")
            .await
            .expect("the Deployment reads")
            .metadata
            .resource_version
            .unwrap_or_default();
        let seen: Arc<Mutex<Vec<Instant>>> = Arc::default();
        let watcher = {
            let (api, seen) = (api.clone(), seen.clone());
            tokio::spawn(async move {
                let params = WatchParams::default()
                    .fields("metadata.name=web")
                    .timeout(120);
                let mut events = api.watch(&params, &version).await.expect("a watch").boxed();
                while let Some(event) = events.next().await {
                    if let Ok(WatchEvent::Modified(_)) = event {
                        seen.lock().unwrap().push(Instant::now());
                    }
                }
            })
        };
        let image = format!("registry.example.com/team/web:status-{round}");
        api.patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": image}]}}}})),
        )
        .await
        .expect("the change is written");
        let result = server
            .call(
                "k8s_rollout_status",
                json!({"resource_type": "deployment", "name": "web", "namespace": ns,
                    "wait": true, "timeout_seconds": 120}),
            )
            .await;
        let answered = Instant::now();
        let state = result.structured_content.as_ref().and_then(find_state);
        assert_eq!(
            state.as_deref(),
            Some("complete"),
            "the wait ends with the rollout complete: {}",
            server::text(&result)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        watcher.abort();
        let seen = seen.lock().unwrap().clone();
        updates.push(seen.len());
        if let Some(last) = seen.iter().filter(|t| **t <= answered).max() {
            latency.push(answered - *last);
        }
        real.objects
            .settle(kube_sim::ResourceKind::Deployment, &ns, "web")
            .await;
    }
    server.stop().await;
    println!(
        "\n### 4. `k8s_rollout_status` with `wait` on kube-real: last status update to our answer (load {})\n",
        load()
    );
    println!("| rollouts | p50 | p99 | updates seen per rollout |");
    println!("|---:|---:|---:|---|");
    println!(
        "| {} | {} | {} | {:?} |",
        latency.len(),
        ms(latency.median()),
        ms(latency.p99()),
        updates
    );
}

/// The rollout state anywhere in a structured result (`"state": "complete"`).
fn find_state(value: &Value) -> Option<String> {
    match value {
        Value::Object(map) => map
            .get("state")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| map.values().find_map(find_state)),
        Value::Array(items) => items.iter().find_map(find_state),
        _ => None,
    }
}

/// Warm history at 10 revisions, quiet namespace against one with 50,000 unrelated
/// ReplicaSets, alternated (kube-sim).
async fn noise(plan: &Plan, dir: &Path) {
    let quiet = Sim::start(sim_scenario(10, 0)).await;
    let seeding = Instant::now();
    let noisy = Sim::start(sim_scenario(10, 50_000)).await;
    let seeded = seeding.elapsed();
    let replica_sets = noisy.list("replicasets", "bench").len();
    let mut servers = Vec::new();
    for (label, sim) in [("quiet", &quiet), ("noisy", &noisy)] {
        let kubeconfig = dir.join(format!("noise-{label}.kubeconfig"));
        sim.write_kubeconfig(&kubeconfig)
            .expect("kubeconfig written");
        servers.push(Server::start(&kubeconfig, &server_dir(dir, label, 10)).await);
    }
    let arguments = server::history("bench", None);
    for server in &servers {
        for _ in 0..plan.warm_up {
            server.call("k8s_rollout_history", arguments.clone()).await;
        }
    }
    let mut samples = [Samples::default(), Samples::default()];
    for pair in 0..plan.noise_pairs {
        for index in [pair % 2, 1 - pair % 2] {
            let started = Instant::now();
            servers[index]
                .call("k8s_rollout_history", arguments.clone())
                .await;
            samples[index].push(started.elapsed());
        }
    }
    for server in servers {
        server.stop().await;
    }
    println!(
        "\n### 6. Noise: warm history at 10 revisions, {replica_sets} ReplicaSets in the namespace (seeded in {:.1} s) against 10 (kube-sim; load {})\n",
        seeded.as_secs_f64(),
        load()
    );
    println!("| namespace | calls | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    for (label, samples) in ["quiet", "noisy"].iter().zip(&samples) {
        println!(
            "| {label} | {} | {} | {} |",
            samples.len(),
            ms(samples.median()),
            ms(samples.p99())
        );
    }
    println!(
        "| noisy over quiet | | {} | {} |",
        ratio(samples[1].median(), samples[0].median()),
        ratio(samples[1].p99(), samples[0].p99())
    );
}

/// The machine and the versions, as the table's header says them.
fn print_machine(plan: &Plan) {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .map(|value| value.trim().to_string())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!(
        "side by side ({} mode): {cpus} CPUs, {memory}, Linux {}; load {}",
        if plan.short { "short" } else { "full" },
        kernel.trim(),
        load()
    );
}

/// `/proc/loadavg`'s three averages.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}
