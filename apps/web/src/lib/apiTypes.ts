/**
 * Request and response shapes of the node API (`docs/API.md`), as generated from the node's
 * OpenAPI document (`docs/openapi.json` → `apiSchema.ts`, `npm run gen:api`). The client imports
 * them from here under short names.
 */
import type { components } from "./apiSchema.ts";

type Schemas = components["schemas"];

export type Role = Schemas["RoleSchema"];
export type Accepted = Schemas["Accepted"];
export type AlbumDetail = Schemas["AlbumDetail"];
export type AlbumKey = Schemas["AlbumKey"];
export type AlbumView = Schemas["AlbumView"];
export type BlobStored = Schemas["Stored"];
export type ChallengeRequest = Schemas["ChallengeRequest"];
export type ChallengeResponse = Schemas["ChallengeResponse"];
export type ErrorBody = Schemas["ErrorBody"];
export type Health = Schemas["Health"];
export type LogEntry = Schemas["LogEntry"];
/** `POST /v1/auth/verify` and `GET /v1/auth/me`. `role` is null (or absent) for a non-member. */
export type Me = Schemas["Me"];
export type MemberView = Schemas["MemberView"];
/** A photo in a listing (`GET /v1/albums/{id}/photos`, `GET /v1/photos`), with where it is stored. */
export type PhotoItem = Schemas["PhotoItem"];
/** One page of a listing, newest first; `next` is the cursor of the following page. */
export type PhotoPage = Schemas["PhotoPage"];
/** `GET /v1/replication/changes`: what changed since a cursor. */
export type ReplicationChanges = Schemas["ReplicationChanges"];
/** `GET /v1/trash`: deleted photos and albums, restorable for 30 days. */
export type TrashView = Schemas["TrashView"];
export type TrashedPhoto = Schemas["TrashedPhoto"];
export type TrashedAlbum = Schemas["TrashedAlbum"];
export type SetupRequest = Schemas["SetupRequest"];
export type VerifyRequest = Schemas["VerifyRequest"];
/** `GET /v1/nodes`: this node, its hub and its enrolled peers. */
export type Nodes = Schemas["Nodes"];
/** An enrolled node (`GET /v1/nodes`, `POST /v1/nodes/peers`). */
export type PeerInfo = Schemas["PeerInfo"];
/** `POST /v1/enroll`: a one-time enrollment token and when it expires. */
export type EnrollToken = Schemas["Token"];
/** `GET /v1/replication/status`: how the peers are doing and where each photo is stored. */
export type ReplicationStatus = Schemas["ReplicationStatus"];
export type PeerSummary = Schemas["PeerSummary"];
export type PhotoPlacement = Schemas["PhotoPlacement"];
export type Placement = Schemas["Placement"];
/** What kind of failure a replication error is (the web app switches on it, never on the text). */
export type ReplicationErrorKind = Schemas["ReplicationErrorKind"];

/**
 * The `error` code of every node error (`ErrorBody.error`), generated from the node's `ErrorCode`
 * enum (`crates/p2pos-node/src/error.rs`): a code the node adds or renames changes this type.
 */
export type ErrorCode = Schemas["ErrorCode"];
// Invitations (issue 15).
/** `GET /v1/invites`: an open invitation and the join request it got, if any. */
export type InviteView = Schemas["InviteView"];
/** A join request as the node keeps it (untrusted until `verifyJoin` and the words). */
export type JoinRequest = Schemas["JoinRequest"];
