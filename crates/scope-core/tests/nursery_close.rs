//! C5 close is a drain.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use scope_core::Nursery;
use tokio::sync::{Barrier, Notify};

#[tokio::test(start_paused = true)]
async fn close_waits_for_grandchildren_spawned_during_the_drain() {
    let nursery: Nursery = Nursery::new();
    let spawner = nursery.spawner();
    let grandchild_done = Arc::new(AtomicBool::new(false));
    let done = grandchild_done.clone();
    let started = Arc::new(Notify::new());
    let s = started.clone();
    nursery
        .spawn(async move {
            s.notify_one();
            // By now the owner is inside close(): outside spawns are refused,
            // but a child's follow-up work is accepted and waited for.
            tokio::time::sleep(Duration::from_secs(1)).await;
            spawner
                .spawn(async move {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    done.store(true, Ordering::SeqCst);
                })
                .expect("a child may spawn while the nursery drains");
        })
        .unwrap();
    started.notified().await;
    let outside = nursery.spawner();
    let closing = async {
        let report = nursery.close().await;
        assert!(
            grandchild_done.load(Ordering::SeqCst),
            "close returned before the grandchild finished"
        );
        report
    };
    let probe = async {
        tokio::task::yield_now().await;
        assert!(
            outside.spawn(async {}).unwrap_err().is_closed(),
            "outside spawns are refused while closing"
        );
    };
    let (report, ()) = tokio::join!(closing, probe);
    assert_eq!(report.stats().completed, 2);
    assert!(nursery.spawn(async {}).unwrap_err().is_closed());
}

#[tokio::test]
async fn close_cancels_nothing() {
    let nursery: Nursery = Nursery::new();
    let token = nursery.token().clone();
    let go = Arc::new(Notify::new());
    let g = go.clone();
    nursery
        .spawn(async move {
            g.notified().await;
            assert!(!token.is_cancelled());
        })
        .unwrap();
    let closing = nursery.close();
    tokio::pin!(closing);
    // Close is waiting on the child; the token is untouched.
    assert!(futures_poll_once(closing.as_mut()).await.is_none());
    assert!(!nursery.token().is_cancelled());
    go.notify_one();
    let report = closing.await;
    assert_eq!(report.stats().completed, 1);
}

async fn futures_poll_once<F: std::future::Future + Unpin>(f: F) -> Option<F::Output> {
    let mut f = f;
    std::future::poll_fn(|cx| match std::pin::Pin::new(&mut f).poll(cx) {
        std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_closes_all_wait_and_see_the_same_report() {
    let nursery: Arc<Nursery> = Arc::new(Nursery::new());
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    for _ in 0..20 {
        let r = release.clone();
        nursery
            .spawn(async move { r.acquire().await.unwrap().forget() })
            .unwrap();
    }
    let barrier = Arc::new(Barrier::new(51));
    let mut closers = Vec::new();
    for _ in 0..50 {
        let n = nursery.clone();
        let b = barrier.clone();
        closers.push(tokio::spawn(async move {
            b.wait().await;
            n.close().await
        }));
    }
    barrier.wait().await;
    release.add_permits(20);
    let mut stats = Vec::new();
    for c in closers {
        let report = c.await.unwrap();
        assert!(report.is_final());
        stats.push(report.stats());
    }
    assert!(stats.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(stats[0].completed, 20);
}

#[tokio::test]
async fn close_from_inside_a_child_returns_without_waiting_for_itself() {
    // The owner shared with its own child.
    let nursery: Arc<Nursery> = Arc::new(Nursery::new());
    let owner = nursery.clone();
    let returned = Arc::new(AtomicBool::new(false));
    let r = returned.clone();
    nursery
        .spawn(async move {
            let report = owner.close().await;
            assert!(!report.is_final());
            r.store(true, Ordering::SeqCst);
        })
        .unwrap();
    let report = nursery.closed().await;
    assert!(returned.load(Ordering::SeqCst));
    assert!(report.is_final());
    assert_eq!(report.stats().completed, 1);
}

#[tokio::test]
async fn close_from_a_grandchild_in_a_nested_nursery_does_not_deadlock() {
    let parent: Arc<Nursery> = Arc::new(Nursery::new());
    let child: Nursery = parent.child_builder().build().unwrap();
    let server = parent.clone();
    child
        .spawn(async move {
            // A connection task asking the whole server to close.
            let report = server.close().await;
            assert!(!report.is_final());
        })
        .unwrap();
    let child_report = child.close().await;
    assert_eq!(child_report.stats().completed, 1);
    let report = parent.closed().await;
    assert_eq!(
        report.stats().completed,
        1,
        "the nested nursery is one child"
    );
}

#[tokio::test]
async fn closing_twice_is_harmless() {
    let nursery: Nursery = Nursery::new();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    nursery
        .spawn(async move {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    let a = nursery.close().await;
    let b = nursery.close().await;
    assert_eq!(a.stats(), b.stats());
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn dropped_close_future_can_be_resumed() {
    let nursery: Nursery = Nursery::new();
    let go = Arc::new(Notify::new());
    let g = go.clone();
    nursery.spawn(async move { g.notified().await }).unwrap();
    {
        let first = nursery.close();
        tokio::pin!(first);
        assert!(futures_poll_once(first.as_mut()).await.is_none());
    }
    assert!(nursery.is_closing());
    go.notify_one();
    assert_eq!(nursery.close().await.stats().completed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_leaves_no_task_in_the_runtime() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let nursery: Nursery = Nursery::new();
    for _ in 0..1000 {
        nursery.spawn(tokio::task::yield_now()).unwrap();
    }
    nursery.close().await;
    assert_eq!(metrics.num_alive_tasks(), before);
}
