//! What the project's tests share: free ports, a live edge to publish
//! into and check, and the stand-in camera. Dev-only: never a dependency
//! of a shipped crate.

pub mod camera;
pub mod edge;
pub mod mp4;
pub mod stack;

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}
