//! The `JoinSet`s that hold a nursery's tasks (contract C1): one, made with
//! the first child, and, once two threads have met at its lock while
//! spawning, a few more, each used by the threads that map to it.
//!
//! Every spawn, and every 32nd end, takes a set's lock, and tokio's own
//! bookkeeping for the set's entries is shared by the tasks in it; threads
//! spawning into one nursery at once would otherwise queue on that lock and
//! pass its cache lines back and forth on every spawn. A nursery that is only
//! ever spawned into by one thread at a time never makes the extra sets: the
//! common case pays one pointer for them.
//!
//! # Invariants
//!
//! 1. A set is made under its own lock and never replaced or removed until
//!    the nursery drops; every task of the nursery is in exactly one set.
//! 2. Once the extra sets exist, each thread spawns into the one its
//!    [`lane`] picks (the first set for lane 0), so each set keeps a steady
//!    set of threads; before, every spawn uses the first set.
//! 3. Whatever must reach every task (abort, the drain's "no task left",
//!    reaping) visits every set, one lock at a time; no two of these locks
//!    are ever held together.
//! 4. The extra sets are made while the first set's lock is held, and a
//!    visit looks for them only after it has been through the first set's
//!    lock. So a visit either finds them, or every spawn that goes into them
//!    took the first set's lock after the visit did, and sees whatever the
//!    visitor wrote before it (a cancel's flag: see `Shared::hand_off`).

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, MutexGuard};
use tokio::task::JoinSet;

use super::lazy::OnceBox;

/// How many sets a contended nursery spreads its tasks over (the first
/// included). The machines this targets have a few cores; more sets than
/// spawning threads would only cost memory.
const LANES: usize = 4;

/// One `JoinSet`, made with the first task that goes into it.
pub(crate) type Set = Mutex<Option<JoinSet<()>>>;

pub(crate) struct Sets {
    first: Set,
    /// The other `LANES - 1` sets, made the first time a spawn found the
    /// first set's lock taken.
    more: OnceBox<[Set; LANES - 1]>,
}

impl Sets {
    pub(crate) fn new() -> Self {
        Sets {
            first: Mutex::new(None),
            more: OnceBox::new(),
        }
    }

    /// The set a spawn from this thread goes into, locked (invariant 2).
    #[inline]
    pub(crate) fn for_spawn(&self) -> MutexGuard<'_, Option<JoinSet<()>>> {
        if let Some(more) = self.more.get() {
            return lock_lane(&self.first, more);
        }
        if let Some(first) = self.first.try_lock() {
            return first;
        }
        // Another thread is in the first set: from now on, spread.
        lock_lane(&self.first, self.spread())
    }

    /// Makes the extra sets, under the first set's lock (invariant 4).
    fn spread(&self) -> &[Set; LANES - 1] {
        let _first = self.first.lock();
        self.more
            .get_or_init(|| std::array::from_fn(|_| Mutex::new(None)))
    }

    /// Runs `visit` on each set with its lock held, the first set first
    /// (invariants 3 and 4); `visit` gets `None` for a set it could not lock
    /// when `wait` is false.
    fn visit(&self, wait: bool, mut visit: impl FnMut(Option<&mut Option<JoinSet<()>>>)) {
        let mut one = |set: &Set| {
            if wait {
                visit(Some(&mut set.lock()));
            } else {
                visit(set.try_lock().as_deref_mut());
            }
        };
        one(&self.first);
        // Read only now, after the first set's lock (invariant 4).
        for set in self.more.get().into_iter().flatten() {
            one(set);
        }
    }

    /// Removes finished tasks from every set whose lock is free; a taken lock
    /// means someone is in that set, and a later pass reaps it.
    pub(crate) fn try_reap(&self) {
        self.visit(false, |set| {
            if let Some(set) = set {
                reap(set);
            }
        });
    }

    /// Removes finished tasks from every set; returns how many are left.
    pub(crate) fn reap_all(&self) -> usize {
        let mut left = 0;
        self.visit(true, |set| {
            if let Some(set) = set {
                reap(set);
                left += set.as_ref().map_or(0, JoinSet::len);
            }
        });
        left
    }

    /// Aborts every task in every set.
    pub(crate) fn abort_all(&self) {
        self.visit(true, |set| {
            if let Some(Some(set)) = set {
                set.abort_all();
            }
        });
    }
}

/// Removes a set's finished tasks. (What a child leaves for its owner, it
/// pushed itself; see `outcomes.rs`.)
fn reap(set: &mut Option<JoinSet<()>>) {
    if let Some(set) = set {
        while set.try_join_next().is_some() {}
    }
}

fn lock_lane<'a>(
    first: &'a Set,
    more: &'a [Set; LANES - 1],
) -> MutexGuard<'a, Option<JoinSet<()>>> {
    match lane() {
        0 => first.lock(),
        n => more[n - 1].lock(),
    }
}

/// This thread's lane, `0..LANES`: threads take lanes in the order they
/// first spawn into a contended nursery, so the first few threads that
/// spawn concurrently get different sets.
fn lane() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static LANE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    // A thread whose locals are being torn down uses the first lane.
    LANE.try_with(|lane| {
        if lane.get() == usize::MAX {
            // Relaxed: only distinctness matters, no data is published.
            lane.set(NEXT.fetch_add(1, Ordering::Relaxed) % LANES);
        }
        lane.get()
    })
    .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Once spread, a thread of another lane spawns into its own set, and
    /// every visit reaches the task it put there.
    #[test]
    fn visits_reach_the_tasks_of_every_lane() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let sets = Sets::new();
        sets.spread();
        // Lanes are handed out in turn: one of a few fresh threads gets a
        // lane other than the first.
        let spread = std::thread::scope(|s| {
            (0..8 * LANES).any(|_| {
                s.spawn(|| {
                    if lane() == 0 {
                        return false;
                    }
                    let _in = rt.enter();
                    sets.for_spawn()
                        .get_or_insert_with(JoinSet::new)
                        .spawn(std::future::pending::<()>());
                    true
                })
                .join()
                .unwrap()
            })
        });
        assert!(spread, "no thread got a lane of its own");
        assert!(
            sets.first.lock().is_none(),
            "the task went to the first set"
        );
        assert_eq!(sets.reap_all(), 1, "the visit missed the task");
        rt.block_on(async {
            sets.abort_all();
            while sets.reap_all() > 0 {
                tokio::task::yield_now().await;
            }
        });
    }
}
