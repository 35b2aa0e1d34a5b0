//! on_play: the catalog's webhooks decide whether a viewer may start a
//! session. The answer is remembered a minute per (stream id, address) in
//! a cache of fixed capacity; what it evicts is counted.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use catalog::{PublishDecision, WebhookEvent, WebhookSender};
use lru::LruCache;
use tokio::time::Instant;

use crate::access_gate::{PlayFuture, PlayHook};

/// on_play settings; defaults in [`Default`].
#[derive(Debug, Clone, Copy)]
pub struct OnPlayConfig {
    /// How long a session token lasts before the viewer must load
    /// index.m3u8 again (and on_play is asked again): 4 h.
    pub session_ttl: Duration,
    /// Decisions remembered at most (10,000); the least recently used go first.
    pub cache_entries: usize,
}

impl Default for OnPlayConfig {
    fn default() -> Self {
        Self { session_ttl: Duration::from_secs(4 * 3600), cache_entries: 10_000 }
    }
}

/// on_play through the catalog's webhooks.
pub struct OnPlayWebhooks {
    webhooks: WebhookSender,
    config: OnPlayConfig,
    decided: DecisionCache,
    /// Whether an on_play receiver exists, and when that was last asked.
    receivers: Mutex<Option<(Instant, bool)>>,
}

impl OnPlayWebhooks {
    /// How long a decision is remembered.
    const REMEMBER: Duration = Duration::from_secs(60);
    /// How often the database is asked whether any on_play receiver exists.
    const RECEIVERS_EVERY: Duration = Duration::from_secs(2);

    pub fn new(webhooks: WebhookSender) -> Self {
        Self::with_config(webhooks, OnPlayConfig::default())
    }

    pub fn with_config(webhooks: WebhookSender, config: OnPlayConfig) -> Self {
        let decided = DecisionCache::new(config.cache_entries, Self::REMEMBER);
        Self { webhooks, config, decided, receivers: Mutex::new(None) }
    }

    /// Decisions dropped to stay within the capacity, since start.
    pub fn evictions(&self) -> u64 {
        self.decided.evictions()
    }

    async fn has_receivers(&self) -> bool {
        let now = Instant::now();
        let known = {
            let Ok(mut receivers) = self.receivers.lock() else { return true };
            match *receivers {
                Some((at, known)) if now.duration_since(at) < Self::RECEIVERS_EVERY => return known,
                // One request refreshes; the others keep the last answer meanwhile.
                Some((_, known)) => {
                    *receivers = Some((now, known));
                    Some(known)
                }
                None => None,
            }
        };
        let fresh = match self.webhooks.has_receivers(WebhookEvent::OnPlay).await {
            Ok(fresh) => fresh,
            Err(error) => {
                tracing::warn!(%error, "cannot tell whether on_play receivers exist; keeping the last answer");
                // Never known: fail closed, as on_play itself does.
                known.unwrap_or(true)
            }
        };
        if let Ok(mut receivers) = self.receivers.lock() {
            *receivers = Some((now, fresh));
        }
        fresh
    }
}

impl PlayHook for OnPlayWebhooks {
    fn guards(&self) -> PlayFuture<'_, bool> {
        Box::pin(self.has_receivers())
    }

    fn allow<'a>(&'a self, stream: &'a str, stream_id: &'a str, client: IpAddr) -> PlayFuture<'a, bool> {
        Box::pin(async move {
            let key = (stream_id.to_owned(), client);
            if let Some(allowed) = self.decided.get(&key, Instant::now()) {
                return allowed;
            }
            let allowed = match self.webhooks.on_play(stream, Some(client)).await {
                PublishDecision::Allow => true,
                PublishDecision::Deny(reason) => {
                    tracing::info!(stream, %client, %reason, "playback refused by on_play");
                    false
                }
            };
            self.decided.insert(key, allowed, Instant::now());
            allowed
        })
    }

    fn session_ttl(&self) -> Duration {
        self.config.session_ttl
    }
}

type DecisionKey = (String, IpAddr);

/// Decisions by (stream id, client address), each valid for `remember`,
/// at most `capacity` of them: the least recently used leaves first.
pub(crate) struct DecisionCache {
    entries: Mutex<LruCache<DecisionKey, (Instant, bool)>>,
    remember: Duration,
    evictions: AtomicU64,
}

impl DecisionCache {
    pub(crate) fn new(capacity: usize, remember: Duration) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self { entries: Mutex::new(LruCache::new(capacity)), remember, evictions: AtomicU64::new(0) }
    }

    pub(crate) fn get(&self, key: &DecisionKey, now: Instant) -> Option<bool> {
        let mut entries = self.entries.lock().ok()?;
        match entries.get(key).copied() {
            Some((at, allowed)) if now.duration_since(at) < self.remember => Some(allowed),
            Some(_) => {
                entries.pop(key);
                None
            }
            None => None,
        }
    }

    pub(crate) fn insert(&self, key: DecisionKey, allowed: bool, now: Instant) {
        let Ok(mut entries) = self.entries.lock() else { return };
        if let Some((evicted, _)) = entries.push(key.clone(), (now, allowed)) {
            if evicted != key {
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().map_or(0, |entries| entries.len())
    }

    pub(crate) fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(stream: &str, last_octet: u8) -> DecisionKey {
        (stream.to_owned(), IpAddr::from([203, 0, 113, last_octet]))
    }

    #[tokio::test(start_paused = true)]
    async fn the_decision_cache_stays_within_its_capacity_and_counts_evictions() {
        let cache = DecisionCache::new(100, Duration::from_secs(60));
        for viewer in 0..250u32 {
            let stream = format!("id-{}", viewer / 250);
            cache.insert((stream, IpAddr::from((viewer + 1).to_be_bytes())), true, Instant::now());
        }
        assert_eq!(cache.len(), 100);
        assert_eq!(cache.evictions(), 150);
        // Answering the same key again is no eviction.
        cache.insert(key("id-a", 1), false, Instant::now());
        cache.insert(key("id-a", 1), true, Instant::now());
        assert_eq!(cache.evictions(), 151);
        assert_eq!(cache.get(&key("id-a", 1), Instant::now()), Some(true));
    }

    #[tokio::test(start_paused = true)]
    async fn decisions_expire_after_a_minute() {
        let cache = DecisionCache::new(10, Duration::from_secs(60));
        cache.insert(key("id-a", 1), false, Instant::now());
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(cache.get(&key("id-a", 1), Instant::now()), Some(false));
        assert_eq!(cache.get(&key("id-b", 1), Instant::now()), None, "per stream id");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(cache.get(&key("id-a", 1), Instant::now()), None);
        assert_eq!(cache.len(), 0, "an expired decision leaves");
    }
}
