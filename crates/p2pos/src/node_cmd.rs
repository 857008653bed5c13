//! `p2pos node`: runs the node daemon until Ctrl-C or SIGTERM.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use p2pos_node::{Node, NodeConfig};
use tracing_subscriber::EnvFilter;

use crate::cli::NodeArgs;

/// The default log filter. The `turn` crate logs every refused datagram at ERROR, which would let
/// anyone flood the log with unauthenticated packets; its server module is silenced.
const DEFAULT_LOG_FILTER: &str = "info,turn::server=off,rtc=warn,rtc_ice=error,rtc_dtls=error,webrtc=warn";

/// Logs to stderr (colour only on a terminal); `RUST_LOG` overrides the filter.
pub fn install_tracing() {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER)))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// The node's config file: every key optional, named like the command-line flags.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    listen: Option<std::net::SocketAddr>,
    data_dir: Option<PathBuf>,
    web_dir: Option<PathBuf>,
    max_upload_bytes: Option<u64>,
    session_hours: Option<u64>,
    cors_origins: Option<Vec<String>>,
    record_ahead_secs: Option<u64>,
    record_behind_secs: Option<u64>,
    metrics_token: Option<String>,
    name: Option<String>,
    hub: Option<String>,
    public_url: Option<String>,
    webrtc: Option<bool>,
    http: Option<bool>,
    webrtc_timeout_secs: Option<u64>,
    rtc_bind: Option<Vec<std::net::SocketAddr>>,
    failed_retry_after_secs: Option<u64>,
    sync_interval_secs: Option<u64>,
    joining: Option<bool>,
}

fn read_config(path: &Path) -> Result<ConfigFile> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))
}

/// Flags (and their environment variables) over the config file over the defaults.
pub(crate) fn node_config(args: NodeArgs) -> Result<NodeConfig> {
    let explicit = args.config.clone();
    let mut file = match &explicit {
        Some(path) => read_config(path)?,
        None => ConfigFile::default(),
    };
    let data_dir = args.data_dir.or(file.data_dir.take()).unwrap_or_else(|| PathBuf::from("p2pos-data"));
    if explicit.is_none() {
        let default_path = data_dir.join("p2pos.toml");
        if default_path.is_file() {
            file = read_config(&default_path)?;
        }
    }
    let listen = args.listen.or(file.listen).unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 7700)));
    let mut config = NodeConfig::new(listen, data_dir);
    config.web_dir = Some(args.web_dir.or(file.web_dir).unwrap_or_else(|| PathBuf::from("apps/web/dist")));
    if let Some(bytes) = args.max_upload_bytes.or(file.max_upload_bytes) {
        config.max_upload_bytes = bytes;
    }
    if let Some(hours) = args.session_hours.or(file.session_hours) {
        config.session_ttl = std::time::Duration::from_secs(hours * 3600);
    }
    if let Some(secs) = args.record_ahead_secs.or(file.record_ahead_secs) {
        config.max_record_ahead = std::time::Duration::from_secs(secs);
    }
    if let Some(secs) = args.record_behind_secs.or(file.record_behind_secs) {
        config.max_record_behind = std::time::Duration::from_secs(secs);
    }
    config.joining = args.joining || file.joining.unwrap_or(false);
    config.metrics_token = args.metrics_token.or(file.metrics_token).filter(|t| !t.is_empty());
    config.cors_origins =
        if args.cors_origins.is_empty() { file.cors_origins.unwrap_or_default() } else { args.cors_origins };
    let rep = &mut config.replication;
    if let Some(name) = args.name.or(file.name) {
        rep.name = name;
    }
    rep.hub = args.hub.or(file.hub);
    rep.public_url = args.public_url.or(file.public_url).map(|u| u.trim_end_matches('/').to_string());
    rep.webrtc = !args.no_webrtc && file.webrtc.unwrap_or(true);
    rep.http = !args.no_http && file.http.unwrap_or(true);
    if !rep.webrtc && !rep.http {
        anyhow::bail!("--no-webrtc and --no-http together leave no way to reach peers");
    }
    if let Some(secs) = args.webrtc_timeout_secs.or(file.webrtc_timeout_secs) {
        rep.webrtc_timeout = std::time::Duration::from_secs(secs);
    }
    let rtc_bind = if args.rtc_bind.is_empty() { file.rtc_bind.unwrap_or_default() } else { args.rtc_bind };
    if !rtc_bind.is_empty() {
        rep.rtc_bind = rtc_bind;
    }
    if let Some(secs) = args.failed_retry_after_secs.or(file.failed_retry_after_secs) {
        rep.planner.failed_retry_after = std::time::Duration::from_secs(secs);
    }
    if let Some(secs) = args.sync_interval_secs.or(file.sync_interval_secs) {
        rep.planner.sync_interval = std::time::Duration::from_secs(secs.max(1));
    }
    Ok(config)
}

pub fn run(args: NodeArgs) -> Result<()> {
    install_tracing();
    let config = node_config(args)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let data_dir = config.data_dir.clone();
        let node = Node::bind(config).await.with_context(|| format!("starting the node in {}", data_dir.display()))?;
        let addr = node.local_addr()?;
        println!("p2pos node {} (data in {})", node.state().node_id(), data_dir.display());
        if let Some(hub) = &node.state().config().replication.hub {
            println!("hub: {hub}");
        }
        if let Some(code) = node.state().setup_code() {
            println!("This node belongs to no family yet. Setup code: {code}");
            println!(
                "In a browser, open the address below, create your identity, and enter this code to found the \
                 family (you become its first admin)."
            );
        } else if node.state().joining() {
            println!(
                "This node joins an existing family by enrollment (`p2pos peer add TOKEN`); it has no setup code."
            );
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
