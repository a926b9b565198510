//! Inline command splitting: a port of Redis' `sdssplitargs`, so that
//! `SET "a b" 'c\'d' "\x41"` typed into telnet behaves as with redis-server.

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Splits one inline request line into arguments. Returns `None` when the
/// quoting is unbalanced (Redis: `Protocol error: unbalanced quotes in
/// request`), including a closing quote not followed by a space.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        // Like the C original, a NUL byte ends the line.
        if p >= line.len() || line[p] == 0 {
            return Some(args);
        }
        let mut current = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                let c = line.get(p).copied().filter(|&c| c != 0)?; // unterminated quotes
                if c == b'\\'
                    && p + 3 < line.len()
                    && line[p + 1] == b'x'
                    && hex_value(line[p + 2]).is_some()
                    && hex_value(line[p + 3]).is_some()
                {
                    let hi = hex_value(line[p + 2]).unwrap_or(0);
                    let lo = hex_value(line[p + 3]).unwrap_or(0);
                    current.push(hi * 16 + lo);
                    p += 3;
                } else if c == b'\\' && p + 1 < line.len() {
                    p += 1;
                    current.push(match line[p] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    // closing quote must be followed by a space or nothing
                    if p + 1 < line.len() && !is_space(line[p + 1]) {
                        return None;
                    }
                    p += 1;
                    break;
                } else {
                    current.push(c);
                }
            } else if in_sq {
                let c = line.get(p).copied().filter(|&c| c != 0)?;
                if c == b'\\' && p + 1 < line.len() && line[p + 1] == b'\'' {
                    p += 1;
                    current.push(b'\'');
                } else if c == b'\'' {
                    if p + 1 < line.len() && !is_space(line[p + 1]) {
                        return None;
                    }
                    p += 1;
                    break;
                } else {
                    current.push(c);
                }
            } else {
                match line.get(p) {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t' | 0) => break,
                    Some(b'"') => in_dq = true,
                    Some(b'\'') => in_sq = true,
                    Some(&c) => current.push(c),
                }
            }
            p += 1;
        }
        args.push(current);
    }
}

#[cfg(test)]
mod tests {
    use super::split_args;

    fn s(line: &str) -> Option<Vec<String>> {
        split_args(line.as_bytes()).map(|v| {
            v.into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect()
        })
    }

    #[test]
    fn plain_words() {
        assert_eq!(s("set a b").unwrap(), ["set", "a", "b"]);
        assert_eq!(s("  ping   ").unwrap(), ["ping"]);
        assert_eq!(s("").unwrap(), Vec::<String>::new());
        assert_eq!(s("   \t ").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(s(r#"set "a b" c"#).unwrap(), ["set", "a b", "c"]);
        assert_eq!(s(r#"echo "\x41\n""#).unwrap(), ["echo", "A\n"]);
        assert_eq!(s(r"echo 'it\'s'").unwrap(), ["echo", "it's"]);
        assert_eq!(s(r#"echo 'a\nb'"#).unwrap(), ["echo", r"a\nb"]);
        assert_eq!(s(r#"echo foo"bar baz""#).unwrap(), ["echo", "foobar baz"]);
        assert_eq!(s(r#"echo """#).unwrap(), ["echo", ""]);
    }

    #[test]
    fn unbalanced() {
        assert!(s(r#"echo "abc"#).is_none());
        assert!(s(r"echo 'abc").is_none());
        assert!(s(r#"echo "abc"def"#).is_none());
        assert!(s(r"echo 'abc'def").is_none());
    }
}
