//! [`Addr`]: one end of a connection.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

/// One end of a connection: a TCP socket address or a Unix socket address.
/// Every connection a [`Server`](crate::Server) makes knows both of its ends
/// ([`Conn::peer`](crate::Conn::peer), [`Conn::local`](crate::Conn::local)).
///
/// # Examples
///
/// ```
/// use scope_conn::Addr;
///
/// let addr = Addr::from("127.0.0.1:8080".parse::<std::net::SocketAddr>().unwrap());
/// assert_eq!(addr.ip(), Some("127.0.0.1".parse().unwrap()));
/// assert_eq!(addr.to_string(), "127.0.0.1:8080");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Addr {
    /// A TCP (or other IP) socket address.
    Inet(SocketAddr),
    /// A Unix socket: its path, or `None` for an unnamed socket (the usual
    /// peer of a Unix listener).
    Unix(Option<Arc<std::path::Path>>),
}

impl Addr {
    /// The IP address, for a TCP end.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(scope_conn::Addr::Unix(None).ip(), None);
    /// ```
    #[must_use]
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        match self {
            Addr::Inet(a) => Some(a.ip()),
            Addr::Unix(_) => None,
        }
    }
}

impl From<SocketAddr> for Addr {
    fn from(addr: SocketAddr) -> Self {
        Addr::Inet(addr)
    }
}

#[cfg(unix)]
impl From<tokio::net::unix::SocketAddr> for Addr {
    fn from(addr: tokio::net::unix::SocketAddr) -> Self {
        Addr::Unix(addr.as_pathname().map(Arc::from))
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Inet(a) => a.fmt(f),
            Addr::Unix(Some(path)) => path.display().fmt(f),
            Addr::Unix(None) => f.write_str("(unnamed unix socket)"),
        }
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
