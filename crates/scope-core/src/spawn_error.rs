//! [`SpawnError`]: a refused spawn, handing the future back.

use std::fmt;

/// A spawn the nursery refused. The future (or closure) was not polled and is
/// handed back by [`SpawnError::into_inner`], like
/// `tokio::sync::mpsc::error::SendError` hands back the value.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_core::Nursery;
///
/// let nursery: Nursery<u32, std::io::Error> = Nursery::new();
/// nursery.cancel();
/// let err = nursery.spawn(async { Ok(7) }).unwrap_err();
/// assert!(err.is_cancelled());
/// // The future comes back unpolled and can still be run elsewhere.
/// assert_eq!(err.into_inner().await.unwrap(), 7);
/// # }
/// ```
pub struct SpawnError<F> {
    kind: Kind,
    inner: F,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Closed,
    Cancelled,
    Full,
    RuntimeShutdown,
    /// `spawn_local` outside a `LocalSet`: never handed to the caller, who
    /// gets the panic instead.
    NotLocal,
}

impl<F> SpawnError<F> {
    pub(crate) fn new(kind: Kind, inner: F) -> Self {
        SpawnError { kind, inner }
    }

    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    /// The nursery is closing (to spawns from outside it) or closed (to all).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// nursery.close().await;
    /// let err = nursery.spawn(async {}).unwrap_err();
    /// assert!(err.is_closed() && !err.is_cancelled());
    /// # }
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.kind == Kind::Closed
    }

    /// The nursery's token was cancelled (`cancel`, fail-fast, `shutdown`,
    /// a parent's cancellation, or `cancel()` on the token itself), and the
    /// nursery has not finished closing. A cancelled nursery refuses every
    /// spawn, from inside it too. A dropped owner cancels its nursery, so
    /// spawns are refused as cancelled while its children end, and as
    /// [closed](Self::is_closed) once none is left.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery<(), &str> = scope_core::Nursery::new();
    /// nursery.spawn(async { Err("bad") }).unwrap();
    /// tokio::task::yield_now().await; // the failure cancels the nursery (fail-fast)
    /// assert!(nursery.spawn(async { Ok(()) }).unwrap_err().is_cancelled());
    /// # nursery.close().await;
    /// # }
    /// ```
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.kind == Kind::Cancelled
    }

    /// A limit was reached: the held-children bound, or, for `try_spawn`, the
    /// running bound.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::builder().max_held(1).build().unwrap();
    /// nursery.spawn(std::future::pending::<()>()).unwrap();
    /// assert!(nursery.spawn(async {}).unwrap_err().is_full());
    /// # nursery.abort_all();
    /// # }
    /// ```
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.kind == Kind::Full
    }

    /// The runtime the nursery spawns on has shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let nursery: scope_core::Nursery = scope_core::Nursery::builder()
    ///     .handle(rt.handle().clone())
    ///     .build()
    ///     .unwrap();
    /// drop(rt);
    /// assert!(nursery.spawn(async {}).unwrap_err().is_runtime_shutdown());
    /// ```
    #[must_use]
    pub fn is_runtime_shutdown(&self) -> bool {
        self.kind == Kind::RuntimeShutdown
    }

    /// Returns the refused future (or closure), never polled (or called).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery<u32, std::io::Error> = scope_core::Nursery::new();
    /// nursery.close().await;
    /// let err = nursery.spawn_blocking(|| Ok(6 * 7)).unwrap_err();
    /// let work = err.into_inner(); // the closure, to run elsewhere
    /// assert_eq!(work().unwrap(), 42);
    /// # }
    /// ```
    pub fn into_inner(self) -> F {
        self.inner
    }

    fn reason(&self) -> &'static str {
        match self.kind {
            Kind::Closed => "the nursery is closing or closed",
            Kind::Cancelled => "the nursery is cancelled",
            Kind::Full => "the nursery is at its child limit",
            Kind::RuntimeShutdown => "the nursery's runtime has shut down",
            Kind::NotLocal => "spawn_local was called outside a LocalSet",
        }
    }
}

impl<F> fmt::Debug for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnError")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Display for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "spawn refused: {}", self.reason())
    }
}

impl<F> std::error::Error for SpawnError<F> {}
