//! The running limit (`max_running`): the count of children holding a slot,
//! and the FIFO queue of children waiting for one.
//!
//! A child that cannot start at once is still handed to tokio when it is
//! spawned (so it has its task, its id and its `AbortHandle` from the
//! start), but its task waits behind a [`Slot`] until a slot is granted to
//! it. The queue holds those slots in spawn order.
//!
//! # Invariants
//!
//! 1. `running` counts the children holding a slot; it only changes under
//!    the lock, and never exceeds `max`. While anything waits in `queue`,
//!    `running == max`: a slot freed by an ending child goes straight to the
//!    first waiting child (FIFO), and only when none waits does `running`
//!    fall.
//! 2. A slot leaves `WAITING` exactly once, by one compare-and-swap: to
//!    `GRANTED` (it then holds a slot), or to `CANCELLED`, `ABORTED` (a
//!    sweep) or `GONE` (its task was dropped while waiting). The waiting
//!    task is woken after the swap, outside the lock. A child whose slot
//!    did not become `GRANTED` is counted by its own task, after its work
//!    is dropped (`child.rs`, invariant 1).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Waker;

use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use tokio::task::Id;

pub(crate) struct Limit {
    max: usize,
    state: Mutex<Queue>,
}

struct Queue {
    running: usize,
    waiting: VecDeque<Arc<Slot>>,
}

/// What a freed slot became.
pub(crate) enum Release {
    /// Back to the limit.
    Freed,
    /// Granted to this waiting child: wake it.
    Granted(Arc<Slot>),
    /// The nursery is cancelled: these waiting children never start.
    Sweep(VecDeque<Arc<Slot>>),
}

/// What a spawn gets from the limit.
pub(crate) enum Admit {
    /// A slot is the child's: start it now.
    Run,
    /// No slot: the child must wait behind this one.
    Wait(Arc<Slot>),
    /// No slot, and the spawn would rather be refused than wait.
    Full,
}

impl Limit {
    pub(crate) fn new(max: usize) -> Self {
        Limit {
            max,
            state: Mutex::new(Queue {
                running: 0,
                waiting: VecDeque::new(),
            }),
        }
    }

    /// Takes a slot for a child being spawned, or says how it must wait.
    /// `enqueue` runs with the queue locked and the child's slot reserved in
    /// it: it hands the child to tokio and returns whether that worked; a
    /// child that tokio refused gives its place (or its slot) back.
    pub(crate) fn admit<R>(&self, try_only: bool, start: impl FnOnce(Admit) -> Result<R, R>) -> R {
        let mut q = self.state.lock();
        if q.running < self.max {
            q.running += 1;
            return start(Admit::Run).unwrap_or_else(|r| {
                // Nothing waits while a slot is free (invariant 1).
                q.running -= 1;
                r
            });
        }
        if try_only {
            return start(Admit::Full).unwrap_or_else(|r| r);
        }
        let slot = Arc::new(Slot::new());
        match start(Admit::Wait(Arc::clone(&slot))) {
            Ok(r) => {
                q.waiting.push_back(slot);
                r
            }
            Err(r) => r,
        }
    }

    /// An ending child gives its slot up: to the first waiting child, or back
    /// to the limit. Once `cancelled()` (asked under the lock, so a cancel
    /// that sweeps the queue after this call cannot miss a child granted by
    /// it) no waiting child starts: the queue is returned to be swept
    /// instead. Wake the returned waker (of the child granted the slot)
    /// outside every lock.
    pub(crate) fn release(&self, cancelled: impl FnOnce() -> bool) -> Release {
        let mut q = self.state.lock();
        if !q.waiting.is_empty() && cancelled() {
            q.running -= 1;
            return Release::Sweep(std::mem::take(&mut q.waiting));
        }
        while let Some(next) = q.waiting.pop_front() {
            if next.decide(GRANTED) {
                return Release::Granted(next);
            }
            // Ended while waiting (invariant 2): it holds no slot.
        }
        q.running -= 1;
        Release::Freed
    }

    /// Takes every waiting child out of the queue (a cancel or an abort
    /// sweeping it); the caller decides each one's end.
    pub(crate) fn take_waiting(&self) -> VecDeque<Arc<Slot>> {
        std::mem::take(&mut self.state.lock().waiting)
    }

    /// As [`take_waiting`](Self::take_waiting), unless the lock is held
    /// (by this very thread, maybe: see `Shared::token_fired`).
    pub(crate) fn try_take_waiting(&self) -> Option<VecDeque<Arc<Slot>>> {
        self.state
            .try_lock()
            .map(|mut q| std::mem::take(&mut q.waiting))
    }
}

pub(crate) const WAITING: u8 = 0;
pub(crate) const GRANTED: u8 = 1;
pub(crate) const CANCELLED: u8 = 2;
pub(crate) const ABORTED: u8 = 3;
pub(crate) const GONE: u8 = 4;

/// One waiting child's place in the queue, shared with its task.
pub(crate) struct Slot {
    state: AtomicU8,
    waker: AtomicWaker,
    /// The waiting child's task, set before the slot is queued.
    id: OnceLock<Id>,
}

impl Slot {
    fn new() -> Self {
        Slot {
            state: AtomicU8::new(WAITING),
            waker: AtomicWaker::new(),
            id: OnceLock::new(),
        }
    }

    pub(crate) fn set_id(&self, id: Id) {
        let _ = self.id.set(id);
    }

    /// The waiting child's task.
    pub(crate) fn id(&self) -> Option<Id> {
        self.id.get().copied()
    }

    /// Moves the slot out of `WAITING` to `to`; `true` if this call did it
    /// (invariant 2). `AcqRel`: the task that sees the new state also sees
    /// what the decider did before (a granted slot's accounting).
    pub(crate) fn decide(&self, to: u8) -> bool {
        self.state
            .compare_exchange(WAITING, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Where the slot stands; `WAITING` registers `waker` to hear when that
    /// changes.
    pub(crate) fn poll(&self, waker: &Waker) -> u8 {
        // `Acquire` pairs with `decide`. Registering before the second look
        // means a decision made in between either is seen by it or wakes us.
        let state = self.state.load(Ordering::Acquire);
        if state != WAITING {
            return state;
        }
        self.waker.register(waker);
        self.state.load(Ordering::Acquire)
    }

    /// Where the slot stands now.
    pub(crate) fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    /// Wakes the task, after a decision.
    pub(crate) fn wake(&self) {
        self.waker.wake();
    }
}
