//! Glob-style pattern matching with Redis' `stringmatchlen` semantics:
//! `*`, `?`, `[abc]`, `[^abc]`, `[a-z]`, and `\` escapes. Used by CONFIG GET
//! now and by KEYS/SCAN/PSUBSCRIBE later.
//!
//! Unlike the recursive C original, matching is iterative (star
//! backtracking), so a hostile pattern costs at most O(pattern × subject).

#[derive(Debug)]
enum Token {
    Star,
    Any,
    Byte(u8),
    Class { negate: bool, items: Vec<(u8, u8)> },
}

fn fold(c: u8, nocase: bool) -> u8 {
    if nocase {
        c.to_ascii_lowercase()
    } else {
        c
    }
}

fn tokenize(pattern: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'*' => {
                if !matches!(tokens.last(), Some(Token::Star)) {
                    tokens.push(Token::Star);
                }
            }
            b'?' => tokens.push(Token::Any),
            b'\\' if i + 1 < pattern.len() => {
                i += 1;
                tokens.push(Token::Byte(pattern[i]));
            }
            b'[' => {
                i += 1;
                let negate = pattern.get(i) == Some(&b'^');
                if negate {
                    i += 1;
                }
                let mut items = Vec::new();
                while i < pattern.len() && pattern[i] != b']' {
                    if pattern[i] == b'\\' && i + 1 < pattern.len() {
                        i += 1;
                        items.push((pattern[i], pattern[i]));
                    } else if i + 2 < pattern.len() && pattern[i + 1] == b'-' {
                        let (a, b) = (pattern[i], pattern[i + 2]);
                        items.push((a.min(b), a.max(b)));
                        i += 2;
                    } else {
                        items.push((pattern[i], pattern[i]));
                    }
                    i += 1;
                }
                tokens.push(Token::Class { negate, items });
            }
            c => tokens.push(Token::Byte(c)),
        }
        i += 1;
    }
    tokens
}

fn matches_one(token: &Token, c: u8, nocase: bool) -> bool {
    match token {
        Token::Any => true,
        Token::Byte(b) => fold(*b, nocase) == fold(c, nocase),
        Token::Class { negate, items } => {
            let c = fold(c, nocase);
            let hit = items
                .iter()
                .any(|&(lo, hi)| (fold(lo, nocase)..=fold(hi, nocase)).contains(&c));
            hit != *negate
        }
        Token::Star => false,
    }
}

/// True if `subject` matches the glob `pattern`.
pub fn glob_match(pattern: &[u8], subject: &[u8], nocase: bool) -> bool {
    let tokens = tokenize(pattern);
    let (mut t, mut s) = (0usize, 0usize);
    let mut backtrack: Option<(usize, usize)> = None;
    while s < subject.len() {
        match tokens.get(t) {
            Some(Token::Star) => {
                backtrack = Some((t, s));
                t += 1;
            }
            Some(tok) if matches_one(tok, subject[s], nocase) => {
                t += 1;
                s += 1;
            }
            _ => match backtrack {
                Some((bt, bs)) => {
                    t = bt + 1;
                    s = bs + 1;
                    backtrack = Some((bt, bs + 1));
                }
                None => return false,
            },
        }
    }
    tokens[t..].iter().all(|tok| matches!(tok, Token::Star))
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    fn m(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), false)
    }

    #[test]
    fn basics() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("max*", "maxclients"));
        assert!(!m("max*", "port"));
        assert!(m("h?llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"));
        assert!(m(r"h\*llo", "h*llo"));
        assert!(!m(r"h\*llo", "hello"));
        assert!(m("*-max-*", "proto-max-bulk-len"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(glob_match(b"MAX*", b"maxclients", true));
    }

    #[test]
    fn pathological_is_fast() {
        let subject = "a".repeat(5000);
        let pattern = "a*".repeat(50) + "b";
        assert!(!m(&pattern, &subject));
    }
}
