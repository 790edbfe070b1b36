//! A nursery's body (`inside`): it holds the close open, spawns from inside,
//! and is never counted as a child; `idle` and `report`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use scope_core::{Nursery, Stats};
use tokio::sync::oneshot;

#[tokio::test]
async fn the_close_waits_for_the_body_and_the_body_may_spawn_while_it_drains() {
    let nursery: Nursery = Nursery::new();
    let spawner = nursery.spawner();
    let (go_tx, go) = oneshot::channel::<()>();
    let body = nursery.inside(async move {
        let _ = go.await;
        // The close began meanwhile; the body is inside, so this is accepted.
        spawner.spawn(tokio::task::yield_now()).unwrap();
    });
    let mut body = Box::pin(body);
    assert!((&mut body).now_or_never().is_none());
    let mut close = Box::pin(nursery.close());
    assert!(
        (&mut close).now_or_never().is_none(),
        "the body holds the close"
    );
    assert!(nursery.is_closing());
    assert_eq!(nursery.stats().live, 0, "the body is not a child");
    assert!(
        nursery.spawn(async {}).unwrap_err().is_closed(),
        "outside spawns are refused"
    );
    go_tx.send(()).unwrap();
    body.await;
    let report = close.await;
    assert!(report.is_final());
    assert_eq!(report.stats().completed, 1);
    assert_eq!(report.stats().spawned, 1);
}

#[tokio::test]
async fn idle_resolves_when_the_children_are_gone_though_the_body_runs() {
    let nursery: Nursery = Nursery::new();
    let (tx, rx) = oneshot::channel::<()>();
    nursery
        .spawn(async move {
            let _ = rx.await;
        })
        .unwrap();
    let body = nursery.inside(std::future::pending::<()>());
    let mut body = Box::pin(body);
    assert!((&mut body).now_or_never().is_none());
    drop(nursery.close().now_or_never());
    let mut idle = Box::pin(nursery.idle());
    assert!((&mut idle).now_or_never().is_none());
    tx.send(()).unwrap();
    idle.await;
    assert!(!nursery.is_closed(), "the body still holds it open");
    drop(body); // dropping the body ends its hold
    let report = nursery.close().await;
    assert!(report.is_final());
    assert_eq!(report.stats().completed, 1);
}

#[tokio::test]
async fn a_close_from_the_body_returns_at_once() {
    let nursery: Nursery = Nursery::new();
    let spawner = nursery.spawner();
    let inside = Arc::new(AtomicBool::new(false));
    let seen = inside.clone();
    nursery
        .inside(async move {
            let report = spawner.closed().await;
            seen.store(!report.is_final(), Ordering::SeqCst);
        })
        .await;
    assert!(inside.load(Ordering::SeqCst));
    assert!(nursery.close().await.is_final());
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_with_a_body_running_ends_the_children_and_leaves_the_close_to_the_body() {
    let nursery: Nursery = Nursery::new();
    nursery.spawn(std::future::pending::<()>()).unwrap();
    let mut body = Box::pin(nursery.inside(std::future::pending::<()>()));
    assert!((&mut body).now_or_never().is_none());
    let start = tokio::time::Instant::now();
    let report = nursery.shutdown(Duration::from_secs(4)).await;
    assert_eq!(start.elapsed(), Duration::from_secs(4));
    assert!(!report.is_final(), "the body still runs");
    assert_eq!(report.stats().aborted, 1);
    assert_eq!(report.stats().live, 0);
    drop(body);
    assert!(nursery.close().await.is_final());
}

#[tokio::test]
async fn the_held_limit_does_not_count_the_body() {
    let nursery: Nursery = Nursery::builder().max_held(1).build().unwrap();
    let mut body = Box::pin(nursery.inside(std::future::pending::<()>()));
    assert!((&mut body).now_or_never().is_none());
    nursery.spawn(async {}).unwrap();
    assert!(nursery.spawn(async {}).unwrap_err().is_full());
    drop(body);
    assert_eq!(nursery.close().await.stats().completed, 1);
}

#[tokio::test]
async fn idle_on_an_open_nursery_waits_for_the_children_and_closes_nothing() {
    let nursery: Nursery = Nursery::new();
    nursery.idle().await; // nothing live: at once
    let (tx, rx) = oneshot::channel::<()>();
    nursery
        .spawn(async move {
            let _ = rx.await;
        })
        .unwrap();
    let mut idle = Box::pin(nursery.idle());
    assert!((&mut idle).now_or_never().is_none());
    tx.send(()).unwrap();
    idle.await;
    assert!(!nursery.is_closing());
    nursery.spawn(async {}).unwrap();
    assert_eq!(nursery.close().await.stats().completed, 2);
}

#[tokio::test]
async fn report_is_a_snapshot_until_the_drain_and_the_final_report_after() {
    let nursery: Nursery = Nursery::new();
    let spawner = nursery.spawner();
    nursery.spawn(std::future::pending::<()>()).unwrap();
    let now = spawner.report();
    assert!(!now.is_final());
    assert_eq!(now.stats().live, 1);
    nursery.abort_all();
    let closed = nursery.close().await;
    assert_eq!(spawner.report().stats(), closed.stats());
    assert!(spawner.report().is_final());
}

#[tokio::test]
async fn stats_add_up_field_by_field() {
    let a: Nursery = Nursery::new();
    a.spawn(async {}).unwrap();
    let b: Nursery = Nursery::new();
    b.spawn(std::future::pending::<()>()).unwrap();
    b.abort_all();
    let total = a.close().await.stats() + b.close().await.stats();
    let mut expected = Stats::default();
    expected.spawned = 2;
    expected.completed = 1;
    expected.aborted = 1;
    assert_eq!(total, expected);
}
