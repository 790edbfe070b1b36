//! What the scenarios share: leaked counters, the gate that parks children,
//! the completion latch a detached spawn needs, and the child bodies.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::Poll;

use tokio::sync::Notify;
use tokio::task::JoinSet;

/// A `&'static` for children to capture without a reference count. Leaked
/// once per run (a few bytes), outside every timed region and byte window.
pub(crate) fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// A fresh sum for children to add to.
pub(crate) fn sum() -> &'static AtomicU64 {
    leak(AtomicU64::new(0))
}

/// The child every spawn scenario runs: adds its index to `sum`.
pub(crate) async fn trivial(sum: &'static AtomicU64, i: usize) {
    sum.fetch_add(i as u64, Ordering::Relaxed);
}

/// The trivial child's work in a 16-byte future (the index narrowed to 32
/// bits; the scenarios spawn far fewer children than that).
pub(crate) fn small(
    sum: &'static AtomicU64,
    i: usize,
) -> impl Future<Output = ()> + Send + 'static {
    let i = u32::try_from(i).expect("fewer than 2^32 children");
    async move {
        sum.fetch_add(u64::from(i), Ordering::Relaxed);
    }
}

/// The trivial child's work in a 40-byte future: it carries two more words,
/// which it reads.
pub(crate) fn wide(sum: &'static AtomicU64, i: usize) -> impl Future<Output = ()> + Send + 'static {
    let carried = [i, i];
    async move {
        let i = i.wrapping_add(carried[0]).wrapping_sub(carried[1]);
        sum.fetch_add(i as u64, Ordering::Relaxed);
    }
}

/// Asserts that children `0..n` each added their index once.
pub(crate) fn check_sum(sum: &AtomicU64, n: usize) {
    assert_eq!(
        sum.load(Ordering::Acquire),
        expected_sum(n),
        "a child was lost or ran twice"
    );
}

/// What children `0..n` add up to.
pub(crate) fn expected_sum(n: usize) -> u64 {
    let n = n as u64;
    n * n.saturating_sub(1) / 2
}

/// Waits until children `0..n` have all run (yielding to them).
pub(crate) async fn settle(sum: &AtomicU64, n: usize) {
    while sum.load(Ordering::Acquire) != expected_sum(n) {
        tokio::task::yield_now().await;
    }
}

/// Parks children until released, and tells the driver when all are parked.
pub(crate) struct Gate {
    release: Notify,
    parked: AtomicUsize,
    all_parked: Notify,
    target: usize,
}

impl Gate {
    pub(crate) fn new(target: usize) -> &'static Gate {
        leak(Gate {
            release: Notify::new(),
            parked: AtomicUsize::new(0),
            all_parked: Notify::new(),
            target,
        })
    }

    /// Waits for [`release`](Self::release). Registered as a waiter before
    /// it counts as parked, so a release after `wait_parked` reaches it.
    pub(crate) async fn park(&self) {
        let mut notified = pin!(self.release.notified());
        notified.as_mut().enable();
        self.parked_one();
        notified.await;
    }

    /// Counts the caller as parked (for children parked on something else).
    pub(crate) fn parked_one(&self) {
        if self.parked.fetch_add(1, Ordering::AcqRel) + 1 == self.target {
            // `notify_one` keeps a permit if the driver is not waiting yet.
            self.all_parked.notify_one();
        }
    }

    pub(crate) fn parked(&self) -> usize {
        self.parked.load(Ordering::Acquire)
    }

    pub(crate) async fn wait_parked(&self) {
        while self.parked() < self.target {
            self.all_parked.notified().await;
        }
    }

    pub(crate) fn release(&self) {
        self.release.notify_waiters();
    }
}

/// A parked child: waits at the gate, then adds its index to `sum`.
pub(crate) async fn parked(gate: &'static Gate, sum: &'static AtomicU64, i: usize) {
    gate.park().await;
    sum.fetch_add(i as u64, Ordering::Relaxed);
}

/// The latch a detached `tokio::spawn` needs to know its children finished:
/// the least a user must add, and what `TaskTracker` does for them.
pub(crate) struct Done {
    remaining: AtomicUsize,
    notify: Notify,
}

impl Done {
    pub(crate) fn new(n: usize) -> &'static Done {
        leak(Done {
            remaining: AtomicUsize::new(n),
            notify: Notify::new(),
        })
    }

    pub(crate) fn finish(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.notify.notify_one();
        }
    }

    pub(crate) async fn wait(&self) {
        while self.remaining.load(Ordering::Acquire) != 0 {
            self.notify.notified().await;
        }
    }
}

/// Counts its drops: proves an aborted child's future was dropped.
pub(crate) struct DropCount(pub(crate) &'static AtomicU64);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Splits `0..n` into `parts` contiguous ranges.
pub(crate) fn split(n: usize, parts: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..parts).map(move |p| (n * p / parts)..(n * (p + 1) / parts))
}

/// Removes the finished tasks, as a hand-rolled shared `JoinSet` must.
pub(crate) fn reap<T: 'static>(set: &mut JoinSet<T>) {
    while let Some(res) = set.try_join_next() {
        res.expect("child panicked");
    }
}

/// Joins every task; returns how many.
pub(crate) async fn join_all<T: 'static>(set: &mut JoinSet<T>) -> usize {
    let mut joined = 0;
    while let Some(res) = set.join_next().await {
        res.expect("child panicked");
        joined += 1;
    }
    joined
}

/// Polls `fut` once, counts the caller as parked at `gate`, then finishes
/// `fut`: for children parked on something that registers when first polled
/// (a token, `pending`).
pub(crate) async fn park_on<F: Future>(gate: &Gate, fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let first = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
    gate.parked_one();
    match first {
        Poll::Ready(out) => out,
        Poll::Pending => fut.await,
    }
}
