//! loom models of the lifecycle word: every interleaving of the racy paths.
//!
//! Run with `RUSTFLAGS="--cfg scope_loom" cargo test -p scope-core --lib
//! --release loom` (`.ci/run` does). Each model explores every interleaving
//! unless it says otherwise.
//!
//! Each model checks the same three properties: no lost child (a child
//! admitted is released exactly once and the word ends with live = 0), no
//! double count (`CLOSED` is finished by exactly one caller), and no deadlock
//! (loom fails a model whose threads cannot all finish).

use ::loom::cell::UnsafeCell;
use ::loom::sync::Arc;
use ::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use ::loom::thread;

use super::{CANCELLED, CLOSED, Core, JOINER, Refusal, children, live};
use crate::cancel_reason::CancelReason;

fn core() -> Arc<Core> {
    Arc::new(Core::new())
}

/// Counts how many callers report having finished the close.
#[derive(Default)]
struct Finishes(AtomicUsize);

impl Finishes {
    fn note(&self, finished: bool) {
        if finished {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// `Core::admit`, undoing a refusal as the nursery does: `Err` says why,
/// and whether the undo finished the close.
fn try_admit(
    core: &Core,
    max_held: u64,
    inside: impl FnOnce() -> bool,
) -> Result<(), (Refusal, bool)> {
    match core.admit(max_held, inside) {
        (_, None) => Ok(()),
        (_, Some(why)) => Err((why, core.release())),
    }
}

/// An outside spawn: admitted and later ended, or refused.
fn outside_spawn(core: &Core, finishes: &Finishes) -> bool {
    match try_admit(&core, 0, || false) {
        Ok(()) => {
            assert_eq!(core.load() & CLOSED, 0, "admitted into a closed nursery");
            finishes.note(core.release());
            true
        }
        Err((why, finished)) => {
            assert_ne!(why, Refusal::Full);
            finishes.note(finished);
            false
        }
    }
}

#[test]
fn loom_spawn_racing_close() {
    ::loom::model(|| {
        let core = core();
        let finishes = Arc::new(Finishes::default());
        let (c, f) = (core.clone(), finishes.clone());
        let spawner = thread::spawn(move || outside_spawn(&c, &f));
        finishes.note(core.begin_close());
        let admitted = spawner.join().unwrap();
        let s = core.load();
        assert_eq!(live(s), 0);
        assert_ne!(s & CLOSED, 0, "close must finish once the child ended");
        assert_eq!(finishes.get(), 1, "exactly one caller finishes the close");
        let _ = admitted;
    });
}

#[test]
fn loom_spawn_racing_cancel() {
    ::loom::model(|| {
        let core = core();
        let finishes = Arc::new(Finishes::default());
        let (c, f) = (core.clone(), finishes.clone());
        let spawner = thread::spawn(move || {
            match try_admit(&c, 0, || false) {
                Ok(()) => {
                    f.note(c.release());
                    Ok(())
                }
                Err((why, finished)) => {
                    // Undoing a refused admission may be what finishes the close.
                    f.note(finished);
                    Err(why)
                }
            }
        });
        core.set_cancelled(CancelReason::Requested);
        finishes.note(core.begin_close());
        match spawner.join().unwrap() {
            Ok(()) => {}
            // Refused by the cancel, or (later still) by the finished close.
            Err(why) => assert!(
                why == Refusal::Cancelled || why == Refusal::Closed,
                "{why:?}"
            ),
        }
        assert_ne!(core.load() & CANCELLED, 0);
        assert_eq!(live(core.load()), 0);
        assert_eq!(finishes.get(), 1);
    });
}

#[test]
fn loom_two_concurrent_closes_and_the_last_child() {
    ::loom::model(|| {
        let core = core();
        try_admit(&core, 0, || false).unwrap();
        let finishes = Arc::new(Finishes::default());
        let closers: Vec<_> = (0..2)
            .map(|_| {
                let (c, f) = (core.clone(), finishes.clone());
                thread::spawn(move || f.note(c.begin_close()))
            })
            .collect();
        finishes.note(core.release());
        for c in closers {
            c.join().unwrap();
        }
        assert!(core.is_closed());
        assert_eq!(finishes.get(), 1);
    });
}

#[test]
fn loom_inside_spawn_racing_close_and_the_last_exit() {
    ::loom::model(|| {
        let core = core();
        // The running child that will spawn a follow-up and then end.
        try_admit(&core, 0, || false).unwrap();
        let finishes = Arc::new(Finishes::default());
        let (c, f) = (core.clone(), finishes.clone());
        let child = thread::spawn(move || {
            // While the child is live the close cannot finish, so an inside
            // spawn is always accepted, closing or not.
            try_admit(&c, 0, || true).expect("inside spawn while live");
            f.note(c.release()); // the child ends
            f.note(c.release()); // the follow-up ends
        });
        finishes.note(core.begin_close());
        child.join().unwrap();
        assert!(core.is_closed());
        assert_eq!(finishes.get(), 1);
    });
}

#[test]
fn loom_detached_child_nursery_racing_the_parents_close() {
    ::loom::model(|| {
        let parent = core();
        let child = core();
        // The nested nursery is one live child of the parent; it has one
        // running child of its own.
        try_admit(&parent, 0, || false).unwrap();
        try_admit(&child, 0, || false).unwrap();
        let child_done = Arc::new(AtomicBool::new(false));
        let parent_finishes = Arc::new(Finishes::default());

        let (p, c, done, pf) = (
            parent.clone(),
            child.clone(),
            child_done.clone(),
            parent_finishes.clone(),
        );
        let detached = thread::spawn(move || {
            // detach: begin the child's close; its last child then ends, and
            // whoever finishes the child's close tells the parent.
            let mut finished = c.begin_close();
            finished |= c.release();
            if finished {
                done.store(true, Ordering::SeqCst);
                pf.note(p.release());
            }
        });
        let finished = parent.begin_close();
        if finished {
            assert!(
                child_done.load(Ordering::SeqCst),
                "parent closed before the detached work ended"
            );
        }
        parent_finishes.note(finished);
        detached.join().unwrap();
        assert!(child.is_closed() && parent.is_closed());
        assert!(child_done.load(Ordering::SeqCst));
        assert_eq!(parent_finishes.get(), 1);
    });
}

#[test]
fn loom_held_limit_is_exact_under_races() {
    ::loom::model(|| {
        let core = core();
        let admitted = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (c, a) = (core.clone(), admitted.clone());
                thread::spawn(move || {
                    if try_admit(&c, 1, || false).is_ok() {
                        a.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let n = admitted.load(Ordering::SeqCst);
        // Never more than the bound; a refusal's temporary increment may make
        // the other spawn see "full" too, which is a refusal, not a loss.
        assert!(n <= 1);
        assert_eq!(live(core.load()) as usize, n);
    });
}

#[test]
fn loom_first_cancel_reason_wins_against_another_and_a_spawn() {
    ::loom::model(|| {
        let core = core();
        // A running child keeps the live count (and the reason's neighbour
        // bits) moving while the reasons race.
        try_admit(&core, 0, || false).unwrap();
        let (c1, c2) = (core.clone(), core.clone());
        let failure = thread::spawn(move || c1.set_cancelled(CancelReason::Failure));
        let spawner = thread::spawn(move || match try_admit(&c2, 0, || false) {
            Ok(()) => {
                assert!(!c2.release());
                true
            }
            Err((why, finished)) => {
                assert_eq!(why, Refusal::Cancelled);
                assert!(!finished);
                false
            }
        });
        let deadline = core.set_cancelled(CancelReason::Deadline);
        let failed = failure.join().unwrap();
        let _ = spawner.join().unwrap();
        assert!(
            deadline ^ failed,
            "exactly one canceller records its reason"
        );
        let want = if deadline {
            CancelReason::Deadline
        } else {
            CancelReason::Failure
        };
        assert_eq!(core.cancel_reason(), Some(want));
        assert_eq!(live(core.load()), 1, "only the running child is live");
        assert!(
            !core.release(),
            "not closing: the last release finishes nothing"
        );
        assert!(core.is_cancelled());
        assert_eq!(
            core.cancel_reason(),
            Some(want),
            "the reason outlives the count"
        );
    });
}

#[test]
fn loom_body_hold_racing_the_last_child_and_the_close() {
    ::loom::model(|| {
        let core = core();
        // The running child whose end races the body and the close.
        try_admit(&core, 0, || false).unwrap();
        let finishes = Arc::new(Finishes::default());
        let (c, f) = (core.clone(), finishes.clone());
        let body = thread::spawn(move || {
            if c.hold().is_some() {
                // Held: the close cannot finish until the body lets go, and
                // the body is never shown as a child.
                assert_eq!(c.load() & CLOSED, 0, "closed under a body");
                assert!(c.children_now().1 <= 1);
                f.note(c.unhold().0);
                true
            } else {
                // Refused only once the close has finished.
                assert_ne!(c.load() & CLOSED, 0);
                false
            }
        });
        let (c, f) = (core.clone(), finishes.clone());
        let child = thread::spawn(move || {
            // Whenever it looks, a reader never counts the body as a child.
            assert_eq!(c.children_now().1, 1);
            f.note(c.release());
        });
        finishes.note(core.begin_close());
        let _held = body.join().unwrap();
        child.join().unwrap();
        let s = core.load();
        assert_ne!(
            s & CLOSED,
            0,
            "the close finishes once the child and the body are gone"
        );
        assert_eq!(live(s), 0);
        assert_eq!(core.bodies(), 0);
        assert_eq!(finishes.get(), 1, "exactly one caller finishes the close");
    });
}

/// A nursery's strong count as its children's ends see it: the count it
/// holds on itself while anything is live, and the counts ends take. Its
/// memory is a loom `UnsafeCell`: an end's touch reads it, the free writes
/// it, so loom fails a model where the two are not ordered.
struct Strong {
    count: AtomicUsize,
    memory: UnsafeCell<()>,
}

impl Strong {
    /// The nursery's hold on itself, taken when the live count left zero.
    fn held_by_itself() -> Self {
        Strong {
            count: AtomicUsize::new(1),
            memory: UnsafeCell::new(()),
        }
    }
    fn take(&self) {
        self.touch();
        self.count.fetch_add(1, Ordering::AcqRel);
    }
    fn give_back(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.memory.with_mut(|_| ());
        }
    }
    fn touch(&self) {
        self.memory.with(|_| ());
    }
}

/// Two children end at once, on two threads, in a nursery nobody else
/// holds; `wakes[i]`: the `i`th end has a wake-up to do after its
/// decrement (as with a shutdown watching). An end touches the nursery
/// after its decrement only for that wake-up or as the last end, and must
/// not touch it once the other end may have freed it.
fn two_ends_race(wakes: [bool; 2]) {
    ::loom::model(move || {
        let core = core();
        try_admit(&core, 0, || false).unwrap();
        try_admit(&core, 0, || false).unwrap();
        let strong = Arc::new(Strong::held_by_itself());
        let end = |core: Arc<Core>, strong: Arc<Strong>, wakes: bool| {
            move || {
                let (_, prev, held) = core.end_child(|_| wakes, || strong.take());
                if wakes || live(prev) == 1 {
                    strong.touch();
                }
                if held {
                    strong.give_back();
                }
                if live(prev) == 1 {
                    strong.give_back();
                }
            }
        };
        let other = thread::spawn(end(core.clone(), strong.clone(), wakes[1]));
        end(core.clone(), strong.clone(), wakes[0])();
        other.join().unwrap();
        assert_eq!(live(core.load()), 0);
        assert_eq!(
            strong.count.load(Ordering::SeqCst),
            0,
            "a count was never given back"
        );
    });
}

#[test]
fn loom_an_end_that_is_not_the_last_touches_nothing_after_the_last_frees() {
    two_ends_race([true, true]);
    two_ends_race([true, false]);
}

/// A join in a nursery that keeps no outcomes racing the last child's end
/// (invariant 9), as `Shared::poll_join` and `Shared::release` run them:
/// the joiner stores its waker under the slot's lock, marks `JOINER`, and
/// looks at the live count; the end decides from the word its decrement
/// replaced whether to take the waker. The joiner either sees no child left
/// or is woken. With two children, only the last end wakes it. A later
/// join, which finds `JOINER` set, only stores its waker and looks: the
/// slot's lock orders it against the end's take.
#[test]
fn loom_a_join_that_keeps_nothing_racing_the_last_end_is_woken() {
    for (kids, later) in [(1, false), (2, false), (1, true)] {
        ::loom::model(move || {
            let core = core();
            if later {
                core.mark(JOINER);
            }
            for _ in 0..kids {
                assert!(try_admit(&core, 0, || false).is_ok());
            }
            // The waker slot, under a lock as in `Outcomes`: (stored, woken).
            let slot = Arc::new(::loom::sync::Mutex::new((false, false)));
            let enders: Vec<_> = (0..kids)
                .map(|_| {
                    let (core, slot) = (Arc::clone(&core), Arc::clone(&slot));
                    thread::spawn(move || {
                        let wakes = |word: u64| word & JOINER != 0 && children(word) == 1;
                        let (_, prev, _) = core.end_child(wakes, || {});
                        if wakes(prev) {
                            let mut slot = slot.lock().unwrap();
                            if slot.0 {
                                *slot = (false, true);
                            }
                        }
                    })
                })
                .collect();
            slot.lock().unwrap().0 = true;
            if !core.has(JOINER) {
                core.mark(JOINER);
            }
            let none_left = core.children_now().1 == 0;
            for ender in enders {
                ender.join().unwrap();
            }
            assert_eq!(live(core.load()), 0);
            let woken = slot.lock().unwrap().1;
            assert!(none_left || woken, "the joiner was left waiting");
        });
    }
}

// ----- wake-ups -------------------------------------------------------------
//
// Under `scope_loom` the word's `Notify` is a model built on loom's
// primitives (`crate::sync`), so these models see the wake-ups' ordering.
// Each waiter runs the nursery's own wait in `block_on`: a wake-up lost to a
// race leaves its thread parked for good, and loom fails a model whose
// threads cannot all finish. The waiters register before they look (invariant
// 3), and a waker wakes only if the value its own update of the word returned
// has `WAITERS`: these models are what checks that the two meet.

use ::loom::future::block_on;

#[test]
fn loom_a_close_that_finds_nothing_live_wakes_a_waiter_for_closed() {
    ::loom::model(|| {
        let core = core();
        let c = core.clone();
        let waiter = thread::spawn(move || block_on(c.wait_closed()));
        // Nothing live: one swap sets `CLOSING | CLOSED`, and that swap's
        // winner wakes.
        assert!(core.begin_close(), "an empty nursery's close finishes");
        waiter.join().unwrap();
    });
}

#[test]
fn loom_the_first_close_wakes_a_waiter_for_closing() {
    ::loom::model(|| {
        let core = core();
        try_admit(&core, 0, || false).unwrap();
        let c = core.clone();
        let waiter = thread::spawn(move || {
            block_on(c.wait_closing());
            assert!(c.is_closing());
        });
        // A child is live: this close only begins, and the one that sets
        // `CLOSING` wakes.
        assert!(!core.begin_close(), "a child is live");
        waiter.join().unwrap();
        assert!(core.release(), "the last child finishes the close");
    });
}

#[test]
fn loom_a_waiter_for_closed_racing_the_close_and_the_last_child() {
    // Three threads, one of them a waiter that may loop: unbounded, loom
    // does not finish in minutes. Three preemptions per run take about two
    // seconds here (two take a tenth of one).
    let mut model = ::loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let core = core();
        try_admit(&core, 0, || false).unwrap();
        let finishes = Arc::new(Finishes::default());
        let c = core.clone();
        let waiter = thread::spawn(move || block_on(c.wait_closed()));
        let (c, f) = (core.clone(), finishes.clone());
        let child = thread::spawn(move || f.note(c.release()));
        finishes.note(core.begin_close());
        child.join().unwrap();
        waiter.join().unwrap();
        assert!(core.is_closed());
        assert_eq!(finishes.get(), 1, "exactly one caller finishes the close");
    });
}

#[test]
fn loom_the_last_child_under_a_body_wakes_a_waiter_for_idle() {
    ::loom::model(|| {
        let core = core();
        try_admit(&core, 0, || false).unwrap();
        core.hold().expect("a body holds an open nursery");
        assert!(!core.begin_close(), "a child and a body are live");
        let c = core.clone();
        let waiter = thread::spawn(move || {
            block_on(c.wait_idle_closing());
            // Only the body is left: the close has not finished.
            assert_eq!(c.children_now().1, 0);
        });
        let c = core.clone();
        let child = thread::spawn(move || assert!(!c.release(), "the body holds the close"));
        child.join().unwrap();
        waiter.join().unwrap();
        assert!(!core.is_closed());
        assert!(core.unhold().0, "the body's end finishes the close");
    });
}
