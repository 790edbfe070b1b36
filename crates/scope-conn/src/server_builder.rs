//! [`ServerBuilder`]: a server's settings.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use scope_core::{BoxError, BuildError, Nursery, Policy};

use crate::builder::ConnBuilder;
use crate::close_mode::CloseMode;
use crate::conn::Conn;
use crate::listener::Listener;
use crate::server::Server;
use crate::server::shared::{ServerShared, accept_loop};

/// Settings for a [`Server`]: its name, the cap on open connections, the
/// template for every connection, and the mode its shutdown closes
/// connections in. Made by [`Server::builder`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_conn::{CloseMode, Conn, ConnBuilder, Server};
/// use std::time::Duration;
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let server = Server::builder()
///     .name("lines")
///     .max_connections(10_000)
///     .conn(ConnBuilder::new().max_held(100).idle_timeout(Duration::from_secs(300)))
///     .shutdown_mode(CloseMode::Join)
///     .serve(listener, |conn: Conn<_>| async move { conn.close().await; })
///     .unwrap();
/// # server.shutdown(Duration::from_secs(1)).await;
/// # }
/// ```
pub struct ServerBuilder<E = BoxError> {
    name: Option<Arc<str>>,
    max_connections: Option<usize>,
    refuse: bool,
    conn: ConnBuilder<E>,
    mode: CloseMode,
}

impl<E: Send + 'static> ServerBuilder<E> {
    pub(crate) fn new() -> Self {
        ServerBuilder {
            name: None,
            max_connections: None,
            refuse: false,
            conn: ConnBuilder::new(),
            mode: CloseMode::Join,
        }
    }

    /// Names the server's nursery.
    ///
    /// # Examples
    ///
    /// See [`ServerBuilder`].
    #[must_use]
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Caps the connections open at once (transport not yet shut down). Past
    /// it the accept loop waits for one to close, leaving new peers in the
    /// listener's backlog; with [`refuse_over_limit`](Self::refuse_over_limit)
    /// it accepts and drops them instead. A zero cap is taken as 1.
    ///
    /// # Examples
    ///
    /// See [`ServerBuilder`].
    #[must_use]
    pub fn max_connections(mut self, limit: usize) -> Self {
        self.max_connections = Some(limit.max(1));
        self
    }

    /// Past [`max_connections`](Self::max_connections), accept and drop at
    /// once (counted in [`Server::refused`]) rather than wait.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use scope_conn::{Conn, Server};
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    /// let server = Server::builder()
    ///     .max_connections(1)
    ///     .refuse_over_limit(true)
    ///     .serve(listener, move |conn: Conn<_>| {
    ///         let tx = tx.clone();
    ///         async move { let _ = tx.send(()); conn.closed().await; }
    ///     })
    ///     .unwrap();
    /// let _first = tokio::net::TcpStream::connect(addr).await.unwrap();
    /// rx.recv().await; // the first holds the only slot
    /// let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
    /// let n = tokio::io::AsyncReadExt::read(&mut second, &mut [0; 1]).await.unwrap_or(0);
    /// assert_eq!(n, 0); // dropped by the server
    /// assert_eq!(server.refused(), 1);
    /// let report = server.shutdown(std::time::Duration::from_secs(1)).await;
    /// assert_eq!(report.refused_connections(), 1);
    /// # }
    /// ```
    #[must_use]
    pub fn refuse_over_limit(mut self, refuse: bool) -> Self {
        self.refuse = refuse;
        self
    }

    /// The settings of every connection (its nursery's policy and limits,
    /// idle timeout, default close mode, write queue). The name is ignored:
    /// connections are named `conn-<id>`.
    ///
    /// # Examples
    ///
    /// See [`ServerBuilder`].
    #[must_use]
    pub fn conn(mut self, template: ConnBuilder<E>) -> Self {
        self.conn = template;
        self
    }

    /// The mode [`Server::shutdown`] closes connections in:
    /// [`CloseMode::Join`] by default. With [`CloseMode::Detach`] the
    /// transports shut at once and the tasks run on, still owned by the
    /// server, whose shutdown waits for them.
    ///
    /// # Examples
    ///
    /// See [`ServerBuilder`].
    #[must_use]
    pub fn shutdown_mode(mut self, mode: CloseMode) -> Self {
        self.mode = mode;
        self
    }

    /// Starts the accept loop over `listener`, calling `handler` with each
    /// accepted connection (in a task of the server's).
    ///
    /// # Errors
    ///
    /// As the core's [`Builder::build`](scope_core::Builder::build): no
    /// runtime, or a zero task limit in the connection template.
    ///
    /// # Examples
    ///
    /// See [`Server`].
    pub fn serve<L, H, Fut>(self, listener: L, handler: H) -> Result<Server<E>, BuildError>
    where
        L: Listener,
        H: Fn(Conn<L::Io, E>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut b = Nursery::builder().policy(Policy::Supervise);
        if let Some(name) = self.name {
            b = b.name(name);
        }
        let nursery = b.build()?;
        // Surface a bad connection template now, not at the first accept.
        self.conn.clone().build_check()?;
        let conn = self.conn.without_name();
        let shared = Arc::new(ServerShared::new(
            conn,
            self.mode,
            self.max_connections,
            self.refuse,
        ));
        let accept = accept_loop(
            listener,
            Arc::clone(&shared),
            nursery.spawner(),
            Arc::new(handler),
        );
        if nursery.spawn_named("accept", accept).is_err() {
            // Only a runtime that is shutting down refuses a fresh nursery's
            // first child; the listener is dropped with the refused loop.
            #[cfg(feature = "tracing")]
            tracing::warn!("the runtime refused the accept loop: serving nothing");
        }
        Ok(Server { nursery, shared })
    }
}

impl<E> fmt::Debug for ServerBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("name", &self.name)
            .field("max_connections", &self.max_connections)
            .field("refuse_over_limit", &self.refuse)
            .field("conn", &self.conn)
            .field("shutdown_mode", &self.mode)
            .finish()
    }
}
