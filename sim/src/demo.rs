//! The demo scenario: a small shop whose last `api-server` release is a bad deploy. Used by the
//! binary (`--scenario demo`), the product's walkthrough, and tests that want a realistic cluster.

use serde_json::json;

use crate::scenario::{Scenario, WorkloadBuilder};

/// The demo's bad deploy: its tag makes pods crash-loop (on kube-sim and kube-real alike).
pub const BAD_IMAGE: &str = "ghcr.io/example/api-server:1.3.0-crashloop";

/// A short progress deadline, so a real cluster (kube-real) reaches the bad deploy's
/// `ProgressDeadlineExceeded` within seconds, as the sim does by dating it three hours back.
fn api_server(d: WorkloadBuilder, replicas: i64) -> WorkloadBuilder {
    d.replicas(replicas)
        .progress_deadline_seconds(5)
        .selector_expression("tier", "In", &["backend"])
        .label("tier", "backend")
}

/// See [`Scenario::demo`].
pub fn scenario() -> Scenario {
    Scenario::builder()
        .namespace("shop")
        .namespace("staging")
        .deployment("shop", "api-server", |d| {
            api_server(d, 3)
                .revision(|t| {
                    t.image("api", "ghcr.io/example/api-server:1.0.0")
                        .port("api", 8080)
                        .env("api", "LOG_LEVEL", "info")
                        .env_from_secret("api", "DATABASE_URL", "api-server-db", "url")
                        .resources(
                            "api",
                            &[("cpu", "100m"), ("memory", "128Mi")],
                            &[("memory", "256Mi")],
                        )
                        .readiness_probe(
                            "api",
                            json!({"httpGet": {"path": "/healthz", "port": 8080}}),
                        )
                        .volume(
                            json!({"name": "config", "configMap": {"name": "api-server-config"}}),
                        )
                        .volume_mount("api", "config", "/etc/api-server")
                        .change_cause("initial release 1.0.0")
                        .days_ago(30)
                })
                .revision(|t| {
                    t.image("api", "ghcr.io/example/api-server:1.1.0")
                        .env("api", "TRACING_ENABLED", "true")
                        .change_cause("1.1.0: add request tracing")
                        .days_ago(21)
                })
                .revision(|t| {
                    t.image("api", "ghcr.io/example/api-server:1.2.0")
                        .env("api", "DB_POOL_SIZE", "20")
                        .resources(
                            "api",
                            &[("cpu", "100m"), ("memory", "128Mi")],
                            &[("memory", "384Mi")],
                        )
                        .change_cause("1.2.0: tune the connection pool")
                        .days_ago(9)
                })
                .revision(|t| {
                    t.image("api", BAD_IMAGE)
                        .env_from_config_map("api", "CONFIG_SOURCE", "api-server-config", "source")
                        .change_cause("1.3.0: migrate to the new config loader")
                        .hours_ago(3)
                })
        })
        .daemonset("shop", "node-agent", |d| {
            d.revision(|t| {
                t.image("agent", "ghcr.io/example/node-agent:2.4.0")
                    .volume(json!({"name": "varlog", "hostPath": {"path": "/var/log"}}))
                    .volume_mount("agent", "varlog", "/var/log")
                    .resources(
                        "agent",
                        &[("cpu", "50m"), ("memory", "64Mi")],
                        &[("memory", "128Mi")],
                    )
                    .change_cause("initial rollout 2.4.0")
                    .days_ago(25)
            })
            .revision(|t| {
                t.image("agent", "ghcr.io/example/node-agent:2.5.0")
                    .env("agent", "COLLECT_DISK_METRICS", "true")
                    .change_cause("2.5.0: collect disk metrics")
                    .days_ago(12)
            })
            .revision(|t| {
                t.image("agent", "ghcr.io/example/node-agent:2.5.1")
                    .change_cause("2.5.1: fix a memory leak in the log shipper")
                    .days_ago(4)
            })
        })
        .statefulset("shop", "orders-db", |s| {
            s.replicas(3)
                .revision(|t| {
                    t.image("postgres", "ghcr.io/example/orders-db:15.4")
                        .port("postgres", 5432)
                        .env("postgres", "PGDATA", "/var/lib/postgresql/data/pgdata")
                        .env_from_secret("postgres", "POSTGRES_PASSWORD", "orders-db", "password")
                        .change_cause("initial database 15.4")
                        .days_ago(28)
                })
                .revision(|t| {
                    t.image("postgres", "ghcr.io/example/orders-db:15.5")
                        .change_cause("15.5: minor version upgrade")
                        .days_ago(14)
                })
                .revision(|t| {
                    t.image("postgres", "ghcr.io/example/orders-db:15.6")
                        .liveness_probe(
                            "postgres",
                            json!({"exec": {"command": ["pg_isready", "-U", "postgres"]}}),
                        )
                        .change_cause("15.6: security patch and liveness probe")
                        .days_ago(6)
                })
        })
        .deployment("staging", "api-server", |d| {
            api_server(d, 2)
                .revision(|t| {
                    t.image("api", "ghcr.io/example/api-server:1.1.0")
                        .port("api", 8080)
                        .env("api", "LOG_LEVEL", "debug")
                        .change_cause("staging: 1.1.0")
                        .days_ago(18)
                })
                .revision(|t| {
                    t.image("api", "ghcr.io/example/api-server:1.2.0")
                        .change_cause("staging: 1.2.0")
                        .days_ago(10)
                })
        })
        .build()
}
