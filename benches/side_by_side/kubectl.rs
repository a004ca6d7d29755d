//! The kubectl binaries on this machine: the dispatcher on PATH (the Google Cloud SDK's, which
//! asks the server's version and runs a matching `kubectl.1.NN`) and every `kubectl.1.NN` beside
//! it. Each runs `kubectl rollout history` as a user would, with a discovery cache of its own
//! warmed by one untimed run first (the usual case on a workstation).

use std::path::{Path, PathBuf};

use crate::process;

/// One kubectl binary.
pub struct Kubectl {
    pub label: String,
    path: PathBuf,
    cache: PathBuf,
}

/// The dispatcher and each versioned binary, oldest version first; empty without kubectl.
pub fn installed(cache_root: &Path) -> Vec<Kubectl> {
    let Some(dispatcher) = on_path("kubectl") else {
        return Vec::new();
    };
    let real = std::fs::canonicalize(&dispatcher).unwrap_or(dispatcher.clone());
    let mut versioned: Vec<(u32, PathBuf)> = real
        .parent()
        .and_then(|dir| std::fs::read_dir(dir).ok())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let minor = name.strip_prefix("kubectl.1.")?.parse().ok()?;
            Some((minor, entry.path()))
        })
        .collect();
    versioned.sort();
    let mut all: Vec<(String, PathBuf)> = versioned
        .into_iter()
        .map(|(minor, path)| (format!("kubectl.1.{minor}"), path))
        .collect();
    all.push(("kubectl (dispatcher)".to_string(), dispatcher));
    all.into_iter()
        .map(|(label, path)| Kubectl {
            cache: cache_root.join(label.replace([' ', '(', ')'], "")),
            label,
            path,
        })
        .collect()
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    })
}

impl Kubectl {
    /// `kubectl rollout history deployment/web -n NAMESPACE`, timed whole.
    pub fn history(&self, kubeconfig: &Path, namespace: &str) -> process::Run {
        let args = [
            "--kubeconfig".as_ref(),
            kubeconfig.as_os_str(),
            "--cache-dir".as_ref(),
            self.cache.as_os_str(),
            "rollout".as_ref(),
            "history".as_ref(),
            "deployment/web".as_ref(),
            "-n".as_ref(),
            namespace.as_ref(),
        ];
        let run = process::run(&self.path, &args, &[], &[]);
        assert!(
            run.success,
            "{} rollout history failed: {}",
            self.label,
            String::from_utf8_lossy(&run.stdout)
        );
        run
    }
}
