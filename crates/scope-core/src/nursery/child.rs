//! The wrappers children run in: each records how its child ended, exactly
//! once, whether the child returns, fails, panics, is aborted, is dropped
//! while waiting for a running slot, or is refused by the runtime.
//!
//! - [`Child`]: an async child, the future plus one pointer; [`Local`]
//!   marks one that is not `Send`, for the current `LocalSet`.
//! - [`BlockingChild`]: a closure for tokio's blocking pool.
//! - [`Gated`]: a child that waits behind the running limit (see `limit.rs`)
//!   inside its own task before the child inside it first runs; a blocking
//!   child waits in a [`LaunchBlocking`] task that hands it to the blocking
//!   pool once it has a slot.
//!
//! # Invariants
//!
//! 1. A child ends exactly once, and always after its work is dropped: by
//!    `Shared::child_ended` when its work returns or panics, by its
//!    wrapper's `Drop` when the work is still there (abort, runtime
//!    shutdown), or, while it waits for a slot, by its `Gated` wrapper once
//!    the [`Slot`](super::limit::Slot) is decided against it (by a cancel or
//!    abort sweeping the queue, which wakes the task, or by the wrapper's own
//!    `Drop`), or, for a blocking child the pool has not started, by the
//!    abort that takes its closure back (`pool.rs`). A child *rescued*
//!    while the spawn that made it is still on the stack (the runtime
//!    refused the task) ends nothing: the spawner undoes the admission
//!    instead.
//! 2. With a running limit, a child that runs holds a slot (it took one at
//!    spawn or was granted one), so its end hands the slot on; a child that
//!    ends while waiting holds none.
//! 3. The wrapped future is never moved after its first poll: it is only
//!    taken out while the spawn that armed the rescue slot is on this
//!    thread's stack (tokio does not poll a task inside `spawn`), or while
//!    its `Gated` wrapper still waits (the child inside was never polled),
//!    and only dropped in place otherwise.
//! 4. In [`Child`], `shared.is_some()` iff `fut` holds a live future: the
//!    future is dropped (or moved out) exactly once, right before `shared` is
//!    taken.
//! 5. A [`Child`]'s pointer to its nursery holds no reference count: the
//!    nursery keeps itself alive while the child is counted live
//!    (`shared.rs`, invariant 6), and the child's end, which counts it out,
//!    is the last use of the pointer. The end is handed the pointer, not a
//!    reference: no reference to the nursery is live across its decrement.
//!
//! The async wrapper is the future plus one pointer: in tokio's
//! 128-byte-granular task cells every byte here can cost a whole step.
//! Children that wait for a slot pay for the gate; the others do not.

#![allow(unsafe_code)]

use std::any::Any;
use std::future::Future;
use std::marker::PhantomPinned;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::runtime::Handle;
use tokio::task::{AbortHandle, Id, JoinHandle, JoinSet};

use super::limit::{self, GONE, GRANTED, Slot, WAITING};
use super::pool::{Entry, Handoff};
use super::shared::Shared;
use crate::ChildOutput;
use crate::context;
use crate::pause::{self, Point};
use crate::spawn_error::Kind;

/// How a child ended.
pub(crate) enum Ended<T, E> {
    Returned(Result<T, E>),
    Panicked(Box<dyn Any + Send>),
    /// Dropped after (or instead of) running, by abort or shutdown.
    Aborted,
    /// Dropped while waiting for a slot, by a cancellation.
    Cancelled,
}

/// An async child: the future and one pointer. `shared` is `Some` exactly
/// while `fut` holds a live future (invariant 4), which spares an `Option`
/// around the future (no niche there: it would cost 8 bytes per task). The
/// pointer holds no count (invariant 5): a spawn and an end each save two
/// read-modify-writes of a counter every spawning and ending thread shares.
pub(crate) struct Child<F: 'static, T: Send + 'static, E: Send + 'static> {
    fut: ManuallyDrop<F>,
    shared: Option<NonNull<Shared<T, E>>>,
    #[cfg(feature = "tracing")]
    span: tracing::Span,
    _pin: PhantomPinned,
}

