//! A nursery's place in its tree: the parent, stored once, and the nested
//! nurseries below it. Every walk over a tree is a loop, never recursion, so
//! a tree's depth is bounded by memory, not by the stack, and ending a tree
//! costs time linear in its size:
//!
//! - up: a nested nursery whose close finishes tells its parent, whose close
//!   that may finish in turn ([`closed`]);
//! - down: an abort or a forced end visits the nurseries below with a work
//!   list ([`walk_down`]), skipping subtrees an earlier walk already ended;
//! - dropping: a nursery holds its parent strongly, so dropping the last
//!   reference to a chain would drop it one stack frame per level; a parent is
//!   dropped through a per-thread queue instead (`Tree`'s `Drop`).
//!
//! # Invariants
//!
//! 1. What a nursery hangs from is set when it is made and never changes:
//!    a root, the runtime it spawns on; a nested nursery, its parent, held
//!    strongly: a parent whose owner is gone (detached or dropped) must
//!    live until its nested nurseries have told it they ended. A parent never
//!    holds its nested nurseries strongly (`nested` keeps `Weak`s), so there
//!    is no cycle.
//! 2. A nested nursery tells its parent it ended exactly once, and only once
//!    its parent has admitted it: `place` is `NOT_ADMITTED` until the
//!    admission, and a close that finishes before it (a parent's forced end
//!    can close a nested nursery that is still being built) marks
//!    `ENDED_EARLY` and leaves the telling to [`admitted`].
//! 3. A walk marks a nursery (`ABORTED` once it is cancelled, `ENDED`) before
//!    it goes below it, and a walk that finds the mark set skips the nursery
//!    and its subtree: nothing can join a cancelled nursery (every spawn and
//!    every nested build is refused), so what the first walk ended stays
//!    ended. Two walks racing over one subtree may leave the second to return
//!    before the first is through; both are requests that take effect at the
//!    children's next `.await` anyway.
//! 4. A nested nursery takes one slot of its parent's `nested` once it is
//!    made (its `Arc` exists, so the `Weak` in the slot upgrades), under
//!    that list's lock ([`Tree::register`]), before it is counted in and
//!    before it reads its parent's flags. A walk that locks the list after
//!    that finds it; one that locked the list before is ordered by the lock
//!    before everything the new nursery reads next, so the nursery sees the
//!    flags that walk set. It alone empties its slot, as it drops: so the
//!    slot it recorded is its own for its whole life, and the memory of one
//!    that dropped goes with it instead of waiting behind its parent's
//!    `Weak`. Taking and emptying a slot cost the same however many
//!    siblings are alive.
//!
//! # Lock order
//!
//! `nested` is a leaf: a walk copies the live entries out before it visits
//! them.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use super::lazy::OnceBox;
use super::state::Core;
use crate::pause::{self, Point};
use crate::report::Failure;
use crate::spawn_error::Kind;

/// A nursery as the thread-local context sees it: its core and its parent,
/// whatever its output and error types.
pub(crate) trait Lineage: Send + Sync + 'static {
    fn core(&self) -> &Core;
    fn up(&self) -> Option<&dyn Lineage>;
}

/// `node` and its ancestors, nearest first.
pub(crate) fn ancestry(node: &dyn Lineage) -> impl Iterator<Item = &dyn Lineage> {
    std::iter::successors(Some(node), |n| n.up())
}

/// A nursery as its tree sees it: a parent to nested nurseries of any output
/// type (they share the error type, which a nested failure carries up).
pub(crate) trait Node<E>: Lineage {
    fn tree(&self) -> &Tree<E>;
    fn as_lineage(&self) -> &dyn Lineage;
    fn into_lineage(self: Arc<Self>) -> Arc<dyn Lineage>;

    /// What a nested nursery inherits: the token it descends from (made
    /// late: `made_token` is `None` until someone needs it, `token_now`
    /// makes it), and the runtime (held by the nearest ancestor that was
    /// given one).
    fn made_token(&self) -> Option<&CancellationToken>;
    fn token_now(&self) -> &CancellationToken;
    /// The runtime it was given: a root's, or a nested nursery's own.
    fn own_handle(&self) -> Option<&Handle>;
    /// Counts a nested nursery in, as a spawn; returns its listed id (0 when
    /// it is not listed).
    fn admit_nested(&self, name: Option<&Arc<str>>) -> Result<u64, Kind>;

