//! [`ConnReport`]: how a connection ended.

use std::fmt;
use std::io;
use std::sync::Arc;

use scope_core::{ChildError, Failure, Report, Stats};

use crate::close_mode::CloseMode;
use crate::close_reason::CloseReason;

/// How a connection ended: why its close began, in which [`CloseMode`], how
/// its tasks ended, and whether the transport shut down cleanly.
///
/// Every `close` and `closed` call on one connection returns the same report
/// (cheap to clone), except a `close` called from inside one of the
/// connection's own tasks, which starts the close and returns at once with a
/// report that is not [final](Self::is_final).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_conn::{CloseReason, Conn};
///
/// let (io, _peer) = tokio::io::duplex(64);
/// let conn = Conn::new(io);
/// conn.spawn(async {}).unwrap();
/// let report = conn.close().await;
/// assert!(report.is_final());
/// assert_eq!(report.reason(), CloseReason::Requested);
/// assert_eq!(report.stats().completed, 1);
/// assert!(report.failure().is_none() && report.io_error().is_none());
/// # }
/// ```
pub struct ConnReport<E> {
    pub(crate) reason: CloseReason,
    pub(crate) mode: CloseMode,
    pub(crate) stats: Stats,
    pub(crate) tasks: Option<Report<E>>,
    pub(crate) io_error: Option<Arc<io::Error>>,
    pub(crate) is_final: bool,
}

impl<E> ConnReport<E> {
    /// Why the close began.
    ///
    /// # Examples
    ///
    /// See [`ConnReport`].
    #[must_use]
    pub fn reason(&self) -> CloseReason {
        self.reason
    }

    /// The mode the close ran in (the first close request's).
    ///
    /// # Examples
    ///
    /// See [`CloseMode`].
    #[must_use]
    pub fn mode(&self) -> CloseMode {
        self.mode
    }

    /// The connection's task counters when the report was made: exact when
    /// the report [is final](Self::is_final).
    ///
    /// # Examples
    ///
    /// See [`ConnReport`].
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The core report of the connection's nursery, when the close waited
    /// for it: with [`Join`](CloseMode::Join) and
    /// [`Deadline`](CloseMode::Deadline) (which phase each task ended in),
    /// and from inside a task (not final). `None` after a
    /// [`Detach`](CloseMode::Detach), whose tasks are still running.
    ///
    /// # Examples
    ///
    /// See [`CloseMode`].
    #[must_use]
    pub fn tasks(&self) -> Option<&Report<E>> {
        self.tasks.as_ref()
    }

    /// The first task failure, if one happened before the report was made.
    /// When the [reason](Self::reason) is [`CloseReason::Failed`], this is
    /// the failure that closed the connection.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use scope_conn::{CloseReason, Conn};
    ///
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn: Conn<_, &str> = scope_conn::ConnBuilder::new().build(io).unwrap();
    /// conn.spawn(async { Err("bad frame") }).unwrap();
    /// let report = conn.closed().await; // the failure started the close
    /// assert_eq!(report.reason(), CloseReason::Failed);
    /// assert_eq!(report.take_failure().unwrap().into_error().unwrap(), "bad frame");
    /// # }
    /// ```
    #[must_use]
    pub fn failure(&self) -> Option<&Failure<E>> {
        self.tasks.as_ref().and_then(Report::failure)
    }

    /// Takes the first failure's payload out (once, for every clone of the
    /// report; see [`Failure::take`]).
    ///
    /// # Examples
    ///
    /// See [`failure`](Self::failure).
    #[must_use]
    pub fn take_failure(&self) -> Option<ChildError<E>> {
        self.failure().and_then(Failure::take)
    }

    /// The first error writing, flushing or shutting down the transport, if
    /// any (a reset peer, or a flush that ran out of time).
    ///
    /// # Examples
    ///
    /// See [`ConnReport`].
    #[must_use]
    pub fn io_error(&self) -> Option<&io::Error> {
        self.io_error.as_deref()
    }

    /// Every task has ended and the transport is shut down. `false` for a
    /// report from inside one of the connection's tasks, after a
    /// [`Detach`](CloseMode::Detach), or when the connection's driver was
    /// torn down (dropped, aborted) before it finished.
    ///
    /// # Examples
    ///
    /// See [`ConnReport`].
    #[must_use]
    pub fn is_final(&self) -> bool {
        self.is_final
    }
}

impl<E> Clone for ConnReport<E> {
    fn clone(&self) -> Self {
        ConnReport {
            reason: self.reason,
            mode: self.mode,
            stats: self.stats,
            tasks: self.tasks.clone(),
            io_error: self.io_error.clone(),
            is_final: self.is_final,
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for ConnReport<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnReport")
            .field("reason", &self.reason)
            .field("mode", &self.mode)
            .field("stats", &self.stats)
            .field("tasks", &self.tasks)
            .field("io_error", &self.io_error)
            .field("is_final", &self.is_final)
            .finish()
    }
}
