//! [`ConfigError`]: a connection or server setting that cannot work.

use std::fmt;

use scope_core::BuildError;

/// A setting that cannot work, found when a connection is served or a server
/// built: a zero timeout or bound (zero is never "unbounded" here), or a
/// nursery that cannot be built (a zero task limit, no runtime).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
///
/// let (io, _peer) = tokio::io::duplex(64);
/// let err = scope_conn::ConnBuilder::new()
///     .send_timeout(Duration::ZERO)
///     .serve(io, |_conn, _io| async {})
///     .err()
///     .unwrap();
/// assert_eq!(err.to_string(), "send_timeout must be greater than zero");
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(Kind);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Zero(&'static str),
    Nursery(BuildError),
}

impl ConfigError {
    pub(crate) fn zero(setting: &'static str) -> Self {
        ConfigError(Kind::Zero(setting))
    }

    /// A timeout or bound was zero.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let err = scope_conn::Server::builder().max_connections(0)
    ///     .serve(listener, |_conn, _io| async {}).unwrap_err();
    /// assert!(err.is_zero());
    /// # }
    /// ```
    #[must_use]
    pub fn is_zero(&self) -> bool {
        matches!(self.0, Kind::Zero(_))
    }

    /// The nursery's settings could not be built (see [`BuildError`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let err = scope_conn::ConnBuilder::new()
    ///     .nursery(|b| b.max_running(0))
    ///     .serve(io, |_conn, _io| async {})
    ///     .err()
    ///     .unwrap();
    /// assert!(err.nursery().unwrap().is_zero_limit());
    /// # }
    /// ```
    #[must_use]
    pub fn nursery(&self) -> Option<&BuildError> {
        match &self.0 {
            Kind::Nursery(e) => Some(e),
            Kind::Zero(_) => None,
        }
    }
}

impl From<BuildError> for ConfigError {
    fn from(e: BuildError) -> Self {
        ConfigError(Kind::Nursery(e))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Zero(setting) => write!(f, "{setting} must be greater than zero"),
            Kind::Nursery(e) => write!(f, "a nursery could not be built: {e}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            Kind::Nursery(e) => Some(e),
            Kind::Zero(_) => None,
        }
    }
}
