//! The command-line grammar. `--help` is generated from these doc comments: keep them true.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// P2POS keeps a family's photos and messages on machines it owns.
///
/// Identity files hold your signing and decryption keys. Unless --insecure-no-passphrase was
/// used they are encrypted with a passphrase, asked for on the terminal, or taken from
/// --passphrase-file or the P2POS_PASSPHRASE environment variable.
#[derive(Debug, Parser)]
#[command(name = "p2pos", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and show identities (your keys).
    #[command(subcommand)]
    Id(IdCommand),
    /// Verify and sign records (signed JSON metadata).
    #[command(subcommand)]
    Record(RecordCommand),
    /// Encrypt a file to one or more age recipients (age1...).
    Encrypt(EncryptArgs),
    /// Decrypt an age file with your identity.
    Decrypt(DecryptArgs),
    /// Run a node: the web app and the /v1 API.
    Node(Box<NodeArgs>),
    /// Export the family's photos from a node's data dir as age files plus a manifest.
    Export(ExportArgs),
    /// Run the hub: WebRTC signaling, identity proofs, TURN credentials (PeerJS-compatible too).
    Signal(Box<SignalArgs>),
    /// Start the demo family on this machine: a hub with STUN/TURN and two nodes, Oak and Pine.
    Up(UpArgs),
    /// Issue a one-time enrolment token (text and QR) so another node can join this node's family.
    Enroll(EnrollArgs),
    /// The nodes this node replicates with: add (with a token), list, remove.
    #[command(subcommand)]
    Peer(PeerCommand),
    /// Drop an image: print a view-once link (and QR) and send the image, end to end encrypted,
    /// to whoever opens it first (a browser, or `p2pos receive`).
    Send(SendArgs),
    /// Receive a drop from its link and save the image.
    Receive(ReceiveArgs),
    /// Chat from the terminal: find people on this network, make them contacts by proving
    /// identities, and talk end to end (the same protocol as the web app's Chat).
    ///
    /// It reads commands from stdin, one a line, and writes what happens to stdout (one JSON
    /// object a line with --json: ready, arrived, asked, open, message, receipt, image, ...):
    ///
    ///   /nearby           list the people on this network (numbered)
    ///   /connect N        ask nearby person N to connect (a saved contact is called instead)
    ///   /accept, /decline answer the oldest connection request
    ///   /contacts         list saved contacts
    ///   /call NAME|ID     ring a saved contact wherever it is (through the hub, by identity)
    ///   /send TEXT        send a message in the current chat (a line without / does too)
    ///   /reply ID TEXT    answer message ID
    ///   /image PATH       send an image (JPEG, PNG, GIF or WebP; at most 16 MiB)
    ///   /typing           say "typing…"
    ///   /leave            close the current chat
    ///   /quit             leave every chat and exit (end of input does too)
    ///
    /// Contacts (identity, name, shared secret, last seen) live in DIR/contacts.json, messages
    /// are appended to DIR/history.jsonl, received images saved in DIR/images/. A message shown
    /// is marked read (the sender gets a read receipt). Only contacts may ring this identity
    /// through the hub (contacts-only mode).
    #[command(verbatim_doc_comment)]
    Chat(ChatArgs),
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The hub, e.g. wss://hub.example.org/v1/ws.
    #[arg(long, env = "P2POS_HUB", value_name = "URL")]
    pub hub: String,
    /// The identity file (the web app's "Download identity" file works too) [default:
    /// $P2POS_IDENTITY, else ~/.config/p2pos/identity.age].
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// The name others see (1-64 characters).
    #[arg(long)]
    pub name: String,
    /// Where contacts, history and received images are kept.
    #[arg(long, default_value = "p2pos-chat")]
    pub dir: PathBuf,
    /// Write one JSON object a line (for scripts and tests) instead of text.
    #[arg(long)]
    pub json: bool,
    /// See people on this network without being listed to them.
    #[arg(long)]
    pub hidden: bool,
    /// Local UDP address for WebRTC (repeatable) [default: 0.0.0.0:0].
    #[arg(long = "rtc-bind", value_name = "ADDR")]
    pub rtc_bind: Vec<SocketAddr>,
    /// For tests only: claim this identity id in the proof (signed with the real key, so the
    /// other side must refuse it as a squatter).
    #[arg(long, hide = true, value_name = "ID")]
    pub test_claim_identity: Option<String>,
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The image to send (JPEG, PNG, GIF or WebP; at most 32 MiB).
    pub file: PathBuf,
    /// The hub, e.g. wss://hub.example.org/v1/ws.
    #[arg(long, env = "P2POS_HUB", value_name = "URL")]
    pub hub: String,
    /// The web app's address for the link [default: the hub's own, http(s) for ws(s)].
    #[arg(long, value_name = "URL")]
    pub web_url: Option<String>,
    /// How long the receiver may look at the image, 5-60 seconds.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(5..=60))]
    pub seconds: u32,
    /// Print the link only (no QR code).
    #[arg(long)]
    pub no_qr: bool,
    /// Local UDP address for WebRTC (repeatable) [default: 0.0.0.0:0].
    #[arg(long = "rtc-bind", value_name = "ADDR")]
    pub rtc_bind: Vec<SocketAddr>,
}

