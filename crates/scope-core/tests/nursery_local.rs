//! C14: `!Send` children through `spawn_local` on a `LocalSet`, under the
//! same rules as any child: accounting, policies, limits, cancel, abort,
//! joins and close.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use scope_core::{ChildEnd, Nursery, Policy};
use tokio::task::LocalSet;

#[tokio::test]
async fn a_local_child_runs_on_the_local_set_and_is_joined() {
    let mut nursery: Nursery<usize, &str> = Nursery::new();
    let local = LocalSet::new();
    local
        .run_until(async {
            let shared = Rc::new(RefCell::new(vec![1, 2, 3]));
            let s = shared.clone();
            let handle = nursery
                .spawn_local(async move {
                    tokio::task::yield_now().await;
                    s.borrow_mut().push(4);
                    Ok(s.borrow().len())
                })
                .unwrap();
            let (id, end) = nursery.join_next_with_id().await.unwrap();
            assert_eq!(id, handle.id());
            assert!(matches!(end, ChildEnd::Returned(4)));
            assert_eq!(*shared.borrow(), [1, 2, 3, 4]);
        })
        .await;
    assert_eq!(nursery.close().await.stats().completed, 1);
}

#[tokio::test]
async fn local_children_wait_for_running_slots_in_fifo_order() {
    let nursery: Nursery = Nursery::builder().max_running(1).build().unwrap();
    let local = LocalSet::new();
    let order = Rc::new(RefCell::new(Vec::new()));
    local
        .run_until(async {
            for i in 0..5 {
                let order = order.clone();
                nursery
                    .spawn_local(async move {
                        order.borrow_mut().push(i);
                        tokio::task::yield_now().await;
                    })
                    .unwrap();
            }
            assert_eq!(nursery.stats().live, 5);
            assert_eq!(nursery.close().await.stats().completed, 5);
        })
        .await;
    assert_eq!(*order.borrow(), [0, 1, 2, 3, 4]);
}

#[tokio::test]
async fn a_local_failure_cancels_a_fail_fast_nursery() {
    let nursery: Nursery<(), &str> = Nursery::new();
    let local = LocalSet::new();
    let report = local
        .run_until(async {
            let token = nursery.token().clone();
            let cell = Rc::new(Cell::new(false));
            let c = cell.clone();
            nursery
                .spawn_local(async move {
                    token.cancelled().await;
                    c.set(true);
                    Ok(())
                })
                .unwrap();
            nursery.spawn_local(async { Err("local failure") }).unwrap();
            let report = nursery.close().await;
            assert!(cell.get(), "the sibling saw the cancel");
            report
        })
        .await;
    assert_eq!((report.stats().failed, report.stats().cancelled), (1, 1));
    assert_eq!(
        report.take_failure().unwrap().into_error().unwrap(),
        "local failure"
    );
}

#[tokio::test]
async fn cancel_drops_waiting_local_children_and_abort_ends_running_ones() {
    let nursery: Nursery = Nursery::builder().max_running(1).build().unwrap();
    let local = LocalSet::new();
    local
        .run_until(async {
            let ran = Rc::new(Cell::new(0));
            nursery.spawn_local(std::future::pending::<()>()).unwrap();
            for _ in 0..3 {
                let ran = ran.clone();
                nursery
                    .spawn_local(async move { ran.set(ran.get() + 1) })
                    .unwrap();
            }
            nursery.cancel();
            nursery.abort_all();
            let report = nursery.close().await;
            assert_eq!(ran.get(), 0);
            assert_eq!((report.stats().cancelled, report.stats().aborted), (3, 1));
        })
        .await;
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_ends_local_children_in_its_phases() {
    let nursery: Nursery<(), &str> = Nursery::builder()
        .policy(Policy::Supervise)
        .build()
        .unwrap();
    let local = LocalSet::new();
    let report = local
        .run_until(async {
            let token = nursery.token().clone();
            let rc = Rc::new(());
            let r = rc.clone();
            nursery
                .spawn_local(async move {
                    let _keep = r;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok(())
                })
                .unwrap();
            nursery
                .spawn_local(async move {
                    token.cancelled().await;
                    Ok(())
                })
                .unwrap();
            nursery
                .spawn_local(std::future::pending::<Result<(), &str>>())
                .unwrap();
            nursery.shutdown(Duration::from_secs(4)).await
        })
        .await;
    assert!(report.is_final());
    assert_eq!(report.ended_in_drain(), 1);
    assert_eq!(report.ended_after_cancel(), 1);
    assert_eq!(report.stats().aborted, 1);
}

#[tokio::test]
async fn spawn_local_outside_a_local_set_panics_and_leaves_the_count_straight() {
    let nursery: Nursery = Nursery::new();
    let spawner = nursery.spawner();
    let dropped = Rc::new(Cell::new(false));
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let flag = Flag(dropped.clone());
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        spawner.spawn_local(async move {
            let _flag = flag;
        })
    }));
    assert!(panicked.is_err());
    assert!(dropped.get(), "the future was dropped unpolled");
    let report = nursery.close().await;
    assert_eq!((report.stats().spawned, report.stats().refused), (0, 1));
}
