//! Mutual TLS between regions (rustls, TLS 1.3 only, ring provider).
//!
//! Every region presents a certificate signed by the cluster CA whose DNS subject alt
//! name is `region-<id>.meridian` ([`region_dns_name`]). Both ends verify the chain to the
//! CA, and the region identity:
//!
//! - the dialing side verifies the server certificate for the name of the region it means
//!   to reach (standard server-name verification);
//! - the accepting side verifies the client certificate against the CA, then requires it
//!   to be valid for exactly one configured peer region ([`RegionClientVerifier`]); that
//!   region is the connection's peer.
//!
//! Any failure aborts the TLS handshake (the connection is refused and logged); nothing
//! from such a peer reaches the replication core. ALPN is [`ALPN`]; 0-RTT is never
//! enabled (it is replayable).

use crdt::RegionId;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use thiserror::Error;

/// ALPN protocol id of the region link.
pub const ALPN: &[u8] = b"meridian-repl/1";

/// The DNS name a region's certificate carries: `region-<id>.meridian`.
pub fn region_dns_name(region: RegionId) -> String {
    format!("region-{region}.meridian")
}

/// PEM-encoded TLS material of one region.
#[derive(Clone)]
pub struct TlsMaterial {
    /// The cluster CA certificate(s).
    pub ca_pem: Vec<u8>,
    /// This region's certificate chain (leaf first).
    pub cert_pem: Vec<u8>,
    /// This region's private key.
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial").finish_non_exhaustive()
    }
}

/// Why TLS could not be set up.
#[derive(Debug, Error)]
pub enum TlsError {
    /// A PEM blob does not parse.
    #[error("bad PEM ({what}): {detail}")]
    Pem {
        /// Which blob.
        what: &'static str,
        /// Parser message.
        detail: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client certificate verifier could not be built.
    #[error("client verifier: {0}")]
    Verifier(String),
    /// quinn refused the rustls configuration.
    #[error("QUIC crypto configuration: {0}")]
    Quic(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn pem_err(what: &'static str) -> impl FnOnce(rustls::pki_types::pem::Error) -> TlsError {
    move |e| TlsError::Pem {
        what,
        detail: e.to_string(),
    }
}

fn certs(pem: &[u8], what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let v = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_err(what))?;
    if v.is_empty() {
        return Err(TlsError::Pem {
            what,
            detail: "no certificate".into(),
        });
    }
    Ok(v)
}

fn roots(m: &TlsMaterial) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in certs(&m.ca_pem, "CA certificate")? {
        roots.add(c)?;
    }
    Ok(Arc::new(roots))
}

fn key(m: &TlsMaterial) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(&m.key_pem).map_err(pem_err("private key"))
}

/// Whether `cert` (already chain-verified) names region `region`.
pub fn cert_is_for_region(cert: &CertificateDer<'_>, region: RegionId) -> bool {
    let Ok(ee) = webpki::EndEntityCert::try_from(cert) else {
        return false;
    };
    let Ok(name) = ServerName::try_from(region_dns_name(region)) else {
        return false;
    };
    ee.verify_is_valid_for_subject_name(&name).is_ok()
}

/// The single configured peer region `cert` is valid for, if exactly one.
pub fn cert_region(cert: &CertificateDer<'_>, peers: &[RegionId]) -> Option<RegionId> {
    let mut found = peers
        .iter()
        .copied()
        .filter(|&r| cert_is_for_region(cert, r));
    match (found.next(), found.next()) {
        (Some(r), None) => Some(r),
        _ => None,
    }
}

/// Client-certificate verifier of the accepting side: the CA chain (webpki), then the
/// region identity (exactly one configured peer region).
#[derive(Debug)]
pub struct RegionClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    /// The current peer regions (changed at run time by `NetHandle::add_peer` and
    /// `NetHandle::remove`).
    peers: Arc<std::sync::RwLock<Vec<RegionId>>>,
    refused: Arc<AtomicU64>,
}

impl ClientCertVerifier for RegionClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if let Err(e) = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
        {
            self.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "region link refused: client certificate not signed by the cluster CA");
            return Err(e);
        }
        let peers = self.peers.read().map(|p| p.clone()).unwrap_or_default();
        if cert_region(end_entity, &peers).is_none() {
            self.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                ?peers,
                "region link refused: client certificate names no configured peer region"
            );
            return Err(rustls::Error::General(
                "certificate names no configured peer region".into(),
            ));
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The accepting side's QUIC crypto config.
pub(crate) fn server_crypto(
    m: &TlsMaterial,
    peers: Arc<std::sync::RwLock<Vec<RegionId>>>,
    refused: Arc<AtomicU64>,
) -> Result<quinn::crypto::rustls::QuicServerConfig, TlsError> {
    let inner = WebPkiClientVerifier::builder_with_provider(roots(m)?, provider())
        .build()
        .map_err(|e| TlsError::Verifier(e.to_string()))?;
    let verifier = Arc::new(RegionClientVerifier {
        inner,
        peers,
        refused,
    });
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&m.cert_pem, "certificate")?, key(m)?)?;
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    cfg.max_early_data_size = 0; // no 0-RTT
    quinn::crypto::rustls::QuicServerConfig::try_from(cfg)
        .map_err(|e| TlsError::Quic(e.to_string()))
}

/// The dialing side's QUIC crypto config (the server name is given per connection).
pub(crate) fn client_crypto(
    m: &TlsMaterial,
) -> Result<quinn::crypto::rustls::QuicClientConfig, TlsError> {
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(m)?)
        .with_client_auth_cert(certs(&m.cert_pem, "certificate")?, key(m)?)?;
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    cfg.enable_early_data = false; // no 0-RTT
    quinn::crypto::rustls::QuicClientConfig::try_from(cfg)
        .map_err(|e| TlsError::Quic(e.to_string()))
}

/// A stable stateless-reset key derived from the region's private key, so that after a
/// crash and restart this region's new endpoint can reset connections the peer still
/// holds (the peer notices at its next packet instead of after the idle timeout).
pub(crate) fn reset_key(m: &TlsMaterial) -> ring::hmac::Key {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"meridian stateless reset v1\0");
    ctx.update(&m.key_pem);
    ring::hmac::Key::new(ring::hmac::HMAC_SHA256, ctx.finish().as_ref())
}
