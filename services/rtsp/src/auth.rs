//! Who may publish: the stream key in the path (`/<app>/<key>`), or RTSP
//! Digest with the stream name in the path and the key as the password
//! (`rtsp://publisher:KEY@host/<app>/<name>`), checked against the HA1 the
//! authorizer keeps instead of the key. Either way the publisher then goes
//! through [`publisher::Gate`], so webhooks still apply. The key and the
//! `Authorization` header are never logged.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use media::rtsp::{digest, DigestCredentials, Request};
use publisher::{DigestSecret, Gate};

use crate::connection::uri_path;

/// A nonce older than this is refused as stale (the client retries with a new one).
const NONCE_LIFETIME: Duration = Duration::from_secs(60);
/// Failed Digest logins before the connection is closed.
const MAX_FAILURES: u32 = 3;

/// Why an ANNOUNCE was not accepted.
pub(crate) enum Refusal {
    /// 401 with this `WWW-Authenticate`; the connection stays open for the retry.
    Challenge(String),
    /// This status, then the connection closes.
    Close(u16, &'static str),
}

/// The Digest state of one connection: its current nonce, the realm it was
/// issued in, and failed tries. A nonce is only valid on the connection
/// that asked for it.
#[derive(Default)]
pub(crate) struct DigestGate {
    nonce: Option<(String, Instant)>,
    realm: String,
    failures: u32,
}

impl DigestGate {
    /// A new nonce, and the challenge in `realm` that carries it.
    fn challenge(&mut self, realm: &str, stale: bool) -> Result<Refusal, Refusal> {
        let mut random = [0u8; 16];
        if getrandom::fill(&mut random).is_err() {
            return Err(Refusal::Close(503, "no randomness for a nonce"));
        }
        let nonce = digest::nonce_from(random);
        let header = digest::challenge(realm, &nonce, stale);
        self.nonce = Some((nonce, Instant::now()));
        realm.clone_into(&mut self.realm);
        Ok(Refusal::Challenge(header))
    }

    /// One more failed login: a new challenge, or the end after too many.
    fn failed(&mut self, why: &'static str) -> Refusal {
        self.failures += 1;
        tracing::info!(why, failures = self.failures, "RTSP Digest login failed");
        if self.failures >= MAX_FAILURES {
            return Refusal::Close(401, "too many failed Digest logins");
        }
        let realm = std::mem::take(&mut self.realm);
        self.challenge(&realm, false).unwrap_or_else(|refusal| refusal)
    }
}

/// Settles who publishes: `Ok(stream name)` or how to refuse.
pub(crate) async fn authenticate(
    gate: &Gate,
    digest: &mut DigestGate,
    request: &Request,
    app: &str,
    key_or_name: &str,
    peer: SocketAddr,
) -> Result<String, Refusal> {
    if let Some(header) = request.header("Authorization") {
        digest_login(gate, digest, request, header, key_or_name).await?;
        return gate.authorize_proven(app, key_or_name, peer).await.map_err(|refusal| match refusal {
            publisher::Refusal::UnknownKey => Refusal::Close(403, "publish denied for this stream"),
            other => refused(&other),
        });
    }
    match gate.authorize(app, key_or_name, peer).await {
        Ok(stream) => return Ok(stream),
        Err(publisher::Refusal::UnknownKey) => {}
        Err(other) => return Err(refused(&other)),
    }
    // Not a key: a stream name whose key a Digest login can prove.
    match digest_secret(gate, key_or_name).await? {
        Some(secret) => Err(digest.challenge(&secret.realm, false).unwrap_or_else(|refusal| refusal)),
        None => Err(Refusal::Close(404, "unknown stream key")),
    }
}

async fn digest_secret(gate: &Gate, name: &str) -> Result<Option<DigestSecret>, Refusal> {
    gate.authorizer().digest_secret_for(name).await.map_err(|reason| {
        tracing::error!(%reason, "ANNOUNCE refused: could not look the stream up");
        Refusal::Close(503, "could not look the stream up")
    })
}

/// The RTSP answer to a refusal of the shared publisher path.
pub(crate) fn refused(refusal: &publisher::Refusal) -> Refusal {
    match refusal {
        publisher::Refusal::UnknownApp(_) => Refusal::Close(404, "unknown application"),
        publisher::Refusal::UnknownKey => Refusal::Close(404, "unknown stream key"),
        publisher::Refusal::CannotCheck(reason) => {
            tracing::error!(%reason, "ANNOUNCE refused: could not check the stream key");
            Refusal::Close(503, "could not check the stream key")
        }
        publisher::Refusal::LiveElsewhere => Refusal::Close(503, "stream live on another ingest pod"),
        publisher::Refusal::CannotClaim(reason) => {
            tracing::error!(%reason, "ANNOUNCE refused: cannot claim the stream now");
            Refusal::Close(503, "cannot claim the stream now")
        }
        publisher::Refusal::AlreadyLive => Refusal::Close(503, "stream already live"),
    }
}

/// Checks a Digest `Authorization` for stream `name`: `Ok` when it proves the key.
async fn digest_login(
    publishers: &Gate,
    gate: &mut DigestGate,
    request: &Request,
    header: &str,
    name: &str,
) -> Result<(), Refusal> {
    let Ok(credentials) = DigestCredentials::parse(header) else { return Err(gate.failed("unreadable header")) };
    let Some((nonce, issued)) = gate.nonce.as_ref() else { return Err(gate.failed("no nonce was issued")) };
    if credentials.realm != gate.realm || &credentials.nonce != nonce {
        return Err(gate.failed("not our realm or nonce"));
    }
    if issued.elapsed() > NONCE_LIFETIME {
        gate.failures += 1;
        if gate.failures >= MAX_FAILURES {
            return Err(Refusal::Close(401, "too many failed Digest logins"));
        }
        let realm = std::mem::take(&mut gate.realm);
        return Err(gate.challenge(&realm, true).unwrap_or_else(|refusal| refusal));
    }
    if uri_path(&credentials.uri) != uri_path(&request.uri) {
        return Err(gate.failed("digest URI is not the request URI"));
    }
    let Some(secret) = digest_secret(publishers, name).await? else { return Err(gate.failed("stream has no key")) };
    // HA1 binds the username: only the one the hash was made for can match.
    if credentials.username != secret.username || credentials.realm != secret.realm {
        return Err(gate.failed("not the publisher username"));
    }
    if !credentials.verify_ha1(&request.method, &secret.ha1) {
        return Err(gate.failed("wrong response"));
    }
    // Proven: the nonce is spent.
    gate.nonce = None;
    Ok(())
}
