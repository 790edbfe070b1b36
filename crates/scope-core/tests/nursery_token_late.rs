//! C7: a nursery's token is made when first needed (its holder asks for it,
//! a nested nursery's is made, a watch), and a token made at any time tells
//! the same story as the nursery's flag: made after a cancel, it is born
//! cancelled; made before, the cancel fires it; a cancel racing the making
//! on another thread never leaves it unfired. `poll_cancelled` waits for the
//! cancel without making a token.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};

use scope_core::{CancelReason, Nursery};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_token_asked_for_after_the_cancel_is_cancelled() {
    let root: Nursery = Nursery::new();
    let nested: Nursery = root.child_builder().build().unwrap();
    root.cancel();
    assert!(nested.token().is_cancelled());
    assert!(root.token().is_cancelled());
    assert_eq!(nested.cancel_reason(), Some(CancelReason::Parent));
}

#[tokio::test]
async fn a_nested_token_made_first_still_descends_from_its_parents() {
    let root: Nursery = Nursery::new();
    let nested: Nursery = root.child_builder().build().unwrap();
    let below = nested.token().clone();
    // The root's token was made to be the nested one's parent: cancelling
    // it directly reaches below.
    root.token().cancel();
    assert!(below.is_cancelled());
    assert!(nested.is_cancelled());
    assert_eq!(nested.cancel_reason(), Some(CancelReason::Parent));
    assert_eq!(root.cancel_reason(), Some(CancelReason::Requested));
}

#[tokio::test]
async fn a_token_parent_still_reaches_a_nursery_that_made_no_token_of_its_own() {
    let app = tokio_util::sync::CancellationToken::new();
    let root: Nursery = Nursery::builder().token_parent(&app).build().unwrap();
    let nested: Nursery = root.child_builder().build().unwrap();
    app.cancel();
    assert!(root.is_cancelled() && nested.is_cancelled());
    assert_eq!(root.cancel_reason(), Some(CancelReason::Parent));
}

#[tokio::test]
async fn poll_cancelled_is_woken_by_a_cancel_from_above() {
    let root: Nursery = Nursery::new();
    let nested: Nursery = root.child_builder().build().unwrap();
    let spawner = nested.spawner();
    let waiter = tokio::spawn(async move { poll_fn(|cx| spawner.poll_cancelled(cx)).await });
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());
    root.cancel();
    waiter.await.unwrap();
    nested.close().await;
    root.close().await;
}

#[tokio::test]
async fn poll_cancelled_is_woken_by_a_holder_cancelling_the_token() {
    let nursery: Nursery = Nursery::new();
    let token = nursery.token().clone();
    let spawner = nursery.spawner();
    let waiter = tokio::spawn(async move { poll_fn(|cx| spawner.poll_cancelled(cx)).await });
    tokio::task::yield_now().await;
    token.cancel();
    waiter.await.unwrap();
    nursery.close().await;
}

/// Counts its wake-ups.
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Rounds of the races, on two OS threads; `SCOPE_STRESS_ROUNDS` runs more.
fn rounds() -> usize {
    std::env::var("SCOPE_STRESS_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000)
}

#[test]
fn a_token_made_while_a_cancel_runs_on_another_thread_is_always_fired() {
    let rt = runtime();
    let _guard = rt.enter();
    for _ in 0..rounds() {
        let root: Nursery = Nursery::new();
        let middle: Nursery = root.child_builder().build().unwrap();
        let nested: Nursery = middle.child_builder().build().unwrap();
        let start = Arc::new(Barrier::new(2));
        let maker = {
            let spawner = nested.spawner();
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                let token = spawner.token().clone();
                // Nobody sees the token fired before the flags say so: not
                // even while the cancel's walk is still on its way down.
                if token.is_cancelled() {
                    assert!(
                        spawner.is_cancelled(),
                        "the token fired before the flag below was set"
                    );
                }
                token
            })
        };
        start.wait();
        root.cancel();
        let token = maker.join().unwrap();
        assert!(
            token.is_cancelled(),
            "a token made during the cancel was left unfired"
        );
    }
}

#[test]
fn poll_cancelled_racing_a_cancel_on_another_thread_is_never_left_asleep() {
    let rt = runtime();
    let _guard = rt.enter();
    for _ in 0..rounds() {
        let nursery: Nursery = Nursery::new();
        let start = Arc::new(Barrier::new(2));
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let ready = Arc::new(AtomicBool::new(false));
        let poller = {
            let spawner = nursery.spawner();
            let (start, count, ready) =
                (Arc::clone(&start), Arc::clone(&count), Arc::clone(&ready));
            std::thread::spawn(move || {
                let waker = Waker::from(count);
                start.wait();
                let polled = spawner.poll_cancelled(&mut Context::from_waker(&waker));
                ready.store(polled == Poll::Ready(()), Ordering::SeqCst);
            })
        };
        start.wait();
        nursery.cancel();
        poller.join().unwrap();
        assert!(
            ready.load(Ordering::SeqCst) || count.0.load(Ordering::SeqCst) > 0,
            "a poll that returned Pending was never woken by the cancel"
        );
    }
}
