//! [`Nursery`]: the owner of a set of tasks.

pub(crate) mod child;
pub(crate) mod limit;
pub(crate) mod outcomes;
pub(crate) mod registry;
pub(crate) mod shared;
pub(crate) mod state;
pub(crate) mod token;
pub(crate) mod tree;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use tokio::task::{AbortHandle, Id};
use tokio_util::sync::CancellationToken;

use self::shared::Shared;
use crate::builder::Builder;
use crate::cancel_reason::CancelReason;
use crate::report::Report;
use crate::snapshot::Snapshot;
use crate::spawn_error::SpawnError;
use crate::spawner::Spawner;
use crate::stats::Stats;
use crate::{BoxError, ChildEnd, ChildOutput, context};

/// The owner of a set of tasks: every task it accepts is held (through a
/// tokio [`JoinSet`](tokio::task::JoinSet)) until it has finished and been
/// reaped, and the owner decides how they end.
///
/// Children are spawned with no `.await`, from the owner, from a cloneable
/// [`Spawner`], from inside a child, from synchronous code and from threads
/// outside the runtime. A child may return `()` or `Result<T, E>`; an `Err`
/// or a panic is a failure, handled by the nursery's [`Policy`](crate::Policy).
///
/// # Guarantees
///
/// - **Nothing is lost.** A spawn either returns `Ok` (the child will run and
///   be accounted for, exactly once, as completed, failed, cancelled or
///   aborted) or a [`SpawnError`] that hands the unpolled future back.
/// - **Reaped as they finish.** Every 32nd child to end (counted per kind of
///   end) removes the tasks that finished before it, without anyone joining:
///   at most a few dozen finished tasks wait to be freed, and memory follows
///   live children, not children ever spawned. Outputs (when `T` is not `()`) are
///   kept for [`join_next`](Self::join_next), at the cost of the output alone.
/// - **`close` is a drain.** It refuses spawns from outside, cancels nothing,
///   and returns when every child has ended, including children that children
///   spawned while it waited; no task of the nursery is left in the runtime.
///   Repeated and concurrent closes see one [`Report`].
/// - **Close from inside never deadlocks.** A `close` (or `shutdown`) called
///   from one of the nursery's own children, or a descendant's, starts the
///   close and returns at once with a non-final report.
///
/// # Drop
///
/// Dropping the owner without [`close`](Self::close),
/// [`shutdown`](Self::shutdown) or [`detach`](Self::detach) cancels the token
/// and aborts every child, like dropping a `JoinSet`; with the `tracing`
/// feature, a warning names how many children were still live. Spawners
/// outliving the owner are refused from then on.
///
/// # Comparison to `JoinSet` and `TaskTracker`
///
/// A `JoinSet` keeps every finished task until someone joins it, needs `&mut`
/// to spawn, and hides panics and errors unless joined. tokio-util's
/// `TaskTracker` waits for tasks but does not own them: it cannot cancel,
/// abort, limit or report them, and its `close` races with `spawn`. The
/// nursery spawns through `&self` and spawners, reaps without joining, reports
/// failures with their payloads, cancels, aborts, limits, nests, and its close
/// is ordered against every spawn. Reach for a bare `JoinSet` when one owner
/// joins every output in a loop; reach for the nursery when tasks must have an
/// owner.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_core::Nursery;
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// let nursery: Nursery = Nursery::new();
/// let done = Arc::new(AtomicUsize::new(0));
/// for _ in 0..10 {
///     let done = done.clone();
///     let spawner = nursery.spawner();
///     nursery.spawn(async move {
///         // Follow-up work spawned from inside is waited for too.
///         spawner.spawn(async move { done.fetch_add(1, Ordering::Relaxed); }).unwrap();
///     }).unwrap();
/// }
/// let report = nursery.close().await;
/// assert_eq!(done.load(Ordering::Relaxed), 10);
/// assert_eq!(report.stats().completed, 20);
/// # }
/// ```
pub struct Nursery<T = (), E = BoxError>
where
    T: Send + 'static,
    E: Send + 'static,
{
    shared: Arc<Shared<T, E>>,
}

