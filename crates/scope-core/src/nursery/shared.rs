//! The state one nursery's owner, spawners and children share.
//!
//! # Invariants
//!
//! 1. Every admitted child is, until it ends, a task in one of `sets` (a
//!    child waiting for a running slot too: it waits in its own task, see
//!    `limit.rs`), or (briefly) between admission and the hand-off under
//!    that set's lock. A nested nursery is admitted like a child and ends
//!    when it drains.
//! 2. With a running limit, the limit counts the children holding a slot and
//!    queues the others in spawn order (see `limit.rs`).
//! 3. No user code runs while a set or the limit is locked: rescued work
//!    is moved out and dropped after the guard, reaped outputs are only
//!    moved, swept children are woken after the lock (each one's task then
//!    drops its work and counts its end), blocking closures an abort takes
//!    back are dropped after the hand-off's lock. (The one exception is a runtime
//!    that is already shut down, where tokio may drop an aborted task
//!    inline; the child's accounting then only `try_lock`s.)
//! 4. The first failure is stored once, in `failure`, and every report clones
//!    the same [`Failure`].
//! 5. The nursery's `CANCELLED` state follows its token, whoever fires it:
//!    the nursery's own cancels set the flag here and in every nested
//!    nursery before firing the token, and a token someone else may cancel
//!    is watched (see `token.rs`).
//! 6. While anything is counted live, the nursery holds one strong count of
//!    itself (taken when the live count leaves zero, given back when it
//!    returns there, by whoever moved it): a child's wrapper can then point
//!    to the nursery without a reference count of its own, and a child's
//!    end, which gives the count back last, touches nothing of the nursery
//!    after that. An end whose decrement leaves another child live holds no
//!    count once it is done: that child's end may free the nursery at once.
//!    So it touches nothing after its decrement either, unless it took a
//!    count of its own before it (`release`). Nor does it hold a reference
//!    to the nursery across the decrement: a reference passed to a function
//!    asserts that its memory stays allocated until the function returns
//!    (the compiler may read through it at any point of the call). So an
//!    end reaches the nursery through a raw pointer (`child_ended`,
//!    `release`), and across its decrement holds only a reference to the
//!    lifecycle word's `Core`, every byte of which is interior mutable
//!    (atomics, and a `Notify` in an `Interior`, padding included), which a
//!    reference does not protect from being freed (as `Arc::drop` holds only
//!    its counter's).
//!
//! # Lock order
//!
//! A set (one at a time, see `sets.rs`) → the limit's queue → the
//! registry's map; a set → the blocking hand-offs' list → a hand-off
//! (`pool.rs`); `failure` and the tree's nested list are leaves; the
//! token watch is held only while polling it, which takes tokio-util's and
//! tokio's locks and none of ours. A child's end takes the sets only with
//! `try_lock` (to reap), and the limit's queue (to hand its slot on) never
//! while its own thread holds it (see 3). The watcher runs inside someone
//! else's `cancel()`, so it only `try_lock`s the queue (the next slot
//! release sweeps it when it cannot).

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering, fence};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::task::AtomicWaker;
use tokio::runtime::Handle;
use tokio::task::{AbortHandle, Id, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::child::{BlockingChild, Child, Ended, Local, Work, task_label};
use super::lazy::{OnceArc, OnceBox};
use super::limit::{self, Admit, Limit, Release, Slot};
use super::outcomes::Outcomes;
use super::pool::{Entry, Handed};
use super::registry::{Key, Registry};
use super::sets::Sets;
use super::state::{
    ABORTED, CANCELLED, Core, Count, DETACHED, ENDED, EXPOSED, FIRE, JOINER, Refusal, TASKS,
    WATCHED, children, live,
};
use super::token::{self as token_follow, Fired, Watch};
use super::tree::{self, Above, Lineage, NestedEnd, Node, Tree};
use crate::cancel_reason::CancelReason;
use crate::child_end::ChildEnd;
use crate::child_error::ChildError;
use crate::pause::{self, Point};
use crate::policy::Policy;
use crate::report::{Failure, FailureInner, Report};
use crate::snapshot::Snapshot;
use crate::spawn_error::{Kind, SpawnError};
use crate::{ChildOutput, context};

const NOT_FINAL: u64 = u64::MAX;
/// Where a final mark keeps the cancel reason's code, above the refused count;
/// the top bit stays clear, so no final mark is `NOT_FINAL`.
const FINAL_REASON_SHIFT: u32 = 64 - 1 - CancelReason::BITS;
const FINAL_REFUSED: u64 = (1 << FINAL_REASON_SHIFT) - 1;

/// How many ending children share one reaping pass (see `child_ended`).
const REAP_EVERY: u64 = 32;

pub(crate) type Handler<E> = Box<dyn Fn(&ChildError<E>) + Send + Sync>;

pub(crate) struct Config<E> {
    pub(crate) name: Option<Arc<str>>,
    pub(crate) policy: Policy,
    pub(crate) handler: Option<Handler<E>>,
    /// 0 = unbounded.
    pub(crate) max_running: usize,
    /// 0 = unbounded.
    pub(crate) max_held: u64,
    pub(crate) track_all: bool,
    pub(crate) keep_outcomes: bool,
    pub(crate) warn_after: Option<Duration>,
    /// The application token a root nursery's token was made a child of.
    pub(crate) token_parent: Option<CancellationToken>,
    /// The runtime a nested nursery was given, to spawn on instead of its
    /// parent's.
    pub(crate) handle: Option<Handle>,
}

/// What a nursery keeps of its configuration: the settings every spawn or
/// end reads inline, the rest in one box made only when one is set.
struct Settings<E> {
    /// 0 = unbounded.
    max_held: u64,
    policy: Policy,
    track_all: bool,
    /// Ends are kept for the owner to join.
    keep_outcomes: bool,
    extra: Option<Box<Extra<E>>>,
}

struct Extra<E> {
    name: Option<Arc<str>>,
    handler: Option<Handler<E>>,
    warn_after: Option<Duration>,
    /// The application token a root nursery's token was made a child of.
    token_parent: Option<CancellationToken>,
    /// A nested nursery's own runtime (a root's is in its tree link).
    handle: Option<Handle>,
}

pub(crate) struct Shared<T: Send + 'static, E: Send + 'static> {
    pub(crate) core: Core,
    /// This nursery's own allocation, for the strong count it holds while
    /// anything is live (invariant 6): set once by [`made`](Self::made),
    /// from `Arc::as_ptr`. Holds no count.
    this: AtomicPtr<Self>,
    /// Made on first demand (a holder, a nested nursery's, a watch): most
    /// nurseries never need one. See "The token, made late" in `token.rs`.
    token: OnceBox<CancellationToken>,
    /// The waker of `poll_cancelled`, made with its first call.
    cancel_waker: OnceBox<AtomicWaker>,
    /// Follows the token when someone else may cancel it (invariant 5).
    token_watch: OnceArc<Watch<Self>>,
    settings: Settings<E>,
    /// The tasks (invariant 1), in sets made with the first child.
    sets: Sets,
    /// The running limit, if there is one.
    limit: Option<Box<Limit>>,
    /// The children's ends kept for the owner, made at the build if it
    /// keeps them; otherwise made by its first join, only for its waker.
    outcomes: OnceBox<Outcomes<T, E>>,
    /// The first failure, set once (invariant 4).
    failure: OnceArc<FailureInner<E>>,
    /// Made when a child is first listed.
    registry: OnceBox<Registry>,
    /// The blocking children handed to the pool, made with the first.
    handed: OnceBox<Handed>,
    /// The parent, stored once, and the nested nurseries.
    tree: Tree<E>,
    /// What may still move after the drain, frozen when it completes, so
    /// every later report is the same: `NOT_FINAL`, or the refused count with
    /// the cancel reason's code (0: the token never fired) above it.
    final_mark: AtomicU64,
}

impl<T: Send + 'static, E: Send + 'static> Shared<T, E> {
    /// A nursery to put in an `Arc` and then call [`made`](Self::made) on.
    pub(crate) fn new(config: Config<E>, above: Above<E>) -> Self {
        let Config {
            name,
            policy,
            handler,
            max_running,
            max_held,
            track_all,
            keep_outcomes,
            warn_after,
            token_parent,
            handle,
        } = config;
        let rare = name.is_some()
            || handler.is_some()
            || warn_after.is_some()
            || token_parent.is_some()
            || handle.is_some();
        Shared {
            core: Core::new(),
            this: AtomicPtr::new(std::ptr::null_mut()),
            token: OnceBox::new(),
            cancel_waker: OnceBox::new(),
            token_watch: OnceArc::new(),
            settings: Settings {
                max_held,
                policy,
                track_all,
                keep_outcomes,
                extra: rare.then(|| {
                    Box::new(Extra {
                        name,
                        handler,
                        warn_after,
                        token_parent,
                        handle,
                    })
                }),
            },
            sets: Sets::new(),
            limit: (max_running != 0).then(|| Box::new(Limit::new(max_running))),
            outcomes: {
                let outcomes = OnceBox::new();
                if keep_outcomes {
                    outcomes.get_or_init(Outcomes::new);
                }
                outcomes
            },
            failure: OnceArc::new(),
            registry: OnceBox::new(),
            handed: OnceBox::new(),
            tree: Tree::new(above),
            final_mark: AtomicU64::new(NOT_FINAL),
        }
    }

    /// The nursery's `Arc` is made: records where it lives (invariant 6),
    /// and a nested nursery takes its slot in its parent's list (`tree.rs`,
    /// invariant 4). Before anything else uses it.
    pub(crate) fn made(self: &Arc<Self>) {
        // Relaxed: written before the `Arc` reaches any other thread, and
        // whatever hands it on publishes this write with it.
        self.this
            .store(Arc::as_ptr(self).cast_mut(), Ordering::Relaxed);
        self.tree
            .register(|| Arc::downgrade(self) as Weak<dyn Node<E>>);
    }

    /// This nursery's own allocation (`this`).
    fn this(&self) -> *const Self {
        // Relaxed: see `made`.
        let this = self.this.load(Ordering::Relaxed);
        debug_assert!(!this.is_null(), "a nursery used before `made`");
        this
    }

    /// The runtime the nursery spawns on: its own, or its nearest
    /// ancestor's.
    pub(crate) fn handle(&self) -> &Handle {
        if let Some(handle) = Node::own_handle(self) {
            return handle;
        }
        let mut up = self.tree.parent();
        while let Some(parent) = up {
            if let Some(handle) = parent.own_handle() {
                return handle;
            }
            up = parent.tree().parent();
        }
        unreachable!("a root nursery holds its handle")
    }

    fn extra(&self) -> Option<&Extra<E>> {
        self.settings.extra.as_deref()
    }

    /// The nursery's name, for a nested nursery's listing in its parent.
    pub(crate) fn name_arc(&self) -> Option<Arc<str>> {
        self.extra().and_then(|x| x.name.clone())
    }

    /// The owner detached the nursery.
    pub(crate) fn detach(&self) {
        self.core.mark(DETACHED);
        self.close_joins();
        self.begin_close();
    }

    pub(crate) fn is_detached(&self) -> bool {
        self.core.has(DETACHED)
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.extra().and_then(|x| x.name.as_deref())
    }

    // ----- following the token (invariant 5) -------------------------------

    /// The token, for a holder outside the nursery: from now on someone else
    /// may cancel it, so the nursery and everything below it follow it (see
    /// `token.rs`).
    pub(crate) fn token(self: &Arc<Self>) -> &CancellationToken {
        if !self.core.has(WATCHED) {
            token_follow::expose(&(Arc::clone(self) as Arc<dyn Node<E>>));
        }
        self.token_now()
    }

    /// The token, made now if it was not: its ancestors' first, top down
    /// (a loop, however deep), so each is made a child of a made one.
    fn token_now(&self) -> &CancellationToken {
        if let Some(token) = self.token.get() {
            return token;
        }
        let mut missing = Vec::new();
        let mut at = self.tree.parent().cloned();
        while let Some(node) = at {
            if node.made_token().is_some() {
                break;
            }
            at = node.tree().parent().cloned();
            missing.push(node);
        }
        for node in missing.iter().rev() {
            node.token_now();
        }
        let token = self.token.get_or_init(|| match self.tree.parent() {
            Some(parent) => parent
                .made_token()
                .expect("the parent's token is made first")
                .child_token(),
            None => match self.extra().and_then(|x| x.token_parent.as_ref()) {
                Some(up) => up.child_token(),
                None => CancellationToken::new(),
            },
        });
        // A cancel that had walked below before the token was published
        // may have found no token to fire: fire it here. `FIRE`, not
        // `CANCELLED`: firing before the walk has set the flags below would
        // let a holder see the token fired before they say so. SeqCst,
        // paired with the fence in `cancel_wakes`: of the publication and
        // `FIRE`, at least one side sees the other's (`token.rs`, "made
        // late"). A token made below one that fires descends from it.
        fence(Ordering::SeqCst);
        if self.core.has(FIRE) {
            token.cancel();
        }
        token
    }

    /// Polls for the cancel, with one waker slot (see
    /// `Spawner::poll_cancelled`).
    pub(crate) fn poll_cancelled(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.was_cancelled() {
            return Poll::Ready(());
        }
        self.cancel_waker
            .get_or_init(AtomicWaker::new)
            .register(cx.waker());
        // Paired with the fence in `cancel_wakes`, as in `token_now`.
        fence(Ordering::SeqCst);
        if self.was_cancelled() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// The flag was just set: fire the token if it is made, and wake a
    /// `poll_cancelled`. `fire` is `false` for a nursery below the one that
    /// cancels, whose token the top token's firing reaches.
    fn cancel_wakes(&self, fire: bool) {
        if fire {
            self.core.mark(FIRE);
        }
        // SeqCst: see `token_now` and `poll_cancelled`.
        fence(Ordering::SeqCst);
        if fire {
            if let Some(token) = self.token.get() {
                token.cancel();
            }
        }
        if let Some(waker) = self.cancel_waker.get() {
            waker.wake();
        }
    }

    /// A nursery being built under an exposed parent (or an application's
    /// token) is exposed from the start (`token.rs`, invariant 1).
    pub(crate) fn exposed_at_build(self: &Arc<Self>) {
        self.core.mark(EXPOSED);
        Arc::clone(self).start_watch();
        self.core.mark(WATCHED);
    }

    /// The token has fired (the flag says so, or, for an exposed nursery, the
    /// token does: see `ended_after_cancel`).
    fn was_cancelled(&self) -> bool {
        let state = self.core.load();
        state & CANCELLED != 0 || (state & EXPOSED != 0 && self.token_fired_already())
    }

    /// The token is made and has fired.
    fn token_fired_already(&self) -> bool {
        self.token
            .get()
            .is_some_and(CancellationToken::is_cancelled)
    }

    /// The token fired, through this nursery or not: make the state follow.
    /// Runs inside the `cancel()` that fired it (or when the nursery is built),
    /// so it never waits for the limit's queue: a holder may be this very
    /// thread (see invariant 3), and the next slot release sweeps what waits.
    fn token_fired(&self) {
        // Mostly the nursery fired its own token and the flag is set: skip
        // asking the parent token (a lock) for a reason that would lose.
        if self.core.is_cancelled() {
            return;
        }
        if self.core.set_cancelled(self.token_reason()) {
            // Its token has fired already: nothing to fire.
            self.cancel_wakes(false);
            if let Some(waiting) = self.limit.as_ref().and_then(|l| l.try_take_waiting()) {
                self.sweep(waiting, limit::CANCELLED);
            }
        }
    }

    /// Decides the children taken out of the queue, unstarted: to end as
    /// cancelled or as aborted (`to`). Each one's task, woken, drops its
    /// work and then counts its end (see `child.rs`, invariant 1), so a
    /// close never finishes before the work is gone.
    fn sweep(&self, waiting: VecDeque<Arc<Slot>>, to: u8) {
        for slot in waiting {
            if slot.decide(to) {
                slot.wake();
            }
        }
    }

    // ----- admission -------------------------------------------------------

    /// Counts a child in.
    pub(crate) fn admit(&self) -> Result<(), Kind> {
        let (prev, refusal) = self
            .core
            .admit(self.settings.max_held, || context::is_inside(&self.core));
        if live(prev) == 0 {
            self.hold_self();
        }
        let Some(why) = refusal else {
            return Ok(());
        };
        // Counted in for a moment: out again, and counted as refused. (The
        // caller reaches this nursery through a count of its own, so the
        // hold given back here cannot be the last.)
        self.core.bump(Count::Refused);
        self.release_held();
        Err(match why {
            Refusal::Closed => Kind::Closed,
            Refusal::Cancelled => Kind::Cancelled,
            Refusal::Full => Kind::Full,
        })
    }

    /// Holds a strong count: the live count left zero (invariant 6). (An end
    /// with a wake-up to do after its decrement takes its count in
    /// `release`, from the pointer it was handed.)
    #[allow(unsafe_code)]
    fn hold_self(&self) {
        // SAFETY: `this` is this nursery's `Arc::as_ptr`, with the
        // allocation's provenance, and the count is at least 1: the caller
        // holds one (the spawner, owner or parent reaching this nursery), or
        // is a child still counted live, for which the nursery holds one.
        unsafe { Arc::increment_strong_count(self.this()) }
    }

    /// The live count returned to zero: give the strong count back, here,
    /// for a caller that holds a count of its own (so this is not the last,
    /// and the nursery outlives the `&self`).
    fn let_go_of_self(&self) {
        drop(LetGo::new(self.this(), 1));
    }

    fn lists(&self, name: Option<&Arc<str>>) -> bool {
        name.is_some() || self.settings.track_all
    }

    /// Hands a child to tokio with `start`, listing it under its task id when
    /// it is named or tracked.
    fn launch<R>(
        &self,
        name: Option<Arc<str>>,
        start: impl FnOnce() -> Result<AbortHandle, R>,
    ) -> Result<AbortHandle, R> {
        if !self.lists(name.as_ref()) {
            return start();
        }
        self.registry
            .get_or_init(Registry::new)
            .list_task(name, start)
    }

    /// Counts a child out; finishes the close if that was the last. Returns
    /// the nursery's hold on itself if nothing is live any more (invariant
    /// 6), to drop once the caller is done with the nursery.
    ///
    /// The caller may hold no count of the nursery (a child's wrapper): once
    /// the decrement leaves another child live, that child's end may let go
    /// of the nursery and free it at any moment. So an end that has a wake-up
    /// to do after its decrement (a shutdown watching, a waiter, the joiner)
    /// while another child is live first takes a count of its own, given
    /// back with the returned hold; the others count themselves out by one
    /// swap from a word that asked for nothing more, and touch nothing
    /// after it but what the last end does, which holds the nursery.
    ///
    /// # Safety
    ///
    /// `this` is the nursery's own pointer (`this()`, or the `Arc::as_ptr`
    /// a child keeps), and the caller is counted live in it (invariant 6).
    #[allow(unsafe_code)]
    unsafe fn release(this: *const Self) -> LetGo<T, E> {
        // Read before the decrement: after it, an end that was not the last
        // and took no count reads nothing of the nursery. Every byte of
        // `core` is interior mutable (invariant 6).
        let (core, keeps) = {
            // SAFETY: counted live, so the nursery is alive (invariant 6); the
            // reference is not used after the decrement but by an end that
            // holds a count.
            let shared = unsafe { &*this };
            (&shared.core, shared.settings.keep_outcomes)
        };
        // The joiner waits for an end, or for no child to be left (`state.rs`,
        // invariant 9, for a nursery that keeps nothing).
        let wakes_joiner = |word| (keeps || word & JOINER != 0) && children(word) == 1;
        // SAFETY: the nursery is alive and its strong count is at least one
        // (invariant 6); `this` has the `Arc`'s provenance.
        let hold = || unsafe { Arc::increment_strong_count(this) };
        let (finished, prev, held) = core.end_child(wakes_joiner, hold);
        // Finishing the close and waking the joiner are for an end that
        // holds a count: the last one, or one that took a count for them.
        if finished {
            // SAFETY: the last end: the nursery's own count is given back
            // only with the returned hold.
            tree::closed(unsafe { &*this });
        }
        if wakes_joiner(prev) {
            // SAFETY: the last end, or one that took a count (`hold`) for
            // this wake-up.
            unsafe { &*this }.wake_joiner();
        }
        LetGo::new(this, u8::from(held) + u8::from(live(prev) == 1))
    }

    /// [`release`](Self::release) for a caller that holds a count of its
    /// own (a spawner undoing an admission): not the last.
    #[allow(unsafe_code)]
    fn release_held(&self) {
        // SAFETY: `this()` is the nursery's pointer, and the caller was
        // counted live by the admission it undoes.
        drop(unsafe { Self::release(self.this()) });
    }

    /// A joiner waiting while no end is kept returns once no child is left:
    /// the decrement that left none wakes it.
    fn wake_joiner(&self) {
        if let Some(joiner) = self.outcomes.get().and_then(Outcomes::take_waker) {
            joiner.wake();
        }
    }

    #[track_caller]
    pub(crate) fn spawn<F>(
        self: &Arc<Self>,
        fut: F,
        name: Option<Arc<str>>,
        try_only: bool,
    ) -> Result<AbortHandle, SpawnError<F>>
    where
        F: Future + Send + 'static,
        F::Output: ChildOutput<T, E>,
    {
        if let Err(kind) = self.admit() {
            return Err(SpawnError::new(kind, fut));
        }
        let child = Child::new(fut, self, name.as_deref());
        self.hand_off(child, name, try_only)
    }

    #[track_caller]
    pub(crate) fn spawn_local<F>(self: &Arc<Self>, fut: F) -> Result<AbortHandle, SpawnError<F>>
    where
        F: Future + 'static,
        F::Output: ChildOutput<T, E>,
    {
        if let Err(kind) = self.admit() {
            return Err(SpawnError::new(kind, fut));
        }
        let child = Local(Child::new(fut, self, None));
        match self.hand_off(child, None, false) {
            Err(refused) if refused.kind() == Kind::NotLocal => {
                // Admission undone; now the panic tokio raised, as
                // `JoinSet::spawn_local` would (tokio printed its message).
                drop(refused);
                std::panic::resume_unwind(Box::new(
                    "`spawn_local` called from outside of a `task::LocalSet` or `runtime::LocalRuntime`",
                ))
            }
            spawned => spawned,
        }
    }

    pub(crate) fn spawn_blocking<Fn, O>(
        self: &Arc<Self>,
        f: Fn,
        name: Option<Arc<str>>,
    ) -> Result<AbortHandle, SpawnError<Fn>>
    where
        Fn: FnOnce() -> O + Send + 'static,
        O: ChildOutput<T, E>,
    {
        if let Err(kind) = self.admit() {
            return Err(SpawnError::new(kind, f));
        }
        let child = BlockingChild::new(f, Arc::clone(self));
        self.hand_off(child, name, false)
    }

    /// Hands an admitted child to tokio: to run at once, or to wait for a
    /// running slot in its own task.
    fn hand_off<C: Work<T, E>>(
        self: &Arc<Self>,
        child: C,
        name: Option<Arc<str>>,
        try_only: bool,
    ) -> Result<AbortHandle, SpawnError<C::Raw>> {
        let mut inner = self.sets.for_spawn();
        // A cancel (and the abort a drop or shutdown does after it) may have
        // run between the admission and this lock; it has already swept the
        // set and the queue, so this child must not slip in behind it. The
        // flag is set before the abort takes any set's lock, so holding a
        // lock the abort has been through means we see it; one it has not
        // reached yet, it sweeps after us (`sets.rs`, invariant 4).
        if self.core.is_cancelled() {
            drop(inner);
            return Err(self.refuse(Kind::Cancelled, child.into_unstarted()));
        }
        let set = match &mut *inner {
            Some(set) => set,
            none => {
                // Marked before the child can be counted out: a drain that
                // sees the close finished sees this too.
                self.core.mark(TASKS);
                none.insert(JoinSet::new())
            }
        };
        let handle = self.handle();
        // Its task's name, for tokio-console.
        let label = task_label(&name);
        let label = label.as_deref();
        let started = match &self.limit {
            None => self.launch(name, || child.launch(set, handle, label)),
            // `Ok` keeps the slot (or the place in the queue) taken; `Err`
            // gives it back.
            Some(limit) => limit.admit(try_only, |admit| match admit {
                Admit::Run => self
                    .launch(name, || child.launch(set, handle, label))
                    .map(Ok)
                    .map_err(Err),
                Admit::Wait(slot) => {
                    let gated = Arc::clone(&slot);
                    match child.launch_gated(gated, Arc::clone(self), name, set, handle) {
                        Ok(h) => {
                            // Before the slot is queued, where a sweep finds it.
                            slot.set_id(h.id());
                            Ok(Ok(h))
                        }
                        Err(refused) => Err(Err(refused)),
                    }
                }
                Admit::Full => Err(Err((Kind::Full, child.into_unstarted()))),
            }),
        };
        drop(inner);
        started.map_err(|(kind, work)| self.refuse(kind, work))
    }

    /// Undoes an admission whose work goes back to the caller.
    fn refuse<W>(&self, kind: Kind, work: W) -> SpawnError<W> {
        self.core.bump(Count::Refused);
        // The spawner holds a count: not the last.
        self.release_held();
        SpawnError::new(kind, work)
    }

    /// A child that waited for its slot starts: list it now, under its task.
    pub(crate) fn started(&self, name: Option<Arc<str>>) {
        if self.lists(name.as_ref()) {
            if let Some(id) = tokio::task::try_id() {
                self.registry
                    .get_or_init(Registry::new)
                    .list(Key::Task(id), name);
            }
        }
    }

    // ----- ending ----------------------------------------------------------

    /// Records how a child ended; the last step is the live-count decrement.
    /// `ran`: the child ran (or could have: it held a running slot when there
    /// is a limit, and may be listed under its task), as opposed to one that
    /// ended while it waited for a slot. `task`: the task it is known by, when
    /// that is not the one running this call.
    ///
    /// Returns the nursery's hold on itself when this was the last thing
    /// live (invariant 6): a caller that holds no count of its own (a
    /// child's wrapper) drops it after its last use of the nursery.
    ///
    /// A function of a raw pointer, not a method: the nursery may be freed
    /// by another end as soon as this one's decrement is done, while a
    /// method's `&self` would still be live (invariant 6).
    ///
    /// # Safety
    ///
    /// `this` is the nursery's own pointer (the `Arc::as_ptr` a child
    /// keeps), and the child is counted live in it until this call. Unless
    /// the caller holds a strong count of the nursery, no reference to it is
    /// live in the caller across the call.
    #[allow(unsafe_code)]
    pub(crate) unsafe fn child_ended(
        this: *const Self,
        ended: Ended<T, E>,
        ran: bool,
        task: Option<Id>,
    ) -> LetGo<T, E> {
        // SAFETY: the child is counted live, so the nursery is alive
        // (invariant 6); the reference ends with the call, before the
        // decrement.
        let joiner = unsafe { &*this }.record_end(ended, ran, task);
        // SAFETY: as above; the caller's pointer, still counted live.
        let let_go = unsafe { Self::release(this) };
        if let Some(joiner) = joiner {
            joiner.wake();
        }
        let_go
    }

    /// [`child_ended`](Self::child_ended) for a caller that holds a count of
    /// the nursery of its own (a blocking child, a gated one, an abort
    /// taking a closure back): not the last, so `&self` stays valid across
    /// the decrement.
    ///
    /// # Safety
    ///
    /// The caller's child is counted live until this call: it owns the
    /// child's one end (`child.rs`, invariant 1). A second end of one child
    /// would give back the nursery's hold on itself twice.
    #[allow(unsafe_code)]
    pub(crate) unsafe fn end_held(
        &self,
        ended: Ended<T, E>,
        ran: bool,
        task: Option<Id>,
    ) -> LetGo<T, E> {
        // SAFETY: the nursery's own pointer, and the caller's child is
        // counted live until the call (this function's contract).
        unsafe { Self::child_ended(self.this(), ended, ran, task) }
    }

    /// What an end records before its decrement: its count, its outcome
    /// for the joiner, its slot, the reaping. Returns the joiner to wake
    /// once the child is counted out.
    fn record_end(&self, ended: Ended<T, E>, ran: bool, task: Option<Id>) -> Option<Waker> {
        let registry = self.registry.get().filter(|r| ran && !r.is_empty());
        let keeps = self.settings.keep_outcomes;
        let id = if registry.is_some() || keeps {
            task.or_else(tokio::task::try_id)
        } else {
            None
        };
        let name = registry.and_then(|r| r.unlist(Key::Task(id?)));
        // One rule: a child that returns (or fails) after the token fired,
        // whoever fired it, ended after the cancel. Ends by abort or while
        // waiting for a slot need no answer.
        let after_cancel = match ended {
            Ended::Returned(_) | Ended::Panicked(_) => self.ended_after_cancel(),
            Ended::Aborted | Ended::Cancelled => false,
        };
        // `seq` numbers the ends of this kind; it paces the reaping below.
        let (seq, end) = match ended {
            Ended::Returned(Ok(v)) => {
                let seq = self.core.bump(if after_cancel {
                    Count::Cancelled
                } else {
                    Count::Completed
                });
                (seq, Some(ChildEnd::Returned(v)))
            }
            Ended::Returned(Err(e)) => self.failed(ChildError::error(e, name), after_cancel),
            Ended::Panicked(p) => self.failed(ChildError::panic(p, name), after_cancel),
            Ended::Aborted => (self.core.bump(Count::Aborted), Some(ChildEnd::Aborted)),
            Ended::Cancelled => (self.core.bump(Count::Cancelled), Some(ChildEnd::Cancelled)),
        };
        if ran {
            self.release_slot();
        }
        // Amortised reaping: every `REAP_EVERY`th ending child removes the
        // tasks that finished before it (it cannot remove itself: its task is
        // still running), so at most a few dozen finished tasks wait to be
        // freed and the set's lock is touched by one end in 32. A contended lock
        // means someone else is in the set and the next pass will reap.
        if seq % REAP_EVERY == REAP_EVERY - 1 {
            self.sets.try_reap();
        }
        // Kept before the count falls (outcomes.rs, invariant 1); the end is
        // dropped here, outside every lock, when nobody keeps it.
        match (self.outcomes.get().filter(|_| keeps), id, end) {
            (Some(outcomes), Some(id), Some(end)) => outcomes.push(id, end),
            (_, _, end) => {
                drop(end);
                None
            }
        }
    }

    /// Has the token fired? For a child's end, so the flag answers first.
    ///
    /// For an exposed nursery the flag alone is not enough: tokio-util marks
    /// a token and every token below it cancelled before it wakes anyone, so
    /// a child woken through a child token of ours (or one that polls
    /// `is_cancelled`) can return before the watch has set the flag. Then
    /// only the token knows, and asking it costs a lock (in tokio-util 0.7.20
    /// `is_cancelled` locks the token's mutex, tokio-rs/tokio#7775), paid by
    /// every end until the token fires. A nursery whose token nobody else
    /// holds needs no such check: its flag is set before its token fires.
    /// Finding it fired here also makes the state follow at once instead of
    /// when the watch gets there.
    fn ended_after_cancel(&self) -> bool {
        let state = self.core.load();
        if state & CANCELLED != 0 {
            return true;
        }
        if state & EXPOSED != 0 && self.token_fired_already() {
            self.token_fired();
            return true;
        }
        false
    }

    /// Returns the failure count before this one.
    /// Counts a failure, hands it to the handler and records it if it is the
    /// first; returns the failure count before it, and the end to keep (a
    /// nursery that keeps outcomes shares a failure between the joiner and
    /// the report).
    fn failed(&self, err: ChildError<E>, after_cancel: bool) -> (u64, Option<ChildEnd<T, E>>) {
        let seq = self.core.bump(Count::Failed);
        if after_cancel {
            self.core.bump(Count::FailedAfterCancel);
        }
        self.call_handler(&err);
        self.warn_if_unowned(&err);
        if self.settings.keep_outcomes {
            let failure = Failure::new(err);
            self.record_failure(|| failure.clone());
            (seq, Some(ChildEnd::Failed(failure)))
        } else {
            self.record_failure(|| Failure::new(err));
            (seq, None)
        }
    }

    fn call_handler(&self, err: &ChildError<E>) {
        if let Some(handler) = self.extra().and_then(|x| x.handler.as_ref()) {
            // A panicking handler must not take the child's accounting with it.
            if catch_unwind(AssertUnwindSafe(|| handler(err))).is_err() {
                #[cfg(feature = "tracing")]
                tracing::error!(
                    nursery = self.name().unwrap_or(""),
                    "the failure handler panicked"
                );
            }
        }
    }

    #[allow(unused_variables)]
    fn warn_if_unowned(&self, err: &ChildError<E>) {
        #[cfg(feature = "tracing")]
        if self.is_detached()
            && !self.tree.has_parent()
            && self.extra().is_none_or(|x| x.handler.is_none())
        {
            tracing::warn!(
                nursery = self.name().unwrap_or(""),
                child = err.child_name().unwrap_or(""),
                panic = err.is_panic(),
                "a child of a detached nursery failed"
            );
        }
    }

    fn record_failure(&self, make: impl FnOnce() -> Failure<E>) {
        // A later failure loses to the first; two racing to be first both
        // make theirs, and the loser's is dropped by `set`.
        let first = self.failure.get().is_none() && self.failure.set(make().into_arc());
        if first && self.settings.policy == Policy::FailFast {
            self.cancel(CancelReason::Failure);
        }
    }

    /// Hands the slot of a child that ran on, if there is a limit.
    fn release_slot(&self) {
        let Some(limit) = &self.limit else {
            return;
        };
        match limit.release(|| self.core.is_cancelled()) {
            Release::Freed => {}
            Release::Granted(slot) => slot.wake(),
            // No waiting child starts after a cancel. The cancel sweeps the
            // queue itself unless it was a watcher that could not take the
            // lock; then the sweep is this one's.
            Release::Sweep(waiting) => self.sweep(waiting, limit::CANCELLED),
        }
    }

    // ----- control ---------------------------------------------------------

    /// Cancels: the flag here and in every nursery below (reason `Parent`),
    /// then the token, which reaches every token below; then the children
    /// waiting for a slot here are swept, to end as cancelled (below, each
    /// nursery's walk step swept its own).
    pub(crate) fn cancel(&self, reason: CancelReason) {
        if self.core.set_cancelled(reason) {
            pause::here(Point::CancelWalks, (self as *const Self).cast());
            tree::walk_below(self, |node| node.cancel_here());
            self.cancel_wakes(true);
            self.sweep_waiting(limit::CANCELLED);
        }
    }

    /// Sweeps the children waiting for a slot, to end unstarted as `to`.
    fn sweep_waiting(&self, to: u8) {
        if let Some(limit) = &self.limit {
            self.sweep(limit.take_waiting(), to);
        }
    }

    fn first_failure(&self) -> Option<Failure<E>> {
        self.failure.cloned().map(Failure::from_arc)
    }

    /// Why the token was cancelled; `None` while it has not fired.
    pub(crate) fn cancel_reason(&self) -> Option<CancelReason> {
        // A token that fired without the nursery recording why was cancelled
        // directly, or by a token above it. (Only a cold reader asks the
        // token: it takes a lock.)
        self.core
            .cancel_reason()
            .or_else(|| self.was_cancelled().then(|| self.token_reason()))
    }

    /// Why the token fired when the nursery did not fire it.
    fn token_reason(&self) -> CancelReason {
        let above = match self.tree.parent() {
            Some(parent) => parent.made_token(),
            None => self.extra().and_then(|x| x.token_parent.as_ref()),
        };
        if above.is_some_and(CancellationToken::is_cancelled) {
            CancelReason::Parent
        } else {
            CancelReason::Requested
        }
    }

    /// Aborts the children here and in every nested nursery; see
    /// `Node::abort_here`.
    pub(crate) fn abort_all(&self) {
        tree::walk_down(self, |node| node.abort_here());
    }

    /// The last phase of a shutdown: abort everything, and close every nested
    /// nursery too, so each can drain once its aborted children are gone
    /// (their owners may be elsewhere and never close them).
    pub(crate) fn force_end(&self) {
        tree::walk_down(self, |node| node.force_end_here());
    }

    /// Aborts this nursery's own tasks; the blocking children the pool has
    /// not started are taken back and end here; the children waiting for a
    /// slot are swept, to end as aborted when their tasks next run.
    fn abort_own(&self) {
        self.sets.abort_all();
        self.take_back_handed();
        self.sweep_waiting(limit::ABORTED);
    }

    /// An abort's pass over the list, after its pass over the sets: takes
    /// back every blocking closure listed that the pool has not started. A
    /// task that went into a set after that pass escapes it; when such a
    /// task handed its closure over, the take-back wakes it to end
    /// (`pool.rs`, invariant 4).
    pub(super) fn take_back_handed(&self) {
        if let Some(handed) = self.handed.get() {
            for entry in handed.drain() {
                self.take_back(handed, &entry);
            }
        }
    }

    /// Lists a blocking child just handed to the pool (`pool.rs`). A child
    /// the spawn that admitted it handed over (its task in a set) is listed
    /// before any abort's pass that its task's abort escaped: its set's lock
    /// was held from before the task went in until after (`sets.rs`,
    /// invariant 4). One handed over later, by its task once granted a
    /// running slot, checks for a forced end under the list's lock
    /// (`pool.rs`, invariant 3) and takes itself back after one.
    pub(crate) fn handed_to_pool(&self, entry: Entry) {
        let handed = self.handed.get_or_init(Handed::new);
        let late = !entry.in_set;
        // The forced end marks `ENDED` before it takes the list's lock, so
        // the lock orders the mark before this read when its pass came
        // first.
        if let Err(entry) = handed.push(entry, || late && self.core.has(ENDED)) {
            self.take_back(handed, &entry);
        }
    }

    /// The blocking children handed to the pool, if any was.
    pub(crate) fn handed(&self) -> Option<&Handed> {
        self.handed.get()
    }

    /// Takes a blocking child back from the pool if it has not started: its
    /// closure is dropped, and it ends as aborted.
    fn take_back(&self, handed: &Handed, entry: &Entry) {
        if let Some(withdrawal) = handed.take_back(entry) {
            // The caller holds a count of the nursery (an owner, a spawner,
            // a walk's node, a child's own task).
            // SAFETY: the take-back took the closure out of its handoff, and
            // the side that takes it owns the child's end (`pool.rs`,
            // invariant 1).
            #[allow(unsafe_code)]
            drop(unsafe { self.end_held(Ended::Aborted, true, Some(entry.id)) });
            withdrawal.counted();
        }
    }

    // ----- closing ---------------------------------------------------------

    pub(crate) fn begin_close(&self) {
        if self.core.begin_close() {
            tree::closed(self);
        }
    }

    /// A report of where the nursery stands now (not final).
    pub(crate) fn report(&self, is_final: bool, still_running: u64) -> Report<E> {
        self.build_report(is_final, still_running, None)
    }

    /// A report; with a final `mark`, its frozen refusals and reason.
    fn build_report(&self, is_final: bool, still_running: u64, mark: Option<u64>) -> Report<E> {
        let mut stats = self.core.stats();
        let cancel_reason = match mark {
            Some(mark) => {
                stats.refused = mark & FINAL_REFUSED;
                CancelReason::from_code(mark >> FINAL_REASON_SHIFT)
            }
            None => self.cancel_reason(),
        };
        Report {
            stats,
            failed_after_cancel: self.core.count(Count::FailedAfterCancel),
            still_running,
            cancel_reason,
            failure: self.first_failure(),
            is_final,
        }
    }

    /// The final report once the drain completed, otherwise where the
    /// nursery stands.
    pub(crate) fn report_now(&self) -> Report<E> {
        self.final_report().unwrap_or_else(|| self.report(false, 0))
    }

    /// `closed()`: waits for the end without starting it; from inside a child
    /// (which the end would wait for) it returns a non-final report at once.
    pub(crate) async fn closed(&self) -> Report<E> {
        if context::is_inside(&self.core) {
            return self.report(false, 0);
        }
        self.drain().await
    }

    /// Waits for the drain (someone must have begun the close), then for every
    /// task to be gone from the runtime, and returns the final report.
    pub(crate) async fn drain(&self) -> Report<E> {
        if !self.core.is_closed() {
            self.wait_closed_logging().await;
        }
        if let Some(report) = self.final_report() {
            return report;
        }
        // The live count is zero, so every task left in the set has finished
        // its accounting and is returning from its last poll, or (a blocking
        // child's launcher whose closure an abort withdrew, `pool.rs`) has
        // been woken to end at its next; wait until tokio has completed them,
        // so the runtime holds none of our tasks when `close` returns.
        // Concurrent closers may all wait here, so this yields (for the few
        // instructions those tasks have left) rather than register a waker in
        // the set, which holds only one; reaping is idempotent.
        // A nursery that never had a child has no set to look at. Shells of
        // blocking children an abort took back before they started wait for
        // a pool thread, which may never come; they hold nothing of the
        // children's, and are not waited for (`pool.rs`, invariant 5).
        while self.core.has(TASKS) {
            let left = self.sets.reap_all() as u64;
            if left <= self.handed().map_or(0, Handed::shells) {
                break;
            }
            tokio::task::yield_now().await;
        }
        let refused = self.core.count(Count::Refused);
        let reason = self.cancel_reason().map_or(0, CancelReason::code);
        let mark = refused.min(FINAL_REFUSED) | reason << FINAL_REASON_SHIFT;
        // First closer through freezes the mark; later ones read it.
        let _ =
            self.final_mark
                .compare_exchange(NOT_FINAL, mark, Ordering::AcqRel, Ordering::Acquire);
        self.final_report().expect("the mark was just set")
    }

    /// The final report, once the drain has completed.
    fn final_report(&self) -> Option<Report<E>> {
        let mark = self.final_mark.load(Ordering::Acquire);
        (mark != NOT_FINAL).then(|| self.build_report(true, 0, Some(mark)))
    }

    async fn wait_closed_logging(&self) {
        match self.extra().and_then(|x| x.warn_after) {
            None => self.core.wait_closed().await,
            // Boxed: the timer makes this future several times the size of
            // a plain wait, and every `close` future would carry it.
            Some(after) => Box::pin(self.wait_closed_warning(after)).await,
        }
    }

    async fn wait_closed_warning(&self, after: Duration) {
        while tokio::time::timeout(after, self.core.wait_closed())
            .await
            .is_err()
        {
            self.warn_waiting();
        }
    }

    fn warn_waiting(&self) {
        #[cfg(feature = "tracing")]
        {
            let snap = self.snapshot();
            let names: Vec<String> = snap
                .children()
                .iter()
                .map(|c| match c.name() {
                    Some(n) => format!("{n} ({:?})", c.age()),
                    None => format!("#{} ({:?})", c.id(), c.age()),
                })
                .collect();
            tracing::warn!(
                nursery = self.name().unwrap_or(""),
                live = snap.live(),
                unlisted = snap.unlisted(),
                "close is still waiting for: {}",
                names.join(", ")
            );
        }
    }

    pub(crate) async fn shutdown(&self, drain: Duration, after_cancel: Duration) -> Report<E> {
        self.begin_close();
        if context::is_inside(&self.core) {
            // It cannot wait for the drain (it would wait for itself), so its
            // deadline is now.
            self.cancel(CancelReason::Deadline);
            return self.report(false, 0);
        }
        // Both deadlines count from the start, so the time the cancel itself
        // takes (sweeping the queue, reaching nested nurseries) comes out of
        // the second window instead of adding to the whole.
        let start = Instant::now();
        let drain_end = start.checked_add(drain);
        let cancel_end = drain_end.and_then(|t| t.checked_add(after_cancel));
        if !self.wait_children_until(drain_end).await {
            self.cancel(CancelReason::Deadline);
            if !self.wait_children_until(cancel_end).await {
                self.force_end();
                // Aborted children end at their task's next run; blocking
                // ones that already started (here or in a nested nursery)
                // cannot be aborted and are reported as still running.
                let blocking = tree::settle(self).await;
                if !self.core.is_closed() && blocking > 0 {
                    return self.report(false, blocking);
                }
            }
        }
        if self.core.bodies() > 0 {
            // The children are gone; the nursery closes when its body ends.
            return self.report(false, 0);
        }
        self.drain().await
    }

    /// Waits until no child is live (the nursery closed, or only its body
    /// runs) or `deadline` passes (`None`: a window too long to represent,
    /// so no deadline); `true` if no child is live. A deadline already past
    /// looks once, without waiting: a timer would fire at tokio's next
    /// tick (up to a millisecond away), and the children would run until
    /// then.
    async fn wait_children_until(&self, deadline: Option<Instant>) -> bool {
        match deadline {
            Some(at) if at <= Instant::now() => self.idle().now_or_never().is_some(),
            Some(at) => tokio::time::timeout_at(at, self.idle()).await.is_ok(),
            None => {
                self.idle().await;
                true
            }
        }
    }

    /// Waits until no child is live: closed, or (with a body running) no
    /// child left. Cancel safe.
    pub(crate) async fn idle(&self) {
        if self.core.is_closing() {
            // Spawns from outside are refused, so the count can only fall
            // (or rise from inside): the close's own wake-ups say when.
            return self.core.wait_idle_closing().await;
        }
        let _watching = self.core.watch();
        self.core.wait_live(|core| core.live_children() == 0).await;
    }

    /// Holds the nursery open while `body` runs, polling it as code inside
    /// the nursery.
    pub(crate) fn inside<F: Future>(
        self: &Arc<Self>,
        body: F,
    ) -> impl Future<Output = F::Output> + use<F, T, E> {
        let held = self.core.hold();
        if held.is_some_and(|prev| live(prev) == 0) {
            self.hold_self();
        }
        Inside {
            body,
            held: Some(Held {
                held: held.is_some(),
                shared: Arc::clone(self),
            }),
        }
    }

    // ----- outputs and observation -----------------------------------------

    /// The next end kept for the owner, or a wait for one; see
    /// `Outcomes::poll_next`. When nothing is kept, a wait until no child
    /// is left, then `None`: the queue stays empty, and `JOINER`, marked
    /// after the first waker is stored and before the look, asks the end
    /// that leaves no child to wake it (`state.rs`, invariant 9). Once it is
    /// set, a plain look does: the word every spawn and end updates is not
    /// written again.
    pub(crate) fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Option<(Id, ChildEnd<T, E>)>> {
        let keeps = self.settings.keep_outcomes;
        let outcomes = self.outcomes.get_or_init(Outcomes::new);
        outcomes.poll_next(cx, || {
            if !keeps && !self.core.has(JOINER) {
                self.core.mark(JOINER);
            }
            self.core.children_now().1 == 0
        })
    }

    /// The next output, skipping the ends that have none.
    pub(crate) fn poll_output(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        loop {
            match ready!(self.poll_join(cx)) {
                Some((_, ChildEnd::Returned(out))) => return Poll::Ready(Some(out)),
                Some(_) => continue,
                None => return Poll::Ready(None),
            }
        }
    }

    /// The next output kept now, if any, skipping the ends that have none.
    pub(crate) fn try_join_next(&self) -> Option<T> {
        loop {
            if let (_, ChildEnd::Returned(out)) = self.try_join_next_with_id()? {
                return Some(out);
            }
        }
    }

    /// The next end kept now, if any.
    pub(crate) fn try_join_next_with_id(&self) -> Option<(Id, ChildEnd<T, E>)> {
        self.outcomes.get()?.try_next()
    }

    /// Ends kept and not yet joined.
    pub(crate) fn ready_count(&self) -> usize {
        self.outcomes.get().map_or(0, Outcomes::len)
    }

    /// The owner is gone: keep nothing more for it.
    pub(crate) fn close_joins(&self) {
        if let Some(outcomes) = self.outcomes.get() {
            outcomes.close_joins();
        }
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            live: self.core.children_now().1,
            children: self
                .registry
                .get()
                .map_or_else(Vec::new, |r| r.children(Instant::now())),
        }
    }

    /// Counts a blocking child of this nursery starting or ending, here and
    /// in every ancestor (none of their shutdowns can abort it either).
    pub(crate) fn blocking_moved(&self, started: bool) {
        for (i, node) in tree::ancestry(self).enumerate() {
            node.core().blocking_moved(started, i == 0);
            if i == 0 && started {
                pause::here(Point::BlockingCountedOwn, (self as *const Self).cast());
            }
        }
    }
}

/// The strong counts an end holds on the nursery, given back when dropped:
/// the nursery's hold on itself (invariant 6), returned by the end that
/// brought the live count to zero, and the count an end took to wake
/// someone after its decrement (see `Shared::release`). To be dropped once
/// the caller is done with the nursery, since dropping it may free it (no
/// `&Shared` may be live then as a function's argument).
#[must_use]
pub(crate) struct LetGo<T: Send + 'static, E: Send + 'static> {
    this: *const Shared<T, E>,
    /// Strong counts to give back: the nursery's hold on itself, and the
    /// one an end took to wake someone after its decrement (0 to 2).
    counts: u8,
}

impl<T: Send + 'static, E: Send + 'static> LetGo<T, E> {
    fn new(this: *const Shared<T, E>, counts: u8) -> Self {
        LetGo { this, counts }
    }
}

impl<T: Send + 'static, E: Send + 'static> Drop for LetGo<T, E> {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        for _ in 0..self.counts {
            let this = self.this;
            // SAFETY: `this` points into the nursery's `Arc` allocation, with
            // its provenance (`Arc::as_ptr`), and carries the strong counts
            // taken for it (by `hold_self` when the live count left zero; by
            // `release` for an end before its decrement), so the allocation
            // is live until this drops the last of them.
            unsafe { Arc::decrement_strong_count(this) }
        }
    }
}

