//! C13: joining. Each child's end in completion order with its task id,
//! failures included, beside the policy and the report; outputs as a
//! `Stream`; tokio's cooperative budget; and no user code (a replaced
//! waker's drop included) under the nursery's locks.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use futures_util::StreamExt;
use scope_core::{ChildEnd, Nursery, Policy, Spawner};
use tokio::sync::oneshot;

#[tokio::test]
async fn ends_come_in_completion_order_with_ids_and_failures_included() {
    let mut nursery: Nursery<u32, &str> = Nursery::builder()
        .policy(Policy::Supervise)
        .max_running(3)
        .build()
        .unwrap();
    let (a_tx, a_rx) = oneshot::channel::<()>();
    let (b_tx, b_rx) = oneshot::channel::<()>();
    let (c_tx, c_rx) = oneshot::channel::<()>();
    let a = nursery
        .spawn(async move {
            let _ = a_rx.await;
            Ok(1)
        })
        .unwrap();
    let b = nursery
        .spawn(async move {
            let _ = b_rx.await;
            Err("b failed")
        })
        .unwrap();
    let c = nursery
        .spawn(async move {
            let _ = c_rx.await;
            if true {
                panic!("c panicked");
            }
            Ok(3)
        })
        .unwrap();
    let waiting = nursery.spawn(async { Ok(4) }).unwrap(); // behind the limit
    waiting.abort();
    tokio::task::yield_now().await; // the runtime runs the abort
    c_tx.send(()).unwrap();
    let mut ends = Vec::new();
    ends.push(nursery.join_next_with_id().await.unwrap());
    b_tx.send(()).unwrap();
    ends.push(nursery.join_next_with_id().await.unwrap());
    a_tx.send(()).unwrap();
    ends.push(nursery.join_next_with_id().await.unwrap());
    ends.push(nursery.join_next_with_id().await.unwrap());
    assert!(nursery.join_next_with_id().await.is_none());

    let ids: Vec<_> = ends.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, [waiting.id(), c.id(), b.id(), a.id()]);
    let mut ends = ends.into_iter().map(|(_, end)| end);
    assert!(matches!(ends.next(), Some(ChildEnd::Aborted)));
    match ends.next() {
        Some(ChildEnd::Failed(f)) => {
            assert!(f.is_panic());
            let payload = f.take().unwrap().into_panic();
            assert_eq!(*payload.downcast::<&str>().unwrap(), "c panicked");
        }
        other => panic!("{other:?}"),
    }
    match ends.next() {
        Some(ChildEnd::Failed(f)) => {
            assert_eq!(f.take().unwrap().into_error().unwrap(), "b failed")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(ends.next(), Some(ChildEnd::Returned(1))));

    let report = nursery.close().await;
    let stats = report.stats();
    assert_eq!((stats.completed, stats.failed, stats.aborted), (1, 2, 1));
    // The report's first failure is the one joined first, payload taken.
    assert!(report.failure().unwrap().is_panic());
    assert!(report.take_failure().is_none());
}

#[tokio::test]
async fn the_first_failure_is_one_failure_shared_by_the_joiner_and_the_report() {
    // Fail-fast still cancels, and whoever takes the payload first gets it.
    let mut nursery: Nursery<u32, &str> = Nursery::new();
    let token = nursery.token().clone();
    nursery
        .spawn(async move {
            token.cancelled().await;
            Ok(0)
        })
        .unwrap();
    nursery.spawn(async { Err("first") }).unwrap();
    // Outcomes outlive the close.
    let report = nursery.close().await;
    assert!(nursery.is_cancelled(), "fail-fast cancelled the sibling");
    assert_eq!(
        report.take_failure().unwrap().into_error().unwrap(),
        "first"
    );
    let mut failures = 0;
    while let Some((_, end)) = nursery.join_next_with_id().await {
        if let ChildEnd::Failed(f) = end {
            failures += 1;
            assert!(!f.is_panic());
            assert!(f.take().is_none(), "the report took the payload first");
        }
    }
    assert_eq!(failures, 1);
    assert_eq!(report.stats().cancelled, 1);
}

#[tokio::test]
async fn a_nursery_of_unit_children_keeps_nothing_unless_asked() {
    let mut plain: Nursery = Nursery::new();
    plain.spawn(async {}).unwrap();
    plain.idle().await;
    assert_eq!(plain.ready_count(), 0);
    assert!(plain.join_next_with_id().await.is_none());
    assert!(plain.join_next().await.is_none());

    let mut kept: Nursery = Nursery::builder().keep_outcomes(true).build().unwrap();
    let handle = kept.spawn(async {}).unwrap();
    kept.idle().await;
    assert_eq!(kept.ready_count(), 1);
    let (id, end) = kept.join_next_with_id().await.unwrap();
    assert_eq!(id, handle.id());
    assert!(matches!(end, ChildEnd::Returned(())));
}

