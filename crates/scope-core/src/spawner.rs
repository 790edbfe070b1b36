//! [`Spawner`]: the handle on a nursery: spawning, the token, state
//! queries and waits.

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

/// A cloneable, `Send + Sync` handle on a [`Nursery`](crate::Nursery): it
/// spawns children, hands out the token, and reads and waits for the
/// nursery's state. The owner holds one too (a `Nursery` dereferences to its
/// `Spawner`), so every method here is also the owner's; escalation (close,
/// cancel, abort, shutdown) is the owner's alone.
///
/// Children are spawned with no `.await`: from the owner, from inside a
/// child, from synchronous code and from threads outside the runtime (the
/// nursery keeps the runtime handle it was created on). Each spawn returns
/// the child's [`AbortHandle`], as `JoinSet::spawn` does, or a
/// [`SpawnError`] that hands the future back unpolled.
///
/// A spawner does not keep the nursery open and creates no reference cycle:
/// once the owner closes, cancels or drops the nursery, its spawns are
/// refused.
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
    pub(crate) shared: Arc<Shared<T, E>>,
}

impl<T: Send + 'static, E: Send + 'static> Spawner<T, E> {
    pub(crate) fn from_shared(shared: Arc<Shared<T, E>>) -> Self {
        Spawner { shared }
    }

    /// Spawns a child and returns its [`AbortHandle`] (its task id, and a way
    /// to abort it alone). It runs at once, or, past the
    /// [running limit](crate::Builder::max_running), waits in its task for a
    /// slot.
    ///
    /// # Errors
    ///
    /// Hands the future back, unpolled, when the nursery is closing (to
    /// spawns from outside it), closed, cancelled, at its held limit, or its
    /// runtime has shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// let spawner = nursery.spawner();
    /// // From a thread outside the runtime.
    /// std::thread::spawn(move || spawner.spawn(async {}).unwrap()).join().unwrap();
    /// let stuck = nursery.spawn(std::future::pending::<()>()).unwrap();
    /// stuck.abort(); // this child alone
    /// let report = nursery.close().await;
    /// assert_eq!((report.stats().completed, report.stats().aborted), (1, 1));
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

    /// [`spawn`](Self::spawn) with a name: listed in
    /// [`snapshot`](Self::snapshot), in its failure and, with `tracing`, in
    /// its span.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// nursery.spawn_named("heartbeat", std::future::pending::<()>()).unwrap();
    /// assert_eq!(nursery.snapshot().children()[0].name(), Some("heartbeat"));
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

    /// [`spawn`](Self::spawn), only if the child can start now: past the
    /// running limit it is refused ([`SpawnError::is_full`]) instead of
    /// waiting for a slot.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn), plus a full running limit.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::builder().max_running(1).build().unwrap();
    /// nursery.try_spawn(std::future::pending::<()>()).unwrap();
    /// assert!(nursery.try_spawn(async {}).unwrap_err().is_full());
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
    /// the nursery: accounted for, reaped, limited, cancelled, aborted,
    /// joined and drained like any child. It runs only while its `LocalSet`
    /// is driven: a `close` waits for it there.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn).
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
    /// let local = tokio::task::LocalSet::new();
    /// let report = local
    ///     .run_until(async {
    ///         let shared = Rc::new(vec![1, 2, 3]); // not `Send`
    ///         nursery.spawn_local(async move { Ok(shared.len()) }).unwrap();
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

    /// Runs a blocking closure on tokio's blocking pool as a child, as
    /// `JoinSet::spawn_blocking` does. Once started it cannot be aborted: a
    /// `shutdown` reports it as still running.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn), handing the closure back.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut nursery: scope_core::Nursery<u64, std::io::Error> = scope_core::Nursery::new();
    /// nursery.spawn_blocking(|| Ok((1..=10u64).product())).unwrap();
    /// assert_eq!(nursery.join_next().await, Some(3_628_800));
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

