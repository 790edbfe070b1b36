//! [`ServerReport`]: how a server's shutdown ended.

use std::fmt;

use scope_core::{Report, Stats};

/// How a server's shutdown ended: connections served and refused, the
/// totals of every connection's tasks (added up from each connection's own
/// nursery as it closed), and the report of the server's own nursery.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let addr = listener.local_addr().unwrap();
/// let server: scope_conn::Server = scope_conn::Server::builder()
///     .serve(listener, |conn, _io| async move {
///         conn.spawner().spawn(async {}).unwrap();
///     })
///     .unwrap();
/// drop(tokio::net::TcpStream::connect(addr).await.unwrap());
/// # while server.accepted() == 0 { tokio::task::yield_now().await; }
/// let report = server.shutdown(std::time::Duration::from_secs(5)).await;
/// assert_eq!(report.connections(), 1);
/// let t = report.tasks();
/// assert_eq!((t.spawned, t.completed, t.live), (1, 1, 0));
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

    /// Connections turned away by a cap.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let server: scope_conn::Server = scope_conn::Server::builder().serve(listener, |_c, _io| async {}).unwrap();
    /// assert_eq!(server.shutdown(std::time::Duration::ZERO).await.refused_connections(), 0);
    /// # }
    /// ```
    #[must_use]
    pub fn refused_connections(&self) -> u64 {
        self.refused
    }

    /// Connections at least one of whose tasks failed.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let server: scope_conn::Server = scope_conn::Server::builder().serve(listener, |_c, _io| async {}).unwrap();
    /// assert_eq!(server.shutdown(std::time::Duration::ZERO).await.failed_connections(), 0);
    /// # }
    /// ```
    #[must_use]
    pub fn failed_connections(&self) -> u64 {
        self.failed_connections
    }

    /// Every connection's tasks, added up: `spawned` is `completed + failed
    /// + cancelled + aborted + live`, and `live` is 0 after a final shutdown.
    ///
    /// # Examples
    ///
    /// See [`ServerReport`].
    #[must_use]
    pub fn tasks(&self) -> Stats {
        self.tasks
    }

    /// The report of the server's own nursery, whose children are the accept
    /// loop, one task per connection (its session and close) and each
    /// connection's nursery: its cancel reason says whether the shutdown had
    /// to escalate.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let server: scope_conn::Server = scope_conn::Server::builder().serve(listener, |_c, _io| async {}).unwrap();
    /// let report = server.shutdown(std::time::Duration::from_secs(1)).await;
    /// assert_eq!(report.server().cancel_reason(), None); // it drained in time
    /// # }
    /// ```
    #[must_use]
    pub fn server(&self) -> &Report<E> {
        &self.server
    }

    /// Every task the server owned has ended (see [`Report::is_final`]).
    ///
    /// # Examples
    ///
    /// See [`Server::shutdown`](crate::Server::shutdown).
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
