//! [`SshServer`]: russh on every connection, the connection's nursery for
//! its channels' work.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use russh::keys::PrivateKey;
use russh::server::Config;
use scope_conn::{Conn, ConnBuilder, Server};
use scope_core::Policy;
use tokio::net::{TcpListener, TcpStream};

use crate::conn_io::ConnIo;
use crate::handler::ConnHandler;
use crate::ledger::Ledger;
use crate::shutdown_report::ShutdownReport;

/// A connection with no traffic in this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// An SSH server: each accepted TCP connection is a [`Conn`], and each
/// channel's `exec` is a task in that connection's nursery.
///
/// # Guarantees
///
/// - **A client leaving loses no work.** When the client disconnects, or is
///   killed, russh's session ends, and the connection's close lets every
///   command finish before it shuts the socket and reports.
/// - **Shutdown accounts for every command, within a bound.**
///   [`shutdown(grace)`](Self::shutdown) closes every connection (their
///   sessions end), lets the commands finish for up to `grace`, fires their
///   tokens and waits up to `grace` again, then aborts. Each command ends
///   completed, cancelled or aborted, and the [`Ledger`] counts it so.
///
/// # Drop
///
/// Dropping it without a shutdown drops the inner [`Server`]: every
/// connection and command is cancelled and aborted.
pub struct SshServer {
    server: Server,
    ledger: Arc<Ledger>,
    addr: SocketAddr,
}

impl SshServer {
    /// Binds `addr` and starts serving with `host_key`.
    ///
    /// # Errors
    ///
    /// Binding failed.
    pub async fn bind(
        addr: impl tokio::net::ToSocketAddrs,
        host_key: PrivateKey,
    ) -> io::Result<Self> {
        Self::start(TcpListener::bind(addr).await?, host_key)
    }

    /// Starts serving on `listener` with `host_key`.
    ///
    /// # Errors
    ///
    /// The listener has no local address, or there is no tokio runtime.
    pub fn start(listener: TcpListener, host_key: PrivateKey) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let ledger = Arc::new(Ledger::default());
        let config = Arc::new(Config {
            keys: vec![host_key],
            // Only the `none` method is accepted, so nothing is rejected
            // slowly; and russh's own idle timer is the connection's here.
            auth_rejection_time: Duration::ZERO,
            auth_rejection_time_initial: Some(Duration::ZERO),
            inactivity_timeout: None,
            ..Config::default()
        });
        let template = ConnBuilder::new()
            // One failing command is that command's business.
            .policy(Policy::Supervise)
            .max_held(100)
            .idle_timeout(IDLE_TIMEOUT);
        let server = {
            let ledger = Arc::clone(&ledger);
            Server::builder()
                .name("ssh")
                .max_connections(1_000)
                .conn(template)
                .serve(listener, move |conn| {
                    serve_conn(conn, Arc::clone(&config), Arc::clone(&ledger))
                })
                .map_err(io::Error::other)?
        };
        Ok(SshServer {
            server,
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

    /// Stops accepting and closes every connection: sessions end, commands
    /// get `grace` to finish, then are cancelled and get `grace` again, then
    /// are aborted. Calling it again returns at once with the same totals.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe as [`Server::shutdown`]: what has begun stays begun.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let begin = Instant::now();
        let server = self.server.shutdown(grace).await;
        // scope-core counts an aborted task before its future's destructor
        // has run, so a command's drop guard may still be running on a
        // worker thread: give those destructors up to `grace` to land.
        let ledger = if server.tasks().live == 0 {
            let settled = self.ledger.wait_until(|s| s.commands_unaccounted() == 0);
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
            elapsed: begin.elapsed(),
        }
    }
}

/// One connection: russh's session over the `Conn`'s transport; when it
/// ends (client gone, or the close began), the close drains the commands.
async fn serve_conn(mut conn: Conn<TcpStream>, config: Arc<Config>, ledger: Arc<Ledger>) {
    if let Some(reader) = conn.take_reader() {
        let io = ConnIo::new(reader, conn.writer());
        let handler = ConnHandler::new(conn.spawner(), Arc::clone(&ledger));
        // russh runs the session loop in a task of its own; awaiting it here
        // keeps this handler (a server task) as long as the session.
        if let Ok(session) = russh::server::run_stream(config, io, handler).await {
            let _ = session.await;
        }
    }
    let report = conn.close().await;
    ledger.conn_closed(&report);
}

impl fmt::Debug for SshServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshServer")
            .field("addr", &self.addr)
            .field("server", &self.server)
            .field("ledger", &self.ledger)
            .finish()
    }
}
