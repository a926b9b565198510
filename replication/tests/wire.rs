//! Wire encoding tests: golden fixtures (hex files under `tests/fixtures/wire/`, rewritten
//! with `MERIDIAN_BLESS=1 cargo test -p meridian-replication --test wire`), typed errors
//! for bad input, and bounded property tests (random bytes never panic; every `Msg`
//! round-trips through envelopes and frames).

use crdt::{CausalContext, Dot, VersionVector};
use proptest::prelude::*;
use replication::msg::{LogEntry, Msg, PROTOCOL_VERSION};
use replication::wire::{self, WireError};
use std::path::PathBuf;

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2 + b.len() / 32 + 1);
    for (i, x) in b.iter().enumerate() {
        if i > 0 && i % 32 == 0 {
            s.push('\n');
        }
        s.push_str(&format!("{x:02x}"));
    }
    s.push('\n');
    s
}

fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/wire")
        .join(format!("{name}.hex"))
}

/// Compares `bytes` with the fixture (or rewrites it when blessing) and checks the
/// fixture still decodes to `msg` (backward compatibility with what earlier builds sent).
fn check_fixture(
    name: &str,
    bytes: &[u8],
    decode: impl Fn(&[u8]) -> Result<Msg, WireError>,
    msg: &Msg,
) {
    let path = fixture_path(name);
    if std::env::var_os("MERIDIAN_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, hex(bytes)).unwrap();
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with MERIDIAN_BLESS=1 to create)",
            path.display()
        )
    });
    let stored = unhex(&stored);
    assert_eq!(
        &decode(&stored).unwrap(),
        msg,
        "fixture {name} decodes to the message"
    );
    assert_eq!(
        hex(&stored),
        hex(bytes),
        "fixture {name}: encoding changed (MERIDIAN_BLESS=1 to accept)"
    );
}

fn vv(pairs: &[(u8, u64)]) -> VersionVector {
    VersionVector::from_pairs(pairs.iter().copied())
}

fn samples() -> Vec<(&'static str, Msg)> {
    let mut ctx = CausalContext::from_vv(vv(&[(1, 10), (2, 4)]));
    ctx.join(&CausalContext::from_dots([Dot::new(2, 7), Dot::new(3, 2)]));
    vec![
        (
            "hello",
            Msg::Hello {
                version: PROTOCOL_VERSION,
                region: 2,
                replication_id: 0x0123_4567_89ab_cdef,
                applied: vv(&[(1, 42), (2, 7), (255, 1)]),
                seen: VersionVector::new(),
            },
        ),
        (
            "hello_seen",
            Msg::Hello {
                version: PROTOCOL_VERSION,
                region: 3,
                replication_id: 7,
                applied: vv(&[(1, 42), (3, 9)]),
                seen: vv(&[(1, 50)]),
            },
        ),
        (
            "ops",
            Msg::Ops(vec![
                LogEntry {
                    origin: 1,
                    first_seq: 1,
                    last_seq: 1,
                    op: b"MD\x01\x01set k v".to_vec(),
                },
                LogEntry {
                    origin: 3,
                    first_seq: 5,
                    last_seq: 9,
                    op: b"MD\x01\x01multi".to_vec(),
                },
            ]),
        ),
        ("ops_empty", Msg::Ops(vec![])),
        ("snapshot_begin", Msg::SnapshotBegin { ctx }),
        (
            "snapshot_chunk",
            Msg::SnapshotChunk(vec![
                (0, b"user:1".to_vec(), b"MD\x02\x01state".to_vec()),
                (15, b"".to_vec(), b"".to_vec()),
            ]),
        ),
        ("snapshot_end", Msg::SnapshotEnd),
        ("snapshot_abort", Msg::SnapshotAbort),
        (
            "adopted",
            Msg::Adopted {
                origin: 4,
                to_seq: 81,
            },
        ),
        (
            "ack",
            Msg::Ack {
                applied: vv(&[(1, 100), (2, 50)]),
                durable: vv(&[(1, 90)]),
            },
        ),
        (
            "heartbeat",
            Msg::Heartbeat {
                now_ms: 1_700_000_000_123,
            },
        ),
        (
            "publish",
            Msg::Publish {
                origin: 7,
                channel: b"news".to_vec(),
                message: b"hello \xff world".to_vec(),
                shard: true,
            },
        ),
    ]
}

/// A batch big and repetitive enough to be compressed.
fn big_ops() -> Msg {
    Msg::Ops(
        (1..=64u64)
            .map(|i| LogEntry {
                origin: 2,
                first_seq: i,
                last_seq: i,
                op: format!("MD\x01\x01 SET key:{i} value-value-value-value").into_bytes(),
            })
            .collect(),
    )
}

#[test]
fn envelope_fixtures() {
    for (name, msg) in samples() {
        check_fixture(name, &wire::encode(&msg), wire::decode, &msg);
    }
}

