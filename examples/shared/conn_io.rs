//! [`ConnIo`]: a `Conn`'s transport as one `AsyncRead + AsyncWrite`, for a
//! protocol library that wants to own one IO object (hyper, russh). Shared by
//! the HTTP and SSH examples through `#[path]`; if a third protocol wants it,
//! it belongs in scope-conn.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use scope_conn::{Reader, Writer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

type Sending = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

/// hyper wants to own one IO object; a [`Conn`](scope_conn::Conn) hands its
/// transport out as an owned [`Reader`] and a cloneable [`Writer`] (a queue
/// its driver drains). This joins the two back together, so hyper runs as an
/// ordinary task of the connection and the `Conn` keeps what it promises:
/// its close drains the tasks, then flushes and shuts the transport down.
///
/// The alternative, handing hyper the raw `TcpStream` and keeping a bare
/// nursery beside it, would lose that ordering: hyper would shut the socket
/// while jobs the connection started still run, and the server's report
/// would no longer count connections and their tasks together.
pub(crate) struct ConnIo<S> {
    reader: Reader<S>,
    writer: Writer,
    /// At most one buffer accepted from hyper and not yet queued: a write
    /// returns as soon as its bytes are copied, and the next write or flush
    /// waits for them to reach the queue (the bound the queue's size sets).
    sending: Option<Sending>,
}

impl<S> ConnIo<S> {
    pub(crate) fn new(reader: Reader<S>, writer: Writer) -> Self {
        ConnIo {
            reader,
            writer,
            sending: None,
        }
    }

    fn poll_sending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(sending) = &mut self.sending {
            let res = ready!(sending.as_mut().poll(cx));
            self.sending = None;
            res?;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead> AsyncRead for ConnIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // End-of-stream once the connection's close begins: hyper then ends
        // the connection like a peer that went away (see `HttpServer`).
        Pin::new(&mut self.reader).poll_read(cx, buf)
    }
}

impl<S> AsyncWrite for ConnIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_sending(cx))?;
        let (writer, data) = (self.writer.clone(), buf.to_vec());
        // One boxed future per write hyper makes (hyper coalesces a response
        // into few writes): the `Writer`'s queue is only reachable through
        // its async `send`.
        let mut sending: Sending = Box::pin(async move { writer.send(data).await });
        match sending.as_mut().poll(cx) {
            Poll::Ready(res) => res?,
            Poll::Pending => self.sending = Some(sending),
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Queued is as far as a task can push: the driver flushes the
        // transport whenever its queue runs dry.
        self.poll_sending(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Deliberately not a transport shutdown: hyper is done with the
        // connection, but the connection is not done until its jobs are;
        // the `Conn`'s close shuts the socket after them. Every response
        // here has a length, so no client waits for that FIN to end a body.
        self.poll_sending(cx)
    }
}

impl<S> fmt::Debug for ConnIo<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnIo")
            .field("reader", &self.reader)
            .field("writer", &self.writer)
            .field("sending", &self.sending.is_some())
            .finish()
    }
}
