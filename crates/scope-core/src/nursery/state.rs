//! The nursery's lifecycle word and counters: the part of a nursery that does
//! not depend on its output or error type.
//!
//! # Invariants
//!
//! 1. `state` packs the live count, the bodies among it, the flags and the
//!    cancel reason into one `AtomicU64`, so a spawn's admission and a
//!    close's decision are ordered by the single modification order of that
//!    word: a spawn either sees `CLOSING` or is counted in the live count
//!    that `close` waits on. Never both, never neither.
//! 2. The live count counts every accepted child that has not yet ended:
//!    queued (waiting for a running slot), running, and nested nurseries that
//!    have not drained. It is incremented before a child is handed to the
//!    `JoinSet` and decremented as the last thing a child's accounting does, so
//!    counters and the first failure are recorded before the count can reach
//!    zero.
//! 3. `CLOSED` is set exactly once, by a compare-and-swap from a word with
//!    `live == 0` and `CLOSING` set, or (by a close that finds nothing live)
//!    set in the same swap. Whoever wins that swap (the last child or body
//!    to end, a refused spawner undoing its increment, or a `close` that
//!    finds nothing live, the first or a later one) wakes the waiters. After
//!    `CLOSED` every spawn is refused, so the live count stays zero. Whoever
//!    sets `CLOSING` first wakes the same waiters (`closing()` waits for
//!    that; one wake-up serves both when one swap sets both); each waiter
//!    re-checks its own condition.
//!    Those wake-ups take the `Notify`'s lock, so they are skipped until
//!    someone has waited: a waiter sets `WAITERS` in the word before it
//!    registers and looks, and a waker reads it in the value its own update
//!    of the word returned. Both are read-modify-writes of the one word, so
//!    either the waker sees `WAITERS`, or the waiter's look sees the flag the
//!    waker set. The loom models of the wake-ups (`state/loom.rs`, on a
//!    model of the `Notify`) check that the two meet.
//! 4. `CANCELLED` is set when the token fires, whoever fires it (the nursery's
//!    cancel, fail-fast, shutdown or drop, or the token's `cancel()` called
//!    directly or from above; see `shared.rs`, invariant 5). It refuses every
//!    spawn, inside or outside. It is set together with the reason, by one
//!    compare-and-swap that only succeeds while `CANCELLED` is clear: the
//!    first canceller's reason is the one kept, and whoever sees `CANCELLED`
//!    sees its reason in the same word.
//! 5. `WATCH` asks every ending child to notify `progress`; it is set while at
//!    least one shutdown waits for children that cannot be counted by `CLOSED`
//!    alone (after abort, with blocking children still running), so the hot
//!    path pays one bit test on a value it already has. The bit follows a
//!    watcher count kept under a mutex, so concurrent shutdowns cannot clear
//!    it under each other. Finishing the close notifies `progress` too.
//! 6. Blocking children that have started are counted in the [`Watch`] of
//!    their nursery and of every ancestor (they cannot be aborted anywhere up
//!    the tree), and apart in their own nursery's; starting or ending one
//!    wakes the watchers. Each is counted from before its closure runs until
//!    after it returns, inside the child's life (invariant 2): a count that
//!    includes it says it is live.
//! 7. A running *body* (`Nursery::inside`) holds the nursery open: it is
//!    counted in the live count, so `CLOSED` waits for it like for a child,
//!    and in the word's body count, which every child count shown to users
//!    (`stats`, the held limit, "no child left") subtracts. Both move in one
//!    update of the word, so no reading ever shows a body as a child.
//! 8. `ABORTED` and `ENDED` mark a nursery that a walk over its tree has
//!    already aborted after it was cancelled, or force-ended (see
//!    `tree.rs`); `EXPOSED` and `WATCHED` say how the nursery follows its
//!    token (see `token.rs`); `DETACHED` that the owner let go of it;
//!    `TASKS` that it made its `JoinSet`. Once set they stay set.
//! 9. `JOINER` is set by the owner of a nursery that keeps no outcomes the
//!    first time it waits in a join, after it stored its waker and before
//!    it looks at the live count; an end reads it in the word its decrement
//!    replaces. Setting it changes the word, so either the end's swap is
//!    from a word with `JOINER` (and the end wakes the joiner, holding a
//!    count of its own) or the owner's look comes after the decrement.
//!    Once set it stays set, and a later wait needs only to store its waker
//!    and look: the end takes the waker under the same lock after its
//!    decrement, so the look sees the decrement or the end finds the
//!    waker.
//!
//! # Orderings
//!
//! Admission and release use `AcqRel`: the release half publishes a child's
//! counter updates and recorded failure to whoever observes the decrement, and
//! the acquire half lets the last decrementer (which may finish the close)
//! observe every earlier child's writes. Readers that decide "drained" load
//! with `Acquire` for the same reason. Counters themselves are `Relaxed`: they
//! are statistics, published by the `AcqRel` state operations that follow them.

