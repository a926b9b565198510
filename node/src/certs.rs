//! `meridian certs --regions N --out DIR`: the cluster CA and one certificate per
//! region for the region links (the same generator `meridian local` uses).
//!
//! The files: `ca.pem` (give to every region), `ca.key` (keep offline: whoever has it
//! can mint region certificates), `region-<id>.pem` and `region-<id>.key` (give to
//! region `<id>` only). Each region then runs with `repl-tls-dir` pointing at a
//! directory holding `ca.pem`, `region-<id>.pem` and `region-<id>.key`.

use anyhow::{bail, Context as _};

use crate::cli::CertsArgs;

/// Runs `meridian certs`.
pub fn run(args: &CertsArgs) -> anyhow::Result<()> {
    if args.regions == 0 {
        bail!("--regions must be at least 1");
    }
    replication::net::certs::ensure_dev_certs(&args.out, 1..=args.regions)
        .with_context(|| format!("cannot create certificates in {}", args.out.display()))?;
    println!(
        "certificates for regions 1..={} in {} (ca.pem, ca.key, region-<id>.pem, region-<id>.key); keep ca.key offline",
        args.regions,
        args.out.display()
    );
    Ok(())
}
