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
//! A closure handed over by the task that waited for its running slot (a
//! `LaunchBlocking` in a set) leaves no shell in a set: the pool task is
//! that task's, which waits for it. An abort's pass over the sets reaches
//! that task unless the task went in after the pass (it escapes, as a task
//! spawned while `JoinSet::abort_all` runs may), and the pass over the list
//! after it may still take its closure back. So the task also waits on its
//! handoff: the take-back *withdraws* the closure and wakes it, and it ends
//! without waiting for the pool, which a close waits for otherwise.
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
//! 4. A withdrawn closure's task is woken after the take-back, which it
//!    reads under the handoff's lock where it left its waker, so it sees
//!    either the closure still waiting (and is woken later) or withdrawn.
//!    The wake-up comes after the child's end is counted (a poll in between
//!    may find the closure withdrawn and end the task first: a close waits
//!    for the live count, which still holds the child then).
//! 5. `shells` counts the handoffs taken back from a task in a set whose
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
use std::task::Waker;

use parking_lot::Mutex;
use tokio::task::Id;

use crate::pause::{self, Point};

/// Where a blocking child's closure waits for whichever side takes it.
pub(crate) struct Handoff<Fn> {
    inner: Mutex<Inner<Fn>>,
}

struct Inner<Fn> {
    slot: Slot<Fn>,
    /// The task that handed the closure over and waits for it (invariant 4).
    launcher: Option<Waker>,
}

enum Slot<Fn> {
    Waiting(Fn),
    /// Taken back from a task in a set: a shell until its pool side looks.
    TakenBack,
    /// Taken back from a task that a `LaunchBlocking` waits for.
    Withdrawn,
    Left,
}

impl<Fn> Handoff<Fn> {
    pub(crate) fn new(f: Fn) -> Self {
        Handoff {
            inner: Mutex::new(Inner {
                slot: Slot::Waiting(f),
                launcher: None,
            }),
        }
    }

    /// Whether an abort withdrew the closure; if it is still waiting,
    /// `waker` is woken when one does (invariant 4). A closure the pool took
    /// wakes nobody here: its task's end does.
    pub(crate) fn withdrawn(&self, waker: &Waker) -> bool {
        let mut inner = self.inner.lock();
        match inner.slot {
            Slot::Withdrawn => true,
            Slot::Waiting(_) => {
                match &mut inner.launcher {
                    Some(known) => known.clone_from(waker),
                    none => *none = Some(waker.clone()),
                }
                false
            }
            Slot::TakenBack | Slot::Left => false,
        }
    }

    /// The pool side's take, to run the closure, drop it, or hand it back
    /// to the spawn; `None` if it left already. One an abort took back from
    /// a set's task is a shell: the nursery's list (`handed`, asked only
    /// then, under this lock, after the take-back that went through the
    /// list) counts one shell fewer. `nursery`: its address, for a test's
    /// pause point (`pause.rs`).
    pub(crate) fn take<'a>(
        &self,
        nursery: *const (),
        handed: impl FnOnce() -> Option<&'a Handed>,
    ) -> Option<Fn> {
        pause::here(Point::PoolTakes, nursery);
        let mut inner = self.inner.lock();
        // Taken or gone, the closure needs no launcher woken for it.
        inner.launcher = None;
        match std::mem::replace(&mut inner.slot, Slot::Left) {
            Slot::Waiting(f) => Some(f),
            Slot::TakenBack => {
                if let Some(handed) = handed() {
                    handed.shells.fetch_sub(1, Ordering::AcqRel);
                }
                None
            }
            Slot::Withdrawn | Slot::Left => None,
        }
    }
}

/// A [`Handoff`] with its closure's type erased.
pub(crate) trait Queued: Send + Sync {
    /// Takes the closure out and drops it (a panic in its drop is caught);
    /// `Some` if it was still there, and the child's end is the caller's to
    /// count. `shells`: the nursery's count, when the closure's task is in
    /// one of its sets.
    fn take_back(&self, shells: Option<&AtomicU64>) -> Option<Withdrawal>;

