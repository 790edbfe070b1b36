//! [`ConnReport`]: how a connection ended.

use std::fmt;
use std::io;
use std::sync::Arc;

use scope_core::Report;

use crate::addr::Addr;
use crate::close_mode::CloseMode;
use crate::close_reason::CloseReason;

/// How a connection ended: why its close began, in which mode, what became
/// of its tasks (the nursery's own [`Report`], with the first failure and
/// the phase each task ended in), and whether its transport failed.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_conn::{CloseReason, ConnBuilder};
/// use scope_core::Outcome;
///
/// let (io, _peer) = tokio::io::duplex(64);
/// let report = ConnBuilder::new()
///     .serve(io, |conn, _io| async move {
///         conn.spawner().spawn(async { Err("bad request".into()) }).unwrap();
///         conn.closing().await; // the failure closes the connection
///     })
///     .unwrap()
///     .await;
/// assert_eq!(report.reason(), CloseReason::Failed);
/// assert_eq!(report.tasks().outcome(), Outcome::Failed);
/// let err = report.tasks().take_failure().unwrap().into_error().unwrap();
/// assert_eq!(err.to_string(), "bad request");
/// # }
/// ```
pub struct ConnReport<E> {
    pub(crate) reason: CloseReason,
    pub(crate) mode: CloseMode,
    pub(crate) tasks: Report<E>,
    pub(crate) io_error: Option<Arc<io::Error>>,
    pub(crate) id: u64,
    pub(crate) peer: Option<Addr>,
    pub(crate) is_final: bool,
}

impl<E> ConnReport<E> {
    /// Why the close began. A report asked for from inside the connection
    /// ([`Conn::closed`](crate::Conn::closed) in one of its tasks) before
    /// anything began the close says
    /// [`SessionEnded`](CloseReason::SessionEnded), the reason the close
    /// will have unless something else begins it first; it is not final.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let report = scope_conn::ConnBuilder::new().serve(io, |conn, _io| async move {
    ///     conn.close().await;
    /// }).unwrap().await;
    /// assert_eq!(report.reason(), scope_conn::CloseReason::Requested);
    /// # }
    /// ```
    #[must_use]
    pub fn reason(&self) -> CloseReason {
        self.reason
    }

    /// The mode the close ran in.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let report = scope_conn::ConnBuilder::new().serve(io, |_conn, _io| async {}).unwrap().await;
    /// assert_eq!(report.mode(), scope_conn::CloseMode::Join);
    /// # }
    /// ```
    #[must_use]
    pub fn mode(&self) -> CloseMode {
        self.mode
    }

    /// The connection's tasks: the report of its nursery (counts, the first
    /// failure, which phase each task ended in).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let report = scope_conn::ConnBuilder::new().serve(io, |conn, _io| async move {
    ///     conn.spawner().spawn(async {}).unwrap();
    /// }).unwrap().await;
    /// assert_eq!(report.tasks().stats().completed, 1);
    /// # }
    /// ```
    #[must_use]
    pub fn tasks(&self) -> &Report<E> {
        &self.tasks
    }

    /// The transport's failure, if it failed: the send timeout (`TimedOut`),
    /// a reset, and so on; or the goodbye timeout ending the flush with bytes
    /// the tasks had queued still unsent, or with the transport's own
    /// shutdown unfinished (`TimedOut`; the message says which, and how
    /// many bytes). `None` means everything queued was written and the
    /// transport shut down cleanly, or nothing was queued.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let report = scope_conn::ConnBuilder::new().serve(io, |_conn, _io| async {}).unwrap().await;
    /// assert!(report.io_error().is_none());
    /// # }
    /// ```
    #[must_use]
    pub fn io_error(&self) -> Option<&io::Error> {
        self.io_error.as_deref()
    }

    /// The connection's id (unique in the process).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let mut id = 0;
    /// let report = scope_conn::ConnBuilder::new().serve(io, |conn, _io| {
    ///     id = conn.id();
    ///     async {}
    /// }).unwrap().await;
    /// assert_eq!(report.id(), id);
    /// # }
    /// ```
    #[must_use]
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The other end, for a connection a [`Server`](crate::Server) made.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let report = scope_conn::ConnBuilder::new().serve(io, |_conn, _io| async {}).unwrap().await;
    /// assert!(report.peer().is_none()); // standalone: nobody said
    /// # }
    /// ```
    #[must_use]
    pub fn peer(&self) -> Option<&Addr> {
        self.peer.as_ref()
    }

    /// The close has run to its end: the tasks drained (see
    /// [`Report::is_final`]) and the transport was shut. Not final: a report
    /// asked for from inside the connection (which the close waits for), a
    /// `Detach` close (the tasks run on elsewhere), a `Deadline` close that
    /// left started blocking tasks running (they cannot be aborted), or a
    /// connection whose driver was dropped before it finished (a server's
    /// shutdown that aborted it at the end of its grace reports it so).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let report = scope_conn::ConnBuilder::new().serve(io, |conn, _io| async move {
    ///     // From the session itself: the close begins, the report is not final.
    ///     assert!(!conn.close().await.is_final());
    /// }).unwrap().await;
    /// assert!(report.is_final());
    /// # }
    /// ```
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
            tasks: self.tasks.clone(),
            io_error: self.io_error.clone(),
            id: self.id,
            peer: self.peer.clone(),
            is_final: self.is_final,
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for ConnReport<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnReport")
            .field("id", &self.id)
            .field("peer", &self.peer)
            .field("reason", &self.reason)
            .field("mode", &self.mode)
            .field("tasks", &self.tasks)
            .field("io_error", &self.io_error)
            .field("is_final", &self.is_final)
            .finish()
    }
}
