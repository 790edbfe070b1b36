//! [`ServerBuilder`]: a server's settings.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use scope_core::{BoxError, Nursery, Policy};

use crate::builder::ConnBuilder;
use crate::close_mode::CloseMode;
use crate::config_error::ConfigError;
use crate::conn::Conn;
use crate::io::Io;
use crate::listener::Listener;
use crate::report::ConnReport;
use crate::server::Server;
use crate::server::shared::{Limits, OnClosed, ServerShared, accept_loop};

/// A server's settings; made by [`Server::builder`].
///
/// | setting | default |
/// |---|---|
/// | [`max_connections`](Self::max_connections) | none |
/// | [`refuse_over_limit`](Self::refuse_over_limit) | `false`: accept waits |
/// | [`max_connections_per_peer`](Self::max_connections_per_peer) | none |
/// | [`shutdown_mode`](Self::shutdown_mode) | [`CloseMode::Join`] |
/// | [`conn`](Self::conn) | [`ConnBuilder::new`] |
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_conn::{ConnBuilder, Server};
/// use std::time::Duration;
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let server: Server = Server::builder()
///     .name("echo")
///     .max_connections(10_000)
///     .max_connections_per_peer(64)
///     .conn(ConnBuilder::new().idle_timeout(Duration::from_secs(60)))
///     .serve(listener, |_conn, _io| async {})
///     .unwrap();
/// server.shutdown(Duration::from_secs(1)).await;
/// # }
/// ```
pub struct ServerBuilder<E = BoxError> {
    name: Option<Arc<str>>,
    max_connections: Option<usize>,
    refuse: bool,
    per_peer: Option<usize>,
    conn: ConnBuilder<E>,
    mode: CloseMode,
    on_closed: Option<OnClosed<E>>,
}

impl<E: Send + 'static> Default for ServerBuilder<E> {
    fn default() -> Self {
        ServerBuilder {
            name: None,
            max_connections: None,
            refuse: false,
            per_peer: None,
            conn: ConnBuilder::default(),
            mode: CloseMode::Join,
            on_closed: None,
        }
    }
}

