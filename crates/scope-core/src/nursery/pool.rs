//! Blocking children handed to tokio's blocking pool that may not have
//! started yet, listed so that an abort can take them back.
//!
//! tokio drops a blocking task aborted before it started only when a pool
//! thread takes it off the pool's queue. With every pool thread held by work
//! that does not end, that never happens: a shutdown waiting for its aborted
//! children to be dropped would wait as long as the work holding the pool,
//! and a child "aborted" while queued would still run once a thread came
//! free. So a blocking child's closure sits in a [`Handoff`] that its pool
//! task and its nursery's [`Handed`] list share, and whichever side takes
//! the closure out owns the child's end: the pool task takes it to run it
//! (or, dropped unstarted by tokio, to drop it), an abort takes every
//! closure still there and drops it on the aborting thread.
//!
//! A closure taken back from a task in one of the nursery's `JoinSet`s
//! leaves the task behind: aborted, queued, holding an empty handoff, to be
//! dropped by a pool thread some time later. Such a *shell* is counted
//! (`shells`) until it is dropped, so that a drain waiting for the
//! nursery's tasks to leave the runtime can tell it from a child's task
//! still returning, and need not wait for the pool.
//!
//! # Invariants
//!
//! 1. A closure leaves its `Handoff` once, under the handoff's lock; only
//!    the side that took it counts the child's end, so a child ends once.
//! 2. A handoff is listed from its hand-off to the pool until an abort
//!    drains the list or a prune finds its closure gone.
//! 3. A hand-off listed after an abort's pass over the list escapes that
//!    abort, as a task spawned while `JoinSet::abort_all` runs may. It does
//!    not escape a forced end (a shutdown past its abort): the forced end
//!    marks the nursery before its pass, and a late hand-off reads the mark
//!    under the list's lock (see `Shared::handed_to_pool`), so either the
//!    pass finds it or it takes its own closure back.
//! 4. `shells` counts the handoffs taken back from a task in a set whose
//!    pool side has not yet seen them empty: raised under the handoff's
//!    lock as the closure is taken back (before the child's end is
//!    counted), lowered under it when the pool side looks (before its task
//!    completes). So once a nursery's live count is zero, its sets hold no
//!    unfinished task other than a shell when their unfinished tasks number
//!    no more than `shells`.
//!
//! # Lock order
//!
//! The list → a handoff (a prune looks into each with `try_lock`). A take
//! holds a handoff's lock only to move the closure out; the closure is
//! dropped, or run, after it.
//!
//! # Orderings
//!
//! `shells` is raised before the child's end, whose `AcqRel` update of the
//! live count a drain reads (`Acquire`) before it reads `shells`; it is
//! lowered before the shell's task completes, which a reap sees through
//! tokio's own task state. So a drain never reads a count older than the
//! tasks it has just counted, and `AcqRel`/`Acquire` here only makes that
//! plain.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::task::Id;

/// Where a blocking child's closure waits for whichever side takes it.
pub(crate) struct Handoff<Fn> {
    slot: Mutex<Slot<Fn>>,
}

enum Slot<Fn> {
    Waiting(Fn),
    /// Taken back from a task in a set: a shell until its pool side looks.
    TakenBack,
    Left,
}

impl<Fn> Handoff<Fn> {
    pub(crate) fn new(f: Fn) -> Self {
        Handoff {
            slot: Mutex::new(Slot::Waiting(f)),
        }
    }

    /// The pool side's take, to run the closure, drop it, or hand it back
    /// to the spawn; `None` if it left already. One an abort took back from
    /// a set's task is a shell: the nursery's list (`handed`, asked only
    /// then, under this lock, after the take-back that went through the
    /// list) counts one shell fewer.
    pub(crate) fn take<'a>(&self, handed: impl FnOnce() -> Option<&'a Handed>) -> Option<Fn> {
        let mut slot = self.slot.lock();
        match std::mem::replace(&mut *slot, Slot::Left) {
            Slot::Waiting(f) => Some(f),
            Slot::TakenBack => {
                if let Some(handed) = handed() {
                    handed.shells.fetch_sub(1, Ordering::AcqRel);
                }
                None
            }
            Slot::Left => None,
        }
    }
}

