//! Scenario 5: memory, in exact heap bytes (see [`Window`]), on the
//! current-thread runtime so that every allocation is the scenario's own.
//!
//! - Per live child: bytes allocated by spawning `n` children that park on a
//!   `Notify`, counted once all are parked, divided by `n`. Includes what the
//!   owner keeps per child (a `JoinHandle` in a `Vec`, a `JoinSet` entry, …)
//!   and the task itself, whose size includes the child's future (see
//!   [`child_future_sizes`]).
//! - Per finished child nobody joined: bytes still held once `n` trivial
//!   children have all run, before anyone joins or closes, divided by `n`.
//!
//! Each run first does one unmeasured round, so that buffers the runtime keeps
//! (its run queue) have already grown and are not charged to the children.
//! Owners are created before the window opens: their own cost is
//! [`fixed_cost`](super::fixed_cost)'s subject.

use std::mem;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use parking_lot::Mutex;
use scope_core::Nursery;
use tokio::runtime::Runtime;
use tokio::task::JoinSet;
use tokio_util::task::TaskTracker;

use super::{DETACHED, FUTURES_UNORDERED, HANDLES, JOIN_SET, MUTEX_JOIN_SET, NURSERY, TRACKER};
use crate::support::{
    Done, Gate, check_sum, join_all, parked, reap, settle, small, sum, trivial, wide,
};
use crate::{Case, Flavor, Group, Sizes, Window, drive};

/// Live and finished, `sizes.memory_children` children each.
#[must_use]
pub fn groups(sizes: &Sizes) -> Vec<Group> {
    let rt = Rc::new(Flavor::CurrentThread.runtime());
    vec![
        live(&rt, sizes.memory_children),
        finished(&rt, sizes.memory_children),
    ]
}

/// Bytes per live (parked) child; baseline [`JOIN_SET`].
#[must_use]
pub fn live(rt: &Rc<Runtime>, n: usize) -> Group {
    Group::new(
        "memory/live",
        format!(
            "memory: bytes per live child ({n} parked), {}",
            Flavor::CurrentThread.label()
        ),
        JOIN_SET,
        vec![
            counted(rt, HANDLES, n, move |m| live_handles(n, m)),
            counted(rt, DETACHED, n, move |m| live_detached(n, m)),
            counted(rt, JOIN_SET, n, move |m| live_join_set(n, m)),
            counted(rt, TRACKER, n, move |m| live_tracker(n, m)),
            counted(rt, MUTEX_JOIN_SET, n, move |m| live_mutex_join_set(n, m)),
            counted(rt, FUTURES_UNORDERED, n, move |m| {
                live_futures_unordered(n, m)
            }),
            counted(rt, NURSERY, n, move |m| live_nursery(n, m)),
        ],
    )
}

/// Bytes still held per finished child that nobody joined; baseline
/// [`JOIN_SET`]. `FuturesUnordered` is absent: unpolled, nothing finishes.
#[must_use]
pub fn finished(rt: &Rc<Runtime>, n: usize) -> Group {
    Group::new(
        "memory/finished",
        format!(
            "memory: bytes per finished child nobody joined ({n}), {}",
            Flavor::CurrentThread.label()
        ),
        JOIN_SET,
        vec![
            counted(rt, HANDLES, n, move |m| finished_handles(n, m)),
            counted(rt, DETACHED, n, move |m| finished_detached(n, m)),
            counted(rt, JOIN_SET, n, move |m| finished_join_set(n, m)),
            counted(rt, TRACKER, n, move |m| finished_tracker(n, m)),
            counted(rt, MUTEX_JOIN_SET, n, move |m| {
                finished_mutex_join_set(n, m)
            }),
            counted(rt, NURSERY, n, move |m| finished_nursery(n, m)),
        ],
    )
}

/// The sizes of the futures the children run, before any owner wraps them:
/// a task costs at least this much on top of its bookkeeping.
///
/// # Examples
///
/// ```
/// for (name, size) in scope_benches::scenarios::memory::child_future_sizes() {
///     assert!(size > 0, "{name}");
/// }
/// ```
#[must_use]
pub fn child_future_sizes() -> Vec<(&'static str, usize)> {
    let (gate, sum) = (Gate::new(1), sum());
    vec![
        (
            "parked child (live rows)",
            mem::size_of_val(&parked(gate, sum, 0)),
        ),
        (
            "trivial child (finished rows, spawn and finish)",
            mem::size_of_val(&trivial(sum, 0)),
        ),
        (
            "16-byte child (spawn and finish)",
            mem::size_of_val(&small(sum, 0)),
        ),
        (
            "40-byte child (spawn and finish)",
            mem::size_of_val(&wide(sum, 0)),
        ),
    ]
}

/// A byte-count case: one unmeasured round, then one measured round.
fn counted<F, Fut>(rt: &Rc<Runtime>, contender: &'static str, n: usize, round: F) -> Case
where
    F: Fn(bool) -> Fut + 'static,
    Fut: Future<Output = i64> + Send + 'static,
{
    let rt = Rc::clone(rt);
    Case::bytes(contender, n as u64, move || {
        drive(&rt, round(false));
        drive(&rt, round(true)) as f64 / n as f64
    })
}

fn open(measure: bool) -> Option<Window> {
    measure.then(Window::open)
}

fn net(window: Option<Window>) -> i64 {
    window.map_or(0, |w| w.net())
}

async fn live_handles(n: usize, measure: bool) -> i64 {
    let (gate, sum) = (Gate::new(n), sum());
    let window = open(measure);
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(parked(gate, sum, i))).collect();
    gate.wait_parked().await;
    let bytes = net(window);
    gate.release();
    for h in handles {
        h.await.expect("child panicked");
    }
    check_sum(sum, n);
    bytes
}

