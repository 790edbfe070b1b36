//! [`Server`]: an accept loop whose connections' tasks it owns.

pub(crate) mod shared;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use scope_core::{BoxError, Nursery};

use self::shared::ServerShared;
use crate::server_builder::ServerBuilder;
use crate::server_report::ServerReport;

/// A running server: it owns the accept loop over a [`Listener`](crate::Listener)
/// (TCP, Unix, or your own) and a nursery that parents every connection's
/// nursery, so every task any connection starts has an owner until the
/// server's [`shutdown`](Self::shutdown) has accounted for it.
///
/// Each accepted transport is served as a connection (see
/// [`Conn`](crate::Conn)): the handler gets the `Conn` and the transport and
/// returns the session, which runs in a task of the server's, with the
/// connection's close around it.
///
/// # Guarantees
///
/// - **Shutdown means grace.** `shutdown(grace)` stops accepting (the
///   listener is dropped, so peers still in its backlog are refused, not
///   answered with an empty reply) and closes every connection in the
///   server's [shutdown mode](ServerBuilder::shutdown_mode); three quarters
///   of `grace` in, it cancels every connection's tasks, and at `grace` it
///   aborts what is left. It returns within `grace` plus the time aborted
///   tasks take to drop. Every task any connection started is counted, once,
///   in the [`ServerReport`]'s totals.
/// - **Hostile peers are bounded.** [`max_connections`](ServerBuilder::max_connections)
///   caps open connections (accept waits, or [refuses](ServerBuilder::refuse_over_limit)),
///   [`max_connections_per_peer`](ServerBuilder::max_connections_per_peer)
///   caps one peer's share, and the connection template caps tasks per
///   connection, sets an idle timeout and a send timeout.
/// - **One connection's failure stays there.** The server's nursery
///   supervises: a connection that fails closes alone.
///
/// # Drop
///
/// Dropping the server without `shutdown` drops its nursery, which cancels
/// and aborts everything it owns (the accept loop, every connection and its
/// tasks), like dropping a `JoinSet`. `on_closed` still sees each
/// connection it had not seen, in a report that is not final, with reason
/// `Shutdown` for every connection that was open (a connection already
/// closing keeps the reason its close began with).
/// [`ServerBuilder::on_closed`] says where the hook runs then.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_conn::Server;
/// use std::time::Duration;
/// use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
/// use tokio::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let addr = listener.local_addr().unwrap();
/// let server = Server::builder()
///     .max_connections(1_000)
///     .serve(listener, |conn, mut io| async move {
///         // A request/response protocol: its request loop ends once the
///         // connection begins to close (at a shutdown), idle peer or not.
///         io.end_reads_on_close();
///         let (reader, writer) = io.split();
///         let mut reader = BufReader::new(reader);
///         let mut line = String::new();
///         // A line without its newline was cut short: not a request.
///         while reader.read_line(&mut line).await.is_ok_and(|_| line.ends_with('\n')) {
///             let (request, writer) = (std::mem::take(&mut line), writer.clone());
///             // Each request starts work the connection owns. A shutdown
///             // may refuse it: the request then goes unanswered.
///             let _ = conn.spawner().spawn(async move {
///                 let _ = writer.send(request.to_uppercase()).await;
///             });
///         }
///     })
///     .unwrap();
///
/// let mut client = TcpStream::connect(addr).await.unwrap();
/// client.write_all(b"hello\n").await.unwrap();
/// let mut answer = [0; 6];
/// client.read_exact(&mut answer).await.unwrap();
/// assert_eq!(&answer, b"HELLO\n");
///
/// // The client stays connected, idle: the shutdown still runs its course
/// // at once, without waiting for the grace.
/// let report = server.shutdown(Duration::from_secs(5)).await;
/// assert!(report.is_final());
/// assert_eq!(report.connections(), 1);
/// assert_eq!(report.tasks().completed, 1);
/// assert_eq!(report.tasks().live, 0);
/// # }
/// ```
pub struct Server<E = BoxError>
where
    E: Send + 'static,
{
    pub(crate) nursery: Nursery<(), E>,
    pub(crate) shared: Arc<ServerShared<E>>,
}