    /// The closure has left. A handoff whose lock is taken counts as not
    /// yet: a take is under way there, and a later prune finds it empty.
    fn gone(&self) -> bool;
}

impl<Fn: Send> Queued for Handoff<Fn> {
    fn take_back(&self, shells: Option<&AtomicU64>) -> Option<Withdrawal> {
        let (f, launcher) = {
            let mut inner = self.inner.lock();
            if !matches!(inner.slot, Slot::Waiting(_)) {
                return None;
            }
            let left = match shells {
                Some(shells) => {
                    shells.fetch_add(1, Ordering::AcqRel);
                    Slot::TakenBack
                }
                None => Slot::Withdrawn,
            };
            match std::mem::replace(&mut inner.slot, left) {
                Slot::Waiting(f) => (f, inner.launcher.take()),
                _ => unreachable!("checked above"),
            }
        };
        let _ = catch_unwind(AssertUnwindSafe(move || drop(f)));
        Some(Withdrawal { launcher })
    }

    fn gone(&self) -> bool {
        self.inner
            .try_lock()
            .is_some_and(|inner| !matches!(inner.slot, Slot::Waiting(_)))
    }
}

/// A closure taken back, whose child's end is the taker's to count; then
/// [`counted`](Self::counted) wakes the task that handed the closure over
/// and waits for it, if any (invariant 4).
#[must_use]
pub(crate) struct Withdrawal {
    launcher: Option<Waker>,
}

