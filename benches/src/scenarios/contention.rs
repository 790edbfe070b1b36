//! Scenario 2: contention. `n` children spawned into one owner from 8 tasks
//! on the multi-thread runtime, and from 2 OS threads outside it, timed until
//! all have finished. The owner must be shared, so `JoinSet` (which needs
//! `&mut`) and a `Vec` of handles are not contenders; the baseline is a
//! detached `tokio::spawn`.
//!
//! From OS threads, every contender spawns the same child, a 16-byte future
//! that counts itself done on one shared latch, and the timed region ends
//! when the latch reaches zero, for every contender alike; each spawning
//! thread has entered the runtime (`Handle::enter`). What an owner does after
//! that (a close, a join) is checked outside the timed region. This is the
//! measurement of an owner's cost under two spawning threads: see the
//! README for what the earlier form of it hid.

use std::mem;
use std::rc::Rc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use scope_core::Nursery;
use tokio::runtime::Runtime;
use tokio::task::JoinSet;
use tokio_util::task::TaskTracker;

use super::{DETACHED, MUTEX_JOIN_SET, NURSERY, TRACKER, timed};
use crate::support::{Done, check_sum, join_all, reap, split, sum, trivial};

/// The child of the thread variant, for every contender: counts itself done.
/// A 16-byte future (the latch and the state), so every contender's task,
/// wrapped or not, fits the same task cell.
async fn counted(done: &'static Done) {
    done.finish();
}
use crate::{Case, Flavor, Group, Sizes};

/// Spawning tasks in the 8-task variant.
pub const TASKS: usize = 8;
/// Spawning OS threads in the thread variant.
pub const THREADS: usize = 2;

/// From 8 tasks, and from 2 OS threads; `sizes.children` children each.
#[must_use]
pub fn groups(sizes: &Sizes) -> Vec<Group> {
    vec![from_tasks(sizes.children), from_threads(sizes.children)]
}

/// `n` spawns from [`TASKS`] tasks on the multi-thread runtime.
#[must_use]
pub fn from_tasks(n: usize) -> Group {
    let rt = Rc::new(Flavor::MultiThread.runtime());
    Group::new(
        "contention/tasks",
        format!(
            "contention: {n} spawns from {TASKS} tasks, {}",
            Flavor::MultiThread.label()
        ),
        DETACHED,
        vec![
            timed(&rt, DETACHED, n, move || tasks_detached(n)),
            timed(&rt, TRACKER, n, move || tasks_tracker(n)),
            timed(&rt, MUTEX_JOIN_SET, n, move || tasks_mutex_join_set(n)),
            timed(&rt, NURSERY, n, move || tasks_nursery(n)),
        ],
    )
}

/// `n` spawns from [`THREADS`] OS threads outside the multi-thread runtime.
#[must_use]
pub fn from_threads(n: usize) -> Group {
    let rt = Rc::new(Flavor::MultiThread.runtime());
    let case = |name, f: fn(&Runtime, usize) -> Duration| {
        let rt = Rc::clone(&rt);
        Case::time(name, n as u64, move || f(&rt, n))
    };
    Group::new(
        "contention/threads",
        format!(
            "contention: {n} spawns from {THREADS} OS threads, {}",
            Flavor::MultiThread.label()
        ),
        DETACHED,
        vec![
            case(DETACHED, threads_detached),
            case(TRACKER, threads_tracker),
            case(MUTEX_JOIN_SET, threads_mutex_join_set),
            case(NURSERY, threads_nursery),
        ],
    )
}

/// Runs `spawn_range` on [`TASKS`] tasks, each over its share of `0..n`.
async fn on_tasks<S: Clone + Send + 'static>(
    n: usize,
    owner: S,
    spawn_range: fn(&S, std::ops::Range<usize>),
) {
    let spawners: Vec<_> = split(n, TASKS)
        .map(|range| {
            let owner = owner.clone();
            tokio::spawn(async move { spawn_range(&owner, range) })
        })
        .collect();
    for s in spawners {
        s.await.expect("spawning task panicked");
    }
}

