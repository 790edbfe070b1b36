//! [`CloseReason`]: why a connection closed.

/// Why a connection's close began: the first cause wins, and every report of
/// the connection carries it.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_conn::{CloseReason, Conn};
///
/// let (io, _peer) = tokio::io::duplex(64);
/// let conn = Conn::new(io);
/// assert_eq!(conn.close().await.reason(), CloseReason::Requested);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// `close`, `close_with` or a spawner's `close` was called.
    Requested,
    /// A task failed under [`Policy::FailFast`](scope_core::Policy::FailFast);
    /// the report's [`failure`](crate::ConnReport::failure) is that failure.
    Failed,
    /// The connection's token was cancelled ([`Conn::cancel`](crate::Conn::cancel)
    /// or a spawner's) without a failure.
    Cancelled,
    /// Nothing was read or written for the idle timeout.
    IdleTimeout,
    /// Writing to the transport failed (the peer reset or went away); the
    /// report's [`io_error`](crate::ConnReport::io_error) says how.
    Transport,
    /// The [`Conn`](crate::Conn) was dropped without a close.
    Dropped,
    /// The connection's [`Server`](crate::Server) is shutting down.
    Shutdown,
}
