//! [`HttpServer`]: hyper on every connection, the connection's nursery under it.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use parking_lot::Mutex;
use scope_conn::{Conn, ConnBuilder, Server};
use scope_core::Policy;
use tokio::net::{TcpListener, TcpStream};

use crate::conn_io::ConnIo;
use crate::ledger::Ledger;
use crate::service::{Ctx, handle};
use crate::shutdown_report::ShutdownReport;

/// A client that sends no complete request head in this long is dropped.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A keep-alive connection with no traffic in this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// An HTTP/1.1 server: each accepted TCP connection is a [`Conn`] whose
/// tasks are the hyper connection and every job its requests start.
///
/// # Guarantees
///
/// - **A client leaving loses no work.** A job belongs to its connection's
///   nursery; when the client disconnects (even mid-request), hyper ends,
///   the connection's close lets the jobs finish, then shuts the socket.
/// - **Shutdown accounts for every job, within a bound.**
///   [`shutdown(grace)`](Self::shutdown) first runs hyper's graceful
///   shutdown (requests in flight are answered, for up to `grace`), then the
///   server's nursery drain: up to `grace` for the jobs to finish, then
///   their tokens fire and they get `grace` more, then the rest is aborted.
///   Each job ends completed, cancelled or aborted, and the [`Ledger`]
///   counts it so.
///
/// # Drop
///
/// Dropping it without a shutdown drops the inner [`Server`]: every
/// connection and job is cancelled and aborted.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_example_http::HttpServer;
/// use std::time::Duration;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let server = HttpServer::bind("127.0.0.1:0").await.unwrap();
/// let mut client = tokio::net::TcpStream::connect(server.local_addr()).await.unwrap();
/// client
///     .write_all(b"GET /work?ms=10 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
///     .await
///     .unwrap();
/// let mut reply = String::new();
/// client.read_to_string(&mut reply).await.unwrap();
/// assert!(reply.starts_with("HTTP/1.1 200 OK"));
///
/// let report = server.shutdown(Duration::from_secs(5)).await;
/// assert_eq!(report.ledger().jobs_completed, 1);
/// assert_eq!(report.ledger().jobs_unaccounted(), 0);
/// # }
/// ```
pub struct HttpServer {
    server: Server,
    /// `None` once the shutdown began. Taken and watched under one lock:
    /// a watcher made after the signal was sent would never see it, and
    /// `GracefulShutdown::shutdown` would wait for that connection forever.
    graceful: Arc<Mutex<Option<GracefulShutdown>>>,
    ledger: Arc<Ledger>,
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
        let ledger = Arc::new(Ledger::default());
        let graceful = Arc::new(Mutex::new(Some(GracefulShutdown::new())));
        let template = ConnBuilder::new()
            // One failing job is that job's business, not the connection's.
            .policy(Policy::Supervise)
            .max_held(1_000)
            .idle_timeout(IDLE_TIMEOUT);
        let server = {
            let (graceful, ledger) = (Arc::clone(&graceful), Arc::clone(&ledger));
            Server::builder()
                .name("http")
                .max_connections(10_000)
                .conn(template)
                .serve(listener, move |conn| {
                    serve_conn(conn, Arc::clone(&graceful), Arc::clone(&ledger))
                })
                .map_err(io::Error::other)?
        };
        Ok(HttpServer {
            server,
            graceful,
            ledger,
            addr,
        })
    }

    /// The address the server listens on.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The example's own counters.
    #[must_use]
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Connections accepted so far.
    #[must_use]
    pub fn accepted(&self) -> u64 {
        self.server.accepted()
    }

    /// Shuts down in two phases, each bounded by `grace`: hyper's graceful
    /// shutdown (answer what is in flight, read nothing new), then the
    /// nursery drain (jobs finish, are cancelled, or are aborted). At most
    /// about three times `grace` in all. Calling it again skips hyper's
    /// phase and returns the same server totals.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe as [`Server::shutdown`]: what has begun stays begun.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let begin = Instant::now();
        let graceful = self.graceful.lock().take();
        // Connections accepted from here on find `None` and close at once;
        // the server's shutdown below stops the accepting.
        let http_drained = match graceful {
            Some(graceful) => tokio::time::timeout(grace, graceful.shutdown())
                .await
                .is_ok(),
            None => true,
        };
        // Connections still in hyper after `grace` see end-of-stream here
        // (their close begins) and end mid-request, like a departed client.
        let server = self.server.shutdown(grace).await;
        // scope-core counts an aborted task before its future's destructor
        // has run (the child wrapper's `Drop`), so a job's drop guard may
        // still be running on a worker thread: give those destructors up to
        // `grace` to land, so the reading below is exact. A job still
        // running shows as lost.
        let ledger = if server.tasks().live == 0 {
            let settled = self.ledger.wait_until(|s| s.jobs_unaccounted() == 0);
            match tokio::time::timeout(grace, settled).await {
                Ok(stats) => stats,
                Err(_) => self.ledger.stats(),
            }
        } else {
            self.ledger.stats()
        };
        ShutdownReport {
            server,
            ledger,
            http_drained,
            elapsed: begin.elapsed(),
        }
    }
}

/// One connection: hyper runs as the connection's first task, the jobs its
/// requests start are its siblings, and the handler waits for the close.
async fn serve_conn(
    mut conn: Conn<TcpStream>,
    graceful: Arc<Mutex<Option<GracefulShutdown>>>,
    ledger: Arc<Ledger>,
) {
    let watcher = graceful.lock().as_ref().map(GracefulShutdown::watcher);
    let (Some(watcher), Some(reader)) = (watcher, conn.take_reader()) else {
        // Shutting down: serve nothing.
        ledger.conn_closed(&conn.close().await);
        return;
    };
    let io = TokioIo::new(ConnIo::new(reader, conn.writer()));
    let ctx = Ctx {
        spawner: conn.spawner(),
        ledger: Arc::clone(&ledger),
    };
    let http = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(io, service_fn(move |req| handle(req, ctx.clone())));
    let served = watcher.watch(http);
    let (spawner, task_ledger) = (conn.spawner(), Arc::clone(&ledger));
    // hyper is a task of the connection, not of this handler: the
    // connection's close waits for it like for any job (the transport stays
    // open until hyper is done writing), and spawns from inside hyper's
    // service count as follow-up work, accepted while the close drains. A
    // close that begins mid-request (idle timeout, the shutdown's second
    // phase) still cuts that request: the reader's end-of-stream looks to
    // hyper like a departed client. Hence hyper's graceful phase first.
    let spawned = conn.spawn_named("http", async move {
        if served.await.is_err() {
            task_ledger.http_error();
        }
        // hyper is done with the transport: close from inside (returns at
        // once); the jobs finish, then the socket shuts.
        spawner.close().await;
    });
    let report = match spawned {
        Ok(()) => conn.closed().await,
        // Refused: the server's shutdown already closes this connection.
        Err(_) => conn.close().await,
    };
    ledger.conn_closed(&report);
}

impl fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpServer")
            .field("addr", &self.addr)
            .field("server", &self.server)
            .field("ledger", &self.ledger)
            .finish_non_exhaustive()
    }
}
