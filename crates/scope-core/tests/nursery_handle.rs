//! C13: the handle `spawn` returns (tokio's `AbortHandle` for the child's
//! task): its id, and aborting one child, running or still waiting for a
//! running slot.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::FutureExt;
use scope_core::Nursery;
use tokio::sync::{Notify, oneshot};

struct SetOnDrop(Arc<AtomicBool>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_handle_aborts_only_its_own_child() {
    let nursery: Nursery = Nursery::new();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = SetOnDrop(dropped.clone());
    let doomed = nursery
        .spawn(async move {
            let _flag = flag;
            std::future::pending::<()>().await
        })
        .unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let kept = nursery
        .spawn(async move {
            let _ = rx.await;
        })
        .unwrap();
    doomed.abort();
    tokio::task::yield_now().await; // the runtime runs the abort
    let mut close = std::pin::pin!(nursery.close());
    assert!(
        (&mut close).now_or_never().is_none(),
        "the other child still runs"
    );
    assert!(
        dropped.load(Ordering::SeqCst),
        "the aborted child's future is dropped"
    );
    assert!(!kept.is_finished());
    tx.send(()).unwrap();
    let report = close.await;
    assert_eq!((report.stats().aborted, report.stats().completed), (1, 1));
    assert!(doomed.is_finished() && kept.is_finished());
}

#[tokio::test]
async fn the_handle_carries_the_id_the_child_runs_under() {
    let nursery: Nursery = Nursery::new();
    let (tx, rx) = oneshot::channel();
    let handle = nursery
        .spawn(async move {
            tx.send(tokio::task::id()).unwrap();
        })
        .unwrap();
    assert_eq!(rx.await.unwrap(), handle.id());
    nursery.close().await;
}

#[tokio::test]
async fn a_child_waiting_for_a_slot_has_its_handle_and_id_from_the_spawn() {
    let nursery: Nursery = Nursery::builder().max_running(1).build().unwrap();
    let gate = Arc::new(Notify::new());
    let g = gate.clone();
    nursery.spawn(async move { g.notified().await }).unwrap();
    let (tx, rx) = oneshot::channel();
    let queued = nursery
        .spawn(async move {
            tx.send(tokio::task::id()).unwrap();
        })
        .unwrap();
    gate.notify_one();
    assert_eq!(rx.await.unwrap(), queued.id());
    assert_eq!(nursery.close().await.stats().completed, 2);
}

#[tokio::test]
async fn aborting_a_child_waiting_for_a_slot_ends_it_unstarted_and_the_queue_moves_on() {
    let nursery: Nursery = Nursery::builder().max_running(1).build().unwrap();
    let gate = Arc::new(Notify::new());
    let g = gate.clone();
    nursery.spawn(async move { g.notified().await }).unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicBool::new(false));
    let (r, flag) = (ran.clone(), SetOnDrop(dropped.clone()));
    let waiting = nursery
        .spawn(async move {
            let _flag = flag;
            r.store(true, Ordering::SeqCst);
        })
        .unwrap();
    let (tx, rx) = oneshot::channel();
    nursery
        .spawn(async move {
            tx.send(()).unwrap();
        })
        .unwrap();
    waiting.abort();
    tokio::task::yield_now().await;
    assert!(
        dropped.load(Ordering::SeqCst),
        "dropped as soon as its task saw the abort"
    );
    assert_eq!(nursery.stats().aborted, 1);
    // The slot goes to the next waiting child.
    gate.notify_one();
    rx.await.unwrap();
    let report = nursery.close().await;
    assert!(!ran.load(Ordering::SeqCst), "it never started");
    assert_eq!((report.stats().aborted, report.stats().completed), (1, 2));
}

#[tokio::test]
async fn a_child_that_waited_for_its_slot_is_aborted_by_its_handle_once_it_runs() {
    let nursery: Nursery = Nursery::builder().max_running(1).build().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    nursery
        .spawn(async move {
            let _ = rx.await;
        })
        .unwrap();
    let (started_tx, started) = oneshot::channel();
    let waiting = nursery
        .spawn(async move {
            started_tx.send(()).unwrap();
            std::future::pending::<()>().await
        })
        .unwrap();
    tx.send(()).unwrap();
    started.await.unwrap();
    waiting.abort();
    let report = nursery.close().await;
    assert_eq!((report.stats().aborted, report.stats().completed), (1, 1));
}

#[tokio::test]
async fn aborting_a_blocking_child_waiting_for_a_slot_drops_its_closure_unrun() {
    let nursery: Nursery = Nursery::builder().max_running(1).build().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    nursery
        .spawn(async move {
            let _ = rx.await;
        })
        .unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let waiting = nursery
        .spawn_blocking(move || r.store(true, Ordering::SeqCst))
        .unwrap();
    waiting.abort();
    tx.send(()).unwrap();
    let report = nursery.close().await;
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!((report.stats().aborted, report.stats().completed), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_child_that_waited_for_its_slot_runs_and_counts_under_its_handle() {
    let nursery: Nursery<u32, std::io::Error> = Nursery::builder()
        .max_running(1)
        .track_children(true)
        .build()
        .unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    nursery
        .spawn(async move {
            let _ = rx.await;
            Ok(1)
        })
        .unwrap();
    let (started_tx, started) = std::sync::mpsc::channel();
    let (release_tx, release) = std::sync::mpsc::channel::<()>();
    nursery
        .spawn_blocking(move || {
            started_tx.send(()).unwrap();
            release.recv().unwrap();
            Ok(2)
        })
        .unwrap();
    tx.send(()).unwrap();
    tokio::task::spawn_blocking(move || started.recv().unwrap())
        .await
        .unwrap();
    assert_eq!(
        nursery.snapshot().children().len(),
        1,
        "listed once it runs"
    );
    release_tx.send(()).unwrap();
    let mut nursery = nursery;
    let mut sum = 0;
    while let Some(v) = nursery.join_next().await {
        sum += v;
    }
    assert_eq!(sum, 3);
    let report = nursery.close().await;
    assert_eq!(report.stats().completed, 2);
    assert!(
        nursery.snapshot().children().is_empty(),
        "unlisted at its end"
    );
}

#[tokio::test]
async fn a_handle_outliving_its_nursery_aborts_nothing() {
    let nursery: Nursery = Nursery::new();
    let handle = nursery.spawn(async {}).unwrap();
    let report = nursery.close().await;
    handle.abort();
    assert!(handle.is_finished());
    assert_eq!(report.stats().completed, 1);
    assert_eq!(nursery.stats().aborted, 0);
}
