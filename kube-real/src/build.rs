//! Building the control plane from `realkube/`, Kubernetes' own Go modules behind three small Go
//! modules of ours (etcd, kwok, and kube-apiserver + kube-controller-manager + kube-scheduler,
//! with kubectl of the same release beside them). The binaries go to
//! `<cargo target dir>/realkube/<version>/`, next to a stamp: a digest of every input (go.mod,
//! go.sum, our Go sources, the version, the linker flags). When the stamp matches, nothing runs;
//! otherwise `go build` runs with Go's own caches, so a rebuild after a small change takes
//! seconds. A file lock keeps two test binaries from building at once.
//!
//! The Kubernetes version is one setting, [`KUBERNETES_VERSION`] or `KUBE_REAL_VERSION`. The
//! committed modules are those of the default release. For another release, its own go.mod is
//! read from the Go module proxy and our Kubernetes and etcd modules are generated from it in
//! the target dir ([`gomod`]: its staging modules at `v0.MINOR.PATCH`, the etcd it pins), then
//! `go mod tidy` fills in the rest. A module version the proxy refuses fails the build with its
//! name and version ([`BuildError::Refused`]).

mod gomod;

use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sha2::{Digest, Sha256};

/// The Kubernetes release built by default (the committed go.mod's).
pub const KUBERNETES_VERSION: &str = "v1.36.3";

/// The binaries a build makes, all in [`Binaries::dir`]: what a cluster runs, and kubectl of
/// the same release (the oracle the end-to-end tests compare with).
pub const BINARIES: [&str; 6] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "kubectl",
];

/// kwok's own stages used by kube-real (paths inside kwok's module): Nodes become Ready and keep
/// their leases. Pod lifecycles are ours ([`OUR_STAGES`]).
const KWOK_STAGES: [&str; 2] = [
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
];
/// Our pod stages (paths inside `realkube/`): Ready at once, or failing as the image says, and
/// terminating pods removed (kwok's own pod-delete stage deletes re-created StatefulSet pods).
const OUR_STAGES: [&str; 1] = ["stages/pods.yaml"];

/// Why the control plane could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "the Go toolchain is not available ({0}); kube-real needs Go 1.26 or newer on PATH (or GO=/path/to/go)"
    )]
    NoGo(io::Error),
    #[error("{what} failed (exit {code:?}) in {dir}:\n{output}")]
    Go {
        what: String,
        dir: PathBuf,
        code: Option<i32>,
        output: String,
    },
    #[error(
        "the Go module proxy refused {module} {version} ({answer}) during `{what}` in {dir}; the proxy serves k8s.io/kubernetes at the versions `go list -m -versions k8s.io/kubernetes` lists"
    )]
    Refused {
        module: String,
        version: String,
        answer: String,
        what: String,
        dir: PathBuf,
    },
    #[error("{0}: {1}")]
    Io(String, io::Error),
    #[error("KUBE_REAL_VERSION {0:?} is not of the form v1.MINOR.PATCH")]
    Version(String),
}

/// Where the built binaries are.
#[derive(Debug, Clone)]
pub struct Binaries {
    dir: PathBuf,
    version: String,
}

impl Binaries {
    /// The directory holding every binary of [`BINARIES`].
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of one binary.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// kwok's stage files: its own (copied next to the binaries by the build) and ours (read
    /// from the source tree, so editing them needs no rebuild).
    pub fn stages(&self) -> Vec<PathBuf> {
        let kwok = KWOK_STAGES
            .iter()
            .map(|path| self.dir.join("stages").join(file_name(path)));
        kwok.chain(OUR_STAGES.iter().map(|path| source_dir().join(path)))
            .collect()
    }

    /// The Kubernetes version they were built at (`v1.36.3`).
    pub fn version(&self) -> &str {
        &self.version
    }
}

/// What a build did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildOutcome {
    /// The stamp matched: nothing ran.
    UpToDate,
    /// `go build` ran, taking this long.
    Built(std::time::Duration),
}