impl<E: Send + 'static> ServerBuilder<E> {
    /// Names the server's nursery (in its snapshot and warnings).
    ///
    /// # Examples
    ///
    /// ```
    /// let b: scope_conn::ServerBuilder = scope_conn::Server::builder().name("api");
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// At most `limit` connections open at once. Past it the accept loop
    /// waits (peers queue in the listener's backlog) or, with
    /// [`refuse_over_limit`](Self::refuse_over_limit), resets new ones. Zero
    /// is an error when the server is built.
    ///
    /// # Examples
    ///
    /// ```
    /// let b: scope_conn::ServerBuilder = scope_conn::Server::builder().max_connections(1_000);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn max_connections(mut self, limit: usize) -> Self {
        self.max_connections = Some(limit);
        self
    }

    /// Past [`max_connections`](Self::max_connections), reset new
    /// connections at once (counted in [`Server::refused`]) instead of
    /// leaving them in the backlog.
    ///
    /// # Examples
    ///
    /// ```
    /// let b: scope_conn::ServerBuilder = scope_conn::Server::builder().max_connections(10).refuse_over_limit(true);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn refuse_over_limit(mut self, refuse: bool) -> Self {
        self.refuse = refuse;
        self
    }

    /// At most `limit` connections open at once from one IP address; past
    /// it, new ones from that address are reset (counted in
    /// [`Server::refused`]). The defence against one peer holding every
    /// slot with slow connections; pair it with a per-request deadline in
    /// the protocol (hyper's `header_read_timeout`, a timeout around a
    /// line read). Unix peers are not counted. Zero is an error when the
    /// server is built.
    ///
    /// # Examples
    ///
    /// ```
    /// let b: scope_conn::ServerBuilder = scope_conn::Server::builder().max_connections_per_peer(32);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn max_connections_per_peer(mut self, limit: usize) -> Self {
        self.per_peer = Some(limit);
        self
    }

    /// The settings of every connection.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_conn::ConnBuilder;
    /// let b: scope_conn::ServerBuilder = scope_conn::Server::builder()
    ///     .conn(ConnBuilder::new().nursery(|b| b.max_running(8)));
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn conn(mut self, template: ConnBuilder<E>) -> Self {
        self.conn = template;
        self
    }

    /// How [`Server::shutdown`] closes each connection. Default
    /// [`CloseMode::Join`] (the shutdown's grace bounds it); `Detach` hands
    /// the connections' tasks to the server's nursery and closes the
    /// transports at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_conn::CloseMode;
    /// let b: scope_conn::ServerBuilder = scope_conn::Server::builder().shutdown_mode(CloseMode::Detach);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn shutdown_mode(mut self, mode: CloseMode) -> Self {
        self.mode = mode;
        self
    }

    /// Called with each connection's report when it closes (an access log,
    /// say), once per connection. It runs in the connection's task: keep it
    /// short. A connection whose task a shutdown aborted at the end of its
    /// grace is reported by that shutdown instead, in the shutdown's caller
    /// before it returns (outside the connection's `tracing` span), in a
    /// report that is not final (see [`ConnReport::is_final`]), whose reason
    /// is `Shutdown` unless the close had recorded another, and which counts
    /// the tasks as they ended. A hook that panics there is not called
    /// again and stops nothing. A server dropped without a finished
    /// shutdown reports the connections it cuts the same way, but with
    /// their tasks as they stand then (a task the drop aborts may still
    /// count as live, or already as aborted), from
    /// wherever the connection is dropped: tokio's task drop on a worker
    /// thread (or the runtime's shutdown, outside any runtime context), or
    /// the server's drop itself, on the dropping thread, for connections
    /// whose tasks were already gone.
    ///
    /// A hook that panics in a connection's task fails that task, which the
    /// server's nursery records ([`ServerReport::server`](crate::ServerReport::server)),
    /// unless the connection's session had panicked: then the session's
    /// panic is the one recorded, and the hook's is dropped (with a
    /// `tracing` warning).
    ///
    /// # Examples
    ///
    /// ```
    /// let b: scope_conn::ServerBuilder = scope_conn::Server::builder()
    ///     .on_closed(|report| eprintln!("{:?} closed: {:?}", report.peer(), report.reason()));
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn on_closed(mut self, f: impl Fn(&ConnReport<E>) + Send + Sync + 'static) -> Self {
        self.on_closed = Some(Arc::new(f));
        self
    }

    /// Starts serving: every connection accepted from `listener` is served
    /// by `handler`, which gets the [`Conn`] and the transport and returns
    /// the session (the protocol's future). A handler that panics fails
    /// its own connection only, as a session that panics does
    /// ([`CloseReason::SessionPanicked`](crate::CloseReason::SessionPanicked)):
    /// the accept loop goes on.
    ///
    /// # Errors
    ///
    /// A zero limit or timeout, a connection nursery that cannot be built,
    /// or no runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
    /// let listener = tokio::net::UnixListener::bind(std::env::temp_dir().join(format!("scope-doc-{}.sock", std::process::id())))?;
    /// # let path = listener.local_addr()?.as_pathname().unwrap().to_owned();
    /// let server: scope_conn::Server = scope_conn::Server::builder()
    ///     .serve(listener, |conn, _io| async move {
    ///         assert!(conn.peer().is_some());
    ///     })
    ///     .unwrap();
    /// # server.shutdown(std::time::Duration::from_secs(1)).await;
    /// # std::fs::remove_file(path)?;
    /// # Ok(()) }
    /// ```
    pub fn serve<L, H, Fut>(self, listener: L, handler: H) -> Result<Server<E>, ConfigError>
    where
        L: Listener,
        H: Fn(Conn<E>, Io<L::Io>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if self.max_connections == Some(0) {
            return Err(ConfigError::zero("max_connections"));
        }
        if self.per_peer == Some(0) {
            return Err(ConfigError::zero("max_connections_per_peer"));
        }
        let config = self.conn.config()?;
        // Surface a bad nursery template now, not at the first accept.
        drop(self.conn.configure(Nursery::builder()).build()?);
        let mut b = Nursery::builder().policy(Policy::Supervise);
        if let Some(name) = self.name {
            b = b.name(name);
        }
        let nursery = b.build()?;
        let shared = Arc::new(ServerShared::new(
            self.conn,
            config,
            self.mode,
            Limits {
                max_connections: self.max_connections,
                refuse: self.refuse,
                per_peer: self.per_peer,
            },
            self.on_closed,
            nursery.spawner(),
        ));
        let accept = accept_loop(listener, Arc::clone(&shared), nursery.spawner(), handler);
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
            .field("max_connections_per_peer", &self.per_peer)
            .field("conn", &self.conn)
            .field("shutdown_mode", &self.mode)
            .finish_non_exhaustive()
    }
}
