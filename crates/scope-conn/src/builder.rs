//! [`ConnBuilder`]: a connection's settings, and serving one connection.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use scope_core::{BoxError, Builder, Nursery, Spawner};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::addr::Addr;
use crate::close_mode::CloseMode;
use crate::config_error::ConfigError;
use crate::conn::Conn;
use crate::conn::driver::{body, drive};
use crate::conn::shared::ConnShared;
use crate::io::Io;
use crate::report::ConnReport;

type Configure<E> = Arc<dyn Fn(Builder<(), E>) -> Builder<(), E> + Send + Sync>;

/// The settings every connection of a server (or one standalone connection)
/// shares. Built once; each connection holds a pointer to it.
#[derive(Debug)]
pub(crate) struct ConnConfig {
    pub(crate) mode: CloseMode,
    pub(crate) idle: Option<Duration>,
    pub(crate) send_timeout: Duration,
    pub(crate) goodbye_timeout: Duration,
    pub(crate) write_queue: usize,
    /// The idle clock counts from here.
    pub(crate) epoch: Instant,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A connection's settings: the nursery's (through
/// [`nursery`](Self::nursery), the core's own builder), and the
/// connection's timeouts and close mode. Serves one connection with
/// [`serve`](Self::serve), or is the template for every connection of a
/// [`Server`](crate::Server) ([`ServerBuilder::conn`](crate::ServerBuilder::conn)).
///
/// | setting | default |
/// |---|---|
/// | [`close_mode`](Self::close_mode) | [`CloseMode::Join`] |
/// | [`send_timeout`](Self::send_timeout) | 30 s |
/// | [`goodbye_timeout`](Self::goodbye_timeout) | 30 s |
/// | [`write_queue`](Self::write_queue) | 256 KiB |
/// | [`idle_timeout`](Self::idle_timeout) | none |
/// | the nursery | the core's defaults: `FailFast`, no limits |
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_conn::ConnBuilder;
/// use scope_core::Policy;
/// use std::time::Duration;
///
/// let template: ConnBuilder = ConnBuilder::new()
///     .nursery(|b| b.policy(Policy::Supervise).max_running(16))
///     .idle_timeout(Duration::from_secs(300))
///     .send_timeout(Duration::from_secs(10));
/// let (io, _peer) = tokio::io::duplex(64);
/// let report = template.serve(io, |_conn, _io| async {}).unwrap().await;
/// assert!(report.is_final());
/// # }
/// ```
pub struct ConnBuilder<E = BoxError> {
    nursery: Option<Configure<E>>,
    mode: CloseMode,
    idle: Option<Duration>,
    send_timeout: Duration,
    goodbye_timeout: Duration,
    write_queue: usize,
    addrs: Option<(Addr, Addr)>,
}

impl ConnBuilder {
    /// The default settings, for connections whose tasks fail with
    /// [`BoxError`]; `ConnBuilder::<E>::default()` for another error type.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = scope_conn::ConnBuilder::new();
    /// let io_errors = scope_conn::ConnBuilder::<std::io::Error>::default();
    /// # let _ = (b, io_errors);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        ConnBuilder::default()
    }
}

impl<E: Send + 'static> ConnBuilder<E> {
    /// The connection's nursery settings, given to the core's
    /// [`Builder`]: a policy, task limits, a failure handler, a name.
    /// Under a [`Server`](crate::Server) the nursery is nested in the
    /// server's.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let report = scope_conn::ConnBuilder::new()
    ///     .nursery(|b| b.max_held(1))
    ///     .serve(io, |conn, _io| async move {
    ///         let token = conn.spawner().token().clone();
    ///         conn.spawner().spawn(async move { token.cancelled().await }).unwrap();
    ///         assert!(conn.spawner().spawn(async {}).unwrap_err().is_full());
    ///         conn.spawner().token().cancel();
    ///     })
    ///     .unwrap()
    ///     .await;
    /// assert_eq!(report.tasks().stats().refused, 1);
    /// # }
    /// ```
    #[must_use]
    pub fn nursery(
        mut self,
        configure: impl Fn(Builder<(), E>) -> Builder<(), E> + Send + Sync + 'static,
    ) -> Self {
        self.nursery = Some(Arc::new(configure));
        self
    }

