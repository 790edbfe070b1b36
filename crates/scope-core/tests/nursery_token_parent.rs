//! `Builder::token_parent`: a root nursery under an application's token.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use scope_core::{CancelReason, Nursery, Outcome};
use tokio_util::sync::CancellationToken;

fn under(app: &CancellationToken) -> Nursery {
    Nursery::builder().token_parent(app).build().unwrap()
}

#[tokio::test]
async fn cancelling_the_application_token_cancels_the_nursery() {
    let app = CancellationToken::new();
    let nursery = under(&app);
    assert!(!nursery.is_cancelled());
    app.cancel();
    assert!(nursery.token().is_cancelled());
    assert!(nursery.is_cancelled());
    assert_eq!(nursery.cancel_reason(), Some(CancelReason::Parent));
    let err = nursery.spawn(async {}).unwrap_err();
    assert!(err.is_cancelled());
    let report = nursery.close().await;
    assert_eq!(report.outcome(), Outcome::Cancelled);
    assert_eq!(report.cancel_reason(), Some(CancelReason::Parent));
    assert_eq!(report.stats().refused, 1);
}

#[tokio::test]
async fn a_child_returning_after_the_application_token_fired_counts_as_cancelled() {
    let app = CancellationToken::new();
    let nursery = under(&app);
    let token = nursery.token().clone();
    nursery
        .spawn(async move { token.cancelled().await })
        .unwrap();
    // Watches the application token, not the nursery's.
    let outer = app.clone();
    nursery
        .spawn(async move { outer.cancelled().await })
        .unwrap();
    tokio::task::yield_now().await;
    app.cancel();
    let report = nursery.close().await;
    assert_eq!(report.stats().cancelled, 2);
    assert_eq!(report.stats().completed, 0);
}

#[tokio::test]
async fn the_application_token_drops_queued_children_as_cancelled() {
    let app = CancellationToken::new();
    let nursery: Nursery = Nursery::builder()
        .token_parent(&app)
        .max_running(1)
        .build()
        .unwrap();
    let token = nursery.token().clone();
    nursery
        .spawn(async move { token.cancelled().await })
        .unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    nursery
        .spawn(async move { r.store(true, Ordering::SeqCst) }) // queued
        .unwrap();
    app.cancel();
    assert_eq!(nursery.close().await.stats().cancelled, 2);
    assert!(!ran.load(Ordering::SeqCst), "the queued child never ran");
}

#[tokio::test]
async fn cancelling_the_nursery_leaves_the_application_token_alone() {
    let app = CancellationToken::new();
    let nursery = under(&app);
    nursery.cancel();
    assert!(!app.is_cancelled());
    assert_eq!(nursery.cancel_reason(), Some(CancelReason::Requested));
    drop(nursery);
    assert!(!app.is_cancelled(), "nor does dropping it");
}

#[tokio::test]
async fn the_nurserys_own_token_cancelled_directly_is_still_requested() {
    let app = CancellationToken::new();
    let nursery = under(&app);
    nursery.token().cancel();
    assert_eq!(nursery.cancel_reason(), Some(CancelReason::Requested));
    assert!(!app.is_cancelled());
}

#[tokio::test]
async fn an_application_token_already_cancelled_builds_a_cancelled_nursery() {
    let app = CancellationToken::new();
    app.cancel();
    let nursery = under(&app);
    assert!(nursery.is_cancelled());
    assert_eq!(nursery.cancel_reason(), Some(CancelReason::Parent));
    assert!(nursery.spawn(async {}).unwrap_err().is_cancelled());
    assert_eq!(
        nursery.close().await.cancel_reason(),
        Some(CancelReason::Parent)
    );
}

#[tokio::test]
async fn the_application_token_reaches_nested_nurseries() {
    let app = CancellationToken::new();
    let root = under(&app);
    let nested: Nursery = root.child_builder().build().unwrap();
    let token = nested.token().clone();
    nested
        .spawn(async move { token.cancelled().await })
        .unwrap();
    tokio::task::yield_now().await;
    app.cancel();
    assert_eq!(root.cancel_reason(), Some(CancelReason::Parent));
    assert_eq!(nested.cancel_reason(), Some(CancelReason::Parent));
    assert_eq!(nested.close().await.stats().cancelled, 1);
    assert_eq!(root.close().await.stats().cancelled, 1);
}

#[tokio::test]
async fn token_parent_on_a_nested_builder_is_refused() {
    let app = CancellationToken::new();
    let root: Nursery = Nursery::new();
    let err = root
        .child_builder::<()>()
        .token_parent(&app)
        .build()
        .unwrap_err();
    assert!(err.is_token_parent_on_nested());
    assert!(!err.is_parent_closed());
    assert_eq!(root.stats().live, 0, "nothing was counted in");
    let err = root
        .spawner()
        .child_builder::<()>()
        .token_parent(&app)
        .build()
        .unwrap_err();
    assert!(err.is_token_parent_on_nested());
    root.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_token_cancelled_from_another_thread_counts_every_child_as_cancelled() {
    let app = CancellationToken::new();
    let nursery = under(&app);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(128);
    for i in 0..100 {
        // Half watch the nursery's token, half a token below it.
        let token = if i % 2 == 0 {
            nursery.token().clone()
        } else {
            nursery.token().child_token()
        };
        let ready = ready_tx.clone();
        nursery
            .spawn(async move {
                let mut cancelled = std::pin::pin!(token.cancelled());
                let _ = cancelled
                    .as_mut()
                    .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
                ready.send(()).await.unwrap();
                cancelled.await;
            })
            .unwrap();
    }
    for _ in 0..100 {
        ready_rx.recv().await.unwrap();
    }
    let outer = app.clone();
    std::thread::spawn(move || outer.cancel()).join().unwrap();
    let report = nursery.close().await;
    assert_eq!(report.stats().cancelled, 100);
    assert_eq!(report.cancel_reason(), Some(CancelReason::Parent));
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_under_an_application_token_keeps_its_own_deadline() {
    let app = CancellationToken::new();
    let nursery = under(&app);
    nursery.spawn(std::future::pending::<()>()).unwrap();
    let start = tokio::time::Instant::now();
    let report = nursery.shutdown(Duration::from_secs(4)).await;
    assert_eq!(start.elapsed(), Duration::from_secs(4));
    assert_eq!(report.cancel_reason(), Some(CancelReason::Deadline));
    assert!(!app.is_cancelled());
}
