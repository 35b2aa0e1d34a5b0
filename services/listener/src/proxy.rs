//! Who the client is, when load balancers, CDNs or ingresses stand in
//! between: the one place the server decides it. A connection's address
//! is its socket peer, or, when the peer is a trusted proxy that sends a
//! PROXY protocol header (v1 or v2), the address in that header. An HTTP
//! request's client is then found by walking `X-Forwarded-For` or
//! `Forwarded` (RFC 7239) from the right, skipping trusted proxies: the
//! first untrusted address is the client. Nothing an untrusted peer sends
//! can change its address.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Which header trusted HTTP proxies write the client address to. Proxies
/// append to the header they know and pass others through untouched, so
/// reading the other one would believe whatever the client wrote there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (most load balancers and
    /// CDNs).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

/// The networks whose word about the client is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
    header: ForwardedHeader,
}

/// At most this many hops of a forwarding header are looked at; a chain
/// of trusted proxies is never longer.
const MAX_HOPS: usize = 32;

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>, header: ForwardedHeader) -> Self {
        Self { networks, header }
    }

    /// No proxy is trusted: every address is the socket peer.
    pub fn none() -> Self {
        Self::default()
    }

    pub fn trusts(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.networks.iter().any(|network| network.contains(&address))
    }

    /// The client of an HTTP request that came from `peer` (the socket
    /// peer, or the address a PROXY protocol header gave).
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let lines = headers.get_all(match self.header {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        });
        let lines: Vec<&str> = lines.iter().filter_map(|value| value.to_str().ok()).collect();
        let hops: Vec<Option<IpAddr>> = match self.header {
            ForwardedHeader::XForwardedFor => lines.iter().flat_map(|line| line.split(',')).map(parse_hop).collect(),
            ForwardedHeader::Forwarded => {
                lines.iter().flat_map(|line| split_outside_quotes(line)).map(forwarded_for).collect()
            }
        };
        self.walk(peer, &hops)
    }

    /// From the right: past every trusted hop, the first untrusted one. A
    /// hop that is not an address (`unknown`, an obfuscated name) ends the
    /// walk at the proxy that wrote it; when every hop is trusted, the
    /// leftmost is the client.
    fn walk(&self, peer: IpAddr, hops: &[Option<IpAddr>]) -> IpAddr {
        let mut client = peer;
        for hop in hops.iter().rev().take(MAX_HOPS) {
            let Some(address) = hop.map(|address| address.to_canonical()) else { return client };
            client = address;
            if !self.trusts(address) {
                return address;
            }
        }
        client
    }
}

/// `1.2.3.4`, `1.2.3.4:5`, `::1`, `[::1]:5`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim().trim_matches('"');
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|address| address.ip()))
        .or_else(|| hop.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')).and_then(|inner| inner.parse().ok()))
}

/// The `for=` of one `Forwarded` element (`for=192.0.2.1;proto=https`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
        .and_then(|(_, value)| parse_hop(value))
}

/// Splits a `Forwarded` line at the commas between elements, not those in
/// quoted strings.
fn split_outside_quotes(line: &str) -> Vec<&str> {
    let mut elements = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (index, character) in line.char_indices() {
        match character {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                elements.push(line.get(start..index).unwrap_or_default());
                start = index + 1;
            }
            _ => {}
        }
    }
    elements.push(line.get(start..).unwrap_or_default());
    elements
}

