//! Server configuration as one document: sectioned TOML whose every key has
//! a default (`relay config defaults` prints them, with why), overlaid with
//! a file, then `RELAY_<SECTION>_<KEY>` environment variables, then
//! command-line flags, then checked. Unknown keys are errors, and every
//! error names where the bad value came from: the file's line or the
//! environment variable.

mod document;
mod sections;
mod tls;

pub use document::{ConfigError, Source, Sources};
pub use sections::*;
pub use tls::optional_listen;

/// The annotated defaults: every key, its default and one line of why.
/// A test holds it equal to [`Config::default`].
pub const DEFAULTS: &str = include_str!("../../../../relay.toml.example");

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
