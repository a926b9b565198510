//! `meridian`: command-line entry point. Parses flags, loads the config,
//! sets up logging, runs the server until SHUTDOWN, SIGINT or SIGTERM.

use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use meridian_node::{
    cli::{Cli, Command},
    server::{self, ServerState},
};
use tracing::{info, warn};

/// Counts live heap bytes for `maxmemory` and INFO `used_memory` (see `memory.rs`).
#[global_allocator]
static ALLOCATOR: meridian_node::memory::CountingAlloc = meridian_node::memory::CountingAlloc;

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let args = match cli.command {
        Command::Server(args) => args,
        Command::Local(args) => return meridian_node::local::run(&args),
        Command::Admin(args) => return meridian_node::admin::cli::run(&args),
        Command::Certs(args) => return meridian_node::certs::run(&args),
        Command::CheckConfig(args) => return meridian_node::check_config::run(&args),
    };
    let config = args.load_config().context("invalid configuration")?;
    config
        .check()
        .map_err(|e| anyhow::anyhow!(e))
        .context("invalid configuration")?;
    meridian_node::observe::logging::init(&config);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    // MERIDIAN_WORKER_THREADS pins the number of runtime threads (benchmarks give each
    // server one core); the default is one per core.
    if let Some(n) = std::env::var("MERIDIAN_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        builder.worker_threads(n);
    }
    let runtime = builder
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let maxclients = config.maxclients;
        let state = Arc::new(ServerState::new(config, args.config.clone()));
        match server::fdlimit::raise_for_clients(maxclients) {
            Some(l) if l.after < maxclients + server::fdlimit::RESERVED_FDS => warn!(
                soft = l.after,
                hard = l.hard,
                maxclients,
                "open-files limit too low for maxclients: about {} clients can connect; raise the hard limit (ulimit -Hn)",
                l.after.saturating_sub(server::fdlimit::RESERVED_FDS)
            ),
            Some(l) if l.after > l.before => info!(
                from = l.before,
                to = l.after,
                "raised the open-files limit for maxclients"
            ),
            _ => {}
        }
        // The metrics endpoint comes up first, so /health answers 503 during recovery.
        let (metrics_port, bind) = {
            let c = state.config();
            (c.metrics_port, c.bind.clone())
        };
        if metrics_port != 0 {
            let listeners = meridian_node::observe::http::bind(&bind, metrics_port).await?;
            meridian_node::observe::http::spawn(state.clone(), listeners);
        }
        state.load_aclfile().context("aclfile")?;
        // Recovery runs first: the region link and the clients see the recovered data.
        let persist = meridian_node::persist::start(&state).context("persistence")?;
        // The region link starts before clients can connect, so a client never sees a
        // region that has not yet decided whether it may accept writes.
        let repl_config = state.config().clone();
        meridian_node::repl::start(&state, &repl_config)?;
        meridian_node::admin::server::start(&state).await?;
        let listeners = server::bind(&state).await?;
        state.observe.set_serving(true);
        info!(
            version = meridian_node::MERIDIAN_VERSION,
            region_id = state.config().region_id,
            "meridian server started"
        );
        let signal_state = state.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            info!("received signal, shutting down");
            signal_state.request_shutdown();
        });
        server::run(state.clone(), listeners).await;
        if let Some(p) = persist {
            p.shutdown();
        }
        info!("meridian is now ready to exit, bye bye...");
        anyhow::Ok(())
    })?;
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(())
}
