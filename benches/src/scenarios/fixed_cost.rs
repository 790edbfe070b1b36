//! Scenario 6: the fixed cost of one owner — what every connection pays even
//! when it spawns nothing. An empty owner is created and closed:
//!
//! - time: `m` owners one after another on the multi-thread runtime, each
//!   created and closed before the next;
//! - bytes: `m` owners created and closed and still held, on the
//!   current-thread runtime, net heap bytes divided by `m`.
//!
//! The peer is what a hand-rolled per-connection owner needs: a `JoinSet`
//! plus a child `CancellationToken` of the server's token (closing it is
//! `shutdown`). The nested nursery is the nursery's equivalent (a child of the
//! server's nursery); a root nursery is shown too. Two more rows make each
//! owner beside [`CROWD`] live siblings, as on a busy server: what a
//! parent does per child must not grow with the children it has.

use std::rc::Rc;
use std::time::{Duration, Instant};

use scope_core::Nursery;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::timed;
use crate::{Case, Flavor, Group, Sizes, Window, drive};

/// Baseline: a `JoinSet` plus a child `CancellationToken`.
pub const JOIN_SET_CHILD_TOKEN: &str = "JoinSet + child CancellationToken";
/// A `TaskTracker` plus a child `CancellationToken`.
pub const TRACKER_CHILD_TOKEN: &str = "TaskTracker + child CancellationToken";
/// `Nursery::new` then `close`.
pub const NURSERY_ROOT: &str = "Nursery::new + close";
/// A nursery nested in a parent nursery (`child_builder().build()`), then
/// `close`: the per-connection shape.
pub const NURSERY_NESTED: &str = "nested Nursery + close";
/// The baseline, its token a child of a parent token with [`CROWD`] live
/// children.
pub const JOIN_SET_CHILD_TOKEN_CROWD: &str =
    "JoinSet + child CancellationToken, beside 16380 live siblings";
/// The nested nursery, beside [`CROWD`] live nested siblings.
pub const NURSERY_NESTED_CROWD: &str = "nested Nursery + close, beside 16380 live siblings";

/// The live siblings of the crowd rows: just under a power of two, where a
/// parent that pruned a growing list only at powers of two would prune at
/// almost every registration.
pub const CROWD: usize = 16_380;

/// Time (`sizes.owners`) and bytes (`sizes.owners_bytes`).
#[must_use]
pub fn groups(sizes: &Sizes) -> Vec<Group> {
    vec![time(sizes.owners), bytes(sizes.owners_bytes)]
}

/// `m` owners created and closed in turn; baseline [`JOIN_SET_CHILD_TOKEN`].
#[must_use]
pub fn time(m: usize) -> Group {
    let rt = Rc::new(Flavor::MultiThread.runtime());
    Group::new(
        "fixed_cost/time",
        format!(
            "fixed cost: empty owner created + closed (x{m}), {}",
            Flavor::MultiThread.label()
        ),
        JOIN_SET_CHILD_TOKEN,
        vec![
            timed(&rt, JOIN_SET_CHILD_TOKEN, m, move || join_set_time(m)),
            timed(&rt, TRACKER_CHILD_TOKEN, m, move || tracker_time(m)),
            timed(&rt, NURSERY_ROOT, m, move || nursery_time(m)),
            timed(&rt, NURSERY_NESTED, m, move || nested_time(m)),
            timed(&rt, JOIN_SET_CHILD_TOKEN_CROWD, m, move || {
                join_set_crowd_time(m)
            }),
            timed(&rt, NURSERY_NESTED_CROWD, m, move || nested_crowd_time(m)),
        ],
    )
}

/// Bytes per empty owner, created and closed and still held; baseline
/// [`JOIN_SET_CHILD_TOKEN`].
#[must_use]
pub fn bytes(m: usize) -> Group {
    let rt = Rc::new(Flavor::CurrentThread.runtime());
    let case = |name, round: fn(usize) -> std::pin::Pin<Box<dyn Future<Output = i64> + Send>>| {
        let rt = Rc::clone(&rt);
        Case::bytes(name, m as u64, move || {
            drive(&rt, round(m)) as f64 / m as f64
        })
    };
    Group::new(
        "fixed_cost/bytes",
        format!(
            "fixed cost: bytes per empty owner, created + closed ({m} held), {}",
            Flavor::CurrentThread.label()
        ),
        JOIN_SET_CHILD_TOKEN,
        vec![
            case(JOIN_SET_CHILD_TOKEN, |m| Box::pin(join_set_bytes(m))),
            case(TRACKER_CHILD_TOKEN, |m| Box::pin(tracker_bytes(m))),
            case(NURSERY_ROOT, |m| Box::pin(nursery_bytes(m))),
            case(NURSERY_NESTED, |m| Box::pin(nested_bytes(m))),
        ],
    )
}