    /// A nested nursery ended; `true` if that finished this nursery's close.
    fn nested_ended(&self, end: NestedEnd<E>) -> bool;
    /// This nursery's close finished: what its parent is told.
    fn end(&self, listed: u64) -> NestedEnd<E>;

    /// One step of a walk cancelling what is below a nursery that cancels:
    /// sets the flag (reason `Parent`) before the token fires; `false` to
    /// skip what is below (already cancelled).
    fn cancel_here(&self) -> bool;
    /// One step of an abort walk; `false` to skip what is below.
    fn abort_here(&self) -> bool;
    /// Registers the token's watch (see `token.rs`), once.
    fn start_watch(self: Arc<Self>);
    /// One step of a forced end (close and abort); `false` to skip what is
    /// below.
    fn force_end_here(&self) -> bool;
}

/// How a nested nursery ended, as its parent counts it.
pub(crate) struct NestedEnd<E> {
    /// Its listed id in the parent (0: not listed).
    pub(crate) listed: u64,
    /// Its first failure: one failure of the parent.
    pub(crate) failure: Option<Failure<E>>,
    /// It was cancelled.
    pub(crate) cancelled: bool,
}

/// Slots a parent keeps allocated while it has no nested nursery.
const KEPT_SLOTS: usize = 64;

/// A nested nursery's slot before [`Tree::register`].
const NO_SLOT: u32 = u32::MAX;

const NOT_ADMITTED: u64 = u64::MAX;
const ENDED_EARLY: u64 = u64::MAX - 1;

/// What a nursery hangs from (invariant 1).
pub(crate) enum Above<E: 'static> {
    /// A root: the runtime it spawns on.
    Runtime(Handle),
    /// A nested nursery: its parent (whose runtime it spawns on, unless it
    /// was given its own).
    Parent(Arc<dyn Node<E>>),
}

/// What a nursery hangs from, as its link keeps it.
enum Link<E: 'static> {
    Runtime(Handle),
    /// The parent, and this nursery's slot in the parent's `nested`
    /// (invariant 4): `NO_SLOT` until it is registered. (32 bits: the slot
    /// sits beside the enum's tag.)
    Parent {
        node: Arc<dyn Node<E>>,
        slot: AtomicU32,
    },
}

/// The tree link of one nursery.
pub(crate) struct Tree<E: 'static> {
    /// `None` only while the link drops. One field for both: a nursery has
    /// a parent or a runtime of its own, rarely both (see `Shared::handle`).
    link: Option<Link<E>>,
    /// `NOT_ADMITTED`, `ENDED_EARLY`, or the listed id in the parent (0: not
    /// listed, and what a root holds). See invariant 2.
    place: AtomicU64,
    /// The nested nurseries, weakly, each in its own slot (made with the
    /// first; invariant 4).
    nested: OnceBox<Mutex<Slots<E>>>,
}

/// The nested nurseries of one parent: a slot each, kept until that nested
/// nursery drops (invariant 4); emptied slots are reused, and the memory of
/// more than `KEPT_SLOTS` goes back once every slot is empty.
struct Slots<E: 'static> {
    taken: Vec<Option<Weak<dyn Node<E>>>>,
    /// The empty slots in `taken`.
    free: Vec<usize>,
}

