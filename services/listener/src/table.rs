//! Every open connection of one listener, by client address, and which of
//! them are waiting (not yet useful, or between requests). When a cap is
//! reached, a waiting connection makes room: the oldest one of the address
//! that holds the most waiting connections. Connections that do their job
//! (a publish accepted, a request being served) are never displaced, and a
//! flood of junk from a few addresses evicts itself rather than a
//! publisher in the middle of its handshake.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::guarded::Activity;

/// The caps a table enforces; 0 means no cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Caps {
    pub max_connections: usize,
    pub max_per_address: usize,
    pub max_waiting_per_address: usize,
}

/// What one address is known by: IPv4 addresses as they are, IPv6
/// addresses by their /64, which one subscriber usually holds whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct AddressKey(IpAddr);

impl AddressKey {
    pub fn of(address: IpAddr) -> Self {
        match address.to_canonical() {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                AddressKey(IpAddr::V6(prefix.into()))
            }
            v4 => AddressKey(v4),
        }
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Every slot is held by a connection doing its job.
    Full,
    /// The address holds its share, every one of them doing its job.
    Address,
}

pub(crate) struct Table {
    caps: Caps,
    inner: Mutex<Inner>,
    /// Told when an evicted connection is gone.
    closed: tokio::sync::Notify,
}

/// Evicted connections still closing, past which the accept loop waits:
/// their sockets count against the same file descriptors.
pub(crate) const MAX_CLOSING: usize = 64;

impl std::fmt::Debug for Table {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Table").field("caps", &self.caps).finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Inner {
    open: usize,
    /// Evicted, out of the table, not yet released by their task.
    closing: usize,
    next_id: u64,
    /// Hands out the order in which connections began waiting.
    next_turn: u64,
    connections: HashMap<u64, Entry>,
    addresses: HashMap<AddressKey, PerAddress>,
    /// Every address with waiting connections, the one to evict from
    /// last: the most waiting, then the one waiting longest.
    ranking: BTreeSet<Rank>,
}

struct Entry {
    address: AddressKey,
    /// Its place among its address's waiting connections, while waiting.
    waiting_turn: Option<u64>,
    /// Told when it is evicted.
    activity: Arc<Activity>,
}

/// (waiting connections, the turn of its longest-waiting one, reversed, address).
type Rank = (usize, Reverse<u64>, AddressKey);

#[derive(Default)]
struct PerAddress {
    open: usize,
    /// Turn to connection id, oldest first.
    waiting: BTreeMap<u64, u64>,
}

/// One connection's place in the table; [`Table::release`] gives it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SeatId(u64);

/// A connection admitted, and the connections evicted to make room for it
/// (already out of the table; the caller tells them to go).
pub(crate) struct Admitted {
    pub seat: SeatId,
    pub evicted: Vec<Arc<Activity>>,
}

