//! [`Nursery`]: the owner of a set of tasks.

pub(crate) mod child;
pub(crate) mod lazy;
pub(crate) mod limit;
pub(crate) mod outcomes;
pub(crate) mod pool;
pub(crate) mod registry;
pub(crate) mod sets;
pub(crate) mod shared;
pub(crate) mod state;
pub(crate) mod token;
pub(crate) mod tree;

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use tokio::task::Id;

use crate::builder::Builder;
use crate::cancel_reason::CancelReason;
use crate::report::Report;
use crate::spawner::Spawner;
use crate::{BoxError, ChildEnd, context};

/// The owner of a set of tasks: every task it accepts is held (through a
/// tokio [`JoinSet`](tokio::task::JoinSet)) until it has finished and been
/// reaped, and the owner decides how they end.
///
/// A nursery is its [`Spawner`] plus ownership: it dereferences to the
/// spawner, whose methods spawn children (with no `.await`, returning each
/// child's `AbortHandle`), hand out the token, and read and wait for the
/// nursery's state; the spawner can be cloned and sent anywhere, the
/// nursery cannot (`nursery.spawner()` gives a clone). What only the owner
/// does is here: close, cancel, abort, shut down, detach, run the body, and
/// join the children's outcomes. A child may return `()` or `Result<T, E>`;
/// an `Err` or a panic is a failure, handled by the nursery's
/// [`Policy`](crate::Policy).
///
/// # Guarantees
///
/// - **Nothing is lost.** A spawn either returns `Ok` (the child will run and
///   be accounted for, exactly once, as completed, failed, cancelled or
///   aborted) or a [`SpawnError`](crate::SpawnError) that hands the unpolled
///   future back.
/// - **Reaped as they finish.** Finished tasks are freed without anyone
///   joining: memory follows live children, not children ever spawned. A
///   nursery that keeps outcomes ([`Builder::keep_outcomes`]) keeps each
///   child's end for [`join_next_with_id`](Self::join_next_with_id), at the
///   cost of the end alone.
/// - **`close` is a drain.** It refuses spawns from outside, cancels nothing,
///   and returns when every child has ended, including children that children
///   spawned while it waited; no task of the nursery is left in the runtime.
///   Repeated and concurrent closes see one [`Report`].
/// - **Close from inside never deadlocks.** A `close` (or `shutdown`) called
///   from one of the nursery's own children, or a descendant's, starts the
///   close and returns at once with a report that is not final.
/// - **Depth costs memory, not stack.** Nested nurseries form a tree of any
///   depth; cancelling, aborting, closing, shutting down and dropping it walk
///   it in loops, in time linear in its size.
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
/// failures with their payloads, joins outcomes when asked, cancels, aborts,
/// limits, nests, and its close is ordered against every spawn.
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
    // The owner is a spawner with ownership: the handle's methods are the
    // owner's too, documented once (see `Deref`).
    spawner: Spawner<T, E>,
}

impl<T: Send + 'static, E: Send + 'static> Default for Nursery<T, E> {
    #[track_caller]
    fn default() -> Self {
        Nursery::new()
    }
}

impl<T: Send + 'static, E: Send + 'static> Nursery<T, E> {
    /// A nursery on the current runtime, with default settings: equivalent
    /// to `Nursery::builder().build()`, panicking where that fails.
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
    /// # n.close().await;
    /// # }
    /// ```
    #[must_use]
    pub fn builder() -> Builder<T, E> {
        Builder::new(None)
    }

    pub(crate) fn from_spawner(spawner: Spawner<T, E>) -> Self {
        Nursery { spawner }
    }

