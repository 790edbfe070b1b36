//! Pause points: named steps of the core where a unit test can stop one
//! thread, for one nursery, to pin an interleaving that a race between
//! threads reaches only now and then.
//!
//! Outside the crate's own unit tests [`here`] is an empty inline function:
//! the points cost nothing in any other build. In a unit test, [`arm`] sets a
//! [`Gate`] for one point and one nursery; the first thread to reach that
//! point for that nursery stops there, the test sees it arrive
//! ([`Gate::wait_arrived`]), does what must happen inside the window, and
//! lets it go on ([`Gate::release`], or by dropping the gate, so a failing
//! test never leaves a thread stopped). A gate stops one thread once; other
//! threads, other nurseries and the other tests running beside it pass.

/// A step of the core a test can stop at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Point {
    /// A blocking child that starts has been counted in its own nursery,
    /// not yet in its ancestors (`Shared::blocking_moved`).
    BlockingCountedOwn,
    /// A spawn has handed a blocking child to the pool, not yet listed it
    /// for an abort to take back (`BlockingChild::launch`).
    HandedUnlisted,
    /// A shutdown's wait after the forced end has found every live child of
    /// the top held, and has not yet listed the nested nurseries to wait on
    /// next (`tree::settle`).
    SettleLooksBelow,
    /// The pool side of a blocking child is about to take its closure out of
    /// the handoff, before the handoff's lock (`Handoff::take`).
    PoolTakes,
    /// A cancel has set its own nursery's flag and has not yet walked below
    /// to set theirs, nor marked `FIRE` (`Shared::cancel`).
    CancelWalks,
}

/// Stops here if a test armed a gate for `point` and the nursery at `at`.
#[cfg(not(test))]
#[inline(always)]
pub(crate) fn here(_point: Point, _at: *const ()) {}

#[cfg(test)]
pub(crate) use gates::{Latch, arm, here, latch};

#[cfg(test)]
mod gates {
    use std::sync::{Arc, Condvar, Mutex};
    use std::time::Duration;

    use super::Point;

    /// Gates armed and not yet reached.
    static ARMED: Mutex<Vec<Arc<Armed>>> = Mutex::new(Vec::new());

    /// One armed point.
    struct Armed {
        point: Point,
        at: usize,
        state: Mutex<State>,
        changed: Condvar,
    }

    #[derive(Default)]
    struct State {
        arrived: bool,
        released: bool,
    }

    /// A test's hold on one armed point.
    pub(crate) struct Gate(Arc<Armed>);

    /// Arms `point` for the nursery at `at` (`Arc::as_ptr` of its shared
    /// state, as the point passes it).
    pub(crate) fn arm(point: Point, at: *const ()) -> Gate {
        let armed = Arc::new(Armed {
            point,
            at: at as usize,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        ARMED.lock().unwrap().push(Arc::clone(&armed));
        Gate(armed)
    }

    pub(crate) fn here(point: Point, at: *const ()) {
        let gate = {
            let mut armed = ARMED.lock().unwrap();
            let Some(i) = armed
                .iter()
                .position(|g| g.point == point && g.at == at as usize)
            else {
                return;
            };
            armed.swap_remove(i)
        };
        let mut state = gate.state.lock().unwrap();
        state.arrived = true;
        gate.changed.notify_all();
        while !state.released {
            state = gate.changed.wait(state).unwrap();
        }
    }

    impl Gate {
        /// Blocks until a thread stops at the point; panics after 30 s.
        pub(crate) fn wait_arrived(&self) {
            let state = self.0.state.lock().unwrap();
            let (state, timeout) = self
                .0
                .changed
                .wait_timeout_while(state, Duration::from_secs(30), |s| !s.arrived)
                .unwrap();
            assert!(
                !timeout.timed_out() || state.arrived,
                "no thread reached {:?}",
                self.0.point
            );
        }

        /// Lets the stopped thread (or the next to arrive) go on.
        pub(crate) fn release(&self) {
            self.0.state.lock().unwrap().released = true;
            self.0.changed.notify_all();
        }
    }

    impl Drop for Gate {
        fn drop(&mut self) {
            ARMED
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .retain(|g| !Arc::ptr_eq(g, &self.0));
            if let Ok(mut state) = self.0.state.lock() {
                state.released = true;
            }
            self.0.changed.notify_all();
        }
    }

    /// A latch for blocking children to wait on, shut until its [`Opener`]
    /// is dropped (also when a test fails: a runtime being dropped waits for
    /// its blocking threads).
    pub(crate) fn latch() -> (Opener, Latch) {
        let latch = Latch(Arc::new((Mutex::new(false), Condvar::new())));
        (Opener(latch.clone()), latch)
    }

    #[derive(Clone)]
    pub(crate) struct Latch(Arc<(Mutex<bool>, Condvar)>);

    /// Opens its latch when dropped.
    pub(crate) struct Opener(Latch);

    impl Latch {
        /// Blocks until the latch is open.
        pub(crate) fn wait(&self) {
            let (open, changed) = &*self.0;
            let open = open.lock().unwrap_or_else(|p| p.into_inner());
            drop(changed.wait_while(open, |open| !*open));
        }
    }

    impl Drop for Opener {
        fn drop(&mut self) {
            let (open, changed) = &*(self.0).0;
            *open.lock().unwrap_or_else(|p| p.into_inner()) = true;
            changed.notify_all();
        }
    }
}
