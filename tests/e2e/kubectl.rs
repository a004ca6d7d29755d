//! Upstream kubectl as the oracle: run it against a sim and read what it prints. Without kubectl
//! on PATH the differential tests print why and skip, unless `REQUIRE_KUBECTL=1` (CI) makes
//! them fail.

use std::path::PathBuf;
use std::process::Command;

use kube_sim::Sim;

use super::host::tempdir;

/// kubectl pointed at one sim, with its own discovery cache.
pub struct Kubectl {
    kubeconfig: PathBuf,
    dir: tempdir::Dir,
}

impl Kubectl {
    /// kubectl for `sim`, or None (after saying why) when kubectl is missing and not required.
    pub fn for_sim(sim: &Sim) -> Option<Self> {
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
        sim.write_kubeconfig(&kubeconfig)
            .expect("kubeconfig written");
        Some(Self { kubeconfig, dir })
    }

    /// Runs kubectl; returns (success, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (bool, String, String) {
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