use std::sync::atomic::Ordering;

use crate::sync::{AtomicU64, Interior, Notify};

use super::lazy::OnceBox;
use crate::cancel_reason::CancelReason;
use crate::stats::Stats;

pub(crate) const CLOSING: u64 = 1 << 0;
pub(crate) const CLOSED: u64 = 1 << 1;
pub(crate) const CANCELLED: u64 = 1 << 2;
pub(crate) const WATCH: u64 = 1 << 3;
pub(crate) const ABORTED: u64 = 1 << 4;
pub(crate) const ENDED: u64 = 1 << 5;
/// Someone other than the nursery may cancel its token (see `token.rs`).
pub(crate) const EXPOSED: u64 = 1 << 6;
/// The token's watch is registered here and in every nursery below.
pub(crate) const WATCHED: u64 = 1 << 7;
/// The owner detached the nursery.
pub(crate) const DETACHED: u64 = 1 << 8;
/// Someone has waited on `drained` (invariant 3).
const WAITERS: u64 = 1 << 9;
/// The nursery has made its `JoinSet` (with its first child).
pub(crate) const TASKS: u64 = 1 << 10;
/// A cancel has set the flag here and in every nursery below: a token made
/// from now on may fire at once (`token.rs`, "made late"). Set by the
/// nursery whose `cancel` ran, not by those its walk reached.
pub(crate) const FIRE: u64 = 1 << 11;
/// The owner of a nursery that keeps no outcomes has waited in a join: the
/// end that leaves no child wakes it (`Shared::poll_join`).
pub(crate) const JOINER: u64 = 1 << 12;
/// The cancel reason's code (0 while not cancelled) sits above the flags.
const REASON_SHIFT: u32 = 13;
const REASON_MASK: u64 = ((1 << CancelReason::BITS) - 1) << REASON_SHIFT;
/// Running bodies (invariant 7), above the flags and reason: at most
/// `BODY_MAX` at once.
const BODY_SHIFT: u32 = REASON_SHIFT + CancelReason::BITS;
const BODY_BITS: u32 = 16;
const BODY_ONE: u64 = 1 << BODY_SHIFT;
const BODY_MASK: u64 = ((1 << BODY_BITS) - 1) << BODY_SHIFT;
pub(crate) const BODY_MAX: u64 = (1 << BODY_BITS) - 1;
/// The live count (children and bodies) takes the remaining bits (32).
const LIVE_SHIFT: u32 = BODY_SHIFT + BODY_BITS;
const LIVE_ONE: u64 = 1 << LIVE_SHIFT;

/// Why an admission was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Closed,
    Cancelled,
    Full,
}

/// Children and bodies counted in `state`.
pub(crate) fn live(state: u64) -> u64 {
    state >> LIVE_SHIFT
}

/// Bodies counted in `state`.
fn bodies(state: u64) -> u64 {
    (state & BODY_MASK) >> BODY_SHIFT
}

/// Live children in `state`, bodies left out.
pub(crate) fn children(state: u64) -> u64 {
    live(state) - bodies(state)
}

/// Lifecycle word, counters and wake-ups shared by a nursery's owner,
/// spawners and children.
#[derive(Debug)]
pub(crate) struct Core {
    state: AtomicU64,
    /// The one counter every ordinary end bumps; the others are made on
    /// first use.
    completed: AtomicU64,
    rare: OnceBox<Rare>,
    /// Woken when the close begins (by whoever sets `CLOSING` first), when
    /// it finishes (by the winner of the `CLOSED` swap; once for both when
    /// one swap sets both), and when only bodies are left. One `Notify`
    /// serves every wait: each waiter loops until its own condition holds.
    /// In an [`Interior`]: every byte of `Core` is interior mutable (atomics,
    /// and this), so an end may hold `&Core` across the decrement after which
    /// the nursery may be freed (`shared.rs`, invariant 6).
    drained: Interior<Notify>,
    /// Bodies, and the shutdown watchers' side (started blocking children,
    /// `progress`), made on first use: most nurseries never need it.
    watch: OnceBox<Watch>,
}

