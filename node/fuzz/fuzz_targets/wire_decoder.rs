//! Arbitrary bytes into the region-link decoders (envelope and frame): never a panic;
//! whatever decodes round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use replication::wire;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = wire::decode(data) {
        let again = wire::decode(&wire::encode(&msg)).expect("re-decode");
        assert_eq!(msg, again);
    }
    let _ = wire::decode_frame(data);
});
