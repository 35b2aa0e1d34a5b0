//! The publisher lifecycle every protocol front-end shares (RTMP, RTSP
//! push, camera pulls): a stream key is authorized, the stream is claimed
//! (in a cluster: ownership with an epoch), and a [`Publication`] is opened
//! on the live edge. Refusals are typed so each protocol maps them to its
//! own status codes, and a [`Close`] says why a connection ended.

// Network input reaches this crate: nothing here may panic on it.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic))]

mod authorizer;
mod close;
mod gate;

pub use authorizer::{
    AuthFuture, ClaimFuture, ClaimRefused, DigestFuture, DigestSecret, StreamAuthorizer, Unavailable,
};
pub use close::Close;
pub use gate::{kicked, Claim, Gate, Publication, Refusal};