/// Runs `spawn_range` on [`THREADS`] OS threads, each over its share of `0..n`.
fn on_threads<S: Clone + Send>(
    n: usize,
    owner: &S,
    spawn_range: impl Fn(&S, std::ops::Range<usize>) + Sync,
) {
    thread::scope(|scope| {
        for range in split(n, THREADS) {
            let (owner, spawn_range) = (owner.clone(), &spawn_range);
            scope.spawn(move || spawn_range(&owner, range));
        }
    });
}

async fn tasks_detached(n: usize) -> Duration {
    let (sum, done) = (sum(), Done::new(n));
    let start = Instant::now();
    on_tasks(n, (sum, done), |&(sum, done), range| {
        for i in range {
            tokio::spawn(async move {
                trivial(sum, i).await;
                done.finish();
            });
        }
    })
    .await;
    done.wait().await;
    let took = start.elapsed();
    check_sum(sum, n);
    took
}

async fn tasks_tracker(n: usize) -> Duration {
    let sum = sum();
    let start = Instant::now();
    let tracker = TaskTracker::new();
    on_tasks(n, (sum, tracker.clone()), |(sum, tracker), range| {
        for i in range {
            tracker.spawn(trivial(sum, i));
        }
    })
    .await;
    tracker.close();
    tracker.wait().await;
    let took = start.elapsed();
    check_sum(sum, n);
    took
}

async fn tasks_mutex_join_set(n: usize) -> Duration {
    let sum = sum();
    let start = Instant::now();
    let shared = Arc::new(Mutex::new(JoinSet::new()));
    on_tasks(n, (sum, Arc::clone(&shared)), |(sum, shared), range| {
        for i in range {
            let mut set = shared.lock();
            reap(&mut set);
            set.spawn(trivial(sum, i));
        }
    })
    .await;
    let mut set = mem::take(&mut *shared.lock());
    join_all(&mut set).await;
    let took = start.elapsed();
    check_sum(sum, n);
    took
}

async fn tasks_nursery(n: usize) -> Duration {
    let sum = sum();
    let start = Instant::now();
    let nursery: Nursery = Nursery::new();
    on_tasks(n, (sum, nursery.spawner()), |(sum, spawner), range| {
        for i in range {
            assert!(spawner.spawn(trivial(sum, i)).is_ok(), "spawn refused");
        }
    })
    .await;
    let report = nursery.close().await;
    let took = start.elapsed();
    assert_eq!(report.stats().completed, n as u64);
    check_sum(sum, n);
    took
}

/// Spawns `n` [`counted`] children through `spawn` from [`THREADS`] OS
/// threads that entered `rt`, and times until all have run.
fn time_threads<S: Clone + Send>(
    rt: &Runtime,
    n: usize,
    owner: &S,
    spawn: impl Fn(&S, &'static Done) + Sync,
) -> Duration {
    let done = Done::new(n);
    let start = Instant::now();
    on_threads(n, owner, |owner, range| {
        let _entered = rt.handle().enter();
        for _ in range {
            spawn(owner, done);
        }
    });
    rt.block_on(done.wait());
    start.elapsed()
}

fn threads_detached(rt: &Runtime, n: usize) -> Duration {
    time_threads(rt, n, &(), |(), done| {
        tokio::spawn(counted(done));
    })
}

fn threads_tracker(rt: &Runtime, n: usize) -> Duration {
    let tracker = TaskTracker::new();
    let took = time_threads(rt, n, &tracker, |tracker, done| {
        tracker.spawn(counted(done));
    });
    tracker.close();
    rt.block_on(tracker.wait());
    took
}

fn threads_mutex_join_set(rt: &Runtime, n: usize) -> Duration {
    let shared = Arc::new(Mutex::new(JoinSet::new()));
    let took = time_threads(rt, n, &shared, |shared, done| {
        let mut set = shared.lock();
        reap(&mut set);
        set.spawn(counted(done));
    });
    let mut set = mem::take(&mut *shared.lock());
    rt.block_on(join_all(&mut set));
    took
}

fn threads_nursery(rt: &Runtime, n: usize) -> Duration {
    let nursery: Nursery = Nursery::builder()
        .handle(rt.handle().clone())
        .build()
        .expect("build the nursery");
    let took = time_threads(rt, n, &nursery.spawner(), |spawner, done| {
        assert!(spawner.spawn(counted(done)).is_ok(), "spawn refused");
    });
    let report = rt.block_on(nursery.close());
    assert_eq!(report.stats().completed, n as u64);
    took
}
