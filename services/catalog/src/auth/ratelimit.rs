//! Login throttling. An attempt is counted as a failure the moment it is
//! let through, before any password is hashed, so concurrent guesses
//! cannot all slip past a check; a correct password takes its count back.
//!
//! Three limits, after Keycloak's brute-force detection and OWASP's
//! guidance (docs/design/login-throttling.md):
//! - per (account, address): `max_failures` in `window`, then that address
//!   waits out the window for that account only;
//! - per address, any account: `address_max_failures` in `window` (set
//!   high: many people share one NAT);
//! - per account, any address: each failure beyond `max_failures` makes
//!   the next attempt wait 1 s, 2 s, 4 s ... up to `max_delay`. The
//!   account is slowed, never locked: its owner passes after the delay
//!   from any address that is not locked out of it. Quiet for a `window`,
//!   the account starts afresh.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use clock::Instant;

/// Beyond this many tracked keys per table, new keys are refused until old
/// ones expire: forgetting instead would let a flood of made-up names
/// wipe an account's count.
const MAX_TRACKED: usize = 100_000;
/// The first delay of a slowed account; it doubles per failure.
const FIRST_DELAY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures per (account, address) in `window` before that address is
    /// locked out of that account; also the failures per account before
    /// it is slowed down. Default 5.
    pub max_failures: usize,
    /// Failures per address, any account, in `window`. Default 50.
    pub address_max_failures: usize,
    /// How long failures count. Default 5 minutes.
    pub window: Duration,
    /// Longest wait between attempts on a slowed account. Default 60 s.
    pub max_delay: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            max_failures: 5,
            address_max_failures: 50,
            window: Duration::from_secs(300),
            max_delay: Duration::from_secs(60),
        }
    }
}

/// Why an attempt was not let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// Too many failures; try again in this many seconds.
    Throttled { retry_after_secs: u64 },
    /// Every tracking table is full of live entries.
    Full,
}

#[derive(Debug)]
pub struct LoginLimiter {
    limits: LoginLimits,
    tables: Mutex<Tables>,
}

#[derive(Debug, Default)]
struct Tables {
    pairs: HashMap<(String, IpAddr), VecDeque<Instant>>,
    addresses: HashMap<IpAddr, VecDeque<Instant>>,
    accounts: HashMap<String, Account>,
    last_sweep: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Account {
    failures: u32,
    last_failure: Instant,
    next_attempt: Instant,
}

/// One attempt let through and already counted as a failure. Dropping it
/// keeps that count; [`succeeded`](Self::succeeded) or
/// [`not_tried`](Self::not_tried) take it back.
#[derive(Debug)]
#[must_use = "an attempt counts as failed unless told otherwise"]
pub struct LoginAttempt<'a> {
    limiter: &'a LoginLimiter,
    account: String,
    address: IpAddr,
}

impl LoginLimiter {
    pub fn new(limits: LoginLimits) -> Self {
        LoginLimiter { limits, tables: Mutex::new(Tables::default()) }
    }

    pub fn limits(&self) -> LoginLimits {
        self.limits
    }

    /// Lets one attempt on `account` from `address` through and counts it,
    /// or says how long to wait.
    pub fn begin(&self, account: &str, address: IpAddr) -> Result<LoginAttempt<'_>, LoginRefusal> {
        let now = Instant::now();
        let limits = self.limits;
        let mut tables = self.lock();
        tables.sweep(now, limits);
        let pair_key = (account.to_owned(), address);
        let mut wait = Duration::ZERO;
        if let Some(times) = tables.pairs.get_mut(&pair_key) {
            wait = wait.max(full_window_wait(times, now, limits.window, limits.max_failures));
        }
        if let Some(times) = tables.addresses.get_mut(&address) {
            wait = wait.max(full_window_wait(times, now, limits.window, limits.address_max_failures));
        }
        if let Some(state) = tables.accounts.get_mut(account) {
            if now.duration_since(state.last_failure) >= limits.window {
                tables.accounts.remove(account);
            } else {
                wait = wait.max(state.next_attempt.saturating_duration_since(now));
            }
        }
        if !wait.is_zero() {
            return Err(LoginRefusal::Throttled { retry_after_secs: whole_seconds(wait) });
        }
        let full = |len: usize, present: bool| !present && len >= MAX_TRACKED;
        if full(tables.pairs.len(), tables.pairs.contains_key(&pair_key))
            || full(tables.addresses.len(), tables.addresses.contains_key(&address))
            || full(tables.accounts.len(), tables.accounts.contains_key(account))
        {
            return Err(LoginRefusal::Full);
        }
        tables.pairs.entry(pair_key).or_default().push_back(now);
        tables.addresses.entry(address).or_default().push_back(now);
        let state = tables.accounts.entry(account.to_owned()).or_insert(Account {
            failures: 0,
            last_failure: now,
            next_attempt: now,
        });
        state.failures = state.failures.saturating_add(1);
        state.last_failure = now;
        state.next_attempt = now + slowdown(state.failures, limits);
        Ok(LoginAttempt { limiter: self, account: account.to_owned(), address })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl LoginAttempt<'_> {
    /// The password was right: the account and this (account, address)
    /// start afresh; the address keeps its other failures.
    pub fn succeeded(self) {
        let mut tables = self.limiter.lock();
        tables.pairs.remove(&(self.account.clone(), self.address));
        tables.accounts.remove(&self.account);
        take_back_newest(tables.addresses.get_mut(&self.address));
    }

