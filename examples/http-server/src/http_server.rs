//! [`HttpServer`]: hyper on every connection, the connection's nursery under it.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use scope_conn::{Conn, ConnBuilder, Io, Server, serve_http};
use scope_core::Policy;
use tokio::net::{TcpListener, TcpStream};

use crate::jobs::Jobs;
use crate::service::{Ctx, handle};
use crate::shutdown_report::ShutdownReport;

/// A connection with no traffic in this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// An HTTP/1.1 and HTTP/2 (h2c) server: each accepted TCP connection is a
/// scope connection whose session is hyper's, and the jobs a request starts
/// after its response are tasks of that connection's nursery, never a
/// detached `tokio::spawn`. HTTP/2 streams are the connection's tasks too
/// ([`HyperExecutor`](scope_conn::HyperExecutor)).
///
/// # Guarantees
///
/// - **A shutdown loses nothing.** [`shutdown(grace)`](Self::shutdown) stops
///   accepting and tells every connection to close: hyper answers the
///   requests in flight (HTTP/1.1 with `connection: close`, HTTP/2 after a
///   GOAWAY) and closes idle keep-alive connections at once; the jobs those
///   requests started get three quarters of `grace` to finish, are then
///   cancelled through their connection's token, and are aborted at `grace`.
///   Every job ends counted one way ([`Jobs`]), and so does every task the
///   nurseries held.
/// - **A client leaving loses no work.** Its connection's close lets the jobs
///   finish.
///
/// # Drop
///
/// Dropping it without a shutdown drops the inner [`Server`]: every
/// connection and job is cancelled and aborted.
pub struct HttpServer {
    server: Server,
    jobs: Arc<Jobs>,
    addr: SocketAddr,
}

impl HttpServer {
    /// Binds `addr` and starts serving.
    ///
    /// # Errors
    ///
    /// Binding failed.
    pub async fn bind(addr: impl tokio::net::ToSocketAddrs) -> io::Result<Self> {
        Self::start(TcpListener::bind(addr).await?)
    }

    /// Starts serving on `listener`.
    ///
    /// # Errors
    ///
    /// The listener has no local address, or there is no tokio runtime.
    pub fn start(listener: TcpListener) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let jobs = Arc::new(Jobs::default());
        let template = ConnBuilder::new()
            // One failing job is that job's business, not the connection's.
            .nursery(|b| b.policy(Policy::Supervise).max_held(1_000))
            .idle_timeout(IDLE_TIMEOUT);
        let server = {
            let jobs = Arc::clone(&jobs);
            Server::builder()
                .name("http")
                .max_connections(10_000)
                .max_connections_per_peer(1_000)
                .conn(template)
                .serve(listener, move |conn, io| {
                    session(conn, io, Arc::clone(&jobs))
                })
                .map_err(io::Error::other)?
        };
        Ok(HttpServer { server, jobs, addr })
    }

    /// The address the server listens on.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The jobs' counts now.
    #[must_use]
    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    /// Connections accepted so far.
    #[must_use]
    pub fn accepted(&self) -> u64 {
        self.server.accepted()
    }

    /// Shuts down within `grace` (see the type's docs). Calling it again
    /// joins the same shutdown; a zero `grace` ends what is left at once
    /// (cancel and abort), the way to abort one already under way.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: what has begun stays begun.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let server = self.server.shutdown(grace).await;
        ShutdownReport {
            server,
            jobs: self.jobs.counts(),
        }
    }
}

/// One connection: hyper's session over the transport (`serve_http`: HTTP/1.1
/// and h2c, hyper's graceful shutdown once the connection begins to close).
async fn session(conn: Conn, io: Io<TcpStream>, jobs: Arc<Jobs>) {
    let stats = {
        let (spawner, jobs) = (conn.spawner().clone(), Arc::clone(&jobs));
        Arc::new(move || {
            let (s, j) = (spawner.stats(), jobs.counts());
            format!(
                "this connection's tasks: {} running, {} completed, {} cancelled, {} aborted\n\
                 jobs (all connections): {} started = {} completed + {} cancelled + {} aborted + {} running\n",
                s.live,
                s.completed,
                s.cancelled,
                s.aborted,
                j.started,
                j.completed,
                j.cancelled,
                j.aborted,
                j.running()
            )
        })
    };
    let ctx = Ctx {
        conn: conn.clone(),
        jobs,
        stats,
    };
    let service = service_fn(move |req| handle(req, ctx.clone()));
    // A protocol error, or a peer that left mid-request: the connection ends
    // either way, and its close drains the jobs.
    let _ = serve_http(conn, io, service).await;
}

impl fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpServer")
            .field("addr", &self.addr)
            .field("server", &self.server)
            .field("jobs", &self.jobs)
            .finish()
    }
}
