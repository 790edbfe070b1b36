//! [`Listener`]: what a [`Server`](crate::Server) accepts connections from.

use std::future::Future;
use std::io;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::addr::Addr;

/// A source of connections for a [`Server`](crate::Server): implemented for
/// tokio's `TcpListener` and `UnixListener`; implement it for anything else
/// that accepts byte streams (a TLS acceptor wrapping a TCP listener, say).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// use scope_conn::Listener;
///
/// let mut listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let addr = listener.local_addr()?;
/// let client = tokio::spawn(tokio::net::TcpStream::connect(addr));
/// let accepted = Listener::accept(&mut listener).await?;
/// assert_eq!(accepted.local.to_string(), addr.to_string());
/// assert_eq!(accepted.peer.to_string(), client.await.unwrap()?.local_addr()?.to_string());
/// # Ok(()) }
/// ```
pub trait Listener: Send + 'static {
    /// The connection's transport.
    type Io: AsyncRead + AsyncWrite + Send + Unpin + 'static;

    /// Waits for the next connection.
    ///
    /// # Errors
    ///
    /// As the underlying `accept`. The server retries after errors that
    /// concern one connection (reset, aborted) and backs off after others
    /// (out of file descriptors, say).
    fn accept(&mut self) -> impl Future<Output = io::Result<Accepted<Self::Io>>> + Send;

    /// Turns away a connection that was accepted while the server was
    /// closing, so the peer sees a refusal rather than an empty reply. The
    /// default drops it; TCP resets it.
    fn refuse(io: Self::Io) {
        drop(io);
    }
}

/// A connection a [`Listener`] accepted, with both of its ends.
#[derive(Debug)]
#[non_exhaustive]
pub struct Accepted<Io> {
    /// The transport.
    pub io: Io,
    /// The other end.
    pub peer: Addr,
    /// This end.
    pub local: Addr,
}

impl<Io> Accepted<Io> {
    /// An accepted connection.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_conn::{Accepted, Addr};
    /// let a = Accepted::new((), Addr::Unix(None), Addr::Unix(None));
    /// assert_eq!(a.peer, Addr::Unix(None));
    /// ```
    pub fn new(io: Io, peer: Addr, local: Addr) -> Self {
        Accepted { io, peer, local }
    }
}

impl Listener for tokio::net::TcpListener {
    type Io = tokio::net::TcpStream;

    async fn accept(&mut self) -> io::Result<Accepted<Self::Io>> {
        let (io, peer) = tokio::net::TcpListener::accept(self).await?;
        // The listener may be bound to a wildcard address: ask the socket.
        let local = io.local_addr()?;
        Ok(Accepted::new(io, peer.into(), local.into()))
    }

    fn refuse(io: Self::Io) {
        // A reset, not a FIN: the peer must not mistake it for an answer.
        let _ = io.set_zero_linger();
    }
}

#[cfg(unix)]
impl Listener for tokio::net::UnixListener {
    type Io = tokio::net::UnixStream;

    async fn accept(&mut self) -> io::Result<Accepted<Self::Io>> {
        let (io, peer) = tokio::net::UnixListener::accept(self).await?;
        let local = io.local_addr()?;
        Ok(Accepted::new(io, peer.into(), local.into()))
    }
}
