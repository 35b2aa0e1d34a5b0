//! Argon2id password hashes (PHC strings), computed off the async threads,
//! a bounded number at a time: each run takes the cost's memory (19 MiB by
//! default), so unbounded concurrent logins would be a memory flood.
//!
//! Each turn also owns a reused block of argon2 working memory. Letting the
//! argon2 crate allocate per hash made the allocator keep a freed 19 MiB
//! block in every thread arena that ever hashed (peak RSS grew by over
//! 600 MiB in the login flood test with only four hashes at a time); one
//! buffer per turn bounds memory at turns x cost.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::CatalogError;

pub const MIN_PASSWORD_LEN: usize = 12;
pub const MAX_PASSWORD_LEN: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PasswordCost {
    /// The argon2 crate's recommended parameters (19 MiB, 2 passes).
    #[default]
    Recommended,
    /// 1 MiB, 1 pass: for tests only, where hundreds of hashes are made.
    TestOnly,
}

/// How many hashes run at once and how long one may wait for its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingLimits {
    /// Hashes computed at once. Default 4 (76 MiB at the recommended cost).
    pub concurrent: usize,
    /// Longest wait for a turn before the request is answered 503. Default 2 s.
    pub wait: Duration,
}

impl Default for HashingLimits {
    fn default() -> Self {
        HashingLimits { concurrent: 4, wait: Duration::from_secs(2) }
    }
}

/// Hashing turns taken and refused, for tests and metrics.
#[derive(Debug, Default)]
pub struct HashingStats {
    /// Hashes started (both hashing and verifying).
    pub started: AtomicU64,
    /// Requests refused because no turn came within the wait, or too many waited.
    pub refused: AtomicU64,
    /// Most hashes that ran at the same time.
    pub most_at_once: AtomicUsize,
}

#[derive(Clone)]
pub struct Passwords {
    params: Params,
    /// Checked against when the user does not exist, so both paths take as long.
    dummy_hash: Arc<OnceLock<String>>,
    turns: Arc<Semaphore>,
    limits: HashingLimits,
    /// Requests waiting for a turn; bounded so waiting cannot pile up either.
    waiting: Arc<AtomicUsize>,
    /// Working memory of finished turns, taken by the next ones.
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
    stats: Arc<HashingStats>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").field("params", &self.params).field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl Passwords {
    pub fn new(cost: PasswordCost) -> Self {
        Passwords::with_limits(cost, HashingLimits::default())
    }

    pub fn with_limits(cost: PasswordCost, limits: HashingLimits) -> Self {
        let params = match cost {
            PasswordCost::Recommended => Params::default(),
            PasswordCost::TestOnly => Params::new(1024, 1, 1, None).unwrap_or_default(),
        };
        let concurrent = limits.concurrent.max(1);
        Passwords {
            params,
            dummy_hash: Arc::new(OnceLock::new()),
            turns: Arc::new(Semaphore::new(concurrent)),
            limits: HashingLimits { concurrent, ..limits },
            waiting: Arc::default(),
            memory: Arc::default(),
            stats: Arc::default(),
        }
    }

    pub fn stats(&self) -> &HashingStats {
        &self.stats
    }

    /// A turn to hash, or `Busy` when none comes within the wait (or more
    /// than eight requests per turn already wait).
    async fn turn(&self) -> Result<OwnedSemaphorePermit, CatalogError> {
        let busy = || {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            CatalogError::Busy { retry_after_secs: self.limits.wait.as_secs().max(1) }
        };
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.limits.concurrent.saturating_mul(8) {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(busy());
        }
        let turn = tokio::time::timeout(self.limits.wait, self.turns.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let permit = turn.map_err(|_| busy())?.map_err(|_| CatalogError::Internal("hashing closed".into()))?;
        self.stats.started.fetch_add(1, Ordering::Relaxed);
        let running = self.limits.concurrent - self.turns.available_permits();
        self.stats.most_at_once.fetch_max(running, Ordering::Relaxed);
        Ok(permit)
    }

    /// Runs `work` on a blocking thread that keeps the turn until it ends,
    /// even when the request that asked is gone.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, CatalogError> {
        let permit = self.turn().await?;
        let pool = self.memory.clone();
        tokio::task::spawn_blocking(move || {
            let mut memory = lock(&pool).pop().unwrap_or_default();
            let result = work(&mut memory);
            lock(&pool).push(memory);
            drop(permit);
            result
        })
        .await
        .map_err(|error| CatalogError::Internal(error.to_string()))
    }

    pub async fn hash(&self, password: &str) -> Result<String, CatalogError> {
        let params = self.params.clone();
        let password = password.to_owned();
        self.run(move |memory| hash_with(params, &password, memory)).await?
    }

    /// True when `password` matches `hash`; with no hash (unknown user) it
    /// does the same work and returns false.
    pub async fn verify(&self, hash: Option<String>, password: &str) -> Result<bool, CatalogError> {
        let known = hash.is_some();
        let hash = match hash {
            Some(hash) => hash,
            None => self.dummy().await?,
        };
        let password = password.to_owned();
        let matches = self.run(move |memory| verify_with(&hash, password.as_bytes(), memory)).await?;
        Ok(known && matches)
    }

    async fn dummy(&self) -> Result<String, CatalogError> {
        if let Some(hash) = self.dummy_hash.get() {
            return Ok(hash.clone());
        }
        let hash = self.hash("not a password of anyone").await?;
        Ok(self.dummy_hash.get_or_init(|| hash).clone())
    }
}

/// Most argon2 memory a stored hash may ask for (256 MiB); a hash asking
/// more is treated as not matching rather than allowed to take it.
const MAX_BLOCKS: usize = 256 * 1024;

