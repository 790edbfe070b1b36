//! [`Reader`]: the read half of a connection's transport.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf, ReadHalf};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::conn::shared::Activity;

/// The owned read half of a connection's transport, taken once with
/// [`Conn::take_reader`](crate::Conn::take_reader) and moved into whichever
/// task reads requests.
///
/// Once the connection's close begins, the reader reports end-of-stream:
/// the peer is outside work too, so no new request is read, while the work
/// already started runs to its end. A read loop therefore ends by itself
/// when the connection closes, and a peer that stalls mid-request cannot
/// hold a close open. Bytes it reads count as activity for the idle timeout.
///
/// # Incomplete requests
///
/// An end-of-stream caused by the close can fall in the middle of a request
/// (a peer that stalled, or was still sending). Frame requests so that an
/// incomplete one is recognisable and drop it: `BufReader::lines` hands a
/// final unterminated line back as if it were complete, so read with
/// `read_line` and check for the newline, as the crate's examples do.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_conn::Conn;
/// use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
///
/// let (io, mut peer) = tokio::io::duplex(64);
/// let mut conn = Conn::new(io);
/// let mut lines = BufReader::new(conn.take_reader().unwrap()).lines();
/// peer.write_all(b"hello\n").await.unwrap();
/// assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("hello"));
/// let closing = conn.spawner();
/// tokio::spawn(async move { closing.close().await });
/// // The close makes the reader report end-of-stream, though the peer is open.
/// assert_eq!(lines.next_line().await.unwrap(), None);
/// # conn.closed().await;
/// # }
/// ```
pub struct Reader<S> {
    io: ReadHalf<S>,
    token: CancellationToken,
    closing: Pin<Box<WaitForCancellationFutureOwned>>,
    closed: bool,
    activity: Arc<Activity>,
}

impl<S> Reader<S> {
    pub(crate) fn new(io: ReadHalf<S>, token: CancellationToken, activity: Arc<Activity>) -> Self {
        let closing = Box::pin(token.clone().cancelled_owned());
        Reader {
            io,
            token,
            closing,
            closed: false,
            activity,
        }
    }

    /// The connection's close has begun: reads report end-of-stream.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let mut conn = scope_conn::Conn::new(io);
    /// let reader = conn.take_reader().unwrap();
    /// assert!(!reader.is_closing());
    /// conn.close().await;
    /// assert!(reader.is_closing());
    /// # }
    /// ```
    #[must_use]
    pub fn is_closing(&self) -> bool {
        self.token.is_cancelled()
    }
}

impl<S: AsyncRead> AsyncRead for Reader<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.closed || this.closing.as_mut().poll(cx).is_ready() {
            this.closed = true;
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let res = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.touch();
        }
        res
    }
}

impl<S> fmt::Debug for Reader<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("closing", &self.is_closing())
            .finish_non_exhaustive()
    }
}
