//! Compiles the `.proto` files under `proto/` with the pure-Rust `protox` compiler (no
//! system `protoc`) and generates Rust code with `prost-build`.

use std::error::Error;

/// Every schema file, relative to the include root `proto/`.
const FILES: &[&str] = &[
    "meridian/wire/v1/wire.proto",
    "meridian/admin/v1/admin.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=proto");
    let paths: Vec<String> = FILES.iter().map(|f| format!("proto/{f}")).collect();
    let fds = protox::compile(&paths, ["proto"])?;
    // Messages and the `Admin` service (tonic client and server stubs); the wire schema
    // has no service, so only its messages are generated.
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
