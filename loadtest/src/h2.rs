//! HTTP/2 over TLS for the tools: one connection per origin with every
//! request multiplexed on it, as a browser does, so blocking reloads,
//! preload hints and parts share a connection. The origin must choose
//! HTTP/2 by ALPN; the roots to trust are given with [`trust_ca_pem`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::http::{err, HttpError, Response, Url, MAX_BODY_BYTES};

pub type Sender = SendRequest<Empty<Bytes>>;

fn trusted() -> &'static Mutex<Option<Arc<rustls::ClientConfig>>> {
    static TRUSTED: OnceLock<Mutex<Option<Arc<rustls::ClientConfig>>>> = OnceLock::new();
    TRUSTED.get_or_init(Mutex::default)
}

fn connections() -> &'static Mutex<HashMap<(String, u16), Sender>> {
    static CONNECTIONS: OnceLock<Mutex<HashMap<(String, u16), Sender>>> = OnceLock::new();
    CONNECTIONS.get_or_init(Mutex::default)
}

/// Trusts the PEM certificates in `pem` (and nothing else) for https:// URLs.
pub fn trust_ca_pem(pem: &[u8]) -> Result<(), HttpError> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(pem) {
        let certificate = certificate.map_err(|error| err(format!("CA PEM: {error}")))?;
        roots.add(certificate).map_err(|error| err(format!("CA certificate: {error}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| err(format!("TLS settings: {error}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    *trusted().lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::new(config));
    Ok(())
}

/// GET over the origin's one HTTP/2 connection (opened on first use).
pub async fn get(url: &Url, headers: &[(&str, &str)]) -> Result<Response, HttpError> {
    let started = Instant::now();
    let mut sender = connection(url).await?;
    sender.ready().await.map_err(|error| err(format!("HTTP/2 connection to {url}: {error}")))?;
    let mut request = hyper::Request::get(url.to_string()).header("user-agent", "loadtest");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Empty::new()).map_err(|error| err(format!("request {url}: {error}")))?;
    let response = sender.send_request(request).await.map_err(|error| err(format!("GET {url}: {error}")))?;
    let head_at = Instant::now();
    let status = response.status().as_u16();
    let response_headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (name.as_str().to_ascii_lowercase(), String::from_utf8_lossy(value.as_bytes()).into_owned())
        })
        .collect();
    let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|error| err(format!("body of {url}: {error}")))?
        .to_bytes()
        .to_vec();
    Ok(Response {
        status,
        headers: response_headers,
        body,
        protocol: "HTTP/2",
        started,
        head_at,
        done_at: Instant::now(),
    })
}

async fn connection(url: &Url) -> Result<Sender, HttpError> {
    let key = (url.host.clone(), url.port);
    if let Some(sender) = connections().lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&key) {
        if !sender.is_closed() {
            return Ok(sender.clone());
        }
    }
    let tcp =
        TcpStream::connect((url.host.as_str(), url.port)).await.map_err(|e| err(format!("connect {url}: {e}")))?;
    tcp.set_nodelay(true).ok();
    let sender = http2_over(url, tcp).await?;
    connections().lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(key, sender.clone());
    Ok(sender)
}

/// TLS over `tcp` offering `alpn`; fails unless the server chose it.
pub async fn tls_over(url: &Url, tcp: TcpStream, alpn: &[u8]) -> Result<TlsStream<TcpStream>, HttpError> {
    let trusted = trusted()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
        .ok_or_else(|| err("https:// needs trusted roots: call loadtest::h2::trust_ca_pem"))?;
    let mut config = (*trusted).clone();
    config.alpn_protocols = vec![alpn.to_vec()];
    let name = ServerName::try_from(url.host.clone()).map_err(|e| err(format!("server name {}: {e}", url.host)))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|error| err(format!("TLS with {url}: {error}")))?;
    if tls.get_ref().1.alpn_protocol() != Some(alpn) {
        return Err(err(format!("{url}: the server did not choose {}", String::from_utf8_lossy(alpn))));
    }
    Ok(tls)
}

/// A new HTTP/2 connection over TLS on `tcp`, its driver spawned.
pub async fn http2_over(url: &Url, tcp: TcpStream) -> Result<Sender, HttpError> {
    let tls = tls_over(url, tcp, b"h2").await?;
    let (sender, driver) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
        .await
        .map_err(|error| err(format!("HTTP/2 handshake with {url}: {error}")))?;
    tokio::spawn(driver);
    Ok(sender)
}
