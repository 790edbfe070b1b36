//! C10 limits: running (queue) and held (refuse).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use scope_core::Nursery;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_limit_is_never_exceeded() {
    let nursery: Nursery = Nursery::builder().max_running(3).build().unwrap();
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    for _ in 0..200 {
        let (now, peak) = (now.clone(), peak.clone());
        nursery
            .spawn(async move {
                let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(running, Ordering::SeqCst);
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
                now.fetch_sub(1, Ordering::SeqCst);
            })
            .unwrap();
    }
    let report = nursery.close().await;
    assert_eq!(report.stats().completed, 200);
    assert!(
        peak.load(Ordering::SeqCst) <= 3,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
    assert_eq!(
        peak.load(Ordering::SeqCst),
        3,
        "the limit is used, not just respected"
    );
}

#[tokio::test]
async fn queued_children_start_in_fifo_order() {
    let nursery: Nursery = Nursery::builder().max_running(1).build().unwrap();
    let order = Arc::new(log::Log::default());
    for i in 0..10 {
        let order = order.clone();
        nursery.spawn(async move { order.push(i) }).unwrap();
    }
    nursery.close().await;
    assert_eq!(order.take(), (0..10).collect::<Vec<_>>());
}

mod log {
    #[derive(Default)]
    pub(crate) struct Log(std::sync::Mutex<Vec<u32>>);
    impl Log {
        pub(crate) fn push(&self, v: u32) {
            self.0.lock().unwrap().push(v);
        }
        pub(crate) fn take(&self) -> Vec<u32> {
            std::mem::take(&mut self.0.lock().unwrap())
        }
    }
}

#[tokio::test]
async fn try_spawn_refuses_when_no_slot_is_free_and_hands_the_future_back() {
    let nursery: Nursery<u8, std::io::Error> = Nursery::builder().max_running(1).build().unwrap();
    let gate = Arc::new(tokio::sync::Notify::new());
    let g = gate.clone();
    nursery
        .spawn(async move {
            g.notified().await;
            Ok(1)
        })
        .unwrap();
    let err = nursery.try_spawn(async { Ok(2) }).unwrap_err();
    assert!(err.is_full());
    assert_eq!(err.into_inner().await.unwrap(), 2);
    // spawn queues instead.
    nursery.spawn(async { Ok(3) }).unwrap();
    assert_eq!(nursery.stats().live, 2);
    gate.notify_one();
    let report = nursery.close().await;
    assert_eq!(report.stats().completed, 2);
    assert_eq!(report.stats().refused, 1);
}

#[tokio::test]
async fn the_held_limit_turns_further_spawns_into_an_error() {
    let nursery: Nursery = Nursery::builder().max_held(2).build().unwrap();
    nursery.spawn(std::future::pending::<()>()).unwrap();
    nursery.spawn(std::future::pending::<()>()).unwrap();
    let err = nursery.spawn(async {}).unwrap_err();
    assert!(err.is_full());
    nursery.abort_all();
    let report = nursery.close().await;
    assert_eq!(report.stats().aborted, 2);
    assert_eq!(report.stats().refused, 1);
}

#[tokio::test]
async fn zero_limits_are_refused_with_a_clear_error() {
    let err = Nursery::<(), std::io::Error>::builder()
        .max_running(0)
        .build()
        .unwrap_err();
    assert!(err.is_zero_limit());
    assert!(err.to_string().contains("at least 1"));
    let err = Nursery::<(), std::io::Error>::builder()
        .max_held(0)
        .build()
        .unwrap_err();
    assert!(err.is_zero_limit());
}

#[tokio::test]
async fn cancel_drops_queued_children_as_cancelled() {
    let nursery: Nursery = Nursery::builder().max_running(1).build().unwrap();
    let token = nursery.token().clone();
    nursery
        .spawn(async move { token.cancelled().await })
        .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..5 {
        let ran = ran.clone();
        nursery
            .spawn(async move {
                ran.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
    }
    nursery.cancel();
    let report = nursery.close().await;
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(report.stats().cancelled, 6);
}

#[tokio::test]
async fn abort_drops_queued_children_as_aborted() {
    let nursery: Nursery = Nursery::builder().max_running(1).build().unwrap();
    for _ in 0..4 {
        nursery.spawn(std::future::pending::<()>()).unwrap();
    }
    nursery.abort_all();
    let report = nursery.close().await;
    assert_eq!(report.stats().aborted, 4);
}
