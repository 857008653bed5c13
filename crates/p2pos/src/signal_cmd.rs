//! `p2pos signal`: runs the hub until Ctrl-C or SIGTERM.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use p2pos_signal::server::{ServerConfig, SignalServer};
use p2pos_signal::{HubConfig, Limits, TurnConfig};

use crate::cli::SignalArgs;

pub fn run(args: SignalArgs) -> Result<()> {
    crate::node_cmd::install_tracing();
    let config = config(&args)?;
    let web = match &args.web_dir {
        Some(dir) => p2pos_node::web_app(dir),
        None => axum::Router::new(),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let server = SignalServer::start(listener, config, web)?;
        let addr = server.local_addr();
        // Scripts and tests read this line to find the port.
        println!("p2pos signal listening on http://{addr} (native: ws://{addr}/v1/ws, PeerJS: ws://{addr}/peerjs)");
        crate::node_cmd::shutdown_signal().await;
        server.shutdown().await;
        Ok(())
    })
}

fn config(args: &SignalArgs) -> Result<ServerConfig> {
    let limits = Limits {
        max_message_bytes: args.max_message_bytes,
        rate_per_sec: args.rate,
        burst: args.burst,
        max_connections: args.max_connections,
        max_connections_per_ip: args.max_connections_per_ip,
        max_namespace_peers: args.max_namespace_peers,
        heartbeat: Duration::from_secs(args.heartbeat_secs),
        idle_timeout: Duration::from_secs(args.idle_timeout_secs),
        room_ttl: Duration::from_secs(args.room_ttl_secs),
        ..Limits::default()
    };
    let mut secret = args.turn_secret.clone();
    if secret.is_none() && args.dev {
        let generated = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 36]>());
        println!("dev mode: generated TURN secret (use it as coturn's static-auth-secret): {generated}");
        secret = Some(generated);
    }
    let turn = match (secret, args.turn_urls.is_empty()) {
        (None, true) => None,
        (None, false) => bail!("--turn-url needs a secret: set P2POS_TURN_SECRET or --turn-secret (or use --dev)"),
        (Some(secret), _) => Some(TurnConfig::new(secret, args.turn_urls.clone(), args.turn_ttl_secs)?),
    };
    Ok(ServerConfig {
        hub: HubConfig {
            limits,
            stun_urls: args.stun_urls.clone(),
            turn,
            peerjs_key: args.peerjs_key.clone(),
            peerjs_discovery: args.peerjs_discovery,
        },
        trusted_proxies: args.trusted_proxies.clone(),
    })
}
