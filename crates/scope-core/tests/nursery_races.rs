//! Races found by review, each pinned down deterministically: a subscriber
//! holds a spawner inside the window between its admission and its hand-off
//! (the child's span is created there), while the test runs the racing call.

#![cfg(feature = "tracing")]

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use scope_core::Nursery;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

thread_local!(static HELD: Cell<bool> = const { Cell::new(false) });

/// Parks a span creation on a `HELD` thread until the test releases it.
/// Installed once as the global subscriber (a scoped one may be bypassed by
/// callsite interest cached while other tests ran); each test registers its
/// own channels in `CHANNELS` under its thread's flag.
struct Gate;

type Channels = (mpsc::Sender<()>, mpsc::Receiver<()>);

thread_local!(static CHANNELS: std::cell::RefCell<Option<Channels>> = const { std::cell::RefCell::new(None) });

impl Subscriber for Gate {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        if HELD.with(Cell::get) {
            HELD.with(|h| h.set(false));
            CHANNELS.with(|c| {
                let (entered, go) = c.borrow_mut().take().unwrap();
                entered.send(()).unwrap();
                go.recv().unwrap();
            });
        }
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Returns (entered, go) for the test, and what the held thread installs.
fn gate() -> (mpsc::Receiver<()>, mpsc::Sender<()>, Channels) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| tracing::subscriber::set_global_default(Gate).unwrap());
    let (etx, erx) = mpsc::channel();
    let (gtx, grx) = mpsc::channel();
    (erx, gtx, (etx, grx))
}

/// Runs `f` on this thread with its next span creation held at the gate.
fn held<R>(channels: Channels, f: impl FnOnce() -> R) -> R {
    CHANNELS.with(|c| *c.borrow_mut() = Some(channels));
    HELD.with(|h| h.set(true));
    f()
}

struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawn_caught_mid_way_by_a_drop_is_refused_not_leaked() {
    let (entered, go, channels) = gate();
    let parent: Nursery = Nursery::new();
    let owner: Nursery = parent.child_builder().build().unwrap();
    let spawner = owner.spawner();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let t = std::thread::spawn(move || {
        held(channels, || {
            let r = spawner.spawn(async move {
                let _flag = flag;
                std::future::pending::<()>().await
            });
            r.map(drop).map_err(|e| e.is_cancelled())
        })
    });
    // The spawn is admitted and parked before its hand-off.
    tokio::task::spawn_blocking(move || entered.recv().unwrap())
        .await
        .unwrap();
    drop(owner); // cancel + close + abort: nothing in the set yet
    go.send(()).unwrap();
    let result = tokio::task::spawn_blocking(move || t.join().unwrap())
        .await
        .unwrap();
    assert_eq!(result, Err(true), "the late spawn is refused as cancelled");
    assert!(
        dropped.load(Ordering::SeqCst),
        "the refused future came back and was dropped"
    );
    let report = parent.close().await;
    assert_eq!(report.stats().live, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_grace_shutdown_racing_a_spawn_ends() {
    let (entered, go, channels) = gate();
    let nursery: Nursery = Nursery::new();
    let spawner = nursery.spawner();
    let t = std::thread::spawn(move || {
        held(channels, || {
            spawner.spawn(std::future::pending::<()>()).is_ok()
        })
    });
    tokio::task::spawn_blocking(move || entered.recv().unwrap())
        .await
        .unwrap();
    let nursery = Arc::new(nursery);
    let n = nursery.clone();
    let shutdown = tokio::spawn(async move { n.shutdown(Duration::ZERO).await });
    // The shutdown has cancelled and aborted, but cannot end while the
    // admitted spawn is mid-way; once it goes on, it sees the cancel and
    // undoes itself.
    nursery.token().cancelled().await;
    assert!(!shutdown.is_finished());
    go.send(()).unwrap();
    let report = shutdown.await.unwrap();
    assert!(
        !tokio::task::spawn_blocking(move || t.join().unwrap())
            .await
            .unwrap()
    );
    assert!(report.is_final());
    assert_eq!((report.stats().spawned, report.stats().refused), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_a_nested_nursery_its_owner_never_closes() {
    let parent: Nursery = Nursery::new();
    let child: Nursery = parent.child_builder().build().unwrap();
    child.spawn(std::future::pending::<()>()).unwrap();
    let report = parent.shutdown(Duration::from_secs(1)).await;
    assert!(report.is_final());
    assert!(
        child.is_closed(),
        "the parent's shutdown closed the nested nursery"
    );
    assert_eq!(child.stats().aborted, 1);
}

#[tokio::test(start_paused = true)]
async fn closed_from_inside_a_child_returns() {
    let nursery: Nursery = Nursery::new();
    let spawner = nursery.spawner();
    nursery
        .spawn(async move {
            assert!(!spawner.closed().await.is_final());
        })
        .unwrap();
    assert!(nursery.close().await.is_final());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_grace_shutdown_is_always_final_without_blocking_children() {
    // Under Miri, which explores an interleaving per seed, 20 rounds.
    let rounds = if cfg!(miri) { 20 } else { 2_000 };
    for _ in 0..rounds {
        let nursery: Nursery = Nursery::new();
        for _ in 0..4 {
            nursery.spawn(std::future::pending::<()>()).unwrap();
        }
        let report = nursery.shutdown(Duration::ZERO).await;
        assert!(report.is_final(), "{report:?}");
        assert_eq!(report.stats().aborted, 4);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_reports_a_nested_blocking_child_as_still_running() {
    let parent: Nursery = Nursery::new();
    let child: Nursery = parent.child_builder().build().unwrap();
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    child
        .spawn_blocking(move || {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        })
        .unwrap();
    tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
        .await
        .unwrap();
    let report = parent.shutdown(Duration::ZERO).await;
    assert!(!report.is_final());
    assert_eq!(report.still_running(), 1);
    release_tx.send(()).unwrap();
    assert!(parent.close().await.is_final());
}