/// The counters most nurseries never move. Each is only ever incremented.
#[derive(Debug)]
struct Rare {
    failed: AtomicU64,
    failed_after_cancel: AtomicU64,
    cancelled: AtomicU64,
    aborted: AtomicU64,
    refused: AtomicU64,
}

/// One of the event counters.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Count {
    Completed,
    Failed,
    FailedAfterCancel,
    Cancelled,
    Aborted,
    Refused,
}

/// What a shutdown waiting past its abort needs to see.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    /// Started, unfinished blocking children here and in every descendant.
    pub(crate) blocking: std::sync::atomic::AtomicU64,
    /// Those of them that are children of this nursery itself.
    own_blocking: std::sync::atomic::AtomicU64,
    /// Woken by ending children while `WATCH` is set, by the close finishing,
    /// and by blocking children starting or ending.
    progress: Notify,
    /// Shutdowns currently watching; `WATCH` is set iff this is non-zero.
    watchers: parking_lot::Mutex<usize>,
}

impl Core {
    pub(crate) fn new() -> Self {
        Core {
            state: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            rare: OnceBox::new(),
            drained: Interior::new(Notify::new()),
            watch: OnceBox::new(),
        }
    }

    fn watch_state(&self) -> &Watch {
        self.watch.get_or_init(Watch::default)
    }

    /// Inline for the completed counter, which every returning child bumps;
    /// the others are made on first use, out of line.
    #[inline]
    fn counter(&self, which: Count) -> &AtomicU64 {
        if let Count::Completed = which {
            return &self.completed;
        }
        self.rare_counter(which)
    }

    #[cold]
    fn rare_counter(&self, which: Count) -> &AtomicU64 {
        let rare = self.rare.get_or_init(|| {
            let zero = || AtomicU64::new(0);
            Rare {
                failed: zero(),
                failed_after_cancel: zero(),
                cancelled: zero(),
                aborted: zero(),
                refused: zero(),
            }
        });
        match which {
            Count::Completed => unreachable!("`counter` answers it"),
            Count::Failed => &rare.failed,
            Count::FailedAfterCancel => &rare.failed_after_cancel,
            Count::Cancelled => &rare.cancelled,
            Count::Aborted => &rare.aborted,
            Count::Refused => &rare.refused,
        }
    }

    /// Adds one to a counter; returns the count before. `Relaxed`: counters
    /// are statistics, published by the `AcqRel` update of the word that
    /// follows them (see the module docs).
    #[inline]
    pub(crate) fn bump(&self, which: Count) -> u64 {
        self.counter(which).fetch_add(1, Ordering::Relaxed)
    }

    /// A counter's value now (zero for a rare one never moved).
    pub(crate) fn count(&self, which: Count) -> u64 {
        let Some(rare) = self.rare.get() else {
            return match which {
                Count::Completed => self.completed.load(Ordering::Relaxed),
                _ => 0,
            };
        };
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        match which {
            Count::Completed => r(&self.completed),
            Count::Failed => r(&rare.failed),
            Count::FailedAfterCancel => r(&rare.failed_after_cancel),
            Count::Cancelled => r(&rare.cancelled),
            Count::Aborted => r(&rare.aborted),
            Count::Refused => r(&rare.refused),
        }
    }

    /// A blocking child of this nursery (`own`) or of a descendant started
    /// (`+1`) or ended (`-1`): a shutdown here cannot abort it either. (The
    /// nursery calls this for itself and then each ancestor, one at a time.)
    /// On a start the own count moves first: whoever sees any count that
    /// the start moved sees its own count moved too. `AcqRel`, and
    /// `Acquire` where they are read: a shutdown that sees a count sees the
    /// child's start or end that moved it.
    pub(crate) fn blocking_moved(&self, started: bool, own: bool) {
        let w = self.watch_state();
        let own = own.then_some(&w.own_blocking);
        let counts = own.into_iter().chain(std::iter::once(&w.blocking));
        for count in counts {
            if started {
                count.fetch_add(1, Ordering::AcqRel);
            } else {
                count.fetch_sub(1, Ordering::AcqRel);
            }
        }
        w.progress.notify_waiters();
    }