impl Withdrawal {
    /// The child's end is counted: its launcher may end.
    pub(crate) fn counted(self) {
        if let Some(launcher) = self.launcher {
            launcher.wake();
        }
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
    /// Shells in the nursery's sets (invariant 5).
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
    /// `Some` if it did, and the child's end is the caller's to count.
    pub(crate) fn take_back(&self, entry: &Entry) -> Option<Withdrawal> {
        entry
            .handoff
            .take_back(entry.in_set.then_some(&self.shells))
    }

    /// Shells in the nursery's sets now (invariant 5).
    pub(crate) fn shells(&self) -> u64 {
        self.shells.load(Ordering::Acquire)
    }

    #[cfg(test)]
    fn listed(&self) -> usize {
        self.list.lock().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::time::Duration;

    use crate::Nursery;
    use crate::pause::{self, Point};

    /// An abort whose pass over the sets a waiting blocking child's task
    /// escaped (the task went in after the pass) takes its closure back in
    /// the pass over the list. The task, which handed the closure to a pool
    /// whose only thread is held, then ends at once: a close does not wait
    /// for the pool thread its empty pool task waits for.
    #[test]
    fn a_task_whose_closure_an_abort_withdrew_ends_without_the_pool() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(1)
            .enable_all()
            .build()
            .unwrap();
        withdrawn_round(&rt, false);
    }

    /// The same, with the take-back on another thread as soon as the
    /// closure is listed: it lands before or after the task leaves its
    /// waker in the handoff, and the task ends either way. Rounds: a
    /// hundredth of `SCOPE_STRESS_ROUNDS`, or 100.
    #[test]
    fn a_withdrawal_racing_its_task_on_another_thread_still_ends_the_task() {
        let rounds = std::env::var("SCOPE_STRESS_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(100, |r: u64| (r / 100).max(1));
        let rt = two_workers_one_pool_thread();
        for _ in 0..rounds {
            withdrawn_round(&rt, true);
        }
    }

    /// A blocking child's pool side can reach its take before its spawn has
    /// listed it, and the abort that takes the closure back (leaving a
    /// shell) only after. The take looks up the nursery's list under the
    /// handoff's lock, after that take-back, so it finds the list and counts
    /// the shell out. (Looked up before the lock, the list was not there
    /// yet: the shell stayed counted for good, and every later drain would
    /// take one task still returning for a shell.)
    #[test]
    fn a_take_that_began_before_its_listing_counts_its_shell_out() {
        let rt = two_workers_one_pool_thread();
        rt.block_on(async {
            let nursery: Nursery = Nursery::new();
            let at = Arc::as_ptr(&nursery.spawner.shared).cast();
            let unlisted = pause::arm(Point::HandedUnlisted, at);
            let taking = pause::arm(Point::PoolTakes, at);
            let ran = Arc::new(AtomicBool::new(false));
            let ran_here = Arc::clone(&ran);
            let spawner = nursery.spawner();
            let spawning = std::thread::spawn(move || {
                spawner.spawn_blocking(move || ran_here.store(true, SeqCst))
            });
            unlisted.wait_arrived();
            taking.wait_arrived();
            unlisted.release();
            spawning.join().unwrap().unwrap();

            nursery.abort_all();
            let shared = Arc::clone(&nursery.spawner.shared);
            assert_eq!(shared.handed().unwrap().shells(), 1, "no shell left");
            // The close does not wait for a shell.
            let report = tokio::time::timeout(Duration::from_secs(30), nursery.close())
                .await
                .expect("the close waited for the shell");
            assert!(report.is_final(), "{report:?}");
            assert_eq!(report.stats().aborted, 1, "{report:?}");
            taking.release();
            // The pool's one thread runs this once the shell's task is done.
            tokio::task::spawn_blocking(|| ()).await.unwrap();
            assert_eq!(shared.handed().unwrap().shells(), 0, "a shell left counted");
            assert!(!ran.load(SeqCst), "the closure taken back ran");
        });
    }

    fn two_workers_one_pool_thread() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    /// One nursery whose blocking child, granted its running slot, hands
    /// its closure to a held pool; the list's pass alone (the sets' pass did
    /// not reach the task) takes it back, here or on another thread.
    fn withdrawn_round(rt: &tokio::runtime::Runtime, from_another_thread: bool) {
        rt.block_on(async {
            let (started_tx, started_rx) = tokio::sync::oneshot::channel();
            let (release, held) = std::sync::mpsc::channel::<()>();
            let holder = tokio::task::spawn_blocking(move || {
                started_tx.send(()).unwrap();
                let _ = held.recv();
            });
            started_rx.await.unwrap();

            let nursery: Nursery = Nursery::builder().max_running(1).build().unwrap();
            let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
            nursery
                .spawn(async move {
                    let _ = first_rx.await;
                })
                .unwrap();
            let ran = Arc::new(AtomicBool::new(false));
            let ran_here = Arc::clone(&ran);
            nursery
                .spawn_blocking(move || ran_here.store(true, SeqCst))
                .unwrap();
            // Granted its slot, the task hands the closure to the held pool
            // and lists it, in one poll.
            let shared = Arc::clone(&nursery.spawner.shared);
            let listed = move || shared.handed().is_some_and(|handed| handed.listed() > 0);
            if from_another_thread {
                let shared = Arc::clone(&nursery.spawner.shared);
                let taker = std::thread::spawn(move || {
                    while !listed() {
                        std::thread::yield_now();
                    }
                    shared.take_back_handed();
                });
                first_tx.send(()).unwrap();
                // The pool is held: wait for the thread without blocking.
                while !taker.is_finished() {
                    tokio::task::yield_now().await;
                }
                taker.join().unwrap();
            } else {
                first_tx.send(()).unwrap();
                while !listed() {
                    tokio::task::yield_now().await;
                }
                nursery.spawner.shared.take_back_handed();
            }

            let report = tokio::time::timeout(Duration::from_secs(30), nursery.close())
                .await
                .expect("the close waited for the held pool");
            assert!(report.is_final(), "{report:?}");
            assert_eq!(report.stats().aborted, 1, "{report:?}");
            assert_eq!(report.stats().completed, 1, "{report:?}");

            drop(release);
            holder.await.unwrap();
            // The freed thread runs the empty pool task.
            tokio::task::spawn_blocking(|| ()).await.unwrap();
            assert!(!ran.load(SeqCst), "the withdrawn closure ran");
        });
    }
}