impl<T: Send + 'static, E: Send + 'static> Default for Nursery<T, E> {
    #[track_caller]
    fn default() -> Self {
        Nursery::new()
    }
}

impl<T: Send + 'static, E: Send + 'static> Nursery<T, E> {
    /// A nursery on the current runtime, with default settings.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, like `tokio::spawn`; use
    /// [`Builder::handle`] to create one elsewhere.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// assert_eq!(nursery.name(), None);
    /// assert!(!nursery.is_closing() && !nursery.is_cancelled());
    /// # nursery.close().await;
    /// # }
    /// ```
    #[track_caller]
    #[must_use]
    pub fn new() -> Self {
        match Builder::new(None).build() {
            Ok(n) => n,
            Err(e) => panic!("{e}"),
        }
    }

    /// A builder for a root nursery (outputs `T`, errors `E`).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let n = scope_core::Nursery::<u32, std::io::Error>::builder().name("jobs").max_running(8).build().unwrap();
    /// assert_eq!(n.name(), Some("jobs"));
    /// # n.close().await;
    /// # }
    /// ```
    #[must_use]
    pub fn builder() -> Builder<T, E> {
        Builder::new(None)
    }

    pub(crate) fn from_shared(shared: Arc<Shared<T, E>>) -> Self {
        Nursery { shared }
    }

    /// Spawns a child. It runs at once, or is queued behind the running limit.
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
    /// nursery.spawn(async { /* work */ }).unwrap();
    /// assert_eq!(nursery.stats().live, 1); // accepted; runs when this task yields
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

    /// Spawns a named child: listed in [`snapshot`](Self::snapshot), in its
    /// failure and, with `tracing`, in its span.
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

    /// Spawns a child only if it can start now: past the running limit it is
    /// refused ([`SpawnError::is_full`]) instead of queued.
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
    /// nursery.abort_all();
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