/// A [`Handoff`] with its closure's type erased.
pub(crate) trait Queued: Send + Sync {
    /// Takes the closure out and drops it (a panic in its drop is caught);
    /// `true` if it was still there, and the child's end is the caller's to
    /// count. `shells`: the nursery's count, when the closure's task is in
    /// one of its sets.
    fn take_back(&self, shells: Option<&AtomicU64>) -> bool;

    /// The closure has left. A handoff whose lock is taken counts as not
    /// yet: a take is under way there, and a later prune finds it empty.
    fn gone(&self) -> bool;
}

impl<Fn: Send> Queued for Handoff<Fn> {
    fn take_back(&self, shells: Option<&AtomicU64>) -> bool {
        let f = {
            let mut slot = self.slot.lock();
            if !matches!(*slot, Slot::Waiting(_)) {
                return false;
            }
            let left = match shells {
                Some(shells) => {
                    shells.fetch_add(1, Ordering::AcqRel);
                    Slot::TakenBack
                }
                None => Slot::Left,
            };
            match std::mem::replace(&mut *slot, left) {
                Slot::Waiting(f) => f,
                _ => unreachable!("checked above"),
            }
        };
        let _ = catch_unwind(AssertUnwindSafe(move || drop(f)));
        true
    }

    fn gone(&self) -> bool {
        self.slot
            .try_lock()
            .is_some_and(|slot| !matches!(*slot, Slot::Waiting(_)))
    }
}

/// A listed handoff.
pub(crate) struct Entry {
    /// The task its child is known by.
    pub(crate) id: Id,
    /// That task is in one of the nursery's sets: the spawn handed the
    /// closure over itself (not its task, once granted a running slot).
    pub(crate) in_set: bool,
    pub(crate) handoff: Arc<dyn Queued>,
}

/// A nursery's handoffs to the blocking pool, made with its first blocking
/// child.
pub(crate) struct Handed {
    list: Mutex<List>,
    /// Shells in the nursery's sets (invariant 4).
    shells: AtomicU64,
}

struct List {
    entries: Vec<Entry>,
    /// The length at which the next push first prunes emptied handoffs.
    prune_at: usize,
}

/// The smallest list a push prunes: below it, pruning costs more than the
/// entries it would free.
const PRUNE_FROM: usize = 16;

impl Handed {
    pub(crate) fn new() -> Self {
        Handed {
            list: Mutex::new(List {
                entries: Vec::new(),
                prune_at: PRUNE_FROM,
            }),
            shells: AtomicU64::new(0),
        }
    }

    /// Lists `entry`, unless `refuse`, read under the list's lock, says an
    /// abort this entry must not escape has been through (invariant 3):
    /// then the entry comes back, for the caller to take back.
    pub(crate) fn push(&self, entry: Entry, refuse: impl FnOnce() -> bool) -> Result<(), Entry> {
        let mut list = self.list.lock();
        if refuse() {
            return Err(entry);
        }
        if list.entries.len() >= list.prune_at {
            // Amortised: the list at least doubles between prunes.
            list.entries.retain(|entry| !entry.handoff.gone());
            list.prune_at = (2 * list.entries.len()).max(PRUNE_FROM);
        }
        list.entries.push(entry);
        Ok(())
    }

    /// Every listed handoff, the list left empty.
    pub(crate) fn drain(&self) -> Vec<Entry> {
        let mut list = self.list.lock();
        list.prune_at = PRUNE_FROM;
        std::mem::take(&mut list.entries)
    }

    /// Takes a listed child's closure back if the pool has not started it;
    /// `true` if it did, and the child's end is the caller's to count.
    pub(crate) fn take_back(&self, entry: &Entry) -> bool {
        entry
            .handoff
            .take_back(entry.in_set.then_some(&self.shells))
    }

    /// Shells in the nursery's sets now (invariant 4).
    pub(crate) fn shells(&self) -> u64 {
        self.shells.load(Ordering::Acquire)
    }
}
