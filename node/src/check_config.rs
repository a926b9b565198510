//! `meridian check-config FILE...`: parses and validates config files exactly as
//! `meridian server --config FILE` does (TOML syntax, unknown keys, every value through
//! the key table, then the cross-key checks of [`Config::check`]).

use anyhow::anyhow;

use crate::{cli::CheckConfigArgs, config::Config};

/// Checks every file; prints `<file>: ok` or the error. Fails if any file is invalid.
pub fn run(args: &CheckConfigArgs) -> anyhow::Result<()> {
    let mut bad = 0;
    for file in &args.files {
        let result = Config::from_file(file)
            .map_err(|e| e.to_string())
            .and_then(|c| c.check());
        match result {
            Ok(()) => println!("{}: ok", file.display()),
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                bad += 1;
            }
        }
    }
    if bad > 0 {
        return Err(anyhow!("{bad} invalid config file(s)"));
    }
    Ok(())
}
