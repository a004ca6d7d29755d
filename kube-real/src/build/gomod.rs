//! The go.mod files a release needs, generated from that release's own `k8s.io/kubernetes`
//! go.mod (as the Go module proxy serves it), and the reading of the Go command's refusals.
//!
//! `k8s.io/kubernetes` requires its staging modules (`k8s.io/api`, `k8s.io/client-go`, ...) at
//! `v0.0.0` and resolves them with `./staging/src/...` replaces that a consumer does not
//! inherit. Which staging modules exist moves between releases (`k8s.io/streaming` and
//! `k8s.io/cri-streaming` appear in 1.36), so the consumer's replaces are those of the release:
//! each staging module it requires, at the published `v0.MINOR.PATCH`. The release's `go` and
//! `godebug` lines come along, so the binaries keep the defaults upstream builds them with.
//! etcd is the release's own requirement on `go.etcd.io/etcd/server/v3`: the etcd Kubernetes
//! pins for that release (kubeadm's default and `hack/lib/etcd.sh` follow the same pin).

/// The module path of our Kubernetes module (`realkube/kubernetes`).
pub const KUBERNETES_MODULE: &str = "github.com/k8s-rollout-mcp/realkube/kubernetes";
/// The etcd server module; its version comes from the release's go.mod.
pub const ETCD_SERVER: &str = "go.etcd.io/etcd/server/v3";
/// kubectl, built from the release like the control plane (a `tool` of our module, so
/// `go mod tidy` keeps its dependencies).
pub const KUBECTL_PACKAGE: &str = "k8s.io/kubernetes/cmd/kubectl";

/// What kube-real reads of a release's go.mod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The `go` line's version (`1.25.0`).
    pub go: String,
    /// The `godebug` line's value (`default=go1.25`), if any.
    pub godebug: Option<String>,
    /// Staging modules the release requires, in go.mod order.
    pub staging: Vec<String>,
    /// The etcd server version it pins.
    pub etcd: Option<String>,
}

/// One `path version` or `path => target` entry of a go.mod, with the directive it is under.
fn entries(go_mod: &str) -> Vec<(&str, &str)> {
    let mut block = None;
    let mut out = Vec::new();
    for line in go_mod.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if line == ")" {
            block = None;
            continue;
        }
        if let Some(directive) = line.strip_suffix('(').map(str::trim) {
            block = Some(directive);
            continue;
        }
        match block {
            Some(directive) => out.push((directive, line)),
            None => {
                if let Some((directive, rest)) = line.split_once(char::is_whitespace) {
                    out.push((directive, rest.trim()));
                }
            }
        }
    }
    out
}

/// Reads the parts of a `k8s.io/kubernetes` go.mod that kube-real uses.
pub fn read_release(go_mod: &str) -> Release {
    let entries = entries(go_mod);
    let single = |name: &str| {
        entries
            .iter()
            .find(|(directive, _)| *directive == name)
            .map(|(_, value)| value.to_string())
    };
    let required: Vec<(&str, &str)> = entries
        .iter()
        .filter(|(directive, _)| *directive == "require")
        .filter_map(|(_, entry)| entry.split_once(char::is_whitespace))
        .map(|(path, version)| (path, version.trim()))
        .collect();
    let staged: Vec<&str> = entries
        .iter()
        .filter(|(directive, _)| *directive == "replace")
        .filter_map(|(_, entry)| entry.split_once("=>"))
        .filter(|(_, target)| target.trim().starts_with("./staging/"))
        .map(|(path, _)| path.trim())
        .collect();
    Release {
        go: single("go").unwrap_or_default(),
        godebug: single("godebug"),
        staging: required
            .iter()
            .filter(|(path, _)| staged.contains(path))
            .map(|(path, _)| path.to_string())
            .collect(),
        etcd: required
            .iter()
            .find(|(path, _)| *path == ETCD_SERVER)
            .map(|(_, version)| version.to_string()),
    }
}

