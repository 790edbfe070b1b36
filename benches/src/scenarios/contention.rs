//! Scenario 2: contention. `n` children spawned into one owner from 8 tasks
//! on the multi-thread runtime, and from 2 OS threads outside it, timed until
//! all have finished. The owner must be shared, so `JoinSet` (which needs
//! `&mut`) and a `Vec` of handles are not contenders; the baseline is a
//! detached `tokio::spawn` with a completion latch.

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

fn threads_detached(rt: &Runtime, n: usize) -> Duration {
    let (sum, done) = (sum(), Done::new(n));
    let start = Instant::now();
    on_threads(n, rt.handle(), |handle, range| {
        for i in range {
            handle.spawn(async move {
                trivial(sum, i).await;
                done.finish();
            });
        }
    });
    rt.block_on(done.wait());
    let took = start.elapsed();
    check_sum(sum, n);
    took
}

fn threads_tracker(rt: &Runtime, n: usize) -> Duration {
    let sum = sum();
    let start = Instant::now();
    let tracker = TaskTracker::new();
    on_threads(
        n,
        &(tracker.clone(), rt.handle().clone()),
        |(tracker, handle), range| {
            for i in range {
                tracker.spawn_on(trivial(sum, i), handle);
            }
        },
    );
    tracker.close();
    rt.block_on(tracker.wait());
    let took = start.elapsed();
    check_sum(sum, n);
    took
}

fn threads_mutex_join_set(rt: &Runtime, n: usize) -> Duration {
    let sum = sum();
    let start = Instant::now();
    let shared = Arc::new(Mutex::new(JoinSet::new()));
    on_threads(
        n,
        &(Arc::clone(&shared), rt.handle().clone()),
        |(shared, handle), range| {
            for i in range {
                let mut set = shared.lock();
                reap(&mut set);
                set.spawn_on(trivial(sum, i), handle);
            }
        },
    );
    let mut set = mem::take(&mut *shared.lock());
    rt.block_on(join_all(&mut set));
    let took = start.elapsed();
    check_sum(sum, n);
    took
}

fn threads_nursery(rt: &Runtime, n: usize) -> Duration {
    let sum = sum();
    let start = Instant::now();
    let nursery: Nursery = Nursery::builder()
        .handle(rt.handle().clone())
        .build()
        .expect("build the nursery");
    on_threads(n, &nursery.spawner(), |spawner, range| {
        for i in range {
            assert!(spawner.spawn(trivial(sum, i)).is_ok(), "spawn refused");
        }
    });
    let report = rt.block_on(nursery.close());
    let took = start.elapsed();
    assert_eq!(report.stats().completed, n as u64);
    check_sum(sum, n);
    took
}
