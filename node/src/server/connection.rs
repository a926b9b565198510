//! One client connection: read, parse every complete command in the buffer,
//! execute, encode replies, flush them with one write, repeat.
//!
//! Bounds: the read buffer may hold at most `client-query-buffer-limit`
//! bytes of unprocessed input; replies are flushed whenever
//! `FLUSH_THRESHOLD` bytes are pending, so a long pipeline never builds a
//! large reply buffer, and a client whose pending replies exceed the hard
//! output limit (or the soft limit for longer than its time) is closed.

use std::{sync::Arc, time::Duration};

use bytes::BytesMut;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::{debug, info};

use super::{tls::ClientStream, ClientHandle, ClientState, ServerState, Stats};
use crate::{
    cmd::{dispatch, on_disconnect, Action, Ctx},
    config::ClassLimit,
    resp::{encode, ProtocolError, Reply, RequestParser},
};

/// Pending reply bytes that trigger a write in the middle of a pipeline.
const FLUSH_THRESHOLD: usize = 64 * 1024;
/// Minimum free space offered to each socket read.
const READ_CHUNK: usize = 16 * 1024;
/// Idle buffers larger than this are released.
const SHRINK_ABOVE: usize = 1024 * 1024;
/// How long the last replies before a close may take to write.
const FINAL_FLUSH_TIMEOUT: Duration = Duration::from_secs(1);
/// Largest single up-front reservation for a big bulk argument.
const MAX_RESERVE: usize = 64 * 1024 * 1024;