    /// No password was checked (the hashing queue was full): the attempt
    /// does not count.
    pub fn not_tried(self) {
        let mut tables = self.limiter.lock();
        take_back_newest(tables.pairs.get_mut(&(self.account.clone(), self.address)));
        take_back_newest(tables.addresses.get_mut(&self.address));
        if let Some(state) = tables.accounts.get_mut(&self.account) {
            state.failures = state.failures.saturating_sub(1);
        }
    }
}

impl Tables {
    /// Drops expired entries, at most once a second: under a flood of new
    /// names a sweep per attempt would cost more than the attempts.
    fn sweep(&mut self, now: Instant, limits: LoginLimits) {
        let full =
            [self.pairs.len(), self.addresses.len(), self.accounts.len()].into_iter().any(|len| len >= MAX_TRACKED);
        if !full || self.last_sweep.is_some_and(|last| now.duration_since(last) < Duration::from_secs(1)) {
            return;
        }
        self.last_sweep = Some(now);
        retain_recent(&mut self.pairs, now, limits.window);
        retain_recent(&mut self.addresses, now, limits.window);
        self.accounts.retain(|_, state| now.duration_since(state.last_failure) < limits.window);
    }
}

fn retain_recent<K: Eq + Hash>(table: &mut HashMap<K, VecDeque<Instant>>, now: Instant, window: Duration) {
    table.retain(|_, times| {
        prune(times, now, window);
        !times.is_empty()
    });
}

/// How long until `times` has room for one more failure.
fn full_window_wait(times: &mut VecDeque<Instant>, now: Instant, window: Duration, limit: usize) -> Duration {
    prune(times, now, window);
    if times.len() < limit {
        return Duration::ZERO;
    }
    // The oldest failure that must expire before another one fits.
    let index = times.len() - limit;
    times.get(index).map_or(Duration::ZERO, |oldest| window.saturating_sub(now.duration_since(*oldest)))
}

fn prune(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times.front().is_some_and(|time| now.duration_since(*time) >= window) {
        times.pop_front();
    }
}

fn take_back_newest(times: Option<&mut VecDeque<Instant>>) {
    if let Some(times) = times {
        times.pop_back();
    }
}

/// The wait after the `failures`-th failure of an account: none up to
/// `max_failures`, then doubling from one second up to `max_delay`.
fn slowdown(failures: u32, limits: LoginLimits) -> Duration {
    let free = u32::try_from(limits.max_failures).unwrap_or(u32::MAX);
    let Some(beyond) = failures.checked_sub(free.saturating_add(1)) else { return Duration::ZERO };
    let doubled = FIRST_DELAY.saturating_mul(2u32.saturating_pow(beyond.min(30)));
    doubled.min(limits.max_delay)
}

