//! The wrapper every child runs in: it records how the child ended, exactly
//! once, whether the child returns, fails, panics, is aborted or is dropped
//! unstarted.
//!
//! # Invariants
//!
//! 1. A child in the `JoinSet` ends exactly once: by `child_ended` when its
//!    work returns or panics (the work is dropped first, so `fut`/`f` is
//!    `None` afterwards), or by its `Drop` when the work is still there
//!    (abort, runtime shutdown). A child *rescued* while the spawn that made
//!    it is still on the stack (the runtime refused the task) ends nothing:
//!    the spawner undoes the admission instead.
//! 2. A queued child (waiting for a running slot) lives in a [`Queued`] box
//!    and never reaches the wrapper's `Drop` with its work: it either starts
//!    (and is then a child in the set) or is discarded, which ends it as
//!    cancelled or aborted.
//! 3. With a running limit, every child in the set holds a slot, so the
//!    wrapper needs no flag for it: its end hands the slot on.
//! 4. The wrapped future is never moved after its first poll: it is only
//!    taken out while the spawn that armed the rescue slot is on this
//!    thread's stack (tokio does not poll a task inside `spawn`), or while
//!    queued (never handed to tokio), and only dropped in place otherwise.
//!
//! 5. In [`Child`], `shared.is_some()` iff `fut` holds a live future: the
//!    future is dropped (or moved out) exactly once, right before `shared` is
//!    taken.
//!
//! The wrapper is the future plus one pointer: in tokio's 128-byte-granular
//! task cells every byte here can cost a whole step.

#![allow(unsafe_code)]

use std::future::Future;
use std::marker::PhantomPinned;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::runtime::Handle;
use tokio::task::{Id, JoinSet};

use super::shared::Shared;
use crate::ChildOutput;
use crate::context;

/// How a child ended.
pub(crate) enum Ended<T, E> {
    Returned(Result<T, E>),
    Panicked(Box<dyn std::any::Any + Send>),
    /// Dropped after (or instead of) running, by abort or shutdown.
    Aborted,
    /// Dropped unstarted from the queue by a cancellation.
    Cancelled,
}

/// An async child: the future and one pointer. `shared` is `Some` exactly
/// while `fut` holds a live future (invariant 5), which spares an `Option`
/// around the future (no niche there: it would cost 8 bytes per task).
pub(crate) struct Child<F: Send + 'static, T: Send + 'static, E: Send + 'static> {
    fut: ManuallyDrop<F>,
    shared: Option<Arc<Shared<T, E>>>,
    #[cfg(feature = "tracing")]
    span: tracing::Span,
    _pin: PhantomPinned,
}

impl<F, T, E> Child<F, T, E>
where
    F: Future + Send + 'static,
    F::Output: ChildOutput<T, E>,
    T: Send + 'static,
    E: Send + 'static,
{
    #[allow(unused_variables)]
    pub(crate) fn new(fut: F, shared: Arc<Shared<T, E>>, name: Option<&str>) -> Self {
        #[cfg(feature = "tracing")]
        let span = tracing::trace_span!(
            "child",
            nursery = shared.name().unwrap_or(""),
            child = name.unwrap_or(""),
        );
        Child {
            fut: ManuallyDrop::new(fut),
            shared: Some(shared),
            #[cfg(feature = "tracing")]
            span,
            _pin: PhantomPinned,
        }
    }
}

impl<F, T, E> Future for Child<F, T, E>
where
    F: Future + Send + 'static,
    F::Output: ChildOutput<T, E>,
    T: Send + 'static,
    E: Send + 'static,
{
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // SAFETY: we never move out of `*this` after a poll: `fut` is only
        // moved by `take_unstarted`, before any poll (invariant 4).
        let this = unsafe { self.get_unchecked_mut() };
        if this.shared.is_none() {
            // Tokio never polls a completed future; be harmless if it did.
            return Poll::Ready(None);
        }
        // SAFETY: `fut` is live (invariant 5), lives inside `*this`, which is
        // pinned, and is never moved again: it is only dropped in place.
        let fut = unsafe { Pin::new_unchecked(&mut *this.fut) };
        let polled = {
            let shared = this.shared.as_deref().expect("checked above");
            let _cx = context::enter(shared);
            #[cfg(feature = "tracing")]
            let _span = this.span.enter();
            catch_unwind(AssertUnwindSafe(|| fut.poll(cx)))
        };
        let ended = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(out)) => Ended::Returned(out.into_result()),
            Err(payload) => Ended::Panicked(payload),
        };
        let shared = this.shared.take().expect("checked above");
        // Drop the finished future in place before the child counts as
        // ended, so `close` returning means its captures and resources are
        // gone. A destructor that panics turns the end into a panic.
        // SAFETY: `shared` was just taken, so this is the one drop of the
        // live future (invariant 5), in place.
        let dropped = catch_unwind(AssertUnwindSafe(|| unsafe {
            ManuallyDrop::drop(&mut this.fut)
        }));
        let ended = match dropped {
            Ok(()) => ended,
            Err(payload) => Ended::Panicked(payload),
        };
        Poll::Ready(shared.child_ended(ended, true))
    }
}

