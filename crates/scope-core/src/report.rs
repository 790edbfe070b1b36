//! [`Report`] and [`Failure`]: how a nursery ended.

use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::child_error::ChildError;
use crate::stats::Stats;

/// How a nursery ended: counts, the first failure, and which phase of a
/// shutdown each child ended in.
///
/// Every `close`, `closed` and `shutdown` call on one nursery sees the same
/// counts and the same [`Failure`]. Reports are cheap to clone.
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
    pub(crate) token_cancelled: bool,
    pub(crate) failure: Option<Failure<E>>,
    pub(crate) is_final: bool,
}

/// The overall result of a nursery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every child ended without failing, and the token was not cancelled.
    Completed,
    /// The token was cancelled (by `cancel`, `shutdown`, a parent or drop),
    /// and no child failed. Cancellation is an outcome, not a failure.
    Cancelled,
    /// At least one child failed; [`Report::failure`] has the first.
    Failed,
}

impl<E> Report<E> {
    /// The counters when the report was made.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Completed, cancelled or failed; a failure takes precedence.
    #[must_use]
    pub fn outcome(&self) -> Outcome {
        if self.failure.is_some() {
            Outcome::Failed
        } else if self.token_cancelled {
            Outcome::Cancelled
        } else {
            Outcome::Completed
        }
    }

    /// `false` only for a report made without waiting for the drain: a
    /// `close` called from inside one of the nursery's own children, or a
    /// `shutdown` that left blocking children running.
    #[must_use]
    pub fn is_final(&self) -> bool {
        self.is_final
    }

    /// Children that ended before the token was cancelled: the drain phase of
    /// a shutdown (completed, plus failures before the cancel).
    #[must_use]
    pub fn ended_in_drain(&self) -> u64 {
        self.stats.completed + self.stats.failed - self.failed_after_cancel
    }

    /// Children that ended after the token was cancelled and before abort:
    /// the cancel phase of a shutdown (cancelled, plus failures after it).
    #[must_use]
    pub fn ended_after_cancel(&self) -> u64 {
        self.stats.cancelled + self.failed_after_cancel
    }

    /// Children ended by abort.
    #[must_use]
    pub fn aborted(&self) -> u64 {
        self.stats.aborted
    }

    /// Blocking children still running when a `shutdown` gave up on them:
    /// they cannot be aborted, and the nursery keeps owning them.
    #[must_use]
    pub fn still_running(&self) -> u64 {
        self.still_running
    }

    /// The first failure, if any child failed.
    #[must_use]
    pub fn failure(&self) -> Option<&Failure<E>> {
        self.failure.as_ref()
    }

    /// Takes the first failure's payload out; see [`Failure::take`].
    #[must_use]
    pub fn take_failure(&self) -> Option<ChildError<E>> {
        self.failure.as_ref().and_then(Failure::take)
    }

    /// `Ok(self)` if no child failed; otherwise the first failure's payload
    /// (taken, see [`Failure::take`]).
    ///
    /// # Errors
    ///
    /// The first failure, when there was one and nobody took it before.
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
            token_cancelled: self.token_cancelled,
            failure: self.failure.clone(),
            is_final: self.is_final,
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for Report<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Report")
            .field("outcome", &self.outcome())
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

struct FailureInner<E> {
    is_panic: bool,
    name: Option<Arc<str>>,
    value: Mutex<Option<ChildError<E>>>,
}

impl<E> Failure<E> {
    pub(crate) fn new(err: ChildError<E>) -> Self {
        Failure {
            inner: Arc::new(FailureInner {
                is_panic: err.is_panic(),
                name: err.child_name().map(Arc::from),
                value: Mutex::new(Some(err)),
            }),
        }
    }

    /// The child panicked (rather than returning `Err`).
    #[must_use]
    pub fn is_panic(&self) -> bool {
        self.inner.is_panic
    }

    /// The failed child's name, if it had one.
    #[must_use]
    pub fn child_name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// Takes the payload; `None` if someone took it already.
    #[must_use]
    pub fn take(&self) -> Option<ChildError<E>> {
        self.inner.value.lock().take()
    }

    /// Runs `f` on the payload while it is still here.
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
