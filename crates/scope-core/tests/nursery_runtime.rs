//! C12 runtime flavours, paused time, and a runtime that has shut down.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use scope_core::Nursery;

fn exercise(rt: &tokio::runtime::Runtime) {
    rt.block_on(async {
        let nursery: Nursery<u64, std::io::Error> = Nursery::new();
        let spawner = nursery.spawner();
        for i in 0..100u64 {
            let spawner = spawner.clone();
            nursery
                .spawn(async move {
                    spawner.spawn(async move { Ok(i) }).unwrap();
                    Ok(i)
                })
                .unwrap();
        }
        let mut nursery = nursery;
        let mut sum = 0;
        while let Some(v) = nursery.join_next().await {
            sum += v;
        }
        let report = nursery.close().await;
        // join_next may end before late grandchildren; close collects the rest.
        while let Some(v) = nursery.try_join_next() {
            sum += v;
        }
        assert_eq!(sum, 2 * (0..100).sum::<u64>());
        assert_eq!(report.stats().completed, 200);
    });
}

#[test]
fn works_on_the_current_thread_runtime() {
    exercise(
        &tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap(),
    );
}

#[test]
fn works_on_the_multi_thread_runtime() {
    exercise(
        &tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap(),
    );
}

#[tokio::test(start_paused = true)]
async fn works_with_paused_time() {
    let nursery: Nursery = Nursery::new();
    let start = tokio::time::Instant::now();
    nursery
        .spawn(tokio::time::sleep(Duration::from_secs(3600)))
        .unwrap();
    nursery.close().await;
    assert_eq!(start.elapsed(), Duration::from_secs(3600));
}

#[test]
fn spawning_after_the_runtime_shut_down_is_an_error_with_the_future_back() {
    for multi in [false, true] {
        let rt = if multi {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .build()
                .unwrap()
        } else {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
        };
        let nursery: Nursery = Nursery::builder()
            .handle(rt.handle().clone())
            .build()
            .unwrap();
        drop(rt);
        let polled = Arc::new(AtomicBool::new(false));
        let p = polled.clone();
        let err = nursery
            .spawn(async move {
                p.store(true, Ordering::SeqCst);
            })
            .unwrap_err();
        assert!(err.is_runtime_shutdown(), "multi={multi}: {err}");
        assert!(!polled.load(Ordering::SeqCst));
        // The future is whole: it runs elsewhere.
        futures_lite_block_on(err.into_inner());
        assert!(polled.load(Ordering::SeqCst));
        let stats = nursery.stats();
        assert_eq!((stats.spawned, stats.refused, stats.live), (0, 1, 0));
        // Blocking children likewise.
        let err = nursery.spawn_blocking(|| ()).unwrap_err();
        assert!(err.is_runtime_shutdown());
    }
}

fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}
