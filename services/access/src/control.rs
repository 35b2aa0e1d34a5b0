//! The origin's view of access: keys, which names name which stream,
//! per-stream policies and how to find the client address, swappable at
//! run time without locking readers.
//!
//! Policies and tokens follow a stream's id, not its name: a rename or a
//! delete swaps the name-to-id map in one step, so the old name is unknown
//! (404) from that moment, and a token names the id it was issued for.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::key::SigningKey;
use crate::policy::{decide, AccessPolicy, Allowed, Denied};
use crate::token::{PlaybackClaims, TokenError, TokenSigner, TokenVerifier};

#[derive(Debug, Clone, Default)]
pub struct AccessConfig {
    pub verifier: TokenVerifier,
    /// Stream id to policy (the name where there is no stream directory).
    pub policies: HashMap<String, AccessPolicy>,
    /// For streams without an entry. Public by default.
    pub default_policy: AccessPolicy,
    /// Stream name to stream id, as the control plane knows them. `Some`:
    /// only these names are served, and a token must carry the id (`sid`)
    /// its name maps to now. `None` (an origin without a control plane):
    /// every name is served and stands for its own id.
    pub streams: Option<HashMap<String, String>>,
    /// Signs on_play session tokens (the newest key); none are issued without it.
    pub session_key: Option<SigningKey>,
}

/// What a request that may go ahead is, for the checks after the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    pub allowed: Allowed,
    /// The stream's id (its name without a stream directory).
    pub stream_id: String,
    /// The client address the checks used.
    pub client_ip: IpAddr,
    /// The request carries a valid on_play session token of this stream and client.
    pub session: bool,
    /// Expiry (Unix seconds) of the valid token the request carries, if any.
    pub token_expires: Option<u64>,
}

/// One media request as the access check sees it.
#[derive(Debug, Clone, Copy)]
pub struct AccessRequest<'a> {
    pub stream: &'a str,
    /// The media path without the token prefix, e.g. `live/main/index.m3u8`.
    pub path: &'a str,
    /// The client, as the listener found it behind trusted proxies
    /// (`listener::TrustedProxies`): the one address every check uses.
    pub client: IpAddr,
    pub token: Option<&'a str>,
}

/// Readers take a snapshot per request (a few atomic operations); writers
/// swap in a new configuration, so a request never sees half an update.
#[derive(Debug, Default)]
pub struct AccessControl {
    config: ArcSwap<AccessConfig>,
}

impl AccessControl {
    pub fn new(config: AccessConfig) -> Self {
        AccessControl { config: ArcSwap::from_pointee(config) }
    }

    /// Every stream public: the behaviour of an origin without access control.
    pub fn public() -> Self {
        AccessControl::default()
    }

    pub fn check(&self, request: &AccessRequest<'_>) -> Result<Allowed, Denied> {
        self.admit(request).map(|admission| admission.allowed)
    }

    /// The policy's decision, and what the origin needs after it: the
    /// stream's id, the client address and whether the request carries an
    /// on_play session. A name the stream directory does not know is
    /// refused before anything else.
    pub fn admit(&self, request: &AccessRequest<'_>) -> Result<Admission, Denied> {
        let config = self.config.load();
        let stream_id = match &config.streams {
            Some(streams) => streams.get(request.stream).ok_or(Denied::UnknownStream)?.as_str(),
            None => request.stream,
        };
        let policy = config.policies.get(stream_id).unwrap_or(&config.default_policy);
        let client_ip = request.client.to_canonical();
        let token = request.token.filter(|token| !token.is_empty());
        let claims = match token {
            None => None,
            Some(token) => {
                let verified = config
                    .verifier
                    .verify(token, request.path, client_ip)
                    .and_then(|claims| bound_to_stream(claims, config.streams.is_some(), stream_id));
                match verified {
                    Ok(claims) => Some(claims),
                    Err(error) if *policy == AccessPolicy::Token => return Err(Denied::Token(error)),
                    // A bad token on a stream that needs none is ignored, as it always was.
                    Err(_) => None,
                }
            }
        };
        let allowed = match (policy, &claims) {
            (AccessPolicy::Token, Some(_)) => Allowed::Token,
            (AccessPolicy::Token, None) => return Err(Denied::MissingToken),
            (policy, _) => decide(policy, &config.verifier, client_ip, None, request.path)?,
        };
        Ok(Admission {
            allowed,
            stream_id: stream_id.to_owned(),
            client_ip,
            session: claims.as_ref().is_some_and(|claims| claims.ses),
            token_expires: claims.map(|claims| claims.exp),
        })
    }

