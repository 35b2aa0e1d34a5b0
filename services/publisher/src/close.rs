//! Why a publisher's connection ended, for the one log line it gets.

use crate::gate::Refusal;

#[derive(Debug)]
pub enum Close {
    /// The peer closed the connection.
    PeerClosed,
    /// The publisher said it was done (RTMP deleteStream, RTSP TEARDOWN).
    Finished,
    /// Nothing arrived for too long.
    Idle,
    /// Publishing was refused; the connection closes after the answer.
    Refused(Refusal),
    /// The protocol exchange was refused before a key was checked.
    Rejected(&'static str),
    /// A newer publisher took the stream over.
    TakenOver,
    /// The server is draining; the publisher was told to reconnect.
    ShuttingDown,
    /// Input or the connection failed.
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

impl Close {
    pub fn failed(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Close::Failed(cause.into())
    }

    /// Logs the close at the level it deserves, with `detail` (counters of
    /// the connection) attached.
    pub fn log(&self, protocol: &'static str, detail: &dyn std::fmt::Debug) {
        match self {
            Close::Failed(reason) => tracing::warn!(protocol, %reason, ?detail, "publisher closed on error"),
            Close::Idle => tracing::warn!(protocol, ?detail, "publisher sent nothing for too long; dropped"),
            Close::Refused(refusal) if refusal.is_temporary() => {
                tracing::error!(protocol, reason = %refusal, "publish refused; connection closed")
            }
            Close::Refused(refusal) => {
                tracing::warn!(protocol, reason = %refusal, "publish refused; connection closed")
            }
            Close::Rejected(why) => tracing::info!(protocol, why, "publisher rejected; connection closed"),
            Close::TakenOver => tracing::info!(protocol, ?detail, "publisher taken over by a new connection"),
            Close::ShuttingDown => tracing::info!(protocol, "publisher asked to reconnect: server draining"),
            Close::PeerClosed | Close::Finished => tracing::info!(protocol, ?detail, "publisher left"),
        }
    }
}
