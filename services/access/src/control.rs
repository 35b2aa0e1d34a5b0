//! The origin's view of access: keys, per-stream policies and how to find
//! the client address, swappable at run time without locking readers.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::key::SigningKey;
use crate::policy::{decide, AccessPolicy, Allowed, Denied};
use crate::token::TokenVerifier;

#[derive(Debug, Clone, Default)]
pub struct AccessConfig {
    pub verifier: TokenVerifier,
    /// Stream name to policy.
    pub policies: HashMap<String, AccessPolicy>,
    /// For streams without an entry. Public by default.
    pub default_policy: AccessPolicy,
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
        let config = self.config.load();
        let policy = config.policies.get(request.stream).unwrap_or(&config.default_policy);
        if *policy == AccessPolicy::Public {
            return Ok(Allowed::Public);
        }
        decide(policy, &config.verifier, request.client.to_canonical(), request.token, request.path)
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

    pub fn policy(&self, stream: &str) -> AccessPolicy {
        let config = self.config.load();
        config.policies.get(stream).unwrap_or(&config.default_policy).clone()
    }

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
