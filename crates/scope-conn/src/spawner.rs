//! [`ConnSpawner`]: a cloneable handle on a connection, for its tasks.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use scope_core::{BoxError, ChildOutput, SpawnError, Stats};
use tokio_util::sync::CancellationToken;

use crate::close_mode::CloseMode;
use crate::close_reason::CloseReason;
use crate::conn::shared::ConnShared;
use crate::report::ConnReport;
use crate::writer::Writer;

/// A cloneable, `Send + Sync` handle on a [`Conn`](crate::Conn): spawns into
/// its nursery (from its tasks, from synchronous code, from other threads),
/// writes to it, and closes it.
///
/// It does not keep the connection open: once the close begins, its spawns
/// from outside the connection's tasks are refused (the core's
/// [`Spawner`](scope_core::Spawner) rules). Its [`close`](Self::close) is
/// safe from inside the connection's own tasks: it starts the close and
/// returns at once.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_conn::Conn;
///
/// let (io, _peer) = tokio::io::duplex(64);
/// let conn = Conn::new(io);
/// let spawner = conn.spawner();
/// conn.spawn(async move {
///     // A request handler starting follow-up work on the same connection.
///     spawner.spawn(async { /* write the audit log */ }).unwrap();
/// }).unwrap();
/// assert_eq!(conn.close().await.stats().completed, 2);
/// # }
/// ```
pub struct ConnSpawner<E = BoxError>
where
    E: Send + 'static,
{
    shared: Arc<ConnShared<E>>,
}

impl<E: Send + 'static> ConnSpawner<E> {
    pub(crate) fn new(shared: Arc<ConnShared<E>>) -> Self {
        ConnSpawner { shared }
    }

    /// As [`Conn::spawn`](crate::Conn::spawn).
    ///
    /// # Errors
    ///
    /// As [`Conn::spawn`](crate::Conn::spawn).
    ///
    /// # Examples
    ///
    /// See [`ConnSpawner`].
    #[track_caller]
    pub fn spawn<F>(&self, fut: F) -> Result<(), SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: ChildOutput<(), E>,
    {
        self.shared.spawner.spawn(fut)
    }

    /// As [`Conn::spawn_named`](crate::Conn::spawn_named).
    ///
    /// # Errors
    ///
    /// As [`Conn::spawn`](crate::Conn::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn = scope_conn::Conn::new(io);
    /// conn.spawner().spawn_named("refresh", async {}).unwrap();
    /// # conn.close().await;
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_named<F>(&self, name: impl Into<Arc<str>>, fut: F) -> Result<(), SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: ChildOutput<(), E>,
    {
        self.shared.spawner.spawn_named(name, fut)
    }

    /// As [`Conn::try_spawn`](crate::Conn::try_spawn).
    ///
    /// # Errors
    ///
    /// As [`Conn::try_spawn`](crate::Conn::try_spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn = scope_conn::Conn::new(io);
    /// conn.spawner().try_spawn(async {}).unwrap();
    /// # conn.close().await;
    /// # }
    /// ```
    #[track_caller]
    pub fn try_spawn<F>(&self, fut: F) -> Result<(), SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: ChildOutput<(), E>,
    {
        self.shared.spawner.try_spawn(fut)
    }

    /// As [`Conn::writer`](crate::Conn::writer).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn = scope_conn::Conn::new(io);
    /// let spawner = conn.spawner();
    /// conn.spawn(async move { spawner.writer().send("hi\n").await.unwrap() }).unwrap();
    /// # conn.close().await;
    /// # }
    /// ```
    #[must_use]
    pub fn writer(&self) -> Writer {
        Writer::new(self.shared.tx.clone())
    }

    /// As [`Conn::token`](crate::Conn::token).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn = scope_conn::Conn::new(io);
    /// assert!(!conn.spawner().token().is_cancelled());
    /// # conn.close().await;
    /// # }
    /// ```
    #[must_use]
    pub fn token(&self) -> &CancellationToken {
        self.shared.spawner.token()
    }

    /// As [`Conn::cancel`](crate::Conn::cancel).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn = scope_conn::Conn::new(io);
    /// conn.spawner().cancel();
    /// assert!(conn.token().is_cancelled());
    /// # conn.closed().await;
    /// # }
    /// ```
    pub fn cancel(&self) {
        self.shared.spawner.cancel();
        self.shared
            .request_close(self.shared.mode, CloseReason::Cancelled);
    }

    /// As [`Conn::close`](crate::Conn::close); from inside one of the
    /// connection's tasks it starts the close and returns at once, with a
    /// report that is not final.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn = scope_conn::Conn::new(io);
    /// let spawner = conn.spawner();
    /// conn.spawn(async move {
    ///     let report = spawner.close().await; // returns: does not wait for itself
    ///     assert!(!report.is_final());
    /// }).unwrap();
    /// assert!(conn.closed().await.is_final());
    /// # }
    /// ```
    pub async fn close(&self) -> ConnReport<E> {
        self.shared
            .close(self.shared.mode, CloseReason::Requested)
            .await
    }

    /// As [`Conn::close_with`](crate::Conn::close_with).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use scope_conn::CloseMode;
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn = scope_conn::Conn::new(io);
    /// let report = conn.spawner().close_with(CloseMode::Detach).await;
    /// assert_eq!(report.mode(), CloseMode::Detach);
    /// # }
    /// ```
    pub async fn close_with(&self, mode: CloseMode) -> ConnReport<E> {
        self.shared.close(mode, CloseReason::Requested).await
    }

    /// As [`Conn::closed`](crate::Conn::closed).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn = scope_conn::Conn::new(io);
    /// let spawner = conn.spawner();
    /// let waiter = tokio::spawn(async move { spawner.closed().await.is_final() });
    /// conn.close().await;
    /// assert!(waiter.await.unwrap());
    /// # }
    /// ```
    pub async fn closed(&self) -> ConnReport<E> {
        self.shared.closed().await
    }

    /// As [`Conn::is_closing`](crate::Conn::is_closing).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn = scope_conn::Conn::new(io);
    /// let spawner = conn.spawner();
    /// conn.close().await;
    /// assert!(spawner.is_closing());
    /// # }
    /// ```
    #[must_use]
    pub fn is_closing(&self) -> bool {
        self.shared.closing.is_cancelled()
    }

    /// As [`Conn::stats`](crate::Conn::stats).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn = scope_conn::Conn::new(io);
    /// assert_eq!(conn.spawner().stats().live, 0);
    /// # conn.close().await;
    /// # }
    /// ```
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.shared.spawner.stats()
    }

    /// As [`Conn::id`](crate::Conn::id).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn = scope_conn::Conn::new(io);
    /// assert_eq!(conn.spawner().id(), conn.id());
    /// # conn.close().await;
    /// # }
    /// ```
    #[must_use]
    pub fn id(&self) -> u64 {
        self.shared.id
    }
}

impl<E: Send + 'static> Clone for ConnSpawner<E> {
    fn clone(&self) -> Self {
        ConnSpawner {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<E: Send + 'static> fmt::Debug for ConnSpawner<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnSpawner")
            .field("id", &self.shared.id)
            .field("stats", &self.shared.spawner.stats())
            .field("closing", &self.shared.closing.is_cancelled())
            .finish()
    }
}
