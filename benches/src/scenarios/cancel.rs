//! Scenario 4: cancel. `n` parked children ended two ways, timed from the
//! order until the owner's wait returns; spawning and parking are setup.
//!
//! - By token: each child runs `token.run_until_cancelled(pending())` (a
//!   `select!` on the token). The nursery's children use the nursery's own
//!   token and are ended by `Nursery::cancel` + `close`; the peers' children use
//!   a bare `CancellationToken` and are ended by `cancel` + their owner's wait.
//! - By abort: each child parks on `pending()` holding a drop counter, and is
//!   ended by `Nursery::abort_all` + `close`, `JoinSet::shutdown`,
//!   `JoinSet::abort_all` + `join_next`, or `JoinHandle::abort` + `await`.

use std::future::pending;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use scope_core::Nursery;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::timed;
use crate::support::{DropCount, Gate, leak, park_on};
use crate::{Flavor, Group, Sizes};

/// Baseline of the token group: a `TaskTracker` whose children select on a
/// bare `CancellationToken`.
pub const TRACKER_TOKEN: &str = "TaskTracker + CancellationToken";
/// A `JoinSet` whose children select on a bare `CancellationToken`.
pub const JOIN_SET_TOKEN: &str = "JoinSet + CancellationToken";
/// `FuturesUnordered` whose futures select on a bare `CancellationToken`.
pub const FUTURES_UNORDERED_TOKEN: &str = "FuturesUnordered + CancellationToken";
/// Baseline of the abort group.
pub const JOIN_SET_SHUTDOWN: &str = "JoinSet::shutdown";
/// `JoinSet::abort_all`, then `join_next` until empty.
pub const JOIN_SET_ABORT: &str = "JoinSet::abort_all + join_next";
/// `JoinHandle::abort` on each, then `await` each.
pub const HANDLES_ABORT: &str = "JoinHandle::abort + await";

/// By token and by abort, `sizes.parked` children each, multi-thread runtime.
#[must_use]
pub fn groups(sizes: &Sizes) -> Vec<Group> {
    vec![by_token(sizes.parked), by_abort(sizes.parked)]
}

/// `n` children ended by their token; baseline [`TRACKER_TOKEN`].
#[must_use]
pub fn by_token(n: usize) -> Group {
    let rt = Rc::new(Flavor::MultiThread.runtime());
    Group::new(
        "cancel/token",
        format!(
            "cancel {n} parked children by token, {}",
            Flavor::MultiThread.label()
        ),
        TRACKER_TOKEN,
        vec![
            timed(&rt, TRACKER_TOKEN, n, move || token_tracker(n)),
            timed(&rt, JOIN_SET_TOKEN, n, move || token_join_set(n)),
            timed(&rt, FUTURES_UNORDERED_TOKEN, n, move || {
                token_futures_unordered(n)
            }),
            timed(&rt, "Nursery::cancel + close", n, move || token_nursery(n)),
        ],
    )
}

/// `n` children ended by abort; baseline [`JOIN_SET_SHUTDOWN`].
#[must_use]
pub fn by_abort(n: usize) -> Group {
    let rt = Rc::new(Flavor::MultiThread.runtime());
    Group::new(
        "cancel/abort",
        format!("abort {n} parked children, {}", Flavor::MultiThread.label()),
        JOIN_SET_SHUTDOWN,
        vec![
            timed(&rt, JOIN_SET_SHUTDOWN, n, move || abort_join_set(n, true)),
            timed(&rt, JOIN_SET_ABORT, n, move || abort_join_set(n, false)),
            timed(&rt, HANDLES_ABORT, n, move || abort_handles(n)),
            timed(&rt, "Nursery::abort_all + close", n, move || {
                abort_nursery(n)
            }),
        ],
    )
}

/// The token child: parks on `token`, then counts itself ended.
async fn cancellable(token: CancellationToken, gate: &'static Gate, ended: &'static AtomicU64) {
    let out = park_on(gate, token.run_until_cancelled(pending::<()>())).await;
    assert!(out.is_none(), "pending() returned");
    ended.fetch_add(1, Ordering::Relaxed);
}