#[test]
fn frame_fixtures() {
    for (name, msg) in samples().into_iter().chain([("ops_lz4", big_ops())]) {
        let frame = wire::encode_frame(msg.clone()).unwrap();
        check_fixture(&format!("frame_{name}"), &frame, wire::decode_frame, &msg);
    }
    let frame = wire::encode_frame(big_ops()).unwrap();
    assert_eq!(frame[4], wire::FLAG_LZ4, "a repetitive batch is compressed");
    assert!(frame.len() < wire::encode(&big_ops()).len() / 2);
}

fn envelope_with_version(v: u32) -> Vec<u8> {
    // version = field 1 varint; heartbeat = field 8, empty message.
    let mut b = vec![0x08];
    let mut x = v;
    loop {
        if x < 0x80 {
            b.push(x as u8);
            break;
        }
        b.push((x as u8) | 0x80);
        x >>= 7;
    }
    b.extend_from_slice(&[0x42, 0x00]);
    b
}

#[test]
fn unknown_version_is_a_typed_error() {
    assert_eq!(
        wire::decode(&envelope_with_version(1)).unwrap(),
        Msg::Heartbeat { now_ms: 0 }
    );
    for v in [0, 2, 99, u32::MAX] {
        assert_eq!(
            wire::decode(&envelope_with_version(v)),
            Err(WireError::UnsupportedVersion {
                found: v,
                supported: PROTOCOL_VERSION
            })
        );
    }
    // A body this version cannot parse still reports the version, not a parse error.
    let mut b = envelope_with_version(2);
    b.extend_from_slice(&[0x1a, 0x05, 0xff]);
    assert!(matches!(
        wire::decode(&b),
        Err(WireError::UnsupportedVersion { found: 2, .. })
    ));
}

#[test]
fn malformed_input_is_a_typed_error() {
    assert_eq!(wire::decode(&[0x08, 0x01]), Err(WireError::MissingBody));
    assert!(matches!(
        wire::decode(&[0x08]),
        Err(WireError::Malformed(_))
    ));
    assert!(matches!(
        wire::decode(&[0x08, 0x01, 0x1a, 0x10]),
        Err(WireError::Malformed(_))
    ));
    // Region 0 and 256 are out of range.
    for id in [0u32, 256] {
        let m = proto::wire::v1::Envelope {
            version: 1,
            body: Some(proto::wire::v1::envelope::Body::Publish(
                proto::wire::v1::Publish {
                    origin: id,
                    ..Default::default()
                },
            )),
        };
        use proto::prost::Message;
        assert!(matches!(
            wire::decode(&m.encode_to_vec()),
            Err(WireError::BadRegion { id: x, .. }) if x == id
        ));
    }
    // first_seq > last_seq.
    let mut m: proto::wire::v1::Envelope = Msg::Ops(vec![LogEntry {
        origin: 1,
        first_seq: 1,
        last_seq: 1,
        op: vec![],
    }])
    .into();
    if let Some(proto::wire::v1::envelope::Body::Ops(o)) = &mut m.body {
        o.entries[0].first_seq = 5;
    }
    use proto::prost::Message;
    assert!(matches!(
        wire::decode(&m.encode_to_vec()),
        Err(WireError::BadSeq { .. })
    ));
    // Unsorted version vector.
    let m = proto::wire::v1::Envelope {
        version: 1,
        body: Some(proto::wire::v1::envelope::Body::Ack(proto::wire::v1::Ack {
            applied: Some(proto::wire::v1::VersionVector {
                entries: vec![
                    proto::wire::v1::VvEntry { region: 2, seq: 1 },
                    proto::wire::v1::VvEntry { region: 1, seq: 1 },
                ],
            }),
            durable: None,
        })),
    };
    assert_eq!(
        wire::decode(&m.encode_to_vec()),
        Err(WireError::Unsorted("ack applied"))
    );
    // Frames: unknown flags, lying lz4 length, oversized length prefix.
    assert_eq!(
        wire::decode_frame_body(&[7, 1, 2]),
        Err(WireError::UnknownFlags(7))
    );
    assert!(matches!(
        wire::decode_frame_body(&[wire::FLAG_LZ4, 0xff, 0xff, 0xff, 0x00, 0x00]),
        Err(WireError::BadCompression(_))
    ));
    assert!(matches!(
        wire::decode_frame(&[0xff, 0xff, 0xff, 0xff, 0]),
        Err(WireError::FrameTooLarge { .. })
    ));
    assert_eq!(wire::decode_frame_body(&[]), Err(WireError::EmptyFrame));
}

