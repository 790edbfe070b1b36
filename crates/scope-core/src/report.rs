//! [`Report`] and [`Failure`]: how a nursery ended.

use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::cancel_reason::CancelReason;
use crate::child_error::ChildError;
use crate::stats::Stats;

/// How a nursery ended: counts, the first failure, and which phase of a
/// shutdown each child ended in.
///
/// Every final report of one nursery (from `close`, `closed` or `shutdown`,
/// see [`is_final`](Report::is_final)) has the same counts and shares the
/// same [`Failure`]. Reports are cheap to clone.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_core::{Nursery, Outcome};
///
/// let nursery: Nursery = Nursery::new();
/// for _ in 0..3 {
///     nursery.spawn(async {}).unwrap();
/// }
/// let report = nursery.close().await;
/// assert_eq!(report.outcome(), Outcome::Completed);
/// assert_eq!(report.stats().completed, 3);
/// assert!(report.is_final());
/// # }
/// ```
pub struct Report<E> {
    pub(crate) stats: Stats,
    pub(crate) failed_after_cancel: u64,
    pub(crate) still_running: u64,
    pub(crate) cancel_reason: Option<CancelReason>,
    pub(crate) failure: Option<Failure<E>>,
    pub(crate) is_final: bool,
}

/// The overall result of a nursery ([`Report::outcome`]).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_core::{Nursery, Outcome};
///
/// let nursery: Nursery = Nursery::new();
/// nursery.spawn(std::future::pending::<()>()).unwrap();
/// nursery.cancel();
/// nursery.abort_all(); // the child ignores the token
/// assert_eq!(nursery.close().await.outcome(), Outcome::Cancelled);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No child failed, and the token was not cancelled. Children may
    /// still have been aborted (`abort_all`, their own handles, the runtime
    /// shutting down), which is neither: [`Stats::aborted`](crate::Stats)
    /// counts them.
    Completed,
    /// The token was cancelled (by `cancel`, `shutdown`, a parent or drop;
    /// [`Report::cancel_reason`] says which), and no child failed.
    /// Cancellation is an outcome, not a failure.
    Cancelled,
    /// At least one child failed; [`Report::failure`] has the first.
    Failed,
}

impl<E> Report<E> {
    /// The counters when the report was made; exact in a final report.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery<(), &str> = scope_core::Nursery::builder()
    ///     .policy(scope_core::Policy::Supervise)
    ///     .build()
    ///     .unwrap();
    /// nursery.spawn(async { Ok(()) }).unwrap();
    /// nursery.spawn(async { Err("bad input") }).unwrap();
    /// let stats = nursery.close().await.stats();
    /// assert_eq!((stats.spawned, stats.completed, stats.failed, stats.live), (2, 1, 1, 0));
    /// # }
    /// ```
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Completed, cancelled or failed; a failure takes precedence over a
    /// cancellation.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use scope_core::{Nursery, Outcome};
    ///
    /// // Under `FailFast` the failure cancels the nursery, yet it is `Failed`.
    /// let nursery: Nursery<(), &str> = Nursery::new();
    /// nursery.spawn(async { Err("bad") }).unwrap();
    /// let report = nursery.close().await;
    /// assert!(nursery.is_cancelled());
    /// assert_eq!(report.outcome(), Outcome::Failed);
    /// # }
    /// ```
    #[must_use]
    pub fn outcome(&self) -> Outcome {
        if self.failure.is_some() {
            Outcome::Failed
        } else if self.cancel_reason.is_some() {
            Outcome::Cancelled
        } else {
            Outcome::Completed
        }
    }

