//! Shared test harness: a kubectl runner bound to one sim (its own kubeconfig, discovery cache
//! and HOME in a temp dir, so parallel tests and repeated runs never share state), and a small
//! HTTP client for requests kubectl does not make.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kube_sim::Sim;
use serde_json::Value;

/// How long one kubectl invocation may take before the test fails.
const KUBECTL_TIMEOUT: Duration = Duration::from_secs(90);

/// What a kubectl run printed.
#[derive(Debug)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub success: bool,
}

impl Output {
    /// Panics with both streams unless kubectl exited 0.
    pub fn ok(self) -> Self {
        assert!(
            self.success,
            "kubectl failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Panics unless kubectl failed.
    pub fn failed(self) -> Self {
        assert!(
            !self.success,
            "kubectl unexpectedly succeeded\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// stdout parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
}

/// kubectl from PATH, or `None` (after saying why) when it is missing and `REQUIRE_KUBECTL` is
/// not set; with `REQUIRE_KUBECTL=1` a missing kubectl fails the test.
pub fn kubectl_binary() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("kubectl"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let required = std::env::var("REQUIRE_KUBECTL").is_ok_and(|v| v == "1");
        assert!(!required, "kubectl is not on PATH and REQUIRE_KUBECTL=1");
        eprintln!(
            "skipping: kubectl is not on PATH (set REQUIRE_KUBECTL=1 to make this a failure)"
        );
    }
    found
}

/// A kubectl bound to one sim.
pub struct Kubectl {
    binary: PathBuf,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Kubectl {
    /// A kubectl for `sim`, or `None` when the test should be skipped.
    pub fn for_sim(sim: &Sim) -> Option<Self> {
        let binary = kubectl_binary()?;
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig).expect("write kubeconfig");
        Some(Self {
            binary,
            dir,
            kubeconfig,
        })
    }

    /// A file in this kubectl's temp dir.
    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write file");
        path
    }

    /// Runs `kubectl ARGS` with this sim's kubeconfig and a private cache and HOME.
    pub fn run(&self, args: &[&str]) -> Output {
        let cache = self.dir.path().join("cache");
        let mut child = Command::new(&self.binary)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&cache)
            .args(args)
            .env("HOME", self.dir.path())
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kubectl");
        let started = Instant::now();
        loop {
            if child.try_wait().expect("wait for kubectl").is_some() {
                break;
            }
            if started.elapsed() > KUBECTL_TIMEOUT {
                let _ = child.kill();
                panic!("kubectl {args:?} did not finish in {KUBECTL_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().expect("collect kubectl output");
        Output {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            success: out.status.success(),
        }
    }

    /// The path of this kubectl's kubeconfig.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }
}

/// A raw HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// The status line and headers, as received.
    pub head: String,
    pub body: String,
}

impl HttpResponse {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request to the sim (`Connection: close`), reading the whole response; chunked
/// bodies are decoded.
pub fn http(
    sim: &Sim,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> HttpResponse {
    http_url(&sim.url(), method, path, content_type, body)
}

/// [`http`] against a server URL (for threads that do not hold the sim).
pub fn http_url(
    url: &str,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> HttpResponse {
    let addr = url.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(ct) = content_type {
        request.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> HttpResponse {
    let text = String::from_utf8_lossy(raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return HttpResponse {
            status: 0,
            head: String::new(),
            body: String::new(),
        };
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    HttpResponse {
        status,
        head: head.to_string(),
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            out.push_str(&rest[..n.min(rest.len())]);
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

/// The watch events (one JSON object per line) of a finished watch response.
pub fn events(body: &str) -> Vec<Value> {
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad event ({e}): {l}")))
        .collect()
}
