//! [`CloseMode`]: how a connection's tasks end when it closes.

use std::time::Duration;

/// How a connection's tasks end when it closes: the mode of the first close
/// request is the one that runs ([`ConnBuilder::close_mode`](crate::ConnBuilder::close_mode)
/// for closes the connection starts itself, [`Conn::close_with`](crate::Conn::close_with),
/// [`ServerBuilder::shutdown_mode`](crate::ServerBuilder::shutdown_mode)).
///
/// Whatever the mode, a close first stops new work: spawns from outside the
/// connection are refused and [`Conn::closing`](crate::Conn::closing) fires,
/// while the transport keeps reading and writing.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use scope_conn::{CloseMode, ConnBuilder};
/// use std::time::Duration;
///
/// let (io, _peer) = tokio::io::duplex(64);
/// let report = ConnBuilder::new()
///     .close_mode(CloseMode::Deadline(Duration::from_secs(1)))
///     .serve(io, |conn, _io| async move {
///         conn.spawner().spawn(std::future::pending::<()>()).unwrap();
///     })
///     .unwrap()
///     .await;
/// assert_eq!(report.mode(), CloseMode::Deadline(Duration::from_secs(1)));
/// assert_eq!(report.tasks().stats().aborted, 1);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseMode {
    /// Let every task finish, including the follow-up tasks they spawn while
    /// the close runs, and cancel nothing; then let the session say goodbye,
    /// then flush and shut down the queued writer. The tasks bound the drain,
    /// and so does nothing else: a task that never ends holds the close (a
    /// task the session starts during its goodbye is waited for too, after
    /// the transport is shut). A peer that stops reading cannot hold it,
    /// because a write that makes no progress for the send timeout fails
    /// (see [`ConnBuilder::send_timeout`](crate::ConnBuilder::send_timeout)),
    /// but one that reads slowly and steadily keeps a task that writes to it
    /// going as long as it has something to write. Bound the whole with
    /// `Deadline`, or with the server's [`shutdown`](crate::Server::shutdown),
    /// which escalates every connection at its grace.
    #[default]
    Join,
    /// Give the tasks up without ending them and close the transport now: a
    /// connection made by a [`Server`](crate::Server) hands them to the
    /// server's nursery, whose shutdown waits for them; a standalone one lets
    /// them finish on their own (the core's `detach`). The report is not
    /// final: it counts what had ended so far.
    Detach,
    /// Escalate as the core's `shutdown`: the whole drain takes at most the
    /// duration (three quarters to drain, then the token is cancelled, then
    /// what is left is aborted). Tasks the session starts during its goodbye
    /// get what is left of the duration, if anything. The goodbye and the
    /// flush that follow the drain have their own bounds
    /// ([`goodbye_timeout`](crate::ConnBuilder::goodbye_timeout), each write
    /// within the [`send_timeout`](crate::ConnBuilder::send_timeout)), so a
    /// close takes at most the duration plus the goodbye timeout (plus the
    /// time aborted tasks take to drop).
    Deadline(Duration),
}