    /// An on_play session token for `stream` (scope `live/<stream>/`),
    /// bound to its id and the client, valid for `ttl` but never past
    /// `not_after` (Unix seconds). None without a signing key.
    pub fn issue_session(
        &self,
        stream: &str,
        stream_id: &str,
        client_ip: IpAddr,
        ttl: Duration,
        not_after: Option<u64>,
    ) -> Option<String> {
        let config = self.config.load();
        let key = config.session_key.as_ref()?;
        let mut claims =
            PlaybackClaims::new(format!("live/{stream}/"), ttl).bound_to(client_ip).for_stream(stream_id).session();
        if let Some(limit) = not_after {
            claims.exp = claims.exp.min(limit);
        }
        TokenSigner::new(key).issue(&claims).ok()
    }

    pub fn snapshot(&self) -> Arc<AccessConfig> {
        self.config.load_full()
    }

    pub fn replace(&self, config: AccessConfig) {
        self.config.store(Arc::new(config));
    }

    /// Applies `change` to a copy of the current configuration and swaps
    /// it in; `change` may run again if another writer raced.
    pub fn update(&self, change: impl Fn(&mut AccessConfig)) {
        self.config.rcu(|current| {
            let mut next = AccessConfig::clone(current);
            change(&mut next);
            next
        });
    }

    /// The policy of the stream named `stream` now.
    pub fn policy(&self, stream: &str) -> AccessPolicy {
        let config = self.config.load();
        let id = match &config.streams {
            Some(streams) => streams.get(stream).map_or(stream, String::as_str),
            None => stream,
        };
        config.policies.get(id).unwrap_or(&config.default_policy).clone()
    }

    /// Sets the policy of the stream with this id (its name without a stream directory).
    pub fn set_policy(&self, stream: &str, policy: AccessPolicy) {
        self.update(|config| {
            config.policies.insert(stream.to_owned(), policy.clone());
        });
    }

    pub fn remove_policy(&self, stream: &str) {
        self.update(|config| {
            config.policies.remove(stream);
        });
    }

    pub fn set_default_policy(&self, policy: AccessPolicy) {
        self.update(|config| config.default_policy = policy.clone());
    }

    pub fn add_key(&self, key: &SigningKey) {
        self.update(|config| config.verifier.add_key(key));
    }

    pub fn retire_key(&self, kid: &str) {
        self.update(|config| {
            config.verifier.retire_key(kid);
        });
    }
}