// SAFETY: the pointer stands for a shared reference to the nursery, which
// is `Send` and `Sync`, kept alive by the live count rather than by a count
// of its own (invariant 5): sending the child sends the future (hence `F:
// Send`) and that reference. Sharing a `Child` shares nothing but `&F`.
unsafe impl<F: Send + 'static, T: Send + 'static, E: Send + 'static> Send for Child<F, T, E> {}
// SAFETY: as above.
unsafe impl<F: Sync + 'static, T: Send + 'static, E: Send + 'static> Sync for Child<F, T, E> {}

impl<F, T, E> Child<F, T, E>
where
    F: Future + 'static,
    F::Output: ChildOutput<T, E>,
    T: Send + 'static,
    E: Send + 'static,
{
    /// `shared` must count the child live until its end (invariant 5).
    #[allow(unused_variables)]
    pub(crate) fn new(fut: F, shared: &Arc<Shared<T, E>>, name: Option<&str>) -> Self {
        #[cfg(feature = "tracing")]
        // `info`: under the usual `info` filter an event inside the child
        // then carries its nursery and its name. Without a subscriber that
        // wants it, a span costs one check of a cached interest.
        let span = tracing::info_span!(
            "child",
            nursery = shared.name().unwrap_or(""),
            child = name.unwrap_or(""),
        );
        Child {
            fut: ManuallyDrop::new(fut),
            shared: NonNull::new(Arc::as_ptr(shared).cast_mut()),
            #[cfg(feature = "tracing")]
            span,
            _pin: PhantomPinned,
        }
    }
}

impl<F, T, E> Future for Child<F, T, E>
where
    F: Future + 'static,
    F::Output: ChildOutput<T, E>,
    T: Send + 'static,
    E: Send + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: we never move out of `*this` after a poll: `fut` is only
        // moved by `take_unstarted`, before any poll (invariant 3).
        let this = unsafe { self.get_unchecked_mut() };
        if this.shared.is_none() {
            // Tokio never polls a completed future; be harmless if it did.
            return Poll::Ready(());
        }
        // SAFETY: `fut` is live (invariant 4), lives inside `*this`, which is
        // pinned, and is never moved again: it is only dropped in place.
        let fut = unsafe { Pin::new_unchecked(&mut *this.fut) };
        let polled = {
            // SAFETY: the child is counted live (it has not ended), so the
            // nursery is alive (invariant 5).
            let shared = unsafe { this.shared.expect("checked above").as_ref() };
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
        // live future (invariant 4), in place.
        let dropped = catch_unwind(AssertUnwindSafe(|| unsafe {
            ManuallyDrop::drop(&mut this.fut)
        }));
        let ended = match dropped {
            Ok(()) => ended,
            Err(payload) => Ended::Panicked(payload),
        };
        // SAFETY: the nursery's own pointer, the child counted live until
        // this end, the pointer's last use (invariant 5).
        let let_go = unsafe { Shared::child_ended(shared.as_ptr(), ended, true, None) };
        // The pointer's last use is over: the nursery may let go of itself.
        drop(let_go);
        Poll::Ready(())
    }
}

impl<F: 'static, T: Send + 'static, E: Send + 'static> Unstarted for Child<F, T, E> {
    type Raw = F;

    fn take_unstarted(&mut self) -> Option<F> {
        self.shared.take()?;
        // SAFETY: `shared` was `Some`, so `fut` is live (invariant 4); taking
        // `shared` marks it gone, so it is neither read nor dropped again.
        // It was never polled (invariant 3), hence never pinned, so it may
        // move.
        Some(unsafe { ManuallyDrop::take(&mut self.fut) })
    }
}

impl<F: 'static, T: Send + 'static, E: Send + 'static> Drop for Child<F, T, E> {
    fn drop(&mut self) {
        if self.shared.is_none() {
            return; // ended already, or taken back unstarted
        }
        if context::rescue_armed() {
            // Invariant 3: the spawn is still on this thread's stack, so the
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
        // SAFETY: `shared` was `Some`, so `fut` is live (invariant 4); this is
        // its one drop, in place.
        let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
            ManuallyDrop::drop(&mut self.fut)
        }));
        // SAFETY: the nursery's own pointer, the child counted live until
        // this end, the pointer's last use (invariant 5).
        let let_go = unsafe { Shared::child_ended(shared.as_ptr(), Ended::Aborted, true, None) };
        drop(let_go); // the pointer's last use is over
    }
}