    /// Sets `flag` (one of the flags that are only ever set: `ABORTED`,
    /// `ENDED`, `EXPOSED`, `WATCHED`, `DETACHED`, `TASKS`); `true` if this
    /// call set it. `AcqRel`
    /// as every update of the word.
    #[inline]
    pub(crate) fn mark(&self, flag: u64) -> bool {
        self.state.fetch_or(flag, Ordering::AcqRel) & flag == 0
    }

    /// Is `flag` set?
    #[inline]
    pub(crate) fn has(&self, flag: u64) -> bool {
        self.load() & flag != 0
    }

    fn notify_progress(&self) {
        if let Some(w) = self.watch.get() {
            w.progress.notify_waiters();
        }
    }

    #[inline]
    pub(crate) fn load(&self) -> u64 {
        self.state.load(Ordering::Acquire)
    }

    /// Running bodies (invariant 7).
    pub(crate) fn bodies(&self) -> u64 {
        bodies(self.load())
    }

    /// The word now, and the live children in it.
    #[inline]
    pub(crate) fn children_now(&self) -> (u64, u64) {
        let state = self.load();
        (state, children(state))
    }

    /// Live children now (bodies left out): none once `CLOSED`, after which
    /// the word only moves by refused admissions undoing themselves.
    #[inline]
    pub(crate) fn live_children(&self) -> u64 {
        let (state, children) = self.children_now();
        if state & CLOSED != 0 { 0 } else { children }
    }

