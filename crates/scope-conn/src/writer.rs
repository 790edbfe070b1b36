//! [`Writer`]: a cloneable handle that writes to a connection's transport.

use std::fmt;
use std::io;

use tokio::sync::mpsc;

/// A cloneable handle that queues bytes for a connection's transport, for
/// any number of tasks at once: the connection's driver writes them in queue
/// order and flushes when the queue runs dry. No task holds a lock on the
/// transport, let alone across an `.await`.
///
/// The queue is bounded ([`ConnBuilder::write_buffer`](crate::ConnBuilder::write_buffer)
/// buffers): `send` waits while it is full, so a slow peer slows its writers
/// down instead of growing memory. Tasks that are still running when a
/// [`Join`](crate::CloseMode::Join) close begins can still write; their bytes
/// are flushed before the transport shuts down. After the transport has shut
/// down (or a write to it failed), `send` fails with `BrokenPipe`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_conn::Conn;
/// use tokio::io::AsyncReadExt;
///
/// let (io, mut peer) = tokio::io::duplex(64);
/// let conn = Conn::new(io);
/// for i in 0..3 {
///     let writer = conn.writer();
///     conn.spawn(async move { writer.send(format!("{i}")).await.unwrap() }).unwrap();
/// }
/// conn.close().await; // waits for the tasks, then flushes and shuts down
/// let mut out = String::new();
/// peer.read_to_string(&mut out).await.unwrap();
/// assert_eq!(out.len(), 3);
/// # }
/// ```
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Vec<u8>>,
}

impl Writer {
    pub(crate) fn new(tx: mpsc::Sender<Vec<u8>>) -> Self {
        Writer { tx }
    }

    /// Queues `data` to be written, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// `BrokenPipe` once the transport is shut down or failed; the data was
    /// not queued.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped before it resolves, nothing was
    /// queued.
    ///
    /// # Examples
    ///
    /// See [`Writer`].
    pub async fn send(&self, data: impl Into<Vec<u8>>) -> io::Result<()> {
        self.tx
            .send(data.into())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the connection is closed"))
    }

    /// The transport no longer takes writes.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let conn = scope_conn::Conn::new(io);
    /// let writer = conn.writer();
    /// assert!(!writer.is_closed());
    /// conn.close().await;
    /// assert!(writer.is_closed());
    /// assert!(writer.send("late").await.is_err());
    /// # }
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("closed", &self.is_closed())
            .finish()
    }
}
