//! [`Conn`]: one transport and the nursery that owns its tasks.

pub(crate) mod driver;
pub(crate) mod shared;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use parking_lot::Mutex;
use scope_core::{BoxError, ChildOutput, SpawnError, Stats};
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use self::shared::ConnShared;
use crate::builder::ConnBuilder;
use crate::close_mode::CloseMode;
use crate::close_reason::CloseReason;
use crate::reader::Reader;
use crate::report::ConnReport;
use crate::spawner::ConnSpawner;
use crate::writer::Writer;

/// One connection: a transport (anything `AsyncRead + AsyncWrite + Send +
/// Unpin`: TCP, Unix sockets, TLS streams, `tokio::io::duplex`) and a
/// [`Nursery`](scope_core::Nursery) that owns every task started for it.
///
/// Tasks reach the transport the usual tokio ways: the owned read half
/// ([`take_reader`](Self::take_reader)) moves into the task that reads
/// requests, and any task writes through a cloneable [`Writer`]; a driver
/// owns the write half. Nothing holds a lock on the transport across an
/// `.await`.
///
/// # Guarantees
///
/// - **Close drains, then shuts the transport.** [`close`](Self::close)
///   refuses spawns from outside the connection's tasks, makes the reader
///   report end-of-stream, lets every task finish (and the follow-up tasks
///   they spawn meanwhile), then flushes what they wrote, shuts the
///   transport down and reports. Idempotent; concurrent callers all wait and
///   get the same [`ConnReport`]; from inside one of the connection's tasks
///   it starts the close and returns at once. [`closed`](Self::closed) waits
///   for the end without starting it. See [`CloseMode`] for the other modes.
/// - **A failure closes the connection.** Under the default
///   [`Policy::FailFast`](scope_core::Policy::FailFast), a task that fails
///   (returns `Err` or panics) cancels the connection's token and starts its
///   close, with [`CloseReason::Failed`] and that failure in the report.
/// - **Nothing left behind.** After the close, no task of the connection is
///   left in the runtime, whatever the peer did (reset, half-close, stall).
///
/// # Drop
///
/// A connection made by a [`Server`](crate::Server) and dropped without a
/// close (say, its handler returned) detaches its tasks to the server: they
/// run to completion, still owned by the server's nursery, and the server
/// then flushes and shuts the transport down. Nothing is lost.
///
/// A standalone connection ([`Conn::new`], [`ConnBuilder::build`]) has
/// nobody to hand its tasks to: dropping it without a close aborts its tasks
/// and drops the transport unflushed, like dropping a `JoinSet` (a
/// `tracing` warning names how many tasks were live). Close it first, or
/// [`close_with`](Self::close_with) [`CloseMode::Detach`] to let them run.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_conn::Conn;
/// use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
///
/// let (io, mut peer) = tokio::io::duplex(1024);
/// let mut conn = Conn::new(io);
/// let mut lines = BufReader::new(conn.take_reader().unwrap()).lines();
/// let (writer, spawner) = (conn.writer(), conn.spawner());
///
/// // The request loop: every request starts background work.
/// conn.spawn(async move {
///     while let Ok(Some(line)) = lines.next_line().await {
///         let writer = writer.clone();
///         spawner.spawn(async move {
///             tokio::task::yield_now().await; // the work
///             writer.send(format!("done {line}\n")).await.unwrap();
///         }).unwrap();
///     }
///     // The peer is done sending: close from inside (returns at once).
///     spawner.close().await;
/// }).unwrap();
///
/// peer.write_all(b"a\nb\n").await.unwrap();
/// peer.shutdown().await.unwrap(); // the peer half-closes
/// let report = conn.closed().await; // the work finished, then the transport shut
/// assert_eq!(report.stats().completed, 3);
/// let mut out = String::new();
/// peer.read_to_string(&mut out).await.unwrap();
/// assert_eq!(out.lines().count(), 2);
/// # }
/// ```
pub struct Conn<S, E = BoxError>
where
    E: Send + 'static,
{
    shared: Arc<ConnShared<E>>,
    /// Only ever reached through `&mut self`: the mutex is never locked, it
    /// makes `Conn` `Sync` (so `&conn` can cross an `.await` in a spawned
    /// task) whatever the transport.
    reader: Mutex<Option<ReadHalf<S>>>,
    /// A standalone connection's driver task, aborted on drop.
    driver: Option<AbortHandle>,
}

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    /// A standalone connection with default settings (see [`ConnBuilder`]).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, like `tokio::spawn`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn = scope_conn::Conn::new(io);
    /// # conn.close().await;
    /// # }
    /// ```
    #[track_caller]
    #[must_use]
    pub fn new(io: S) -> Self {
        match ConnBuilder::new().build(io) {
            Ok(conn) => conn,
            Err(e) => panic!("{e}"),
        }
    }
}