    /// Why the token was cancelled; `None` if it never fired. Independent of
    /// [`outcome`](Self::outcome): a fail-fast nursery whose first failure
    /// cancelled it is `Failed` with the reason [`CancelReason::Failure`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// use scope_core::{CancelReason, Nursery, Outcome};
    /// use std::time::Duration;
    ///
    /// let nursery: Nursery = Nursery::new();
    /// nursery.spawn(async {}).unwrap();
    /// assert_eq!(nursery.close().await.cancel_reason(), None);
    ///
    /// let nursery: Nursery = Nursery::new();
    /// nursery.spawn(std::future::pending::<()>()).unwrap();
    /// let report = nursery.shutdown(Duration::from_secs(1)).await;
    /// assert_eq!(report.outcome(), Outcome::Cancelled);
    /// assert_eq!(report.cancel_reason(), Some(CancelReason::Deadline));
    /// # }
    /// ```
    #[must_use]
    pub fn cancel_reason(&self) -> Option<CancelReason> {
        self.cancel_reason
    }

    /// `false` for a report made without waiting for the drain: a `close`,
    /// `closed` or `shutdown` called from inside one of the nursery's own
    /// children (or a descendant's, or its body), a `shutdown` that left
    /// blocking children running, or [`report`](crate::Spawner::report)
    /// before the drain. A non-final report is a reading of the
    /// counters at that moment; a later `close` from outside gets the final one.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// let spawner = nursery.spawner();
    /// nursery.spawn(async move {
    ///     // From inside: returns without waiting for itself.
    ///     assert!(!spawner.closed().await.is_final());
    /// }).unwrap();
    /// assert!(nursery.close().await.is_final());
    /// # }
    /// ```
    #[must_use]
    pub fn is_final(&self) -> bool {
        self.is_final
    }

    /// Children that ended before the token was cancelled: the drain phase of
    /// a shutdown (completed, plus failures before the cancel).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery<(), &str> = scope_core::Nursery::new();
    /// nursery.spawn(async { Ok(()) }).unwrap();
    /// nursery.spawn(async { Err("bad") }).unwrap(); // fail-fast: cancels the nursery
    /// let token = nursery.token().clone();
    /// nursery.spawn(async move { token.cancelled().await; Ok(()) }).unwrap();
    /// let report = nursery.close().await;
    /// assert_eq!(report.ended_in_drain(), 2); // the success and the failure
    /// assert_eq!(report.ended_after_cancel(), 1);
    /// # }
    /// ```
    #[must_use]
    pub fn ended_in_drain(&self) -> u64 {
        self.stats.completed + self.stats.failed - self.failed_after_cancel
    }

    /// Children that ended after the token was cancelled and before abort:
    /// the cancel phase of a shutdown (cancelled, plus failures after it).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery<(), &str> = scope_core::Nursery::new();
    /// let token = nursery.token().clone();
    /// nursery.spawn(async move { token.cancelled().await; Err("interrupted") }).unwrap();
    /// let token = nursery.token().clone();
    /// nursery.spawn(async move { token.cancelled().await; Ok(()) }).unwrap();
    /// nursery.cancel();
    /// let report = nursery.close().await;
    /// // One cancelled, one failure after the cancel.
    /// assert_eq!((report.stats().cancelled, report.stats().failed), (1, 1));
    /// assert_eq!(report.ended_after_cancel(), 2);
    /// # }
    /// ```
    #[must_use]
    pub fn ended_after_cancel(&self) -> u64 {
        self.stats.cancelled + self.failed_after_cancel
    }

    /// Blocking children still running when a `shutdown` gave up on them:
    /// they cannot be aborted, and the nursery keeps owning them (a later
    /// `close` waits for them). Such a report is not
    /// [final](Report::is_final).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::sync::mpsc;
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// let (started, wait_started) = mpsc::channel();
    /// let (release, wait_release) = mpsc::channel::<()>();
    /// nursery.spawn_blocking(move || { started.send(()).unwrap(); wait_release.recv().unwrap(); }).unwrap();
    /// wait_started.recv().unwrap();
    /// let report = nursery.shutdown(std::time::Duration::ZERO).await;
    /// assert_eq!(report.still_running(), 1);
    /// assert!(!report.is_final());
    /// release.send(()).unwrap();
    /// assert_eq!(nursery.close().await.stats().cancelled, 1); // it returned after the cancel
    /// # }
    /// ```
    #[must_use]
    pub fn still_running(&self) -> u64 {
        self.still_running
    }

