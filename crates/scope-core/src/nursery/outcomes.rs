//! The children's ends kept for the owner to join, in completion order, with
//! their task ids; and the owner's waker, woken when one arrives or when no
//! child is left. Made with a nursery that keeps outcomes; for one that keeps
//! none, made by the owner's first join, whose waker it holds while the
//! queue stays empty.
//!
//! # Invariants
//!
//! 1. A child pushes its end before its live-count decrement, so a joiner
//!    that sees no child left and then looks in the queue finds every end.
//! 2. No user code runs under the lock: the joiner's waker is cloned before
//!    it is stored and the waker it replaces is dropped after the unlock;
//!    ends are woken about after the unlock; joined values are only moved.
//! 3. Once the owner is gone (`close_joins`), nothing is kept: nobody could
//!    join it.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker, ready};

use parking_lot::Mutex;
use tokio::task::Id;

use crate::child_end::ChildEnd;

pub(crate) struct Outcomes<T, E> {
    state: Mutex<State<T, E>>,
}

struct State<T, E> {
    ready: VecDeque<(Id, ChildEnd<T, E>)>,
    waker: Option<Waker>,
    /// The owner is gone (invariant 3).
    closed: bool,
}

impl<T, E> Outcomes<T, E> {
    pub(crate) fn new() -> Self {
        Outcomes {
            state: Mutex::new(State {
                ready: VecDeque::new(),
                waker: None,
                closed: false,
            }),
        }
    }

    /// Keeps a child's end. Wake the returned waker outside every lock.
    pub(crate) fn push(&self, id: Id, end: ChildEnd<T, E>) -> Option<Waker> {
        let mut state = self.state.lock();
        if state.closed {
            drop(state);
            drop(end);
            return None;
        }
        state.ready.push_back((id, end));
        state.waker.take()
    }

    /// No child is left: the joiner may be waiting to hear that. Wake the
    /// returned waker outside every lock.
    pub(crate) fn take_waker(&self) -> Option<Waker> {
        self.state.lock().waker.take()
    }

    /// Ends waiting to be joined.
    pub(crate) fn len(&self) -> usize {
        self.state.lock().ready.len()
    }

    /// Takes the next end, if one is there.
    pub(crate) fn try_next(&self) -> Option<(Id, ChildEnd<T, E>)> {
        self.state.lock().ready.pop_front()
    }

    /// Takes the next end, or waits for one; `None` once `no_child_left()`
    /// and nothing waits. Spends a unit of tokio's cooperative budget per end
    /// handed out, like every tokio resource that hands out ready values.
    pub(crate) fn poll_next(
        &self,
        cx: &mut Context<'_>,
        no_child_left: impl Fn() -> bool,
    ) -> Poll<Option<(Id, ChildEnd<T, E>)>> {
        let coop = ready!(tokio::task::coop::poll_proceed(cx));
        let stored = {
            let mut state = self.state.lock();
            if let Some(next) = state.ready.pop_front() {
                coop.made_progress();
                return Poll::Ready(Some(next));
            }
            // Comparing wakers runs no user code; cloning one might.
            state
                .waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
        };
        if !stored {
            let waker = cx.waker().clone();
            let (replaced, next) = {
                let mut state = self.state.lock();
                let replaced = state.waker.replace(waker);
                // An end that came since the first look woke the old waker:
                // look again now that the new one is stored.
                (replaced, state.ready.pop_front())
            };
            // The replaced waker's drop is user code: outside the lock.
            drop(replaced);
            if let Some(next) = next {
                coop.made_progress();
                return Poll::Ready(Some(next));
            }
        }
        if no_child_left() {
            // Every end was pushed before the count fell (invariant 1).
            let next = self.try_next();
            if next.is_some() {
                coop.made_progress();
            }
            return Poll::Ready(next);
        }
        Poll::Pending
    }

    /// The owner is gone: drop what waits and keep nothing more. The ends
    /// are user values: dropped outside the lock.
    pub(crate) fn close_joins(&self) {
        let (ready, waker) = {
            let mut state = self.state.lock();
            state.closed = true;
            (std::mem::take(&mut state.ready), state.waker.take())
        };
        drop((ready, waker));
    }
}
