//! Where the server may connect on its own: webhook receivers and cameras.
//! A URL typed into the API must not turn the server into a way in to its
//! own network (the cloud metadata service at 169.254.169.254, loopback
//! admin ports, the cluster's private addresses). Loopback, link-local,
//! unspecified, multicast, broadcast, private, shared (CGNAT) and reserved
//! addresses are refused unless a network the operator allows holds them.
//!
//! Names are resolved here and the caller connects to the address that was
//! checked, never to the name again: a name that answers a public address
//! to the check and a private one to the connect (DNS rebinding) gains
//! nothing.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub use ipnet::IpNet;

/// Why an address is not public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Loopback,
    /// 169.254.0.0/16 and fe80::/10, where cloud metadata services answer.
    LinkLocal,
    Unspecified,
    Multicast,
    Broadcast,
    /// RFC 1918, fc00::/7 (unique local), fec0::/10 (site-local).
    Private,
    /// 100.64.0.0/10, carrier-grade NAT and many clusters' pod networks.
    Shared,
    /// Documentation, benchmarking, IETF protocol and future-use ranges.
    Reserved,
}

impl AddressClass {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressClass::Loopback => "loopback",
            AddressClass::LinkLocal => "link-local",
            AddressClass::Unspecified => "unspecified",
            AddressClass::Multicast => "multicast",
            AddressClass::Broadcast => "broadcast",
            AddressClass::Private => "private",
            AddressClass::Shared => "shared (100.64.0.0/10)",
            AddressClass::Reserved => "reserved",
        }
    }
}

/// The class of `address`, or `None` when it is a public unicast address.
/// IPv6 forms that carry an IPv4 address (mapped, NAT64, 6to4) are judged
/// by the IPv4 address they lead to.
pub fn classify(address: IpAddr) -> Option<AddressClass> {
    match address {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(address: Ipv4Addr) -> Option<AddressClass> {
    let [a, b, c, _] = address.octets();
    let class = match (a, b, c) {
        _ if address.is_broadcast() => AddressClass::Broadcast,
        (0, _, _) => AddressClass::Unspecified,
        (127, _, _) => AddressClass::Loopback,
        (169, 254, _) => AddressClass::LinkLocal,
        (10, _, _) | (192, 168, _) => AddressClass::Private,
        (172, 16..=31, _) => AddressClass::Private,
        (100, 64..=127, _) => AddressClass::Shared,
        (224..=239, _, _) => AddressClass::Multicast,
        (240..=255, _, _) => AddressClass::Reserved,
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) | (198, 18..=19, _) => AddressClass::Reserved,
        _ => return None,
    };
    Some(class)
}

fn classify_v6(address: Ipv6Addr) -> Option<AddressClass> {
    if let Some(v4) = embedded_v4(address) {
        return classify_v4(v4);
    }
    let segments = address.segments();
    let [first, ..] = segments;
    let class = if address.is_unspecified() {
        AddressClass::Unspecified
    } else if address.is_loopback() {
        AddressClass::Loopback
    } else if first & 0xffc0 == 0xfe80 {
        AddressClass::LinkLocal
    } else if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfec0 {
        AddressClass::Private
    } else if first & 0xff00 == 0xff00 {
        AddressClass::Multicast
    } else {
        match segments {
            // IPv4-compatible (deprecated), documentation, Teredo, discard,
            // NAT64 local use (64:ff9b:1::/48).
            [0, 0, 0, 0, 0, 0, _, _]
            | [0x2001, 0x0db8, ..]
            | [0x2001, 0, ..]
            | [0x0100, 0, 0, 0, ..]
            | [0x0064, 0xff9b, ..] => AddressClass::Reserved,
            _ => return None,
        }
    };
    Some(class)
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped
/// (::ffff:a.b.c.d), the NAT64 well-known prefix (64:ff9b::/96) and 6to4
/// (2002:AABB:CCDD::/48).
fn embedded_v4(address: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = address.to_ipv4_mapped() {
        return Some(v4);
    }
    let segments = address.segments();
    let from = |high: u16, low: u16| {
        let [a, b] = high.to_be_bytes();
        let [c, d] = low.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    match segments {
        [0x0064, 0xff9b, 0, 0, 0, 0, high, low] => Some(from(high, low)),
        [0x2002, high, low, ..] => Some(from(high, low)),
        _ => None,
    }
}

/// A resolver that does not answer within this is a name that does not resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an outbound connection was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error("{address} is a {} address; allow its network in outbound.allow_networks to use it", .class.as_str())]
    Forbidden { address: IpAddr, class: AddressClass },
    #[error("{host} resolves to {address}, a {} address; allow its network in outbound.allow_networks to use it", .class.as_str())]
    ResolvesToForbidden { host: String, address: IpAddr, class: AddressClass },
    #[error("cannot resolve {host}")]
    Unresolved { host: String },
}

/// Which non-public networks outbound connections may reach anyway. The
/// default allows none. Cheap to clone.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    allowed: Arc<[IpNet]>,
}

impl fmt::Debug for OutboundPolicy {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_list().entries(self.allowed.iter()).finish()
    }
}

