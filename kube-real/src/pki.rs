//! The cluster's secrets, made fresh for every start: a CA and a serving certificate for the API
//! server (SANs 127.0.0.1 and localhost), a second CA the API server trusts for client
//! certificates (`--client-ca-file`; [`client_certificate`] issues one for any user and groups),
//! the service-account signing key, and random bearer tokens for the static token file (one per
//! identity, so the API server's audit log tells the product's requests from the harness's and
//! the controllers').

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SanType,
};

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
    /// The CA the API server trusts for client certificates (`--client-ca-file`).
    pub client_ca_file: PathBuf,
}

/// The client CA's key, beside its certificate in the cluster's directory.
const CLIENT_CA_KEY: &str = "client-ca.key";
const CLIENT_CA_NAME: &str = "kube-real-client-ca";

/// A client certificate and its private key (PEM).
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    pub cert_pem: String,
    pub key_pem: String,
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

    let client_ca_key = KeyPair::generate().map_err(rc)?;
    let client_ca = client_ca_params()
        .map_err(rc)?
        .self_signed(&client_ca_key)
        .map_err(rc)?;

    let pki = Pki {
        ca_pem: ca_cert.pem(),
        ca_file: dir.join("ca.crt"),
        serving_cert: dir.join("apiserver.crt"),
        serving_key: dir.join("apiserver.key"),
        service_account_key: dir.join("sa.key"),
        service_account_public_key: dir.join("sa.pub"),
        client_ca_file: dir.join("client-ca.crt"),
    };
    fs::write(&pki.ca_file, &pki.ca_pem)?;
    fs::write(&pki.serving_cert, serving_cert.pem())?;
    write_secret(&pki.serving_key, &serving_key.serialize_pem())?;
    write_secret(&pki.service_account_key, &service_account.serialize_pem())?;
    fs::write(
        &pki.service_account_public_key,
        service_account.public_key_pem(),
    )?;
    fs::write(&pki.client_ca_file, client_ca.pem())?;
    write_secret(&dir.join(CLIENT_CA_KEY), &client_ca_key.serialize_pem())?;
    Ok(pki)
}

/// The client CA's parameters; issuing needs only its name and key, so they are made again
/// from these instead of parsing the certificate.
fn client_ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, CLIENT_CA_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    Ok(params)
}

/// A client certificate for `user` in `group` (the API server reads the CN as the user name and
/// the O as a group; rcgen writes one O), signed by the client CA of the cluster in `dir`. Its key is `key_pem`
/// (PKCS#8: RSA, ECDSA or Ed25519) or, without one, a new P-256 key.
pub fn client_certificate(
    dir: &Path,
    user: &str,
    group: Option<&str>,
    key_pem: Option<&str>,
) -> io::Result<ClientCertificate> {
    let rc = |e: rcgen::Error| io::Error::other(e.to_string());
    let ca_key = KeyPair::from_pem(&fs::read_to_string(dir.join(CLIENT_CA_KEY))?).map_err(rc)?;
    let issuer = Issuer::new(client_ca_params().map_err(rc)?, ca_key);
    let key = match key_pem {
        Some(pem) => KeyPair::from_pem(pem).map_err(rc)?,
        None => KeyPair::generate().map_err(rc)?,
    };
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rc)?;
    params.distinguished_name.push(DnType::CommonName, user);
    if let Some(group) = group {
        params
            .distinguished_name
            .push(DnType::OrganizationName, group);
    }
    params
        .extended_key_usages
        .push(ExtendedKeyUsagePurpose::ClientAuth);
    let cert = params.signed_by(&key, &issuer).map_err(rc)?;
    Ok(ClientCertificate {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
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
