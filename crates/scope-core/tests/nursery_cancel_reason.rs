//! Why the token was cancelled: `CancelReason`, recorded once, first wins.

use std::sync::Arc;
use std::time::Duration;

use scope_core::{CancelReason, Nursery, Outcome, Policy};

#[tokio::test]
async fn a_nursery_never_cancelled_has_no_reason() {
    let nursery: Nursery = Nursery::new();
    nursery.spawn(async {}).unwrap();
    assert_eq!(nursery.cancel_reason(), None);
    let report = nursery.close().await;
    assert_eq!(report.cancel_reason(), None);
    assert_eq!(report.outcome(), Outcome::Completed);
}

#[tokio::test]
async fn the_owners_cancel_is_requested() {
    let nursery: Nursery = Nursery::new();
    nursery.cancel();
    assert_eq!(nursery.cancel_reason(), Some(CancelReason::Requested));
    let report = nursery.close().await;
    assert_eq!(report.cancel_reason(), Some(CancelReason::Requested));
    assert_eq!(report.outcome(), Outcome::Cancelled);
}

#[tokio::test]
async fn a_spawner_holders_cancel_through_the_token_is_requested() {
    // A spawner cannot escalate; its holder cancels through the token.
    let nursery: Nursery = Nursery::new();
    let spawner = nursery.spawner();
    nursery
        .spawn(async move { spawner.token().cancel() })
        .unwrap();
    let report = nursery.close().await;
    assert_eq!(report.cancel_reason(), Some(CancelReason::Requested));
}

#[tokio::test]
async fn cancelling_the_token_directly_is_requested() {
    let nursery: Nursery = Nursery::new();
    let token = nursery.token().clone();
    nursery.spawn(async move { token.cancel() }).unwrap();
    let report = nursery.close().await;
    assert_eq!(report.cancel_reason(), Some(CancelReason::Requested));
    assert_eq!(nursery.cancel_reason(), Some(CancelReason::Requested));
    assert_eq!(report.outcome(), Outcome::Cancelled);
}

#[tokio::test]
async fn a_fail_fast_failure_is_failure() {
    let nursery: Nursery<(), &str> = Nursery::new();
    nursery.spawn(async { Err("bad") }).unwrap();
    let report = nursery.close().await;
    assert_eq!(report.cancel_reason(), Some(CancelReason::Failure));
    assert_eq!(report.outcome(), Outcome::Failed);
}

#[tokio::test]
async fn a_fail_fast_panic_is_failure() {
    let nursery: Nursery = Nursery::new();
    nursery
        .spawn(async {
            if true {
                panic!("boom")
            }
        })
        .unwrap();
    let report = nursery.close().await;
    assert_eq!(report.cancel_reason(), Some(CancelReason::Failure));
}

#[tokio::test]
async fn a_supervised_failure_cancels_nothing() {
    let nursery: Nursery<(), &str> = Nursery::builder()
        .policy(Policy::Supervise)
        .build()
        .unwrap();
    nursery.spawn(async { Err("bad") }).unwrap();
    let report = nursery.close().await;
    assert_eq!(report.cancel_reason(), None);
    assert_eq!(report.outcome(), Outcome::Failed);
}

