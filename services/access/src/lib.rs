//! Playback access: tokens a CDN edge can verify, and per-stream policies
//! the origin enforces.
//!
//! A playback token is an HS256 JWT (`kid` header; `sub` = path scope such
//! as `live/main/`, `exp`, `iat`, optional `ip`, the stream id `sid`, and
//! `ses` on an on_play session). It rides in the URL path
//! (`/t/<token>/live/main/index.m3u8`), so the relative URIs inside
//! playlists carry it to every part and segment while playlist bodies stay
//! the same for every viewer. See docs/design/playback-tokens.md.

// Network input reaches this crate: nothing here may panic on it.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic))]

mod control;
mod key;
mod policy;
mod token;

pub use control::{AccessConfig, AccessControl, AccessRequest, Admission};
pub use ipnet::IpNet;
pub use key::{KeyError, SigningKey, MIN_SECRET_LEN};
pub use policy::{decide, AccessPolicy, Allowed, Denied};
pub use token::{
    scope_covers, IssueError, PlaybackClaims, TokenError, TokenSigner, TokenVerifier, ALGORITHM, DEFAULT_LEEWAY,
};