/// Our Kubernetes module's go.mod for `version` (`v1.35.4`), before `go mod tidy`: the release,
/// `k8s.io/component-base` (our mains import it) at the staging version, kubectl as a tool, and
/// every staging module the release requires replaced by its published `v0.MINOR.PATCH`.
pub fn kubernetes_go_mod(release: &Release, version: &str, minor: u32, patch: u32) -> String {
    let staging = format!("v0.{minor}.{patch}");
    let mut text = format!("module {KUBERNETES_MODULE}\n\ngo {}\n", release.go);
    if let Some(godebug) = &release.godebug {
        text.push_str(&format!("\ngodebug {godebug}\n"));
    }
    text.push_str(&format!("\ntool {KUBECTL_PACKAGE}\n"));
    text.push_str(&format!(
        "\nrequire (\n\tk8s.io/component-base {staging}\n\tk8s.io/kubernetes {version}\n)\n"
    ));
    for module in &release.staging {
        text.push_str(&format!("\nreplace {module} => {module} {staging}\n"));
    }
    text
}

/// Our etcd module's go.mod at `etcd` (a `go.etcd.io/etcd/server/v3` version), before
/// `go mod tidy`, keeping the module and `go` lines of the committed one.
pub fn etcd_go_mod(committed: &str, etcd: &str) -> String {
    let mut text = String::new();
    for (directive, value) in entries(committed) {
        if directive == "module" || directive == "go" {
            text.push_str(&format!("{directive} {value}\n\n"));
        }
    }
    text.push_str(&format!("require {ETCD_SERVER} {etcd}\n"));
    text
}

/// The version of `module` a go.mod requires, if it does.
pub fn required_version<'a>(go_mod: &'a str, module: &str) -> Option<&'a str> {
    entries(go_mod)
        .into_iter()
        .filter(|(directive, _)| *directive == "require")
        .filter_map(|(_, entry)| entry.split_once(char::is_whitespace))
        .find(|(path, _)| *path == module)
        .map(|(_, version)| version.trim())
}

/// A module version the Go command could not fetch, read from its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub module: String,
    pub version: String,
    /// The proxy's answer (`403 Forbidden: This module version is not available.`).
    pub answer: String,
}