    /// The mode of the closes the connection starts itself (its session
    /// ended, a failure, an idle or send timeout) and of
    /// [`Conn::close`]. Default [`CloseMode::Join`].
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_conn::{CloseMode, ConnBuilder};
    /// let b: ConnBuilder = ConnBuilder::new().close_mode(CloseMode::Detach);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn close_mode(mut self, mode: CloseMode) -> Self {
        self.mode = mode;
        self
    }

    /// Closes the connection (reason [`IdleTimeout`](crate::CloseReason::IdleTimeout))
    /// once no byte was read or written for `idle`. Default: none.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// use std::time::Duration;
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let report = scope_conn::ConnBuilder::new()
    ///     .idle_timeout(Duration::from_secs(5))
    ///     .serve(io, |conn, _io| async move { conn.closing().await })
    ///     .unwrap()
    ///     .await;
    /// assert_eq!(report.reason(), scope_conn::CloseReason::IdleTimeout);
    /// # }
    /// ```
    #[must_use]
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = Some(idle);
        self
    }

    /// How long a write (or flush) may make no progress before it fails with
    /// `TimedOut`, for every writer, and the connection closes (reason
    /// [`SendTimeout`](crate::CloseReason::SendTimeout)): nginx's
    /// `send_timeout`. A peer that stops reading cannot hold a connection, its
    /// close, or a server's shutdown. Default 30 s.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let b: scope_conn::ConnBuilder = scope_conn::ConnBuilder::new().send_timeout(Duration::from_secs(5));
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// How long the session gets, once the tasks have drained, to finish its
    /// own ending (and the queued writer to flush) before it is dropped.
    /// Default 30 s. Bytes still queued then are dropped, and the report's
    /// [`io_error`](crate::ConnReport::io_error) says how many.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// use std::time::Duration;
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let start = tokio::time::Instant::now();
    /// let report = scope_conn::ConnBuilder::new()
    ///     .goodbye_timeout(Duration::from_secs(2))
    ///     .serve(io, |conn, _io| async move {
    ///         conn.close().await;
    ///         std::future::pending::<()>().await; // never says goodbye
    ///     })
    ///     .unwrap()
    ///     .await;
    /// assert_eq!(start.elapsed(), Duration::from_secs(2));
    /// assert!(report.is_final());
    /// # }
    /// ```
    #[must_use]
    pub fn goodbye_timeout(mut self, timeout: Duration) -> Self {
        self.goodbye_timeout = timeout;
        self
    }

    /// The bound of the queued [`Writer`](crate::Writer), in bytes: senders
    /// wait while this much is queued. Default 256 KiB; at most `u32::MAX`
    /// bytes, about 4 GiB (a larger bound counts as that). One send larger than the bound is
    /// taken whole once the queue is empty, and is queued alone: the queue
    /// then holds more than the bound for as long as it takes to write.
    ///
    /// # Examples
    ///
    /// ```
    /// let b: scope_conn::ConnBuilder = scope_conn::ConnBuilder::new().write_queue(64 * 1024);
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn write_queue(mut self, bytes: usize) -> Self {
        self.write_queue = bytes;
        self
    }

    /// The two ends of a connection served with [`serve`](Self::serve)
    /// ([`Conn::peer`], [`Conn::local`]); a [`Server`](crate::Server) sets
    /// them itself.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_conn::{Addr, ConnBuilder};
    /// let b: ConnBuilder = ConnBuilder::new().addrs(Addr::Unix(None), Addr::Unix(None));
    /// # let _ = b;
    /// ```
    #[must_use]
    pub fn addrs(mut self, peer: Addr, local: Addr) -> Self {
        self.addrs = Some((peer, local));
        self
    }

    /// Serves one connection: calls `handler` with the [`Conn`] and the
    /// transport, and returns the connection's future, which runs the
    /// session the handler returned, then the close, and resolves to the
    /// final report. Await it or spawn it; dropping it unfinished cancels
    /// and aborts the connection's tasks (there is no server to hand them
    /// to), like dropping a `JoinSet`.
    ///
    /// # Panics
    ///
    /// The future resumes the session's panic once the connection has
    /// closed (see [`CloseReason::SessionPanicked`](crate::CloseReason::SessionPanicked));
    /// dropped before that, it drops the panic. A handler that panics
    /// before it returns the session counts as a session that panics: this
    /// call still returns the future, and the future resumes that panic.
    ///
    /// # Errors
    ///
    /// A zero setting, or a nursery that cannot be built (no runtime, a zero
    /// limit).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let report = scope_conn::ConnBuilder::new()
    ///     .serve(io, |conn, _io| async move {
    ///         conn.spawner().spawn(async { /* the connection's work */ }).unwrap();
    ///     })
    ///     .unwrap()
    ///     .await;
    /// assert_eq!(report.tasks().stats().completed, 1);
    /// # }
    /// ```
    pub fn serve<S, H, Fut>(
        &self,
        io: S,
        handler: H,
    ) -> Result<impl Future<Output = ConnReport<E>> + Send + 'static + use<S, H, Fut, E>, ConfigError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
        H: FnOnce(Conn<E>, Io<S>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let config = Arc::new(self.config()?);
        let nursery = self.configure(Nursery::builder()).build()?;
        let (peer, local) = match &self.addrs {
            Some((peer, local)) => (Some(peer.clone()), Some(local.clone())),
            None => (None, None),
        };
        let (conn, io, shared) = assemble(nursery.spawner(), Arc::clone(&config), peer, local, io);
        let session = body(&nursery, || handler(conn, io));
        let driven = drive(shared, nursery, session, None, config.mode);
        Ok(futures_util::FutureExt::map(driven, |(report, panic)| {
            if let Some(panic) = panic {
                std::panic::resume_unwind(panic);
            }
            report
        }))
    }

    /// Checks the settings and freezes the connection-side ones.
    pub(crate) fn config(&self) -> Result<ConnConfig, ConfigError> {
        if self.send_timeout.is_zero() {
            return Err(ConfigError::zero("send_timeout"));
        }
        if self.goodbye_timeout.is_zero() {
            return Err(ConfigError::zero("goodbye_timeout"));
        }
        if self.idle.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::zero("idle_timeout"));
        }
        if self.write_queue == 0 {
            return Err(ConfigError::zero("write_queue"));
        }
        Ok(ConnConfig {
            mode: self.mode,
            idle: self.idle,
            send_timeout: self.send_timeout,
            goodbye_timeout: self.goodbye_timeout,
            write_queue: self.write_queue,
            epoch: Instant::now(),
        })
    }

    /// Applies the nursery settings to a core builder.
    pub(crate) fn configure(&self, b: Builder<(), E>) -> Builder<(), E> {
        match &self.nursery {
            Some(configure) => configure(b),
            None => b,
        }
    }
}

