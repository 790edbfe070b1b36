//! [`CloseReason`]: why a connection closed.

/// Why a connection's close began: the first cause wins, and the
/// connection's report carries it.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_conn::{CloseReason, ConnBuilder};
///
/// let (io, _peer) = tokio::io::duplex(64);
/// // A session that returns ends the connection.
/// let report = ConnBuilder::new().serve(io, |_conn, _io| async {}).unwrap().await;
/// assert_eq!(report.reason(), CloseReason::SessionEnded);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// [`Conn::close`](crate::Conn::close) or
    /// [`close_with`](crate::Conn::close_with) was called.
    Requested,
    /// The session (the future the connection was served with) returned:
    /// the peer left, or the protocol ended the connection.
    SessionEnded,
    /// The session panicked, and nothing had begun the close before (the
    /// first cause wins: a session that unwraps an I/O error after its
    /// transport failed closes with [`Transport`](Self::Transport)).
    ///
    /// Whatever the reason, a connection whose session panics closes as if
    /// the session had returned (its tasks in the connection's close mode,
    /// its report published, a server's `on_closed` called); then the panic
    /// resumes in whoever awaits the connection: the future
    /// [`ConnBuilder::serve`](crate::ConnBuilder::serve) returned, or a
    /// server's connection task, a failure of the server's own nursery
    /// ([`ServerReport::server`](crate::ServerReport::server); not one of
    /// its `failed_connections`, which count the connections' tasks).
    SessionPanicked,
    /// A task failed under [`Policy::FailFast`](scope_core::Policy::FailFast);
    /// the report's [`tasks().failure()`](scope_core::Report::failure) is that
    /// failure.
    Failed,
    /// The connection's token was cancelled without a failure (someone
    /// called `cancel` on it, or a parent token fired).
    Cancelled,
    /// Nothing was read or written for the idle timeout.
    IdleTimeout,
    /// A write made no progress for the send timeout: the peer stopped
    /// reading.
    SendTimeout,
    /// The transport failed (the peer reset, say); the report's
    /// [`io_error`](crate::ConnReport::io_error) says how.
    Transport,
    /// The connection's [`Server`](crate::Server) is shutting down.
    Shutdown,
    /// The future [`ConnBuilder::serve`](crate::ConnBuilder::serve)
    /// returned was dropped (or its runtime shut down) before anything
    /// began the close: the connection's tasks were cancelled and aborted at
    /// once, so the report's mode is `Deadline(ZERO)`, and it is not final.
    /// (Dropped while closing, it keeps the reason and mode its close began
    /// with; a server's connection dropped so gives
    /// [`Shutdown`](Self::Shutdown).)
    Dropped,
}
