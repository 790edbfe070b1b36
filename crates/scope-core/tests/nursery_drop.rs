//! C9 drop: cancel and abort, like a JoinSet.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use scope_core::Nursery;

struct SetOnDrop(Arc<AtomicBool>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn dropping_the_owner_aborts_the_children() {
    let nursery: Nursery = Nursery::new();
    let dropped = Arc::new(AtomicBool::new(false));
    let reached_end = Arc::new(AtomicBool::new(false));
    let (d, r) = (dropped.clone(), reached_end.clone());
    nursery
        .spawn(async move {
            let _guard = SetOnDrop(d);
            std::future::pending::<()>().await;
            r.store(true, Ordering::SeqCst);
        })
        .unwrap();
    tokio::task::yield_now().await;
    let spawner = nursery.spawner();
    let token = nursery.token().clone();
    drop(nursery);
    assert!(token.is_cancelled(), "drop cancels the token");
    let report = spawner.closed().await;
    assert!(
        dropped.load(Ordering::SeqCst),
        "the child's future was dropped"
    );
    assert!(!reached_end.load(Ordering::SeqCst));
    assert_eq!(report.stats().aborted, 1);
}

#[tokio::test]
async fn dropping_a_closed_nursery_does_nothing() {
    let nursery: Nursery = Nursery::new();
    nursery.spawn(async {}).unwrap();
    let token = nursery.token().clone();
    nursery.close().await;
    drop(nursery);
    assert!(!token.is_cancelled());
}

#[tokio::test]
async fn dropping_a_nested_owner_aborts_only_its_own_children() {
    let parent: Nursery = Nursery::new();
    let child: Nursery = parent.child_builder().build().unwrap();
    child.spawn(std::future::pending::<()>()).unwrap();
    let sibling_done = Arc::new(AtomicBool::new(false));
    let s = sibling_done.clone();
    parent
        .spawn(async move {
            tokio::task::yield_now().await;
            s.store(true, Ordering::SeqCst);
        })
        .unwrap();
    drop(child);
    let report = parent.close().await;
    assert!(sibling_done.load(Ordering::SeqCst));
    assert!(!parent.is_cancelled());
    assert_eq!(report.stats().spawned, 2);
    // The nested nursery ended cancelled (its drop cancels it), which is not a failure.
    assert_eq!(report.stats().failed, 0);
}