/// A token names the stream id it was issued for; without a directory a
/// token without one is accepted, as before ids existed.
fn bound_to_stream(claims: PlaybackClaims, directory: bool, stream_id: &str) -> Result<PlaybackClaims, TokenError> {
    match &claims.sid {
        Some(sid) if sid == stream_id => Ok(claims),
        None if !directory => Ok(claims),
        _ => Err(TokenError::WrongStream),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::token::{PlaybackClaims, TokenError, TokenSigner};

    fn request<'a>(stream: &'a str, path: &'a str, token: Option<&'a str>) -> AccessRequest<'a> {
        AccessRequest { stream, path, client: "127.0.0.1".parse().unwrap(), token }
    }

    #[test]
    fn unknown_streams_follow_the_default_policy() {
        let control = AccessControl::public();
        assert_eq!(control.check(&request("any", "live/any/index.m3u8", None)), Ok(Allowed::Public));
        control.set_default_policy(AccessPolicy::Token);
        assert_eq!(control.check(&request("any", "live/any/index.m3u8", None)), Err(Denied::MissingToken));
        control.set_policy("open", AccessPolicy::Public);
        assert_eq!(control.check(&request("open", "live/open/index.m3u8", None)), Ok(Allowed::Public));
        control.remove_policy("open");
        assert_eq!(control.policy("open"), AccessPolicy::Token);
    }

    #[test]
    fn keys_and_policies_change_at_run_time() {
        let control = AccessControl::public();
        control.set_policy("main", AccessPolicy::Token);
        let key = SigningKey::new("k1", "k1-secret-0123456789abcdefghijklmnop").unwrap();
        let token = TokenSigner::new(&key).issue(&PlaybackClaims::new("live/main/", Duration::from_secs(60))).unwrap();
        let check = || control.check(&request("main", "live/main/index.m3u8", Some(&token)));
        assert_eq!(check(), Err(Denied::Token(TokenError::UnknownKey)));
        control.add_key(&key);
        assert_eq!(check(), Ok(Allowed::Token));
        control.retire_key("k1");
        assert_eq!(check(), Err(Denied::Token(TokenError::UnknownKey)));
    }

    fn directory(entries: &[(&str, &str)]) -> Option<HashMap<String, String>> {
        Some(entries.iter().map(|(name, id)| (name.to_string(), id.to_string())).collect())
    }

    #[test]
    fn names_the_directory_does_not_know_are_refused_not_public() {
        let control = AccessControl::public();
        control.update(|config| config.streams = directory(&[("main", "id-main")]));
        assert_eq!(control.check(&request("main", "live/main/index.m3u8", None)), Ok(Allowed::Public));
        let unknown = control.check(&request("gone", "live/gone/index.m3u8", None)).unwrap_err();
        assert_eq!((unknown, unknown.status()), (Denied::UnknownStream, 404));
    }

    #[test]
    fn policies_and_tokens_follow_the_stream_id_across_rename_and_recreate() {
        let key = SigningKey::new("k1", "k1-secret-0123456789abcdefghijklmnop").unwrap();
        let control = AccessControl::public();
        control.add_key(&key);
        control.update(|config| config.streams = directory(&[("show", "id-1")]));
        control.set_policy("id-1", AccessPolicy::Token);
        let signer = TokenSigner::new(&key);
        let token =
            signer.issue(&PlaybackClaims::new("live/show/", Duration::from_secs(60)).for_stream("id-1")).unwrap();
        let check = |control: &AccessControl, name: &str, token: Option<&str>| {
            let path = format!("live/{name}/media.m3u8");
            control.check(&request(name, &path, token))
        };
        assert_eq!(check(&control, "show", Some(&token)), Ok(Allowed::Token));
        assert_eq!(check(&control, "show", None), Err(Denied::MissingToken));
        // A token without a stream id is refused where ids are known.
        let anonymous = signer.issue(&PlaybackClaims::new("live/show/", Duration::from_secs(60))).unwrap();
        assert_eq!(check(&control, "show", Some(&anonymous)), Err(Denied::Token(TokenError::WrongStream)));

        // Renamed: the old name is unknown, the new one keeps the policy.
        control.update(|config| config.streams = directory(&[("renamed", "id-1")]));
        assert_eq!(check(&control, "show", Some(&token)), Err(Denied::UnknownStream));
        assert_eq!(check(&control, "renamed", None), Err(Denied::MissingToken));

        // Re-created under the old name with a new id: the old token is refused.
        control.update(|config| config.streams = directory(&[("renamed", "id-1"), ("show", "id-2")]));
        control.set_policy("id-2", AccessPolicy::Token);
        assert_eq!(check(&control, "show", Some(&token)), Err(Denied::Token(TokenError::WrongStream)));
    }

    #[test]
    fn session_tokens_are_bound_to_stream_client_and_a_ceiling() {
        let key = SigningKey::new("k1", "k1-secret-0123456789abcdefghijklmnop").unwrap();
        let control = AccessControl::public();
        control.add_key(&key);
        control.update(|config| config.streams = directory(&[("show", "id-1")]));
        let home: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(control.issue_session("show", "id-1", home, Duration::from_secs(60), None), None, "no key yet");
        control.update(|config| config.session_key = Some(key.clone()));
        let session = control.issue_session("show", "id-1", home, Duration::from_secs(60), None).unwrap();
        let admitted = control.admit(&request("show", "live/show/seg1.m4s", Some(&session))).unwrap();
        assert!(admitted.session);
        assert_eq!(admitted.stream_id, "id-1");
        let elsewhere = AccessRequest {
            client: "192.0.2.1".parse().unwrap(),
            ..request("show", "live/show/seg1.m4s", Some(&session))
        };
        assert!(!control.admit(&elsewhere).unwrap().session, "bound to the client address");
        let capped = control.issue_session("show", "id-1", home, Duration::from_secs(3600), Some(1_000)).unwrap();
        assert!(!control.admit(&request("show", "live/show/seg1.m4s", Some(&capped))).unwrap().session, "expired");
        // An API-issued token is not a session.
        let plain = TokenSigner::new(&key)
            .issue(&PlaybackClaims::new("live/show/", Duration::from_secs(60)).for_stream("id-1"))
            .unwrap();
        assert!(!control.admit(&request("show", "live/show/seg1.m4s", Some(&plain))).unwrap().session);
    }

    #[test]
    fn allow_lists_check_the_client_address() {
        let control = AccessControl::public();
        control.set_policy("office", AccessPolicy::IpAllowList(vec!["203.0.113.0/24".parse().unwrap()]));
        let mut viewer = request("office", "live/office/index.m3u8", None);
        assert_eq!(control.check(&viewer), Err(Denied::IpNotAllowed));
        viewer.client = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(control.check(&viewer), Ok(Allowed::AllowListedIp));
    }
}