impl Table {
    pub fn new(caps: Caps) -> Arc<Self> {
        Arc::new(Self { caps, inner: Mutex::default(), closed: tokio::sync::Notify::new() })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A seat for a new connection from `address`, which begins waiting;
    /// makes room by eviction where a cap is reached.
    pub fn admit(&self, address: IpAddr, activity: Arc<Activity>) -> Result<Admitted, Refused> {
        let key = AddressKey::of(address);
        let mut inner = self.lock();
        let mut evicted = Vec::new();
        let open_here = inner.addresses.get(&key).map_or(0, |here| here.open);
        if self.caps.max_per_address > 0 && open_here >= self.caps.max_per_address {
            evicted.push(inner.evict_oldest_of(key).ok_or(Refused::Address)?);
        }
        let waiting_here = inner.addresses.get(&key).map_or(0, |here| here.waiting.len());
        if self.caps.max_waiting_per_address > 0 && waiting_here >= self.caps.max_waiting_per_address {
            evicted.extend(inner.evict_oldest_of(key));
        }
        if inner.open >= self.caps.max_connections {
            match inner.evict_from_heaviest() {
                Some(victim) => evicted.push(victim),
                None => {
                    // Whatever was evicted above stays evicted: it broke a cap of its own.
                    drop(inner);
                    tell(&evicted);
                    return Err(Refused::Full);
                }
            }
        }
        let id = inner.next_id;
        inner.next_id += 1;
        inner.open += 1;
        inner.addresses.entry(key).or_default().open += 1;
        inner.connections.insert(id, Entry { address: key, waiting_turn: None, activity });
        inner.start_waiting(id);
        Ok(Admitted { seat: SeatId(id), evicted })
    }

    /// The connection turned out to come from `address` (a PROXY protocol
    /// header): it is counted there from now on, within that address's caps.
    pub fn move_to(&self, seat: SeatId, address: IpAddr) -> Vec<Arc<Activity>> {
        let key = AddressKey::of(address);
        let mut inner = self.lock();
        let Some(entry) = inner.connections.get(&seat.0) else { return Vec::new() };
        let (from, waiting) = (entry.address, entry.waiting_turn.is_some());
        if from == key {
            return Vec::new();
        }
        if waiting {
            inner.stop_waiting(seat.0);
        }
        inner.leave_address(from);
        if let Some(entry) = inner.connections.get_mut(&seat.0) {
            entry.address = key;
        }
        inner.addresses.entry(key).or_default().open += 1;
        if waiting {
            inner.start_waiting(seat.0);
        }
        let mut evicted = Vec::new();
        let over = |inner: &Inner, caps: &Caps| {
            let here = inner.addresses.get(&key);
            let open = here.map_or(0, |here| here.open);
            let waiting = here.map_or(0, |here| here.waiting.len());
            (caps.max_per_address > 0 && open > caps.max_per_address)
                || (caps.max_waiting_per_address > 0 && waiting > caps.max_waiting_per_address)
        };
        while over(&inner, &self.caps) {
            match inner.evict_oldest_of(key) {
                Some(victim) => evicted.push(victim),
                None => break,
            }
        }
        evicted
    }

    /// The connection is doing its job: it can no longer be evicted.
    pub fn busy(&self, seat: SeatId) {
        self.lock().stop_waiting(seat.0);
    }

    /// The connection waits again (between two requests).
    pub fn waiting(&self, seat: SeatId) {
        self.lock().start_waiting(seat.0);
    }

    /// The connection ended (evicted or not).
    pub fn release(&self, seat: SeatId) {
        let mut inner = self.lock();
        if inner.connections.contains_key(&seat.0) {
            inner.remove(seat.0);
        } else {
            inner.closing = inner.closing.saturating_sub(1);
            drop(inner);
            self.closed.notify_one();
        }
    }

    /// Waits while more than [`MAX_CLOSING`] evicted connections are still
    /// closing, so open sockets stay within the cap plus that many.
    pub async fn wait_for_closing(&self) {
        loop {
            let closed = self.closed.notified();
            if self.lock().closing <= MAX_CLOSING {
                return;
            }
            closed.await;
        }
    }

    #[cfg(test)]
    pub fn counts(&self, address: IpAddr) -> (usize, usize, usize) {
        let inner = self.lock();
        let here = inner.addresses.get(&AddressKey::of(address));
        (inner.open, here.map_or(0, |here| here.open), here.map_or(0, |here| here.waiting.len()))
    }
}

/// Tells evicted connections to go.
pub(crate) fn tell(evicted: &[Arc<Activity>]) {
    for activity in evicted {
        activity.evict();
    }
}

impl Inner {
    fn start_waiting(&mut self, id: u64) {
        let turn = self.next_turn;
        let Some(entry) = self.connections.get_mut(&id) else { return };
        if entry.waiting_turn.is_some() {
            return;
        }
        self.next_turn += 1;
        entry.waiting_turn = Some(turn);
        let key = entry.address;
        self.change_waiting(key, |waiting| {
            waiting.insert(turn, id);
        });
    }

    fn stop_waiting(&mut self, id: u64) {
        let Some(entry) = self.connections.get_mut(&id) else { return };
        let Some(turn) = entry.waiting_turn.take() else { return };
        let key = entry.address;
        self.change_waiting(key, |waiting| {
            waiting.remove(&turn);
        });
    }

    /// Changes an address's waiting connections and its rank with them.
    fn change_waiting(&mut self, key: AddressKey, change: impl FnOnce(&mut BTreeMap<u64, u64>)) {
        let here = self.addresses.entry(key).or_default();
        let before = rank(key, &here.waiting);
        change(&mut here.waiting);
        let after = rank(key, &here.waiting);
        if before != after {
            if let Some(before) = before {
                self.ranking.remove(&before);
            }
            if let Some(after) = after {
                self.ranking.insert(after);
            }
        }
    }

    fn leave_address(&mut self, key: AddressKey) {
        if let Some(here) = self.addresses.get_mut(&key) {
            here.open = here.open.saturating_sub(1);
            if here.open == 0 {
                self.addresses.remove(&key);
            }
        }
    }

    fn remove(&mut self, id: u64) -> Option<Arc<Activity>> {
        self.stop_waiting(id);
        let entry = self.connections.remove(&id)?;
        self.open = self.open.saturating_sub(1);
        self.leave_address(entry.address);
        Some(entry.activity)
    }

    /// Removes the longest-waiting connection of `key`.
    fn evict_oldest_of(&mut self, key: AddressKey) -> Option<Arc<Activity>> {
        let id = self.addresses.get(&key)?.waiting.values().next().copied()?;
        let evicted = self.remove(id)?;
        self.closing += 1;
        Some(evicted)
    }

    /// Removes the longest-waiting connection of the address with the most
    /// waiting connections (of those tied, the one waiting longest).
    fn evict_from_heaviest(&mut self) -> Option<Arc<Activity>> {
        let &(_, _, key) = self.ranking.last()?;
        self.evict_oldest_of(key)
    }
}

fn rank(key: AddressKey, waiting: &BTreeMap<u64, u64>) -> Option<Rank> {
    let (&oldest, _) = waiting.first_key_value()?;
    Some((waiting.len(), Reverse(oldest), key))
}