/// Why a connection ended.
#[derive(Debug, Error)]
enum Close {
    #[error("client closed the connection")]
    Eof,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Protocol(#[from] ProtocolError),
    #[error("closing client that reached max query buffer length ({0} bytes)")]
    QueryBufferLimit(usize),
    #[error("client scheduled to be closed for overcoming of output buffer limits")]
    OutputBufferLimit,
    #[error("idle timeout")]
    Idle,
    #[error("killed or QUIT")]
    Requested,
}

struct Connection {
    state: Arc<ServerState>,
    stream: ClientStream,
    client: ClientState,
    parser: RequestParser,
    rbuf: BytesMut,
    wbuf: BytesMut,
    /// `appendfsync always`: the WAL index the pending replies wait for (see
    /// `crate::persist`; 0 = none).
    durable_wait: u64,
}

/// Serves one accepted client until it disconnects or is closed.
pub async fn serve(state: Arc<ServerState>, stream: ClientStream, handle: Arc<ClientHandle>) {
    let _registration = state.clients.registration(handle.id);
    let mut conn = Connection {
        state: state.clone(),
        stream,
        client: {
            let mut c = ClientState::new(handle);
            c.session = Some(state.acl.new_session());
            c
        },
        parser: RequestParser::new(),
        rbuf: BytesMut::with_capacity(READ_CHUNK),
        wbuf: BytesMut::with_capacity(READ_CHUNK),
        durable_wait: 0,
    };
    let result = match conn.run().await {
        // Killed by a publisher: over the pub/sub output limit.
        Close::Requested
            if conn
                .client
                .pubsub
                .as_ref()
                .is_some_and(|s| s.mailbox.overflowed()) =>
        {
            Stats::add(&state.stats.output_buffer_limit_disconnections, 1);
            Close::OutputBufferLimit
        }
        other => other,
    };
    let id = conn.client.id();
    match result {
        Close::Eof | Close::Requested => debug!(client = id, "connection closed"),
        Close::Io(e) => debug!(client = id, "connection error: {e}"),
        other => info!(client = id, addr = %conn.client.handle.addr, "{other}"),
    }
}

impl Drop for Connection {
    /// Releases the client's watches and subscriptions (also when a handler panicked).
    fn drop(&mut self) {
        on_disconnect(&self.state, &mut self.client);
    }
}

impl Connection {
    async fn run(&mut self) -> Close {
        let handle = self.client.handle.clone();
        loop {
            if let Err(close) = self.process_buffer().await {
                if let Close::Protocol(e) = &close {
                    Stats::add(&self.state.stats.protocol_error_disconnections, 1);
                    Stats::add(&self.state.stats.error_replies, 1);
                    encode(&Reply::err(e), self.client.protocol(), &mut self.wbuf);
                }
                // Last words (an error, QUIT's +OK): bounded, not interruptible.
                let _ = tokio::time::timeout(FINAL_FLUSH_TIMEOUT, self.flush(false)).await;
                return close;
            }
            self.take_messages();
            if let Err(close) = self.flush(true).await {
                return close;
            }
            if handle.is_killed() {
                return Close::Requested;
            }
            let (limit, timeout) = {
                let c = self.state.config();
                if let Some(s) = &self.client.pubsub {
                    s.mailbox.set_limit(c.client_output_buffer_limit.pubsub);
                }
                (c.client_query_buffer_limit.bytes() as usize, c.timeout)
            };
            if self.rbuf.len() > limit {
                Stats::add(&self.state.stats.query_buffer_limit_disconnections, 1);
                return Close::QueryBufferLimit(self.rbuf.len());
            }
            handle
                .qbuf
                .store(self.rbuf.len(), std::sync::atomic::Ordering::Relaxed);
            self.shrink_idle_buffers();
            self.reserve_for_read(limit);
            let (stream, rbuf) = (&mut self.stream, &mut self.rbuf);
            // Subscribers wait for messages too; they are not idle (Redis' timeout
            // exempts pub/sub clients).
            let subscribed = self.client.subscribed();
            let read = async {
                if timeout > 0 && !subscribed {
                    tokio::time::timeout(Duration::from_secs(timeout), stream.read_buf(rbuf))
                        .await
                        .map_err(|_| Close::Idle)?
                        .map_err(Close::Io)
                } else {
                    stream.read_buf(rbuf).await.map_err(Close::Io)
                }
            };
            let message = async {
                match self.client.pubsub.as_deref_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            let n = tokio::select! {
                r = read => match r {
                    Ok(n) => n,
                    Err(close) => return close,
                },
                Some(msg) = message => {
                    if let Some(s) = self.client.pubsub.as_deref() {
                        if let Some(frame) = s.accept(msg) {
                            encode(&frame, self.client.protocol(), &mut self.wbuf);
                        }
                    }
                    continue;
                }
                _ = handle.killed() => return Close::Requested,
            };
            if n == 0 {
                return Close::Eof;
            }
            Stats::add(&self.state.stats.net_input_bytes, n as u64);
        }
    }

    /// Encodes queued pub/sub messages, at most about `FLUSH_THRESHOLD` bytes of them
    /// per round so that a burst never builds a large write buffer (the rest stays in
    /// the bounded mailbox).
    fn take_messages(&mut self) {
        let proto = self.client.protocol();
        if let Some(s) = self.client.pubsub.as_deref_mut() {
            let room = FLUSH_THRESHOLD.saturating_sub(self.wbuf.len());
            for frame in s.drain(room) {
                encode(&frame, proto, &mut self.wbuf);
            }
        }
    }

    /// Gives back the memory of a past large request or reply, as Redis'
    /// clientsCron does, so a connection does not keep its peak size.
    fn shrink_idle_buffers(&mut self) {
        if self.rbuf.is_empty() && self.rbuf.capacity() > SHRINK_ABOVE {
            self.rbuf = BytesMut::with_capacity(READ_CHUNK);
        }
        if self.wbuf.is_empty() && self.wbuf.capacity() > SHRINK_ABOVE {
            self.wbuf = BytesMut::with_capacity(READ_CHUNK);
        }
    }

    /// Makes room for the next read: at least `READ_CHUNK`, or what the
    /// pending bulk argument needs (capped), never past the query limit.
    fn reserve_for_read(&mut self, limit: usize) {
        let wanted = self.parser.wanted_len().saturating_sub(self.rbuf.len());
        let room = wanted.clamp(READ_CHUNK, MAX_RESERVE);
        let room = room.min(limit.saturating_sub(self.rbuf.len()).max(1) + 1);
        self.rbuf.reserve(room);
    }

    /// Executes every complete command in the read buffer.
    async fn process_buffer(&mut self) -> Result<(), Close> {
        let limits = self.state.config().parse_limits();
        while let Some(args) = self.parser.parse(&mut self.rbuf, &limits)? {
            // While a script runs: wait for it, or -BUSY (see `script::busy`).
            let busy = crate::script::busy::gate(&self.state, &args).await;
            let (mut reply, mut action, blocked) = match busy {
                Some(reply) => (reply, None, None),
                None => {
                    let mut ctx = Ctx::new(&self.state, &mut self.client);
                    let reply = dispatch(&mut ctx, &args);
                    (reply, ctx.action.take(), ctx.blocked.take())
                }
            };
            if action == Some(Action::Block) {
                action = None;
                if let Some(blocked) = blocked {
                    (reply, action) = self.wait_blocked(&args, blocked).await?;
                }
            }
            drop(args);
            self.note_durable_wait();
            Stats::add(&self.state.stats.commands_processed, 1);
            if reply.is_error() {
                Stats::add(&self.state.stats.error_replies, 1);
            }
            match action {
                Some(Action::Shutdown) => {
                    self.state.request_shutdown();
                    return Err(Close::Requested);
                }
                Some(Action::Close) => {
                    encode(&reply, self.client.protocol(), &mut self.wbuf);
                    return Err(Close::Requested);
                }
                Some(Action::Block) | None => {
                    encode(&reply, self.client.protocol(), &mut self.wbuf)
                }
            }
            if self.wbuf.len() >= FLUSH_THRESHOLD {
                self.flush(true).await?;
            }
            if self.client.handle.is_killed() {
                return Err(Close::Requested);
            }
        }
        Ok(())
    }

    /// Waits while the command `args` is blocked (see "Blocking commands" in `cmd/mod.rs`):
    /// re-runs it on every wake-up from the store until it stops blocking, and returns
    /// its reply and action, or the timeout reply at the deadline. Ends the connection
    /// on CLIENT KILL / shutdown, on disconnection and over the query buffer limit; the
    /// registration is dropped however this ends (also when the task is cancelled).
    async fn wait_blocked(
        &mut self,
        args: &[bytes::Bytes],
        mut blocked: crate::cmd::blocking::Blocked,
    ) -> Result<(Reply, Option<Action>), Close> {
        /// Cancels the registration unless the command was served.
        struct Registration<'s> {
            state: &'s ServerState,
            id: Option<crate::store::WaiterId>,
            handle: &'s ClientHandle,
        }
        impl Drop for Registration<'_> {
            fn drop(&mut self) {
                if let Some(id) = self.id {
                    self.state.store.lock().blocking().cancel(id);
                }
                self.handle.set_blocked(false);
            }
        }
        // Retries go through the table (its gates, e.g. READONLY, and its bookkeeping).
        // An attempt that blocks is not a call: the command counts once in INFO
        // commandstats, when it is served or times out.
        let state = self.state.clone();
        let entry = state.commands.lookup(args).ok();
        let count = |delta: i64| {
            if let Some(e) = entry {
                let calls = &e.stats.calls;
                if delta < 0 {
                    calls.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                } else {
                    calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        };
        count(-1);
        // The replies before the blocking command go out now.
        self.flush(true).await?;
        let handle = self.client.handle.clone();
        handle.set_blocked(true);
        let mut registration = Registration {
            state: &state,
            id: Some(blocked.id),
            handle: &handle,
        };
        let limit = self.state.config().client_query_buffer_limit.bytes() as usize;
        loop {
            let deadline = async {
                match blocked.deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let (stream, rbuf) = (&mut self.stream, &mut self.rbuf);
            if rbuf.capacity() - rbuf.len() < READ_CHUNK {
                rbuf.reserve(READ_CHUNK);
            }
            tokio::select! {
                _ = blocked.notify.notified() => {}
                _ = deadline => {
                    count(1);
                    return Ok((blocked.on_timeout, None));
                }
                _ = handle.killed() => return Err(Close::Requested),
                r = stream.read_buf(rbuf) => {
                    let n = r.map_err(Close::Io)?;
                    if n == 0 {
                        return Err(Close::Eof);
                    }
                    Stats::add(&self.state.stats.net_input_bytes, n as u64);
                    handle
                        .qbuf
                        .store(self.rbuf.len(), std::sync::atomic::Ordering::Relaxed);
                    if self.rbuf.len() > limit {
                        Stats::add(&self.state.stats.query_buffer_limit_disconnections, 1);
                        return Err(Close::QueryBufferLimit(self.rbuf.len()));
                    }
                    continue;
                }
            }
            let Some(entry) = entry else {
                return Ok((Reply::err("unknown command"), None));
            };
            let mut ctx = Ctx::retry(&state, &mut self.client, blocked.id);
            let reply = state.commands.run(&mut ctx, entry, args);
            match ctx.action.take() {
                Some(Action::Block) => {
                    if let Some(r) = ctx.retry_timeout_reply.take() {
                        blocked.on_timeout = r;
                    }
                    count(-1);
                    continue;
                }
                action => {
                    registration.id = None;
                    self.state.store.lock().blocking().served(blocked.id);
                    return Ok((reply, action));
                }
            }
        }
    }

    /// `appendfsync always`: the replies of this batch wait for every change applied so
    /// far (the command's own writes and the writes it may have read).
    fn note_durable_wait(&mut self) {
        if let Some(p) = self.state.persist.get() {
            if p.fsync() == crate::persist::Fsync::Always {
                let appended = p.appended_index();
                if appended > p.durable_index() {
                    self.durable_wait = self.durable_wait.max(appended);
                }
            }
        }
    }

    /// Waits until the changes the pending replies depend on are durable (one wait per
    /// batch: group commit). On a persistence failure the replies are replaced by one
    /// `-MISCONF` error and the connection closes: nothing is acknowledged.
    async fn wait_durable(&mut self, interruptible: bool) -> Result<(), Close> {
        let index = std::mem::take(&mut self.durable_wait);
        let Some(p) = self.state.persist.get().cloned() else {
            return Ok(());
        };
        if index == 0 || p.durable_index() >= index {
            return Ok(());
        }
        let handle = self.client.handle.clone();
        let killed = async {
            if interruptible {
                handle.killed().await
            } else {
                std::future::pending().await
            }
        };
        let r = tokio::select! {
            r = p.wait_durable(index) => r,
            _ = killed => return Err(Close::Requested),
        };
        if let Err(e) = r {
            self.wbuf.clear();
            let msg = format!("MISCONF write not acknowledged: {e}");
            encode(
                &Reply::error_code(msg.replace(['\r', '\n'], " ")),
                self.client.protocol(),
                &mut self.wbuf,
            );
            let _ = self.stream.write_all(&self.wbuf).await;
            let _ = self.stream.flush().await;
            self.wbuf.clear();
            return Err(Close::Requested);
        }
        Ok(())
    }

    /// Writes all pending replies, enforcing the output buffer limits.
    /// `interruptible`: a kill aborts a write blocked on a slow reader.
    async fn flush(&mut self, interruptible: bool) -> Result<(), Close> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        self.wait_durable(interruptible).await?;
        let limit: ClassLimit = {
            let limits = self.state.config().client_output_buffer_limit;
            if self.client.subscribed() {
                limits.pubsub
            } else {
                limits.normal
            }
        };
        let pending = self.wbuf.len();
        self.client
            .handle
            .omem
            .store(pending, std::sync::atomic::Ordering::Relaxed);
        if limit.hard > 0 && pending as u64 > limit.hard {
            Stats::add(&self.state.stats.output_buffer_limit_disconnections, 1);
            self.wbuf.clear();
            return Err(Close::OutputBufferLimit);
        }
        let handle = self.client.handle.clone();
        let soft_deadline =
            (limit.soft > 0 && limit.soft_seconds > 0 && pending as u64 > limit.soft)
                .then(|| Duration::from_secs(limit.soft_seconds));
        let (stream, wbuf) = (&mut self.stream, &self.wbuf);
        let write = async {
            // TLS buffers records inside the stream: flush pushes them out (a no-op on TCP).
            let write = async {
                stream.write_all(wbuf).await?;
                stream.flush().await
            };
            match soft_deadline {
                Some(d) => match tokio::time::timeout(d, write).await {
                    Ok(r) => r.map_err(Close::Io),
                    Err(_) => Err(Close::OutputBufferLimit),
                },
                None => write.await.map_err(Close::Io),
            }
        };
        let killed = async {
            if interruptible {
                handle.killed().await
            } else {
                std::future::pending().await
            }
        };
        let written = tokio::select! {
            r = write => r,
            _ = killed => Err(Close::Requested),
        };
        if let Err(close) = written {
            if matches!(close, Close::OutputBufferLimit) {
                Stats::add(&self.state.stats.output_buffer_limit_disconnections, 1);
            }
            return Err(close);
        }
        Stats::add(&self.state.stats.net_output_bytes, pending as u64);
        self.wbuf.clear();
        self.client
            .handle
            .omem
            .store(0, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}