/// A blocking child: a closure run on tokio's blocking pool. The closure
/// waits in a handoff its nursery lists once it is handed to the pool, so
/// that an abort can take it back before it starts (see `pool.rs`).
pub(crate) struct BlockingChild<Fn: Send + 'static, T: Send + 'static, E: Send + 'static> {
    f: Arc<Handoff<Fn>>,
    shared: Arc<Shared<T, E>>,
    /// The task it is known by, when that is not the blocking task it runs
    /// in (a child that waited for a slot in a [`LaunchBlocking`] task).
    id: Option<Id>,
}

impl<Fn, O, T, E> BlockingChild<Fn, T, E>
where
    Fn: FnOnce() -> O + Send + 'static,
    O: ChildOutput<T, E>,
    T: Send + 'static,
    E: Send + 'static,
{
    pub(crate) fn new(f: Fn, shared: Arc<Shared<T, E>>) -> Self {
        BlockingChild {
            f: Arc::new(Handoff::new(f)),
            shared,
            id: None,
        }
    }

    pub(crate) fn run(self) {
        let Some(f) = self.take_closure() else {
            return;
        };
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
        // Holds its own count of the nursery: the hold given back is not
        // the last.
        // SAFETY: the closure was taken out of the handoff above, and the
        // side that takes it owns the child's end (`pool.rs`, invariant 1).
        drop(unsafe { self.shared.end_held(ended, true, self.id) });
    }
}

impl<Fn: Send + 'static, T: Send + 'static, E: Send + 'static> BlockingChild<Fn, T, E> {
    /// The closure, unless it left: run, handed back, or taken back by an
    /// abort (which counted the end).
    fn take_closure(&self) -> Option<Fn> {
        self.f
            .take(Arc::as_ptr(&self.shared).cast(), || self.shared.handed())
    }
}

impl<Fn: Send + 'static, T: Send + 'static, E: Send + 'static> Unstarted
    for BlockingChild<Fn, T, E>
{
    type Raw = Fn;

    fn take_unstarted(&mut self) -> Option<Fn> {
        self.take_closure()
    }
}

impl<Fn: Send + 'static, T: Send + 'static, E: Send + 'static> Drop for BlockingChild<Fn, T, E> {
    fn drop(&mut self) {
        let Some(f) = self.take_closure() else {
            return;
        };
        if context::rescue_armed() {
            // The spawn is still on this thread's stack: hand the closure
            // back.
            if let Err(f) = context::try_rescue(f) {
                drop(f);
            }
            return;
        }
        // Dropped unstarted (abort, runtime shutdown): the closure first,
        // then the count.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(f)));
        // SAFETY: as in `run`: the closure was taken out here.
        drop(unsafe { self.shared.end_held(Ended::Aborted, true, self.id) });
    }
}

/// A blocking child waiting for a running slot in an async task: once the
/// slot is granted, it hands the child to the blocking pool and waits for
/// it, or for an abort to withdraw the closure the pool has not started
/// (`pool.rs`, invariant 4). An abort after the start cannot stop the
/// closure, which still counts its own end (and hands its slot on).
pub(crate) struct LaunchBlocking<Fn: Send + 'static, T: Send + 'static, E: Send + 'static> {
    child: Option<BlockingChild<Fn, T, E>>,
    running: Option<(JoinHandle<()>, Arc<Handoff<Fn>>)>,
}

// Nothing in it is ever pinned: the closure is moved to the blocking pool, and
// the join handle is `Unpin`.
impl<Fn: Send + 'static, T: Send + 'static, E: Send + 'static> Unpin for LaunchBlocking<Fn, T, E> {}