async fn join_set_owner(parent: &CancellationToken) -> (JoinSet<()>, CancellationToken) {
    let mut set = JoinSet::new();
    let token = parent.child_token();
    set.shutdown().await;
    assert!(set.is_empty() && !token.is_cancelled());
    (set, token)
}

async fn tracker_owner(parent: &CancellationToken) -> (TaskTracker, CancellationToken) {
    let tracker = TaskTracker::new();
    let token = parent.child_token();
    tracker.close();
    tracker.wait().await;
    assert!(tracker.is_empty() && !token.is_cancelled());
    (tracker, token)
}

async fn nursery_owner(parent: Option<&Nursery>) -> Nursery {
    let nursery: Nursery = match parent {
        None => Nursery::new(),
        Some(p) => p.child_builder().build().expect("build the nested nursery"),
    };
    let report = nursery.close().await;
    assert!(report.is_final() && report.stats().spawned == 0);
    nursery
}

async fn join_set_time(m: usize) -> Duration {
    let parent = CancellationToken::new();
    let start = Instant::now();
    for _ in 0..m {
        drop(join_set_owner(&parent).await);
    }
    start.elapsed()
}

async fn tracker_time(m: usize) -> Duration {
    let parent = CancellationToken::new();
    let start = Instant::now();
    for _ in 0..m {
        drop(tracker_owner(&parent).await);
    }
    start.elapsed()
}

async fn nursery_time(m: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..m {
        drop(nursery_owner(None).await);
    }
    start.elapsed()
}

async fn nested_time(m: usize) -> Duration {
    let parent: Nursery = Nursery::new();
    let start = Instant::now();
    for _ in 0..m {
        drop(nursery_owner(Some(&parent)).await);
    }
    let took = start.elapsed();
    assert_eq!(
        parent.close().await.stats().completed,
        m as u64,
        "each nested nursery is one child"
    );
    took
}

async fn join_set_crowd_time(m: usize) -> Duration {
    let parent = CancellationToken::new();
    let crowd: Vec<CancellationToken> = (0..CROWD).map(|_| parent.child_token()).collect();
    let start = Instant::now();
    for _ in 0..m {
        drop(join_set_owner(&parent).await);
    }
    let took = start.elapsed();
    drop(crowd);
    took
}

async fn nested_crowd_time(m: usize) -> Duration {
    let parent: Nursery = Nursery::new();
    let crowd: Vec<Nursery> = (0..CROWD)
        .map(|_| {
            parent
                .child_builder()
                .build()
                .expect("build a live sibling")
        })
        .collect();
    let start = Instant::now();
    for _ in 0..m {
        drop(nursery_owner(Some(&parent)).await);
    }
    let took = start.elapsed();
    for sibling in crowd {
        sibling.close().await;
    }
    assert_eq!(
        parent.close().await.stats().completed,
        (m + CROWD) as u64,
        "each nested nursery is one child"
    );
    took
}

async fn join_set_bytes(m: usize) -> i64 {
    let parent = CancellationToken::new();
    let mut owners = Vec::with_capacity(m);
    let window = Window::open();
    for _ in 0..m {
        owners.push(join_set_owner(&parent).await);
    }
    window.net()
}

async fn tracker_bytes(m: usize) -> i64 {
    let parent = CancellationToken::new();
    let mut owners = Vec::with_capacity(m);
    let window = Window::open();
    for _ in 0..m {
        owners.push(tracker_owner(&parent).await);
    }
    window.net()
}

async fn nursery_bytes(m: usize) -> i64 {
    let mut owners = Vec::with_capacity(m);
    let window = Window::open();
    for _ in 0..m {
        owners.push(nursery_owner(None).await);
    }
    window.net()
}

async fn nested_bytes(m: usize) -> i64 {
    let parent: Nursery = Nursery::new();
    let mut owners = Vec::with_capacity(m);
    let window = Window::open();
    for _ in 0..m {
        owners.push(nursery_owner(Some(&parent)).await);
    }
    let bytes = window.net();
    drop(owners);
    assert_eq!(
        parent.close().await.stats().completed,
        m as u64,
        "each nested nursery is one child"
    );
    bytes
}
