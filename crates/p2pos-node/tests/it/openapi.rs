//! `docs/openapi.json` must be exactly what the code generates. To update it after an API change:
//! `P2POS_UPDATE_OPENAPI=1 cargo test -p p2pos-node --test it -- openapi::` (or `make openapi`).

use std::path::PathBuf;

#[test]
fn committed_openapi_document_matches_the_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let generated = p2pos_node::openapi::json();
    if std::env::var_os("P2POS_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("writing docs/openapi.json");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is out of date with the code; run `make openapi` and commit it (then the web client's types are regenerated too)"
    );
    for route in ["/v1/auth/challenge", "/v1/records", "/v1/blobs/{id}", "/v1/albums/{id}"] {
        assert!(generated.contains(route), "{route} is documented");
    }
}