impl<Fn, O, T, E> Future for LaunchBlocking<Fn, T, E>
where
    Fn: FnOnce() -> O + Send + 'static,
    O: ChildOutput<T, E>,
    T: Send + 'static,
    E: Send + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if let Some(mut child) = this.child.take() {
            // Known by this task's id: its handle and listing name this task.
            let id = tokio::task::try_id();
            child.id = id;
            let (shared, f) = (Arc::clone(&child.shared), Arc::clone(&child.f));
            let task = shared.handle().spawn_blocking(move || child.run());
            this.running = Some((task, Arc::clone(&f)));
            if let Some(id) = id {
                shared.handed_to_pool(Entry {
                    id,
                    in_set: false,
                    handoff: f,
                });
            }
        }
        let (task, handoff) = this.running.as_mut().expect("launched above");
        // A blocking task is never cancelled; a runtime shutting down drops
        // the closure, which counts itself as aborted.
        if Pin::new(task).poll(cx).is_ready() || handoff.withdrawn(cx.waker()) {
            // Withdrawn: the abort has counted the end, and the pool task,
            // once a thread takes it, finds nothing to run.
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl<Fn: Send + 'static, T: Send + 'static, E: Send + 'static> Unstarted
    for LaunchBlocking<Fn, T, E>
{
    type Raw = Fn;

    fn take_unstarted(&mut self) -> Option<Fn> {
        self.child.as_mut()?.take_unstarted()
    }
}

/// A child behind the running limit: its task waits for its slot before the
/// child inside first runs.
pub(crate) struct Gated<G: Unstarted, T: Send + 'static, E: Send + 'static> {
    inner: G,
    slot: Arc<Slot>,
    shared: Arc<Shared<T, E>>,
    /// Listed (if named or tracked) when it starts, not while it waits.
    name: Option<Arc<str>>,
    /// The child's end is not this wrapper's to count: the slot was granted
    /// and the child inside runs (and counts its own), or the wrapper has
    /// counted it, swept.
    handed_off: bool,
}

impl<G: Unstarted, T: Send + 'static, E: Send + 'static> Gated<G, T, E> {
    fn new(inner: G, slot: Arc<Slot>, shared: Arc<Shared<T, E>>, name: Option<Arc<str>>) -> Self {
        Gated {
            inner,
            slot,
            shared,
            name,
            handed_off: false,
        }
    }
}

impl<G, T, E> Future for Gated<G, T, E>
where
    G: Future<Output = ()> + Unstarted,
    T: Send + 'static,
    E: Send + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `inner` is pinned with `*this` and never moved after its
        // first poll: it is only moved out (by `take_unstarted`) before it
        // ever started (invariant 3).
        let this = unsafe { self.get_unchecked_mut() };
        if !this.handed_off {
            match this.slot.poll(cx.waker()) {
                GRANTED => {
                    this.handed_off = true;
                    this.shared.started(this.name.take());
                }
                GONE => unreachable!("only this wrapper's drop gives the slot up"),
                WAITING => return Poll::Pending,
                // Swept while waiting: drop the work here, on its own task,
                // then count the end.
                swept => {
                    this.handed_off = true;
                    this.end_swept(swept);
                    return Poll::Ready(());
                }
            }
        }
        // SAFETY: see above; `inner` stays where it is from now on.
        unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx)
    }
}

impl<G: Unstarted, T: Send + 'static, E: Send + 'static> Gated<G, T, E> {
    /// Ends a child that never started: its work first, then the count
    /// (invariant 1). It holds no slot.
    fn end_unstarted(&mut self, ended: Ended<T, E>) {
        let work = self.inner.take_unstarted();
        let _ = catch_unwind(AssertUnwindSafe(move || drop(work)));
        // Holds its own count of the nursery: not the last.
        // SAFETY: called once per wrapper, for a slot decided against the
        // child (swept, or given up by the drop): by `poll`, which sets
        // `handed_off` first so the drop counts nothing, or by the drop while
        // `handed_off` is false. A child whose slot was decided against it
        // never started, so the end is this wrapper's (invariant 1).
        drop(unsafe { self.shared.end_held(ended, false, self.slot.id()) });
    }

    /// Ends a child whose slot a sweep decided (`CANCELLED` or `ABORTED`).
    fn end_swept(&mut self, swept: u8) {
        self.end_unstarted(if swept == limit::CANCELLED {
            Ended::Cancelled
        } else {
            Ended::Aborted
        });
    }
}

impl<G: Unstarted, T: Send + 'static, E: Send + 'static> Drop for Gated<G, T, E> {
    fn drop(&mut self) {
        if self.handed_off || context::rescue_armed() {
            // Started (the child inside holds its slot and counts its own
            // end), or already counted. Refused by the runtime inside the
            // spawn: the child inside hands its work back.
            return;
        }
        if self.slot.decide(GONE) {
            // Aborted while waiting.
            self.end_unstarted(Ended::Aborted);
            return;
        }
        match self.slot.state() {
            // Granted but never polled: the child inside holds the slot; its
            // own drop counts it as aborted and hands the slot on.
            GRANTED => {}
            // Swept before its task ran again.
            swept => self.end_swept(swept),
        }
    }
}

