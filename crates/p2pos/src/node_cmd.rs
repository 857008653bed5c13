//! `p2pos node`: runs the node daemon until Ctrl-C or SIGTERM.

use anyhow::{Context, Result};
use p2pos_node::{Node, NodeConfig};
use tracing_subscriber::EnvFilter;

use crate::cli::NodeArgs;

/// The default log filter. The `turn` crate logs every refused datagram at ERROR, which would let
/// anyone flood the log with unauthenticated packets; its server module is silenced.
const DEFAULT_LOG_FILTER: &str = "info,turn::server=off";

/// Logs to stderr (colour only on a terminal); `RUST_LOG` overrides the filter.
pub fn install_tracing() {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER)))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

pub fn run(args: NodeArgs) -> Result<()> {
    install_tracing();
    let config = NodeConfig { listen: args.listen, web_dir: Some(args.web_dir) };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let node = Node::bind(&config).await.with_context(|| format!("listening on {}", config.listen))?;
        let addr = node.local_addr()?;
        // Scripts and tests read this line to find the port.
        println!("p2pos node listening on http://{addr}");
        node.run(shutdown_signal()).await.context("serving HTTP")
    })
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; stop with Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
