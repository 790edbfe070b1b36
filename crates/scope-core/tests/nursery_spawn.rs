//! C1 ownership and C2 shared spawning.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use scope_core::{Nursery, Spawner};

#[tokio::test]
async fn refused_future_is_returned_unpolled() {
    let nursery: Nursery = Nursery::new();
    nursery.close().await;
    let polled = Arc::new(AtomicBool::new(false));
    let p = polled.clone();
    let err = nursery
        .spawn(async move {
            p.store(true, Ordering::SeqCst);
        })
        .unwrap_err();
    assert!(err.is_closed());
    assert!(
        !polled.load(Ordering::SeqCst),
        "refused future must not be polled"
    );
    // The future is intact: running it now does its work.
    err.into_inner().await;
    assert!(polled.load(Ordering::SeqCst));
    assert_eq!(nursery.stats().refused, 1);
    assert_eq!(nursery.stats().spawned, 0);
}

#[tokio::test]
async fn every_accepted_child_runs_and_is_counted() {
    let nursery: Nursery = Nursery::new();
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..100 {
        let ran = ran.clone();
        nursery
            .spawn(async move {
                tokio::task::yield_now().await;
                ran.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
    }
    let report = nursery.close().await;
    assert_eq!(ran.load(Ordering::SeqCst), 100);
    assert_eq!(report.stats().spawned, 100);
    assert_eq!(report.stats().completed, 100);
    assert_eq!(report.stats().live, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawning_from_a_plain_std_thread_works() {
    let nursery: Nursery = Nursery::new();
    let spawner = nursery.spawner();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    std::thread::spawn(move || {
        for _ in 0..10 {
            let r = r.clone();
            spawner
                .spawn(async move {
                    r.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap();
        }
    })
    .join()
    .unwrap();
    let report = nursery.close().await;
    assert_eq!(ran.load(Ordering::SeqCst), 10);
    assert_eq!(report.stats().completed, 10);
}

#[test]
fn spawning_from_sync_code_outside_the_runtime_uses_the_saved_handle() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let nursery: Nursery<u32, std::io::Error> = Nursery::builder()
        .handle(rt.handle().clone())
        .build()
        .unwrap();
    // No runtime context on this thread: the nursery's own handle is used.
    assert!(tokio::runtime::Handle::try_current().is_err());
    nursery.spawn(async { Ok(41) }).unwrap();
    let mut nursery = nursery;
    let out = rt.block_on(async { nursery.join_next().await });
    assert_eq!(out, Some(41));
    rt.block_on(nursery.close());
}

#[tokio::test]
async fn spawner_spawns_from_inside_a_child() {
    let nursery: Nursery = Nursery::new();
    let spawner = nursery.spawner();
    let inner_ran = Arc::new(AtomicBool::new(false));
    let flag = inner_ran.clone();
    nursery
        .spawn(async move {
            let flag = flag.clone();
            spawner
                .spawn(async move {
                    flag.store(true, Ordering::SeqCst);
                })
                .unwrap();
        })
        .unwrap();
    let report = nursery.close().await;
    assert!(inner_ran.load(Ordering::SeqCst));
    assert_eq!(report.stats().completed, 2);
}

#[tokio::test]
async fn spawner_does_not_keep_the_nursery_open() {
    let nursery: Nursery = Nursery::new();
    let spawner: Spawner = nursery.spawner();
    let weak_probe = Arc::new(());
    let probe = weak_probe.clone();
    nursery
        .spawn(async move {
            let _keep = probe;
            std::future::pending::<()>().await;
        })
        .unwrap();
    drop(nursery);
    // The owner's drop ended the nursery although a spawner is alive ...
    assert!(spawner.is_closing());
    assert!(spawner.spawn(async {}).unwrap_err().is_cancelled());
    // ... and the aborted child released what it held (no cycle through the
    // spawner keeps it alive).
    spawner.closed().await;
    assert_eq!(Arc::strong_count(&weak_probe), 1);
}

#[test]
fn spawner_is_clone_send_sync() {
    fn check<S: Clone + Send + Sync + 'static>() {}
    check::<Spawner>();
    check::<Spawner<u64, std::io::Error>>();
    fn send_sync<S: Send + Sync>() {}
    send_sync::<Nursery>();
}

/// Children each racing thread spawns: under Miri, which runs a thread's
/// spawn a hundred times slower, a few, still enough for the threads to
/// meet at a set's lock.
const EACH: usize = if cfg!(miri) { 50 } else { 5_000 };

/// Threads spawning at once spread the tasks over more than one set inside
/// the nursery: an abort, a cancel and the close still reach every child.
#[test]
fn children_spawned_from_racing_threads_are_all_aborted_and_drained() {
    const THREADS: usize = 4;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let nursery: Nursery = rt.block_on(async { Nursery::new() });
    let start = Arc::new(std::sync::Barrier::new(THREADS));
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            let (spawner, start, handle) = (nursery.spawner(), start.clone(), rt.handle());
            s.spawn(move || {
                let _in = handle.enter();
                start.wait();
                for _ in 0..EACH {
                    spawner.spawn(std::future::pending::<()>()).unwrap();
                }
            });
        }
    });
    nursery.abort_all();
    let report = rt.block_on(nursery.close());
    assert_eq!(report.stats().spawned, (THREADS * EACH) as u64);
    assert_eq!(report.stats().aborted, (THREADS * EACH) as u64);
}

/// The same for children that end by themselves: the close waits for all
/// of them.
#[test]
fn children_spawned_from_racing_threads_all_finish_before_close_returns() {
    const THREADS: usize = 4;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let nursery: Nursery = rt.block_on(async { Nursery::new() });
    let ran = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(std::sync::Barrier::new(THREADS));
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            let (spawner, start, handle) = (nursery.spawner(), start.clone(), rt.handle());
            let ran = ran.clone();
            s.spawn(move || {
                let _in = handle.enter();
                start.wait();
                for _ in 0..EACH {
                    let ran = ran.clone();
                    spawner
                        .spawn(async move {
                            tokio::task::yield_now().await;
                            ran.fetch_add(1, Ordering::Relaxed);
                        })
                        .unwrap();
                }
            });
        }
    });
    let report = rt.block_on(nursery.close());
    assert_eq!(report.stats().completed, (THREADS * EACH) as u64);
    assert_eq!(ran.load(Ordering::Relaxed), THREADS * EACH);
}

/// `ChildOutput` for `!`: a loop that never returns is a child of a nursery
/// of any output type (under edition 2024 its block's output is `!`).
#[tokio::test]
async fn a_child_that_never_returns_fits_a_nursery_of_any_output() {
    let nursery: Nursery<u32, std::io::Error> = Nursery::new();
    nursery
        .spawn(async {
            loop {
                tokio::task::yield_now().await;
            }
        })
        .unwrap();
    nursery.spawn(async { Ok(7) }).unwrap();
    tokio::task::yield_now().await;
    let report = nursery.shutdown(std::time::Duration::ZERO).await;
    assert_eq!((report.stats().completed, report.stats().aborted), (1, 1));
}