impl<E: 'static> Slots<E> {
    const fn new() -> Self {
        Slots {
            taken: Vec::new(),
            free: Vec::new(),
        }
    }

    fn insert(&mut self, node: Weak<dyn Node<E>>) -> u32 {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.taken[slot] = Some(node);
                slot
            }
            None => {
                self.taken.push(Some(node));
                self.taken.len() - 1
            }
        };
        // Each nested nursery takes hundreds of bytes: memory runs out long
        // before 2^32 - 1 of them are alive under one parent.
        u32::try_from(slot)
            .ok()
            .filter(|&slot| slot != NO_SLOT)
            .expect("fewer than 2^32 - 1 nested nurseries alive under one parent")
    }

    /// Empties `slot`; returns what it held, to drop after the lock.
    fn remove(&mut self, slot: u32) -> Option<Weak<dyn Node<E>>> {
        let slot = slot as usize;
        let node = self.taken.get_mut(slot)?.take();
        if self.free.len() + 1 == self.taken.len() {
            // The last one: start over, and give back the memory of a crowd
            // (a few slots are kept for the next nested nursery).
            self.taken.clear();
            self.free.clear();
            if self.taken.capacity() > KEPT_SLOTS {
                *self = Slots::new();
            }
        } else {
            self.free.push(slot);
        }
        node
    }
}

impl<E: 'static> Tree<E> {
    /// The link of a nursery being made under `above`; a nested one is
    /// reachable from its parent once [`register`](Self::register)ed.
    pub(crate) fn new(above: Above<E>) -> Self {
        let (link, place) = match above {
            Above::Runtime(handle) => (Link::Runtime(handle), 0),
            Above::Parent(node) => (
                Link::Parent {
                    node,
                    slot: AtomicU32::new(NO_SLOT),
                },
                NOT_ADMITTED,
            ),
        };
        Tree {
            link: Some(link),
            place: AtomicU64::new(place),
            nested: OnceBox::new(),
        }
    }

    /// The nursery is made (its `Arc` exists, and `me` downgrades it): a
    /// nested one takes its slot in its parent's list, so that any walk from
    /// here on reaches it (invariant 4). A no-op for a root.
    pub(crate) fn register(&self, me: impl FnOnce() -> Weak<dyn Node<E>>) {
        if let Some(Link::Parent { node, slot }) = &self.link {
            let me = me();
            let mut nested = node
                .tree()
                .nested
                .get_or_init(|| Mutex::new(Slots::new()))
                .lock();
            // Relaxed: read only by this nursery's drop, which the release
            // of its `Arc`'s last count orders after this.
            slot.store(nested.insert(me), Ordering::Relaxed);
        }
    }

    pub(crate) fn parent(&self) -> Option<&Arc<dyn Node<E>>> {
        match &self.link {
            Some(Link::Parent { node, .. }) => Some(node),
            _ => None,
        }
    }

    /// A root's runtime.
    pub(crate) fn runtime(&self) -> Option<&Handle> {
        match &self.link {
            Some(Link::Runtime(handle)) => Some(handle),
            _ => None,
        }
    }

    // Read only by the `tracing` warning for failures nobody else sees.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn has_parent(&self) -> bool {
        self.parent().is_some()
    }

    pub(crate) fn live_nested(&self) -> Vec<Arc<dyn Node<E>>> {
        self.nested.get().map_or_else(Vec::new, |nested| {
            nested
                .lock()
                .taken
                .iter()
                .flatten()
                .filter_map(Weak::upgrade)
                .collect()
        })
    }
}

impl<E: 'static> Drop for Tree<E> {
    fn drop(&mut self) {
        if let Some(Link::Parent { node, slot }) = self.link.take() {
            // Empty this nursery's slot (invariant 4); the `Weak` it held is
            // dropped after the lock. The parent is alive: this link holds it.
            let slot = slot.into_inner();
            if let Some(nested) = node.tree().nested.get().filter(|_| slot != NO_SLOT) {
                let mine = nested.lock().remove(slot);
                drop(mine);
            }
            drop_deferred(node.into_lineage());
        }
    }
}

/// `node`'s close finished: tell its parent, and each ancestor whose close
/// that finishes in turn. A loop, however deep the tree.
pub(crate) fn closed<E: 'static>(node: &dyn Node<E>) {
    let mut up = report_up(node);
    while let Some(parent) = up {
        up = report_up(&*parent);
    }
}

