//! [`ConnBuilder`]: a connection's settings.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use scope_core::{BoxError, BuildError, ChildError, Nursery, Policy, Spawner};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use crate::close_mode::CloseMode;
use crate::conn::Conn;
use crate::conn::shared::ConnShared;

type Handler<E> = Arc<dyn Fn(&ChildError<E>) + Send + Sync>;

/// Settings for a [`Conn`]: the nursery's (name, policy, failure handler,
/// task limits) and the connection's own (idle timeout, default close mode,
/// write queue, flush bound). [`build`](Self::build) makes a standalone
/// connection; given to [`ServerBuilder::conn`](crate::ServerBuilder::conn),
/// it is the template for every connection the server accepts.
///
/// Defaults: [`Policy::FailFast`], no task limits, no idle timeout,
/// [`CloseMode::Join`], a write queue of 64 buffers, a 30 s flush bound.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_conn::{CloseMode, Conn, ConnBuilder};
/// use std::time::Duration;
///
/// let (io, _peer) = tokio::io::duplex(1024);
/// let conn: Conn<_, std::io::Error> = ConnBuilder::new()
///     .name("client-42")
///     .max_running(8)        // tasks running at once; more are queued
///     .max_held(64)          // tasks held at once; more are refused
///     .idle_timeout(Duration::from_secs(60))
///     .close_mode(CloseMode::Deadline(Duration::from_secs(5)))
///     .build(io)
///     .unwrap();
/// # conn.close().await;
/// # }
/// ```
pub struct ConnBuilder<E = BoxError> {
    name: Option<Arc<str>>,
    policy: Policy,
    handler: Option<Handler<E>>,
    max_running: Option<usize>,
    max_held: Option<usize>,
    idle: Option<Duration>,
    mode: CloseMode,
    write_buffer: usize,
    flush_timeout: Duration,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl<E: Send + 'static> ConnBuilder<E> {
    /// Default settings.
    ///
    /// # Examples
    ///
    /// See [`ConnBuilder`].
    #[must_use]
    pub fn new() -> Self {
        ConnBuilder {
            name: None,
            policy: Policy::FailFast,
            handler: None,
            max_running: None,
            max_held: None,
            idle: None,
            mode: CloseMode::Join,
            write_buffer: 64,
            flush_timeout: Duration::from_secs(30),
        }
    }

    /// Names the connection's nursery (snapshots, warnings, spans);
    /// `conn-<id>` when no name is set.
    ///
    /// # Examples
    ///
    /// See [`ConnBuilder`].
    #[must_use]
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// What a task failure does: under [`Policy::FailFast`] (the default) it
    /// cancels the connection's token and closes the connection, the failure
    /// being the close reason; under [`Policy::Supervise`] it is recorded and
    /// the connection stays open.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use scope_conn::{Conn, ConnBuilder};
    /// use scope_core::Policy;
    ///
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn: Conn<_, &str> = ConnBuilder::new().policy(Policy::Supervise).build(io).unwrap();
    /// conn.spawn(async { Err("one bad request") }).unwrap();
    /// conn.spawn(async { Ok(()) }).unwrap();
    /// assert_eq!(conn.close().await.stats().failed, 1);
    /// # }
    /// ```
    #[must_use]
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Called with every task failure, on the failing task.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use scope_conn::{Conn, ConnBuilder};
    ///
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn: Conn<_, String> = ConnBuilder::new()
    ///     .on_failure(|err| eprintln!("request failed: {err}"))
    ///     .build(io)
    ///     .unwrap();
    /// # conn.close().await;
    /// # }
    /// ```
    #[must_use]
    pub fn on_failure(mut self, handler: impl Fn(&ChildError<E>) + Send + Sync + 'static) -> Self {
        self.handler = Some(Arc::new(handler));
        self
    }

    /// Bounds the connection's tasks running at once: `spawn` queues past it,
    /// `try_spawn` refuses (the core's `max_running`).
    ///
    /// # Examples
    ///
    /// See [`Conn::try_spawn`].
    #[must_use]
    pub fn max_running(mut self, limit: usize) -> Self {
        self.max_running = Some(limit);
        self
    }

    /// Bounds the connection's tasks held at once (running and queued): a
    /// hostile peer cannot make the connection hold more (the core's
    /// `max_held`).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn: scope_conn::Conn<_> = scope_conn::ConnBuilder::new().max_held(1).build(io).unwrap();
    /// conn.spawn(std::future::pending::<()>()).unwrap();
    /// assert!(conn.spawn(async {}).unwrap_err().is_full());
    /// # conn.close_with(scope_conn::CloseMode::Deadline(std::time::Duration::ZERO)).await;
    /// # }
    /// ```
    #[must_use]
    pub fn max_held(mut self, limit: usize) -> Self {
        self.max_held = Some(limit);
        self
    }

