//! The state a case of `testvectors/vault-state.json` must produce, as canonical JSON: what the
//! vault's public reads say, with the stamp (HLC and signer) of each subject's current write.
//!
//! Shared by the generator (`examples/vault_state_vectors.rs`) and the test that replays the
//! vectors (`tests/it/vault_state_vectors.rs`), so both summarise a vault the same way. The web app
//! folds the family, its founder, the grants, the family key, its grants and the profiles
//! (`apps/web/src/lib/vaultState.ts`); it checks those fields, the Rust test checks them all.

use family_vault::{Stamp, Vault};
use serde_json::{Value, json};

/// The family, its founder, and the current members, albums, photos and grants, the family key
/// (`family_meta`), its grants and the members' profiles, each list sorted.
pub fn summary(vault: &Vault) -> Value {
    let mut members: Vec<Value> = vault
        .members()
        .map(|(id, m)| stamped(json!({"member": id.to_string(), "role": m.role, "recipient": m.recipient}), m.stamp()))
        .collect();
    let mut albums = Vec::new();
    let mut photos = Vec::new();
    for (id, a) in vault.albums() {
        albums.push(stamped(
            json!({"album": id, "epoch": a.epoch, "recipient": a.recipient, "owner": a.owner.to_string(),
                   "rotation_due": a.rotation_due}),
            a.stamp(),
        ));
        for (photo, p) in vault.photos_in(id) {
            photos.push(stamped(
                json!({"photo": photo, "album": p.album, "epoch": p.epoch, "blob": p.blob, "size": p.size,
                       "thumb": p.thumb, "author": p.author.to_string()}),
                p.stamp(),
            ));
        }
    }
    // Revoked grants, and those of members removed since, are part of the state too.
    let mut grants: Vec<Value> = vault
        .grants()
        .map(|(album, member, epoch, g)| {
            stamped(
                json!({"album": album, "member": member.to_string(), "epoch": epoch, "revoked": g.revoked}),
                g.stamp(),
            )
        })
        .collect();
    let family_meta = vault.family_meta().map(|f| {
        stamped(json!({"epoch": f.epoch, "recipient": f.recipient, "rotation_due": f.rotation_due}), f.stamp())
    });
    let mut family_grants: Vec<Value> = vault
        .family_grants()
        .map(|(member, epoch, g)| {
            stamped(json!({"member": member.to_string(), "epoch": epoch, "revoked": g.revoked}), g.stamp())
        })
        .collect();
    let mut profiles: Vec<Value> = vault
        .profiles()
        .map(|(member, p)| stamped(json!({"member": member.to_string(), "epoch": p.epoch, "meta": p.meta}), p.stamp()))
        .collect();
    // The web app keys these by `member/epoch` and `member`.
    sort_by(&mut family_grants, |v| format!("{}/{}", text(v, "member"), v["epoch"]));
    sort_by(&mut profiles, |v| text(v, "member"));
    sort_by(&mut members, |v| text(v, "member"));
    sort_by(&mut albums, |v| text(v, "album"));
    sort_by(&mut photos, |v| text(v, "photo"));
    // The web app keys grants by `album/member/epoch` and sorts those keys the same way.
    sort_by(&mut grants, |v| format!("{}/{}/{}", text(v, "album"), text(v, "member"), v["epoch"]));
    json!({
        "family": vault.family(),
        "founder": vault.founder().map(ToString::to_string),
        "members": members,
        "albums": albums,
        "photos": photos,
        "grants": grants,
        "family_meta": family_meta,
        "family_grants": family_grants,
        "profiles": profiles,
    })
}

/// `fields` plus the current write's `hlc` and `signer` (its readable id).
fn stamped(mut fields: Value, stamp: &Stamp) -> Value {
    if let Value::Object(map) = &mut fields {
        map.insert("hlc".into(), json!({"wall_ms": stamp.hlc.wall_ms, "counter": stamp.hlc.counter}));
        map.insert("signer".into(), json!(stamp.signer.to_string()));
    }
    fields
}

fn text(value: &Value, field: &str) -> String {
    value[field].as_str().unwrap_or_default().to_string()
}

fn sort_by(list: &mut [Value], key: impl Fn(&Value) -> String) {
    list.sort_by_key(|v| key(v));
}