impl<F: Send + 'static, T: Send + 'static, E: Send + 'static> Child<F, T, E> {
    /// Moves the future out of a child that was never polled (invariant 4).
    fn take_unstarted(&mut self) -> Option<F> {
        self.shared.take()?;
        // SAFETY: `shared` was `Some`, so `fut` is live (invariant 5); taking
        // `shared` marks it gone, so it is neither read nor dropped again.
        // It was never polled, hence never pinned, so it may move.
        Some(unsafe { ManuallyDrop::take(&mut self.fut) })
    }
}

impl<F: Send + 'static, T: Send + 'static, E: Send + 'static> Drop for Child<F, T, E> {
    fn drop(&mut self) {
        if self.shared.is_none() {
            return; // ended already, or taken back unstarted
        }
        if context::rescue_armed() {
            // Invariant 4: the spawn is still on this thread's stack, so the
            // future was never polled and may move.
            if let Some(fut) = self.take_unstarted() {
                if let Err(fut) = context::try_rescue(fut) {
                    drop(fut);
                }
            }
            return;
        }
        // Aborted: drop the future in place first, so a close that returns
        // has no destructor of ours still running, then count it. A
        // panicking destructor must not skip the count.
        let shared = self.shared.take().expect("checked above");
        // SAFETY: `shared` was `Some`, so `fut` is live (invariant 5); this is
        // its one drop, in place.
        let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
            ManuallyDrop::drop(&mut self.fut)
        }));
        shared.child_ended(Ended::Aborted, true);
    }
}

/// The `Drop` of a blocking child: rescue, or count an abort and let the
/// closure drop with the wrapper.
fn end_dropped<W: Send + 'static, T: Send + 'static, E: Send + 'static>(
    work: &mut Option<W>,
    shared: &Shared<T, E>,
) {
    if work.is_none() {
        return; // ended already, or taken back unstarted
    }
    if context::rescue_armed() {
        // Invariant 4: the spawn is still on this thread's stack, so the work
        // was never polled and may move.
        let w = work.take().expect("checked above");
        if let Err(w) = context::try_rescue(w) {
            drop(w);
        }
        return;
    }
    shared.child_ended(Ended::Aborted, true);
}

/// A blocking child: a closure run on tokio's blocking pool.
pub(crate) struct BlockingChild<Fn: Send + 'static, T: Send + 'static, E: Send + 'static> {
    f: Option<Fn>,
    shared: Arc<Shared<T, E>>,
}

impl<Fn, O, T, E> BlockingChild<Fn, T, E>
where
    Fn: FnOnce() -> O + Send + 'static,
    O: ChildOutput<T, E>,
    T: Send + 'static,
    E: Send + 'static,
{
    pub(crate) fn new(f: Fn, shared: Arc<Shared<T, E>>) -> Self {
        BlockingChild { f: Some(f), shared }
    }

    pub(crate) fn run(mut self) -> Option<T> {
        let f = self.f.take().expect("blocking child runs once");
        let shared = &*self.shared;
        shared.blocking_moved(true);
        let result = {
            let _cx = context::enter(shared);
            catch_unwind(AssertUnwindSafe(f))
        };
        shared.blocking_moved(false);
        let ended = match result {
            Ok(out) => Ended::Returned(out.into_result()),
            Err(payload) => Ended::Panicked(payload),
        };
        self.shared.child_ended(ended, true)
    }
}

impl<Fn: Send + 'static, T: Send + 'static, E: Send + 'static> Drop for BlockingChild<Fn, T, E> {
    fn drop(&mut self) {
        end_dropped(&mut self.f, &self.shared);
    }
}

