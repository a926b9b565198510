//! Arbitrary bytes into the CRDT codec: never a panic; whatever decodes re-encodes to
//! something that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(op) = crdt::codec::decode_op(data) {
        let again = crdt::codec::decode_op(&crdt::codec::encode_op(&op)).expect("re-decode");
        assert_eq!(op, again);
    }
    if let Ok(k) = crdt::codec::decode_key(data) {
        let again = crdt::codec::decode_key(&crdt::codec::encode_key(&k)).expect("re-decode");
        assert_eq!(k, again);
    }
});
