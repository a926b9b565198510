//! Bearer-token authentication of admin calls.
//!
//! Every call carries `authorization: Bearer <token>`; a missing or different token is
//! refused with `UNAUTHENTICATED` before the call runs. Tokens are compared in constant
//! time over their SHA-256 digests (the comparison time depends on neither the content
//! nor the length of the token presented).

use tonic::{Request, Status};

/// The expected token's digest (`None`: no token configured, every call passes).
#[derive(Clone)]
pub struct TokenCheck {
    want: Option<[u8; 32]>,
}

impl std::fmt::Debug for TokenCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCheck")
            .field("required", &self.want.is_some())
            .finish()
    }
}

fn digest(b: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, b);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Constant-time equality of two digests.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl TokenCheck {
    /// A check for `token` (empty: none required).
    pub fn new(token: &str) -> TokenCheck {
        TokenCheck {
            want: (!token.is_empty()).then(|| digest(token.as_bytes())),
        }
    }

    /// Whether `presented` (the `authorization` header's value) carries the token.
    pub fn accepts(&self, presented: Option<&[u8]>) -> bool {
        let Some(want) = &self.want else {
            return true;
        };
        let Some(v) = presented else {
            return false;
        };
        let token = v.strip_prefix(b"Bearer ").unwrap_or(b"");
        // Always hash and compare, whatever was presented.
        same(&digest(token), want) && !token.is_empty()
    }

    /// The tonic interceptor.
    #[allow(clippy::result_large_err)]
    pub fn check(&self, req: Request<()>) -> Result<Request<()>, Status> {
        let presented = req.metadata().get("authorization").map(|v| v.as_bytes());
        if self.accepts(presented) {
            Ok(req)
        } else {
            Err(Status::unauthenticated(
                "missing or wrong admin token (authorization: Bearer <admin-token>)",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_check() {
        let t = TokenCheck::new("s3cret");
        assert!(t.accepts(Some(b"Bearer s3cret")));
        assert!(!t.accepts(Some(b"Bearer s3cre")));
        assert!(!t.accepts(Some(b"Bearer s3cret2")));
        assert!(!t.accepts(Some(b"s3cret")));
        assert!(!t.accepts(Some(b"Bearer ")));
        assert!(!t.accepts(None));
        let open = TokenCheck::new("");
        assert!(open.accepts(None));
        assert!(open.accepts(Some(b"Bearer anything")));
    }
}
