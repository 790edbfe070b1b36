//! `closing()`: the graceful "take no new work" signal.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use scope_core::Nursery;

/// Polls a future once, without a runtime's help.
fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

#[tokio::test]
async fn closing_resolves_at_once_when_the_close_has_begun() {
    let nursery: Nursery = Nursery::new();
    nursery.spawn(std::future::pending::<()>()).unwrap();
    // Begin the close without waiting for it to finish.
    assert!(poll_once(pin!(nursery.close())).is_pending());
    assert!(poll_once(pin!(nursery.closing())).is_ready());
    assert!(poll_once(pin!(nursery.spawner().closing())).is_ready());
    nursery.abort_all();
    nursery.close().await;
}

#[tokio::test]
async fn closing_resolves_at_once_when_the_nursery_is_closed() {
    let nursery: Nursery = Nursery::new();
    nursery.close().await;
    assert!(poll_once(pin!(nursery.closing())).is_ready());
}

#[tokio::test]
async fn closing_waits_while_the_nursery_is_open_or_only_cancelled() {
    let nursery: Nursery = Nursery::new();
    let mut waiting = pin!(nursery.closing());
    assert!(poll_once(waiting.as_mut()).is_pending());
    nursery.spawn(async {}).unwrap();
    tokio::task::yield_now().await;
    assert!(poll_once(waiting.as_mut()).is_pending());
    // Cancelling is the forceful signal; it does not begin the close.
    nursery.cancel();
    assert!(poll_once(waiting.as_mut()).is_pending());
    nursery.close().await;
    assert!(poll_once(waiting.as_mut()).is_ready());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_wakes_a_waiter_on_another_task_when_the_close_begins() {
    let nursery: Nursery = Nursery::new();
    // Keeps the close from finishing: only its beginning can wake the waiter.
    nursery.spawn(std::future::pending::<()>()).unwrap();
    let spawner = nursery.spawner();
    let (registered, is_registered) = tokio::sync::oneshot::channel();
    let waiter = tokio::spawn(async move {
        let mut closing = pin!(spawner.closing());
        // The first poll registers the waiter; only then may the close begin.
        assert!(poll_once(closing.as_mut()).is_pending());
        registered.send(()).unwrap();
        closing.await;
    });
    is_registered.await.unwrap();
    assert!(poll_once(pin!(nursery.close())).is_pending());
    // A bound, not a sleep: the waiter is woken by the close beginning.
    tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("woken when the close began")
        .unwrap();
    assert!(!nursery.is_closed());
    nursery.abort_all();
    nursery.close().await;
}

/// A close that finds nothing live begins and finishes in one swap of the
/// lifecycle word: the one wake-up it makes must reach a waiter for the
/// beginning and one for the end alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_nursery_closing_at_once_wakes_both_kinds_of_waiter() {
    let nursery: Nursery = Nursery::new();
    let (registered, is_registered) = tokio::sync::oneshot::channel();
    let (spawner, other) = (nursery.spawner(), nursery.spawner());
    let waiter = tokio::spawn(async move {
        let mut closing = pin!(spawner.closing());
        let mut closed = pin!(other.closed());
        // The first polls register both waiters; only then may the close run.
        assert!(poll_once(closing.as_mut()).is_pending());
        assert!(poll_once(closed.as_mut()).is_pending());
        registered.send(()).unwrap();
        closing.await;
        closed.await
    });
    is_registered.await.unwrap();
    assert!(nursery.close().await.is_final());
    // A bound, not a sleep: the waiters are woken by the close.
    let report = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("both waiters woken by the close")
        .unwrap();
    assert!(report.is_final());
}

#[tokio::test(start_paused = true)]
async fn a_child_waiting_on_closing_returns_and_lets_the_close_finish() {
    let nursery: Nursery = Nursery::new();
    let spawner = nursery.spawner();
    let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let s = served.clone();
    // An accept loop: takes work every second until the close begins.
    nursery
        .spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    () = spawner.closing() => return,
                    _ = tick.tick() => {
                        let s = s.clone();
                        spawner.spawn(async move {
                            s.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }).unwrap();
                    }
                }
            }
        })
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let report = tokio::time::timeout(Duration::from_secs(60), nursery.close())
        .await
        .expect("the loop returns once the close begins");
    // Ticks at 0, 1 and 2 s; the loop then saw the close begin and returned.
    assert_eq!(served.load(std::sync::atomic::Ordering::Relaxed), 3);
    assert_eq!(report.stats().completed, 4);
    assert!(!nursery.is_cancelled(), "the loop ended gracefully");
}

#[tokio::test]
async fn a_child_that_closes_its_own_nursery_sees_closing_at_once() {
    let nursery: std::sync::Arc<Nursery> = std::sync::Arc::new(Nursery::new());
    let owner = nursery.clone();
    nursery
        .spawn(async move {
            assert!(!owner.close().await.is_final());
            assert!(poll_once(pin!(owner.closing())).is_ready());
        })
        .unwrap();
    assert!(nursery.closed().await.is_final());
}

#[tokio::test]
async fn closing_resolves_for_a_spawner_when_the_owner_is_dropped() {
    let nursery: Nursery = Nursery::new();
    let spawner = nursery.spawner();
    let mut waiting = pin!(spawner.closing());
    assert!(poll_once(waiting.as_mut()).is_pending());
    drop(nursery);
    assert!(poll_once(waiting.as_mut()).is_ready());
    assert!(spawner.is_closing());
}

#[tokio::test]
async fn closing_resolves_when_the_nursery_is_detached() {
    let parent: Nursery = Nursery::new();
    let child: Nursery = parent.child_builder().build().unwrap();
    let spawner = child.spawner();
    let mut waiting = pin!(spawner.closing());
    assert!(poll_once(waiting.as_mut()).is_pending());
    child.detach();
    assert!(poll_once(waiting.as_mut()).is_ready());
    parent.close().await;
}

#[tokio::test(start_paused = true)]
async fn closing_resolves_when_a_shutdown_begins() {
    let nursery: Nursery = Nursery::new();
    let spawner = nursery.spawner();
    nursery
        .spawn(async move {
            spawner.closing().await;
        })
        .unwrap();
    let start = tokio::time::Instant::now();
    let report = nursery.shutdown(Duration::from_secs(60)).await;
    // The child left in the drain phase, at once: nothing was cancelled.
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(report.ended_in_drain(), 1);
    assert!(!nursery.is_cancelled());
}

#[tokio::test]
async fn a_dropped_closing_future_leaves_nothing_behind() {
    let nursery: Nursery = Nursery::new();
    for _ in 0..3 {
        let mut waiting = pin!(nursery.closing());
        assert!(poll_once(waiting.as_mut()).is_pending());
    }
    nursery.spawn(async {}).unwrap();
    assert_eq!(nursery.close().await.stats().completed, 1);
}
