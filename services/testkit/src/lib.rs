//! What the project's tests share: free ports, scratch directories, the
//! test servers (PostgreSQL, S3), a live edge to publish into and check, the
//! stand-in camera, ISO-BMFF and golden-file checks, a deterministic
//! pseudo-random generator, and external programs (ffmpeg, node) run the
//! way tests need them. Dev-only: never a dependency of a shipped crate.

pub mod camera;
pub mod edge;
pub mod edge_function;
pub mod golden;
pub mod mp4;
pub mod postgres;
mod prng;
pub mod s3;
pub mod stack;
mod tempdir;
pub mod tools;

pub use prng::{Mutation, Prng};
pub use tempdir::TempDir;

/// A TCP port on 127.0.0.1 nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}