/// The v2 signature; a v1 header starts with `PROXY `.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// A v1 header is at most 107 bytes, CRLF included.
const V1_MAX: usize = 107;
/// Larger v2 headers (many TLVs) are refused; load balancers send well
/// under this.
const V2_MAX_PAYLOAD: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum ProxyHeaderError {
    #[error("no PROXY protocol header")]
    Missing,
    #[error("invalid PROXY protocol header: {0}")]
    Invalid(String),
    #[error("reading the PROXY protocol header: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one PROXY protocol header (v1 or v2) from the front of `stream`,
/// nothing past it, and returns the client address it names (`None` for
/// a proxy's own connection: v2 LOCAL, v1 UNKNOWN). The bytes are read
/// exactly, by length (v2) or up to the CRLF (v1), so what follows stays
/// for the protocol.
pub async fn read_proxy_header<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Option<SocketAddr>, ProxyHeaderError> {
    let mut header = vec![0u8; V2_SIGNATURE.len()];
    stream.read_exact(&mut header).await?;
    if header == V2_SIGNATURE {
        let mut fixed = [0u8; 4];
        stream.read_exact(&mut fixed).await?;
        let length = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
        if length > V2_MAX_PAYLOAD {
            return Err(ProxyHeaderError::Invalid(format!("{length} bytes of addresses and TLVs")));
        }
        header.extend_from_slice(&fixed);
        let start = header.len();
        header.resize(start + length, 0);
        stream.read_exact(header.get_mut(start..).unwrap_or_default()).await?;
        let parsed = ppp::v2::Header::try_from(header.as_slice())
            .map_err(|error| ProxyHeaderError::Invalid(error.to_string()))?;
        if parsed.command == ppp::v2::Command::Local {
            return Ok(None);
        }
        return Ok(match parsed.addresses {
            ppp::v2::Addresses::IPv4(v4) => Some(SocketAddr::from((v4.source_address, v4.source_port))),
            ppp::v2::Addresses::IPv6(v6) => Some(SocketAddr::from((v6.source_address, v6.source_port))),
            ppp::v2::Addresses::Unspecified | ppp::v2::Addresses::Unix(_) => None,
        });
    }
    if !header.starts_with(b"PROXY ") {
        return Err(ProxyHeaderError::Missing);
    }
    while !header.ends_with(b"\r\n") {
        if header.len() >= V1_MAX {
            return Err(ProxyHeaderError::Invalid("v1 header without CRLF".into()));
        }
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await?;
        header.extend_from_slice(&byte);
    }
    let text = std::str::from_utf8(&header).map_err(|_| ProxyHeaderError::Invalid("v1 header not ASCII".into()))?;
    let parsed = ppp::v1::Header::try_from(text).map_err(|error| ProxyHeaderError::Invalid(error.to_string()))?;
    Ok(match parsed.addresses {
        ppp::v1::Addresses::Tcp4(v4) => Some(SocketAddr::from((v4.source_address, v4.source_port))),
        ppp::v1::Addresses::Tcp6(v6) => Some(SocketAddr::from((v6.source_address, v6.source_port))),
        ppp::v1::Addresses::Unknown => None,
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn headers(name: &'static str, lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(name, HeaderValue::from_str(line).unwrap());
        }
        headers
    }

    fn proxies(networks: &[&str], header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies::new(networks.iter().map(|network| network.parse().unwrap()).collect(), header)
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_writes() {
        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let forged = headers("x-forwarded-for", &["203.0.113.7"]);
        assert_eq!(trusted.client_address(ip("198.51.100.1"), &forged), ip("198.51.100.1"));
        assert_eq!(TrustedProxies::none().client_address(ip("10.0.0.1"), &forged), ip("10.0.0.1"));
        assert_eq!(trusted.client_address(ip("::ffff:198.51.100.1"), &forged), ip("198.51.100.1"));
    }

    #[test]
    fn the_walk_skips_trusted_hops_from_the_right() {
        let trusted = proxies(&["10.0.0.0/8", "2001:db8:f::/48"], ForwardedHeader::XForwardedFor);
        let peer = ip("10.0.0.5");
        // The client wrote the first entry; the load balancer appended the real one.
        let chain = headers("x-forwarded-for", &["192.0.2.66, 203.0.113.7"]);
        assert_eq!(trusted.client_address(peer, &chain), ip("203.0.113.7"));
        // CDN then an internal proxy: the internal one is skipped.
        let chain = headers("x-forwarded-for", &["192.0.2.66", "203.0.113.7:443, 10.1.2.3"]);
        assert_eq!(trusted.client_address(peer, &chain), ip("203.0.113.7"));
        let chain = headers("x-forwarded-for", &["[2001:db8::1]:80, 2001:db8:f::9"]);
        assert_eq!(trusted.client_address(peer, &chain), ip("2001:db8::1"));
        // No header: the trusted peer itself.
        assert_eq!(trusted.client_address(peer, &HeaderMap::new()), peer);
        // Every hop trusted: the leftmost.
        let chain = headers("x-forwarded-for", &["10.9.9.9, 10.1.1.1"]);
        assert_eq!(trusted.client_address(peer, &chain), ip("10.9.9.9"));
        // Garbage ends the walk at the proxy that wrote it.
        let chain = headers("x-forwarded-for", &["203.0.113.7, nonsense, 10.1.1.1"]);
        assert_eq!(trusted.client_address(peer, &chain), ip("10.1.1.1"));
    }

    #[test]
    fn forwarded_is_read_only_when_configured() {
        let peer = ip("10.0.0.5");
        let both = {
            let mut map =
                headers("forwarded", &[r#"for="_hidden", for=192.0.2.66;proto=https, For="[2001:db8::7]:4711""#]);
            map.append("x-forwarded-for", HeaderValue::from_static("198.51.100.9"));
            map
        };
        let by_forwarded = proxies(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        assert_eq!(by_forwarded.client_address(peer, &both), ip("2001:db8::7"));
        let by_xff = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        assert_eq!(by_xff.client_address(peer, &both), ip("198.51.100.9"));
        // A comma inside a quoted value does not split the element.
        let quoted_comma = headers("forwarded", &[r#"for=203.0.113.1, for=198.51.100.2;by="a,b""#]);
        assert_eq!(by_forwarded.client_address(peer, &quoted_comma), ip("198.51.100.2"));
    }

    async fn read(bytes: &[u8]) -> (Result<Option<SocketAddr>, ProxyHeaderError>, Vec<u8>) {
        let mut input = bytes;
        let result = read_proxy_header(&mut input).await;
        (result, input.to_vec())
    }

    #[tokio::test]
    async fn v1_and_v2_headers_give_the_client_and_leave_the_rest() {
        let (result, rest) = read(b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 1935\r\n\x03rtmp").await;
        assert_eq!(result.unwrap(), Some("203.0.113.7:51000".parse().unwrap()));
        assert_eq!(rest, b"\x03rtmp");
        let (result, rest) = read(b"PROXY TCP6 2001:db8::7 2001:db8::1 4711 80\r\nGET /").await;
        assert_eq!(result.unwrap(), Some("[2001:db8::7]:4711".parse().unwrap()));
        assert_eq!(rest, b"GET /");
        let (result, rest) = read(b"PROXY UNKNOWN\r\nGET").await;
        assert_eq!(result.unwrap(), None);
        assert_eq!(rest, b"GET");

        let mut v2 = V2_SIGNATURE.to_vec();
        v2.extend_from_slice(&[0x21, 0x11, 0, 12 + 7]);
        v2.extend_from_slice(&[203, 0, 113, 7, 10, 0, 0, 1, 0xc7, 0x38, 0x07, 0x8f]);
        v2.extend_from_slice(&[0x04, 0, 4, 1, 2, 3, 4]); // a TLV a load balancer adds
        v2.extend_from_slice(b"after");
        let (result, rest) = read(&v2).await;
        assert_eq!(result.unwrap(), Some("203.0.113.7:51000".parse().unwrap()));
        assert_eq!(rest, b"after");
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert_eq!(read(&local).await.0.unwrap(), None, "a health check of the proxy itself");
    }

    #[tokio::test]
    async fn bad_headers_are_refused() {
        assert!(matches!(read(b"GET / HTTP/1.1\r\n\r\n").await.0, Err(ProxyHeaderError::Missing)));
        assert!(matches!(read(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2").await.0, Err(ProxyHeaderError::Io(_))));
        let long = [b"PROXY TCP4 ".as_slice(), &[b'1'; 200]].concat();
        assert!(matches!(read(&long).await.0, Err(ProxyHeaderError::Invalid(_))));
        assert!(matches!(read(b"PROXY TCP4 nonsense\r\n").await.0, Err(ProxyHeaderError::Invalid(_))));
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert!(matches!(read(&huge).await.0, Err(ProxyHeaderError::Invalid(_))));
    }
}
