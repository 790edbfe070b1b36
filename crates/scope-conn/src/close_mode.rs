//! [`CloseMode`]: how a connection's tasks end when it closes.

use std::time::Duration;

/// How [`Conn::close_with`](crate::Conn::close_with) (and a
/// [`Server`](crate::Server) shutdown) ends a connection's tasks. Whatever the
/// mode, the connection first stops taking outside work: spawns from outside
/// its tasks are refused and its [`Reader`](crate::Reader) reports
/// end-of-stream.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use scope_conn::{CloseMode, Conn};
/// use std::time::Duration;
///
/// let (io, _peer) = tokio::io::duplex(64);
/// let conn = Conn::new(io);
/// conn.spawn(std::future::pending::<()>()).unwrap();
/// let report = conn.close_with(CloseMode::Deadline(Duration::from_secs(1))).await;
/// assert_eq!(report.mode(), CloseMode::Deadline(Duration::from_secs(1)));
/// assert_eq!(report.tasks().unwrap().aborted(), 1);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseMode {
    /// Let every task finish, including the follow-up tasks they spawn while
    /// the close runs; cancel nothing; then flush and shut down the transport.
    /// It waits as long as the work runs: against peers that may stall, pick
    /// [`Deadline`](Self::Deadline) or an idle timeout.
    #[default]
    Join,
    /// Give the tasks up without ending them and shut the transport down now:
    /// a connection made by a [`Server`](crate::Server) hands them to the
    /// server's nursery, whose shutdown waits for them; a standalone one lets
    /// them finish on their own (the core's `detach`). Their writes fail from
    /// then on. The report is not final: it counts what had ended so far.
    Detach,
    /// Escalate as the core's `shutdown`: drain for up to the duration, then
    /// cancel the token and wait up to the duration again, then abort. The
    /// final flush of the transport is bounded by the duration too.
    Deadline(Duration),
}