/// The source tree of our Go modules.
pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../realkube")
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, else the workspace's `target/`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The version to build: `KUBE_REAL_VERSION`, else [`KUBERNETES_VERSION`].
pub fn requested_version() -> String {
    std::env::var("KUBE_REAL_VERSION").unwrap_or_else(|_| KUBERNETES_VERSION.to_string())
}

/// The `go` command: `GO`, else `go` on PATH, else Go's default install location.
pub fn go_command() -> PathBuf {
    if let Some(go) = std::env::var_os("GO") {
        return PathBuf::from(go);
    }
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("go").is_file()));
    if on_path || !Path::new("/usr/local/go/bin/go").is_file() {
        PathBuf::from("go")
    } else {
        PathBuf::from("/usr/local/go/bin/go")
    }
}

/// Whether a Go toolchain answers `go version`.
pub fn go_available() -> Result<String, io::Error> {
    let out = Command::new(go_command()).arg("version").output()?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(io::Error::other(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }
}

/// Builds the binaries for the requested version unless they are up to date.
pub fn ensure_built() -> Result<(Binaries, BuildOutcome), BuildError> {
    let version = requested_version();
    let (major, minor, _) = parse_version(&version)?;
    go_available().map_err(BuildError::NoGo)?;
    let source = source_dir();
    let out = target_dir().join("realkube").join(&version);
    fs::create_dir_all(&out).map_err(|e| BuildError::Io(out.display().to_string(), e))?;
    let _lock = BuildLock::acquire(&out.join(".lock"))?;

    let (kubernetes, etcd) = modules(&source, &out, &version)?;
    let ldflags = version_ldflags(&version, major, minor);
    let stamp = stamp(
        &[
            ("kubernetes", &kubernetes),
            ("etcd", &etcd),
            ("kwok", &source.join("kwok")),
        ],
        &version,
        &ldflags,
    )?;
    let stamp_file = out.join(".stamp");
    let binaries = Binaries {
        dir: out.clone(),
        version: version.clone(),
    };
    let complete = BINARIES.iter().all(|b| binaries.path(b).is_file())
        && binaries.stages().iter().all(|s| s.is_file());
    if complete && fs::read_to_string(&stamp_file).is_ok_and(|s| s == stamp) {
        return Ok((binaries, BuildOutcome::UpToDate));
    }

    let started = Instant::now();
    tracing::info!(%version, dir = %out.display(), "building the control plane and kubectl with go build (the first build takes 10-25 minutes)");
    let plain = "-s -w".to_string();
    go(
        &etcd,
        &[
            "build",
            "-trimpath",
            "-ldflags",
            &plain,
            "-o",
            &arg(&out.join("etcd")),
            ".",
        ],
    )?;
    go(
        &source.join("kwok"),
        &[
            "build",
            "-trimpath",
            "-ldflags",
            &plain,
            "-o",
            &arg(&out.join("kwok")),
            "sigs.k8s.io/kwok/cmd/kwok",
        ],
    )?;
    go(
        &kubernetes,
        &[
            "build",
            "-trimpath",
            "-ldflags",
            &ldflags,
            "-o",
            &format!("{}/", out.display()),
            "./cmd/...",
            gomod::KUBECTL_PACKAGE,
        ],
    )?;
    copy_stages(&source, &out.join("stages"))?;
    fs::write(&stamp_file, &stamp)
        .map_err(|e| BuildError::Io(stamp_file.display().to_string(), e))?;
    Ok((binaries, BuildOutcome::Built(started.elapsed())))
}

/// Copies kwok's stages from its module in Go's module cache into `to`.
fn copy_stages(source: &Path, to: &Path) -> Result<(), BuildError> {
    let kwok_dir = go_output(
        &source.join("kwok"),
        &["list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok"],
    )?;
    let io_err = |path: &Path| {
        let path = path.display().to_string();
        move |e| BuildError::Io(path, e)
    };
    fs::create_dir_all(to).map_err(io_err(to))?;
    for file in KWOK_STAGES
        .iter()
        .map(|p| Path::new(kwok_dir.trim()).join(p))
    {
        let target = to.join(file_name(&file.display().to_string()));
        fs::copy(&file, &target).map_err(io_err(&file))?;
    }
    Ok(())
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn arg(path: &Path) -> String {
    path.display().to_string()
}

/// `v1.36.3` -> (1, 36, 3).
fn parse_version(version: &str) -> Result<(u32, u32, u32), BuildError> {
    let bad = || BuildError::Version(version.to_string());
    let rest = version.strip_prefix('v').ok_or_else(bad)?;
    let parts: Vec<u32> = rest
        .split('.')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    match parts[..] {
        [1, minor, patch] => Ok((1, minor, patch)),
        _ => Err(bad()),
    }
}

/// The linker flags that make `/version` report the release instead of v0.0.0-master.
fn version_ldflags(version: &str, major: u32, minor: u32) -> String {
    let mut flags = String::from("-s -w");
    for package in [
        "k8s.io/component-base/version",
        "k8s.io/client-go/pkg/version",
    ] {
        flags.push_str(&format!(
            " -X {package}.gitVersion={version} -X {package}.gitMajor={major} -X {package}.gitMinor={minor} -X {package}.gitTreeState=clean"
        ));
    }
    flags
}

/// The Kubernetes and etcd modules to build `version` from: the committed ones for the default
/// release, else modules generated from the release's own go.mod in `out`.
fn modules(source: &Path, out: &Path, version: &str) -> Result<(PathBuf, PathBuf), BuildError> {
    let committed = (source.join("kubernetes"), source.join("etcd"));
    let go_mod = read(&committed.0.join("go.mod"))?;
    if gomod::required_version(&go_mod, "k8s.io/kubernetes") == Some(version) {
        return Ok(committed);
    }
    let (_, minor, patch) = parse_version(version)?;
    let release = gomod::read_release(&release_go_mod(out, version)?);
    let kubernetes = generated_module(
        &committed.0,
        &out.join("module"),
        &gomod::kubernetes_go_mod(&release, version, minor, patch),
    )?;
    let etcd_go_mod = read(&committed.1.join("go.mod"))?;
    let etcd = match release.etcd.as_deref() {
        Some(pinned)
            if gomod::required_version(&etcd_go_mod, gomod::ETCD_SERVER) != Some(pinned) =>
        {
            generated_module(
                &committed.1,
                &out.join("etcd-module"),
                &gomod::etcd_go_mod(&etcd_go_mod, pinned),
            )?
        }
        _ => committed.1,
    };
    Ok((kubernetes, etcd))
}

/// The text of `k8s.io/kubernetes@version`'s go.mod, from the module proxy (through Go's
/// module cache: `go list -m` fetches the go.mod alone, not the module).
fn release_go_mod(out: &Path, version: &str) -> Result<String, BuildError> {
    let module = format!("k8s.io/kubernetes@{version}");
    let listed = go_output(out, &["list", "-m", "-json", &module])?;
    let path = serde_json::from_str::<serde_json::Value>(&listed)
        .ok()
        .and_then(|info| info["GoMod"].as_str().map(PathBuf::from))
        .ok_or_else(|| {
            BuildError::Io(
                format!("`go list -m -json {module}` named no go.mod"),
                io::Error::other(listed.clone()),
            )
        })?;
    read(&path)
}

/// `from`'s Go sources in `dir` with `go_mod` as their go.mod, tidied. Kept as it is when the
/// same go.mod was generated and tidied there before, so only a change runs `go mod tidy`.
fn generated_module(from: &Path, dir: &Path, go_mod: &str) -> Result<PathBuf, BuildError> {
    let generated = dir.join("go.mod.generated");
    if read(&generated).is_ok_and(|text| text == go_mod) && dir.join("go.sum").is_file() {
        return Ok(dir.to_path_buf());
    }
    let io_err = |e| BuildError::Io(dir.display().to_string(), e);
    let _ = fs::remove_dir_all(dir);
    copy_tree(from, dir).map_err(io_err)?;
    fs::remove_file(dir.join("go.sum")).map_err(io_err)?;
    fs::write(dir.join("go.mod"), go_mod).map_err(io_err)?;
    go(dir, &["mod", "tidy"])?;
    fs::write(&generated, go_mod).map_err(io_err)?;
    Ok(dir.to_path_buf())
}

fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, BuildError> {
    fs::read_to_string(path).map_err(|e| BuildError::Io(path.display().to_string(), e))
}

/// A digest of everything the build reads: each module's go.mod, go.sum and Go sources (paths
/// relative to the module, so a checkout elsewhere, a worktree or CI's clone, finds the same
/// stamp for the same sources), the version and the linker flags.
fn stamp(modules: &[(&str, &Path)], version: &str, ldflags: &str) -> Result<String, BuildError> {
    let mut hash = Sha256::new();
    hash.update(version.as_bytes());
    hash.update(ldflags.as_bytes());
    for (name, dir) in modules {
        let mut files = Vec::new();
        collect_inputs(dir, &mut files)
            .map_err(|e| BuildError::Io(dir.display().to_string(), e))?;
        files.sort();
        for file in files {
            let relative = file.strip_prefix(dir).unwrap_or(&file);
            hash.update(name.as_bytes());
            hash.update(relative.display().to_string().as_bytes());
            hash.update(read(&file)?.as_bytes());
        }
    }
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn collect_inputs(dir: &Path, files: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_inputs(&path, files)?;
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n == "go.mod" || n == "go.sum" || n.ends_with(".go"))
        {
            files.push(path);
        }
    }
    Ok(())
}

/// Runs `go ARGS` in `dir`, with cgo off as upstream builds these binaries.
fn go(dir: &Path, args: &[&str]) -> Result<(), BuildError> {
    go_output(dir, args).map(drop)
}

/// Like [`go`], returning what it printed on stdout.
fn go_output(dir: &Path, args: &[&str]) -> Result<String, BuildError> {
    let output = Command::new(go_command())
        .args(args)
        .current_dir(dir)
        .env("CGO_ENABLED", "0")
        .output()
        .map_err(BuildError::NoGo)?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    if let Some(refused) = gomod::refusal(&text) {
        return Err(BuildError::Refused {
            module: refused.module,
            version: refused.version,
            answer: refused.answer,
            what: format!("go {}", args.join(" ")),
            dir: dir.to_path_buf(),
        });
    }
    Err(BuildError::Go {
        what: format!("go {}", args.join(" ")),
        dir: dir.to_path_buf(),
        code: output.status.code(),
        output: text,
    })
}

/// An exclusive `flock` on a file, released on drop (and by the kernel if the process dies).
struct BuildLock(File);

impl BuildLock {
    fn acquire(path: &Path) -> Result<Self, BuildError> {
        let file = File::create(path).map_err(|e| BuildError::Io(path.display().to_string(), e))?;
        // SAFETY: flock on a file descriptor we own; it blocks until the lock is free.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(BuildError::Io(
                path.display().to_string(),
                io::Error::last_os_error(),
            ));
        }
        Ok(Self(file))
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        // SAFETY: unlocking the descriptor we locked.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_set_both_version_packages() {
        assert_eq!(parse_version("v1.36.3").unwrap(), (1, 36, 3));
        assert!(parse_version("1.36.3").is_err());
        assert!(parse_version("v1.36").is_err());
        assert!(parse_version("v2.0.0").is_err());
        let flags = version_ldflags("v1.35.4", 1, 35);
        assert!(flags.contains("k8s.io/component-base/version.gitVersion=v1.35.4"));
        assert!(flags.contains("k8s.io/client-go/pkg/version.gitMinor=35"));
    }

    #[test]
    fn the_committed_module_is_at_the_default_version() {
        let go_mod = fs::read_to_string(source_dir().join("kubernetes/go.mod")).unwrap();
        assert_eq!(
            gomod::required_version(&go_mod, "k8s.io/kubernetes"),
            Some(KUBERNETES_VERSION)
        );
    }
}
