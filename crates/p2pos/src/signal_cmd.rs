//! `p2pos signal`: runs the hub (and optionally its embedded STUN/TURN) until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use p2pos_signal::embedded_turn::{EmbeddedTurn, EmbeddedTurnConfig};
use p2pos_signal::server::{ServerConfig, SignalServer};
use p2pos_signal::{BeaconSecret, HubConfig, Limits, TurnConfig};

use crate::cli::SignalArgs;

/// The conventional STUN/TURN port, used by `--dev`.
const TURN_PORT: u16 = 3478;

pub fn run(args: SignalArgs) -> Result<()> {
    crate::node_cmd::install_tracing();
    let (config, embedded) = config(&args)?;
    let web = match &args.web_dir {
        Some(dir) => p2pos_node::web_app(dir),
        None => axum::Router::new(),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let turn = match (&embedded, &config.hub.turn) {
            (Some(turn_config), Some(turn)) => {
                let server = EmbeddedTurn::start(turn_config, turn.secret().to_string()).await?;
                println!("embedded STUN/TURN on udp://{} (relays on {})", server.local_addr(), turn_config.relay_ip);
                Some(server)
            }
            _ => None,
        };
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let server = SignalServer::start(listener, config, web)?;
        let addr = server.local_addr();
        // Scripts and tests read this line to find the port.
        println!("p2pos signal listening on http://{addr} (native: ws://{addr}/v1/ws, PeerJS: ws://{addr}/peerjs)");
        crate::node_cmd::shutdown_signal().await;
        server.shutdown().await;
        if let Some(turn) = turn {
            turn.close().await;
        }
        Ok(())
    })
}

fn config(args: &SignalArgs) -> Result<(ServerConfig, Option<EmbeddedTurnConfig>)> {
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
    let embedded_addr = args.embedded_turn.or(args.dev.then(|| SocketAddr::new(args.listen.ip(), TURN_PORT)));
    let embedded = match embedded_addr {
        None => None,
        Some(listen) => {
            let relay_ip = match args.turn_relay_ip {
                Some(ip) => ip,
                None if !listen.ip().is_unspecified() => listen.ip(),
                None => {
                    bail!("--embedded-turn on {listen} needs --turn-relay-ip: the address peers reach this host at")
                }
            };
            if args.turn_min_port > args.turn_max_port {
                bail!("--turn-min-port {} is above --turn-max-port {}", args.turn_min_port, args.turn_max_port);
            }
            Some(EmbeddedTurnConfig {
                listen,
                relay_ip,
                min_port: args.turn_min_port,
                max_port: args.turn_max_port,
                realm: "p2pos".into(),
                // --dev runs everything on one machine, where peers are on loopback.
                allow_private_peers: args.turn_allow_private_peers || args.dev,
            })
        }
    };
    let mut turn_urls = args.turn_urls.clone();
    let mut stun_urls = args.stun_urls.clone();
    if let Some(e) = &embedded {
        let host = SocketAddr::new(e.relay_ip, e.listen.port());
        if turn_urls.is_empty() {
            turn_urls.push(format!("turn:{host}?transport=udp"));
        }
        if stun_urls.is_empty() {
            stun_urls.push(format!("stun:{host}"));
        }
    }
    let turn = match (secret, turn_urls.is_empty()) {
        (None, true) => None,
        (None, false) => bail!("TURN needs a secret: set P2POS_TURN_SECRET or --turn-secret (or use --dev)"),
        (Some(secret), _) => Some(TurnConfig::new(secret, turn_urls, args.turn_ttl_secs)?),
    };
    let swap_drop_keys = if args.test_swap_drop_keys {
        eprintln!("warning: --test-swap-drop-keys: this hub attacks Drop (it swaps the keys in every drop hello)");
        Some(p2pos_core::drop::EphemeralKey::generate()?.public_b64())
    } else {
        None
    };
    let beacon_secret = match &args.beacon_secret {
        None => None,
        Some(secret) => Some(BeaconSecret::new(secret.as_bytes()).context("--beacon-secret")?),
    };
    let hub = HubConfig {
        limits,
        stun_urls,
        turn,
        peerjs_key: args.peerjs_key.clone(),
        peerjs_discovery: args.peerjs_discovery,
        swap_drop_keys,
        beacon_secret,
        // URLs; the server turns them into origins (and refuses one that has none).
        alt_origins: args.alt_origins.clone(),
    };
    Ok((
        ServerConfig {
            hub,
            trusted_proxies: args.trusted_proxies.clone(),
            public_urls: args.public_urls.clone(),
            ..ServerConfig::default()
        },
        embedded,
    ))
}