    /// The first failure, if any child failed (under either policy).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery<(), &str> = scope_core::Nursery::new();
    /// nursery.spawn_named("loader", async { Err("corrupt header") }).unwrap();
    /// let report = nursery.close().await;
    /// let failure = report.failure().unwrap();
    /// assert_eq!(failure.child_name(), Some("loader"));
    /// assert!(!failure.is_panic());
    /// # }
    /// ```
    #[must_use]
    pub fn failure(&self) -> Option<&Failure<E>> {
        self.failure.as_ref()
    }

    /// Takes the first failure's payload out; see [`Failure::take`]. `None`
    /// if no child failed or the payload was taken already (through any
    /// report of this nursery).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery<(), &str> = scope_core::Nursery::new();
    /// nursery.spawn(async { Err("disk full") }).unwrap();
    /// let report = nursery.close().await;
    /// assert_eq!(report.take_failure().unwrap().into_error().unwrap(), "disk full");
    /// assert!(report.take_failure().is_none(), "taken once");
    /// assert!(nursery.close().await.take_failure().is_none(), "shared by every report");
    /// assert!(report.failure().is_some(), "still says that a child failed");
    /// # }
    /// ```
    #[must_use]
    pub fn take_failure(&self) -> Option<ChildError<E>> {
        self.failure.as_ref().and_then(Failure::take)
    }

    /// `Ok(self)` if no child failed; otherwise the first failure's payload
    /// (taken, see [`Failure::take`]).
    ///
    /// # Errors
    ///
    /// The first failure, when there was one and nobody took it before (a
    /// failure whose payload was already taken gives `Ok`).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery<(), &str> = scope_core::Nursery::new();
    /// nursery.spawn(async { Ok(()) }).unwrap();
    /// assert_eq!(nursery.close().await.into_result().unwrap().stats().completed, 1);
    ///
    /// let nursery: scope_core::Nursery<(), &str> = scope_core::Nursery::new();
    /// nursery.spawn(async { Err("bad") }).unwrap();
    /// let err = nursery.close().await.into_result().unwrap_err();
    /// assert_eq!(err.into_error().unwrap(), "bad");
    /// # }
    /// ```
    pub fn into_result(self) -> Result<Self, ChildError<E>> {
        match self.take_failure() {
            Some(e) => Err(e),
            None => Ok(self),
        }
    }
}

impl<E> Clone for Report<E> {
    fn clone(&self) -> Self {
        Report {
            stats: self.stats,
            failed_after_cancel: self.failed_after_cancel,
            still_running: self.still_running,
            cancel_reason: self.cancel_reason,
            failure: self.failure.clone(),
            is_final: self.is_final,
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for Report<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Report")
            .field("outcome", &self.outcome())
            .field("cancel_reason", &self.cancel_reason)
            .field("stats", &self.stats)
            .field("ended_in_drain", &self.ended_in_drain())
            .field("ended_after_cancel", &self.ended_after_cancel())
            .field("still_running", &self.still_running)
            .field("failure", &self.failure)
            .field("is_final", &self.is_final)
            .finish()
    }
}

/// The first failure of a nursery, shared by every report of it.
///
/// The payload is not `Clone` (a panic payload never is), so it is kept in one
/// place: the first [`take`](Failure::take) gets it, intact; every report still
/// says whether it was a panic and which child it was.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scope_core::Nursery;
///
/// let nursery: Nursery = Nursery::new();
/// nursery.spawn_named("worker", async { if true { panic!("lost the plot") } }).unwrap();
/// let report = nursery.close().await;
/// let failure = report.failure().unwrap();
/// assert!(failure.is_panic());
/// assert_eq!(failure.child_name(), Some("worker"));
/// let payload = failure.take().unwrap().into_panic();
/// assert_eq!(*payload.downcast::<&str>().unwrap(), "lost the plot");
/// assert!(failure.take().is_none(), "taken once");
/// # }
/// ```
pub struct Failure<E> {
    inner: Arc<FailureInner<E>>,
}

pub(crate) struct FailureInner<E> {
    is_panic: bool,
    name: Option<Arc<str>>,
    value: Mutex<Option<ChildError<E>>>,
}

impl<E> Failure<E> {
    pub(crate) fn from_arc(inner: Arc<FailureInner<E>>) -> Self {
        Failure { inner }
    }