/// The first module version the Go command says it could not read from the proxy: its lines
/// `PATH@VERSION: reading URL: ANSWER` (or `... (replaced by PATH@VERSION): reading ...`),
/// followed by the proxy's `server response:` line when there is one.
pub fn refusal(output: &str) -> Option<Refusal> {
    let lines: Vec<&str> = output.lines().collect();
    lines.iter().enumerate().find_map(|(index, line)| {
        let (before, after) = line.split_once(": reading ")?;
        let fetched = match before.rsplit_once("(replaced by ") {
            Some((_, replacement)) => replacement.trim_end_matches(')'),
            None => before.rsplit(char::is_whitespace).next()?,
        };
        let (module, version) = fetched.split_once('@')?;
        let (_, status) = after.split_once(": ")?;
        let mut answer = status.trim().to_string();
        if let Some(response) = lines
            .get(index + 1)
            .and_then(|next| next.trim().strip_prefix("server response:"))
        {
            answer.push_str(&format!(": {}", response.trim()));
        }
        Some(Refusal {
            module: module.to_string(),
            version: version.to_string(),
            answer,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_35: &str = include_str!("fixtures/kubernetes-v1.35.4.go.mod");
    const V1_36: &str = include_str!("fixtures/kubernetes-v1.36.3.go.mod");

    fn replaces(go_mod: &str) -> Vec<String> {
        go_mod
            .lines()
            .filter_map(|line| line.strip_prefix("replace "))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn a_release_without_streaming_replaces_no_streaming() {
        let release = read_release(V1_35);
        assert_eq!(release.go, "1.25.0");
        assert_eq!(release.godebug.as_deref(), Some("default=go1.25"));
        assert_eq!(release.etcd.as_deref(), Some("v3.6.5"));
        let go_mod = kubernetes_go_mod(&release, "v1.35.4", 35, 4);
        let replaces = replaces(&go_mod);
        assert_eq!(replaces.len(), 29, "{go_mod}");
        assert!(replaces.contains(&"k8s.io/api => k8s.io/api v0.35.4".to_string()));
        assert!(
            !go_mod.contains("streaming"),
            "1.35 has neither k8s.io/streaming nor k8s.io/cri-streaming: {go_mod}"
        );
        assert!(
            !go_mod.contains("sample-controller") && !go_mod.contains("klog"),
            "only required staging modules are replaced: {go_mod}"
        );
        assert!(go_mod.contains("\ngo 1.25.0\n") && go_mod.contains("\ngodebug default=go1.25\n"));
        assert!(go_mod.contains("\tk8s.io/kubernetes v1.35.4\n"));
        assert!(go_mod.contains("\tk8s.io/component-base v0.35.4\n"));
        assert!(go_mod.contains("\ntool k8s.io/kubernetes/cmd/kubectl\n"));
    }

    #[test]
    fn a_release_with_streaming_replaces_it_at_its_own_version() {
        let release = read_release(V1_36);
        assert_eq!(release.etcd.as_deref(), Some("v3.6.8"));
        let go_mod = kubernetes_go_mod(&release, "v1.36.3", 36, 3);
        let replaces = replaces(&go_mod);
        assert_eq!(replaces.len(), 31, "{go_mod}");
        for module in ["k8s.io/streaming", "k8s.io/cri-streaming"] {
            assert!(replaces.contains(&format!("{module} => {module} v0.36.3")));
        }
        assert!(go_mod.contains("\ngo 1.26.0\n") && go_mod.contains("\ngodebug default=go1.26\n"));
    }

    /// The committed module is this generation's output for the default release, tidied.
    #[test]
    fn the_committed_module_is_generated_from_the_default_release() {
        let source = super::super::source_dir();
        let committed = std::fs::read_to_string(source.join("kubernetes/go.mod")).unwrap();
        let generated = kubernetes_go_mod(&read_release(V1_36), "v1.36.3", 36, 3);
        assert_eq!(super::super::KUBERNETES_VERSION, "v1.36.3");
        assert_eq!(replaces(&committed), replaces(&generated));
        for line in generated.lines().filter(|line| {
            ["go ", "godebug ", "tool ", "module "]
                .iter()
                .any(|directive| line.starts_with(directive))
        }) {
            assert!(committed.lines().any(|l| l == line), "{line}");
        }
        let etcd = std::fs::read_to_string(source.join("etcd/go.mod")).unwrap();
        assert_eq!(required_version(&etcd, ETCD_SERVER), Some("v3.6.8"));
    }

    #[test]
    fn the_etcd_module_keeps_its_name_and_go_line() {
        let committed = "module github.com/k8s-rollout-mcp/realkube/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 v3.6.8\n\nrequire (\n\tgithub.com/x/y v1.0.0 // indirect\n)\n";
        assert_eq!(required_version(committed, ETCD_SERVER), Some("v3.6.8"));
        assert_eq!(
            etcd_go_mod(committed, "v3.7.0"),
            "module github.com/k8s-rollout-mcp/realkube/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 v3.7.0\n"
        );
    }

    #[test]
    fn a_refused_module_is_named_with_the_proxys_answer() {
        let tidy = "go: finding module for package github.com/moby/moby/client\n\
            go: github.com/k8s-rollout-mcp/realkube/kubernetes/cmd/kube-apiserver imports\n\
            \tgithub.com/moby/moby/client: k8s.io/streaming@v0.36.3 (replaced by k8s.io/streaming@v0.35.4): reading https://proxy.golang.org/k8s.io/streaming/@v/v0.35.4.mod: 403 Forbidden\n\
            \tserver response: This module version is not available.\n";
        assert_eq!(
            refusal(tidy),
            Some(Refusal {
                module: "k8s.io/streaming".into(),
                version: "v0.35.4".into(),
                answer: "403 Forbidden: This module version is not available.".into(),
            })
        );
        let list = "go: k8s.io/kubernetes@v1.99.0: reading https://proxy.golang.org/k8s.io/kubernetes/@v/v1.99.0.info: 403 Forbidden\n\
            \tserver response: This module version is not available.";
        let refused = refusal(list).unwrap();
        assert_eq!(
            (refused.module.as_str(), refused.version.as_str()),
            ("k8s.io/kubernetes", "v1.99.0")
        );
        assert_eq!(refusal("go: downloading k8s.io/api v0.35.4\n"), None);
    }
}