/// The parent has admitted `node` as a nested nursery listed under `listed`
/// (0: unlisted). If `node`'s close already finished, tells the parent now
/// (invariant 2).
pub(crate) fn admitted<E: 'static>(node: &dyn Node<E>, listed: u64) {
    let early = node
        .tree()
        .place
        // `AcqRel`/`Acquire`: the one swap that decides who tells the parent
        // (see `report_up`), which must see the other side's writes.
        .compare_exchange(NOT_ADMITTED, listed, Ordering::AcqRel, Ordering::Acquire)
        .is_err();
    if early {
        let mut up = tell(node, listed);
        while let Some(parent) = up {
            up = report_up(&*parent);
        }
    }
}

/// Tells `node`'s parent, if it has one and has admitted it, that `node`
/// ended; returns the parent if that finished the parent's close.
fn report_up<E: 'static>(node: &dyn Node<E>) -> Option<Arc<dyn Node<E>>> {
    node.tree().parent()?;
    // Admitted already, as nearly always (a build admits its nursery before
    // it returns it): `place` never goes back to `NOT_ADMITTED`, so a load
    // decides. `Acquire`: pairs with the admission's swap.
    let place = node.tree().place.load(Ordering::Acquire);
    debug_assert_ne!(place, ENDED_EARLY, "a nursery told its parent twice");
    if place != NOT_ADMITTED {
        return tell(node, place);
    }
    match node.tree().place.compare_exchange(
        NOT_ADMITTED,
        ENDED_EARLY,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        // Not admitted yet: the admission tells (invariant 2).
        Ok(_) => None,
        Err(listed) => tell(node, listed),
    }
}

fn tell<E: 'static>(node: &dyn Node<E>, listed: u64) -> Option<Arc<dyn Node<E>>> {
    let parent = node.tree().parent()?;
    parent
        .nested_ended(node.end(listed))
        .then(|| Arc::clone(parent))
}

/// Visits `top` and, where `visit` returns `true`, the nurseries below it,
/// with a work list (invariant 3).
pub(crate) fn walk_down<E: 'static>(top: &dyn Node<E>, visit: fn(&dyn Node<E>) -> bool) {
    if visit(top) {
        walk_below(top, visit);
    }
}

/// As [`walk_down`], without visiting `top`.
pub(crate) fn walk_below<E: 'static>(top: &dyn Node<E>, visit: fn(&dyn Node<E>) -> bool) {
    let mut work = top.tree().live_nested();
    while let Some(node) = work.pop() {
        if visit(&*node) {
            work.extend(node.tree().live_nested());
        }
        // `node` may be the last reference: its drop queues its parent
        // rather than dropping it here (see `drop_deferred`).
    }
}

/// Waits, after a forced end of `top`'s tree, until every child still live
/// in it is held by started blocking work, which no abort can stop: a
/// blocking child that started, or a nested nursery with one below it. Every
/// other child, aborted, has been dropped by then. A work list: `top` first,
/// then each nested nursery that has not closed once its parent's wait
/// ended. Not only the held ones: one held when its parent looked may have
/// lost its blocking work since, with an aborted child still being dropped.
///
/// Returns the started blocking children it found holding the tree: each
/// nursery's own, read once its wait ended (none of its children can start
/// later: each was held, or had ended). Not `top`'s count of its whole
/// subtree: a start is counted in its own nursery first and then in each
/// ancestor in turn, so that count may not have reached `top` yet.
pub(crate) async fn settle<E: 'static>(top: &dyn Node<E>) -> u64 {
    let mut started = wait_held(top).await;
    pause::here(Point::SettleLooksBelow, (top as *const dyn Node<E>).cast());
    let mut work = open_nested(top);
    while let Some(node) = work.pop() {
        started += wait_held(&*node).await;
        work.extend(open_nested(&*node));
    }
    started
}

/// `node`'s nested nurseries that have not closed.
fn open_nested<E: 'static>(node: &dyn Node<E>) -> Vec<Arc<dyn Node<E>>> {
    nested_where(node, |core| !core.is_closed())
}

/// `node`'s nested nurseries whose core passes `keep`.
fn nested_where<E: 'static>(node: &dyn Node<E>, keep: fn(&Core) -> bool) -> Vec<Arc<dyn Node<E>>> {
    let mut nested = node.tree().live_nested();
    nested.retain(|nested| keep(nested.core()));
    nested
}

