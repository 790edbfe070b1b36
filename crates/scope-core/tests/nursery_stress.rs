//! Spawns from several tasks and two OS threads race `close` and `cancel`:
//! every accepted child is accounted for exactly once, every refused future
//! comes back, and no task is left in the runtime.
//!
//! `SCOPE_STRESS_ROUNDS` raises the round count (default 10,000).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use scope_core::{Nursery, Spawner};

/// Counts how each child's future ended: run to the end, or dropped (unrun,
/// aborted, refused-and-returned-then-dropped). Exactly one per future.
#[derive(Default)]
struct Tally {
    created: AtomicU64,
    finished: AtomicU64,
    dropped_unfinished: AtomicU64,
}

struct Probe {
    tally: Arc<Tally>,
    finished: bool,
}

impl Probe {
    fn new(tally: &Arc<Tally>) -> Self {
        tally.created.fetch_add(1, Ordering::Relaxed);
        Probe {
            tally: tally.clone(),
            finished: false,
        }
    }

    fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let c = if self.finished {
            &self.tally.finished
        } else {
            &self.tally.dropped_unfinished
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// A test's share of the rounds: `SCOPE_STRESS_ROUNDS` (default 10,000)
/// divided by `share`, at least one.
fn rounds(share: u64) -> u64 {
    let all = std::env::var("SCOPE_STRESS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    (all / share).max(1)
}

fn child(tally: &Arc<Tally>, yields: u32) -> impl Future<Output = ()> + Send + 'static {
    let probe = Probe::new(tally);
    async move {
        for _ in 0..yields {
            tokio::task::yield_now().await;
        }
        probe.finish();
    }
}

/// Spawns `n` children; returns (accepted, refused). A refused future must
/// come back unpolled: it is dropped here, unfinished.
fn spawn_some(spawner: &Spawner, tally: &Arc<Tally>, n: u32) -> (u64, u64) {
    let (mut ok, mut refused) = (0, 0);
    for i in 0..n {
        match spawner.spawn(child(tally, i % 3)) {
            Ok(_) => ok += 1,
            Err(e) => {
                assert!(e.is_closed() || e.is_cancelled(), "{e}");
                drop(e.into_inner());
                refused += 1;
            }
        }
    }
    (ok, refused)
}

#[test]
fn spawns_racing_close_and_cancel_lose_nothing() {
    let rounds = rounds(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let metrics = rt.metrics();
    let baseline = metrics.num_alive_tasks();
    let tally = Arc::new(Tally::default());

    // Two OS threads outside the runtime, fed one spawner per round.
    let mut feeders = Vec::new();
    let mut results = Vec::new();
    for _ in 0..2 {
        let (tx, rx) = mpsc::channel::<Option<Spawner>>();
        let (rtx, rrx) = mpsc::channel::<(u64, u64)>();
        let tally = tally.clone();
        let handle = std::thread::spawn(move || {
            while let Ok(Some(spawner)) = rx.recv() {
                rtx.send(spawn_some(&spawner, &tally, 4)).unwrap();
            }
        });
        feeders.push((tx, handle));
        results.push(rrx);
    }

    let (mut accepted, mut refused) = (0u64, 0u64);
    let mut reported_spawned = 0u64;
    for round in 0..rounds {
        let tally2 = tally.clone();
        let (ok, no, report, nursery) = rt.block_on(async {
            let nursery: Nursery = Nursery::new();
            for (tx, _) in &feeders {
                tx.send(Some(nursery.spawner())).unwrap();
            }
            let mut tasks = Vec::new();
            for _ in 0..3 {
                let spawner = nursery.spawner();
                let tally = tally2.clone();
                tasks.push(tokio::spawn(async move {
                    let mut total = (0, 0);
                    for _ in 0..2 {
                        let (a, b) = spawn_some(&spawner, &tally, 2);
                        total = (total.0 + a, total.1 + b);
                        tokio::task::yield_now().await;
                    }
                    total
                }));
            }
            // Vary where the close lands relative to the spawns.
            for _ in 0..(round % 4) {
                tokio::task::yield_now().await;
            }
            if round % 3 == 0 {
                nursery.cancel();
            }
            let report = nursery.close().await;
            let (mut ok, mut no) = (0, 0);
            for t in tasks {
                let (a, b) = t.await.unwrap();
                ok += a;
                no += b;
            }
            (ok, no, report, nursery)
        });
        let (mut ok, mut no) = (ok, no);
        for r in &results {
            let (a, b) = r.recv().unwrap();
            ok += a;
            no += b;
        }
        assert!(report.is_final());
        assert_eq!(report.stats().live, 0);
        // Spawns may keep arriving (and being refused) after close returned;
        // read the counters once every spawner is done.
        let s = nursery.stats();
        assert_eq!(
            s.spawned,
            report.stats().spawned,
            "nothing accepted after the drain"
        );
        assert_eq!(
            s.spawned, ok,
            "round {round}: every accepted child is in the report"
        );
        assert_eq!(s.refused, no, "round {round}: every refusal is counted");
        assert_eq!(
            s.spawned,
            s.completed + s.cancelled + s.aborted + s.failed,
            "round {round}: {s:?}"
        );
        assert_eq!(s.failed + s.aborted, 0);
        accepted += ok;
        refused += no;
        reported_spawned += s.spawned;
    }
    for (tx, handle) in feeders {
        tx.send(None).unwrap();
        handle.join().unwrap();
    }

    let created = tally.created.load(Ordering::Relaxed);
    let finished = tally.finished.load(Ordering::Relaxed);
    let dropped = tally.dropped_unfinished.load(Ordering::Relaxed);
    assert_eq!(
        created,
        accepted + refused,
        "every attempt is either accepted or refused"
    );
    assert_eq!(
        finished + dropped,
        created,
        "every future ended exactly once"
    );
    assert_eq!(reported_spawned, accepted);
    // Close cancels nothing and no child is aborted here, so every accepted
    // child ran to its end (cancelled ones ignore the token), and only
    // refused futures were dropped unfinished.
    assert_eq!(finished, accepted);
    assert_eq!(dropped, refused);
    assert!(
        accepted > 0 && refused > 0,
        "the race must go both ways: {accepted} accepted, {refused} refused"
    );
    // Every task the nursery reaped had completed (its join handle saw it),
    // but tokio takes a completed task out of its alive count a few
    // instructions later, on the worker that ran it: give that worker the
    // moment, boundedly.
    let mut spins = 0;
    while metrics.num_alive_tasks() != baseline && spins < 1_000_000 {
        std::thread::yield_now();
        spins += 1;
    }
    assert_eq!(
        metrics.num_alive_tasks(),
        baseline,
        "no task left in the runtime"
    );
    println!(
        "{rounds} rounds: {accepted} children accepted and accounted, {refused} refused and returned"
    );
}

/// Holds the blocking children of a round until opened.
#[derive(Default)]
struct Gate {
    open: std::sync::Mutex<bool>,
    opened: std::sync::Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

/// Opens the gate when dropped: a failed round lets its blocking children
/// go, so the runtime's drop does not wait for them forever.
struct OpenOnDrop(Arc<Gate>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// A blocking child that waits at the round's gate: counted as finished if
/// it ran, as dropped if it never started.
fn stuck(tally: &Arc<Tally>, gate: &Arc<Gate>) -> impl FnOnce() + Send + 'static {
    let (probe, gate) = (Probe::new(tally), gate.clone());
    move || {
        gate.wait();
        probe.finish();
    }
}

/// The shutdown tests' round count (a fifth of `SCOPE_STRESS_ROUNDS`, or
/// 2,000) and runtime: two workers, with the timer a shutdown needs.
fn shutdown_rounds() -> (u64, tokio::runtime::Runtime) {
    let rounds = rounds(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    (rounds, rt)
}

/// A shutdown that has to abort returns only once every aborted child is
/// dropped: whatever is left is held by blocking work that had started, at
/// any depth, however many such tasks sit in one nested nursery, while
/// blocking children are still starting (or being dropped unstarted) under
/// it.
#[test]
fn a_shutdown_past_its_abort_returns_once_only_started_blocking_work_is_left() {
    let (rounds, rt) = shutdown_rounds();
    let (mut held_rounds, mut unstarted) = (0, 0);
    for round in 0..rounds {
        let tally = Arc::new(Tally::default());
        let gate = Arc::new(Gate::default());
        let _open = OpenOnDrop(gate.clone());
        let outcome = rt.block_on(async {
            let parent: Nursery = Nursery::new();
            // A chain under the parent, and a sibling of its top with a
            // running limit of one, so blocking children queue there.
            let mid: Nursery = parent.child_builder().build().unwrap();
            let low: Nursery = mid.child_builder().build().unwrap();
            let limited: Nursery = parent.child_builder().max_running(1).build().unwrap();
            let levels = [&parent, &mid, &low, &limited];
            let mut pending = 0;
            for (i, level) in levels.iter().enumerate() {
                if (round >> i) & 1 == 1 || i == 3 {
                    level.spawn(child(&tally, u32::MAX)).unwrap();
                    pending += 1;
                }
            }
            // Up to three blocking children, spread by the round's bits.
            let blocking = round % 4;
            for b in 0..blocking {
                let level = levels[((round / 4 + b * 3) % 4) as usize];
                level
                    .spawn_blocking(stuck(&tally, &gate))
                    .unwrap();
            }
            if round % 2 == 0 {
                tokio::task::yield_now().await;
            }
            let report = parent.shutdown(std::time::Duration::ZERO).await;
            // The started ones are stuck at the gate: none can end.
            let running = report.still_running();
            let dropped = tally.dropped_unfinished.load(Ordering::SeqCst);
            assert_eq!(
                dropped + running,
                pending + blocking,
                "round {round}: every aborted child was dropped, every blocking one started or was dropped: {report:?}"
            );
            assert_eq!(report.is_final(), running == 0, "round {round}");
            gate.open();
            drop((mid, low, limited));
            let report = parent.close().await;
            assert!(report.is_final(), "round {round}");
            (pending, blocking, running)
        });
        let (pending, blocking, ran) = outcome;
        held_rounds += u64::from(ran > 0);
        unstarted += blocking - ran;
        assert_eq!(tally.created.load(Ordering::SeqCst), pending + blocking);
        assert_eq!(tally.finished.load(Ordering::SeqCst), ran);
    }
    assert!(held_rounds > 0, "no round left blocking work running");
    println!(
        "{rounds} rounds: {held_rounds} left blocking work running, {unstarted} blocking children dropped unstarted"
    );
}

/// Counts itself dropped only after yielding its thread a few times: an
/// aborted child whose drop takes a moment.
struct SlowDrop(Arc<AtomicU64>, u32);

impl Drop for SlowDrop {
    fn drop(&mut self) {
        for _ in 0..self.1 {
            std::thread::yield_now();
        }
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The wait after the abort looks at a nested nursery while its blocking
/// work is ending on its own: the nursery may stop being held just after
/// its parent counted it as held, with its aborted child still being
/// dropped. The shutdown still returns only once that child is dropped.
#[test]
fn a_shutdown_past_its_abort_waits_for_a_nested_nursery_whose_blocking_work_just_ended() {
    let (rounds, rt) = shutdown_rounds();
    let blocking = Arc::new(Tally::default());
    for round in 0..rounds {
        let gate = Arc::new(Gate::default());
        let _open = OpenOnDrop(gate.clone());
        let dropped = Arc::new(AtomicU64::new(0));
        rt.block_on(async {
            let parent: Nursery = Nursery::new();
            let nested: Nursery = parent.child_builder().build().unwrap();
            // Holds the parent past the wait, so the nested nursery is
            // looked at while it may still be held.
            parent.spawn_blocking(stuck(&blocking, &gate)).unwrap();
            let slow = SlowDrop(dropped.clone(), (round % 7) as u32 * 3);
            nested
                .spawn(async move {
                    let _slow = slow;
                    std::future::pending::<()>().await
                })
                .unwrap();
            let spins = (round % 13) * 50;
            let (started_tx, started) = std::sync::mpsc::channel();
            let probe = Probe::new(&blocking);
            nested
                .spawn_blocking(move || {
                    started_tx.send(()).unwrap();
                    for _ in 0..spins {
                        std::hint::spin_loop();
                    }
                    probe.finish();
                })
                .unwrap();
            tokio::task::spawn_blocking(move || started.recv().unwrap())
                .await
                .unwrap();
            parent.shutdown(std::time::Duration::ZERO).await;
            assert_eq!(
                dropped.load(Ordering::SeqCst),
                1,
                "round {round}: the nested nursery's aborted child was dropped"
            );
            gate.open();
            drop(nested);
            assert!(parent.close().await.is_final(), "round {round}");
        });
    }
    assert_eq!(
        blocking.finished.load(Ordering::SeqCst)
            + blocking.dropped_unfinished.load(Ordering::SeqCst),
        blocking.created.load(Ordering::SeqCst)
    );
}

/// Two children of a detached nursery end at once, on two worker threads:
/// nothing but their live count holds the nursery, so the last end frees
/// it while the other may still be inside its own end. Neither may touch
/// the nursery after its decrement, nor hold a reference to it across
/// (`shared.rs`, invariant 6). A plain run only shows that both children
/// ran; AddressSanitizer (a use after free) and Miri (a reference live
/// across the free: `cargo +nightly miri test -p scope-core --test
/// nursery_stress two_children`, with `SCOPE_STRESS_ROUNDS=50`) are what
/// see a breach. A fiftieth of `SCOPE_STRESS_ROUNDS` rounds, or 200.
#[test]
fn two_children_ending_at_once_free_a_nursery_nobody_else_holds() {
    for _ in 0..rounds(50) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let (ran, ran_rx) = mpsc::channel();
        rt.block_on(async {
            let nursery: Nursery = Nursery::new();
            // Each child holds a worker at the barrier until the other is
            // there: they leave it together, one on each worker.
            let barrier = Arc::new(std::sync::Barrier::new(2));
            for _ in 0..2 {
                let (started, is_started) = tokio::sync::oneshot::channel();
                let (barrier, ran) = (barrier.clone(), ran.clone());
                nursery
                    .spawn(async move {
                        started.send(()).unwrap();
                        barrier.wait();
                        ran.send(()).unwrap();
                    })
                    .unwrap();
                // The first holds its worker: the second goes to the other.
                is_started.await.unwrap();
            }
            nursery.detach();
        });
        for _ in 0..2 {
            ran_rx.recv().unwrap();
        }
        // Waits for the workers, and with them for both ends.
        drop(rt);
    }
}