/// Makes a connection's shared state, its handle and its transport.
pub(crate) fn assemble<E: Send + 'static, S>(
    spawner: Spawner<(), E>,
    config: Arc<ConnConfig>,
    peer: Option<Addr>,
    local: Option<Addr>,
    io: S,
) -> (Conn<E>, Io<S>, Arc<ConnShared<E>>) {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let touch = config.idle.is_some();
    let shared = Arc::new(ConnShared::new(spawner, id, peer, local, config));
    let io = Io::new(io, Arc::clone(&shared) as _, touch);
    (Conn::from_shared(Arc::clone(&shared)), io, shared)
}

impl<E: Send + 'static> Default for ConnBuilder<E> {
    fn default() -> Self {
        ConnBuilder {
            nursery: None,
            mode: CloseMode::Join,
            idle: None,
            send_timeout: Duration::from_secs(30),
            goodbye_timeout: Duration::from_secs(30),
            write_queue: 256 * 1024,
            addrs: None,
        }
    }
}

impl<E> Clone for ConnBuilder<E> {
    fn clone(&self) -> Self {
        ConnBuilder {
            nursery: self.nursery.clone(),
            mode: self.mode,
            idle: self.idle,
            send_timeout: self.send_timeout,
            goodbye_timeout: self.goodbye_timeout,
            write_queue: self.write_queue,
            addrs: self.addrs.clone(),
        }
    }
}

impl<E> fmt::Debug for ConnBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnBuilder")
            .field("nursery", &self.nursery.as_ref().map(|_| "configured"))
            .field("close_mode", &self.mode)
            .field("idle_timeout", &self.idle)
            .field("send_timeout", &self.send_timeout)
            .field("goodbye_timeout", &self.goodbye_timeout)
            .field("write_queue", &self.write_queue)
            .finish_non_exhaustive()
    }
}