/// A body running inside its nursery (`Shared::inside`): each poll of the
/// body is inside (`context::enter`), and the hold is given up when the
/// body returns or is dropped.
///
/// A struct rather than an `async` block: a block would keep the body it
/// captured and the pinned copy it polls, twice the body's size, for as
/// long as it runs (a connection's whole session).
struct Inside<F, T: Send + 'static, E: Send + 'static> {
    /// Structurally pinned: never moved once `Inside` is pinned (no method
    /// moves it, and `Inside` has no `Drop` of its own).
    body: F,
    /// `None` once the body has returned.
    held: Option<Held<T, E>>,
}

impl<F: Future, T: Send + 'static, E: Send + 'static> Future for Inside<F, T, E> {
    type Output = F::Output;

    #[allow(unsafe_code)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `body` is structurally pinned (see the field); `held` is
        // not, and is only ever replaced, never pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let held = this
            .held
            .as_ref()
            .expect("`Inside` polled after it returned");
        let out = {
            let _cx = context::enter(&*held.shared);
            // SAFETY: as above: `body` never moves while `Inside` is pinned.
            unsafe { Pin::new_unchecked(&mut this.body) }.poll(cx)
        };
        if out.is_ready() {
            this.held = None;
        }
        out
    }
}

/// A body's hold on its nursery, given up when the body ends or is dropped.
struct Held<T: Send + 'static, E: Send + 'static> {
    shared: Arc<Shared<T, E>>,
    held: bool,
}

