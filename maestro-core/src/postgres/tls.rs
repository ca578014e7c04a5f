//! TLS to PostgreSQL (rustls, with the `ring` provider): what `sslmode` and a root
//! certificate ask for, and the connector that does it.
//!
//! As libpq: `disable` speaks plain TCP; `prefer` (the default) encrypts when the server
//! offers TLS and falls back to plain TCP when it does not; `require` always encrypts;
//! `verify-ca` also checks that the server's certificate chains to the root certificate;
//! `verify-full` also checks that it names the host. A root certificate given
//! (`sslrootcert=` in the URL, or `MAESTRO_PG_SSLROOTCERT`) makes `prefer` and `require`
//! verify the chain too, as libpq does when its root file exists: with no root certificate
//! there is nothing to verify against, and the connection is encrypted but not
//! authenticated.

use crate::error::{Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// What the store asks of TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    pub fn parse(mode: &str) -> Result<Mode> {
        Ok(match mode.trim().to_ascii_lowercase().as_str() {
            "disable" => Mode::Disable,
            "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            other => {
                return Err(Error::invalid_argument(format!(
                    "'{other}' is not an sslmode this store knows"
                ))
                .with_details(serde_json::json!({ "field": "sslmode", "value": other }))
                .with_suggestion(
                    "Use disable, prefer, require, verify-ca or verify-full, e.g. MAESTRO_PG_SSLMODE=require",
                ));
            }
        })
    }

    /// What tokio-postgres negotiates: the verify modes require TLS, and check more in the
    /// connector.
    pub fn negotiation(self) -> SslMode {
        match self {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        }
    }
}

/// How the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Not at all (no root certificate to check it against).
    None,
    /// It chains to the root certificate.
    Chain,
    /// It chains to the root certificate and names the host.
    ChainAndName,
}

fn check(mode: Mode, root_cert: bool) -> Result<Check> {
    Ok(match (mode, root_cert) {
        (Mode::VerifyFull, true) => Check::ChainAndName,
        (Mode::VerifyCa | Mode::VerifyFull, false) => {
            return Err(Error::invalid_argument(
                "sslmode=verify-ca and verify-full check the server's certificate, which needs a root certificate",
            )
            .with_details(serde_json::json!({ "field": "sslrootcert" }))
            .with_suggestion(
                "Name the CA's certificate file (PEM) with sslrootcert=/path/root.crt in the URL or MAESTRO_PG_SSLROOTCERT",
            ));
        }
        (_, true) => Check::Chain,
        (_, false) => Check::None,
    })
}

/// The connector for `mode`, checking the server against the certificates of `root_cert`
/// (a PEM file) when given. The file is read here, so a missing or unreadable one is
/// refused before any connection.
pub fn connector(mode: Mode, root_cert: Option<&Path>) -> Result<MakeRustlsConnect> {
    // ring rather than aws-lc-rs, which needs cmake to build; rustls deprecates ring's
    // provider only for its lack of post-quantum key exchange.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let check = check(mode, root_cert.is_some())?;
    let verifier: Arc<dyn ServerCertVerifier> = match root_cert {
        Some(path) if check != Check::None => {
            let roots = roots(path)?;
            let webpki =
                WebPkiServerVerifier::builder_with_provider(roots.into(), provider.clone())
                    .build()
                    .map_err(|e| {
                        Error::invalid_argument(format!(
                            "the root certificate {} cannot verify servers: {e}",
                            path.display()
                        ))
                    })?;
            if check == Check::ChainAndName {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        }
        _ => Arc::new(Unverified(provider.signature_verification_algorithms)),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("cannot set up TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// The certificates of the PEM file at `path`.
fn roots(path: &Path) -> Result<RootCertStore> {
    let refused = |why: String| {
        Error::invalid_argument(format!(
            "cannot use {} as the database's root certificate: {why}",
            path.display()
        ))
        .with_details(serde_json::json!({ "field": "sslrootcert", "path": path.display().to_string() }))
        .with_suggestion("Give the PEM file of the CA that signed the server's certificate (sslrootcert= or MAESTRO_PG_SSLROOTCERT)")
    };
    let pem = std::fs::read(path).map_err(|e| refused(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| refused(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(refused("it holds no certificate".into()));
    }
    Ok(roots)
}

/// Takes `sslmode` and `sslrootcert` out of the query of `url` (tokio-postgres knows neither
/// `verify-ca`, `verify-full` nor `sslrootcert`): the URL left, the mode, the root
/// certificate's path.
pub fn split_url(url: &str) -> (String, Option<String>, Option<PathBuf>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None, None);
    };
    let (mut mode, mut root) = (None, None);
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", v)) => mode = Some(decode(v)),
            Some(("sslrootcert", v)) => root = Some(PathBuf::from(decode(v))),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, mode, root)
}

/// `%XX` escapes decoded (a path may hold spaces); anything malformed kept as it is.
fn decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Checks the chain and every signature, not the name: `verify-ca`.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Encrypts without authenticating the server (no root certificate to check it against),
/// as libpq's `require`: the handshake's signatures are still checked.
#[derive(Debug)]
struct Unverified(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_leave_the_url_and_other_options_stay() {
        let (url, mode, root) = split_url(
            "postgres://u@h/db?application_name=x&sslmode=verify-full&sslrootcert=/etc/a%20b.crt",
        );
        assert_eq!(url, "postgres://u@h/db?application_name=x");
        assert_eq!(mode.as_deref(), Some("verify-full"));
        assert_eq!(root, Some(PathBuf::from("/etc/a b.crt")));
        let (url, mode, root) = split_url("postgres://u@h/db?sslmode=require");
        assert_eq!(
            (url.as_str(), mode.as_deref(), root),
            ("postgres://u@h/db", Some("require"), None)
        );
        assert_eq!(split_url("postgres://u@h/db").0, "postgres://u@h/db");
    }

    #[test]
    fn a_root_certificate_makes_every_mode_but_disable_verify() {
        assert_eq!(check(Mode::Prefer, false).unwrap(), Check::None);
        assert_eq!(check(Mode::Require, false).unwrap(), Check::None);
        assert_eq!(check(Mode::Require, true).unwrap(), Check::Chain);
        assert_eq!(check(Mode::VerifyCa, true).unwrap(), Check::Chain);
        assert_eq!(check(Mode::VerifyFull, true).unwrap(), Check::ChainAndName);
        let e = check(Mode::VerifyCa, false).unwrap_err();
        assert!(e.message().contains("root certificate"), "{}", e.message());
        assert_eq!(Mode::parse("Verify-CA").unwrap(), Mode::VerifyCa);
        assert_eq!(Mode::VerifyFull.negotiation(), SslMode::Require);
        assert!(Mode::parse("sometimes").is_err());
    }

    #[test]
    fn a_root_certificate_that_is_not_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("root.crt");
        std::fs::write(&file, "not a certificate").unwrap();
        let e = connector(Mode::Require, Some(&file)).err().unwrap();
        assert!(e.message().contains("root certificate"), "{}", e.message());
        let e = connector(Mode::Require, Some(&dir.path().join("none.crt")))
            .err()
            .unwrap();
        assert_eq!(e.code(), crate::Code::InvalidArgument);
        assert!(connector(Mode::Prefer, None).is_ok());
    }
}
