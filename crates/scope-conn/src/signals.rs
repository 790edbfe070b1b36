//! [`Signals`]: the signals operators send to end a server.

use std::fmt;
use std::io;

/// SIGINT (Ctrl-C) and SIGTERM (systemd, docker, Kubernetes) as one stream;
/// off Unix, Ctrl-C alone. With the `signal` feature.
///
/// From [`new`](Self::new) on, these signals no longer end the process: the
/// program decides. The usual shape: drain on the first, abort what is left
/// on a second ([`Server::shutdown`](crate::Server::shutdown) is cancel safe,
/// and a zero grace ends everything at once).
///
/// # Examples
///
/// ```no_run
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// use scope_conn::{Server, Signals};
/// use std::time::Duration;
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// let server = Server::builder().serve(listener, |_conn, _io| async {}).unwrap();
/// let grace = Duration::from_secs(5);
/// let mut signals = Signals::new()?;
/// let first = signals.recv().await;
/// eprintln!("{first}: shutting down within {grace:?}; send it again to abort at once");
/// let report = tokio::select! {
///     report = server.shutdown(grace) => report,
///     second = signals.recv() => {
///         eprintln!("{second}: aborting what is left");
///         server.shutdown(Duration::ZERO).await
///     }
/// };
/// println!("{} connections; tasks: {:?}", report.connections(), report.tasks());
/// # Ok(()) }
/// ```
pub struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

/// One of the signals [`Signals`] hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signal {
    /// SIGINT, or Ctrl-C.
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl Signals {
    /// Starts listening.
    ///
    /// # Errors
    ///
    /// The handlers could not be installed (no runtime, say).
    ///
    /// # Examples
    ///
    /// See [`Signals`].
    pub fn new() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Waits for the next signal.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a signal that arrives meanwhile is kept for the next
    /// call.
    ///
    /// # Examples
    ///
    /// See [`Signals`].
    pub async fn recv(&mut self) -> Signal {
        #[cfg(unix)]
        {
            tokio::select! {
                Some(()) = self.interrupt.recv() => Signal::Interrupt,
                Some(()) = self.terminate.recv() => Signal::Terminate,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Signal::Interrupt
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        })
    }
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals").finish_non_exhaustive()
    }
}
