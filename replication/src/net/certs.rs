//! Development certificates: a cluster CA and one certificate per region, generated with
//! `rcgen` into a directory on first use (`meridian local` calls [`ensure_dev_certs`]).
//!
//! Layout of the directory (PEM files; keys are written `0600` on Unix):
//!
//! | file | content |
//! |---|---|
//! | `ca.pem`, `ca.key` | the cluster CA (self-signed) and its key |
//! | `region-<id>.pem`, `region-<id>.key` | region `<id>`'s certificate, signed by the CA, with the DNS subject alt name `region-<id>.meridian`, usable as TLS server and client |
//!
//! Existing files are never overwritten: regions added later are signed by the existing
//! CA (its parameters are a fixed function of this module, so the stored CA key is all
//! that is needed). These certificates are for development and tests; production
//! deployments bring their own CA and certificates with the same name scheme.

use super::tls::{region_dns_name, TlsMaterial};
use crdt::RegionId;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why certificates could not be generated or loaded.
#[derive(Debug, Error)]
pub enum CertError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// rcgen refused to generate or parse.
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// Region 0 is reserved.
    #[error("region id 0 is reserved")]
    BadRegion,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CertError + '_ {
    move |source| CertError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Path of the CA certificate in a dev certificate directory.
pub fn ca_cert_path(dir: &Path) -> PathBuf {
    dir.join("ca.pem")
}

/// Paths of region `region`'s certificate and key in a dev certificate directory.
pub fn region_paths(dir: &Path, region: RegionId) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("region-{region}.pem")),
        dir.join(format!("region-{region}.key")),
    )
}

fn ca_params() -> Result<CertificateParams, CertError> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name
        .push(DnType::CommonName, "Meridian development cluster CA");
    p.distinguished_name
        .push(DnType::OrganizationName, "Meridian");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(p)
}

fn write_new(path: &Path, contents: &str, secret: bool) -> Result<(), CertError> {
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if secret {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = secret;
        let mut f = opts.open(&tmp).map_err(io(&tmp))?;
        f.write_all(contents.as_bytes()).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(io(path))
}

fn read(path: &Path) -> Result<String, CertError> {
    std::fs::read_to_string(path).map_err(io(path))
}

/// Creates `dir`, the cluster CA and a certificate for every region in `regions` that does
/// not have one yet. Idempotent.
pub fn ensure_dev_certs(
    dir: &Path,
    regions: impl IntoIterator<Item = RegionId>,
) -> Result<(), CertError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let ca_pem = ca_cert_path(dir);
    let ca_key_path = dir.join("ca.key");
    let ca_key = if ca_pem.exists() && ca_key_path.exists() {
        KeyPair::from_pem(&read(&ca_key_path)?)?
    } else {
        let key = KeyPair::generate()?;
        let cert = ca_params()?.self_signed(&key)?;
        write_new(&ca_key_path, &key.serialize_pem(), true)?;
        write_new(&ca_pem, &cert.pem(), false)?;
        key
    };
    let issuer = Issuer::new(ca_params()?, &ca_key);
    for region in regions {
        if region == 0 {
            return Err(CertError::BadRegion);
        }
        let (cert_path, key_path) = region_paths(dir, region);
        if cert_path.exists() && key_path.exists() {
            continue;
        }
        let name = region_dns_name(region);
        let mut p = CertificateParams::new(vec![name.clone()])?;
        p.distinguished_name.push(DnType::CommonName, name);
        p.distinguished_name
            .push(DnType::OrganizationName, "Meridian");
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &issuer)?;
        write_new(&key_path, &key.serialize_pem(), true)?;
        write_new(&cert_path, &cert.pem(), false)?;
    }
    Ok(())
}

/// [`ensure_dev_certs`] for `region`, then loads its TLS material from `dir`.
pub fn dev_tls(dir: &Path, region: RegionId) -> Result<TlsMaterial, CertError> {
    ensure_dev_certs(dir, [region])?;
    load_tls(dir, region)
}

/// Loads region `region`'s TLS material (CA, certificate, key) from a dev directory.
pub fn load_tls(dir: &Path, region: RegionId) -> Result<TlsMaterial, CertError> {
    let (cert, key) = region_paths(dir, region);
    Ok(TlsMaterial {
        ca_pem: read(&ca_cert_path(dir))?.into_bytes(),
        cert_pem: read(&cert)?.into_bytes(),
        key_pem: read(&key)?.into_bytes(),
    })
}
