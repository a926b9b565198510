//! TLS for client connections (`tls-port`): the rustls server configuration built from
//! PEM files, and the stream type a connection reads and writes (plain TCP or TLS).
//!
//! Options, named as in Redis: `tls-cert-file` / `tls-key-file` (the server's
//! certificate chain and private key), `tls-ca-cert-file` (CAs that sign client
//! certificates) and `tls-auth-clients` (`yes`: a client certificate signed by one of
//! those CAs is required; `optional`: verified when presented; `no`: not requested).
//! TLS 1.2 and 1.3 with rustls' default (ring) cipher suites.

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use thiserror::Error;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};
use tokio_rustls::{server::TlsStream, TlsAcceptor};

use crate::config::Config;

/// Why the TLS configuration could not be built.
#[derive(Debug, Error)]
pub enum TlsError {
    /// A required option is empty.
    #[error("tls-port is set but {0} is empty")]
    Missing(&'static str),
    /// A PEM file could not be read or holds nothing usable.
    #[error("{option} {path}: {reason}")]
    File {
        /// The option naming the file.
        option: &'static str,
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// `tls-auth-clients` is not yes, no or optional.
    #[error("tls-auth-clients must be yes, no or optional (got {0:?})")]
    AuthClients(String),
    /// rustls refused the combination (e.g. the key does not match the certificate).
    #[error("TLS configuration: {0}")]
    Rustls(String),
}

fn certs(option: &'static str, path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |reason: String| TlsError::File {
        option,
        path: path.to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no certificate in the file".into()));
    }
    Ok(certs)
}

/// The acceptor for `tls-port`, or `None` when it is 0.
pub fn acceptor(cfg: &Config) -> Result<Option<TlsAcceptor>, TlsError> {
    if cfg.tls_port == 0 {
        return Ok(None);
    }
    if cfg.tls_cert_file.is_empty() {
        return Err(TlsError::Missing("tls-cert-file"));
    }
    if cfg.tls_key_file.is_empty() {
        return Err(TlsError::Missing("tls-key-file"));
    }
    let chain = certs("tls-cert-file", &cfg.tls_cert_file)?;
    let key = PrivateKeyDer::from_pem_file(&cfg.tls_key_file).map_err(|e| TlsError::File {
        option: "tls-key-file",
        path: cfg.tls_key_file.clone(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let auth = cfg.tls_auth_clients.to_ascii_lowercase();
    let builder = match auth.as_str() {
        "no" => builder.with_no_client_auth(),
        "yes" | "optional" => {
            if cfg.tls_ca_cert_file.is_empty() {
                return Err(TlsError::Missing("tls-ca-cert-file"));
            }
            let mut roots = rustls::RootCertStore::empty();
            for c in certs("tls-ca-cert-file", &cfg.tls_ca_cert_file)? {
                roots.add(c).map_err(|e| TlsError::File {
                    option: "tls-ca-cert-file",
                    path: cfg.tls_ca_cert_file.clone(),
                    reason: e.to_string(),
                })?;
            }
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let v = if auth == "optional" {
                v.allow_unauthenticated()
            } else {
                v
            };
            builder
                .with_client_cert_verifier(v.build().map_err(|e| TlsError::Rustls(e.to_string()))?)
        }
        _ => return Err(TlsError::AuthClients(cfg.tls_auth_clients.clone())),
    };
    let mut sc = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    sc.alpn_protocols = Vec::new();
    Ok(Some(TlsAcceptor::from(Arc::new(sc))))
}

/// A client connection's byte stream.
pub enum ClientStream {
    /// Plain TCP (`port`).
    Tcp(TcpStream),
    /// TLS over TCP (`tls-port`).
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            ClientStream::Tcp(s) => s.is_write_vectored(),
            ClientStream::Tls(s) => s.is_write_vectored(),
        }
    }
}