    /// Spawns a child that is not `Send` on the current `LocalSet`; see
    /// [`Spawner::spawn_local`].
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn).
    ///
    /// # Panics
    ///
    /// Outside a `LocalSet` or `LocalRuntime`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// let local = tokio::task::LocalSet::new();
    /// local
    ///     .run_until(async {
    ///         let counter = std::rc::Rc::new(std::cell::Cell::new(0));
    ///         let c = counter.clone();
    ///         nursery.spawn_local(async move { c.set(c.get() + 1) }).unwrap();
    ///         nursery.close().await;
    ///         assert_eq!(counter.get(), 1);
    ///     })
    ///     .await;
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

    /// Runs a blocking closure on tokio's blocking pool as a child. It cannot
    /// be aborted once started: a `shutdown` reports it as still running.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn), handing the closure back.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 1)] async fn main() {
    /// let nursery: scope_core::Nursery<u64, std::io::Error> = scope_core::Nursery::new();
    /// nursery.spawn_blocking(|| Ok((1..=10u64).product())).unwrap();
    /// let mut nursery = nursery;
    /// assert_eq!(nursery.join_next().await, Some(3_628_800));
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

    /// A cloneable handle that spawns into this nursery. It does not keep the
    /// nursery open: once the owner closes, cancels or drops it, the spawner's
    /// spawns are refused.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// let spawner = nursery.spawner();
    /// std::thread::spawn(move || spawner.spawn(async {}).unwrap()).join().unwrap();
    /// assert_eq!(nursery.close().await.stats().completed, 1);
    /// # }
    /// ```
    #[must_use]
    pub fn spawner(&self) -> Spawner<T, E> {
        Spawner::from_shared(Arc::clone(&self.shared))
    }

    /// The nursery's cancellation token, for children to `select!` on.
    /// Cancelling it directly is the same as [`cancel`](Self::cancel): the
    /// nursery refuses new spawns, drops its queued children and counts the
    /// children that return from then on as cancelled.
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

    /// Fires the token and refuses new spawns. Queued children are dropped
    /// unstarted (counted as cancelled); running ones see the token and end
    /// when they choose. Reaches every nested nursery. It does not close the
    /// nursery: a `close` is still needed to wait for the running children.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::builder().max_running(1).build().unwrap();
    /// let token = nursery.token().clone();
    /// nursery.spawn(async move { token.cancelled().await }).unwrap();
    /// nursery.spawn(async {}).unwrap(); // queued behind the limit
    /// nursery.cancel();
    /// assert!(nursery.spawn(async {}).unwrap_err().is_cancelled());
    /// // Both end as cancelled: the running one saw the token, the queued one never started.
    /// assert_eq!(nursery.close().await.stats().cancelled, 2);
    /// # }
    /// ```
    pub fn cancel(&self) {
        self.shared.cancel(CancelReason::Requested);
    }

    /// Aborts every running child at its next `.await` and drops the queued
    /// ones (counted as aborted), in nested nurseries too. The nursery stays
    /// open. Blocking children that already started cannot be aborted.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// nursery.spawn(std::future::pending::<()>()).unwrap();
    /// nursery.abort_all();
    /// assert_eq!(nursery.close().await.stats().aborted, 1);
    /// # }
    /// ```
    pub fn abort_all(&self) {
        self.shared.abort_all();
    }

    /// Drains the nursery: refuses spawns from outside, waits for every
    /// child (and every child they spawn meanwhile), cancels nothing, and
    /// reports. Idempotent; concurrent callers share one report. From inside
    /// one of the nursery's children it starts the close and returns at once
    /// (the report says [`is_final`](Report::is_final) `== false`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future stops waiting but the close stays
    /// begun; calling `close` again resumes waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// nursery.spawn(async {}).unwrap();
    /// let first = nursery.close().await;
    /// let again = nursery.close().await;
    /// assert_eq!(first.stats(), again.stats());
    /// assert!(nursery.spawn(async {}).unwrap_err().is_closed());
    /// # }
    /// ```
    pub async fn close(&self) -> Report<E> {
        close(&self.shared).await
    }

    /// Waits for the nursery to drain without starting the close. From inside
    /// one of its children (which the drain would wait for) it returns a
    /// non-final report at once.
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
    /// tokio::spawn(async move { spawner.close().await });
    /// assert!(nursery.closed().await.is_final());
    /// # }
    /// ```
    pub async fn closed(&self) -> Report<E> {
        self.shared.closed().await
    }

    /// Waits until the nursery has begun to close: [`close`](Self::close),
    /// [`shutdown`](Self::shutdown), [`detach`](Self::detach) or the owner's
    /// drop; at once if it already has (or is closed). This is the graceful
    /// signal, "take no new work", for long-running children such as an accept
    /// loop or a connection's request loop, which finish what they hold and
    /// return; the [`token`](Self::token) is the forceful one. Cancelling does
    /// not begin the close.
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

    /// Ends the nursery within `grace`, in total: close and wait for the drain
    /// for three quarters of `grace`; then cancel the token and give the
    /// children the last quarter to react; then abort and drain. It returns
    /// within `grace` plus the time aborted children take to drop.
    /// [`shutdown_phases`](Self::shutdown_phases) sets the two windows
    /// separately. The report says which children ended in which phase
    /// ([`ended_in_drain`](Report::ended_in_drain),
    /// [`ended_after_cancel`](Report::ended_after_cancel),
    /// [`aborted`](Report::aborted)); started blocking children, which cannot
    /// be aborted, are counted in [`still_running`](Report::still_running)
    /// instead of hanging the shutdown. A zero `grace` cancels and aborts at
    /// once.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe; phases already entered stay entered.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// use std::time::Duration;
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// nursery.spawn(tokio::time::sleep(Duration::from_secs(1))).unwrap();
    /// let token = nursery.token().clone();
    /// nursery.spawn(async move { token.cancelled().await }).unwrap();
    /// nursery.spawn(std::future::pending::<()>()).unwrap();
    /// let start = tokio::time::Instant::now();
    /// let report = nursery.shutdown(Duration::from_secs(4)).await;
    /// assert_eq!(report.ended_in_drain(), 1); // within the 3 s drain window
    /// assert_eq!(report.ended_after_cancel(), 1); // reacted to the cancel at 3 s
    /// assert_eq!(report.aborted(), 1); // ignored it: aborted at 4 s
    /// assert_eq!(start.elapsed(), Duration::from_secs(4));
    /// # }
    /// ```
    pub async fn shutdown(&self, grace: Duration) -> Report<E> {
        // Quarter first, so the two windows add up to `grace` exactly and
        // nothing overflows, even for `Duration::MAX`.
        let drain = grace / 4 * 3;
        self.shared.shutdown(drain, grace - drain).await
    }

    /// [`shutdown`](Self::shutdown) with separate windows: `drain` for the
    /// drain, then `after_cancel` for the children to react to the cancel.
    /// The second window starts when the first ends (the time the cancel
    /// itself takes comes out of it), so the whole returns within
    /// `drain + after_cancel` plus the time aborted children take to drop.
    /// `shutdown(grace)` is `shutdown_phases(grace * 3 / 4, grace / 4)`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// use std::time::Duration;
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// nursery.spawn(std::future::pending::<()>()).unwrap();
    /// let start = tokio::time::Instant::now();
    /// let report = nursery.shutdown_phases(Duration::from_secs(30), Duration::ZERO).await;
    /// assert_eq!(report.aborted(), 1);
    /// assert_eq!(start.elapsed(), Duration::from_secs(30));
    /// # }
    /// ```
    pub async fn shutdown_phases(&self, drain: Duration, after_cancel: Duration) -> Report<E> {
        self.shared.shutdown(drain, after_cancel).await
    }

    /// Runs `body` as the nursery's body, like the body of a trio nursery:
    /// while it runs, the nursery cannot finish closing (its close waits for
    /// the body as for a child, though the body is not a child: it is not
    /// counted in [`stats`](Self::stats) and cannot be aborted), and the
    /// body's spawns count as from inside (accepted while the nursery
    /// drains; a `close` from it resolves at once). The hold ends when the
    /// body returns or the future is dropped. Await it, or poll it beside
    /// the nursery's [`idle`](Self::idle) or [`close`](Self::close): a body
    /// can keep working (answering, starting follow-up work) while its
    /// children drain, and say goodbye once they have.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// let spawner = nursery.spawner();
    /// let body = nursery.inside(async move {
    ///     tokio::task::yield_now().await;
    ///     // The close has begun, but the body is inside: it may still spawn.
    ///     spawner.spawn(async {}).unwrap();
    /// });
    /// let (_, report) = tokio::join!(body, nursery.close());
    /// assert_eq!(report.stats().completed, 1);
    /// # }
    /// ```
    pub fn inside<F: Future>(&self, body: F) -> impl Future<Output = F::Output> + use<F, T, E> {
        self.shared.inside(body)
    }

    /// Resolves once no child is live (queued, running or nested; a running
    /// [body](Self::inside) does not count), at once if none is. It starts
    /// nothing: with the nursery open, more children may come after.
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

    /// The report as it stands now: the final one (what `close` returned)
    /// once the nursery has drained, otherwise one that is not
    /// [final](Report::is_final).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// nursery.spawn(async {}).unwrap();
    /// assert!(!nursery.report().is_final());
    /// nursery.close().await;
    /// assert!(nursery.report().is_final());
    /// # }
    /// ```
    #[must_use]
    pub fn report(&self) -> Report<E> {
        self.shared.report_now()
    }

    /// Gives up ownership without ending the children: the nursery closes to
    /// spawns from outside, and the children run to completion, still owned.
    /// A nested nursery stays a live child of its parent, whose `close` waits
    /// for it and whose policy sees its failure. A root nursery's children
    /// keep their own nursery alive until the last ends; their failures go to
    /// the failure handler, or (with `tracing`) to a warning.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let parent: scope_core::Nursery = scope_core::Nursery::new();
    /// let child: scope_core::Nursery = parent.child_builder().build().unwrap();
    /// child.spawn(tokio::task::yield_now()).unwrap();
    /// child.detach();
    /// // The parent's close waits for the detached child's work.
    /// assert_eq!(parent.close().await.stats().completed, 1);
    /// # }
    /// ```
    pub fn detach(self) {
        self.shared.detached.store(true, Ordering::Relaxed);
        self.shared.close_joins();
        self.shared.begin_close();
        // `Drop` sees `detached` and leaves the children alone.
    }

    /// A builder for a nested nursery: its token is a child of this one's,
    /// this nursery counts it as one live child until it drains, and under
    /// [`FailFast`](crate::Policy::FailFast) its failure is one failure here.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let parent: scope_core::Nursery = scope_core::Nursery::new();
    /// let child: scope_core::Nursery<u32> = parent.child_builder().name("conn-1").build().unwrap();
    /// parent.cancel();
    /// assert!(child.token().is_cancelled());
    /// child.close().await;
    /// parent.close().await;
    /// # }
    /// ```
    #[must_use]
    pub fn child_builder<T2: Send + 'static>(&self) -> Builder<T2, E> {
        Builder::new(Some(Arc::clone(&self.shared) as _))
    }

    /// Waits for the next child output, in completion order: the next
    /// [`join_next_with_id`](Self::join_next_with_id) whose child returned,
    /// skipping the ends that have no output (failures, cancellations,
    /// aborts; each stays counted, and the report keeps the first failure).
    /// `None` once no child is live and nothing waits to be joined, and at
    /// once in a nursery that keeps no outcomes (see
    /// [`Builder::keep_outcomes`]). The nursery is also a [`Stream`] of the
    /// same outputs.
    ///
    /// [`Stream`]: futures_util::Stream
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an output is only removed when it is returned.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut nursery: scope_core::Nursery<u32, std::io::Error> = scope_core::Nursery::new();
    /// for i in 0..3 {
    ///     nursery.spawn(async move { Ok(i) }).unwrap();
    /// }
    /// let mut sum = 0;
    /// while let Some(v) = nursery.join_next().await {
    ///     sum += v;
    /// }
    /// assert_eq!(sum, 3);
    /// # }
    /// ```
    pub async fn join_next(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.shared.poll_output(cx)).await
    }

    /// Waits for the next child to end, in completion order, and returns its
    /// task id (the one its [`AbortHandle`] has) with how it ended, failures
    /// included, as `JoinSet::join_next_with_id` does. Every task child is
    /// joined exactly once (nested nurseries are not joined). `None` once no
    /// child is live and nothing waits, and at once in a nursery that keeps
    /// no outcomes.
    ///
    /// The policy still decides what a failure does, and the report still
    /// carries the first failure: the [`Failure`](crate::Failure) joined here
    /// for that child is the report's, shared, and its payload goes to
    /// whoever [takes](crate::Failure::take) it first.
    ///
    /// Each end handed out spends a unit of tokio's cooperative budget, so a
    /// loop joining many finished children still lets other tasks run.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an end is only removed when it is returned.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use scope_core::{ChildEnd, Nursery};
    ///
    /// let mut nursery: Nursery = Nursery::builder().keep_outcomes(true).build().unwrap();
    /// let stuck = nursery.spawn(std::future::pending::<()>()).unwrap();
    /// stuck.abort();
    /// let (id, end) = nursery.join_next_with_id().await.unwrap();
    /// assert_eq!(id, stuck.id());
    /// assert!(matches!(end, ChildEnd::Aborted));
    /// assert!(nursery.join_next_with_id().await.is_none());
    /// # }
    /// ```
    pub async fn join_next_with_id(&mut self) -> Option<(Id, ChildEnd<T, E>)> {
        std::future::poll_fn(|cx| self.shared.poll_join(cx)).await
    }

    /// Takes an output that is ready now, if any, without waiting (skipping
    /// ends without one, as [`join_next`](Self::join_next) does).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut nursery: scope_core::Nursery<u8, std::io::Error> = scope_core::Nursery::new();
    /// nursery.spawn(async { Ok(5) }).unwrap();
    /// assert_eq!(nursery.try_join_next(), None); // not run yet
    /// nursery.close().await; // outputs outlive the close
    /// assert_eq!(nursery.try_join_next(), Some(5));
    /// assert_eq!(nursery.try_join_next(), None);
    /// # }
    /// ```
    pub fn try_join_next(&mut self) -> Option<T> {
        self.shared.try_join_next()
    }

    /// How many ended children wait to be joined now (by
    /// [`join_next_with_id`](Self::join_next_with_id); those without an
    /// output included). Always 0 in a nursery that keeps no outcomes.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut nursery: scope_core::Nursery<u8, std::io::Error> = scope_core::Nursery::new();
    /// nursery.spawn(async { Ok(1) }).unwrap();
    /// nursery.spawn(async { Ok(2) }).unwrap();
    /// nursery.idle().await;
    /// assert_eq!(nursery.ready_count(), 2);
    /// nursery.join_next().await;
    /// assert_eq!(nursery.ready_count(), 1);
    /// # }
    /// ```
    #[must_use]
    pub fn ready_count(&self) -> usize {
        self.shared.ready_count()
    }

    /// The counters, each read with one relaxed load.
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

    /// The nursery's name, if it was given one.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let n: scope_core::Nursery = scope_core::Nursery::builder().name("db").build().unwrap();
    /// assert_eq!(n.name(), Some("db"));
    /// # }
    /// ```
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.shared.name()
    }

    /// `close`, `shutdown`, `detach` or drop has begun: spawns from outside
    /// are refused.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let n: scope_core::Nursery = scope_core::Nursery::new();
    /// n.close().await;
    /// assert!(n.is_closing() && n.is_closed());
    /// # }
    /// ```
    #[must_use]
    pub fn is_closing(&self) -> bool {
        self.shared.core.is_closing()
    }

    /// The last child has ended after the close began: every spawn is refused.
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

    /// The nursery's token was cancelled: through [`cancel`](Self::cancel),
    /// fail-fast, a shutdown, a drop, a parent, or directly;
    /// [`cancel_reason`](Self::cancel_reason) says which.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let n: scope_core::Nursery = scope_core::Nursery::new();
    /// n.cancel();
    /// assert!(n.is_cancelled());
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
    /// let nursery: Nursery<(), &str> = Nursery::new();
    /// assert_eq!(nursery.cancel_reason(), None);
    /// nursery.cancel();
    /// nursery.spawner().cancel(); // already cancelled: the reason stays
    /// assert_eq!(nursery.cancel_reason(), Some(CancelReason::Requested));
    /// # }
    /// ```
    #[must_use]
    pub fn cancel_reason(&self) -> Option<CancelReason> {
        self.shared.cancel_reason()
    }
}