async fn live_detached(n: usize, measure: bool) -> i64 {
    let (gate, sum, done) = (Gate::new(n), sum(), Done::new(n));
    let window = open(measure);
    for i in 0..n {
        tokio::spawn(async move {
            parked(gate, sum, i).await;
            done.finish();
        });
    }
    gate.wait_parked().await;
    let bytes = net(window);
    gate.release();
    done.wait().await;
    check_sum(sum, n);
    bytes
}

async fn live_join_set(n: usize, measure: bool) -> i64 {
    let (gate, sum) = (Gate::new(n), sum());
    let mut set = JoinSet::new();
    let window = open(measure);
    for i in 0..n {
        set.spawn(parked(gate, sum, i));
    }
    gate.wait_parked().await;
    let bytes = net(window);
    gate.release();
    assert_eq!(join_all(&mut set).await, n);
    check_sum(sum, n);
    bytes
}

async fn live_tracker(n: usize, measure: bool) -> i64 {
    let (gate, sum) = (Gate::new(n), sum());
    let tracker = TaskTracker::new();
    let window = open(measure);
    for i in 0..n {
        tracker.spawn(parked(gate, sum, i));
    }
    gate.wait_parked().await;
    let bytes = net(window);
    gate.release();
    tracker.close();
    tracker.wait().await;
    check_sum(sum, n);
    bytes
}

async fn live_mutex_join_set(n: usize, measure: bool) -> i64 {
    let (gate, sum) = (Gate::new(n), sum());
    let shared = Arc::new(Mutex::new(JoinSet::new()));
    let window = open(measure);
    for i in 0..n {
        let mut set = shared.lock();
        reap(&mut set);
        set.spawn(parked(gate, sum, i));
    }
    gate.wait_parked().await;
    let bytes = net(window);
    gate.release();
    let mut set = mem::take(&mut *shared.lock());
    join_all(&mut set).await;
    check_sum(sum, n);
    bytes
}

async fn live_futures_unordered(n: usize, measure: bool) -> i64 {
    let (gate, sum) = (Gate::new(n), sum());
    let mut futs = FuturesUnordered::new();
    let window = open(measure);
    for i in 0..n {
        futs.push(parked(gate, sum, i));
    }
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
    let bytes = net(window);
    gate.release();
    while futs.next().await.is_some() {}
    check_sum(sum, n);
    bytes
}

async fn live_nursery(n: usize, measure: bool) -> i64 {
    let (gate, sum) = (Gate::new(n), sum());
    let nursery: Nursery = Nursery::new();
    let window = open(measure);
    for i in 0..n {
        assert!(nursery.spawn(parked(gate, sum, i)).is_ok(), "spawn refused");
    }
    gate.wait_parked().await;
    let bytes = net(window);
    gate.release();
    assert_eq!(nursery.close().await.stats().completed, n as u64);
    check_sum(sum, n);
    bytes
}

async fn finished_handles(n: usize, measure: bool) -> i64 {
    let sum = sum();
    let window = open(measure);
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(trivial(sum, i))).collect();
    settle(sum, n).await;
    let bytes = net(window);
    for h in handles {
        h.await.expect("child panicked");
    }
    bytes
}

async fn finished_detached(n: usize, measure: bool) -> i64 {
    let sum = sum();
    let window = open(measure);
    for i in 0..n {
        tokio::spawn(trivial(sum, i));
    }
    settle(sum, n).await;
    net(window)
}

async fn finished_join_set(n: usize, measure: bool) -> i64 {
    let sum = sum();
    let mut set = JoinSet::new();
    let window = open(measure);
    for i in 0..n {
        set.spawn(trivial(sum, i));
    }
    settle(sum, n).await;
    let bytes = net(window);
    assert_eq!(join_all(&mut set).await, n);
    bytes
}

async fn finished_tracker(n: usize, measure: bool) -> i64 {
    let sum = sum();
    let tracker = TaskTracker::new();
    let window = open(measure);
    for i in 0..n {
        tracker.spawn(trivial(sum, i));
    }
    settle(sum, n).await;
    let bytes = net(window);
    tracker.close();
    tracker.wait().await;
    bytes
}

async fn finished_mutex_join_set(n: usize, measure: bool) -> i64 {
    let sum = sum();
    let shared = Arc::new(Mutex::new(JoinSet::new()));
    let window = open(measure);
    for i in 0..n {
        let mut set = shared.lock();
        reap(&mut set);
        set.spawn(trivial(sum, i));
    }
    settle(sum, n).await;
    let bytes = net(window);
    let mut set = mem::take(&mut *shared.lock());
    join_all(&mut set).await;
    bytes
}

async fn finished_nursery(n: usize, measure: bool) -> i64 {
    let sum = sum();
    let nursery: Nursery = Nursery::new();
    let window = open(measure);
    for i in 0..n {
        assert!(nursery.spawn(trivial(sum, i)).is_ok(), "spawn refused");
    }
    settle(sum, n).await;
    let bytes = net(window);
    assert_eq!(nursery.close().await.stats().completed, n as u64);
    bytes
}
