//! C4 failure: errors, panics, fail-fast and supervise.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use scope_core::{Nursery, Outcome, Policy};
use tokio::sync::Notify;

#[derive(Debug, PartialEq)]
struct Boom(u32);

#[tokio::test]
async fn fail_fast_cancels_siblings_and_reports_the_error_not_the_cancellations() {
    let nursery: Nursery<(), Boom> = Nursery::new();
    let go = Arc::new(Notify::new());
    for _ in 0..5 {
        let token = nursery.token().clone();
        // Siblings end *because of* the cancellation, with an error of their
        // own; the report must still name the real failure.
        nursery
            .spawn(async move {
                token.cancelled().await;
                Err(Boom(0))
            })
            .unwrap();
    }
    let g = go.clone();
    nursery
        .spawn(async move {
            g.notified().await;
            Err(Boom(42))
        })
        .unwrap();
    go.notify_one();
    let report = nursery.close().await;
    assert_eq!(report.outcome(), Outcome::Failed);
    assert!(nursery.is_cancelled(), "fail-fast cancels the nursery");
    assert_eq!(report.stats().failed, 6, "later failures are counted");
    assert_eq!(
        report.take_failure().unwrap().into_error().unwrap(),
        Boom(42)
    );
}

#[tokio::test]
async fn fail_fast_refuses_spawns_after_the_first_failure() {
    let nursery: Nursery<(), Boom> = Nursery::new();
    nursery.spawn(async { Err(Boom(1)) }).unwrap();
    nursery.token().cancelled().await;
    assert!(nursery.spawn(async { Ok(()) }).unwrap_err().is_cancelled());
    assert_eq!(nursery.close().await.outcome(), Outcome::Failed);
}

#[tokio::test]
async fn supervise_keeps_siblings_running() {
    let seen = Arc::new(AtomicUsize::new(0));
    let handled = Arc::new(Notify::new());
    let (s, h) = (seen.clone(), handled.clone());
    let nursery: Nursery<(), Boom> = Nursery::builder()
        .policy(Policy::Supervise)
        .on_failure(move |e| {
            assert_eq!(e.as_error(), Some(&Boom(7)));
            s.fetch_add(1, Ordering::SeqCst);
            h.notify_one();
        })
        .build()
        .unwrap();
    let release = Arc::new(Notify::new());
    let r = release.clone();
    let token = nursery.token().clone();
    nursery
        .spawn(async move {
            r.notified().await;
            // Still running after the sibling failed, and not cancelled.
            assert!(!token.is_cancelled());
            Ok(())
        })
        .unwrap();
    nursery.spawn(async { Err(Boom(7)) }).unwrap();
    // The failure is handled while the survivor still runs.
    handled.notified().await;
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert!(
        nursery.spawn(async { Ok(()) }).is_ok(),
        "supervise keeps accepting"
    );
    release.notify_one();
    let report = nursery.close().await;
    assert_eq!(report.stats().failed, 1);
    assert_eq!(report.stats().completed, 2);
    assert_eq!(report.outcome(), Outcome::Failed);
    assert!(!nursery.is_cancelled());
}

#[tokio::test]
async fn panic_payload_can_be_resumed() {
    let nursery: Nursery = Nursery::new();
    nursery
        .spawn_named("bad", async {
            if true {
                std::panic::panic_any(1234_u64);
            }
        })
        .unwrap();
    let report = nursery.close().await;
    let err = report.take_failure().unwrap();
    assert!(err.is_panic());
    assert_eq!(err.child_name(), Some("bad"));
    let payload = err.into_panic();
    let resumed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        std::panic::resume_unwind(payload)
    }))
    .unwrap_err();
    assert_eq!(*resumed.downcast::<u64>().unwrap(), 1234);
}

#[tokio::test]
async fn cancellation_and_abort_are_outcomes_not_failures() {
    let nursery: Nursery = Nursery::new();
    let token = nursery.token().clone();
    nursery
        .spawn(async move { token.cancelled().await })
        .unwrap();
    nursery.cancel();
    let report = nursery.close().await;
    assert_eq!(report.outcome(), Outcome::Cancelled);
    assert_eq!(report.stats().failed, 0);
    assert_eq!(report.stats().cancelled, 1);

    let nursery: Nursery = Nursery::new();
    nursery.spawn(std::future::pending::<()>()).unwrap();
    nursery.abort_all();
    let report = nursery.close().await;
    assert_eq!(report.outcome(), Outcome::Completed);
    assert_eq!((report.stats().failed, report.stats().aborted), (0, 1));
}

#[tokio::test]
async fn a_panicking_failure_handler_loses_nothing() {
    let nursery: Nursery<(), Boom> = Nursery::builder()
        .policy(Policy::Supervise)
        .on_failure(|_| panic!("handler bug"))
        .build()
        .unwrap();
    nursery.spawn(async { Err(Boom(3)) }).unwrap();
    nursery.spawn(async { Ok(()) }).unwrap();
    let report = nursery.close().await;
    assert_eq!(report.stats().failed, 1);
    assert_eq!(report.stats().completed, 1);
    assert_eq!(
        report.take_failure().unwrap().into_error().unwrap(),
        Boom(3)
    );
}

struct PanicOnDrop;
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("drop bug");
    }
}

#[tokio::test]
async fn a_panic_in_a_childs_drop_is_a_failure_and_loses_nothing() {
    let nursery: Nursery = Nursery::builder()
        .policy(Policy::Supervise)
        .build()
        .unwrap();
    nursery
        .spawn(async {
            let _bomb = PanicOnDrop;
        })
        .unwrap();
    nursery.spawn(async {}).unwrap();
    let report = nursery.close().await;
    assert_eq!(report.stats().failed, 1);
    assert_eq!(report.stats().completed, 1);
    assert!(report.failure().unwrap().is_panic());
}

#[tokio::test]
async fn every_close_sees_the_same_failure() {
    let nursery: Nursery<(), Boom> = Nursery::new();
    nursery.spawn(async { Err(Boom(9)) }).unwrap();
    let a = nursery.close().await;
    let b = nursery.close().await;
    assert!(a.failure().is_some() && b.failure().is_some());
    assert_eq!(b.take_failure().unwrap().into_error().unwrap(), Boom(9));
    // Taken once; every report still says what it was.
    assert!(a.take_failure().is_none());
    assert!(!a.failure().unwrap().is_panic());
}