impl OutboundPolicy {
    pub fn allowing(networks: impl IntoIterator<Item = IpNet>) -> Self {
        OutboundPolicy { allowed: networks.into_iter().collect() }
    }

    /// Everything, loopback included: for tests of other behaviour.
    pub fn allow_all() -> Self {
        Self::allowing(["0.0.0.0/0", "::/0"].into_iter().filter_map(|network| network.parse().ok()))
    }

    /// Public addresses pass; others only inside an allowed network (an
    /// IPv6 form of an IPv4 address passes when either form is allowed).
    pub fn check(&self, address: IpAddr) -> Result<(), OutboundError> {
        let Some(class) = classify(address) else { return Ok(()) };
        let v4 = match address {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let allowed = |candidate: IpAddr| self.allowed.iter().any(|network| network.contains(&candidate));
        if allowed(address) || v4.is_some_and(allowed) {
            Ok(())
        } else {
            Err(OutboundError::Forbidden { address, class })
        }
    }

    /// The addresses of `host` (a name or an IP literal, brackets allowed)
    /// this policy lets the server connect to, in resolver order. An error
    /// when there is none: every address was refused, or the name does not
    /// resolve.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, OutboundError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(address) = bare.parse::<IpAddr>() {
            self.check(address)?;
            return Ok(vec![SocketAddr::new(address, port)]);
        }
        let unresolved = || OutboundError::Unresolved { host: bare.to_owned() };
        // RFC 6761: these names are loopback whatever a resolver says.
        let name = bare.trim_end_matches('.').to_ascii_lowercase();
        if name == "localhost" || name.ends_with(".localhost") {
            let address = IpAddr::V4(Ipv4Addr::LOCALHOST);
            return self.check(address).map(|()| vec![SocketAddr::new(address, port)]).map_err(|_| {
                OutboundError::ResolvesToForbidden { host: bare.to_owned(), address, class: AddressClass::Loopback }
            });
        }
        let lookup = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((bare, port))).await;
        let resolved: Vec<SocketAddr> = match lookup {
            Ok(Ok(addresses)) => addresses.collect(),
            Ok(Err(_)) | Err(_) => return Err(unresolved()),
        };
        let mut refused = None;
        let mut usable = Vec::new();
        for address in resolved {
            match self.check(address.ip()) {
                Ok(()) => usable.push(address),
                Err(OutboundError::Forbidden { address, class }) => {
                    refused.get_or_insert(OutboundError::ResolvesToForbidden { host: bare.to_owned(), address, class });
                }
                Err(other) => return Err(other),
            }
        }
        match (usable.is_empty(), refused) {
            (false, _) => Ok(usable),
            (true, Some(refused)) => Err(refused),
            (true, None) => Err(unresolved()),
        }
    }

    /// The check a URL gets when it is saved: an IP literal must pass; a
    /// name must not resolve only to refused addresses. A name that does
    /// not resolve now is accepted (it is checked again at every connect).
    pub async fn check_host(&self, host: &str) -> Result<(), OutboundError> {
        match self.resolve(host, 0).await {
            Ok(_) | Err(OutboundError::Unresolved { .. }) => Ok(()),
            Err(refused) => Err(refused),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn addresses_are_classified() {
        use AddressClass::*;
        let table: &[(&str, Option<AddressClass>)] = &[
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("2606:4700:4700::1111", None),
            ("127.0.0.1", Some(Loopback)),
            ("127.255.0.9", Some(Loopback)),
            ("::1", Some(Loopback)),
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(Unspecified)),
            ("::", Some(Unspecified)),
            ("169.254.169.254", Some(LinkLocal)),
            ("fe80::1", Some(LinkLocal)),
            ("febf::1", Some(LinkLocal)),
            ("10.0.0.5", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("172.32.0.1", None),
            ("192.168.1.1", Some(Private)),
            ("fc00::1", Some(Private)),
            ("fd12:3456::1", Some(Private)),
            ("fec0::1", Some(Private)),
            ("100.64.0.1", Some(Shared)),
            ("100.127.255.254", Some(Shared)),
            ("100.128.0.1", None),
            ("224.0.0.1", Some(Multicast)),
            ("239.255.255.250", Some(Multicast)),
            ("ff02::1", Some(Multicast)),
            ("255.255.255.255", Some(Broadcast)),
            ("240.0.0.1", Some(Reserved)),
            ("192.0.2.10", Some(Reserved)),
            ("198.18.0.1", Some(Reserved)),
            ("2001:db8::1", Some(Reserved)),
            ("::127.0.0.1", Some(Reserved)),
            // IPv6 forms of IPv4 addresses are judged by the IPv4 address.
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:169.254.169.254", Some(LinkLocal)),
            ("::ffff:10.1.2.3", Some(Private)),
            ("::ffff:0.0.0.0", Some(Unspecified)),
            ("::ffff:8.8.8.8", None),
            ("64:ff9b::a9fe:a9fe", Some(LinkLocal)),
            ("64:ff9b::808:808", None),
            ("2002:7f00:1::1", Some(Loopback)),
            ("2002:0808:0808::1", None),
        ];
        for (text, expected) in table {
            assert_eq!(classify(ip(text)), *expected, "{text}");
        }
    }

    #[test]
    fn allowed_networks_open_only_themselves() {
        let policy = OutboundPolicy::allowing(["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()]);
        assert_eq!(policy.check(ip("10.9.8.7")), Ok(()));
        assert_eq!(policy.check(ip("::ffff:10.9.8.7")), Ok(()), "the mapped form of an allowed address");
        assert_eq!(policy.check(ip("fd00::5")), Ok(()));
        assert_eq!(policy.check(ip("93.184.216.34")), Ok(()), "public addresses need no allowance");
        let refused = policy.check(ip("192.168.0.1")).unwrap_err();
        assert_eq!(refused, OutboundError::Forbidden { address: ip("192.168.0.1"), class: AddressClass::Private });
        assert!(refused.to_string().contains("outbound.allow_networks"), "{refused}");
        assert!(policy.check(ip("169.254.169.254")).is_err());
        assert!(OutboundPolicy::default().check(ip("10.9.8.7")).is_err(), "nothing is allowed by default");
        assert!(OutboundPolicy::allow_all().check(ip("::1")).is_ok());
    }

    #[tokio::test]
    async fn the_resolver_returns_only_checked_addresses() {
        let strict = OutboundPolicy::default();
        let refused = strict.resolve("127.0.0.1", 80).await.unwrap_err();
        assert!(matches!(refused, OutboundError::Forbidden { class: AddressClass::Loopback, .. }));
        assert!(strict.resolve("[::1]", 80).await.is_err());
        assert!(strict.resolve("[::ffff:169.254.169.254]", 80).await.is_err());
        for name in ["localhost", "LOCALHOST.", "camera.localhost"] {
            let refused = strict.resolve(name, 80).await.unwrap_err();
            assert!(
                matches!(refused, OutboundError::ResolvesToForbidden { class: AddressClass::Loopback, .. }),
                "{name}: {refused:?}"
            );
            assert!(strict.check_host(name).await.is_err());
        }
        assert_eq!(strict.resolve("8.8.8.8", 53).await.unwrap(), vec!["8.8.8.8:53".parse().unwrap()]);
        // A name that does not resolve is refused at connect time, and
        // left for then when it is saved.
        let missing = strict.resolve("no-such-host.invalid", 80).await.unwrap_err();
        assert!(matches!(missing, OutboundError::Unresolved { .. }), "{missing:?}");
        assert!(strict.check_host("no-such-host.invalid").await.is_ok());

        let loopback = OutboundPolicy::allowing(["127.0.0.0/8".parse().unwrap()]);
        assert_eq!(loopback.resolve("localhost", 8080).await.unwrap(), vec!["127.0.0.1:8080".parse().unwrap()]);
        assert!(loopback.resolve("::1", 80).await.is_err(), "only the allowed family");
    }
}
