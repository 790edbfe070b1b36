//! [`ServerReport`]: how a server's shutdown ended.

use std::fmt;

use scope_core::{Report, Stats};

/// What a [`Server::shutdown`](crate::Server::shutdown) reports: the
/// connections it accepted and refused, and the totals of every task those
/// connections started, whichever way each ended.
///
/// The task totals add up exactly once the report is
/// [final](Self::is_final): `spawned == completed + failed + cancelled +
/// aborted`, and `live == 0`. Each connection's nursery counts its own tasks
/// (the server's nursery counts a connection as one child, see
/// [`server`](Self::server)).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_conn::Server;
/// use std::time::Duration;
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let addr = listener.local_addr().unwrap();
/// let server = Server::builder().serve(listener, |conn: scope_conn::Conn<_>| async move {
///     conn.spawn(async {}).unwrap();
///     conn.close().await;
/// }).unwrap();
/// let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
/// tokio::io::AsyncReadExt::read(&mut client, &mut [0; 1]).await.unwrap(); // the server closed it
/// let report = server.shutdown(Duration::from_secs(5)).await;
/// assert_eq!(report.connections(), 1);
/// let tasks = report.tasks();
/// assert_eq!(tasks.spawned, tasks.completed + tasks.failed + tasks.cancelled + tasks.aborted);
/// # }
/// ```
pub struct ServerReport<E> {
    pub(crate) connections: u64,
    pub(crate) refused: u64,
    pub(crate) failed_connections: u64,
    pub(crate) tasks: Stats,
    pub(crate) server: Report<E>,
}

impl<E> ServerReport<E> {
    /// Connections accepted and served.
    ///
    /// # Examples
    ///
    /// See [`ServerReport`].
    #[must_use]
    pub fn connections(&self) -> u64 {
        self.connections
    }

    /// Connections accepted and dropped at once because the server was at
    /// [`max_connections`](crate::ServerBuilder::max_connections) in refuse
    /// mode.
    ///
    /// # Examples
    ///
    /// See [`ServerBuilder::refuse_over_limit`](crate::ServerBuilder::refuse_over_limit).
    #[must_use]
    pub fn refused_connections(&self) -> u64 {
        self.refused
    }

    /// Connections at least one of whose tasks failed.
    ///
    /// # Examples
    ///
    /// See [`ServerReport`].
    #[must_use]
    pub fn failed_connections(&self) -> u64 {
        self.failed_connections
    }

    /// The totals over every connection's tasks: spawned, completed, failed,
    /// cancelled, aborted, refused (and live, zero when final).
    ///
    /// # Examples
    ///
    /// See [`ServerReport`].
    #[must_use]
    pub fn tasks(&self) -> Stats {
        self.tasks
    }

    /// The server nursery's own report: its children are the accept loop,
    /// one task per connection (the handler and the transport's driver), and
    /// the connections' nurseries, one child each. Its phases
    /// ([`ended_in_drain`](Report::ended_in_drain) and so on) say how the
    /// shutdown went.
    ///
    /// # Examples
    ///
    /// See [`ServerReport`].
    #[must_use]
    pub fn server(&self) -> &Report<E> {
        &self.server
    }

    /// Everything the server started has ended. `false` only when blocking
    /// tasks, which cannot be aborted, outlived the shutdown.
    ///
    /// # Examples
    ///
    /// See [`ServerReport`].
    #[must_use]
    pub fn is_final(&self) -> bool {
        self.server.is_final()
    }
}

impl<E> Clone for ServerReport<E> {
    fn clone(&self) -> Self {
        ServerReport {
            connections: self.connections,
            refused: self.refused,
            failed_connections: self.failed_connections,
            tasks: self.tasks,
            server: self.server.clone(),
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for ServerReport<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerReport")
            .field("connections", &self.connections)
            .field("refused", &self.refused)
            .field("failed_connections", &self.failed_connections)
            .field("tasks", &self.tasks)
            .field("server", &self.server)
            .finish()
    }
}
