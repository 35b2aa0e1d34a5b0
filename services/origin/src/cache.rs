//! A byte-bounded cache of immutable media (parts, segments, init
//! segments), least recently used out first.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use bytes::Bytes;

pub struct MediaCache {
    limit: usize,
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_key: HashMap<String, (Bytes, u64)>,
    by_age: BTreeMap<u64, String>,
    bytes: usize,
    clock: u64,
}

impl MediaCache {
    pub fn new(limit: usize) -> Self {
        Self { limit, inner: Mutex::default() }
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        let mut entries = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.clock += 1;
        let now = entries.clock;
        let (data, used) = entries.by_key.get_mut(key)?;
        let data = data.clone();
        let previous = std::mem::replace(used, now);
        entries.by_age.remove(&previous);
        entries.by_age.insert(now, key.to_owned());
        Some(data)
    }

    pub fn insert(&self, key: &str, data: Bytes) {
        if data.len() > self.limit / 4 {
            return;
        }
        let mut entries = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.clock += 1;
        let now = entries.clock;
        let length = data.len();
        if let Some((old, used)) = entries.by_key.insert(key.to_owned(), (data, now)) {
            entries.bytes -= old.len();
            entries.by_age.remove(&used);
        }
        entries.by_age.insert(now, key.to_owned());
        entries.bytes += length;
        while entries.bytes > self.limit {
            let Some((_, oldest)) = entries.by_age.pop_first() else { break };
            if let Some((data, _)) = entries.by_key.remove(&oldest) {
                entries.bytes -= data.len();
            }
        }
    }

    pub fn bytes(&self) -> usize {
        self.inner.lock().map_or(0, |entries| entries.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_within_the_byte_bound() {
        let cache = MediaCache::new(400);
        cache.insert("a", Bytes::from(vec![0; 100]));
        cache.insert("b", Bytes::from(vec![0; 100]));
        cache.insert("c", Bytes::from(vec![0; 100]));
        assert!(cache.get("a").is_some());
        cache.insert("d", Bytes::from(vec![0; 100]));
        cache.insert("e", Bytes::from(vec![0; 100]));
        assert_eq!(cache.bytes(), 400);
        assert!(cache.get("b").is_none(), "b was the least recently used");
        assert!(cache.get("a").is_some());
        cache.insert("huge", Bytes::from(vec![0; 101]));
        assert!(cache.get("huge").is_none(), "objects over a quarter of the bound are not cached");
    }
}
