//! C7 nesting and C8 detach.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use scope_core::{Nursery, Outcome, Policy};
use tokio::sync::Notify;

#[tokio::test]
async fn cancelling_the_parent_reaches_every_descendant_never_the_reverse() {
    let parent: Nursery = Nursery::new();
    let child: Nursery = parent.child_builder().build().unwrap();
    let grandchild: Nursery = child.child_builder().build().unwrap();
    let sibling: Nursery = parent.child_builder().build().unwrap();

    sibling.cancel();
    assert!(
        !parent.token().is_cancelled(),
        "a child never cancels its parent"
    );
    assert!(!child.token().is_cancelled());

    parent.cancel();
    assert!(child.token().is_cancelled() && grandchild.token().is_cancelled());
    assert!(child.is_cancelled() && grandchild.is_cancelled());
    grandchild.close().await;
    child.close().await;
    sibling.close().await;
    parent.close().await;
}

#[tokio::test]
async fn the_parent_counts_a_nested_nursery_as_one_live_child_until_it_closes() {
    let parent: Arc<Nursery> = Arc::new(Nursery::new());
    let child: Nursery = parent.child_builder().build().unwrap();
    for _ in 0..5 {
        child.spawn(async {}).unwrap();
    }
    assert_eq!(parent.stats().live, 1);
    let parent_closing = tokio::spawn({
        let parent = parent.clone();
        async move { parent.close().await }
    });
    tokio::task::yield_now().await;
    assert!(
        !parent_closing.is_finished(),
        "parent close waits for the nested nursery"
    );
    let child_report = child.close().await;
    assert_eq!(child_report.stats().completed, 5);
    let report = parent_closing.await.unwrap();
    assert_eq!(report.stats().spawned, 1);
    assert_eq!(report.stats().completed, 1);
}

/// `Stats`: a nested nursery counts as cancelled in its parent when its own
/// token fired, whoever fired it; the parent's outcome does not change.
#[tokio::test]
async fn a_nested_nursery_cancelled_on_its_own_counts_as_cancelled_in_an_uncancelled_parent() {
    let parent: Nursery = Nursery::new();
    let child: Nursery = parent.child_builder().build().unwrap();
    child.spawn(async {}).unwrap();
    child.cancel();
    assert_eq!(child.close().await.stats().cancelled, 1);
    let report = parent.close().await;
    assert_eq!((report.stats().cancelled, report.stats().completed), (1, 0));
    assert_eq!(report.outcome(), Outcome::Completed);
    assert_eq!(report.cancel_reason(), None);
}

#[derive(Debug, PartialEq)]
struct Boom;

#[tokio::test]
async fn a_nested_failure_is_one_failure_of_a_fail_fast_parent() {
    let parent: Nursery<(), Boom> = Nursery::new();
    let parent_token = parent.token().clone();
    parent
        .spawn(async move {
            parent_token.cancelled().await;
            Ok(())
        })
        .unwrap();
    let child: Nursery<(), Boom> = parent.child_builder().build().unwrap();
    child.spawn(async { Err(Boom) }).unwrap();
    child.spawn(async { Err(Boom) }).unwrap();
    let child_report = child.close().await;
    assert_eq!(child_report.stats().failed, 2);
    let report = parent.close().await;
    assert_eq!(report.stats().failed, 1, "the nested nursery fails once");
    assert_eq!(
        report.stats().cancelled,
        1,
        "its failure cancelled the parent's other child"
    );
    assert_eq!(report.outcome(), Outcome::Failed);
    assert_eq!(report.take_failure().unwrap().into_error().unwrap(), Boom);
}

#[tokio::test]
async fn a_supervising_parent_survives_a_nested_failure() {
    let parent: Nursery<(), Boom> = Nursery::builder()
        .policy(Policy::Supervise)
        .build()
        .unwrap();
    let child: Nursery<(), Boom> = parent.child_builder().build().unwrap();
    child.spawn(async { Err(Boom) }).unwrap();
    child.close().await;
    assert!(!parent.is_cancelled());
    parent.spawn(async { Ok(()) }).unwrap();
    let report = parent.close().await;
    assert_eq!((report.stats().failed, report.stats().completed), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn detached_children_finish_and_the_parents_close_waits_for_them() {
    let parent: Nursery = Nursery::new();
    let child: Nursery = parent.child_builder().build().unwrap();
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    let token = child.token().clone();
    child
        .spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            assert!(!token.is_cancelled(), "detach does not end the children");
            f.store(true, Ordering::SeqCst);
        })
        .unwrap();
    child.detach();
    let report = parent.close().await;
    assert!(
        finished.load(Ordering::SeqCst),
        "the parent's close returned before the detached work finished"
    );
    assert_eq!(report.stats().completed, 1);
}

#[tokio::test]
async fn a_detached_child_nursery_failure_reaches_the_parent() {
    let parent: Nursery<(), Boom> = Nursery::builder()
        .policy(Policy::Supervise)
        .build()
        .unwrap();
    let child: Nursery<(), Boom> = parent.child_builder().build().unwrap();
    let go = Arc::new(Notify::new());
    let g = go.clone();
    child
        .spawn(async move {
            g.notified().await;
            Err(Boom)
        })
        .unwrap();
    child.detach();
    go.notify_one();
    let report = parent.close().await;
    assert_eq!(report.stats().failed, 1);
}

#[tokio::test(start_paused = true)]
async fn a_detached_root_nursery_runs_its_children_to_completion() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let nursery: Nursery<(), Boom> = Nursery::builder()
        .on_failure(move |e| s.lock().unwrap().push(e.as_error().is_some()))
        .build()
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    nursery
        .spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            tx.send(()).unwrap();
            Ok(())
        })
        .unwrap();
    let (fail_tx, fail_rx) = tokio::sync::oneshot::channel::<()>();
    nursery
        .spawn(async move {
            let _ = fail_rx.await;
            Err(Boom)
        })
        .unwrap();
    let spawner = nursery.spawner();
    nursery.detach();
    // The owner is gone, the work is not: it finishes, still owned.
    rx.await.unwrap();
    drop(fail_tx);
    spawner.closed().await;
    assert_eq!(
        *seen.lock().unwrap(),
        vec![true],
        "the detached nursery still reports failures"
    );
    // Detach closed it to outside work.
    assert!(spawner.spawn(async { Ok(()) }).is_err());
}

#[tokio::test]
async fn a_nested_nursery_cannot_be_opened_in_a_closed_parent() {
    let parent: Nursery = Nursery::new();
    parent.close().await;
    let err = parent.child_builder::<()>().build().unwrap_err();
    assert!(err.is_parent_closed());
}
