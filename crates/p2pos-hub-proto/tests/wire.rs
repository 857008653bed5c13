//! The exact JSON of every message, pinned: the web app (`apps/web/src/lib/hubClient.ts`) and
//! PeerJS clients speak it too, so a change here is a protocol change (docs/PROTOCOL.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::borrow::Cow;

use p2pos_hub_proto::native::{
    Allow, AnnouncedLimits, ClientMessage, ClientRequest, PeerInfo, PresenceEvent, ServerMessage,
};
use p2pos_hub_proto::peerjs::{PeerJsMessage, PeerJsOut, peerjs_notice};
use p2pos_hub_proto::{IceServer, OpaqueJson, close, to_text};
use serde_json::json;
use serde_json::value::RawValue;

fn raw(text: &str) -> &RawValue {
    serde_json::from_str(text).unwrap()
}

/// `message` writes exactly `text`, and `text` reads back as a message that writes it again.
fn pinned_server(message: ServerMessage<'_>, text: &str) {
    assert_eq!(to_text(&message), text);
    let read: ServerMessage<'_> = serde_json::from_str(text).unwrap();
    assert_eq!(to_text(&read), text, "read back");
}

#[test]
fn every_hub_message_has_one_exact_shape() {
    let limits = AnnouncedLimits::default();
    pinned_server(
        ServerMessage::Welcome { rid: Some(1), v: 1, peer: "p1".into(), challenge: "Y2g".into(), limits },
        r#"{"type":"welcome","rid":1,"v":1,"peer":"p1","challenge":"Y2g","limits":{"max_message_bytes":16384,"rate_per_sec":10.0,"burst":20.0,"heartbeat_secs":20,"idle_timeout_secs":60}}"#,
    );
    pinned_server(ServerMessage::Authed { rid: Some(0), id: "ed1".into() }, r#"{"type":"authed","rid":0,"id":"ed1"}"#);
    pinned_server(
        ServerMessage::Room { rid: Some(2), code: "abc".into(), ns: "room:abc".into(), expires_in_secs: 600 },
        r#"{"type":"room","rid":2,"code":"abc","ns":"room:abc","expires_in_secs":600}"#,
    );
    let profile = raw(r#"{"name":"Oak"}"#);
    pinned_server(
        ServerMessage::Joined {
            rid: None,
            ns: "family:f".into(),
            peers: vec![
                PeerInfo { peer: "p2".into(), id: Some("ed2".into()), profile: Some(OpaqueJson::Raw(profile)) },
                PeerInfo { peer: "p3".into(), id: None, profile: None },
            ],
        },
        r#"{"type":"joined","ns":"family:f","peers":[{"peer":"p2","id":"ed2","profile":{"name":"Oak"}},{"peer":"p3"}]}"#,
    );
    pinned_server(ServerMessage::Left { rid: Some(4), ns: "net".into() }, r#"{"type":"left","rid":4,"ns":"net"}"#);
    pinned_server(
        ServerMessage::Presence {
            ns: "net".into(),
            event: PresenceEvent::Join,
            peer: PeerInfo { peer: "p2".into(), id: None, profile: None },
        },
        r#"{"type":"presence","ns":"net","event":"join","peer":{"peer":"p2"}}"#,
    );
    pinned_server(
        ServerMessage::Presence {
            ns: "net".into(),
            event: PresenceEvent::Leave,
            peer: PeerInfo { peer: "p2".into(), id: None, profile: None },
        },
        r#"{"type":"presence","ns":"net","event":"leave","peer":{"peer":"p2"}}"#,
    );
    pinned_server(
        ServerMessage::RoomClosed { ns: "room:abc".into(), reason: "expired".into() },
        r#"{"type":"room_closed","ns":"room:abc","reason":"expired"}"#,
    );
    pinned_server(
        ServerMessage::Signal {
            from: "p1".into(),
            from_id: Some("ed1".into()),
            payload: OpaqueJson::Raw(raw(r#"{"p2pos":"rtc"}"#)),
        },
        r#"{"type":"signal","from":"p1","from_id":"ed1","payload":{"p2pos":"rtc"}}"#,
    );
    pinned_server(
        ServerMessage::Signal { from: "p1".into(), from_id: None, payload: OpaqueJson::Value(json!([1, 2])) },
        r#"{"type":"signal","from":"p1","payload":[1,2]}"#,
    );
    pinned_server(
        ServerMessage::IceServers {
            rid: Some(5),
            ttl_secs: 600,
            ice_servers: vec![
                IceServer { urls: vec!["stun:h:3478".into()], username: None, credential: None },
                IceServer {
                    urls: vec!["turn:h:3478?transport=udp".into()],
                    username: Some("1:x".into()),
                    credential: Some("c".into()),
                },
            ],
        },
        r#"{"type":"ice_servers","rid":5,"ttl_secs":600,"ice_servers":[{"urls":["stun:h:3478"]},{"urls":["turn:h:3478?transport=udp"],"username":"1:x","credential":"c"}]}"#,
    );
    pinned_server(
        ServerMessage::PeerGone { peer: "p1".into(), id: Some("ed1".into()) },
        r#"{"type":"peer_gone","peer":"p1","id":"ed1"}"#,
    );
    pinned_server(ServerMessage::PeerGone { peer: "p1".into(), id: None }, r#"{"type":"peer_gone","peer":"p1"}"#);
    pinned_server(ServerMessage::Pong { rid: Some(6) }, r#"{"type":"pong","rid":6}"#);
    pinned_server(ServerMessage::Pong { rid: None }, r#"{"type":"pong"}"#);
    pinned_server(
        ServerMessage::ContactsSet { rid: Some(8), count: 3 },
        r#"{"type":"contacts_set","rid":8,"count":3}"#,
    );
    pinned_server(
        ServerMessage::Error { rid: Some(7), code: "peer_unavailable".into(), message: "x is not connected".into() },
        r#"{"type":"error","rid":7,"code":"peer_unavailable","message":"x is not connected"}"#,
    );
}

#[test]
fn hub_messages_read_with_escapes_and_missing_limits() {
    // A string with an escape cannot be borrowed from the text; it is read all the same.
    let text = r#"{"type":"error","code":"bad_message","message":"allow is \"shared\" or \"anyone\""}"#;
    let ServerMessage::Error { message, .. } = serde_json::from_str(text).unwrap() else { panic!("not an error") };
    assert_eq!(message, r#"allow is "shared" or "anyone""#);
    assert!(matches!(message, Cow::Owned(_)));
    // A welcome without limits (an older or a stripped-down hub) reads as the hub's defaults.
    let text = r#"{"type":"welcome","v":1,"peer":"p","challenge":"c"}"#;
    let ServerMessage::Welcome { limits, rid, .. } = serde_json::from_str(text).unwrap() else { panic!() };
    assert_eq!((limits, rid), (AnnouncedLimits::default(), None));
    let text = r#"{"type":"welcome","v":1,"peer":"p","challenge":"c","limits":{"rate_per_sec":0.0}}"#;
    let ServerMessage::Welcome { limits, .. } = serde_json::from_str(text).unwrap() else { panic!() };
    assert_eq!(limits, AnnouncedLimits { rate_per_sec: 0.0, ..AnnouncedLimits::default() });
    // An unknown type is not a message of this version.
    assert!(serde_json::from_str::<ServerMessage<'_>>(r#"{"type":"news"}"#).is_err());
    assert_eq!(serde_json::from_str::<ServerMessage<'_>>(r#"{"type":"pong","rid":3}"#).unwrap().rid(), Some(3));
    // A signal's payload reads as a value.
    let text = r#"{"type":"signal","from":"p1","payload":{"sdp":"v=0"}}"#;
    let ServerMessage::Signal { payload, from_id, .. } = serde_json::from_str(text).unwrap() else { panic!() };
    assert_eq!((payload.into_value(), from_id), (json!({"sdp": "v=0"}), None));
}

/// `request` writes exactly `text`, reads back as itself, and the hub reads it with its kind and
/// request id.
fn pinned_client(request: ClientRequest<'_>, text: &str) {
    assert_eq!(to_text(&request), text);
    let read: ClientRequest<'_> = serde_json::from_str(text).unwrap();
    assert_eq!(read, request, "read back");
    let hub: ClientMessage<'_> = serde_json::from_str(text).unwrap();
    let value: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(hub.kind, value["type"].as_str().unwrap());
    assert_eq!(hub.rid, value["rid"].as_u64());
}

#[test]
fn every_client_message_has_one_exact_shape_and_the_hub_reads_it() {
    pinned_client(ClientRequest::Hello { rid: None, v: 1, profile: None }, r#"{"type":"hello","v":1}"#);
    pinned_client(
        ClientRequest::Hello { rid: None, v: 1, profile: Some(json!({"name": "Oak"})) },
        r#"{"type":"hello","v":1,"profile":{"name":"Oak"}}"#,
    );
    pinned_client(
        ClientRequest::Auth { rid: Some(0), id: "ed1".into(), sig: "c2ln".into(), allow: Some(Allow::Anyone) },
        r#"{"type":"auth","rid":0,"id":"ed1","sig":"c2ln","allow":"anyone"}"#,
    );
    pinned_client(
        ClientRequest::Auth { rid: Some(0), id: "ed1".into(), sig: "c2ln".into(), allow: Some(Allow::Shared) },
        r#"{"type":"auth","rid":0,"id":"ed1","sig":"c2ln","allow":"shared"}"#,
    );
    pinned_client(ClientRequest::CreateRoom { rid: Some(1) }, r#"{"type":"create_room","rid":1}"#);
    pinned_client(
        ClientRequest::Auth { rid: Some(0), id: "ed1".into(), sig: "c2ln".into(), allow: Some(Allow::Contacts) },
        r#"{"type":"auth","rid":0,"id":"ed1","sig":"c2ln","allow":"contacts"}"#,
    );
    let join =
        |ns: &'static str, beacon: Option<&'static str>, also: Vec<&'static str>, hidden: bool| ClientRequest::Join {
            rid: Some(2),
            ns: ns.into(),
            beacon: beacon.map(Cow::Borrowed),
            also: also.into_iter().map(Cow::Borrowed).collect(),
            hidden,
        };
    pinned_client(join("room:abc", None, vec![], false), r#"{"type":"join","rid":2,"ns":"room:abc"}"#);
    pinned_client(
        join("rv:x", Some("b1.3000000.AAAA"), vec![], false),
        r#"{"type":"join","rid":2,"ns":"rv:x","beacon":"b1.3000000.AAAA"}"#,
    );
    pinned_client(
        join("network", Some("b1.3000000.AAAA"), vec!["n1.1060.2001:db8:1:2::.AAAA"], true),
        r#"{"type":"join","rid":2,"ns":"network","beacon":"b1.3000000.AAAA","also":["n1.1060.2001:db8:1:2::.AAAA"],"hidden":true}"#,
    );
    pinned_client(
        ClientRequest::Contacts { rid: Some(8), ids: vec!["ed1".into(), "ed2".into()] },
        r#"{"type":"contacts","rid":8,"ids":["ed1","ed2"]}"#,
    );
    pinned_client(ClientRequest::Contacts { rid: None, ids: vec![] }, r#"{"type":"contacts","ids":[]}"#);
    pinned_client(ClientRequest::Leave { rid: Some(3), ns: "net".into() }, r#"{"type":"leave","rid":3,"ns":"net"}"#);
    pinned_client(
        ClientRequest::DeleteRoom { rid: Some(4), code: "abc".into() },
        r#"{"type":"delete_room","rid":4,"code":"abc"}"#,
    );
    pinned_client(
        ClientRequest::Signal { rid: Some(5), to: "ed2".into(), payload: json!({"p2pos": "rtc"}) },
        r#"{"type":"signal","rid":5,"to":"ed2","payload":{"p2pos":"rtc"}}"#,
    );
    pinned_client(ClientRequest::Turn { rid: Some(6) }, r#"{"type":"turn","rid":6}"#);
    pinned_client(ClientRequest::Ping { rid: Some(7) }, r#"{"type":"ping","rid":7}"#);
    // What the web app sends reads too (its hello always carries a profile object).
    let from_web: ClientRequest<'_> = serde_json::from_str(r#"{"type":"hello","v":1,"profile":{}}"#).unwrap();
    assert_eq!(from_web, ClientRequest::Hello { rid: None, v: 1, profile: Some(json!({})) });
    // And the hub reads the new fields of join and contacts as they were written.
    let text = r#"{"type":"join","ns":"network","beacon":"b1.1.x","also":["n1.a","n1.b"],"hidden":true}"#;
    let hub: ClientMessage<'_> = serde_json::from_str(text).unwrap();
    assert_eq!(hub.beacon.as_deref(), Some("b1.1.x"));
    assert_eq!(hub.also.unwrap(), ["n1.a", "n1.b"]);
    assert_eq!(hub.hidden, Some(true));
    let hub: ClientMessage<'_> = serde_json::from_str(r#"{"type":"contacts","ids":["a","b"]}"#).unwrap();
    assert_eq!(hub.ids.unwrap(), ["a", "b"]);
}

#[test]
fn the_hub_reads_what_no_request_type_allows() {
    // Lenient on purpose: the handler answers an unknown type with an error carrying the rid.
    let hub: ClientMessage<'_> = serde_json::from_str(r#"{"type":"news","rid":9}"#).unwrap();
    assert_eq!((hub.kind.as_ref(), hub.rid), ("news", Some(9)));
    assert!(serde_json::from_str::<ClientRequest<'_>>(r#"{"type":"news","rid":9}"#).is_err());
    // Unknown fields are refused on both readings.
    assert!(serde_json::from_str::<ClientMessage<'_>>(r#"{"type":"ping","extra":1}"#).is_err());
    assert!(serde_json::from_str::<ClientRequest<'_>>(r#"{"type":"ping","extra":1}"#).is_err());
}

#[test]
fn peerjs_messages_have_the_peerjs_server_s_shape() {
    let out = PeerJsOut { kind: "OFFER", src: Some("a"), dst: Some("b"), payload: Some(raw(r#"{"sdp":"x"}"#)) };
    assert_eq!(to_text(&out), r#"{"type":"OFFER","src":"a","dst":"b","payload":{"sdp":"x"}}"#);
    let open = PeerJsOut { kind: "OPEN", src: None, dst: None, payload: None };
    assert_eq!(to_text(&open), r#"{"type":"OPEN"}"#);
    // Key order follows serde_json's map (sorted, or insertion order if a crate in the build turns
    // on `preserve_order`); the PeerJS clients read it as JSON.
    let notice: serde_json::Value = serde_json::from_str(&peerjs_notice("ID-TAKEN", "ID is taken")).unwrap();
    assert_eq!(notice, json!({"type": "ID-TAKEN", "payload": {"msg": "ID is taken"}}));
    let read: PeerJsMessage<'_> =
        serde_json::from_str(r#"{"type":"CANDIDATE","dst":"b","payload":{"c":1},"unknown":true}"#).unwrap();
    assert_eq!((read.kind.as_ref(), read.dst.as_deref()), ("CANDIDATE", Some("b")));
    assert_eq!(read.payload.map(RawValue::get), Some(r#"{"c":1}"#));
}

#[test]
fn close_codes_are_the_documented_ones() {
    let codes = [
        close::NORMAL,
        close::GOING_AWAY,
        close::UNSUPPORTED_DATA,
        close::POLICY,
        close::TOO_BIG,
        close::IDLE,
        close::NO_HELLO,
        close::PROTOCOL,
        close::FLOOD,
        close::REPLACED,
        close::SLOW_READER,
        close::BEACON,
    ];
    assert_eq!(codes, [1000, 1001, 1003, 1008, 1009, 4000, 4001, 4002, 4003, 4004, 4005, 4012]);
}
