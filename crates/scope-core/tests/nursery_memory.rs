//! C3 reaping, measured with a counting allocator: a million children that
//! finish while nobody joins leave (almost) nothing behind.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use scope_core::Nursery;
use tokio::sync::Notify;

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// The count is the whole process's: each test holds this while it
/// measures, so no other test's allocations land in its window.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const BATCH: usize = 1_000;

/// Counts finished children; wakes the test when a batch is through.
#[derive(Default)]
struct Done {
    count: AtomicUsize,
    target: AtomicUsize,
    notify: Notify,
}

impl Done {
    fn child(self: &Arc<Self>) -> impl Future<Output = ()> + Send + 'static {
        let done = self.clone();
        async move {
            if done.count.fetch_add(1, Ordering::SeqCst) + 1 == done.target.load(Ordering::SeqCst) {
                done.notify.notify_one();
            }
        }
    }
}

/// Runs `total` trivial children through `spawn`, batch by batch, waiting for
/// each batch to finish without joining anything.
async fn churn(total: usize, done: &Arc<Done>, mut spawn: impl FnMut(&Arc<Done>)) {
    for _ in 0..total / BATCH {
        let target = done.count.load(Ordering::SeqCst) + BATCH;
        done.target.store(target, Ordering::SeqCst);
        for _ in 0..BATCH {
            spawn(done);
        }
        done.notify.notified().await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_million_finished_children_leave_less_than_a_mebibyte() {
    let _alone = ALONE.lock().await;
    let nursery: Nursery = Nursery::new();
    let done = Arc::new(Done::default());
    // Warm up: the JoinSet's and the runtime's queues reach their working size.
    churn(10 * BATCH, &done, |d| {
        drop(nursery.spawn(d.child()).unwrap())
    })
    .await;
    let before = live();
    churn(1_000_000, &done, |d| {
        drop(nursery.spawn(d.child()).unwrap())
    })
    .await;
    let after = live();
    let retained = after - before;
    println!("1,000,000 finished children: {retained} bytes retained");
    assert_eq!(nursery.stats().completed, 1_010_000);
    assert!(retained < 1 << 20, "retained {retained} bytes");
    nursery.close().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_bare_join_set_retains_every_finished_task() {
    let _alone = ALONE.lock().await;
    // The same measurement on a JoinSet, so the test above is known to be
    // able to fail: finished tasks stay until joined.
    let mut set = tokio::task::JoinSet::new();
    let done = Arc::new(Done::default());
    let before = live();
    churn(100_000, &done, |d| drop(set.spawn(d.child()))).await;
    let retained = live() - before;
    println!("JoinSet, 100,000 finished tasks: {retained} bytes retained");
    assert!(retained > 100_000 * 64, "retained {retained} bytes");
    set.shutdown().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_nested_nursery_gives_its_memory_back_as_it_drops() {
    let _alone = ALONE.lock().await;
    // 600 nested nurseries stay alive beside the churn, so a parent that
    // pruned its list of dead entries only now and then would still hold
    // hundreds of the churned ones.
    let parent: Nursery = Nursery::new();
    let siblings: Vec<Nursery> = (0..600)
        .map(|_| parent.child_builder().build().unwrap())
        .collect();
    let churned = || async {
        let nested: Nursery = parent.child_builder().build().unwrap();
        nested.close().await;
    };
    // Warm up: the parent's list reaches its working size.
    for _ in 0..1_000 {
        churned().await;
    }
    let before = live();
    for _ in 0..10_000 {
        churned().await;
    }
    let retained = live() - before;
    println!("10,000 nested nurseries built, closed and dropped: {retained} bytes retained");
    assert!(retained < 4096, "retained {retained} bytes");
    for nested in siblings {
        nested.close().await;
    }
    assert_eq!(parent.close().await.stats().completed, 11_600);
}
