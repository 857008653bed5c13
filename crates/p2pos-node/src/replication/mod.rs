//! Replication wiring (DESIGN.md §5, §7), one module per job:
//!
//! | module | owns |
//! |---|---|
//! | `config` | [`ReplicationConfig`]: name, hub, public URL, transports, planner timing |
//! | `peers` | the peer registry ([`PeerInfo`], the replay guard, the replicator handle) |
//! | `replicator` | starting and stopping the replicator and keeping it in step with the peers |
//! | `fallback` | how this node reaches a peer: WebRTC through the hub, else HTTP |
//! | `service` | what this node answers its peers (`PeerService`), over HTTP and WebRTC |
//! | `routes` | the HTTP side of the peer protocol, `/v1/peer/*` |
//! | `local` | the store side of replication (`Local`): records, blobs, cursors |
//! | `status` | `GET /v1/replication/status` and its types; `PlacementSource` (where a photo is) |
//! | `journal` | what changed in the placements, for `GET /v1/replication/changes` (`crate::paging`) |
//!
//! The rules live in `p2pos-replication` (planner) and `p2pos-net` (signatures, replay guard);
//! these modules only connect them to the node's database (`crate::store`), blob store and vault.
//! The lower ones (`config`, `peers`, `fallback`) know nothing of the node's state.

pub(crate) mod config;
pub(crate) mod fallback;
pub(crate) mod journal;
pub(crate) mod local;
pub(crate) mod peers;
pub(crate) mod replicator;
pub(crate) mod routes;
pub(crate) mod service;
pub(crate) mod status;

pub use config::ReplicationConfig;
pub use peers::PeerInfo;
// `openapi.rs` names the handler by this path.
pub(crate) use status::__path_status;
