//! What an identity signs to log in at a hub, and the origin rule that names the hub in it.
//!
//! A client answers the `challenge` of `welcome` by signing [`auth_message`] for the hub's origin
//! as it reached it ([`hub_origin`] of the URL it dialled); the hub accepts a signature made for
//! one of its own origins (its public URLs, or [`origins_of_host`] of the `Host` header). Naming
//! the hub means a rogue hub that passes a real hub's challenge on to a client gets a signature
//! for itself, which the real hub refuses. The web app applies the same rule
//! (`apps/web/src/lib/hubClient.ts`, same test cases).

/// What an identity signs to prove itself on a connection: this prefix, then the hub's origin,
/// `|` and the challenge text ([`auth_message`]).
pub const AUTH_CONTEXT: &str = "p2pos-hub-auth-v2|";

/// The exact text an identity signs to log in at the hub reached at `origin` ([`hub_origin`]),
/// answering `challenge`.
pub fn auth_message(origin: &str, challenge: &str) -> String {
    format!("{AUTH_CONTEXT}{origin}|{challenge}")
}

/// The origin of a hub URL, as clients name it when they log in: `scheme://host[:port]`, where
/// `ws` becomes `http` and `wss` becomes `https`, the host is lower case and a default port (80,
/// 443) is left out — what a browser's `new URL(url)` gives. `None` for anything that is not an
/// absolute ws, wss, http or https URL with a host.
///
/// `wss://Hub.Example.org:443/v1/ws` → `https://hub.example.org`; `ws://127.0.0.1:7800/v1/ws` →
/// `http://127.0.0.1:7800`.
pub fn hub_origin(url: &str) -> Option<String> {
    let uri: http::Uri = url.trim().parse().ok()?;
    let (scheme, default_port) = match uri.scheme_str()?.to_ascii_lowercase().as_str() {
        "ws" | "http" => ("http", 80),
        "wss" | "https" => ("https", 443),
        _ => return None,
    };
    let authority = uri.authority()?;
    origin(scheme, default_port, authority.host(), authority.port_u16())
}

/// The origins a request addressed to `host` (its `Host` header, `name[:port]`) may have come
/// from: the same name over http and over https, since a TLS proxy in front of the hub is
/// invisible to it. Empty when `host` is not a valid authority.
pub fn origins_of_host(host: &str) -> Vec<String> {
    let Ok(authority) = host.trim().parse::<http::uri::Authority>() else {
        return Vec::new();
    };
    if authority.as_str().contains('@') {
        return Vec::new();
    }
    let port = authority.port_u16();
    [("http", 80), ("https", 443)]
        .into_iter()
        .filter_map(|(scheme, default_port)| origin(scheme, default_port, authority.host(), port))
        .collect()
}

fn origin(scheme: &str, default_port: u16, host: &str, port: Option<u16>) -> Option<String> {
    if host.is_empty() {
        return None;
    }
    let host = host.to_ascii_lowercase();
    Some(match port {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_origins_are_what_a_browser_names() {
        // The same cases are in apps/web/src/lib/hubClient.test.ts.
        let cases = [
            ("wss://hub.example.org/v1/ws", Some("https://hub.example.org")),
            ("wss://Hub.Example.ORG:443/v1/ws", Some("https://hub.example.org")),
            ("wss://hub.example.org:8443/v1/ws", Some("https://hub.example.org:8443")),
            ("ws://127.0.0.1:7800/v1/ws", Some("http://127.0.0.1:7800")),
            ("ws://127.0.0.1:80/v1/ws", Some("http://127.0.0.1")),
            ("ws://[::1]:7800/v1/ws", Some("http://[::1]:7800")),
            ("https://hub.example.org/", Some("https://hub.example.org")),
            ("http://hub.example.org:8080", Some("http://hub.example.org:8080")),
            ("ftp://hub.example.org/", None),
            ("/v1/ws", None),
            ("not a url", None),
        ];
        for (url, origin) in cases {
            assert_eq!(hub_origin(url).as_deref(), origin, "{url}");
        }
        assert_eq!(
            auth_message("https://hub.example.org", "Y2hhbGxlbmdl"),
            "p2pos-hub-auth-v2|https://hub.example.org|Y2hhbGxlbmdl"
        );
    }

    #[test]
    fn a_host_header_names_its_origin_over_either_scheme() {
        assert_eq!(origins_of_host("Hub.Example.org"), ["http://hub.example.org", "https://hub.example.org"]);
        assert_eq!(origins_of_host("127.0.0.1:7800"), ["http://127.0.0.1:7800", "https://127.0.0.1:7800"]);
        assert_eq!(origins_of_host("hub.example.org:443"), ["http://hub.example.org:443", "https://hub.example.org"]);
        assert_eq!(origins_of_host("[::1]:80"), ["http://[::1]", "https://[::1]:80"]);
        assert!(origins_of_host("").is_empty());
        assert!(origins_of_host("a b").is_empty());
        assert!(origins_of_host("user@hub.example.org").is_empty());
    }
}
