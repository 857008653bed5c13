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
    let mut config = NodeConfig::new(args.listen, args.data_dir);
    config.web_dir = Some(args.web_dir);
    config.max_upload_bytes = args.max_upload_bytes;
    config.session_ttl = std::time::Duration::from_secs(args.session_hours * 3600);
    config.cors_origins = args.cors_origins;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let data_dir = config.data_dir.clone();
        let node = Node::bind(config).await.with_context(|| format!("starting the node in {}", data_dir.display()))?;
        let addr = node.local_addr()?;
        println!("p2pos node {} (data in {})", node.state().node_id(), data_dir.display());
        if let Some(code) = node.state().setup_code() {
            println!("This node belongs to no family yet. Setup code: {code}");
            println!("Open the web app, create your identity, and enter the code to become the family's admin.");
        }
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