/// A `JoinSet<Result<(), E>>` loop moved to a nursery of `()` children:
/// the joins hand out nothing (no end is kept), but they wait for the
/// children, so the loop ends when the work has, not at once. The `Stream`
/// ends at the same point, and the report still has the failure.
#[tokio::test]
async fn a_join_in_a_nursery_that_keeps_nothing_waits_for_every_child() {
    let mut nursery: Nursery<(), &str> = Nursery::builder()
        .policy(Policy::Supervise)
        .build()
        .unwrap();
    let (fail_tx, fail_rx) = oneshot::channel::<()>();
    let (ok_tx, ok_rx) = oneshot::channel::<()>();
    nursery
        .spawn(async move {
            let _ = fail_rx.await;
            Err("lost?")
        })
        .unwrap();
    nursery
        .spawn(async move {
            let _ = ok_rx.await;
            Ok(())
        })
        .unwrap();

    let spawner = nursery.spawner();
    {
        let mut join = pin!(nursery.join_next_with_id());
        assert!(futures_util::FutureExt::now_or_never(&mut join).is_none());
        fail_tx.send(()).unwrap();
        tokio::task::yield_now().await;
        assert_eq!(spawner.stats().failed, 1);
        assert!(
            futures_util::FutureExt::now_or_never(&mut join).is_none(),
            "the join ended with a child live"
        );
        ok_tx.send(()).unwrap();
        assert!(join.await.is_none());
    }
    assert_eq!(nursery.stats().live, 0);

    // Waiting on another thread's end, through the `Stream`.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    nursery.spawn_blocking(move || rx.recv().unwrap()).unwrap();
    let releaser = std::thread::spawn(move || tx.send(()).unwrap());
    assert_eq!(nursery.next().await, None);
    assert_eq!(nursery.stats().live, 0);
    releaser.join().unwrap();

    let report = nursery.close().await;
    assert_eq!(
        report.take_failure().unwrap().into_error().unwrap(),
        "lost?"
    );
    assert_eq!(report.stats().completed, 2);
}

/// The same for a zero-sized output that is not `()`.
#[tokio::test]
async fn a_join_of_zero_sized_outputs_waits_for_the_children() {
    #[derive(Debug, PartialEq)]
    struct Done;
    let mut nursery: Nursery<Done, &str> = Nursery::new();
    let (tx, rx) = oneshot::channel::<()>();
    nursery
        .spawn(async move {
            let _ = rx.await;
            Ok(Done)
        })
        .unwrap();
    {
        let mut join = pin!(nursery.join_next());
        assert!(futures_util::FutureExt::now_or_never(&mut join).is_none());
        tx.send(()).unwrap();
        assert_eq!(join.await, None);
    }
    assert_eq!(nursery.stats().live, 0);
}

#[tokio::test]
async fn a_nursery_with_outputs_can_be_told_to_keep_none() {
    let mut nursery: Nursery<u32, &str> = Nursery::builder().keep_outcomes(false).build().unwrap();
    nursery.spawn(async { Ok(1) }).unwrap();
    nursery.idle().await;
    assert_eq!(nursery.ready_count(), 0);
    assert!(nursery.join_next().await.is_none());
    assert_eq!(nursery.close().await.stats().completed, 1);
}

#[tokio::test]
async fn a_join_waits_for_the_live_children_and_ends_when_none_is_left() {
    let mut nursery: Nursery<u32, &str> = Nursery::builder()
        .policy(Policy::Supervise)
        .build()
        .unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    nursery
        .spawn(async move {
            let _ = rx.await;
            Err("no output")
        })
        .unwrap();
    let mut join = pin!(nursery.join_next());
    assert!(futures_util::FutureExt::now_or_never(&mut join).is_none());
    tx.send(()).unwrap();
    // The only child failed: nothing to hand out, and no child left.
    assert_eq!(join.await, None);
}

