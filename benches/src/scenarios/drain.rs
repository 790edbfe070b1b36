//! Scenario 3: drain. `n` children parked on one shared `Notify` are released
//! at once; timed from the release until the owner's wait returns
//! (`Nursery::close`, `TaskTracker::close` + `wait`, draining a `JoinSet`, …).
//! Spawning and parking are setup, outside the timed region.

use std::mem;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
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
use crate::support::{Done, Gate, check_sum, join_all, parked, reap, sum};
use crate::{Flavor, Group, Sizes};

/// `sizes.parked` children on the multi-thread runtime.
#[must_use]
pub fn groups(sizes: &Sizes) -> Vec<Group> {
    vec![group(sizes.parked)]
}

/// `n` parked children; baseline [`TRACKER`].
#[must_use]
pub fn group(n: usize) -> Group {
    let rt = Rc::new(Flavor::MultiThread.runtime());
    Group::new(
        "drain",
        format!(
            "drain {n} released children, {}",
            Flavor::MultiThread.label()
        ),
        TRACKER,
        vec![
            timed(&rt, TRACKER, n, move || tracker(n)),
            timed(&rt, HANDLES, n, move || handles(n)),
            timed(&rt, DETACHED, n, move || detached(n)),
            timed(&rt, JOIN_SET, n, move || join_set(n)),
            timed(&rt, MUTEX_JOIN_SET, n, move || mutex_join_set(n)),
            timed(&rt, FUTURES_UNORDERED, n, move || futures_unordered(n)),
            timed(&rt, NURSERY, n, move || nursery(n)),
        ],
    )
}

async fn tracker(n: usize) -> Duration {
    let (gate, sum) = (Gate::new(n), sum());
    let tracker = TaskTracker::new();
    for i in 0..n {
        tracker.spawn(parked(gate, sum, i));
    }
    gate.wait_parked().await;
    let start = Instant::now();
    gate.release();
    tracker.close();
    tracker.wait().await;
    let took = start.elapsed();
    check_sum(sum, n);
    took
}

async fn handles(n: usize) -> Duration {
    let (gate, sum) = (Gate::new(n), sum());
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(parked(gate, sum, i))).collect();
    gate.wait_parked().await;
    let start = Instant::now();
    gate.release();
    for h in handles {
        h.await.expect("child panicked");
    }
    let took = start.elapsed();
    check_sum(sum, n);
    took
}

async fn detached(n: usize) -> Duration {
    let (gate, sum, done) = (Gate::new(n), sum(), Done::new(n));
    for i in 0..n {
        tokio::spawn(async move {
            parked(gate, sum, i).await;
            done.finish();
        });
    }
    gate.wait_parked().await;
    let start = Instant::now();
    gate.release();
    done.wait().await;
    let took = start.elapsed();
    check_sum(sum, n);
    took
}

async fn join_set(n: usize) -> Duration {
    let (gate, sum) = (Gate::new(n), sum());
    let mut set = JoinSet::new();
    for i in 0..n {
        set.spawn(parked(gate, sum, i));
    }
    gate.wait_parked().await;
    let start = Instant::now();
    gate.release();
    let joined = join_all(&mut set).await;
    let took = start.elapsed();
    assert_eq!(joined, n);
    check_sum(sum, n);
    took
}

async fn mutex_join_set(n: usize) -> Duration {
    let (gate, sum) = (Gate::new(n), sum());
    let shared = Arc::new(Mutex::new(JoinSet::new()));
    for i in 0..n {
        let mut set = shared.lock();
        reap(&mut set);
        set.spawn(parked(gate, sum, i));
    }
    gate.wait_parked().await;
    let start = Instant::now();
    gate.release();
    let mut set = mem::take(&mut *shared.lock());
    join_all(&mut set).await;
    let took = start.elapsed();
    check_sum(sum, n);
    took
}

async fn futures_unordered(n: usize) -> Duration {
    let (gate, sum) = (Gate::new(n), sum());
    let mut futs: FuturesUnordered<_> = (0..n).map(|i| parked(gate, sum, i)).collect();
    // Nothing runs unless the owner polls: poll until every child is parked.
    while gate.parked() < n {
        std::future::poll_fn(|cx| {
            assert!(
                futs.poll_next_unpin(cx).is_pending(),
                "a parked child ended early"
            );
            Poll::Ready(())
        })
        .await;
    }
    let start = Instant::now();
    gate.release();
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
    let (gate, sum) = (Gate::new(n), sum());
    let nursery: Nursery = Nursery::new();
    for i in 0..n {
        assert!(nursery.spawn(parked(gate, sum, i)).is_ok(), "spawn refused");
    }
    gate.wait_parked().await;
    let start = Instant::now();
    gate.release();
    let report = nursery.close().await;
    let took = start.elapsed();
    assert_eq!(report.stats().completed, n as u64);
    check_sum(sum, n);
    took
}