/// The abort child: parks forever; its drop is counted.
async fn abortable(gate: &'static Gate, dropped: &'static AtomicU64) {
    let _count = DropCount(dropped);
    park_on(gate, pending::<()>()).await;
}

fn counters(n: usize) -> (&'static Gate, &'static AtomicU64) {
    (Gate::new(n), leak(AtomicU64::new(0)))
}

fn check_ended(ended: &AtomicU64, n: usize) {
    assert_eq!(
        ended.load(Ordering::Acquire),
        n as u64,
        "a child did not end"
    );
}

async fn token_tracker(n: usize) -> Duration {
    let (gate, ended) = counters(n);
    let token = CancellationToken::new();
    let tracker = TaskTracker::new();
    for _ in 0..n {
        tracker.spawn(cancellable(token.clone(), gate, ended));
    }
    gate.wait_parked().await;
    let start = Instant::now();
    token.cancel();
    tracker.close();
    tracker.wait().await;
    let took = start.elapsed();
    check_ended(ended, n);
    took
}

async fn token_join_set(n: usize) -> Duration {
    let (gate, ended) = counters(n);
    let token = CancellationToken::new();
    let mut set = JoinSet::new();
    for _ in 0..n {
        set.spawn(cancellable(token.clone(), gate, ended));
    }
    gate.wait_parked().await;
    let start = Instant::now();
    token.cancel();
    while let Some(res) = set.join_next().await {
        res.expect("child panicked");
    }
    let took = start.elapsed();
    check_ended(ended, n);
    took
}

async fn token_futures_unordered(n: usize) -> Duration {
    let (gate, ended) = counters(n);
    let token = CancellationToken::new();
    let mut futs: FuturesUnordered<_> = (0..n)
        .map(|_| cancellable(token.clone(), gate, ended))
        .collect();
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
    token.cancel();
    while futs.next().await.is_some() {}
    let took = start.elapsed();
    check_ended(ended, n);
    took
}

async fn token_nursery(n: usize) -> Duration {
    let (gate, ended) = counters(n);
    let nursery: Nursery = Nursery::new();
    for _ in 0..n {
        assert!(
            nursery
                .spawn(cancellable(nursery.token().clone(), gate, ended))
                .is_ok(),
            "spawn refused"
        );
    }
    gate.wait_parked().await;
    let start = Instant::now();
    nursery.cancel();
    let report = nursery.close().await;
    let took = start.elapsed();
    assert_eq!(report.stats().cancelled, n as u64);
    check_ended(ended, n);
    took
}

async fn abort_join_set(n: usize, shutdown: bool) -> Duration {
    let (gate, dropped) = counters(n);
    let mut set = JoinSet::new();
    for _ in 0..n {
        set.spawn(abortable(gate, dropped));
    }
    gate.wait_parked().await;
    let start = Instant::now();
    if shutdown {
        set.shutdown().await;
    } else {
        set.abort_all();
        while let Some(res) = set.join_next().await {
            assert!(res.expect_err("a parked child returned").is_cancelled());
        }
    }
    let took = start.elapsed();
    check_ended(dropped, n);
    took
}

async fn abort_handles(n: usize) -> Duration {
    let (gate, dropped) = counters(n);
    let handles: Vec<_> = (0..n)
        .map(|_| tokio::spawn(abortable(gate, dropped)))
        .collect();
    gate.wait_parked().await;
    let start = Instant::now();
    for h in &handles {
        h.abort();
    }
    for h in handles {
        assert!(h.await.expect_err("a parked child returned").is_cancelled());
    }
    let took = start.elapsed();
    check_ended(dropped, n);
    took
}

async fn abort_nursery(n: usize) -> Duration {
    let (gate, dropped) = counters(n);
    let nursery: Nursery = Nursery::new();
    for _ in 0..n {
        assert!(
            nursery.spawn(abortable(gate, dropped)).is_ok(),
            "spawn refused"
        );
    }
    gate.wait_parked().await;
    let start = Instant::now();
    nursery.abort_all();
    let report = nursery.close().await;
    let took = start.elapsed();
    assert_eq!(report.stats().aborted, n as u64);
    check_ended(dropped, n);
    took
}
