//! What `relay all` prints for the person who started it: where OBS
//! publishes, the stream key, the player link and the playlist URL.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use crate::config::{non_empty, Config};

/// `key` is the first stream's key when this process may show it (see
/// `first_key`); otherwise the banner says how to get a new one.
/// Where a role's public ports are: the TLS ones when configured.
pub struct PublicAddresses {
    pub rtmp: SocketAddr,
    pub rtmps: Option<SocketAddr>,
    pub http: SocketAddr,
    pub https: Option<SocketAddr>,
}

pub fn print(config: &Config, addresses: &PublicAddresses, stream: &catalog::StreamRecord, key: Option<&str>) {
    let PublicAddresses { rtmp, rtmps, http, https } = *addresses;
    let host = |address: SocketAddr| {
        non_empty(&config.server.public_host).map_or_else(|| display_host(address.ip()), str::to_owned)
    };
    let app = &config.rtmp.app;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "OBS server URL: rtmp://{}:{}/{app}", host(rtmp), rtmp.port());
    if let Some(rtmps) = rtmps {
        let _ = writeln!(out, "OBS server URL (TLS): rtmps://{}:{}/{app}", host(rtmps), rtmps.port());
    }
    match key {
        Some(key) => writeln!(out, "Stream key: {key}"),
        None => writeln!(
            out,
            "Stream key: shown only when made; get a new one with `relay streams rotate-key {}` or in the console",
            stream.name
        ),
    }
    .unwrap_or_default();
    let _ = writeln!(out, "Player link: http://{}:{}/player.html?stream={}", host(http), http.port(), stream.name);
    let _ = writeln!(out, "Playlist URL: http://{}:{}/live/{}/index.m3u8", host(http), http.port(), stream.name);
    if let Some(https) = https {
        let (host, port) = (host(https), https.port());
        let _ = writeln!(out, "Player link (HTTPS): https://{host}:{port}/player.html?stream={}", stream.name);
        let _ = writeln!(out, "Playlist URL (HTTPS): https://{host}:{port}/live/{}/index.m3u8", stream.name);
    }
    let _ = out.flush();
}

/// Where /metrics is: the admin listener, not the public port.
pub fn print_admin(admin: SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "Metrics: http://{}:{}/metrics", display_host(admin.ip()), admin.port());
    let _ = out.flush();
}

/// A wildcard bind is shown as this machine's first LAN address, so the
/// printed links work from a phone on the same network.
pub fn display_host(ip: IpAddr) -> String {
    if !ip.is_unspecified() {
        return match ip {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        };
    }
    if_addrs::get_if_addrs()
        .ok()
        .and_then(|interfaces| {
            interfaces.into_iter().find(|interface| !interface.is_loopback() && interface.ip().is_ipv4())
        })
        .map_or_else(|| "localhost".to_string(), |interface| interface.ip().to_string())
}