impl<S, E> Conn<S, E>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    E: Send + 'static,
{
    pub(crate) fn from_parts(shared: Arc<ConnShared<E>>, reader: ReadHalf<S>) -> Self {
        Conn {
            shared,
            reader: Mutex::new(Some(reader)),
            driver: None,
        }
    }

    pub(crate) fn with_driver(mut self, driver: AbortHandle) -> Self {
        self.driver = Some(driver);
        self
    }

    pub(crate) fn shared(&self) -> &Arc<ConnShared<E>> {
        &self.shared
    }

    /// Spawns a task for this connection. From outside the connection's tasks
    /// it is refused once the close has begun; from inside, follow-up work is
    /// accepted until the last task ends (the core's rules).
    ///
    /// # Errors
    ///
    /// Hands the future back, unpolled, as the core's
    /// [`Nursery::spawn`](scope_core::Nursery::spawn): closing, closed,
    /// cancelled, at the held limit, or the runtime is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn = scope_conn::Conn::new(io);
    /// conn.spawn(async { /* handle a request */ }).unwrap();
    /// conn.close().await;
    /// assert!(conn.spawn(async {}).unwrap_err().is_closed());
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, fut: F) -> Result<(), SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: ChildOutput<(), E>,
    {
        self.shared.spawner.spawn(fut)
    }

    /// Spawns a named task: listed in the nursery's snapshot and failures.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn = scope_conn::Conn::new(io);
    /// conn.spawn_named("keepalive", async {}).unwrap();
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

    /// Spawns a task only if it can start now: past
    /// [`max_running`](ConnBuilder::max_running) it is refused
    /// ([`SpawnError::is_full`]) instead of queued.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn), plus a full running limit.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn: scope_conn::Conn<_> = scope_conn::ConnBuilder::new().max_running(1).build(io).unwrap();
    /// let token = conn.token().clone();
    /// conn.try_spawn(async move { token.cancelled().await }).unwrap();
    /// assert!(conn.try_spawn(async {}).unwrap_err().is_full());
    /// conn.cancel();
    /// # conn.closed().await;
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

    /// A cloneable handle that spawns into this connection, writes to it,
    /// and closes it, for the connection's tasks. It does not keep the
    /// connection open.
    ///
    /// # Examples
    ///
    /// See [`ConnSpawner`].
    #[must_use]
    pub fn spawner(&self) -> ConnSpawner<E> {
        ConnSpawner::new(Arc::clone(&self.shared))
    }

    /// The connection's cancellation token (the nursery's), for tasks to
    /// `select!` on: it fires when the connection is cancelled, when a task
    /// fails under fail-fast, in a deadline close's second phase, and when
    /// the server's shutdown cancels. A [`Join`](CloseMode::Join) close does
    /// not fire it.
    ///
    /// # Examples
    ///
    /// See [`try_spawn`](Self::try_spawn).
    #[must_use]
    pub fn token(&self) -> &CancellationToken {
        self.shared.spawner.token()
    }

    /// Cancels the connection: fires the token, refuses new spawns, and
    /// starts the close ([`CloseReason::Cancelled`], in the default mode).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use scope_conn::{CloseReason, Conn};
    ///
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn = Conn::new(io);
    /// let token = conn.token().clone();
    /// conn.spawn(async move { token.cancelled().await }).unwrap();
    /// conn.cancel();
    /// let report = conn.closed().await;
    /// assert_eq!(report.reason(), CloseReason::Cancelled);
    /// assert_eq!(report.stats().cancelled, 1);
    /// # }
    /// ```
    pub fn cancel(&self) {
        self.shared.spawner.cancel();
        self.shared
            .request_close(self.shared.mode, CloseReason::Cancelled);
    }

    /// Takes the owned read half of the transport, once (`None` after).
    /// It reports end-of-stream once the close begins; see [`Reader`].
    ///
    /// # Examples
    ///
    /// See [`Reader`].
    pub fn take_reader(&mut self) -> Option<Reader<S>> {
        let io = self.reader.get_mut().take()?;
        Some(Reader::new(
            io,
            self.shared.closing.clone(),
            Arc::clone(&self.shared.activity),
        ))
    }

    /// A handle that writes to the transport; see [`Writer`].
    ///
    /// # Examples
    ///
    /// See [`Writer`].
    #[must_use]
    pub fn writer(&self) -> Writer {
        Writer::new(self.shared.tx.clone())
    }

    /// Closes the connection in its default mode ([`CloseMode::Join`] unless
    /// [`ConnBuilder::close_mode`] says otherwise): refuse outside work,
    /// drain, flush and shut the transport down, report. Idempotent; every
    /// caller gets the same report. From inside one of the connection's tasks
    /// it starts the close and returns at once, with a report that is not
    /// [final](ConnReport::is_final).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the close stays begun; calling `close` or `closed` again
    /// resumes waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn = scope_conn::Conn::new(io);
    /// conn.spawn(tokio::task::yield_now()).unwrap();
    /// let first = conn.close().await;
    /// let again = conn.close().await;
    /// assert_eq!(first.stats(), again.stats());
    /// assert_eq!(first.stats().completed, 1);
    /// # }
    /// ```
    pub async fn close(&self) -> ConnReport<E> {
        self.shared
            .close(self.shared.mode, CloseReason::Requested)
            .await
    }

    /// Closes the connection in `mode`. The first close request decides the
    /// mode; later ones join it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// # Examples
    ///
    /// See [`CloseMode`].
    pub async fn close_with(&self, mode: CloseMode) -> ConnReport<E> {
        self.shared.close(mode, CloseReason::Requested).await
    }

    /// Waits for the connection to end (tasks done per the mode, transport
    /// shut down) without starting the close. Do not await it from inside
    /// one of the connection's own tasks: it would wait for itself.
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
    ///     spawner.close().await; // from inside: starts the close, returns
    /// }).unwrap();
    /// assert!(conn.closed().await.is_final());
    /// # }
    /// ```
    pub async fn closed(&self) -> ConnReport<E> {
        self.shared.closed().await
    }

    /// The close has begun: outside spawns are refused and the reader
    /// reports end-of-stream.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn = scope_conn::Conn::new(io);
    /// assert!(!conn.is_closing());
    /// conn.close().await;
    /// assert!(conn.is_closing());
    /// # }
    /// ```
    #[must_use]
    pub fn is_closing(&self) -> bool {
        self.shared.closing.is_cancelled()
    }

    /// The connection's task counters, each one relaxed load.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn = scope_conn::Conn::new(io);
    /// conn.spawn(std::future::pending::<()>()).unwrap();
    /// assert_eq!(conn.stats().live, 1);
    /// # conn.close_with(scope_conn::CloseMode::Deadline(std::time::Duration::ZERO)).await;
    /// # }
    /// ```
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.shared.spawner.stats()
    }

    /// A process-unique number for this connection (its nursery is named
    /// `conn-<id>` unless named otherwise).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (a, _pa) = tokio::io::duplex(64);
    /// let (b, _pb) = tokio::io::duplex(64);
    /// assert_ne!(scope_conn::Conn::new(a).id(), scope_conn::Conn::new(b).id());
    /// # }
    /// ```
    #[must_use]
    pub fn id(&self) -> u64 {
        self.shared.id
    }
}

impl<S, E: Send + 'static> Drop for Conn<S, E> {
    fn drop(&mut self) {
        let shared = &self.shared;
        if shared.has_server {
            // Detach to the server: the close continues under the server's
            // task, which owns the driver, and nothing is aborted.
            shared.request_close(CloseMode::Join, CloseReason::Dropped);
            return;
        }
        if shared.is_published() {
            return;
        }
        // Standalone: nobody to hand the tasks to. The core's drop of the
        // nursery cancels and aborts them (and warns); the driver goes too.
        let nursery = shared.nursery.lock().take();
        drop(nursery);
        if let Some(driver) = &self.driver {
            driver.abort();
        }
    }
}

impl<S, E: Send + 'static> fmt::Debug for Conn<S, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.shared.id)
            .field("stats", &self.shared.spawner.stats())
            .field("closing", &self.shared.closing.is_cancelled())
            .field("close", &self.shared.request())
            .finish_non_exhaustive()
    }
}
