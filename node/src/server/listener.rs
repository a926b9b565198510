//! Listening sockets and the accept loop (maxclients is enforced here).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use thiserror::Error;
use tokio::{
    io::AsyncWriteExt,
    net::{TcpListener, TcpStream},
};
use tracing::{info, warn};

use super::{
    connection,
    tls::{self, ClientStream, TlsError},
    ServerState, Stats,
};
use tokio_rustls::TlsAcceptor;

/// Errors starting the server.
#[derive(Debug, Error)]
pub enum ServerError {
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// `bind` named no address.
    #[error("no listen address configured")]
    NoAddress,
    /// The TLS options are unusable.
    #[error("{0}")]
    Tls(#[from] TlsError),
}

/// A bound listening socket: plain TCP, or TLS with its acceptor.
pub struct Listener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
}

/// How long a client on `tls-port` may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

const MAXCLIENTS_REPLY: &[u8] = b"-ERR max number of clients reached\r\n";

/// Binds every configured address. Returns the listeners; `run` serves them.
pub async fn bind(state: &ServerState) -> Result<Vec<Listener>, ServerError> {
    let (addrs, tls_addrs, acceptor) = {
        let c = state.config();
        (c.listen_addrs(), c.tls_listen_addrs(), tls::acceptor(&c)?)
    };
    if addrs.is_empty() && tls_addrs.is_empty() {
        return Err(ServerError::NoAddress);
    }
    let mut listeners = Vec::new();
    for addr in tls_addrs {
        let l = TcpListener::bind(&addr)
            .await
            .map_err(|source| ServerError::Bind {
                addr: addr.clone(),
                source,
            })?;
        if let Ok(local) = l.local_addr() {
            info!("Ready to accept connections tls on {local}");
        }
        listeners.push(Listener {
            tcp: l,
            tls: acceptor.clone(),
        });
    }
    for addr in addrs {
        let l = TcpListener::bind(&addr)
            .await
            .map_err(|source| ServerError::Bind {
                addr: addr.clone(),
                source,
            })?;
        if let Ok(local) = l.local_addr() {
            state
                .tcp_port
                .store(local.port(), std::sync::atomic::Ordering::Relaxed);
            info!("Ready to accept connections tcp on {local}");
        }
        listeners.push(Listener { tcp: l, tls: None });
    }
    Ok(listeners)
}

/// Serves the listeners until shutdown is requested.
pub async fn run(state: Arc<ServerState>, listeners: Vec<Listener>) {
    let mut tasks = tokio::task::JoinSet::new();
    for l in listeners {
        tasks.spawn(accept_loop(state.clone(), l));
    }
    let cron = tokio::spawn(server_cron(state.clone()));
    while tasks.join_next().await.is_some() {}
    cron.abort();
}

/// Periodic work (like Redis' `serverCron`): active expiry, 10 times a second, each pass
/// bounded to a batch of keys so the store lock is held briefly.
async fn server_cron(state: Arc<ServerState>) {
    const EXPIRE_BATCH_KEYS_MAX: usize = 200;
    const PASSES_PER_TICK_MAX: usize = 25;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // A running script holds the store: skip this tick rather than block a
        // runtime thread until it ends.
        if state.scripts.run.is_running() {
            continue;
        }
        for _ in 0..PASSES_PER_TICK_MAX {
            let n = state.store.lock().expire_cycle(EXPIRE_BATCH_KEYS_MAX);
            if n < EXPIRE_BATCH_KEYS_MAX {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
}

async fn accept_loop(state: Arc<ServerState>, listener: Listener) {
    let mut shutdown = state.shutdown_signal();
    loop {
        let accepted = tokio::select! {
            r = listener.tcp.accept() => r,
            _ = shutdown.wait_for(|&s| s) => return,
        };
        match accepted {
            Ok((stream, peer)) => admit(&state, stream, peer, listener.tls.as_ref()),
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn admit(state: &Arc<ServerState>, stream: TcpStream, peer: SocketAddr, tls: Option<&TlsAcceptor>) {
    Stats::add(&state.stats.connections_received, 1);
    let laddr = stream.local_addr().unwrap_or(peer);
    let (max, keepalive, protected_mode) = {
        let c = state.config();
        (c.maxclients, c.tcp_keepalive, c.protected_mode)
    };
    if super::protected::refuses(protected_mode, state.acl.default_user().nopass, peer.ip()) {
        Stats::add(&state.stats.rejected_connections, 1);
        warn!(%peer, "connection refused: protected mode (no password for the default user)");
        if tls.is_some() {
            return; // the plain-text reply would be garbage inside TLS: just close
        }
        tokio::spawn(async move {
            let mut stream = stream;
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                stream.write_all(super::protected::DENIED_REPLY),
            )
            .await;
        });
        return;
    }
    let _ = stream.set_nodelay(true);
    if keepalive > 0 {
        let ka = socket2::TcpKeepalive::new().with_time(Duration::from_secs(keepalive));
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&ka);
    }
    #[cfg(unix)]
    let fd = std::os::fd::AsRawFd::as_raw_fd(&stream) as i64;
    #[cfg(not(unix))]
    let fd = -1;
    match state.clients.register(peer, laddr, fd, max) {
        Some(handle) => match tls {
            None => {
                tokio::spawn(connection::serve(
                    state.clone(),
                    ClientStream::Tcp(stream),
                    handle,
                ));
            }
            Some(acceptor) => {
                let (state, acceptor) = (state.clone(), acceptor.clone());
                // The handshake runs in the client's own task, bounded in time, so a
                // silent or hostile client never stalls the accept loop. The client
                // counts against maxclients from here (its registration).
                tokio::spawn(async move {
                    let hs = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                    match hs.await {
                        Ok(Ok(s)) => {
                            connection::serve(state, ClientStream::Tls(Box::new(s)), handle).await
                        }
                        Ok(Err(e)) => {
                            info!(%peer, "TLS handshake failed: {e}");
                            drop(state.clients.registration(handle.id));
                        }
                        Err(_) => {
                            info!(%peer, "TLS handshake timed out");
                            drop(state.clients.registration(handle.id));
                        }
                    }
                });
            }
        },
        None if tls.is_some() => {
            Stats::add(&state.stats.rejected_connections, 1);
        }
        None => {
            Stats::add(&state.stats.rejected_connections, 1);
            tokio::spawn(async move {
                let mut stream = stream;
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    stream.write_all(MAXCLIENTS_REPLY),
                )
                .await;
            });
        }
    }
}