impl Server {
    /// A builder, for a server whose connections' tasks fail with
    /// [`BoxError`]; `ServerBuilder::<E>::default()` for another error type.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = scope_conn::Server::builder();
    /// let io_errors = scope_conn::ServerBuilder::<std::io::Error>::default();
    /// # let _ = (b, io_errors);
    /// ```
    #[must_use]
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }
}

impl<E: Send + 'static> Server<E> {
    /// Shuts the server down within `grace`: three quarters of it for the
    /// connections to drain, the rest after their tasks are cancelled; see
    /// [`shutdown_phases`](Self::shutdown_phases) to choose the split.
    /// Repeated calls return the same totals.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: what has begun stays begun; call it again to wait.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let server: scope_conn::Server = scope_conn::Server::builder()
    ///     .serve(listener, |_conn, _io| async {})
    ///     .unwrap();
    /// let report = server.shutdown(std::time::Duration::from_secs(1)).await;
    /// assert_eq!(report.connections(), 0);
    /// assert!(report.is_final());
    /// # }
    /// ```
    pub async fn shutdown(&self, grace: Duration) -> ServerReport<E> {
        self.begin_shutdown();
        let server = self.nursery.shutdown(grace).await;
        self.shared.fold_unfolded();
        self.shared.report(server)
    }

    /// [`shutdown`](Self::shutdown) with the split chosen: `drain` for the
    /// connections to close by themselves, then their tasks are cancelled
    /// and get `after_cancel`, then what is left is aborted.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// use std::time::Duration;
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let server: scope_conn::Server = scope_conn::Server::builder()
    ///     .serve(listener, |_conn, _io| async {})
    ///     .unwrap();
    /// let report = server.shutdown_phases(Duration::from_secs(9), Duration::from_secs(1)).await;
    /// assert!(report.is_final());
    /// # }
    /// ```
    pub async fn shutdown_phases(
        &self,
        drain: Duration,
        after_cancel: Duration,
    ) -> ServerReport<E> {
        self.begin_shutdown();
        let server = self.nursery.shutdown_phases(drain, after_cancel).await;
        self.shared.fold_unfolded();
        self.shared.report(server)
    }

    /// Begins the server nursery's close (the shutdown's first step, done
    /// here so the connections can be told at once).
    fn begin_shutdown(&self) {
        // The close's future only waits once begun: dropping it is fine.
        drop(futures_util::FutureExt::now_or_never(self.nursery.close()));
        self.shared.shutdown.announce();
    }

    /// Connections open now (accepted, transport not yet closed).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let server: scope_conn::Server = scope_conn::Server::builder()
    ///     .serve(listener, |_conn, _io| async {})
    ///     .unwrap();
    /// assert_eq!(server.open_connections(), 0);
    /// # }
    /// ```
    #[must_use]
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::Relaxed)
    }

    /// Connections accepted and served so far.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let server: scope_conn::Server = scope_conn::Server::builder()
    ///     .serve(listener, |_conn, _io| async {})
    ///     .unwrap();
    /// assert_eq!(server.accepted(), 0);
    /// # }
    /// ```
    #[must_use]
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Connections turned away by a cap (refuse mode, or the per-peer cap).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let server: scope_conn::Server = scope_conn::Server::builder()
    ///     .serve(listener, |_conn, _io| async {})
    ///     .unwrap();
    /// assert_eq!(server.refused(), 0);
    /// # }
    /// ```
    #[must_use]
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }
}

impl<E: Send + 'static> Drop for Server<E> {
    fn drop(&mut self) {
        // Before the nursery drops (and cancels and aborts the connections'
        // tasks): the server's nursery is closing first, so a connection
        // that sees the cancel before the abort takes it knows that a
        // shutdown is the reason. (Safe outside a runtime: the server's
        // nursery has no close warning, so the close's one poll sets no
        // timer.)
        self.begin_shutdown();
        self.shared.server_dropped();
    }
}

impl<E: Send + 'static> fmt::Debug for Server<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("nursery", &self.nursery)
            .field("open_connections", &self.open_connections())
            .field("accepted", &self.accepted())
            .field("refused", &self.refused())
            .finish()
    }
}
