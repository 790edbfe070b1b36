//! [`Io`]: a connection's transport, handed to the protocol whole.

mod stall;

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf};

use crate::writer::{Pump, Writer};

/// What the transport tells its connection. Implemented by the connection's
/// shared state; a trait object so that `Io` does not carry the connection's
/// error type.
pub(crate) trait Link: Send + Sync + 'static {
    /// Bytes moved: the idle clock restarts.
    fn touch(&self);
    /// Reading or writing failed; `timed_out`: a write made no progress for
    /// the send timeout.
    fn transport_failed(&self, err: &io::Error, timed_out: bool);
    /// Resolves once the connection begins to close.
    fn closing(&self) -> Pin<Box<dyn Future<Output = ()> + Send>>;
    /// Hands the queued writer's pump to the connection's driver.
    fn install_pump(&self, pump: Pump);
    /// The queued writer's bound, in bytes.
    fn write_queue_bytes(&self) -> usize;
    /// How long a write may make no progress.
    fn send_timeout(&self) -> std::time::Duration;
    /// The connection is over: whoever still holds the transport (a
    /// protocol library's own task, say) must let go.
    fn killed(&self) -> bool;
    /// Wakes `waker` when the connection is killed.
    fn park_reader(&self, waker: &std::task::Waker);
}

/// A connection's transport, handed to the protocol as one
/// `AsyncRead + AsyncWrite` object: hyper, russh, tonic and tokio-util codecs
/// run on it as on the bare stream. Reads and writes go straight to the
/// transport (no copy, no channel, no task); around them it keeps three
/// promises for its connection:
///
/// - **Send timeout.** A write, flush or shutdown that makes no progress for
///   the connection's send timeout fails with `TimedOut`, and so does every
///   write after it (through this object, the [`Writer`], or the protocol
///   built on it): a peer that stops reading cannot hold the connection, its
///   close, or a server shutdown.
/// - **Idle clock.** With an idle timeout, every read or write that moves
///   bytes restarts the connection's idle clock.
/// - **Failures are the connection's.** A transport error (a reset, say)
///   starts the connection's close, with the error in its report.
///
/// Reads go on while the connection closes, so a multiplexed protocol (SSH,
/// HTTP/2) keeps hearing acknowledgements, window updates and channel closes
/// while its work drains. Simple request/response protocols may opt in to
/// end-of-stream once the close begins ([`end_reads_on_close`](Self::end_reads_on_close)).
///
/// Once the connection's close has run to its end, every read and write
/// fails with `ConnectionAborted`: a protocol library that keeps the
/// transport in a task of its own (russh does) lets go of it then, instead
/// of holding the socket open with nobody owning it.
///
/// # Examples
///
/// A protocol reading and writing the transport itself:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_conn::ConnBuilder;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let (io, mut peer) = tokio::io::duplex(64);
/// let conn = ConnBuilder::new().serve(io, |_conn, mut io| async move {
///     let mut buf = [0; 4];
///     io.read_exact(&mut buf).await.unwrap();
///     io.write_all(b"pong").await.unwrap();
///     io.shutdown().await.unwrap();
/// }).unwrap();
/// let conn = tokio::spawn(conn);
/// peer.write_all(b"ping").await.unwrap();
/// let mut answer = String::new();
/// peer.read_to_string(&mut answer).await.unwrap();
/// assert_eq!(answer, "pong");
/// assert!(conn.await.unwrap().is_final());
/// # }
/// ```
pub struct Io<S> {
    inner: S,
    link: Arc<dyn Link>,
    /// The send timeout's clock (`stall.rs`): made the first time a write
    /// blocks.
    stall_timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The clock runs for the current stall (it may be left over from an
    /// earlier one otherwise).
    stall_armed: bool,
    /// While reads end at the close: end-of-stream once it resolves.
    end_reads: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// Set once a write timed out: every later write fails the same way.
    dead: bool,
    /// The connection has an idle timeout: stamp activity.
    touch: bool,
    /// Reads ended at the close: end-of-stream from now on.
    reads_ended: bool,
}

impl<S> Io<S> {
    pub(crate) fn new(inner: S, link: Arc<dyn Link>, touch: bool) -> Self {
        Io {
            inner,
            link,
            stall_timer: None,
            stall_armed: false,
            end_reads: None,
            dead: false,
            touch,
            reads_ended: false,
        }
    }