/// Waits until every live child of `node` is held (see [`settle`]), or none
/// is live; returns `node`'s own started blocking children. Cancel safe.
async fn wait_held<E: 'static>(node: &dyn Node<E>) -> u64 {
    let core = node.core();
    let _watching = core.watch();
    // Reaching zero finishes the close (or, with a body still running,
    // leaves no child), which wakes this wait too; so does a blocking child
    // starting or ending anywhere below.
    core.wait_live(|core| {
        let children = core.live_children();
        children == 0 || only_held_left(node, children)
    })
    .await;
    core.own_blocking()
}

/// Are all of `children`, read from `node`'s word just before, held?
///
/// Asked after the forced end, when nothing can join: a child counted here
/// was live when it was counted (`state.rs`, invariant 6; a nested nursery
/// with a blocking child below it has not ended), so it was among
/// `children`, and reaching their number means each was held when looked
/// at. A nested nursery is one child however many tasks hold it, which is
/// why the blocking count alone cannot tell.
fn only_held_left<E: 'static>(node: &dyn Node<E>, children: u64) -> bool {
    let core = node.core();
    // Each held child holds at least one of the blocking count: a cheap
    // refusal while aborted children are still ending, before the walk.
    if children > core.blocking() {
        return false;
    }
    // Nested nurseries with a started blocking child below them.
    let held = nested_where(node, |core| core.blocking() > 0).len() as u64;
    core.own_blocking() + held >= children
}