/// Takes the work back out of a child that never ran (invariant 3).
pub(crate) trait Unstarted {
    /// The caller's future or closure, as handed back.
    type Raw: Any;

    fn take_unstarted(&mut self) -> Option<Self::Raw>;
}

/// A child's name for its tokio task, kept only where tokio-console can
/// show it (`--cfg tokio_unstable` and the `tracing` feature): elsewhere no
/// spawn clones a name for nothing.
pub(crate) fn task_label(name: &Option<Arc<str>>) -> Option<Arc<str>> {
    #[cfg(all(tokio_unstable, feature = "tracing"))]
    let label = name.clone();
    #[cfg(not(all(tokio_unstable, feature = "tracing")))]
    let label = {
        let _ = name;
        None
    };
    label
}

/// Spawns into `set` with `$spawn` (a method that `JoinSet` and tokio's
/// task builder both have) and its arguments. Built with `--cfg
/// tokio_unstable` and the `tracing` feature (tokio-console's setting), a
/// named child's task goes through the builder and carries its name, which
/// tokio-console shows.
macro_rules! spawn_task {
    ($set:expr, $name:expr, $spawn:ident($($arg:expr),*)) => {{
        #[cfg(all(tokio_unstable, feature = "tracing"))]
        let spawned = match $name {
            // tokio's builder never fails today; its `io::Result` is for later.
            Some(name) => $set
                .build_task()
                .name(name)
                .$spawn($($arg),*)
                .expect("tokio's task builder spawns"),
            None => $set.$spawn($($arg),*),
        };
        #[cfg(not(all(tokio_unstable, feature = "tracing")))]
        let spawned = {
            let _ = $name;
            $set.$spawn($($arg),*)
        };
        spawned
    }};
}

/// One kind of child (async, local or blocking): how it is handed to tokio,
/// at once or behind a slot. The spawn path starts every kind through this.
/// Both ways return the child's abort handle, or, when tokio refused the
/// task, why and the work.
pub(crate) trait Work<T: Send + 'static, E: Send + 'static>:
    Unstarted + Sized + 'static
{
    /// Hands the child to the `JoinSet` to run now; `name` names its task
    /// for tokio-console (see `spawn_task!`).
    fn launch(
        self,
        set: &mut JoinSet<()>,
        handle: &Handle,
        name: Option<&str>,
    ) -> Launched<Self::Raw>;

    /// Hands the child to the `JoinSet` to wait behind `slot`.
    fn launch_gated(
        self,
        slot: Arc<Slot>,
        shared: Arc<Shared<T, E>>,
        name: Option<Arc<str>>,
        set: &mut JoinSet<()>,
        handle: &Handle,
    ) -> Launched<Self::Raw>;

    fn into_unstarted(mut self) -> Self::Raw {
        self.take_unstarted()
            .expect("an unstarted child has its work")
    }
}

/// A child handed to tokio, or why not and its work.
pub(crate) type Launched<W> = Result<AbortHandle, (Kind, W)>;

impl<F, T, E> Work<T, E> for Child<F, T, E>
where
    F: Future + Send + 'static,
    F::Output: ChildOutput<T, E>,
    T: Send + 'static,
    E: Send + 'static,
{
    fn launch(self, set: &mut JoinSet<()>, handle: &Handle, name: Option<&str>) -> Launched<F> {
        refused(spawn_armed(|| {
            spawn_task!(set, name, spawn_on(self, handle))
        }))
    }

    fn launch_gated(
        self,
        slot: Arc<Slot>,
        shared: Arc<Shared<T, E>>,
        name: Option<Arc<str>>,
        set: &mut JoinSet<()>,
        handle: &Handle,
    ) -> Launched<F> {
        let label = task_label(&name);
        let gated = Gated::new(self, slot, shared, name);
        refused(spawn_armed(|| {
            spawn_task!(set, label.as_deref(), spawn_on(gated, handle))
        }))
    }
}

