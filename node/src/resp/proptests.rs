//! Property tests of the request parser: arbitrary bytes never panic, a
//! client-encoded command parses back to itself, and splitting valid input
//! at any byte boundary yields the same commands.

use bytes::BytesMut;
use proptest::prelude::*;

use super::*;

fn limits() -> ParseLimits {
    ParseLimits {
        max_bulk_len: 1 << 20,
        max_multibulk_len: 1 << 16,
        max_inline_len: 1 << 12,
    }
}

/// Parses everything it can; returns the commands and whether it ended in
/// an error.
fn drain(parser: &mut RequestParser, buf: &mut BytesMut, out: &mut Vec<Vec<Vec<u8>>>) -> bool {
    loop {
        match parser.parse(buf, &limits()) {
            Ok(Some(cmd)) => out.push(cmd.iter().map(|a| a.to_vec()).collect()),
            Ok(None) => return false,
            Err(_) => return true,
        }
    }
}

fn commands() -> impl Strategy<Value = Vec<Vec<Vec<u8>>>> {
    let arg = prop::collection::vec(any::<u8>(), 0..40);
    let cmd = prop::collection::vec(arg, 1..6);
    prop::collection::vec(cmd, 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut buf = BytesMut::from(&data[..]);
        let mut out = Vec::new();
        drain(&mut RequestParser::new(), &mut buf, &mut out);
    }

    #[test]
    fn random_bytes_after_multibulk_prefix_never_panic(
        data in prop::collection::vec(prop::sample::select(b"*$\r\n0123456789-x ".to_vec()), 0..256)
    ) {
        let mut buf = BytesMut::from(&b"*"[..]);
        buf.extend_from_slice(&data);
        let mut out = Vec::new();
        drain(&mut RequestParser::new(), &mut buf, &mut out);
    }

    #[test]
    fn encode_then_parse_round_trips(cmds in commands()) {
        let mut buf = BytesMut::new();
        for c in &cmds {
            encode_request(c, &mut buf);
        }
        let mut out = Vec::new();
        let failed = drain(&mut RequestParser::new(), &mut buf, &mut out);
        prop_assert!(!failed);
        prop_assert!(buf.is_empty());
        prop_assert_eq!(out, cmds);
    }

    #[test]
    fn any_split_gives_same_commands(cmds in commands(), cut_seed in any::<prop::sample::Index>()) {
        let mut whole = BytesMut::new();
        for c in &cmds {
            encode_request(c, &mut whole);
        }
        // Also an inline command in the middle of the stream.
        whole.extend_from_slice(b"ECHO 'x y'\r\n");
        let mut expected = cmds.clone();
        expected.push(vec![b"ECHO".to_vec(), b"x y".to_vec()]);
        let cut = cut_seed.index(whole.len() + 1);
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::from(&whole[..cut]);
        let mut out = Vec::new();
        prop_assert!(!drain(&mut parser, &mut buf, &mut out));
        buf.extend_from_slice(&whole[cut..]);
        prop_assert!(!drain(&mut parser, &mut buf, &mut out));
        prop_assert!(buf.is_empty());
        prop_assert_eq!(out, expected);
    }

    #[test]
    fn byte_at_a_time_gives_same_commands(cmds in commands()) {
        let mut whole = BytesMut::new();
        for c in &cmds {
            encode_request(c, &mut whole);
        }
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for &b in whole.iter() {
            buf.extend_from_slice(&[b]);
            prop_assert!(!drain(&mut parser, &mut buf, &mut out));
        }
        prop_assert_eq!(out, cmds);
    }
}