/// Drops `node` (a parent being let go by a nursery being dropped), unless a
/// drop on this thread is already letting go of a chain: then it is queued
/// for that outer drop, which drops the queue one by one. A chain of
/// nurseries, each the last holder of its parent, is thus dropped in a loop
/// instead of one nested `drop` per level.
fn drop_deferred(node: Arc<dyn Lineage>) {
    // Not the last reference: this drop cannot take the parent (and a chain
    // above it) with it. (A holder dropping its own reference meanwhile can
    // make ours the last: then one more level is dropped inline, and it
    // takes this path again.)
    if Arc::strong_count(&node) > 1 {
        return drop(node);
    }
    thread_local! {
        static QUEUE: RefCell<Option<Vec<Arc<dyn Lineage>>>> = const { RefCell::new(None) };
    }
    // Queue it if an outer drop is running here. During thread teardown the
    // queue may be gone: then drop in place.
    let mut node = Some(node);
    let queued = QUEUE.try_with(|q| match &mut *q.borrow_mut() {
        Some(queue) => {
            queue.extend(node.take());
            true
        }
        slot @ None => {
            *slot = Some(Vec::new());
            false
        }
    });
    if queued.unwrap_or(false) {
        return;
    }
    // This is the outer drop (or there is no queue). Give the queue up even
    // if a drop panics; the entries left are dropped with it.
    struct Outer;
    impl Drop for Outer {
        fn drop(&mut self) {
            let _ = QUEUE.try_with(|q| q.borrow_mut().take());
        }
    }
    let _outer = Outer;
    drop(node);
    while let Some(next) = QUEUE
        .try_with(|q| q.borrow_mut().as_mut().and_then(Vec::pop))
        .ok()
        .flatten()
    {
        drop(next);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, mpsc};
    use std::time::Duration;

    use std::sync::atomic::{AtomicBool, Ordering};

    use crate::Nursery;
    use crate::nursery::state::WATCH;
    use crate::pause::{self, Latch, Point};

    /// A blocking child that starts in a nested nursery is counted there
    /// first, then in each ancestor. A shutdown of the top whose wait ends
    /// between those steps reports the child as still running all the same:
    /// it adds up each nursery's own count, not the top's count of its
    /// subtree, which the start has not reached yet (`settle`).
    #[test]
    fn a_shutdown_counts_a_blocking_start_that_has_not_reached_the_top() {
        two_workers().block_on(async {
            let top: Nursery = Nursery::new();
            let nested: Nursery = top.child_builder().build().unwrap();
            let (release, held) = pause::latch();
            // One started blocking child in each nursery.
            start_held(&nested, held.clone());
            start_held(&top, held.clone());

            // A third starts in the nested nursery and stops after its own
            // nursery counted it, before the top has.
            let at = Arc::as_ptr(&nested.spawner.shared).cast();
            let gate = pause::arm(Point::BlockingCountedOwn, at);
            let third = held.clone();
            nested.spawn_blocking(move || third.wait()).unwrap();
            gate.wait_arrived();

            let report = top.shutdown(Duration::ZERO).await;
            assert!(!report.is_final(), "{report:?}");
            assert_eq!(report.still_running(), 3, "{report:?}");

            gate.release();
            drop(release);
            drop(nested);
            let report = tokio::time::timeout(Duration::from_secs(30), top.close())
                .await
                .expect("the blocking children were released");
            assert!(report.is_final(), "{report:?}");
            assert_eq!(report.stats().live, 0, "{report:?}");
        });
    }

    /// A nested nursery held by its blocking work when the shutdown's wait
    /// looked at the top loses that work before the wait lists what to
    /// look at below, while a child of its, aborted, is still being
    /// dropped. The wait still waits for that drop: it walks every nested
    /// nursery that has not closed, not only those held when it looked. (A
    /// walk of the held ones alone returned, reporting the top's blocking
    /// child as still running, with the aborted child's drop unfinished.)
    #[test]
    fn a_shutdown_waits_for_an_aborted_child_below_a_nursery_that_lost_its_work() {
        two_workers().block_on(async {
            let top: Nursery = Nursery::new();
            let nested: Nursery = top.child_builder().build().unwrap();
            // Started blocking work: one child in the top (it keeps the
            // shutdown from draining), one in the nested nursery.
            let (release_top, top_held) = pause::latch();
            let (release_nested, nested_held) = pause::latch();
            start_held(&top, top_held);
            start_held(&nested, nested_held);
            // An async child of the nested nursery whose drop waits.
            let (let_drop, drop_held) = pause::latch();
            let dropped = Arc::new(AtomicBool::new(false));
            let guard = SlowDrop(drop_held, Arc::clone(&dropped));
            nested
                .spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await
                })
                .unwrap();

            let top_at = Arc::as_ptr(&top.spawner.shared).cast();
            let gate = pause::arm(Point::SettleLooksBelow, top_at);
            let shutdown = tokio::spawn(async move {
                let report = top.shutdown(Duration::ZERO).await;
                (top, report)
            });
            gate.wait_arrived();
            // The nested nursery loses its blocking work.
            drop(release_nested);
            let below = Arc::clone(&nested.spawner.shared);
            while below.core.own_blocking() > 0 {
                std::thread::yield_now();
            }
            gate.release();

            // Once the wait looks at the nested nursery, let the drop end.
            let mut let_drop = Some(let_drop);
            while !shutdown.is_finished() {
                if below.core.has(WATCH) {
                    drop(let_drop.take());
                }
                tokio::task::yield_now().await;
            }
            let (top, report) = shutdown.await.unwrap();
            assert!(
                dropped.load(Ordering::SeqCst),
                "the shutdown returned before the aborted child was dropped"
            );
            assert!(!report.is_final(), "{report:?}");
            assert_eq!(report.still_running(), 1, "{report:?}");

            drop(release_top);
            drop(nested);
            let report = tokio::time::timeout(Duration::from_secs(30), top.close())
                .await
                .expect("the blocking child was released");
            assert!(report.is_final(), "{report:?}");
        });
    }

    fn two_workers() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    /// Spawns a blocking child that waits on `held`, and returns once it
    /// has started.
    fn start_held(nursery: &Nursery, held: Latch) {
        let (started_tx, started) = mpsc::channel::<()>();
        nursery
            .spawn_blocking(move || {
                started_tx.send(()).unwrap();
                held.wait();
            })
            .unwrap();
        started.recv().unwrap();
    }

    /// Blocks its drop until its latch opens, then says it was dropped.
    struct SlowDrop(Latch, Arc<AtomicBool>);

    impl Drop for SlowDrop {
        fn drop(&mut self) {
            self.0.wait();
            self.1.store(true, Ordering::SeqCst);
        }
    }
}