#[derive(Debug, Args)]
pub struct ReceiveArgs {
    /// The drop link, https://<hub>/drop/<room>#<secret> (quote it: it contains '#').
    pub link: String,
    /// Where to save the image [default: the sender's file name, in the current directory].
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// The name the sender sees (and the browser would watermark the image with).
    #[arg(long, default_value = "p2pos receive")]
    pub name: String,
    /// The hub [default: the one the link's address serves].
    #[arg(long, value_name = "URL")]
    pub hub: Option<String>,
    /// Local UDP address for WebRTC (repeatable) [default: 0.0.0.0:0].
    #[arg(long = "rtc-bind", value_name = "ADDR")]
    pub rtc_bind: Vec<SocketAddr>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Where the family's data lives (oak/, pine/); the same folder resumes the same family.
    #[arg(long, default_value = "p2pos-family")]
    pub dir: PathBuf,
    /// The address everything listens on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    #[arg(long, default_value_t = 7800)]
    pub hub_port: u16,
    #[arg(long, default_value_t = 7701)]
    pub oak_port: u16,
    #[arg(long, default_value_t = 7702)]
    pub pine_port: u16,
    /// UDP port of the hub's embedded STUN/TURN server.
    #[arg(long, default_value_t = 3478)]
    pub turn_port: u16,
    /// Directory of the built web app.
    #[arg(long, env = "P2POS_WEB_DIR", default_value = "apps/web/dist")]
    pub web_dir: PathBuf,
}

/// Which node: the same `--data-dir`/`--config` as `p2pos node` (its hub, name and URL come along).
#[derive(Debug, Args)]
pub struct NodeDirArgs {
    /// The node's config file [default: <data dir>/p2pos.toml, if it exists].
    #[arg(long, env = "P2POS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The node's data dir [default: p2pos-data].
    #[arg(long, env = "P2POS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The hub (overrides the node's config).
    #[arg(long, env = "P2POS_HUB", value_name = "URL")]
    pub hub: Option<String>,
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    #[command(flatten)]
    pub node: NodeDirArgs,
    /// Print the token only (no QR code).
    #[arg(long)]
    pub no_qr: bool,
}

#[derive(Debug, Subcommand)]
pub enum PeerCommand {
    /// Join the family of the node that issued TOKEN: both nodes pin each other's key, through
    /// the hub named in the token. A running node starts replicating within seconds.
    Add(PeerAddArgs),
    /// List the enrolled peers.
    List(PeerListArgs),
    /// Stop replicating with a peer and refuse its requests.
    Remove(PeerRemoveArgs),
}

