//! Per-stream access policies and the decision for one request.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::token::{TokenError, TokenVerifier};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "allow", rename_all = "snake_case")]
pub enum AccessPolicy {
    /// Anyone may play.
    #[default]
    Public,
    /// Only clients whose address is in one of these networks.
    IpAllowList(Vec<IpNet>),
    /// Only holders of a valid playback token covering the path.
    Token,
}

/// What allowed a request; tells whether a shared cache may keep the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    Public,
    Token,
    AllowListedIp,
}

impl Allowed {
    /// A CDN in front of an allow-listed stream cannot tell who may read
    /// its copy, so those responses are for private caches only. Token
    /// responses may be shared: the edge verifies every viewer's token.
    pub fn shared_cache_ok(self) -> bool {
        !matches!(self, Allowed::AllowListedIp)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("token required")]
    MissingToken,
    #[error("{0}")]
    Token(TokenError),
    #[error("address not allowed")]
    IpNotAllowed,
    /// The name names no stream (never did, deleted, or renamed away).
    #[error("no such stream")]
    UnknownStream,
    /// on_play guards the stream and the request carries no session of it.
    #[error("no on_play session")]
    NoSession,
}

impl Denied {
    /// 401 when the client can fix it with a (new) token or session, 404
    /// for a name that names no stream, 403 otherwise.
    pub fn status(self) -> u16 {
        match self {
            Denied::MissingToken | Denied::Token(TokenError::Expired) | Denied::NoSession => 401,
            Denied::UnknownStream => 404,
            _ => 403,
        }
    }

    /// What the client is told; the detail (`Display`) is for logs only.
    pub fn public_reason(self) -> &'static str {
        match self {
            Denied::MissingToken => "token required",
            Denied::Token(TokenError::Expired) => "token expired",
            Denied::UnknownStream => "not found",
            Denied::NoSession => "session required; load index.m3u8",
            _ => "forbidden",
        }
    }
}

/// Decides one request of `path` (e.g. `live/main/index.m3u8`) under `policy`.
pub fn decide(
    policy: &AccessPolicy,
    verifier: &TokenVerifier,
    client_ip: IpAddr,
    token: Option<&str>,
    path: &str,
) -> Result<Allowed, Denied> {
    match policy {
        AccessPolicy::Public => Ok(Allowed::Public),
        AccessPolicy::IpAllowList(networks) => {
            let client_ip = client_ip.to_canonical();
            if networks.iter().any(|network| network.contains(&client_ip)) {
                Ok(Allowed::AllowListedIp)
            } else {
                Err(Denied::IpNotAllowed)
            }
        }
        AccessPolicy::Token => {
            let token = token.filter(|token| !token.is_empty()).ok_or(Denied::MissingToken)?;
            verifier.verify(token, path, client_ip).map(|_| Allowed::Token).map_err(Denied::Token)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::SigningKey;
    use crate::token::{PlaybackClaims, TokenSigner};
    use std::time::Duration;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn public_and_allow_lists() {
        let verifier = TokenVerifier::new();
        let path = "live/main/index.m3u8";
        assert_eq!(decide(&AccessPolicy::Public, &verifier, HOME, None, path), Ok(Allowed::Public));
        let loopback = AccessPolicy::IpAllowList(vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]);
        assert_eq!(decide(&loopback, &verifier, HOME, None, path), Ok(Allowed::AllowListedIp));
        assert!(decide(&loopback, &verifier, "::ffff:127.0.0.9".parse().unwrap(), None, path).is_ok());
        assert!(decide(&loopback, &verifier, "::1".parse().unwrap(), None, path).is_ok());
        let office = AccessPolicy::IpAllowList(vec!["192.0.2.0/24".parse().unwrap()]);
        assert_eq!(decide(&office, &verifier, HOME, None, path), Err(Denied::IpNotAllowed));
        assert_eq!(decide(&AccessPolicy::IpAllowList(vec![]), &verifier, HOME, None, path), Err(Denied::IpNotAllowed));
    }

    #[test]
    fn token_policy_maps_failures_to_401_or_403() {
        let key = SigningKey::new("k1", "k1-secret-0123456789abcdefghijklmnop").unwrap();
        let verifier = TokenVerifier::with_keys([&key]);
        let signer = TokenSigner::new(&key);
        let path = "live/main/index.m3u8";
        let missing = decide(&AccessPolicy::Token, &verifier, HOME, None, path).unwrap_err();
        assert_eq!((missing.status(), missing.public_reason()), (401, "token required"));
        assert_eq!(decide(&AccessPolicy::Token, &verifier, HOME, Some(""), path), Err(Denied::MissingToken));

        let expired = PlaybackClaims {
            sub: "live/main/".into(),
            exp: 1_000,
            iat: 900,
            nbf: None,
            ip: None,
            sid: None,
            ses: false,
        };
        let token = signer.issue(&expired).unwrap();
        let denied = decide(&AccessPolicy::Token, &verifier, HOME, Some(&token), path).unwrap_err();
        assert_eq!((denied.status(), denied.public_reason()), (401, "token expired"));

        let other = signer.issue(&PlaybackClaims::new("live/other/", Duration::from_secs(60))).unwrap();
        let denied = decide(&AccessPolicy::Token, &verifier, HOME, Some(&other), path).unwrap_err();
        assert_eq!(denied, Denied::Token(TokenError::WrongScope));
        assert_eq!((denied.status(), denied.public_reason()), (403, "forbidden"));

        let good = signer.issue(&PlaybackClaims::new("live/main/", Duration::from_secs(60))).unwrap();
        assert_eq!(decide(&AccessPolicy::Token, &verifier, HOME, Some(&good), path), Ok(Allowed::Token));
    }

    #[test]
    fn policies_read_and_write_as_tagged_json() {
        let policy = AccessPolicy::IpAllowList(vec!["10.0.0.0/8".parse().unwrap()]);
        let json = serde_json::to_string(&policy).unwrap();
        assert_eq!(json, r#"{"kind":"ip_allow_list","allow":["10.0.0.0/8"]}"#);
        assert_eq!(serde_json::from_str::<AccessPolicy>(&json).unwrap(), policy);
        assert_eq!(serde_json::from_str::<AccessPolicy>(r#"{"kind":"token"}"#).unwrap(), AccessPolicy::Token);
    }
}