    /// The nursery's cancellation token, for children to `select!` on.
    /// Cancelling it (directly, or a token it descends from) is cancelling
    /// the nursery: spawns are refused, children waiting for a running slot
    /// never start (they count as cancelled), and children that return from then on count as
    /// cancelled; it reaches every nested nursery.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// let token = nursery.token().clone();
    /// nursery.spawn(async move { token.cancelled().await }).unwrap();
    /// nursery.token().cancel();
    /// assert!(nursery.is_cancelled());
    /// assert!(nursery.spawn(async {}).unwrap_err().is_cancelled());
    /// assert_eq!(nursery.close().await.stats().cancelled, 1);
    /// # }
    /// ```
    #[must_use]
    pub fn token(&self) -> &CancellationToken {
        self.shared.token()
    }

    /// Polls for the nursery's cancel, whoever cancelled it: `Ready` once
    /// [`is_cancelled`](Self::is_cancelled) is true. For a task that drives
    /// the nursery from its own `poll` (a connection's driver, a custom
    /// future), at the cost of one waker slot and without making the
    /// nursery's token: like [`JoinSet::poll_join_next`], only the waker of
    /// the latest call is woken. Any number of tasks can wait on
    /// `token().cancelled()` instead.
    ///
    /// [`JoinSet::poll_join_next`]: tokio::task::JoinSet::poll_join_next
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// let spawner = nursery.spawner();
    /// let waiter = tokio::spawn(async move {
    ///     std::future::poll_fn(|cx| spawner.poll_cancelled(cx)).await
    /// });
    /// tokio::task::yield_now().await;
    /// nursery.cancel();
    /// waiter.await.unwrap();
    /// # }
    /// ```
    pub fn poll_cancelled(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        self.shared.poll_cancelled(cx)
    }

    /// Waits until the nursery has begun to close (`close`, `shutdown`,
    /// `detach` or the owner's drop); at once if it has. This is the
    /// graceful signal, "take no new work", for long-running children such
    /// as an accept loop or a connection's request loop, which finish what
    /// they hold and return; the [`token`](Self::token) is the forceful one.
    /// A cancel does not begin the close.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only stops waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use tokio::sync::mpsc;
    ///
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// let (requests, mut incoming) = mpsc::channel::<u32>(8);
    /// let spawner = nursery.spawner();
    /// // A request loop: serves until the close begins, then returns.
    /// nursery.spawn(async move {
    ///     loop {
    ///         tokio::select! {
    ///             _ = spawner.closing() => return,
    ///             Some(n) = incoming.recv() => {
    ///                 // Follow-up work is still accepted from inside while draining.
    ///                 spawner.spawn(async move { let _ = n * 2; }).unwrap();
    ///             }
    ///         }
    ///     }
    /// }).unwrap();
    /// requests.send(21).await.unwrap();
    /// tokio::task::yield_now().await;
    /// // Without `closing` this close would wait for the loop forever.
    /// assert_eq!(nursery.close().await.stats().completed, 2);
    /// nursery.closing().await; // resolves at once from now on
    /// # }
    /// ```
    pub async fn closing(&self) {
        self.shared.core.wait_closing().await;
    }

    /// Waits for the nursery to drain (someone else begins the close) and
    /// returns the final [`Report`]. From inside one of its children or its
    /// body, which the drain would wait for, it returns a report that is not
    /// [final](Report::is_final) at once.
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

    /// Waits until no child is live (running, waiting for a slot, or
    /// nested; a running [body](crate::Nursery::inside) does not count); at
    /// once if none is. It starts nothing: an open nursery may get more
    /// children after.
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
    /// nursery.spawn(tokio::task::yield_now()).unwrap();
    /// nursery.idle().await;
    /// assert_eq!(nursery.stats().live, 0);
    /// assert!(!nursery.is_closing());
    /// # }
    /// ```
    pub async fn idle(&self) {
        self.shared.idle().await;
    }