    pub(crate) fn into_arc(self) -> Arc<FailureInner<E>> {
        self.inner
    }

    pub(crate) fn new(err: ChildError<E>) -> Self {
        Failure {
            inner: Arc::new(FailureInner {
                is_panic: err.is_panic(),
                name: err.child_name().map(Arc::from),
                value: Mutex::new(Some(err)),
            }),
        }
    }

    /// The child panicked (rather than returning `Err`). Still answers after
    /// the payload was taken.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery = scope_core::Nursery::new();
    /// nursery.spawn(async { if true { panic!("boom") } }).unwrap();
    /// let report = nursery.close().await;
    /// let _payload = report.take_failure();
    /// assert!(report.failure().unwrap().is_panic());
    /// # }
    /// ```
    #[must_use]
    pub fn is_panic(&self) -> bool {
        self.inner.is_panic
    }

    /// The failed child's name, if it had one. Still answers after the
    /// payload was taken.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery<(), &str> = scope_core::Nursery::new();
    /// nursery.spawn_named("indexer", async { Err("no space") }).unwrap();
    /// let report = nursery.close().await;
    /// let _payload = report.take_failure();
    /// assert_eq!(report.failure().unwrap().child_name(), Some("indexer"));
    /// # }
    /// ```
    #[must_use]
    pub fn child_name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// Takes the payload; `None` if someone took it already (through this
    /// `Failure`, a clone of it, or any report of the same nursery).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery<(), &str> = scope_core::Nursery::new();
    /// nursery.spawn(async { Err("bad") }).unwrap();
    /// let failure = nursery.close().await.failure().unwrap().clone();
    /// let again = failure.clone();
    /// assert_eq!(failure.take().unwrap().into_error().unwrap(), "bad");
    /// assert!(again.take().is_none());
    /// # }
    /// ```
    #[must_use]
    pub fn take(&self) -> Option<ChildError<E>> {
        self.inner.value.lock().take()
    }

    /// Runs `f` on the payload while it is still here; `None` (and `f` not
    /// called) once it was taken.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let nursery: scope_core::Nursery<(), &str> = scope_core::Nursery::new();
    /// nursery.spawn(async { Err("bad") }).unwrap();
    /// let report = nursery.close().await;
    /// let failure = report.failure().unwrap();
    /// assert_eq!(failure.inspect(|e| e.to_string()).as_deref(), Some("a child failed: bad"));
    /// let _payload = failure.take();
    /// assert_eq!(failure.inspect(|e| e.to_string()), None);
    /// # }
    /// ```
    pub fn inspect<R>(&self, f: impl FnOnce(&ChildError<E>) -> R) -> Option<R> {
        self.inner.value.lock().as_ref().map(f)
    }
}

impl<E> Clone for Failure<E> {
    fn clone(&self) -> Self {
        Failure {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.inner.value.lock() {
            Some(e) => e.fmt(f),
            None => f
                .debug_struct("Failure")
                .field("is_panic", &self.inner.is_panic)
                .field("child", &self.inner.name)
                .field("payload", &"<taken>")
                .finish(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.inner.value.lock() {
            Some(e) => e.fmt(f),
            None => {
                let who = self.inner.name.as_deref().unwrap_or("a child");
                let how = if self.inner.is_panic {
                    "panicked"
                } else {
                    "failed"
                };
                write!(f, "{who} {how}")
            }
        }
    }
}
