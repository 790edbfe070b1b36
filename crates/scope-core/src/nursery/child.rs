//! The wrapper every child runs in: it records how the child ended, exactly
//! once, whether the child returns, fails, panics, is aborted or is dropped
//! unstarted.
//!
//! # Invariants
//!
//! 1. A [`Ticket`] is created for every admitted child and ends it exactly once:
//!    by [`Ticket::finish`] when the work returns or panics, or by its `Drop`
//!    when the work is dropped first (abort, drop of the queue, runtime
//!    shutdown). A ticket that is *rescued* (the runtime refused the task and
//!    the work went back to the spawner) ends nothing: the spawner undoes the
//!    admission instead.
//! 2. The wrapped future is never moved after its first poll: it lives in an
//!    `Option` that is only taken (by the rescue) while `ticket.started` is
//!    false,
//!    and only dropped in place afterwards.

#![allow(unsafe_code)]

use std::future::Future;
use std::marker::PhantomPinned;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::runtime::Handle;
use tokio::task::JoinSet;

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

/// The accounting half of a child: ends the child in its nursery exactly once.
///
/// Kept small (a pointer, a pointer and flags): it lives in every task.
pub(crate) struct Ticket<T: Send + 'static, E: Send + 'static> {
    pub(crate) shared: Arc<Shared<T, E>>,
    /// Only for listed (named or tracked) children.
    track: Option<Box<Track>>,
    /// Holds one of the nursery's running slots (only with a running limit).
    pub(crate) has_slot: bool,
    /// What a drop before the end counts as.
    pub(crate) drop_as_cancelled: bool,
    done: bool,
    /// The child's work has been polled (or run) once. Kept here rather
    /// than in the wrapper so it shares the ticket's padding.
    started: bool,
}

pub(crate) struct Track {
    pub(crate) id: u64,
    pub(crate) name: Option<Arc<str>>,
}

impl<T: Send + 'static, E: Send + 'static> Ticket<T, E> {
    pub(crate) fn new(shared: Arc<Shared<T, E>>, id: Option<u64>, name: Option<Arc<str>>) -> Self {
        let track = id.map(|id| Box::new(Track { id, name }));
        Ticket {
            shared,
            track,
            has_slot: false,
            drop_as_cancelled: false,
            done: false,
            started: false,
        }
    }

    pub(crate) fn name(&self) -> Option<&Arc<str>> {
        self.track.as_ref().and_then(|t| t.name.as_ref())
    }

    pub(crate) fn tracked_id(&self) -> Option<u64> {
        self.track.as_ref().map(|t| t.id)
    }

    pub(crate) fn finish(&mut self, ended: Ended<T, E>) -> Option<T> {
        debug_assert!(!self.done);
        self.done = true;
        self.shared.child_ended(self, ended)
    }

    /// The spawner takes over: nothing is counted on drop; the spawner undoes
    /// the admission.
    pub(crate) fn rescued(&mut self) {
        self.done = true;
        if let Some(id) = self.tracked_id() {
            self.shared.untrack(id);
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> Drop for Ticket<T, E> {
    fn drop(&mut self) {
        if !self.done {
            let ended = if self.drop_as_cancelled {
                Ended::Cancelled
            } else {
                Ended::Aborted
            };
            self.finish(ended);
        }
    }
}

/// An async child. `PhantomPinned` because the future is pinned in place once
/// started (invariant 2).
pub(crate) struct Child<F: Send + 'static, T: Send + 'static, E: Send + 'static> {
    fut: Option<F>,
    pub(crate) ticket: Ticket<T, E>,
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
    pub(crate) fn new(fut: F, ticket: Ticket<T, E>) -> Self {
        #[cfg(feature = "tracing")]
        let span = tracing::trace_span!(
            "child",
            nursery = ticket.shared.name().unwrap_or(""),
            child = ticket.name().map_or("", |n| &**n),
            id = ticket.tracked_id(),
        );
        Child {
            fut: Some(fut),
            ticket,
            #[cfg(feature = "tracing")]
            span,
            _pin: PhantomPinned,
        }
    }

    /// Takes the future back out of a child that was never started.
    pub(crate) fn into_unstarted(mut self) -> F {
        debug_assert!(!self.ticket.started);
        self.ticket.rescued();
        self.fut.take().expect("unstarted child has its future")
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
        // SAFETY: we never move out of `*this` except through `fut.take()` in
        // `Drop`/`into_unstarted`, which only happens while `started` is false,
        // i.e. before the `Pin::new_unchecked` below has ever been reached.
        let this = unsafe { self.get_unchecked_mut() };
        this.ticket.started = true;
        let Some(fut) = this.fut.as_mut() else {
            // Tokio never polls a completed future; be harmless if it did.
            return Poll::Ready(None);
        };
        // SAFETY: `fut` lives inside `*this`, which is pinned, and by the
        // comment above is never moved again: it is only dropped in place
        // (assigning `None` below runs its destructor where it lies).
        let fut = unsafe { Pin::new_unchecked(fut) };
        let polled = {
            let _cx = context::enter(&this.ticket.shared.core);
            #[cfg(feature = "tracing")]
            let _span = this.span.enter();
            catch_unwind(AssertUnwindSafe(|| fut.poll(cx)))
        };
        let ended = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(out)) => Ended::Returned(out.into_result()),
            Err(payload) => Ended::Panicked(payload),
        };
        // Drop the finished future (its captures, its resources) before the
        // child counts as ended, so `close` returning means they are gone. A
        // destructor that panics turns the end into a panic.
        let ended = match catch_unwind(AssertUnwindSafe(|| this.fut = None)) {
            Ok(()) => ended,
            Err(payload) => Ended::Panicked(payload),
        };
        Poll::Ready(this.ticket.finish(ended))
    }
}

