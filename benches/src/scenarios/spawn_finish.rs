//! Scenario 1: spawn `n` trivial children and wait until all have finished,
//! on the multi-thread runtime (2 workers) and on the current-thread runtime.
//!
//! Every owner is created inside the timed region; the owner spawns from a
//! task (see [`drive`](crate::drive)). Each child adds its index to a shared
//! sum, checked after every run.

use std::mem;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use parking_lot::Mutex;
use scope_core::Nursery;
use tokio::task::JoinSet;
use tokio_util::task::TaskTracker;

use super::{
    DETACHED, FUTURES_UNORDERED, HANDLES, JOIN_SET, MUTEX_JOIN_SET, NURSERY, TRACKER, timed,
};
use crate::support::{Done, check_sum, join_all, reap, sum, trivial};
use crate::{Flavor, Group, Sizes};

/// Both runtime flavours, `sizes.children` children each.
#[must_use]
pub fn groups(sizes: &Sizes) -> Vec<Group> {
    vec![
        group(Flavor::MultiThread, sizes.children),
        group(Flavor::CurrentThread, sizes.children),
    ]
}

/// One flavour, `n` children; baseline [`HANDLES`].
///
/// # Examples
///
/// ```
/// let mut g = scope_benches::scenarios::spawn_finish::group(scope_benches::Flavor::CurrentThread, 10);
/// for case in g.cases_mut() {
///     case.run();
/// }
/// ```
#[must_use]
pub fn group(flavor: Flavor, n: usize) -> Group {
    let rt = Rc::new(flavor.runtime());
    let id = match flavor {
        Flavor::MultiThread => "spawn_finish/multi_thread",
        Flavor::CurrentThread => "spawn_finish/current_thread",
    };
    Group::new(
        id,
        format!("spawn and finish {n}, {}", flavor.label()),
        HANDLES,
        vec![
            timed(&rt, HANDLES, n, move || handles(n)),
            timed(&rt, DETACHED, n, move || detached(n)),
            timed(&rt, JOIN_SET, n, move || join_set(n)),
            timed(&rt, TRACKER, n, move || tracker(n)),
            timed(&rt, MUTEX_JOIN_SET, n, move || mutex_join_set(n)),
            timed(&rt, FUTURES_UNORDERED, n, move || futures_unordered(n)),
            timed(&rt, NURSERY, n, move || nursery(n)),
        ],
    )
}

async fn handles(n: usize) -> Duration {
    let sum = sum();
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        handles.push(tokio::spawn(trivial(sum, i)));
    }
    for h in handles {
        h.await.expect("child panicked");
    }
    let took = start.elapsed();
    check_sum(sum, n);
    took
}

async fn detached(n: usize) -> Duration {
    let (sum, done) = (sum(), Done::new(n));
    let start = Instant::now();
    for i in 0..n {
        tokio::spawn(async move {
            trivial(sum, i).await;
            done.finish();
        });
    }
    done.wait().await;
    let took = start.elapsed();
    check_sum(sum, n);
    took
}

async fn join_set(n: usize) -> Duration {
    let sum = sum();
    let start = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..n {
        set.spawn(trivial(sum, i));
    }
    let joined = join_all(&mut set).await;
    let took = start.elapsed();
    assert_eq!(joined, n);
    check_sum(sum, n);
    took
}

async fn tracker(n: usize) -> Duration {
    let sum = sum();
    let start = Instant::now();
    let tracker = TaskTracker::new();
    for i in 0..n {
        tracker.spawn(trivial(sum, i));
    }
    tracker.close();
    tracker.wait().await;
    let took = start.elapsed();
    check_sum(sum, n);
    took
}

async fn mutex_join_set(n: usize) -> Duration {
    let sum = sum();
    let start = Instant::now();
    let shared = Arc::new(Mutex::new(JoinSet::new()));
    for i in 0..n {
        let mut set = shared.lock();
        reap(&mut set);
        set.spawn(trivial(sum, i));
    }
    let mut set = mem::take(&mut *shared.lock());
    join_all(&mut set).await;
    let took = start.elapsed();
    check_sum(sum, n);
    took
}

async fn futures_unordered(n: usize) -> Duration {
    let sum = sum();
    let start = Instant::now();
    let mut futs = FuturesUnordered::new();
    for i in 0..n {
        futs.push(trivial(sum, i));
    }
    let mut ended = 0;
    while futs.next().await.is_some() {
        ended += 1;
    }
    let took = start.elapsed();
    assert_eq!(ended, n);
    check_sum(sum, n);
    took
}

async fn nursery(n: usize) -> Duration {
    let sum = sum();
    let start = Instant::now();
    let nursery: Nursery = Nursery::new();
    for i in 0..n {
        assert!(nursery.spawn(trivial(sum, i)).is_ok(), "spawn refused");
    }
    let report = nursery.close().await;
    let took = start.elapsed();
    assert_eq!(report.stats().completed, n as u64);
    check_sum(sum, n);
    took
}