#[test]
fn oversized_batches_are_refused_before_decoding() {
    // 65,537 empty log entries: 2 bytes each on the wire, refused by the pre-scan.
    let n = wire::MAX_BATCH_ENTRIES + 1;
    let mut ops = Vec::with_capacity(2 * n);
    for _ in 0..n {
        ops.extend_from_slice(&[0x0a, 0x00]);
    }
    let mut env = vec![0x08, 0x01, 0x1a];
    let mut len = ops.len();
    while len >= 0x80 {
        env.push((len as u8) | 0x80);
        len >>= 7;
    }
    env.push(len as u8);
    env.extend_from_slice(&ops);
    assert_eq!(
        wire::decode(&env),
        Err(WireError::TooMany {
            what: "ops entries",
            count: n,
            max: wire::MAX_BATCH_ENTRIES
        })
    );
    let too_big = Msg::Ops(vec![
        LogEntry {
            origin: 1,
            first_seq: 1,
            last_seq: 1,
            op: vec![]
        };
        n
    ]);
    assert!(wire::encode_frame(too_big.clone()).is_err());
    // split() makes it sendable, in order.
    let parts = wire::split(too_big.clone(), wire::TARGET_FRAME_BYTES);
    assert!(parts.len() >= 2);
    let mut joined = Vec::new();
    for p in parts {
        let Msg::Ops(e) = wire::decode_frame(&wire::encode_frame(p).unwrap()).unwrap() else {
            panic!()
        };
        joined.extend(e);
    }
    assert_eq!(Msg::Ops(joined), too_big);
}

// ---------------------------------------------------------------------------------------
// Property tests (2,000 cases each).

fn arb_vv() -> impl Strategy<Value = VersionVector> {
    prop::collection::vec((1u8..=255, 1u64..=crdt::dot::SEQ_MAX), 0..6)
        .prop_map(VersionVector::from_pairs)
}

fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..40)
}

fn arb_msg() -> impl Strategy<Value = Msg> {
    prop_oneof![
        (any::<u32>(), 1u8..=255, any::<u64>(), arb_vv(), arb_vv()).prop_map(
            |(version, region, replication_id, applied, seen)| {
                Msg::Hello {
                    version,
                    region,
                    replication_id,
                    applied,
                    seen,
                }
            }
        ),
        prop::collection::vec(
            (1u8..=255, 1u64..1_000_000, 0u64..4, arb_bytes()).prop_map(
                |(origin, first_seq, extra, op)| LogEntry {
                    origin,
                    first_seq,
                    last_seq: first_seq + extra,
                    op
                }
            ),
            0..20
        )
        .prop_map(Msg::Ops),
        (
            arb_vv(),
            prop::collection::vec((1u8..=255, 1u64..200), 0..20)
        )
            .prop_map(|(vv, dots)| {
                let mut ctx = CausalContext::from_vv(vv);
                ctx.join(&CausalContext::from_dots(
                    dots.into_iter().map(|(r, s)| Dot::new(r, s)),
                ));
                Msg::SnapshotBegin { ctx }
            }),
        prop::collection::vec((any::<u8>(), arb_bytes(), arb_bytes()), 0..10)
            .prop_map(Msg::SnapshotChunk),
        Just(Msg::SnapshotEnd),
        Just(Msg::SnapshotAbort),
        (1u8..=255, 1u64..=crdt::dot::SEQ_MAX)
            .prop_map(|(origin, to_seq)| Msg::Adopted { origin, to_seq }),
        (arb_vv(), arb_vv()).prop_map(|(applied, durable)| Msg::Ack { applied, durable }),
        any::<u64>().prop_map(|now_ms| Msg::Heartbeat { now_ms }),
        (1u8..=255, arb_bytes(), arb_bytes(), any::<bool>()).prop_map(
            |(origin, channel, message, shard)| {
                Msg::Publish {
                    origin,
                    channel,
                    message,
                    shard,
                }
            }
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn msg_round_trips(msg in arb_msg()) {
        prop_assert_eq!(wire::decode(&wire::encode(&msg)).unwrap(), msg.clone());
        let frame = wire::encode_frame(msg.clone()).unwrap();
        prop_assert_eq!(wire::decode_frame(&frame).unwrap(), msg);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = wire::decode(&bytes);
        let _ = wire::decode_frame_body(&bytes);
        let _ = wire::decode_frame(&bytes);
        let mut lz4 = vec![wire::FLAG_LZ4];
        lz4.extend_from_slice(&bytes);
        let _ = wire::decode_frame_body(&lz4);
    }

    #[test]
    fn mutated_frames_never_panic(msg in arb_msg(), edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        for frame in [wire::encode(&msg), wire::encode_frame(msg).unwrap()] {
            let mut f = frame.clone();
            for (i, b) in &edits {
                let i = i.index(f.len());
                f[i] = *b;
            }
            let _ = wire::decode(&f);
            let _ = wire::decode_frame(&f);
            let _ = wire::decode_frame_body(&f[4.min(f.len())..]);
        }
    }
}
