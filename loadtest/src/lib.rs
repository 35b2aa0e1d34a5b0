//! LL-HLS client tools: a minimal HTTP client, a playlist reader, an origin
//! conformance checker, a publish-delay probe and idle-connection helpers.

pub mod conformance;
pub mod h2;
pub mod http;
pub mod idle;
pub mod mp4;
pub mod playlist;
pub mod probe;
pub mod stats;
pub mod viewers;

pub use conformance::{check_hold_timeout, check_stream, Outcome, Report, RuleResult};
