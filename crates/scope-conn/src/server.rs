//! [`Server`]: an accept loop whose connections' tasks it owns.

pub(crate) mod shared;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use scope_core::{BoxError, Nursery};

use self::shared::ServerShared;
use crate::server_builder::ServerBuilder;
use crate::server_report::ServerReport;

/// A running server: it owns the accept loop over a [`Listener`](crate::Listener)
/// (TCP, Unix, or your own) and a nursery that parents every connection's
/// nursery, so every task any connection starts has an owner until the
/// server's [`shutdown`](Self::shutdown) has accounted for it.
///
/// Each accepted transport becomes a [`Conn`](crate::Conn) handed to the
/// handler, which runs in a task of the server's, side by side with the
/// connection's driver (the owner of the write half). When the handler
/// returns without closing the connection, the connection closes in the
/// background, its tasks still owned ([`Conn`'s drop](crate::Conn#drop)).
///
/// # Guarantees
///
/// - **Shutdown loses nothing.** `shutdown(grace)` stops accepting, closes
///   every connection in the server's [close mode](ServerBuilder::shutdown_mode)
///   (readers report end-of-stream, so request loops end), and escalates as
///   the core's `shutdown` over everything the server owns: drain up to
///   `grace`, cancel, wait up to `grace` again, abort. Every task any
///   connection started is counted, once, in the [`ServerReport`]'s totals.
/// - **Hostile peers are bounded.** [`max_connections`](ServerBuilder::max_connections)
///   caps open connections (accept waits, or [refuses](ServerBuilder::refuse_over_limit));
///   the [`ConnBuilder`](crate::ConnBuilder) template caps tasks per
///   connection and sets an idle timeout.
/// - **One connection's failure stays there.** The server's nursery
///   supervises: a connection that fails closes alone.
///
/// # Drop
///
/// Dropping the server without `shutdown` drops its nursery, which cancels
/// and aborts everything it owns (the accept loop, every connection's task
/// and its tasks), like dropping a `JoinSet`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_conn::{Conn, Server};
/// use std::time::Duration;
/// use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
/// use tokio::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let addr = listener.local_addr().unwrap();
/// let server = Server::builder()
///     .max_connections(1_000)
///     .serve(listener, |mut conn: Conn<TcpStream>| async move {
///         let mut lines = BufReader::new(conn.take_reader().unwrap()).lines();
///         while let Ok(Some(line)) = lines.next_line().await {
///             let writer = conn.writer();
///             // Each request starts work the connection owns.
///             let _ = conn.spawn(async move {
///                 let _ = writer.send(format!("{}\n", line.to_uppercase())).await;
///             });
///         }
///         conn.close().await; // the work ends, then the transport shuts
///     })
///     .unwrap();
///
/// let mut client = TcpStream::connect(addr).await.unwrap();
/// client.write_all(b"hello\n").await.unwrap();
/// client.shutdown().await.unwrap();
/// let mut reply = String::new();
/// client.read_to_string(&mut reply).await.unwrap();
/// assert_eq!(reply, "HELLO\n");
///
/// let report = server.shutdown(Duration::from_secs(5)).await;
/// assert_eq!((report.connections(), report.tasks().completed), (1, 1));
/// # }
/// ```
pub struct Server<E = BoxError>
where
    E: Send + 'static,
{
    pub(crate) nursery: Nursery<(), E>,
    pub(crate) shared: Arc<ServerShared<E>>,
}

impl Server {
    /// A builder for a server whose connections' tasks fail with `E`.
    ///
    /// # Examples
    ///
    /// See [`Server`].
    #[must_use]
    pub fn builder<E: Send + 'static>() -> ServerBuilder<E> {
        ServerBuilder::new()
    }
}

impl<E: Send + 'static> Server<E> {
    /// Stops accepting, closes every connection in the server's
    /// [shutdown mode](ServerBuilder::shutdown_mode), and escalates over
    /// everything the server owns: wait up to `grace` for it all to end;
    /// then cancel every token and wait up to `grace` again; then abort.
    /// Work that ends within the first `grace` is never cancelled. Returns
    /// the totals; calling it again returns the same.
    ///
    /// Call it from outside the server's tasks: from inside one, the core
    /// cancels at once instead of waiting (C5).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the shutdown stays begun, and phases already entered
    /// stay entered.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use scope_conn::{CloseMode, Server};
    /// use std::time::Duration;
    ///
    /// let dir = std::env::temp_dir().join(format!("scope-conn-doc-{}", std::process::id()));
    /// let _ = std::fs::remove_file(&dir);
    /// let listener = tokio::net::UnixListener::bind(&dir).unwrap();
    /// let server = Server::builder()
    ///     .shutdown_mode(CloseMode::Join)
    ///     .serve(listener, |conn: scope_conn::Conn<_>| async move {
    ///         // Work that outlives the handler: the server still owns it.
    ///         conn.spawn(tokio::task::yield_now()).unwrap();
    ///     })
    ///     .unwrap();
    /// let _client = tokio::net::UnixStream::connect(&dir).await.unwrap();
    /// # while server.accepted() == 0 { tokio::task::yield_now().await; }
    /// let report = server.shutdown(Duration::from_secs(5)).await;
    /// assert!(report.is_final());
    /// assert_eq!(report.tasks().live, 0);
    /// # let _ = std::fs::remove_file(&dir);
    /// # }
    /// ```
    pub async fn shutdown(&self, grace: Duration) -> ServerReport<E> {
        self.shared.begin_shutdown();
        let server = self.nursery.shutdown(grace).await;
        self.shared.sweep();
        self.shared.report(server)
    }

    /// Connections whose transport is open now.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let server = scope_conn::Server::builder()
    ///     .serve(listener, |_conn: scope_conn::Conn<_>| async {})
    ///     .unwrap();
    /// assert_eq!(server.open_connections(), 0);
    /// # server.shutdown(std::time::Duration::from_secs(1)).await;
    /// # }
    /// ```
    #[must_use]
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::Relaxed)
    }

    /// Connections accepted and served so far.
    ///
    /// # Examples
    ///
    /// See [`shutdown`](Self::shutdown).
    #[must_use]
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Connections refused so far (refuse mode, at the cap).
    ///
    /// # Examples
    ///
    /// See [`ServerBuilder::refuse_over_limit`].
    #[must_use]
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }
}

impl<E: Send + 'static> fmt::Debug for Server<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("nursery", &self.nursery)
            .field("open_connections", &self.open_connections())
            .field("accepted", &self.accepted())
            .field("refused", &self.refused())
            .finish()
    }
}