impl<T: Send + 'static, E: Send + 'static> Drop for Held<T, E> {
    fn drop(&mut self) {
        if !self.held {
            return;
        }
        let (finished, prev) = self.shared.core.unhold();
        if finished {
            tree::closed(&*self.shared);
        }
        if live(prev) == 1 {
            self.shared.let_go_of_self();
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> Lineage for Shared<T, E> {
    fn core(&self) -> &Core {
        &self.core
    }

    fn up(&self) -> Option<&dyn Lineage> {
        self.tree.parent().map(|p| p.as_lineage())
    }
}

impl<T: Send + 'static, E: Send + 'static> Node<E> for Shared<T, E> {
    fn tree(&self) -> &Tree<E> {
        &self.tree
    }

    fn as_lineage(&self) -> &dyn Lineage {
        self
    }

    fn into_lineage(self: Arc<Self>) -> Arc<dyn Lineage> {
        self
    }

    fn made_token(&self) -> Option<&CancellationToken> {
        self.token.get()
    }

    fn token_now(&self) -> &CancellationToken {
        Shared::token_now(self)
    }

    fn own_handle(&self) -> Option<&Handle> {
        self.tree
            .runtime()
            .or_else(|| self.extra().and_then(|x| x.handle.as_ref()))
    }

    fn admit_nested(&self, name: Option<&Arc<str>>) -> Result<u64, Kind> {
        self.admit()?;
        Ok(if self.lists(name) {
            self.registry.get_or_init(Registry::new).list_nested(name)
        } else {
            0
        })
    }

    fn nested_ended(&self, end: NestedEnd<E>) -> bool {
        let after_cancel = self.ended_after_cancel();
        match end.failure {
            Some(f) => {
                self.core.bump(Count::Failed);
                if after_cancel {
                    self.core.bump(Count::FailedAfterCancel);
                }
                f.inspect(|e| self.call_handler(e));
                self.record_failure(|| f);
            }
            None => {
                self.core.bump(if end.cancelled || after_cancel {
                    Count::Cancelled
                } else {
                    Count::Completed
                });
            }
        }
        if end.listed != 0 {
            if let Some(registry) = self.registry.get() {
                registry.unlist(Key::Nested(end.listed));
            }
        }
        // The caller goes on up the tree when this finished the close (it
        // holds this nursery, which may let go of itself here).
        let (finished, prev) = self.core.release_from();
        if children(prev) == 1 {
            self.wake_joiner();
        }
        if live(prev) == 1 {
            self.let_go_of_self();
        }
        finished
    }

    fn end(&self, listed: u64) -> NestedEnd<E> {
        NestedEnd {
            listed,
            failure: self.first_failure(),
            cancelled: self.was_cancelled(),
        }
    }

    fn cancel_here(&self) -> bool {
        if !self.core.set_cancelled(CancelReason::Parent) {
            // Cancelled already, and so is everything below it: its own
            // cancel walked there, or (exposed) its token fired, whose
            // watches below ran before its own.
            return false;
        }
        // The top's token, firing after the walk, reaches this one's.
        self.cancel_wakes(false);
        self.sweep_waiting(limit::CANCELLED);
        true
    }

    fn start_watch(self: Arc<Self>) {
        if self.token_watch.get().is_some() {
            return;
        }
        let watch = Watch::start(&self, self.token_now());
        if !self.token_watch.set(Arc::clone(&watch)) {
            // Two first `token()` calls raced and the other's watch is the
            // one kept: unregister this one, whose future holds its own
            // waker (token.rs, invariant 4).
            watch.stop();
        }
    }

    fn abort_here(&self) -> bool {
        // A cancelled nursery aborted once has nothing new to abort, nor
        // has anything below it (tree.rs, invariant 3).
        if self.core.load() & CANCELLED != 0 && !self.core.mark(ABORTED) {
            return false;
        }
        self.abort_own();
        true
    }

    fn force_end_here(&self) -> bool {
        if !self.core.mark(ENDED) {
            return false;
        }
        self.begin_close();
        self.abort_own();
        true
    }
}

impl<T: Send + 'static, E: Send + 'static> Fired for Shared<T, E> {
    fn token_fired(&self) {
        Shared::token_fired(self);
    }
}

impl<T: Send + 'static, E: Send + 'static> Drop for Shared<T, E> {
    fn drop(&mut self) {
        // Breaks the watch's cycle through its own waker (token.rs,
        // invariant 4).
        if let Some(watch) = self.token_watch.get() {
            watch.stop();
        }
    }
}