#[tokio::test]
async fn the_first_reason_wins() {
    let nursery: Nursery<(), &str> = Nursery::new();
    let token = nursery.token().clone();
    nursery
        .spawn(async move {
            token.cancelled().await;
            Err("failed while cancelled")
        })
        .unwrap();
    nursery.cancel();
    let report = nursery.close().await;
    // The failure came after the cancel: it is reported, but did not cancel.
    assert_eq!(report.outcome(), Outcome::Failed);
    assert_eq!(report.cancel_reason(), Some(CancelReason::Requested));
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_past_its_drain_window_is_deadline() {
    let nursery: Nursery = Nursery::new();
    nursery.spawn(std::future::pending::<()>()).unwrap();
    let report = nursery.shutdown(Duration::from_secs(4)).await;
    assert_eq!(report.cancel_reason(), Some(CancelReason::Deadline));
    assert_eq!(report.outcome(), Outcome::Cancelled);
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_that_drains_in_time_cancels_nothing() {
    let nursery: Nursery = Nursery::new();
    nursery
        .spawn(tokio::time::sleep(Duration::from_secs(1)))
        .unwrap();
    let report = nursery.shutdown(Duration::from_secs(4)).await;
    assert_eq!(report.cancel_reason(), None);
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_of_a_cancelled_nursery_keeps_the_first_reason() {
    let nursery: Nursery = Nursery::new();
    nursery.spawn(std::future::pending::<()>()).unwrap();
    nursery.cancel();
    let report = nursery.shutdown(Duration::from_secs(4)).await;
    assert_eq!(report.stats().aborted, 1);
    assert_eq!(report.cancel_reason(), Some(CancelReason::Requested));
}

#[tokio::test]
async fn a_shutdown_from_inside_a_child_is_deadline() {
    let nursery: Arc<Nursery> = Arc::new(Nursery::new());
    let me = nursery.clone();
    nursery
        .spawn(async move {
            me.shutdown(Duration::from_secs(60)).await;
        })
        .unwrap();
    let report = nursery.closed().await;
    assert_eq!(report.cancel_reason(), Some(CancelReason::Deadline));
}

#[tokio::test]
async fn a_parents_cancel_is_parent_below_it() {
    let parent: Nursery = Nursery::new();
    let child: Nursery = parent.child_builder().build().unwrap();
    let grandchild: Nursery = child.child_builder().build().unwrap();
    parent.cancel();
    assert_eq!(parent.cancel_reason(), Some(CancelReason::Requested));
    assert_eq!(child.cancel_reason(), Some(CancelReason::Parent));
    assert_eq!(grandchild.cancel_reason(), Some(CancelReason::Parent));
    assert_eq!(
        grandchild.close().await.cancel_reason(),
        Some(CancelReason::Parent)
    );
    child.close().await;
    parent.close().await;
}

#[tokio::test]
async fn a_parents_failure_is_parent_below_it() {
    let parent: Nursery<(), &str> = Nursery::new();
    let child: Nursery<(), &str> = parent.child_builder().build().unwrap();
    parent.spawn(async { Err("bad") }).unwrap();
    let token = child.token().clone();
    token.cancelled().await;
    assert_eq!(
        child.close().await.cancel_reason(),
        Some(CancelReason::Parent)
    );
    assert_eq!(
        parent.close().await.cancel_reason(),
        Some(CancelReason::Failure)
    );
}

#[tokio::test]
async fn a_parent_token_cancelled_directly_is_parent_below_it() {
    let parent: Nursery = Nursery::new();
    let child: Nursery = parent.child_builder().build().unwrap();
    parent.token().cancel();
    assert_eq!(parent.cancel_reason(), Some(CancelReason::Requested));
    assert_eq!(child.cancel_reason(), Some(CancelReason::Parent));
    assert_eq!(
        child.close().await.cancel_reason(),
        Some(CancelReason::Parent)
    );
    parent.close().await;
}

#[tokio::test(start_paused = true)]
async fn a_parents_shutdown_is_parent_below_it() {
    let parent: Nursery = Nursery::new();
    let child: Nursery = parent.child_builder().build().unwrap();
    child.spawn(std::future::pending::<()>()).unwrap();
    let spawner = child.spawner();
    child.detach();
    let report = parent.shutdown(Duration::from_secs(4)).await;
    assert_eq!(report.cancel_reason(), Some(CancelReason::Deadline));
    assert_eq!(spawner.cancel_reason(), Some(CancelReason::Parent));
}

#[tokio::test]
async fn dropping_the_owner_is_dropped() {
    let nursery: Nursery = Nursery::new();
    let spawner = nursery.spawner();
    nursery.spawn(std::future::pending::<()>()).unwrap();
    drop(nursery);
    assert_eq!(spawner.cancel_reason(), Some(CancelReason::Dropped));
    assert_eq!(
        spawner.closed().await.cancel_reason(),
        Some(CancelReason::Dropped)
    );
}

#[tokio::test]
async fn dropping_a_nested_owner_is_dropped_there_and_nothing_above() {
    let parent: Nursery = Nursery::new();
    let child: Nursery = parent.child_builder().build().unwrap();
    let spawner = child.spawner();
    drop(child);
    assert_eq!(spawner.cancel_reason(), Some(CancelReason::Dropped));
    let report = parent.close().await;
    assert_eq!(report.cancel_reason(), None);
    assert_eq!(
        report.stats().cancelled,
        1,
        "the nested nursery ended cancelled"
    );
}

#[tokio::test]
async fn detaching_cancels_nothing() {
    let nursery: Nursery = Nursery::new();
    let spawner = nursery.spawner();
    nursery.spawn(tokio::task::yield_now()).unwrap();
    nursery.detach();
    let report = spawner.closed().await;
    assert_eq!(report.cancel_reason(), None);
}

#[tokio::test]
async fn every_final_report_carries_the_same_reason() {
    let nursery: Nursery = Nursery::new();
    nursery.cancel();
    let first = nursery.close().await;
    let again = nursery.closed().await;
    assert!(first.is_final() && again.is_final());
    assert_eq!(first.cancel_reason(), Some(CancelReason::Requested));
    assert_eq!(again.cancel_reason(), first.cancel_reason());
}