    /// Closes the connection (in its [close mode](Self::close_mode), reason
    /// [`IdleTimeout`](crate::CloseReason::IdleTimeout)) when no byte was read
    /// through its [`Reader`](crate::Reader) or written to its transport for
    /// `idle`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// use scope_conn::{CloseReason, Conn, ConnBuilder};
    /// use std::time::Duration;
    ///
    /// let (io, _silent_peer) = tokio::io::duplex(64);
    /// let conn: Conn<_> = ConnBuilder::new().idle_timeout(Duration::from_secs(30)).build(io).unwrap();
    /// assert_eq!(conn.closed().await.reason(), CloseReason::IdleTimeout);
    /// # }
    /// ```
    #[must_use]
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = Some(idle);
        self
    }

    /// The mode of [`Conn::close`] and of the closes nobody chose a mode for
    /// (idle timeout, failure, a failed transport). [`CloseMode::Join`] by
    /// default.
    ///
    /// # Examples
    ///
    /// See [`ConnBuilder`].
    #[must_use]
    pub fn close_mode(mut self, mode: CloseMode) -> Self {
        self.mode = mode;
        self
    }

    /// How many buffers the write queue holds before [`Writer::send`](crate::Writer::send)
    /// waits (at least 1; 64 by default).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn: scope_conn::Conn<_> = scope_conn::ConnBuilder::new().write_buffer(4).build(io).unwrap();
    /// # conn.close().await;
    /// # }
    /// ```
    #[must_use]
    pub fn write_buffer(mut self, buffers: usize) -> Self {
        self.write_buffer = buffers.max(1);
        self
    }

    /// Bounds the final flush and shutdown of the transport after a
    /// [`Join`](CloseMode::Join) or [`Detach`](CloseMode::Detach) close (a
    /// deadline close uses its own duration): a peer that stopped reading
    /// cannot hold the close forever. 30 s by default.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn: scope_conn::Conn<_> =
    ///     scope_conn::ConnBuilder::new().flush_timeout(Duration::from_secs(5)).build(io).unwrap();
    /// # conn.close().await;
    /// # }
    /// ```
    #[must_use]
    pub fn flush_timeout(mut self, bound: Duration) -> Self {
        self.flush_timeout = bound;
        self
    }

    /// Makes a standalone connection over `io` (no server): its nursery is a
    /// root nursery, and its driver runs as a task the `Conn` owns.
    ///
    /// # Errors
    ///
    /// As the core's [`Builder::build`](scope_core::Builder::build): a zero
    /// task limit, or no runtime.
    ///
    /// # Examples
    ///
    /// See [`ConnBuilder`].
    pub fn build<S>(&self, io: S) -> Result<Conn<S, E>, BuildError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let nursery = self.configure(Nursery::builder(), id).build()?;
        let (conn, driver) = self.assemble(id, io, nursery, false);
        // The nursery's build proved there is a runtime.
        let task = tokio::runtime::Handle::current().spawn(driver);
        Ok(conn.with_driver(task.abort_handle()))
    }

    /// Makes a connection whose nursery is nested in a server's; the caller
    /// runs the returned driver.
    pub(crate) fn build_nested<S>(
        &self,
        io: S,
        parent: &Spawner<(), E>,
    ) -> Result<(Conn<S, E>, impl Future<Output = ()> + Send + 'static), BuildError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let nursery = self.configure(parent.child_builder(), id).build()?;
        Ok(self.assemble(id, io, nursery, true))
    }

    /// Fails as `build` would on a bad setting, without a transport.
    pub(crate) fn build_check(&self) -> Result<(), BuildError> {
        self.configure(Nursery::builder(), 0).build().map(drop)
    }

    pub(crate) fn without_name(mut self) -> Self {
        self.name = None;
        self
    }

    fn configure(&self, b: scope_core::Builder<(), E>, id: u64) -> scope_core::Builder<(), E> {
        let mut b = match &self.name {
            Some(name) => b.name(Arc::clone(name)),
            None => b.name(format!("conn-{id}")),
        };
        b = b.policy(self.policy);
        if let Some(handler) = &self.handler {
            let handler = Arc::clone(handler);
            b = b.on_failure(move |err| handler(err));
        }
        if let Some(n) = self.max_running {
            b = b.max_running(n);
        }
        if let Some(n) = self.max_held {
            b = b.max_held(n);
        }
        b
    }

    fn assemble<S>(
        &self,
        id: u64,
        io: S,
        nursery: Nursery<(), E>,
        has_server: bool,
    ) -> (Conn<S, E>, impl Future<Output = ()> + Send + 'static)
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (tx, rx) = mpsc::channel(self.write_buffer);
        let shared = Arc::new(ConnShared::new(
            id,
            nursery,
            tx,
            self.mode,
            self.idle,
            self.flush_timeout,
            has_server,
        ));
        let (read, write) = tokio::io::split(io);
        let driver = crate::conn::driver::drive(Arc::clone(&shared), write, rx);
        (Conn::from_parts(shared, read), driver)
    }
}

impl<E: Send + 'static> Default for ConnBuilder<E> {
    fn default() -> Self {
        ConnBuilder::new()
    }
}

impl<E> Clone for ConnBuilder<E> {
    fn clone(&self) -> Self {
        ConnBuilder {
            name: self.name.clone(),
            policy: self.policy,
            handler: self.handler.clone(),
            max_running: self.max_running,
            max_held: self.max_held,
            idle: self.idle,
            mode: self.mode,
            write_buffer: self.write_buffer,
            flush_timeout: self.flush_timeout,
        }
    }
}

impl<E> fmt::Debug for ConnBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnBuilder")
            .field("name", &self.name)
            .field("policy", &self.policy)
            .field("max_running", &self.max_running)
            .field("max_held", &self.max_held)
            .field("idle_timeout", &self.idle)
            .field("close_mode", &self.mode)
            .field("write_buffer", &self.write_buffer)
            .field("flush_timeout", &self.flush_timeout)
            .finish_non_exhaustive()
    }
}