#[derive(Debug, Args)]
pub struct PeerAddArgs {
    /// The token from `p2pos enroll` (or the other node's Nodes page).
    pub token: String,
    #[command(flatten)]
    pub node: NodeDirArgs,
    /// This node's name as the family sees it [default: the node's --name].
    #[arg(long)]
    pub name: Option<String>,
    /// This node's base URL for the other node (HTTP fallback) [default: the node's --public-url].
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct PeerListArgs {
    #[command(flatten)]
    pub node: NodeDirArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PeerRemoveArgs {
    /// The peer's node id.
    pub id: String,
    #[command(flatten)]
    pub node: NodeDirArgs,
}

#[derive(Debug, Subcommand)]
pub enum IdCommand {
    /// Create a new identity file (Ed25519 signing key + X25519 age identity).
    New(IdNewArgs),
    /// Print an identity's readable id, its age recipient, and its member card (text and QR) that an
    /// admin scans or pastes to add it to a family.
    Show(IdShowArgs),
    /// Check an id someone read out or sent you; prints its canonical form or says what is wrong.
    Check(IdCheckArgs),
}

#[derive(Debug, Args)]
pub struct IdCheckArgs {
    /// The id, e.g. XXXXXXX-XXXXXXX-... (case, dashes and spaces do not matter).
    #[arg(required = true, num_args = 1..)]
    pub id: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PassphraseArgs {
    /// Read the passphrase from the first line of this file instead of asking.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct IdNewArgs {
    /// Where to write it [default: $P2POS_IDENTITY, else ~/.config/p2pos/identity.age].
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace an existing file at that path (its keys are lost).
    #[arg(long)]
    pub force: bool,
    /// Write the keys unencrypted. For tests and throwaway identities only.
    #[arg(long, conflicts_with = "passphrase_file")]
    pub insecure_no_passphrase: bool,
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
}

#[derive(Debug, Args)]
pub struct IdShowArgs {
    /// The identity file [default: $P2POS_IDENTITY, else ~/.config/p2pos/identity.age].
    pub file: Option<PathBuf>,
    /// Print JSON {"id", "recipient"} instead of text and QR.
    #[arg(long)]
    pub json: bool,
    /// Leave out the QR code.
    #[arg(long)]
    pub no_qr: bool,
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
}

#[derive(Debug, Subcommand)]
pub enum RecordCommand {
    /// Check a signed record; prints the signer and the body. Exits 1 if it does not verify.
    Verify(RecordVerifyArgs),
    /// Sign a JSON object with your identity; prints the signed record.
    Sign(RecordSignArgs),
}

#[derive(Debug, Args)]
pub struct RecordVerifyArgs {
    /// The record as JSON {body, signer, sig}; `-` or nothing reads standard input.
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RecordSignArgs {
    /// The identity file that signs.
    #[arg(long, short, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// The body: a JSON object, signed byte for byte except trailing whitespace (such as the final
    /// newline); `-` or nothing reads standard input.
    pub body: Option<PathBuf>,
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
}

#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// A recipient (age1...); repeat for several.
    #[arg(long, short, required = true, value_name = "RECIPIENT")]
    pub recipient: Vec<String>,
    /// Write ASCII armor instead of binary.
    #[arg(long, short)]
    pub armor: bool,
    /// Output file; standard output if absent.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Input file; standard input if absent or `-`.
    pub input: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// The identity file whose age key opens the file.
    #[arg(long, short, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Output file, created only once the whole input has authenticated; standard output if absent.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Input file (binary or armored); standard input if absent or `-`.
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
}

/// Settings come from, in order of precedence: these flags, their environment variables, the
/// config file, then the defaults shown here.
#[derive(Debug, Default, Args)]
pub struct NodeArgs {
    /// A TOML file with any of the settings below (keys as the flags, with underscores)
    /// [default: <data dir>/p2pos.toml, if it exists].
    #[arg(long, env = "P2POS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:7700].
    #[arg(long, env = "P2POS_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Where the node keeps its database, blobs and node key [default: p2pos-data].
    #[arg(long, env = "P2POS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Largest blob upload, in bytes [default: 2147483648, 2 GiB].
    #[arg(long, env = "P2POS_MAX_UPLOAD_BYTES")]
    pub max_upload_bytes: Option<u64>,
    /// Session lifetime, in hours [default: 12].
    #[arg(long, env = "P2POS_SESSION_HOURS")]
    pub session_hours: Option<u64>,
    /// How far ahead of this node's clock a record may be stamped, in seconds: a client's record
    /// beyond it is refused, a peer's is held until its time [default: 60].
    #[arg(long, env = "P2POS_RECORD_AHEAD_SECS", value_name = "SECS")]
    pub record_ahead_secs: Option<u64>,
    /// How far behind this node's clock a client's record may be stamped, in seconds (closes
    /// backdating by removed members) [default: 600].
    #[arg(long, env = "P2POS_RECORD_BEHIND_SECS", value_name = "SECS")]
    pub record_behind_secs: Option<u64>,
    /// The bearer token `/metrics` asks for [default: none; then only clients on this machine
    /// that came through no proxy may read `/metrics`].
    #[arg(long, env = "P2POS_METRICS_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// An origin (scheme://host:port) allowed to call the API from another site, with cookies
    /// (repeatable) [default: none, CORS off].
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// Directory of the built web app [default: apps/web/dist].
    #[arg(long, env = "P2POS_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// This node's name, shown to the family (e.g. Oak) [default: the host name].
    #[arg(long, env = "P2POS_NAME")]
    pub name: Option<String>,
    /// The hub for WebRTC and enrolment, e.g. wss://hub.example.org/v1/ws [default: none].
    #[arg(long, env = "P2POS_HUB", value_name = "URL")]
    pub hub: Option<String>,
    /// This node's base URL as its peers reach it, for the HTTP fallback, e.g.
    /// https://oak.example.org [default: none; peers then use WebRTC only].
    #[arg(long, env = "P2POS_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Do not replicate over WebRTC (HTTP only). Members' browsers can still open the vault
    /// through the hub (the vault from anywhere).
    #[arg(long)]
    pub no_webrtc: bool,
    /// Do not replicate over HTTP (WebRTC only).
    #[arg(long)]
    pub no_http: bool,
    /// Seconds to try WebRTC before falling back to HTTP [default: 10].
    #[arg(long, env = "P2POS_WEBRTC_TIMEOUT_SECS", value_name = "SECS")]
    pub webrtc_timeout_secs: Option<u64>,
    /// Local UDP address for WebRTC (repeatable), e.g. 127.0.0.1:0 for a family on one machine
    /// [default: 0.0.0.0:0, every non-loopback interface].
    #[arg(long = "rtc-bind", value_name = "UDP_ADDR")]
    pub rtc_bind: Vec<SocketAddr>,
    /// Seconds before a failed blob transfer is tried again [default: 120].
    #[arg(long, env = "P2POS_REP_FAILED_RETRY_AFTER_SECS", value_name = "SECS")]
    pub failed_retry_after_secs: Option<u64>,
    /// Seconds between syncs with each peer when nothing prompts one [default: 2].
    #[arg(long, env = "P2POS_REP_SYNC_INTERVAL_SECS", value_name = "SECS")]
    pub sync_interval_secs: Option<u64>,
    /// This node will join an existing family by enrolment (`p2pos peer add TOKEN`): it prints no
    /// setup code and cannot be claimed [default: off; a new node waits for its setup code].
    #[arg(long)]
    pub joining: bool,
}

#[derive(Debug, Args)]
pub struct SignalArgs {
    /// Address to listen on (HTTP and WebSocket); port 0 picks a free port.
    #[arg(long, env = "P2POS_SIGNAL_LISTEN", default_value = "127.0.0.1:7800")]
    pub listen: SocketAddr,
    /// Development mode: generate and print a random TURN secret if none is set.
    #[arg(long)]
    pub dev: bool,
    /// Shared secret for TURN REST credentials (same as coturn's static-auth-secret), at least 32 bytes.
    #[arg(long, env = "P2POS_TURN_SECRET", hide_env_values = true, allow_hyphen_values = true)]
    pub turn_secret: Option<String>,
    /// TURN URL handed to clients, e.g. turn:turn.example.org:3478?transport=udp (repeatable).
    /// Setting one enables TURN and requires a secret.
    #[arg(long = "turn-url", value_name = "URL")]
    pub turn_urls: Vec<String>,
    /// STUN URL handed to clients, e.g. stun:turn.example.org:3478 (repeatable).
    #[arg(long = "stun-url", value_name = "URL")]
    pub stun_urls: Vec<String>,
    /// Run the built-in STUN/TURN server on this UDP address (e.g. 0.0.0.0:3478). Its URLs are
    /// handed out unless --turn-url/--stun-url are given. `--dev` runs it on <listen ip>:3478.
    #[arg(long, value_name = "UDP_ADDR")]
    pub embedded_turn: Option<SocketAddr>,
    /// The public address of this host, where peers reach relayed ports
    /// [default: the --embedded-turn address, unless it is 0.0.0.0].
    #[arg(long, value_name = "IP")]
    pub turn_relay_ip: Option<std::net::IpAddr>,
    /// Lowest UDP port for relays of the embedded TURN server.
    #[arg(long, default_value_t = 49152)]
    pub turn_min_port: u16,
    /// Highest UDP port for relays of the embedded TURN server.
    #[arg(long, default_value_t = 65535)]
    pub turn_max_port: u16,
    /// Let the embedded TURN server relay to loopback and private addresses (single-machine demos
    /// and labs). Off by default: relays reach public addresses only.
    #[arg(long)]
    pub turn_allow_private_peers: bool,
    /// Lifetime of TURN credentials, in seconds.
    #[arg(long, default_value_t = 600)]
    pub turn_ttl_secs: u64,
    /// A reverse proxy whose X-Forwarded-For header is trusted (repeatable).
    #[arg(long = "trusted-proxy", value_name = "IP")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// This hub's public URL as clients reach it, e.g. https://hub.example.org (repeatable, one
    /// per name). Logins are signed for the hub's origin, and only these origins are accepted, so a
    /// rogue hub cannot relay a login here. Set it on every hub reachable from the internet
    /// [default: none; then the origin of each request's Host header is accepted].
    #[arg(long = "public-url", env = "P2POS_HUB_PUBLIC_URL", value_name = "URL", value_delimiter = ',')]
    pub public_urls: Vec<String>,
    /// Another origin this hub is reached at, e.g. http://[::1]:7800 beside
    /// http://127.0.0.1:7800 (repeatable): pages learn it with their beacon token and fetch a
    /// network proof there, so neighbours over IPv4 and over IPv6 find each other.
    #[arg(long = "alt-origin", value_name = "URL")]
    pub alt_origins: Vec<String>,
    /// Key of the beacon tokens that gate the network namespace and rv: names, at least 32
    /// bytes; the same on every hub behind one name [default: random at each start].
    #[arg(long, env = "P2POS_BEACON_SECRET", hide_env_values = true)]
    pub beacon_secret: Option<String>,
    /// The key PeerJS clients must use.
    #[arg(long, default_value = "peerjs")]
    pub peerjs_key: String,
    /// Let PeerJS clients list connected ids (GET /peerjs/peers).
    #[arg(long)]
    pub peerjs_discovery: bool,
    /// Largest WebSocket message, in bytes.
    #[arg(long, default_value_t = 16 * 1024)]
    pub max_message_bytes: usize,
    /// Messages per second per connection (token bucket rate); 0 disables rate limiting.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Token bucket burst per connection.
    #[arg(long, default_value_t = 20.0)]
    pub burst: f64,
    /// Connections the hub holds at once (beyond: HTTP 503).
    #[arg(long, default_value_t = 10_000)]
    pub max_connections: usize,
    /// Connections per IP address, IPv6 per /64 (beyond: HTTP 429).
    #[arg(long, default_value_t = 50)]
    pub max_connections_per_ip: usize,
    /// Peers in one namespace.
    #[arg(long, default_value_t = 256)]
    pub max_namespace_peers: usize,
    /// Seconds between pings to each connection.
    #[arg(long, default_value_t = 20)]
    pub heartbeat_secs: u64,
    /// Seconds of silence before a connection is closed.
    #[arg(long, default_value_t = 60)]
    pub idle_timeout_secs: u64,
    /// Seconds a room (for drops) lives after it is created.
    #[arg(long, default_value_t = 600)]
    pub room_ttl_secs: u64,
    /// Directory of the built web app, served for paths the hub does not use.
    #[arg(long, env = "P2POS_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// TESTING ONLY: behave as an attacking hub that replaces the ephemeral key of every Drop
    /// hello it relays with one of its own. Drops through it must fail with a warning.
    #[arg(long, help_heading = "Testing")]
    pub test_swap_drop_keys: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The node's data dir (read only; safe while the node runs).
    #[arg(long, env = "P2POS_DATA_DIR", default_value = "p2pos-data")]
    pub data_dir: PathBuf,
    /// A new or empty folder for the export.
    #[arg(long)]
    pub out: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn a_turn_secret_may_start_with_a_hyphen() {
        // A random base64url secret starts with '-' once in 64 (the TURN e2e test drew one).
        let secret = "-BvJ3k9q2Yw8sXhT0aLmPzRcUeNdOiGf7Kb4WjHt1AyQxVsE5nMr6l_CpZoIuD";
        let cli =
            Cli::try_parse_from(["p2pos", "signal", "--turn-secret", secret, "--turn-url", "turn:127.0.0.1:3478"])
                .expect("parses");
        let Command::Signal(args) = cli.command else { panic!("not signal") };
        assert_eq!(args.turn_secret.as_deref(), Some(secret));
    }
}