    /// A clone of the nursery's [`Spawner`] (which the nursery dereferences
    /// to), to hand to children, other tasks and threads.
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
        self.spawner.clone()
    }

    /// Cancels the nursery: equivalent to `self.token().cancel()`, with
    /// [`CancelReason::Requested`]. Spawns are refused, children waiting for
    /// a running slot never start (their futures are dropped, and they count
    /// as cancelled), running ones see the token and end
    /// when they choose (counted as cancelled if they return), and every
    /// nested nursery is cancelled before this returns. It does not close
    /// the nursery: a `close` still waits for the running children.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::builder().max_running(1).build().unwrap();
    /// let token = nursery.token().clone();
    /// nursery.spawn(async move { token.cancelled().await }).unwrap();
    /// nursery.spawn(async {}).unwrap(); // waits for the slot
    /// nursery.cancel();
    /// assert!(nursery.spawn(async {}).unwrap_err().is_cancelled());
    /// // Both end as cancelled: the running one saw the token, the other never started.
    /// assert_eq!(nursery.close().await.stats().cancelled, 2);
    /// # }
    /// ```
    pub fn cancel(&self) {
        self.shared().cancel(CancelReason::Requested);
    }

    /// Aborts every child at its next `.await` (children waiting for a slot
    /// never start), in nested nurseries too, as `JoinSet::abort_all` does.
    /// The nursery stays open. Blocking children that already started
    /// cannot be aborted; those the blocking pool has not started are taken
    /// back, and their closures dropped on this thread before it returns
    /// (tokio would drop them only once a pool thread came free).
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
        self.shared().abort_all();
    }

    /// Begins the close, then is [`closed`](Spawner::closed): refuses spawns
    /// from outside, waits for every child (and every child they spawn
    /// meanwhile), cancels nothing, and reports. Idempotent; concurrent
    /// callers share one report. From inside one of the nursery's children
    /// (or its body) it begins the close and returns at once with a report
    /// that is not [final](Report::is_final).
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
        let shared = self.shared();
        shared.begin_close();
        if context::is_inside(&shared.core) {
            return shared.report(false, 0);
        }
        shared.drain().await
    }

    /// Ends the nursery within `grace`, in total: equivalent to
    /// `shutdown_phases(grace / 4 * 3, grace - grace / 4 * 3)`. Close and
    /// wait for the drain for three quarters of `grace`; then cancel the
    /// token and give the children the last quarter to react; then abort and
    /// drain. The report says which children ended in which phase
    /// ([`ended_in_drain`](Report::ended_in_drain),
    /// [`ended_after_cancel`](Report::ended_after_cancel),
    /// [`Stats::aborted`](crate::Stats::aborted)); started blocking
    /// children, which cannot be aborted, are counted in
    /// [`still_running`](Report::still_running) instead of hanging the
    /// shutdown. A phase's deadline is a tokio timer, which fires on the
    /// timer's next tick (a millisecond) at or after it; a zero `grace`
    /// starts no timer and cancels and aborts at once.
    ///
    /// Once it returns, every child it aborted has been dropped, here and in
    /// every nested nursery: what is still live is held open by blocking
    /// children that had started. A blocking child the pool had not started
    /// is taken back and dropped by the abort itself, on the thread that
    /// aborts, so a pool whose every thread is held does not hold the
    /// shutdown.
    ///
    /// # Panics
    ///
    /// On a runtime without tokio's timer (`enable_time`), as any tokio
    /// timeout does, once a phase has time left to wait.
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
    /// assert_eq!(report.stats().aborted, 1); // ignored it: aborted at 4 s
    /// assert_eq!(start.elapsed(), Duration::from_secs(4));
    /// # }
    /// ```
    pub async fn shutdown(&self, grace: Duration) -> Report<E> {
        // Quarter first, so the two windows add up to `grace` exactly and
        // nothing overflows, even for `Duration::MAX`.
        let drain = grace / 4 * 3;
        self.shared().shutdown(drain, grace - drain).await
    }

    /// [`shutdown`](Self::shutdown) with separate windows: `drain` for the
    /// drain, then `after_cancel` for the children to react to the cancel.
    /// The second window starts when the first ends (the time the cancel
    /// itself takes comes out of it), so the whole returns within
    /// `drain + after_cancel` plus the time aborted children take to drop.
    ///
    /// # Panics
    ///
    /// As [`shutdown`](Self::shutdown).
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
    /// assert_eq!(report.stats().aborted, 1);
    /// assert_eq!(start.elapsed(), Duration::from_secs(30));
    /// # }
    /// ```
    pub async fn shutdown_phases(&self, drain: Duration, after_cancel: Duration) -> Report<E> {
        self.shared().shutdown(drain, after_cancel).await
    }

    /// Runs `body` as the nursery's body, like the body of a trio nursery:
    /// while it runs, the nursery cannot finish closing (its close waits for
    /// the body as for a child, though the body is not a child: it is not
    /// counted in [`stats`](Spawner::stats) and cannot be aborted), and the
    /// body's spawns count as from inside (accepted while the nursery
    /// drains; a `close` from it resolves at once). The hold ends when the
    /// body returns or the future is dropped. Await it, or poll it beside
    /// the nursery's [`idle`](Spawner::idle) or [`close`](Self::close): a body
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
        self.spawner.shared.inside(body)
    }

    /// Gives up ownership without ending the children: the nursery closes to
    /// spawns from outside, and the children run to completion, still owned.
    /// A nested nursery stays a live child of its parent, whose `close` waits
    /// for it and whose policy sees its failure. A root nursery's children
    /// keep their own nursery alive until the last ends; their failures go to
    /// the failure handler, or (with `tracing`) to a warning. Nothing is kept
    /// for joining from then on.
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
        self.shared().detach();
        // `Drop` sees the nursery detached and leaves the children alone.
    }

    /// Waits for the next child output, in completion order: the next
    /// [`join_next_with_id`](Self::join_next_with_id) whose child returned,
    /// skipping the ends that have no output (failures, cancellations,
    /// aborts; each stays counted, and the report keeps the first failure).
    /// `None` once no child is live and nothing waits to be joined (in a
    /// nursery that keeps no outcomes nothing ever waits: see
    /// [`Builder::keep_outcomes`]). The nursery is also a [`Stream`] of the
    /// same outputs.
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
        std::future::poll_fn(|cx| self.shared().poll_output(cx)).await
    }

    /// Waits for the next child to end, in completion order, and returns its
    /// task id (the one its `AbortHandle` has) with how it ended, failures
    /// included, as `JoinSet::join_next_with_id` does. Every task child is
    /// joined exactly once (nested nurseries are not joined, but a join waits
    /// for them to end). `None` once no child is live and nothing waits (in
    /// a nursery that keeps no outcomes, once no child is live).
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
        std::future::poll_fn(|cx| self.shared().poll_join(cx)).await
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
    /// nursery.close().await; // outcomes outlive the close
    /// assert_eq!(nursery.try_join_next(), Some(5));
    /// assert_eq!(nursery.try_join_next(), None);
    /// # }
    /// ```
    pub fn try_join_next(&mut self) -> Option<T> {
        self.shared().try_join_next()
    }

    /// Takes the end of a child that has ended now, if any, without
    /// waiting: the form of [`join_next_with_id`](Self::join_next_with_id)
    /// for synchronous code (as `JoinSet::try_join_next_with_id`), failures
    /// and cancellations included. `None` also means a nursery that keeps no
    /// outcomes.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use scope_core::{ChildEnd, Nursery, Policy};
    ///
    /// let mut nursery: Nursery<u8, &str> = Nursery::builder().policy(Policy::Supervise).build().unwrap();
    /// let failing = nursery.spawn(async { Err("bad input") }).unwrap();
    /// nursery.idle().await;
    /// let (id, end) = nursery.try_join_next_with_id().unwrap();
    /// assert_eq!(id, failing.id());
    /// let ChildEnd::Failed(failure) = end else { panic!("{end:?}") };
    /// assert_eq!(failure.take().unwrap().into_error().unwrap(), "bad input");
    /// assert!(nursery.try_join_next_with_id().is_none());
    /// # }
    /// ```
    pub fn try_join_next_with_id(&mut self) -> Option<(Id, ChildEnd<T, E>)> {
        self.shared().try_join_next_with_id()
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
        self.shared().ready_count()
    }

    fn shared(&self) -> &shared::Shared<T, E> {
        &self.spawner.shared
    }
}

