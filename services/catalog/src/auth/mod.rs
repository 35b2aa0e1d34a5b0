//! Password hashing and login throttling.

mod password;
mod ratelimit;

pub use password::{HashingLimits, HashingStats, PasswordCost, Passwords, MAX_PASSWORD_LEN, MIN_PASSWORD_LEN};
pub use ratelimit::{LoginAttempt, LoginLimiter, LoginLimits, LoginRefusal};
