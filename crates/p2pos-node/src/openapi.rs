//! The OpenAPI document of `/v1`, generated from the handlers' annotations (utoipa).
//!
//! `docs/openapi.json` is this document, committed; a test fails when the code and the file drift,
//! and the web client's types are generated from the file (`npm run gen:api` in `apps/web`).

use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// Every error: a stable machine code and a human message.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: crate::error::ErrorCode,
    pub message: String,
    /// With `record_refused`: the vault rule that refused the record, e.g. `key_not_rotated`,
    /// `no_grant`, `not_author`, `album_fixed`, `blob_of_other_album`, `size_mismatch`.
    pub rule: Option<String>,
}

/// A signed record (`docs/FORMATS.md`).
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedRecordSchema {
    /// Standard base64 of the exact JSON bytes that were signed.
    pub body: String,
    /// The author's readable id.
    pub signer: String,
    /// Standard base64 of the 64-byte Ed25519 signature.
    pub sig: String,
}

/// A member's role.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleSchema {
    Admin,
    Member,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "P2POS node API", description = "The family vault on one node. See docs/API.md."),
    paths(
        crate::health,
        crate::auth::setup,
        crate::auth::challenge,
        crate::auth::verify,
        crate::auth::logout,
        crate::auth::me,
        crate::records::post,
        crate::records::list,
        crate::blobs::put,
        crate::blobs::get,
        crate::family::members,
        crate::family::albums,
        crate::family::album,
        crate::trash::trash,
        crate::paging::album_photos,
        crate::paging::timeline,
        crate::replication::status,
        crate::paging::changes,
        crate::nodes::list,
        crate::nodes::enroll,
        crate::nodes::add_peer,
        crate::nodes::remove_peer,
        // Invitations (issue 15).
        crate::invites::create,
        crate::invites::list,
        crate::invites::cancel,
        crate::invites::join,
    )
)]
struct ApiDoc;

/// The document as pretty JSON (what `docs/openapi.json` holds).
pub fn json() -> String {
    let mut doc = ApiDoc::openapi();
    // The version lives in Cargo.toml; keep the committed file stable across releases.
    doc.info.version = "v1".into();
    doc.to_pretty_json().unwrap_or_default() + "\n"
}
