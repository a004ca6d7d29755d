//! Upstream kubectl as the oracle: run it against a test cluster (kube-sim or kube-real) and
//! read what it prints. Without kubectl on PATH the differential tests print why and skip,
//! unless `REQUIRE_KUBECTL=1` (CI) makes them fail. Like the test host, it takes the scenario's
//! namespace names (`-n shop`) and runs in the real ones.

use std::path::PathBuf;
use std::process::Command;

use super::backend::TestCluster;
use super::host::tempdir;

/// kubectl pointed at one cluster, with its own discovery cache.
pub struct Kubectl {
    kubeconfig: PathBuf,
    dir: tempdir::Dir,
    cluster: TestCluster,
}

impl Kubectl {
    /// kubectl for `cluster`, or None (after saying why) when kubectl is missing and not required.
    pub fn for_cluster(cluster: &TestCluster) -> Option<Self> {
        let found = Command::new("kubectl")
            .arg("version")
            .arg("--client")
            .output()
            .is_ok_and(|out| out.status.success());
        if !found {
            assert!(
                std::env::var("REQUIRE_KUBECTL").as_deref() != Ok("1"),
                "REQUIRE_KUBECTL=1 but kubectl is not on PATH"
            );
            eprintln!(
                "skipping: kubectl is not on PATH (set REQUIRE_KUBECTL=1 to make this a failure)"
            );
            return None;
        }
        let dir = tempdir::Dir::new("kubectl");
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, cluster.kubeconfig(None)).expect("kubeconfig written");
        Some(Self {
            kubeconfig,
            dir,
            cluster: cluster.clone(),
        })
    }

    /// Runs kubectl; returns (success, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (bool, String, String) {
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        for i in 1..args.len() {
            if args[i - 1] == "-n" {
                args[i] = self.cluster.ns(&args[i]);
            }
        }
        let output = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .output()
            .expect("kubectl runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Runs kubectl and returns stdout, failing the test if kubectl fails.
    pub fn ok(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.run(args);
        assert!(ok, "kubectl {args:?} failed: {stderr}{stdout}");
        stdout
    }

    /// `kubectl rollout history` as (revision, change-cause) rows.
    pub fn history(&self, namespace: &str, workload: &str) -> Vec<(i64, String)> {
        let out = self.ok(&["rollout", "history", workload, "-n", namespace]);
        out.lines()
            .skip_while(|line| !line.starts_with("REVISION"))
            .skip(1)
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let (number, cause) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
                (
                    number.parse().expect("a revision number"),
                    cause.trim().to_string(),
                )
            })
            .collect()
    }
}