impl<Fn, O, T, E> Work<T, E> for BlockingChild<Fn, T, E>
where
    Fn: FnOnce() -> O + Send + 'static,
    O: ChildOutput<T, E>,
    T: Send + 'static,
    E: Send + 'static,
{
    fn launch(self, set: &mut JoinSet<()>, handle: &Handle, name: Option<&str>) -> Launched<Fn> {
        let (shared, f) = (Arc::clone(&self.shared), Arc::clone(&self.f));
        let launched = refused(spawn_armed(|| {
            spawn_task!(set, name, spawn_blocking_on(move || self.run(), handle))
        }));
        if let Ok(task) = &launched {
            pause::here(Point::HandedUnlisted, Arc::as_ptr(&shared).cast());
            shared.handed_to_pool(Entry {
                id: task.id(),
                in_set: true,
                handoff: f,
            });
        }
        launched
    }

    fn launch_gated(
        self,
        slot: Arc<Slot>,
        shared: Arc<Shared<T, E>>,
        name: Option<Arc<str>>,
        set: &mut JoinSet<()>,
        handle: &Handle,
    ) -> Launched<Fn> {
        let launcher = LaunchBlocking {
            child: Some(self),
            running: None,
        };
        let label = task_label(&name);
        let gated = Gated::new(launcher, slot, shared, name);
        refused(spawn_armed(|| {
            spawn_task!(set, label.as_deref(), spawn_on(gated, handle))
        }))
    }
}

/// An async child that is not `Send`: it runs on the current `LocalSet`
/// (or `LocalRuntime`), like `JoinSet::spawn_local`.
pub(crate) struct Local<F: 'static, T: Send + 'static, E: Send + 'static>(
    pub(crate) Child<F, T, E>,
);

impl<F: 'static, T: Send + 'static, E: Send + 'static> Unstarted for Local<F, T, E> {
    type Raw = F;

    fn take_unstarted(&mut self) -> Option<F> {
        self.0.take_unstarted()
    }
}

impl<F, T, E> Work<T, E> for Local<F, T, E>
where
    F: Future + 'static,
    F::Output: ChildOutput<T, E>,
    T: Send + 'static,
    E: Send + 'static,
{
    fn launch(self, set: &mut JoinSet<()>, _: &Handle, name: Option<&str>) -> Launched<F> {
        spawn_local_armed(|| spawn_task!(set, name, spawn_local(self.0)))
    }

    fn launch_gated(
        self,
        slot: Arc<Slot>,
        shared: Arc<Shared<T, E>>,
        name: Option<Arc<str>>,
        set: &mut JoinSet<()>,
        _: &Handle,
    ) -> Launched<F> {
        let label = task_label(&name);
        let gated = Gated::new(self.0, slot, shared, name);
        spawn_local_armed(|| spawn_task!(set, label.as_deref(), spawn_local(gated)))
    }
}

/// A refused spawn: the runtime has shut down.
fn refused<W>(spawned: Result<AbortHandle, W>) -> Launched<W> {
    spawned.map_err(|work| (Kind::RuntimeShutdown, work))
}

/// `spawn_armed` for `JoinSet::spawn_local`, which panics outside a
/// `LocalSet`: the panic is caught here, under the nursery's locks, and
/// reported as `Kind::NotLocal` with the work (which the child's drop
/// rescued while the panic unwound through tokio), so the spawn can undo its
/// admission after the locks before it panics in turn.
fn spawn_local_armed<W: Any>(spawn: impl FnOnce() -> AbortHandle) -> Launched<W> {
    let mut panicked = false;
    let spawned = spawn_armed(|| {
        catch_unwind(AssertUnwindSafe(spawn))
            .map_err(|_| panicked = true)
            .ok()
    });
    match spawned {
        Ok(Some(handle)) => Ok(handle),
        Err(work) if panicked => Err((Kind::NotLocal, work)),
        Err(work) => Err((Kind::RuntimeShutdown, work)),
        Ok(None) => unreachable!("a spawn that panicked dropped its future, which parked its work"),
    }
}

/// Runs one `spawn_on` with the rescue slot armed; `Err` carries the work if
/// the runtime refused the task and the child parked it (runtime shut down).
pub(crate) fn spawn_armed<W: Any, R>(spawn: impl FnOnce() -> R) -> Result<R, W> {
    let armed = context::arm();
    let r = spawn();
    if armed.disarm() {
        Ok(r)
    } else {
        Err(context::take_rescued::<W>().expect("a disarmed slot holds the rescued work"))
    }
}