fn lock(pool: &Mutex<Vec<Vec<Block>>>) -> std::sync::MutexGuard<'_, Vec<Vec<Block>>> {
    pool.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `memory`, grown to `blocks` when shorter, as a slice of exactly that many.
fn working_memory(memory: &mut Vec<Block>, blocks: usize) -> Option<&mut [Block]> {
    if blocks > MAX_BLOCKS {
        return None;
    }
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    memory.get_mut(..blocks)
}

fn hash_with(params: Params, password: &str, memory: &mut Vec<Block>) -> Result<String, CatalogError> {
    let failed = |_| CatalogError::Internal("password hashing failed".into());
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| CatalogError::Random)?;
    let salt_string = SaltString::encode_b64(&salt).map_err(|_| CatalogError::Random)?;
    let mut output = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    let blocks = working_memory(memory, params.block_count())
        .ok_or_else(|| CatalogError::Internal("password cost too high".into()))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut output, blocks)
        .map_err(|_| CatalogError::Internal("password hashing failed".into()))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(failed)?,
        salt: Some(salt_string.as_salt()),
        hash: Some(Output::new(&output).map_err(failed)?),
    };
    Ok(hash.to_string())
}

/// True when `password` hashes to `hash` (any argon2 variant and version,
/// with the parameters the hash names); false for anything unparsable.
fn verify_with(hash: &str, password: &[u8], memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else { return false };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else { return false };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let mut output = vec![0u8; expected.len()];
    let Some(blocks) = working_memory(memory, params.block_count()) else { return false };
    Argon2::new(algorithm, version, params).hash_password_into_with_memory(password, salt, &mut output, blocks).is_ok()
        && Output::new(&output).is_ok_and(|output| output == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let passwords = Passwords::new(PasswordCost::TestOnly);
        let first = passwords.hash("correct horse battery").await.unwrap();
        let second = passwords.hash("correct horse battery").await.unwrap();
        assert!(first.starts_with("$argon2id$"));
        assert_ne!(first, second);
        assert!(passwords.verify(Some(first.clone()), "correct horse battery").await.unwrap());
        assert!(!passwords.verify(Some(first), "correct horse battery!").await.unwrap());
        assert!(!passwords.verify(None, "not a password of anyone").await.unwrap());
        assert!(!passwords.verify(Some("garbage".into()), "x").await.unwrap());
    }

    #[tokio::test]
    async fn hashes_agree_with_the_argon2_crates_own() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let passwords = Passwords::new(PasswordCost::TestOnly);
        let ours = passwords.hash("correct horse battery").await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse battery", &parsed).is_ok());
        let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
        let theirs = Argon2::default().hash_password(b"correct horse battery", &salt).unwrap().to_string();
        assert!(passwords.verify(Some(theirs.clone()), "correct horse battery").await.unwrap());
        assert!(!passwords.verify(Some(theirs), "correct horse battery?").await.unwrap());
        // A stored hash may not make a login take a gigabyte.
        let greedy =
            "$argon2id$v=19$m=1048576,t=1,p=1$c2l4dGVlbiBieXRlIHNsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(!passwords.verify(Some(greedy.into()), "x").await.unwrap());
    }

    #[tokio::test]
    async fn working_memory_is_reused_not_reallocated() {
        let passwords =
            Passwords::with_limits(PasswordCost::TestOnly, HashingLimits { concurrent: 2, ..HashingLimits::default() });
        for _ in 0..5 {
            passwords.hash("correct horse battery").await.unwrap();
        }
        let pool = lock(&passwords.memory);
        assert_eq!(pool.len(), 1, "sequential hashes share one buffer");
        assert_eq!(pool.iter().map(Vec::len).sum::<usize>(), 1024, "1 MiB of 1 KiB blocks at the test cost");
    }

    #[tokio::test(start_paused = true)]
    async fn hashing_runs_a_bounded_number_at_once_and_refuses_the_rest() {
        let limits = HashingLimits { concurrent: 2, wait: Duration::from_secs(2) };
        let passwords = Passwords::with_limits(PasswordCost::TestOnly, limits);
        let runs: Vec<_> = (0..40)
            .map(|_| {
                let passwords = passwords.clone();
                tokio::spawn(async move { passwords.hash("correct horse battery").await })
            })
            .collect();
        let mut refused = 0;
        for run in runs {
            match run.await.unwrap() {
                Ok(_) => {}
                Err(CatalogError::Busy { retry_after_secs }) => {
                    assert_eq!(retry_after_secs, 2);
                    refused += 1;
                }
                Err(other) => panic!("{other}"),
            }
        }
        let stats = passwords.stats();
        // Two hash, sixteen wait their turn (time stands still while hashes run), the rest are refused.
        assert_eq!(stats.most_at_once.load(Ordering::Relaxed), 2);
        assert_eq!((stats.started.load(Ordering::Relaxed), refused), (18, 22));
        assert_eq!(stats.refused.load(Ordering::Relaxed), 22);
    }

    #[tokio::test(start_paused = true)]
    async fn a_turn_not_given_within_the_wait_is_refused() {
        let limits = HashingLimits { concurrent: 1, wait: Duration::from_millis(500) };
        let passwords = Passwords::with_limits(PasswordCost::TestOnly, limits);
        let held = passwords.turns.clone().acquire_owned().await.unwrap();
        let started = tokio::time::Instant::now();
        assert!(matches!(passwords.hash("x").await, Err(CatalogError::Busy { retry_after_secs: 1 })));
        assert_eq!(started.elapsed(), Duration::from_millis(500));
        drop(held);
        assert!(passwords.hash("x").await.is_ok());
    }
}