#[tokio::test]
async fn ready_count_counts_the_ends_waiting_to_be_joined() {
    let mut nursery: Nursery<u32, &str> = Nursery::builder()
        .policy(Policy::Supervise)
        .build()
        .unwrap();
    nursery.spawn(async { Ok(1) }).unwrap();
    nursery.spawn(async { Err("x") }).unwrap();
    assert_eq!(nursery.ready_count(), 0);
    nursery.idle().await;
    assert_eq!(nursery.ready_count(), 2);
    assert_eq!(nursery.join_next().await, Some(1));
    assert_eq!(nursery.ready_count(), 1);
    assert_eq!(nursery.join_next().await, None, "a failure has no output");
    assert_eq!(nursery.ready_count(), 0);
}

/// The synchronous join hands out every end ready now, in completion order
/// with its id (an abort and a failure included), and waits for nothing.
#[tokio::test]
async fn try_join_next_with_id_takes_each_end_ready_now_without_waiting() {
    let mut nursery: Nursery<u32, &str> = Nursery::builder()
        .policy(Policy::Supervise)
        .build()
        .unwrap();
    let (release, held) = oneshot::channel::<()>();
    let ok = nursery.spawn(async { Ok(1) }).unwrap();
    let bad = nursery.spawn(async { Err("x") }).unwrap();
    let aborted = nursery
        .spawn(std::future::pending::<Result<u32, &str>>())
        .unwrap();
    let late = nursery
        .spawn(async move {
            held.await.unwrap();
            Ok(4)
        })
        .unwrap();
    assert!(nursery.try_join_next_with_id().is_none(), "nothing has run");
    aborted.abort();
    while nursery.ready_count() < 3 {
        tokio::task::yield_now().await;
    }

    let mut ends = Vec::new();
    while let Some((id, end)) = nursery.try_join_next_with_id() {
        ends.push((id, end));
    }
    let ids: Vec<_> = ends.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, [ok.id(), bad.id(), aborted.id()]);
    assert!(matches!(ends[0].1, ChildEnd::Returned(1)));
    assert!(matches!(ends[1].1, ChildEnd::Failed(_)));
    assert!(matches!(ends[2].1, ChildEnd::Aborted));
    assert_eq!(nursery.stats().live, 1, "the held child is not waited for");

    release.send(()).unwrap();
    nursery.idle().await;
    let (id, end) = nursery.try_join_next_with_id().unwrap();
    assert_eq!(id, late.id());
    assert!(matches!(end, ChildEnd::Returned(4)));
    assert!(nursery.try_join_next_with_id().is_none());
}

#[tokio::test]
async fn outputs_are_a_stream_in_completion_order() {
    let mut nursery: Nursery<u32, &str> = Nursery::new();
    let (tx, rx) = oneshot::channel::<()>();
    nursery
        .spawn(async move {
            let _ = rx.await;
            Ok(1)
        })
        .unwrap();
    nursery.spawn(async { Ok(2) }).unwrap();
    let first = nursery.next().await;
    tx.send(()).unwrap();
    let rest: Vec<u32> = (&mut nursery).collect().await;
    assert_eq!((first, rest), (Some(2), vec![1]));
}

#[tokio::test]
async fn nothing_is_kept_once_the_owner_is_gone() {
    struct Output(Arc<AtomicBool>);
    impl Drop for Output {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let nursery: Nursery<Output, &str> = Nursery::new();
    let spawner = nursery.spawner();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let (tx, rx) = oneshot::channel::<()>();
    nursery
        .spawn(async move {
            let _ = rx.await;
            Ok(Output(flag))
        })
        .unwrap();
    nursery.detach();
    tx.send(()).unwrap();
    spawner.closed().await;
    assert!(
        dropped.load(Ordering::SeqCst),
        "an output nobody can join is dropped at once"
    );
}

#[test]
#[cfg_attr(miri, ignore = "10,000 children take minutes under Miri")]
fn a_yielding_task_runs_during_a_10_000_output_join_loop() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut nursery: Nursery<usize, &str> = Nursery::new();
        for i in 0..10_000 {
            nursery.spawn(async move { Ok(i) }).unwrap();
        }
        nursery.idle().await;
        assert_eq!(nursery.ready_count(), 10_000);
        let ticks = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (t, s) = (ticks.clone(), stop.clone());
        let yielder = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                t.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        });
        tokio::task::yield_now().await; // the yielder is running
        let before = ticks.load(Ordering::Relaxed);
        let mut sum = 0;
        // Every output is ready: without the budget this loop never yields.
        while let Some(v) = nursery.join_next().await {
            sum += v;
        }
        let during = ticks.load(Ordering::Relaxed) - before;
        stop.store(true, Ordering::Relaxed);
        yielder.await.unwrap();
        assert_eq!(sum, (0..10_000).sum::<usize>());
        // tokio's budget is 128 units a turn: about 78 turns for 10,000.
        assert!(
            during >= 10_000 / 128 / 2,
            "the yielding task ran {during} times"
        );
    });
}

