//! [`AxumServer`]: the example's routes on a scope-conn server.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use scope_conn::{Conn, ConnBuilder, ConnReport, Server};
use scope_core::{BoxError, Policy};
use tokio::net::TcpListener;

use crate::app::app;
use crate::jobs::Jobs;
use crate::serve_connection::serve_connection;
use crate::shutdown_report::ShutdownReport;

/// A connection with no traffic for this long is closed (its jobs still
/// drain first).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// At most this many tasks (jobs and HTTP/2 streams) per connection.
const MAX_TASKS_PER_CONNECTION: usize = 1_000;

/// The example's [`app`] served on a [`scope_conn::Server`], HTTP/1.1 and
/// h2c on one port: each TCP connection is a [`Conn`], and the jobs its
/// requests start are tasks of that connection's nursery.
///
/// # Guarantees
///
/// - **A client leaving loses no job.** Its connection's close waits for
///   the connection's jobs before it reports (and before the connection
///   leaves [`open_connections`](Self::open_connections)).
/// - **A shutdown loses nothing.** [`shutdown(grace)`](Self::shutdown)
///   stops accepting, has hyper answer the requests in flight and close
///   idle keep-alive connections, gives the jobs three quarters of `grace`
///   to finish, then cancels them (a job stops when its connection's token
///   fires) and aborts what is left at `grace`. Every job ends counted one
///   way, and so does every task of every connection.
///
/// # Drop
///
/// Dropping it without a shutdown drops the inner [`Server`]: every
/// connection and job is cancelled and aborted.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// use scope_example_axum::AxumServer;
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let server = AxumServer::start(listener, |report| println!("conn {} closed", report.id()))?;
/// println!("listening on http://{}", server.local_addr());
/// let report = server.shutdown(std::time::Duration::from_secs(1)).await;
/// assert_eq!(report.lost(), 0);
/// # Ok(()) }
/// ```
pub struct AxumServer {
    server: Server,
    jobs: Arc<Jobs>,
    addr: SocketAddr,
}

impl AxumServer {
    /// Starts serving on `listener`; `on_closed` gets each connection's
    /// report once its close has run to its end (jobs drained, transport
    /// shut), in the connection's task, or, for a connection whose close
    /// the shutdown's grace cut short, in the shutdown's caller as it
    /// returns. Keep it short.
    ///
    /// # Errors
    ///
    /// The listener has no local address, or there is no tokio runtime.
    ///
    /// # Examples
    ///
    /// See [`AxumServer`].
    pub fn start(
        listener: TcpListener,
        on_closed: impl Fn(&ConnReport<BoxError>) + Send + Sync + 'static,
    ) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let jobs = Arc::new(Jobs::default());
        let router = app::<Conn>(Arc::clone(&jobs));
        let template = ConnBuilder::new()
            // One failing job is that job's business, not the connection's.
            .nursery(|b| {
                b.policy(Policy::Supervise)
                    .max_held(MAX_TASKS_PER_CONNECTION)
            })
            .idle_timeout(IDLE_TIMEOUT);
        let server = Server::builder()
            .name("axum")
            .max_connections(10_000)
            .max_connections_per_peer(1_000)
            .conn(template)
            .on_closed(on_closed)
            .serve(listener, move |conn, io| {
                serve_connection(conn, io, router.clone())
            })
            .map_err(io::Error::other)?;
        Ok(AxumServer { server, jobs, addr })
    }

    /// The address the server listens on.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let addr = listener.local_addr()?;
    /// let server = scope_example_axum::AxumServer::start(listener, |_| {})?;
    /// assert_eq!(server.local_addr(), addr);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The jobs of every connection.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let server = scope_example_axum::AxumServer::start(listener, |_| {})?;
    /// assert_eq!(server.jobs().counts().started, 0);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    /// Connections open now: a connection whose client has left stays open
    /// until its jobs have drained.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let server = scope_example_axum::AxumServer::start(listener, |_| {})?;
    /// assert_eq!(server.open_connections(), 0);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn open_connections(&self) -> usize {
        self.server.open_connections()
    }

    /// Shuts down within `grace` in all (see the type's docs). Calling it
    /// again joins the same shutdown; a zero `grace` ends what is left at
    /// once (cancel and abort), the way to cut short one under way.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: what has begun stays begun.
    ///
    /// # Examples
    ///
    /// See [`AxumServer`].
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let server = self.server.shutdown(grace).await;
        ShutdownReport {
            server,
            // Read after the shutdown: every job has ended by now.
            jobs: self.jobs.counts(),
        }
    }
}

impl fmt::Debug for AxumServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AxumServer")
            .field("addr", &self.addr)
            .field("server", &self.server)
            .field("jobs", &self.jobs)
            .finish()
    }
}