    /// The transport.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// scope_conn::ConnBuilder::new().serve(io, |_conn, io| async move {
    ///     let _duplex: &tokio::io::DuplexStream = io.get_ref();
    /// }).unwrap().await;
    /// # }
    /// ```
    #[must_use]
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The transport, mutably (to set socket options, say). Reading or
    /// writing through it bypasses the send timeout and the idle clock.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let client = tokio::net::TcpStream::connect(listener.local_addr()?).await?;
    /// let (stream, _) = listener.accept().await?;
    /// scope_conn::ConnBuilder::new().serve(stream, |_conn, mut io| async move {
    ///     io.get_mut().set_nodelay(true).unwrap();
    /// }).unwrap().await;
    /// # drop(client); Ok(()) }
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// From now on, reads return end-of-stream once the connection begins to
    /// close, even while the peer is still sending: right for a simple
    /// request/response protocol whose request loop should end with the
    /// connection, wrong for a multiplexed one (its in-flight streams still
    /// need to read). A request cut short by the close ends in the middle;
    /// a framing that cannot tell (a last line without its newline) should
    /// watch [`Conn::closing`](crate::Conn::closing) instead.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use tokio::io::AsyncReadExt;
    ///
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let report = scope_conn::ConnBuilder::new().serve(io, |conn, mut io| async move {
    ///     io.end_reads_on_close();
    ///     conn.close_with(scope_conn::CloseMode::Join); // from the session: begins the close
    ///     let mut buf = Vec::new();
    ///     // The peer is still open, yet the read ends.
    ///     assert_eq!(io.read_to_end(&mut buf).await.unwrap(), 0);
    /// }).unwrap().await;
    /// assert_eq!(report.reason(), scope_conn::CloseReason::Requested);
    /// # }
    /// ```
    pub fn end_reads_on_close(&mut self) {
        if self.end_reads.is_none() && !self.reads_ended {
            self.end_reads = Some(self.link.closing());
        }
    }

    fn aborted() -> io::Error {
        io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "the connection has closed",
        )
    }

    fn timed_out(&mut self) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            "send timeout: the peer took no data for the whole timeout",
        )
    }

    /// Why writes fail at once, if they do.
    fn refused(&mut self) -> Option<io::Error> {
        if self.link.killed() {
            Some(Self::aborted())
        } else if self.dead {
            Some(self.timed_out())
        } else {
            None
        }
    }

    /// A write-side poll returned `Pending`: has the stall lasted too long?
    fn poll_stall<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self.stall_expired(cx) {
            Poll::Ready(()) => {
                self.dead = true;
                let err = self.timed_out();
                self.link.transport_failed(&err, true);
                Poll::Ready(Err(err))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Accounts for one write-side poll's result.
    fn wrote<T>(
        &mut self,
        cx: &mut Context<'_>,
        res: Poll<io::Result<T>>,
        moved: bool,
    ) -> Poll<io::Result<T>> {
        match res {
            Poll::Ready(Ok(v)) => {
                self.stall_progress();
                if self.touch && moved {
                    self.link.touch();
                }
                Poll::Ready(Ok(v))
            }
            Poll::Ready(Err(e)) => {
                self.link.transport_failed(&e, false);
                Poll::Ready(Err(e))
            }
            Poll::Pending => self.poll_stall(cx),
        }
    }
}

impl<S> Io<S>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    /// Splits the transport for concurrent writers: the read half for the
    /// request loop, and a [`Writer`] whose queue the connection drains into
    /// the write half (bounded in bytes, flushed and shut down by the close,
    /// after the connection's tasks have drained). Equivalent to
    /// `tokio::io::split` plus a queue that no task holds a lock across.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use tokio::io::AsyncReadExt;
    ///
    /// let (io, mut peer) = tokio::io::duplex(64);
    /// let report = scope_conn::ConnBuilder::new().serve(io, |conn, io| async move {
    ///     let (_reader, writer) = io.split();
    ///     for i in 0..3 {
    ///         let writer = writer.clone();
    ///         conn.spawner().spawn(async move { writer.send(format!("{i}\n")).await.unwrap() }).unwrap();
    ///     }
    /// }).unwrap().await;
    /// assert_eq!(report.tasks().stats().completed, 3);
    /// let mut out = String::new();
    /// peer.read_to_string(&mut out).await.unwrap();
    /// assert_eq!(out.lines().count(), 3);
    /// # }
    /// ```
    #[must_use]
    pub fn split(self) -> (ReadHalf<Io<S>>, Writer) {
        let link = Arc::clone(&self.link);
        let (read, write) = tokio::io::split(self);
        let (writer, pump) = Writer::new(link.write_queue_bytes(), Box::pin(write));
        link.install_pump(pump);
        (read, writer)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Io<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.link.killed() {
            return Poll::Ready(Err(Self::aborted()));
        }
        if this.reads_ended {
            return Poll::Ready(Ok(()));
        }
        if let Some(closing) = &mut this.end_reads {
            if closing.as_mut().poll(cx).is_ready() {
                this.end_reads = None;
                this.reads_ended = true;
                return Poll::Ready(Ok(()));
            }
        }
        let before = buf.filled().len();
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        match &res {
            Poll::Ready(Ok(())) if this.touch && buf.filled().len() > before => this.link.touch(),
            Poll::Ready(Err(e)) => this.link.transport_failed(e, false),
            Poll::Ready(Ok(())) => {}
            Poll::Pending => {
                // Registered before the second look, so a kill in between
                // is not missed.
                this.link.park_reader(cx.waker());
                if this.link.killed() {
                    return Poll::Ready(Err(Self::aborted()));
                }
            }
        }
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Io<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(err) = this.refused() {
            return Poll::Ready(Err(err));
        }
        let res = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wrote(cx, res, !buf.is_empty())
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(err) = this.refused() {
            return Poll::Ready(Err(err));
        }
        let res = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(cx, res, bufs.iter().any(|b| !b.is_empty()))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(err) = this.refused() {
            return Poll::Ready(Err(err));
        }
        let res = Pin::new(&mut this.inner).poll_flush(cx);
        this.wrote(cx, res, false)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(err) = this.refused() {
            return Poll::Ready(Err(err));
        }
        let res = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.wrote(cx, res, false)
    }
}

impl<S: fmt::Debug> fmt::Debug for Io<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Io")
            .field("inner", &self.inner)
            .field("timed_out", &self.dead)
            .finish_non_exhaustive()
    }
}