/// A waker whose last drop runs `on_drop`.
struct DropHook(Option<Box<dyn FnOnce() + Send + Sync>>);

impl Wake for DropHook {
    fn wake(self: Arc<Self>) {}
}

impl Drop for DropHook {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

fn hook(f: impl FnOnce() + Send + Sync + 'static) -> Waker {
    Waker::from(Arc::new(DropHook(Some(Box::new(f)))))
}

/// Polls `join` with a waker whose drop runs `on_drop`, then with another,
/// which replaces it; `on_drop` runs inside that second poll. A deadlock ends
/// the test process with a message (unwinding would hang in the runtime's
/// shutdown, which needs the lock the stuck thread holds).
fn replace_the_joiners_waker<T, E>(
    mut nursery: Nursery<T, E>,
    on_drop: impl FnOnce() + Send + Sync + 'static,
) -> Nursery<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    let (done_tx, done) = mpsc::channel();
    let (ran_tx, ran) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        {
            let mut join = pin!(nursery.join_next_with_id());
            let first = hook(move || {
                on_drop();
                ran_tx.send(()).unwrap();
            });
            assert!(
                join.as_mut()
                    .poll(&mut Context::from_waker(&first))
                    .is_pending()
            );
            drop(first); // the nursery holds the last clone
            let second = Waker::noop();
            let _ = join.as_mut().poll(&mut Context::from_waker(second));
        }
        done_tx.send(nursery).unwrap();
    });
    let deadlocked = |what: &str| -> ! {
        eprintln!("deadlock: {what}");
        std::process::exit(101)
    };
    if ran.recv_timeout(Duration::from_secs(30)).is_err() {
        deadlocked("the replaced waker's drop did not return: it ran under a lock it needs");
    }
    let Ok(nursery) = done.recv_timeout(Duration::from_secs(30)) else {
        deadlocked("the poll that replaced the waker did not return");
    };
    worker.join().unwrap();
    nursery
}

#[test]
fn a_replaced_waker_whose_drop_spawns_into_the_nursery_runs_under_no_lock() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _rt = rt.enter();
    let nursery: Nursery<u32, &str> = Nursery::builder().max_running(1).build().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    nursery
        .spawn(async move {
            let _ = rx.await;
            Ok(1)
        })
        .unwrap();
    let spawner: Spawner<u32, &str> = nursery.spawner();
    let spawned = Arc::new(AtomicBool::new(false));
    let s = spawned.clone();
    let mut nursery = replace_the_joiners_waker(nursery, move || {
        // Queued behind the limit: takes the nursery's set and queue locks.
        spawner.spawn(async { Ok(2) }).unwrap();
        s.store(true, Ordering::SeqCst);
    });
    assert!(spawned.load(Ordering::SeqCst));
    tx.send(()).unwrap();
    let outputs: Vec<u32> = rt.block_on((&mut nursery).collect());
    assert_eq!(outputs, [1, 2]);
}

#[test]
fn a_replaced_waker_whose_drop_cancels_a_waiting_child_runs_under_no_lock() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _rt = rt.enter();
    let nursery: Nursery<u32, &str> = Nursery::builder().max_running(1).build().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let running = nursery
        .spawn(async move {
            let _ = rx.await;
            Ok(1)
        })
        .unwrap();
    let waiting = nursery.spawn(async { Ok(2) }).unwrap();
    let token = nursery.token().clone();
    let mut nursery = replace_the_joiners_waker(nursery, move || {
        // The cancel sweeps the running limit's queue on this thread, right
        // here (the queue's lock), and wakes the waiting child's task to
        // drop its future and count its end.
        token.cancel();
    });
    tx.send(()).unwrap();
    let mut ends = Vec::new();
    rt.block_on(async {
        while let Some((id, end)) = nursery.join_next_with_id().await {
            ends.push((id, end));
        }
    });
    assert_eq!(ends.len(), 2);
    assert!(
        ends.iter()
            .any(|end| matches!(end, (id, ChildEnd::Cancelled) if *id == waiting.id()))
    );
    assert!(
        ends.iter()
            .any(|end| matches!(end, (id, ChildEnd::Returned(1)) if *id == running.id()))
    );
    // It returned after the cancel: an output joined, counted as cancelled.
    assert_eq!(nursery.stats().cancelled, 2);
}
