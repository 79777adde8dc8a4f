//! git's trust and client-certificate settings turned into the HTTP
//! client's TLS configuration: PEM files read with rustls' PEM parser (no
//! OpenSSL), a CA bundle added to the OS trust store, verification off only
//! when git's setting says so, and an encrypted key refused plainly
//! (docs/configuration.md, "Network settings git already has").

use super::Settings;
use std::path::Path;
use std::sync::Arc;
use ureq::tls::{parse_pem, Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

/// A network setting that cannot be followed; the message says which one
/// and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupError {
    /// About the proxy.
    Proxy(String),
    /// About trust or the client certificate.
    Tls(String),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupError::Proxy(m) | SetupError::Tls(m) => f.write_str(m),
        }
    }
}

/// The TLS configuration `settings` ask for.
pub(super) fn config(settings: &Settings) -> Result<TlsConfig, SetupError> {
    let mut builder = TlsConfig::builder().disable_verification(settings.no_verify.is_some());
    builder = builder.root_certs(roots(settings)?);
    if let Some(cert) = &settings.cert {
        builder = builder.client_cert(Some(client_cert(settings, &cert.value, &cert.from)?));
    }
    Ok(builder.build())
}

/// The OS trust store, plus git's CA file and directory when set (what
/// a company's own authority needs). Without them, the platform verifier
/// as before: no file is read.
fn roots(settings: &Settings) -> Result<RootCerts, SetupError> {
    if settings.ca_file.is_none() && settings.ca_path.is_none() {
        return Ok(RootCerts::PlatformVerifier);
    }
    let mut all: Vec<Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    if let Some(file) = &settings.ca_file {
        let found = certificates(&read(&file.value, &file.from)?);
        if found.is_empty() {
            return Err(SetupError::Tls(format!(
                "{} ({}) holds no PEM certificate: it must hold the company's CA \
                 certificate(s) as -----BEGIN CERTIFICATE----- blocks",
                file.from,
                file.value.display()
            )));
        }
        all.extend(found);
    }
    if let Some(dir) = &settings.ca_path {
        let entries = std::fs::read_dir(&dir.value).map_err(|e| {
            SetupError::Tls(format!(
                "cannot read {} ({}): {e}",
                dir.from,
                dir.value.display()
            ))
        })?;
        for entry in entries.flatten() {
            // Every readable file: OpenSSL's hashed names (`1a2b3c4d.0`)
            // have no extension to go by; non-PEM files add nothing.
            if let Ok(bytes) = std::fs::read(entry.path()) {
                all.extend(certificates(&bytes));
            }
        }
    }
    Ok(RootCerts::Specific(Arc::new(all)))
}

/// The certificate and its key: from `http.sslKey`, else from the
/// certificate file itself (as curl does). An encrypted key is refused:
/// the helper runs under git, with no safe place to ask for a passphrase.
fn client_cert(settings: &Settings, path: &Path, from: &str) -> Result<ClientCert, SetupError> {
    let cert_pem = read(path, from)?;
    let chain = certificates(&cert_pem);
    if chain.is_empty() {
        return Err(SetupError::Tls(format!(
            "{from} ({}) holds no PEM certificate",
            path.display()
        )));
    }
    let (key_pem, key_from, key_path) = match &settings.key {
        Some(k) => (read(&k.value, &k.from)?, k.from.as_str(), k.value.as_path()),
        None => (cert_pem.clone(), from, path),
    };
    let encrypted = String::from_utf8_lossy(&key_pem).contains("ENCRYPTED");
    if let Some(setting) = settings
        .key_encrypted
        .as_deref()
        .or(encrypted.then_some(key_from))
    {
        return Err(SetupError::Tls(format!(
            "the client key ({}) is encrypted ({setting}), and the helper cannot ask for its \
             passphrase under git: give http.sslKey a key without a passphrase, kept readable \
             only by you (`openssl pkey -in KEY -out KEY.plain`, then `chmod 600`)",
            key_path.display()
        )));
    }
    let key = parse_pem(&key_pem)
        .filter_map(Result::ok)
        .find_map(|item| match item {
            PemItem::PrivateKey(k) => Some(k),
            _ => None,
        })
        .ok_or_else(|| {
            SetupError::Tls(format!(
                "{key_from} ({}) holds no PEM private key (PKCS#8, RSA or EC)",
                key_path.display()
            ))
        })?;
    Ok(ClientCert::new_with_certs(
        &chain,
        PrivateKey::to_owned(&key),
    ))
}

/// The certificates in a PEM text (other blocks skipped).
fn certificates(pem: &[u8]) -> Vec<Certificate<'static>> {
    parse_pem(pem)
        .filter_map(Result::ok)
        .filter_map(|item| match item {
            PemItem::Certificate(c) => Some(c),
            _ => None,
        })
        .collect()
}

fn read(path: &Path, from: &str) -> Result<Vec<u8>, SetupError> {
    std::fs::read(path)
        .map_err(|e| SetupError::Tls(format!("cannot read {from} ({}): {e}", path.display())))
}