/// One kind of child (async or blocking): how it is handed to tokio, and
/// how its work is taken back while it has never run. The spawn path and the
/// queue both start children through this, so there is one way to do each.
pub(crate) trait Work<T>: Send + Sized + 'static {
    /// The caller's future or closure, as handed back.
    type Raw: std::any::Any + Send;

    /// Hands the child to the `JoinSet` with the rescue slot armed; returns
    /// its task id, or the work when the runtime refused the task.
    fn launch(self, set: &mut JoinSet<Option<T>>, handle: &Handle) -> Result<Id, Self::Raw>;

    /// Takes the work out of a child that never ran (invariant 4).
    fn take_unstarted(&mut self) -> Option<Self::Raw>;

    fn into_unstarted(mut self) -> Self::Raw {
        self.take_unstarted()
            .expect("an unstarted child has its work")
    }
}

impl<F, T, E> Work<T> for Child<F, T, E>
where
    F: Future + Send + 'static,
    F::Output: ChildOutput<T, E>,
    T: Send + 'static,
    E: Send + 'static,
{
    type Raw = F;

    fn launch(self, set: &mut JoinSet<Option<T>>, handle: &Handle) -> Result<Id, F> {
        spawn_armed(|| set.spawn_on(self, handle).id())
    }

    fn take_unstarted(&mut self) -> Option<F> {
        Child::take_unstarted(self)
    }
}

impl<Fn, O, T, E> Work<T> for BlockingChild<Fn, T, E>
where
    Fn: FnOnce() -> O + Send + 'static,
    O: ChildOutput<T, E>,
    T: Send + 'static,
    E: Send + 'static,
{
    type Raw = Fn;

    fn launch(self, set: &mut JoinSet<Option<T>>, handle: &Handle) -> Result<Id, Fn> {
        spawn_armed(|| set.spawn_blocking_on(move || self.run(), handle).id())
    }

    fn take_unstarted(&mut self) -> Option<Fn> {
        self.f.take()
    }
}

/// A child waiting for a running slot, type-erased for the queue.
pub(crate) trait Pending<T>: Send {
    /// [`Work::launch`]; the refused work comes back boxed, to be dropped
    /// outside the lock and counted as aborted.
    fn start(self: Box<Self>, set: &mut JoinSet<Option<T>>, handle: &Handle)
    -> Result<Id, Rescued>;

    /// Takes the work out of a child that will never start.
    fn take_work(&mut self) -> Box<dyn std::any::Any + Send>;
}

/// Work the runtime refused, to be dropped outside the nursery's lock.
pub(crate) struct Rescued(#[allow(dead_code)] pub(crate) Box<dyn std::any::Any + Send>);

impl<T, C: Work<T>> Pending<T> for C {
    fn start(
        self: Box<Self>,
        set: &mut JoinSet<Option<T>>,
        handle: &Handle,
    ) -> Result<Id, Rescued> {
        (*self)
            .launch(set, handle)
            .map_err(|w| Rescued(Box::new(w)))
    }

    fn take_work(&mut self) -> Box<dyn std::any::Any + Send> {
        Box::new(self.take_unstarted().expect("a queued child has its work"))
    }
}

/// A queued child with its name. Dropping it unstarted (the queue swept by
/// an abort, or anything else) ends it as aborted; [`Queued::discard`] picks
/// the outcome.
pub(crate) struct Queued<T: Send + 'static, E: Send + 'static> {
    pub(crate) child: Option<Box<dyn Pending<T>>>,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) shared: Arc<Shared<T, E>>,
}

impl<T: Send + 'static, E: Send + 'static> Queued<T, E> {
    /// Ends the queued child unstarted; its work is dropped after the count
    /// (the caller holds no lock).
    pub(crate) fn discard(mut self, cancelled: bool) {
        if let Some(mut child) = self.child.take() {
            let work = child.take_work();
            let ended = if cancelled {
                Ended::Cancelled
            } else {
                Ended::Aborted
            };
            self.shared.child_ended(ended, false);
            // A destructor panicking here must not unwind into the canceller.
            let _ = catch_unwind(AssertUnwindSafe(move || drop((work, child))));
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> Drop for Queued<T, E> {
    fn drop(&mut self) {
        if self.child.is_some() {
            let me = Queued {
                child: self.child.take(),
                name: self.name.take(),
                shared: Arc::clone(&self.shared),
            };
            me.discard(false);
        }
    }
}

/// Runs one `spawn_on` with the rescue slot armed; `Err` carries the work if
/// the runtime refused the task and the child parked it (runtime shut down).
pub(crate) fn spawn_armed<W: std::any::Any + Send, R>(spawn: impl FnOnce() -> R) -> Result<R, W> {
    let armed = context::arm();
    let r = spawn();
    if armed.disarm() {
        Ok(r)
    } else {
        Err(context::take_rescued::<W>().expect("a disarmed slot holds the rescued work"))
    }
}
