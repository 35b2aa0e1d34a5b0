//! RTP over UDP for RECORD: one RTP/RTCP port pair per track, bound at
//! SETUP, read by a small task per socket that forwards datagrams from the
//! publisher's address (and only from it) to the connection. Sockets close
//! when the connection's [`UdpTracks`] is dropped.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Datagrams waiting for the connection, per connection. A slow connection
/// makes the tasks wait, so the kernel's socket buffer absorbs (and, when
/// full, drops) the excess: memory stays bounded.
const QUEUE: usize = 256;
/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;
/// Tries at finding a free even/odd pair among ephemeral ports.
const EPHEMERAL_TRIES: usize = 32;

/// Where the next scan of a configured range starts, so SETUPs spread over it.
static NEXT_IN_RANGE: AtomicU16 = AtomicU16::new(0);

/// A datagram for interleaved-style channel `channel` (even RTP, odd RTCP).
pub(crate) type Datagram = (u8, Bytes);

/// The UDP side of one connection.
pub(crate) struct UdpTracks {
    peer: IpAddr,
    tasks: JoinSet<()>,
    sender: mpsc::Sender<Datagram>,
    receiver: mpsc::Receiver<Datagram>,
    foreign: Arc<AtomicU64>,
}

impl UdpTracks {
    /// Packets are only taken from `peer`'s address.
    pub(crate) fn new(peer: IpAddr) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let peer = peer.to_canonical();
        Self { peer, tasks: JoinSet::new(), sender, receiver, foreign: Arc::default() }
    }

    /// True once some track receives over UDP.
    pub(crate) fn in_use(&self) -> bool {
        !self.tasks.is_empty()
    }

    /// Datagrams dropped because they came from another address.
    pub(crate) fn foreign_packets(&self) -> u64 {
        self.foreign.load(Ordering::Relaxed)
    }

    /// Binds an RTP/RTCP pair on `local` (even RTP port, odd RTCP port),
    /// from `range` or ephemeral, whose datagrams arrive as channels
    /// `channel` and `channel + 1`. Returns the RTP port.
    pub(crate) async fn open(
        &mut self,
        local: IpAddr,
        range: Option<&RangeInclusive<u16>>,
        channel: u8,
    ) -> std::io::Result<u16> {
        let (rtp, rtcp) = match range {
            Some(range) => bind_in_range(local, range).await?,
            None => bind_ephemeral(local).await?,
        };
        let port = rtp.local_addr()?.port();
        for (socket, channel) in [(rtp, channel), (rtcp, channel.saturating_add(1))] {
            let forward = Forward { peer: self.peer, sender: self.sender.clone(), foreign: self.foreign.clone() };
            self.tasks.spawn(forward.run(socket, channel));
        }
        Ok(port)
    }

    /// The next datagram; pending forever while no track uses UDP.
    pub(crate) async fn next(&mut self) -> Option<Datagram> {
        if self.tasks.is_empty() {
            return std::future::pending().await;
        }
        self.receiver.recv().await
    }
}

struct Forward {
    peer: IpAddr,
    sender: mpsc::Sender<Datagram>,
    foreign: Arc<AtomicU64>,
}

impl Forward {
    async fn run(self, socket: UdpSocket, channel: u8) {
        let mut buffer = vec![0u8; MAX_DATAGRAM];
        loop {
            let (count, from) = match socket.recv_from(&mut buffer).await {
                Ok(received) => received,
                Err(error) => {
                    // An ICMP error from an earlier send, or a transient failure: keep reading.
                    tracing::debug!(%error, "RTP socket read failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            if from.ip().to_canonical() != self.peer {
                self.foreign.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            metrics::counter!("relay_ingest_received_bytes_total", "protocol" => "rtsp").increment(count as u64);
            let data = Bytes::copy_from_slice(buffer.get(..count).unwrap_or_default());
            if self.sender.send((channel, data)).await.is_err() {
                return; // the connection is gone
            }
        }
    }
}

async fn bind_pair(local: IpAddr, rtp_port: u16) -> std::io::Result<(UdpSocket, UdpSocket)> {
    let rtp = UdpSocket::bind(SocketAddr::new(local, rtp_port)).await?;
    let port = rtp.local_addr()?.port();
    if port % 2 != 0 || port == u16::MAX {
        return Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, "odd RTP port"));
    }
    let rtcp = UdpSocket::bind(SocketAddr::new(local, port + 1)).await?;
    Ok((rtp, rtcp))
}

async fn bind_ephemeral(local: IpAddr) -> std::io::Result<(UdpSocket, UdpSocket)> {
    let mut last_error = None;
    for _ in 0..EPHEMERAL_TRIES {
        match bind_pair(local, 0).await {
            Ok(pair) => return Ok(pair),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("no UDP port pair")))
}

async fn bind_in_range(local: IpAddr, range: &RangeInclusive<u16>) -> std::io::Result<(UdpSocket, UdpSocket)> {
    let first = range.start().saturating_add(range.start() % 2);
    let pairs = (range.end().saturating_sub(first) / 2).saturating_add(1);
    if first >= *range.end() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "UDP port range holds no even/odd pair"));
    }
    let start = NEXT_IN_RANGE.fetch_add(1, Ordering::Relaxed) % pairs;
    for step in 0..pairs {
        let port = first + 2 * ((start + step) % pairs);
        if port >= *range.end() {
            continue;
        }
        if let Ok(pair) = bind_pair(local, port).await {
            return Ok(pair);
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, "every UDP port pair of the range is taken"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pairs_are_even_odd_and_filter_other_addresses() {
        let local: IpAddr = "127.0.0.1".parse().expect("address");
        let mut tracks = UdpTracks::new("127.0.0.2".parse().expect("address"));
        let port = tracks.open(local, None, 0).await.expect("ephemeral pair");
        assert_eq!(port % 2, 0);
        let sender = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        sender.send_to(b"not from the publisher", (local, port)).await.expect("send");
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while tracks.foreign_packets() == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the foreign datagram is counted");

        let mut tracks = UdpTracks::new(local);
        let base = port.wrapping_add(100) & !1;
        let range = base..=base + 5;
        let first = tracks.open(local, Some(&range), 0).await.expect("pair in range");
        let second = tracks.open(local, Some(&range), 2).await.expect("second pair in range");
        assert!(range.contains(&first) && range.contains(&second) && first != second, "{first} {second}");
        sender.send_to(b"rtcp", (local, second + 1)).await.expect("send");
        let received = tokio::time::timeout(std::time::Duration::from_secs(5), tracks.next()).await;
        assert_eq!(received.expect("in time"), Some((3, Bytes::from_static(b"rtcp"))));
        assert!(tracks.open(local, Some(&(base..=base)), 4).await.is_err(), "a one-port range holds no pair");
    }
}