fn whole_seconds(wait: Duration) -> u64 {
    let seconds = wait.as_secs();
    if wait.subsec_nanos() > 0 {
        seconds + 1
    } else {
        seconds.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ATTACKER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));
    const OWNER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9));

    fn limits() -> LoginLimits {
        LoginLimits {
            max_failures: 3,
            address_max_failures: 10,
            window: Duration::from_secs(60),
            max_delay: Duration::from_secs(8),
        }
    }

    fn wait_of(refusal: Result<LoginAttempt<'_>, LoginRefusal>) -> u64 {
        match refusal {
            Err(LoginRefusal::Throttled { retry_after_secs }) => retry_after_secs,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_counted_before_they_are_checked() {
        let limiter = LoginLimiter::new(limits());
        // Three attempts in flight at once: none has finished, the fourth is refused.
        let in_flight: Vec<_> = (0..3).map(|_| limiter.begin("alice", ATTACKER).unwrap()).collect();
        assert_eq!(wait_of(limiter.begin("alice", ATTACKER)), 60);
        drop(in_flight);
        assert!(limiter.begin("alice", ATTACKER).is_err(), "dropped attempts stay counted as failures");
    }

    #[tokio::test(start_paused = true)]
    async fn a_locked_out_address_does_not_lock_the_owner_out() {
        let limiter = LoginLimiter::new(limits());
        for _ in 0..3 {
            drop(limiter.begin("alice", ATTACKER).unwrap());
        }
        assert!(limiter.begin("alice", ATTACKER).is_err());
        // Other accounts from the same address, and the owner from elsewhere, go on.
        limiter.begin("bob", ATTACKER).unwrap().succeeded();
        let owner = limiter.begin("alice", OWNER).expect("three failures do not slow the account yet");
        owner.succeeded();
        // The owner's success does not unlock the attacker's address.
        assert!(limiter.begin("alice", ATTACKER).is_err());
        tokio::time::advance(Duration::from_secs(60)).await;
        limiter.begin("alice", ATTACKER).unwrap().succeeded();
    }

    #[tokio::test(start_paused = true)]
    async fn a_guessed_account_slows_down_but_its_owner_gets_through() {
        let limiter = LoginLimiter::new(limits());
        // Guesses from many addresses: four go at once, then each waits 1, 2, 4, 8, 8 s.
        let mut waits = Vec::new();
        for guesser in 1..=9u8 {
            let address = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, guesser));
            match limiter.begin("alice", address) {
                Ok(attempt) => drop(attempt),
                Err(LoginRefusal::Throttled { retry_after_secs }) => {
                    waits.push(retry_after_secs);
                    tokio::time::advance(Duration::from_secs(retry_after_secs)).await;
                    drop(limiter.begin("alice", address).unwrap());
                }
                Err(LoginRefusal::Full) => panic!("not full"),
            }
        }
        assert_eq!(waits, [1, 2, 4, 8, 8]);
        // The owner, from a fresh address, waits the delay and is let in.
        let wait = wait_of(limiter.begin("alice", OWNER));
        assert_eq!(wait, 8);
        tokio::time::advance(Duration::from_secs(wait)).await;
        limiter.begin("alice", OWNER).unwrap().succeeded();
        // Success starts the account afresh.
        drop(limiter.begin("alice", ATTACKER).unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn one_address_is_limited_across_accounts_and_quiet_accounts_are_forgotten() {
        let limiter = LoginLimiter::new(limits());
        for account in 0..10 {
            drop(limiter.begin(&format!("user{account}"), ATTACKER).unwrap());
        }
        assert_eq!(wait_of(limiter.begin("user99", ATTACKER)), 60);
        assert!(limiter.begin("user99", OWNER).is_ok());
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(wait_of(limiter.begin("user99", ATTACKER)), 30);
        tokio::time::advance(Duration::from_secs(30)).await;
        drop(limiter.begin("user99", ATTACKER).unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_that_was_not_tried_does_not_count() {
        let limiter = LoginLimiter::new(limits());
        for _ in 0..10 {
            limiter.begin("alice", ATTACKER).unwrap().not_tried();
        }
        for _ in 0..3 {
            drop(limiter.begin("alice", ATTACKER).unwrap());
        }
        assert!(limiter.begin("alice", ATTACKER).is_err());
    }

    #[test]
    fn the_slowdown_doubles_up_to_the_cap() {
        let limits = limits();
        let waits: Vec<u64> = (1..=9).map(|failures| slowdown(failures, limits).as_secs()).collect();
        assert_eq!(waits, [0, 0, 0, 1, 2, 4, 8, 8, 8]);
        assert_eq!(slowdown(u32::MAX, limits), limits.max_delay);
    }
}
