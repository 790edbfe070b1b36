//! Scenario 1: spawn `n` trivial children and wait until all have finished,
//! on the multi-thread runtime (2 workers) and on the current-thread runtime.
//!
//! Every owner is created inside the timed region; the owner spawns from a
//! task (see [`drive`](crate::drive)). Each child adds its index to a shared
//! sum, checked after every run.
//!
//! The trivial child is a 24-byte future: the largest that fits a `JoinSet`'s
//! task in one 128-byte cell, and one that the nursery's wrapper (8 bytes
//! more) pushes into a 256-byte cell. [`sized_groups`] measures the nursery
//! against the `JoinSet` with a child on each side of that step (16 and 40
//! bytes), where the two contenders' cells are the same size.

use std::future::Future;
use std::mem;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use parking_lot::Mutex;
use scope_core::Nursery;
use tokio::task::{AbortHandle, JoinSet};
use tokio_util::task::TaskTracker;

use super::{
    DETACHED, FUTURES_UNORDERED, HANDLES, JOIN_SET, MUTEX_JOIN_SET, NURSERY, OWN_LIST, TRACKER,
    timed,
};
use crate::support::{Done, check_sum, join_all, leak, reap, small, sum, trivial, wide};
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
            timed(&rt, OWN_LIST, n, move || own_list(n)),
            timed(&rt, FUTURES_UNORDERED, n, move || futures_unordered(n)),
            timed(&rt, NURSERY, n, move || nursery(n)),
        ],
    )
}

/// `JoinSet + join_next` against the nursery, with a child of another size
/// than the trivial one: 16 bytes (a 128-byte cell under both) and 40 bytes
/// (256 under both), per runtime flavour.
#[must_use]
pub fn sized_groups(sizes: &Sizes) -> Vec<Group> {
    let n = sizes.children;
    let mut groups = Vec::new();
    for flavor in [Flavor::MultiThread, Flavor::CurrentThread] {
        groups.push(sized_group(flavor, n, 16));
        groups.push(sized_group(flavor, n, 40));
    }
    groups
}

/// One of [`sized_groups`]: `n` children of `bytes` bytes (16 or 40).
///
/// # Panics
///
/// For any other size.
#[must_use]
pub fn sized_group(flavor: Flavor, n: usize, bytes: usize) -> Group {
    match bytes {
        16 => sized(flavor, n, 16, small),
        40 => sized(flavor, n, 40, wide),
        _ => panic!("no {bytes}-byte child (16 or 40)"),
    }
}

/// One flavour, `n` children made by `child`, whose future is `bytes` long;
/// baseline [`JOIN_SET`].
fn sized<Fut>(
    flavor: Flavor,
    n: usize,
    bytes: usize,
    child: fn(&'static AtomicU64, usize) -> Fut,
) -> Group
where
    Fut: Future<Output = ()> + Send + 'static,
{
    let rt = Rc::new(flavor.runtime());
    let id = match flavor {
        Flavor::MultiThread => format!("spawn_finish_{bytes}b/multi_thread"),
        Flavor::CurrentThread => format!("spawn_finish_{bytes}b/current_thread"),
    };
    Group::new(
        id,
        format!(
            "spawn and finish {n}, {bytes}-byte child, {}",
            flavor.label()
        ),
        JOIN_SET,
        vec![
            timed(&rt, JOIN_SET, n, move || join_set_of(n, child)),
            timed(&rt, NURSERY, n, move || nursery_of(n, child)),
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
    join_set_of(n, trivial).await
}

async fn join_set_of<Fut>(n: usize, child: fn(&'static AtomicU64, usize) -> Fut) -> Duration
where
    Fut: Future<Output = ()> + Send + 'static,
{
    let sum = sum();
    let start = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..n {
        set.spawn(child(sum, i));
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

/// The list [`own_list`] keeps: a slot per live task, freed slots reused.
#[derive(Default)]
struct Slots {
    handles: Vec<Option<AbortHandle>>,
    free: Vec<usize>,
}

async fn own_list(n: usize) -> Duration {
    let (sum, done) = (sum(), Done::new(n));
    let start = Instant::now();
    let list: &'static Mutex<Slots> = leak(Mutex::new(Slots::default()));
    for i in 0..n {
        // Spawned and listed under the lock, so a task that ends at once on
        // another worker finds its handle in its slot.
        let mut slots = list.lock();
        let slot = slots.free.pop().unwrap_or_else(|| {
            slots.handles.push(None);
            slots.handles.len() - 1
        });
        let task = tokio::spawn(async move {
            trivial(sum, i).await;
            let handle = {
                let mut slots = list.lock();
                slots.free.push(slot);
                slots.handles[slot].take()
            };
            drop(handle);
            done.finish();
        });
        slots.handles[slot] = Some(task.abort_handle());
    }
    done.wait().await;
    let took = start.elapsed();
    check_sum(sum, n);
    assert!(
        list.lock().handles.iter().all(Option::is_none),
        "a handle outlived its task"
    );
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
    nursery_of(n, trivial).await
}

async fn nursery_of<Fut>(n: usize, child: fn(&'static AtomicU64, usize) -> Fut) -> Duration
where
    Fut: Future<Output = ()> + Send + 'static,
{
    let sum = sum();
    let start = Instant::now();
    let nursery: Nursery = Nursery::new();
    for i in 0..n {
        assert!(nursery.spawn(child(sum, i)).is_ok(), "spawn refused");
    }
    let report = nursery.close().await;
    let took = start.elapsed();
    assert_eq!(report.stats().completed, n as u64);
    check_sum(sum, n);
    took
}

#[cfg(test)]
mod tests {
    use std::mem::size_of_val;

    use crate::support::{small, sum, trivial, wide};

    /// The groups are named, and documented, by these sizes: the trivial
    /// child sits at the top of tokio's first 128-byte cell, the other two
    /// on either side of it.
    #[test]
    fn the_children_are_the_sizes_their_groups_name() {
        let sum = sum();
        assert_eq!(size_of_val(&small(sum, 0)), 16);
        assert_eq!(size_of_val(&trivial(sum, 0)), 24);
        assert_eq!(size_of_val(&wide(sum, 0)), 40);
    }
}