    /// Counts a body in (invariant 7), unless the nursery has closed: a
    /// compare-and-swap, so a closed nursery is never even briefly held.
    /// Returns the word before, if it held.
    ///
    /// # Panics
    ///
    /// With `BODY_MAX` bodies already running.
    pub(crate) fn hold(&self) -> Option<u64> {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            if cur & CLOSED != 0 {
                return None;
            }
            assert!(
                bodies(cur) < BODY_MAX,
                "more than {BODY_MAX} bodies running at once in one nursery"
            );
            // `AcqRel` as every update of the word; a failed swap only
            // retries, so `Acquire` is enough there.
            match self.state.compare_exchange(
                cur,
                cur + LIVE_ONE + BODY_ONE,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(cur),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Counts a body out. Returns `true` if this finished the close, and the
    /// word before.
    pub(crate) fn unhold(&self) -> (bool, u64) {
        let prev = self.state.fetch_sub(LIVE_ONE + BODY_ONE, Ordering::AcqRel);
        debug_assert!(bodies(prev) > 0, "body count underflow");
        (self.released(prev, false), prev)
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.load() & CLOSED != 0
    }

    #[inline]
    pub(crate) fn is_closing(&self) -> bool {
        self.load() & CLOSING != 0
    }

    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        self.load() & CANCELLED != 0
    }

    /// Counts one child in; returns the word before, and why the child is
    /// refused, if it is. A refused child is still counted: the caller undoes
    /// it with [`Core::release`] (which may be what finishes the close),
    /// after counting the refusal.
    ///
    /// `inside` is asked only while closing: children (and their descendants)
    /// may keep spawning follow-up work until the last of them ends.
    /// `max_held` bounds the live count (0 = unbounded).
    #[inline]
    pub(crate) fn admit(
        &self,
        max_held: u64,
        inside: impl FnOnce() -> bool,
    ) -> (u64, Option<Refusal>) {
        let prev = self.state.fetch_add(LIVE_ONE, Ordering::AcqRel);
        let refusal = if prev & CLOSED != 0 {
            Some(Refusal::Closed)
        } else if prev & CANCELLED != 0 {
            Some(Refusal::Cancelled)
        } else if prev & CLOSING != 0 && !inside() {
            Some(Refusal::Closed)
        } else if max_held != 0 && children(prev) >= max_held {
            Some(Refusal::Full)
        } else {
            None
        };
        (prev, refusal)
    }

    /// Counts one child out. Returns `true` if this call finished the close
    /// (the caller must then run the nursery's on-drained work).
    // The nursery needs the word before too (`release_from`); the models
    // ask only this.
    #[cfg_attr(not(scope_loom), allow(dead_code))]
    pub(crate) fn release(&self) -> bool {
        self.release_from().0
    }

    /// Counts a child out for an end whose caller may hold no count of the
    /// nursery (see `Shared::release`). Once the decrement leaves another
    /// child live, that child's end may free the nursery at once; so when
    /// this end has something to do after its decrement (a wake-up:
    /// [`wakes_after`](Self::wakes_after), or `also` of the word) and
    /// another child is live, it first calls `hold`, which takes a count of
    /// its own. Otherwise it counts itself out by one swap from a word that
    /// asked for nothing more (validated by the swap: a failed one only
    /// retries, so `Acquire` is enough there). Returns as
    /// [`release_from`](Self::release_from), and whether it called `hold`.
    #[inline]
    pub(crate) fn end_child(
        &self,
        also: impl Fn(u64) -> bool,
        hold: impl FnOnce(),
    ) -> (bool, u64, bool) {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            debug_assert!(children(cur) > 0, "live count underflow");
            if live(cur) > 1 && (Self::wakes_after(cur) || also(cur)) {
                hold();
                let (finished, prev) = self.release_from();
                return (finished, prev, true);
            }
            match self.state.compare_exchange_weak(
                cur,
                cur - LIVE_ONE,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return (self.released(cur, true), cur, false),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Does counting a child out of `word` wake someone after the
    /// decrement, besides finishing the close (which only the last end
    /// does)?
    fn wakes_after(word: u64) -> bool {
        word & WATCH != 0 || Self::wakes_idle(word)
    }

    /// Does counting the last child out of `word` (bodies left, or none)
    /// wake `wait_idle`'s waiters?
    fn wakes_idle(word: u64) -> bool {
        word & CLOSING != 0 && word & WAITERS != 0 && children(word) == 1
    }

    /// [`Core::release`], and the word before it.
    #[inline]
    pub(crate) fn release_from(&self) -> (bool, u64) {
        let prev = self.state.fetch_sub(LIVE_ONE, Ordering::AcqRel);
        debug_assert!(children(prev) > 0, "live count underflow");
        (self.released(prev, true), prev)
    }

    /// After a decrement of the live count from `prev` (by a child, or a
    /// body): wakes who waits for it; `true` if it finished the close.
    #[inline]
    fn released(&self, prev: u64, child: bool) -> bool {
        if prev & WATCH != 0 {
            self.notify_progress();
        }
        if prev & CLOSING == 0 {
            return false;
        }
        if live(prev) == 1 {
            return self.try_finish();
        }
        if child && Self::wakes_idle(prev) {
            // Only bodies are left: wake `wait_idle` (the close itself waits
            // for them to end).
            self.drained.get().notify_waiters();
        }
        false
    }

    /// Sets `CLOSING`. Returns `true` if this call finished the close.
    pub(crate) fn begin_close(&self) -> bool {
        // Nothing live (an empty nursery, the common close of a short-lived
        // one): begin and finish the close in one swap, the swap that sets
        // `CLOSED` (invariant 3) from `live == 0`. A spawn's admission in
        // between makes it fail, and the live count is seen again.
        if self.close_if(CLOSING, |word| live(word) == 0 && word & CLOSED == 0) {
            return true;
        }
        let prev = self.state.fetch_or(CLOSING, Ordering::AcqRel);
        if prev & CLOSING == 0 && prev & WAITERS != 0 {
            // The first to begin the close wakes `wait_closing`. The waiters
            // registered before they looked at the word, so the flag set above
            // is either seen by their check or followed by this wake-up.
            self.drained.get().notify_waiters();
        }
        live(prev) == 0 && prev & CLOSED == 0 && self.try_finish()
    }

    /// Sets `CANCELLED` with `reason`; returns `true` if it was not set
    /// before (and so `reason` is the one recorded).
    pub(crate) fn set_cancelled(&self, reason: CancelReason) -> bool {
        let mark = CANCELLED | reason.code() << REASON_SHIFT;
        // A swap rather than a `fetch_or`: two reasons must not be or-ed
        // together. `AcqRel` as every other update of the word (see the module
        // docs); a failed swap only retries or gives up, so `Acquire` is
        // enough there, and the first load is validated by the swap.
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            if cur & CANCELLED != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                cur,
                cur | mark,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }

    /// The reason recorded with `CANCELLED`, if it is set.
    pub(crate) fn cancel_reason(&self) -> Option<CancelReason> {
        CancelReason::from_code((self.load() & REASON_MASK) >> REASON_SHIFT)
    }

    /// Registers a watcher until the guard drops (cancel safe).
    pub(crate) fn watch(&self) -> Watching<'_> {
        let mut n = self.watch_state().watchers.lock();
        if *n == 0 {
            self.state.fetch_or(WATCH, Ordering::AcqRel);
        }
        *n += 1;
        Watching(self)
    }

    fn try_finish(&self) -> bool {
        self.close_if(0, |word| {
            word & CLOSING != 0 && word & CLOSED == 0 && live(word) == 0
        })
    }

    /// Sets `CLOSED` and `also` by one swap from a word for which `ready`
    /// holds, and wakes who waits (one wake-up serves the waiters for
    /// `CLOSING` too: each re-checks its own condition); `true` if this
    /// call set it. `AcqRel` as every update of the word; a failed swap only
    /// retries, so `Acquire` is enough there.
    fn close_if(&self, also: u64, ready: impl Fn(u64) -> bool) -> bool {
        let mut cur = self.state.load(Ordering::Acquire);
        while ready(cur) {
            match self.state.compare_exchange_weak(
                cur,
                cur | CLOSED | also,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if cur & WAITERS != 0 {
                        self.drained.get().notify_waiters();
                    }
                    self.notify_progress();
                    return true;
                }
                Err(actual) => cur = actual,
            }
        }
        false
    }

    /// A waiter on `drained` is about to register (invariant 3).
    fn note_waiter(&self) {
        if self.load() & WAITERS == 0 {
            self.state.fetch_or(WAITERS, Ordering::AcqRel);
        }
    }

    /// Waits until `CLOSED` is set. Cancel safe.
    pub(crate) async fn wait_closed(&self) {
        self.wait_state(CLOSED).await;
    }

    /// Waits until `CLOSING` is set. Cancel safe.
    pub(crate) async fn wait_closing(&self) {
        self.wait_state(CLOSING).await;
    }

    /// Waits until `flag` (`CLOSING` or `CLOSED`) is set; both are only ever
    /// set, and both wake `drained`. Cancel safe: nothing changes but the
    /// registration, which the dropped `Notified` undoes.
    async fn wait_state(&self, flag: u64) {
        self.note_waiter();
        loop {
            let notified = self.drained.get().notified();
            tokio::pin!(notified);
            // Register before checking, so a flag set between the check and
            // the await cannot be missed: the setter wakes after its update,
            // so either the wake-up finds us registered, or it came first and
            // (through the `Notify`'s lock, taken by both) our `Acquire` load
            // sees the flag.
            notified.as_mut().enable();
            if self.load() & flag != 0 {
                return;
            }
            notified.await;
        }
    }

    /// Waits, once the close has begun, until no child is live: the close
    /// finished, or only bodies are left. The last child's release wakes
    /// `drained` in both cases. Cancel safe.
    pub(crate) async fn wait_idle_closing(&self) {
        self.note_waiter();
        loop {
            let notified = self.drained.get().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.live_children() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Waits until `cond(core)` holds (asked after each ending child); needs
    /// a [`Watching`] guard. Cancel safe.
    pub(crate) async fn wait_live(&self, cond: impl Fn(&Core) -> bool) {
        loop {
            let notified = self.watch_state().progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if cond(self) {
                return;
            }
            notified.await;
        }
    }

    /// Started blocking children here and below.
    pub(crate) fn blocking(&self) -> u64 {
        self.watch
            .get()
            .map_or(0, |w| w.blocking.load(Ordering::Acquire))
    }

    /// Started blocking children of this nursery itself.
    pub(crate) fn own_blocking(&self) -> u64 {
        self.watch
            .get()
            .map_or(0, |w| w.own_blocking.load(Ordering::Acquire))
    }

    pub(crate) fn stats(&self) -> Stats {
        let live = self.live_children();
        let (completed, failed, cancelled, aborted) = (
            self.count(Count::Completed),
            self.count(Count::Failed),
            self.count(Count::Cancelled),
            self.count(Count::Aborted),
        );
        Stats {
            live,
            // Derived rather than counted, so admission costs one atomic
            // operation, not two.
            spawned: live + completed + failed + cancelled + aborted,
            completed,
            failed,
            cancelled,
            aborted,
            refused: self.count(Count::Refused),
        }
    }
}

/// A shutdown watching the live count; see [`Core::watch`].
pub(crate) struct Watching<'a>(&'a Core);

impl Drop for Watching<'_> {
    fn drop(&mut self) {
        let mut n = self.0.watch_state().watchers.lock();
        *n -= 1;
        if *n == 0 {
            self.0.state.fetch_and(!WATCH, Ordering::AcqRel);
        }
    }
}

#[cfg(all(test, scope_loom))]
mod loom;
