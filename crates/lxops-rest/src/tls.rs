//! TLS for remote daemons, as the `incus` and `lxc` CLIs do it: TLS 1.3 only, the client
//! certificate of the client config (`client.crt`, `client.key`) presented, and the server
//! verified by pinning: the presented leaf certificate must be byte-identical to the one the
//! CLI stored at `remote add` (`servercerts/<remote>.crt`). The host name is not checked: a
//! cluster's members all present the cluster certificate, which names none of their addresses
//! (reference: `https-and-volumes.md` §2).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};

/// The files of one HTTPS remote, as the CLI keeps them in its config directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFiles {
    /// `client.crt`: the client certificate (PEM).
    pub client_cert: PathBuf,
    /// `client.key`: its private key (PEM, SEC1 or PKCS#8).
    pub client_key: PathBuf,
    /// `servercerts/<remote>.crt`: the pinned server certificate (PEM).
    pub server_cert: PathBuf,
}

impl RemoteFiles {
    /// Where the CLI keeps them for `remote`, under its config directory `dir`.
    pub fn in_dir(dir: &Path, remote: &str) -> Self {
        RemoteFiles {
            client_cert: dir.join("client.crt"),
            client_key: dir.join("client.key"),
            server_cert: dir.join("servercerts").join(format!("{remote}.crt")),
        }
    }

    /// Like [`RemoteFiles::in_dir`], but with the remote's own client certificate
    /// `clientcerts/<remote>.crt` and `.key` when both exist (Incus 6 keeps per-remote client
    /// certificates there; LXD 5.0 has none).
    pub fn find(dir: &Path, remote: &str) -> Self {
        let mut files = Self::in_dir(dir, remote);
        let own = dir.join("clientcerts");
        let (cert, key) = (
            own.join(format!("{remote}.crt")),
            own.join(format!("{remote}.key")),
        );
        if cert.is_file() && key.is_file() {
            files.client_cert = cert;
            files.client_key = key;
        }
        files
    }
}

/// Why the TLS set-up of a remote failed (before any connection).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsSetupError {
    /// A file is missing.
    #[error("{what} {path} does not exist")]
    Missing {
        /// "client certificate", "client key" or "pinned server certificate".
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// A file exists but cannot be read or holds no usable PEM.
    #[error("{what} {path}: {reason}")]
    Unusable {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl TlsSetupError {
    /// Whether the pinned server certificate is the problem (the fix is `remote add` again).
    pub fn is_server_cert(&self) -> bool {
        matches!(self, TlsSetupError::Missing { what, .. } | TlsSetupError::Unusable { what, .. }
            if *what == SERVER_CERT)
    }
}

const SERVER_CERT: &str = "pinned server certificate";

/// The server presented a certificate other than the pinned one (carried inside rustls'
/// error, so that the transport can tell it from other handshake failures).
#[derive(Debug)]
pub struct PinMismatch;

impl std::fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the server's certificate is not the pinned one")
    }
}

impl std::error::Error for PinMismatch {}

/// Accepts exactly the pinned leaf certificate, whatever host name the URL has; handshake
/// signatures are still checked with the provider's algorithms.
#[derive(Debug)]
struct PinnedVerifier {
    pinned: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.pinned.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(PinMismatch)),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The crypto provider: *ring*, which builds without a C toolchain beyond its own small part.
/// rustls 0.23.48 deprecates it for lacking post-quantum key exchange; the daemons negotiate
/// classic X25519/P-256/P-384 with it, as with the Go clients of Debian's LXD 5.0.
fn provider() -> CryptoProvider {
    #[allow(deprecated)]
    rustls::crypto::ring::default_provider()
}

/// Reads the remote's files and builds the client config (no network IO).
pub fn client_config(files: &RemoteFiles) -> Result<rustls::ClientConfig, TlsSetupError> {
    let pinned = read_pem(&files.server_cert, SERVER_CERT, |bytes| {
        CertificateDer::from_pem_slice(bytes).map_err(|e| e.to_string())
    })?;
    let chain = read_pem(&files.client_cert, "client certificate", |bytes| {
        let chain = CertificateDer::pem_slice_iter(bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        if chain.is_empty() {
            return Err("no PEM CERTIFICATE block".to_string());
        }
        Ok(chain)
    })?;
    let key = read_pem(&files.client_key, "client key", |bytes| {
        PrivateKeyDer::from_pem_slice(bytes).map_err(|e| e.to_string())
    })?;
    let provider = provider();
    let verifier = Arc::new(PinnedVerifier {
        pinned,
        algorithms: provider.signature_verification_algorithms,
    });
    let unusable_key = |e: rustls::Error| TlsSetupError::Unusable {
        what: "client certificate and key",
        path: files.client_cert.clone(),
        reason: format!("{e} (key {})", files.client_key.display()),
    };
    rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(unusable_key)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(chain, key)
        .map_err(unusable_key)
}

fn read_pem<T>(
    path: &Path,
    what: &'static str,
    parse: impl Fn(&[u8]) -> Result<T, String>,
) -> Result<T, TlsSetupError> {
    let bytes = match lxops_core::input::read_bounded(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(TlsSetupError::Missing {
                what,
                path: path.to_path_buf(),
            })
        }
        Err(e) => {
            return Err(TlsSetupError::Unusable {
                what,
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        }
    };
    parse(&bytes).map_err(|reason| TlsSetupError::Unusable {
        what,
        path: path.to_path_buf(),
        reason: format!("not a usable PEM file: {reason}"),
    })
}

/// Whether `error` (a connect failure) is, somewhere in its chain, the pin check refusing the
/// server's certificate. The rustls error sits inside `io::Error`s (two with hyper-rustls),
/// whose `source()` skips the error they wrap, so those are opened with `get_ref()`.
pub fn is_pin_mismatch(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(rustls::Error::InvalidCertificate(CertificateError::Other(other))) =
            e.downcast_ref::<rustls::Error>()
        {
            return other.0.downcast_ref::<PinMismatch>().is_some();
        }
        current = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    false
}
