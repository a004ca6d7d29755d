//! The distribution files say what the crate is: `packaging/server.json` (the MCP Registry
//! entry) is valid against the registry's schema kept beside it, and it and
//! `packaging/manifest.json` (the Claude Desktop extension's) carry the crate's version. With
//! `DIST_DIR` set (CI, after `scripts/dist.sh`), the `server.json` made there is checked too:
//! valid, and naming the SHA-256 of the `.mcpb` beside it, as `SHA256SUMS` does.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn read_json(path: &Path) -> Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn packaging(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging")
        .join(file)
}

/// Fails naming every schema violation of `server`.
fn assert_valid_server_json(server: &Value) {
    let schema = read_json(&packaging("server.schema.json"));
    let validator = jsonschema::validator_for(&schema).expect("the registry's schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(server)
        .map(|error| format!("{}: {error}", error.instance_path()))
        .collect();
    assert!(errors.is_empty(), "server.json: {errors:#?}");
}

#[test]
fn the_registry_entry_is_valid_and_names_this_version() {
    let server = read_json(&packaging("server.json"));
    assert_valid_server_json(&server);
    assert_eq!(server["version"], VERSION);
    let packages = server["packages"].as_array().expect("packages");
    let types: Vec<&str> = packages
        .iter()
        .map(|package| package["registryType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["cargo", "mcpb"]);
    for package in packages {
        assert_eq!(package["version"], VERSION, "{package}");
    }
    let mcpb = packages[1]["identifier"].as_str().unwrap();
    assert!(
        mcpb.ends_with(&format!("/v{VERSION}/k8s-rollout-mcp-{VERSION}.mcpb")),
        "{mcpb}"
    );
}

#[test]
fn the_extension_manifest_names_this_version_and_the_readme_its_registry_name() {
    let manifest = read_json(&packaging("manifest.json"));
    assert_eq!(manifest["version"], VERSION);
    assert_eq!(manifest["server"]["type"], "binary");
    let server = read_json(&packaging("server.json"));
    let readme = include_str!("../README.md");
    let line = format!("mcp-name: {}", server["name"].as_str().unwrap());
    assert!(readme.contains(&line), "the README shows {line}");
}

#[test]
fn the_built_registry_entry_names_the_built_extension() {
    let Some(dist) = std::env::var_os("DIST_DIR").map(PathBuf::from) else {
        eprintln!("DIST_DIR is not set: scripts/dist.sh's output is checked in CI");
        return;
    };
    let server = read_json(&dist.join("server.json"));
    assert_valid_server_json(&server);
    let bundle = dist.join(format!("k8s-rollout-mcp-{VERSION}.mcpb"));
    let digest = Sha256::digest(std::fs::read(&bundle).unwrap());
    let sha: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    let mcpb = server["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|package| package["registryType"] == "mcpb")
        .expect("an mcpb package");
    assert_eq!(mcpb["fileSha256"], sha.as_str());
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    let line = format!("{sha}  k8s-rollout-mcp-{VERSION}.mcpb");
    assert!(sums.lines().any(|l| l == line), "SHA256SUMS has {line}");
}
