//! C6 cancellation, abort and shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use scope_core::{CancelReason, Nursery};

#[tokio::test]
async fn cancel_fires_the_token_and_refuses_new_spawns() {
    let nursery: Nursery = Nursery::new();
    let token = nursery.spawner().token().clone();
    nursery
        .spawn(async move { token.cancelled().await })
        .unwrap();
    nursery.cancel();
    assert!(nursery.token().is_cancelled());
    let err = nursery.spawn(async {}).unwrap_err();
    assert!(err.is_cancelled());
    let report = nursery.close().await;
    assert_eq!(report.stats().cancelled, 1);
}

#[tokio::test]
async fn abort_all_ends_children_at_their_next_await() {
    let nursery: Nursery = Nursery::new();
    let reached_end = Arc::new(AtomicBool::new(false));
    let r = reached_end.clone();
    nursery
        .spawn(async move {
            std::future::pending::<()>().await;
            r.store(true, Ordering::SeqCst);
        })
        .unwrap();
    tokio::task::yield_now().await;
    nursery.abort_all();
    let report = nursery.close().await;
    assert_eq!(report.stats().aborted, 1);
    assert!(!reached_end.load(Ordering::SeqCst));
}

#[tokio::test]
async fn abort_all_keeps_the_nursery_open() {
    let nursery: Nursery = Nursery::new();
    nursery.abort_all();
    nursery.spawn(async {}).unwrap();
    assert_eq!(nursery.close().await.stats().completed, 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_reports_which_phase_each_child_ended_in() {
    let nursery: Nursery = Nursery::new();
    // Ends during the drain window.
    nursery
        .spawn(tokio::time::sleep(Duration::from_secs(1)))
        .unwrap();
    // Ends when the token fires.
    for _ in 0..2 {
        let token = nursery.token().clone();
        nursery
            .spawn(async move { token.cancelled().await })
            .unwrap();
    }
    // Ignores cancellation: the deadline still ends it, by abort.
    for _ in 0..3 {
        nursery.spawn(std::future::pending::<()>()).unwrap();
    }
    let start = tokio::time::Instant::now();
    let report = nursery.shutdown(Duration::from_secs(10)).await;
    assert_eq!(report.ended_in_drain(), 1);
    assert_eq!(report.ended_after_cancel(), 2);
    assert_eq!(report.stats().aborted, 3);
    assert_eq!(report.still_running(), 0);
    assert!(report.is_final());
    // Drain window, then the cancel window: the grace in total, never longer.
    assert_eq!(start.elapsed(), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn shutdown_returns_exactly_at_grace_when_a_child_ignores_the_cancel() {
    let nursery: Nursery = Nursery::new();
    nursery.spawn(std::future::pending::<()>()).unwrap();
    let start = tokio::time::Instant::now();
    let report = nursery.shutdown(Duration::from_secs(8)).await;
    assert_eq!(start.elapsed(), Duration::from_secs(8));
    assert_eq!(report.stats().aborted, 1);
    assert!(report.is_final());
}

#[tokio::test(start_paused = true)]
async fn shutdown_cancels_after_three_quarters_of_the_grace() {
    let nursery: Nursery = Nursery::new();
    let token = nursery.token().clone();
    let (saw, seen_at) = tokio::sync::oneshot::channel();
    let start = tokio::time::Instant::now();
    nursery
        .spawn(async move {
            token.cancelled().await;
            saw.send(start.elapsed()).unwrap();
            // Ignores the cancel from here on: only the abort ends it.
            std::future::pending::<()>().await;
        })
        .unwrap();
    let report = nursery.shutdown(Duration::from_secs(8)).await;
    assert_eq!(seen_at.await.unwrap(), Duration::from_secs(6));
    assert_eq!(start.elapsed(), Duration::from_secs(8));
    assert_eq!(report.stats().aborted, 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_phases_sets_each_window() {
    let nursery: Nursery = Nursery::new();
    let token = nursery.token().clone();
    let (saw, seen_at) = tokio::sync::oneshot::channel();
    let start = tokio::time::Instant::now();
    nursery
        .spawn(async move {
            token.cancelled().await;
            saw.send(start.elapsed()).unwrap();
            std::future::pending::<()>().await;
        })
        .unwrap();
    let report = nursery
        .shutdown_phases(Duration::from_secs(3), Duration::from_secs(2))
        .await;
    assert_eq!(seen_at.await.unwrap(), Duration::from_secs(3));
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert_eq!(report.stats().aborted, 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_with_the_longest_grace_still_drains() {
    let nursery: Nursery = Nursery::new();
    nursery
        .spawn(tokio::time::sleep(Duration::from_secs(1)))
        .unwrap();
    // Windows too long to represent as instants are no deadline at all.
    let report = nursery.shutdown(Duration::MAX).await;
    assert_eq!(report.ended_in_drain(), 1);
    let nursery: Nursery = Nursery::new();
    let token = nursery.token().clone();
    nursery
        .spawn(async move { token.cancelled().await })
        .unwrap();
    let report = nursery.shutdown_phases(Duration::ZERO, Duration::MAX).await;
    assert_eq!(report.ended_after_cancel(), 1);
}

#[tokio::test(start_paused = true)]
async fn work_that_finishes_within_the_drain_window_is_never_cancelled() {
    let nursery: Nursery = Nursery::new();
    // Strictly inside the drain window (three quarters of 6 s): a child due
    // at the deadline itself races the timer and may legitimately see the
    // cancel.
    for i in 1..5 {
        let token = nursery.token().clone();
        nursery
            .spawn(async move {
                tokio::time::sleep(Duration::from_secs(i)).await;
                assert!(!token.is_cancelled());
            })
            .unwrap();
    }
    let report = nursery.shutdown(Duration::from_secs(6)).await;
    assert_eq!(report.ended_in_drain(), 4);
    assert_eq!(report.ended_after_cancel() + report.stats().aborted, 0);
    assert!(!nursery.token().is_cancelled());
}

#[tokio::test(start_paused = true)]
async fn zero_grace_cancels_and_aborts_at_once() {
    let nursery: Nursery = Nursery::new();
    nursery.spawn(std::future::pending::<()>()).unwrap();
    let report = nursery.shutdown(Duration::ZERO).await;
    assert_eq!(report.stats().aborted, 1);
    assert!(nursery.is_cancelled());
}

/// On a real clock too: a deadline already past is not a timer, which
/// would fire at tokio's next tick and let the children run until then.
#[tokio::test]
async fn zero_grace_ends_children_before_they_run_again_on_a_real_clock() {
    let nursery: Nursery = Nursery::new();
    let polls = Arc::new(AtomicUsize::new(0));
    for _ in 0..2 {
        let polls = polls.clone();
        nursery
            .spawn(async move {
                loop {
                    polls.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
            })
            .unwrap();
    }
    tokio::task::yield_now().await; // each child runs once
    let before = polls.load(Ordering::Relaxed);
    let report = nursery.shutdown(Duration::ZERO).await;
    assert_eq!(
        polls.load(Ordering::Relaxed),
        before,
        "a child ran during the shutdown"
    );
    assert_eq!(report.stats().aborted, 2);
    assert_eq!(report.cancel_reason(), Some(CancelReason::Deadline));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_counts_started_blocking_children_as_still_running() {
    let nursery: Nursery = Nursery::new();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    nursery
        .spawn_blocking(move || {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        })
        .unwrap();
    tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
        .await
        .unwrap();
    let report = nursery.shutdown(Duration::from_millis(1)).await;
    assert!(!report.is_final());
    assert_eq!(report.still_running(), 1);
    // Still owned: releasing it lets a later close finish the drain.
    release_tx.send(()).unwrap();
    let report = nursery.close().await;
    assert!(report.is_final());
    assert_eq!(report.stats().live, 0);
}

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A nursery nested in `parent` with two blocking children that have started
/// and wait for the sender returned (one message each).
async fn nested_stuck_in_blocking_work(parent: &Nursery) -> (Nursery, std::sync::mpsc::Sender<()>) {
    let nested: Nursery = parent.child_builder().build().unwrap();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
    for _ in 0..2 {
        let (started, release) = (started_tx.clone(), release_rx.clone());
        nested
            .spawn_blocking(move || {
                started.send(()).unwrap();
                release.lock().unwrap().recv().unwrap();
            })
            .unwrap();
    }
    tokio::task::spawn_blocking(move || {
        started_rx.recv().unwrap();
        started_rx.recv().unwrap();
    })
    .await
    .unwrap();
    (nested, release_tx)
}

/// Lets the two blocking children of [`nested_stuck_in_blocking_work`] go,
/// then checks that `parent` closes whole.
async fn release_then_close(
    parent: &Nursery,
    nested: Nursery,
    release: &std::sync::mpsc::Sender<()>,
) {
    release.send(()).unwrap();
    release.send(()).unwrap();
    drop(nested);
    assert!(parent.close().await.is_final());
}

/// A child that never ends and sets `dropped` when its future is dropped.
fn pending_flagged(dropped: &Arc<AtomicBool>) -> impl Future<Output = ()> + Send + 'static {
    let flag = DropFlag(dropped.clone());
    async move {
        let _flag = flag;
        std::future::pending::<()>().await
    }
}

// A nested nursery is one child of its parent however many stuck blocking
// tasks it holds: two of them must not let the shutdown count the aborted
// sibling as one of them and return before it is dropped.
#[tokio::test]
async fn shutdown_waits_for_an_aborted_sibling_of_a_nested_nursery_stuck_in_blocking_work() {
    let parent: Nursery = Nursery::new();
    let (nested, release) = nested_stuck_in_blocking_work(&parent).await;
    let sibling = Arc::default();
    parent.spawn(pending_flagged(&sibling)).unwrap();

    let report = parent.shutdown(Duration::ZERO).await;
    assert!(sibling.load(Ordering::SeqCst), "returned before the abort");
    assert_eq!(report.stats().aborted, 1, "{report:?}");
    assert_eq!(report.still_running(), 2);
    assert!(!report.is_final());

    release_then_close(&parent, nested, &release).await;
}

// The nested nursery that blocking work holds open was cut short too: its
// own aborted child is dropped before the shutdown above it returns.
#[tokio::test]
async fn shutdown_waits_for_aborted_children_inside_a_nested_nursery_stuck_in_blocking_work() {
    let parent: Nursery = Nursery::new();
    let (nested, release) = nested_stuck_in_blocking_work(&parent).await;
    let inner = Arc::default();
    nested.spawn(pending_flagged(&inner)).unwrap();

    let report = parent.shutdown(Duration::ZERO).await;
    assert!(
        inner.load(Ordering::SeqCst),
        "returned before the nested abort"
    );
    assert_eq!(nested.stats().aborted, 1);
    assert_eq!(report.still_running(), 2);

    release_then_close(&parent, nested, &release).await;
}

/// A runtime whose blocking pool has a single thread.
fn one_pool_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// Takes the runtime's only blocking thread with `spawn` (a nursery's
/// `spawn_blocking`, or tokio's) until the returned sender sends or drops.
async fn hold_the_pool(
    spawn: impl FnOnce(Box<dyn FnOnce() + Send>),
) -> std::sync::mpsc::Sender<()> {
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    spawn(Box::new(move || {
        started_tx.send(()).unwrap();
        let _ = release_rx.recv();
    }));
    started_rx.await.unwrap();
    release_tx
}

/// A blocking closure that records whether it ran and when it was dropped.
fn flagged_closure() -> (
    impl FnOnce() + Send + 'static,
    Arc<AtomicBool>,
    Arc<AtomicBool>,
) {
    let (ran, dropped) = (Arc::new(AtomicBool::new(false)), Arc::default());
    let (flag, ran_here) = (DropFlag(Arc::clone(&dropped)), Arc::clone(&ran));
    let f = move || {
        let _flag = flag;
        ran_here.store(true, Ordering::SeqCst);
    };
    (f, ran, dropped)
}

/// `shutdown(Duration::ZERO)`, failing after 30 s instead of hanging.
async fn shutdown_now_or_fail(nursery: &Nursery) -> scope_core::Report<scope_core::BoxError> {
    tokio::time::timeout(Duration::from_secs(30), nursery.shutdown(Duration::ZERO))
        .await
        .expect("the shutdown waited for the held pool")
}

// tokio drops a blocking task aborted before it started only when a pool
// thread takes it off the queue; with every thread held, none does. The
// shutdown takes the closure back itself instead of waiting for the pool.
#[test]
fn shutdown_drops_an_aborted_blocking_child_queued_behind_a_held_pool() {
    one_pool_thread().block_on(async {
        let nursery: Nursery = Nursery::new();
        let release = hold_the_pool(|f| drop(nursery.spawn_blocking(f).unwrap())).await;
        let (f, ran, dropped) = flagged_closure();
        nursery.spawn_blocking(f).unwrap();

        let report = shutdown_now_or_fail(&nursery).await;
        assert!(dropped.load(Ordering::SeqCst), "returned before the drop");
        assert_eq!(report.stats().aborted, 1, "{report:?}");
        assert_eq!(report.still_running(), 1, "only the started one");

        release.send(()).unwrap();
        let report = nursery.close().await;
        assert!(report.is_final());
        assert_eq!(report.stats().aborted, 1);
        assert_eq!(
            report.stats().cancelled,
            1,
            "the held one returned after the cancel"
        );
        assert!(!ran.load(Ordering::SeqCst), "the aborted closure ran");
    });
}

// The task left behind in the nursery's set waits for the pool too; the
// close's wait for its tasks to leave the runtime must not wait for it.
#[test]
fn a_shutdown_closes_whole_with_its_unstarted_blocking_children_queued_behind_a_held_pool() {
    one_pool_thread().block_on(async {
        let release = hold_the_pool(|f| drop(tokio::task::spawn_blocking(f))).await;
        let nursery: Nursery = Nursery::new();
        let (f, ran, dropped) = flagged_closure();
        nursery.spawn_blocking(f).unwrap();

        let report = shutdown_now_or_fail(&nursery).await;
        assert!(report.is_final(), "{report:?}");
        assert_eq!(report.stats().aborted, 1);
        assert!(dropped.load(Ordering::SeqCst));

        drop(release);
        drop(nursery);
        // The pool thread comes free and drops the empty task; the closure
        // never runs.
        tokio::task::spawn_blocking(|| ()).await.unwrap();
        assert!(!ran.load(Ordering::SeqCst), "the aborted closure ran");
    });
}

// A blocking child that waited for a running slot is handed to the pool by
// its own task; aborting that task does not reach the closure already
// queued, which would run once a pool thread came free.
#[test]
fn abort_all_takes_back_a_blocking_child_its_slot_handed_to_a_held_pool() {
    one_pool_thread().block_on(async {
        let release = hold_the_pool(|f| drop(tokio::task::spawn_blocking(f))).await;
        let nursery: Nursery = Nursery::builder()
            .max_running(1)
            .track_children(true)
            .build()
            .unwrap();
        let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
        nursery
            .spawn(async move {
                let _ = first_rx.await;
            })
            .unwrap();
        let (f, ran, dropped) = flagged_closure();
        nursery.spawn_blocking(f).unwrap();
        first_tx.send(()).unwrap();
        // Listed once its slot is granted, in the poll that hands it to the
        // pool (one thread runs both here).
        while nursery.stats().completed == 0 || nursery.snapshot().children().is_empty() {
            tokio::task::yield_now().await;
        }

        nursery.abort_all();
        assert!(dropped.load(Ordering::SeqCst), "not taken back");
        drop(release);
        let report = nursery.close().await;
        assert!(report.is_final());
        assert_eq!(report.stats().aborted, 1, "{report:?}");
        assert!(!ran.load(Ordering::SeqCst), "the aborted closure ran");
    });
}

#[tokio::test(start_paused = true)]
async fn shutdown_from_inside_a_child_returns() {
    let nursery: Arc<Nursery> = Arc::new(Nursery::new());
    let me = nursery.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    nursery
        .spawn(async move {
            // Would wait for itself: starts the shutdown and returns at once.
            let report = me.shutdown(Duration::from_secs(60)).await;
            tx.send((report.is_final(), me.is_cancelled())).unwrap();
        })
        .unwrap();
    assert_eq!(rx.await.unwrap(), (false, true));
    assert!(nursery.closed().await.is_final());
}

// ----- one rule for "cancelled", whoever cancels the token ------------------

#[tokio::test]
async fn a_child_returning_after_the_token_was_cancelled_directly_counts_as_cancelled() {
    let nursery: Nursery = Nursery::new();
    let token = nursery.token().clone();
    nursery
        .spawn(async move { token.cancelled().await })
        .unwrap();
    tokio::task::yield_now().await;
    nursery.token().cancel();
    let report = nursery.close().await;
    assert_eq!(report.stats().cancelled, 1);
    assert_eq!(report.stats().completed, 0);
    assert_eq!(report.ended_after_cancel(), 1);
}

#[tokio::test]
async fn a_child_that_cancels_the_token_and_returns_counts_as_cancelled() {
    let nursery: Nursery = Nursery::new();
    let token = nursery.token().clone();
    nursery.spawn(async move { token.cancel() }).unwrap();
    let report = nursery.close().await;
    assert_eq!((report.stats().cancelled, report.stats().completed), (1, 0));
}

#[tokio::test]
async fn a_child_that_returns_before_the_token_is_cancelled_counts_as_completed() {
    let nursery: Nursery = Nursery::new();
    nursery.spawn(async {}).unwrap();
    tokio::task::yield_now().await;
    nursery.token().cancel();
    let report = nursery.close().await;
    assert_eq!((report.stats().cancelled, report.stats().completed), (0, 1));
}

#[tokio::test]
async fn a_failure_after_the_token_was_cancelled_directly_ends_in_the_cancel_phase() {
    let nursery: Nursery<(), &str> = Nursery::builder()
        .policy(scope_core::Policy::Supervise)
        .build()
        .unwrap();
    let token = nursery.token().clone();
    nursery
        .spawn(async move {
            token.cancelled().await;
            Err("interrupted")
        })
        .unwrap();
    tokio::task::yield_now().await;
    nursery.token().cancel();
    let report = nursery.close().await;
    assert_eq!(report.stats().failed, 1);
    assert_eq!(report.ended_in_drain(), 0);
    assert_eq!(report.ended_after_cancel(), 1);
}

#[tokio::test]
async fn cancelling_the_token_directly_refuses_spawns_and_drops_queued_children() {
    let nursery: Nursery = Nursery::builder().max_running(1).build().unwrap();
    let token = nursery.token().clone();
    nursery
        .spawn(async move { token.cancelled().await })
        .unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let dropped = [Arc::default(), Arc::default()];
    for dropped in &dropped {
        // Queued behind the limit.
        let (ran, flag) = (ran.clone(), DropFlag(Arc::clone(dropped)));
        nursery
            .spawn(async move {
                let _flag = flag;
                ran.store(true, Ordering::SeqCst);
            })
            .unwrap();
    }
    nursery.token().cancel();
    assert!(nursery.is_cancelled());
    assert!(nursery.spawn(async {}).unwrap_err().is_cancelled());
    let report = nursery.close().await;
    // The queue went with the cancel: no queued child ran, and each one's
    // future was dropped before the close finished.
    assert!(!ran.load(Ordering::SeqCst));
    assert!(dropped.iter().all(|d| d.load(Ordering::SeqCst)));
    assert_eq!(report.stats().cancelled, 3);
    assert_eq!(report.stats().refused, 1);
}

#[tokio::test]
async fn a_nested_child_returning_after_the_parents_token_was_cancelled_counts_as_cancelled() {
    let parent: Nursery = Nursery::new();
    let nested: Nursery = parent.child_builder().build().unwrap();
    let token = nested.token().clone();
    nested
        .spawn(async move { token.cancelled().await })
        .unwrap();
    tokio::task::yield_now().await;
    parent.token().cancel();
    assert!(nested.is_cancelled() && parent.is_cancelled());
    assert!(nested.spawn(async {}).unwrap_err().is_cancelled());
    let report = nested.close().await;
    assert_eq!((report.stats().cancelled, report.stats().completed), (1, 0));
    // The nested nursery itself ended cancelled, as one child of the parent.
    assert_eq!(parent.close().await.stats().cancelled, 1);
}

#[tokio::test]
async fn cancelling_a_parent_cancels_every_nested_nursery_before_it_returns() {
    let root: Nursery = Nursery::new();
    let mut chain: Vec<Nursery> = vec![root.child_builder().build().unwrap()];
    for _ in 0..63 {
        let next = chain.last().unwrap().child_builder().build().unwrap();
        chain.push(next);
    }
    root.cancel();
    for nested in &chain {
        assert!(nested.is_cancelled());
        assert!(nested.spawn(async {}).unwrap_err().is_cancelled());
    }
    while let Some(nested) = chain.pop() {
        nested.close().await;
    }
    assert_eq!(root.close().await.stats().cancelled, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_woken_by_a_direct_cancel_on_other_threads_count_as_cancelled() {
    // Children on both workers, each waiting on the token itself; the cancel
    // comes from a plain thread. Every one of them returns after the token
    // fired, so every one counts as cancelled.
    let nursery: Nursery = Nursery::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(256);
    for _ in 0..200 {
        let token = nursery.token().clone();
        let ready = ready_tx.clone();
        nursery
            .spawn(async move {
                let cancelled = token.cancelled();
                let mut cancelled = std::pin::pin!(cancelled);
                // Registered as a waiter before telling the test.
                let _ = futures_poll_once(cancelled.as_mut());
                ready.send(()).await.unwrap();
                cancelled.await;
            })
            .unwrap();
    }
    for _ in 0..200 {
        ready_rx.recv().await.unwrap();
    }
    let token = nursery.token().clone();
    std::thread::spawn(move || token.cancel()).join().unwrap();
    let report = nursery.close().await;
    assert_eq!(report.stats().cancelled, 200);
    assert_eq!(report.stats().completed, 0);
}

/// Polls a future once with a no-op waker.
fn futures_poll_once<F: std::future::Future>(
    fut: std::pin::Pin<&mut F>,
) -> std::task::Poll<F::Output> {
    fut.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_woken_through_child_tokens_count_as_cancelled() {
    // The token marks every token below it cancelled before it wakes
    // anyone, so these children may run before the nursery hears of the
    // cancel; each of them still returned after it. Under Miri, where a
    // round takes a quarter of a minute, two rounds.
    let rounds = if cfg!(miri) { 2 } else { 20 };
    for _ in 0..rounds {
        let nursery: Nursery = Nursery::new();
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(128);
        for _ in 0..100 {
            let token = nursery.token().child_token();
            let ready = ready_tx.clone();
            nursery
                .spawn(async move {
                    let mut cancelled = std::pin::pin!(token.cancelled());
                    let _ = futures_poll_once(cancelled.as_mut());
                    ready.send(()).await.unwrap();
                    cancelled.await;
                })
                .unwrap();
        }
        for _ in 0..100 {
            ready_rx.recv().await.unwrap();
        }
        let token = nursery.token().clone();
        std::thread::spawn(move || token.cancel()).join().unwrap();
        let report = nursery.close().await;
        assert_eq!(report.stats().cancelled, 100);
        assert_eq!(report.stats().completed, 0);
    }
}
