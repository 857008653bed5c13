//! `p2pos enroll` and `p2pos peer …`: enrolment between a family's nodes, on a node's data dir
//! (the node may be running: it picks up new and removed peers within seconds).

use std::time::Duration;

use anyhow::{Context, Result, bail};
use p2pos_net::clock::now_ms;
use p2pos_node::NodeConfig;
use p2pos_node::enroll::{self, DataDir, EnrollToken};
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

use crate::cli::{EnrollArgs, NodeArgs, NodeDirArgs, PeerAddArgs, PeerCommand, PeerListArgs, PeerRemoveArgs};

/// The node's settings as `p2pos node` would read them.
fn node_config(args: NodeDirArgs) -> Result<NodeConfig> {
    crate::node_cmd::node_config(NodeArgs {
        config: args.config,
        data_dir: args.data_dir,
        hub: args.hub,
        ..Default::default()
    })
}

fn open(config: &NodeConfig) -> Result<DataDir> {
    DataDir::open(&config.data_dir).with_context(|| format!("opening the node in {}", config.data_dir.display()))
}

/// The flag or config value, else what the node recorded when it last started.
fn setting(dir: &DataDir, given: Option<String>, key: &str) -> Result<Option<String>> {
    Ok(match given {
        Some(v) => Some(v),
        None => dir.setting(key)?,
    })
}

pub fn enroll(args: EnrollArgs) -> Result<()> {
    let config = node_config(args.node)?;
    let dir = open(&config)?;
    let Some(hub) = setting(&dir, config.replication.hub.clone(), "hub")? else {
        bail!("no hub: start the node with --hub URL (or give --hub here), the hub both nodes use");
    };
    let Some(family) = dir.family()? else {
        bail!("this node belongs to no family yet: claim it in the web app with its setup code first");
    };
    let token = enroll::issue(&dir.db, dir.node_id(), &family, &hub, now_ms())?;
    let text = token.encode();
    println!("{text}");
    if !args.no_qr {
        let qr = QrCode::new(text.as_bytes()).context("making the QR code")?;
        println!("\n{}", qr.render::<Dense1x2>().quiet_zone(true).build());
    }
    eprintln!(
        "On the other node run `p2pos peer add <token>` (or paste it on its Nodes page) within {} minutes; \
         it works once. This node must be running and connected to {hub}.",
        enroll::TOKEN_TTL.as_secs() / 60
    );
    Ok(())
}

pub fn run(command: PeerCommand) -> Result<()> {
    match command {
        PeerCommand::Add(args) => add(args),
        PeerCommand::List(args) => list(args),
        PeerCommand::Remove(args) => remove(args),
    }
}

fn add(args: PeerAddArgs) -> Result<()> {
    let token = EnrollToken::parse(&args.token)?;
    let config = node_config(args.node)?;
    let dir = open(&config)?;
    if token.node == dir.node_id() {
        bail!("this token was issued by this node; run `p2pos peer add` on the other node");
    }
    if let Some(family) = dir.family()?
        && family != token.family
    {
        bail!("this node belongs to another family ({family}); a node serves one family");
    }
    let name = match args.name {
        Some(name) => name,
        None => dir.setting("name")?.unwrap_or(config.replication.name.clone()),
    };
    let public_url = setting(&dir, args.public_url.or(config.replication.public_url.clone()), "public_url")?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let (peer, _) =
        runtime.block_on(enroll::join(&token, &dir.key, &name, public_url.as_deref(), Duration::from_secs(30)))?;
    enroll::pin(&dir.db, &peer)?;
    println!("enrolled with {} ({})", peer.name, peer.node);
    Ok(())
}

fn list(args: PeerListArgs) -> Result<()> {
    let config = node_config(args.node)?;
    let peers = open(&config)?.peers()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&peers)?);
        return Ok(());
    }
    if peers.is_empty() {
        println!("no peers yet: enrol one with `p2pos enroll` here and `p2pos peer add` there");
    }
    for peer in peers {
        println!("{}  {}  {}", peer.node, peer.name, peer.base_url.as_deref().unwrap_or("(WebRTC only)"));
    }
    Ok(())
}

fn remove(args: PeerRemoveArgs) -> Result<()> {
    let node = args.id.parse().with_context(|| format!("'{}' is not a node id", args.id))?;
    let config = node_config(args.node)?;
    if !open(&config)?.remove_peer(&node)? {
        bail!("{node} is not a peer of this node");
    }
    println!("removed {node}");
    Ok(())
}
