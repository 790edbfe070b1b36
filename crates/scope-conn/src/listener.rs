//! [`Listener`]: what a [`Server`](crate::Server) accepts connections from.

use std::future::Future;
use std::io;

use tokio::io::{AsyncRead, AsyncWrite};

/// A source of connections for a [`Server`](crate::Server): implemented for
/// tokio's `TcpListener` and (on Unix) `UnixListener`; implement it for
/// anything else that accepts streams (a TLS acceptor wrapping a listener,
/// say).
///
/// # Examples
///
/// ```
/// use scope_conn::Listener;
/// use tokio::net::{TcpListener, TcpStream};
///
/// /// Accepts TCP connections with Nagle's algorithm off.
/// struct NoDelay(TcpListener);
///
/// impl Listener for NoDelay {
///     type Io = TcpStream;
///     async fn accept(&mut self) -> std::io::Result<TcpStream> {
///         let (stream, _) = self.0.accept().await?;
///         stream.set_nodelay(true)?;
///         Ok(stream)
///     }
/// }
/// ```
pub trait Listener: Send + 'static {
    /// The transport of an accepted connection.
    type Io: AsyncRead + AsyncWrite + Send + Unpin + 'static;

    /// Waits for the next connection. The server calls it from one task at a
    /// time and drops the future when it stops accepting, so it should be
    /// cancel safe (tokio's `accept` methods are).
    fn accept(&mut self) -> impl Future<Output = io::Result<Self::Io>> + Send;
}

impl Listener for tokio::net::TcpListener {
    type Io = tokio::net::TcpStream;

    async fn accept(&mut self) -> io::Result<Self::Io> {
        tokio::net::TcpListener::accept(self)
            .await
            .map(|(stream, _)| stream)
    }
}

#[cfg(unix)]
impl Listener for tokio::net::UnixListener {
    type Io = tokio::net::UnixStream;

    async fn accept(&mut self) -> io::Result<Self::Io> {
        tokio::net::UnixListener::accept(self)
            .await
            .map(|(stream, _)| stream)
    }
}