    /// A builder for a nursery nested in this one: its token is a child of
    /// this one's, this nursery counts it as one live child until it
    /// drains, and under [`FailFast`](crate::Policy::FailFast) its failure
    /// is one failure here, counted when it drains (its own policy decides
    /// what the failure does inside it until then). A join on this nursery
    /// waits for it to end too.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let parent: scope_core::Nursery = scope_core::Nursery::new();
    /// let child: scope_core::Nursery<u32> = parent.child_builder().name("conn-1").build().unwrap();
    /// assert_eq!(parent.stats().live, 1, "the nested nursery is one live child");
    /// parent.cancel();
    /// assert!(child.is_cancelled());
    /// child.close().await;
    /// assert_eq!(parent.close().await.stats().cancelled, 1);
    /// # }
    /// ```
    #[must_use]
    pub fn child_builder<T2: Send + 'static>(&self) -> Builder<T2, E> {
        Builder::new(Some(Arc::clone(&self.shared) as _))
    }

    /// The report as it stands now: the final one (what `close` returned)
    /// once the nursery has drained, otherwise one that is not
    /// [final](Report::is_final).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// let spawner = nursery.spawner();
    /// nursery.spawn(async {}).unwrap();
    /// assert!(!spawner.report().is_final());
    /// nursery.close().await;
    /// assert!(spawner.report().is_final());
    /// # }
    /// ```
    #[must_use]
    pub fn report(&self) -> Report<E> {
        self.shared.report_now()
    }

    /// The counters now; see [`Stats`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// nursery.spawn(std::future::pending::<()>()).unwrap();
    /// assert_eq!(nursery.stats().live, 1);
    /// # nursery.abort_all();
    /// # }
    /// ```
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.shared.core.stats()
    }

    /// The live children now, with names and ages; see [`Snapshot`] for which
    /// children are listed.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// nursery.spawn_named("watcher", std::future::pending::<()>()).unwrap();
    /// nursery.spawn(std::future::pending::<()>()).unwrap();
    /// let snap = nursery.snapshot();
    /// assert_eq!(snap.live(), 2);
    /// assert_eq!(snap.children()[0].name(), Some("watcher"));
    /// assert_eq!(snap.unlisted(), 1);
    /// # nursery.abort_all();
    /// # }
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        self.shared.snapshot()
    }

    /// The close has begun (`close`, `shutdown`, `detach` or the owner's
    /// drop): spawns from outside the nursery are refused.
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

    /// The last child (and body) ended after the close began: every spawn is
    /// refused. ([`closed`](Self::closed) waits for it.)
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// use std::time::Duration;
    /// let n: scope_core::Nursery = scope_core::Nursery::new();
    /// n.spawn(tokio::time::sleep(Duration::from_secs(5))).unwrap();
    /// // Start the close, but stop waiting after a second.
    /// assert!(tokio::time::timeout(Duration::from_secs(1), n.close()).await.is_err());
    /// assert!(n.is_closing() && !n.is_closed());
    /// n.close().await;
    /// assert!(n.is_closed());
    /// # }
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.shared.core.is_closed()
    }

    /// The nursery's token was cancelled, whoever cancelled it;
    /// [`cancel_reason`](Self::cancel_reason) says why.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// assert!(!nursery.is_cancelled());
    /// nursery.cancel();
    /// assert!(nursery.spawner().is_cancelled());
    /// # }
    /// ```
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.shared.core.is_cancelled()
    }

    /// Why the token was cancelled, now; `None` while it has not fired. The
    /// first reason is kept; see [`CancelReason`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use scope_core::{CancelReason, Nursery};
    ///
    /// let nursery: Nursery = Nursery::new();
    /// let spawner = nursery.spawner();
    /// assert_eq!(spawner.cancel_reason(), None);
    /// drop(nursery);
    /// assert_eq!(spawner.cancel_reason(), Some(CancelReason::Dropped));
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
            .field("closing", &self.is_closing())
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
