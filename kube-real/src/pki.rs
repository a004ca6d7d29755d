//! The cluster's secrets, made fresh for every start: a CA and a serving certificate for the API
//! server (SANs 127.0.0.1 and localhost), the service-account signing key, and random bearer
//! tokens for the static token file (one per identity, so the API server's audit log tells the
//! product's requests from the harness's and the controllers').

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};

/// Files written into the cluster's directory.
#[derive(Debug, Clone)]
pub struct Pki {
    /// The CA every client trusts (PEM).
    pub ca_pem: String,
    pub ca_file: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub service_account_key: PathBuf,
    pub service_account_public_key: PathBuf,
}

/// Writes a CA, a serving certificate and a service-account key into `dir`.
pub fn generate(dir: &Path) -> io::Result<Pki> {
    let rc = |e: rcgen::Error| io::Error::other(e.to_string());

    let ca_key = KeyPair::generate().map_err(rc)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(rc)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kube-real-ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).map_err(rc)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let serving_key = KeyPair::generate().map_err(rc)?;
    let mut serving = CertificateParams::new(vec!["localhost".to_string()]).map_err(rc)?;
    serving
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    serving
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    let serving_cert = serving.signed_by(&serving_key, &issuer).map_err(rc)?;

    let service_account = KeyPair::generate().map_err(rc)?;

    let pki = Pki {
        ca_pem: ca_cert.pem(),
        ca_file: dir.join("ca.crt"),
        serving_cert: dir.join("apiserver.crt"),
        serving_key: dir.join("apiserver.key"),
        service_account_key: dir.join("sa.key"),
        service_account_public_key: dir.join("sa.pub"),
    };
    fs::write(&pki.ca_file, &pki.ca_pem)?;
    fs::write(&pki.serving_cert, serving_cert.pem())?;
    write_secret(&pki.serving_key, &serving_key.serialize_pem())?;
    write_secret(&pki.service_account_key, &service_account.serialize_pem())?;
    fs::write(
        &pki.service_account_public_key,
        service_account.public_key_pem(),
    )?;
    Ok(pki)
}

/// A random bearer token (32 hex digits).
pub fn token() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a file readable by its owner only.
pub fn write_secret(path: &Path, contents: &str) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    io::Write::write_all(&mut file, contents.as_bytes())
}