/// A nursery is its [`Spawner`] plus ownership, so every method of the
/// spawner (spawning, the token, state queries and waits) is the owner's
/// too, with one set of docs. (Being the owner, a `Nursery` is not `Clone`:
/// `nursery.spawner()` hands out a clone of the spawner.)
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_core::{Nursery, Spawner};
///
/// fn start_work(spawner: &Spawner) {
///     spawner.spawn(async {}).unwrap();
/// }
///
/// let nursery: Nursery = Nursery::new();
/// start_work(&nursery); // the owner is a spawner too
/// assert_eq!(nursery.close().await.stats().completed, 1);
/// # }
/// ```
impl<T: Send + 'static, E: Send + 'static> Deref for Nursery<T, E> {
    type Target = Spawner<T, E>;

    fn deref(&self) -> &Spawner<T, E> {
        &self.spawner
    }
}

impl<T: Send + 'static, E: Send + 'static> Drop for Nursery<T, E> {
    fn drop(&mut self) {
        let shared = self.shared();
        if shared.is_detached() {
            return;
        }
        shared.close_joins();
        if shared.core.is_closed() {
            return;
        }
        let live = shared.core.children_now().1;
        if live > 0 {
            #[cfg(feature = "tracing")]
            tracing::warn!(
                nursery = shared.name().unwrap_or(""),
                live,
                children = %named_children(&shared.snapshot(), 3),
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
        self.shared().poll_output(cx)
    }
}

/// Up to `most` of the live children's names (the named ones; the others
/// by count), for a warning: "mailer, resizer and 5 more".
#[cfg(feature = "tracing")]
fn named_children(snapshot: &crate::snapshot::Snapshot, most: usize) -> String {
    let names: Vec<&str> = snapshot
        .children()
        .iter()
        .filter_map(|c| c.name())
        .take(most)
        .collect();
    let rest = snapshot.live().saturating_sub(names.len() as u64);
    match (names.is_empty(), rest) {
        (true, _) => format!("{rest} unnamed"),
        (false, 0) => names.join(", "),
        (false, _) => format!("{} and {rest} more", names.join(", ")),
    }
}

impl<T: Send + 'static, E: Send + 'static> fmt::Debug for Nursery<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nursery")
            .field("name", &self.shared().name())
            .field("stats", &self.stats())
            .field("closing", &self.is_closing())
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