impl<F: Send + 'static, T: Send + 'static, E: Send + 'static> Drop for Child<F, T, E> {
    fn drop(&mut self) {
        if !self.ticket.started {
            if let Some(fut) = self.fut.take() {
                match context::try_rescue(fut) {
                    Ok(()) => self.ticket.rescued(),
                    Err(fut) => drop_quietly(fut),
                }
            }
        } else if self.fut.is_some() {
            // Aborted mid-flight: count it before running the future's
            // destructor, which may panic (tokio catches that).
            self.ticket.finish(Ended::Aborted);
        }
        // The future, if still here, is dropped in place with the fields.
    }
}

fn drop_quietly<V>(v: V) {
    // A destructor panicking while an abort drops an unstarted child must not
    // skip the accounting that the ticket's drop does next.
    let _ = catch_unwind(AssertUnwindSafe(|| drop(v)));
}

/// A blocking child: a closure run on tokio's blocking pool.
pub(crate) struct BlockingChild<Fn: Send + 'static, T: Send + 'static, E: Send + 'static> {
    f: Option<Fn>,
    pub(crate) ticket: Ticket<T, E>,
}

impl<Fn, O, T, E> BlockingChild<Fn, T, E>
where
    Fn: FnOnce() -> O + Send + 'static,
    O: ChildOutput<T, E>,
    T: Send + 'static,
    E: Send + 'static,
{
    pub(crate) fn new(f: Fn, ticket: Ticket<T, E>) -> Self {
        BlockingChild { f: Some(f), ticket }
    }

    pub(crate) fn into_unstarted(mut self) -> Fn {
        self.ticket.rescued();
        self.f.take().expect("unstarted child has its closure")
    }

    pub(crate) fn run(mut self) -> Option<T> {
        let f = self.f.take().expect("blocking child runs once");
        let core = &self.ticket.shared.core;
        core.blocking_moved(true);
        let result = {
            let _cx = context::enter(core);
            catch_unwind(AssertUnwindSafe(f))
        };
        core.blocking_moved(false);
        let ended = match result {
            Ok(out) => Ended::Returned(out.into_result()),
            Err(payload) => Ended::Panicked(payload),
        };
        self.ticket.finish(ended)
    }
}

impl<Fn: Send + 'static, T: Send + 'static, E: Send + 'static> Drop for BlockingChild<Fn, T, E> {
    fn drop(&mut self) {
        if let Some(f) = self.f.take() {
            match context::try_rescue(f) {
                Ok(()) => self.ticket.rescued(),
                Err(f) => drop_quietly(f),
            }
        }
    }
}

/// A child waiting for a running slot, type-erased for the queue.
pub(crate) trait Pending<T>: Send {
    /// Hands the child to the `JoinSet`. `Err` carries the work back (boxed)
    /// when the runtime refused it; the caller drops it outside the lock and
    /// counts it as aborted.
    fn start(self: Box<Self>, set: &mut JoinSet<Option<T>>, handle: &Handle)
    -> Result<(), Rescued>;

    /// Marks the child as cancelled (rather than aborted) before it is dropped.
    fn cancel_unstarted(&mut self);
}

/// Work the runtime refused, to be dropped outside the nursery's lock.
pub(crate) struct Rescued(#[allow(dead_code)] pub(crate) Box<dyn std::any::Any + Send>);

impl<F, T, E> Pending<T> for Child<F, T, E>
where
    F: Future + Send + 'static,
    F::Output: ChildOutput<T, E>,
    T: Send + 'static,
    E: Send + 'static,
{
    fn start(
        mut self: Box<Self>,
        set: &mut JoinSet<Option<T>>,
        handle: &Handle,
    ) -> Result<(), Rescued> {
        self.ticket.has_slot = true;
        let child = *self;
        spawn_armed::<F, _>(|| drop(set.spawn_on(child, handle)))
            .map(|fut| Rescued(Box::new(fut)))
            .map_or(Ok(()), Err)
    }

    fn cancel_unstarted(&mut self) {
        self.ticket.drop_as_cancelled = true;
    }
}

impl<Fn, O, T, E> Pending<T> for BlockingChild<Fn, T, E>
where
    Fn: FnOnce() -> O + Send + 'static,
    O: ChildOutput<T, E>,
    T: Send + 'static,
    E: Send + 'static,
{
    fn start(
        mut self: Box<Self>,
        set: &mut JoinSet<Option<T>>,
        handle: &Handle,
    ) -> Result<(), Rescued> {
        self.ticket.has_slot = true;
        let child = *self;
        spawn_armed::<Fn, _>(|| drop(set.spawn_blocking_on(move || child.run(), handle)))
            .map(|f| Rescued(Box::new(f)))
            .map_or(Ok(()), Err)
    }

    fn cancel_unstarted(&mut self) {
        self.ticket.drop_as_cancelled = true;
    }
}

/// Runs one `spawn_on` with the rescue slot armed; returns the work if the
/// runtime refused the task and the child parked it (runtime shut down).
pub(crate) fn spawn_armed<W: std::any::Any + Send, S: FnOnce()>(spawn: S) -> Option<W> {
    let armed = context::arm();
    spawn();
    if armed.disarm() {
        None
    } else {
        context::take_rescued::<W>()
    }
}
