//! The metrics endpoint (`metrics-port`): a minimal HTTP/1.1 server on tokio, one
//! request per connection (`Connection: close`).
//!
//! Routes: `GET /metrics` (Prometheus text), `GET /health` (200 `ok` when serving
//! reads and writes, 503 with the reason otherwise: loading, catching up after a data
//! loss, persistence failed, shutting down) and `GET /health/live` (200 while the
//! process answers, for liveness probes that must not restart a region that is
//! catching up). `HEAD` is accepted too; other methods get 405, other paths 404.
//!
//! Bounds: request head at most [`MAX_HEAD`] bytes (431 beyond), [`READ_TIMEOUT`] to
//! send it (408), [`WRITE_TIMEOUT`] to take the answer, at most [`MAX_CONNECTIONS`]
//! at once (more are closed at once). Request bodies are never read.

use std::{sync::Arc, time::Duration};

use thiserror::Error;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};
use tracing::{debug, info, warn};

use super::{health, metrics};
use crate::server::ServerState;

/// Largest request head (request line and headers).
pub const MAX_HEAD: usize = 8 * 1024;
/// Time a client has to send its request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a client has to read the answer.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Simultaneous connections.
pub const MAX_CONNECTIONS: usize = 64;

/// Errors starting the endpoint.
#[derive(Debug, Error)]
pub enum HttpError {
    /// A listen address could not be bound.
    #[error("cannot listen for metrics on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A parsed request: method and path (query string removed).
#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// `GET`, `HEAD`, ...
    pub method: &'a str,
    /// `/metrics`, ...
    pub path: &'a str,
}

/// Why a request head is refused (status code and text).
#[derive(Debug, PartialEq, Eq)]
pub struct Refused(pub u16, pub &'static str);

/// Parses a complete request head (up to and including the empty line).
pub fn parse_head(head: &[u8]) -> Result<Request<'_>, Refused> {
    let bad = Refused(400, "Bad Request");
    let text = std::str::from_utf8(head).map_err(|_| Refused(400, "Bad Request"))?;
    let mut lines = text.split("\r\n");
    let line = lines.next().ok_or(Refused(400, "Bad Request"))?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad);
    };
    if method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase())
        || !target.starts_with('/')
        || !(version == "HTTP/1.1" || version == "HTTP/1.0")
    {
        return Err(bad);
    }
    for h in lines.filter(|l| !l.is_empty()) {
        match h.split_once(':') {
            Some((name, _)) if !name.is_empty() && !name.contains(' ') => {}
            _ => return Err(bad),
        }
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    Ok(Request { method, path })
}

/// The response to a request: status, reason, content type, body.
pub fn respond(
    state: &ServerState,
    req: &Request<'_>,
) -> (u16, &'static str, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    if req.method != "GET" && req.method != "HEAD" {
        return (
            405,
            "Method Not Allowed",
            TEXT,
            "method not allowed\n".into(),
        );
    }
    match req.path {
        "/metrics" => (200, "OK", metrics::CONTENT_TYPE, metrics::render(state)),
        "/health" => {
            let h = health::check(state);
            let reason = if h.status() == 200 {
                "OK"
            } else {
                "Service Unavailable"
            };
            (h.status(), reason, TEXT, format!("{h}\n"))
        }
        "/health/live" => (200, "OK", TEXT, "alive\n".into()),
        _ => (404, "Not Found", TEXT, "not found\n".into()),
    }
}

/// Binds the endpoint on every address of `bind` (space separated) at `port`.
pub async fn bind(bind: &str, port: u16) -> Result<Vec<TcpListener>, HttpError> {
    let mut out = Vec::new();
    for host in bind.split_whitespace() {
        let addr = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let l = TcpListener::bind(&addr)
            .await
            .map_err(|source| HttpError::Bind { addr, source })?;
        out.push(l);
    }
    Ok(out)
}

/// Serves the listeners until the runtime stops.
pub fn spawn(state: Arc<ServerState>, listeners: Vec<TcpListener>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    for l in listeners {
        if let Ok(a) = l.local_addr() {
            info!(addr = %a, "metrics endpoint listening (/metrics, /health)");
        }
        let (state, slots) = (state.clone(), slots.clone());
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match l.accept().await {
                    Ok(s) => s,
                    Err(e) => {
                        warn!("metrics endpoint accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    debug!(%peer, "metrics endpoint: too many connections, closing");
                    continue;
                };
                let state = state.clone();
                tokio::spawn(async move {
                    serve(&state, stream).await;
                    drop(permit);
                });
            }
        });
    }
}

/// Reads the request head: `Ok(None)` when the client went away.
async fn read_head(stream: &mut TcpStream) -> Result<Option<Vec<u8>>, Refused> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.truncate(end + 4);
            return Ok(Some(buf));
        }
        if buf.len() >= MAX_HEAD {
            return Err(Refused(431, "Request Header Fields Too Large"));
        }
        let room = (MAX_HEAD + 4 - buf.len()).min(chunk.len());
        match stream.read(&mut chunk[..room]).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn serve(state: &ServerState, mut stream: TcpStream) {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Err(_) => Err(Refused(408, "Request Timeout")),
        Ok(r) => r,
    };
    let (status, reason, ctype, body, head_only) = match head {
        Ok(None) => return,
        Err(Refused(code, reason)) => (
            code,
            reason,
            "text/plain; charset=utf-8",
            format!("{}\n", reason.to_ascii_lowercase()),
            false,
        ),
        Ok(Some(h)) => match parse_head(&h[..h.len() - 2]) {
            Ok(req) => {
                let (s, r, c, b) = respond(state, &req);
                (s, r, c, b, req.method == "HEAD")
            }
            Err(Refused(code, reason)) => (
                code,
                reason,
                "text/plain; charset=utf-8",
                format!("{}\n", reason.to_ascii_lowercase()),
                false,
            ),
        },
    };
    let allow = if status == 405 {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    let write = async {
        stream.write_all(&out).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(WRITE_TIMEOUT, write).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_heads() {
        let r = parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n").unwrap();
        assert_eq!(
            r,
            Request {
                method: "GET",
                path: "/metrics"
            }
        );
        assert_eq!(
            parse_head(b"POST /health HTTP/1.0\r\n").unwrap().method,
            "POST"
        );
        for bad in [
            &b"GET /metrics\r\n"[..],
            b"GET metrics HTTP/1.1\r\n",
            b"get /metrics HTTP/1.1\r\n",
            b"GET /metrics HTTP/2\r\n",
            b"GET /metrics HTTP/1.1\r\nno colon here\r\n",
            b"\xff\xfe\r\n",
            b"GET  /metrics HTTP/1.1\r\n",
        ] {
            assert_eq!(parse_head(bad), Err(Refused(400, "Bad Request")), "{bad:?}");
        }
    }
}
