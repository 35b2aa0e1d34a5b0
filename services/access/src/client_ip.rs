//! Who the client is: the socket peer, or, behind a CDN that is trusted to
//! append it, an address from `X-Forwarded-For`.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClientIpSource {
    /// The socket peer. The default: nothing a client sends can change it.
    #[default]
    Peer,
    /// The origin sits behind `hops` proxies that each append the address
    /// they saw to `X-Forwarded-For` (CloudFront straight to the origin: 1;
    /// CloudFront then a load balancer: 2). The client is the `hops`-th
    /// entry from the right; entries further left were written by the
    /// client and are ignored. The header is read only when the peer is in
    /// `trusted_peers` (empty means any peer, which is safe only when the
    /// origin cannot be reached except through those proxies).
    ForwardedFor { hops: usize, trusted_peers: Vec<IpNet> },
}

impl ClientIpSource {
    /// Falls back to the peer when the header is absent, too short or unparsable.
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        let peer = peer.to_canonical();
        let ClientIpSource::ForwardedFor { hops, trusted_peers } = self else { return peer };
        let trusted = trusted_peers.is_empty() || trusted_peers.iter().any(|net| net.contains(&peer));
        if *hops == 0 || !trusted {
            return peer;
        }
        forwarded_for
            .and_then(|header| header.rsplit(',').nth(hops - 1))
            .and_then(parse_entry)
            .map_or(peer, |ip| ip.to_canonical())
    }
}

/// An entry is an address, optionally with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|address| address.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn peer_is_the_default_and_ignores_the_header() {
        let source = ClientIpSource::default();
        assert_eq!(source.client_ip(ip("127.0.0.1"), Some("10.0.0.1")), ip("127.0.0.1"));
        assert_eq!(source.client_ip(ip("::ffff:127.0.0.1"), None), ip("127.0.0.1"));
    }

    #[test]
    fn takes_the_entry_the_trusted_hop_appended() {
        let one_hop = ClientIpSource::ForwardedFor { hops: 1, trusted_peers: vec![] };
        let cdn = ip("130.176.0.1");
        assert_eq!(one_hop.client_ip(cdn, Some("203.0.113.7")), ip("203.0.113.7"));
        // A client-written entry to the left is ignored.
        assert_eq!(one_hop.client_ip(cdn, Some("10.9.9.9, 203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(one_hop.client_ip(cdn, Some("10.9.9.9,[2001:db8::1]:443")), ip("2001:db8::1"));
        let two_hops = ClientIpSource::ForwardedFor { hops: 2, trusted_peers: vec![] };
        assert_eq!(two_hops.client_ip(ip("10.0.0.5"), Some("1.1.1.1, 203.0.113.7, 130.176.0.1")), ip("203.0.113.7"));
    }

    #[test]
    fn falls_back_to_the_peer() {
        let cdn = ip("130.176.0.1");
        let two_hops = ClientIpSource::ForwardedFor { hops: 2, trusted_peers: vec![] };
        assert_eq!(two_hops.client_ip(cdn, Some("203.0.113.7")), cdn, "too few entries");
        let one_hop = ClientIpSource::ForwardedFor { hops: 1, trusted_peers: vec![] };
        assert_eq!(one_hop.client_ip(cdn, Some("not-an-ip")), cdn);
        assert_eq!(one_hop.client_ip(cdn, None), cdn);
        let only_cdn = ClientIpSource::ForwardedFor { hops: 1, trusted_peers: vec!["130.176.0.0/16".parse().unwrap()] };
        assert_eq!(only_cdn.client_ip(cdn, Some("203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(only_cdn.client_ip(ip("198.51.100.1"), Some("203.0.113.7")), ip("198.51.100.1"), "untrusted peer");
    }
}
