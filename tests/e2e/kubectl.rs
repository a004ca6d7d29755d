//! Upstream kubectl as the oracle: run it against a test cluster (kube-sim or kube-real) and
//! read what it prints. On kube-sim it is `kubectl` on PATH, a dispatcher that runs the
//! installed `kubectl.1.NN` matching the minor the sim's `/version` reports (1.27 to 1.33); on
//! kube-real it is the kubectl built with the cluster, of the cluster's own release (where an
//! older kubectl and the cluster's disagree, the cluster's is the oracle). Without kubectl the
//! differential tests print why and skip, unless `REQUIRE_KUBECTL=1` (CI) makes them fail. Like
//! the test host, it takes the scenario's namespace names (`-n shop`) and runs in the real ones.

use std::path::PathBuf;
use std::process::Command;

use super::backend::{Backend, TestCluster};
use super::host::tempdir;

/// kubectl pointed at one cluster, with its own discovery cache.
pub struct Kubectl {
    program: PathBuf,
    kubeconfig: PathBuf,
    dir: tempdir::Dir,
    cluster: TestCluster,
}

impl Kubectl {
    /// kubectl for `cluster` (the dispatcher on kube-sim, the cluster's own on kube-real), or
    /// None (after saying why) when kubectl is missing and not required.
    pub fn for_cluster(cluster: &TestCluster) -> Option<Self> {
        let program = match cluster.backend() {
            Backend::Sim => PathBuf::from("kubectl"),
            Backend::Real => super::backend::real()?.kubectl(),
        };
        Self::with(program, cluster)
    }

    /// kube-real's kubectl pointed at `cluster`, whichever backend it is: one client for a
    /// sequence played on both backends. None (after saying why) without kube-real.
    pub fn of_kube_real_for(cluster: &TestCluster) -> Option<Self> {
        Self::with(super::backend::real()?.kubectl(), cluster)
    }

    fn with(program: PathBuf, cluster: &TestCluster) -> Option<Self> {
        let found = Command::new(&program)
            .arg("version")
            .arg("--client")
            .output()
            .is_ok_and(|out| out.status.success());
        if !found {
            assert!(
                std::env::var("REQUIRE_KUBECTL").as_deref() != Ok("1"),
                "REQUIRE_KUBECTL=1 but {} does not run",
                program.display()
            );
            eprintln!(
                "skipping: {} does not run (set REQUIRE_KUBECTL=1 to make this a failure)",
                program.display()
            );
            return None;
        }
        let dir = tempdir::Dir::new("kubectl");
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, cluster.kubeconfig(None)).expect("kubeconfig written");
        Some(Self {
            program,
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
        let output = Command::new(&self.program)
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
