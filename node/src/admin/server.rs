//! Binds the admin port and serves the admin API until shutdown.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::{bail, Context as _};
use proto::admin::v1::admin_server::AdminServer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tracing::{info, warn};

use crate::admin::auth::TokenCheck;
use crate::admin::service::AdminService;
use crate::server::ServerState;

/// Largest admin request accepted (requests are tiny; this bounds a hostile one).
const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Admin connections open at once per listener; more are closed at once.
const MAX_CONNECTIONS: usize = 64;

/// An accepted admin connection holding one of the listener's connection permits.
struct Limited {
    io: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Limited {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Limited {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl Connected for Limited {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.io.connect_info()
    }
}

/// Accepts connections while a permit is free (others are closed and logged) and hands
/// them to the server.
fn incoming(
    listener: TcpListener,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> ReceiverStream<std::io::Result<Limited>> {
    let (tx, rx) = mpsc::channel(8);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = shutdown.wait_for(|s| *s) => break,
            };
            let (io, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "admin API: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                warn!(%peer, "admin API: too many connections, closing a new one");
                continue;
            };
            let _ = io.set_nodelay(true);
            let conn = Limited {
                io,
                _permit: permit,
            };
            if tx.send(Ok(conn)).await.is_err() {
                break;
            }
        }
    });
    ReceiverStream::new(rx)
}

fn is_loopback(host: &str) -> bool {
    host.trim_matches(|c| c == '[' || c == ']')
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
        || host == "localhost"
}

/// Starts the admin API when `admin-port` is set; returns the bound addresses.
/// Must run inside the runtime, after the region link started.
pub async fn start(state: &Arc<ServerState>) -> anyhow::Result<Vec<SocketAddr>> {
    let (port, bind, token) = {
        let c = state.config();
        (c.admin_port, c.bind.clone(), c.admin_token.clone())
    };
    if port == 0 {
        return Ok(Vec::new());
    }
    let hosts: Vec<&str> = bind.split_whitespace().collect();
    if token.is_empty() && !hosts.iter().all(|h| is_loopback(h)) {
        bail!("admin-port on a non-loopback bind address needs an admin-token (or env MERIDIAN_ADMIN_TOKEN)");
    }
    if token.is_empty() {
        warn!("admin API without a token: any local process may call it");
    }
    let check = TokenCheck::new(&token);
    let mut bound = Vec::new();
    for host in hosts {
        let addr = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let listener = TcpListener::bind(&addr)
            .await
            .with_context(|| format!("cannot bind the admin port on {addr}"))?;
        let local = listener.local_addr()?;
        bound.push(local);
        let svc = tonic::service::interceptor::InterceptedService::new(
            AdminServer::new(AdminService::new(state.clone()))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
            {
                let check = check.clone();
                move |req| check.check(req)
            },
        );
        let mut shutdown = state.shutdown_signal();
        let conns = incoming(listener, state.shutdown_signal());
        tokio::spawn(async move {
            let r = tonic::transport::Server::builder()
                .concurrency_limit_per_connection(8)
                .timeout(std::time::Duration::from_secs(60))
                .add_service(svc)
                .serve_with_incoming_shutdown(conns, async move {
                    let _ = shutdown.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = r {
                warn!(error = %e, "admin API stopped");
            }
        });
        info!(addr = %local, "admin API listening");
    }
    Ok(bound)
}