pub(crate) async fn close<T: Send + 'static, E: Send + 'static>(
    shared: &Shared<T, E>,
) -> Report<E> {
    shared.begin_close();
    if context::is_inside(&shared.core) {
        return shared.report(false, 0);
    }
    shared.drain().await
}

impl<T: Send + 'static, E: Send + 'static> Drop for Nursery<T, E> {
    fn drop(&mut self) {
        let shared = &self.shared;
        if shared.detached.load(Ordering::Relaxed) {
            return;
        }
        shared.close_joins();
        if shared.core.is_closed() {
            return;
        }
        let live = shared.core.children(shared.core.live());
        if live > 0 {
            #[cfg(feature = "tracing")]
            tracing::warn!(
                nursery = shared.name().unwrap_or(""),
                live,
                "nursery dropped without close, shutdown or detach: cancelling and aborting its live children"
            );
        }
        shared.cancel(CancelReason::Dropped);
        shared.begin_close();
        shared.abort_all();
    }
}

/// The outputs of the children, in completion order: the stream form of
/// [`join_next`](Nursery::join_next), which ends once no child is live and
/// every output was taken. Each output spends a unit of tokio's cooperative
/// budget.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use futures_util::StreamExt;
///
/// let mut nursery: scope_core::Nursery<u64, std::io::Error> = scope_core::Nursery::new();
/// for i in 1..=4 {
///     nursery.spawn(async move { Ok(i * i) }).unwrap();
/// }
/// let total: u64 = (&mut nursery).collect::<Vec<_>>().await.into_iter().sum();
/// assert_eq!(total, 30);
/// # }
/// ```
impl<T: Send + 'static, E: Send + 'static> Stream for Nursery<T, E> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.shared.poll_output(cx)
    }
}

impl<T: Send + 'static, E: Send + 'static> fmt::Debug for Nursery<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nursery")
            .field("name", &self.shared.name())
            .field("stats", &self.stats())
            .field("closing", &self.is_closing())
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
