//! [`Spawner`]: a cloneable handle that spawns into a nursery.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use crate::builder::Builder;
use crate::cancel_reason::CancelReason;
use crate::nursery::shared::Shared;
use crate::report::Report;
use crate::snapshot::Snapshot;
use crate::spawn_error::SpawnError;
use crate::stats::Stats;
use crate::{BoxError, ChildOutput};

/// A cloneable, `Send + Sync` handle that spawns into a [`Nursery`](crate::Nursery):
/// from inside its children, from synchronous code, and from threads outside
/// the runtime (the nursery keeps the runtime handle it was created on).
///
/// A spawner does not keep the nursery open and creates no reference cycle:
/// when the owner closes, cancels or drops the nursery, the spawner's spawns
/// are refused with the future handed back. It may also close the nursery
/// (from inside a child that starts the close without waiting for itself).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_core::Nursery;
///
/// let nursery: Nursery = Nursery::new();
/// let spawner = nursery.spawner();
/// nursery.spawn(async move {
///     // A request handler starting follow-up work in the same nursery.
///     spawner.spawn(async { /* write the audit log */ }).unwrap();
/// }).unwrap();
/// assert_eq!(nursery.close().await.stats().completed, 2);
/// # }
/// ```
pub struct Spawner<T = (), E = BoxError>
where
    T: Send + 'static,
    E: Send + 'static,
{
    shared: Arc<Shared<T, E>>,
}

impl<T: Send + 'static, E: Send + 'static> Spawner<T, E> {
    pub(crate) fn from_shared(shared: Arc<Shared<T, E>>) -> Self {
        Spawner { shared }
    }

