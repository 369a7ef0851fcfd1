//! Reading a registry's TLS certificate, and judging it as `push` and `pull` would.
//!
//! The handshake here accepts any certificate, only to be able to show it (an untrusted one
//! most of all); nothing is sent over that connection, which is closed right after. The
//! verdict on the certificate comes from a separate check with the verifier reqwest uses:
//! rustls-platform-verifier (on Linux: WebPKI with the system's roots) plus the extra roots of
//! `ca-file` and `SSL_CERT_FILE`, as [`crate::Transport`] passes them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;

use super::{CertificateFindings, TlsProblem};

/// Why a handshake gave no certificate.
pub(crate) enum HandshakeError {
    /// The server answered in plain HTTP.
    NotTls,
    /// No answer in time.
    TimedOut,
    /// Anything else.
    Other(String),
}

/// The crypto provider reqwest uses: the process default, else aws-lc-rs.
fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// The certificates of every `-----BEGIN CERTIFICATE-----` block in `pem`.
pub(crate) fn pem_certificates(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

/// `host` as rustls wants it (IPv6 without brackets).
fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string())
        .map_err(|e| format!("`{host}` is not a valid TLS name: {e}"))
}

/// Whether the server at the other end of `stream` answers a TLS hello with TLS, within
/// `timeout` (the certificate is not judged: only the protocol is asked).
pub(crate) async fn tls_hello(
    stream: TcpStream,
    host: &str,
    timeout: Duration,
) -> Result<(), HandshakeError> {
    read_chain(stream, host, timeout).await.map(drop)
}

/// Does a TLS handshake on `stream` with a verifier that accepts everything, and returns the
/// chain the server sent (its own certificate first).
pub(crate) async fn read_chain(
    stream: TcpStream,
    host: &str,
    timeout: Duration,
) -> Result<Vec<CertificateDer<'static>>, HandshakeError> {
    let name = server_name(host).map_err(HandshakeError::Other)?;
    let provider = provider();
    let recorder = Arc::new(Recorder {
        provider: provider.clone(),
        chain: Mutex::default(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HandshakeError::Other(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let result = tokio::time::timeout(timeout, connector.connect(name, stream)).await;
    let chain = std::mem::take(&mut *recorder.chain.lock().expect("poisoned"));
    match result {
        Err(_) => Err(HandshakeError::TimedOut),
        Ok(Ok(_stream)) => Ok(chain),
        // The certificate arrived, and then something else failed (e.g. the server wants a
        // client certificate): the certificate is still worth showing.
        Ok(Err(_)) if !chain.is_empty() => Ok(chain),
        Ok(Err(e)) => {
            let tls = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>());
            Err(match tls {
                Some(rustls::Error::InvalidMessage(_)) => HandshakeError::NotTls,
                Some(rustls::Error::AlertReceived(alert)) => {
                    HandshakeError::Other(format!("the server ended the TLS handshake ({alert:?})"))
                }
                Some(other) => HandshakeError::Other(format!("TLS handshake failed: {other}")),
                None if e.kind() == std::io::ErrorKind::UnexpectedEof => HandshakeError::Other(
                    "the server closed the connection during the TLS handshake".into(),
                ),
                None => HandshakeError::Other(format!("TLS handshake failed: {e}")),
            })
        }
    }
}

/// Verifies `chain` for `host` with the system's roots plus `extra_roots`.
pub(crate) fn verify(
    chain: &[CertificateDer<'static>],
    host: &str,
    extra_roots: &[CertificateDer<'static>],
) -> Result<(), TlsProblem> {
    let Some((end_entity, intermediates)) = chain.split_first() else {
        return Err(TlsProblem::Other {
            detail: "the server sent no certificate".into(),
        });
    };
    let name = server_name(host).map_err(|detail| TlsProblem::Other { detail })?;
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots.to_vec(), provider())
            .map_err(|e| TlsProblem::Other {
                detail: format!("cannot load the trusted certificates: {e}"),
            })?;
    match verifier.verify_server_cert(end_entity, intermediates, &name, &[], UnixTime::now()) {
        Ok(_) => Ok(()),
        Err(rustls::Error::InvalidCertificate(e)) => Err(match e {
            CertificateError::UnknownIssuer => TlsProblem::UnknownIssuer,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsProblem::NameMismatch
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TlsProblem::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsProblem::NotYetValid
            }
            other => TlsProblem::Other {
                detail: rustls::Error::InvalidCertificate(other).to_string(),
            },
        }),
        Err(other) => Err(TlsProblem::Other {
            detail: other.to_string(),
        }),
    }
}

/// What the server's certificate says.
pub(crate) fn describe(chain: &[CertificateDer<'static>]) -> Option<CertificateFindings> {
    use x509_parser::prelude::{FromDer as _, GeneralName, X509Certificate};
    let (_, cert) = X509Certificate::from_der(chain.first()?.as_ref()).ok()?;
    let mut subject_names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => subject_names.push(d.to_string()),
                GeneralName::IPAddress(bytes) => subject_names.push(ip_text(bytes)),
                _ => {}
            }
        }
    }
    let validity = cert.validity();
    let not_after = validity.not_after.timestamp();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Some(CertificateFindings {
        subject: cert.subject().to_string(),
        subject_names,
        issuer: cert.issuer().to_string(),
        not_before: utc_text(validity.not_before.timestamp()),
        not_after: utc_text(not_after),
        expired: not_after < now,
        chain_length: chain.len(),
    })
}

fn ip_text(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(bytes).expect("4 bytes")).to_string(),
        16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).expect("16 bytes")).to_string(),
        _ => format!("{bytes:02x?}"),
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` for a Unix time.
pub(crate) fn utc_text(timestamp: i64) -> String {
    match chrono::DateTime::from_timestamp(timestamp, 0) {
        Some(time) => time.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        None => format!("{timestamp} s after 1970 (out of range)"),
    }
}

/// Accepts every certificate and keeps the chain; signatures are still checked, so the
/// handshake proves the server holds the key of the certificate it showed.
#[derive(Debug)]
struct Recorder {
    provider: Arc<CryptoProvider>,
    chain: Mutex<Vec<CertificateDer<'static>>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        *self.chain.lock().expect("poisoned") = chain;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_times() {
        assert_eq!(utc_text(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_text(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_text(1_767_225_599), "2025-12-31 23:59:59 UTC");
        assert_eq!(utc_text(-1), "1969-12-31 23:59:59 UTC");
        // rcgen's default end of validity.
        assert_eq!(utc_text(67_090_118_400), "4096-01-01 00:00:00 UTC");
    }
}