    /// As [`Nursery::spawn`](crate::Nursery::spawn).
    ///
    /// # Errors
    ///
    /// As [`Nursery::spawn`](crate::Nursery::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// let spawner = nursery.spawner();
    /// // From a thread outside the runtime.
    /// std::thread::spawn(move || spawner.spawn(async {}).unwrap()).join().unwrap();
    /// assert_eq!(nursery.close().await.stats().completed, 1);
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, fut: F) -> Result<AbortHandle, SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: ChildOutput<T, E>,
    {
        self.shared.spawn(fut, None, false)
    }

    /// As [`Nursery::spawn_named`](crate::Nursery::spawn_named).
    ///
    /// # Errors
    ///
    /// As [`Nursery::spawn`](crate::Nursery::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// nursery.spawner().spawn_named("refresh", std::future::pending::<()>()).unwrap();
    /// assert_eq!(nursery.snapshot().children()[0].name(), Some("refresh"));
    /// # nursery.abort_all();
    /// # nursery.close().await;
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_named<F>(
        &self,
        name: impl Into<Arc<str>>,
        fut: F,
    ) -> Result<AbortHandle, SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: ChildOutput<T, E>,
    {
        self.shared.spawn(fut, Some(name.into()), false)
    }

    /// As [`Nursery::try_spawn`](crate::Nursery::try_spawn).
    ///
    /// # Errors
    ///
    /// As [`Nursery::try_spawn`](crate::Nursery::try_spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::builder().max_running(1).build().unwrap();
    /// let spawner = nursery.spawner();
    /// spawner.try_spawn(std::future::pending::<()>()).unwrap();
    /// assert!(spawner.try_spawn(async {}).unwrap_err().is_full());
    /// # nursery.abort_all();
    /// # nursery.close().await;
    /// # }
    /// ```
    #[track_caller]
    pub fn try_spawn<F>(&self, fut: F) -> Result<AbortHandle, SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: ChildOutput<T, E>,
    {
        self.shared.spawn(fut, None, true)
    }

    /// Spawns a child that is not `Send` on the current `LocalSet` (or
    /// `LocalRuntime`), as `JoinSet::spawn_local` does, under every rule of
    /// the nursery: accounted for, reaped, limited, cancelled, aborted and
    /// drained like any child. It runs only while its `LocalSet` is driven:
    /// a `close` waits for it there.
    ///
    /// # Errors
    ///
    /// As [`Nursery::spawn`](crate::Nursery::spawn).
    ///
    /// # Panics
    ///
    /// Outside a `LocalSet` or `LocalRuntime`, as `JoinSet::spawn_local`
    /// does (the nursery counts the attempt as refused).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::rc::Rc;
    ///
    /// let nursery: scope_core::Nursery<usize, std::io::Error> = scope_core::Nursery::new();
    /// let spawner = nursery.spawner();
    /// let local = tokio::task::LocalSet::new();
    /// let report = local
    ///     .run_until(async move {
    ///         let shared = Rc::new(vec![1, 2, 3]); // not `Send`
    ///         spawner.spawn_local(async move { Ok(shared.len()) }).unwrap();
    ///         nursery.close().await
    ///     })
    ///     .await;
    /// assert_eq!(report.stats().completed, 1);
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(&self, fut: F) -> Result<AbortHandle, SpawnError<F>>
    where
        F: Future + 'static,
        F::Output: ChildOutput<T, E>,
    {
        self.shared.spawn_local(fut)
    }

    /// As [`Nursery::spawn_blocking`](crate::Nursery::spawn_blocking).
    ///
    /// # Errors
    ///
    /// As [`Nursery::spawn`](crate::Nursery::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut nursery: scope_core::Nursery<usize, std::io::Error> = scope_core::Nursery::new();
    /// nursery.spawner().spawn_blocking(|| Ok("a blocking read".len())).unwrap();
    /// assert_eq!(nursery.join_next().await, Some(15));
    /// # nursery.close().await;
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_blocking<Fn, O>(&self, f: Fn) -> Result<AbortHandle, SpawnError<Fn>>
    where
        Fn: FnOnce() -> O + Send + 'static,
        O: ChildOutput<T, E>,
    {
        self.shared.spawn_blocking(f, None)
    }

    /// The nursery's cancellation token; see
    /// [`Nursery::token`](crate::Nursery::token).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// assert!(!nursery.spawner().token().is_cancelled());
    /// # }
    /// ```
    #[must_use]
    pub fn token(&self) -> &CancellationToken {
        self.shared.token()
    }

    /// As [`Nursery::cancel`](crate::Nursery::cancel).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// nursery.spawner().cancel();
    /// assert!(nursery.is_cancelled());
    /// # }
    /// ```
    pub fn cancel(&self) {
        self.shared.cancel(CancelReason::Requested);
    }

    /// As [`Nursery::close`](crate::Nursery::close); from inside one of the
    /// nursery's children it starts the close and returns at once.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// let spawner = nursery.spawner();
    /// nursery.spawn(async move {
    ///     let report = spawner.close().await; // returns: does not wait for itself
    ///     assert!(!report.is_final());
    /// }).unwrap();
    /// assert!(nursery.closed().await.is_final());
    /// # }
    /// ```
    pub async fn close(&self) -> Report<E> {
        crate::nursery::close(&self.shared).await
    }

    /// As [`Nursery::closed`](crate::Nursery::closed).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// let spawner = nursery.spawner();
    /// let waiter = tokio::spawn(async move { spawner.closed().await.is_final() });
    /// nursery.close().await;
    /// assert!(waiter.await.unwrap());
    /// # }
    /// ```
    pub async fn closed(&self) -> Report<E> {
        self.shared.closed().await
    }

    /// As [`Nursery::closing`](crate::Nursery::closing): resolves once the
    /// nursery has begun to close, also when the owner was dropped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// let spawner = nursery.spawner();
    /// let waiter = tokio::spawn(async move { spawner.closing().await });
    /// drop(nursery); // a drop begins the close too
    /// waiter.await.unwrap();
    /// # }
    /// ```
    pub async fn closing(&self) {
        self.shared.core.wait_closing().await;
    }

    /// A builder for a nursery nested in this one; see
    /// [`Nursery::child_builder`](crate::Nursery::child_builder).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// let nested: scope_core::Nursery = nursery.spawner().child_builder().build().unwrap();
    /// assert_eq!(nursery.stats().live, 1, "the nested nursery is one live child");
    /// nested.close().await;
    /// assert_eq!(nursery.close().await.stats().completed, 1);
    /// # }
    /// ```
    #[must_use]
    pub fn child_builder<T2: Send + 'static>(&self) -> Builder<T2, E> {
        Builder::new(Some(Arc::clone(&self.shared) as _))
    }

    /// The report as it stands now; see [`Nursery::report`](crate::Nursery::report).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// let spawner = nursery.spawner();
    /// nursery.close().await;
    /// assert!(spawner.report().is_final());
    /// # }
    /// ```
    #[must_use]
    pub fn report(&self) -> Report<E> {
        self.shared.report_now()
    }

    /// As [`Nursery::stats`](crate::Nursery::stats).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// assert_eq!(nursery.spawner().stats().live, 0);
    /// # }
    /// ```
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.shared.core.stats()
    }

    /// As [`Nursery::snapshot`](crate::Nursery::snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// assert!(nursery.spawner().snapshot().children().is_empty());
    /// # }
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        self.shared.snapshot()
    }

    /// As [`Nursery::is_closing`](crate::Nursery::is_closing).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// let spawner = nursery.spawner();
    /// drop(nursery);
    /// assert!(spawner.is_closing());
    /// # }
    /// ```
    #[must_use]
    pub fn is_closing(&self) -> bool {
        self.shared.core.is_closing()
    }

    /// As [`Nursery::is_cancelled`](crate::Nursery::is_cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// assert!(!nursery.spawner().is_cancelled());
    /// # }
    /// ```
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.shared.core.is_cancelled()
    }

    /// As [`Nursery::cancel_reason`](crate::Nursery::cancel_reason).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// let spawner = nursery.spawner();
    /// assert_eq!(spawner.cancel_reason(), None);
    /// drop(nursery);
    /// assert_eq!(spawner.cancel_reason(), Some(scope_core::CancelReason::Dropped));
    /// # }
    /// ```
    #[must_use]
    pub fn cancel_reason(&self) -> Option<CancelReason> {
        self.shared.cancel_reason()
    }
}

impl<T: Send + 'static, E: Send + 'static> Clone for Spawner<T, E> {
    fn clone(&self) -> Self {
        Spawner {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> fmt::Debug for Spawner<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawner")
            .field("name", &self.shared.name())
            .field("stats", &self.stats())
            .finish()
    }
}
